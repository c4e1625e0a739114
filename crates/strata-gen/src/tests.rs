//! Whole-project tests: generated output is parsed back (JSON with serde_json,
//! YAML with saphyr-parser) and checked against the documented guarantees.

use std::collections::{BTreeMap, BTreeSet};

use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_json::Value;

use super::*;

fn opts(services: usize, params: usize, format: Format) -> GenOptions {
    GenOptions {
        services,
        params,
        format,
        ..GenOptions::default()
    }
}

fn text(f: &GenFile) -> &str {
    std::str::from_utf8(&f.contents).expect("generated files are UTF-8")
}

/// Layer files parsed as JSON, keyed by path.
fn parse_json_layers(files: &[GenFile]) -> BTreeMap<String, Value> {
    files
        .iter()
        .filter(|f| f.path.starts_with("layers/"))
        .map(|f| {
            let v: Value = serde_json::from_slice(&f.contents)
                .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}\n{}", f.path, text(f)));
            (f.path.clone(), v)
        })
        .collect()
}

/// Minimal YAML → JSON value conversion on top of the saphyr event stream
/// (enough for what the generator writes: maps, sequences, core-schema scalars).
fn yaml_to_value(src: &str) -> Value {
    let events: Vec<Event> = Parser::new_from_str(src)
        .map(|r| r.unwrap_or_else(|e| panic!("invalid YAML: {e}\n{src}")).0)
        .collect();
    let mut it = events.into_iter().peekable();
    assert!(matches!(it.next(), Some(Event::StreamStart)));
    assert!(matches!(it.next(), Some(Event::DocumentStart(_))));
    let v = yaml_node(&mut it);
    assert!(matches!(it.next(), Some(Event::DocumentEnd)));
    assert!(matches!(it.next(), Some(Event::StreamEnd)));
    v
}

fn yaml_node<'a, I: Iterator<Item = Event<'a>>>(it: &mut std::iter::Peekable<I>) -> Value {
    match it.next().expect("truncated YAML") {
        Event::Scalar(s, style, _, tag) => {
            assert!(tag.is_none(), "no tags expected");
            if style != ScalarStyle::Plain {
                return Value::String(s.into_owned());
            }
            match s.as_ref() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" | "~" | "" => Value::Null,
                t => {
                    if let Ok(i) = t.parse::<i64>() {
                        Value::from(i)
                    } else if let Ok(f) = t.parse::<f64>() {
                        Value::from(f)
                    } else {
                        Value::String(t.to_owned())
                    }
                }
            }
        }
        Event::SequenceStart(..) => {
            let mut items = Vec::new();
            while !matches!(it.peek(), Some(Event::SequenceEnd)) {
                items.push(yaml_node(it));
            }
            it.next();
            Value::Array(items)
        }
        Event::MappingStart(..) => {
            let mut map = serde_json::Map::new();
            loop {
                let key = match it.next().expect("truncated YAML") {
                    Event::MappingEnd => break,
                    Event::Scalar(s, ..) => s.into_owned(),
                    other => panic!("unexpected key event {other:?}"),
                };
                let value = yaml_node(it);
                assert!(
                    map.insert(key.clone(), value).is_none(),
                    "duplicate key {key}"
                );
            }
            Value::Object(map)
        }
        other => panic!("unexpected event {other:?}"),
    }
}

fn count_leaves(v: &Value) -> usize {
    match v {
        Value::Object(m) => m.values().map(count_leaves).sum(),
        Value::Array(a) => a.iter().map(count_leaves).sum(),
        _ => 1,
    }
}

/// (path, value, number of map keys on the path) of every scalar.
fn leaves<'a>(v: &'a Value, path: &str, keys: usize, out: &mut Vec<(String, &'a Value, usize)>) {
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                leaves(c, &p, keys + 1, out);
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                leaves(c, &format!("{path}[{i}]"), keys, out);
            }
        }
        _ => out.push((path.to_owned(), v, keys)),
    }
}

/// Override "units": map-keyed scalars or arrays, as (path, value).
fn units<'a>(v: &'a Value, path: &str, out: &mut Vec<(String, &'a Value)>) {
    if let Value::Object(m) = v {
        for (k, c) in m {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            if c.is_object() {
                units(c, &p, out);
            } else {
                out.push((p, c));
            }
        }
    }
}

/// Looks up `a.b.list[1].c`.
fn get<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = root;
    for seg in path.split('.') {
        let (name, mut rest) = match seg.find('[') {
            Some(i) => (&seg[..i], &seg[i..]),
            None => (seg, ""),
        };
        cur = cur.as_object()?.get(name)?;
        while let Some(stripped) = rest.strip_prefix('[') {
            let end = stripped.find(']')?;
            cur = cur
                .as_array()?
                .get(stripped[..end].parse::<usize>().ok()?)?;
            rest = &stripped[end + 1..];
        }
    }
    Some(cur)
}

fn same_type(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.is_f64() == y.is_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_type(p, q))
        }
        _ => std::mem::discriminant(a) == std::mem::discriminant(b),
    }
}

