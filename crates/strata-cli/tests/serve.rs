//! `strata serve`: what it refuses before serving, and how it stops: on SIGTERM, requests
//! in flight finish before the process exits.

mod common;

use common::{acme, small};

#[test]
fn serve_refuses_plain_http_on_a_non_loopback_address() {
    let f = small();
    let r = f.run(&["serve", "--bind", "0.0.0.0:0"]).expect(2);
    assert!(
        r.stderr.contains("refusing to serve plain HTTP"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--insecure"), "{}", r.stderr);
}

#[test]
fn serve_refuses_a_missing_store() {
    let f = small();
    let r = f.run(&["serve", "--bind", "127.0.0.1:0"]).expect(2);
    assert!(r.stderr.contains("no store at"), "{}", r.stderr);
}

#[test]
fn serve_answers_and_stops_on_sigterm() {
    use std::io::{Read, Write};

    let f = small();
    f.run(&["import"]).ok();
    let serving = f.serve(&["--bind", "127.0.0.1:0"]);
    let line = &serving.first_line;
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    conn.write_all(b"GET /healthz HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");
    assert!(answer.ends_with(r#"{"status":"ok"}"#), "{answer}");

    let (status, rest) = serving.stop_with_sigterm();
    assert_eq!(status.code(), Some(0));
    assert!(rest.contains("shutting down"), "{rest}");
}

/// An authorization webhook on loopback that allows everything, after `delay` once `slow`
/// is set; `asked` counts the questions it has received.
struct SlowWebhook {
    url: String,
    slow: std::sync::Arc<std::sync::atomic::AtomicBool>,
    asked: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl SlowWebhook {
    fn start(delay: std::time::Duration) -> SlowWebhook {
        use std::io::{BufRead, BufReader, Read, Write};
        use std::sync::atomic::Ordering;

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/v1/data/strata/allow",
            listener.local_addr().unwrap()
        );
        let slow = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (is_slow, count) = (slow.clone(), asked.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let (is_slow, count) = (is_slow.clone(), count.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    let mut length = 0usize;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let lower = line.to_ascii_lowercase();
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0; length];
                    let _ = reader.read_exact(&mut body);
                    count.fetch_add(1, Ordering::SeqCst);
                    if is_slow.load(Ordering::SeqCst) {
                        std::thread::sleep(delay);
                    }
                    let answer = r#"{"result":true}"#;
                    let _ = write!(
                        conn,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                        answer.len()
                    );
                });
            }
        });
        SlowWebhook { url, slow, asked }
    }
}

#[test]
fn sigterm_lets_a_request_in_flight_finish() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    // The policy's webhook holds the request inside the server for 1.5 s.
    let hook = SlowWebhook::start(Duration::from_millis(1500));
    let f = acme();
    let policy = std::fs::read_to_string(f.root().join("policies/access.yaml")).unwrap();
    f.write(
        "policies/access.yaml",
        format!(
            "{policy}\nidentity:\n  webhook:\n    url: {}\n    timeout_ms: 10000\n",
            hook.url
        ),
    );
    f.run(&["import", "-m", "baseline", "--as", "dana.kim"])
        .ok();
    let token = f
        .run(&[
            "token",
            "create",
            "--principal",
            "dana.kim",
            "--as",
            "dana.kim",
        ])
        .ok()
        .stdout
        .trim()
        .to_string();

    let mut child = common::strata()
        .current_dir(f.root())
        .args(["serve", "--bind", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();

    hook.slow.store(true, Ordering::SeqCst);
    let asked_before = hook.asked.load(Ordering::SeqCst);
    let request = {
        let (addr, token) = (addr.clone(), token.clone());
        std::thread::spawn(move || {
            let mut conn = std::net::TcpStream::connect(&addr).unwrap();
            write!(
                conn,
                "GET /v1/config/dev/checkout?provider=aws HTTP/1.0\r\nAuthorization: Bearer {token}\r\n\r\n"
            )
            .unwrap();
            let mut answer = String::new();
            conn.read_to_string(&mut answer).unwrap();
            (answer, Instant::now())
        })
    };
    // Wait until the request is inside the server, waiting for the webhook.
    let started = Instant::now();
    while hook.asked.load(Ordering::SeqCst) == asked_before {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the webhook was never asked"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let signalled = Instant::now();

    let (answer, answered) = request.join().unwrap();
    assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");
    assert!(answer.contains("\"replicas\""), "{answer}");
    assert!(
        answered.duration_since(signalled) > Duration::from_millis(500),
        "the answer came before the webhook could answer: the request was not in flight"
    );
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if signalled.elapsed() > Duration::from_secs(15) {
            let _ = child.kill();
            panic!("strata serve did not stop after the request in flight");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    // New connections are refused once it has stopped.
    assert!(std::net::TcpStream::connect(&addr).is_err());
}
