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
    use std::io::{BufRead, BufReader, Read, Write};

    let f = small();
    f.run(&["import"]).ok();
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
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    conn.write_all(b"GET /healthz HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");
    assert!(answer.ends_with(r#"{"status":"ok"}"#), "{answer}");

    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed().as_secs() > 10 {
            let _ = child.kill();
            panic!("strata serve did not stop on SIGTERM");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("shutting down"), "{rest}");
}
