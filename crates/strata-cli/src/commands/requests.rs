//! Change requests: `strata propose`, `strata requests`, `strata approve`, `strata reject`.
//!
//! A write into a scope an approval rule of `policies/access.yaml` covers becomes a
//! change request instead of a revision. Approvals are counted with
//! `strata_core::access::judge` (roles, thresholds, no self-approval, expiry); when every
//! rule is satisfied the changeset is applied by the store's rules — rebased when the
//! head moved without touching its parameters, otherwise the request is marked
//! `conflicted` for its author — in the same transaction as the request's new status and
//! the audit entries.

use std::path::{Path, PathBuf};

use clap::Args;
use strata_core::access::{Action, decide_edits, parse_duration};
use strata_store::StoreError;
use strata_store::changeset::Changeset;
use strata_store::repo::Repository;
use strata_store::requests::ChangeRequest;
use strata_store::workflow::{self, Applied, Proposal};

use super::store_opts::{StoreOpts, format_time, now_ms, rev_name};
use crate::error::CliError;
use crate::guard::{Gated, Guard, edited};

/// `strata propose`
#[derive(Debug, Args)]
pub struct ProposeArgs {
    /// The changeset file (the format of `strata apply`).
    file: PathBuf,

    /// Why.
    #[arg(long, short = 'm', value_name = "M")]
    message: Option<String>,

    #[command(flatten)]
    store: StoreOpts,
}

/// `strata requests`
#[derive(Debug, Args)]
pub struct RequestsArgs {
    /// Only requests still waiting (pending or approved).
    #[arg(long)]
    pending: bool,

    /// Print JSON.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    store: StoreOpts,
}

/// `strata approve`
#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The request id.
    id: String,

    #[command(flatten)]
    store: StoreOpts,
}

/// `strata reject`
#[derive(Debug, Args)]
pub struct RejectArgs {
    /// The request id.
    id: String,

    /// Why (recorded on the request and in the audit log).
    #[arg(long, value_name = "TEXT")]
    reason: String,

    #[command(flatten)]
    store: StoreOpts,
}

/// Records `cs` as a change request needing the approval rules `gated.approvals`, and
/// prints its id. Used by `propose` and by writes into approval-covered scopes.
pub fn create(
    repo: &Repository,
    guard: &Guard<'_>,
    cs: &Changeset,
    message: String,
    gated: Gated,
) -> Result<(), CliError> {
    let rules = guard
        .policy
        .approval_rules()
        .iter()
        .filter(|r| gated.approvals.contains(&*r.name))
        .collect();
    let r = workflow::propose(
        repo,
        Proposal {
            author: &guard.actor.principal,
            message,
            changeset: cs,
            rules,
            entries: gated.entries,
            now_ms: now_ms(),
        },
    )
    .map_err(CliError::from_store)?;
    let needs: Vec<String> = workflow::request_rules(&r)
        .iter()
        .map(|x| {
            format!(
                "{} ({} from {})",
                x.name,
                x.required,
                x.from_roles.join(", ")
            )
        })
        .collect();
    let id = &r.id;
    println!(
        "change request {id}: needs approval: {}\n  `strata approve {id}` (by another principal) applies it once every rule is met",
        needs.join("; ")
    );
    Ok(())
}

/// `strata propose CHANGESET.yaml`
pub fn propose(root: &Path, args: ProposeArgs) -> Result<(), CliError> {
    let text = std::fs::read_to_string(&args.file).map_err(|e| CliError::io(&args.file, e))?;
    let cs =
        Changeset::parse(&text, &args.file.display().to_string()).map_err(CliError::from_store)?;
    let repo = args.store.open_existing(root)?;
    let guard = Guard::new(&repo)?;
    let gated = guard.check_edits(&cs.edits, "propose")?;
    let message = args
        .message
        .or_else(|| cs.message.clone())
        .unwrap_or_else(|| format!("propose {}", args.file.display()));
    create(&repo, &guard, &cs, message, gated)
}

/// `strata requests`
pub fn list(root: &Path, args: RequestsArgs) -> Result<(), CliError> {
    let repo = args.store.open_existing(root)?;
    let all = repo
        .store()
        .request_list(args.pending)
        .map_err(CliError::from_store)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
        return Ok(());
    }
    if all.is_empty() {
        println!("no change requests");
    }
    for r in &all {
        let approvers: Vec<&str> = r.approvals.iter().map(|a| a.principal.as_str()).collect();
        println!(
            "{}  {:<10} {}  by {}  {}{}",
            r.id,
            r.status.as_str(),
            format_time(r.created_ms),
            r.author,
            r.message,
            if approvers.is_empty() {
                String::new()
            } else {
                format!("  (approved by {})", approvers.join(", "))
            }
        );
    }
    Ok(())
}

