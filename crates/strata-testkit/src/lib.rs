//! Fixtures shared by the tests of several Strata crates, so that each is written once.
//!
//! Only ever a dev-dependency (`publish = false`). Each module holds one kind of fixture,
//! behind the feature a test crate turns on:
//!
//! - [`pg`] (feature `pg`): a fresh PostgreSQL database per test, on the server named by
//!   `STRATA_TEST_POSTGRES_URL`; without it the tests fail, saying how to get one.
//! - [`acme`] (feature `server`): the files of `examples/acme`, the project most tests
//!   serve, and edits of them.
//! - [`tls`] (feature `server`): a private CA and a server certificate it issued, for
//!   HTTPS tests.
//! - [`server`] (feature `server`): a server on its own thread serving a fresh store that
//!   holds acme, over HTTP or HTTPS, for blocking tests of clients.
//!
//! Fixtures panic on any failure: they run inside tests, where a panic is the report.

#[cfg(feature = "server")]
pub mod acme;
#[cfg(feature = "pg")]
pub mod pg;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod tls;
