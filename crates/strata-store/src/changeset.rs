//! Changesets: parameter edits against a base revision, from the command line or a
//! `CHANGESET.yaml` file.
//!
//! ```yaml
//! base: 3f2a9c1b0d4e        # optional: the revision the edits were made against
//! message: Raise the pool for the sale
//! changes:
//!   - set: checkout:db.pool.max_size
//!     layer: env/prod
//!     value: 50
//!   - unset: checkout:feature.legacy
//!     layer: base
//! ```

use std::sync::Arc;

use strata_core::parse::{Format, ParseOptions, parse_document};
use strata_core::path::{ParamPath, Segment};
use strata_core::value::{FileId, Node, Value};

use crate::error::StoreError;

/// One parameter edit in one layer.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamEdit {
    /// The parameter (`service:path`, path not empty).
    pub param: ParamPath,
    /// The layer directory below `layers/`, e.g. `base` or `env/prod`.
    pub layer: String,
    /// The new value; `None` removes the parameter.
    pub value: Option<serde_json::Value>,
}

impl ParamEdit {
    /// The layer file's path without extension: `layers/env/prod/checkout`.
    pub fn file_stem(&self) -> String {
        format!("layers/{}/{}", self.layer, self.param.service)
    }

    /// The dotted path inside the service.
    pub fn segments(&self) -> &[Segment] {
        &self.param.segments
    }
}

/// A set of edits against a base revision.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changeset {
    /// The revision the edits were made against (a rev spec); `None` means the head.
    pub base: Option<String>,
    /// Why (used as the revision message when the caller gives none).
    pub message: Option<String>,
    /// The edits, applied in order.
    pub edits: Vec<ParamEdit>,
}

/// Parses a `service:path` argument that must name a parameter (not a whole service).
pub fn parse_param(text: &str) -> Result<ParamPath, StoreError> {
    let p = ParamPath::parse(text).map_err(|e| StoreError::Invalid(e.to_string()))?;
    if p.segments.is_empty() {
        return Err(StoreError::Invalid(format!(
            "`{text}` names a whole service; write SERVICE:PATH, e.g. `{}:db.pool.max_size`",
            p.service
        )));
    }
    Ok(p)
}

/// Checks a layer directory argument (`base`, `env/prod`): relative, no `..`, no empty part.
pub fn check_layer(layer: &str) -> Result<(), StoreError> {
    let bad = layer.is_empty()
        || layer
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..");
    if bad {
        return Err(StoreError::Invalid(format!(
            "invalid layer `{layer}`: name a level directory below layers/, e.g. `base` or `env/prod`"
        )));
    }
    Ok(())
}

/// What access control needs of changeset edits: each edit's parameter and layer (see
/// `strata_core::access::decide_edits` and `approvals_covering`).
pub fn edited(edits: &[ParamEdit]) -> Vec<strata_core::access::Edited<'_>> {
    edits
        .iter()
        .map(|e| strata_core::access::Edited {
            param: &e.param,
            layer: &e.layer,
        })
        .collect()
}

impl Changeset {
    /// Reads a `CHANGESET.yaml` document; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Changeset, StoreError> {
        let path: Arc<str> = Arc::from(file);
        let root = parse_document(
            &path,
            FileId(0),
            text.as_bytes(),
            Format::Yaml,
            ParseOptions { templates: false },
        )
        .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let at = |n: &Node, msg: String| {
            StoreError::Invalid(format!("{file}:{}:{}: {msg}", n.loc.line, n.loc.col))
        };
        let Some(top) = root.value.as_map() else {
            return Err(at(
                &root,
                "a changeset must be a mapping with `changes:`".into(),
            ));
        };
        let mut cs = Changeset::default();
        for (k, v) in top.iter() {
            match &**k {
                "base" => {
                    cs.base = Some(
                        scalar_text(v)
                            .ok_or_else(|| at(v, "`base` must be a revision id or tag".into()))?,
                    )
                }
                "message" => {
                    cs.message = Some(
                        v.value
                            .as_str()
                            .ok_or_else(|| at(v, "`message` must be a string".into()))?
                            .to_string(),
                    )
                }
                "changes" => {
                    let Value::List(items) = &v.value else {
                        return Err(at(v, "`changes` must be a list of `- set: SERVICE:PATH` / `- unset: SERVICE:PATH` entries".into()));
                    };
                    for item in items {
                        cs.edits.push(parse_change(item, &at)?);
                    }
                }
                other => {
                    return Err(at(
                        v,
                        format!(
                            "unknown key `{other}` in a changeset; known: base, message, changes"
                        ),
                    ));
                }
            }
        }
        if cs.edits.is_empty() {
            return Err(at(&root, "the changeset has no `changes`".into()));
        }
        Ok(cs)
    }
}

