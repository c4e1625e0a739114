//! Provider catalogs end to end: the real `strata` binary on real project directories.
//! Vocabulary placeholders, provider formats, `x-strata-provider` overlays, tag/label rules,
//! project-defined providers, catalog default vars, `strata providers` and `strata render`.
//! Catalog values are read through `strata providers show P --json`, not hard-coded (but for
//! the three `size:medium` values the issue names).

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use serde_json::{Value as Json, json};

const CLOUDS: [&str; 3] = ["aws", "azure", "gcp"];

/// A project with one `prod` target per cloud (and a dev target on GCP), one service `api`
/// with `schema` as its schema and `layer` as its base layer.
fn cloud_project(schema: &str, layer: &str) -> Fixture {
    project(&[
        (
            "strata.yaml",
            r#"version: 1
environments:
  - name: dev
  - name: prod
providers: [aws, azure, gcp]
targets:
  - dev/gcp/us-east1
  - prod/aws/us-east-1
  - prod/azure/westeurope
  - prod/gcp/europe-west1
hierarchy:
  - base
  - provider/{provider}
  - "env/{env}"
teams:
  web: { owners: [ana] }
services:
  api: { team: web, schema: schemas/api.yaml }
"#,
        ),
        ("schemas/api.yaml", schema),
        ("layers/base/api.yaml", layer),
    ])
}

const OPEN_SCHEMA: &str = "$schema: https://json-schema.org/draft/2020-12/schema\ntype: object\n";

fn target_of(provider: &str) -> &'static str {
    match provider {
        "aws" => "prod/aws/us-east-1",
        "azure" => "prod/azure/westeurope",
        "gcp" => "prod/gcp/europe-west1",
        other => panic!("no target for {other}"),
    }
}

/// `strata providers show P --json`, run in `cwd`.
fn catalog(cwd: &Path, provider: &str) -> Json {
    run(cwd, &["providers", "show", provider, "--json"])
        .ok()
        .json()
}

/// `strata resolve api --target T --format json` in the fixture.
fn resolve(p: &Fixture, target: &str) -> Json {
    p.run(&["resolve", "api", "--target", target, "--format", "json"])
        .ok()
        .json()
}

/// One finding of `strata check --format json`, flattened.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Found {
    rule: String,
    target: String,
    address: String,
    message: String,
    hint: String,
    at: String,
}

/// Every finding (units and project) of `strata check --format json`.
fn check(p: &Fixture) -> (Option<i32>, Vec<Found>) {
    let r = p.run(&["check", "--format", "json"]);
    let report = r.json();
    let mut out = Vec::new();
    let mut add = |f: &Json| {
        let s = |k: &str| f[k].as_str().unwrap_or_default().to_string();
        let at = match &f["location"] {
            Json::Null => String::new(),
            l => format!("{}:{}", l["path"].as_str().unwrap_or_default(), l["line"]),
        };
        out.push(Found {
            rule: s("rule"),
            target: s("target"),
            address: s("address"),
            message: s("message"),
            hint: s("hint"),
            at,
        });
    };
    for unit in report["units"].as_array().into_iter().flatten() {
        for f in unit["findings"].as_array().into_iter().flatten() {
            add(f);
        }
    }
    for f in report["project"].as_array().into_iter().flatten() {
        add(f);
    }
    (r.code, out)
}

fn with_rule<'a>(found: &'a [Found], prefix: &str) -> Vec<&'a Found> {
    found
        .iter()
        .filter(|f| f.rule.starts_with(prefix))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Vocabulary

#[test]
fn every_vocabulary_kind_resolves_to_each_clouds_catalog_value() {
    // Every KIND:NAME the catalogs have (the same names in every cloud), as whole-string
    // placeholders, plus one embedded in a longer string.
    let names = catalog(Path::new(WORKSPACE), "aws")["vocabulary"].clone();
    let mut layer = String::from("# every portable name\n");
    for (kind, words) in names.as_object().expect("vocabulary map") {
        layer.push_str(&format!("{kind}:\n"));
        for name in words.as_object().expect("names").keys() {
            layer.push_str(&format!("  \"{name}\": \"${{{kind}:{name}}}\"\n"));
        }
    }
    layer.push_str("pool: \"nodes-${size:medium}-${storage:standard}\"\n");
    let p = cloud_project(OPEN_SCHEMA, &layer);
    for kind in ["size", "storage", "region", "database", "cache"] {
        assert!(names.get(kind).is_some(), "the catalogs have `{kind}`");
    }
    for provider in CLOUDS {
        let cat = catalog(&p.root(), provider);
        let got = resolve(&p, target_of(provider));
        for kind in ["size", "storage", "region", "database", "cache"] {
            assert_eq!(
                got[kind], cat["vocabulary"][kind],
                "{provider} {kind}: resolved values are the catalog's"
            );
        }
        assert_eq!(
            got["pool"],
            json!(format!(
                "nodes-{}-{}",
                cat["vocabulary"]["size"]["medium"].as_str().unwrap(),
                cat["vocabulary"]["storage"]["standard"].as_str().unwrap()
            ))
        );
    }
    // The values the issue names.
    for (provider, medium) in [
        ("aws", "t3.medium"),
        ("azure", "Standard_D2s_v5"),
        ("gcp", "e2-standard-2"),
    ] {
        assert_eq!(
            resolve(&p, target_of(provider))["size"]["medium"],
            json!(medium)
        );
    }
    // `${region}` alone is still the target's region.
    p.write(
        "layers/base/api.yaml",
        "here: ${region}\nthere: ${region:us-east}\n",
    );
    let gcp = resolve(&p, "prod/gcp/europe-west1");
    assert_eq!(gcp, json!({"here": "europe-west1", "there": "us-east1"}));
}

