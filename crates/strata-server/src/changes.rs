//! Writes of configuration: `POST /v1/changes` (a changeset committed, or proposed as a
//! change request when an approval rule covers it) and `POST /v1/validate` (the
//! `strata check` report of a changeset applied in memory, nothing committed).
//!
//! A changeset is judged like `strata apply`: `write` on every (environment, parameter)
//! its edits reach, by the policy of the store's head; approval rules covering any of
//! them make it a change request. Before anything is written the changeset is applied
//! in memory on the head and the edited services are checked for the environments the
//! edits reach (the checks of `strata check`, against the head as the previous version):
//! a changeset that introduces an error finding is refused with 422.

use std::collections::HashSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use strata_core::access::{Action, approvals_covering, layer_envs};
use strata_core::resolve::Project;
use strata_core::validate::check::{CheckOptions, check};
use strata_core::validate::report::{Finding, Report, Severity};
use strata_core::validate::report_json::{document, finding};
use strata_store::changeset::Changeset;
use strata_store::history::revision_json;
use strata_store::model::{CommitMeta, Revision};
use strata_store::repo::{ApplyOutcome, CommitExtras, Repository};
use strata_store::workflow::{self, Proposal, edit_entries};

use crate::AppState;
use crate::auth::Judge;
use crate::error::ApiError;
use crate::routes::authenticate;
use crate::state::Snapshot;
use crate::writes::{
    changeset, fresh_head, invalid_configuration, json_body, known_fields, require_on_edits,
    store_error,
};

/// The check options for a changeset's affected units: the edited services, in the
/// environments the edits reach.
fn affected<'a>(project: &Project, cs: &Changeset, base: Option<&'a Project>) -> CheckOptions<'a> {
    let mut envs: Vec<String> = Vec::new();
    let mut services: Vec<String> = Vec::new();
    for e in &cs.edits {
        for env in layer_envs(&project.config, &e.layer) {
            if !envs.contains(&env) {
                envs.push(env);
            }
        }
        if !services.contains(&e.param.service) {
            services.push(e.param.service.clone());
        }
    }
    CheckOptions {
        envs,
        services,
        base,
        ..CheckOptions::default()
    }
}

/// Runs the check of the changeset's affected units on `project`.
fn run_check(project: &Project, opts: &CheckOptions<'_>) -> Result<Report, ApiError> {
    check(project, opts)
        .map(|run| run.report)
        .map_err(|e| ApiError::bad_request(format!("cannot check the changeset: {e}")))
}

/// What identifies a finding across two checks.
fn key(f: &Finding) -> (Option<&str>, &str, &str, Option<&str>, &str) {
    (
        f.target.as_deref(),
        &f.service,
        &f.rule,
        f.param.as_deref(),
        &f.message,
    )
}

/// The changeset applied in memory on `on`, checked: the report of the affected units
/// (with `on` as the previous version) and the error findings it introduces (absent from
/// the same check of `on` itself).
fn validate(
    repo: &Repository,
    cs: &Changeset,
    on: &Revision,
    old: &Project,
) -> Result<(Report, Vec<Finding>), ApiError> {
    let new = repo.preview(cs, on).map_err(store_error)?;
    let report = run_check(&new, &affected(&new, cs, Some(old)))?;
    let before = run_check(old, &affected(old, cs, None))?;
    let known: HashSet<_> = before.findings().map(key).collect();
    let introduced = report
        .findings()
        .filter(|f| f.severity == Severity::Error && !known.contains(&key(f)))
        .cloned()
        .collect();
    Ok((report, introduced))
}

/// 422 naming the error findings a changeset introduces.
fn refused(introduced: &[Finding]) -> ApiError {
    let first = introduced
        .first()
        .map(|f| format!(": {} ({})", f.message, f.address()))
        .unwrap_or_default();
    let shown = |p: &str| p.to_string();
    invalid_configuration(
        format!(
            "the changeset makes the configuration invalid ({} error finding{}){first}",
            introduced.len(),
            if introduced.len() == 1 { "" } else { "s" }
        ),
        introduced
            .iter()
            .map(|f| json!(finding(f, &shown)))
            .collect(),
    )
}

/// The revision message of a changeset without one.
fn default_message(cs: &Changeset) -> String {
    match cs.edits.as_slice() {
        [one] => format!(
            "{} {} in {}",
            if one.value.is_some() { "set" } else { "unset" },
            one.param,
            one.layer
        ),
        many => format!("apply {} changes", many.len()),
    }
}

/// `POST /v1/changes`: `{base?, message?, changes: [...]}` → 201 `{revision, rebased}`
/// (200 with `unchanged: true` when the head already has these values), 202 `{request}`
/// when an approval rule covers it, 400, 403, 409, 422 or 503.
pub(crate) async fn post_changes(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = authenticate(&state, &headers).await?;
    let cs = changeset(&Value::Object(json_body(&body)?))?;
    let head = fresh_head(&state).await?;
    let judge = Judge::new(&state, caller, head.clone())?;
    let principal = judge.caller.principal.clone();
    let scopes = require_on_edits(&state, &judge, &cs, Action::Write, "write").await?;
    let edited = strata_store::changeset::edited(&cs.edits);
    let approvals = approvals_covering(&head.policy, &head.project.config, &edited);
    let now = crate::now_ms();
    let entries = edit_entries(&cs.edits, &scopes, &principal, "write", now);
    let message = cs.message.clone().unwrap_or_else(|| default_message(&cs));
    let answer = state
        .with_repo("change", move |repo| {
            commit_or_propose(
                repo, &head, &principal, cs, message, approvals, entries, now,
            )
        })
        .await?;
    if answer.status() == StatusCode::CREATED {
        // Serve the new revision from this server at once (others follow the store).
        let _ = state.refresh().await;
    }
    Ok(answer)
}

