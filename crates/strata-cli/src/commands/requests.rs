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
use strata_core::access::{Action, Approval, judge, parse_duration};
use strata_core::path::segments_to_string;
use strata_store::StoreError;
use strata_store::audit::Decision as Logged;
use strata_store::changeset::{Changeset, ParamEdit};
use strata_store::repo::{ApplyOutcome, CommitExtras, Repository};
use strata_store::requests::{
    ChangeRequest, NewRequest, RequestStatus, RequestTransition, RequestUpdate, StatusChange,
};

use super::store_opts::{StoreOpts, format_time, now_ms, rev_name};
use crate::error::CliError;
use crate::guard::{Gated, Guard};

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

/// Renders a changeset in the `strata apply` format (JSON, which is YAML).
fn render(cs: &Changeset) -> String {
    let changes: Vec<serde_json::Value> = cs
        .edits
        .iter()
        .map(|e| {
            let param = format!(
                "{}:{}",
                e.param.service,
                segments_to_string(&e.param.segments)
            );
            match &e.value {
                Some(v) => serde_json::json!({"set": param, "layer": e.layer, "value": v}),
                None => serde_json::json!({"unset": param, "layer": e.layer}),
            }
        })
        .collect();
    let mut doc = serde_json::Map::new();
    if let Some(b) = &cs.base {
        doc.insert("base".into(), b.clone().into());
    }
    if let Some(m) = &cs.message {
        doc.insert("message".into(), m.clone().into());
    }
    doc.insert("changes".into(), changes.into());
    serde_json::to_string_pretty(&serde_json::Value::Object(doc)).unwrap_or_default()
}

/// A new request id: `R` and 8 hex characters of a BLAKE3 hash of its content and time.
fn new_id(author: &str, changeset: &str, now: i64) -> String {
    let h =
        blake3::hash(format!("{author}\n{now}\n{}\n{changeset}", std::process::id()).as_bytes());
    format!("R{}", &h.to_hex()[..8])
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
    let head = repo.head().map_err(CliError::from_store)?;
    let now = now_ms();
    let mut cs = cs.clone();
    cs.message = Some(message.clone());
    if cs.base.is_none() {
        cs.base = Some(head.id.to_string());
    }
    let text = render(&cs);
    let id = new_id(&guard.actor.principal, &text, now);
    let needed: Vec<_> = guard
        .policy
        .approval_rules()
        .iter()
        .filter(|r| gated.approvals.contains(&*r.name))
        .collect();
    let rules: Vec<serde_json::Value> = needed
        .iter()
        .map(|r| {
            serde_json::json!({
                "name": &*r.name,
                "required": r.required,
                "from_roles": r.from_roles,
                "expires_after": r.expires_after,
            })
        })
        .collect();
    let expires_ms = needed
        .iter()
        .filter_map(|r| r.expires_after)
        .min()
        .map(|secs| now + secs as i64 * 1000);
    let request = NewRequest {
        id: id.clone(),
        author: guard.actor.principal.clone(),
        message: message.clone(),
        changeset: text,
        base_seq: head.seq,
        created_ms: now,
        expires_ms,
        rules: serde_json::Value::from(rules.clone()).to_string(),
    };
    let mut entries = gated.entries;
    for e in &mut entries {
        e.action = "propose".into();
        e.request = Some(id.clone());
    }
    repo.store()
        .request_create(&request, &entries)
        .map_err(CliError::from_store)?;
    let needs: Vec<String> = rules
        .iter()
        .map(|r| {
            format!(
                "{} ({} from {})",
                r["name"].as_str().unwrap_or(""),
                r["required"],
                r["from_roles"]
                    .as_array()
                    .map(|a| a
                        .iter()
                        .filter_map(|x| x.as_str())
                        .collect::<Vec<_>>()
                        .join(", "))
                    .unwrap_or_default()
            )
        })
        .collect();
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
    Changeset::parse(&r.changeset, &format!("request {}", r.id)).map_err(CliError::from_store)
}