impl Changeset {
    /// Reads a changeset given as JSON (the body of `POST /v1/changes`): the fields of a
    /// `CHANGESET.yaml` file, `{base?, message?, changes: [{set|unset, layer, value}]}`.
    /// Errors name the field or the change at fault (`changes[2].layer`).
    pub fn from_json(doc: &serde_json::Value) -> Result<Changeset, StoreError> {
        use serde_json::Value as J;
        let bad = |msg: String| StoreError::Invalid(msg);
        let Some(top) = doc.as_object() else {
            return Err(bad(
                "a changeset must be a JSON object with `changes` (and optionally `base`, `message`)".into(),
            ));
        };
        let mut cs = Changeset::default();
        for (k, v) in top {
            match k.as_str() {
                "base" => {
                    cs.base = match v {
                        J::Null => None,
                        J::String(s) if !s.is_empty() => Some(s.clone()),
                        J::Number(n) if n.is_u64() => Some(n.to_string()),
                        _ => {
                            return Err(bad(
                                "`base` must be a revision id, tag or `#SEQ` (a string)".into(),
                            ));
                        }
                    }
                }
                "message" => {
                    cs.message = match v {
                        J::Null => None,
                        J::String(s) => Some(s.clone()),
                        _ => return Err(bad("`message` must be a string".into())),
                    }
                }
                "changes" => {
                    let Some(items) = v.as_array() else {
                        return Err(bad("`changes` must be a list of `{set: SERVICE:PATH, layer: LEVEL, value: V}` / `{unset: SERVICE:PATH, layer: LEVEL}` objects".into()));
                    };
                    for (i, item) in items.iter().enumerate() {
                        cs.edits.push(change_from_json(i, item)?);
                    }
                }
                other => {
                    return Err(bad(format!(
                        "unknown field `{other}` in a changeset; known: base, message, changes"
                    )));
                }
            }
        }
        if cs.edits.is_empty() {
            return Err(bad("the changeset has no `changes`".into()));
        }
        Ok(cs)
    }

    /// The changeset in the `CHANGESET.yaml` format, written as JSON (which is YAML):
    /// what a change request stores and [`Changeset::parse`] reads back.
    pub fn to_text(&self) -> String {
        let changes: Vec<serde_json::Value> = self
            .edits
            .iter()
            .map(|e| match &e.value {
                Some(v) => {
                    serde_json::json!({"set": e.param.to_string(), "layer": e.layer, "value": v})
                }
                None => serde_json::json!({"unset": e.param.to_string(), "layer": e.layer}),
            })
            .collect();
        let mut doc = serde_json::Map::new();
        if let Some(b) = &self.base {
            doc.insert("base".into(), b.clone().into());
        }
        if let Some(m) = &self.message {
            doc.insert("message".into(), m.clone().into());
        }
        doc.insert("changes".into(), changes.into());
        serde_json::to_string_pretty(&serde_json::Value::Object(doc)).unwrap_or_default()
    }
}

