//! Writes over HTTP: `POST /v1/changes` (201, 202, 400, 403, 409, 422), `POST
//! /v1/validate`, approving and rejecting change requests, token management and
//! `?reveal=true`, against acme (dana.kim admin; marco.silva and priya.shah sre;
//! lena.fischer auditor; alice.nguyen a service owner of payments; prod writes need two
//! approvals from sre or admin).

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use strata_server::seed;
use strata_store::audit::{AuditEntry, AuditFilter, Decision};
use strata_testkit::acme;

use super::{Answer, Running, error_code};

const DEV_REPLICAS: &str = "/v1/config/dev/checkout/replicas?provider=aws";
const PROD_REPLICAS: &str = "/v1/config/prod/checkout/replicas?provider=gcp";

/// A token for `principal`.
fn token(s: &Running, principal: &str) -> String {
    let repo = strata_store::repo::open(s.store()).unwrap();
    seed::create_token(&repo, principal, "test-admin")
        .unwrap()
        .expose()
        .to_string()
}

/// The audit entries of `principal` (oldest first).
fn audit_of(s: &Running, principal: &str) -> Vec<AuditEntry> {
    let repo = strata_store::repo::open(s.store()).unwrap();
    repo.store()
        .audit_entries(&AuditFilter {
            principal: Some(principal.into()),
            ..AuditFilter::default()
        })
        .unwrap()
}

/// A changeset setting `param` in `layer`.
fn set(param: &str, layer: &str, value: Value) -> Value {
    json!({"changes": [{"set": param, "layer": layer, "value": value}]})
}

/// The head revision's id, as the server lists it.
fn head_id(s: &Running) -> String {
    let a = s.get("/v1/revisions/HEAD", Some(s.admin()), None);
    a.body["revision"]["id"].as_str().unwrap().to_string()
}

/// Polls `path` until its `value` is `want` (at most a second).
fn served_within_a_second(s: &Running, path: &str, want: Value) {
    let started = Instant::now();
    loop {
        let a = s.get(path, Some(s.admin()), None);
        if a.body["value"] == want {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{path} still answers {} after a second",
            a.body
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn detail<'a>(a: &'a Answer, key: &str) -> &'a Value {
    &a.body["error"]["details"][key]
}

pub fn a_change_is_committed_and_served(s: &Running) {
    let a = s.post(
        "/v1/changes",
        Some(s.admin()),
        &json!({"message": "three replicas", "changes": [
            {"set": "checkout:replicas", "layer": "env/dev", "value": 3}
        ]}),
    );
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.body["rebased"], false);
    assert_eq!(a.body["revision"]["author"], "dana.kim");
    assert_eq!(a.body["revision"]["message"], "three replicas");
    assert_eq!(a.body["revision"]["seq"], 2);
    served_within_a_second(s, DEV_REPLICAS, json!(3));
    // The write is audited with the allowing rule, stamped with the revision.
    let writes: Vec<AuditEntry> = audit_of(s, "dana.kim")
        .into_iter()
        .filter(|e| e.action == "write")
        .collect();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(writes[0].scope, "dev");
    assert_eq!(writes[0].params, ["checkout:replicas"]);
    assert_eq!(
        writes[0].revision.as_deref(),
        a.body["revision"]["id"].as_str()
    );
    assert!(
        writes[0]
            .rule
            .as_deref()
            .unwrap()
            .starts_with("allowed by role admin")
    );
    // The same values again change nothing: 200, unchanged.
    let again = s.post(
        "/v1/changes",
        Some(s.admin()),
        &set("checkout:replicas", "env/dev", json!(3)),
    );
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["unchanged"], true);
    assert_eq!(again.body["revision"]["seq"], 2);
}

