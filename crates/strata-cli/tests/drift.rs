//! `strata drift` on real project directories: the planted staging/prod differences of
//! `examples/acme`, classification, JSON output, redaction and exit codes.

mod common;

use common::{acme, acme_open, project};

/// `strata.yaml` of a one-service project with a staging and a prod target (service
/// `svc`, schema `schemas/svc.yaml`).
const STAGING_PROD: &str = "version: 1\nenvironments: [{name: staging}, {name: prod}]\nproviders: [aws]\ntargets: [staging/aws/us-east-1, prod/aws/us-east-1]\nhierarchy: [base, \"env/{env}\"]\nservices: {svc: {schema: schemas/svc.yaml}}\n";

/// An age key pair: the identity in a file, and the public key as a recipient.
struct Keys {
    _dir: tempfile::TempDir,
    id_file: std::path::PathBuf,
    public: String,
    recipients: strata_store::crypto::Recipients,
}

impl Keys {
    fn new() -> Keys {
        let dir = tempfile::tempdir().unwrap();
        let (secret, public) = strata_store::crypto::generate_identity();
        let id_file = dir.path().join("id.txt");
        std::fs::write(&id_file, format!("{secret}\n")).unwrap();
        let recipients =
            strata_store::crypto::Recipients::parse(std::slice::from_ref(&public)).unwrap();
        Keys {
            _dir: dir,
            id_file,
            public,
            recipients,
        }
    }

    /// The identity file, as a command-line argument.
    fn id(&self) -> &str {
        self.id_file.to_str().unwrap()
    }

    /// `value` encrypted for parameter `param` (each call gives a new ciphertext).
    fn encrypt(&self, value: &str, param: &str) -> String {
        strata_store::crypto::encrypt(value, param, &self.recipients).unwrap()
    }

    /// [`STAGING_PROD`] with these keys as the encryption recipients.
    fn strata_yaml(&self) -> String {
        format!(
            "{STAGING_PROD}encryption:\n  recipients: [{}]\n",
            self.public
        )
    }
}

/// The five undeclared staging/prod differences of examples/acme (see its README), as
/// `param target` pairs, plus the lapsed variation.
const PLANTED: &[(&str, &str, &str)] = &[
    (
        "drift",
        "checkout:http.client.timeout",
        "staging/aws/us-east-1",
    ),
    ("drift", "ledger:db.pool.max_size", "staging/aws/us-east-1"),
    (
        "drift",
        "payments-gateway:retries.max_attempts",
        "staging/aws/us-east-1",
    ),
    (
        "drift",
        "payments-gateway:retries.max_attempts",
        "staging/gcp/europe-west1",
    ),
    (
        "drift",
        "catalog:feature.new_pricing_engine",
        "staging/aws/us-east-1",
    ),
    (
        "drift",
        "catalog:feature.new_pricing_engine",
        "staging/gcp/europe-west1",
    ),
    (
        "drift",
        "notifications:queue.consumer.group",
        "staging/aws/us-east-1",
    ),
    (
        "expired",
        "search:engine.dedicated_master",
        "staging/aws/us-east-1",
    ),
];

#[test]
fn finds_exactly_the_planted_staging_prod_differences() {
    let fx = acme();
    let r = fx
        .run(&[
            "drift",
            "--envs",
            "staging,prod",
            "--today",
            "2026-11-22",
            "--json",
        ])
        .expect(1);
    let v = r.json();
    let mut failing: Vec<(String, String, String)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["fails"] == true)
        .map(|f| {
            (
                f["class"].as_str().unwrap().to_string(),
                f["param"].as_str().unwrap().to_string(),
                f["target"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    failing.sort();
    let mut want: Vec<(String, String, String)> = PLANTED
        .iter()
        .map(|(c, p, t)| (c.to_string(), p.to_string(), t.to_string()))
        .collect();
    want.sort();
    assert_eq!(failing, want);
    // Provenance of the staging value is the planted override.
    let timeout = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["param"] == "checkout:http.client.timeout")
        .unwrap();
    assert_eq!(timeout["reference"], "prod/aws/us-east-1");
    assert_eq!(timeout["value"], "\"30s\"");
    assert_eq!(timeout["reference_value"], "\"5s\"");
    assert_eq!(
        timeout["at"],
        "layers/target/staging/aws/us-east-1/checkout.yaml:4:14"
    );
    // Before the variation lapsed, it explains the missing master setting.
    let r = fx
        .run(&[
            "drift",
            "--envs",
            "staging,prod",
            "--today",
            "2026-09-30",
            "--json",
        ])
        .expect(1);
    let v = r.json();
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["class"] != "expired"),
        "{v}"
    );
}

