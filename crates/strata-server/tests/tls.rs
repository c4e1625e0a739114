//! HTTPS: the server on 127.0.0.1 with a certificate issued by a private CA made in the
//! test (rcgen), a SQLite store holding `examples/acme`, and ureq (rustls) trusting that CA.

mod suite;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use strata_testkit::server::{AcmeServer, Scheme};

const CONFIG: &str = "/v1/config/dev/checkout?provider=aws";

/// An agent trusting only `ca_pem`.
fn agent(ca_pem: &str) -> ureq::Agent {
    let roots: Vec<_> = ureq::tls::parse_pem(ca_pem.as_bytes())
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(roots.len(), 1);
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&roots))
                .build(),
        )
        .build()
        .into()
}

fn get(agent: &ureq::Agent, url: &str, token: &str) -> Result<(u16, String), ureq::Error> {
    let mut res = agent
        .get(url)
        .header("Authorization", format!("Bearer {token}"))
        .call()?;
    let status = res.status().as_u16();
    Ok((status, res.body_mut().read_to_string()?))
}

/// A GET of `path` on `s` by an agent trusting its CA, with its token.
fn trusted_get(s: &AcmeServer, path: &str) -> (u16, String) {
    let url = format!("{}{path}", s.base());
    get(&agent(&s.tls().ca_pem), &url, s.token()).unwrap()
}

fn port(base: &str) -> String {
    base.rsplit_once("://").unwrap().1.to_string()
}

#[test]
fn configuration_is_read_over_https_trusting_a_private_ca() {
    let s = AcmeServer::start_https();
    let base = s.base().to_string();
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");
    let (status, body) = trusted_get(&s, CONFIG);
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(json["db"].is_object(), "{json}");

    // By name too: the certificate covers `localhost`.
    let by_name = base.replace("127.0.0.1", "localhost");
    let (status, _) = get(
        &agent(&s.tls().ca_pem),
        &format!("{by_name}/healthz"),
        s.token(),
    )
    .unwrap();
    assert_eq!(status, 200);
}

#[test]
fn a_client_that_does_not_trust_the_ca_gets_nothing() {
    let s = AcmeServer::start_https();
    let url = format!("{}{CONFIG}", s.base());
    // ureq's default roots (Mozilla's) do not include the test CA.
    let plain: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let e = get(&plain, &url, s.token()).unwrap_err();
    assert!(
        e.to_string().to_lowercase().contains("certificate")
            || matches!(e, ureq::Error::Tls(_) | ureq::Error::Rustls(_)),
        "{e}"
    );
}

#[test]
fn plain_http_to_the_tls_port_gets_no_configuration() {
    let s = AcmeServer::start_https();
    let addr = port(s.base());
    let mut conn = TcpStream::connect(&addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!(
        "GET {CONFIG} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        s.token()
    );
    conn.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    assert!(!text.contains("HTTP/1.1 200"), "{text}");
    assert!(!text.contains("\"db\""), "{text}");

    // And the server goes on serving HTTPS.
    let (status, _) = trusted_get(&s, CONFIG);
    assert_eq!(status, 200);
}

#[test]
fn stalled_and_failed_handshakes_do_not_block_others() {
    let s = AcmeServer::start_https();
    let addr = port(s.base());
    // A connection that never starts its handshake, and one that sends garbage.
    let stalled = TcpStream::connect(&addr).unwrap();
    let mut garbage = TcpStream::connect(&addr).unwrap();
    garbage
        .write_all(&[0x16, 0x03, 0x01, 0xff, 0xff, 0, 0, 0])
        .unwrap();
    let started = Instant::now();
    for _ in 0..5 {
        let (status, _) = trusted_get(&s, "/healthz");
        assert_eq!(status, 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    drop((stalled, garbage));
}

#[test]
fn shutdown_does_not_wait_for_a_stalled_handshake() {
    let mut s = AcmeServer::start_https();
    let addr = port(s.base());
    let (status, _) = trusted_get(&s, "/healthz");
    assert_eq!(status, 200);
    let stalled = TcpStream::connect(&addr).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    s.stop();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "stopping took {:?}",
        started.elapsed()
    );
    assert!(TcpStream::connect(&addr).is_err(), "still listening");
    drop(stalled);
}

#[test]
fn a_request_in_flight_finishes_over_tls_when_shutdown_is_asked() {
    // The webhook takes a while: the request waits inside the server meanwhile.
    let hook = suite::auth::Webhook::start(Duration::from_millis(800), |_| true);
    let identity = suite::auth::webhook_section(&hook.url);
    let mut s = AcmeServer::start_with(Scheme::Https, |store| {
        suite::auth::seed_identity(store, &identity);
    });
    let url = format!("{}{CONFIG}", s.base());
    let addr = port(s.base());
    let agent = agent(&s.tls().ca_pem);
    let token = s.token().to_string();
    let request = std::thread::spawn(move || get(&agent, &url, &token));
    let started = Instant::now();
    while hook.inputs.lock().unwrap().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the webhook was not asked"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!request.is_finished());
    s.stop();
    let (status, body) = request.join().unwrap().unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(TcpStream::connect(&addr).is_err(), "still listening");
}
