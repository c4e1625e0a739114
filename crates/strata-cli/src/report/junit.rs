//! The JUnit XML format, for CI systems that show test results: one `<testsuite>` per
//! target (in check order), one `<testcase classname="TARGET" name="SERVICE">` per unit, and
//! a `<testsuite name="project">` with one test case for the project-wide checks.
//!
//! A test case fails when it has a finding at or above `fail_on`: its `<failure>` carries
//! every such finding; lower-severity findings go to `<system-out>`.

use std::borrow::Cow;
use std::io;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use strata_core::validate::report::{Finding, Report};

use super::{RenderOptions, finding_order, location_string};

/// Name of the suite, class and test case of the project-wide findings.
const PROJECT: &str = "project";

/// One `<testcase>`.
struct Case<'r> {
    classname: &'r str,
    name: &'r str,
    findings: &'r [Finding],
}

/// One `<testsuite>`.
struct Suite<'r> {
    name: &'r str,
    cases: Vec<Case<'r>>,
}

impl Case<'_> {
    /// Findings at or above the threshold, most severe first; and the others.
    fn split(&self, opts: &RenderOptions) -> (Vec<&Finding>, Vec<&Finding>) {
        let (mut failing, mut other): (Vec<&Finding>, Vec<&Finding>) = self
            .findings
            .iter()
            .partition(|f| f.severity >= opts.fail_on);
        failing.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| finding_order(a, b))
        });
        other.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| finding_order(a, b))
        });
        (failing, other)
    }

    fn fails(&self, opts: &RenderOptions) -> bool {
        self.findings.iter().any(|f| f.severity >= opts.fail_on)
    }
}

impl Suite<'_> {
    fn failures(&self, opts: &RenderOptions) -> usize {
        self.cases.iter().filter(|c| c.fails(opts)).count()
    }
}

/// Suites in check order: one per target (units are in target order; a target seen again
/// later joins its suite), then the project suite.
fn suites(report: &Report) -> Vec<Suite<'_>> {
    let mut suites: Vec<Suite> = Vec::new();
    for u in &report.units {
        let case = Case {
            classname: &u.target,
            name: &u.service,
            findings: &u.findings,
        };
        match suites.iter_mut().find(|s| s.name == u.target) {
            Some(s) => s.cases.push(case),
            None => suites.push(Suite {
                name: &u.target,
                cases: vec![case],
            }),
        }
    }
    suites.push(Suite {
        name: PROJECT,
        cases: vec![Case {
            classname: PROJECT,
            name: PROJECT,
            findings: &report.project,
        }],
    });
    suites
}

