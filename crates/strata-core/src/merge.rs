//! Merging layers: deep merge of maps, list strategies, `$patch` and `$provider`
//! directives, and provenance bookkeeping.
//!
//! Rules (DESIGN §4):
//! - maps deep-merge; a later layer's scalar (or a value of another type) replaces;
//! - lists replace unless a [`ListStrategy`] is declared for the parameter, by glob in
//!   `strata.yaml` `merge:` or by `x-strata-merge` on the schema node (the schema wins);
//! - `key: {$patch: delete}` removes `key`; `$patch: replace` inside a map replaces the
//!   earlier map instead of merging into it; a list item `{$patch: replace}` makes that
//!   list replace despite its strategy; in a `by-key` list, `{KEY: x, $patch: delete}`
//!   removes the item whose key is `x`;
//! - `$provider: {aws: {...}, gcp: {...}}` merges the target provider's block into the
//!   enclosing map after its other keys, and drops the others.
//!
//! A replaced node records the location (and, for scalars, the value) it overrode.

use crate::error::{DiagKind, Diagnostic};
use crate::files::FileTable;
use crate::path::Segment;
use crate::project::{ListStrategy, MergeRule};
use crate::value::{Loc, Map, Node, Prior, Value};

const PATCH: &str = "$patch";
const PROVIDER: &str = "$provider";

/// Merges layer documents of one service for one target.
pub struct Merger<'a> {
    service: &'a str,
    provider: &'a str,
    providers: &'a [String],
    /// Schema rules first (they win), then `strata.yaml` rules; only those for this service.
    rules: Vec<(bool, &'a MergeRule)>,
    files: &'a FileTable,
    keep_values: bool,
    /// Path of the node being merged; maintained only when there are rules to match.
    path: Vec<Segment>,
}

impl<'a> Merger<'a> {
    /// A merger for `service` on a target of `provider`.
    ///
    /// `keep_values` keeps overridden scalar values for `--explain` (locations are always kept).
    pub fn new(
        service: &'a str,
        provider: &'a str,
        providers: &'a [String],
        project_rules: &'a [MergeRule],
        schema_rules: &'a [MergeRule],
        files: &'a FileTable,
        keep_values: bool,
    ) -> Self {
        let rules = schema_rules
            .iter()
            .map(|r| (true, r))
            .chain(project_rules.iter().map(|r| (false, r)))
            .filter(|(_, r)| r.glob.matches_service(service))
            .collect();
        Merger {
            service,
            provider,
            providers,
            rules,
            files,
            keep_values,
            path: Vec::new(),
        }
    }

    fn tracking(&self) -> bool {
        !self.rules.is_empty()
    }

    fn diag(&self, loc: Loc, message: impl Into<String>, hint: &str) -> Diagnostic {
        Diagnostic::new(
            DiagKind::Directive,
            self.files.path(loc.file),
            loc.line,
            loc.col,
            message,
        )
        .with_hint(hint)
    }

    /// Merges `layer` (a whole layer document) into `acc` (the result so far).
    pub fn merge_layer(&mut self, acc: &mut Node, layer: Node) -> Result<(), Diagnostic> {
        self.path.clear();
        self.merge_node(acc, layer)
    }

    /// Applies directives to a document that is merged into nothing (the first layer).
    pub fn normalize_layer(&mut self, layer: &mut Node) -> Result<(), Diagnostic> {
        self.path.clear();
        self.normalize(layer)
    }

    fn strategy(&self) -> ListStrategy {
        let mut best: Option<(bool, usize, &MergeRule)> = None;
        for &(from_schema, rule) in &self.rules {
            if rule.glob.matches_segments(&self.path) {
                let spec = rule.glob.specificity();
                let better = match best {
                    None => true,
                    Some((bs, bspec, _)) => (from_schema, spec) >= (bs, bspec),
                };
                if better {
                    best = Some((from_schema, spec, rule));
                }
            }
        }
        best.map_or(ListStrategy::Replace, |(_, _, r)| r.strategy.clone())
    }