#[test]
fn text_report_and_exit_codes() {
    let fx = acme();
    let r = fx
        .run(&[
            "drift",
            "--envs",
            "staging,prod",
            "--service",
            "checkout",
            "--today",
            "2026-11-22",
        ])
        .expect(1);
    assert!(r.stdout.contains("drift     checkout:http.client.timeout  prod/aws/us-east-1 vs staging/aws/us-east-1: \"5s\" -> \"30s\""), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("set at layers/target/staging/aws/us-east-1/checkout.yaml:4:14"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.trim_end().ends_with("expected"), "{}", r.stdout);
    // A service with only intended differences passes the gate.
    fx.run(&[
        "drift",
        "--envs",
        "staging,prod",
        "--service",
        "auth",
        "--today",
        "2026-11-22",
    ])
    .ok();
    // Usage errors exit 2.
    let r = fx.run(&["drift", "--envs", "qa"]).expect(2);
    assert!(
        r.stderr.contains("unknown environment `qa`"),
        "{}",
        r.stderr
    );
    let r = fx.run(&["drift", "--today", "tomorrow"]).expect(2);
    assert!(r.stderr.contains("YYYY-MM-DD"), "{}", r.stderr);
    // The reference environment alone compares nothing (and does not crash).
    let r = fx.run(&["drift", "--envs", "prod", "--json"]).ok().json();
    assert_eq!(r["findings"], serde_json::json!([]));
    assert_eq!(r["dead_rules"], serde_json::json!([]));
}

#[test]
fn secrets_are_never_shown_and_bad_policies_are_located() {
    let fx = project(&[
        ("strata.yaml", STAGING_PROD),
        (
            "schemas/svc.yaml",
            "type: object\nproperties:\n  password: {type: string, x-strata-secret: true}\n",
        ),
        (
            "layers/env/staging/svc.yaml",
            "password: \"ENC[AGE,stagingsecret]\"\nsize: 1\n",
        ),
        (
            "layers/env/prod/svc.yaml",
            "password: \"ENC[AGE,prodsecret]\"\nsize: 2\n",
        ),
    ]);
    let r = fx.run(&["drift", "--json"]).expect(1);
    assert!(
        !r.stdout.contains("stagingsecret") && !r.stdout.contains("prodsecret"),
        "{}",
        r.stdout
    );
    let r = fx.run(&["drift"]).expect(1);
    assert!(
        r.stdout.contains("svc:password") && r.stdout.contains("differs"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("secret\""), "{}", r.stdout);
    fx.write(
        "policies/variations.yaml",
        "variations:\n  - {params: [\"svc:password\", \"svc:size\"], kind: may-differ, reason: per env}\n",
    );
    fx.run(&["drift"]).ok();
    fx.write(
        "policies/variations.yaml",
        "variations:\n  - {params: [\"svc:size\"], kind: maybe, reason: x}\n",
    );
    // An invalid policy is an error (2), not drift (1).
    let r = fx.run(&["drift"]).expect(2);
    assert!(
        r.stderr.contains("policies/variations.yaml:2:") && r.stderr.contains("may-differ"),
        "{}",
        r.stderr
    );
}

#[test]
fn ack_records_a_finding_as_intended_keeping_the_policy_file() {
    let fx = acme();
    let before = std::fs::read_to_string(fx.root().join("policies/variations.yaml")).unwrap();
    let v = fx
        .run(&[
            "drift",
            "--envs",
            "staging,prod",
            "--today",
            "2026-11-22",
            "--json",
        ])
        .expect(1)
        .json();
    let id = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["param"] == "ledger:db.pool.max_size")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = fx
        .run(&[
            "drift",
            "ack",
            &id,
            "--reason",
            "load test in staging",
            "--owner",
            "ledger",
            "--expires",
            "2027-01-31",
            "--today",
            "2026-11-22",
        ])
        .ok();
    assert!(
        r.stdout.contains("ledger:db.pool.max_size is now expected"),
        "{}",
        r.stdout
    );
    let after = std::fs::read_to_string(fx.root().join("policies/variations.yaml")).unwrap();
    assert!(
        after.starts_with(&before),
        "the existing rules and comments are kept"
    );
    assert!(
        after.contains("reason: load test in staging") && after.contains("expires: 2027-01-31"),
        "{after}"
    );
    let v = fx
        .run(&[
            "drift",
            "--envs",
            "staging,prod",
            "--today",
            "2026-11-22",
            "--json",
        ])
        .expect(1)
        .json();
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["param"] == "ledger:db.pool.max_size")
        .unwrap()
        .clone();
    assert_eq!(f["class"], "expected", "{f}");
    assert_eq!(f["rule"], "load test in staging");
    // After the acknowledgement lapses, the difference is reported as expired.
    let v = fx
        .run(&[
            "drift",
            "--envs",
            "staging,prod",
            "--today",
            "2027-02-01",
            "--json",
        ])
        .expect(1)
        .json();
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["param"] == "ledger:db.pool.max_size" && f["class"] == "expired")
    );
    // Unknown ids and empty reasons are usage errors that write nothing.
    let r = fx
        .run(&["drift", "ack", "nosuch", "--reason", "x"])
        .expect(2);
    assert!(r.stderr.contains("no finding `nosuch`"), "{}", r.stderr);
    fx.run(&["drift", "ack", &id, "--reason", " "]).expect(2);
    assert_eq!(
        std::fs::read_to_string(fx.root().join("policies/variations.yaml")).unwrap(),
        after
    );
}

