//! JWTs and the authorization webhook over HTTP: the acme store gets a second revision
//! whose `policies/access.yaml` has an `identity:` section (HS256 JWTs signed in the test,
//! a webhook served by the test on 127.0.0.1). See [`auth_suite!`].

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use strata_server::seed;
use strata_testkit::acme;

use super::{Answer, Running, error_code};

/// The HS256 secret of the test identity provider.
pub const SECRET: &str = "test-secret-of-at-least-32-bytes-0123456789";
/// The issuer and audience the policy expects.
pub const ISSUER: &str = "https://login.acme.test";
/// The audience the policy expects.
pub const AUDIENCE: &str = "strata";
/// A prod read that only someone with a role may make.
const PROD: &str = "/v1/config/prod/checkout?provider=aws&region=us-east-1";

/// acme's files with `identity` (YAML, indented under `identity:`) appended to its policy.
pub fn acme_with_identity(identity: &str) -> BTreeMap<String, Vec<u8>> {
    let mut files = acme::files();
    let policy = files.get_mut("policies/access.yaml").unwrap();
    policy.extend_from_slice(format!("\nidentity:\n{identity}").as_bytes());
    files
}

/// The `jwt:` part of an identity section: HS256 with [`SECRET`], the `groups` claim,
/// `platform-sre` mapped to `sre`, no leeway.
pub fn jwt_section() -> String {
    format!(
        "  jwt:\n    issuer: {ISSUER}\n    audience: {AUDIENCE}\n    algorithms: [HS256]\n    key: {{ hs256_secret: \"{SECRET}\" }}\n    roles_claim: groups\n    role_map: {{ platform-sre: [sre] }}\n    leeway_secs: 0\n"
    )
}

/// The `webhook:` part of an identity section.
pub fn webhook_section(url: &str) -> String {
    format!("  webhook:\n    url: {url}\n    timeout_ms: 2000\n")
}

/// Makes the head of `store` acme with `identity` in its policy: its seq.
pub fn seed_identity(store: &str, identity: &str) -> u64 {
    let repo = strata_store::repo::open(store).unwrap();
    seed::import(
        &repo,
        acme_with_identity(identity),
        "test-admin",
        "identity",
    )
    .unwrap();
    repo.head().unwrap().seq
}

/// [`seed_identity`] under the running server `s`, waiting until it serves that head
/// (`/readyz` names the seq served).
pub fn use_identity(s: &Running, identity: &str) {
    s.wait_for_seq(seed_identity(s.store(), identity));
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An HS256 JWT signed with `secret` over `claims`.
pub fn sign(secret: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// Valid claims for `sub` with `groups`, expiring in an hour.
pub fn claims(sub: &str, groups: &[&str]) -> Value {
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "groups": groups, "exp": now() + 3600})
}