pub fn malformed_changesets_are_400_naming_the_fault(s: &Running) {
    let cases = [
        (json!([1]), "JSON object"),
        (json!({"changes": []}), "no `changes`"),
        (json!({"chnages": []}), "unknown field `chnages`"),
        (
            json!({"changes": [{"set": "checkout:replicas", "value": 2}]}),
            "changes[0].layer",
        ),
        (
            json!({"changes": [{"set": "checkout", "layer": "base", "value": 2}]}),
            "changes[0].set",
        ),
        (
            json!({"changes": [{"unset": "checkout:replicas", "layer": "base", "value": 2}]}),
            "changes[0].value",
        ),
        (
            set("nosuch:replicas", "env/dev", json!(2)),
            "unknown service `nosuch`",
        ),
        (
            set("checkout:replicas", "env/nowhere/x/y/z", json!(2)),
            "matches no hierarchy level",
        ),
        (
            json!({"base": "0000000000ff", "changes": [{"set": "checkout:replicas", "layer": "env/dev", "value": 2}]}),
            "base",
        ),
    ];
    for (body, what) in cases {
        let a = s.post("/v1/changes", Some(s.admin()), &body);
        assert_eq!(
            (a.status, error_code(&a)),
            (400, "bad_request"),
            "{body}: {}",
            a.body
        );
        let message = a.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(what), "{body}: {message}");
    }
    let not_json = s.request(
        "POST",
        "/v1/changes",
        Some(s.admin()),
        None,
        &[("Content-Type", "application/json")],
    );
    assert_eq!(not_json.status, 400, "{}", not_json.body);
    let anonymous = s.post(
        "/v1/changes",
        None,
        &set("checkout:replicas", "env/dev", json!(2)),
    );
    assert_eq!(anonymous.status, 401);
    // Nothing was committed.
    assert_eq!(
        s.get(DEV_REPLICAS, Some(s.admin()), None).body["value"],
        json!(1)
    );
}

pub fn a_write_the_policy_denies_is_403_with_the_rule_and_audited(s: &Running) {
    let auditor = token(s, "lena.fischer");
    let a = s.post(
        "/v1/changes",
        Some(&auditor),
        &set("checkout:replicas", "env/dev", json!(2)),
    );
    assert_eq!((a.status, error_code(&a)), (403, "forbidden"), "{}", a.body);
    assert_eq!(detail(&a, "rule"), "denied: no rule allows it");
    let denied: Vec<AuditEntry> = audit_of(s, "lena.fischer")
        .into_iter()
        .filter(|e| e.action == "write")
        .collect();
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0].decision, Decision::Denied);
    assert_eq!(
        (denied[0].scope.as_str(), denied[0].params.as_slice()),
        ("dev", &["checkout:replicas".to_string()][..])
    );
    // A service owner writes their own services, not the TLS settings (a deny rule).
    let owner = token(s, "alice.nguyen");
    let tls = s.post(
        "/v1/changes",
        Some(&owner),
        &set("checkout:http.tls.min_version", "env/dev", json!("1.3")),
    );
    assert_eq!(tls.status, 403, "{}", tls.body);
    assert!(
        detail(&tls, "rule").as_str().unwrap().contains("deny"),
        "{}",
        tls.body
    );
    let other = s.post(
        "/v1/changes",
        Some(&owner),
        &set("catalog:replicas", "env/dev", json!(2)),
    );
    assert_eq!(other.status, 403, "{}", other.body);
    let own = s.post(
        "/v1/changes",
        Some(&owner),
        &set("checkout:replicas", "env/dev", json!(2)),
    );
    assert_eq!(own.status, 201, "{}", own.body);
}

pub fn a_moved_base_conflicts_409_with_the_parameters(s: &Running) {
    let first = head_id(s);
    let a = s.post(
        "/v1/changes",
        Some(s.admin()),
        &set("checkout:replicas", "env/dev", json!(3)),
    );
    assert_eq!(a.status, 201, "{}", a.body);
    let mut stale = set("checkout:replicas", "env/dev", json!(4));
    stale["base"] = json!(first);
    let c = s.post("/v1/changes", Some(s.admin()), &stale);
    assert_eq!((c.status, error_code(&c)), (409, "conflict"), "{}", c.body);
    assert_eq!(detail(&c, "params"), &json!(["checkout:replicas"]));
    let conflict = &detail(&c, "conflicts")[0];
    assert_eq!(conflict["ours"], "4");
    assert_eq!(conflict["theirs"], "3");
    // A disjoint edit on the same old base is rebased.
    let mut disjoint = set("checkout:log.level", "env/dev", json!("info"));
    disjoint["base"] = json!(first);
    let r = s.post("/v1/changes", Some(s.admin()), &disjoint);
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["rebased"], true);
    served_within_a_second(s, DEV_REPLICAS, json!(3));
}

