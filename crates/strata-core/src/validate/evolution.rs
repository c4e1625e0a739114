//! Schema evolution: what changed between an old and a new schema of a service, and which
//! changes break the configuration that exists today.
//!
//! Breaking: a removed (or renamed) property that some layer still sets; a narrowed type; a
//! removed enum value; a new required property without a default that some configuration
//! lacks; a tightened constraint that an existing value fails. Everything else is compatible
//! and reported as information. Whether a change breaks is decided by observing the current
//! effective configurations one by one ([`Change::observe`]), so a check over every target
//! never has to hold them all at once.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::report::{Finding, Severity, SourceLoc};
use super::schema::{Pat, pattern_glob, select, walk_schema};
use crate::value::{Loc, Node, Value};

/// What a change needs to know about existing values to decide whether it breaks.
enum Probe {
    /// Breaking exactly when some configuration sets the property.
    Present,
    /// Breaking when some configuration lacks the (newly required) property.
    Absent,
    /// Breaking when some existing value fails this schema node.
    Fails(Box<jsonschema::Validator>),
    /// Breaking whatever the values.
    Always,
    /// Never breaking.
    Never,
}

/// One difference between two schema versions.
pub struct Change {
    /// Short kind, used in the rule id: `removed-property`, `type-narrowed`, …
    pub kind: &'static str,
    /// Instance pattern the change applies to.
    pattern: Vec<Pat>,
    /// Human description.
    pub message: String,
    /// Where to look (new schema, or old schema for removals).
    pub location: SourceLoc,
    probe: Probe,
    /// Set once an observed configuration makes the change breaking.
    broken_by: Option<String>,
}

impl Change {
    /// Looks at one current configuration (`target` names it in the message).
    pub fn observe(&mut self, target: &str, eff: &Node) {
        if self.broken_by.is_some() {
            return;
        }
        let hit = match &self.probe {
            Probe::Present => !select(eff, &self.pattern).is_empty(),
            Probe::Absent => {
                let (parent, _) = self.pattern.split_at(self.pattern.len().saturating_sub(1));
                let parents = select(eff, parent);
                !parents.is_empty() && select(eff, &self.pattern).len() < parents.len()
            }
            Probe::Fails(v) => select(eff, &self.pattern)
                .iter()
                .any(|(_, n)| !v.is_valid(&n.value.to_json())),
            Probe::Always | Probe::Never => false,
        };
        if hit {
            self.broken_by = Some(target.to_string());
        }
    }

    /// Without any configuration to look at, assumes the worst: a change that would break
    /// some possible configuration is reported as breaking.
    pub fn assume_worst(&mut self) {
        if matches!(self.probe, Probe::Present | Probe::Absent | Probe::Fails(_))
            && self.broken_by.is_none()
        {
            // An empty name: no particular configuration, any could be affected.
            self.broken_by = Some(String::new());
        }
    }

    /// Whether the change breaks the configurations observed so far.
    pub fn is_breaking(&self) -> bool {
        matches!(self.probe, Probe::Always) || self.broken_by.is_some()
    }

    /// The finding for this change: an error when breaking, information otherwise.
    pub fn finding(&self, service: &str) -> Finding {
        let breaking = self.is_breaking();
        let param = pattern_glob(service, &self.pattern);
        let param = param
            .split_once(':')
            .map_or(param.clone(), |(_, p)| p.to_string());
        let message = match &self.broken_by {
            Some(t) if t.is_empty() => format!(
                "breaking: {} (no configuration was given to compare: it could break any)",
                self.message
            ),
            Some(t) => format!(
                "breaking: {} (the configuration of {t} is affected)",
                self.message
            ),
            None if breaking => format!("breaking: {}", self.message),
            None => format!("compatible: {}", self.message),
        };
        Finding {
            severity: if breaking { Severity::Error } else { Severity::Info },
            rule: format!("schema-evolution/{}", self.kind),
            service: service.to_string(),
            target: None,
            param: Some(param),
            message,
            hint: breaking.then(|| {
                "keep the old schema accepting today's values, or change the layers in the same change".to_string()
            }),
            location: Some(self.location.clone()),
        }
    }
}

