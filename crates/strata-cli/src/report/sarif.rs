//! SARIF 2.1.0 (OASIS Static Analysis Results Interchange Format), for code-scanning tools
//! such as GitHub code scanning or GitLab: one run, one rule per distinct rule id, one
//! result per finding.

use serde_json::{Map, Value, json};
use strata_core::validate::report::{Finding, Report, Severity};

use super::{RenderOptions, message_with_context, sorted_findings};

/// The schema SARIF files point to.
pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// A one-line description of what a rule checks.
fn rule_description(rule: &str) -> String {
    let exact = match rule {
        "schema/invalid" => Some("A schema file is not a valid schema."),
        "cel/transition" => Some("A transition rule (oldSelf) does not hold."),
        _ => None,
    };
    if let Some(d) = exact {
        return d.to_string();
    }
    let (family, detail) = rule.split_once('/').unwrap_or((rule, ""));
    let known = match family {
        "schema" => "A value does not satisfy the service's schema",
        "cel" => "A CEL validation rule does not hold",
        "secret" => "A secret is not handled safely",
        "contract" => "The configuration does not meet an application's contract",
        "hook" => "A contract's pre-deploy hook failed",
        "schema-evolution" => "A schema changed since the base project",
        "resolve" => "The configuration cannot be resolved",
        _ => return format!("Strata check rule {rule}."),
    };
    if detail.is_empty() {
        format!("{known}.")
    } else {
        format!("{known} ({detail}).")
    }
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// A relative URI reference for a displayed path: `/`-separated, percent-encoded.
/// Absolute paths (when the project directory was given as one) become `file:` URIs.
fn to_uri(path: &str) -> String {
    let path = path.replace('\\', "/");
    let mut out = String::with_capacity(path.len());
    let rest = if path.starts_with('/') {
        out.push_str("file://");
        path.as_str()
    } else if path.len() >= 3
        && path.as_bytes()[0].is_ascii_alphabetic()
        && &path.as_bytes()[1..3] == b":/"
    {
        // A Windows drive: file:///C:/…
        out.push_str("file:///");
        out.push_str(&path[..2]);
        &path[2..]
    } else {
        path.as_str()
    };
    for b in rest.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn result(f: &Finding, rule_index: usize, opts: &RenderOptions) -> Value {
    let mut text = message_with_context(f);
    if let Some(hint) = &f.hint {
        text.push_str("\nhint: ");
        text.push_str(hint);
    }
    let mut r = Map::new();
    r.insert("ruleId".into(), json!(f.rule));
    r.insert("ruleIndex".into(), json!(rule_index));
    r.insert("level".into(), json!(level(f.severity)));
    r.insert("message".into(), json!({ "text": text }));
    let address = f.address();
    if let Some(loc) = &f.location {
        r.insert(
            "locations".into(),
            json!([{
                "physicalLocation": {
                    "artifactLocation": { "uri": to_uri(&(opts.display_path)(&loc.path)) },
                    "region": { "startLine": loc.line, "startColumn": loc.col }
                }
            }]),
        );
    } else if !address.is_empty() {
        let kind = if f.param.is_some() {
            "member"
        } else {
            "module"
        };
        r.insert(
            "locations".into(),
            json!([{
                "logicalLocations": [{ "fullyQualifiedName": address, "kind": kind }]
            }]),
        );
    }
    let mut props = Map::new();
    if let Some(t) = &f.target {
        props.insert("target".into(), json!(t));
    }
    if !f.service.is_empty() {
        props.insert("service".into(), json!(f.service));
    }
    if let Some(p) = &f.param {
        props.insert("parameter".into(), json!(p));
    }
    if !props.is_empty() {
        r.insert("properties".into(), Value::Object(props));
    }
    Value::Object(r)
}

pub(super) fn render(report: &Report, opts: &RenderOptions) -> String {
    let findings = sorted_findings(report);
    let mut rules: Vec<&str> = findings.iter().map(|f| f.rule.as_str()).collect();
    rules.sort_unstable();
    rules.dedup();
    let rule_objects: Vec<Value> = rules
        .iter()
        .map(|id| json!({ "id": id, "shortDescription": { "text": rule_description(id) } }))
        .collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let index = rules
                .binary_search(&f.rule.as_str())
                .expect("every rule is listed");
            result(f, index, opts)
        })
        .collect();
    let doc = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "strata",
                    "version": opts.tool_version,
                    "rules": rule_objects
                }
            },
            "columnKind": "unicodeCodePoints",
            "results": results
        }]
    });
    let mut out = serde_json::to_string_pretty(&doc).expect("SARIF serializes");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, opts};
    use super::*;

    fn parsed() -> Value {
        serde_json::from_str(&render(&fixture(), &opts(Severity::Error))).unwrap()
    }

    #[test]
    fn header_and_rules() {
        let v = parsed();
        assert_eq!(v["$schema"], SCHEMA);
        assert_eq!(v["version"], "2.1.0");
        assert_eq!(v["runs"].as_array().unwrap().len(), 1);
        let driver = &v["runs"][0]["tool"]["driver"];
        assert_eq!(driver["name"], "strata");
        assert_eq!(driver["version"], "0.1.0");
        let ids: Vec<&str> = driver["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            [
                "cel",
                "contract/unused",
                "hook",
                "schema-evolution/type-narrowed",
                "schema/maximum",
                "secret/plaintext"
            ]
        );
        assert_eq!(
            driver["rules"][4]["shortDescription"]["text"],
            "A value does not satisfy the service's schema (maximum)."
        );
    }

    #[test]
    fn results_with_physical_and_logical_locations() {
        let v = parsed();
        let results = v["runs"][0]["results"].as_array().unwrap();
        assert_eq!(results.len(), 6);
        let max = results
            .iter()
            .find(|r| r["ruleId"] == "schema/maximum")
            .unwrap();
        assert_eq!(max["level"], "error");
        assert_eq!(max["ruleIndex"], 4);
        assert_eq!(
            max["message"]["text"],
            "60 is greater than the maximum of 50 (target prod/aws/us-east-1, parameter checkout:db.pool.max)\nhint: lower it, or raise `maximum` in schemas/checkout.yaml"
        );
        let phys = &max["locations"][0]["physicalLocation"];
        assert_eq!(
            phys["artifactLocation"]["uri"],
            "proj/layers/env/prod/checkout.yaml"
        );
        assert_eq!(phys["region"]["startLine"], 7);
        assert_eq!(phys["region"]["startColumn"], 13);

        let cel = results.iter().find(|r| r["ruleId"] == "cel").unwrap();
        assert_eq!(cel["level"], "note");
        assert!(cel["locations"][0].get("physicalLocation").is_none());
        assert_eq!(
            cel["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
            "checkout:replicas"
        );
        let hook = results.iter().find(|r| r["ruleId"] == "hook").unwrap();
        assert!(hook.get("locations").is_none());
        let warn = results
            .iter()
            .find(|r| r["ruleId"] == "contract/unused")
            .unwrap();
        assert_eq!(warn["level"], "warning");
    }

    #[test]
    fn rule_descriptions() {
        assert_eq!(
            rule_description("cel"),
            "A CEL validation rule does not hold."
        );
        assert_eq!(
            rule_description("cel/transition"),
            "A transition rule (oldSelf) does not hold."
        );
        assert_eq!(
            rule_description("new/thing"),
            "Strata check rule new/thing."
        );
    }

    #[test]
    fn uris() {
        assert_eq!(to_uri("layers/a b/c#1.yaml"), "layers/a%20b/c%231.yaml");
        assert_eq!(to_uri("..\\proj\\x.yaml"), "../proj/x.yaml");
        assert_eq!(to_uri("/srv/proj/x.yaml"), "file:///srv/proj/x.yaml");
        assert_eq!(to_uri("C:\\proj\\x.yaml"), "file:///C:/proj/x.yaml");
        assert_eq!(to_uri("layers/ü.yaml"), "layers/%C3%BC.yaml");
    }
}