pub fn an_invalid_result_is_422_with_the_findings(s: &Running) {
    let before = head_id(s);
    let a = s.post(
        "/v1/changes",
        Some(s.admin()),
        &set("checkout:replicas", "env/dev", json!(500)),
    );
    assert_eq!(
        (a.status, error_code(&a)),
        (422, "invalid_configuration"),
        "{}",
        a.body
    );
    let findings = detail(&a, "findings").as_array().unwrap();
    assert!(!findings.is_empty(), "{}", a.body);
    for f in findings {
        assert_eq!(f["severity"], "error", "{f}");
        assert_eq!(f["service"], "checkout", "{f}");
        assert_eq!(f["param"], "replicas", "{f}");
        assert!(f["target"].as_str().unwrap().starts_with("dev/"), "{f}");
        assert_eq!(f["location"]["path"], "layers/env/dev/checkout.yaml", "{f}");
    }
    assert!(findings[0]["rule"].as_str().unwrap().starts_with("schema/"));
    // Nothing was committed, and a request is not made for an invalid prod change.
    assert_eq!(head_id(s), before);
    let prod = s.post(
        "/v1/changes",
        Some(s.admin()),
        &set("checkout:replicas", "env/prod", json!(0)),
    );
    assert_eq!(prod.status, 422, "{}", prod.body);
    let open = s.get("/v1/requests?pending=true", Some(s.admin()), None);
    assert_eq!(open.body["requests"], json!([]));
}

pub fn validate_reports_a_changeset_without_committing_it(s: &Running) {
    let before = head_id(s);
    let bad = s.post(
        "/v1/validate",
        Some(s.admin()),
        &json!({"changeset": set("checkout:replicas", "env/dev", json!(500))}),
    );
    assert_eq!(bad.status, 200, "{}", bad.body);
    assert_eq!(bad.body["result"], "findings");
    assert_eq!(bad.body["exit_code"], 1);
    assert_eq!(bad.body["revision"]["id"], before.as_str());
    let report = &bad.body["report"];
    assert_eq!(report["version"], 1);
    assert!(
        report["summary"]["errors"].as_u64().unwrap() >= 1,
        "{report}"
    );
    assert_eq!(report["summary"]["failed"], true);
    // Only the edited service, in the environments the edit reaches.
    let units = report["units"].as_array().unwrap();
    assert_eq!(units.len(), 2, "{report}");
    assert!(
        units
            .iter()
            .all(|u| u["service"] == "checkout" && u["env"] == "dev")
    );
    let good = s.post(
        "/v1/validate",
        Some(s.admin()),
        &json!({"changeset": set("checkout:replicas", "base", json!(4)), "base": before}),
    );
    assert_eq!(good.status, 200, "{}", good.body);
    assert_eq!(
        (
            good.body["result"].as_str(),
            good.body["exit_code"].as_i64()
        ),
        (Some("clean"), Some(0))
    );
    assert_eq!(good.body["report"]["summary"]["units"], 8);
    assert_eq!(head_id(s), before, "validate committed something");
    let auditor = token(s, "lena.fischer");
    let read = s.post(
        "/v1/validate",
        Some(&auditor),
        &json!({"changeset": set("checkout:replicas", "env/dev", json!(2))}),
    );
    assert_eq!(read.status, 200, "{}", read.body);
    let nobody = s.post(
        "/v1/validate",
        Some(s.nobody()),
        &json!({"changeset": set("checkout:replicas", "env/dev", json!(2))}),
    );
    assert_eq!((nobody.status, error_code(&nobody)), (403, "forbidden"));
    let unknown = s.post(
        "/v1/validate",
        Some(s.admin()),
        &json!({"changeset": set("checkout:replicas", "env/dev", json!(2)), "base": "0000000000ff"}),
    );
    assert_eq!(
        (unknown.status, error_code(&unknown)),
        (404, "not_found"),
        "{}",
        unknown.body
    );
    let missing = s.post("/v1/validate", Some(s.admin()), &json!({}));
    assert_eq!(missing.status, 400, "{}", missing.body);
}

