//! The client against the real server over HTTP on 127.0.0.1 (a SQLite store holding
//! `examples/acme`), and against stand-ins for outages (a closed port, a server that
//! never answers, one that answers 503).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use strata_client::{Client, ClientError};
use strata_testkit::acme;
use strata_testkit::server::AcmeServer;

const HINT: Option<(&str, &str)> = Some(("aws", "us-east-1"));

/// An address where nothing listens.
fn closed_port() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

/// A server answering every request with `answer`, recording the requests it read.
fn canned(status: &str, body: &str) -> (String, std::sync::mpsc::Receiver<String>) {
    let answer = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut buf = vec![0u8; 8192];
            let n = conn.read(&mut buf).unwrap_or(0);
            let _ = tx.send(String::from_utf8_lossy(&buf[..n]).to_string());
            let _ = conn.write_all(answer.as_bytes());
        }
    });
    (base, rx)
}

#[test]
fn first_fetch_is_200_and_cached_then_304_from_the_cache() {
    let s = AcmeServer::start();
    let cache = tempfile::tempdir().unwrap();
    let c = Client::new(s.base(), s.token())
        .unwrap()
        .with_cache_dir(cache.path());
    let first = c.fetch("dev", "checkout", HINT).unwrap();
    assert!(!first.from_cache && !first.not_modified);
    assert!(
        first.config["db"]["pool"]["max_size"].is_number(),
        "{}",
        first.config
    );
    let etag = first.etag.clone().unwrap();
    assert!(etag.ends_with("-dev/aws/us-east-1\""), "{etag}");
    let rev = first.revision.clone().unwrap();
    assert!(etag.starts_with(&format!("\"{rev}")), "{etag} {rev}");
    assert_eq!(first.target.as_deref(), Some("dev/aws/us-east-1"));
    assert_eq!(first.cache_error, None);
    let file = c.cache_path("dev", "checkout", HINT).unwrap();
    assert!(file.is_file());
    let stored: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(stored["etag"], etag.as_str());
    assert_eq!(stored["config"], first.config);

    let second = c.fetch("dev", "checkout", HINT).unwrap();
    assert!(second.not_modified, "the second fetch was not a 304");
    assert!(!second.from_cache);
    assert_eq!(second.config, first.config);
    assert_eq!(second.etag, first.etag);
    assert_eq!(second.revision, first.revision);
}

#[test]
fn a_stopped_server_is_answered_from_the_cache() {
    let mut s = AcmeServer::start();
    let cache = tempfile::tempdir().unwrap();
    let c = Client::new(s.base(), s.token())
        .unwrap()
        .with_cache_dir(cache.path())
        .with_timeout(Duration::from_secs(2));
    let live = c.fetch("dev", "checkout", HINT).unwrap();
    s.stop();
    let offline = c.fetch("dev", "checkout", HINT).unwrap();
    assert!(offline.from_cache);
    assert!(offline.outage.is_some());
    assert_eq!(offline.config, live.config);
    assert_eq!(offline.etag, live.etag);
    // A fresh client (a restarting service) reads the same cache.
    let again = Client::new(s.base(), s.token())
        .unwrap()
        .with_cache_dir(cache.path())
        .fetch("dev", "checkout", HINT)
        .unwrap();
    assert!(again.from_cache);
    assert_eq!(again.config, live.config);
    // Another request has no cached copy.
    let other = c.fetch("dev", "ledger", HINT).unwrap_err();
    assert!(other.is_unavailable(), "{other}");
}

#[test]
fn no_cache_and_no_server_is_an_error() {
    let base = closed_port();
    let cache = tempfile::tempdir().unwrap();
    let c = Client::new(&base, "strata_secret")
        .unwrap()
        .with_cache_dir(cache.path());
    let e = c.fetch("dev", "checkout", HINT).unwrap_err();
    assert!(e.is_unavailable(), "{e:?}");
    let text = e.to_string();
    assert!(text.contains(&base), "{text}");
    assert!(text.contains("no cached configuration"), "{text}");
    assert!(!text.contains("strata_secret") && !format!("{e:?}").contains("strata_secret"));
    // Without a cache directory at all.
    let e = Client::new(&base, "t")
        .unwrap()
        .fetch("dev", "checkout", None)
        .unwrap_err();
    assert!(e.to_string().contains("no cache directory"), "{e}");
}

#[test]
fn a_bad_token_is_401_even_with_a_cache() {
    let s = AcmeServer::start();
    let cache = tempfile::tempdir().unwrap();
    let good = Client::new(s.base(), s.token())
        .unwrap()
        .with_cache_dir(cache.path());
    good.fetch("dev", "checkout", HINT).unwrap();
    let bad_token = format!("strata_{}_{}", "0".repeat(12), "0".repeat(64));
    let bad = Client::new(s.base(), &bad_token)
        .unwrap()
        .with_cache_dir(cache.path());
    let e = bad.fetch("dev", "checkout", HINT).unwrap_err();
    assert_eq!(e.status(), Some(401), "{e:?}");
    match &e {
        ClientError::Status { code, .. } => assert_eq!(code, "unauthorized"),
        other => panic!("{other:?}"),
    }
    assert!(!e.to_string().contains(&bad_token), "{e}");
    assert!(!format!("{e:?}").contains(&bad_token));
}

