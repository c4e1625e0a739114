//! The authorization webhook against a real HTTP server on 127.0.0.1: a small
//! `std::net::TcpListener` thread that records each request and answers with a canned
//! response (optionally after a delay).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use strata_auth::webhook::{
    AuthzInput, AuthzWebhook, DEFAULT_TIMEOUT_MS, Decision, MAX_RESPONSE_BYTES, WebhookConfig,
    WebhookFailure,
};

/// One request as the server saw it.
#[derive(Debug)]
struct Seen {
    request_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the server does with each connection.
#[derive(Clone)]
enum Reply {
    /// Wait, then send a status and body (with Content-Length) and close.
    Respond {
        delay: Duration,
        status: u16,
        body: Vec<u8>,
    },
    /// Send the status line and headers, then stall before the body.
    StallBody { delay: Duration },
    /// Read the request and close without answering.
    Hangup,
}

fn respond(status: u16, body: impl Into<Vec<u8>>) -> Reply {
    Reply::Respond {
        delay: Duration::ZERO,
        status,
        body: body.into(),
    }
}

struct Server {
    url: String,
    seen: mpsc::Receiver<Seen>,
}

impl Server {
    /// The one request the server received (waits up to 5 s).
    fn request(&self) -> Seen {
        self.seen
            .recv_timeout(Duration::from_secs(5))
            .expect("the server saw no request")
    }
}

/// Starts a server on 127.0.0.1:0 answering every connection with `reply`. The thread is
/// left running; it ends with the test process.
fn serve(reply: Reply) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/v1/data/strata/allow",
        listener.local_addr().unwrap()
    );
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let tx = tx.clone();
            let reply = reply.clone();
            thread::spawn(move || handle(stream, &reply, &tx));
        }
    });
    Server { url, seen: rx }
}

fn handle(stream: TcpStream, reply: &Reply, tx: &mpsc::Sender<Seen>) {
    let Ok(seen) = read_request(&stream) else {
        return;
    };
    let _ = tx.send(seen);
    let mut stream = stream;
    match reply {
        Reply::Respond {
            delay,
            status,
            body,
        } => {
            thread::sleep(*delay);
            let head = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body);
        }
        Reply::StallBody { delay } => {
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 16\r\nconnection: close\r\n\r\n{\"res",
            );
            let _ = stream.flush();
            thread::sleep(*delay);
            let _ = stream.write_all(b"ult\": true}");
        }
        Reply::Hangup => {}
    }
    let _ = stream.flush();
}

fn read_request(stream: &TcpStream) -> std::io::Result<Seen> {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Seen {
        request_line: request_line.trim_end().to_owned(),
        headers,
        body,
    })
}

fn input() -> AuthzInput {
    AuthzInput {
        principal: "alice".to_owned(),
        roles: vec!["sre".to_owned(), "payments-dev".to_owned()],
        action: "write".to_owned(),
        env: Some("prod".to_owned()),
        service: Some("checkout".to_owned()),
        param: Some("checkout:db.pool.max".to_owned()),
        request_id: "req-0001".to_owned(),
    }
}

fn client(server: &Server) -> AuthzWebhook {
    AuthzWebhook::new(WebhookConfig::new(&server.url)).unwrap()
}

fn client_with(server: &Server, timeout_ms: u64, fail_open: bool) -> AuthzWebhook {
    let mut config = WebhookConfig::new(&server.url);
    config.timeout_ms = timeout_ms;
    config.fail_open = fail_open;
    AuthzWebhook::new(config).unwrap()
}