    fn merge_node(&mut self, dst: &mut Node, src: Node) -> Result<(), Diagnostic> {
        match (&mut dst.value, src.value) {
            (Value::Map(dm), Value::Map(sm)) => {
                if self.patch_directive(&sm)? == Some(Patch::Replace) {
                    let mut new = Node::new(Value::Map(sm), src.loc);
                    self.normalize(&mut new)?;
                    self.replace(dst, new);
                    Ok(())
                } else {
                    self.merge_map(dm, *sm)
                }
            }
            (Value::List(_), Value::List(sitems)) => {
                let mut strategy = self.strategy();
                let mut sitems = sitems;
                if strategy != ListStrategy::Replace {
                    let before = sitems.len();
                    sitems.retain(|n| !is_marker(n, "replace"));
                    if sitems.len() != before {
                        strategy = ListStrategy::Replace;
                    }
                }
                if strategy == ListStrategy::Replace {
                    let mut new = Node::new(Value::List(sitems), src.loc);
                    self.normalize(&mut new)?;
                    self.replace(dst, new);
                    return Ok(());
                }
                let Value::List(ditems) = &mut dst.value else {
                    unreachable!("matched a list above")
                };
                self.combine_lists(ditems, sitems, &strategy)
            }
            (_, value) => {
                let mut new = Node::new(value, src.loc);
                self.normalize(&mut new)?;
                self.replace(dst, new);
                Ok(())
            }
        }
    }

    /// Puts `new` in place of `dst`, recording what it overrode.
    fn replace(&self, dst: &mut Node, mut new: Node) {
        let mut priors = dst.priors.take().map_or_else(Vec::new, |b| *b);
        let old = std::mem::replace(&mut dst.value, Value::Null);
        priors.push(Prior {
            loc: dst.loc,
            value: (self.keep_values && old.is_scalar()).then_some(old),
        });
        new.priors = Some(Box::new(priors));
        *dst = new;
    }

    fn merge_map(&mut self, dst: &mut Map, mut src: Map) -> Result<(), Diagnostic> {
        let mut provider_block = None;
        if src.keys().any(|k| k.starts_with('$')) {
            // `$patch: replace` was handled by the caller; `merge` is the default.
            src.shift_remove(PATCH);
            provider_block = src.shift_remove(PROVIDER);
        }
        let tracking = self.tracking();
        for (k, v) in src {
            if self.is_delete(&v)? {
                dst.shift_remove(&k);
                continue;
            }
            if tracking {
                self.path.push(Segment::Key(k.clone()));
            }
            match dst.get_mut(&k) {
                Some(d) => self.merge_node(d, v)?,
                None => {
                    let mut v = v;
                    self.normalize(&mut v)?;
                    dst.insert(k, v);
                }
            }
            if tracking {
                self.path.pop();
            }
        }
        if let Some(block) = provider_block
            && let Some(section) = self.provider_section(block)?
        {
            self.merge_map(dst, section)?;
        }
        Ok(())
    }

