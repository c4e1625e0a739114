//! The HTTP suite on a SQLite store in a temporary directory.

mod suite;

fn fresh() -> suite::Running {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store.db").to_string_lossy().to_string();
    suite::start(store, Box::new(dir))
}

http_suite!(fresh());
auth_suite!(fresh());
limits_suite!(fresh());
writes_suite!(fresh());
drift_suite!(fresh());
watch_suite!(fresh());