pub fn a_prod_change_needs_two_approvals_over_http(s: &Running) {
    let marco = token(s, "marco.silva");
    let priya = token(s, "priya.shah");
    let a = s.post(
        "/v1/changes",
        Some(&marco),
        &json!({"message": "prod to eight", "changes": [
            {"set": "checkout:replicas", "layer": "env/prod", "value": 8}
        ]}),
    );
    assert_eq!(a.status, 202, "{}", a.body);
    let request = &a.body["request"];
    assert_eq!(request["status"], "pending");
    assert_eq!(request["author"], "marco.silva");
    assert_eq!(request["message"], "prod to eight");
    let id = request["id"].as_str().unwrap().to_string();
    let approve = format!("/v1/requests/{id}/approve");
    // Nothing is served until it is applied.
    assert_eq!(
        s.get(PROD_REPLICAS, Some(s.admin()), None).body["value"],
        json!(6)
    );
    // The author cannot approve: 403, audited.
    let own = s.post(&approve, Some(&marco), &json!({}));
    assert_eq!(
        (own.status, error_code(&own)),
        (403, "forbidden"),
        "{}",
        own.body
    );
    assert_eq!(detail(&own, "rule"), "nobody approves their own request");
    assert!(
        audit_of(s, "marco.silva")
            .iter()
            .any(|e| e.action == "approve"
                && e.decision == Decision::Denied
                && e.request.as_deref() == Some(id.as_str()))
    );
    // A principal without `approve`: 403 with the rule.
    let auditor = token(s, "lena.fischer");
    let no_role = s.post(&approve, Some(&auditor), &json!({}));
    assert_eq!(no_role.status, 403, "{}", no_role.body);
    assert!(detail(&no_role, "rule").is_string());
    // The first approval counts; one more is needed.
    let first = s.post(&approve, Some(&priya), &json!({}));
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["applied"], false);
    assert_eq!(
        first.body["missing"],
        json!(["prod-changes: 1 of 2 approvals (priya.shah)"])
    );
    assert_eq!(
        first.body["request"]["approvals"][0]["principal"],
        "priya.shah"
    );
    let twice = s.post(&approve, Some(&priya), &json!({}));
    assert_eq!(
        (twice.status, error_code(&twice)),
        (409, "already_approved"),
        "{}",
        twice.body
    );
    // The second applies it, and the new revision is served within a second.
    let second = s.post(&approve, Some(s.admin()), &json!({}));
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.body["applied"], true);
    assert_eq!(second.body["request"]["status"], "applied");
    assert_eq!(second.body["revision"]["author"], "marco.silva");
    assert_eq!(second.body["revision"]["labels"]["request"], id.as_str());
    served_within_a_second(s, PROD_REPLICAS, json!(8));
    let closed = s.post(&approve, Some(&auditor), &json!({}));
    assert_eq!(closed.status, 403, "{}", closed.body);
    let after = s.post(&approve, Some(&priya), &json!({}));
    assert_eq!(
        (after.status, error_code(&after)),
        (409, "request_closed"),
        "{}",
        after.body
    );
    let unknown = s.post("/v1/requests/R00000000/approve", Some(&priya), &json!({}));
    assert_eq!((unknown.status, error_code(&unknown)), (404, "not_found"));
}