#[test]
fn vocabulary_in_provider_and_env_layers_and_typed_values() {
    let p = cloud_project(OPEN_SCHEMA, "size: ${size:small}\n");
    p.write("layers/provider/gcp/api.yaml", "size: ${size:large}\n");
    p.write(
        "layers/env/dev/api.yaml",
        "size: ${size:xlarge}\ndr: ${region:us-west}\n",
    );
    let gcp = catalog(&p.root(), "gcp")["vocabulary"].clone();
    let aws = catalog(&p.root(), "aws")["vocabulary"].clone();
    assert_eq!(
        resolve(&p, "prod/gcp/europe-west1")["size"],
        gcp["size"]["large"]
    );
    assert_eq!(
        resolve(&p, "prod/aws/us-east-1")["size"],
        aws["size"]["small"]
    );
    let dev = resolve(&p, "dev/gcp/us-east1");
    assert_eq!(dev["size"], gcp["size"]["xlarge"]);
    assert_eq!(dev["dr"], gcp["region"]["us-west"]);

    // A whole-string placeholder keeps the value's type (a project vocabulary of numbers).
    p.write(
        "providers/gcp.yaml",
        "name: gcp\nvocabulary:\n  disk_gb: {small: 50, large: 500}\n",
    );
    p.write(
        "layers/base/api.yaml",
        "disk: ${disk_gb:large}\nlabel: \"${disk_gb:small}GB\"\n",
    );
    let got = resolve(&p, "prod/gcp/europe-west1");
    assert_eq!(got["disk"], json!(500), "a number stays a number");
    assert_eq!(got["label"], json!("50GB"));
    // aws has no such kind: the error names the kinds aws knows.
    let r = p
        .run(&["resolve", "api", "--target", "prod/aws/us-east-1"])
        .expect(1);
    assert!(
        r.stderr.contains("unknown vocabulary `disk_gb`"),
        "{}",
        r.stderr
    );
}