fn types(node: &Node) -> Option<BTreeSet<String>> {
    let t = node.value.as_map()?.get("type")?;
    let mut set = BTreeSet::new();
    match &t.value {
        Value::Str(s) => {
            set.insert(s.to_string());
        }
        Value::List(items) => set.extend(
            items
                .iter()
                .filter_map(|i| i.value.as_str().map(str::to_string)),
        ),
        _ => return None,
    }
    if set.contains("number") {
        set.insert("integer".into());
    }
    Some(set)
}

fn enum_values(node: &Node) -> Option<Vec<serde_json::Value>> {
    match &node.value.as_map()?.get("enum")?.value {
        Value::List(items) => Some(items.iter().map(|i| i.value.to_json()).collect()),
        _ => None,
    }
}

fn required(node: &Node) -> BTreeSet<String> {
    match node
        .value
        .as_map()
        .and_then(|m| m.get("required"))
        .map(|n| &n.value)
    {
        Some(Value::List(items)) => items
            .iter()
            .filter_map(|i| i.value.as_str().map(str::to_string))
            .collect(),
        _ => BTreeSet::new(),
    }
}

/// The constraint keywords of a node (what "tightened" compares).
const CONSTRAINTS: [&str; 16] = [
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "additionalProperties",
    "const",
];

fn constraints(node: &Node) -> Vec<(&'static str, serde_json::Value)> {
    let m = node.value.as_map();
    CONSTRAINTS
        .iter()
        .filter_map(|k| m.and_then(|m| m.get(*k)).map(|v| (*k, v.value.to_json())))
        .collect()
}

/// Only the node's own constraint keywords (not its children), as a schema to test values.
fn own_constraints_schema(node: &Node) -> serde_json::Value {
    let mut obj = serde_json::Map::new();
    for (k, v) in constraints(node) {
        if k != "additionalProperties" || v.is_boolean() {
            obj.insert(k.to_string(), v);
        }
    }
    if let Some(Value::Map(props)) = node
        .value
        .as_map()
        .and_then(|m| m.get("properties"))
        .map(|n| &n.value)
        && obj.contains_key("additionalProperties")
    {
        // additionalProperties needs the property names to know what is "additional".
        let names: serde_json::Map<String, serde_json::Value> = props
            .keys()
            .map(|k| (k.to_string(), serde_json::json!({})))
            .collect();
        obj.insert("properties".into(), serde_json::Value::Object(names));
    }
    serde_json::Value::Object(obj)
}

