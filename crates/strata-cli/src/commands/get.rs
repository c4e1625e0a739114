//! `strata get`: a service's effective configuration from a Strata server, through the
//! on-disk cache of `strata-client` (see docs/client.md); `--watch` follows it.

use std::io::Write as _;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use strata_client::{Client, ClientError, Fetched, WatchOptions};
use strata_core::value::{Loc, Node, Value, map_with_capacity};

use crate::error::CliError;
use crate::output::{OutputFormat, emit, render};

/// Output formats of `strata get`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GetFormat {
    /// Pretty-printed JSON.
    Json,
    /// Block-style YAML.
    Yaml,
}

/// Arguments of `strata get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// The service.
    service: String,

    /// The target, ENV/PROVIDER/REGION (or ENV alone when it has one target).
    #[arg(long, short = 't', value_name = "ENV/PROVIDER/REGION")]
    target: String,

    /// The server's URL (`http://` or `https://`).
    #[arg(
        long,
        env = "STRATA_SERVER",
        default_value = "http://127.0.0.1:7878",
        value_name = "URL"
    )]
    server: String,

    /// A CA certificate (PEM) to trust for an https:// server, besides Mozilla's roots
    /// (for a certificate issued by a private CA).
    #[arg(long, env = "STRATA_CA_CERT", value_name = "FILE")]
    ca_cert: Option<PathBuf>,

    /// Where the last good configuration is kept for when the server is unreachable
    /// (default $XDG_CACHE_HOME/strata, else ~/.cache/strata).
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,

    /// Seconds to wait for the server before using the cache.
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    timeout: f64,

    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value = "json")]
    format: GetFormat,

    /// Keep following the configuration: print it, then each new one, as one line of
    /// JSON each, until interrupted (the cache is updated on each change; while the server
    /// is unreachable the watch waits for it).
    #[arg(long, conflicts_with = "format")]
    watch: bool,
}

/// Runs `strata get`.
pub fn run(args: GetArgs) -> Result<(), CliError> {
    let token = crate::guard::token().ok_or_else(|| {
        CliError::Usage(format!(
            "strata get needs an API token to ask {}\n  hint: pass --token T or set STRATA_TOKEN (`strata token create`)",
            args.server
        ))
    })?;
    let parts: Vec<&str> = args.target.split('/').collect();
    let (env, hint) = match parts.as_slice() {
        [env] if !env.is_empty() => (*env, None),
        [env, provider, region]
            if !env.is_empty() && !provider.is_empty() && !region.is_empty() =>
        {
            (*env, Some((*provider, *region)))
        }
        _ => {
            return Err(CliError::Usage(format!(
                "--target {:?} is not ENV/PROVIDER/REGION (or ENV)",
                args.target
            )));
        }
    };
    if !(args.timeout.is_finite() && args.timeout > 0.0 && args.timeout <= 3600.0) {
        return Err(CliError::Usage(format!(
            "--timeout {} must be a number of seconds between 0 and 3600",
            args.timeout
        )));
    }
    let mut client = Client::new(&args.server, token)
        .map_err(|e| {
            CliError::Usage(format!(
                "{e}\n  hint: pass --server http://HOST:PORT or set STRATA_SERVER"
            ))
        })?
        .with_timeout(Duration::from_secs_f64(args.timeout));
    if let Some(ca) = &args.ca_cert {
        client = client.with_ca_cert(ca).map_err(|e| {
            CliError::Usage(format!(
                "{e}\n  hint: --ca-cert takes the PEM certificate of the CA that issued the server's certificate"
            ))
        })?;
    }
    if let Some(dir) = args
        .cache_dir
        .clone()
        .or_else(strata_client::default_cache_dir)
    {
        client = client.with_cache_dir(dir);
    }
    if args.watch {
        return watch(&client, env, hint, &args);
    }
    let fetched = client
        .fetch(env, &args.service, hint)
        .map_err(|e| explain(e, &args))?;
    note_outage(&client, &fetched);
    let format = match args.format {
        GetFormat::Json => OutputFormat::Json,
        GetFormat::Yaml => OutputFormat::Yaml,
    };
    emit(&render(&from_json(&fetched.config), format)?)
}

