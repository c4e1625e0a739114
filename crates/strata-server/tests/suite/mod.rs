//! The HTTP suite: the server over real HTTP on 127.0.0.1, against a store holding
//! `examples/acme`. `tests/http.rs` runs it on SQLite, `tests/http_postgres.rs` on
//! PostgreSQL (see [`all_suites!`]).

#![allow(dead_code)] // each backend's file uses the suite through the macro

pub mod auth;
pub mod drift;
pub mod limits;
pub mod watch;
pub mod writes;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde_json::Value;
use strata_server::{Server, ServerConfig, seed};
use strata_testkit::acme;

/// The age key pair every test server decrypts with (`?reveal=true`): (identity,
/// recipient).
pub fn test_identity() -> &'static (String, String) {
    static ID: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    ID.get_or_init(strata_store::crypto::generate_identity)
}

/// A running server and tokens for an admin and for a principal without roles.
pub struct Running {
    base: String,
    admin: String,
    nobody: String,
    agent: ureq::Agent,
    store: String,
    _keep: Box<dyn std::any::Any + Send + Sync>,
    stop: std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Seeds the store at `store` with acme and two tokens, and serves it; `keep` lives as
/// long as the server (a temporary directory, …).
pub fn start(store: String, keep: Box<dyn std::any::Any + Send + Sync>) -> Running {
    start_with(store, keep, |_| {})
}

/// [`start`], with the server's configuration adjusted by `configure`.
pub fn start_with(
    store: String,
    keep: Box<dyn std::any::Any + Send + Sync>,
    configure: impl FnOnce(&mut ServerConfig),
) -> Running {
    let repo = strata_store::repo::open(&store).unwrap();
    seed::import(&repo, acme::files(), "test-admin", "acme").unwrap();
    let admin = seed::create_token(&repo, "dana.kim", "test-admin").unwrap();
    let nobody = seed::create_token(&repo, "nobody", "test-admin").unwrap();
    drop(repo);

    let mut config = ServerConfig::new(store.clone(), SocketAddr::from(([127, 0, 0, 1], 0)));
    config.body_limit = 1024;
    config.identities = Some(strata_store::crypto::Identities::parse(&test_identity().0).unwrap());
    configure(&mut config);
    serve(
        config,
        admin.expose().to_string(),
        nobody.expose().to_string(),
        keep,
    )
}

/// Serves `config.store` (already seeded) on a thread of its own, with these tokens.
pub fn serve(
    config: ServerConfig,
    admin: String,
    nobody: String,
    keep: Box<dyn std::any::Any + Send + Sync>,
) -> Running {
    let store = config.store.clone();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let server = Server::bind(config).await.unwrap();
            addr_tx.send(server.local_addr().unwrap()).unwrap();
            server
                .run(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
    });
    let addr = addr_rx.recv().unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    Running {
        base: format!("http://{addr}"),
        admin,
        nobody,
        agent,
        store,
        _keep: keep,
        stop: std::sync::Mutex::new(Some(stop)),
        thread: Some(thread),
    }
}

/// Status, headers we look at, and the body as JSON (Null when empty).
pub struct Answer {
    pub status: u16,
    pub etag: Option<String>,
    pub www_auth: Option<String>,
    /// Every response header, names lower-case (the last value of a repeated one).
    pub headers: BTreeMap<String, String>,
    pub body: Value,
}

impl Running {
    /// Stops the server (requests in flight finish first).
    pub fn shutdown(&self) {
        let stop = self.stop.lock().ok().and_then(|mut s| s.take());
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
    }

