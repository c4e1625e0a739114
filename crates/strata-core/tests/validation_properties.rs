//! Property tests of validation through the whole pipeline (project → resolve → check):
//! generated valid configurations always pass, and a mutation that breaks exactly one rule
//! produces exactly one finding, for that rule.

use std::sync::Arc;

use proptest::prelude::*;
use serde_json::{Value as J, json};
use strata_core::files::MemorySource;
use strata_core::resolve::Project;
use strata_core::validate::check::{CheckOptions, check};

const CONFIG: &str = "version: 1
environments: [{name: prod}]
providers: [aws]
targets: [prod/aws/r1]
hierarchy: [base]
services: {svc: {schema: schemas/svc.yaml}}
";

const SCHEMA: &str = r#"type: object
additionalProperties: false
required: [replicas, level, name, pool, tags, password]
properties:
  replicas: {type: integer, minimum: 1, maximum: 50}
  level: {enum: [debug, info, warn, error]}
  name: {type: string, pattern: "^[a-z]+-[0-9]+$"}
  timeout_ms: {type: integer, exclusiveMinimum: 0}
  pool:
    type: object
    required: [min, max]
    properties:
      min: {type: integer, minimum: 0}
      max: {type: integer, minimum: 0}
    x-strata-validations:
      - rule: "self.min <= self.max"
        message: pool.min must not exceed pool.max
        fieldPath: .min
  tags: {type: array, minItems: 1, uniqueItems: true, items: {type: string}}
  password: {type: string, x-strata-secret: true}
"#;

fn valid_config() -> impl Strategy<Value = J> {
    (
        1i64..=50,
        prop::sample::select(vec!["debug", "info", "warn", "error"]),
        ("[a-z]{1,8}", 0u32..1000),
        prop::option::of(1i64..100_000),
        (0i64..100, 0i64..100),
        prop::collection::btree_set("[a-z]{1,6}", 1..5),
    )
        .prop_map(|(replicas, level, (word, n), timeout, (a, b), tags)| {
            let mut c = json!({
                "replicas": replicas,
                "level": level,
                "name": format!("{word}-{n}"),
                "pool": {"min": a.min(b), "max": a.max(b)},
                "tags": tags.into_iter().collect::<Vec<_>>(),
                "password": "ENC[AGE,data:c2VjcmV0,type:str]",
            });
            if let Some(t) = timeout {
                c["timeout_ms"] = json!(t);
            }
            c
        })
}

/// One way to break exactly one rule, and the rule id it must produce.
#[derive(Debug, Clone, Copy)]
enum Mutation {
    Maximum,
    Minimum,
    Enum,
    Pattern,
    Type,
    Required,
    Additional,
    MinItems,
    UniqueItems,
    ExclusiveMinimum,
    Cel,
    Secret,
}

impl Mutation {
    fn apply(self, c: &mut J) -> &'static str {
        match self {
            Mutation::Maximum => {
                c["replicas"] = json!(51);
                "schema/maximum"
            }
            Mutation::Minimum => {
                c["replicas"] = json!(0);
                "schema/minimum"
            }
            Mutation::Enum => {
                c["level"] = json!("trace");
                "schema/enum"
            }
            Mutation::Pattern => {
                c["name"] = json!("Not Valid");
                "schema/pattern"
            }
            Mutation::Type => {
                c["name"] = json!(12);
                "schema/type"
            }
            Mutation::Required => {
                c.as_object_mut().unwrap().remove("level");
                "schema/required"
            }
            Mutation::Additional => {
                c["surprise"] = json!(true);
                "schema/additionalProperties"
            }
            Mutation::MinItems => {
                c["tags"] = json!([]);
                "schema/minItems"
            }
            Mutation::UniqueItems => {
                c["tags"] = json!(["a", "a"]);
                "schema/uniqueItems"
            }
            Mutation::ExclusiveMinimum => {
                c["timeout_ms"] = json!(0);
                "schema/exclusiveMinimum"
            }
            Mutation::Cel => {
                let max = c["pool"]["max"].as_i64().unwrap();
                c["pool"]["min"] = json!(max + 1);
                "cel"
            }
            Mutation::Secret => {
                c["password"] = json!("hunter2");
                "secret/plaintext"
            }
        }
    }
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop::sample::select(vec![
        Mutation::Maximum,
        Mutation::Minimum,
        Mutation::Enum,
        Mutation::Pattern,
        Mutation::Type,
        Mutation::Required,
        Mutation::Additional,
        Mutation::MinItems,
        Mutation::UniqueItems,
        Mutation::ExclusiveMinimum,
        Mutation::Cel,
        Mutation::Secret,
    ])
}

fn findings(config: &J, as_yaml: bool) -> Vec<(String, String)> {
    let layer = if as_yaml {
        // JSON text is valid YAML: exercise the YAML reader too.
        ("layers/base/svc.yaml", config.to_string())
    } else {
        ("layers/base/svc.json", config.to_string())
    };
    let src = MemorySource::new()
        .with("strata.yaml", CONFIG)
        .with("schemas/svc.yaml", SCHEMA)
        .with(layer.0, layer.1);
    let project = Project::load(Arc::new(src)).unwrap();
    let run = check(&project, &CheckOptions::default()).unwrap();
    run.report
        .findings()
        .map(|f| (f.rule.clone(), f.message.clone()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn valid_configurations_always_pass(config in valid_config(), yaml in any::<bool>()) {
        let f = findings(&config, yaml);
        prop_assert!(f.is_empty(), "{f:?}\n{config}");
    }

    #[test]
    fn breaking_one_rule_gives_exactly_one_finding_for_it(
        config in valid_config(),
        m in mutation(),
        yaml in any::<bool>(),
    ) {
        let mut config = config;
        let rule = m.apply(&mut config);
        let f = findings(&config, yaml);
        prop_assert_eq!(f.len(), 1, "{:?} → {:?}\n{}", m, f, config);
        prop_assert_eq!(f[0].0.as_str(), rule);
        // No finding ever shows a secret's value.
        prop_assert!(!f[0].1.contains("hunter2"));
    }
}
