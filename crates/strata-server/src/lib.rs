//! The Strata server (DESIGN §8): configuration reads and writes (changesets, approvals,
//! tokens) over a versioned JSON API on axum.
//!
//! [`Server::bind`] opens the store and binds the listener; [`Server::run`] serves until the
//! shutdown future completes, letting in-flight requests finish. [`router`] builds the
//! routes over an [`AppState`] (for embedding and tests). [`seed`] holds what both
//! `strata demo` and the tests need to prepare a store.

pub mod access;
mod api;
mod auth;
pub mod background;
mod changes;
mod drift;
mod error;
mod follow;
pub mod frozen;
mod invalidate;
pub mod limits;
mod listener;
mod metrics;
mod openapi;
mod request_actions;
mod reveal;
mod routes;
pub mod seed;
mod state;
pub mod tls;
pub mod tokens_api;
mod watch;
mod writes;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

pub use error::{ApiError, STORE_RETRY_AFTER_SECS};
pub use limits::HeaderLimits;
pub use routes::router;
pub use state::AppState;

/// How to run a server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The store: a SQLite file path or a `postgres://` URL.
    pub store: String,
    /// Where to listen.
    pub bind: SocketAddr,
    /// The largest request body accepted (413 beyond it).
    pub body_limit: usize,
    /// How long one request may take (408 beyond it).
    pub request_timeout: Duration,
    /// How often the store's head is re-read when nothing says it moved (on PostgreSQL,
    /// commits are also announced at once).
    pub head_refresh: Duration,
    /// Serve HTTPS with this certificate and key (`None`: plain HTTP).
    pub tls: Option<tls::TlsFiles>,
    /// How large a request's header block may be (431 beyond it).
    pub header_limits: HeaderLimits,
    /// The age identities that decrypt secrets for `?reveal=true` (none: reveals of
    /// secrets answer 501).
    pub identities: Option<strata_store::crypto::Identities>,
}

impl ServerConfig {
    /// A plain-HTTP configuration with the default limits: 1 MiB bodies, 30 s requests,
    /// the head re-read at most every 250 ms, [`HeaderLimits::default`].
    pub fn new(store: impl Into<String>, bind: SocketAddr) -> ServerConfig {
        ServerConfig {
            store: store.into(),
            bind,
            body_limit: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            head_refresh: Duration::from_millis(250),
            tls: None,
            header_limits: HeaderLimits::default(),
            identities: None,
        }
    }
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The store could not be opened.
    #[error("cannot open the store: {0}")]
    Store(#[from] strata_store::StoreError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The TLS certificate or key cannot be used.
    #[error("{0}")]
    Tls(#[from] tls::TlsError),
    /// Serving failed.
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
    /// A blocking task panicked or was cancelled.
    #[error("internal error: {0}")]
    Task(String),
}

/// A bound server, ready to run.
pub struct Server {
    listener: tokio::net::TcpListener,
    app: axum::Router,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    header_limits: HeaderLimits,
    state: AppState,
}

impl Server {
    /// Reads the TLS files (when configured), opens the store and binds `config.bind`
    /// (port 0 picks a free port: see [`Server::local_addr`]).
    pub async fn bind(config: ServerConfig) -> Result<Server, ServerError> {
        let tls = config.tls.as_ref().map(tls::load).transpose()?;
        let location = config.store.clone();
        let repo = tokio::task::spawn_blocking(move || strata_store::repo::open(&location))
            .await
            .map_err(|e| ServerError::Task(e.to_string()))??;
        let state = AppState::new(repo, config.head_refresh);
        if let Some(ids) = config.identities {
            state.set_identities(ids);
        }
        state.set_request_timeout(config.request_timeout);
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|source| ServerError::Bind {
                addr: config.bind,
                source,
            })?;
        // Follow the head from now on, and read it once before serving (an empty or
        // unreachable store is served as such, and caught up with later).
        state.follow();
        let _ = state.refresh().await;
        let app = routes::with_limits(
            router(state.clone()),
            config.body_limit,
            config.request_timeout,
        )
        .layer(axum::middleware::from_fn_with_state(
            config.header_limits,
            limits::headers,
        ));
        Ok(Server {
            listener,
            app,
            tls,
            header_limits: config.header_limits,
            state,
        })
    }

    /// `https` when the server speaks TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> Result<SocketAddr, ServerError> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves until `shutdown` completes; requests in flight then finish before this
    /// returns (watch streams end, long polls answer at once).
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let state = self.state;
        listener::run(
            self.listener,
            self.app,
            self.tls,
            self.header_limits,
            async move {
                shutdown.await;
                state.begin_shutdown();
            },
        )
        .await
    }
}

/// Binds and serves `config` until `shutdown` completes (see [`Server`]).
pub async fn serve(
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    Server::bind(config).await?.run(shutdown).await
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