/// One item of a JSON changeset's `changes`, named `changes[i]` in errors.
fn change_from_json(i: usize, item: &serde_json::Value) -> Result<ParamEdit, StoreError> {
    let at = |field: &str, msg: String| {
        let place = if field.is_empty() {
            format!("changes[{i}]")
        } else {
            format!("changes[{i}].{field}")
        };
        StoreError::Invalid(format!("{place}: {msg}"))
    };
    let Some(m) = item.as_object() else {
        return Err(at("", "a change must be an object: `{set: SERVICE:PATH, layer: LEVEL, value: V}` or `{unset: SERVICE:PATH, layer: LEVEL}`".into()));
    };
    for k in m.keys() {
        if !matches!(k.as_str(), "set" | "unset" | "layer" | "value") {
            return Err(at(
                k,
                format!("unknown field `{k}` in a change; known: set, unset, layer, value"),
            ));
        }
    }
    let (field, node, is_set) = match (m.get("set"), m.get("unset")) {
        (Some(p), None) => ("set", p, true),
        (None, Some(p)) => ("unset", p, false),
        _ => {
            return Err(at(
                "",
                "a change needs exactly one of `set` and `unset`".into(),
            ));
        }
    };
    let text = node
        .as_str()
        .ok_or_else(|| at(field, "write the parameter as SERVICE:PATH".into()))?;
    let param = parse_param(text).map_err(|e| at(field, e.to_string()))?;
    let layer = match m.get("layer") {
        None => {
            return Err(at(
                "layer",
                format!("the change of `{text}` has no `layer` (e.g. `base` or `env/prod`)"),
            ));
        }
        Some(l) => l
            .as_str()
            .ok_or_else(|| {
                at(
                    "layer",
                    "`layer` must be a string such as `env/prod`".into(),
                )
            })?
            .to_string(),
    };
    check_layer(&layer).map_err(|e| at("layer", e.to_string()))?;
    let value = match (is_set, m.get("value")) {
        (true, Some(v)) => Some(v.clone()),
        (true, None) => {
            return Err(at(
                "value",
                format!("the change of `{text}` sets no `value`"),
            ));
        }
        (false, Some(_)) => {
            return Err(at("value", "an `unset` change takes no `value`".into()));
        }
        (false, None) => None,
    };
    Ok(ParamEdit {
        param,
        layer,
        value,
    })
}

