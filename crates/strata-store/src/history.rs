//! History questions: `log`, `show`, `diff` and `blame`.
//!
//! `log --param` without a target reads the change index, which records every layer
//! parameter each revision changed. With a target the question is about the *effective*
//! value, which also moves when `strata.yaml`, a schema or a referenced service changes:
//! the candidate revisions come from the index (this service, referenced services, files
//! outside `layers/`) and each candidate is resolved to see whether the value moved.

use std::collections::BTreeSet;
use std::sync::Arc;

use strata_core::compare::{self, ChangeKind};
use strata_core::path::ParamPath;
use strata_core::resolve::{Project, ResolveOptions};

use crate::error::StoreError;
use crate::model::{FileChange, ParamChange, Revision};
use crate::repo::{Repository, Secrets, shown};

/// One revision in a log.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LogEntry {
    /// The revision.
    #[serde(serialize_with = "ser_rev")]
    pub revision: Revision,
    /// Tags naming it.
    pub tags: Vec<String>,
    /// With `--target`: the effective value after this revision (redacted for secrets,
    /// `(absent)` when unset, `error: …` when the service did not resolve).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

fn ser_rev<S: serde::Serializer>(r: &Revision, s: S) -> Result<S::Ok, S::Error> {
    revision_json(r).serialize(s)
}

use serde::Serialize;

/// A revision as JSON (for `--json` outputs).
pub fn revision_json(r: &Revision) -> serde_json::Value {
    serde_json::json!({
        "id": r.id.to_string(),
        "seq": r.seq,
        "parent": r.parent.map(|p| p.to_string()),
        "author": r.meta.author,
        "message": r.meta.message,
        "timestamp_ms": r.meta.timestamp_ms,
        "source": r.meta.source,
        "labels": r.meta.labels,
    })
}

/// A resolution error that is really damaged store data becomes fatal: history answers
/// must never be computed from, or hide, corruption.
fn fatal_if_corrupt(message: String) -> Result<String, StoreError> {
    if message.contains("store corruption") {
        Err(StoreError::Project(message))
    } else {
        Ok(message)
    }
}

/// What changed in one revision.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Shown {
    /// The revision.
    #[serde(serialize_with = "ser_rev")]
    pub revision: Revision,
    /// Tags naming it.
    pub tags: Vec<String>,
    /// Changed files.
    pub files: Vec<FileChange>,
    /// Changed layer parameters.
    pub params: Vec<ParamChange>,
}

/// One parameter that differs between two revisions for one target.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ParamDiff {
    /// The dotted path.
    pub param: String,
    /// `added`, `removed` or `changed`.
    pub kind: &'static str,
    /// The old value (redacted for secrets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    /// The new value (redacted for secrets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
    /// Where the old value was set (`file:line:col`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_at: Option<String>,
    /// Where the new value was set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_at: Option<String>,
}

/// The differences of one service for one target.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServiceDiff {
    /// `ENV/PROVIDER/REGION`.
    pub target: String,
    /// The service.
    pub service: String,
    /// Parameter differences.
    pub changes: Vec<ParamDiff>,
    /// Set when one side does not resolve (the other side's values are not compared).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Who last changed an effective value.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Blame {
    /// The revision that last changed it.
    #[serde(serialize_with = "ser_rev")]
    pub revision: Revision,
    /// The value now (redacted for secrets).
    pub value: String,
    /// Where the value is set at the head (`file:line:col`).
    pub at: String,
}

/// Revisions newest first, optionally only those that changed `param` (in any layer,
/// or its effective value for `target`).
pub fn log(
    repo: &Repository,
    param: Option<&ParamPath>,
    target: Option<&str>,
    limit: Option<usize>,
) -> Result<Vec<LogEntry>, StoreError> {
    let head = repo.head()?;
    let limit = limit.unwrap_or(usize::MAX);
    let tags = repo.store().tags()?;
    let tags_of = |r: &Revision| -> Vec<String> {
        tags.iter()
            .filter(|(_, id)| *id == r.id)
            .map(|(n, _)| n.clone())
            .collect()
    };
    let entries: Vec<(Revision, Option<String>)> = match (param, target) {
        (None, _) => {
            let count = u64::try_from(limit).unwrap_or(u64::MAX).min(head.seq);
            if count == 0 {
                return Ok(Vec::new());
            }
            repo.revisions(head.seq - count + 1, head.seq)?
                .into_iter()
                .map(|r| (r, None))
                .collect()
        }
        (Some(p), None) => repo
            .store()
            .param_log(&p.to_string(), limit)?
            .into_iter()
            .map(|r| (r, None))
            .collect(),
        (Some(p), Some(t)) => {
            let mut changes = effective_history(repo, &head, p, t)?;
            changes.reverse();
            changes.truncate(limit);
            changes.into_iter().map(|(r, v)| (r, Some(v))).collect()
        }
    };
    Ok(entries
        .into_iter()
        .map(|(revision, value)| LogEntry {
            tags: tags_of(&revision),
            revision,
            value,
        })
        .collect())
}

