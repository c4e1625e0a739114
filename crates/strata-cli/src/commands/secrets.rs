//! Secrets at rest: `strata secret set` and `strata keys rotate`, and decrypting for
//! `strata resolve --reveal`.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use strata_core::access::Action;
use strata_core::value::Node;
use strata_store::changeset::{ParamEdit, check_layer, parse_param};
use strata_store::crypto::Identities;
use strata_store::repo::CommitExtras;

use super::changes::report;
use super::store_opts::{StoreOpts, rev_name};
use crate::error::CliError;
use crate::guard::Guard;

/// `strata secret …`
#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Encrypt a value and store it at SERVICE:PATH.
    ///
    /// The plaintext is read from standard input (or --value-file), never from the command
    /// line, and encrypted to the age recipients in strata.yaml (`encryption.recipients`),
    /// bound to the parameter path. Only the ciphertext reaches the store.
    ///
    /// Example: printf %s "$DB_PASSWORD" | strata secret set checkout:db.password --target prod/aws/us-east-1
    #[command(verbatim_doc_comment)]
    Set(SecretSetArgs),
}

/// Arguments of `strata secret set`.
#[derive(Debug, Args)]
pub struct SecretSetArgs {
    /// The parameter, SERVICE:PATH.
    param: String,

    /// Store it in the most specific layer of this target (the last hierarchy level).
    #[arg(
        long,
        short = 't',
        value_name = "ENV/PROVIDER/REGION",
        required_unless_present = "layer",
        conflicts_with = "layer"
    )]
    target: Option<String>,

    /// Store it in this layer directory, e.g. `env/prod`.
    #[arg(long, value_name = "LEVEL")]
    layer: Option<String>,

    /// Read the plaintext from this file instead of standard input.
    #[arg(long, value_name = "FILE")]
    value_file: Option<PathBuf>,

    /// The revision message.
    #[arg(long, short = 'm', value_name = "M")]
    message: Option<String>,

    #[command(flatten)]
    store: StoreOpts,
}

/// `strata keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Re-encrypt every secret to new recipients in one revision, and record them in
    /// strata.yaml. Needs an identity that can decrypt the current values.
    ///
    /// Example: strata keys rotate --recipient age1new… --recipient age1backup… --identity old.key
    #[command(verbatim_doc_comment)]
    Rotate(RotateArgs),
}

/// Arguments of `strata keys rotate`.
#[derive(Debug, Args)]
pub struct RotateArgs {
    /// A new age recipient (`age1…`); repeat for several.
    #[arg(long = "recipient", value_name = "AGE1…", required = true)]
    recipients: Vec<String>,

    /// The age identity file that decrypts the current values (default: $STRATA_AGE_IDENTITY).
    #[arg(long, value_name = "FILE")]
    identity: Option<PathBuf>,

    /// The revision message.
    #[arg(long, short = 'm', value_name = "M")]
    message: Option<String>,

    #[command(flatten)]
    store: StoreOpts,
}

/// Loads the identities named by `--identity` or `STRATA_AGE_IDENTITY`.
pub fn identities(flag: Option<&Path>) -> Result<Identities, CliError> {
    let path = match flag {
        Some(p) => p.to_path_buf(),
        None => match std::env::var_os("STRATA_AGE_IDENTITY") {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => {
                return Err(CliError::Usage(
                    "no age identity: set STRATA_AGE_IDENTITY to the path of an identity file (AGE-SECRET-KEY-1…) or pass --identity FILE".into(),
                ));
            }
        },
    };
    Identities::from_file(&path)
        .map(|i| i.with_source(path.display().to_string()))
        .map_err(|e| CliError::Usage(e.to_string()))
}