/// `${ref:SERVICE:PATH}` occurrences in `s`.
fn refs_in(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("${ref:") {
        let body = &rest[i + 6..];
        let end = body.find('}').expect("closed ref");
        let (svc, path) = body[..end]
            .split_once(':')
            .expect("ref has service and path");
        out.push((svc.to_owned(), path.to_owned()));
        rest = &body[end..];
    }
    out
}

fn base_path(svc: usize, ext: &str) -> String {
    format!("layers/base/svc-{svc:04}.{ext}")
}

/// Deep merge with the documented semantics (maps merge, everything else replaces).
fn merge(into: &mut Value, over: &Value) {
    match (into, over) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        a.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

#[test]
fn deterministic_for_same_options() {
    for format in [Format::Yaml, Format::Json] {
        let o = opts(12, 40, format);
        let a = generate_to_vec(&o).unwrap();
        let b = generate_to_vec(&o).unwrap();
        assert_eq!(a, b);
        let c = generate_to_vec(&GenOptions {
            seed: 43,
            ..o.clone()
        })
        .unwrap();
        assert_eq!(a.len(), c.len());
        assert_ne!(a, c);
        let differing = a
            .iter()
            .zip(&c)
            .filter(|(x, y)| x.contents != y.contents)
            .count();
        assert!(
            differing > a.len() / 2,
            "a different seed changes most files"
        );
    }
}

#[test]
fn yaml_and_json_carry_the_same_data() {
    let o = opts(6, 120, Format::Yaml);
    let yaml = generate_to_vec(&o).unwrap();
    let json = generate_to_vec(&GenOptions {
        format: Format::Json,
        ..o
    })
    .unwrap();
    assert_eq!(yaml.len(), json.len());
    // strata.yaml is YAML either way; only its header comment names the format.
    assert_eq!(yaml_to_value(text(&yaml[0])), yaml_to_value(text(&json[0])));
    // Schemas do not depend on the layer format.
    let json_schemas: Vec<&GenFile> = json
        .iter()
        .filter(|f| f.path.starts_with("schemas/"))
        .collect();
    let yaml_schemas: Vec<&GenFile> = yaml
        .iter()
        .filter(|f| f.path.starts_with("schemas/"))
        .collect();
    assert_eq!(yaml_schemas.len(), 6);
    assert_eq!(yaml_schemas, json_schemas);
    let json = parse_json_layers(&json);
    for f in yaml[1..].iter().filter(|f| f.path.starts_with("layers/")) {
        let jpath = f.path.replace(".yaml", ".json");
        assert!(f.path.ends_with(".yaml"));
        assert_eq!(yaml_to_value(text(f)), json[&jpath], "{}", f.path);
    }
}

#[test]
fn strata_yaml_describes_the_project() {
    let o = GenOptions {
        services: 23,
        envs: vec!["dev".into(), "on".into(), "prod".into()],
        providers: vec!["aws".into(), "openstack".into()],
        ..GenOptions::default()
    };
    let files = generate_to_vec(&o).unwrap();
    assert_eq!(files[0].path, "strata.yaml");
    let p = yaml_to_value(text(&files[0]));
    assert_eq!(p["version"], 1);
    let envs: Vec<&str> = p["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(envs, ["dev", "on", "prod"]);
    assert_eq!(p["environments"][2]["protected"], true);
    assert_eq!(p["providers"], serde_json::json!(["aws", "openstack"]));
    let targets: Vec<&str> = p["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(targets, targets_of(&o));
    assert_eq!(targets.len(), 3 * 2 * 2);
    assert!(targets.contains(&"on/openstack/region-2"));
    assert!(targets.contains(&"prod/aws/eu-west-1"));
    assert_eq!(p["hierarchy"], serde_json::json!(HIERARCHY));
    assert_eq!(p["teams"].as_object().unwrap().len(), 3);
    assert!(
        p["teams"]["team-02"]["owners"]
            .as_array()
            .is_some_and(|o| !o.is_empty())
    );
    let services = p["services"].as_object().unwrap();
    assert_eq!(services.len(), 23);
    assert_eq!(services["svc-0022"]["team"], "team-02");
    assert_eq!(services["svc-0022"]["schema"], "schemas/svc-0022.yaml");
    let vars = &p["vars"];
    assert_eq!(vars["global"]["company"], "acme");
    for prov in &o.providers {
        assert!(vars["provider"][prov]["dns_suffix"].is_string());
    }
    for env in &o.envs {
        assert!(vars["env"][env]["tier"].is_string());
    }
    for t in &targets {
        assert!(vars["target"][*t]["az_count"].is_number());
    }
}

fn targets_of(o: &GenOptions) -> Vec<String> {
    targets(o).unwrap()
}

#[test]
fn base_layer_has_exactly_params_leaves_at_depth_2_to_5() {
    for params in [0, 1, 2, 3, 4, 5, 7, 20, 99, 250, 1000] {
        let o = opts(4, params, Format::Json);
        let layers = parse_json_layers(&generate_to_vec(&o).unwrap());
        for s in 0..4 {
            let base = &layers[&base_path(s, "json")];
            assert_eq!(count_leaves(base), params, "params={params} svc={s}");
            let mut out = Vec::new();
            leaves(base, "", 0, &mut out);
            for (path, _, depth) in &out {
                assert!((2..=5).contains(depth), "{path} has depth {depth}");
            }
        }
    }
}

#[test]
fn base_layers_are_realistic() {
    let o = opts(20, 300, Format::Json);
    let layers = parse_json_layers(&generate_to_vec(&o).unwrap());
    let (mut ints, mut floats, mut bools, mut strs, mut scalar_lists, mut map_lists) =
        (0, 0, 0, 0, 0, 0);
    let mut max_depth = 0;
    let mut sections = BTreeSet::new();
    for s in 0..20 {
        let base = &layers[&base_path(s, "json")];
        sections.extend(base.as_object().unwrap().keys().cloned());
        let mut out = Vec::new();
        leaves(base, "", 0, &mut out);
        for (_, v, d) in &out {
            max_depth = max_depth.max(*d);
            match v {
                Value::Number(n) if n.is_f64() => floats += 1,
                Value::Number(_) => ints += 1,
                Value::Bool(_) => bools += 1,
                Value::String(_) => strs += 1,
                _ => panic!("null leaf"),
            }
        }
        let mut us = Vec::new();
        units(base, "", &mut us);
        for (_, v) in us {
            if let Value::Array(a) = v {
                if a.iter().all(Value::is_object) {
                    map_lists += 1;
                } else {
                    scalar_lists += 1;
                }
            }
        }
    }
    assert!(ints > 0 && floats > 0 && bools > 0 && strs > 0);
    assert!(scalar_lists > 0 && map_lists > 0);
    assert_eq!(max_depth, 5);
    for s in [
        "db",
        "cache",
        "queue",
        "http",
        "features",
        "limits",
        "observability",
    ] {
        assert!(sections.contains(s), "section {s} never generated");
    }
}

#[test]
fn file_count_matches_generate() {
    let cases = [
        GenOptions::default(),
        opts(1, 0, Format::Json),
        opts(3, 5, Format::Yaml),
        GenOptions {
            services: 7,
            params: 3,
            envs: vec!["qa".into()],
            providers: vec!["openstack".into(), "gcp".into()],
            format: Format::Json,
            seed: 1,
            schemas: false,
        },
        GenOptions {
            schemas: false,
            ..opts(2, 9, Format::Yaml)
        },
    ];
    for o in cases {
        let files = generate_to_vec(&o).unwrap();
        assert_eq!(files.len(), file_count(&o).unwrap());
        let (e, p) = (o.envs.len(), o.providers.len());
        let per_service = 1 + p + e + 3 * e * p + usize::from(o.schemas);
        assert_eq!(files.len(), 1 + o.services * per_service);
        let schemas = files
            .iter()
            .filter(|f| f.path.starts_with("schemas/"))
            .count();
        assert_eq!(schemas, if o.schemas { o.services } else { 0 });
        let unique: BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(unique.len(), files.len(), "paths are unique");
        let ext = format!(".{}", o.format.extension());
        for f in &files[1..] {
            assert!(
                (f.path.starts_with("layers/") && f.path.ends_with(&ext))
                    || (f.path.starts_with("schemas/svc-") && f.path.ends_with(".yaml")),
                "{}",
                f.path
            );
            assert!(!f.path.contains("//") && !f.path.contains('\\'));
            assert!(f.contents.ends_with(b"\n"));
        }
    }
}

#[test]
fn every_level_instance_has_a_file_per_service() {
    let o = GenOptions {
        services: 5,
        params: 30,
        providers: vec!["aws".into(), "azure".into(), "gcp".into(), "onprem".into()],
        ..GenOptions::default()
    };
    let files = generate_to_vec(&o).unwrap();
    let paths: BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    for s in 0..o.services {
        let svc = format!("svc-{s:04}.yaml");
        assert!(paths.contains(format!("layers/base/{svc}").as_str()));
        for p in &o.providers {
            assert!(paths.contains(format!("layers/provider/{p}/{svc}").as_str()));
        }
        for e in &o.envs {
            assert!(paths.contains(format!("layers/env/{e}/{svc}").as_str()));
            for p in &o.providers {
                assert!(paths.contains(format!("layers/env/{e}/{p}/{svc}").as_str()));
                for r in provider_regions(p) {
                    assert!(paths.contains(format!("layers/target/{e}/{p}/{r}/{svc}").as_str()));
                }
            }
        }
    }
    assert!(paths.contains("layers/target/prod/onprem/region-1/svc-0000.yaml"));
    assert!(paths.contains("layers/target/dev/azure/westeurope/svc-0004.yaml"));
}

#[test]
fn overrides_reset_existing_leaves_with_same_type() {
    for params in [1, 2, 5, 40, 1000] {
        let o = opts(5, params, Format::Json);
        let layers = parse_json_layers(&generate_to_vec(&o).unwrap());
        for (path, layer) in &layers {
            if path.starts_with("layers/base/") {
                continue;
            }
            let svc: usize = path[path.len() - 9..path.len() - 5].parse().unwrap();
            let base = &layers[&base_path(svc, "json")];
            let mut us = Vec::new();
            units(layer, "", &mut us);
            assert!(!us.is_empty(), "{path} overrides nothing (params={params})");
            for (p, v) in &us {
                let b = get(base, p).unwrap_or_else(|| panic!("{path}: {p} not in base"));
                assert!(same_type(b, v), "{path}: {p} changes type {b} -> {v}");
                assert!(
                    !b.as_str().is_some_and(|s| s.contains("${")),
                    "{path}: overrides interpolated {p}"
                );
                assert!(!v.as_str().is_some_and(|s| s.contains("${")));
                assert!(!v.as_array().is_some_and(|a| a.iter().any(Value::is_object)));
            }
            if params == 1000 {
                let percent = if path.starts_with("layers/provider/") {
                    5
                } else if path.starts_with("layers/target/") {
                    1
                } else if path.matches('/').count() == 3 {
                    10
                } else {
                    3
                };
                assert_eq!(us.len(), params * percent / 100, "{path}");
            }
        }
    }
}

#[test]
fn merged_targets_keep_the_base_shape() {
    // What `jq -s '.[0] * .[1] * …'` computes: overrides never add leaves.
    let o = opts(3, 200, Format::Json);
    let layers = parse_json_layers(&generate_to_vec(&o).unwrap());
    for t in targets_of(&o) {
        let parts: Vec<&str> = t.split('/').collect();
        let (e, p) = (parts[0], parts[1]);
        for s in 0..3 {
            let name = format!("svc-{s:04}.json");
            let mut merged = layers[&format!("layers/base/{name}")].clone();
            for dir in [
                format!("provider/{p}"),
                format!("env/{e}"),
                format!("env/{e}/{p}"),
                format!("target/{t}"),
            ] {
                merge(&mut merged, &layers[&format!("layers/{dir}/{name}")]);
            }
            assert_eq!(count_leaves(&merged), 200);
        }
    }
}

#[test]
fn refs_point_at_plain_leaves_of_lower_services() {
    let services = 30;
    for params in [2, 3, 150, 1000] {
        let o = opts(services, params, Format::Json);
        let layers = parse_json_layers(&generate_to_vec(&o).unwrap());
        let (mut standalone, mut embedded) = (0, 0);
        for s in 0..services {
            let base = &layers[&base_path(s, "json")];
            let mut out = Vec::new();
            leaves(base, "", 0, &mut out);
            let mut count = 0;
            for (_, v, _) in &out {
                let Some(text) = v.as_str() else { continue };
                let found = refs_in(text);
                if found.is_empty() {
                    continue;
                }
                assert_eq!(found.len(), 1);
                count += 1;
                if text.starts_with("${ref:") && text.ends_with('}') {
                    standalone += 1;
                } else {
                    embedded += 1;
                }
                let (svc, path) = &found[0];
                let target: usize = svc.strip_prefix("svc-").unwrap().parse().unwrap();
                assert!(target < s, "svc-{s:04} refers to higher {svc}");
                let tbase = &layers[&base_path(target, "json")];
                let leaf = get(tbase, path).unwrap_or_else(|| panic!("{svc}:{path} missing"));
                assert!(
                    !leaf.is_object() && !leaf.is_array(),
                    "{svc}:{path} is not a leaf"
                );
                assert!(
                    !leaf.as_str().is_some_and(|t| t.contains("${")),
                    "{svc}:{path} interpolates"
                );
                // No override anywhere changes the target's type.
                let name = format!("/{svc}.json");
                for (lp, layer) in layers.iter().filter(|(p, _)| p.ends_with(&name)) {
                    if let Some(ov) = get(layer, path) {
                        assert!(same_type(leaf, ov), "{lp} retypes {svc}:{path}");
                    }
                }
            }
            if s == 0 {
                assert_eq!(count, 0);
            } else {
                assert!(
                    count >= params.div_ceil(100).min(1),
                    "svc-{s:04} has no ref"
                );
                assert!(count <= params.div_ceil(100));
            }
        }
        assert!(standalone > 0 && embedded > 0);
    }
}

#[test]
fn interpolations_use_defined_vars() {
    let o = opts(8, 400, Format::Yaml);
    let files = generate_to_vec(&o).unwrap();
    let project = yaml_to_value(text(&files[0]));
    let vars = &project["vars"];
    let mut seen = BTreeSet::new();
    for f in files.iter().filter(|f| f.path.starts_with("layers/base/")) {
        let base = yaml_to_value(text(f));
        let mut out = Vec::new();
        leaves(&base, "", 0, &mut out);
        let strings: Vec<&str> = out.iter().filter_map(|(_, v, _)| v.as_str()).collect();
        for needle in ["${env}", "${region}", "${vars.company}"] {
            assert!(
                strings.iter().any(|s| s.contains(needle)),
                "{} lacks {needle}",
                f.path
            );
        }
        for s in strings {
            let mut rest = s;
            while let Some(i) = rest.find("${vars.") {
                let body = &rest[i + 7..];
                let end = body.find('}').unwrap();
                seen.insert(body[..end].to_owned());
                rest = &body[end..];
            }
        }
    }
    assert!(seen.contains("company"));
    for t in targets_of(&o) {
        let parts: Vec<&str> = t.split('/').collect();
        for name in &seen {
            let defined = [
                &vars["global"],
                &vars["provider"][parts[1]],
                &vars["env"][parts[0]],
                &vars["target"][&t],
            ]
            .iter()
            .any(|scope| scope.get(name).is_some());
            assert!(defined, "vars.{name} undefined for {t}");
        }
    }
}

#[test]
fn invalid_options_are_rejected() {
    let d = GenOptions::default;
    let cases: Vec<(GenOptions, &str)> = vec![
        (GenOptions { services: 0, ..d() }, "`services`"),
        (
            GenOptions {
                envs: vec![],
                ..d()
            },
            "`envs`",
        ),
        (
            GenOptions {
                providers: vec![],
                ..d()
            },
            "`providers`",
        ),
        (
            GenOptions {
                providers: vec!["a ws".into()],
                ..d()
            },
            "`providers`",
        ),
        (
            GenOptions {
                providers: vec!["aws/x".into()],
                ..d()
            },
            "`providers`",
        ),
        (
            GenOptions {
                providers: vec!["..".into()],
                ..d()
            },
            "`providers`",
        ),
        (
            GenOptions {
                providers: vec!["-aws".into()],
                ..d()
            },
            "`providers`",
        ),
        (
            GenOptions {
                providers: vec!["".into()],
                ..d()
            },
            "`providers`",
        ),
        (
            GenOptions {
                providers: vec!["ä".into()],
                ..d()
            },
            "`providers`",
        ),
        (
            GenOptions {
                providers: vec!["aws".into(), "aws".into()],
                ..d()
            },
            "`providers`",
        ),
        (
            GenOptions {
                envs: vec!["dev".into(), "{env}".into()],
                ..d()
            },
            "`envs`",
        ),
        (
            GenOptions {
                envs: vec!["x".repeat(65)],
                ..d()
            },
            "`envs`",
        ),
        (
            GenOptions {
                envs: vec!["prod".into(), "prod".into()],
                ..d()
            },
            "`envs`",
        ),
    ];
    for (o, option) in cases {
        let err = o.validate().unwrap_err();
        assert!(
            err.to_string().contains(option),
            "{err} should name {option}"
        );
        assert_eq!(file_count(&o).unwrap_err(), err);
        assert_eq!(generate_to_vec(&o).unwrap_err(), err);
        let mut called = false;
        let r = generate(&o, |_| {
            called = true;
            Ok::<(), ()>(())
        });
        assert!(matches!(r, Err(GenOutcomeError::Options(e)) if e == err));
        assert!(!called, "sink must not be called for invalid options");
    }
    let huge = GenOptions {
        services: usize::MAX,
        ..d()
    };
    assert_eq!(file_count(&huge), Err(GenError::TooLarge));
    assert!(
        GenOptions {
            envs: vec!["QA_1".into(), "x-2".into()],
            ..d()
        }
        .validate()
        .is_ok()
    );
}

#[test]
fn sink_errors_stop_generation() {
    let mut calls = 0;
    let r = generate(&GenOptions::default(), |f| {
        calls += 1;
        if calls == 3 {
            Err(format!("disk full at {}", f.path))
        } else {
            Ok(())
        }
    });
    match r {
        Err(GenOutcomeError::Sink(msg)) => assert!(msg.contains("layers/")),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(calls, 3);
    let e: GenOutcomeError<std::io::Error> = GenOutcomeError::Sink(std::io::Error::other("boom"));
    assert!(e.to_string().contains("boom"));
    assert!(std::error::Error::source(&e).is_some());
}

#[test]
fn format_parsing() {
    assert_eq!("yaml".parse::<Format>(), Ok(Format::Yaml));
    assert_eq!("YML".parse::<Format>(), Ok(Format::Yaml));
    assert_eq!("json".parse::<Format>(), Ok(Format::Json));
    let e = "toml".parse::<Format>().unwrap_err();
    assert!(e.to_string().contains("`format`"));
    assert_eq!(Format::Json.to_string(), "json");
    assert_eq!(Format::default(), Format::Yaml);
}

#[test]
fn defaults_match_the_spec() {
    let d = GenOptions::default();
    assert_eq!(
        (d.services, d.params, d.seed, d.format, d.schemas),
        (10, 20, 42, Format::Yaml, true)
    );
    assert_eq!(d.envs, ["dev", "staging", "prod"]);
    assert_eq!(d.providers, ["aws", "azure", "gcp"]);
    assert_eq!(file_count(&d).unwrap(), 1 + 10 * (1 + 3 + 3 + 9 + 18 + 1));
}

// ---------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------

/// A generated project parsed back: `strata.yaml`, layers and schemas.
struct Parsed {
    opts: GenOptions,
    project: Value,
    layers: BTreeMap<String, Value>,
    schemas: Vec<Value>,
}

fn parse_project(o: &GenOptions) -> Parsed {
    let files = generate_to_vec(o).unwrap();
    let mut layers = BTreeMap::new();
    let mut schemas = Vec::new();
    for f in &files[1..] {
        if f.path.starts_with("schemas/") {
            assert_eq!(f.path, format!("schemas/svc-{:04}.yaml", schemas.len()));
            schemas.push(yaml_to_value(text(f)));
            continue;
        }
        let v = match o.format {
            Format::Json => serde_json::from_slice(&f.contents).unwrap(),
            Format::Yaml => yaml_to_value(text(f)),
        };
        layers.insert(f.path.clone(), v);
    }
    assert_eq!(schemas.len(), o.services);
    Parsed {
        opts: o.clone(),
        project: yaml_to_value(text(&files[0])),
        layers,
        schemas,
    }
}

/// What the values of one target see: its names and variables.
struct TargetCtx<'a> {
    env: &'a str,
    provider: &'a str,
    region: &'a str,
    name: &'a str,
}

impl Parsed {
    fn layer(&self, dir: &str, svc: usize) -> &Value {
        let ext = self.opts.format.extension();
        &self.layers[&format!("layers/{dir}/svc-{svc:04}.{ext}")]
    }

    fn var(&self, t: &TargetCtx, name: &str) -> Value {
        let vars = &self.project["vars"];
        [
            &vars["target"][t.name],
            &vars["env"][t.env],
            &vars["provider"][t.provider],
            &vars["global"],
        ]
        .iter()
        .find_map(|scope| scope.get(name))
        .unwrap_or_else(|| panic!("vars.{name} undefined for {}", t.name))
        .clone()
    }

    /// Resolves every `${…}` in `v`: a standalone `${ref:…}` becomes the
    /// referenced value of `resolved` (lower services, same target), other
    /// templates become text.
    fn resolve(&self, v: &mut Value, t: &TargetCtx, svc: usize, resolved: &[Value]) {
        match v {
            Value::Object(m) => m
                .values_mut()
                .for_each(|c| self.resolve(c, t, svc, resolved)),
            Value::Array(a) => a.iter_mut().for_each(|c| self.resolve(c, t, svc, resolved)),
            Value::String(s) if s.contains("${") => {
                let lookup = |expr: &str| -> Value {
                    if let Some(r) = expr.strip_prefix("ref:") {
                        let (target, path) = r.split_once(':').unwrap();
                        let n: usize = target.strip_prefix("svc-").unwrap().parse().unwrap();
                        assert!(n < svc);
                        return get(&resolved[n], path).unwrap().clone();
                    }
                    match expr {
                        "env" => Value::from(t.env),
                        "provider" => Value::from(t.provider),
                        "region" => Value::from(t.region),
                        "service" => Value::from(format!("svc-{svc:04}")),
                        _ => self.var(t, expr.strip_prefix("vars.").expect("known variable")),
                    }
                };
                let standalone =
                    s.starts_with("${") && s.ends_with('}') && s.matches("${").count() == 1;
                if standalone {
                    *v = lookup(&s[2..s.len() - 1]);
                    return;
                }
                let mut out = String::new();
                let mut rest = s.as_str();
                while let Some(i) = rest.find("${") {
                    out.push_str(&rest[..i]);
                    let end = rest[i..].find('}').unwrap() + i;
                    match lookup(&rest[i + 2..end]) {
                        Value::String(x) => out.push_str(&x),
                        other => out.push_str(&other.to_string()),
                    }
                    rest = &rest[end + 1..];
                }
                out.push_str(rest);
                *v = Value::String(out);
            }
            _ => {}
        }
    }

    /// The resolved base layers (no overrides), seen from target `t`.
    fn resolved_bases(&self, t: &TargetCtx) -> Vec<Value> {
        let mut out: Vec<Value> = Vec::new();
        for s in 0..self.opts.services {
            let mut v = self.layer("base", s).clone();
            self.resolve(&mut v, t, s, &out);
            out.push(v);
        }
        out
    }

    /// The effective configuration of every service for target `t`.
    fn effective(&self, t: &TargetCtx) -> Vec<Value> {
        let mut out: Vec<Value> = Vec::new();
        for s in 0..self.opts.services {
            let mut v = self.layer("base", s).clone();
            for dir in [
                format!("provider/{}", t.provider),
                format!("env/{}", t.env),
                format!("env/{}/{}", t.env, t.provider),
                format!("target/{}", t.name),
            ] {
                merge(&mut v, self.layer(&dir, s));
            }
            self.resolve(&mut v, t, s, &out);
            out.push(v);
        }
        out
    }
}

/// A CEL rule of a schema and the instance path (map keys) of its node.
struct CelCheck {
    path: Vec<String>,
    /// The `fieldPath` key, for rules on a map about one of its children.
    field: Option<String>,
    rule: String,
    program: cel::Program,
}

/// Every `x-strata-validations` rule of a schema (rules sit on `properties`
/// nodes only), compiled.
fn cel_rules(schema: &Value, path: &mut Vec<String>, out: &mut Vec<CelCheck>) {
    if let Some(rules) = schema.get("x-strata-validations") {
        for r in rules.as_array().expect("a list of rules") {
            let rule = r["rule"].as_str().expect("rule is a string").to_owned();
            assert!(r["message"].as_str().is_some_and(|m| !m.is_empty()));
            let field = r.get("fieldPath").map(|fp| {
                let key = fp.as_str().unwrap().strip_prefix('.').unwrap();
                assert!(schema["properties"].get(key).is_some(), "fieldPath {fp}");
                key.to_owned()
            });
            let program = cel::Program::compile(&rule)
                .unwrap_or_else(|e| panic!("rule {rule:?} does not compile: {e}"));
            out.push(CelCheck {
                path: path.clone(),
                field,
                rule,
                program,
            });
        }
    }
    if let Some(Value::Object(props)) = schema.get("properties") {
        for (k, sub) in props {
            path.push(k.clone());
            cel_rules(sub, path, out);
            path.pop();
        }
    }
}

fn eval_rule(c: &CelCheck, root: &Value, t: &TargetCtx, svc: usize) {
    match run_rule(c, root, t, svc) {
        Ok(cel::Value::Bool(true)) => {}
        other => panic!(
            "svc-{svc:04} @ {}: rule {:?} at {:?} gave {other:?}",
            t.name, c.rule, c.path
        ),
    }
}

fn run_rule(c: &CelCheck, root: &Value, t: &TargetCtx, svc: usize) -> cel::ResolveResult {
    let node = c
        .path
        .iter()
        .try_fold(root, |v, k| v.get(k))
        .unwrap_or_else(|| panic!("rule {} at missing {:?}", c.rule, c.path));
    let mut ctx = cel::Context::default();
    ctx.add_variable("self", node).unwrap();
    ctx.add_variable_from_value("env", t.env.to_owned());
    ctx.add_variable_from_value("provider", t.provider.to_owned());
    ctx.add_variable_from_value("region", t.region.to_owned());
    ctx.add_variable_from_value("service", format!("svc-{svc:04}"));
    c.program.execute(&ctx)
}

fn assert_valid(validator: &jsonschema::Validator, v: &Value, what: &str) {
    let errors: Vec<String> = validator
        .iter_errors(v)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what} violates its schema: {errors:#?}");
}

/// The schema-and-rules check of a whole project: schemas are valid JSON
/// Schema, describe the base shape, and every resolved base layer and every
/// effective configuration of every target satisfies them, CEL rules included.
fn check_schemas(o: &GenOptions) -> usize {
    let p = parse_project(o);
    let validators: Vec<jsonschema::Validator> = p
        .schemas
        .iter()
        .map(|s| {
            assert!(
                jsonschema::meta::is_valid(s),
                "not a valid JSON Schema: {s}"
            );
            assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
            assert_eq!(s["type"], "object");
            assert_eq!(s["additionalProperties"], false);
            jsonschema::validator_for(s).expect("schema compiles")
        })
        .collect();
    let mut rules: Vec<Vec<CelCheck>> = Vec::new();
    for (s, schema) in p.schemas.iter().enumerate() {
        let mut out = Vec::new();
        cel_rules(schema, &mut Vec::new(), &mut out);
        assert_eq!(
            out.len(),
            (o.params / 50).max(1),
            "svc-{s:04}: about one rule per 50 leaves"
        );
        // `required` lists exactly the base keys, everywhere.
        fn same_keys(schema: &Value, base: &Value, path: &str) {
            let Value::Object(m) = base else { return };
            let required: BTreeSet<&str> = schema["required"]
                .as_array()
                .map(|r| r.iter().map(|k| k.as_str().unwrap()).collect())
                .unwrap_or_default();
            let keys: BTreeSet<&str> = m.keys().map(String::as_str).collect();
            assert_eq!(required, keys, "required at {path}");
            for (k, v) in m {
                if v.is_object() {
                    same_keys(&schema["properties"][k], v, &format!("{path}.{k}"));
                }
            }
        }
        same_keys(schema, p.layer("base", s), "");
        rules.push(out);
    }
    let targets = targets_of(o);
    for (i, name) in targets.iter().enumerate() {
        let parts: Vec<&str> = name.split('/').collect();
        let t = TargetCtx {
            env: parts[0],
            provider: parts[1],
            region: parts[2],
            name,
        };
        let mut configs = p.effective(&t);
        if i == 0 {
            configs.extend(p.resolved_bases(&t));
        }
        for (n, v) in configs.iter().enumerate() {
            let s = n % o.services;
            assert_valid(&validators[s], v, &format!("svc-{s:04} @ {name} ({n})"));
            for c in &rules[s] {
                eval_rule(c, v, &t, s);
            }
        }
        // The rules read plain leaves only: they hold on the raw base layers too.
        if i == 0 {
            for (s, service_rules) in rules.iter().enumerate() {
                for c in service_rules {
                    eval_rule(c, p.layer("base", s), &t, s);
                }
            }
        }
    }
    rules.iter().map(Vec::len).sum()
}

#[test]
fn effective_configurations_satisfy_the_schemas() {
    let mut total_rules = 0;
    for (services, params, format) in [
        (12, 150, Format::Json),
        (6, 40, Format::Yaml),
        (3, 0, Format::Yaml),
        (3, 1, Format::Json),
        (4, 3, Format::Yaml),
        (5, 12, Format::Json),
    ] {
        total_rules += check_schemas(&opts(services, params, format));
    }
    total_rules += check_schemas(&GenOptions {
        services: 4,
        params: 500,
        envs: vec!["qa".into(), "on".into()],
        providers: vec!["aws".into(), "openstack".into()],
        seed: 7,
        ..GenOptions::default()
    });
    assert!(total_rules > 50);
}

#[test]
fn schemas_use_every_kind_of_constraint() {
    let o = opts(10, 400, Format::Yaml);
    let files = generate_to_vec(&o).unwrap();
    let all: String = files
        .iter()
        .filter(|f| f.path.starts_with("schemas/"))
        .map(text)
        .collect();
    for needle in [
        "type: integer, minimum: 1024, maximum: 65535",
        "type: number, minimum: ",
        "type: boolean",
        "enum: [",
        "pattern: ",
        "minLength: ",
        "maxLength: ",
        "type: array, minItems: 1, maxItems: 4, items: {",
        "items: {$ref: \"#/$defs/",
        "\n$defs:\n",
        "additionalProperties: false",
        "required: [",
        "fieldPath: \".",
        "x-strata-validations: [{rule: \"",
        " <= self.",
        " in ['",
        ".startsWith('",
        "has(self.",
    ] {
        assert!(all.contains(needle), "no schema contains {needle:?}");
    }
    // Some maps allow unknown keys, most do not.
    let objects = all.matches("type: object\n").count();
    let closed = all.matches("additionalProperties: false\n").count();
    assert!(
        closed > objects / 3 && closed < objects,
        "{closed}/{objects}"
    );
}

#[test]
fn schemas_reject_wrong_configurations() {
    let o = opts(4, 120, Format::Json);
    let p = parse_project(&o);
    let t = TargetCtx {
        env: "dev",
        provider: "aws",
        region: "us-east-1",
        name: "dev/aws/us-east-1",
    };
    let configs = p.effective(&t);
    for (s, good) in configs.iter().enumerate() {
        let validator = jsonschema::validator_for(&p.schemas[s]).unwrap();
        assert_valid(&validator, good, "unchanged");
        let mut unknown = good.clone();
        unknown["surprise"] = Value::from(1);
        assert!(!validator.is_valid(&unknown), "unknown root key accepted");
        let first = good.as_object().unwrap().keys().next().unwrap().clone();
        let mut missing = good.clone();
        missing.as_object_mut().unwrap().remove(&first);
        assert!(!validator.is_valid(&missing), "missing {first} accepted");
        let mut out = Vec::new();
        leaves(good, "", 0, &mut out);
        let int = out.iter().find(|(_, v, _)| v.is_i64()).unwrap().0.clone();
        let string = out
            .iter()
            .find(|(_, v, _)| v.is_string())
            .unwrap()
            .0
            .clone();
        for (path, bad) in [(int, Value::from(-1_000_000)), (string, Value::from(""))] {
            let mut wrong = good.clone();
            let mut cur = &mut wrong;
            for seg in path.split('.') {
                let (name, index) = match seg.split_once('[') {
                    Some((n, i)) => (n, Some(i.trim_end_matches(']').parse::<usize>().unwrap())),
                    None => (seg, None),
                };
                cur = &mut cur[name];
                if let Some(i) = index {
                    cur = &mut cur[i];
                }
            }
            *cur = bad.clone();
            assert!(
                !validator.is_valid(&wrong),
                "svc-{s:04}: {path} = {bad} accepted"
            );
        }
        // Every CEL rule depends on its value: without it, it no longer passes.
        let mut rules = Vec::new();
        cel_rules(&p.schemas[s], &mut Vec::new(), &mut rules);
        assert!(!rules.is_empty());
        for c in &rules {
            eval_rule(c, good, &t, s);
            let mut wrong = good.clone();
            let mut node = &mut wrong;
            for k in &c.path {
                node = &mut node[k.as_str()];
            }
            match &c.field {
                Some(k) => {
                    node.as_object_mut().unwrap().remove(k);
                }
                None => *node = Value::Null,
            }
            let r = run_rule(c, &wrong, &t, s);
            assert!(
                !matches!(r, Ok(cel::Value::Bool(true))),
                "svc-{s:04}: {:?} still passes without its value",
                c.rule
            );
        }
    }
}

#[test]
fn schemas_can_be_turned_off() {
    let on = opts(5, 60, Format::Yaml);
    let off = GenOptions {
        schemas: false,
        ..on.clone()
    };
    let with = generate_to_vec(&on).unwrap();
    let without = generate_to_vec(&off).unwrap();
    assert_eq!(without.len(), file_count(&off).unwrap());
    assert_eq!(with.len(), without.len() + 5);
    assert!(without.iter().all(|f| !f.path.starts_with("schemas/")));
    let project_off = text(&without[0]);
    assert!(!project_off.contains("schema"), "{project_off}");
    let project_on: String = text(&with[0])
        .lines()
        .filter(|l| !l.trim_start().starts_with("schema: \"schemas/"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(project_on, project_off);
    // Layer files are byte-identical either way.
    let layers_on: Vec<&GenFile> = with[1..]
        .iter()
        .filter(|f| f.path.starts_with("layers/"))
        .collect();
    let layers_off: Vec<&GenFile> = without[1..].iter().collect();
    assert_eq!(layers_on, layers_off);
    // Each service's schema comes right after its layers.
    let per_service = (file_count(&on).unwrap() - 1) / 5;
    for s in 0..5 {
        assert_eq!(
            with[per_service * (s + 1)].path,
            format!("schemas/svc-{s:04}.yaml")
        );
    }
}
