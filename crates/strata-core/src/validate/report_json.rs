//! The JSON form of a check [`Report`]: the versioned document of `strata check --format
//! json` (described field by field in `docs/report-format.md`), shared by the CLI and the
//! server's `POST /v1/validate`. Additive changes keep [`VERSION`]; renaming or removing a
//! field, or changing its meaning, bumps it.

use serde::Serialize;

use super::report::{Finding, Report, Severity, Unit};

/// The version of the JSON report format.
pub const VERSION: u32 = 1;

/// Totals of a report, as every format's summary shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportSummary {
    /// Findings at `error`.
    pub errors: usize,
    /// Findings at `warning`.
    pub warnings: usize,
    /// Findings at `info`.
    pub infos: usize,
    /// Checked units (target × service).
    pub units: usize,
    /// Distinct targets among the units.
    pub targets: usize,
    /// Distinct services among the units.
    pub services: usize,
    /// Whether any finding is at or above the threshold.
    pub failed: bool,
}

impl ReportSummary {
    /// `2 errors, 1 warning, 0 infos in 6 configurations (2 targets × 3 services)`: the
    /// summary line of the text, Markdown and annotation reports.
    pub fn line(&self) -> String {
        fn plural(n: usize, one: &str, many: &str) -> String {
            format!("{n} {}", if n == 1 { one } else { many })
        }
        format!(
            "{}, {}, {} in {} ({} × {})",
            plural(self.errors, "error", "errors"),
            plural(self.warnings, "warning", "warnings"),
            plural(self.infos, "info", "infos"),
            plural(self.units, "configuration", "configurations"),
            plural(self.targets, "target", "targets"),
            plural(self.services, "service", "services"),
        )
    }

    /// The totals of `report`, failing at `fail_on`.
    pub fn of(report: &Report, fail_on: Severity) -> ReportSummary {
        let mut targets: Vec<&str> = report.units.iter().map(|u| u.target.as_str()).collect();
        targets.sort_unstable();
        targets.dedup();
        let mut services: Vec<&str> = report.units.iter().map(|u| u.service.as_str()).collect();
        services.sort_unstable();
        services.dedup();
        ReportSummary {
            errors: report.count(Severity::Error),
            warnings: report.count(Severity::Warning),
            infos: report.count(Severity::Info),
            units: report.units.len(),
            targets: targets.len(),
            services: services.len(),
            failed: report.fails(fail_on),
        }
    }
}

/// The JSON document of a report (serialize it with serde).
#[derive(Serialize)]
pub struct JsonReport<'r> {
    version: u32,
    tool: Tool<'r>,
    summary: JsonSummary,
    units: Vec<JsonUnit<'r>>,
    project: Vec<JsonFinding<'r>>,
}

#[derive(Serialize)]
struct Tool<'r> {
    name: &'static str,
    version: &'r str,
}

#[derive(Serialize)]
struct JsonSummary {
    errors: usize,
    warnings: usize,
    infos: usize,
    units: usize,
    targets: usize,
    services: usize,
    failed: bool,
    fail_on: Severity,
}

#[derive(Serialize)]
struct JsonUnit<'r> {
    target: &'r str,
    env: &'r str,
    provider: &'r str,
    service: &'r str,
    protected: bool,
    failed: bool,
    findings: Vec<JsonFinding<'r>>,
}

/// One finding as the JSON report shows it.
#[derive(Serialize)]
pub struct JsonFinding<'r> {
    severity: Severity,
    rule: &'r str,
    service: &'r str,
    target: Option<&'r str>,
    param: Option<&'r str>,
    address: String,
    message: &'r str,
    hint: Option<&'r str>,
    location: Option<Location>,
}

#[derive(Serialize)]
struct Location {
    path: String,
    line: u32,
    col: u32,
}

/// A finding in the report's JSON shape; `display_path` maps project-relative paths to
/// the paths shown.
pub fn finding<'r>(f: &'r Finding, display_path: &dyn Fn(&str) -> String) -> JsonFinding<'r> {
    JsonFinding {
        severity: f.severity,
        rule: &f.rule,
        service: &f.service,
        target: f.target.as_deref(),
        param: f.param.as_deref(),
        address: f.address(),
        message: &f.message,
        hint: f.hint.as_deref(),
        location: f.location.as_ref().map(|l| Location {
            path: display_path(&l.path),
            line: l.line,
            col: l.col,
        }),
    }
}

fn unit<'r>(u: &'r Unit, fail_on: Severity, display_path: &dyn Fn(&str) -> String) -> JsonUnit<'r> {
    JsonUnit {
        target: &u.target,
        env: &u.env,
        provider: &u.provider,
        service: &u.service,
        protected: u.protected,
        failed: u.findings.iter().any(|f| f.severity >= fail_on),
        findings: u
            .findings
            .iter()
            .map(|f| finding(f, display_path))
            .collect(),
    }
}

/// The document of `report`: `fail_on` is the severity that fails the check,
/// `tool_version` the version of strata, `display_path` maps project-relative paths to
/// the paths shown.
pub fn document<'r>(
    report: &'r Report,
    fail_on: Severity,
    tool_version: &'r str,
    display_path: &dyn Fn(&str) -> String,
) -> JsonReport<'r> {
    let s = ReportSummary::of(report, fail_on);
    JsonReport {
        version: VERSION,
        tool: Tool {
            name: "strata",
            version: tool_version,
        },
        summary: JsonSummary {
            errors: s.errors,
            warnings: s.warnings,
            infos: s.infos,
            units: s.units,
            targets: s.targets,
            services: s.services,
            failed: s.failed,
            fail_on,
        },
        units: report
            .units
            .iter()
            .map(|u| unit(u, fail_on, display_path))
            .collect(),
        project: report
            .project
            .iter()
            .map(|f| finding(f, display_path))
            .collect(),
    }
}