/// Runs `strata secret …`.
pub fn secret(root: &Path, cmd: SecretCommand) -> Result<(), CliError> {
    let SecretCommand::Set(args) = cmd;
    let param = parse_param(&args.param).map_err(CliError::from_store)?;
    let repo = args.store.open_existing(root)?;
    let layer = match (&args.layer, &args.target) {
        (Some(l), _) => l.clone(),
        (None, Some(t)) => {
            let head = repo.head().map_err(CliError::from_store)?;
            let project = repo.project(&head).map_err(CliError::from_store)?;
            let target = project.config.target(t).ok_or_else(|| {
                CliError::Usage(format!("unknown target `{t}`; see `strata targets`"))
            })?;
            let level = project
                .config
                .hierarchy
                .last()
                .ok_or_else(|| CliError::Invalid("strata.yaml declares no hierarchy".into()))?;
            level.dir_for(target)
        }
        (None, None) => return Err(CliError::Usage("pass --target or --layer".into())),
    };
    check_layer(&layer).map_err(CliError::from_store)?;
    let mut plaintext = String::new();
    match &args.value_file {
        Some(f) => {
            plaintext = std::fs::read_to_string(f).map_err(|e| CliError::io(f, e))?;
        }
        None => {
            std::io::stdin()
                .read_to_string(&mut plaintext)
                .map_err(|e| CliError::Io(format!("cannot read the value from stdin: {e}")))?;
        }
    }
    // A trailing newline from `echo` or an editor is not part of a secret.
    let trimmed = plaintext.strip_suffix('\n').unwrap_or(&plaintext);
    let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
    if trimmed.is_empty() {
        return Err(CliError::Usage(
            "the secret value is empty: pipe it on stdin or pass --value-file".into(),
        ));
    }
    let message = args
        .message
        .clone()
        .unwrap_or_else(|| format!("set secret {} in {layer}", args.param));
    // The write is checked like any other; the audit entry shows that the value changed
    // with a keyed hash of it, never the value.
    let guard = Guard::new(&repo)?;
    let edit = ParamEdit {
        param: param.clone(),
        layer: layer.clone(),
        value: Some(serde_json::Value::Null),
    };
    let mut gated = guard.check_edits(std::slice::from_ref(&edit), "write")?;
    if !gated.approvals.is_empty() {
        return Err(CliError::Denied(format!(
            "{} in {layer} is covered by approval rule(s) {}: secrets there go through a change request, which `strata secret set` cannot make yet\n  hint: ask someone who may approve it to set it, or set it in a layer no approval rule covers",
            args.param,
            gated
                .approvals
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let key = repo.store().audit_key().map_err(CliError::from_store)?;
    let digest = strata_store::audit::secret_digest(&key, &args.param, trimmed.as_bytes());
    for e in &mut gated.entries {
        e.action = "write-secret".into();
        if let Some(d) = e.detail.as_mut() {
            d.insert("change".into(), "set".into());
            d.insert("value_digest".into(), digest.clone().into());
        }
    }
    let mut meta = args.store.meta(message);
    if guard.actor.named {
        meta.author = guard.actor.principal.clone();
    }
    let extras = CommitExtras {
        audit: gated.entries,
        request: None,
    };
    let outcome = repo
        .secret_set_with(&param, &layer, trimmed, meta, &extras)
        .map_err(CliError::from_store)?;
    report(outcome)
}

/// Runs `strata keys …`.
pub fn keys(root: &Path, cmd: KeysCommand) -> Result<(), CliError> {
    let KeysCommand::Rotate(args) = cmd;
    let ids = identities(args.identity.as_deref())?;
    let repo = args.store.open_existing(root)?;
    let message = args
        .message
        .clone()
        .unwrap_or_else(|| format!("rotate keys to {} recipient(s)", args.recipients.len()));
    let guard = Guard::new(&repo)?;
    let rule = guard.require_everywhere(Action::Admin, "rotate-keys")?;
    let mut entry = guard.entry("rotate-keys", "");
    entry.rule = Some(rule);
    let extras = CommitExtras {
        audit: vec![entry],
        request: None,
    };
    let (rev, count) = repo
        .rotate_keys_with(&ids, &args.recipients, args.store.meta(message), &extras)
        .map_err(CliError::from_store)?;
    println!(
        "revision {}: re-encrypted {count} secret value{} to {} recipient{}",
        rev_name(&rev),
        if count == 1 { "" } else { "s" },
        args.recipients.len(),
        if args.recipients.len() == 1 { "" } else { "s" }
    );
    Ok(())
}

/// Replaces every `ENC[strata:v1,…]` value under `node` with its plaintext, decrypting
/// with the parameter path it is bound to (`service:path`).
pub fn reveal(service: &str, node: &mut Node, ids: &Identities) -> Result<(), CliError> {
    strata_store::reveal::reveal_tree(service, &[], node, ids)
        .map_err(|e| CliError::Usage(e.to_string()))
}
