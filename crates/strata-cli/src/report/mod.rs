//! Rendering a check [`Report`] for people, programs and CI systems: text for a terminal,
//! versioned JSON, JUnit XML, SARIF 2.1.0, Markdown for a merge-request comment and GitHub
//! Actions workflow commands. The formats are described in `docs/report-format.md`.
//!
//! Every renderer is a pure function of the report and [`RenderOptions`]: output is
//! deterministic (findings sorted by file, line, column, rule) so it can be snapshotted and
//! diffed.

mod github;
mod json;
mod junit;
mod markdown;
mod sarif;
mod text;

use std::cmp::Ordering;
use std::ffi::OsStr;

use strata_core::validate::report::{Finding, Report, Severity};

/// Output formats of `strata check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// Findings grouped by file, for a terminal.
    Text,
    /// Versioned JSON for programs (see docs/report-format.md).
    Json,
    /// JUnit XML: one test suite per target, one test case per service.
    Junit,
    /// SARIF 2.1.0 for code-scanning tools.
    Sarif,
    /// Markdown for a merge-request comment.
    Markdown,
    /// GitHub Actions workflow commands (annotations).
    Github,
}

/// How to render a report.
pub struct RenderOptions<'a> {
    /// Colour the text format with ANSI escapes (ignored by the other formats).
    pub color: bool,
    /// Maps a project-relative path (`layers/base/checkout.yaml`) to the path shown, e.g.
    /// relative to the current directory (`error::display_path`).
    pub display_path: &'a dyn Fn(&str) -> String,
    /// The lowest severity that fails the check.
    pub fail_on: Severity,
    /// The version of strata, as reported by the JSON and SARIF formats.
    pub tool_version: &'a str,
}

/// Renders `report` in `format`. The result ends with a newline (and is never empty).
pub fn render(report: &Report, format: ReportFormat, opts: &RenderOptions) -> String {
    match format {
        ReportFormat::Text => text::render(report, opts),
        ReportFormat::Json => json::render(report, opts),
        ReportFormat::Junit => junit::render(report, opts),
        ReportFormat::Sarif => sarif::render(report, opts),
        ReportFormat::Markdown => markdown::render(report, opts),
        ReportFormat::Github => github::render(report, opts),
    }
}

/// Whether to colour: stdout is a terminal and NO_COLOR is unset/empty (and not writing to
/// --output FILE). Pass `to_terminal = false` when writing to a file.
pub fn color_wanted(to_terminal: bool) -> bool {
    color_wanted_with(to_terminal, std::env::var_os("NO_COLOR").as_deref())
}

/// [`color_wanted`] with the value of `NO_COLOR` given (see <https://no-color.org>).
fn color_wanted_with(to_terminal: bool, no_color: Option<&OsStr>) -> bool {
    to_terminal && no_color.is_none_or(OsStr::is_empty)
}

/// Totals shown in every format's summary (`Summary::of`, `Summary::line`).
pub(crate) use strata_core::validate::report_json::ReportSummary as Summary;