    /// Whether the server has stopped.
    pub fn stopped(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// The store's location.
    pub fn store(&self) -> &str {
        &self.store
    }

    /// The admin's token.
    pub fn admin(&self) -> &str {
        &self.admin
    }

    /// A GET, with a token and `If-None-Match` when given.
    pub fn get(&self, path: &str, token: Option<&str>, if_none_match: Option<&str>) -> Answer {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        if let Some(e) = if_none_match {
            req = req.header("If-None-Match", e);
        }
        answer(req.call().unwrap())
    }

    /// The server's base URL (`http://127.0.0.1:PORT`).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The token of a principal without roles.
    pub fn nobody(&self) -> &str {
        &self.nobody
    }

    /// Any request: `method` on `path`, with a token, a JSON body and extra headers when
    /// given.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = match body {
            Some(b) => {
                let req = req
                    .header("Content-Type", "application/json")
                    .body(b.to_string())
                    .unwrap();
                self.agent.run(req)
            }
            None => self.agent.run(req.body(()).unwrap()),
        };
        answer(res.unwrap())
    }

    /// A POST of `body` as JSON.
    pub fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Answer {
        self.request("POST", path, token, Some(body), &[])
    }

    /// A GET whose body is text: status and body.
    pub fn get_text(&self, path: &str, token: Option<&str>) -> (u16, String) {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let mut res = req.call().unwrap();
        let status = res.status().as_u16();
        (status, res.body_mut().read_to_string().unwrap())
    }

    /// Imports acme again with `replicas: 7` for checkout in dev, a second revision, and
    /// waits until it is served.
    pub fn commit_seven_replicas(&self) {
        let seq = self.import_seven_replicas();
        self.wait_for_seq(seq);
    }

    /// Imports acme again with `replicas: 7` for checkout in dev, a second revision, behind
    /// the server's back: its seq.
    pub fn import_seven_replicas(&self) -> u64 {
        let repo = strata_store::repo::open(&self.store).unwrap();
        let files = acme::with_dev_checkout_replicas(7);
        seed::import(&repo, files, "test-admin", "seven replicas").unwrap();
        repo.head().unwrap().seq
    }

    /// Waits (at most 5 s) until the server serves the head of seq `seq` or a later one
    /// (`/readyz` names the seq served): after a commit made through the store directly.
    pub fn wait_for_seq(&self, seq: u64) {
        let started = std::time::Instant::now();
        while self.get("/readyz", None, None).body["seq"].as_u64() < Some(seq) {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(5),
                "the server did not serve seq {seq} within 5 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

fn answer(mut res: ureq::http::Response<ureq::Body>) -> Answer {
    let header = |n: &str| {
        res.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (etag, www_auth) = (header("etag"), header("www-authenticate"));
    let headers = res
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let status = res.status().as_u16();
    let text = res.body_mut().read_to_string().unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    Answer {
        status,
        etag,
        www_auth,
        headers,
        body,
    }
}

fn error_code(a: &Answer) -> &str {
    a.body["error"]["code"].as_str().unwrap_or("<none>")
}

pub fn health_and_readiness_are_anonymous(s: &Running) {
    let h = s.get("/healthz", None, None);
    assert_eq!((h.status, h.body["status"].as_str()), (200, Some("ok")));
    let r = s.get("/readyz", None, None);
    assert_eq!((r.status, r.body["status"].as_str()), (200, Some("ok")));
}

pub fn config_read_has_an_etag_and_answers_304(s: &Running) {
    let a = s.get("/v1/config/dev/checkout?provider=aws", Some(&s.admin), None);
    assert_eq!(a.status, 200, "{}", a.body);
    let etag = a.etag.clone().unwrap();
    assert!(
        etag.starts_with('"') && etag.ends_with("-dev/aws/us-east-1\""),
        "{etag}"
    );
    assert!(a.body["db"]["pool"]["max_size"].is_number(), "{}", a.body);
    let again = s.get(
        "/v1/config/dev/checkout?provider=aws",
        Some(&s.admin),
        Some(&etag),
    );
    assert_eq!(again.status, 304);
    assert_eq!(again.etag.as_deref(), Some(etag.as_str()));
    assert_eq!(again.body, Value::Null);
    // A single-target env needs no provider; a past revision by id.
    let rev = etag
        .trim_matches('"')
        .split('-')
        .next()
        .unwrap()
        .to_string();
    let past = s.get(
        &format!("/v1/config/prod/checkout?provider=gcp&rev={rev}"),
        Some(&s.admin),
        None,
    );
    assert_eq!(past.status, 200, "{}", past.body);
}

pub fn one_parameter_by_dots_or_slashes(s: &Running) {
    let a = s.get(
        "/v1/config/dev/checkout/db.pool.max_size?provider=aws",
        Some(&s.admin),
        None,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let b = s.get(
        "/v1/config/dev/checkout/db/pool/max_size?provider=aws",
        Some(&s.admin),
        None,
    );
    assert_eq!(a.body, b.body);
    assert_eq!(a.body["path"], "db.pool.max_size");
    assert!(a.body["value"].is_number());
    let etag = a.etag.unwrap();
    let c = s.get(
        "/v1/config/dev/checkout/db.pool.max_size?provider=aws",
        Some(&s.admin),
        Some(&etag),
    );
    assert_eq!(c.status, 304);
}

pub fn unknown_service_param_and_route_are_404(s: &Running) {
    let a = s.get("/v1/config/dev/nope?provider=aws", Some(&s.admin), None);
    assert_eq!((a.status, error_code(&a)), (404, "not_found"), "{}", a.body);
    let b = s.get(
        "/v1/config/dev/checkout/no.such.param?provider=aws",
        Some(&s.admin),
        None,
    );
    assert_eq!((b.status, error_code(&b)), (404, "not_found"), "{}", b.body);
    let c = s.get("/v1/nothing", Some(&s.admin), None);
    assert_eq!((c.status, error_code(&c)), (404, "not_found"), "{}", c.body);
    let d = s.get("/v1/config/nowhere/checkout", Some(&s.admin), None);
    assert_eq!((d.status, error_code(&d)), (404, "not_found"), "{}", d.body);
}

pub fn ambiguous_target_is_400_with_candidates(s: &Running) {
    let a = s.get("/v1/config/prod/checkout", Some(&s.admin), None);
    assert_eq!(
        (a.status, error_code(&a)),
        (400, "bad_request"),
        "{}",
        a.body
    );
    let c = a.body["error"]["details"]["candidates"].as_array().unwrap();
    assert_eq!(c.len(), 4, "{}", a.body);
}

pub fn missing_or_bad_token_is_401(s: &Running) {
    let a = s.get("/v1/config/dev/checkout?provider=aws", None, None);
    assert_eq!((a.status, error_code(&a)), (401, "unauthorized"));
    assert_eq!(a.www_auth.as_deref(), Some("Bearer"));
    let bad = format!("strata_{}_{}", "0".repeat(12), "0".repeat(64));
    let b = s.get("/v1/config/dev/checkout?provider=aws", Some(&bad), None);
    assert_eq!((b.status, error_code(&b)), (401, "unauthorized"));
    let c = s.get(
        "/v1/config/dev/checkout?provider=aws",
        Some("garbage"),
        None,
    );
    assert_eq!(c.status, 401);
}

pub fn a_principal_without_roles_is_403_with_the_rule(s: &Running) {
    let a = s.get(
        "/v1/config/dev/checkout?provider=aws",
        Some(&s.nobody),
        None,
    );
    assert_eq!((a.status, error_code(&a)), (403, "forbidden"), "{}", a.body);
    assert!(a.body["error"]["details"]["rule"].is_string(), "{}", a.body);
    assert!(
        a.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nobody")
    );
    // The denied read is in the audit log.
    let repo = strata_store::repo::open(&s.store).unwrap();
    let filter = strata_store::audit::AuditFilter {
        principal: Some("nobody".into()),
        ..Default::default()
    };
    let entries = repo.store().audit_entries(&filter).unwrap();
    let reads: Vec<_> = entries.iter().filter(|e| e.action == "read").collect();
    assert_eq!(reads.len(), 1, "{entries:?}");
    assert_eq!(reads[0].scope, "dev");
    assert_eq!(reads[0].params, ["checkout:"]);
}

pub fn secrets_are_redacted(s: &Running) {
    let a = s.get(
        "/v1/config/dev/auth/db.password?provider=aws",
        Some(&s.admin),
        None,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["value"], "<redacted>");
    let all = s.get("/v1/config/dev/auth?provider=aws", Some(&s.admin), None);
    assert!(!all.body.to_string().contains("ENC["), "{}", all.body);
}

pub fn malformed_requests_get_json_errors(s: &Running) {
    let a = s.get(
        "/v1/config/dev/checkout/db..x?provider=aws",
        Some(&s.admin),
        None,
    );
    assert_eq!(
        (a.status, error_code(&a)),
        (400, "bad_request"),
        "{}",
        a.body
    );
    let b = s.get(
        "/v1/config/dev/checkout/%FF%FE?provider=aws",
        Some(&s.admin),
        None,
    );
    assert_eq!(
        (b.status, error_code(&b)),
        (400, "bad_request"),
        "{}",
        b.body
    );
    let c = s.get(
        "/v1/config/dev/checkout?provider=aws&provider=gcp",
        Some(&s.admin),
        None,
    );
    assert_eq!(
        (c.status, error_code(&c)),
        (400, "bad_request"),
        "{}",
        c.body
    );
    let res = s
        .agent
        .delete(format!("{}/healthz", s.base))
        .call()
        .unwrap();
    let d = answer(res);
    assert_eq!(
        (d.status, error_code(&d)),
        (405, "method_not_allowed"),
        "{}",
        d.body
    );
}

pub fn oversized_bodies_are_413(s: &Running) {
    let big = vec![b'x'; 4096];
    let res = s
        .agent
        .post(format!("{}/v1/config/dev/checkout", s.base))
        .send(&big[..])
        .unwrap();
    let a = answer(res);
    assert_eq!(
        (a.status, error_code(&a)),
        (413, "payload_too_large"),
        "{}",
        a.body
    );
}

pub fn a_new_revision_is_served_within_a_second(s: &Running) {
    let url = "/v1/config/dev/checkout/replicas?provider=aws";
    let before = s.get(url, Some(&s.admin), None);
    assert_eq!(before.status, 200, "{}", before.body);
    s.import_seven_replicas();
    let started = std::time::Instant::now();
    loop {
        let now = s.get(url, Some(&s.admin), before.etag.as_deref());
        if now.status == 200 {
            assert_eq!(now.body["value"], 7, "{}", now.body);
            assert_ne!(now.etag, before.etag);
            break;
        }
        assert_eq!(now.status, 304);
        assert!(
            started.elapsed().as_secs() < 1,
            "the new revision was not served"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

pub fn a_revoked_token_is_refused(s: &Running) {
    let url = "/v1/config/dev/checkout?provider=aws";
    assert_eq!(s.get(url, Some(&s.admin), None).status, 200);
    let id = strata_auth::token::parse(&s.admin).unwrap().id.to_string();
    let repo = strata_store::repo::open(&s.store).unwrap();
    repo.store().token_revoke(&id, 1, &[]).unwrap();
    let started = std::time::Instant::now();
    loop {
        let now = s.get(url, Some(&s.admin), None);
        if now.status == 401 {
            break;
        }
        assert_eq!(now.status, 200);
        assert!(
            started.elapsed().as_secs() < 1,
            "the revoked token still works"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

pub fn metrics_count_requests_by_route_and_status(s: &Running) {
    let url = "/v1/config/dev/checkout?provider=aws";
    assert_eq!(s.get(url, Some(&s.admin), None).status, 200);
    assert_eq!(s.get(url, Some(&s.admin), None).status, 200);
    assert_eq!(s.get(url, None, None).status, 401);
    assert_eq!(s.get("/healthz", None, None).status, 200);
    assert_eq!(s.get("/v1/nothing", Some(&s.admin), None).status, 404);
    let (status, body) = s.get_text("/metrics", None);
    assert_eq!(status, 401, "{body}");
    let (status, body) = s.get_text("/metrics", Some(&s.nobody));
    assert_eq!(status, 403, "{body}");
    let (status, text) = s.get_text("/metrics", Some(&s.admin));
    assert_eq!(status, 200, "{text}");
    for line in [
        "strata_http_requests_total{route=\"/v1/config/{env}/{service}\",status=\"200\"} 2",
        "strata_http_requests_total{route=\"/v1/config/{env}/{service}\",status=\"401\"} 1",
        "strata_http_requests_total{route=\"/healthz\",status=\"200\"} 1",
        "strata_http_requests_total{route=\"unmatched\",status=\"404\"} 1",
        "strata_http_requests_total{route=\"/metrics\",status=\"403\"} 1",
        "strata_http_request_duration_seconds_count{route=\"/v1/config/{env}/{service}\"} 3",
        "strata_http_request_duration_seconds_bucket{route=\"/v1/config/{env}/{service}\",le=\"+Inf\"} 3",
        "strata_cache_hits_total 1",
        "strata_cache_misses_total 1",
        "# TYPE strata_head_revision_seq gauge",
        "# TYPE strata_store_call_duration_seconds histogram",
    ] {
        assert!(text.contains(line), "no `{line}` in\n{text}");
    }
    let seq = text
        .lines()
        .find_map(|l| l.strip_prefix("strata_head_revision_seq "))
        .unwrap();
    assert!(seq.parse::<u64>().unwrap() >= 1, "{text}");
    assert!(
        text.contains("strata_store_call_duration_seconds_count{op=\"token\"}"),
        "{text}"
    );
}

pub fn revisions_are_listed_newest_first_and_shown(s: &Running) {
    s.commit_seven_replicas();
    let all = s.get("/v1/revisions", Some(&s.admin), None);
    assert_eq!(all.status, 200, "{}", all.body);
    let revs = all.body["revisions"].as_array().unwrap();
    assert_eq!(revs.len(), 2, "{}", all.body);
    let (new, old) = (&revs[0], &revs[1]);
    assert!(new["seq"].as_u64() > old["seq"].as_u64(), "{}", all.body);
    assert_eq!(new["message"], "seven replicas");
    assert_eq!(new["author"], "test-admin");
    assert!(new["timestamp_ms"].is_i64() && new["id"].is_string());
    let one = s.get("/v1/revisions?limit=1", Some(&s.admin), None);
    assert_eq!(one.body["revisions"].as_array().unwrap().len(), 1);
    for bad in ["/v1/revisions?limit=0", "/v1/revisions?limit=x"] {
        let a = s.get(bad, Some(&s.admin), None);
        assert_eq!((a.status, error_code(&a)), (400, "bad_request"), "{bad}");
    }

    let head = s.get("/v1/revisions/HEAD", Some(&s.admin), None);
    assert_eq!(head.status, 200, "{}", head.body);
    assert_eq!(head.body["revision"]["id"], new["id"]);
    let files = head.body["files"].as_array().unwrap();
    assert!(
        files
            .iter()
            .any(|f| f["path"] == "layers/env/dev/checkout.yaml"),
        "{}",
        head.body
    );
    let params = head.body["params"].as_array().unwrap();
    assert_eq!(head.body["hidden"], 0, "{}", head.body);
    assert!(
        params.iter().any(|p| p["param"] == "checkout:replicas"),
        "{}",
        head.body
    );
    let old_id = old["id"].as_str().unwrap();
    let by_seq = s.get(
        &format!("/v1/revisions/%23{}", old["seq"]),
        Some(&s.admin),
        None,
    );
    assert_eq!(by_seq.status, 200, "{}", by_seq.body);
    assert_eq!(by_seq.body["revision"]["id"], old_id);
    let by_prefix = s.get(
        &format!("/v1/revisions/{}", &old_id[..10]),
        Some(&s.admin),
        None,
    );
    assert_eq!(by_prefix.body["revision"]["id"], old_id);
    let unknown = s.get("/v1/revisions/0000000000ff", Some(&s.admin), None);
    assert_eq!(
        (unknown.status, error_code(&unknown)),
        (404, "not_found"),
        "{}",
        unknown.body
    );
    assert_eq!(s.get("/v1/revisions", None, None).status, 401);
    let denied = s.get("/v1/revisions", Some(&s.nobody), None);
    assert_eq!((denied.status, error_code(&denied)), (403, "forbidden"));
}

pub fn diff_between_revisions_is_semantic_json(s: &Running) {
    let first = s.get("/v1/revisions/HEAD", Some(&s.admin), None);
    let first_id = first.body["revision"]["id"].as_str().unwrap().to_string();
    s.commit_seven_replicas();
    let a = s.get(
        &format!("/v1/diff?from={first_id}&to=HEAD"),
        Some(&s.admin),
        None,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["from"]["id"], first_id.as_str());
    let diffs = a.body["diffs"].as_array().unwrap();
    let checkout = diffs
        .iter()
        .find(|d| d["service"] == "checkout" && d["target"] == "dev/aws/us-east-1")
        .unwrap_or_else(|| panic!("{}", a.body));
    let change = checkout["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["param"].as_str().unwrap().ends_with("replicas"))
        .unwrap_or_else(|| panic!("{}", a.body));
    assert_eq!(change["kind"], "changed", "{change}");
    assert_eq!(change["old"], "1");
    assert_eq!(change["new"], "7");
    assert!(!a.body.to_string().contains("ENC["), "{}", a.body);
    // `to` defaults to HEAD; one target only.
    let b = s.get(
        &format!("/v1/diff?from={first_id}&target=prod/aws/us-east-1"),
        Some(&s.admin),
        None,
    );
    assert_eq!(b.status, 200, "{}", b.body);
    assert_eq!(b.body["diffs"], serde_json::json!([]), "{}", b.body);
    let none = s.get("/v1/diff", Some(&s.admin), None);
    assert_eq!((none.status, error_code(&none)), (400, "bad_request"));
    let unknown = s.get("/v1/diff?from=0000000000ff", Some(&s.admin), None);
    assert_eq!((unknown.status, error_code(&unknown)), (404, "not_found"));
    let target = s.get(
        &format!("/v1/diff?from={first_id}&target=nowhere/x/y"),
        Some(&s.admin),
        None,
    );
    assert_eq!((target.status, error_code(&target)), (400, "bad_request"));
    let denied = s.get(&format!("/v1/diff?from={first_id}"), Some(&s.nobody), None);
    assert_eq!(denied.status, 403);
}

pub fn audit_is_for_admins_and_filters(s: &Running) {
    assert_eq!(
        s.get(
            "/v1/config/dev/checkout?provider=aws",
            Some(&s.nobody),
            None
        )
        .status,
        403
    );
    let all = s.get("/v1/audit", Some(&s.admin), None);
    assert_eq!(all.status, 200, "{}", all.body);
    assert!(!all.body["entries"].as_array().unwrap().is_empty());
    let mine = s.get(
        "/v1/audit?principal=nobody&param=checkout:&since=1h&limit=5",
        Some(&s.admin),
        None,
    );
    assert_eq!(mine.status, 200, "{}", mine.body);
    let entries = mine.body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{}", mine.body);
    assert_eq!(entries[0]["principal"], "nobody");
    assert_eq!(entries[0]["action"], "read");
    let after = s.get(
        &format!("/v1/audit?since=%23{}", entries[0]["seq"]),
        Some(&s.admin),
        None,
    );
    assert!(
        after.body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["seq"].as_u64() > entries[0]["seq"].as_u64()),
        "{}",
        after.body
    );
    let bad = s.get("/v1/audit?since=yesterday", Some(&s.admin), None);
    assert_eq!((bad.status, error_code(&bad)), (400, "bad_request"));
    let denied = s.get("/v1/audit", Some(&s.nobody), None);
    assert_eq!((denied.status, error_code(&denied)), (403, "forbidden"));
    assert_eq!(s.get("/v1/audit", None, None).status, 401);
    // An auditor reads everything but does not administer: history yes, audit no.
    let repo = strata_store::repo::open(&s.store).unwrap();
    let auditor = seed::create_token(&repo, "lena.fischer", "test-admin").unwrap();
    let auditor = auditor.expose().to_string();
    assert_eq!(s.get("/v1/revisions", Some(&auditor), None).status, 200);
    let refused = s.get("/v1/audit", Some(&auditor), None);
    assert_eq!(
        (refused.status, error_code(&refused)),
        (403, "forbidden"),
        "{}",
        refused.body
    );
    assert!(refused.body["error"]["details"]["rule"].is_string());
    let logged = s.get(
        "/v1/audit?principal=lena.fischer&action=admin",
        Some(&s.admin),
        None,
    );
    assert_eq!(
        logged.body["entries"].as_array().unwrap().len(),
        1,
        "{}",
        logged.body
    );
}

pub fn change_requests_are_listed_and_shown(s: &Running) {
    let empty = s.get("/v1/requests?pending=true", Some(&s.admin), None);
    assert_eq!(empty.status, 200, "{}", empty.body);
    assert_eq!(empty.body["requests"], serde_json::json!([]));
    let repo = strata_store::repo::open(&s.store).unwrap();
    let req = strata_store::requests::NewRequest {
        id: "cr-1".into(),
        author: "dana.kim".into(),
        message: "more replicas".into(),
        changeset: "changes: []\n".into(),
        base_seq: 1,
        created_ms: 1,
        expires_ms: None,
        rules: "[]".into(),
    };
    repo.store().request_create(&req, &[]).unwrap();
    let open = s.get("/v1/requests?pending=true", Some(&s.admin), None);
    let list = open.body["requests"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{}", open.body);
    assert_eq!(list[0]["id"], "cr-1");
    assert_eq!(list[0]["status"], "pending");
    let one = s.get("/v1/requests/cr-1", Some(&s.admin), None);
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.body["request"]["message"], "more replicas");
    let missing = s.get("/v1/requests/cr-2", Some(&s.admin), None);
    assert_eq!((missing.status, error_code(&missing)), (404, "not_found"));
    let bad = s.get("/v1/requests?pending=maybe", Some(&s.admin), None);
    assert_eq!((bad.status, error_code(&bad)), (400, "bad_request"));
    assert_eq!(s.get("/v1/requests", Some(&s.nobody), None).status, 403);
    assert_eq!(s.get("/v1/requests/cr-1", None, None).status, 401);
}

pub fn openapi_describes_every_route(s: &Running) {
    assert_eq!(s.get("/openapi.json", None, None).status, 401);
    let doc = s.get("/openapi.json", Some(&s.admin), None);
    assert_eq!(doc.status, 200, "{}", doc.body);
    assert_eq!(doc.body["openapi"], "3.1.0");
    assert_eq!(
        doc.body["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let error = &doc.body["components"]["schemas"]["Error"]["properties"]["error"];
    assert_eq!(
        error["required"],
        serde_json::json!(["code", "message", "details"])
    );
    let paths = doc.body["paths"].as_object().unwrap();
    // Every described path is routed: with sample values, no answer is the fallback's.
    for path in paths.keys() {
        let url = path
            .replace("{env}", "dev")
            .replace("{service}", "checkout")
            .replace("{path}", "replicas")
            .replace("{id}", "HEAD");
        let (status, body) = s.get_text(&url, Some(&s.admin));
        assert!(
            !body.contains("no such route"),
            "{path} ({url}) is not routed: {status} {body}"
        );
        let ops = paths[path].as_object().unwrap();
        assert!(
            ops.values().all(|op| op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .any(|k| k.starts_with('2'))),
            "{path}"
        );
    }
    for p in ["/v1/revisions", "/v1/diff", "/v1/audit", "/metrics"] {
        assert!(paths.contains_key(p), "{p}");
    }
}

/// Every suite ([`http_suite!`] and those of the submodules) on fresh servers from
/// `$start`: what each backend's file runs, so that both run the same.
#[macro_export]
macro_rules! all_suites {
    ($start:expr) => {
        http_suite!($start);
        auth_suite!($start);
        limits_suite!($start);
        writes_suite!($start);
        drift_suite!($start);
        watch_suite!($start);
    };
}

/// Defines one `#[test]` per suite case, each on a fresh server from `$start` (an
/// expression giving a [`Running`]).
#[macro_export]
macro_rules! http_suite {
    ($start:expr) => {
        #[test]
        fn openapi_describes_every_route() {
            suite::openapi_describes_every_route(&$start);
        }
        #[test]
        fn metrics_count_requests_by_route_and_status() {
            suite::metrics_count_requests_by_route_and_status(&$start);
        }
        #[test]
        fn revisions_are_listed_newest_first_and_shown() {
            suite::revisions_are_listed_newest_first_and_shown(&$start);
        }
        #[test]
        fn diff_between_revisions_is_semantic_json() {
            suite::diff_between_revisions_is_semantic_json(&$start);
        }
        #[test]
        fn audit_is_for_admins_and_filters() {
            suite::audit_is_for_admins_and_filters(&$start);
        }
        #[test]
        fn change_requests_are_listed_and_shown() {
            suite::change_requests_are_listed_and_shown(&$start);
        }
        #[test]
        fn a_revoked_token_is_refused() {
            suite::a_revoked_token_is_refused(&$start);
        }
        #[test]
        fn a_new_revision_is_served_within_a_second() {
            suite::a_new_revision_is_served_within_a_second(&$start);
        }
        #[test]
        fn health_and_readiness_are_anonymous() {
            suite::health_and_readiness_are_anonymous(&$start);
        }
        #[test]
        fn config_read_has_an_etag_and_answers_304() {
            suite::config_read_has_an_etag_and_answers_304(&$start);
        }
        #[test]
        fn one_parameter_by_dots_or_slashes() {
            suite::one_parameter_by_dots_or_slashes(&$start);
        }
        #[test]
        fn unknown_service_param_and_route_are_404() {
            suite::unknown_service_param_and_route_are_404(&$start);
        }
        #[test]
        fn ambiguous_target_is_400_with_candidates() {
            suite::ambiguous_target_is_400_with_candidates(&$start);
        }
        #[test]
        fn missing_or_bad_token_is_401() {
            suite::missing_or_bad_token_is_401(&$start);
        }
        #[test]
        fn a_principal_without_roles_is_403_with_the_rule() {
            suite::a_principal_without_roles_is_403_with_the_rule(&$start);
        }
        #[test]
        fn secrets_are_redacted() {
            suite::secrets_are_redacted(&$start);
        }
        #[test]
        fn malformed_requests_get_json_errors() {
            suite::malformed_requests_get_json_errors(&$start);
        }
        #[test]
        fn oversized_bodies_are_413() {
            suite::oversized_bodies_are_413(&$start);
        }
    };
}
