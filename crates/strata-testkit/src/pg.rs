//! Fresh PostgreSQL databases for tests, on the server named by `STRATA_TEST_POSTGRES_URL`
//! (`./scripts/test` starts a throwaway one and sets it).
//!
//! Why here: the store's conformance suite, the server's HTTP and sync suites and the CLI's
//! store tests each want a database of their own per test, made the same way. A test that
//! needs PostgreSQL never skips: without the variable it fails, saying how to get a server.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The environment variable naming the test server (a URL of a database on it, usually
/// `postgres`, as a user allowed to create databases).
pub const URL_VAR: &str = "STRATA_TEST_POSTGRES_URL";

/// The URL in `STRATA_TEST_POSTGRES_URL`.
///
/// # Panics
///
/// When it is unset or blank, with how to run the tests against a server.
#[track_caller]
pub fn admin_url() -> String {
    match std::env::var(URL_VAR) {
        Ok(u) if !u.trim().is_empty() => u,
        _ => panic!(
            "STRATA_TEST_POSTGRES_URL is not set: this test needs a PostgreSQL server; run the tests with ./scripts/test, which installs PostgreSQL (apt-get install postgresql) and starts a throwaway server, or point it at a server you own: STRATA_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres"
        ),
    }
}

/// Creates a database with a name of its own (`prefix`, the process id, a counter and the
/// clock's nanoseconds) on the test server, and returns its URL. Nothing drops it: see
/// [`TempDatabase`] for one that goes away with the test.
///
/// # Panics
///
/// Without `STRATA_TEST_POSTGRES_URL` (see [`admin_url`]), or when the server refuses.
#[track_caller]
pub fn fresh_database(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let admin = admin_url();
    let name = format!(
        "{prefix}{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    connect_admin(&admin)
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap_or_else(|e| panic!("cannot create the database {name}: {e}"));
    with_database(&admin, &name)
}

/// Drops the database of `url` (made by [`fresh_database`]) at once, closing its
/// connections: a store outage, as a test sees it.
///
/// # Panics
///
/// When the database cannot be dropped.
pub fn drop_database(url: &str) {
    let name = database_name(url);
    connect_admin(&admin_url())
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .unwrap_or_else(|e| panic!("cannot drop the database {name}: {e}"));
}

/// A [`fresh_database`] dropped (best effort) when this is dropped.
pub struct TempDatabase {
    admin: String,
    url: String,
}

impl TempDatabase {
    /// Creates the database (see [`fresh_database`]).
    #[track_caller]
    pub fn new(prefix: &str) -> TempDatabase {
        TempDatabase {
            url: fresh_database(prefix),
            admin: admin_url(),
        }
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                database_name(&self.url)
            ));
        }
    }
}

/// A connection to the test server as the user of `STRATA_TEST_POSTGRES_URL`.
fn connect_admin(admin: &str) -> postgres::Client {
    // The error, not the URL: it may hold a password.
    postgres::Client::connect(admin, postgres::NoTls)
        .unwrap_or_else(|e| panic!("cannot connect to STRATA_TEST_POSTGRES_URL: {e}"))
}

/// `url` naming database `name` instead (scheme, authority and query kept).
fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url
        .split_once("://")
        .expect("STRATA_TEST_POSTGRES_URL is a postgres:// URL");
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, format!("?{q}")),
        None => (rest, String::new()),
    };
    let authority = rest.split_once('/').map_or(rest, |(a, _)| a);
    format!("{scheme}://{authority}/{name}{query}")
}

/// The database a `postgres://` URL names.
fn database_name(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split_once('?').map_or(rest, |(r, _)| r);
    rest.split_once('/')
        .map(|(_, db)| db)
        .filter(|db| !db.is_empty())
        .unwrap_or_else(|| panic!("{url} names no database"))
}

#[cfg(test)]
mod tests {
    use super::{database_name, with_database};

    #[test]
    fn urls_name_the_database() {
        let admin = "postgres://postgres@127.0.0.1:5432/postgres";
        let url = with_database(admin, "strata_t1");
        assert_eq!(url, "postgres://postgres@127.0.0.1:5432/strata_t1");
        assert_eq!(database_name(&url), "strata_t1");
        let url = with_database("postgresql://u:p@h/postgres?sslmode=disable", "d");
        assert_eq!(url, "postgresql://u:p@h/d?sslmode=disable");
        assert_eq!(database_name(&url), "d");
        assert_eq!(with_database("postgres://h:1", "d"), "postgres://h:1/d");
    }
}