/// A stand-in authorization webhook on 127.0.0.1: answers each POST with
/// `{"result": decide(input)}` after `delay`, and keeps every input it was sent.
pub struct Webhook {
    /// `http://127.0.0.1:PORT/v1/data/strata/allow`
    pub url: String,
    /// The `input` of every request, in order.
    pub inputs: Arc<Mutex<Vec<Value>>>,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Webhook {
    /// Starts the webhook.
    pub fn start(delay: Duration, decide: fn(&Value) -> bool) -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let inputs = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, stopping) = (inputs.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let Some(input) = read_input(&conn) else {
                    continue;
                };
                let body = json!({"result": decide(&input)}).to_string();
                seen.lock().unwrap().push(input);
                std::thread::sleep(delay);
                let mut conn = conn;
                let _ = write!(
                    conn,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Webhook {
            url: format!("http://{addr}/v1/data/strata/allow"),
            inputs,
            stop,
            addr,
            thread: Some(thread),
        }
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The `input` of one webhook request (head, then `Content-Length` bytes of JSON).
fn read_input(conn: &TcpStream) -> Option<Value> {
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(conn);
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let envelope: Value = serde_json::from_slice(&body).ok()?;
    Some(envelope["input"].clone())
}

fn message(a: &Answer) -> String {
    a.body["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// Starts a webhook deciding by `decide` at once, and makes the head's policy use it after
/// the JWT settings of [`jwt_section`].
fn jwt_and_webhook(s: &Running, decide: fn(&Value) -> bool) -> Webhook {
    let hook = Webhook::start(Duration::ZERO, decide);
    use_identity(
        s,
        &format!("{}{}", jwt_section(), webhook_section(&hook.url)),
    );
    hook
}

/// `a` is a veto of `hook`: a 403 saying so and naming it.
#[track_caller]
fn assert_vetoed_by(a: &Answer, hook: &Webhook) {
    assert_eq!((a.status, error_code(a)), (403, "forbidden"), "{}", a.body);
    assert!(
        message(a).contains("denied by the authorization webhook"),
        "{}",
        a.body
    );
    assert_eq!(a.body["error"]["details"]["webhook"], hook.url.as_str());
}

/// A principal the policy does not know gets roles from the JWT's `groups` claim; the
/// same principal with an API token (no claims) is refused; a known principal keeps its
/// own roles; claims never grant roles the mapping does not name.
pub fn jwt_roles_from_claims_allow_a_read(s: &Running) {
    use_identity(s, &jwt_section());
    let sre = sign(SECRET, &claims("kai.contractor", &["platform-sre"]));
    let a = s.get(PROD, Some(&sre), None);
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body["db"].is_object(), "{}", a.body);

    let repo = strata_store::repo::open(s.store()).unwrap();
    let token = seed::create_token(&repo, "kai.contractor", "test-admin").unwrap();
    drop(repo);
    let t = s.get(PROD, Some(token.expose()), None);
    assert_eq!((t.status, error_code(&t)), (403, "forbidden"), "{}", t.body);

    let unmapped = sign(SECRET, &claims("kai.contractor", &["sre", "admin"]));
    let u = s.get(PROD, Some(&unmapped), None);
    assert_eq!(u.status, 403, "{}", u.body);
    assert_eq!(u.body["error"]["details"]["authenticated_by"], "jwt");

    let dana = sign(SECRET, &claims("dana.kim", &[]));
    let audit = s.get("/v1/audit?principal=kai.contractor", Some(&dana), None);
    assert_eq!(audit.status, 200, "{}", audit.body);
    let entries = audit.body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{}", audit.body);
    assert!(
        entries.iter().all(|e| e["decision"] == "denied"),
        "{}",
        audit.body
    );

    // The coarse checks of history endpoints take the claims' roles too.
    let revisions = s.get("/v1/revisions", Some(&sre), None);
    assert_eq!(revisions.status, 200, "{}", revisions.body);
    // And the same token again is answered from the verified-token memory.
    assert_eq!(s.get(PROD, Some(&sre), None).status, 200);
}

/// Expired, not-yet-valid, wrong-audience, wrong-issuer and badly signed JWTs are 401
/// with the reason, never echoing the token.
pub fn bad_jwts_are_401_saying_why(s: &Running) {
    use_identity(s, &jwt_section());
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "dana.kim", "exp": now() - 30}),
            SECRET,
            "expired",
        ),
        (
            json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "dana.kim", "exp": now() + 600, "nbf": now() + 300}),
            SECRET,
            "not valid before",
        ),
        (
            json!({"iss": ISSUER, "aud": "someone-else", "sub": "dana.kim", "exp": now() + 600}),
            SECRET,
            "audience",
        ),
        (
            json!({"iss": "https://evil.test", "aud": AUDIENCE, "sub": "dana.kim", "exp": now() + 600}),
            SECRET,
            "issuer",
        ),
        (
            claims("dana.kim", &[]),
            "another-secret-of-at-least-32-bytes-xyz",
            "signature",
        ),
    ];
    for (claims, secret, why) in cases {
        let token = sign(secret, &claims);
        let a = s.get(PROD, Some(&token), None);
        assert_eq!(
            (a.status, error_code(&a)),
            (401, "unauthorized"),
            "{why}: {}",
            a.body
        );
        assert!(message(&a).contains(why), "{why}: {}", a.body);
        assert!(!a.body.to_string().contains(&token), "the token is echoed");
        assert_eq!(a.www_auth.as_deref(), Some("Bearer"));
    }
    let garbage = s.get(PROD, Some("not-a-jwt"), None);
    assert_eq!(garbage.status, 401, "{}", garbage.body);
    assert!(message(&garbage).contains("malformed"), "{}", garbage.body);
}

/// Without `identity.jwt` in the policy, a JWT is refused and the message says so.
pub fn a_jwt_without_jwt_settings_is_401(s: &Running) {
    let token = sign(SECRET, &claims("dana.kim", &[]));
    let a = s.get(PROD, Some(&token), None);
    assert_eq!(
        (a.status, error_code(&a)),
        (401, "unauthorized"),
        "{}",
        a.body
    );
    assert!(message(&a).contains("identity.jwt"), "{}", a.body);
}