#[test]
fn not_found_and_ambiguous_targets_are_errors_not_outages() {
    let s = AcmeServer::start();
    let cache = tempfile::tempdir().unwrap();
    let c = Client::new(s.base(), s.token())
        .unwrap()
        .with_cache_dir(cache.path());
    let e = c.fetch("dev", "nope", HINT).unwrap_err();
    assert_eq!(e.status(), Some(404), "{e:?}");
    let e = c.fetch("prod", "checkout", None).unwrap_err();
    match e {
        ClientError::Status {
            status: 400,
            details,
            ..
        } => {
            assert!(details["candidates"].is_array(), "{details}")
        }
        other => panic!("{other:?}"),
    }
    let azure = c
        .fetch("dev", "checkout", Some(("azure", "eastus")))
        .unwrap();
    assert_eq!(azure.target.as_deref(), Some("dev/azure/eastus"));
}

#[test]
fn a_5xx_answer_falls_back_to_the_cache_and_sends_if_none_match() {
    let (base, requests) = canned(
        "503 Service Unavailable",
        r#"{"error":{"code":"store_unavailable","message":"down","details":{}}}"#,
    );
    let cache = tempfile::tempdir().unwrap();
    let c = Client::new(&base, "tok")
        .unwrap()
        .with_cache_dir(cache.path());
    // No cache yet: an outage error naming the answer.
    let e = c.fetch("dev", "svc", None).unwrap_err();
    assert!(e.is_unavailable(), "{e:?}");
    assert!(e.to_string().contains("503"), "{e}");
    // With a cached copy, it is used, and its ETag was sent.
    let entry = strata_client::CacheEntry {
        server: base.clone(),
        env: "dev".into(),
        service: "svc".into(),
        target_hint: None,
        etag: Some("\"r1-dev/aws/x\"".into()),
        revision: Some("r1".into()),
        target: Some("dev/aws/x".into()),
        config: serde_json::json!({"replicas": 3}),
    };
    c.store("dev", "svc", None, &entry).unwrap();
    let f = c.fetch("dev", "svc", None).unwrap();
    assert!(f.from_cache);
    assert_eq!(f.config["replicas"], 3);
    assert!(f.outage.unwrap().contains("store_unavailable"));
    let _first = requests.recv().unwrap();
    let second = requests.recv().unwrap().to_ascii_lowercase();
    assert!(
        second.contains("if-none-match: \"r1-dev/aws/x\""),
        "{second}"
    );
    assert!(second.contains("authorization: bearer tok"), "{second}");
}

#[test]
fn a_server_that_never_answers_times_out_to_the_cache() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let held = std::thread::spawn(move || {
        let conns: Vec<_> = l.incoming().take(2).collect();
        std::thread::sleep(Duration::from_secs(2));
        drop(conns);
    });
    let cache = tempfile::tempdir().unwrap();
    let c = Client::new(&base, "tok")
        .unwrap()
        .with_cache_dir(cache.path())
        .with_timeout(Duration::from_millis(300));
    let started = std::time::Instant::now();
    let e = c.fetch("dev", "svc", None).unwrap_err();
    assert!(
        e.is_unavailable() && e.to_string().contains("timed out"),
        "{e}"
    );
    let entry = strata_client::CacheEntry {
        server: base.clone(),
        env: "dev".into(),
        service: "svc".into(),
        target_hint: None,
        etag: None,
        revision: None,
        target: None,
        config: serde_json::json!({"a": true}),
    };
    c.store("dev", "svc", None, &entry).unwrap();
    let f = c.fetch("dev", "svc", None).unwrap();
    assert!(f.from_cache && f.config["a"] == true);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let _ = held.join();
}

#[test]
fn a_watch_reports_each_change_and_caches_it() {
    let mut s = AcmeServer::start();
    let cache = tempfile::tempdir().unwrap();
    let client = Client::new(s.base(), s.token())
        .unwrap()
        .with_cache_dir(cache.path());
    let options = strata_client::WatchOptions {
        wait: Duration::from_secs(2),
        ..Default::default()
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let watching = {
        let client = client.clone();
        std::thread::spawn(move || {
            let mut seen = 0;
            client.watch("dev", "checkout", HINT, &options, |f| {
                seen += 1;
                let _ = tx.send(f.clone());
                if seen == 2 {
                    std::ops::ControlFlow::Break(())
                } else {
                    std::ops::ControlFlow::Continue(())
                }
            })
        })
    };
    let first = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(first.config["replicas"], 1, "{}", first.config);
    assert!(!first.from_cache);
    // Longer than one poll, so that the watch has polled and waited again.
    std::thread::sleep(Duration::from_millis(2500));
    assert!(rx.try_recv().is_err(), "a change without a commit");

    s.commit(acme::with_dev_checkout_replicas(7), "seven");

    let second = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(second.config["replicas"], 7, "{}", second.config);
    assert_ne!(second.etag, first.etag);
    watching.join().unwrap().unwrap();
    // The change was cached: with the server gone, it is what a fetch answers.
    s.stop();
    let offline = client.fetch("dev", "checkout", HINT).unwrap();
    assert!(offline.from_cache);
    assert_eq!(offline.config["replicas"], 7);
}

#[test]
fn watch_urls_carry_the_wait() {
    let c = Client::new("http://h:1/p", "t").unwrap();
    assert_eq!(
        c.watch_url("dev", "a b", HINT, Duration::from_millis(1500)),
        "http://h:1/p/v1/watch/dev/a%20b?provider=aws&region=us-east-1&wait=1.5"
    );
    assert_eq!(
        c.watch_url("dev", "x", None, Duration::from_secs(25)),
        "http://h:1/p/v1/watch/dev/x?wait=25"
    );
}