/// `1 error`, `2 errors`.
pub(crate) fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The order findings are listed in: by file (findings without a location last), line,
/// column, rule, then target, address and message so that the order never depends on how
/// the report was built.
pub(crate) fn finding_order(a: &Finding, b: &Finding) -> Ordering {
    fn loc_key(f: &Finding) -> Option<(&str, u32, u32)> {
        f.location
            .as_ref()
            .map(|l| (l.path.as_str(), l.line, l.col))
    }
    match (loc_key(a), loc_key(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
    .then_with(|| a.rule.cmp(&b.rule))
    .then_with(|| a.target.cmp(&b.target))
    .then_with(|| a.service.cmp(&b.service))
    .then_with(|| a.param.cmp(&b.param))
    .then_with(|| a.message.cmp(&b.message))
}

/// Every finding of the report in [`finding_order`].
pub(crate) fn sorted_findings(report: &Report) -> Vec<&Finding> {
    let mut all: Vec<&Finding> = report.findings().collect();
    all.sort_by(|a, b| finding_order(a, b));
    all
}

/// `(target T, parameter S:P)`-style context for one-line messages, without the
/// parentheses; empty when the finding has neither target nor service.
pub(crate) fn context(f: &Finding) -> String {
    let mut parts = Vec::new();
    if let Some(t) = &f.target {
        parts.push(format!("target {t}"));
    }
    if f.param.is_some() {
        parts.push(format!("parameter {}", f.address()));
    } else if !f.service.is_empty() {
        parts.push(format!("service {}", f.service));
    }
    parts.join(", ")
}

/// The message followed by ` (context)` when there is context.
pub(crate) fn message_with_context(f: &Finding) -> String {
    let ctx = context(f);
    if ctx.is_empty() {
        f.message.clone()
    } else {
        format!("{} ({ctx})", f.message)
    }
}

/// `PATH:LINE:COL` with the path as displayed, when the finding has a location.
pub(crate) fn location_string(f: &Finding, opts: &RenderOptions) -> Option<String> {
    f.location
        .as_ref()
        .map(|l| format!("{}:{}:{}", (opts.display_path)(&l.path), l.line, l.col))
}

#[cfg(test)]
pub(crate) mod tests {
    use strata_core::validate::report::{Finding, Report, Severity, SourceLoc, Unit};

    use super::*;

    fn loc(path: &str, line: u32, col: u32) -> Option<SourceLoc> {
        Some(SourceLoc {
            path: path.into(),
            line,
            col,
        })
    }

    fn unit(target: &str, service: &str, protected: bool, findings: Vec<Finding>) -> Unit {
        let mut parts = target.split('/');
        Unit {
            target: target.into(),
            env: parts.next().unwrap().into(),
            provider: parts.next().unwrap().into(),
            service: service.into(),
            protected,
            findings,
        }
    }

    /// Two targets (prod is protected) × two services, plus project-wide findings: one
    /// failing unit per target, one clean unit, special characters in messages, findings
    /// with and without location, target and parameter.
    pub fn fixture() -> Report {
        let prod = "prod/aws/us-east-1";
        let dev = "dev/gcp/europe-west1";
        Report {
            units: vec![
                unit(
                    prod,
                    "checkout",
                    true,
                    vec![
                        Finding {
                            severity: Severity::Warning,
                            rule: "contract/unused".into(),
                            service: "checkout".into(),
                            target: Some(prod.into()),
                            param: Some("feature.legacy".into()),
                            message: "no consumer reads this parameter".into(),
                            hint: None,
                            location: loc("layers/base/checkout.yaml", 3, 1),
                        },
                        Finding {
                            severity: Severity::Error,
                            rule: "schema/maximum".into(),
                            service: "checkout".into(),
                            target: Some(prod.into()),
                            param: Some("db.pool.max".into()),
                            message: "60 is greater than the maximum of 50".into(),
                            hint: Some(
                                "lower it, or raise `maximum` in schemas/checkout.yaml".into(),
                            ),
                            location: loc("layers/env/prod/checkout.yaml", 7, 13),
                        },
                    ],
                ),
                unit(prod, "ledger", true, vec![]),
                unit(
                    dev,
                    "checkout",
                    false,
                    vec![Finding {
                        severity: Severity::Info,
                        rule: "cel".into(),
                        service: "checkout".into(),
                        target: Some(dev.into()),
                        param: Some("replicas".into()),
                        message: "replicas == 1: no redundancy".into(),
                        hint: None,
                        location: None,
                    }],
                ),
                unit(
                    dev,
                    "ledger",
                    false,
                    vec![Finding {
                        severity: Severity::Error,
                        rule: "secret/plaintext".into(),
                        service: "ledger".into(),
                        target: Some(dev.into()),
                        param: Some("db.password".into()),
                        message: "plaintext secret in a|b <&> \"q\", 100% sure:\nuse a reference"
                            .into(),
                        hint: Some("write ${secret:ledger/db} instead".into()),
                        location: loc("layers/env/dev/ledger.yaml", 12, 5),
                    }],
                ),
            ],
            project: vec![
                Finding {
                    severity: Severity::Warning,
                    rule: "schema-evolution/type-narrowed".into(),
                    service: "checkout".into(),
                    target: None,
                    param: Some("db.pool.max".into()),
                    message: "type narrowed from number to integer".into(),
                    hint: None,
                    location: loc("schemas/checkout.yaml", 4, 9),
                },
                Finding {
                    severity: Severity::Info,
                    rule: "hook".into(),
                    service: String::new(),
                    target: None,
                    param: None,
                    message: "hook `lint` took 3s".into(),
                    hint: None,
                    location: None,
                },
            ],
        }
    }

    pub fn display(p: &str) -> String {
        format!("proj/{p}")
    }

    pub fn opts(fail_on: Severity) -> RenderOptions<'static> {
        RenderOptions {
            color: false,
            display_path: &display,
            fail_on,
            tool_version: "0.1.0",
        }
    }

    #[test]
    fn color_follows_terminal_and_no_color() {
        assert!(color_wanted_with(true, None));
        assert!(color_wanted_with(true, Some(OsStr::new(""))));
        assert!(!color_wanted_with(true, Some(OsStr::new("1"))));
        assert!(!color_wanted_with(false, None));
        assert!(!color_wanted(false));
    }

    #[test]
    fn summary_counts() {
        let r = fixture();
        let s = Summary::of(&r, Severity::Error);
        assert_eq!((s.errors, s.warnings, s.infos), (2, 2, 2));
        assert_eq!((s.units, s.targets, s.services), (4, 2, 2));
        assert!(s.failed);
        assert_eq!(
            s.line(),
            "2 errors, 2 warnings, 2 infos in 4 configurations (2 targets × 2 services)"
        );
        let empty = Summary::of(&Report::default(), Severity::Info);
        assert!(!empty.failed);
        assert_eq!(
            empty.line(),
            "0 errors, 0 warnings, 0 infos in 0 configurations (0 targets × 0 services)"
        );
    }

    #[test]
    fn findings_sorted_by_file_line_col_rule_located_first() {
        let r = fixture();
        let order: Vec<&str> = sorted_findings(&r)
            .iter()
            .map(|f| f.rule.as_str())
            .collect();
        assert_eq!(
            order,
            [
                "contract/unused",
                "secret/plaintext",
                "schema/maximum",
                "schema-evolution/type-narrowed",
                "cel",
                "hook"
            ]
        );
    }

    #[test]
    fn every_format_renders_a_clean_report() {
        let r = Report::default();
        for format in [
            ReportFormat::Text,
            ReportFormat::Json,
            ReportFormat::Junit,
            ReportFormat::Sarif,
            ReportFormat::Markdown,
            ReportFormat::Github,
        ] {
            let out = render(&r, format, &opts(Severity::Error));
            assert!(out.ends_with('\n'), "{format:?}: {out:?}");
        }
    }
}