/// `--watch`: one JSON line per configuration.
fn watch(
    client: &Client,
    env: &str,
    hint: Option<(&str, &str)>,
    args: &GetArgs,
) -> Result<(), CliError> {
    let mut failed = None;
    let mut first = true;
    client
        .watch(
            env,
            &args.service,
            hint,
            &WatchOptions::default(),
            |fetched| {
                if first {
                    note_outage(client, fetched);
                    first = false;
                } else if let Some(e) = &fetched.cache_error {
                    eprintln!("warning: the cache was not updated: {e}");
                }
                let mut out = std::io::stdout().lock();
                let line = serde_json::to_string(&fetched.config).unwrap_or_default();
                match writeln!(out, "{line}").and_then(|()| out.flush()) {
                    Ok(()) => ControlFlow::Continue(()),
                    Err(e) => {
                        failed = Some(if e.kind() == std::io::ErrorKind::BrokenPipe {
                            CliError::BrokenPipe
                        } else {
                            CliError::Io(format!("cannot write to standard output: {e}"))
                        });
                        ControlFlow::Break(())
                    }
                }
            },
        )
        .map_err(|e| explain(e, args))?;
    failed.map_or(Ok(()), Err)
}

/// Notes on standard error that `fetched` comes from the cache (the server is down), or
/// that the cache could not be written.
fn note_outage(client: &Client, fetched: &Fetched) {
    if fetched.from_cache {
        eprintln!(
            "note: the server at {} is unreachable ({}); printing the cached configuration{}",
            client.base_url(),
            fetched.outage.as_deref().unwrap_or("unknown reason"),
            fetched
                .revision
                .as_deref()
                .map(|r| format!(" of revision {r}"))
                .unwrap_or_default()
        );
    }
    if let Some(e) = &fetched.cache_error {
        eprintln!("warning: the cache was not updated: {e}");
    }
}

/// An error of the client as a CLI error (exit 2) saying what to do.
fn explain(e: ClientError, args: &GetArgs) -> CliError {
    let hint = match &e {
        ClientError::Unavailable { .. } => format!(
            "start the server (`strata serve`), or point --server / STRATA_SERVER at it (now {}); once fetched, a configuration is kept in the cache for when the server is down",
            args.server
        ),
        ClientError::Status { status: 401, .. } => {
            "check --token / STRATA_TOKEN (create one with `strata token create`)".into()
        }
        ClientError::Status { status: 403, .. } => {
            "the server's access policy denies this read; ask an admin (see `strata access`)".into()
        }
        ClientError::Status { status: 404, .. } => {
            "check the service and the target (`strata services`, `strata targets`)".into()
        }
        ClientError::Status {
            status: 400,
            details,
            ..
        } => match details["candidates"].as_array() {
            Some(c) => format!(
                "name the target fully with --target ENV/PROVIDER/REGION: {}",
                c.iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => "check the service and the target".into(),
        },
        ClientError::Status { .. } | ClientError::Protocol { .. } | ClientError::Request { .. } => {
            format!("check that --server {} is a Strata server", args.server)
        }
        ClientError::Tls { .. } => format!(
            "the server's certificate is not trusted: when a private CA issued it, pass --ca-cert FILE (or STRATA_CA_CERT); check that --server {} names the host the certificate is for",
            args.server
        ),
        ClientError::BadUrl { .. } | ClientError::Cache { .. } => {
            "check --server and --cache-dir".into()
        }
    };
    CliError::Usage(format!("{e}\n  hint: {hint}"))
}

/// A JSON value as a configuration value (for the shared renderers).
fn from_json(j: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    let node = |v: &J| Node::new(from_json(v), Loc::default());
    match j {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        J::String(s) => Value::Str(s.as_str().into()),
        J::Array(items) => Value::List(items.iter().map(node).collect()),
        J::Object(m) => {
            let mut map = map_with_capacity(m.len());
            for (k, v) in m {
                map.insert(k.as_str().into(), node(v));
            }
            Value::Map(Box::new(map))
        }
    }
}
