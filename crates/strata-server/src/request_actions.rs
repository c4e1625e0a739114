//! Acting on change requests over HTTP, with the rules of `strata approve` and `strata
//! reject`: `POST /v1/requests/{id}/approve` and `POST /v1/requests/{id}/reject`.
//!
//! An approver needs `approve` on every (environment, parameter) the request changes, by
//! the head's policy; nobody approves their own request. The approval that meets every
//! rule the request needs applies it (the revision, the request's new status and the
//! audit entries in one transaction); when the parameters changed since the request's
//! base the request is marked `conflicted` (409). The author may withdraw (reject) their
//! own request; anyone else needs `approve` on what it changes.

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use strata_core::access::Action;
use strata_store::history::revision_json;
use strata_store::requests::ChangeRequest;
use strata_store::workflow::{self, Applied};

use crate::AppState;
use crate::auth::Judge;
use crate::error::ApiError;
use crate::routes::{authenticate, path_error};
use crate::writes::{fresh_head, json_body, known_fields, require_on_edits, store_error};

/// The request `id` (404 when unknown). With `expire`, a request whose time has run out
/// is marked expired first (by `actor`, audited) and refused with 409 `request_closed`,
/// as `strata approve` does.
async fn fetch(
    state: &AppState,
    id: &str,
    actor: &str,
    expire: bool,
) -> Result<ChangeRequest, ApiError> {
    let (key, actor) = (id.to_string(), actor.to_string());
    let (r, expired) = state
        .with_repo("request", move |repo| {
            let Some(r) = repo.store().request_get(&key).map_err(store_error)? else {
                return Err(ApiError::not_found(format!("no change request `{key}`"))
                    .with("id", key.clone()));
            };
            let expired = expire
                && workflow::expire_if_due(repo, &r, &actor, crate::now_ms())
                    .map_err(store_error)?;
            Ok((r, expired))
        })
        .await?;
    if expired {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "request_closed",
            format!("change request {} has expired; propose it again", r.id),
        )
        .with("status", "expired"));
    }
    Ok(r)
}

/// The changeset a request holds (500 if the stored text cannot be read).
fn changeset_of(r: &ChangeRequest) -> Result<strata_store::changeset::Changeset, ApiError> {
    workflow::request_changeset(r).map_err(|e| {
        ApiError::internal(format!(
            "the changeset of change request {} cannot be read: {e}",
            r.id
        ))
    })
}

/// Adds "(change request ID)" to a refusal's message.
fn about(mut e: ApiError, id: &str) -> ApiError {
    e.message = format!("{} (change request {id})", e.message);
    e.with("request", id)
}

/// `POST /v1/requests/{id}/approve` → 200 `{request, applied, missing}` (and `revision`,
/// `rebased` when this approval applied it), 403, 404, 409 (`conflict` with the
/// parameters, `already_approved`, `request_closed`), 503.
pub(crate) async fn approve(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let caller = authenticate(&state, &headers).await?;
    let Path(id) = path.map_err(path_error)?;
    let head = fresh_head(&state).await?;
    let judge = Judge::new(&state, caller, head.clone())?;
    let principal = judge.caller.principal.clone();
    let r = fetch(&state, &id, &principal, true).await?;
    if principal == r.author {
        let (req, me) = (r.clone(), principal.clone());
        let recorded = state
            .with_repo("audit_append", move |repo| {
                workflow::deny_self_approval(repo, &req, &me, crate::now_ms()).map_err(store_error)
            })
            .await;
        let mut message = format!(
            "{principal} cannot approve change request {}: {}",
            r.id,
            workflow::SELF_APPROVAL_RULE
        );
        if let Err(e) = recorded {
            message.push_str(&format!(
                " (and the attempt could not be audited: {})",
                e.message
            ));
        }
        return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
            .with("rule", workflow::SELF_APPROVAL_RULE)
            .with("request", r.id));
    }
    let cs = changeset_of(&r)?;
    let scopes = require_on_edits(&state, &judge, &cs, Action::Approve, "approve")
        .await
        .map_err(|e| about(e, &r.id))?;
    let mut params: Vec<String> = Vec::new();
    for s in scopes {
        if !params.contains(&s.param) {
            params.push(s.param);
        }
    }
    let answer = state
        .with_repo("approve", move |repo| {
            let now = crate::now_ms();
            let r = workflow::record_approval(repo, &r, &principal, params.clone(), now)
                .map_err(store_error)?;
            let missing: Vec<String> = workflow::unmet(&head.policy, &r, now)
                .iter()
                .map(ToString::to_string)
                .collect();
            if !missing.is_empty() {
                return Ok(axum::Json(json!({
                    "request": r,
                    "applied": false,
                    "missing": missing,
                }))
                .into_response());
            }
            let applied = workflow::apply_approved(repo, &r, &cs, params, &principal, now)
                .map_err(store_error)?;
            let reread = |r: &ChangeRequest| -> Result<Value, ApiError> {
                let now = repo.store().request_get(&r.id).map_err(store_error)?;
                Ok(json!(now.as_ref().unwrap_or(r)))
            };
            match applied {
                Applied::Committed { revision, rebased } => Ok(axum::Json(json!({
                    "request": reread(&r)?,
                    "applied": true,
                    "missing": [],
                    "revision": revision_json(&revision),
                    "rebased": rebased,
                }))
                .into_response()),
                Applied::Unchanged(revision) => Ok(axum::Json(json!({
                    "request": reread(&r)?,
                    "applied": true,
                    "missing": [],
                    "revision": revision_json(&revision),
                    "rebased": false,
                    "unchanged": true,
                }))
                .into_response()),
                Applied::Conflicted { request, conflicts } => {
                    let e = store_error(strata_store::StoreError::Conflict(conflicts));
                    Err(ApiError {
                        message: format!(
                            "change request {} is approved but conflicts with changes made since it was proposed; it is marked conflicted for {} to propose again\n{}",
                            request.id, request.author, e.message
                        ),
                        ..e
                    }
                    .with("request", json!(request)))
                }
            }
        })
        .await?;
    // An approval that applied the request: serve the new revision from here at once.
    let _ = state.refresh().await;
    Ok(answer)
}

/// `POST /v1/requests/{id}/reject` with `{reason}` → 200 `{request}`, 400 without a
/// reason, 403, 404, 409 (`request_closed`), 503.
pub(crate) async fn reject(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = authenticate(&state, &headers).await?;
    let Path(id) = path.map_err(path_error)?;
    let body = json_body(&body)?;
    known_fields(&body, &["reason"])?;
    let reason = match body.get("reason") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        _ => {
            return Err(ApiError::bad_request(
                "`reason` is required: say why (it is recorded on the request and in the audit log)",
            )
            .with("field", "reason"));
        }
    };
    let head = fresh_head(&state).await?;
    let judge = Judge::new(&state, caller, head)?;
    let principal = judge.caller.principal.clone();
    let r = fetch(&state, &id, &principal, false).await?;
    if principal != r.author {
        let cs = changeset_of(&r)?;
        require_on_edits(&state, &judge, &cs, Action::Approve, "reject")
            .await
            .map_err(|e| about(e, &r.id))?;
    }
    let request = state
        .with_repo("reject", move |repo| {
            workflow::reject(repo, &r, &principal, &reason, crate::now_ms()).map_err(store_error)
        })
        .await?;
    Ok(axum::Json(json!({ "request": request })).into_response())
}
