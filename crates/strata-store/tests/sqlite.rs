//! The conformance suite on the embedded SQLite backend.

mod conformance;

use conformance::Fixture;

/// A store in a fresh temporary directory; tampering edits rows behind the store's back.
fn fresh() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let location = path.display().to_string();
    let tamper_path = path.clone();
    let sql_path = path.clone();
    Fixture {
        location,
        tamper: Box::new(move |hash: &str, f: &dyn Fn(&mut Vec<u8>)| {
            let conn = rusqlite::Connection::open(&tamper_path).unwrap();
            let mut data: Vec<u8> = conn
                .query_row(
                    "SELECT data FROM strata_blobs WHERE hash = ?1",
                    [hash],
                    |r| r.get(0),
                )
                .unwrap();
            f(&mut data);
            conn.execute(
                "UPDATE strata_blobs SET data = ?2 WHERE hash = ?1",
                rusqlite::params![hash, data],
            )
            .unwrap();
        }),
        sql: Box::new(move |sql: &str| {
            let conn = rusqlite::Connection::open(&sql_path).unwrap();
            conn.busy_timeout(std::time::Duration::from_secs(60))
                .unwrap();
            conn.execute_batch(sql)
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }),
        _keep: Box::new(dir),
    }
}

conformance_tests!(fresh);

#[test]
fn the_default_location_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("project/.strata/store.db");
    let repo = strata_store::open(&path.display().to_string()).unwrap();
    assert!(path.exists());
    assert!(repo.store().describe().starts_with("sqlite:"));
}
