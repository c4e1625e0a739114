//! The client over HTTPS against the real server on 127.0.0.1, whose certificate is
//! issued by a private CA made in the test (rcgen).

use strata_client::{Client, ClientError};
use strata_testkit::server::AcmeServer;

const HINT: Option<(&str, &str)> = Some(("aws", "us-east-1"));

#[test]
fn an_https_server_is_read_trusting_a_private_ca() {
    let s = AcmeServer::start_https();
    assert!(s.base().starts_with("https://"));
    let cache = s.dir().join("cache");
    let client = Client::new(s.base(), s.token())
        .unwrap()
        .with_ca_cert(&s.tls().ca)
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
    let s = AcmeServer::start_https();
    let cache = s.dir().join("cache");
    // A good answer in the cache first: a certificate failure must not fall back on it.
    Client::new(s.base(), s.token())
        .unwrap()
        .with_ca_cert(&s.tls().ca)
        .unwrap()
        .with_cache_dir(&cache)
        .fetch("dev", "checkout", HINT)
        .unwrap();
    let e = Client::new(s.base(), s.token())
        .unwrap()
        .with_cache_dir(&cache)
        .fetch("dev", "checkout", HINT)
        .unwrap_err();
    assert!(matches!(e, ClientError::Tls { .. }), "{e:?}");
    assert!(!e.is_unavailable());
    assert!(e.to_string().contains(s.base()), "{e}");
}

#[test]
fn a_bad_ca_file_is_named() {
    let s = AcmeServer::start_https();
    let missing = Client::new(s.base(), s.token())
        .unwrap()
        .with_ca_cert(s.dir().join("nope.pem"))
        .unwrap_err();
    assert!(matches!(missing, ClientError::Tls { .. }), "{missing:?}");
    assert!(missing.to_string().contains("nope.pem"), "{missing}");
    let not_a_cert = &s.tls().files.key;
    let e = Client::new(s.base(), s.token())
        .unwrap()
        .with_ca_cert(not_a_cert)
        .unwrap_err();
    assert!(e.to_string().contains("holds no certificate"), "{e}");
    assert!(!e.to_string().contains("PRIVATE KEY"), "{e}");
}