#[test]
fn unknown_vocabulary_names_and_kinds_are_located_errors_listing_the_known_ones() {
    let p = cloud_project(OPEN_SCHEMA, "name: api\nsize: ${size:huge}\n");
    for provider in CLOUDS {
        let r = p
            .run(&["resolve", "api", "--target", target_of(provider)])
            .expect(1);
        assert!(
            r.stderr.contains("layers/base/api.yaml:2:"),
            "located at the layer line: {}",
            r.stderr
        );
        assert!(
            r.stderr.contains(&format!(
                "`${{size:huge}}` for provider {provider}: unknown size `huge`; known: 2xlarge, large, medium, small, xlarge"
            )),
            "{}",
            r.stderr
        );
        assert!(r.stdout.is_empty(), "nothing printed on stdout");
    }
    p.write(
        "layers/base/api.yaml",
        "name: api\nnested:\n  flavour: ${flavour:sweet}\n",
    );
    let r = p
        .run(&["resolve", "api", "--target", "prod/azure/westeurope"])
        .expect(1);
    assert!(r.stderr.contains("layers/base/api.yaml:3:"), "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "unknown vocabulary `flavour`; azure knows: cache, database, region, size, storage"
        ),
        "{}",
        r.stderr
    );
    // `strata check` fails on it too (exit 1), naming the same place.
    let r = p.run(&["check"]).expect(1);
    assert!(
        r.stdout.contains("flavour") || r.stderr.contains("flavour"),
        "{r:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Schemas: overlays, tags, naming formats, regions

#[test]
fn provider_only_schema_rules_apply_only_to_that_providers_targets() {
    let schema = r#"$schema: https://json-schema.org/draft/2020-12/schema
type: object
properties:
  bucket:
    type: string
    x-strata-provider:
      gcp: { maxLength: 10, pattern: "^[a-z-]+$" }
      aws: { minLength: 3 }
"#;
    let p = cloud_project(schema, "bucket: acme-prod-media\n");
    let (code, found) = check(&p);
    assert_eq!(code, Some(1), "{found:#?}");
    let overlay = with_rule(&found, "provider/");
    assert_eq!(overlay.len(), 2, "one per gcp target: {found:#?}");
    for f in &overlay {
        assert_eq!(f.rule, "provider/maxLength");
        assert!(f.target.contains("/gcp/"), "{f:?}");
        assert_eq!(f.address, "api:bucket");
        assert_eq!(f.at, "layers/base/api.yaml:1");
        assert!(f.message.contains("acme-prod-media"), "{f:?}");
    }
    assert!(with_rule(&found, "schema/").is_empty(), "{found:#?}");

    // A provider-only `format` inside an overlay applies to that provider only.
    let schema = r#"$schema: https://json-schema.org/draft/2020-12/schema
type: object
properties:
  store:
    type: string
    x-strata-provider:
      azure: { format: azure-storage-account-name }
      gcp: { format: gcp-bucket-name }
"#;
    let p = cloud_project(schema, "store: acme-prod-media\n");
    let (_, found) = check(&p);
    let f = with_rule(&found, "provider/");
    assert_eq!(f.len(), 1, "{found:#?}");
    assert_eq!(f[0].rule, "provider/azure-storage-account-name");
    assert_eq!(f[0].target, "prod/azure/westeurope");
}

#[test]
fn tag_and_label_rules_follow_the_target_provider() {
    let schema = r#"$schema: https://json-schema.org/draft/2020-12/schema
type: object
properties:
  tags: { type: object, x-strata-tags: true }
  labels: { type: object, x-strata-tags: true }
"#;
    let long = "x".repeat(64);
    let layer = format!(
        r#"labels:                 # the same map on every cloud
  Team: web
  desc: "{long}"
  ok: fine
$provider:
  aws:
    tags: {{ "aws:owner": ana, Team: web }}
  azure:
    tags: {{ "cost<center": "4100", team: web }}
"#
    );
    let p = cloud_project(schema, &layer);
    let (code, found) = check(&p);
    assert_eq!(code, Some(1));
    let tags = with_rule(&found, "provider/tags");
    assert_eq!(tags.len(), found.len(), "only provider/tags: {found:#?}");
    let on = |target: &str| -> Vec<&Found> {
        tags.iter()
            .copied()
            .filter(|f| f.target == target)
            .collect()
    };

    let aws = on("prod/aws/us-east-1");
    assert_eq!(aws.len(), 1, "{aws:#?}");
    assert_eq!(aws[0].address, "api:tags[\"aws:owner\"]");
    assert!(
        aws[0]
            .message
            .contains("tag key `aws:owner`: tag key: the aws: prefix (in any letter case) is reserved for AWS use"),
        "{}",
        aws[0].message
    );
    assert!(aws[0].hint.contains("strata providers show aws"));
    assert_eq!(aws[0].at, "layers/base/api.yaml:7");

    let azure = on("prod/azure/westeurope");
    assert_eq!(azure.len(), 1, "{azure:#?}");
    assert!(
        azure[0].message.contains("tag key `cost<center`")
            && azure[0]
                .message
                .contains("tag names must not contain any of the characters < > % & \\ ? /"),
        "{}",
        azure[0].message
    );

    // GCP: the shared labels map (upper case key, 64-character value); AWS and Azure
    // accept both, GCP targets report them.
    for target in ["prod/gcp/europe-west1", "dev/gcp/us-east1"] {
        let gcp = on(target);
        let mut messages: Vec<_> = gcp.iter().map(|f| f.message.as_str()).collect();
        messages.sort();
        assert_eq!(messages.len(), 2, "{gcp:#?}");
        assert!(
            messages[0].starts_with(
                "label `desc`: label value must be at most 63 characters long (it has 64)"
            ),
            "{messages:?}"
        );
        assert!(
            messages[1].starts_with("label key `Team`: label key must match"),
            "{messages:?}"
        );
    }
    assert_eq!(
        tags.len(),
        6,
        "1 aws + 1 azure + 2 x 2 gcp: nothing on another provider's target"
    );
}

#[test]
fn naming_formats_report_the_rule_that_failed() {
    let schema = r#"$schema: https://json-schema.org/draft/2020-12/schema
type: object
properties:
  s3: { type: string, format: aws-s3-bucket-name }
  account: { type: string, format: azure-storage-account-name }
  vault: { type: string, format: azure-key-vault-name }
  project: { type: string, format: gcp-project-id }
  good: { type: string, format: gcp-bucket-name }
"#;
    let layer = "s3: My_Bucket\naccount: acme-prod\nvault: kv--x\nproject: my-google-proj\ngood: acme-prod-media\n";
    let p = cloud_project(schema, layer);
    let (code, found) = check(&p);
    assert_eq!(code, Some(1));
    // Naming formats do not depend on the target's provider: every target reports them.
    let mut by_rule: BTreeMap<&str, Vec<&Found>> = BTreeMap::new();
    for f in &found {
        by_rule.entry(f.rule.as_str()).or_default().push(f);
    }
    let expect = [
        (
            "provider/aws-s3-bucket-name",
            "S3 bucket name (general purpose bucket) must match",
            "layers/base/api.yaml:1",
        ),
        (
            "provider/azure-storage-account-name",
            "Storage account name (globally unique) must match `^[a-z0-9]+$`",
            "layers/base/api.yaml:2",
        ),
        (
            "provider/azure-key-vault-name",
            "Key Vault name (globally unique): must not contain consecutive hyphens",
            "layers/base/api.yaml:3",
        ),
        (
            "provider/gcp-project-id",
            "Project ID (globally unique, immutable): must not contain the restricted string google",
            "layers/base/api.yaml:4",
        ),
    ];
    assert_eq!(
        by_rule.keys().copied().collect::<Vec<_>>(),
        {
            let mut r: Vec<_> = expect.iter().map(|e| e.0).collect();
            r.sort();
            r
        },
        "{found:#?}"
    );
    for (rule, message, at) in expect {
        let fs = &by_rule[rule];
        assert_eq!(fs.len(), 4, "one per target: {fs:#?}");
        for f in fs {
            assert!(f.message.contains(message), "{rule}: {}", f.message);
            assert_eq!(f.at, at);
            let format = rule.trim_start_matches("provider/");
            assert!(
                f.hint.contains(&format!("`format: {format}`")),
                "{}",
                f.hint
            );
        }
    }
}

#[test]
fn a_region_of_another_provider_names_that_provider() {
    let schema = r#"$schema: https://json-schema.org/draft/2020-12/schema
type: object
properties:
  primary: { type: string, format: cloud-region }
  replica: { type: string, format: cloud-region }
  size: { type: string, format: instance-size }
  azure_region: { type: string, format: azure-region }
"#;
    let layer =
        "primary: ${region}\nreplica: eastus\nsize: ${size:medium}\nazure_region: westeurope\n";
    let p = cloud_project(schema, layer);
    let (_, found) = check(&p);
    assert_eq!(found.len(), 3, "aws and both gcp targets: {found:#?}");
    for f in &found {
        assert_eq!(f.rule, "provider/cloud-region");
        assert_eq!(f.address, "api:replica");
        let provider = f.target.split('/').nth(1).unwrap();
        assert_ne!(provider, "azure");
        assert_eq!(
            f.message,
            format!("`eastus` is a region of azure, not of {provider}")
        );
    }
    // A size of another cloud is not an instance size of this one.
    p.write(
        "layers/base/api.yaml",
        "primary: ${region}\nreplica: ${region}\nsize: t3.medium\nazure_region: westeurope\n",
    );
    let (_, found) = check(&p);
    let targets: Vec<_> = found.iter().map(|f| f.target.as_str()).collect();
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(!targets.contains(&"prod/aws/us-east-1"), "{targets:?}");
    assert!(found.iter().all(|f| f.rule == "provider/instance-size"));
    assert!(
        found
            .iter()
            .any(|f| f.message == "`t3.medium` is not a Microsoft Azure instance size")
    );
}

// ---------------------------------------------------------------------------------------
// Project providers

const ONPREM: &str = r#"name: onprem
display: Acme data centres
regions:
  - name: dc-1
    display: Frankfurt DC
    zones: [dc-1a, dc-1b]
vars:
  dns_suffix: dc.acme.internal
names:
  vm-name:
    description: "On-prem VM name"
    min: 3
    max: 15
    pattern: "^[a-z][a-z0-9-]*$"
tags:
  word: tag
  max_count: 3
  key: { min: 1, max: 16, pattern: "^[a-z]+$" }
  value: { min: 0, max: 32 }
vocabulary:
  size: { medium: vm.m4, large: vm.l8 }
  storage: { standard: ceph-ssd }
"#;

fn onprem_project(layer: &str) -> Fixture {
    project(&[
        (
            "strata.yaml",
            r#"version: 1
environments:
  - name: prod
providers: [aws, onprem]
targets:
  - prod/aws/us-east-1
  - prod/aws/us-private-1
  - prod/onprem/dc-1
hierarchy:
  - base
teams:
  web: { owners: [ana] }
services:
  api: { team: web, schema: schemas/api.yaml }
"#,
        ),
        (
            "schemas/api.yaml",
            r#"$schema: https://json-schema.org/draft/2020-12/schema
type: object
properties:
  region: { type: string, format: cloud-region }
  size: { type: string, format: instance-size }
  tags: { type: object, x-strata-tags: true }
  vm:
    type: string
    x-strata-provider:
      onprem: { format: onprem-vm-name }
"#,
        ),
        ("providers/onprem.yaml", ONPREM),
        (
            "providers/aws.yaml",
            "# the private region of our AWS account\nname: aws\nregions:\n  - { name: us-private-1, display: US Private, zones: [us-private-1a] }\n",
        ),
        ("layers/base/api.yaml", layer),
    ])
}

#[test]
fn a_project_provider_resolves_validates_and_is_listed() {
    let p = onprem_project(
        "region: ${region}\nsize: ${size:medium}\nstore: ${storage:standard}\ndns: api.${vars.dns_suffix}\ntags: { team: web }\nvm: api-01\n",
    );
    let got = resolve(&p, "prod/onprem/dc-1");
    assert_eq!(
        got,
        json!({"region": "dc-1", "size": "vm.m4", "store": "ceph-ssd", "dns": "api.dc.acme.internal", "tags": {"team": "web"}, "vm": "api-01"})
    );
    let aws = resolve(&p, "prod/aws/us-east-1");
    assert_eq!(aws["size"], json!("t3.medium"));
    assert_eq!(aws["dns"], json!("api.amazonaws.com"));
    // The extended aws keeps its built-in regions and gains the private one: no finding.
    let (code, found) = check(&p);
    assert_eq!((code, found.as_slice()), (Some(0), &[][..]));

    // Listed with its source; `show` works in text and JSON.
    let list = p.run(&["providers"]).ok().stdout;
    let line = |name: &str| {
        list.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} listed:\n{list}"))
            .to_string()
    };
    assert!(line("onprem").contains("Acme data centres"), "{list}");
    assert!(line("onprem").ends_with("providers/onprem.yaml"), "{list}");
    assert!(
        line("aws").ends_with("built-in + providers/aws.yaml"),
        "{list}"
    );
    assert!(line("gcp").ends_with("built-in"), "{list}");
    let rows = p.run(&["providers", "--json"]).ok().json();
    let onprem = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "onprem")
        .expect("onprem in JSON");
    assert_eq!(onprem["regions"], json!(1));
    let show = p.run(&["providers", "show", "onprem"]).ok().stdout;
    for needle in [
        "onprem — Acme data centres (providers/onprem.yaml)",
        "dc-1",
        "Frankfurt DC",
        "medium=vm.m4",
        "onprem-vm-name",
        "onprem-tag-key",
        "at most 3 tags per resource",
        "dns_suffix",
    ] {
        assert!(show.contains(needle), "`{needle}` in:\n{show}");
    }
    let json = catalog(&p.root(), "onprem");
    assert_eq!(
        json["vocabulary"]["size"],
        json!({"medium": "vm.m4", "large": "vm.l8"})
    );
    assert_eq!(json["regions"][0]["zones"], json!(["dc-1a", "dc-1b"]));
    assert!(
        json["names"]["onprem-vm-name"]
            .as_str()
            .unwrap()
            .contains("3–15")
    );
    let aws = catalog(&p.root(), "aws");
    let regions: Vec<_> = aws["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(regions.contains(&"us-private-1") && regions.contains(&"us-east-1"));
    // Outside any project only the built-in catalogs exist.
    run(p.outer(), &["providers", "show", "onprem"]).expect(2);
}

