//! `strata check` and `strata schema diff`, run on copies of `examples/acme`: the clean
//! project passes, every violation fixture (`tests/fixtures/violations/<case>/`) gives
//! exactly the findings of its `EXPECT`, every report format is well-formed and points at
//! the right file and line, and selection, thresholds, hooks, `--output` and colour behave
//! as documented in `docs/report-format.md`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value;

/// The violation fixtures.
const VIOLATIONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/violations");

/// The app versions deployed in acme (`image.tag` of each service with a contract).
const ALL_APPS: &[&str] = &[
    "--app",
    "checkout=4.18.2",
    "--app",
    "ledger=2.9.0",
    "--app",
    "auth=9.1.0",
];

/// Every `--format`.
const FORMATS: [&str; 6] = ["text", "json", "junit", "sarif", "markdown", "github"];

// ---------------------------------------------------------------------------------------
// Helpers

/// One violation fixture.
struct Case {
    name: String,
    dir: PathBuf,
    /// The lines of `EXPECT`, sorted.
    expect: Vec<String>,
    /// The extra arguments of `ARGS`, `{acme}` replaced by the unmodified acme.
    args: Vec<String>,
}

impl Case {
    fn load(name: &str) -> Case {
        let dir = Path::new(VIOLATIONS).join(name);
        let expect_text = std::fs::read_to_string(dir.join("EXPECT"))
            .unwrap_or_else(|e| panic!("{name}/EXPECT: {e}"));
        let mut expect: Vec<String> = expect_text.lines().map(str::to_string).collect();
        assert!(
            !expect.is_empty() && expect.iter().all(|l| l.split(' ').count() == 4),
            "{name}/EXPECT: one `RULE SERVICE:PARAM TARGET FILE:LINE` per line:\n{expect_text}"
        );
        expect.sort();
        let args = match std::fs::read_to_string(dir.join("ARGS")) {
            Ok(a) => a
                .split_whitespace()
                .map(|w| w.replace("{acme}", ACME))
                .collect(),
            Err(_) => Vec::new(),
        };
        Case {
            name: name.to_string(),
            dir,
            expect,
            args,
        }
    }

    /// The files the case replaces (project-relative path → contents).
    fn files(&self) -> BTreeMap<String, Vec<u8>> {
        let mut files = read_tree(&self.dir);
        files.remove("EXPECT");
        files.remove("ARGS");
        assert!(!files.is_empty(), "{}: no file to overlay", self.name);
        files
    }

    /// A copy of acme with the case's files in place.
    fn project(&self) -> Fixture {
        let p = acme();
        for (path, contents) in self.files() {
            assert!(
                p.root().join(&path).exists(),
                "{}: {path} replaces no file of examples/acme",
                self.name
            );
            p.write(&path, contents);
        }
        p
    }

    /// The exit status the case must give: 0 when every finding is a warning.
    fn exit_code(&self) -> i32 {
        if self
            .expect
            .iter()
            .all(|l| l.starts_with("contract/unused "))
        {
            0
        } else {
            1
        }
    }
}

/// Every case directory, sorted.
fn cases() -> Vec<Case> {
    let mut names: Vec<String> = std::fs::read_dir(VIOLATIONS)
        .expect("violations dir")
        .map(|e| e.expect("entry"))
        .filter(|e| e.file_type().expect("type").is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.iter().map(|n| Case::load(n)).collect()
}

/// A copy of acme with one case's files in place.
fn with_case(name: &str) -> Fixture {
    Case::load(name).project()
}

/// `strata check ARGS…` inside the project (paths in the report are project-relative).
fn check(p: &Fixture, args: &[&str]) -> Run {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    p.run(&all)
}

/// Every finding of a JSON report: the units' in check order, then the project's.
fn findings(report: &Value) -> Vec<&Value> {
    let mut out: Vec<&Value> = Vec::new();
    for unit in report["units"].as_array().expect("units") {
        out.extend(unit["findings"].as_array().expect("unit findings"));
    }
    out.extend(report["project"].as_array().expect("project findings"));
    out
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("`{key}` is not a string in {v}"))
}

/// `FILE:LINE` of a finding, `-` without a location.
fn file_line(f: &Value) -> String {
    match &f["location"] {
        Value::Null => "-".to_string(),
        l => format!("{}:{}", str_of(l, "path"), l["line"]),
    }
}

/// A JSON report in the notation of `EXPECT`, sorted: findings with the same rule,
/// parameter and location on N distinct targets become one `*N` line.
fn expect_lines(report: &Value) -> Vec<String> {
    let mut groups: BTreeMap<(String, String, String), Vec<String>> = BTreeMap::new();
    for f in findings(report) {
        let address = format!(
            "{}:{}",
            str_of(f, "service"),
            f["param"].as_str().unwrap_or("")
        );
        groups
            .entry((str_of(f, "rule").to_string(), address, file_line(f)))
            .or_default()
            .push(f["target"].as_str().unwrap_or("-").to_string());
    }
    let mut lines: Vec<String> = groups
        .into_iter()
        .map(|((rule, address, loc), targets)| {
            let distinct: BTreeSet<&String> = targets.iter().collect();
            let target = if targets.len() == 1 {
                targets[0].clone()
            } else if distinct.len() == targets.len() {
                format!("*{}", targets.len())
            } else {
                format!("DUPLICATED{targets:?}")
            };
            format!("{rule} {address} {target} {loc}")
        })
        .collect();
    lines.sort();
    lines
}