/// The effective value of `param` for `target` in `rev`: `Ok(None)` when unset.
fn value_at(
    repo: &Repository,
    rev: &Revision,
    param: &ParamPath,
    target: &str,
) -> Result<Result<Option<serde_json::Value>, String>, StoreError> {
    let project = match Project::load(Arc::new(repo.source(rev)?)) {
        Ok(p) => p,
        Err(e) => return fatal_if_corrupt(e.to_string()).map(Err),
    };
    match project.resolve(&param.service, target, ResolveOptions::default()) {
        Ok(eff) => Ok(Ok(eff.get(&param.segments).map(|n| n.value.to_json()))),
        Err(e) => fatal_if_corrupt(e.to_string()).map(Err),
    }
}

/// Revisions (oldest first) where the effective value of `param` for `target` changed,
/// with the value after each.
fn effective_history(
    repo: &Repository,
    head: &Revision,
    param: &ParamPath,
    target: &str,
) -> Result<Vec<(Revision, String)>, StoreError> {
    let head_project = repo.project(head)?;
    if head_project.config.target(target).is_none() {
        let known: Vec<String> = head_project
            .config
            .targets
            .iter()
            .map(|t| t.to_string())
            .collect();
        return Err(StoreError::Invalid(format!(
            "unknown target `{target}`; declared: {}",
            known.join(", ")
        )));
    }
    let source = repo.source(head)?;
    let secrets = Secrets::load_for(&head_project.config, &source, |s| s == param.service)?;
    let secret = secrets.is_secret(&param.service, &param.segments);

    // Candidates: this service's parameters, services it refers to, non-layer files.
    let mut services = BTreeSet::from([param.service.clone()]);
    for path in source.manifest()?.files.keys() {
        if let Some((_, svc)) = crate::repo::layer_file(path)
            && svc == param.service
            && let Some(bytes) = source.read_file(path)?
        {
            let text = String::from_utf8_lossy(&bytes);
            for piece in text.split("${ref:").skip(1) {
                if let Some((other, _)) = piece.split_once(':') {
                    services.insert(other.trim().to_string());
                }
            }
        }
    }
    let mut seqs: BTreeSet<u64> = repo
        .store()
        .file_history_outside("layers/")?
        .into_iter()
        .collect();
    for s in &services {
        seqs.extend(repo.store().param_history(&format!("{s}:"))?);
    }
    let seqs: Vec<u64> = seqs.into_iter().filter(|&s| s <= head.seq).collect();
    let Some(&first) = seqs.first() else {
        return Ok(Vec::new());
    };
    let mut previous = match first {
        1 => Ok(None),
        n => match repo.store().revision_by_seq(n - 1)? {
            Some(r) => value_at(repo, &r, param, target)?,
            None => Ok(None),
        },
    };
    let mut out = Vec::new();
    for rev in repo.store().revisions_by_seq(&seqs)? {
        let now = value_at(repo, &rev, param, target)?;
        if now != previous {
            let text = match &now {
                Ok(v) => shown(v.as_ref(), secret, "(absent)"),
                Err(e) => format!("error: {e}"),
            };
            out.push((rev, text));
        }
        previous = now;
    }
    Ok(out)
}

/// What revision `rev` changed.
pub fn show(repo: &Repository, rev: &Revision) -> Result<Shown, StoreError> {
    Ok(Shown {
        tags: repo.tags_of(&rev.id)?,
        files: repo.store().file_changes(rev.seq)?,
        params: repo
            .store()
            .param_changes_between(rev.seq - 1, rev.seq)?
            .into_iter()
            .map(|(_, p)| p)
            .collect(),
        revision: rev.clone(),
    })
}

