//! A server on its own thread and Tokio runtime, for callers without one (blocking tests
//! of the client and the CLI, tools): started with [`Background::start`], stopped
//! gracefully by [`Background::stop`] or when dropped.

use std::thread::JoinHandle;

use crate::{Server, ServerConfig, ServerError};

/// A running server (see the module documentation).
pub struct Background {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), ServerError>>>,
}

impl Background {
    /// Binds `config` (port 0 picks a free port) and serves it on a new thread.
    pub fn start(config: ServerConfig) -> Result<Background, ServerError> {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || -> Result<(), ServerError> {
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async move {
                let server = match Server::bind(config).await {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = addr_tx.send(Err(e.to_string()));
                        return Err(e);
                    }
                };
                let scheme = server.scheme();
                let _ = addr_tx.send(
                    server
                        .local_addr()
                        .map(|a| format!("{scheme}://{a}"))
                        .map_err(|e| e.to_string()),
                );
                server
                    .run(async move {
                        let _ = stopped.await;
                    })
                    .await
            })
        });
        let base = addr_rx
            .recv()
            .map_err(|e| ServerError::Task(e.to_string()))?
            .map_err(ServerError::Task)?;
        Ok(Background {
            base,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The server's base URL, `http://127.0.0.1:PORT` (`https://` with TLS).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Stops the server; requests in flight finish first.
    pub fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A [`Background`] server on a new store holding a project, with a token: what tests and
/// demos of clients need.
pub struct Seeded {
    /// The server.
    pub server: Background,
    /// A token of the principal asked for (shown once by real tools).
    pub token: String,
}

impl Seeded {
    /// Imports the project in `dir` into a new store at `store` (a SQLite path or a
    /// PostgreSQL URL), makes a token for `principal`, and serves the store on a free
    /// loopback port.
    pub fn start(
        dir: &std::path::Path,
        store: &str,
        principal: &str,
    ) -> Result<Seeded, ServerError> {
        let token = crate::seed::store_with(dir, store, principal)
            .map_err(|e| ServerError::Task(e.to_string()))?;
        let config = ServerConfig::new(
            store.to_string(),
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        );
        Ok(Seeded {
            server: Background::start(config)?,
            token: token.expose().to_string(),
        })
    }
}
