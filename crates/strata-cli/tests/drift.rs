//! `strata drift` on real project directories: the planted staging/prod differences of
//! `examples/acme`, classification, JSON output, redaction and exit codes.

mod common;

use common::{acme, project};

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
}

#[test]
fn secrets_are_never_shown_and_bad_policies_are_located() {
    let fx = project(&[
        (
            "strata.yaml",
            "version: 1\nenvironments: [{name: staging}, {name: prod}]\nproviders: [aws]\ntargets: [staging/aws/us-east-1, prod/aws/us-east-1]\nhierarchy: [base, \"env/{env}\"]\nservices: {svc: {schema: schemas/svc.yaml}}\n",
        ),
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
    let r = fx.run(&["drift"]).expect(1);
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
