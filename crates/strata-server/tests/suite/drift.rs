//! Drift over HTTP: `GET /v1/drift` against the library's report, its filters, formats
//! and errors, services hidden from a principal; desired against actual with
//! `POST`/`GET /v1/actual/{env}/{service}`, whose secret values reach neither the answer
//! nor the store.

use serde_json::{Value, json};
use strata_core::drift::collect::{
    RunOptions, SecretHandling, Selection, load_policy, plan, read_schemas, run,
};
use strata_core::drift::policy::PolicyDate;
use strata_core::drift::report::{Detail, json_report};
use strata_server::seed;
use strata_testkit::acme;

use super::{Answer, Running, error_code};

const TODAY: &str = "2026-11-22";

/// Replaces every string holding `ENC[` with `<redacted>` (what the server does to
/// ciphertexts outside `x-strata-secret` parameters).
fn redact(v: &mut Value) {
    match v {
        Value::String(s) if s.contains("ENC[") => *s = "<redacted>".into(),
        Value::Array(items) => items.iter_mut().for_each(redact),
        Value::Object(m) => m.values_mut().for_each(redact),
        _ => {}
    }
}

/// The report `strata_core::drift` gives for the store's head and `sel`, as JSON.
fn library_report(store: &str, sel: &Selection<'_>) -> Value {
    let repo = strata_store::repo::open(store).unwrap();
    let head = repo.head().unwrap();
    let project = repo.project(&head).unwrap();
    let mut policy = load_policy(&project).unwrap();
    let plan = plan(&project, sel).unwrap();
    let secrets = read_schemas(&project, &plan.services, &mut policy).unwrap();
    let opts = RunOptions {
        detail: Detail::Full,
        today: PolicyDate::parse(TODAY).unwrap(),
        dead_rules: sel.services.is_empty(),
        secrets: SecretHandling {
            reveal: None,
            is_ciphertext: strata_store::crypto::is_ciphertext,
            how_to_compare: "",
        },
    };
    let c = run(&project, &plan, &policy, &secrets, None, &opts).unwrap();
    let mut v = serde_json::to_value(json_report(&c)).unwrap();
    redact(&mut v);
    v
}

/// The findings' `(service, param, target, class)`.
fn findings(report: &Value) -> Vec<(String, String, String, String)> {
    report["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("no findings: {report}"))
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap_or_default().to_string();
            (s("service"), s("param"), s("target"), s("class"))
        })
        .collect()
}

fn without(mut v: Value, keys: &[&str]) -> Value {
    if let Some(m) = v.as_object_mut() {
        for k in keys {
            m.remove(*k);
        }
    }
    v
}

pub fn drift_report_equals_the_library_report(s: &Running) {
    let a = s.get(&format!("/v1/drift?today={TODAY}"), Some(&s.admin), None);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.headers.get("content-type").map(String::as_str),
        Some("application/json")
    );
    let head = s.get("/v1/revisions/HEAD", Some(&s.admin), None);
    assert_eq!(a.body["revision"]["id"], head.body["revision"]["id"]);
    assert_eq!(
        a.headers.get("strata-revision"),
        head.body["revision"]["id"]
            .as_str()
            .map(str::to_string)
            .as_ref()
    );
    assert_eq!(a.body["hidden"], 0);
    let library = library_report(s.store(), &Selection::default());
    assert_eq!(without(a.body.clone(), &["revision", "hidden"]), library);
    // What the report is about: the planted drift, the dead-policy check, no ciphertext.
    assert!(
        findings(&a.body).contains(&(
            "checkout".into(),
            "checkout:http.client.timeout".into(),
            "staging/aws/us-east-1".into(),
            "drift".into()
        )),
        "{}",
        a.body
    );
    assert_eq!(a.body["fails"], true);
    assert!(
        !a.body.to_string().contains("ENC["),
        "a ciphertext is shown"
    );
    // The same query again is answered the same (from the cache).
    let again = s.get(&format!("/v1/drift?today={TODAY}"), Some(&s.admin), None);
    assert_eq!(again.body, a.body);
}