/// Compares two versions of a service's schema.
pub fn diff(old_path: &Arc<str>, old: &Node, new_path: &Arc<str>, new: &Node) -> Vec<Change> {
    let mut old_nodes: Vec<(Vec<Pat>, &Node)> = Vec::new();
    walk_schema(old, &mut |p, n| old_nodes.push((p.to_vec(), n)));
    let mut new_nodes: Vec<(Vec<Pat>, &Node)> = Vec::new();
    walk_schema(new, &mut |p, n| new_nodes.push((p.to_vec(), n)));
    let at = |path: &Arc<str>, loc: Loc| SourceLoc {
        path: path.to_string(),
        line: loc.line,
        col: loc.col,
    };
    let mut out = Vec::new();
    let mut seen: Vec<&[Pat]> = Vec::new();

    for (pats, old_node) in &old_nodes {
        if seen.contains(&pats.as_slice()) {
            continue;
        }
        seen.push(pats);
        let Some(new_node) = find(&new_nodes, pats) else {
            if matches!(pats.last(), Some(Pat::Key(_))) {
                out.push(Change {
                    kind: "removed-property",
                    pattern: pats.clone(),
                    message: "property removed (or renamed) from the schema".into(),
                    location: at(old_path, old_node.loc),
                    probe: Probe::Present,
                    broken_by: None,
                });
            }
            continue;
        };
        let here = at(new_path, new_node.loc);
        if let (Some(ot), Some(nt)) = (types(old_node), types(new_node)) {
            let lost: Vec<&String> = ot.difference(&nt).collect();
            if !lost.is_empty() {
                out.push(Change {
                    kind: "type-narrowed",
                    pattern: pats.clone(),
                    message: format!(
                        "type no longer allows {}",
                        lost.iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    location: here.clone(),
                    probe: Probe::Always,
                    broken_by: None,
                });
            } else if nt.len() > ot.len() {
                out.push(Change {
                    kind: "type-widened",
                    pattern: pats.clone(),
                    message: "type allows more".into(),
                    location: here.clone(),
                    probe: Probe::Never,
                    broken_by: None,
                });
            }
        }
        match (enum_values(old_node), enum_values(new_node)) {
            (Some(oe), Some(ne)) => {
                let removed: Vec<String> = oe
                    .iter()
                    .filter(|v| !ne.contains(v))
                    .map(|v| v.to_string())
                    .collect();
                if !removed.is_empty() {
                    out.push(Change {
                        kind: "enum-value-removed",
                        pattern: pats.clone(),
                        message: format!("enum no longer allows {}", removed.join(", ")),
                        location: here.clone(),
                        probe: Probe::Always,
                        broken_by: None,
                    });
                } else if ne.len() > oe.len() {
                    out.push(Change {
                        kind: "enum-value-added",
                        pattern: pats.clone(),
                        message: "enum allows more values".into(),
                        location: here.clone(),
                        probe: Probe::Never,
                        broken_by: None,
                    });
                }
            }
            (None, Some(_)) => out.push(Change {
                kind: "constraint-tightened",
                pattern: pats.clone(),
                message: "an enum was added".into(),
                location: here.clone(),
                probe: validator(&serde_json::json!({"enum": enum_values(new_node)})),
                broken_by: None,
            }),
            _ => {}
        }
        let (oc, nc) = (constraints(old_node), constraints(new_node));
        if oc != nc {
            let changed: Vec<&str> = nc
                .iter()
                .filter(|(k, v)| !oc.iter().any(|(ok, ov)| ok == k && ov == v))
                .map(|(k, _)| *k)
                .chain(
                    oc.iter()
                        .filter(|(k, _)| !nc.iter().any(|(nk, _)| nk == k))
                        .map(|(k, _)| *k),
                )
                .collect();
            out.push(Change {
                kind: "constraint-changed",
                pattern: pats.clone(),
                message: format!("constraints changed: {}", changed.join(", ")),
                location: here.clone(),
                probe: validator(&own_constraints_schema(new_node)),
                broken_by: None,
            });
        }
        // Properties that became required (existing or new).
        let (or, nr) = (required(old_node), required(new_node));
        for name in nr.difference(&or) {
            let mut child = pats.clone();
            child.push(Pat::Key(name.clone()));
            let has_default = find(&new_nodes, &child)
                .and_then(|n| n.value.as_map())
                .is_some_and(|m| m.contains_key("default"));
            out.push(Change {
                kind: "new-required-property",
                pattern: child,
                message: format!(
                    "`{name}` is now required{}",
                    if has_default {
                        " (it has a default)"
                    } else {
                        ""
                    }
                ),
                location: here.clone(),
                probe: if has_default {
                    Probe::Never
                } else {
                    Probe::Absent
                },
                broken_by: None,
            });
        }
    }
    for (pats, node) in &new_nodes {
        if matches!(pats.last(), Some(Pat::Key(_)))
            && find(&old_nodes, pats).is_none()
            && !out.iter().any(|c| &c.pattern == pats)
        {
            out.push(Change {
                kind: "added-property",
                pattern: pats.clone(),
                message: "optional property added".into(),
                location: at(new_path, node.loc),
                probe: Probe::Never,
                broken_by: None,
            });
        }
    }
    out
}

fn find<'a>(nodes: &[(Vec<Pat>, &'a Node)], p: &[Pat]) -> Option<&'a Node> {
    nodes.iter().find(|(q, _)| q == p).map(|(_, n)| *n)
}

