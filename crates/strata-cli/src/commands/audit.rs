//! `strata audit` (read the audit log), `strata audit verify` (check its hash chain) and
//! `strata token create|list|revoke` (API tokens: shown once, stored as a hash).

use std::path::Path;

use clap::{Args, Subcommand, ValueEnum};
use strata_core::access::Action;
use strata_store::audit::AuditFilter;

use super::requests::expiry;
use super::store_opts::{StoreOpts, format_time, now_ms};
use crate::error::CliError;
use crate::guard::Guard;

/// `strata audit`
#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: Option<AuditCommand>,

    /// Only entries at or after this time: a duration ago (`24h`, `7d`) or a sequence
    /// number (`#120`: entries after it).
    #[arg(long, value_name = "WHEN")]
    since: Option<String>,

    /// Only this principal's entries.
    #[arg(long, value_name = "P")]
    principal: Option<String>,

    /// Only entries naming this parameter or one under it (`SERVICE:PATH`, `SERVICE:`).
    #[arg(long, value_name = "SERVICE:PATH")]
    param: Option<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = AuditFormat::Text)]
    format: AuditFormat,

    #[command(flatten)]
    store: StoreOpts,
}

/// `strata audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain: any modified, deleted, inserted or reordered entry is found
    /// and the first bad sequence number named (exit 1).
    Verify(VerifyArgs),
}

/// `strata audit verify`
#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    store: StoreOpts,
}

/// How `strata audit` prints entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    /// One line per entry.
    Text,
    /// One JSON object per line.
    Jsonl,
}

/// Runs `strata audit`.
pub fn run(root: &Path, args: AuditArgs) -> Result<(), CliError> {
    if let Some(AuditCommand::Verify(v)) = args.command {
        return verify(root, v);
    }
    let repo = args.store.open_existing(root)?;
    let mut filter = AuditFilter {
        principal: args.principal.clone(),
        param: args.param.clone(),
        ..AuditFilter::default()
    };
    if let Some(since) = &args.since {
        if let Some(seq) = since.strip_prefix('#') {
            filter.after_seq = Some(seq.parse().map_err(|_| {
                CliError::Usage(format!("--since `{since}`: `#` takes a sequence number"))
            })?);
        } else {
            let secs = strata_core::access::parse_duration(since).ok_or_else(|| {
                CliError::Usage(format!(
                    "--since `{since}`: write a duration (24h, 7d) or a sequence number (#120)"
                ))
            })?;
            filter.since_ms = Some(now_ms() - secs as i64 * 1000);
        }
    }
    let entries = repo
        .store()
        .audit_entries(&filter)
        .map_err(CliError::from_store)?;
    let mut out = String::new();
    for e in &entries {
        match args.format {
            AuditFormat::Jsonl => {
                out.push_str(&serde_json::to_string(e).unwrap_or_default());
                out.push('\n');
            }
            AuditFormat::Text => {
                out.push_str(&format!(
                    "#{:<5} {}  {:<8} {:<14} {:<12}{}{}{}{}\n",
                    e.seq,
                    format_time(e.time_ms),
                    e.decision.as_str(),
                    e.principal,
                    e.action,
                    if e.scope.is_empty() {
                        String::new()
                    } else {
                        format!(" in {}", e.scope)
                    },
                    if e.params.is_empty() {
                        String::new()
                    } else {
                        format!(" {}", e.params.join(", "))
                    },
                    e.request
                        .as_ref()
                        .map(|r| format!(" [request {r}]"))
                        .unwrap_or_default(),
                    e.rule
                        .as_ref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default(),
                ));
            }
        }
    }
    crate::output::emit(&out)
}

fn verify(root: &Path, args: VerifyArgs) -> Result<(), CliError> {
    let repo = args.store.open_existing(root)?;
    match repo.store().audit_verify().map_err(CliError::from_store)? {
        Ok(n) => {
            println!("audit log intact: {n} entries, every hash chained to the one before");
            Ok(())
        }
        Err(b) => Err(CliError::Invalid(format!(
            "{b}\n  hint: the log was modified outside Strata; entries from #{} on cannot be trusted (restore the store from a backup to investigate)",
            b.seq
        ))),
    }
}

