//! HTTPS: the server on 127.0.0.1 with a certificate issued by a private CA made in the
//! test (rcgen), a SQLite store holding `examples/acme`, and ureq (rustls) trusting that CA.

mod suite;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use strata_server::background::Background;
use strata_server::tls::TlsFiles;
use strata_server::{ServerConfig, seed};

const ACME: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/acme");
const CONFIG: &str = "/v1/config/dev/checkout?provider=aws";

/// A private CA and a server certificate it issued for `localhost` and `127.0.0.1`,
/// written to `dir`; returns the CA's certificate (PEM) and the server's files.
fn issue(dir: &Path) -> (String, TlsFiles) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "Strata test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let files = TlsFiles {
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    };
    std::fs::write(&files.cert, leaf.pem()).unwrap();
    std::fs::write(&files.key, key.serialize_pem()).unwrap();
    (ca.pem(), files)
}

struct Tls {
    server: Background,
    token: String,
    ca: String,
    _dir: tempfile::TempDir,
}

fn start() -> Tls {
    start_with(None)
}

/// A TLS server on acme, with `identity` (YAML under `identity:`) in the head's policy
/// when given.
fn start_with(identity: Option<&str>) -> Tls {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store.db").to_string_lossy().to_string();
    let token = seed::store_with(Path::new(ACME), &store, "dana.kim").unwrap();
    if let Some(identity) = identity {
        suite::auth::seed_identity(&store, identity);
    }
    let (ca, files) = issue(dir.path());
    let mut config = ServerConfig::new(store, SocketAddr::from(([127, 0, 0, 1], 0)));
    config.tls = Some(files);
    let server = Background::start(config).unwrap();
    Tls {
        server,
        token: token.expose().to_string(),
        ca,
        _dir: dir,
    }
}

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

fn port(base: &str) -> String {
    base.rsplit_once("://").unwrap().1.to_string()
}

#[test]
fn configuration_is_read_over_https_trusting_a_private_ca() {
    let s = start();
    let base = s.server.base().to_string();
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");
    let (status, body) = get(&agent(&s.ca), &format!("{base}{CONFIG}"), &s.token).unwrap();
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(json["db"].is_object(), "{json}");

    // By name too: the certificate covers `localhost`.
    let by_name = base.replace("127.0.0.1", "localhost");
    let (status, _) = get(&agent(&s.ca), &format!("{by_name}/healthz"), &s.token).unwrap();
    assert_eq!(status, 200);
}

#[test]
fn a_client_that_does_not_trust_the_ca_gets_nothing() {
    let s = start();
    let url = format!("{}{CONFIG}", s.server.base());
    // ureq's default roots (Mozilla's) do not include the test CA.
    let plain: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let e = get(&plain, &url, &s.token).unwrap_err();
    assert!(
        e.to_string().to_lowercase().contains("certificate")
            || matches!(e, ureq::Error::Tls(_) | ureq::Error::Rustls(_)),
        "{e}"
    );
}

#[test]
fn plain_http_to_the_tls_port_gets_no_configuration() {
    let s = start();
    let addr = port(s.server.base());
    let mut conn = TcpStream::connect(&addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!(
        "GET {CONFIG} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        s.token
    );
    conn.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    assert!(!text.contains("HTTP/1.1 200"), "{text}");
    assert!(!text.contains("\"db\""), "{text}");

    // And the server goes on serving HTTPS.
    let (status, _) = get(
        &agent(&s.ca),
        &format!("{}{CONFIG}", s.server.base()),
        &s.token,
    )
    .unwrap();
    assert_eq!(status, 200);
}

#[test]
fn stalled_and_failed_handshakes_do_not_block_others() {
    let s = start();
    let addr = port(s.server.base());
    // A connection that never starts its handshake, and one that sends garbage.
    let stalled = TcpStream::connect(&addr).unwrap();
    let mut garbage = TcpStream::connect(&addr).unwrap();
    garbage
        .write_all(&[0x16, 0x03, 0x01, 0xff, 0xff, 0, 0, 0])
        .unwrap();
    let started = Instant::now();
    for _ in 0..5 {
        let (status, _) = get(
            &agent(&s.ca),
            &format!("{}/healthz", s.server.base()),
            &s.token,
        )
        .unwrap();
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
    let mut s = start();
    let addr = port(s.server.base());
    let (status, _) = get(
        &agent(&s.ca),
        &format!("{}/healthz", s.server.base()),
        &s.token,
    )
    .unwrap();
    assert_eq!(status, 200);
    let stalled = TcpStream::connect(&addr).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    s.server.stop();
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
    let mut s = start_with(Some(&suite::auth::webhook_section(&hook.url)));
    let url = format!("{}{CONFIG}", s.server.base());
    let addr = port(s.server.base());
    let agent = agent(&s.ca);
    let token = s.token.clone();
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
    s.server.stop();
    let (status, body) = request.join().unwrap().unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(TcpStream::connect(&addr).is_err(), "still listening");
}
