//! The change-request workflow shared by the CLI (`strata propose`, `approve`, `reject`
//! and writes into approval-covered scopes) and the server (`POST /v1/changes`,
//! `/v1/requests/{id}/approve|reject`): proposing a changeset, recording an approval,
//! applying a fully approved request, rejecting and expiring one — each written in one
//! transaction with its audit entries.
//!
//! Who may do what, which approval rules cover a write and whether a request's approvals
//! meet them are decided by `strata_core::access` (the caller decides; a denied attempt is
//! the caller's to record, since the CLI and the server report it differently). This
//! module writes what was decided, never reading the clock: times are passed in.

use strata_core::access::AccessPolicy;
use strata_core::access::{ApprovalRule, EditScope, Given, Verdict, unmet_approvals};

use crate::StoreError;
use crate::audit::{Decision as Logged, NewAuditEntry};
use crate::changeset::{Changeset, ParamEdit};
use crate::error::Conflict;
use crate::model::{CommitMeta, Revision};
use crate::repo::{ApplyOutcome, CommitExtras, Repository};
use crate::requests::{
    Approval, ChangeRequest, NewRequest, RequestStatus, RequestTransition, RequestUpdate,
    StatusChange,
};

/// The rule recorded when an author tries to approve their own request.
pub const SELF_APPROVAL_RULE: &str = "nobody approves their own request";

/// The audit entries of a write decided on `scopes` (from
/// `strata_core::access::decide_edits` over `edits`): one per edit and environment, by
/// `principal`, with the allowing rule, the layer and whether the edit sets or unsets.
pub fn edit_entries(
    edits: &[ParamEdit],
    scopes: &[EditScope],
    principal: &str,
    action: &str,
    now_ms: i64,
) -> Vec<NewAuditEntry> {
    scopes
        .iter()
        .filter_map(|s| {
            let edit = edits.get(s.edit)?;
            let mut e = NewAuditEntry::new(now_ms, principal, action, &s.env);
            e.params = vec![s.param.clone()];
            e.rule = Some(s.rule.clone());
            let mut detail = serde_json::Map::new();
            detail.insert("layer".into(), edit.layer.clone().into());
            detail.insert(
                "change".into(),
                if edit.value.is_some() { "set" } else { "unset" }.into(),
            );
            e.detail = Some(detail);
            Some(e)
        })
        .collect()
}

/// A changeset to record as a change request.
pub struct Proposal<'a> {
    /// Who proposes it (the request's author).
    pub author: &'a str,
    /// Why (the request's message, and the revision's once applied).
    pub message: String,
    /// The edits; without a base, the head's id is recorded as the base.
    pub changeset: &'a Changeset,
    /// The approval rules it needs (from the head's policy).
    pub rules: Vec<&'a ApprovalRule>,
    /// The audit entries of the write that was decided; they are recorded as `propose`
    /// entries naming the request.
    pub entries: Vec<NewAuditEntry>,
    /// Now (ms since the epoch).
    pub now_ms: i64,
}

/// One approval rule a request needs, as the request records it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct RequestRule {
    /// The rule's name in the policy.
    pub name: String,
    /// How many approvals it needs.
    pub required: u32,
    /// The roles that may approve.
    pub from_roles: Vec<String>,
    /// Approvals older than this many seconds no longer count.
    pub expires_after: Option<u64>,
}

/// A new request id: `R` and 8 hex characters of a BLAKE3 hash of its content, time and
/// random bytes.
fn new_id(author: &str, changeset: &str, now: i64) -> String {
    let mut salt = [0u8; 8];
    // Without randomness the id still depends on the author, content, time and process.
    let _ = getrandom::fill(&mut salt);
    let h = blake3::hash(
        format!(
            "{author}\n{now}\n{}\n{salt:?}\n{changeset}",
            std::process::id()
        )
        .as_bytes(),
    );
    format!("R{}", &h.to_hex()[..8])
}