fn scalar_text(n: &Node) -> Option<String> {
    match &n.value {
        Value::Str(s) => Some(s.to_string()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

fn parse_change(
    item: &Node,
    at: &dyn Fn(&Node, String) -> StoreError,
) -> Result<ParamEdit, StoreError> {
    let Some(m) = item.value.as_map() else {
        return Err(at(item, "a change must be a mapping: `{set: SERVICE:PATH, layer: LEVEL, value: V}` or `{unset: SERVICE:PATH, layer: LEVEL}`".into()));
    };
    for (k, v) in m.iter() {
        if !matches!(&**k, "set" | "unset" | "layer" | "value") {
            return Err(at(
                v,
                format!("unknown key `{k}` in a change; known: set, unset, layer, value"),
            ));
        }
    }
    let (param_node, is_set) = match (m.get("set"), m.get("unset")) {
        (Some(p), None) => (p, true),
        (None, Some(p)) => (p, false),
        _ => {
            return Err(at(
                item,
                "a change needs exactly one of `set:` and `unset:`".into(),
            ));
        }
    };
    let text = param_node
        .value
        .as_str()
        .ok_or_else(|| at(param_node, "write the parameter as SERVICE:PATH".into()))?;
    let param = parse_param(text).map_err(|e| at(param_node, e.to_string()))?;
    let layer_node = m.get("layer").ok_or_else(|| {
        at(
            item,
            format!(
                "the change of `{text}` has no `layer:` (e.g. `layer: base` or `layer: env/prod`)"
            ),
        )
    })?;
    let layer = layer_node
        .value
        .as_str()
        .ok_or_else(|| {
            at(
                layer_node,
                "`layer` must be a string such as `env/prod`".into(),
            )
        })?
        .to_string();
    check_layer(&layer).map_err(|e| at(layer_node, e.to_string()))?;
    let value = match (is_set, m.get("value")) {
        (true, Some(v)) => Some(v.value.to_json()),
        (true, None) => return Err(at(item, format!("the change of `{text}` sets no `value:`"))),
        (false, Some(v)) => return Err(at(v, "an `unset` change takes no `value`".into())),
        (false, None) => None,
    };
    Ok(ParamEdit {
        param,
        layer,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_changeset() {
        let cs = Changeset::parse(
            "base: abc123\nmessage: raise\nchanges:\n  - set: checkout:db.pool.max\n    layer: env/prod\n    value: 50\n  - unset: checkout:legacy\n    layer: base\n",
            "cs.yaml",
        )
        .unwrap();
        assert_eq!(cs.base.as_deref(), Some("abc123"));
        assert_eq!(cs.edits.len(), 2);
        assert_eq!(cs.edits[0].value, Some(serde_json::json!(50)));
        assert_eq!(cs.edits[0].file_stem(), "layers/env/prod/checkout");
        assert_eq!(cs.edits[1].value, None);
    }

    #[test]
    fn reads_a_json_changeset_and_writes_it_back() {
        let doc = serde_json::json!({
            "base": "abc123",
            "message": "raise",
            "changes": [
                {"set": "checkout:db.pool.max", "layer": "env/prod", "value": {"a": [1, 2]}},
                {"unset": "checkout:legacy", "layer": "base"},
            ],
        });
        let cs = Changeset::from_json(&doc).unwrap();
        assert_eq!(cs.base.as_deref(), Some("abc123"));
        assert_eq!(cs.edits[0].value, Some(serde_json::json!({"a": [1, 2]})));
        assert_eq!(cs.edits[1].value, None);
        let again = Changeset::parse(&cs.to_text(), "request").unwrap();
        assert_eq!(again, cs);
    }

    #[test]
    fn json_errors_name_the_field() {
        let cases = [
            (serde_json::json!([]), "JSON object"),
            (serde_json::json!({"changes": []}), "no `changes`"),
            (
                serde_json::json!({"bogus": 1, "changes": []}),
                "unknown field `bogus`",
            ),
            (serde_json::json!({"base": 3.5, "changes": []}), "`base`"),
            (
                serde_json::json!({"changes": [{"set": "a:b", "layer": "base", "value": 1}, {"set": "a:b"}]}),
                "changes[1].layer",
            ),
            (
                serde_json::json!({"changes": [{"set": "a", "layer": "base", "value": 1}]}),
                "changes[0].set",
            ),
            (
                serde_json::json!({"changes": [{"unset": "a:b", "layer": "../x"}]}),
                "changes[0].layer: invalid layer",
            ),
            (
                serde_json::json!({"changes": [{"unset": "a:b", "layer": "b", "value": 1}]}),
                "changes[0].value",
            ),
            (
                serde_json::json!({"changes": [{"set": "a:b", "unset": "a:c", "layer": "b"}]}),
                "changes[0]: a change needs exactly one",
            ),
            (
                serde_json::json!({"changes": [{"set": "a:b", "layer": "b", "valeu": 1}]}),
                "changes[0].valeu: unknown field",
            ),
        ];
        for (doc, what) in cases {
            let e = Changeset::from_json(&doc).unwrap_err().to_string();
            assert!(e.contains(what), "{doc} gave {e}");
        }
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            (
                "changes:\n  - set: checkout:x\n",
                "cs.yaml:2:5",
                "no `layer:`",
            ),
            (
                "changes:\n  - set: checkout\n    layer: base\n    value: 1\n",
                "cs.yaml:2:10",
                "SERVICE:PATH",
            ),
            (
                "changes:\n  - set: \"checkout:\"\n    layer: base\n    value: 1\n",
                "cs.yaml:2:10",
                "whole service",
            ),
            (
                "changes:\n  - unset: a:b\n    layer: ../x\n",
                "cs.yaml:3:12",
                "invalid layer",
            ),
            (
                "changes:\n  - set: a:b\n    unset: a:c\n    layer: b\n",
                "cs.yaml:2:5",
                "exactly one",
            ),
            ("bogus: 1\n", "cs.yaml:1:8", "unknown key `bogus`"),
            ("message: hi\n", "cs.yaml:1:1", "no `changes`"),
        ];
        for (text, loc, what) in cases {
            let e = Changeset::parse(text, "cs.yaml").unwrap_err().to_string();
            assert!(e.contains(loc) && e.contains(what), "{text:?} gave {e}");
        }
    }
}