/// Replaces the characters XML 1.0 cannot carry (most C0 controls) with U+FFFD.
fn xml_safe(s: &str) -> Cow<'_, str> {
    let bad = |c: char| {
        c < ' ' && !matches!(c, '\t' | '\n' | '\r') || matches!(c, '\u{FFFE}' | '\u{FFFF}')
    };
    if s.contains(bad) {
        Cow::Owned(s.replace(bad, "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// `PATH:LINE:COL: SEVERITY [RULE] ADDRESS: MESSAGE (target T)`, then an indented hint.
fn finding_text(f: &Finding, opts: &RenderOptions) -> String {
    let mut line = String::new();
    if let Some(loc) = location_string(f, opts) {
        line.push_str(&loc);
        line.push_str(": ");
    }
    line.push_str(&format!("{} [{}] ", f.severity, f.rule));
    let address = f.address();
    if !address.is_empty() {
        line.push_str(&address);
        line.push_str(": ");
    }
    line.push_str(&f.message.replace("\r\n", "\n").replace('\n', "\n    "));
    if let Some(t) = &f.target {
        line.push_str(&format!(" (target {t})"));
    }
    line.push('\n');
    if let Some(hint) = &f.hint {
        line.push_str(&format!(
            "    hint: {}\n",
            hint.replace("\r\n", "\n").replace('\n', "\n    ")
        ));
    }
    line
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn write_case(w: &mut Writer<Vec<u8>>, case: &Case, opts: &RenderOptions) -> io::Result<()> {
    let start = BytesStart::new("testcase")
        .with_attributes([("classname", case.classname), ("name", case.name)]);
    if case.findings.is_empty() {
        return w.write_event(Event::Empty(start));
    }
    w.write_event(Event::Start(start))?;
    let (failing, other) = case.split(opts);
    if let Some(first) = failing.first() {
        let mut message = one_line(&first.message);
        if failing.len() > 1 {
            message.push_str(&format!(" (and {} more)", failing.len() - 1));
        }
        let body: String = failing.iter().map(|f| finding_text(f, opts)).collect();
        w.create_element("failure")
            .with_attributes([
                ("message", &*xml_safe(&message)),
                ("type", &*xml_safe(&first.rule)),
            ])
            .write_text_content(BytesText::new(&xml_safe(&body)))?;
    }
    if !other.is_empty() {
        let body: String = other.iter().map(|f| finding_text(f, opts)).collect();
        w.create_element("system-out")
            .write_text_content(BytesText::new(&xml_safe(&body)))?;
    }
    w.write_event(Event::End(BytesEnd::new("testcase")))
}

fn write(report: &Report, opts: &RenderOptions) -> io::Result<Vec<u8>> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let suites = suites(report);
    let tests: usize = suites.iter().map(|s| s.cases.len()).sum();
    let failures: usize = suites.iter().map(|s| s.failures(opts)).sum();
    let (tests, failures) = (tests.to_string(), failures.to_string());
    w.write_event(Event::Start(BytesStart::new("testsuites").with_attributes(
        [
            ("name", "strata check"),
            ("tests", &*tests),
            ("failures", &*failures),
            ("errors", "0"),
        ],
    )))?;
    for suite in &suites {
        let tests = suite.cases.len().to_string();
        let failures = suite.failures(opts).to_string();
        w.write_event(Event::Start(BytesStart::new("testsuite").with_attributes(
            [
                ("name", &*xml_safe(suite.name)),
                ("tests", &*tests),
                ("failures", &*failures),
                ("errors", "0"),
                ("skipped", "0"),
            ],
        )))?;
        for case in &suite.cases {
            write_case(&mut w, case, opts)?;
        }
        w.write_event(Event::End(BytesEnd::new("testsuite")))?;
    }
    w.write_event(Event::End(BytesEnd::new("testsuites")))?;
    Ok(w.into_inner())
}

pub(super) fn render(report: &Report, opts: &RenderOptions) -> String {
    let bytes = write(report, opts).expect("writing to memory cannot fail");
    let mut out = String::from_utf8(bytes).expect("the writer only writes UTF-8");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use quick_xml::escape::resolve_predefined_entity;
    use quick_xml::{Reader, XmlVersion};
    use strata_core::validate::report::Severity;

    use super::super::tests::{fixture, opts};
    use super::*;

    /// A parsed element: name, attributes, text.
    #[derive(Debug, Default)]
    struct Element {
        name: String,
        attrs: Vec<(String, String)>,
        text: String,
    }

    impl Element {
        fn attr(&self, key: &str) -> &str {
            self.attrs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
                .unwrap_or_else(|| panic!("no {key} on {self:?}"))
        }
    }

    fn element(e: &BytesStart) -> Element {
        Element {
            name: e.name().as_ref().to_string(),
            attrs: e
                .attributes()
                .map(|a| {
                    let a = a.unwrap();
                    let key = a.key.as_ref().to_string();
                    (
                        key,
                        a.normalized_value(XmlVersion::Explicit1_0)
                            .unwrap()
                            .into_owned(),
                    )
                })
                .collect(),
            text: String::new(),
        }
    }

    /// Every element in document order, with the text directly inside it.
    fn parse(xml: &str) -> Vec<Element> {
        let mut reader = Reader::from_str(xml);
        let mut out: Vec<Element> = Vec::new();
        let mut open: Vec<usize> = Vec::new();
        loop {
            match reader.read_event().unwrap() {
                Event::Start(e) => {
                    out.push(element(&e));
                    open.push(out.len() - 1);
                }
                Event::Empty(e) => out.push(element(&e)),
                Event::End(_) => {
                    open.pop().unwrap();
                }
                Event::Text(t) => {
                    if let Some(&i) = open.last() {
                        out[i].text.push_str(&t.xml10_content());
                    }
                }
                Event::GeneralRef(r) => {
                    let name = r.xml10_content();
                    let resolved = match r.resolve_char_ref().unwrap() {
                        Some(c) => c.to_string(),
                        None => resolve_predefined_entity(&name).unwrap().to_string(),
                    };
                    out[*open.last().unwrap()].text.push_str(&resolved);
                }
                Event::Eof => break,
                _ => {}
            }
        }
        assert!(open.is_empty());
        out
    }

    #[test]
    fn parses_back_with_counts_and_failures() {
        let xml = render(&fixture(), &opts(Severity::Error));
        let els = parse(&xml);
        let root = &els[0];
        assert_eq!(root.name, "testsuites");
        assert_eq!((root.attr("tests"), root.attr("failures")), ("5", "2"));

        let suites: Vec<&Element> = els.iter().filter(|e| e.name == "testsuite").collect();
        let names: Vec<&str> = suites.iter().map(|s| s.attr("name")).collect();
        assert_eq!(
            names,
            ["prod/aws/us-east-1", "dev/gcp/europe-west1", "project"]
        );
        let counts: Vec<(&str, &str)> = suites
            .iter()
            .map(|s| (s.attr("tests"), s.attr("failures")))
            .collect();
        assert_eq!(counts, [("2", "1"), ("2", "1"), ("1", "0")]);

        let cases: Vec<(&str, &str)> = els
            .iter()
            .filter(|e| e.name == "testcase")
            .map(|c| (c.attr("classname"), c.attr("name")))
            .collect();
        assert_eq!(cases[0], ("prod/aws/us-east-1", "checkout"));
        assert_eq!(cases[4], ("project", "project"));

        let failures: Vec<&Element> = els.iter().filter(|e| e.name == "failure").collect();
        assert_eq!(failures.len(), 2);
        assert_eq!(failures[0].attr("type"), "schema/maximum");
        assert_eq!(
            failures[0].attr("message"),
            "60 is greater than the maximum of 50"
        );
        assert!(failures[0].text.contains(
            "proj/layers/env/prod/checkout.yaml:7:13: error [schema/maximum] checkout:db.pool.max: 60 is greater"
        ));
        // The warning of the failing unit is not part of its failure.
        assert!(!failures[0].text.contains("contract/unused"));
        // Escaping survives the round trip.
        assert_eq!(failures[1].attr("type"), "secret/plaintext");
        assert_eq!(
            failures[1].attr("message"),
            "plaintext secret in a|b <&> \"q\", 100% sure: use a reference"
        );
        assert!(
            failures[1]
                .text
                .contains("a|b <&> \"q\", 100% sure:\n    use a reference")
        );

        let outs: Vec<&Element> = els.iter().filter(|e| e.name == "system-out").collect();
        assert_eq!(outs.len(), 3);
        assert!(
            outs[0]
                .text
                .contains("proj/layers/base/checkout.yaml:3:1: warning [contract/unused]")
        );
    }

    #[test]
    fn threshold_moves_findings_between_failure_and_output() {
        let els = parse(&render(&fixture(), &opts(Severity::Info)));
        assert_eq!(els[0].attr("failures"), "4");
        assert_eq!(els.iter().filter(|e| e.name == "system-out").count(), 0);
        let first = els.iter().find(|e| e.name == "failure").unwrap();
        // Most severe first, with the count of the others.
        assert_eq!(
            first.attr("message"),
            "60 is greater than the maximum of 50 (and 1 more)"
        );
        assert!(first.text.contains("contract/unused"));
    }

    #[test]
    fn control_characters_are_replaced() {
        let mut r = fixture();
        r.units[0].findings[1].message = "bad \u{1b}[31m byte".into();
        let xml = render(&r, &opts(Severity::Error));
        assert!(!xml.contains('\u{1b}'));
        parse(&xml);
    }

    #[test]
    fn snapshot() {
        insta::assert_snapshot!("junit", render(&fixture(), &opts(Severity::Error)));
    }
}