#[test]
fn allow_and_the_request_has_the_opa_input_shape() {
    let server = serve(respond(200, r#"{"result": true, "decision_id": "d-1"}"#));
    let decision = client(&server).decide(&input());
    assert_eq!(decision, Decision::Allow);
    assert!(decision.is_allowed());

    let seen = server.request();
    assert_eq!(seen.request_line, "POST /v1/data/strata/allow HTTP/1.1");
    assert_eq!(seen.header("content-type"), Some("application/json"));
    let body: Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(
        body,
        json!({
            "input": {
                "principal": "alice",
                "roles": ["sre", "payments-dev"],
                "action": "write",
                "env": "prod",
                "service": "checkout",
                "param": "checkout:db.pool.max",
                "request_id": "req-0001",
            }
        })
    );
}

#[test]
fn absent_fields_are_sent_as_null() {
    let server = serve(respond(200, r#"{"result": true}"#));
    let mut i = input();
    i.env = None;
    i.service = None;
    i.param = None;
    i.roles.clear();
    i.action = "admin".to_owned();
    assert_eq!(client(&server).decide(&i), Decision::Allow);
    let body: Value = serde_json::from_slice(&server.request().body).unwrap();
    assert_eq!(
        body,
        json!({"input": {"principal": "alice", "roles": [], "action": "admin", "env": null,
                         "service": null, "param": null, "request_id": "req-0001"}})
    );
}

#[test]
fn deny() {
    let server = serve(respond(200, r#"{"result": false}"#));
    let decision = client(&server).decide(&input());
    assert_eq!(decision, Decision::Deny);
    assert!(!decision.is_allowed());
    assert_eq!(decision.to_string(), "denied by the authorization webhook");
}

#[test]
fn result_object_with_allow() {
    let server = serve(respond(
        200,
        r#"{"result": {"allow": true, "reasons": []}}"#,
    ));
    assert_eq!(client(&server).decide(&input()), Decision::Allow);
    let server = serve(respond(200, r#"{"result": {"allow": false}}"#));
    assert_eq!(client(&server).decide(&input()), Decision::Deny);
}

#[test]
fn any_2xx_is_an_answer() {
    let server = serve(respond(203, r#"{"result": true}"#));
    assert_eq!(client(&server).decide(&input()), Decision::Allow);
}

#[test]
fn server_error_denies_even_with_an_allow_body() {
    let server = serve(respond(500, r#"{"result": true}"#));
    let decision = client(&server).decide(&input());
    assert_eq!(
        decision,
        Decision::FailedClosed(WebhookFailure::Status(500))
    );
    assert!(!decision.is_allowed());
    assert!(decision.to_string().contains("500"), "{decision}");
}

#[test]
fn redirects_are_not_followed() {
    let server = serve(Reply::Respond {
        delay: Duration::ZERO,
        status: 307,
        body: br#"{"result": true}"#.to_vec(),
    });
    let decision = client(&server).decide(&input());
    assert_eq!(
        decision,
        Decision::FailedClosed(WebhookFailure::Status(307))
    );
}

#[test]
fn malformed_bodies_deny() {
    for body in [
        "{\"result\": tru",
        "not json at all",
        "",
        "{}",
        r#"{"result": "true"}"#,
        r#"{"result": {"allowed": true}}"#,
        r#"[{"result": true}]"#,
    ] {
        let server = serve(respond(200, body));
        let decision = client(&server).decide(&input());
        assert!(
            matches!(
                decision,
                Decision::FailedClosed(WebhookFailure::Malformed(_))
            ),
            "{body:?}: {decision:?}"
        );
    }
}

#[test]
fn timeout_fails_closed() {
    let server = serve(Reply::Respond {
        delay: Duration::from_millis(1500),
        status: 200,
        body: br#"{"result": true}"#.to_vec(),
    });
    let started = Instant::now();
    let decision = client_with(&server, 200, false).decide(&input());
    let elapsed = started.elapsed();
    assert_eq!(decision, Decision::FailedClosed(WebhookFailure::Timeout));
    assert!(!decision.is_allowed());
    assert!(
        elapsed < Duration::from_millis(1200),
        "gave up after {elapsed:?}"
    );
    // The request did arrive: the server was just too slow.
    assert_eq!(
        server.request().request_line.split(' ').next(),
        Some("POST")
    );
}

#[test]
fn timeout_with_fail_open_allows() {
    let server = serve(Reply::Respond {
        delay: Duration::from_millis(1500),
        status: 200,
        body: br#"{"result": false}"#.to_vec(),
    });
    let decision = client_with(&server, 200, true).decide(&input());
    assert_eq!(decision, Decision::FailedOpen(WebhookFailure::Timeout));
    assert!(decision.is_allowed());
    assert!(decision.to_string().contains("fail_open"), "{decision}");
}

#[test]
fn fail_open_does_not_change_real_answers() {
    let server = serve(respond(200, r#"{"result": false}"#));
    assert_eq!(
        client_with(&server, 2000, true).decide(&input()),
        Decision::Deny
    );
    let server = serve(respond(500, ""));
    assert_eq!(
        client_with(&server, 2000, true).decide(&input()),
        Decision::FailedOpen(WebhookFailure::Status(500))
    );
}

#[test]
fn a_body_that_stalls_past_the_timeout_fails_closed() {
    let server = serve(Reply::StallBody {
        delay: Duration::from_millis(1500),
    });
    let decision = client_with(&server, 300, false).decide(&input());
    assert_eq!(decision, Decision::FailedClosed(WebhookFailure::Timeout));
}

#[test]
fn oversized_body_denies() {
    let limit = usize::try_from(MAX_RESPONSE_BYTES).unwrap();
    // Valid JSON saying allow, one byte over the limit.
    let prefix = r#"{"result": true, "pad": ""#;
    let suffix = r#""}"#;
    let pad = "x".repeat(limit + 1 - prefix.len() - suffix.len());
    let big = format!("{prefix}{pad}{suffix}");
    assert_eq!(big.len(), limit + 1);
    let server = serve(respond(200, big.clone()));
    assert_eq!(
        client(&server).decide(&input()),
        Decision::FailedClosed(WebhookFailure::BodyTooLarge {
            limit: MAX_RESPONSE_BYTES
        })
    );
    // A far larger body is cut off, not read whole.
    let server = serve(respond(200, big.repeat(64)));
    assert_eq!(
        client(&server).decide(&input()),
        Decision::FailedClosed(WebhookFailure::BodyTooLarge {
            limit: MAX_RESPONSE_BYTES
        })
    );
    // Exactly at the limit is fine.
    let pad = "x".repeat(limit - prefix.len() - suffix.len());
    let server = serve(respond(200, format!("{prefix}{pad}{suffix}")));
    assert_eq!(client(&server).decide(&input()), Decision::Allow);
}

#[test]
fn connection_refused_fails_closed() {
    // A port that was free a moment ago and has no listener now.
    let url = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!(
            "http://{}/v1/data/strata/allow",
            listener.local_addr().unwrap()
        )
    };
    let webhook = AuthzWebhook::new(WebhookConfig::new(url)).unwrap();
    let decision = webhook.decide(&input());
    assert!(
        matches!(decision, Decision::FailedClosed(WebhookFailure::Connect(_))),
        "{decision:?}"
    );
}

#[test]
fn hangup_without_an_answer_fails_closed() {
    let server = serve(Reply::Hangup);
    let decision = client(&server).decide(&input());
    assert!(
        matches!(decision, Decision::FailedClosed(_)),
        "{decision:?}"
    );
}

#[test]
fn one_client_answers_many_requests() {
    let server = serve(respond(200, r#"{"result": true}"#));
    let webhook = client(&server);
    for _ in 0..5 {
        assert_eq!(webhook.decide(&input()), Decision::Allow);
    }
    assert_eq!(webhook.query(&input()), Ok(true));
}

#[test]
fn config_reads_with_defaults_and_refuses_typos() {
    let config: WebhookConfig =
        serde_json::from_value(json!({"url": "http://127.0.0.1:8181/v1/data/strata/allow"}))
            .unwrap();
    assert_eq!(config.timeout_ms, DEFAULT_TIMEOUT_MS);
    assert_eq!(config.timeout_ms, 2000);
    assert!(!config.fail_open);
    assert!(
        serde_json::from_value::<WebhookConfig>(json!({"url": "http://x/", "failopen": true}))
            .is_err()
    );
}