fn fetch(repo: &Repository, id: &str) -> Result<ChangeRequest, CliError> {
    repo.store()
        .request_get(id)
        .map_err(CliError::from_store)?
        .ok_or_else(|| {
            CliError::Usage(format!(
                "no change request `{id}`\n  hint: `strata requests` lists them"
            ))
        })
}

/// The changeset of a request, as stored.
fn changeset_of(r: &ChangeRequest) -> Result<Changeset, CliError> {
    workflow::request_changeset(r).map_err(CliError::from_store)
}

/// Requires `approve` on every (environment, parameter) `cs` reaches: the parameters,
/// each once, or the denial (audited as `what`).
fn require_approve(guard: &Guard<'_>, cs: &Changeset, what: &str) -> Result<Vec<String>, CliError> {
    let scopes = decide_edits(&guard.project.config, &edited(&cs.edits), |env, param| {
        guard.decide(Action::Approve, env, param).into()
    })
    .map_err(|d| guard.deny(what, &d.env, vec![d.param], &d.rule))?;
    let mut params: Vec<String> = Vec::new();
    for s in scopes {
        if !params.contains(&s.param) {
            params.push(s.param);
        }
    }
    Ok(params)
}

/// `strata approve ID`
pub fn approve(root: &Path, args: ApproveArgs) -> Result<(), CliError> {
    let repo = args.store.open_existing(root)?;
    let guard = Guard::new(&repo)?;
    let r = fetch(&repo, &args.id)?;
    let me = guard.actor.principal.clone();
    if workflow::expire_if_due(&repo, &r, &me, now_ms()).map_err(CliError::from_store)? {
        return Err(CliError::Usage(format!(
            "change request {} has expired; propose it again",
            r.id
        )));
    }
    if me == r.author {
        let recorded = workflow::deny_self_approval(&repo, &r, &me, now_ms());
        return Err(CliError::Denied(format!(
            "{me} cannot approve change request {}: {}{}",
            r.id,
            workflow::SELF_APPROVAL_RULE,
            recorded
                .err()
                .map(|e| format!(" (and the attempt could not be audited: {e})"))
                .unwrap_or_default()
        )));
    }
    let cs = changeset_of(&r)?;
    // The approver needs `approve` on everything the request changes.
    let params = require_approve(&guard, &cs, "approve").map_err(|mut err| {
        if let CliError::Denied(m) = &mut err {
            m.push_str(&format!(" (change request {})", r.id));
        }
        err
    })?;
    let now = now_ms();
    let r = workflow::record_approval(&repo, &r, &me, params.clone(), now)
        .map_err(CliError::from_store)?;
    // Count the approvals against every rule the request needs, with the policy of now.
    let missing: Vec<String> = workflow::unmet(&guard.policy, &r, now)
        .iter()
        .map(ToString::to_string)
        .collect();
    if !missing.is_empty() {
        println!(
            "approved by {me}; change request {} still needs: {}",
            r.id,
            missing.join("; ")
        );
        return Ok(());
    }
    match workflow::apply_approved(&repo, &r, &cs, params, &me, now_ms())
        .map_err(CliError::from_store)?
    {
        Applied::Committed { revision, rebased } => {
            println!(
                "change request {} approved and applied: revision {}{}",
                r.id,
                rev_name(&revision),
                if rebased {
                    " (rebased onto the moved head)"
                } else {
                    ""
                }
            );
            Ok(())
        }
        Applied::Unchanged(rev) => {
            println!(
                "change request {} approved; {} already has these values",
                r.id,
                rev_name(&rev)
            );
            Ok(())
        }
        Applied::Conflicted { conflicts, .. } => {
            let text = StoreError::Conflict(conflicts).to_string();
            Err(CliError::Conflict(format!(
                "change request {} is approved but conflicts with changes made since it was proposed; it is marked conflicted for {} to propose again\n{text}",
                r.id, r.author
            )))
        }
    }
}

/// `strata reject ID --reason …`
pub fn reject(root: &Path, args: RejectArgs) -> Result<(), CliError> {
    let repo = args.store.open_existing(root)?;
    let guard = Guard::new(&repo)?;
    let r = fetch(&repo, &args.id)?;
    let cs = changeset_of(&r)?;
    // The author may withdraw; anyone else needs `approve` on what it changes.
    if guard.actor.principal != r.author {
        require_approve(&guard, &cs, "reject")?;
    }
    workflow::reject(&repo, &r, &guard.actor.principal, &args.reason, now_ms())
        .map_err(CliError::from_store)?;
    println!("change request {} rejected: {}", r.id, args.reason);
    Ok(())
}

/// Parses `--expires` for tokens: a duration (`90d`, `12h`).
pub fn expiry(text: &str) -> Result<i64, CliError> {
    parse_duration(text)
        .map(|secs| now_ms() + secs as i64 * 1000)
        .ok_or_else(|| {
            CliError::Usage(format!(
                "--expires `{text}`: write a duration such as 90d, 12h or 30m"
            ))
        })
}