/// The environments and parameters a request's edits reach.
fn scopes(guard: &Guard<'_>, edits: &[ParamEdit]) -> Vec<(String, ParamEdit)> {
    let mut out = Vec::new();
    for e in edits {
        let mut envs = guard.project.config.envs_reading(&e.layer);
        if envs.is_empty() {
            envs = guard
                .project
                .config
                .environments
                .iter()
                .map(|x| x.name.clone())
                .collect();
        }
        for env in envs {
            out.push((env, e.clone()));
        }
    }
    out
}

/// Marks an expired request; returns whether it was.
fn expire_if_due(
    repo: &Repository,
    r: &ChangeRequest,
    guard: &Guard<'_>,
) -> Result<bool, CliError> {
    let now = now_ms();
    if !(r.status.is_open() && r.expires_ms.is_some_and(|e| now >= e)) {
        return Ok(false);
    }
    let mut e = guard.entry("expire", "");
    e.request = Some(r.id.clone());
    let update = RequestUpdate {
        approval: None,
        status: Some(StatusChange {
            from: r.status,
            to: RequestStatus::Expired,
            time_ms: now,
            detail: Some("expired before it was approved".into()),
        }),
    };
    repo.store()
        .request_update(&r.id, &update, &[e])
        .map_err(CliError::from_store)?;
    Ok(true)
}

/// `strata approve ID`
pub fn approve(root: &Path, args: ApproveArgs) -> Result<(), CliError> {
    let repo = args.store.open_existing(root)?;
    let guard = Guard::new(&repo)?;
    let r = fetch(&repo, &args.id)?;
    if expire_if_due(&repo, &r, &guard)? {
        return Err(CliError::Usage(format!(
            "change request {} has expired; propose it again",
            r.id
        )));
    }
    let me = guard.actor.principal.clone();
    if me == r.author {
        let mut e = guard.entry("approve", "");
        e.decision = Logged::Denied;
        e.request = Some(r.id.clone());
        e.rule = Some("nobody approves their own request".into());
        let recorded = repo.store().audit_append(&[e]);
        return Err(CliError::Denied(format!(
            "{me} cannot approve change request {}: nobody approves their own request{}",
            r.id,
            recorded
                .err()
                .map(|e| format!(" (and the attempt could not be audited: {e})"))
                .unwrap_or_default()
        )));
    }
    let cs = changeset_of(&r)?;
    let reach = scopes(&guard, &cs.edits);
    // The approver needs `approve` on everything the request changes.
    let mut params = Vec::new();
    for (env, edit) in &reach {
        let d = guard.decide(Action::Approve, env, &edit.param);
        let name = format!(
            "{}:{}",
            edit.param.service,
            segments_to_string(&edit.param.segments)
        );
        if !d.allowed {
            let mut err = guard.deny("approve", env, vec![name], &d);
            if let CliError::Denied(m) = &mut err {
                m.push_str(&format!(" (change request {})", r.id));
            }
            return Err(err);
        }
        if !params.contains(&name) {
            params.push(name);
        }
    }
    let now = now_ms();
    let mut entry = guard.entry("approve", "");
    entry.request = Some(r.id.clone());
    entry.params = params.clone();
    let (r, _) = repo
        .store()
        .request_update(
            &r.id,
            &RequestUpdate {
                approval: Some(strata_store::requests::Approval {
                    principal: me.clone(),
                    time_ms: now,
                }),
                status: None,
            },
            &[entry],
        )
        .map_err(CliError::from_store)?;
    // Count the approvals against every rule the request needs, with the policy of now.
    let needed: Vec<String> = serde_json::from_str::<Vec<serde_json::Value>>(&r.rules)
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v["name"].as_str().map(str::to_string))
        .collect();
    let roles: Vec<(String, Vec<String>)> = r
        .approvals
        .iter()
        .map(|a| {
            let held = guard
                .policy
                .roles_of(&a.principal, &[])
                .into_iter()
                .map(str::to_string)
                .collect();
            (a.principal.clone(), held)
        })
        .collect();
    let approvals: Vec<Approval<'_>> = r
        .approvals
        .iter()
        .zip(&roles)
        .map(|(a, (_, held))| {
            let mut x = Approval::new(&a.principal, held);
            x.age_secs = Some(((now - a.time_ms).max(0) / 1000) as u64);
            x
        })
        .collect();
    let mut missing = Vec::new();
    for rule in guard
        .policy
        .approval_rules()
        .iter()
        .filter(|x| needed.iter().any(|n| n == &*x.name))
    {
        let verdict = judge(rule, &r.author, &approvals);
        if !verdict.satisfied() {
            missing.push(verdict.to_string());
        }
    }
    if !missing.is_empty() {
        println!(
            "approved by {me}; change request {} still needs: {}",
            r.id,
            missing.join("; ")
        );
        return Ok(());
    }
    apply(&repo, &guard, &r, cs, params)
}