pub fn an_approval_that_conflicts_is_409(s: &Running) {
    let marco = token(s, "marco.silva");
    let priya = token(s, "priya.shah");
    let a = s.post(
        "/v1/changes",
        Some(&marco),
        &set("checkout:replicas", "env/prod", json!(8)),
    );
    assert_eq!(a.status, 202, "{}", a.body);
    let id = a.body["request"]["id"].as_str().unwrap().to_string();
    // Meanwhile the same parameter changes in the same layer.
    let repo = strata_store::repo::open(s.store()).unwrap();
    let cs = strata_store::changeset::Changeset::from_json(&set(
        "checkout:replicas",
        "env/prod",
        json!(9),
    ))
    .unwrap();
    repo.apply(&cs, Default::default()).unwrap();
    let approve = format!("/v1/requests/{id}/approve");
    assert_eq!(s.post(&approve, Some(&priya), &json!({})).status, 200);
    let c = s.post(&approve, Some(s.admin()), &json!({}));
    assert_eq!((c.status, error_code(&c)), (409, "conflict"), "{}", c.body);
    assert_eq!(detail(&c, "params"), &json!(["checkout:replicas"]));
    assert_eq!(detail(&c, "request")["status"], "conflicted");
}

pub fn requests_are_rejected_or_withdrawn(s: &Running) {
    let marco = token(s, "marco.silva");
    let priya = token(s, "priya.shah");
    let propose = |value: i64| {
        let a = s.post(
            "/v1/changes",
            Some(&marco),
            &set("checkout:replicas", "env/prod", json!(value)),
        );
        assert_eq!(a.status, 202, "{}", a.body);
        a.body["request"]["id"].as_str().unwrap().to_string()
    };
    let id = propose(8);
    let reject = format!("/v1/requests/{id}/reject");
    let auditor = token(s, "lena.fischer");
    let denied = s.post(&reject, Some(&auditor), &json!({"reason": "no"}));
    assert_eq!(denied.status, 403, "{}", denied.body);
    assert!(
        audit_of(s, "lena.fischer")
            .iter()
            .any(|e| e.action == "reject" && e.decision == Decision::Denied)
    );
    let no_reason = s.post(&reject, Some(&priya), &json!({}));
    assert_eq!(
        (no_reason.status, error_code(&no_reason)),
        (400, "bad_request")
    );
    let done = s.post(
        &reject,
        Some(&priya),
        &json!({"reason": "not during the sale"}),
    );
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.body["request"]["status"], "rejected");
    assert_eq!(done.body["request"]["detail"], "not during the sale");
    let again = s.post(
        &format!("/v1/requests/{id}/approve"),
        Some(&priya),
        &json!({}),
    );
    assert_eq!(
        (again.status, error_code(&again)),
        (409, "request_closed"),
        "{}",
        again.body
    );
    assert_eq!(again.body["error"]["details"]["status"], "rejected");
    // The author withdraws their own.
    let mine = propose(7);
    let withdrawn = s.post(
        &format!("/v1/requests/{mine}/reject"),
        Some(&marco),
        &json!({"reason": "wrong value"}),
    );
    assert_eq!(withdrawn.status, 200, "{}", withdrawn.body);
    assert_eq!(
        s.get(PROD_REPLICAS, Some(s.admin()), None).body["value"],
        json!(6)
    );
}

