//! A server on acme for blocking tests of clients (`strata-client`, `strata get`).
//!
//! Why here: the client's and the CLI's tests, over HTTP and HTTPS, and the server's HTTPS
//! tests all start the same thing: a fresh SQLite store in a temporary directory holding
//! [acme](crate::acme), a token for [`PRINCIPAL`], and a
//! [`Background`](strata_server::background::Background) server on a free loopback port.
//! (The server's HTTP suite has a fixture of its own, `tests/suite`, with two tokens, an
//! age identity and a ureq agent.)

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use strata_server::background::Background;
use strata_server::{ServerConfig, seed};

use crate::acme;
use crate::tls::{self, Issued};

/// The principal whose token [`AcmeServer::token`] is (an admin in acme's policy).
pub const PRINCIPAL: &str = "dana.kim";

/// How an [`AcmeServer`] is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTPS, with a certificate from a private CA ([`tls::issue`], in the server's
    /// directory).
    Https,
}

/// A running server on a fresh store holding acme; stopped when dropped, before its
/// directory (the store, certificates) is removed.
pub struct AcmeServer {
    server: Background,
    token: String,
    store: String,
    tls: Option<Issued>,
    dir: tempfile::TempDir,
}

impl AcmeServer {
    /// A plain-HTTP server (see [`AcmeServer::start_with`]).
    pub fn start() -> AcmeServer {
        AcmeServer::start_with(Scheme::Http, |_| {})
    }

    /// An HTTPS server (see [`AcmeServer::start_with`]).
    pub fn start_https() -> AcmeServer {
        AcmeServer::start_with(Scheme::Https, |_| {})
    }

    /// Imports acme into a new SQLite store (`store.db` in a temporary directory), makes a
    /// token for [`PRINCIPAL`], hands the store's path to `prepare` (to commit more before
    /// anything is served), and serves the store on a free 127.0.0.1 port by `scheme`.
    ///
    /// # Panics
    ///
    /// When any step fails.
    pub fn start_with(scheme: Scheme, prepare: impl FnOnce(&str)) -> AcmeServer {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store.db").to_string_lossy().to_string();
        let token = seed::store_with(Path::new(acme::DIR), &store, PRINCIPAL).unwrap();
        prepare(&store);
        let mut config = ServerConfig::new(store.clone(), SocketAddr::from(([127, 0, 0, 1], 0)));
        let tls = match scheme {
            Scheme::Http => None,
            Scheme::Https => {
                let issued = tls::issue(dir.path());
                config.tls = Some(issued.files.clone());
                Some(issued)
            }
        };
        AcmeServer {
            server: Background::start(config).unwrap(),
            token: token.expose().to_string(),
            store,
            tls,
            dir,
        }
    }

    /// The base URL, `http://127.0.0.1:PORT` (`https://` with TLS); still known once
    /// stopped.
    pub fn base(&self) -> &str {
        self.server.base()
    }

    /// The token of [`PRINCIPAL`].
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The store's path.
    pub fn store(&self) -> &str {
        &self.store
    }

    /// The temporary directory holding the store (and the certificates): a place for a
    /// test's own files, removed with the server.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The CA and certificate files of an HTTPS server.
    ///
    /// # Panics
    ///
    /// On a plain-HTTP server.
    pub fn tls(&self) -> &Issued {
        self.tls
            .as_ref()
            .expect("the server was started without TLS")
    }

    /// Stops the server (requests in flight finish first): an outage, as clients see it.
    pub fn stop(&mut self) {
        self.server.stop();
    }

    /// Commits `files` to the store as a new revision by `test-admin`, behind the server's
    /// back (as another server or the CLI would).
    pub fn commit(&self, files: BTreeMap<String, Vec<u8>>, message: &str) {
        let repo = strata_store::repo::open(&self.store).unwrap();
        seed::import(&repo, files, "test-admin", message).unwrap();
    }
}
