//! Property tests of resolution: layers are generated at random, resolved through the
//! public API from an in-memory project, and checked against a naive reference.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use serde_json::{Value as J, json};
use strata_core::files::MemorySource;
use strata_core::path::segments_to_string;
use strata_core::resolve::{Project, ResolveOptions};

const LEVELS: [&str; 5] = [
    "base",
    "provider/aws",
    "env/prod",
    "env/prod/aws",
    "target/prod/aws/r1",
];

const CONFIG: &str = "version: 1
environments: [prod]
providers: [aws]
targets: [prod/aws/r1]
hierarchy:
  - base
  - provider/{provider}
  - env/{env}
  - env/{env}/{provider}
  - target/{env}/{provider}/{region}
services: {svc: {}}
";

/// A leaf's fixed type, so that layers never disagree on a path's shape.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Int,
    Str,
    Bool,
    List,
}

/// Random leaf paths (a "schema") shared by all layers.
fn schema() -> impl Strategy<Value = Vec<(Vec<String>, Kind)>> {
    let key = prop::sample::select(vec!["a", "b", "c", "db", "pool", "max", "host", "x"]);
    let path = prop::collection::vec(key, 1..4)
        .prop_map(|v| v.into_iter().map(str::to_string).collect::<Vec<_>>());
    let kind = prop_oneof![
        Just(Kind::Int),
        Just(Kind::Str),
        Just(Kind::Bool),
        Just(Kind::List)
    ];
    prop::collection::vec((path, kind), 1..12).prop_map(|mut leaves| {
        // Keep only paths where no leaf is a prefix of another (a leaf is never also a map).
        leaves.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(Vec<String>, Kind)> = Vec::new();
        for (p, k) in leaves {
            let clashes = out
                .iter()
                .any(|(q, _)| p.starts_with(q) || q.starts_with(&p));
            if !clashes {
                out.push((p, k));
            }
        }
        out
    })
}

fn value_for(kind: Kind, seed: u32) -> J {
    match kind {
        Kind::Int => json!(seed as i64 - 50),
        Kind::Str => json!(format!("s{seed}")),
        Kind::Bool => json!(seed.is_multiple_of(2)),
        Kind::List => json!([seed, format!("i{seed}")]),
    }
}

/// For each of 5 levels: which leaves it sets (by index) and with what seed.
type Layers = Vec<Option<Vec<(usize, u32)>>>;

fn layers(n_leaves: usize) -> impl Strategy<Value = Layers> {
    let set = prop::collection::vec((0..n_leaves, 0u32..100), 0..n_leaves + 1);
    prop::collection::vec(prop::option::weighted(0.8, set), 5)
}

fn insert(doc: &mut J, path: &[String], v: J) {
    let mut cur = doc;
    for (i, k) in path.iter().enumerate() {
        let obj = cur
            .as_object_mut()
            .expect("schema keeps leaves and maps apart");
        if i + 1 == path.len() {
            obj.insert(k.clone(), v);
            return;
        }
        cur = obj.entry(k.clone()).or_insert_with(|| json!({}));
    }
}

/// Half the levels are JSON, half YAML, so both readers are exercised.
fn ext_for(level: &str) -> &'static str {
    if level.len().is_multiple_of(2) {
        "json"
    } else {
        "yaml"
    }
}

/// Writes the layers as files (JSON text is valid YAML, so one text serves both).
fn build(schema: &[(Vec<String>, Kind)], layers: &Layers) -> MemorySource {
    let mut src = MemorySource::new().with("strata.yaml", CONFIG);
    for (level, layer) in LEVELS.iter().zip(layers) {
        let Some(sets) = layer else { continue };
        let mut doc = json!({});
        for &(leaf, seed) in sets {
            let (path, kind) = &schema[leaf];
            insert(&mut doc, path, value_for(*kind, seed));
        }
        src.insert(
            format!("layers/{level}/svc.{}", ext_for(level)),
            doc.to_string(),
        );
    }
    src
}

fn resolve(src: MemorySource) -> (J, BTreeMap<String, String>) {
    let project = Project::load(Arc::new(src)).unwrap();
    let eff = project
        .resolve("svc", "prod/aws/r1", ResolveOptions::default())
        .unwrap();
    let mut locs = BTreeMap::new();
    eff.root.for_each_leaf(&mut Vec::new(), &mut |p, n| {
        if !p.is_empty() {
            locs.insert(segments_to_string(p), project.describe_loc(n.loc));
        }
    });
    (eff.root.value.to_json(), locs)
}

