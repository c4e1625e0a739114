//! `strata get` against a real server started in-process on 127.0.0.1 (a SQLite store
//! holding `examples/acme`), with `--cache-dir` in a temporary directory.

mod common;

use std::path::Path;

use common::{Run, run_cmd, strata};
use strata_testkit::acme;
use strata_testkit::server::AcmeServer;

/// `strata get ARGS --server BASE --cache-dir CACHE` with `STRATA_TOKEN=token`.
fn get(base: &str, token: Option<&str>, cache: &Path, args: &[&str]) -> Run {
    let mut cmd = strata();
    cmd.arg("get")
        .args(args)
        .arg("--server")
        .arg(base)
        .arg("--cache-dir")
        .arg(cache)
        .env_remove("STRATA_SERVER")
        .env_remove("XDG_CACHE_HOME");
    if let Some(t) = token {
        cmd.env("STRATA_TOKEN", t);
    }
    run_cmd(&mut cmd)
}

/// [`get`] from `s`, with its token.
fn get_from(s: &AcmeServer, cache: &Path, args: &[&str]) -> Run {
    get(s.base(), Some(s.token()), cache, args)
}

#[test]
fn get_prints_the_configuration_then_the_cached_one_when_the_server_is_down() {
    let mut s = AcmeServer::start();
    let cache = tempfile::tempdir().unwrap();
    let args = ["checkout", "--target", "dev/aws/us-east-1"];
    let live = get_from(&s, cache.path(), &args).ok();
    let json = live.json();
    assert!(json["db"]["pool"]["max_size"].is_number(), "{json}");
    assert!(live.stderr.is_empty(), "{}", live.stderr);
    let yaml = get_from(
        &s,
        cache.path(),
        &[
            "checkout",
            "--target",
            "dev/aws/us-east-1",
            "--format",
            "yaml",
        ],
    )
    .ok();
    assert!(yaml.stdout.contains("max_size: "), "{}", yaml.stdout);

    s.stop();
    let offline = get_from(&s, cache.path(), &args).ok();
    assert_eq!(offline.json(), json);
    assert!(offline.stderr.contains("note:"), "{}", offline.stderr);
    assert!(offline.stderr.contains("unreachable"), "{}", offline.stderr);
    assert!(offline.stderr.contains(s.base()), "{}", offline.stderr);
    // Another service was never fetched: nothing to fall back on.
    let none = get_from(
        &s,
        cache.path(),
        &["ledger", "--target", "dev/aws/us-east-1"],
    )
    .expect(2);
    assert!(none.stderr.contains("strata serve"), "{}", none.stderr);
}

#[test]
fn get_without_a_server_or_a_cache_exits_2_naming_the_url() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    let cache = tempfile::tempdir().unwrap();
    let r = get(
        &base,
        Some("strata_x"),
        cache.path(),
        &["checkout", "--target", "dev/aws/us-east-1"],
    )
    .expect(2);
    assert!(r.stderr.contains(&base), "{}", r.stderr);
    assert!(r.stderr.contains("hint:"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
}

#[test]
fn get_with_a_bad_token_exits_2_even_with_a_cache() {
    let s = AcmeServer::start();
    let cache = tempfile::tempdir().unwrap();
    let args = ["checkout", "--target", "dev/aws/us-east-1"];
    get_from(&s, cache.path(), &args).ok();
    let bad = format!("strata_{}_{}", "0".repeat(12), "0".repeat(64));
    let r = get(s.base(), Some(&bad), cache.path(), &args).expect(2);
    assert!(r.stderr.contains("401"), "{}", r.stderr);
    assert!(r.stderr.contains("STRATA_TOKEN"), "{}", r.stderr);
    assert!(!r.stderr.contains(&bad), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
}

#[test]
fn get_needs_a_token_and_a_well_formed_target() {
    let cache = tempfile::tempdir().unwrap();
    let r = get(
        "http://127.0.0.1:1",
        None,
        cache.path(),
        &["checkout", "--target", "dev/aws/us-east-1"],
    )
    .expect(2);
    assert!(r.stderr.contains("STRATA_TOKEN"), "{}", r.stderr);
    let r = get(
        "http://127.0.0.1:1",
        Some("t"),
        cache.path(),
        &["checkout", "--target", "dev/aws"],
    )
    .expect(2);
    assert!(r.stderr.contains("ENV/PROVIDER/REGION"), "{}", r.stderr);
}

#[test]
fn get_with_an_ambiguous_target_lists_the_candidates() {
    let s = AcmeServer::start();
    let cache = tempfile::tempdir().unwrap();
    let r = get_from(&s, cache.path(), &["checkout", "--target", "dev"]).expect(2);
    assert!(r.stderr.contains("dev/azure/eastus"), "{}", r.stderr);
    let r = get_from(&s, cache.path(), &["nope", "--target", "dev/aws/us-east-1"]).expect(2);
    assert!(r.stderr.contains("404"), "{}", r.stderr);
}

#[test]
fn get_watch_prints_each_new_configuration_as_a_json_line() {
    use std::io::BufRead as _;
    use std::time::Duration;

    let s = AcmeServer::start();
    let cache = tempfile::tempdir().unwrap();
    let mut child = strata()
        .args([
            "get",
            "checkout",
            "--target",
            "dev/aws/us-east-1",
            "--watch",
        ])
        .arg("--server")
        .arg(s.base())
        .arg("--cache-dir")
        .arg(cache.path())
        .env_remove("STRATA_SERVER")
        .env("STRATA_TOKEN", s.token())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let line = |within: u64| rx.recv_timeout(Duration::from_secs(within));
    let first = line(10).expect("the configuration at once");
    let first: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(first["replicas"], 1, "{first}");

    s.commit(acme::with_dev_checkout_replicas(7), "seven");

    let second = line(10).expect("a line for the change");
    assert!(!second.contains('\n'));
    let second: serde_json::Value = serde_json::from_str(&second).unwrap();
    assert_eq!(second["replicas"], 7, "{second}");
    assert!(line(1).is_err(), "a line without a change");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn get_watch_refuses_a_format() {
    let s = AcmeServer::start();
    let cache = tempfile::tempdir().unwrap();
    let r = get_from(
        &s,
        cache.path(),
        &[
            "checkout",
            "--target",
            "dev/aws/us-east-1",
            "--watch",
            "--format",
            "yaml",
        ],
    );
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("--format"), "{}", r.stderr);
}
