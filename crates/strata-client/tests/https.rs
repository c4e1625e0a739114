//! The client over HTTPS against the real server on 127.0.0.1, whose certificate is
//! issued by a private CA made in the test (rcgen).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use strata_client::{Client, ClientError};
use strata_server::background::Background;
use strata_server::tls::TlsFiles;
use strata_server::{ServerConfig, seed};

const ACME: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/acme");
const HINT: Option<(&str, &str)> = Some(("aws", "us-east-1"));

struct Tls {
    server: Background,
    token: String,
    ca: PathBuf,
    dir: tempfile::TempDir,
}

/// A CA, a server certificate it issued for 127.0.0.1, and a TLS server on acme.
fn start() -> Tls {
    let dir = tempfile::tempdir().unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let issuer = rcgen::CertifiedIssuer::self_signed(params, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let files = TlsFiles {
        cert: dir.path().join("server.pem"),
        key: dir.path().join("server.key"),
    };
    std::fs::write(&files.cert, leaf.pem()).unwrap();
    std::fs::write(&files.key, key.serialize_pem()).unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, issuer.pem()).unwrap();

    let store = dir.path().join("store.db").to_string_lossy().to_string();
    let token = seed::store_with(Path::new(ACME), &store, "dana.kim").unwrap();
    let mut config = ServerConfig::new(store, SocketAddr::from(([127, 0, 0, 1], 0)));
    config.tls = Some(files);
    Tls {
        server: Background::start(config).unwrap(),
        token: token.expose().to_string(),
        ca,
        dir,
    }
}

#[test]
fn an_https_server_is_read_trusting_a_private_ca() {
    let s = start();
    assert!(s.server.base().starts_with("https://"));
    let cache = s.dir.path().join("cache");
    let client = Client::new(s.server.base(), &s.token)
        .unwrap()
        .with_ca_cert(&s.ca)
        .unwrap()
        .with_cache_dir(&cache);
    let first = client.fetch("dev", "checkout", HINT).unwrap();
    assert!(!first.from_cache);
    assert!(first.config["db"].is_object(), "{}", first.config);
    let again = client.fetch("dev", "checkout", HINT).unwrap();
    assert!(again.not_modified);
    // Setting the timeout keeps the CA.
    let slower = client.with_timeout(std::time::Duration::from_secs(9));
    assert!(slower.fetch("dev", "checkout", HINT).unwrap().not_modified);
}

#[test]
fn an_untrusted_certificate_is_a_tls_error_not_an_outage() {
    let s = start();
    let cache = s.dir.path().join("cache");
    // A good answer in the cache first: a certificate failure must not fall back on it.
    Client::new(s.server.base(), &s.token)
        .unwrap()
        .with_ca_cert(&s.ca)
        .unwrap()
        .with_cache_dir(&cache)
        .fetch("dev", "checkout", HINT)
        .unwrap();
    let e = Client::new(s.server.base(), &s.token)
        .unwrap()
        .with_cache_dir(&cache)
        .fetch("dev", "checkout", HINT)
        .unwrap_err();
    assert!(matches!(e, ClientError::Tls { .. }), "{e:?}");
    assert!(!e.is_unavailable());
    assert!(e.to_string().contains(s.server.base()), "{e}");
}

#[test]
fn a_bad_ca_file_is_named() {
    let s = start();
    let missing = Client::new(s.server.base(), &s.token)
        .unwrap()
        .with_ca_cert(s.dir.path().join("nope.pem"))
        .unwrap_err();
    assert!(matches!(missing, ClientError::Tls { .. }), "{missing:?}");
    assert!(missing.to_string().contains("nope.pem"), "{missing}");
    let not_a_cert = s.dir.path().join("server.key");
    let e = Client::new(s.server.base(), &s.token)
        .unwrap()
        .with_ca_cert(&not_a_cert)
        .unwrap_err();
    assert!(e.to_string().contains("holds no certificate"), "{e}");
    assert!(!e.to_string().contains("PRIVATE KEY"), "{e}");
}
