//! The Strata server (DESIGN §8): configuration reads over a versioned JSON API on axum.
//!
//! [`Server::bind`] opens the store and binds the listener; [`Server::run`] serves until the
//! shutdown future completes, letting in-flight requests finish. [`router`] builds the
//! routes over an [`AppState`] (for embedding and tests). [`seed`] holds what both
//! `strata demo` and the tests need to prepare a store.

pub mod access;
mod api;
pub mod background;
mod error;
mod follow;
mod invalidate;
mod metrics;
mod openapi;
mod routes;
pub mod seed;
mod state;
mod watch;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

pub use error::{ApiError, STORE_RETRY_AFTER_SECS};
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
}

impl ServerConfig {
    /// A configuration with the default limits: 1 MiB bodies, 30 s requests, the head
    /// re-read at most every 250 ms.
    pub fn new(store: impl Into<String>, bind: SocketAddr) -> ServerConfig {
        ServerConfig {
            store: store.into(),
            bind,
            body_limit: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            head_refresh: Duration::from_millis(250),
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
    state: AppState,
}

impl Server {
    /// Opens the store and binds `config.bind` (port 0 picks a free port: see
    /// [`Server::local_addr`]).
    pub async fn bind(config: ServerConfig) -> Result<Server, ServerError> {
        let location = config.store.clone();
        let repo = tokio::task::spawn_blocking(move || strata_store::repo::open(&location))
            .await
            .map_err(|e| ServerError::Task(e.to_string()))??;
        let state = AppState::new(repo, config.head_refresh);
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
        );
        Ok(Server {
            listener,
            app,
            state,
        })
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
        axum::serve(self.listener, self.app)
            .with_graceful_shutdown(async move {
                shutdown.await;
                state.begin_shutdown();
            })
            .await?;
        Ok(())
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