    fn combine_lists(
        &mut self,
        dst: &mut Vec<Node>,
        src: Vec<Node>,
        strategy: &ListStrategy,
    ) -> Result<(), Diagnostic> {
        match strategy {
            ListStrategy::Replace => unreachable!("handled by the caller"),
            ListStrategy::Append => {
                for mut item in src {
                    self.normalize_item(&mut item, dst.len())?;
                    dst.push(item);
                }
            }
            ListStrategy::Prepend => {
                let mut new = Vec::with_capacity(src.len() + dst.len());
                for (i, mut item) in src.into_iter().enumerate() {
                    self.normalize_item(&mut item, i)?;
                    new.push(item);
                }
                new.append(dst);
                *dst = new;
            }
            ListStrategy::Unique => {
                for mut item in src {
                    self.normalize_item(&mut item, dst.len())?;
                    if !dst.iter().any(|d| d.value == item.value) {
                        dst.push(item);
                    }
                }
            }
            ListStrategy::ByKey(key) => {
                for item in src {
                    let key_value = item
                        .value
                        .as_map()
                        .and_then(|m| m.get(&**key))
                        .map(|n| n.value.clone())
                        .filter(Value::is_scalar);
                    let Some(kv) = key_value else {
                        let mut item = item;
                        self.normalize_item(&mut item, dst.len())?;
                        dst.push(item);
                        continue;
                    };
                    let found = dst.iter().position(|d| {
                        d.value
                            .as_map()
                            .and_then(|m| m.get(&**key))
                            .is_some_and(|n| n.value == kv)
                    });
                    let deletes = matches!(
                        item.value.as_map().and_then(|m| m.get(PATCH)).map(|n| &n.value),
                        Some(Value::Str(s)) if &**s == "delete"
                    );
                    if deletes {
                        if let Some(i) = found {
                            dst.remove(i);
                        }
                        continue;
                    }
                    match found {
                        Some(i) => {
                            if self.tracking() {
                                self.path.push(Segment::Index(i));
                            }
                            self.merge_node(&mut dst[i], item)?;
                            if self.tracking() {
                                self.path.pop();
                            }
                        }
                        None => {
                            let mut item = item;
                            self.normalize_item(&mut item, dst.len())?;
                            dst.push(item);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn normalize_item(&mut self, item: &mut Node, index: usize) -> Result<(), Diagnostic> {
        let tracking = self.tracking();
        if tracking {
            self.path.push(Segment::Index(index));
        }
        let r = self.normalize(item);
        if tracking {
            self.path.pop();
        }
        r
    }

    /// Applies directives inside a subtree that is not merged onto anything.
    fn normalize(&mut self, node: &mut Node) -> Result<(), Diagnostic> {
        match &mut node.value {
            Value::Map(m) => {
                let mut provider_block = None;
                if m.keys().any(|k| k.starts_with('$')) {
                    self.patch_directive(m)?;
                    m.shift_remove(PATCH);
                    provider_block = m.shift_remove(PROVIDER);
                }
                let mut deletes = false;
                for v in m.values() {
                    deletes |= self.is_delete(v)?;
                }
                if deletes {
                    m.retain(|_, v| !is_marker(v, "delete"));
                }
                let tracking = self.tracking();
                for (k, v) in m.iter_mut() {
                    if tracking {
                        self.path.push(Segment::Key(k.clone()));
                    }
                    self.normalize(v)?;
                    if tracking {
                        self.path.pop();
                    }
                }
                if let Some(block) = provider_block
                    && let Some(section) = self.provider_section(block)?
                {
                    self.merge_map(m, section)?;
                }
            }
            Value::List(items) => {
                items.retain(|n| !is_marker(n, "replace"));
                // Items marked for deletion have nothing to delete in a new list.
                items.retain(|n| {
                    !matches!(
                        n.value.as_map().and_then(|m| m.get(PATCH)).map(|p| &p.value),
                        Some(Value::Str(s)) if &**s == "delete"
                    )
                });
                for (i, item) in items.iter_mut().enumerate() {
                    self.normalize_item(item, i)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Reads a map's `$patch`, if any, checking its value.
    fn patch_directive(&self, m: &Map) -> Result<Option<Patch>, Diagnostic> {
        let Some(p) = m.get(PATCH) else {
            return Ok(None);
        };
        match p.value.as_str() {
            Some("replace") => Ok(Some(Patch::Replace)),
            Some("merge") => Ok(Some(Patch::Merge)),
            Some("delete") if m.len() > 1 => Err(self.diag(
                p.loc,
                "`$patch: delete` must stand alone in its map",
                "write `key: {$patch: delete}` to remove `key`; to remove a by-key list item write `{name: x, $patch: delete}`",
            )),
            Some("delete") => Ok(Some(Patch::Delete)),
            _ => Err(self.diag(
                p.loc,
                format!("unknown `$patch` value {}", p.value),
                "use `$patch: delete` (as `key: {$patch: delete}`) or `$patch: replace`",
            )),
        }
    }

    /// Whether `v` is `{$patch: delete}` (checking malformed uses).
    fn is_delete(&self, v: &Node) -> Result<bool, Diagnostic> {
        match &v.value {
            Value::Map(m) if m.contains_key(PATCH) => {
                Ok(self.patch_directive(m)? == Some(Patch::Delete))
            }
            _ => Ok(false),
        }
    }

    /// The block for this target's provider from a `$provider:` value.
    fn provider_section(&self, block: Node) -> Result<Option<Map>, Diagnostic> {
        let Value::Map(m) = block.value else {
            return Err(self.diag(
                block.loc,
                format!(
                    "`$provider` must be a map of provider names, found {}",
                    block.value.a_type_name()
                ),
                "write `$provider: {aws: {...}, gcp: {...}}`",
            ));
        };
        let mut chosen = None;
        for (name, section) in *m {
            if !self.providers.iter().any(|p| **p == *name) {
                return Err(self.diag(
                    section.loc,
                    format!(
                        "unknown provider `{name}` in `$provider` block of service `{}`",
                        self.service
                    ),
                    &format!("declared providers: {}", self.providers.join(", ")),
                ));
            }
            if *name == *self.provider {
                match section.value {
                    Value::Map(sm) => chosen = Some(*sm),
                    Value::Null => chosen = Some(crate::value::new_map()),
                    other => {
                        return Err(self.diag(
                            section.loc,
                            format!(
                                "the `{name}` block of `$provider` must be a map, found {}",
                                other.a_type_name()
                            ),
                            "write `$provider: {aws: {key: value}}`",
                        ));
                    }
                }
            }
        }
        Ok(chosen)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Patch {
    Replace,
    Merge,
    Delete,
}

/// Whether `n` is exactly `{$patch: <what>}`.
fn is_marker(n: &Node, what: &str) -> bool {
    match &n.value {
        Value::Map(m) if m.len() == 1 => {
            matches!(m.get(PATCH).map(|p| &p.value), Some(Value::Str(s)) if &**s == what)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::{ParamGlob, parse_segments};

    struct Fixture {
        files: FileTable,
        providers: Vec<String>,
        rules: Vec<MergeRule>,
    }

    impl Fixture {
        fn new(rules: &[(&str, ListStrategy)]) -> Self {
            Fixture {
                files: FileTable::new(),
                providers: vec!["aws".into(), "gcp".into()],
                rules: rules
                    .iter()
                    .map(|(g, s)| MergeRule {
                        glob: ParamGlob::parse(g).unwrap(),
                        strategy: s.clone(),
                        loc: Loc::default(),
                    })
                    .collect(),
            }
        }

        fn doc(&self, name: &str, text: &str) -> Node {
            crate::test_support::doc(&self.files, name, text)
        }

        fn merge(&self, provider: &str, layers: &[&str]) -> Result<Node, Diagnostic> {
            let mut m = Merger::new(
                "svc",
                provider,
                &self.providers,
                &self.rules,
                &[],
                &self.files,
                true,
            );
            let mut acc = self.doc("l0.yaml", layers[0]);
            m.normalize_layer(&mut acc)?;
            for (i, l) in layers[1..].iter().enumerate() {
                let doc = self.doc(&format!("l{}.yaml", i + 1), l);
                m.merge_layer(&mut acc, doc)?;
            }
            Ok(acc)
        }

        fn json(&self, layers: &[&str]) -> serde_json::Value {
            self.merge("aws", layers).unwrap().value.to_json()
        }
    }

    fn j(s: &str) -> serde_json::Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn maps_deep_merge_and_scalars_replace() {
        let f = Fixture::new(&[]);
        assert_eq!(
            f.json(&[
                "db: {host: a, pool: {min: 1, max: 5}}",
                "db: {pool: {max: 50}, port: 1}"
            ]),
            j(r#"{"db": {"host": "a", "pool": {"min": 1, "max": 50}, "port": 1}}"#)
        );
    }

    #[test]
    fn type_changes_replace() {
        let f = Fixture::new(&[]);
        assert_eq!(f.json(&["a: {b: 1}", "a: 3"]), j(r#"{"a": 3}"#));
        assert_eq!(f.json(&["a: 3", "a: {b: 1}"]), j(r#"{"a": {"b": 1}}"#));
        assert_eq!(f.json(&["a: 3", "a: null"]), j(r#"{"a": null}"#));
    }

    #[test]
    fn lists_replace_by_default() {
        let f = Fixture::new(&[]);
        assert_eq!(f.json(&["l: [1, 2]", "l: [3]"]), j(r#"{"l": [3]}"#));
    }

    #[test]
    fn append_prepend_unique() {
        let f = Fixture::new(&[
            ("svc:a", ListStrategy::Append),
            ("svc:p", ListStrategy::Prepend),
            ("svc:u", ListStrategy::Unique),
        ]);
        assert_eq!(
            f.json(&[
                "{a: [1, 2], p: [1, 2], u: [1, 2]}",
                "{a: [3], p: [3], u: [2, 3, 3]}"
            ]),
            j(r#"{"a": [1, 2, 3], "p": [3, 1, 2], "u": [1, 2, 3]}"#)
        );
    }

    #[test]
    fn replace_marker_overrides_a_strategy() {
        let f = Fixture::new(&[("svc:a", ListStrategy::Append)]);
        assert_eq!(
            f.json(&["a: [1, 2]", "a: [{$patch: replace}, 9]"]),
            j(r#"{"a": [9]}"#)
        );
        assert_eq!(f.json(&["a: [{$patch: replace}, 9]"]), j(r#"{"a": [9]}"#));
    }

    #[test]
    fn by_key_merges_in_place_at_any_depth() {
        let f = Fixture::new(&[
            ("*:sidecars", ListStrategy::ByKey("name".into())),
            ("*:sidecars[*].env", ListStrategy::ByKey("name".into())),
        ]);
        let base = "sidecars:\n  - {name: envoy, image: e:1, env: [{name: A, value: 1}, {name: B, value: 2}]}\n  - {name: log, image: l:1}\n";
        let over = "sidecars:\n  - {name: extra, image: x:1}\n  - {name: envoy, image: e:2, env: [{name: B, value: 3}, {name: C, value: 4}]}\n  - {name: log, $patch: delete}\n";
        assert_eq!(
            f.json(&[base, over]),
            j(r#"{"sidecars": [
                {"name": "envoy", "image": "e:2", "env": [{"name": "A", "value": 1}, {"name": "B", "value": 3}, {"name": "C", "value": 4}]},
                {"name": "extra", "image": "x:1"}
            ]}"#)
        );
    }

    #[test]
    fn patch_delete_and_replace() {
        let f = Fixture::new(&[]);
        assert_eq!(
            f.json(&[
                "{a: 1, b: {c: 1, d: 2}, e: {x: 1}}",
                "{a: {$patch: delete}, b: {$patch: replace, c: 5}, e: {y: 2}}"
            ]),
            j(r#"{"b": {"c": 5}, "e": {"x": 1, "y": 2}}"#)
        );
        // Deleting something absent is fine; markers in a first layer vanish.
        assert_eq!(
            f.json(&["{a: {$patch: delete}, b: {$patch: replace, c: 1}}"]),
            j(r#"{"b": {"c": 1}}"#)
        );
        assert_eq!(
            f.json(&["{a: 1}", "{zz: {$patch: delete}}"]),
            j(r#"{"a": 1}"#)
        );
    }

    #[test]
    fn bad_patches_are_located() {
        let f = Fixture::new(&[]);
        let e = f
            .merge("aws", &["{a: 1}", "a: {$patch: remove}"])
            .unwrap_err();
        assert_eq!(e.kind, DiagKind::Directive);
        assert_eq!(&*e.path, "l1.yaml");
        assert!(
            e.message.contains("unknown `$patch` value \"remove\""),
            "{e}"
        );
        let e = f
            .merge("aws", &["{a: {b: 1}}", "a: {$patch: delete, b: 2}"])
            .unwrap_err();
        assert!(e.message.contains("must stand alone"), "{e}");
    }

    #[test]
    fn provider_sections_apply_to_their_provider_only() {
        let f = Fixture::new(&[]);
        let layer = "db:\n  port: 5432\n  engine: generic\n  $provider:\n    aws: {engine: aurora, iops: 3000}\n    gcp: {engine: cloudsql}\n";
        let aws = f.merge("aws", &[layer]).unwrap().value.to_json();
        assert_eq!(
            aws,
            j(r#"{"db": {"port": 5432, "engine": "aurora", "iops": 3000}}"#)
        );
        let gcp = f.merge("gcp", &[layer]).unwrap().value.to_json();
        assert_eq!(gcp, j(r#"{"db": {"port": 5432, "engine": "cloudsql"}}"#));
        // In a later layer too, and at the root.
        let root = f
            .merge("gcp", &["a: 1", "$provider: {gcp: {a: 2}}"])
            .unwrap()
            .value
            .to_json();
        assert_eq!(root, j(r#"{"a": 2}"#));
    }

    #[test]
    fn unknown_provider_in_block_is_an_error() {
        let f = Fixture::new(&[]);
        let e = f
            .merge("aws", &["a:\n  $provider:\n    awz: {b: 1}\n"])
            .unwrap_err();
        assert_eq!((e.line, e.col), (3, 5));
        assert!(e.message.contains("unknown provider `awz`"), "{e}");
        let e = f.merge("aws", &["a: {$provider: [1]}"]).unwrap_err();
        assert!(e.message.contains("must be a map"), "{e}");
        let e = f.merge("aws", &["a: {$provider: {aws: 3}}"]).unwrap_err();
        assert!(e.message.contains("must be a map"), "{e}");
    }

    #[test]
    fn provenance_records_what_was_overridden() {
        let f = Fixture::new(&[]);
        let n = f
            .merge(
                "aws",
                &[
                    "db:\n  port: 1\n",
                    "db:\n  port: 2\n",
                    "x: 1\ndb:\n  port: 3\n",
                ],
            )
            .unwrap();
        let port = n.get(&parse_segments("db.port").unwrap()).unwrap();
        assert_eq!(port.value, Value::Int(3));
        assert_eq!(&*f.files.path(port.loc.file), "l2.yaml");
        assert_eq!(port.loc.line, 3);
        let priors = port.priors();
        assert_eq!(priors.len(), 2);
        assert_eq!(&*f.files.path(priors[0].loc.file), "l0.yaml");
        assert_eq!(priors[0].value, Some(Value::Int(1)));
        assert_eq!(priors[1].value, Some(Value::Int(2)));
    }

    #[test]
    fn schema_rules_win_over_project_rules() {
        let f = Fixture::new(&[("svc:a", ListStrategy::Append)]);
        let schema = vec![MergeRule {
            glob: ParamGlob::parse("svc:a").unwrap(),
            strategy: ListStrategy::Prepend,
            loc: Loc::default(),
        }];
        let mut m = Merger::new(
            "svc",
            "aws",
            &f.providers,
            &f.rules,
            &schema,
            &f.files,
            false,
        );
        let mut acc = f.doc("a", "a: [1]");
        m.normalize_layer(&mut acc).unwrap();
        m.merge_layer(&mut acc, f.doc("b", "a: [2]")).unwrap();
        assert_eq!(acc.value.to_json(), j(r#"{"a": [2, 1]}"#));
    }

    #[test]
    fn rules_for_other_services_do_not_apply() {
        let f = Fixture::new(&[("other:a", ListStrategy::Append)]);
        assert_eq!(f.json(&["a: [1]", "a: [2]"]), j(r#"{"a": [2]}"#));
    }

    mod list_properties {
        use super::*;
        use proptest::prelude::*;

        fn layers_json(layers: &[Vec<serde_json::Value>]) -> Vec<String> {
            layers
                .iter()
                .map(|l| serde_json::json!({ "l": l }).to_string())
                .collect()
        }

        fn run(
            strategy: ListStrategy,
            layers: &[Vec<serde_json::Value>],
        ) -> Vec<serde_json::Value> {
            let f = Fixture::new(&[("svc:l", strategy)]);
            let texts = layers_json(layers);
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let out = f.json(&refs);
            out["l"].as_array().cloned().unwrap_or_default()
        }

        fn scalar_layers() -> impl Strategy<Value = Vec<Vec<serde_json::Value>>> {
            let item = (0i64..6).prop_map(serde_json::Value::from);
            prop::collection::vec(prop::collection::vec(item, 0..6), 1..5)
        }

        proptest! {
            #[test]
            fn append_concatenates(layers in scalar_layers()) {
                let want: Vec<_> = layers.iter().flatten().cloned().collect();
                prop_assert_eq!(run(ListStrategy::Append, &layers), want);
            }

            #[test]
            fn prepend_concatenates_latest_first(layers in scalar_layers()) {
                let want: Vec<_> = layers.iter().rev().flatten().cloned().collect();
                prop_assert_eq!(run(ListStrategy::Prepend, &layers), want);
            }

            #[test]
            fn unique_keeps_first_occurrences(layers in scalar_layers()) {
                // The first layer's list is taken as written; later items are added once.
                let mut want: Vec<serde_json::Value> = layers[0].clone();
                for item in layers[1..].iter().flatten() {
                    if !want.contains(item) {
                        want.push(item.clone());
                    }
                }
                prop_assert_eq!(run(ListStrategy::Unique, &layers), want);
            }

            #[test]
            fn by_key_merges_items_sharing_a_key(
                layers in prop::collection::vec(
                    prop::collection::btree_map(0u8..5, (0i64..9, 0i64..9), 0..5), 1..5)
            ) {
                // Each layer lists items {name, a, b?}; items of one name merge, last wins.
                let as_json: Vec<Vec<serde_json::Value>> = layers
                    .iter()
                    .map(|l| l.iter().map(|(k, (a, b))| {
                        let mut o = serde_json::json!({"name": format!("n{k}"), "a": a});
                        if b % 2 == 0 { o["b"] = (*b).into(); }
                        o
                    }).collect())
                    .collect();
                let mut want: Vec<serde_json::Value> = Vec::new();
                for layer in &as_json {
                    for item in layer {
                        match want.iter_mut().find(|w| w["name"] == item["name"]) {
                            Some(w) => for (k, v) in item.as_object().unwrap() { w[k] = v.clone(); },
                            None => want.push(item.clone()),
                        }
                    }
                }
                prop_assert_eq!(run(ListStrategy::ByKey("name".into()), &as_json), want);
            }
        }
    }
}