/// `strata token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token for a principal; it is printed once, and only its hash is kept.
    Create(TokenCreateArgs),
    /// List tokens (ids, principals, dates; never the tokens).
    List(TokenListArgs),
    /// Revoke a token by id.
    Revoke(TokenRevokeArgs),
}

/// `strata token create`
#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// Whom the token acts as.
    #[arg(long, value_name = "P")]
    principal: String,

    /// Lifetime, e.g. `90d` (default: no expiry).
    #[arg(long, value_name = "DURATION")]
    expires: Option<String>,

    #[command(flatten)]
    store: StoreOpts,
}

/// `strata token list`
#[derive(Debug, Args)]
pub struct TokenListArgs {
    /// Print JSON.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    store: StoreOpts,
}

/// `strata token revoke`
#[derive(Debug, Args)]
pub struct TokenRevokeArgs {
    /// The token id (the 12 characters after `strata_`).
    id: String,

    #[command(flatten)]
    store: StoreOpts,
}

/// Runs `strata token …`.
pub fn token(root: &Path, cmd: TokenCommand) -> Result<(), CliError> {
    match cmd {
        TokenCommand::Create(args) => {
            let repo = args.store.open_existing(root)?;
            let guard = Guard::new(&repo)?;
            let rule = guard.require_everywhere(Action::Admin, "token-create")?;
            let expires_ms = args.expires.as_deref().map(expiry).transpose()?;
            let token = strata_server::tokens_api::issue(
                &repo,
                &args.principal,
                expires_ms,
                &guard.actor.principal,
                Some(rule),
                now_ms(),
            )
            .map_err(|e| match e {
                strata_server::seed::SeedError::Store(e) => CliError::from_store(e),
                strata_server::seed::SeedError::Token(e) => {
                    CliError::Io(format!("cannot make a token: {e}"))
                }
            })?;
            println!("{}", token.secret.expose());
            eprintln!(
                "token {} for {}: shown once, keep it secret (STRATA_TOKEN=… or --token)",
                token.id, args.principal
            );
            Ok(())
        }
        TokenCommand::List(args) => {
            let repo = args.store.open_existing(root)?;
            let rows = repo.store().token_list().map_err(CliError::from_store)?;
            let now = now_ms();
            if args.json {
                let list: Vec<serde_json::Value> = rows
                    .iter()
                    .map(|r| {
                        let mut v = serde_json::to_value(r).unwrap_or_default();
                        v["state"] = serde_json::to_value(r.state(now)).unwrap_or_default();
                        v
                    })
                    .collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&list).unwrap_or_default()
                );
                return Ok(());
            }
            if rows.is_empty() {
                println!("no tokens");
            }
            for r in rows {
                println!(
                    "{}  {:<16} created {}  {}{}",
                    r.id,
                    r.principal,
                    format_time(r.created_ms),
                    serde_json::to_value(r.state(now))
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    r.expires_ms
                        .map(|e| format!(" (expires {})", format_time(e)))
                        .unwrap_or_default()
                );
            }
            Ok(())
        }
        TokenCommand::Revoke(args) => {
            let repo = args.store.open_existing(root)?;
            let guard = Guard::new(&repo)?;
            let rule = guard.require_everywhere(Action::Admin, "token-revoke")?;
            let mut e = guard.entry("token-revoke", "");
            e.rule = Some(rule);
            let mut detail = serde_json::Map::new();
            detail.insert("token".into(), args.id.clone().into());
            e.detail = Some(detail);
            let (row, _) = repo
                .store()
                .token_revoke(&args.id, now_ms(), &[e])
                .map_err(CliError::from_store)?;
            println!("token {} of {} revoked", row.id, row.principal);
            Ok(())
        }
    }
}