/// Applies a fully approved request: the revision, the request's new status and the
/// audit entries in one transaction; a conflict marks the request `conflicted`.
fn apply(
    repo: &Repository,
    guard: &Guard<'_>,
    r: &ChangeRequest,
    cs: Changeset,
    params: Vec<String>,
) -> Result<(), CliError> {
    let now = now_ms();
    let mut entry = guard.entry("apply", "");
    entry.request = Some(r.id.clone());
    entry.params = params;
    let mut detail = serde_json::Map::new();
    detail.insert("author".into(), r.author.clone().into());
    entry.detail = Some(detail);
    let extras = CommitExtras {
        audit: vec![entry],
        request: Some(RequestTransition {
            id: r.id.clone(),
            change: StatusChange {
                from: r.status,
                to: RequestStatus::Applied,
                time_ms: now,
                detail: None,
            },
        }),
    };
    let meta = strata_store::model::CommitMeta {
        author: r.author.clone(),
        message: r.message.clone(),
        timestamp_ms: now,
        source: None,
        labels: [("request".to_string(), r.id.clone())]
            .into_iter()
            .collect(),
    };
    match repo.apply_with(&cs, meta, &extras) {
        Ok(ApplyOutcome::Committed { revision, rebased }) => {
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
        Ok(ApplyOutcome::Unchanged(rev)) => {
            println!(
                "change request {} approved; {} already has these values",
                r.id,
                rev_name(&rev)
            );
            Ok(())
        }
        Err(StoreError::Conflict(conflicts)) => {
            let text = StoreError::Conflict(conflicts).to_string();
            let mut e = guard.entry("conflict", "");
            e.request = Some(r.id.clone());
            e.decision = Logged::Denied;
            e.rule = Some("the parameters changed since the request's base".into());
            let update = RequestUpdate {
                approval: None,
                status: Some(StatusChange {
                    from: r.status,
                    to: RequestStatus::Conflicted,
                    time_ms: now,
                    detail: Some(text.clone()),
                }),
            };
            repo.store()
                .request_update(&r.id, &update, &[e])
                .map_err(CliError::from_store)?;
            Err(CliError::Conflict(format!(
                "change request {} is approved but conflicts with changes made since it was proposed; it is marked conflicted for {} to propose again\n{text}",
                r.id, r.author
            )))
        }
        Err(e) => Err(CliError::from_store(e)),
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
        for (env, edit) in scopes(&guard, &cs.edits) {
            let d = guard.decide(Action::Approve, &env, &edit.param);
            if !d.allowed {
                let name = format!(
                    "{}:{}",
                    edit.param.service,
                    segments_to_string(&edit.param.segments)
                );
                return Err(guard.deny("reject", &env, vec![name], &d));
            }
        }
    }
    let mut e = guard.entry("reject", "");
    e.request = Some(r.id.clone());
    let mut detail = serde_json::Map::new();
    detail.insert("reason".into(), args.reason.clone().into());
    e.detail = Some(detail);
    let update = RequestUpdate {
        approval: None,
        status: Some(StatusChange {
            from: r.status,
            to: RequestStatus::Rejected,
            time_ms: now_ms(),
            detail: Some(args.reason.clone()),
        }),
    };
    repo.store()
        .request_update(&r.id, &update, &[e])
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