fn validator(schema: &serde_json::Value) -> Probe {
    match jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(schema)
    {
        Ok(v) => Probe::Fails(Box::new(v)),
        Err(_) => Probe::Always,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{Format, ParseOptions, parse_document};
    use crate::value::FileId;

    fn doc(text: &str) -> Node {
        parse_document(
            &Arc::from("x"),
            FileId(0),
            text.as_bytes(),
            Format::Yaml,
            ParseOptions { templates: false },
        )
        .unwrap()
    }

    const OLD: &str = r#"type: object
required: [db]
properties:
  db:
    type: object
    properties:
      host: {type: string}
      port: {type: [integer, string], minimum: 1, maximum: 65535}
      mode: {enum: [a, b, c]}
      legacy: {type: string}
      unused_legacy: {type: string}
  replicas: {type: integer, maximum: 100}
"#;

    const NEW: &str = r#"type: object
required: [db, region]
properties:
  db:
    type: object
    properties:
      host: {type: string}
      port: {type: integer, minimum: 1, maximum: 65535}
      mode: {enum: [a, b]}
  replicas: {type: integer, maximum: 10}
  region: {type: string}
  extra: {type: string}
"#;

    fn run(configs: &[&str]) -> Vec<(String, String, Severity)> {
        let (o, n) = (doc(OLD), doc(NEW));
        let mut changes = diff(&Arc::from("old.yaml"), &o, &Arc::from("new.yaml"), &n);
        for (i, c) in configs.iter().enumerate() {
            let eff = doc(c);
            for ch in &mut changes {
                ch.observe(&format!("t{i}"), &eff);
            }
        }
        let mut out: Vec<_> = changes
            .iter()
            .map(|c| {
                let f = c.finding("svc");
                (f.rule, f.param.unwrap_or_default(), f.severity)
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn classifies_against_existing_values() {
        let got = run(&["db: {host: h, port: 5432, mode: a, legacy: x}\nreplicas: 20\n"]);
        let e = Severity::Error;
        let i = Severity::Info;
        assert_eq!(
            got,
            vec![
                ("schema-evolution/added-property".into(), "extra".into(), i),
                (
                    "schema-evolution/constraint-changed".into(),
                    "replicas".into(),
                    e
                ),
                (
                    "schema-evolution/enum-value-removed".into(),
                    "db.mode".into(),
                    e
                ),
                (
                    "schema-evolution/new-required-property".into(),
                    "region".into(),
                    e
                ),
                (
                    "schema-evolution/removed-property".into(),
                    "db.legacy".into(),
                    e
                ),
                (
                    "schema-evolution/removed-property".into(),
                    "db.unused_legacy".into(),
                    i
                ),
                ("schema-evolution/type-narrowed".into(), "db.port".into(), e),
            ]
        );
    }

    #[test]
    fn tightening_that_no_value_fails_is_compatible() {
        let got = run(&["db: {host: h, port: 1}\nreplicas: 5\nregion: eu\n"]);
        let replicas = got
            .iter()
            .find(|(r, p, _)| r.ends_with("constraint-changed") && p == "replicas")
            .unwrap();
        assert_eq!(replicas.2, Severity::Info);
        let region = got
            .iter()
            .find(|(r, _, _)| r.ends_with("new-required-property"))
            .unwrap();
        assert_eq!(
            region.2,
            Severity::Info,
            "every configuration already sets it"
        );
    }

    fn changes(old: &str, new: &str, configs: &[&str]) -> Vec<(String, Severity)> {
        let (o, n) = (doc(old), doc(new));
        let mut list = diff(&Arc::from("old.yaml"), &o, &Arc::from("new.yaml"), &n);
        for c in configs {
            let eff = doc(c);
            list.iter_mut().for_each(|ch| ch.observe("t", &eff));
        }
        list.iter()
            .map(|c| {
                let f = c.finding("s");
                (f.rule, f.severity)
            })
            .collect()
    }

    #[test]
    fn every_kind_of_change() {
        let e = Severity::Error;
        let i = Severity::Info;
        let ev = |k: &str| format!("schema-evolution/{k}");
        // number → integer narrows; integer → [integer, string] widens.
        assert_eq!(
            changes(
                "properties: {a: {type: number}}",
                "properties: {a: {type: integer}}",
                &[]
            ),
            vec![(ev("type-narrowed"), e)]
        );
        assert_eq!(
            changes(
                "properties: {a: {type: integer}}",
                "properties: {a: {type: [integer, string]}}",
                &[]
            ),
            vec![(ev("type-widened"), i)]
        );
        // An unreadable `type` or `enum` is not compared.
        assert!(
            changes(
                "properties: {a: {type: 5, enum: x}}",
                "properties: {a: {type: 6, enum: y}}",
                &[]
            )
            .is_empty()
        );
        assert_eq!(
            changes(
                "properties: {a: {enum: [x]}}",
                "properties: {a: {enum: [x, y]}}",
                &[]
            ),
            vec![(ev("enum-value-added"), i)]
        );
        assert_eq!(
            changes(
                "properties: {a: {}}",
                "properties: {a: {enum: [x]}}",
                &["a: y"]
            ),
            vec![(ev("constraint-tightened"), e)]
        );
        assert_eq!(
            changes(
                "properties: {a: {}}",
                "properties: {a: {enum: [x]}}",
                &["a: x"]
            ),
            vec![(ev("constraint-tightened"), i)]
        );
        // A new required property with a default never breaks.
        assert_eq!(
            changes(
                "properties: {a: {}}",
                "required: [a]\nproperties: {a: {default: 1}}",
                &["b: 1"]
            ),
            vec![(ev("new-required-property"), i)]
        );
        // Closing an object breaks configurations with other keys.
        assert_eq!(
            changes(
                "properties: {a: {}}",
                "additionalProperties: false\nproperties: {a: {}}",
                &["a: 1\nb: 2"]
            ),
            vec![(ev("constraint-changed"), e)]
        );
        assert_eq!(
            changes(
                "properties: {a: {}}",
                "additionalProperties: false\nproperties: {a: {}}",
                &["a: 1"]
            ),
            vec![(ev("constraint-changed"), i)]
        );
        // A constraint the validator cannot compile counts as breaking.
        assert_eq!(
            changes(
                "properties: {a: {}}",
                "properties: {a: {pattern: \"(\"}}",
                &[]
            ),
            vec![(ev("constraint-changed"), e)]
        );
    }

    #[test]
    fn without_values_every_possible_break_counts() {
        let (o, n) = (doc(OLD), doc(NEW));
        let mut changes = diff(&Arc::from("old.yaml"), &o, &Arc::from("new.yaml"), &n);
        changes.iter_mut().for_each(Change::assume_worst);
        let removed = changes
            .iter()
            .find(|c| c.kind == "removed-property")
            .unwrap();
        assert!(removed.is_breaking());
        assert!(
            removed
                .finding("svc")
                .message
                .contains("no configuration was given")
        );
        let added = changes.iter().find(|c| c.kind == "added-property").unwrap();
        assert!(!added.is_breaking());
    }

    #[test]
    fn breaking_findings_name_the_affected_target() {
        let (o, n) = (doc(OLD), doc(NEW));
        let mut changes = diff(&Arc::from("old.yaml"), &o, &Arc::from("new.yaml"), &n);
        let eff = doc("db: {legacy: x}\n");
        for c in &mut changes {
            c.observe("prod/aws/us-east-1", &eff);
        }
        let removed = changes
            .iter()
            .find(|c| c.kind == "removed-property" && c.is_breaking())
            .unwrap();
        let f = removed.finding("svc");
        assert!(f.message.contains("prod/aws/us-east-1"), "{}", f.message);
        assert_eq!(f.location.unwrap().path, "old.yaml");
    }
}