pub fn drift_filters_and_formats(s: &Running) {
    let url = format!("/v1/drift?today={TODAY}&services=checkout,ledger&envs=staging,prod");
    let a = s.get(&url, Some(&s.admin), None);
    assert_eq!(a.status, 200, "{}", a.body);
    let (services, envs) = (
        ["checkout".to_string(), "ledger".to_string()],
        ["staging".to_string(), "prod".to_string()],
    );
    let sel = Selection {
        services: &services,
        envs: &envs,
        ..Selection::default()
    };
    assert_eq!(
        without(a.body.clone(), &["revision", "hidden"]),
        library_report(s.store(), &sel)
    );
    let found = findings(&a.body);
    assert!(!found.is_empty());
    for (service, _, target, _) in &found {
        assert!(service == "checkout" || service == "ledger", "{service}");
        assert!(target.starts_with("staging/"), "{target}");
    }
    // Only named services: dead policy is not judged.
    assert_eq!(a.body["dead_rules"], json!([]));
    // One target against one reference target, singular names accepted.
    let b = s.get(
        &format!("/v1/drift?today={TODAY}&target=staging/aws/us-east-1,prod/aws/us-east-1&service=checkout"),
        Some(&s.admin),
        None,
    );
    assert_eq!(b.status, 200, "{}", b.body);
    assert!(
        findings(&b.body)
            .iter()
            .all(|(_, _, t, _)| t == "staging/aws/us-east-1"),
        "{}",
        b.body
    );
    // Staging as the reference.
    let c = s.get(
        &format!("/v1/drift?today={TODAY}&reference=staging&envs=dev,staging&service=checkout"),
        Some(&s.admin),
        None,
    );
    assert_eq!(
        (c.status, c.body["reference"].as_str()),
        (200, Some("staging")),
        "{}",
        c.body
    );
    // The other formats are those of the CLI, as text.
    let (status, summary) = s.get_text(&format!("{url}&format=summary"), Some(&s.admin));
    assert_eq!(status, 200);
    assert!(summary.starts_with("compared with prod: "), "{summary}");
    assert_eq!(summary.lines().count(), 1, "{summary}");
    let (_, md) = s.get_text(&format!("{url}&format=markdown&all=true"), Some(&s.admin));
    assert!(md.starts_with("## Drift against prod"), "{md}");
    assert!(md.contains("| **expected** |"), "{md}");
    let (_, text) = s.get_text(&format!("{url}&format=text"), Some(&s.admin));
    assert!(text.contains("checkout:http.client.timeout"), "{text}");
    assert!(!text.contains("expected "), "{text}");
    assert!(!text.contains('\u{1b}'), "no terminal colours over HTTP");
    let typed = s
        .agent
        .get(format!("{}{url}&format=md", s.base))
        .header("Authorization", format!("Bearer {}", s.admin))
        .call()
        .unwrap();
    let content_type = typed
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(content_type.starts_with("text/markdown"), "{content_type}");
    // A past revision: the report of that revision, which says so.
    let first = s.get("/v1/revisions/HEAD", Some(&s.admin), None);
    let first_id = first.body["revision"]["id"].as_str().unwrap().to_string();
    s.commit_seven_replicas();
    // The head is re-read at most every 250 ms.
    let started = std::time::Instant::now();
    while s.get("/v1/revisions/HEAD", Some(&s.admin), None).body["revision"]["id"]
        == first_id.as_str()
        || s.get(
            "/v1/config/dev/checkout/replicas?provider=aws",
            Some(&s.admin),
            None,
        )
        .body["value"]
            != 7
    {
        assert!(
            started.elapsed().as_secs() < 5,
            "the new revision is not served"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let past = s.get(
        &format!("/v1/drift?today={TODAY}&service=checkout&rev={first_id}"),
        Some(&s.admin),
        None,
    );
    assert_eq!(past.status, 200, "{}", past.body);
    assert_eq!(past.body["revision"]["id"], first_id.as_str());
    let now = s.get(
        &format!("/v1/drift?today={TODAY}&service=checkout"),
        Some(&s.admin),
        None,
    );
    assert_ne!(now.body["revision"]["id"], first_id.as_str());
    let replicas = |r: &Value| {
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["param"] == "checkout:replicas" && f["target"] == "dev/aws/us-east-1")
            .map(|f| f["value"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(replicas(&now.body), vec![json!("7")], "{}", now.body);
    assert_ne!(replicas(&past.body), replicas(&now.body));
}

pub fn drift_bad_parameters_are_400_and_unknown_names_404(s: &Running) {
    let get = |q: &str| s.get(&format!("/v1/drift?{q}"), Some(&s.admin), None);
    let bad = |q: &str, parameter: &str| {
        let a = get(q);
        assert_eq!(
            (a.status, error_code(&a)),
            (400, "bad_request"),
            "{q}: {}",
            a.body
        );
        assert!(
            a.body["error"]["details"]["parameter"] == parameter
                || a.body["error"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(parameter),
            "{q}: {}",
            a.body
        );
    };
    bad("format=xml", "format");
    bad("today=2026-13-01", "today");
    bad("all=maybe", "all");
    bad("colour=red", "colour");
    bad("targets=dev/aws/us-east-1&envs=prod", "targets");
    bad("services=a&services=b", "services");
    for q in [
        "targets=nowhere/x/y",
        "envs=nowhere",
        "services=nope",
        "reference=nowhere",
        "rev=0000000000ff",
    ] {
        let a = get(q);
        assert_eq!(
            (a.status, error_code(&a)),
            (404, "not_found"),
            "{q}: {}",
            a.body
        );
    }
    let unknown = get("services=checkout,nope");
    assert_eq!(
        unknown.body["error"]["details"]["service"], "nope",
        "{}",
        unknown.body
    );
    assert_eq!(s.get("/v1/drift", None, None).status, 401);
    let denied = s.get("/v1/drift", Some(&s.nobody), None);
    assert_eq!(
        (denied.status, error_code(&denied)),
        (403, "forbidden"),
        "{}",
        denied.body
    );
}

/// Imports acme again with a principal `guest.reader` who may read checkout everywhere
/// and ledger in dev only; returns its token.
fn partial_reader(s: &Running) -> String {
    let repo = strata_store::repo::open(&s.store).unwrap();
    let mut files = acme::files();
    let policy = files.get_mut("policies/access.yaml").unwrap();
    let text = String::from_utf8(policy.clone()).unwrap();
    let text = text
        .replacen(
            "roles:\n",
            "roles:\n  checkout-reader:\n    allow:\n      - { actions: [read], envs: [\"*\"], params: [\"checkout:**\"] }\n      - { actions: [read], envs: [dev], params: [\"ledger:**\"] }\n",
            1,
        )
        .replacen(
            "principals:\n",
            "principals:\n  guest.reader: { roles: [checkout-reader] }\n",
            1,
        );
    *policy = text.into_bytes();
    seed::import(&repo, files, "test-admin", "a partial reader").unwrap();
    s.wait_for_seq(repo.head().unwrap().seq);
    seed::create_token(&repo, "guest.reader", "test-admin")
        .unwrap()
        .expose()
        .to_string()
}

pub fn drift_hides_services_a_principal_may_not_read(s: &Running) {
    let guest = partial_reader(s);
    let services = s
        .get(&format!("/v1/drift?today={TODAY}"), Some(&s.admin), None)
        .body["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["service"].as_str().map(str::to_string))
        .collect::<std::collections::BTreeSet<_>>();
    assert!(services.len() > 2, "{services:?}");
    let a = s.get(&format!("/v1/drift?today={TODAY}"), Some(&guest), None);
    assert_eq!(a.status, 200, "{}", a.body);
    let shown: std::collections::BTreeSet<String> =
        findings(&a.body).into_iter().map(|f| f.0).collect();
    assert_eq!(shown, ["checkout".to_string()].into(), "{}", a.body);
    // Every service but checkout is hidden (ledger is readable in dev only).
    let repo = strata_store::repo::open(&s.store).unwrap();
    let project = repo.project(&repo.head().unwrap()).unwrap();
    let declared = project.config.services.len();
    assert_eq!(a.body["hidden"], declared - 1, "{}", a.body);
    assert_eq!(
        a.headers.get("strata-hidden"),
        Some(&(declared - 1).to_string())
    );
    // Dead policy is not judged on part of the services (nor leaks other services' rules).
    assert_eq!(a.body["dead_rules"], json!([]));
    // Asking for a hidden service by name hides it too.
    let ledger = s.get(
        &format!("/v1/drift?today={TODAY}&services=ledger"),
        Some(&guest),
        None,
    );
    assert_eq!(
        (ledger.status, ledger.body["hidden"].as_u64()),
        (200, Some(1)),
        "{}",
        ledger.body
    );
    assert_eq!(ledger.body["findings"], json!([]));
    // Within dev alone, ledger is readable.
    let dev = s.get(
        &format!("/v1/drift?today={TODAY}&services=ledger&envs=dev"),
        Some(&guest),
        None,
    );
    assert_eq!(dev.body["hidden"], 0, "{}", dev.body);
}

/// The one stored report row, read behind the server's back: every column as text.
fn stored_rows(s: &Running) -> Vec<String> {
    let sql = "SELECT target, service, principal, CAST(time_ms AS TEXT), revision, config, digest FROM strata_actual";
    if s.store.starts_with("postgres") {
        let mut c = postgres::Client::connect(&s.store, postgres::NoTls).unwrap();
        c.query(sql, &[])
            .unwrap()
            .iter()
            .map(|r| {
                (0..7)
                    .map(|i| r.get::<_, String>(i))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .collect()
    } else {
        let c = rusqlite::Connection::open(&s.store).unwrap();
        let mut stmt = c.prepare(sql).unwrap();
        stmt.query_map([], |r| {
            (0..7)
                .map(|i| r.get::<_, String>(i))
                .collect::<Result<Vec<_>, _>>()
                .map(|v| v.join("\n"))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    }
}

fn class_of(report: &Value, param: &str) -> Option<String> {
    report["findings"]
        .as_array()?
        .iter()
        .find(|f| f["param"] == param)
        .and_then(|f| f["class"].as_str().map(str::to_string))
}

const CHECKOUT_PROD: &str = "/v1/actual/prod/checkout?provider=aws&region=us-east-1";

pub fn actual_report_finds_drift_and_keeps_no_secret(s: &Running) {
    let before = s.get(CHECKOUT_PROD, Some(&s.admin), None);
    assert_eq!(
        (before.status, error_code(&before)),
        (404, "not_found"),
        "{}",
        before.body
    );
    let running = json!({
        "replicas": 17,
        "http": {"client": {"timeout": "45s", "connect_timeout": "1s"}},
        "db": {"password": "hunter2-plain", "port": 5432, "extra": {"token": "ENC[x,y]"}},
        "debug_port": 5005,
    });
    let url = format!("{CHECKOUT_PROD}&today={TODAY}");
    let a = s.post(&url, Some(&s.admin), &running);
    assert_eq!(a.status, 200, "{}", a.body);
    let text = a.body.to_string();
    assert!(!text.contains("hunter2"), "{text}");
    assert!(!text.contains("ENC["), "{text}");
    assert_eq!(
        a.body["reference"],
        "the desired configuration of prod/aws/us-east-1"
    );
    assert_eq!(
        class_of(&a.body, "checkout:http.client.timeout").as_deref(),
        Some("drift")
    );
    assert_eq!(
        class_of(&a.body, "checkout:replicas").as_deref(),
        Some("expected")
    );
    assert_eq!(
        class_of(&a.body, "checkout:debug_port").as_deref(),
        Some("missing")
    );
    assert_eq!(
        class_of(&a.body, "checkout:http.client.connect_timeout"),
        None
    );
    // The password was not compared (the server holds no identity), and says so.
    assert_eq!(
        class_of(&a.body, "checkout:db.password"),
        None,
        "{}",
        a.body
    );
    assert!(
        a.body["notes"][0]
            .as_str()
            .unwrap()
            .starts_with("1 secret parameter(s) were not compared"),
        "{}",
        a.body
    );
    let timeout = a.body["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["param"] == "checkout:http.client.timeout")
        .unwrap();
    assert_eq!(timeout["reference"], "prod/aws/us-east-1 (desired)");
    assert_eq!(timeout["target"], "prod/aws/us-east-1 (actual)");
    assert_eq!(timeout["value"], "\"45s\"");
    assert!(
        timeout["at"]
            .as_str()
            .unwrap()
            .starts_with("actual/prod/aws/us-east-1/checkout.json:"),
        "{timeout}"
    );
    let actual = &a.body["actual"];
    assert_eq!(actual["principal"], "dana.kim");
    assert_eq!(actual["configuration"]["db"]["password"], "<redacted>");
    assert_eq!(
        actual["configuration"]["db"]["extra"]["token"],
        "<redacted>"
    );
    assert_eq!(actual["configuration"]["replicas"], 17);
    assert_eq!(a.body["revision"]["id"], actual["revision"]);
    // The store holds the report without the secret.
    let rows = stored_rows(s);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        !rows[0].contains("hunter2") && !rows[0].contains("ENC["),
        "{}",
        rows[0]
    );
    assert!(
        rows[0].contains(actual["digest"].as_str().unwrap()),
        "{}",
        rows[0]
    );
    // Readable afterwards, the same comparison.
    let b = s.get(&url, Some(&s.admin), None);
    assert_eq!(b.status, 200, "{}", b.body);
    assert_eq!(b.body, a.body);
    // A ciphertext the schema does not mark (payments-gateway's PSP keys) is a secret too.
    let psp = s.post(
        &format!("/v1/actual/prod/payments-gateway?provider=aws&region=us-east-1&today={TODAY}"),
        Some(&s.admin),
        &json!({"replicas": 6, "psp": {"stripe": {"api_key": "sk_live_plaintext"}}}),
    );
    assert_eq!(psp.status, 200, "{}", psp.body);
    assert!(!psp.body.to_string().contains("sk_live"), "{}", psp.body);
    assert!(!psp.body.to_string().contains("ENC["), "{}", psp.body);
    assert_eq!(
        class_of(&psp.body, "payments-gateway:psp.stripe.api_key"),
        None,
        "{}",
        psp.body
    );
    let rows = stored_rows(s);
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| !r.contains("sk_live")), "{rows:?}");
    // A later report replaces the earlier one.
    let c = s.post(&url, Some(&s.admin), &json!({"replicas": 6}));
    assert_eq!(
        class_of(&c.body, "checkout:http.client.timeout").as_deref(),
        Some("missing")
    );
    assert_eq!(s.get(&url, Some(&s.admin), None).body, c.body);
    assert_eq!(stored_rows(s).len(), 2);
}

pub fn actual_errors_and_access(s: &Running) {
    let running = json!({"replicas": 2});
    let denied = s.post(CHECKOUT_PROD, Some(&s.nobody), &running);
    assert_eq!(
        (denied.status, error_code(&denied)),
        (403, "forbidden"),
        "{}",
        denied.body
    );
    assert!(denied.body["error"]["details"]["rule"].is_string());
    let denied_read = s.get(CHECKOUT_PROD, Some(&s.nobody), None);
    assert_eq!(denied_read.status, 403);
    // Both denials are audited; nothing was kept.
    let repo = strata_store::repo::open(&s.store).unwrap();
    let filter = strata_store::audit::AuditFilter {
        principal: Some("nobody".into()),
        ..Default::default()
    };
    let entries = repo.store().audit_entries(&filter).unwrap();
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert!(
        entries
            .iter()
            .all(|e| e.scope == "prod" && e.params == ["checkout:"])
    );
    assert!(stored_rows(s).is_empty());
    assert_eq!(s.post(CHECKOUT_PROD, None, &running).status, 401);
    // Bodies that are not a JSON object.
    for body in [json!([1, 2]), json!("text"), json!(3)] {
        let a = s.post(CHECKOUT_PROD, Some(&s.admin), &body);
        assert_eq!(
            (a.status, error_code(&a)),
            (400, "bad_request"),
            "{body}: {}",
            a.body
        );
    }
    let raw = s
        .agent
        .post(format!("{}{CHECKOUT_PROD}", s.base))
        .header("Authorization", format!("Bearer {}", s.admin))
        .send("{\"replicas\": ")
        .unwrap();
    let a: Answer = super::answer(raw);
    assert_eq!(
        (a.status, error_code(&a)),
        (400, "bad_request"),
        "{}",
        a.body
    );
    // A body that does not read is not quoted back (it may hold a secret).
    let raw = s
        .agent
        .post(format!("{}{CHECKOUT_PROD}", s.base))
        .header("Authorization", format!("Bearer {}", s.admin))
        .send("{\"pin\": 918273645546372819918273645}")
        .unwrap();
    let b: Answer = super::answer(raw);
    assert_eq!(
        (b.status, error_code(&b)),
        (400, "bad_request"),
        "{}",
        b.body
    );
    assert!(!b.body.to_string().contains("9182736455"), "{}", b.body);
    // Over the body limit.
    let big = json!({"blob": "x".repeat(4096)});
    let a = s.post(CHECKOUT_PROD, Some(&s.admin), &big);
    assert_eq!(
        (a.status, error_code(&a)),
        (413, "payload_too_large"),
        "{}",
        a.body
    );
    // Unknown service or target; an ambiguous one.
    let a = s.post(
        "/v1/actual/prod/nope?provider=aws&region=us-east-1",
        Some(&s.admin),
        &running,
    );
    assert_eq!((a.status, error_code(&a)), (404, "not_found"), "{}", a.body);
    let a = s.post("/v1/actual/nowhere/checkout", Some(&s.admin), &running);
    assert_eq!((a.status, error_code(&a)), (404, "not_found"), "{}", a.body);
    let a = s.post("/v1/actual/prod/checkout", Some(&s.admin), &running);
    assert_eq!(
        (a.status, error_code(&a)),
        (400, "bad_request"),
        "{}",
        a.body
    );
    assert!(a.body["error"]["details"]["candidates"].is_array());
    let a = s.post(
        &format!("{CHECKOUT_PROD}&today=soon"),
        Some(&s.admin),
        &running,
    );
    assert_eq!(
        (a.status, error_code(&a)),
        (400, "bad_request"),
        "{}",
        a.body
    );
    assert!(stored_rows(s).is_empty());
    // A reader who is not an admin reports and reads.
    let repo = strata_store::repo::open(&s.store).unwrap();
    let auditor = seed::create_token(&repo, "lena.fischer", "test-admin").unwrap();
    let a = s.post(CHECKOUT_PROD, Some(auditor.expose()), &running);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["actual"]["principal"], "lena.fischer");
}

/// One `#[test]` per drift case, each on a fresh server from `$start`.
#[macro_export]
macro_rules! drift_suite {
    ($start:expr) => {
        #[test]
        fn drift_report_equals_the_library_report() {
            suite::drift::drift_report_equals_the_library_report(&$start);
        }
        #[test]
        fn drift_filters_and_formats() {
            suite::drift::drift_filters_and_formats(&$start);
        }
        #[test]
        fn drift_bad_parameters_are_400_and_unknown_names_404() {
            suite::drift::drift_bad_parameters_are_400_and_unknown_names_404(&$start);
        }
        #[test]
        fn drift_hides_services_a_principal_may_not_read() {
            suite::drift::drift_hides_services_a_principal_may_not_read(&$start);
        }
        #[test]
        fn actual_report_finds_drift_and_keeps_no_secret() {
            suite::drift::actual_report_finds_drift_and_keeps_no_secret(&$start);
        }
        #[test]
        fn actual_errors_and_access() {
            suite::drift::actual_errors_and_access(&$start);
        }
    };
}