/// The store side of `POST /v1/changes`: base, conflicts, validation, then the revision
/// or the change request.
#[allow(clippy::too_many_arguments)]
fn commit_or_propose(
    repo: &Repository,
    head: &Arc<Snapshot>,
    principal: &str,
    cs: Changeset,
    message: String,
    approvals: std::collections::BTreeSet<String>,
    entries: Vec<strata_store::audit::NewAuditEntry>,
    now: i64,
) -> Result<Response, ApiError> {
    if let Some(spec) = &cs.base {
        repo.resolve_rev(spec)
            .map_err(|e| ApiError::bad_request(format!("base: {e}")).with("base", spec.clone()))?;
    }
    repo.check_base(&cs, &head.rev).map_err(store_error)?;
    let (_, introduced) = validate(repo, &cs, &head.rev, &head.project)?;
    if !introduced.is_empty() {
        return Err(refused(&introduced));
    }
    if !approvals.is_empty() {
        let rules = head
            .policy
            .approval_rules()
            .iter()
            .filter(|r| approvals.contains(&r.name))
            .collect();
        let request = workflow::propose(
            repo,
            Proposal {
                author: principal,
                message,
                changeset: &cs,
                rules,
                entries,
                now_ms: now,
            },
        )
        .map_err(store_error)?;
        return Ok((
            StatusCode::ACCEPTED,
            axum::Json(json!({ "request": request })),
        )
            .into_response());
    }
    let meta = CommitMeta {
        author: principal.to_string(),
        message,
        timestamp_ms: now,
        source: None,
        labels: Default::default(),
    };
    let extras = CommitExtras {
        audit: entries,
        request: None,
    };
    match repo.apply_with(&cs, meta, &extras).map_err(store_error)? {
        ApplyOutcome::Committed { revision, rebased } => Ok((
            StatusCode::CREATED,
            axum::Json(json!({
                "revision": revision_json(&revision),
                "rebased": rebased,
                "unchanged": false,
            })),
        )
            .into_response()),
        ApplyOutcome::Unchanged(revision) => Ok(axum::Json(json!({
            "revision": revision_json(&revision),
            "rebased": false,
            "unchanged": true,
        }))
        .into_response()),
    }
}

/// `POST /v1/validate`: `{changeset, base?}` → 200 `{revision, result, exit_code, report}`,
/// the `strata check --format json` report of the changeset applied on `base` (else the
/// changeset's own `base`, else the head) for the edited services in the environments
/// the edits reach. Needs `read` on each edited service there.
pub(crate) async fn post_validate(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = authenticate(&state, &headers).await?;
    let body = json_body(&body)?;
    known_fields(&body, &["changeset", "base"])?;
    let Some(doc) = body.get("changeset") else {
        return Err(ApiError::bad_request(
            "`changeset` is required: {changes: [{set|unset, layer, value}], base?, message?}",
        ));
    };
    let cs = changeset(doc).map_err(|mut e| {
        e.message = format!("changeset: {}", e.message);
        e
    })?;
    let base = match body.get("base") {
        None | Some(Value::Null) => cs.base.clone(),
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(_) => {
            return Err(ApiError::bad_request(
                "`base` must be a revision (an id, tag, `HEAD~N` or `#SEQ`)",
            ));
        }
    };
    let head = fresh_head(&state).await?;
    // Reading the report is reading the edited services where the edits reach.
    let whole: Changeset = Changeset {
        edits: cs
            .edits
            .iter()
            .map(|e| strata_store::changeset::ParamEdit {
                param: strata_core::path::ParamPath {
                    service: e.param.service.clone(),
                    segments: Vec::new(),
                },
                ..e.clone()
            })
            .collect(),
        ..Changeset::default()
    };
    let judge = Judge::new(&state, caller, head.clone())?;
    require_on_edits(&state, &judge, &whole, Action::Read, "read").await?;
    let on = match base {
        Some(spec) => state.revision(spec.clone()).await.map_err(|mut e| {
            e.message = format!("base: {}", e.message);
            e.with("base", spec)
        })?,
        None => head,
    };
    state
        .with_repo("validate", move |repo| {
            let (report, _) = validate(repo, &cs, &on.rev, &on.project)?;
            let failed = report.fails(Severity::Error);
            let shown = |p: &str| p.to_string();
            let doc = document(&report, Severity::Error, env!("CARGO_PKG_VERSION"), &shown);
            Ok(axum::Json(json!({
                "revision": revision_json(&on.rev),
                "result": if failed { "findings" } else { "clean" },
                "exit_code": i32::from(failed),
                "report": doc,
            }))
            .into_response())
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::path::ParamPath;
    use strata_store::changeset::ParamEdit;

    fn edit(param: &str, layer: &str, value: Option<i64>) -> ParamEdit {
        ParamEdit {
            param: ParamPath::parse(param).unwrap(),
            layer: layer.into(),
            value: value.map(Into::into),
        }
    }

    #[test]
    fn messages_default_to_what_the_changeset_does() {
        let mut cs = Changeset {
            edits: vec![edit("checkout:replicas", "env/dev", Some(3))],
            ..Changeset::default()
        };
        assert_eq!(default_message(&cs), "set checkout:replicas in env/dev");
        cs.edits[0].value = None;
        assert_eq!(default_message(&cs), "unset checkout:replicas in env/dev");
        cs.edits.push(edit("checkout:x", "base", Some(1)));
        assert_eq!(default_message(&cs), "apply 2 changes");
    }
}
