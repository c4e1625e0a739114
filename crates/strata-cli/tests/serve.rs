//! `strata serve`: what it refuses before serving.

mod common;

use common::small;

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