pub fn tokens_are_created_listed_and_revoked_by_admins(s: &Running) {
    let made = s.post(
        "/v1/tokens",
        Some(s.admin()),
        &json!({"principal": "lena.fischer", "expires": "1d"}),
    );
    assert_eq!(made.status, 201, "{}", made.body);
    assert_eq!(
        made.headers.get("cache-control").map(String::as_str),
        Some("no-store")
    );
    let secret = made.body["token"].as_str().unwrap().to_string();
    let id = made.body["id"].as_str().unwrap().to_string();
    assert!(
        secret.starts_with(&format!("strata_{id}_")),
        "{}",
        made.body
    );
    assert!(made.body["expires_ms"].as_i64().unwrap() > made.body["created_ms"].as_i64().unwrap());
    // It works.
    assert_eq!(s.get("/v1/revisions", Some(&secret), None).status, 200);
    // Listed, never with its secret.
    let list = s.get("/v1/tokens", Some(s.admin()), None);
    assert_eq!(list.status, 200, "{}", list.body);
    let text = list.body.to_string();
    assert!(!text.contains(&secret) && !text.contains("hash"), "{text}");
    let row = list.body["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id.as_str())
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(
        (row["principal"].as_str(), row["state"].as_str()),
        (Some("lena.fischer"), Some("active"))
    );
    // Audited with the allowing rule.
    let created: Vec<AuditEntry> = audit_of(s, "dana.kim")
        .into_iter()
        .filter(|e| e.action == "token-create")
        .collect();
    assert_eq!(created.len(), 1, "{created:?}");
    assert!(created[0].rule.is_some());
    assert_eq!(created[0].detail.as_ref().unwrap()["token"], id.as_str());
    // Revoked: 200, then the token stops working.
    let revoked = s.request(
        "DELETE",
        &format!("/v1/tokens/{id}"),
        Some(s.admin()),
        None,
        &[],
    );
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_eq!(revoked.body["token"]["state"], "revoked");
    std::thread::sleep(Duration::from_millis(300));
    let refused = s.get("/v1/revisions", Some(&secret), None);
    assert_eq!(
        (refused.status, error_code(&refused)),
        (401, "unauthorized")
    );
    let unknown = s.request(
        "DELETE",
        "/v1/tokens/000000000000",
        Some(s.admin()),
        None,
        &[],
    );
    assert_eq!((unknown.status, error_code(&unknown)), (404, "not_found"));
    // Admins only, denials audited; bad bodies are 400.
    let denied = s.post(
        "/v1/tokens",
        Some(s.nobody()),
        &json!({"principal": "nobody"}),
    );
    assert_eq!((denied.status, error_code(&denied)), (403, "forbidden"));
    assert!(
        audit_of(s, "nobody")
            .iter()
            .any(|e| e.action == "token-create" && e.decision == Decision::Denied)
    );
    assert_eq!(s.get("/v1/tokens", Some(s.nobody()), None).status, 403);
    assert_eq!(s.get("/v1/tokens", None, None).status, 401);
    for body in [
        json!({"principal": "x", "roles": ["admin"]}),
        json!({"principal": ""}),
        json!({"principal": "x", "expires": "soon"}),
    ] {
        let a = s.post("/v1/tokens", Some(s.admin()), &body);
        assert_eq!(
            (a.status, error_code(&a)),
            (400, "bad_request"),
            "{body}: {}",
            a.body
        );
    }
}

/// Imports acme with the test identity as its recipient and stores `checkout:db.password`
/// in env/dev encrypted.
fn with_a_secret(s: &Running) {
    let repo = strata_store::repo::open(s.store()).unwrap();
    let mut files = acme::files();
    let project = files.get_mut("strata.yaml").unwrap();
    project.extend_from_slice(
        format!(
            "\nencryption:\n  recipients: [{}]\n",
            super::test_identity().1
        )
        .as_bytes(),
    );
    seed::import(&repo, files, "test-admin", "encryption").unwrap();
    let param = strata_core::path::ParamPath::parse("checkout:db.password").unwrap();
    repo.secret_set(&param, "env/dev", "pa55-w0rd", Default::default())
        .unwrap();
}

pub fn reveal_shows_secrets_to_those_allowed_and_audits(s: &Running) {
    with_a_secret(s);
    // The server re-reads its head at most every 250 ms.
    std::thread::sleep(Duration::from_millis(300));
    let one = "/v1/config/dev/checkout/db.password?provider=aws";
    // A redacted read first (it fills the cache).
    let plain = s.get(one, Some(s.admin()), None);
    assert_eq!(plain.body["value"], "<redacted>", "{}", plain.body);
    let shown = s.get(&format!("{one}&reveal=true"), Some(s.admin()), None);
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert_eq!(shown.body["value"], "pa55-w0rd");
    assert_eq!(shown.body["path"], "db.password");
    assert_eq!(
        shown.headers.get("cache-control").map(String::as_str),
        Some("no-store")
    );
    assert!(shown.etag.is_none());
    let whole = s.get(
        "/v1/config/dev/checkout?provider=aws&reveal=true",
        Some(s.admin()),
        None,
    );
    assert_eq!(whole.status, 200, "{}", whole.body);
    assert_eq!(whole.body["db"]["password"], "pa55-w0rd");
    // Each reveal is audited with the parameter's name, never its value.
    let reads: Vec<AuditEntry> = audit_of(s, "dana.kim")
        .into_iter()
        .filter(|e| e.action == "read-secret")
        .collect();
    assert_eq!(reads.len(), 2, "{reads:?}");
    for e in &reads {
        assert_eq!((e.scope.as_str(), e.decision), ("dev", Decision::Allowed));
        assert_eq!(e.params, ["checkout:db.password"]);
    }
    let log = s.get("/v1/audit", Some(s.admin()), None);
    assert!(!log.body.to_string().contains("pa55-w0rd"));
    // Revealed answers never reach later reads.
    for url in [one, "/v1/config/dev/checkout?provider=aws"] {
        let again = s.get(url, Some(s.admin()), None);
        assert!(
            !again.body.to_string().contains("pa55-w0rd"),
            "{url}: {}",
            again.body
        );
        assert!(again.body.to_string().contains("<redacted>"), "{url}");
    }
    // Who may not read the secret: 403 with the rule, audited; the redacted read works.
    let auditor = token(s, "lena.fischer");
    let denied = s.get(&format!("{one}&reveal=true"), Some(&auditor), None);
    assert_eq!(
        (denied.status, error_code(&denied)),
        (403, "forbidden"),
        "{}",
        denied.body
    );
    assert!(detail(&denied, "rule").is_string());
    assert!(!denied.body.to_string().contains("pa55-w0rd"));
    let logged: Vec<AuditEntry> = audit_of(s, "lena.fischer")
        .into_iter()
        .filter(|e| e.action == "read-secret")
        .collect();
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(logged[0].decision, Decision::Denied);
    assert_eq!(logged[0].params, ["checkout:db.password"]);
    assert_eq!(s.get(one, Some(&auditor), None).status, 200);
    // A service owner reads their own secrets in dev.
    let owner = token(s, "alice.nguyen");
    let own = s.get(&format!("{one}&reveal=true"), Some(&owner), None);
    assert_eq!(own.body["value"], "pa55-w0rd", "{}", own.body);
}

/// Defines one `#[test]` per case of this module, each on a fresh server from `$start`.
#[macro_export]
macro_rules! writes_suite {
    ($start:expr) => {
        #[test]
        fn a_change_is_committed_and_served() {
            suite::writes::a_change_is_committed_and_served(&$start);
        }
        #[test]
        fn malformed_changesets_are_400_naming_the_fault() {
            suite::writes::malformed_changesets_are_400_naming_the_fault(&$start);
        }
        #[test]
        fn a_write_the_policy_denies_is_403_with_the_rule_and_audited() {
            suite::writes::a_write_the_policy_denies_is_403_with_the_rule_and_audited(&$start);
        }
        #[test]
        fn a_moved_base_conflicts_409_with_the_parameters() {
            suite::writes::a_moved_base_conflicts_409_with_the_parameters(&$start);
        }
        #[test]
        fn an_invalid_result_is_422_with_the_findings() {
            suite::writes::an_invalid_result_is_422_with_the_findings(&$start);
        }
        #[test]
        fn validate_reports_a_changeset_without_committing_it() {
            suite::writes::validate_reports_a_changeset_without_committing_it(&$start);
        }
        #[test]
        fn a_prod_change_needs_two_approvals_over_http() {
            suite::writes::a_prod_change_needs_two_approvals_over_http(&$start);
        }
        #[test]
        fn an_approval_that_conflicts_is_409() {
            suite::writes::an_approval_that_conflicts_is_409(&$start);
        }
        #[test]
        fn requests_are_rejected_or_withdrawn() {
            suite::writes::requests_are_rejected_or_withdrawn(&$start);
        }
        #[test]
        fn tokens_are_created_listed_and_revoked_by_admins() {
            suite::writes::tokens_are_created_listed_and_revoked_by_admins(&$start);
        }
        #[test]
        fn reveal_shows_secrets_to_those_allowed_and_audits() {
            suite::writes::reveal_shows_secrets_to_those_allowed_and_audits(&$start);
        }
    };
}
