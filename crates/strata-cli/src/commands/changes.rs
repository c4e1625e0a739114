//! Commands that make revisions from edits: `set`, `unset`, `apply`, `revert-to`, `tag`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use strata_core::access::Action;
use strata_core::parse::{Format, ParseOptions, parse_document};
use strata_core::value::FileId;
use strata_store::changeset::{Changeset, ParamEdit, check_layer, parse_param};
use strata_store::repo::{ApplyOutcome, CommitExtras};

use super::store_opts::{StoreOpts, rev_name};
use crate::error::CliError;
use crate::guard::Guard;

/// Arguments of `strata set`.
#[derive(Debug, Args)]
pub struct SetArgs {
    /// The parameter, SERVICE:PATH (e.g. `checkout:db.pool.max_size`).
    param: String,

    /// The value, read as YAML: `50`, `true`, `"50"` (a string), `[a, b]`, `{k: v}`.
    value: String,

    /// The layer directory below layers/ to edit, e.g. `base` or `env/prod`.
    #[arg(long, value_name = "LEVEL")]
    layer: String,

    /// Treat VALUE as a string even if it reads as a number, boolean or list.
    #[arg(long)]
    string: bool,

    #[command(flatten)]
    edit: EditOpts,
}

/// Arguments of `strata unset`.
#[derive(Debug, Args)]
pub struct UnsetArgs {
    /// The parameter, SERVICE:PATH.
    param: String,

    /// The layer directory below layers/ to edit.
    #[arg(long, value_name = "LEVEL")]
    layer: String,

    #[command(flatten)]
    edit: EditOpts,
}

/// Options of every edit.
#[derive(Debug, Args)]
pub struct EditOpts {
    /// The revision the edit was made against (default: the head). When the head has moved
    /// since, the edit is rebased if nobody touched the same parameters, else refused (exit 3).
    #[arg(long, value_name = "REV")]
    base: Option<String>,

    /// Why (the revision message).
    #[arg(long, short = 'm', value_name = "M")]
    message: Option<String>,

    #[command(flatten)]
    store: StoreOpts,
}

/// Arguments of `strata apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A changeset file (`base:`, `message:`, `changes: [{set|unset, layer, value}]`).
    file: PathBuf,

    #[command(flatten)]
    edit: EditOpts,
}

/// Arguments of `strata revert-to`.
#[derive(Debug, Args)]
pub struct RevertArgs {
    /// The revision whose content the new head gets (id, tag, HEAD~N, #N).
    rev: String,

    /// The revision message (default: "revert to …").
    #[arg(long, short = 'm', value_name = "M")]
    message: Option<String>,

    #[command(flatten)]
    store: StoreOpts,
}

/// Arguments of `strata tag`.
#[derive(Debug, Args)]
pub struct TagArgs {
    /// The revision to name.
    rev: String,

    /// The tag.
    name: String,

    /// Move the tag if it already names another revision.
    #[arg(long)]
    force: bool,

    #[command(flatten)]
    store: StoreOpts,
}

/// Reads a command-line value as YAML (a bare word stays a string).
pub fn parse_value(text: &str, string: bool) -> serde_json::Value {
    if string {
        return serde_json::Value::String(text.to_string());
    }
    if text.trim().is_empty() || text.contains('\n') {
        return serde_json::Value::String(text.to_string());
    }
    // A one-line value is read as the value of a key, so `50` is a number.
    let doc = format!("v: {text}\n");
    parse_document(
        &Arc::from("VALUE"),
        FileId(0),
        doc.as_bytes(),
        Format::Yaml,
        ParseOptions { templates: false },
    )
    .ok()
    .and_then(|n| {
        n.get(&[strata_core::path::Segment::Key("v".into())])
            .map(|v| v.value.to_json())
    })
    .unwrap_or_else(|| serde_json::Value::String(text.to_string()))
}

/// Runs `strata set`.
pub fn set(root: &Path, args: SetArgs) -> Result<(), CliError> {
    let edit = ParamEdit {
        param: parse_param(&args.param).map_err(CliError::from_store)?,
        layer: args.layer.clone(),
        value: Some(parse_value(&args.value, args.string)),
    };
    check_layer(&edit.layer).map_err(CliError::from_store)?;
    let message = format!("set {} in {}", args.param, args.layer);
    commit(root, vec![edit], args.edit, message)
}

/// Runs `strata unset`.
pub fn unset(root: &Path, args: UnsetArgs) -> Result<(), CliError> {
    let edit = ParamEdit {
        param: parse_param(&args.param).map_err(CliError::from_store)?,
        layer: args.layer.clone(),
        value: None,
    };
    check_layer(&edit.layer).map_err(CliError::from_store)?;
    let message = format!("unset {} in {}", args.param, args.layer);
    commit(root, vec![edit], args.edit, message)
}