/// The webhook is asked after the policy allows, with the caller's roles (JWT claims
/// included); its refusal is a 403 naming it, audited.
pub fn the_webhook_vetoes_what_the_policy_allows(s: &Running) {
    fn no_ledger_reads(input: &Value) -> bool {
        !(input["action"] == "read" && input["service"] == "ledger")
    }
    let hook = jwt_and_webhook(s, no_ledger_reads);
    let ok = s.get(PROD, Some(s.admin()), None);
    assert_eq!(ok.status, 200, "{}", ok.body);
    let ledger = "/v1/config/prod/ledger?provider=aws&region=us-east-1";
    let vetoed = s.get(ledger, Some(s.admin()), None);
    assert_vetoed_by(&vetoed, &hook);

    // A policy denial is not sent to the webhook.
    let asked = hook.inputs.lock().unwrap().len();
    assert_eq!(s.get(PROD, Some(s.nobody()), None).status, 403);
    assert_eq!(hook.inputs.lock().unwrap().len(), asked);

    // A JWT's roles reach the webhook.
    let sre = sign(SECRET, &claims("kai.contractor", &["platform-sre"]));
    assert_eq!(s.get(PROD, Some(&sre), None).status, 200);
    let inputs = hook.inputs.lock().unwrap().clone();
    let kai = inputs
        .iter()
        .find(|i| i["principal"] == "kai.contractor")
        .unwrap_or_else(|| panic!("{inputs:?}"));
    assert_eq!(kai["roles"], json!(["sre"]), "{kai}");
    assert_eq!(kai["param"], "checkout:", "{kai}");
    assert_eq!(kai["env"], "prod", "{kai}");

    // Answers are remembered for a short while: asking again does not ask the webhook.
    let before = hook.inputs.lock().unwrap().len();
    assert_eq!(s.get(PROD, Some(&sre), None).status, 200);
    assert_eq!(hook.inputs.lock().unwrap().len(), before);

    // The veto is in the audit log (admin reads of the audit log are not vetoed).
    let audit = s.get(
        "/v1/audit?principal=dana.kim&action=read",
        Some(s.admin()),
        None,
    );
    assert_eq!(audit.status, 200, "{}", audit.body);
    let entries = audit.body["entries"].as_array().unwrap();
    assert!(
        entries.iter().any(|e| e["decision"] == "denied"
            && e["rule"]
                .as_str()
                .is_some_and(|r| r.contains("authorization webhook"))),
        "{}",
        audit.body
    );
}

/// A webhook that cannot be reached denies (fail closed), naming the failure.
pub fn a_dead_webhook_fails_closed(s: &Running) {
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let url = format!("http://{closed}/v1/data/strata/allow");
    use_identity(s, &webhook_section(&url));
    let a = s.get(PROD, Some(s.admin()), None);
    assert_eq!((a.status, error_code(&a)), (403, "forbidden"), "{}", a.body);
    assert!(message(&a).contains("fail closed"), "{}", a.body);
    assert_eq!(a.body["error"]["details"]["webhook"], url.as_str());
    let r = s.get("/v1/revisions", Some(s.admin()), None);
    assert_eq!(r.status, 403, "{}", r.body);
    // Health needs no decision.
    assert_eq!(s.get("/healthz", None, None).status, 200);
}

/// Writes are judged like reads: the webhook is asked after the policy allows, and its
/// veto is a 403 naming it; a JWT's roles count for writes too.
pub fn the_webhook_and_jwt_roles_judge_writes(s: &Running) {
    fn no_checkout_writes(input: &Value) -> bool {
        !(input["action"] == "write" && input["service"] == "checkout")
    }
    let hook = jwt_and_webhook(s, no_checkout_writes);
    let change = |service: &str, value: u64| json!({"changes": [{"set": format!("{service}:replicas"), "layer": "env/dev", "value": value}]});
    let vetoed = s.post("/v1/changes", Some(s.admin()), &change("checkout", 4));
    assert_vetoed_by(&vetoed, &hook);
    let inputs = hook.inputs.lock().unwrap().clone();
    assert!(
        inputs
            .iter()
            .any(|i| i["action"] == "write" && i["param"] == "checkout:replicas"),
        "{inputs:?}"
    );

    let applied = s.post("/v1/changes", Some(s.admin()), &change("catalog", 4));
    assert_eq!(applied.status, 201, "{}", applied.body);

    // A JWT principal unknown to the policy writes with the roles its claims map to.
    let sre = sign(SECRET, &claims("kai.contractor", &["platform-sre"]));
    let by_jwt = s.post("/v1/changes", Some(&sre), &change("catalog", 5));
    assert_eq!(by_jwt.status, 201, "{}", by_jwt.body);
    assert_eq!(
        by_jwt.body["revision"]["author"], "kai.contractor",
        "{}",
        by_jwt.body
    );
    let plain = sign(SECRET, &claims("kai.contractor", &[]));
    let refused = s.post("/v1/changes", Some(&plain), &change("catalog", 6));
    assert_eq!(refused.status, 403, "{}", refused.body);
}

/// Defines one `#[test]` per case of this file, each on a fresh server from `$start`.
#[macro_export]
macro_rules! auth_suite {
    ($start:expr) => {
        #[test]
        fn jwt_roles_from_claims_allow_a_read() {
            suite::auth::jwt_roles_from_claims_allow_a_read(&$start);
        }
        #[test]
        fn bad_jwts_are_401_saying_why() {
            suite::auth::bad_jwts_are_401_saying_why(&$start);
        }
        #[test]
        fn a_jwt_without_jwt_settings_is_401() {
            suite::auth::a_jwt_without_jwt_settings_is_401(&$start);
        }
        #[test]
        fn the_webhook_vetoes_what_the_policy_allows() {
            suite::auth::the_webhook_vetoes_what_the_policy_allows(&$start);
        }
        #[test]
        fn the_webhook_and_jwt_roles_judge_writes() {
            suite::auth::the_webhook_and_jwt_roles_judge_writes(&$start);
        }
        #[test]
        fn a_dead_webhook_fails_closed() {
            suite::auth::a_dead_webhook_fails_closed(&$start);
        }
    };
}