/// Records `p` as a pending change request with its `propose` audit entries, in one
/// transaction, and returns it. Its expiry is the shortest `expires_after` of its rules.
pub fn propose(repo: &Repository, p: Proposal<'_>) -> Result<ChangeRequest, StoreError> {
    let head = repo.head()?;
    let mut cs = p.changeset.clone();
    cs.message = Some(p.message.clone());
    if cs.base.is_none() {
        cs.base = Some(head.id.to_string());
    }
    let text = cs.to_text();
    let id = new_id(p.author, &text, p.now_ms);
    let rules: Vec<RequestRule> = p
        .rules
        .iter()
        .map(|r| RequestRule {
            name: r.name.clone(),
            required: r.required,
            from_roles: r.from_roles.clone(),
            expires_after: r.expires_after,
        })
        .collect();
    let expires_ms = rules
        .iter()
        .filter_map(|r| r.expires_after)
        .min()
        .map(|secs| {
            p.now_ms
                .saturating_add(i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(1000))
        });
    let request = NewRequest {
        id: id.clone(),
        author: p.author.to_string(),
        message: p.message,
        changeset: text,
        base_seq: head.seq,
        created_ms: p.now_ms,
        expires_ms,
        rules: serde_json::to_string(&rules)
            .map_err(|e| StoreError::Invalid(format!("cannot record the approval rules: {e}")))?,
    };
    let mut entries = p.entries;
    for e in &mut entries {
        e.action = "propose".into();
        e.request = Some(id.clone());
    }
    repo.store().request_create(&request, &entries)?;
    repo.store().request_get(&id)?.ok_or(StoreError::NotFound {
        kind: "change request",
        id,
    })
}

/// The approval rules `r` needs, as recorded when it was proposed (unreadable rules read
/// as none).
pub fn request_rules(r: &ChangeRequest) -> Vec<RequestRule> {
    serde_json::from_str(&r.rules).unwrap_or_default()
}

/// The changeset of a request, as stored.
pub fn request_changeset(r: &ChangeRequest) -> Result<Changeset, StoreError> {
    Changeset::parse(&r.changeset, &format!("request {}", r.id))
}

/// Marks `r` expired (by `actor`, audited) when it is open and its time has run out at
/// `now_ms`; returns whether it did.
pub fn expire_if_due(
    repo: &Repository,
    r: &ChangeRequest,
    actor: &str,
    now_ms: i64,
) -> Result<bool, StoreError> {
    if !(r.status.is_open() && r.expires_ms.is_some_and(|e| now_ms >= e)) {
        return Ok(false);
    }
    let mut e = NewAuditEntry::new(now_ms, actor, "expire", "");
    e.request = Some(r.id.clone());
    let update = RequestUpdate {
        approval: None,
        status: Some(StatusChange {
            from: r.status,
            to: RequestStatus::Expired,
            time_ms: now_ms,
            detail: Some("expired before it was approved".into()),
        }),
    };
    repo.store().request_update(&r.id, &update, &[e])?;
    Ok(true)
}

/// Records that `principal`, the author of `r`, tried to approve it (denied, with
/// [`SELF_APPROVAL_RULE`]).
pub fn deny_self_approval(
    repo: &Repository,
    r: &ChangeRequest,
    principal: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    let mut e = NewAuditEntry::new(now_ms, principal, "approve", "");
    e.decision = Logged::Denied;
    e.request = Some(r.id.clone());
    e.rule = Some(SELF_APPROVAL_RULE.into());
    repo.store().audit_append(&[e])?;
    Ok(())
}

/// Adds `approver`'s approval of `r` (covering `params`) with its audit entry, and
/// returns the request as updated. The store refuses the author, a second approval by the
/// same principal and a closed request.
pub fn record_approval(
    repo: &Repository,
    r: &ChangeRequest,
    approver: &str,
    params: Vec<String>,
    now_ms: i64,
) -> Result<ChangeRequest, StoreError> {
    let mut entry = NewAuditEntry::new(now_ms, approver, "approve", "");
    entry.request = Some(r.id.clone());
    entry.params = params;
    let update = RequestUpdate {
        approval: Some(Approval {
            principal: approver.to_string(),
            time_ms: now_ms,
        }),
        status: None,
    };
    Ok(repo.store().request_update(&r.id, &update, &[entry])?.0)
}

