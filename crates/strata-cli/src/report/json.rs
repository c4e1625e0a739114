//! The JSON format: a versioned document for programs, described field by field in
//! `docs/report-format.md`. Additive changes keep [`VERSION`]; renaming or removing a field,
//! or changing its meaning, bumps it.

use serde::Serialize;
use strata_core::validate::report::{Finding, Report, Severity, Unit};

use super::{RenderOptions, Summary};

/// The version of the JSON report format.
pub const VERSION: u32 = 1;

#[derive(Serialize)]
struct Document<'r> {
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

#[derive(Serialize)]
struct JsonFinding<'r> {
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

fn finding<'r>(f: &'r Finding, opts: &RenderOptions) -> JsonFinding<'r> {
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
            path: (opts.display_path)(&l.path),
            line: l.line,
            col: l.col,
        }),
    }
}

fn unit<'r>(u: &'r Unit, opts: &RenderOptions) -> JsonUnit<'r> {
    JsonUnit {
        target: &u.target,
        env: &u.env,
        provider: &u.provider,
        service: &u.service,
        protected: u.protected,
        failed: u.findings.iter().any(|f| f.severity >= opts.fail_on),
        findings: u.findings.iter().map(|f| finding(f, opts)).collect(),
    }
}

pub(super) fn render(report: &Report, opts: &RenderOptions) -> String {
    let s = Summary::of(report, opts.fail_on);
    let doc = Document {
        version: VERSION,
        tool: Tool {
            name: "strata",
            version: opts.tool_version,
        },
        summary: JsonSummary {
            errors: s.errors,
            warnings: s.warnings,
            infos: s.infos,
            units: s.units,
            targets: s.targets,
            services: s.services,
            failed: s.failed,
            fail_on: opts.fail_on,
        },
        units: report.units.iter().map(|u| unit(u, opts)).collect(),
        project: report.project.iter().map(|f| finding(f, opts)).collect(),
    };
    let mut out = serde_json::to_string_pretty(&doc).expect("a report serializes to JSON");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::tests::{fixture, opts};
    use super::*;

    #[test]
    fn versioned_document_with_summary() {
        let out = render(&fixture(), &opts(Severity::Warning));
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["version"], 1);
        assert_eq!(v["tool"], json!({"name": "strata", "version": "0.1.0"}));
        assert_eq!(
            v["summary"],
            json!({"errors": 2, "warnings": 2, "infos": 2, "units": 4, "targets": 2,
                   "services": 2, "failed": true, "fail_on": "warning"})
        );
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["version", "tool", "summary", "units", "project"]);
    }

    #[test]
    fn units_and_findings() {
        let v: Value = serde_json::from_str(&render(&fixture(), &opts(Severity::Error))).unwrap();
        let units = v["units"].as_array().unwrap();
        assert_eq!(units.len(), 4);
        assert_eq!(units[0]["target"], "prod/aws/us-east-1");
        assert_eq!(units[0]["env"], "prod");
        assert_eq!(units[0]["provider"], "aws");
        assert_eq!(units[0]["protected"], true);
        assert_eq!(units[0]["failed"], true);
        assert_eq!(units[1]["failed"], false);
        assert_eq!(units[1]["findings"], json!([]));
        assert_eq!(
            units[0]["findings"][1],
            json!({
                "severity": "error",
                "rule": "schema/maximum",
                "service": "checkout",
                "target": "prod/aws/us-east-1",
                "param": "db.pool.max",
                "address": "checkout:db.pool.max",
                "message": "60 is greater than the maximum of 50",
                "hint": "lower it, or raise `maximum` in schemas/checkout.yaml",
                "location": {"path": "proj/layers/env/prod/checkout.yaml", "line": 7, "col": 13}
            })
        );
        let hook = &v["project"][1];
        assert_eq!(hook["target"], Value::Null);
        assert_eq!(hook["location"], Value::Null);
        assert_eq!(hook["address"], "");
    }
}