/// What is wrong with the shape of a JSON report (docs/report-format.md), if anything.
fn report_problems(report: &Value, fail_on: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut want = |ok: bool, what: String| {
        if !ok {
            problems.push(what);
        }
    };
    want(
        report["version"] == 1,
        format!("version {}", report["version"]),
    );
    want(
        report["tool"]["name"] == "strata",
        format!("tool {}", report["tool"]),
    );
    let units = report["units"].as_array().expect("units");
    let all = findings(report);
    let count = |sev: &str| all.iter().filter(|f| f["severity"] == sev).count();
    let summary = &report["summary"];
    for (key, sev) in [
        ("errors", "error"),
        ("warnings", "warning"),
        ("infos", "info"),
    ] {
        want(
            summary[key] == count(sev),
            format!("summary.{key} {} but {} findings", summary[key], count(sev)),
        );
    }
    want(
        summary["units"] == units.len(),
        format!(
            "summary.units {} but {} units",
            summary["units"],
            units.len()
        ),
    );
    want(
        summary["fail_on"] == fail_on,
        format!("summary.fail_on {}", summary["fail_on"]),
    );
    let rank = |s: &str| ["info", "warning", "error"].iter().position(|x| *x == s);
    let failing = all
        .iter()
        .any(|f| rank(str_of(f, "severity")) >= rank(fail_on));
    want(
        summary["failed"] == failing,
        format!(
            "summary.failed {} but failing findings: {failing}",
            summary["failed"]
        ),
    );
    for unit in units {
        let target = str_of(unit, "target");
        want(
            target.split('/').next() == unit["env"].as_str()
                && target.split('/').nth(1) == unit["provider"].as_str(),
            format!("unit env/provider do not match its target: {unit}"),
        );
        want(
            unit["protected"] == (unit["env"] == "prod"),
            format!("only prod is protected in acme: {unit}"),
        );
        let unit_fails = unit["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .any(|f| rank(str_of(f, "severity")) >= rank(fail_on));
        want(
            unit["failed"] == unit_fails,
            format!("unit.failed is wrong: {unit}"),
        );
        for f in unit["findings"].as_array().expect("findings") {
            want(
                f["target"] == unit["target"] && f["service"] == unit["service"],
                format!(
                    "finding of another unit in {target} {}: {f}",
                    unit["service"]
                ),
            );
        }
    }
    for f in &all {
        for key in [
            "severity", "rule", "service", "target", "param", "address", "message", "hint",
            "location",
        ] {
            want(
                f.get(key).is_some(),
                format!("finding without `{key}`: {f}"),
            );
        }
        let address = match f["param"].as_str() {
            Some(p) => format!("{}:{p}", str_of(f, "service")),
            None => str_of(f, "service").to_string(),
        };
        want(
            f["address"] == address.as_str(),
            format!("address should be `{address}`: {f}"),
        );
        if let Some(l) = f["location"].as_object() {
            let path = l["path"].as_str().unwrap_or("");
            want(
                !path.starts_with('/') && !path.contains("proj/"),
                format!("location path is not project-relative: {f}"),
            );
            want(
                l["line"].as_u64() >= Some(1) && l["col"].as_u64() >= Some(1),
                format!("1-based line and column: {f}"),
            );
        }
    }
    problems
}

/// Runs one configuration of a case and describes every way it differs from `want`.
fn case_problems(
    case: &Case,
    p: &Fixture,
    args: &[String],
    want: &[String],
    code: i32,
) -> Vec<String> {
    let mut all = vec!["--format", "json"];
    all.extend(args.iter().map(String::as_str));
    let run = check(p, &all);
    let label = format!("{} with {:?}", case.name, args);
    let mut problems = Vec::new();
    if run.code != Some(code) {
        problems.push(format!(
            "{label}: exit {:?}, want {code}\n{}",
            run.code, run.stderr
        ));
    }
    if !run.stderr.is_empty() {
        problems.push(format!("{label}: stderr is not empty:\n{}", run.stderr));
    }
    let Ok(report) = serde_json::from_str::<Value>(&run.stdout) else {
        problems.push(format!("{label}: stdout is not JSON:\n{}", run.stdout));
        return problems;
    };
    problems.extend(
        report_problems(&report, "error")
            .into_iter()
            .map(|p| format!("{label}: {p}")),
    );
    let got = expect_lines(&report);
    if got != want {
        let missing: Vec<&String> = want.iter().filter(|l| !got.contains(l)).collect();
        let extra: Vec<&String> = got.iter().filter(|l| !want.contains(l)).collect();
        problems.push(format!(
            "{label}: findings differ\n  missing: {missing:#?}\n  extra: {extra:#?}"
        ));
    }
    for f in findings(&report) {
        let sev = if f["rule"] == "contract/unused" {
            "warning"
        } else {
            "error"
        };
        if f["severity"] != sev {
            problems.push(format!("{label}: severity should be {sev}: {f}"));
        }
    }
    problems
}

/// Whether `program --version` runs.
fn available(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A parsed XML element.
#[derive(Debug, Default)]
struct Xml {
    name: String,
    attrs: BTreeMap<String, String>,
    children: Vec<Xml>,
    /// The element's own text (not its children's), unescaped.
    text: String,
}

impl Xml {
    fn attr(&self, key: &str) -> &str {
        self.attrs
            .get(key)
            .unwrap_or_else(|| panic!("<{}> has no `{key}`: {:?}", self.name, self.attrs))
    }

    fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Xml> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
}

/// Parses a whole XML document (strictly: balanced, matching end tags) into its root element.
fn parse_xml(text: &str) -> Xml {
    use quick_xml::events::{BytesStart, Event};
    fn element(e: &BytesStart) -> Xml {
        let attrs = e
            .attributes()
            .map(|a| {
                let a = a.expect("attribute");
                let value = a
                    .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .expect("attribute value");
                (a.key.as_ref().to_string(), value.into_owned())
            })
            .collect();
        Xml {
            name: e.name().as_ref().to_string(),
            attrs,
            ..Xml::default()
        }
    }
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack = vec![Xml::default()];
    loop {
        let event = reader
            .read_event()
            .unwrap_or_else(|e| panic!("invalid XML: {e}\n{text}"));
        let top = stack.last_mut().expect("open element");
        match event {
            Event::Start(e) => stack.push(element(&e)),
            Event::Empty(e) => top.children.push(element(&e)),
            Event::End(_) => {
                let done = stack.pop().expect("open element");
                stack
                    .last_mut()
                    .unwrap_or_else(|| panic!("unbalanced XML\n{text}"))
                    .children
                    .push(done);
            }
            Event::Text(t) => top.text.push_str(&t.xml10_content()),
            Event::CData(c) => top.text.push_str(&c),
            Event::GeneralRef(r) => {
                if r.is_char_ref() {
                    top.text
                        .push(r.resolve_char_ref().expect("char ref").expect("a char"));
                } else {
                    top.text.push_str(match &*r {
                        "amp" => "&",
                        "lt" => "<",
                        "gt" => ">",
                        "quot" => "\"",
                        "apos" => "'",
                        other => panic!("unknown entity &{other};\n{text}"),
                    });
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(stack.len(), 1, "unclosed elements\n{text}");
    let mut doc = stack.pop().expect("document");
    assert_eq!(doc.children.len(), 1, "one root element\n{text}");
    doc.children.pop().expect("root")
}

/// The findings of a text report: `(file heading, "LINE:COL", rest of the line)`.
fn text_findings(out: &str) -> Vec<(String, String, String)> {
    let mut heading = String::new();
    let mut found = Vec::new();
    for line in out.lines() {
        if line.is_empty() {
            continue;
        }
        if !line.starts_with(' ') {
            heading = line.to_string();
        } else if let Some(rest) = line.strip_prefix("  ")
            && rest.starts_with(|c: char| c.is_ascii_digit())
        {
            let (pos, rest) = rest.split_once(' ').expect("position then the rest");
            found.push((heading.clone(), pos.to_string(), rest.trim().to_string()));
        }
    }
    found
}

// ---------------------------------------------------------------------------------------
// 1. The example project passes

#[test]
fn acme_passes() {
    let clean = run(WORKSPACE, &["check", "-p", "examples/acme"]).ok();
    let last: Vec<&str> = clean.stdout.lines().rev().take(2).collect();
    assert_eq!(last[0], "check passed", "{}", clean.stdout);
    assert_eq!(
        last[1], "0 errors, 0 warnings, 0 infos in 88 configurations (8 targets × 11 services)",
        "{}",
        clean.stdout
    );
    assert!(clean.stderr.is_empty(), "{}", clean.stderr);

    // Against the deployed app versions (contracts and the checkout hook) …
    let mut args = vec!["check", "-p", "examples/acme"];
    args.extend_from_slice(ALL_APPS);
    let apps = run(WORKSPACE, &args).ok();
    assert!(apps.stdout.ends_with("check passed\n"), "{}", apps.stdout);

    // … and against a copy of itself: no schema change, every transition rule holds.
    let base = acme();
    let base_dir = base.root().display().to_string();
    let mut args = vec![
        "check",
        "-p",
        "examples/acme",
        "--schema-base",
        base_dir.as_str(),
    ];
    let based = run(WORKSPACE, &args).ok();
    assert!(based.stdout.ends_with("check passed\n"), "{}", based.stdout);
    args.extend_from_slice(ALL_APPS);
    args.extend(["--format", "json"]);
    let all = run(WORKSPACE, &args).ok();
    let report = all.json();
    assert_eq!(report_problems(&report, "error"), Vec::<String>::new());
    assert!(findings(&report).is_empty(), "{report:#}");
    assert_eq!(report["summary"]["units"], 88);
}

// ---------------------------------------------------------------------------------------
// 2. Every violation fixture gives exactly its EXPECT

/// Runs one case as its `ARGS` say, with every app contract and the unmodified project as
/// base (the same findings), and — when it needs a base — without one (nothing).
fn assert_case(name: &str) {
    let case = Case::load(name);
    // The checkout contract runs hooks/check_checkout.py.
    let python = available("python3");
    let runnable = |args: &[String]| {
        let ok = python || !args.iter().any(|a| a.starts_with("checkout="));
        if !ok {
            eprintln!("skipping {args:?}: python3 is not available");
        }
        ok
    };
    let p = case.project();
    let code = case.exit_code();
    let mut problems = Vec::new();
    if runnable(&case.args) {
        problems.extend(case_problems(&case, &p, &case.args, &case.expect, code));
    }
    let mut every: Vec<String> = ALL_APPS.iter().map(|s| s.to_string()).collect();
    every.extend(["--schema-base".to_string(), ACME.to_string()]);
    for pair in case.args.chunks(2) {
        assert!(
            every.windows(2).any(|w| w == pair),
            "{name}: ARGS {:?} beyond the documented ones",
            case.args
        );
    }
    if runnable(&every) {
        problems.extend(case_problems(&case, &p, &every, &case.expect, code));
    }
    if case.args.iter().any(|a| a == "--schema-base") {
        let without: Vec<String> = ALL_APPS.iter().map(|s| s.to_string()).collect();
        if runnable(&without) {
            problems.extend(case_problems(&case, &p, &without, &[], 0));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// One test per case directory (so that they run in parallel and fail by name).
macro_rules! violation_cases {
    ($($test:ident => $case:literal,)*) => {
        $(
            #[test]
            fn $test() {
                assert_case($case);
            }
        )*
        /// The cases with a test above.
        const TESTED_CASES: &[&str] = &[$($case),*];
    };
}

violation_cases! {
    violation_additional => "additional",
    violation_cel => "cel",
    violation_cel_env => "cel-env",
    violation_contract => "contract",
    violation_contract_required => "contract-required",
    violation_contract_unused => "contract-unused",
    violation_enum => "enum",
    violation_format => "format",
    violation_hook => "hook",
    violation_pattern => "pattern",
    violation_range => "range",
    violation_required => "required",
    violation_secret => "secret",
    violation_transition => "transition",
    violation_type => "type",
}

#[test]
fn every_violation_case_directory_has_a_test() {
    let on_disk: Vec<String> = cases().into_iter().map(|c| c.name).collect();
    let mut tested: Vec<&str> = TESTED_CASES.to_vec();
    tested.sort_unstable();
    assert_eq!(on_disk, tested, "add the new case to violation_cases!");
}

#[test]
fn secret_plaintext_never_appears_in_any_format() {
    let case = Case::load("secret");
    // The plaintexts the case adds: values of the lines marked as x-strata-secret violations.
    let plaintexts: Vec<String> = case
        .files()
        .values()
        .flat_map(|bytes| {
            String::from_utf8_lossy(bytes)
                .lines()
                .filter(|l| l.contains("# violation") && l.contains("x-strata-secret"))
                .filter_map(|l| {
                    let value = l.split('#').next()?.split_once(':')?.1.trim();
                    (!value.is_empty()).then(|| value.trim_matches('"').to_string())
                })
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(plaintexts, ["ledger-staging-pw"], "the case's plaintext");
    let p = case.project();
    // The plaintext is really in the effective configuration …
    let resolved = p
        .run(&[
            "resolve",
            "ledger",
            "-t",
            "staging/aws/us-east-1",
            "--get",
            "db.password",
        ])
        .ok();
    assert!(
        resolved.stdout.contains(&plaintexts[0]),
        "{}",
        resolved.stdout
    );
    // … and in no report, whatever the format and flags (`--output` writes what stdout
    // shows: output_file_gets_the_report_and_stdout_stays_empty).
    let mut every: Vec<&str> = ALL_APPS.to_vec();
    every.extend(["--schema-base", ACME]);
    for format in FORMATS {
        for extra in [&[][..], &every[..]] {
            let mut args = vec!["--format", format];
            args.extend_from_slice(extra);
            let run = check(&p, &args).expect(1);
            for pt in &plaintexts {
                assert!(
                    !run.stdout.contains(pt.as_str()) && !run.stderr.contains(pt.as_str()),
                    "{format} {extra:?} shows the secret:\n{}\n{}",
                    run.stdout,
                    run.stderr
                );
            }
            assert!(run.stdout.contains("ledger"), "{format}: {}", run.stdout);
        }
    }
}

// ---------------------------------------------------------------------------------------
// 3. Report formats

/// The failing finding of the `range` case.
const RANGE_FILE: &str = "layers/target/prod/aws/us-east-1/checkout.yaml";
const RANGE_LINE: u64 = 6;

#[test]
fn junit_report_is_xml_with_the_failure_on_its_test_case() {
    let p = with_case("range");
    let run = check(&p, &["--format", "junit"]).expect(1);
    assert!(
        run.stdout
            .starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
        "{}",
        run.stdout
    );
    let root = parse_xml(&run.stdout);
    assert_eq!(root.name, "testsuites");
    assert_eq!(root.attr("name"), "strata check");
    assert_eq!(root.attr("tests"), "89", "88 units and the project case");
    assert_eq!(root.attr("failures"), "1");
    let suites: Vec<&Xml> = root.children_named("testsuite").collect();
    let names: Vec<&str> = suites.iter().map(|s| s.attr("name")).collect();
    let mut want: Vec<&str> = ACME_TARGETS.to_vec();
    want.push("project");
    assert_eq!(
        names, want,
        "one suite per target in check order, then project"
    );
    let mut failures = Vec::new();
    for suite in &suites {
        let cases: Vec<&Xml> = suite.children_named("testcase").collect();
        assert_eq!(suite.attr("tests"), cases.len().to_string());
        let failed = cases
            .iter()
            .filter(|c| c.children_named("failure").next().is_some())
            .count();
        assert_eq!(suite.attr("failures"), failed.to_string());
        for case in cases {
            assert_eq!(case.attr("classname"), suite.attr("name"));
            for failure in case.children_named("failure") {
                failures.push((case.attr("classname"), case.attr("name"), failure));
            }
        }
        if suite.attr("name") != "project" {
            let services: Vec<&str> = suite
                .children_named("testcase")
                .map(|c| c.attr("name"))
                .collect();
            assert_eq!(services, ACME_SERVICES);
        }
    }
    assert_eq!(failures.len(), 1, "{failures:#?}");
    let (target, service, failure) = failures[0];
    assert_eq!((target, service), ("prod/aws/us-east-1", "checkout"));
    assert_eq!(failure.attr("type"), "schema/maximum");
    assert!(failure.attr("message").contains("250"), "{failure:?}");
    assert!(
        failure
            .text
            .starts_with(&format!("{RANGE_FILE}:{RANGE_LINE}:")),
        "{}",
        failure.text
    );
    assert!(
        failure
            .text
            .contains("error [schema/maximum] checkout:db.pool.max_size: "),
        "{}",
        failure.text
    );

    // Clean: every test case passes, the project case included.
    let clean = check(&acme(), &["--format", "junit"]).ok();
    let root = parse_xml(&clean.stdout);
    assert_eq!((root.attr("tests"), root.attr("failures")), ("89", "0"));
    assert!(!clean.stdout.contains("<failure"), "{}", clean.stdout);
    let project = root.children.last().expect("project suite");
    assert_eq!(project.attr("name"), "project");
    assert_eq!(project.children_named("testcase").count(), 1);
}

#[test]
fn sarif_report_points_at_the_layer_line() {
    let p = with_case("range");
    let run = check(&p, &["--format", "sarif"]).expect(1);
    let sarif = run.json();
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(
        sarif["$schema"],
        "https://json.schemastore.org/sarif-2.1.0.json"
    );
    let runs = sarif["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1);
    let driver = &runs[0]["tool"]["driver"];
    assert_eq!(driver["name"], "strata");
    let results = runs[0]["results"].as_array().expect("results");
    assert_eq!(results.len(), 1, "{sarif:#}");
    let r = &results[0];
    assert_eq!(r["ruleId"], "schema/maximum");
    assert_eq!(r["level"], "error");
    let index = r["ruleIndex"].as_u64().expect("ruleIndex") as usize;
    assert_eq!(driver["rules"][index]["id"], "schema/maximum");
    let physical = &r["locations"][0]["physicalLocation"];
    assert_eq!(physical["artifactLocation"]["uri"], RANGE_FILE);
    assert_eq!(physical["region"]["startLine"], RANGE_LINE);
    assert!(physical["region"]["startColumn"].as_u64() >= Some(1));
    let message = str_of(&r["message"], "text");
    assert!(
        message.contains("(target prod/aws/us-east-1, parameter checkout:db.pool.max_size)"),
        "{message}"
    );
    assert_eq!(r["properties"]["target"], "prod/aws/us-east-1");
    assert_eq!(r["properties"]["parameter"], "db.pool.max_size");

    let clean = check(&acme(), &["--format", "sarif"]).ok().json();
    assert_eq!(clean["version"], "2.1.0");
    assert_eq!(clean["runs"][0]["results"], serde_json::json!([]));
}

#[test]
fn github_report_annotates_the_layer_line() {
    let p = with_case("range");
    let run = check(&p, &["--format", "github"]).expect(1);
    let annotations: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with("::")).collect();
    assert_eq!(annotations.len(), 1, "{}", run.stdout);
    let a = annotations[0];
    assert!(
        a.starts_with(&format!("::error file={RANGE_FILE},line={RANGE_LINE},col=")),
        "{a}"
    );
    assert!(a.contains(",title=schema/maximum::250 "), "{a}");
    assert!(run.stdout.ends_with("\ncheck failed\n"), "{}", run.stdout);

    let clean = check(&acme(), &["--format", "github"]).ok();
    assert!(!clean.stdout.contains("::"), "{}", clean.stdout);
    assert!(clean.stdout.ends_with("check passed\n"), "{}", clean.stdout);
}

#[test]
fn markdown_report_has_counts_and_verdict() {
    let p = with_case("range");
    let run = check(&p, &["--format", "markdown"]).expect(1);
    let md = &run.stdout;
    assert!(md.starts_with("## ❌ strata check failed\n"), "{md}");
    for row in [
        "| environment | errors | warnings | infos |",
        "| dev | 0 | 0 | 0 |",
        "| staging | 0 | 0 | 0 |",
        "| prod 🔒 | 1 | 0 | 0 |",
        "### Findings",
    ] {
        assert!(md.lines().any(|l| l == row), "no `{row}` in\n{md}");
    }
    let finding = md
        .lines()
        .find(|l| l.starts_with("| error |"))
        .unwrap_or_else(|| panic!("no finding row in\n{md}"));
    assert!(
        finding.contains(&format!("`{RANGE_FILE}:{RANGE_LINE}:")),
        "{finding}"
    );
    assert!(finding.contains("`checkout:db.pool.max_size`"), "{finding}");

    let clean = check(&acme(), &["--format", "markdown"]).ok();
    assert!(
        clean.stdout.starts_with("## ✅ strata check passed\n"),
        "{}",
        clean.stdout
    );
    assert!(!clean.stdout.contains('❌'), "{}", clean.stdout);
}

#[test]
fn text_report_groups_findings_by_file() {
    // Three cases at once: findings in three files, one of them on two targets.
    let p = acme();
    for name in ["range", "enum", "pattern"] {
        for (path, contents) in Case::load(name).files() {
            p.write(&path, contents);
        }
    }
    let json = check(&p, &["--format", "json"]).expect(1).json();
    let text = check(&p, &[]).expect(1);
    let out = &text.stdout;
    assert!(!out.contains('\x1b'), "no colour when piped:\n{out}");
    let got = text_findings(out);
    let want: Vec<(String, String, String)> = {
        let mut w: Vec<_> = findings(&json)
            .iter()
            .map(|f| {
                let l = &f["location"];
                (
                    str_of(l, "path").to_string(),
                    format!("{}:{}", l["line"], l["col"]),
                    format!(
                        "error {} {} {}",
                        str_of(f, "rule"),
                        str_of(f, "address"),
                        str_of(f, "target")
                    ),
                )
            })
            .collect();
        w.sort();
        w
    };
    assert_eq!(got.len(), 4, "{out}");
    let got_norm: Vec<(String, String, String)> = got
        .iter()
        .map(|(file, pos, rest)| {
            let words: Vec<&str> = rest.split_whitespace().take(4).collect();
            (file.clone(), pos.clone(), words.join(" "))
        })
        .collect();
    assert_eq!(got_norm, want, "{out}");
    // Each file heading once, files in order.
    let headings: Vec<&str> = out
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with(' '))
        .collect();
    assert_eq!(
        headings,
        [
            "layers/env/staging/checkout.yaml",
            "layers/target/prod/aws/eu-west-1/notifications.yaml",
            "layers/target/prod/aws/us-east-1/checkout.yaml",
            "4 errors, 0 warnings, 0 infos in 88 configurations (8 targets × 11 services)",
            "check failed",
        ],
        "{out}"
    );
    // Hints under their finding.
    assert_eq!(
        out.lines()
            .filter(|l| l.trim_start().starts_with("hint: "))
            .count(),
        4,
        "{out}"
    );

    // Without NO_COLOR either: stdout is a pipe.
    let mut cmd = strata();
    cmd.current_dir(p.root())
        .env_remove("NO_COLOR")
        .arg("check");
    let piped = run_cmd(&mut cmd).expect(1);
    assert_eq!(piped.stdout, text.stdout);
}

#[test]
fn output_file_gets_the_report_and_stdout_stays_empty() {
    let p = with_case("range");
    for format in FORMATS {
        let on_stdout = check(&p, &["--format", format]).expect(1);
        let file = p.outer().join(format!("reports/check.{format}"));
        let file_s = file.display().to_string();
        let to_file = check(&p, &["--format", format, "--output", &file_s]).expect(1);
        assert!(to_file.stdout.is_empty(), "{format}: {}", to_file.stdout);
        assert!(to_file.stderr.is_empty(), "{format}: {}", to_file.stderr);
        let written = std::fs::read_to_string(&file).expect("report written");
        assert_eq!(written, on_stdout.stdout, "{format}");
    }
    // Clean: exit 0, file written; a relative path is relative to the current directory.
    let clean = acme();
    let run = check(&clean, &["--output", "out/report.txt"]).ok();
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    let written = std::fs::read_to_string(clean.root().join("out/report.txt")).expect("report");
    assert!(written.ends_with("check passed\n"), "{written}");
    // An unwritable destination is an I/O error.
    let bad = clean.root().join("strata.yaml/report.txt");
    let bad_s = bad.display().to_string();
    let run = check(&clean, &["--output", &bad_s]).expect(2);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
}

/// Runs `strata check ARGS` in `dir` under a pseudo-terminal (util-linux `script`), with
/// `NO_COLOR` set to `no_color` (unset when `None`); `None` when no pseudo-terminal can be
/// had here.
fn check_on_terminal(dir: &Path, args: &str, no_color: Option<&str>) -> Option<String> {
    let bin = env!("CARGO_BIN_EXE_strata");
    let mut cmd = Command::new("script");
    cmd.current_dir(dir)
        .env_remove("STRATA_PROJECT")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("NO_COLOR")
        .args(["-qec", &format!("'{bin}' check {args}"), "/dev/null"]);
    if let Some(v) = no_color {
        cmd.env("NO_COLOR", v);
    }
    let probe = Command::new("script")
        .args(["-qec", "echo pty-ok", "/dev/null"])
        .output()
        .ok()?;
    if !String::from_utf8_lossy(&probe.stdout).contains("pty-ok") {
        return None;
    }
    let out = cmd.output().expect("script");
    Some(String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n"))
}

#[test]
fn colour_only_on_a_terminal_without_no_color() {
    let p = with_case("range");
    let Some(coloured) = check_on_terminal(&p.root(), "", None) else {
        eprintln!("skipping: no pseudo-terminal (util-linux `script`)");
        return;
    };
    assert!(coloured.contains("check failed"), "{coloured}");
    assert!(
        coloured.contains("\x1b["),
        "colour on a terminal:\n{coloured}"
    );
    let plain = check_on_terminal(&p.root(), "", Some("1")).expect("pty");
    assert!(plain.contains("check failed"), "{plain}");
    assert!(!plain.contains('\x1b'), "NO_COLOR=1:\n{plain}");
    // The escapes are the only difference.
    assert_eq!(strip_ansi(&coloured), plain);
    // An empty NO_COLOR counts as unset (https://no-color.org).
    let empty = check_on_terminal(&p.root(), "", Some("")).expect("pty");
    assert!(empty.contains("\x1b["), "NO_COLOR= :\n{empty}");
    // A report written to a file is never coloured.
    let to_file = check_on_terminal(&p.root(), "--output report.txt", None).expect("pty");
    assert!(to_file.is_empty(), "{to_file}");
    let written = std::fs::read_to_string(p.root().join("report.txt")).expect("report");
    assert!(!written.contains('\x1b'), "{written}");
    assert_eq!(written, plain);
    // Other formats are never coloured.
    let md = check_on_terminal(&p.root(), "--format markdown", None).expect("pty");
    assert!(!md.contains('\x1b'), "{md}");
}

/// Removes `ESC [ … letter` sequences.
fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn text_and_markdown_reports_of_a_failing_case() {
    let p = with_case("cel-env");
    let text = check(&p, &[]).expect(1);
    insta::assert_snapshot!("text_cel_env", text.stdout);
    let md = check(&p, &["--format", "markdown"]).expect(1);
    insta::assert_snapshot!("markdown_cel_env", md.stdout);
}

// ---------------------------------------------------------------------------------------
// 4. --fail-on

#[test]
fn fail_on_warning_fails_on_a_warning() {
    let p = with_case("contract-unused");
    let apps = ["--app", "checkout=4.18.2"];
    // Default and explicit `error`: a warning passes.
    for extra in [&[][..], &["--fail-on", "error"][..]] {
        let mut args = apps.to_vec();
        args.extend_from_slice(extra);
        let run = check(&p, &args).ok();
        assert!(run.stdout.ends_with("\ncheck passed\n"), "{}", run.stdout);
        assert!(
            run.stdout.contains("warning  contract/unused"),
            "{}",
            run.stdout
        );
    }
    let mut args = apps.to_vec();
    args.extend(["--fail-on", "warning"]);
    let run = check(&p, &args).expect(1);
    assert!(
        run.stdout.ends_with("\ncheck failed (fail on warning)\n"),
        "{}",
        run.stdout
    );
    args.extend(["--format", "json"]);
    let report = check(&p, &args).expect(1).json();
    assert_eq!(report_problems(&report, "warning"), Vec::<String>::new());
    assert_eq!(report["summary"]["failed"], true);
    assert_eq!(report["summary"]["warnings"], 1);
    // An invalid threshold is a usage error.
    check(&p, &["--fail-on", "info"]).expect(2);
}

// ---------------------------------------------------------------------------------------
// 5. Selection

/// `(target, service)` of every unit of a JSON report.
fn units(report: &Value) -> Vec<(String, String)> {
    report["units"]
        .as_array()
        .expect("units")
        .iter()
        .map(|u| {
            (
                str_of(u, "target").to_string(),
                str_of(u, "service").to_string(),
            )
        })
        .collect()
}

#[test]
fn env_target_and_service_narrow_the_check() {
    let p = acme();
    let prod = check(&p, &["--env", "prod", "--format", "json"])
        .ok()
        .json();
    let got = units(&prod);
    assert_eq!(got.len(), 4 * 11);
    for u in prod["units"].as_array().expect("units") {
        assert_eq!(u["env"], "prod", "{u}");
        assert_eq!(u["protected"], true, "{u}");
    }
    assert_eq!(prod["summary"]["targets"], 4);

    let two = check(&p, &["--env", "dev", "--env", "staging", "-f", "json"])
        .ok()
        .json();
    assert_eq!(units(&two).len(), 4 * 11);
    assert!(
        two["units"]
            .as_array()
            .expect("units")
            .iter()
            .all(|u| u["env"] != "prod" && u["protected"] == false)
    );

    let narrow = check(
        &p,
        &[
            "--target",
            "prod/aws/eu-west-1",
            "-t",
            "dev/azure/eastus",
            "--service",
            "ledger",
            "-s",
            "checkout",
            "--format",
            "json",
        ],
    )
    .ok()
    .json();
    // Targets in declaration order, services in declaration order.
    let want: Vec<(String, String)> = [
        ("dev/azure/eastus", "checkout"),
        ("dev/azure/eastus", "ledger"),
        ("prod/aws/eu-west-1", "checkout"),
        ("prod/aws/eu-west-1", "ledger"),
    ]
    .iter()
    .map(|(t, s)| (t.to_string(), s.to_string()))
    .collect();
    let mut got = units(&narrow);
    got.sort();
    assert_eq!(got, want);
    let text = check(&p, &["-t", "prod/aws/eu-west-1", "-s", "checkout"]).ok();
    assert!(
        text.stdout
            .contains("0 errors, 0 warnings, 0 infos in 1 configuration (1 target × 1 service)"),
        "{}",
        text.stdout
    );

    // A finding outside the selection does not fail the check.
    let range = with_case("range");
    check(&range, &["--env", "prod"]).expect(1);
    check(&range, &["--env", "staging"]).ok();
    check(&range, &["--target", "prod/aws/eu-west-1"]).ok();
    check(&range, &["--service", "ledger"]).ok();
    check(&range, &["-t", "prod/aws/us-east-1", "-s", "checkout"]).expect(1);
}

#[test]
fn unknown_names_are_usage_errors_with_a_hint() {
    let p = acme();
    let cases: [(&[&str], &str, Vec<&str>); 5] = [
        (
            &["--env", "qa"],
            "unknown environment `qa`",
            vec!["dev, staging, prod"],
        ),
        (
            &["--target", "prod/aws/mars-1"],
            "unknown target `prod/aws/mars-1`",
            ACME_TARGETS.to_vec(),
        ),
        (
            &["--service", "cart"],
            "unknown service `cart`",
            ACME_SERVICES.to_vec(),
        ),
        (
            &["--app", "cart=1.0.0"],
            "unknown service `cart`",
            ACME_SERVICES.to_vec(),
        ),
        (
            &[
                "--env",
                "prod",
                "--service",
                "checkout",
                "--service",
                "chekout",
            ],
            "unknown service `chekout`",
            ACME_SERVICES.to_vec(),
        ),
    ];
    for (args, error, known) in cases {
        let run = check(&p, args).expect(2);
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
        assert!(
            run.stderr.starts_with(&format!("error: {error}\n")),
            "{args:?}: {}",
            run.stderr
        );
        let hint = run
            .stderr
            .lines()
            .find(|l| l.trim_start().starts_with("hint:"))
            .unwrap_or_else(|| panic!("{args:?}: no hint in {}", run.stderr));
        for name in known {
            assert!(hint.contains(name), "{args:?}: `{name}` not in {hint}");
        }
    }
}

#[test]
fn bad_app_versions_and_flags_are_usage_errors() {
    let p = acme();
    for (args, needle) in [
        (&["--app", "checkout=notsemver"][..], "semantic version"),
        (&["--app", "checkout"][..], "SERVICE=VERSION"),
        (&["--app", "checkout=4.18"][..], "semantic version"),
        (&["--format", "xml"][..], "xml"),
        (
            &["--schema-base", "/nonexistent/strata-base"][..],
            "--schema-base",
        ),
    ] {
        let run = check(&p, args).expect(2);
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
        assert!(run.stderr.contains(needle), "{args:?}: {}", run.stderr);
    }
    // A leading `v` is accepted.
    check(&p, &["--app", "checkout=v4.18.2"]).ok();
    // A contract that does not exist is a finding, not a usage error.
    let run = check(&p, &["--app", "search=1.0.0", "--format", "json"]).expect(1);
    let report = run.json();
    let rules: Vec<&str> = findings(&report)
        .iter()
        .map(|f| str_of(f, "rule"))
        .collect();
    assert_eq!(rules, ["contract/missing"]);
}

#[test]
fn the_contract_is_chosen_by_the_app_version() {
    let p = acme();
    let lines = |version: &str| {
        let app = format!("checkout={version}");
        let run = check(&p, &["--app", &app, "--format", "json"]);
        let report = run.json();
        assert_eq!(report_problems(&report, "error"), Vec::<String>::new());
        (run.code, expect_lines(&report))
    };
    // 4.17 reads the retry budget and must not be pointed at the ledger's gRPC port.
    assert_eq!(
        lines("4.17.0"),
        (
            Some(1),
            vec![
                "contract/required checkout:http.client.retry_budget *8 contracts/checkout.yaml:38"
                    .to_string(),
                "contract/rule checkout:upstreams.ledger.grpc_port *8 contracts/checkout.yaml:40"
                    .to_string(),
            ]
        )
    );
    // A version no contract covers.
    for version in ["3.0.0", "5.0.0"] {
        let (code, got) = lines(version);
        assert_eq!(code, Some(1));
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].starts_with("contract/version checkout: *8 contracts/checkout.yaml:"),
            "{got:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// 6. Hooks

#[test]
fn checkout_hook_refuses_a_long_prod_timeout() {
    if !available("python3") {
        eprintln!("skipping: python3 is not available");
        return;
    }
    let p = acme();
    // A new layer for prod on GCP only.
    p.write(
        "layers/env/prod/gcp/checkout.yaml",
        "http:\n  client:\n    timeout: 12s\n",
    );
    let report = check(&p, &["--app", "checkout=4.18.2", "--format", "json"])
        .expect(1)
        .json();
    assert_eq!(report_problems(&report, "error"), Vec::<String>::new());
    let all = findings(&report);
    assert_eq!(all.len(), 1, "{report:#}");
    let f = all[0];
    assert_eq!(f["rule"], "hook");
    assert_eq!(f["severity"], "error");
    assert_eq!(f["target"], "prod/gcp/europe-west1");
    assert_eq!(f["service"], "checkout");
    assert_eq!(f["param"], Value::Null);
    assert_eq!(file_line(f), "contracts/checkout.yaml:30");
    let message = str_of(f, "message");
    // The hook's stderr, both of its lines, in the one finding.
    for needle in [
        "hooks/check_checkout.py",
        "exit 1",
        "http.client.timeout is 12s in prod; at most 10s",
        "the storefront gives up after 30s",
        "[prod/gcp/europe-west1]",
    ] {
        assert!(message.contains(needle), "`{needle}` not in {message}");
    }
    // The text report shows it under the contract file.
    let text = check(&p, &["--app", "checkout=4.18.2"]).expect(1);
    let tf = text_findings(&text.stdout);
    assert_eq!(tf.len(), 1, "{}", text.stdout);
    assert_eq!(tf[0].0, "contracts/checkout.yaml");
    assert!(tf[0].1.starts_with("30:"), "{tf:?}");

    // --no-hooks: nothing else is wrong.
    let skipped = check(&p, &["--app", "checkout=4.18.2", "--no-hooks"]).ok();
    assert!(
        skipped.stdout.ends_with("check passed\n"),
        "{}",
        skipped.stdout
    );
    // Without --app there is no contract, hence no hook.
    check(&p, &[]).ok();

    // Within the limits the hook passes: it reads the effective configuration.
    p.write(
        "layers/env/prod/gcp/checkout.yaml",
        "http:\n  client:\n    timeout: 9s\n",
    );
    check(&p, &["--app", "checkout=4.18.2"]).ok();
}

// ---------------------------------------------------------------------------------------
// 7. strata schema diff

const OLD_SCHEMA: &str = "type: object
properties:
  name: { type: string }
  port: { type: number }
  legacy: { type: string }
";

/// `(rule, severity, param)` of every finding of a JSON report.
fn rules_of(report: &Value) -> Vec<(String, String, String)> {
    let mut v: Vec<(String, String, String)> = findings(report)
        .iter()
        .map(|f| {
            (
                str_of(f, "rule").to_string(),
                str_of(f, "severity").to_string(),
                f["param"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

fn triple(rule: &str, sev: &str, param: &str) -> (String, String, String) {
    (rule.to_string(), sev.to_string(), param.to_string())
}

#[test]
fn schema_diff_classifies_changes() {
    let p = project(&[
        ("old.yaml", OLD_SCHEMA),
        (
            "new.yaml",
            // `legacy` removed, `port` narrowed to integer, `extra` added (optional).
            "type: object
properties:
  name: { type: string }
  port: { type: integer }
  extra: { type: boolean }
",
        ),
        (
            "compatible.yaml",
            // `extra` added, `name` widened.
            "type: object
properties:
  name: { type: [string, 'null'] }
  port: { type: number }
  legacy: { type: string }
  extra: { type: boolean }
",
        ),
    ]);
    let breaking = p.run(&["schema", "diff", "old.yaml", "new.yaml"]).expect(1);
    assert!(breaking.stdout.contains("breaking"), "{}", breaking.stdout);
    assert!(
        breaking.stdout.contains("compatible"),
        "{}",
        breaking.stdout
    );
    assert!(
        breaking.stdout.ends_with("check failed\n"),
        "{}",
        breaking.stdout
    );
    let json = p
        .run(&["schema", "diff", "old.yaml", "new.yaml", "--format", "json"])
        .expect(1)
        .json();
    assert_eq!(
        rules_of(&json),
        [
            triple("schema-evolution/added-property", "info", "extra"),
            triple("schema-evolution/removed-property", "error", "legacy"),
            triple("schema-evolution/type-narrowed", "error", "port"),
        ]
    );
    // A removal points at the old schema, other changes at the new one.
    for f in findings(&json) {
        let want = if f["rule"] == "schema-evolution/removed-property" {
            "old.yaml"
        } else {
            "new.yaml"
        };
        assert_eq!(f["location"]["path"], want, "{f}");
    }

    let ok = p
        .run(&["schema", "diff", "old.yaml", "compatible.yaml"])
        .ok();
    assert!(ok.stdout.contains("compatible"), "{}", ok.stdout);
    assert!(!ok.stdout.contains("breaking"), "{}", ok.stdout);
    assert!(ok.stdout.ends_with("check passed\n"), "{}", ok.stdout);

    // Identical schemas: nothing to report.
    let same = p
        .run(&["schema", "diff", "old.yaml", "old.yaml", "-f", "json"])
        .ok()
        .json();
    assert!(findings(&same).is_empty(), "{same:#}");
    // A missing file is an I/O error.
    p.run(&["schema", "diff", "old.yaml", "missing.yaml"])
        .expect(2);
}

#[test]
fn schema_diff_with_a_service_looks_at_the_configuration() {
    let p = acme();
    let schema = std::fs::read_to_string(p.root().join("schemas/checkout.yaml")).expect("schema");
    // http.client.retry_budget is in the schema but no layer of checkout sets it.
    let retry_budget = "          retry_budget:                     # read by checkout < 4.18 only (contracts/checkout.yaml)
            type: number
            minimum: 0
            maximum: 1
            deprecated: true
";
    assert!(schema.contains(retry_budget));
    let unused = schema.replace(retry_budget, "");
    // image.pull_policy is set in layers/base/checkout.yaml.
    let pull_policy = "      pull_policy: { enum: [Always, IfNotPresent, Never] }\n";
    assert!(schema.contains(pull_policy));
    let used = schema.replace(pull_policy, "");
    std::fs::write(p.outer().join("unused.yaml"), &unused).expect("write");
    std::fs::write(p.outer().join("used.yaml"), &used).expect("write");

    let diff = |new: &str, format: &str| {
        p.run_outside(&[
            "schema",
            "diff",
            "proj/schemas/checkout.yaml",
            new,
            "--service",
            "checkout",
            "--format",
            format,
        ])
    };
    let compatible = diff("unused.yaml", "json").ok().json();
    assert_eq!(
        rules_of(&compatible),
        [triple(
            "schema-evolution/removed-property",
            "info",
            "http.client.retry_budget"
        )]
    );
    let text = diff("unused.yaml", "text").ok();
    assert!(text.stdout.contains("compatible"), "{}", text.stdout);

    let breaking = diff("used.yaml", "json").expect(1).json();
    assert_eq!(
        rules_of(&breaking),
        [triple(
            "schema-evolution/removed-property",
            "error",
            "image.pull_policy"
        )]
    );
    let f = findings(&breaking)[0];
    assert_eq!(f["service"], "checkout");
    // Removed from the old schema, at the removed line.
    let line = schema
        .lines()
        .position(|l| l.starts_with("      pull_policy:"))
        .expect("line")
        + 1;
    assert_eq!(file_line(f), format!("proj/schemas/checkout.yaml:{line}"));
    assert!(
        str_of(f, "message").contains("dev/aws/us-east-1"),
        "names a configuration that sets it: {f}"
    );
    let text = diff("used.yaml", "text").expect(1);
    assert!(text.stdout.contains("breaking"), "{}", text.stdout);

    // Without --service every removal is assumed to break something.
    let worst = p
        .run_outside(&[
            "schema",
            "diff",
            "proj/schemas/checkout.yaml",
            "unused.yaml",
        ])
        .expect(1);
    assert!(worst.stdout.contains("breaking"), "{}", worst.stdout);
    // An unknown service is a usage error.
    p.run_outside(&[
        "schema",
        "diff",
        "proj/schemas/checkout.yaml",
        "unused.yaml",
        "--service",
        "cart",
    ])
    .expect(2);
}

#[test]
fn schema_base_reports_a_breaking_schema_change() {
    // The project removes image.pull_policy from the schema although
    // layers/base/checkout.yaml still sets it: with the unmodified project as base, a breaking
    // schema change (a project-wide finding at the removed line of the base's schema).
    let p = acme();
    let schema = std::fs::read_to_string(p.root().join("schemas/checkout.yaml")).expect("schema");
    let pull_policy = "      pull_policy: { enum: [Always, IfNotPresent, Never] }\n";
    p.write("schemas/checkout.yaml", schema.replace(pull_policy, ""));
    let report = check(&p, &["--schema-base", ACME, "-s", "checkout", "-f", "json"])
        .expect(1)
        .json();
    // The removed line is in the base project's schema, shown as its real path.
    let problems: Vec<String> = report_problems(&report, "error")
        .into_iter()
        .filter(|p| !p.contains("/examples/acme/schemas/checkout.yaml"))
        .collect();
    assert_eq!(problems, Vec::<String>::new());
    let project: Vec<&Value> = report["project"]
        .as_array()
        .expect("project")
        .iter()
        .collect();
    assert_eq!(project.len(), 1, "{report:#}");
    assert_eq!(project[0]["rule"], "schema-evolution/removed-property");
    assert_eq!(project[0]["severity"], "error");
    assert_eq!(project[0]["param"], "image.pull_policy");
    assert_eq!(project[0]["target"], Value::Null);
    let removed = schema
        .lines()
        .position(|l| l.starts_with("      pull_policy:"))
        .expect("line")
        + 1;
    assert_eq!(project[0]["location"]["line"], removed);
    let base_file = std::path::Path::new(ACME).join("schemas/checkout.yaml");
    assert_eq!(
        str_of(&project[0]["location"], "path"),
        base_file.display().to_string(),
        "the base's own file, openable from here"
    );
    // Without a base only the value itself is refused (once per target).
    let alone = check(&p, &["-s", "checkout", "-f", "json"])
        .expect(1)
        .json();
    assert!(alone["project"].as_array().expect("project").is_empty());
    assert_eq!(
        expect_lines(&alone),
        ["schema/additionalProperties checkout:image.pull_policy *8 layers/base/checkout.yaml:6"]
    );
}

// ---------------------------------------------------------------------------------------
// 8. A schema that does not compile

#[test]
fn a_cel_rule_that_does_not_compile_is_a_schema_finding() {
    let p = acme();
    let schema = std::fs::read_to_string(p.root().join("schemas/checkout.yaml")).expect("schema");
    let good = "      - rule: self.min_replicas <= self.max_replicas\n";
    assert!(schema.contains(good));
    let broken = schema.replacen(good, "      - rule: self.min_replicas <=\n", 1);
    let line = broken
        .lines()
        .position(|l| l == "      - rule: self.min_replicas <=")
        .expect("line")
        + 1;
    p.write("schemas/checkout.yaml", &broken);

    let report = check(&p, &["--format", "json"]).expect(1).json();
    assert_eq!(report_problems(&report, "error"), Vec::<String>::new());
    let all = findings(&report);
    assert_eq!(all.len(), 1, "{report:#}");
    let f = all[0];
    assert_eq!(f["rule"], "schema/invalid");
    assert_eq!(f["severity"], "error");
    assert_eq!(f["service"], "checkout");
    assert_eq!(f["target"], Value::Null, "project-wide");
    assert_eq!(file_line(f), format!("schemas/checkout.yaml:{line}"));
    assert!(str_of(f, "message").contains("self.min_replicas <="), "{f}");
    assert_eq!(
        report["project"].as_array().expect("project").len(),
        1,
        "a project finding"
    );

    let text = check(&p, &[]).expect(1);
    let tf = text_findings(&text.stdout);
    assert_eq!(tf.len(), 1, "{}", text.stdout);
    assert_eq!(tf[0].0, "schemas/checkout.yaml");
    assert!(tf[0].1.starts_with(&format!("{line}:")), "{tf:?}");
    assert!(tf[0].2.starts_with("error    schema/invalid"), "{tf:?}");

    let sarif = check(&p, &["--format", "sarif"]).expect(1).json();
    let region = &sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"];
    assert_eq!(region["artifactLocation"]["uri"], "schemas/checkout.yaml");
    assert_eq!(region["region"]["startLine"], line);
}
