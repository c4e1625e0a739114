//! The HTTP suite on a SQLite store in a temporary directory.

mod suite;

fn fresh() -> suite::Running {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store.db").to_string_lossy().to_string();
    suite::start(store, Box::new(dir))
}

all_suites!(fresh());