#[test]
fn a_project_providers_formats_tags_and_vocabulary_are_enforced() {
    let p = onprem_project(
        "region: ${region}\nsize: ${size:medium}\ntags: { Team: web, a: b, c: d, e: f }\nvm: API_01\n",
    );
    let (code, found) = check(&p);
    assert_eq!(code, Some(1));
    let onprem: Vec<_> = found
        .iter()
        .filter(|f| f.target == "prod/onprem/dc-1")
        .collect();
    let rules: Vec<_> = onprem.iter().map(|f| f.rule.as_str()).collect();
    assert!(rules.contains(&"provider/onprem-vm-name"), "{found:#?}");
    let vm = onprem
        .iter()
        .find(|f| f.rule == "provider/onprem-vm-name")
        .unwrap();
    assert!(
        vm.message.contains("On-prem VM name must match"),
        "{}",
        vm.message
    );
    let tags: Vec<_> = onprem
        .iter()
        .filter(|f| f.rule == "provider/tags")
        .collect();
    assert!(
        tags.iter()
            .any(|f| f.message == "4 tags, more than the 3 onprem allows"),
        "{tags:#?}"
    );
    assert!(
        tags.iter().any(|f| f.message.starts_with("tag key `Team`")),
        "{tags:#?}"
    );
    // The vm overlay is onprem's only; aws tags allow `Team` and 4 tags.
    assert!(
        found
            .iter()
            .filter(|f| f.target.starts_with("prod/aws/"))
            .all(|f| f.rule != "provider/onprem-vm-name" && f.rule != "provider/tags"),
        "{found:#?}"
    );

    // Without providers/aws.yaml, us-private-1 is no aws region.
    p.remove("providers/aws.yaml");
    p.write("layers/base/api.yaml", "region: ${region}\n");
    let (_, found) = check(&p);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].rule, "provider/cloud-region");
    assert_eq!(found[0].target, "prod/aws/us-private-1");
    assert_eq!(
        found[0].message,
        "`us-private-1` is not a Amazon Web Services region"
    );
    // An onprem name the catalog lacks.
    p.write("layers/base/api.yaml", "size: ${size:small}\n");
    let r = p
        .run(&["resolve", "api", "--target", "prod/onprem/dc-1"])
        .expect(1);
    assert!(
        r.stderr
            .contains("unknown size `small`; known: large, medium"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_malformed_project_catalog_is_a_located_error() {
    let p = onprem_project("a: 1\n");
    p.write("providers/onprem.yaml", "name: onprem\nbogus: 1\n");
    let r = p.run(&["providers"]).expect(1);
    assert!(r.stderr.contains("providers/onprem.yaml:2"), "{}", r.stderr);
    assert!(r.stderr.contains("unknown key `bogus`"), "{}", r.stderr);
}

// ---------------------------------------------------------------------------------------
// Unknown providers

#[test]
fn unknown_providers_are_refused() {
    let p = cloud_project(OPEN_SCHEMA, "name: api\n$provider:\n  awz: { x: 1 }\n");
    let r = p
        .run(&["resolve", "api", "--target", "prod/aws/us-east-1"])
        .expect(1);
    assert!(
        r.stderr
            .contains("layers/base/api.yaml:3:3: unknown provider `awz` in `$provider` block"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("aws, azure, gcp"), "{}", r.stderr);
    p.run(&["check"]).expect(1);

    let schema = r#"$schema: https://json-schema.org/draft/2020-12/schema
type: object
properties:
  name:
    type: string
    x-strata-provider:
      nope: { maxLength: 3 }
"#;
    let p = cloud_project(schema, "name: api\n");
    let (code, found) = check(&p);
    assert_eq!(code, Some(1));
    let invalid = with_rule(&found, "schema/invalid");
    assert!(!invalid.is_empty(), "{found:#?}");
    assert!(
        invalid[0]
            .message
            .contains("`x-strata-provider` names unknown provider `nope`"),
        "{invalid:#?}"
    );
    assert_eq!(invalid[0].at, "schemas/api.yaml:7");

    let r = p.run(&["providers", "show", "nope"]).expect(2);
    assert!(r.stderr.contains("unknown provider `nope`"), "{}", r.stderr);
    assert!(r.stderr.contains("aws, azure, gcp, mock"), "{}", r.stderr);
    run(p.outer(), &["providers", "show", "nope"]).expect(2);
    p.run(&["providers", "list", "aws", "more"]).expect(2);
}

// ---------------------------------------------------------------------------------------
// strata render

fn render_project() -> Fixture {
    let p = cloud_project(
        OPEN_SCHEMA,
        "name: ${service}-${env}\nsize: ${size:medium}\nregion: ${region}\nbucket: acme-${env}-${region}\n",
    );
    p.write(
        "layers/base/worker.yaml",
        "api_size: ${ref:api:size}\nstorage: ${storage:archive}\n",
    );
    let cfg = std::fs::read_to_string(p.root().join("strata.yaml")).unwrap();
    p.write(
        "strata.yaml",
        cfg.replace(
            "  api: { team: web, schema: schemas/api.yaml }\n",
            "  api: { team: web, schema: schemas/api.yaml }\n  worker: { team: web, consumes: [api] }\n",
        ),
    );
    p
}

fn no_leftovers(dir: &Path) {
    let names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(names.is_empty(), "temporary directories left: {names:?}");
}

#[test]
fn render_writes_one_file_per_target_and_service_of_the_provider() {
    let p = render_project();
    let out = p.outer().join("out");
    let out_s = out.to_str().unwrap();
    p.run(&["render", "--provider", "gcp", "--out", out_s]).ok();
    let tree = read_tree(&out);
    assert_eq!(
        tree.keys().cloned().collect::<Vec<_>>(),
        [
            "dev/gcp/us-east1/api.json",
            "dev/gcp/us-east1/worker.json",
            "prod/gcp/europe-west1/api.json",
            "prod/gcp/europe-west1/worker.json",
        ]
    );
    for (rel, bytes) in &tree {
        let parts: Vec<_> = rel.split('/').collect();
        let target = parts[..3].join("/");
        let service = parts[3].trim_end_matches(".json");
        let file: Json = serde_json::from_slice(bytes).expect("JSON file");
        let resolved = p
            .run(&["resolve", service, "--target", &target, "--format", "json"])
            .ok()
            .json();
        assert_eq!(file, resolved, "{rel} equals strata resolve");
    }
    let prod_api: Json = serde_json::from_slice(&tree["prod/gcp/europe-west1/api.json"]).unwrap();
    assert_eq!(prod_api["size"], json!("e2-standard-2"));
    no_leftovers(p.outer());

    // Re-rendering replaces the whole tree (a stale file disappears).
    std::fs::write(out.join("stale.json"), "{}").unwrap();
    p.run(&[
        "render",
        "--provider",
        "gcp",
        "--env",
        "prod",
        "--out",
        out_s,
    ])
    .ok();
    assert_eq!(
        read_tree(&out).keys().cloned().collect::<Vec<_>>(),
        [
            "prod/gcp/europe-west1/api.json",
            "prod/gcp/europe-west1/worker.json"
        ]
    );
    no_leftovers(p.outer());

    // An invalid configuration writes nothing: the old tree stays as it was.
    let before = read_tree(&out);
    p.write("layers/env/prod/api.yaml", "size: ${size:colossal}\n");
    let r = p
        .run(&["render", "--provider", "gcp", "--out", out_s])
        .expect(1);
    assert!(r.stderr.contains("unknown size `colossal`"), "{}", r.stderr);
    assert!(
        r.stderr.contains("layers/env/prod/api.yaml:1:"),
        "{}",
        r.stderr
    );
    assert_eq!(read_tree(&out), before, "the old output is unchanged");
    no_leftovers(p.outer());
    // Rendering into a fresh directory creates nothing either.
    let fresh = p.outer().join("fresh");
    p.run(&[
        "render",
        "--provider",
        "gcp",
        "--out",
        fresh.to_str().unwrap(),
    ])
    .expect(1);
    assert!(!fresh.exists());
}

#[test]
fn render_yaml_and_usage_errors() {
    let p = render_project();
    let out = p.outer().join("yaml");
    let out_s = out.to_str().unwrap();
    p.run(&[
        "render",
        "--provider",
        "aws",
        "--out",
        out_s,
        "--format",
        "yaml",
    ])
    .ok();
    let tree = read_tree(&out);
    assert_eq!(
        tree.keys().cloned().collect::<Vec<_>>(),
        [
            "prod/aws/us-east-1/api.yaml",
            "prod/aws/us-east-1/worker.yaml"
        ]
    );
    let api = parse_as_json(
        std::str::from_utf8(&tree["prod/aws/us-east-1/api.yaml"]).unwrap(),
        strata_core::parse::Format::Yaml,
    );
    let resolved = resolve(&p, "prod/aws/us-east-1");
    assert_eq!(api, resolved);
    assert_eq!(api["size"], json!("t3.medium"));
    let worker = parse_as_json(
        std::str::from_utf8(&tree["prod/aws/us-east-1/worker.yaml"]).unwrap(),
        strata_core::parse::Format::Yaml,
    );
    assert_eq!(
        worker["storage"],
        catalog(&p.root(), "aws")["vocabulary"]["storage"]["archive"]
    );

    let r = p
        .run(&["render", "--provider", "nope", "--out", out_s])
        .expect(2);
    assert!(r.stderr.contains("unknown provider `nope`"), "{}", r.stderr);
    assert!(r.stderr.contains("aws, azure, gcp"), "{}", r.stderr);
    let r = p
        .run(&["render", "--provider", "gcp", "--env", "qa", "--out", out_s])
        .expect(2);
    assert!(
        r.stderr.contains("unknown environment `qa`"),
        "{}",
        r.stderr
    );
    p.run(&[
        "render",
        "--provider",
        "aws",
        "--env",
        "dev",
        "--out",
        out_s,
    ])
    .expect(2);
    p.run(&[
        "render",
        "--provider",
        "gcp",
        "--out",
        out_s,
        "--format",
        "env",
    ])
    .expect(2);
    assert_eq!(read_tree(&out), tree, "failed runs leave the output alone");
}

// ---------------------------------------------------------------------------------------
// Catalog default vars

#[test]
fn catalog_vars_are_defaults_under_strata_yaml_vars() {
    let p = cloud_project(OPEN_SCHEMA, "endpoint: api.${vars.dns_suffix}\n");
    let suffix = |provider: &str| -> String {
        // `strata providers show P` lists the catalog's default vars.
        let show = p.run(&["providers", "show", provider]).ok().stdout;
        let line = show
            .lines()
            .find(|l| l.trim_start().starts_with("dns_suffix = "))
            .unwrap_or_else(|| panic!("dns_suffix in:\n{show}"));
        line.split(" = ")
            .nth(1)
            .unwrap()
            .trim_matches('"')
            .to_string()
    };
    for provider in CLOUDS {
        assert_eq!(
            resolve(&p, target_of(provider))["endpoint"],
            json!(format!("api.{}", suffix(provider))),
            "{provider}"
        );
    }
    assert_eq!(suffix("aws"), "amazonaws.com");
    // aws's catalog has more defaults.
    p.write(
        "layers/provider/aws/api.yaml",
        "arn: arn:${vars.partition}:s3:::x\n",
    );
    assert_eq!(
        resolve(&p, "prod/aws/us-east-1")["arn"],
        json!("arn:aws:s3:::x")
    );

    // strata.yaml vars win: global over the catalog, provider over global, env over that.
    let cfg = std::fs::read_to_string(p.root().join("strata.yaml")).unwrap();
    p.write(
        "strata.yaml",
        format!(
            "{cfg}vars:\n  global: {{ dns_suffix: global.example }}\n  provider:\n    gcp: {{ dns_suffix: gcp.example }}\n  env:\n    dev: {{ dns_suffix: dev.example }}\n"
        ),
    );
    assert_eq!(
        resolve(&p, "prod/aws/us-east-1")["endpoint"],
        json!("api.global.example")
    );
    assert_eq!(
        resolve(&p, "prod/azure/westeurope")["endpoint"],
        json!("api.global.example")
    );
    assert_eq!(
        resolve(&p, "prod/gcp/europe-west1")["endpoint"],
        json!("api.gcp.example")
    );
    assert_eq!(
        resolve(&p, "dev/gcp/us-east1")["endpoint"],
        json!("api.dev.example")
    );
    // `partition` still comes from the catalog.
    assert_eq!(
        resolve(&p, "prod/aws/us-east-1")["arn"],
        json!("arn:aws:s3:::x")
    );
    // No such var anywhere: a located error.
    p.write("layers/base/api.yaml", "endpoint: api.${vars.nothing}\n");
    p.run(&["resolve", "api", "--target", "prod/azure/westeurope"])
        .expect(1);
}

// ---------------------------------------------------------------------------------------
// examples/acme

#[test]
fn acme_uses_the_catalogs_on_every_cloud() {
    let p = acme();
    let cat = |provider: &str| catalog(&p.root(), provider)["vocabulary"].clone();
    let get = |service: &str, target: &str| {
        p.run(&["resolve", service, "--target", target, "--format", "json"])
            .ok()
            .json()
    };
    for (target, provider, key) in [
        ("prod/aws/us-east-1", "aws", "instance_type"),
        ("prod/azure/westeurope", "azure", "vm_size"),
        ("prod/gcp/europe-west1", "gcp", "machine_type"),
    ] {
        let v = cat(provider);
        // prod/aws/us-east-1 picks a bigger instance type for checkout; dev keeps the base's.
        let placed = if provider == "aws" {
            "dev/aws/us-east-1"
        } else {
            target
        };
        assert_eq!(
            get("checkout", placed)["placement"][key],
            v["size"]["large"]
        );
        assert_eq!(
            get("ingest", target)["storage"]["storage_class"],
            v["storage"]["infrequent"]
        );
        assert_eq!(
            get("billing-export", target)["destination"]["archive"]["storage_class"],
            v["storage"]["archive"]
        );
        let auth = get("auth", target);
        assert_eq!(auth["db"]["instance_size"], v["database"]["medium"]);
        assert_eq!(auth["session"]["store"]["node_size"], v["cache"]["medium"]);
        assert_eq!(
            get("ledger", target)["disaster_recovery"]["region"],
            v["region"][if target == "prod/aws/us-east-1" {
                "us-west"
            } else {
                "eu-central"
            }]
        );
    }
    // The catalog's dns_suffix reaches the AWS layers (strata.yaml no longer sets it).
    let gw = get("payments-gateway", "prod/aws/us-east-1");
    assert!(
        gw.to_string().contains("kms.us-east-1.amazonaws.com"),
        "{gw}"
    );
}

#[test]
fn show_of_a_project_provider() {
    // Wholly project-defined, so independent of the built-in catalog data.
    let p = onprem_project("a: 1\n");
    insta::assert_snapshot!(
        "show_onprem",
        p.run(&["providers", "show", "onprem"]).ok().stdout
    );
}
