//! TLS from the command line: `strata serve --tls-cert/--tls-key` (file errors, a
//! non-loopback bind accepted with TLS) and `strata get --ca-cert` against an HTTPS
//! server whose certificate a private CA made in the test issued.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{ACME, run_cmd, small, strata};
use strata_server::background::Background;
use strata_server::tls::TlsFiles;
use strata_server::{ServerConfig, seed};

/// A CA (its PEM file) and a server certificate and key it issued for 127.0.0.1.
fn issue(dir: &Path) -> (PathBuf, TlsFiles) {
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
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    };
    std::fs::write(&files.cert, leaf.pem()).unwrap();
    std::fs::write(&files.key, key.serialize_pem()).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, issuer.pem()).unwrap();
    (ca, files)
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn serve_names_the_tls_file_that_cannot_be_used() {
    let f = small();
    f.run(&["import"]).ok();
    let (_, files) = issue(f.outer());
    let missing = f.outer().join("missing.key");
    let r = f
        .run(&[
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--tls-cert",
            path(&files.cert),
            "--tls-key",
            path(&missing),
        ])
        .expect(2);
    assert!(
        r.stderr.contains("cannot read the TLS key file"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("missing.key"), "{}", r.stderr);

    let bad = f.outer().join("bad.pem");
    std::fs::write(
        &bad,
        "-----BEGIN CERTIFICATE-----\n%%%\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let r = f
        .run(&[
            "serve",
            "--tls-cert",
            path(&bad),
            "--tls-key",
            path(&files.key),
        ])
        .expect(2);
    assert!(r.stderr.contains("not valid PEM"), "{}", r.stderr);
    assert!(r.stderr.contains("bad.pem"), "{}", r.stderr);

    // The key given as the certificate, and the certificate as the key.
    let r = f
        .run(&[
            "serve",
            "--tls-cert",
            path(&files.key),
            "--tls-key",
            path(&files.cert),
        ])
        .expect(2);
    assert!(r.stderr.contains("holds no certificate"), "{}", r.stderr);
    assert!(!r.stderr.contains("PRIVATE KEY-----"), "{}", r.stderr);

    // Both or neither.
    let r = f.run(&["serve", "--tls-cert", path(&files.cert)]).expect(2);
    assert!(r.stderr.contains("--tls-key"), "{}", r.stderr);
}

#[test]
fn serve_with_tls_accepts_a_non_loopback_bind() {
    let f = small();
    f.run(&["import"]).ok();
    let (_, files) = issue(f.outer());
    let mut child = strata()
        .current_dir(f.root())
        .args([
            "serve",
            "--bind",
            "0.0.0.0:0",
            "--tls-cert",
            path(&files.cert),
            "--tls-key",
            path(&files.key),
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("strata serve did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(line.contains("serving on https://0.0.0.0:"), "{line}{rest}");
    assert_eq!(status.code(), Some(0), "{line}{rest}");
}

#[test]
fn get_reads_an_https_server_with_ca_cert() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, files) = issue(dir.path());
    let store = dir.path().join("store.db").to_string_lossy().to_string();
    let token = seed::store_with(Path::new(ACME), &store, "dana.kim").unwrap();
    let mut config = ServerConfig::new(store, SocketAddr::from(([127, 0, 0, 1], 0)));
    config.tls = Some(files);
    let server = Background::start(config).unwrap();
    let cache = dir.path().join("cache");
    let get = |extra: &[&str]| {
        let mut cmd = strata();
        cmd.args([
            "get",
            "checkout",
            "--target",
            "dev/aws/us-east-1",
            "--server",
        ])
        .arg(server.base())
        .arg("--cache-dir")
        .arg(&cache)
        .args(extra)
        .env("STRATA_TOKEN", token.expose())
        .env_remove("STRATA_SERVER")
        .env_remove("STRATA_CA_CERT");
        run_cmd(&mut cmd)
    };
    let ok = get(&["--ca-cert", path(&ca)]).ok();
    assert!(ok.json()["db"].is_object(), "{}", ok.stdout);

    let untrusted = get(&[]).expect(2);
    assert!(untrusted.stderr.contains("TLS"), "{}", untrusted.stderr);
    assert!(
        untrusted.stderr.contains("--ca-cert"),
        "{}",
        untrusted.stderr
    );
    assert!(
        untrusted.stdout.is_empty(),
        "the cache was used: {}",
        untrusted.stdout
    );

    let missing = dir.path().join("nope.pem");
    let bad = get(&["--ca-cert", path(&missing)]).expect(2);
    assert!(bad.stderr.contains("nope.pem"), "{}", bad.stderr);
}
