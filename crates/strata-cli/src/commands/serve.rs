//! `strata serve` and `strata demo`: the HTTP server (crate `strata-server`).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use clap::Args;
use strata_server::tls::TlsFiles;
use strata_server::{Server, ServerConfig};

use super::store_opts::{require_existing, store_location};
use crate::error::CliError;

/// The example project `strata demo` serves (found beside the sources at build time).
const ACME: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/acme");
/// The default address.
const DEFAULT_PORT: u16 = 7878;
/// The admin of the demo (the acme policy gives `dana.kim` the `admin` role).
const DEMO_ADMIN: &str = "dana.kim";

/// Arguments of `strata serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The store: a SQLite file, or `postgres://user@host:port/db`.
    /// Default: .strata/store.db in the project.
    #[arg(long, env = "STRATA_STORE", value_name = "PATH|URL")]
    store: Option<String>,

    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:7878", value_name = "ADDR:PORT")]
    bind: SocketAddr,

    /// Serve HTTPS with this certificate chain (PEM, the server's certificate first);
    /// with --tls-key. With TLS a non-loopback --bind needs no --insecure.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 RSA or SEC1 EC).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Allow plain HTTP on a non-loopback address (tokens then cross the network in
    /// clear text).
    #[arg(long)]
    insecure: bool,

    /// An age identity file (AGE-SECRET-KEY-1…) that decrypts secrets for
    /// `?reveal=true` reads by principals allowed to `read-secret` (without one, such
    /// reads answer 501).
    #[arg(long, env = "STRATA_AGE_IDENTITY", value_name = "FILE")]
    identity: Option<PathBuf>,
}

/// Arguments of `strata demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The port to try first (a free one is picked when it is taken).
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,
}

/// Runs `strata serve`.
pub fn serve(root: &Path, args: ServeArgs) -> Result<(), CliError> {
    let tls = match (args.tls_cert, args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        _ => None,
    };
    if tls.is_none() && !args.bind.ip().is_loopback() && !args.insecure {
        return Err(CliError::Usage(format!(
            "refusing to serve plain HTTP on the non-loopback address {}: bearer tokens would cross the network in clear text\n  hint: pass --tls-cert FILE --tls-key FILE, bind 127.0.0.1 behind a TLS proxy, or pass --insecure if you mean it",
            args.bind
        )));
    }
    if let Some(files) = &tls {
        // Checked before the store is opened: a bad file is a usage error (exit 2).
        strata_server::tls::load(files).map_err(|e| {
            CliError::Usage(format!(
                "{e}\n  hint: --tls-cert takes the PEM certificate chain, --tls-key its PEM private key"
            ))
        })?;
    }
    let location = store_location(args.store.as_deref(), root);
    require_existing(&location)?;
    let mut config = ServerConfig::new(location, args.bind);
    config.tls = tls;
    if let Some(path) = args
        .identity
        .as_deref()
        .filter(|p| !p.as_os_str().is_empty())
    {
        config.identities = Some(super::secrets::identities(Some(path))?);
    }
    runtime()?.block_on(async move {
        let server = Server::bind(config).await.map_err(server_error)?;
        let addr = server.local_addr().map_err(server_error)?;
        let stop = shutdown_signal()?;
        eprintln!("serving on {}://{addr} (Ctrl-C to stop)", server.scheme());
        server.run(stop).await.map_err(server_error)
    })
}

/// Runs `strata demo`.
pub fn demo(args: DemoArgs) -> Result<(), CliError> {
    let dir = std::env::temp_dir().join(format!(
        "strata-demo-{}-{}",
        std::process::id(),
        super::store_opts::now_ms()
    ));
    let result = demo_in(&dir, args);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn demo_in(dir: &Path, args: DemoArgs) -> Result<(), CliError> {
    // Copy the example project, then import the copy.
    let files = super::import::read_tree(Path::new(ACME))?;
    let project = dir.join("acme");
    for (path, bytes) in &files {
        let to = project.join(path);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| CliError::io(parent, e))?;
        }
        std::fs::write(&to, bytes).map_err(|e| CliError::io(&to, e))?;
    }
    let files = super::import::read_tree(&project)?;
    let store = dir.join("store.db").display().to_string();
    let repo = strata_store::repo::open(&store).map_err(CliError::from_store)?;
    let seeded = |e: strata_server::seed::SeedError| CliError::Io(format!("demo: {e}"));
    strata_server::seed::import(&repo, files, "demo-admin", "examples/acme").map_err(seeded)?;
    let token =
        strata_server::seed::create_token(&repo, DEMO_ADMIN, "demo-admin").map_err(seeded)?;
    drop(repo);

    runtime()?.block_on(async move {
        let at = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let server = match Server::bind(ServerConfig::new(store.clone(), at(args.port))).await {
            Ok(s) => s,
            Err(strata_server::ServerError::Bind { .. }) => {
                Server::bind(ServerConfig::new(store, at(0)))
                    .await
                    .map_err(server_error)?
            }
            Err(e) => return Err(server_error(e)),
        };
        let addr = server.local_addr().map_err(server_error)?;
        let stop = shutdown_signal()?;
        let url = format!("http://{addr}");
        let t = token.expose();
        println!("Strata demo: examples/acme served at {url} (project copy in {})", project.display());
        println!("admin token ({DEMO_ADMIN}): {t}");
        println!();
        println!("  # the effective configuration of checkout in dev on AWS");
        println!("  curl -s -H 'Authorization: Bearer {t}' '{url}/v1/config/dev/checkout?provider=aws'");
        println!("  # one parameter, with its ETag");
        println!("  curl -si -H 'Authorization: Bearer {t}' '{url}/v1/config/prod/checkout/db.pool.max_size?provider=aws&region=us-east-1'");
        println!("  # 304 Not Modified while the revision is the same (paste the ETag)");
        println!("  curl -si -H 'Authorization: Bearer {t}' -H 'If-None-Match: \"ETAG\"' '{url}/v1/config/prod/checkout/db.pool.max_size?provider=aws&region=us-east-1'");
        println!();
        println!("Ctrl-C stops the demo and removes its temporary store.");
        server.run(stop).await.map_err(server_error)
    })
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Runtime::new()
        .map_err(|e| CliError::Io(format!("cannot start the runtime: {e}")))
}

fn server_error(e: strata_server::ServerError) -> CliError {
    match e {
        strata_server::ServerError::Store(e) => CliError::from_store(e),
        strata_server::ServerError::Tls(e) => CliError::Usage(e.to_string()),
        e => CliError::Io(e.to_string()),
    }
}

/// Listens for Ctrl-C and SIGTERM from now on, and gives a future that completes on the
/// first. The handlers are installed here, before the server says it is serving: a signal
/// sent right after that line must stop it gracefully, not kill it.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, CliError> {
    let cannot = |e: std::io::Error| CliError::Io(format!("cannot listen for signals: {e}"));
    #[cfg(unix)]
    let stop = {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).map_err(cannot)?;
        let mut interrupt = signal(SignalKind::interrupt()).map_err(cannot)?;
        async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = interrupt.recv() => {}
            }
        }
    };
    #[cfg(not(unix))]
    let stop = {
        let _ = cannot;
        async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    Ok(async move {
        stop.await;
        eprintln!("shutting down: finishing requests in flight");
    })
}