/// The rules of `r` its approvals do not meet yet under `policy` (approvers' roles as
/// the policy gives them now, approvals aged at `now_ms`); empty: it may be applied.
pub fn unmet(policy: &AccessPolicy, r: &ChangeRequest, now_ms: i64) -> Vec<Verdict> {
    let needed: Vec<String> = request_rules(r).into_iter().map(|x| x.name).collect();
    let given: Vec<Given<'_>> = r
        .approvals
        .iter()
        .map(|a| Given {
            principal: &a.principal,
            age_secs: Some(u64::try_from((now_ms - a.time_ms).max(0) / 1000).unwrap_or(0)),
        })
        .collect();
    unmet_approvals(policy, &needed, &r.author, &given)
}

/// What applying an approved request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// A new revision (`rebased` when the head had moved past the request's base).
    Committed {
        /// The new head.
        revision: Revision,
        /// Whether the edits were re-applied on a newer head.
        rebased: bool,
    },
    /// The head already has these values; the request is marked applied.
    Unchanged(Revision),
    /// Parameters it changes were changed since its base: the request is marked
    /// `conflicted` for its author to propose again.
    Conflicted {
        /// The request as marked.
        request: ChangeRequest,
        /// The colliding parameters.
        conflicts: Vec<Conflict>,
    },
}

/// Applies a fully approved request by `actor` (the last approver): the revision (by the
/// request's author, labelled `request=ID`), the request's move to `applied` and the
/// `apply` audit entry naming `params`, in one transaction. On a conflict the request is
/// marked `conflicted`, audited as a denied `conflict`.
pub fn apply_approved(
    repo: &Repository,
    r: &ChangeRequest,
    cs: &Changeset,
    params: Vec<String>,
    actor: &str,
    now_ms: i64,
) -> Result<Applied, StoreError> {
    let mut entry = NewAuditEntry::new(now_ms, actor, "apply", "");
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
                time_ms: now_ms,
                detail: None,
            },
        }),
    };
    let meta = CommitMeta {
        author: r.author.clone(),
        message: r.message.clone(),
        timestamp_ms: now_ms,
        source: None,
        labels: [("request".to_string(), r.id.clone())]
            .into_iter()
            .collect(),
    };
    match repo.apply_with(cs, meta, &extras) {
        Ok(ApplyOutcome::Committed { revision, rebased }) => {
            Ok(Applied::Committed { revision, rebased })
        }
        Ok(ApplyOutcome::Unchanged(rev)) => Ok(Applied::Unchanged(rev)),
        Err(StoreError::Conflict(conflicts)) => {
            let text = StoreError::Conflict(conflicts.clone()).to_string();
            let mut e = NewAuditEntry::new(now_ms, actor, "conflict", "");
            e.request = Some(r.id.clone());
            e.decision = Logged::Denied;
            e.rule = Some("the parameters changed since the request's base".into());
            let update = RequestUpdate {
                approval: None,
                status: Some(StatusChange {
                    from: r.status,
                    to: RequestStatus::Conflicted,
                    time_ms: now_ms,
                    detail: Some(text),
                }),
            };
            let (request, _) = repo.store().request_update(&r.id, &update, &[e])?;
            Ok(Applied::Conflicted { request, conflicts })
        }
        Err(e) => Err(e),
    }
}