/// The naive reference: each leaf takes the value of the highest layer that sets it.
fn reference(schema: &[(Vec<String>, Kind)], layers: &Layers) -> (J, BTreeMap<String, String>) {
    let mut winner: BTreeMap<usize, (u32, usize)> = BTreeMap::new();
    for (level, layer) in layers.iter().enumerate() {
        for &(leaf, seed) in layer.iter().flatten() {
            winner.insert(leaf, (seed, level));
        }
    }
    let mut doc = json!({});
    let mut files = BTreeMap::new();
    for (leaf, (seed, level)) in winner {
        let (path, kind) = &schema[leaf];
        insert(&mut doc, path, value_for(*kind, seed));
        files.insert(
            path.join("."),
            format!("layers/{}/svc.{}", LEVELS[level], ext_for(LEVELS[level])),
        );
    }
    (doc, files)
}

fn same_maps_any_order(a: &J, b: &J) -> bool {
    // serde_json's preserve_order compares objects as maps, ignoring order.
    a == b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_leaf_comes_from_the_highest_layer_that_sets_it(
        (schema, layers) in schema().prop_flat_map(|s| { let n = s.len(); (Just(s), layers(n)) })
    ) {
        let (got, locs) = resolve(build(&schema, &layers));
        let (want, files) = reference(&schema, &layers);
        prop_assert!(same_maps_any_order(&got, &want), "got {got}\nwant {want}");
        for (path, file) in files {
            // Provenance: the file of the winning layer (list items live under the list path).
            let hit = locs.iter().find(|(p, _)| **p == path || p.starts_with(&format!("{path}[")));
            let (_, loc) = hit.expect("every set leaf is in the result");
            prop_assert!(loc.starts_with(&format!("{file}:")), "{path}: {loc} vs {file}");
        }
    }

    #[test]
    fn merging_an_empty_layer_changes_nothing(
        (schema, layers, pick, blank) in schema().prop_flat_map(|s| { let n = s.len(); (Just(s), layers(n), 0..5usize, any::<bool>()) })
    ) {
        let free: Vec<usize> = (0..5).filter(|i| layers[*i].is_none()).collect();
        prop_assume!(!free.is_empty());
        let at = free[pick % free.len()];
        let before = resolve(build(&schema, &layers));
        let mut src = build(&schema, &layers);
        // An empty document: `{}` or a file with nothing but a comment.
        let (name, text) = if blank { ("yaml", "# nothing here\n") } else { ("json", "{}") };
        src.insert(format!("layers/{}/svc.{name}", LEVELS[at]), text);
        prop_assert_eq!(before, resolve(src));
    }

    #[test]
    fn resolve_is_deterministic(
        (schema, layers) in schema().prop_flat_map(|s| { let n = s.len(); (Just(s), layers(n)) })
    ) {
        let a = resolve(build(&schema, &layers));
        let b = resolve(build(&schema, &layers));
        prop_assert_eq!(&a.0.to_string(), &b.0.to_string(), "same order too");
        prop_assert_eq!(a.1, b.1);
    }

    #[test]
    fn patch_delete_removes_exactly_the_named_key(
        (schema, layers, victim) in schema().prop_flat_map(|s| { let n = s.len(); (Just(s), layers(n), 0..n) })
    ) {
        let (before, _) = resolve(build(&schema, &layers));
        let path = &schema[victim].0;
        // Delete at a random depth along the victim's path: the key and its subtree go.
        let depth = path.len();
        let below_top: Layers = layers[..4].iter().cloned().chain([None]).collect();
        let mut src = build(&schema, &below_top);
        // Re-add the original top layer merged with the delete directive.
        let mut top_doc = json!({});
        if let Some(sets) = &layers[4] {
            for &(leaf, seed) in sets {
                let (p, k) = &schema[leaf];
                insert(&mut top_doc, p, value_for(*k, seed));
            }
        }
        insert(&mut top_doc, &path[..depth], json!({"$patch": "delete"}));
        src.insert("layers/target/prod/aws/r1/svc.json", top_doc.to_string());
        let (after, _) = resolve(src);

        let mut expected = before.clone();
        remove(&mut expected, &path[..depth]);
        prune_empty_parents(&mut expected, &path[..depth]);
        let mut got = after.clone();
        prune_empty_parents(&mut got, &path[..depth]);
        prop_assert_eq!(got, expected);
    }
}

fn remove(doc: &mut J, path: &[String]) {
    let mut cur = doc;
    for (i, k) in path.iter().enumerate() {
        let Some(obj) = cur.as_object_mut() else {
            return;
        };
        if i + 1 == path.len() {
            obj.shift_remove(k);
            return;
        }
        match obj.get_mut(k) {
            Some(next) => cur = next,
            None => return,
        }
    }
}

/// Deleting a key can leave its parent maps empty; both sides normalise that away.
fn prune_empty_parents(doc: &mut J, path: &[String]) {
    for depth in (1..path.len()).rev() {
        let parent = &path[..depth];
        let mut cur = &*doc;
        let mut ok = true;
        for k in parent {
            match cur.get(k) {
                Some(n) => cur = n,
                None => {
                    ok = false;
                    break;
                }
            }
        }
        if ok && cur.as_object().is_some_and(|o| o.is_empty()) {
            remove(doc, parent);
        }
    }
}