/// The semantic difference between two revisions: per target and service, the
/// effective parameters added, removed and changed, with where each value was set.
pub fn diff(
    repo: &Repository,
    old: &Revision,
    new: &Revision,
    target: Option<&str>,
    service: Option<&str>,
) -> Result<Vec<ServiceDiff>, StoreError> {
    let a = repo.project(old)?;
    let b = repo.project(new)?;
    let secrets = Secrets::load(&b.config, &repo.source(new)?)?;
    let mut targets: Vec<String> = Vec::new();
    for t in a.config.targets.iter().chain(&b.config.targets) {
        let name = t.to_string();
        if !targets.contains(&name) && target.is_none_or(|w| w == name) {
            targets.push(name);
        }
    }
    let mut services: Vec<String> = Vec::new();
    for s in a.config.services.keys().chain(b.config.services.keys()) {
        if !services.contains(s) && service.is_none_or(|w| w == s) {
            services.push(s.clone());
        }
    }
    if let Some(t) = target
        && targets.is_empty()
    {
        return Err(StoreError::Invalid(format!(
            "target `{t}` is in neither revision"
        )));
    }
    if let Some(s) = service
        && services.is_empty()
    {
        return Err(StoreError::Invalid(format!(
            "service `{s}` is in neither revision"
        )));
    }
    let opts = ResolveOptions::default();
    let mut out = Vec::new();
    for t in &targets {
        for s in &services {
            let side = |p: &Project| -> Result<Option<strata_core::resolve::Effective>, String> {
                if p.config.target(t).is_none() || !p.config.services.contains_key(s) {
                    return Ok(None);
                }
                p.resolve(s, t, opts).map(Some).map_err(|e| e.to_string())
            };
            let (ea, eb) = match (side(&a), side(&b)) {
                (Ok(x), Ok(y)) => (x, y),
                (Err(e), _) | (_, Err(e)) => {
                    let e = fatal_if_corrupt(e)?;
                    out.push(ServiceDiff {
                        target: t.clone(),
                        service: s.clone(),
                        changes: Vec::new(),
                        error: Some(e),
                    });
                    continue;
                }
            };
            let changes: Vec<ParamDiff> =
                compare::diff(ea.as_ref().map(|e| &e.root), eb.as_ref().map(|e| &e.root))
                    .into_iter()
                    .map(|c| {
                        let segs = strata_core::path::parse_segments(&c.path).unwrap_or_default();
                        let secret = secrets.is_secret(s, &segs);
                        ParamDiff {
                            kind: match c.kind {
                                ChangeKind::Added => "added",
                                ChangeKind::Removed => "removed",
                                ChangeKind::Changed => "changed",
                            },
                            old: c.old.map(|n| shown(Some(&n.value.to_json()), secret, "")),
                            new: c.new.map(|n| shown(Some(&n.value.to_json()), secret, "")),
                            old_at: c.old.map(|n| a.describe_loc(n.loc)),
                            new_at: c.new.map(|n| b.describe_loc(n.loc)),
                            param: c.path,
                        }
                    })
                    .collect();
            if !changes.is_empty() {
                out.push(ServiceDiff {
                    target: t.clone(),
                    service: s.clone(),
                    changes,
                    error: None,
                });
            }
        }
    }
    Ok(out)
}

/// The revision that last changed the effective value of `param` for `target`.
pub fn blame(repo: &Repository, param: &ParamPath, target: &str) -> Result<Blame, StoreError> {
    let head = repo.head()?;
    let project = repo.project(&head)?;
    let eff = project
        .resolve(&param.service, target, ResolveOptions::default())
        .map_err(|e| StoreError::Project(e.to_string()))?;
    let node = eff.get(&param.segments).ok_or_else(|| {
        StoreError::Invalid(format!(
            "{param} has no value for {target} at the head; see `strata resolve {} --target {target}`",
            param.service
        ))
    })?;
    let at = project.describe_loc(node.loc);
    let history = effective_history(repo, &head, param, target)?;
    let (revision, value) = history
        .into_iter()
        .last()
        .ok_or_else(|| StoreError::Invalid(format!("{param} has no history for {target}")))?;
    Ok(Blame {
        revision,
        value,
        at,
    })
}