/// Rejects (or, by its author, withdraws) `r` with `reason`, audited, and returns the
/// request as updated. Whether `actor` may is the caller's decision.
pub fn reject(
    repo: &Repository,
    r: &ChangeRequest,
    actor: &str,
    reason: &str,
    now_ms: i64,
) -> Result<ChangeRequest, StoreError> {
    let mut e = NewAuditEntry::new(now_ms, actor, "reject", "");
    e.request = Some(r.id.clone());
    let mut detail = serde_json::Map::new();
    detail.insert("reason".into(), reason.into());
    e.detail = Some(detail);
    let update = RequestUpdate {
        approval: None,
        status: Some(StatusChange {
            from: r.status,
            to: RequestStatus::Rejected,
            time_ms: now_ms,
            detail: Some(reason.to_string()),
        }),
    };
    Ok(repo.store().request_update(&r.id, &update, &[e])?.0)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use strata_core::access::decide_edits;
    use strata_core::path::ParamPath;

    use super::*;
    use crate::audit::AuditFilter;

    const PROJECT: &str = r#"version: 1
environments: [{name: dev}, {name: prod}]
providers: [aws]
targets: [dev/aws/us-east-1, prod/aws/us-east-1]
hierarchy: [base, "env/{env}"]
services: {checkout: {}}
"#;

    const POLICY: &str = r#"roles:
  sre:
    allow:
      - { actions: [read, write, approve, admin], envs: ["*"], params: ["*:**"] }
principals:
  alice: { roles: [sre] }
  bob:   { roles: [sre] }
  carol: { roles: [sre] }
approvals:
  - { name: prod-changes, envs: [prod], params: ["*:**"], required: 2, from_roles: [sre], expires_after: 1h }
"#;

    fn repo() -> (tempfile::TempDir, Repository) {
        let dir = tempfile::tempdir().unwrap();
        let repo = crate::repo::open(&dir.path().join("s.db").to_string_lossy()).unwrap();
        let mut files = BTreeMap::new();
        files.insert("strata.yaml".to_string(), PROJECT.as_bytes().to_vec());
        files.insert(
            "layers/base/checkout.yaml".to_string(),
            b"replicas: 1\n".to_vec(),
        );
        files.insert(
            "policies/access.yaml".to_string(),
            POLICY.as_bytes().to_vec(),
        );
        repo.import(files, CommitMeta::default()).unwrap();
        (dir, repo)
    }

    fn policy(repo: &Repository) -> AccessPolicy {
        let head = repo.head().unwrap();
        let project = repo.project(&head).unwrap();
        let bytes = project.source().read(AccessPolicy::PATH).unwrap();
        AccessPolicy::load(bytes.as_deref(), Some(&project.config)).unwrap()
    }

    fn proposal(repo: &Repository, value: i64, now: i64) -> ChangeRequest {
        let cs = Changeset {
            base: None,
            message: None,
            edits: vec![ParamEdit {
                param: ParamPath::parse("checkout:replicas").unwrap(),
                layer: "base".into(),
                value: Some(value.into()),
            }],
        };
        let head = repo.head().unwrap();
        let project = repo.project(&head).unwrap();
        let pol = policy(repo);
        let edited = crate::changeset::edited(&cs.edits);
        let scopes = decide_edits(&project.config, &edited, |_, _| {
            strata_core::access::Ruling {
                allowed: true,
                text: "allowed".into(),
            }
        })
        .unwrap();
        let entries = edit_entries(&cs.edits, &scopes, "alice", "write", now);
        assert_eq!(entries.len(), 2, "base reaches dev and prod");
        let rules: Vec<&ApprovalRule> = pol.approval_rules().iter().collect();
        let p = Proposal {
            author: "alice",
            message: "more".into(),
            changeset: &cs,
            rules,
            entries,
            now_ms: now,
        };
        propose(repo, p).unwrap()
    }

    #[test]
    fn a_request_is_proposed_approved_twice_and_applied() {
        let (_dir, repo) = repo();
        let pol = policy(&repo);
        let r = proposal(&repo, 3, 1_000);
        assert!(r.id.starts_with('R') && r.id.len() == 9, "{}", r.id);
        assert_eq!(r.status, RequestStatus::Pending);
        assert_eq!(r.expires_ms, Some(1_000 + 3_600_000));
        assert_eq!(request_rules(&r)[0].name, "prod-changes");
        let cs = request_changeset(&r).unwrap();
        assert!(cs.base.is_some());
        assert_eq!(cs.message.as_deref(), Some("more"));
        assert_eq!(unmet(&pol, &r, 2_000).len(), 1);
        let r = record_approval(&repo, &r, "bob", vec!["checkout:replicas".into()], 2_000).unwrap();
        assert_eq!(
            unmet(&pol, &r, 2_000)[0].to_string(),
            "prod-changes: 1 of 2 approvals (bob)"
        );
        let r = record_approval(&repo, &r, "carol", vec![], 3_000).unwrap();
        assert!(unmet(&pol, &r, 3_000).is_empty());
        // An approval older than the rule's expiry stops counting.
        assert_eq!(unmet(&pol, &r, 2_000 + 3_601_000).len(), 1);
        let Applied::Committed { revision, rebased } =
            apply_approved(&repo, &r, &cs, vec![], "carol", 4_000).unwrap()
        else {
            panic!("not committed");
        };
        assert!(!rebased);
        assert_eq!(revision.meta.author, "alice");
        assert_eq!(revision.meta.labels["request"], r.id);
        let r = repo.store().request_get(&r.id).unwrap().unwrap();
        assert_eq!(r.status, RequestStatus::Applied);
        let log = repo.store().audit_entries(&AuditFilter::default()).unwrap();
        let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            actions,
            ["propose", "propose", "approve", "approve", "apply"]
        );
    }

    #[test]
    fn previews_and_base_checks_write_nothing() {
        let (_dir, repo) = repo();
        let first = repo.head().unwrap();
        let edit = |value: i64| Changeset {
            base: Some(first.id.to_string()),
            message: None,
            edits: vec![ParamEdit {
                param: ParamPath::parse("checkout:replicas").unwrap(),
                layer: "base".into(),
                value: Some(value.into()),
            }],
        };
        let project = repo.preview(&edit(5), &first).unwrap();
        let eff = project
            .resolve("checkout", "dev/aws/us-east-1", Default::default())
            .unwrap();
        assert_eq!(eff.root.value.to_json()["replicas"], 5);
        assert_eq!(repo.head().unwrap().id, first.id, "a preview committed");
        let mut unknown = edit(5);
        unknown.edits[0].param = ParamPath::parse("nosuch:replicas").unwrap();
        assert!(matches!(
            repo.preview(&unknown, &first),
            Err(StoreError::Invalid(m)) if m.contains("unknown service `nosuch`")
        ));
        // On the head a base passes; behind it, a collision is a conflict.
        repo.check_base(&edit(6), &first).unwrap();
        repo.apply(&edit(7), CommitMeta::default()).unwrap();
        let head = repo.head().unwrap();
        let Err(StoreError::Conflict(c)) = repo.check_base(&edit(6), &head) else {
            panic!("no conflict");
        };
        assert_eq!(c[0].param, "checkout:replicas");
        let unbased = Changeset {
            base: None,
            ..edit(6)
        };
        repo.check_base(&unbased, &head).unwrap();
    }

    #[test]
    fn conflicts_reject_expire_and_self_approval_are_recorded() {
        let (_dir, repo) = repo();
        let r = proposal(&repo, 3, 1_000);
        // The head changes the same parameter: applying conflicts.
        let cs = Changeset {
            base: None,
            message: None,
            edits: vec![ParamEdit {
                param: ParamPath::parse("checkout:replicas").unwrap(),
                layer: "base".into(),
                value: Some(9.into()),
            }],
        };
        repo.apply(&cs, CommitMeta::default()).unwrap();
        let mine = request_changeset(&r).unwrap();
        let Applied::Conflicted { request, conflicts } =
            apply_approved(&repo, &r, &mine, vec![], "bob", 2_000).unwrap()
        else {
            panic!("no conflict");
        };
        assert_eq!(request.status, RequestStatus::Conflicted);
        assert_eq!(conflicts[0].param, "checkout:replicas");

        let r = proposal(&repo, 4, 1_000);
        deny_self_approval(&repo, &r, "alice", 1_500).unwrap();
        let r = reject(&repo, &r, "bob", "not now", 2_000).unwrap();
        assert_eq!(
            (r.status, r.detail.as_deref()),
            (RequestStatus::Rejected, Some("not now"))
        );
        assert!(reject(&repo, &r, "bob", "again", 2_000).is_err());

        let r = proposal(&repo, 5, 1_000);
        assert!(!expire_if_due(&repo, &r, "bob", 2_000).unwrap());
        assert!(expire_if_due(&repo, &r, "bob", 1_000 + 3_600_000).unwrap());
        let r = repo.store().request_get(&r.id).unwrap().unwrap();
        assert_eq!(r.status, RequestStatus::Expired);

        let denied = repo
            .store()
            .audit_entries(&AuditFilter::default())
            .unwrap()
            .into_iter()
            .filter(|e| e.decision == Logged::Denied)
            .map(|e| (e.action, e.rule.unwrap_or_default()))
            .collect::<Vec<_>>();
        assert_eq!(
            denied,
            [
                (
                    "conflict".to_string(),
                    "the parameters changed since the request's base".to_string()
                ),
                ("approve".to_string(), SELF_APPROVAL_RULE.to_string()),
            ]
        );
    }
}
