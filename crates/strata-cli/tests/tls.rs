//! TLS from the command line: `strata serve --tls-cert/--tls-key` (file errors, a
//! non-loopback bind accepted with TLS) and `strata get --ca-cert` against an HTTPS
//! server whose certificate a private CA made in the test issued.

mod common;

use std::path::Path;

use common::{run_cmd, small, strata};
use strata_testkit::server::AcmeServer;
use strata_testkit::tls::issue;

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn serve_names_the_tls_file_that_cannot_be_used() {
    let f = small();
    f.run(&["import"]).ok();
    let files = issue(f.outer()).files;
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
    let files = issue(f.outer()).files;
    let serving = f.serve(&[
        "--bind",
        "0.0.0.0:0",
        "--tls-cert",
        path(&files.cert),
        "--tls-key",
        path(&files.key),
    ]);
    let line = serving.first_line.clone();
    let (status, rest) = serving.stop_with_sigterm();
    assert!(line.contains("serving on https://0.0.0.0:"), "{line}{rest}");
    assert_eq!(status.code(), Some(0), "{line}{rest}");
}

#[test]
fn get_reads_an_https_server_with_ca_cert() {
    let s = AcmeServer::start_https();
    let cache = s.dir().join("cache");
    let get = |extra: &[&str]| {
        let mut cmd = strata();
        cmd.args([
            "get",
            "checkout",
            "--target",
            "dev/aws/us-east-1",
            "--server",
        ])
        .arg(s.base())
        .arg("--cache-dir")
        .arg(&cache)
        .args(extra)
        .env("STRATA_TOKEN", s.token())
        .env_remove("STRATA_SERVER")
        .env_remove("STRATA_CA_CERT");
        run_cmd(&mut cmd)
    };
    let ok = get(&["--ca-cert", path(&s.tls().ca)]).ok();
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

    let missing = s.dir().join("nope.pem");
    let bad = get(&["--ca-cert", path(&missing)]).expect(2);
    assert!(bad.stderr.contains("nope.pem"), "{}", bad.stderr);
}
