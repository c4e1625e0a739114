//! The JSON format: a versioned document for programs, described field by field in
//! `docs/report-format.md`. The document is built by `strata_core::validate::report_json`
//! (the server answers the same); this module renders it as text.

use strata_core::validate::report::Report;
use strata_core::validate::report_json::document;

use super::RenderOptions;

pub(super) fn render(report: &Report, opts: &RenderOptions) -> String {
    let doc = document(report, opts.fail_on, opts.tool_version, opts.display_path);
    let mut out = serde_json::to_string_pretty(&doc).expect("a report serializes to JSON");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::tests::{fixture, opts};
    use super::*;
    use strata_core::validate::report::Severity;

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
