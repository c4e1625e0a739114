//! The conformance suite on the PostgreSQL backend.
//!
//! Needs a server: `./scripts/test` starts a throwaway one and sets
//! `STRATA_TEST_POSTGRES_URL`. Without it these tests fail (they never skip).

mod conformance;

use conformance::Fixture;

/// A fresh database on the test server.
fn fresh() -> Fixture {
    let url = strata_testkit::pg::fresh_database("strata_t");
    let tamper_url = url.clone();
    let sql_url = url.clone();
    Fixture {
        location: url,
        tamper: Box::new(move |hash: &str, f: &dyn Fn(&mut Vec<u8>)| {
            let mut c = postgres::Client::connect(&tamper_url, postgres::NoTls).unwrap();
            let mut data: Vec<u8> = c
                .query_one("SELECT data FROM strata_blobs WHERE hash = $1", &[&hash])
                .unwrap()
                .get(0);
            f(&mut data);
            c.execute(
                "UPDATE strata_blobs SET data = $2 WHERE hash = $1",
                &[&hash, &data],
            )
            .unwrap();
        }),
        sql: Box::new(move |sql: &str| {
            let mut c = postgres::Client::connect(&sql_url, postgres::NoTls).unwrap();
            c.batch_execute(sql)
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }),
        _keep: Box::new(()),
    }
}

conformance_tests!(fresh);

#[test]
fn a_newer_store_is_refused() {
    let fx = fresh();
    drop(fx.open());
    let mut c = postgres::Client::connect(&fx.location, postgres::NoTls).unwrap();
    c.execute("INSERT INTO strata_schema (version) VALUES (99)", &[])
        .unwrap();
    let e = strata_store::open(&fx.location).err().unwrap().to_string();
    assert!(
        e.contains("schema version 99") && e.contains("upgrade strata"),
        "{e}"
    );
}

#[test]
fn a_bad_url_is_a_clear_error() {
    let e = strata_store::open("postgres://nobody@127.0.0.1:1/none")
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("cannot connect") && e.contains("127.0.0.1:1"),
        "{e}"
    );
}

#[test]
fn commits_are_announced_to_listeners_and_connections_come_back() {
    use std::time::Duration;
    let fx = fresh();
    let repo = fx.open();
    let mut listener = repo
        .store()
        .head_listener()
        .expect("PostgreSQL pushes commits");
    // The first wait connects, and says to read the head (commits may have been missed).
    assert!(listener.wait(Duration::from_secs(1)).unwrap());
    assert!(!listener.wait(Duration::from_millis(100)).unwrap());
    let writer = fx.open();
    writer
        .import(conformance::project(), conformance::meta("first"))
        .unwrap();
    assert!(listener.wait(Duration::from_secs(5)).unwrap());
    assert!(!listener.wait(Duration::from_millis(100)).unwrap());
    // A commit refused because the head moved announces nothing.
    let head = writer.head().unwrap();
    let stale = strata_store::model::Commit::new(None, head.clone());
    assert!(matches!(
        writer.store().commit(&stale).unwrap(),
        strata_store::model::CommitOutcome::HeadMoved { .. }
    ));
    assert!(!listener.wait(Duration::from_millis(300)).unwrap());

    // Both the store's connection and the listener's are cut: the next calls report the
    // loss, then connect again.
    (fx.sql)(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    );
    let mut lost = false;
    for _ in 0..3 {
        match listener.wait(Duration::from_millis(200)) {
            Err(e) => {
                assert!(e.to_string().contains("listening for commits"), "{e}");
                lost = true;
                break;
            }
            Ok(_) => continue,
        }
    }
    assert!(lost, "the listener did not notice its connection was cut");
    assert!(listener.wait(Duration::from_secs(1)).unwrap());
    let started = std::time::Instant::now();
    let back = loop {
        match repo.head() {
            Ok(h) => break h,
            Err(e) => {
                assert!(started.elapsed() < Duration::from_secs(5), "{e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    assert_eq!(back.id, head.id);
}