/// Runs `strata apply`.
pub fn apply(root: &Path, args: ApplyArgs) -> Result<(), CliError> {
    let text = std::fs::read_to_string(&args.file).map_err(|e| CliError::io(&args.file, e))?;
    let cs =
        Changeset::parse(&text, &args.file.display().to_string()).map_err(CliError::from_store)?;
    let message = cs
        .message
        .clone()
        .unwrap_or_else(|| format!("apply {}", args.file.display()));
    let mut opts = args.edit;
    if opts.base.is_none() {
        opts.base = cs.base.clone();
    }
    commit(root, cs.edits, opts, message)
}

fn commit(
    root: &Path,
    edits: Vec<ParamEdit>,
    opts: EditOpts,
    default_message: String,
) -> Result<(), CliError> {
    let repo = opts.store.open_existing(root)?;
    let guard = Guard::new(&repo)?;
    let gated = guard.check_edits(&edits, "write")?;
    let message = opts.message.unwrap_or(default_message);
    let cs = Changeset {
        base: opts.base.clone(),
        message: None,
        edits,
    };
    if !gated.approvals.is_empty() {
        // A scope an approval rule covers: a change request instead of a revision.
        return super::requests::create(&repo, &guard, &cs, message, gated);
    }
    let mut meta = opts.store.meta(message);
    if guard.actor.named {
        meta.author = guard.actor.principal.clone();
    }
    let extras = CommitExtras {
        audit: gated.entries,
        request: None,
    };
    report(
        repo.apply_with(&cs, meta, &extras)
            .map_err(CliError::from_store)?,
    )
}

/// Prints what a changeset did.
pub fn report(outcome: ApplyOutcome) -> Result<(), CliError> {
    match outcome {
        ApplyOutcome::Committed { revision, rebased } => {
            println!(
                "revision {}{}",
                rev_name(&revision),
                if rebased {
                    " (rebased onto the moved head)"
                } else {
                    ""
                }
            );
        }
        ApplyOutcome::Unchanged(rev) => {
            println!("unchanged: {} already has these values", rev_name(&rev));
        }
    }
    Ok(())
}

/// Runs `strata revert-to`.
pub fn revert_to(root: &Path, args: RevertArgs) -> Result<(), CliError> {
    let repo = args.store.open_existing(root)?;
    let target = repo.resolve_rev(&args.rev).map_err(CliError::from_store)?;
    let message = args
        .message
        .unwrap_or_else(|| format!("revert to {}", rev_name(&target)));
    let guard = Guard::new(&repo)?;
    let rule = guard.require_everywhere(Action::Admin, "revert")?;
    let mut entry = guard.entry("revert", "");
    entry.rule = Some(rule);
    let mut detail = serde_json::Map::new();
    detail.insert("to".into(), target.id.to_string().into());
    entry.detail = Some(detail);
    let extras = CommitExtras {
        audit: vec![entry],
        request: None,
    };
    let rev = repo
        .revert_to_with(&target, args.store.meta(message), &extras)
        .map_err(CliError::from_store)?;
    println!(
        "revision {} (content of {})",
        rev_name(&rev),
        rev_name(&target)
    );
    Ok(())
}

/// Runs `strata tag`.
pub fn tag(root: &Path, args: TagArgs) -> Result<(), CliError> {
    let repo = args.store.open_existing(root)?;
    let rev = repo.resolve_rev(&args.rev).map_err(CliError::from_store)?;
    // Tags mark releases: `deploy` everywhere. The entry is written first (fail closed);
    // the tag API has no transaction to share.
    let guard = Guard::new(&repo)?;
    let rule = guard.require_everywhere(Action::Deploy, "tag")?;
    let mut entry = guard.entry("tag", "");
    entry.rule = Some(rule);
    entry.revision = Some(rev.id.to_string());
    let mut detail = serde_json::Map::new();
    detail.insert("tag".into(), args.name.clone().into());
    entry.detail = Some(detail);
    repo.store()
        .audit_append(&[entry])
        .map_err(CliError::from_store)?;
    repo.tag(&rev, &args.name, args.force)
        .map_err(CliError::from_store)?;
    println!("tag {} -> {}", args.name, rev_name(&rev));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_as_yaml() {
        assert_eq!(parse_value("50", false), serde_json::json!(50));
        assert_eq!(parse_value("true", false), serde_json::json!(true));
        assert_eq!(parse_value("\"50\"", false), serde_json::json!("50"));
        assert_eq!(parse_value("[a, b]", false), serde_json::json!(["a", "b"]));
        assert_eq!(
            parse_value("hello world", false),
            serde_json::json!("hello world")
        );
        assert_eq!(parse_value("50", true), serde_json::json!("50"));
        assert_eq!(parse_value("", false), serde_json::json!(""));
        assert_eq!(parse_value("a: [", false), serde_json::json!("a: ["));
    }
}
