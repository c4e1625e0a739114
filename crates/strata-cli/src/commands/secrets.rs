//! Secrets at rest: `strata secret set` and `strata keys rotate`, and decrypting for
//! `strata resolve --reveal`.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use strata_core::path::segments_to_string;
use strata_core::value::{Node, Value};
use strata_store::changeset::{check_layer, parse_param};
use strata_store::crypto::{self, Identities};

use super::changes::report;
use super::store_opts::{StoreOpts, rev_name};
use crate::error::CliError;

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
    let outcome = repo
        .secret_set(&param, &layer, trimmed, args.store.meta(message))
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
    let (rev, count) = repo
        .rotate_keys(&ids, &args.recipients, args.store.meta(message))
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
    fn walk(
        service: &str,
        node: &mut Node,
        path: &mut Vec<strata_core::path::Segment>,
        ids: &Identities,
    ) -> Result<(), CliError> {
        use strata_core::path::Segment;
        match &mut node.value {
            Value::Map(m) => {
                for (k, v) in m.iter_mut() {
                    path.push(Segment::Key(k.clone()));
                    walk(service, v, path, ids)?;
                    path.pop();
                }
            }
            Value::List(items) => {
                for (i, v) in items.iter_mut().enumerate() {
                    path.push(Segment::Index(i));
                    walk(service, v, path, ids)?;
                    path.pop();
                }
            }
            Value::Str(s) if crypto::is_ciphertext(s) => {
                let param = format!("{service}:{}", segments_to_string(path));
                let plain = crypto::decrypt(s, &param, ids)
                    .map_err(|e| CliError::Usage(format!("cannot reveal {param}: {e}")))?;
                node.value = Value::Str(plain.into());
            }
            _ => {}
        }
        Ok(())
    }
    walk(service, node, &mut Vec::new(), ids)
}