#[test]
fn rules_that_match_nothing_are_reported_as_dead_policy() {
    let fx = acme();
    let r = fx
        .run(&[
            "drift",
            "--envs",
            "staging,prod",
            "--today",
            "2026-11-22",
            "--json",
        ])
        .expect(1);
    assert_eq!(
        r.json()["dead_rules"],
        serde_json::json!([]),
        "acme's rules all apply"
    );
    let path = fx.root().join("policies/variations.yaml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(
        "  - params: [\"checkout:no.such.param\"]\n    kind: may-differ\n    reason: left over\n",
    );
    std::fs::write(&path, &text).unwrap();
    let line = text.lines().count() - 2;
    let r = fx
        .run(&["drift", "--envs", "staging,prod", "--today", "2026-11-22"])
        .expect(1);
    assert!(
        r.stderr.contains(&format!(
            "warning: policies/variations.yaml:{line}: rule #18 (left over) matches no parameter"
        )),
        "{}",
        r.stderr
    );
    let v = fx
        .run(&[
            "drift",
            "--envs",
            "staging,prod",
            "--today",
            "2026-11-22",
            "--json",
        ])
        .expect(1)
        .json();
    assert_eq!(v["dead_rules"][0]["reason"], "left over");
}

/// The failing findings of a JSON report as `(class, param, target)`, sorted.
fn failing(v: &serde_json::Value) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["fails"] == true)
        .map(|f| {
            (
                f["class"].as_str().unwrap().to_string(),
                f["param"].as_str().unwrap().to_string(),
                f["target"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_planted_difference_comes_with_a_suggestion_from_provenance() {
    let fx = acme();
    let v = fx
        .run(&[
            "drift",
            "--envs",
            "staging,prod",
            "--today",
            "2026-11-22",
            "--json",
        ])
        .expect(1)
        .json();
    let find = |param: &str, target: &str| {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["param"] == param && f["target"] == target)
            .unwrap_or_else(|| panic!("no finding for {param} {target}: {v}"))
            .clone()
    };
    // The planted override is removed; the value falls back to the reference's.
    let timeout = find("checkout:http.client.timeout", "staging/aws/us-east-1");
    let first = &timeout["suggestions"][0];
    assert_eq!(first["action"], "remove-override", "{timeout}");
    assert_eq!(
        first["file"],
        "layers/target/staging/aws/us-east-1/checkout.yaml"
    );
    assert_eq!(first["line"], 4);
    assert_eq!(first["becomes"], "\"5s\"");
    assert_eq!(first["fixes"], true);
    assert_eq!(timeout["suggestions"][1]["action"], "set-value");
    let last = timeout["suggestions"].as_array().unwrap().last().unwrap();
    assert_eq!(last["action"], "declare-variation");
    assert!(
        last["snippet"]
            .as_str()
            .unwrap()
            .contains("params: [\"checkout:http.client.timeout\"]"),
        "{last}"
    );
    // An env-wide override is removed from the env layer.
    let retries = find(
        "payments-gateway:retries.max_attempts",
        "staging/gcp/europe-west1",
    );
    assert_eq!(
        retries["suggestions"][0]["file"],
        "layers/env/staging/payments-gateway.yaml"
    );
    // Absent in staging: prod's value is set at the level prod sets it, mirrored.
    let master = find("search:engine.dedicated_master", "staging/aws/us-east-1");
    assert_eq!(master["suggestions"][0]["action"], "set-value", "{master}");
    assert_eq!(
        master["suggestions"][0]["file"],
        "layers/env/staging/aws/search.yaml"
    );
    assert_eq!(master["suggestions"][0]["create"], true);
    assert_eq!(master["suggestions"][0]["value"], "true");
    // Every failing planted finding has a layer edit to offer.
    for (_, param, target) in PLANTED {
        let f = find(param, target);
        assert!(
            f["suggestions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["action"] != "declare-variation"),
            "{f}"
        );
    }
    // The text report words the first option.
    let r = fx.run(&["drift", "--envs", "staging,prod", "--today", "2026-11-22"]);
    assert!(
        r.stdout.contains("fix: remove http.client.timeout at layers/target/staging/aws/us-east-1/checkout.yaml:4 so staging/aws/us-east-1 gets \"5s\" (then both agree)"),
        "{}",
        r.stdout
    );
}

#[test]
fn the_patch_applies_with_git_apply_and_the_drift_is_gone() {
    let fx = acme();
    // The project is a subdirectory of the repository: the patch's paths say so.
    common::git(fx.outer(), &["init", "-q"]);
    common::git(fx.outer(), &["add", "-A"]);
    common::git(fx.outer(), &["commit", "-q", "-m", "acme"]);
    let r = fx
        .run(&[
            "drift",
            "--envs",
            "staging,prod",
            "--today",
            "2026-11-22",
            "--patch",
        ])
        .ok();
    assert!(
        r.stderr
            .contains("the patch repairs 8 of 8 failing findings"),
        "{}",
        r.stderr
    );
    assert!(
        r.stdout
            .contains("--- a/proj/layers/env/staging/payments-gateway.yaml"),
        "{}",
        r.stdout
    );
    // Comments and the other keys of an edited file stay.
    assert!(r.stdout.contains("-  max_attempts: 5"), "{}", r.stdout);
    let patch = fx.outer().join("drift.patch");
    std::fs::write(&patch, &r.stdout).unwrap();
    common::git(fx.outer(), &["apply", "--check", "drift.patch"]);
    common::git(fx.outer(), &["apply", "drift.patch"]);

    let v = fx
        .run(&[
            "drift",
            "--envs",
            "staging,prod",
            "--today",
            "2026-11-22",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(failing(&v), Vec::<(String, String, String)>::new(), "{v}");
    // Nothing else changed: every other environment compares as before.
    let all = fx.run(&["drift", "--today", "2026-11-22", "--json"]).json();
    assert!(
        !failing(&all)
            .iter()
            .any(|(_, _, t)| t.starts_with("staging/")),
        "{all}"
    );
    // A second patch has nothing left to do.
    let r = fx
        .run(&[
            "drift",
            "--envs",
            "staging,prod",
            "--today",
            "2026-11-22",
            "--patch",
        ])
        .ok();
    assert_eq!(r.stdout, "");
    // --patch edits the working tree: it cannot be combined with a stored revision.
    fx.run(&["drift", "--patch", "--rev", "HEAD"]).expect(2);
}

#[test]
fn markdown_report() {
    let fx = acme();
    let r = fx
        .run(&[
            "drift",
            "--envs",
            "staging,prod",
            "--service",
            "checkout",
            "--service",
            "search",
            "--today",
            "2026-11-22",
            "--format",
            "markdown",
        ])
        .expect(1);
    insta::assert_snapshot!(r.stdout);
}

#[test]
fn provider_vocabulary_makes_equivalent_sizes_equal() {
    let fx = acme();
    let v = fx
        .run(&[
            "drift",
            "--target",
            "staging/gcp/europe-west1",
            "--target",
            "prod/aws/us-east-1",
            "--all",
            "--json",
        ])
        .json();
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["param"] == "recommendations:placement.retrieval_node_size")
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(f["reference"], "prod/aws/us-east-1");
    assert_eq!(f["target"], "staging/gcp/europe-west1");
    assert_eq!(f["reference_value"], "\"t3.medium\"");
    assert_eq!(f["value"], "\"e2-standard-2\"");
    assert_eq!(f["class"], "expected");
    assert_eq!(f["vocabulary"], "size:medium");
}

#[test]
fn schemas_declare_variations_and_rules_name_their_file() {
    let fx = project(&[
        ("strata.yaml", STAGING_PROD),
        (
            "schemas/svc.yaml",
            "type: object\nproperties:\n  replicas:\n    type: integer\n    x-strata-variation: {kind: may-differ, reason: sized per environment}\n  region:\n    type: string\n    x-strata-variation: {kind: must-equal, reason: one region}\n",
        ),
        ("layers/env/staging/svc.yaml", "replicas: 1\nregion: a\n"),
        ("layers/env/prod/svc.yaml", "replicas: 6\nregion: b\n"),
    ]);
    let v = fx.run(&["drift", "--all", "--json"]).expect(1).json();
    let class = |p: &str| {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["param"] == p)
            .map(|f| (f["class"].clone(), f["rule_at"].clone()))
            .unwrap()
    };
    assert_eq!(class("svc:replicas").0, "expected");
    assert_eq!(class("svc:replicas").1, "schemas/svc.yaml:5");
    assert_eq!(class("svc:region").0, "violation");
    // A bad annotation is an error located in the schema.
    fx.write(
        "schemas/svc.yaml",
        "type: object\nproperties:\n  replicas:\n    x-strata-variation: {kind: sometimes, reason: r}\n",
    );
    let r = fx.run(&["drift"]).expect(2);
    assert!(
        r.stderr.contains("schemas/svc.yaml:4:") && r.stderr.contains("unknown variation kind"),
        "{}",
        r.stderr
    );
}

#[test]
fn desired_against_actual() {
    let fx = acme();
    let desired = fx
        .run(&[
            "resolve",
            "checkout",
            "--target",
            "prod/aws/us-east-1",
            "--format",
            "json",
        ])
        .ok()
        .json();
    // A running system: the autoscaler changed replicas (a may-differ parameter), someone
    // hot-patched the timeout, a key vanished and one appeared.
    let mut actual = desired.clone();
    actual["replicas"] = serde_json::json!(17);
    actual["http"]["client"]["timeout"] = serde_json::json!("45s");
    actual["log"].as_object_mut().unwrap().remove("level");
    actual["debug_port"] = serde_json::json!(5005);
    fx.write(
        "running.json",
        serde_json::to_string_pretty(&actual).unwrap(),
    );
    let v = fx
        .run(&[
            "drift",
            "--actual",
            "running.json",
            "--target",
            "prod/aws/us-east-1",
            "--service",
            "checkout",
            "--all",
            "--json",
        ])
        .expect(1)
        .json();
    let mut got: Vec<(String, String)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["param"].as_str().unwrap().to_string(),
                f["class"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("checkout:debug_port".to_string(), "missing".to_string()),
            (
                "checkout:http.client.timeout".to_string(),
                "drift".to_string()
            ),
            ("checkout:log.level".to_string(), "missing".to_string()),
            ("checkout:replicas".to_string(), "expected".to_string()),
        ]
    );
    let timeout = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["param"] == "checkout:http.client.timeout")
        .unwrap();
    assert_eq!(timeout["reference"], "prod/aws/us-east-1 (desired)");
    assert_eq!(timeout["target"], "prod/aws/us-east-1 (actual)");
    assert!(timeout["at"].as_str().unwrap().starts_with("running.json:"));

    // The `{service: configuration}` shape, as YAML, without --service.
    fx.write(
        "running.yaml",
        format!("checkout: {}\n", serde_json::to_string(&desired).unwrap()),
    );
    fx.run(&[
        "drift",
        "--actual",
        "running.yaml",
        "--target",
        "prod/aws/us-east-1",
    ])
    .ok();
    // Errors name the problem: an unknown service key, a missing target, a bad file.
    fx.write("bad.yaml", "checkout: {}\nnosuch: {}\n");
    let r = fx
        .run(&[
            "drift",
            "--actual",
            "bad.yaml",
            "--target",
            "prod/aws/us-east-1",
        ])
        .expect(2);
    assert!(
        r.stderr.contains("bad.yaml:2") && r.stderr.contains("`nosuch`"),
        "{}",
        r.stderr
    );
    let r = fx.run(&["drift", "--actual", "bad.yaml"]).expect(2);
    assert!(r.stderr.contains("exactly one --target"), "{}", r.stderr);
    fx.write("broken.json", "{\"a\": ");
    let r = fx
        .run(&[
            "drift",
            "--actual",
            "broken.json",
            "--target",
            "prod/aws/us-east-1",
            "-s",
            "checkout",
        ])
        .expect(2);
    assert!(r.stderr.contains("broken.json"), "{}", r.stderr);
}

#[test]
fn actual_secrets_are_compared_only_with_an_identity_and_never_shown() {
    let fx = project(&[
        (
            "strata.yaml",
            "version: 1\nenvironments: [{name: prod}]\nproviders: [aws]\ntargets: [prod/aws/us-east-1]\nhierarchy: [base]\nservices: {svc: {schema: schemas/svc.yaml}}\n",
        ),
        (
            "schemas/svc.yaml",
            "type: object\nproperties:\n  password: {type: string, x-strata-secret: true}\n",
        ),
        (
            "layers/base/svc.yaml",
            "password: \"ENC[AGE,ciphertext]\"\nsize: 1\n",
        ),
    ]);
    fx.write("actual.json", "{\"password\": \"hunter2\", \"size\": 1}");
    let r = fx
        .run(&[
            "drift",
            "--actual",
            "actual.json",
            "--target",
            "prod/aws/us-east-1",
            "--service",
            "svc",
        ])
        .ok();
    assert!(!r.stdout.contains("hunter2"), "{}", r.stdout);
    assert!(
        r.stdout.contains("1 secret parameter(s) were not compared"),
        "{}",
        r.stdout
    );
    fx.write("actual.json", "{\"size\": 1}");
    let r = fx
        .run(&[
            "drift",
            "--actual",
            "actual.json",
            "--target",
            "prod/aws/us-east-1",
            "--service",
            "svc",
            "--json",
        ])
        .json();
    assert_eq!(r["findings"][0]["param"], "svc:password");
    assert_eq!(r["findings"][0]["class"], "missing");
    assert_eq!(r["findings"][0]["reference_value"], "<redacted>");
}

#[test]
fn since_compares_only_the_services_whose_effective_configuration_changed() {
    let fx = acme_open();
    fx.run(&["import", "-m", "acme"]).ok();
    // One parameter changes in one service's staging layer (the working tree follows).
    fx.run(&[
        "set",
        "ledger:db.pool.min_size",
        "9",
        "--layer",
        "env/staging",
    ])
    .ok();
    fx.run(&["export", "--out", "."]).ok();
    let v = fx
        .run(&[
            "drift",
            "--envs",
            "staging,prod",
            "--since",
            "HEAD~1",
            "--today",
            "2026-11-22",
            "--json",
        ])
        .expect(1)
        .json();
    assert_eq!(
        v["since"]["changed_services"],
        serde_json::json!(["ledger"]),
        "{v}"
    );
    assert_eq!(v["since"]["seq"], 1);
    assert_eq!(v["since"]["compared_seq"], 2);
    let findings = v["findings"].as_array().unwrap();
    assert!(findings.iter().all(|f| f["service"] == "ledger"), "{v}");
    assert!(
        findings
            .iter()
            .any(|f| f["param"] == "ledger:db.pool.min_size" && f["class"] == "drift"),
        "{v}"
    );
    // Nothing changed since HEAD: nothing to compare, the gate passes.
    let r = fx
        .run(&["drift", "--envs", "staging,prod", "--since", "HEAD"])
        .ok();
    assert!(
        r.stdout.contains("0 of 11 services changed"),
        "{}",
        r.stdout
    );
    // A change that leaves every effective value as it was (a comment) changes nothing.
    let path = fx.root().join("layers/env/staging/ledger.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    fx.write(
        "layers/env/staging/ledger.yaml",
        format!("# reviewed\n{text}"),
    );
    fx.run(&["import", "-m", "comment"]).ok();
    let v = fx
        .run(&["drift", "--since", "HEAD~1", "--json"])
        .ok()
        .json();
    // ledger and the services that `${ref:ledger:…}` are candidates; none changed.
    assert!(v["since"]["candidates"].as_u64().unwrap() >= 1, "{v}");
    assert_eq!(v["since"]["changed_services"], serde_json::json!([]), "{v}");
    // A policy change can reclassify anything: every service is a candidate.
    let policy = std::fs::read_to_string(fx.root().join("policies/variations.yaml")).unwrap();
    fx.write("policies/variations.yaml", format!("{policy}\n# touched\n"));
    fx.run(&["import", "-m", "policy"]).ok();
    let v = fx.run(&["drift", "--since", "HEAD~1", "--json"]).json();
    assert_eq!(v["since"]["candidates"], 11, "{v}");
    assert_eq!(
        v["since"]["changed_services"].as_array().unwrap().len(),
        11,
        "{v}"
    );
    // Without a store there is nothing to compare with.
    let plain = acme();
    let r = plain.run(&["drift", "--since", "HEAD"]).expect(2);
    assert!(
        r.stderr.contains("no store") && r.stderr.contains("strata import"),
        "{}",
        r.stderr
    );
}

#[test]
fn shared_secrets_are_found_only_by_comparing_values() {
    let keys = Keys::new();
    // Staging and prod share one password, encrypted separately: different ciphertexts.
    let enc = |v: &str| keys.encrypt(v, "svc:db.password");
    let fx = project(&[
        ("strata.yaml", &keys.strata_yaml()),
        (
            "schemas/svc.yaml",
            "type: object\nproperties:\n  db:\n    properties:\n      password: {type: string, x-strata-secret: true}\n",
        ),
        (
            "policies/variations.yaml",
            "variations:\n  - {params: [\"*:**.password\"], kind: must-differ, reason: per-environment credentials}\n",
        ),
        (
            "layers/env/staging/svc.yaml",
            &format!("db:\n  password: \"{}\"\n", enc("shared-pw")),
        ),
        (
            "layers/env/prod/svc.yaml",
            &format!("db:\n  password: \"{}\"\n", enc("shared-pw")),
        ),
    ]);
    // As ciphertexts they differ, so the rule seems satisfied; the report says why that
    // proves nothing.
    let r = fx.run(&["drift", "--all"]).ok();
    assert!(
        r.stdout.contains("expected  svc:db.password"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("compared as ciphertext"), "{}", r.stdout);
    // With the identity the values are compared: the shared password is a violation,
    // and its value is never shown.
    let id = keys.id();
    let r = fx.run(&["drift", "--identity", id]).expect(1);
    assert!(
        r.stdout.contains("violation svc:db.password") && r.stdout.contains(": equal"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("shared-pw"), "{}", r.stdout);
    let v = fx
        .run(&["drift", "--identity", id, "--json"])
        .expect(1)
        .json();
    assert_eq!(v["findings"][0]["equal"], true);
    assert_eq!(v["findings"][0]["reference_value"], "<redacted>");
    assert!(!v.to_string().contains("shared-pw"));
}

#[test]
fn a_patch_never_writes_a_decrypted_secret() {
    let keys = Keys::new();
    let enc = |v: &str| keys.encrypt(v, "svc:token");
    let prod_cipher = enc("prod-token-value");
    let fx = project(&[
        ("strata.yaml", &keys.strata_yaml()),
        (
            "schemas/svc.yaml",
            "type: object\nproperties:\n  token: {type: string, x-strata-secret: true}\n",
        ),
        (
            "layers/env/staging/svc.yaml",
            &format!("token: \"{}\"\n", enc("staging-token-value")),
        ),
        (
            "layers/env/prod/svc.yaml",
            &format!("token: \"{prod_cipher}\"\n"),
        ),
    ]);
    let id = keys.id();
    // Compared by value they differ: drift. Setting prod's value in staging's layer would
    // need the plaintext, so that option is not offered and the patch leaves it.
    let r = fx.run(&["drift", "--identity", id, "--patch"]).expect(1);
    assert!(!r.stdout.contains("prod-token-value"), "{}", r.stdout);
    assert!(!r.stdout.contains("staging-token-value"), "{}", r.stdout);
    assert!(r.stderr.contains("svc:token"), "{}", r.stderr);
    // Compared as ciphertext, the option copies prod's ciphertext, which stays bound to
    // the parameter and decrypts in staging.
    let r = fx.run(&["drift", "--patch"]).ok();
    assert!(r.stdout.contains(&prod_cipher), "{}", r.stdout);
    assert!(!r.stdout.contains("prod-token-value"), "{}", r.stdout);
}

#[test]
fn a_patch_of_json_layers_across_every_target_repairs_all_drift() {
    // A generated project with JSON layers: 3 environments × 3 providers × 2 regions.
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("gen");
    common::run(
        outer.path(),
        &[
            "gen",
            "--services",
            "3",
            "--params",
            "12",
            "--format",
            "json",
            "--no-schemas",
            "--out",
            "gen",
        ],
    )
    .ok();
    common::git(&root, &["init", "-q"]);
    common::git(&root, &["add", "-A"]);
    common::git(&root, &["commit", "-q", "-m", "generated"]);
    let before = common::run(&root, &["drift", "--today", "2026-11-22", "--json"])
        .expect(1)
        .json();
    let failing_before = failing(&before).len();
    assert!(failing_before > 10, "{before}");
    let r = common::run(&root, &["drift", "--today", "2026-11-22", "--patch"]).ok();
    assert!(
        r.stderr.contains(&format!(
            "repairs {failing_before} of {failing_before} failing findings"
        )),
        "{}",
        r.stderr
    );
    std::fs::write(root.join("fix.patch"), &r.stdout).unwrap();
    common::git(&root, &["apply", "fix.patch"]);
    std::fs::remove_file(root.join("fix.patch")).unwrap();
    let after = common::run(&root, &["drift", "--today", "2026-11-22", "--json"])
        .ok()
        .json();
    assert_eq!(failing(&after), Vec::<(String, String, String)>::new());
    // Every edited file is still JSON the project reads.
    common::run(
        &root,
        &["resolve", "--all", "--target", "prod/aws/us-east-1"],
    )
    .ok();
}
