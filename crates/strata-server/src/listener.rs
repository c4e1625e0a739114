//! The accept loop: plain HTTP/1.1 or HTTPS connections served by hyper with the router as
//! the service, hyper's hard header limits and header-read timeout, and a graceful
//! shutdown that lets requests in flight finish.
//!
//! Each connection runs on its own task, so a TLS handshake never holds up accepting other
//! connections; a handshake that fails or takes longer than [`HANDSHAKE_TIMEOUT`] only
//! closes its own connection. On shutdown the listener is closed first, handshakes still
//! under way are abandoned, idle connections close, and connections with a request in
//! flight close once its answer is sent.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::ServerError;
use crate::limits::HeaderLimits;

/// How long a client may take to complete the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request head (slow clients are cut off).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// What every connection task needs.
struct Shared {
    app: axum::Router,
    tls: Option<TlsAcceptor>,
    http: http1::Builder,
}

/// Serves connections accepted on `listener` until `shutdown` completes, then drains.
pub(crate) async fn run(
    listener: TcpListener,
    app: axum::Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: HeaderLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(limits.hard_bytes.max(8 * 1024))
        .max_headers(limits.hard_count);
    let shared = Arc::new(Shared {
        app,
        tls: tls.map(TlsAcceptor::from),
        http,
    });
    let graceful = GracefulShutdown::new();
    let (stopping, stop_seen) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let tcp = match accepted {
            Ok((tcp, _peer)) => tcp,
            Err(e) if is_per_connection(&e) => continue,
            Err(_) => {
                // Out of file descriptors or similar: wait a little instead of spinning.
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                }
            }
        };
        let _ = tcp.set_nodelay(true);
        tokio::spawn(connection(
            tcp,
            shared.clone(),
            graceful.watcher(),
            stop_seen.clone(),
        ));
    }
    drop(listener);
    let _ = stopping.send(true);
    graceful.shutdown().await;
    Ok(())
}

/// Errors of `accept` that concern only the connection being accepted.
fn is_per_connection(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// One connection: the TLS handshake when configured, then HTTP/1.1 until the client
/// closes, an error, or the graceful shutdown.
async fn connection(
    tcp: TcpStream,
    shared: Arc<Shared>,
    watcher: Watcher,
    mut stop: watch::Receiver<bool>,
) {
    let service = TowerToHyperService::new(shared.app.clone());
    match &shared.tls {
        None => {
            let conn = shared.http.serve_connection(TokioIo::new(tcp), service);
            let _ = watcher.watch(conn).await;
        }
        Some(acceptor) => {
            let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp));
            let stream = tokio::select! {
                done = handshake => match done {
                    Ok(Ok(stream)) => stream,
                    // A failed or slow handshake closes this connection only.
                    _ => return,
                },
                _ = stop.wait_for(|s| *s) => return,
            };
            let conn = shared.http.serve_connection(TokioIo::new(stream), service);
            let _ = watcher.watch(conn).await;
        }
    }
}
