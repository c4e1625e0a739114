//! What the write endpoints share (`POST /v1/changes`, `/v1/validate`, approvals,
//! tokens): the head read fresh from the store (writes are judged by the policy of the
//! store's head, not a snapshot up to `head_refresh` old, and fail with 503 when the
//! store does not answer), store errors as HTTP answers, JSON bodies, and deciding an
//! action on every (environment, parameter) a changeset reaches.

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::StatusCode;
use serde_json::{Value, json};
use strata_core::access::{Action, EditScope, Ruling, decide_edits};
use strata_core::path::ParamPath;
use strata_store::StoreError;
use strata_store::changeset::Changeset;

use crate::auth::{Judge, Verdict};
use crate::error::ApiError;
use crate::state::{AppState, Snapshot};

/// The head snapshot as the store has it now: the cached one when it is still the head,
/// else the new head loaded. 503 (`store_unavailable`, with `Retry-After`) when the store
/// does not answer.
pub(crate) async fn fresh_head(state: &AppState) -> Result<Arc<Snapshot>, ApiError> {
    let cached = state.head().await?;
    let now = state
        .with_repo("head", |repo| repo.head().map_err(store_error))
        .await?;
    if now.id == cached.rev.id {
        return Ok(cached);
    }
    state.revision(now.id.to_string()).await
}

/// A store error answered by a write endpoint: outages are 503 with `Retry-After`,
/// refused input 400, conflicts 409 with the parameters, closed requests 409, unknown
/// ids 404, damaged data 500.
pub(crate) fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Backend { .. } => ApiError::store(&e),
        StoreError::Empty => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "empty_store",
            "the store holds no revision yet: run `strata import`",
        ),
        StoreError::Invalid(m) => ApiError::bad_request(m),
        StoreError::UnknownRevision { .. } => ApiError::not_found(e.to_string()),
        StoreError::Project(m) => invalid_configuration(
            m.clone(),
            vec![json!({"severity": "error", "rule": "project", "message": m})],
        ),
        StoreError::Conflict(conflicts) => {
            let params: Vec<&str> = conflicts.iter().map(|c| c.param.as_str()).collect();
            let message = StoreError::Conflict(conflicts.clone()).to_string();
            ApiError::new(StatusCode::CONFLICT, "conflict", message)
                .with("params", json!(params))
                .with("conflicts", json!(conflicts))
        }
        StoreError::NotFound { kind, ref id } => ApiError::not_found(e.to_string())
            .with(if kind == "token" { "token" } else { "id" }, id.clone()),
        StoreError::Exists { .. } | StoreError::TagExists { .. } => {
            ApiError::new(StatusCode::CONFLICT, "exists", e.to_string())
        }
        StoreError::DuplicateApproval { .. } => {
            ApiError::new(StatusCode::CONFLICT, "already_approved", e.to_string())
        }
        StoreError::SelfApproval { .. } => {
            ApiError::new(StatusCode::FORBIDDEN, "forbidden", e.to_string())
                .with("rule", strata_store::workflow::SELF_APPROVAL_RULE)
        }
        StoreError::RequestState { found, .. } => {
            ApiError::new(StatusCode::CONFLICT, "request_closed", e.to_string())
                .with("status", found.as_str())
        }
        StoreError::Corrupt { .. }
        | StoreError::TooNew { .. }
        | StoreError::Crypto(_)
        | StoreError::Git(_) => ApiError::internal(e.to_string()),
    }
}

/// 422 `invalid_configuration` with the findings that make it so.
pub(crate) fn invalid_configuration(message: String, findings: Vec<Value>) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_configuration",
        message,
    )
    .with("findings", Value::Array(findings))
}

/// A request body as a JSON object (400 naming what is wrong otherwise).
pub(crate) fn json_body(body: &Bytes) -> Result<serde_json::Map<String, Value>, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "the request needs a JSON object as its body",
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::bad_request("the body must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(format!("the body is not JSON: {e}"))),
    }
}

/// Refuses fields of `body` other than `known` (400 naming the field and the known ones).
pub(crate) fn known_fields(
    body: &serde_json::Map<String, Value>,
    known: &[&str],
) -> Result<(), ApiError> {
    match body.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(ApiError::bad_request(format!(
            "unknown field `{k}`; known: {}",
            known.join(", ")
        ))
        .with("field", k.clone())),
        None => Ok(()),
    }
}

/// The changeset of a request body (400 naming the field or change at fault).
pub(crate) fn changeset(doc: &Value) -> Result<Changeset, ApiError> {
    Changeset::from_json(doc).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// Requires `action` for the judge's caller on every (environment, parameter) the edits
/// of `cs` reach, by the head's policy and the webhook: the scopes, or 403 with the
/// deciding rule, audited as `what`.
pub(crate) async fn require_on_edits(
    state: &AppState,
    judge: &Arc<Judge>,
    cs: &Changeset,
    action: Action,
    what: &str,
) -> Result<Vec<EditScope>, ApiError> {
    let edits: Vec<(ParamPath, String)> = cs
        .edits
        .iter()
        .map(|e| (e.param.clone(), e.layer.clone()))
        .collect();
    let decided = judge
        .run(move |j| {
            let edited: Vec<_> = edits
                .iter()
                .map(|(param, layer)| strata_core::access::Edited { param, layer })
                .collect();
            let mut last = None;
            decide_edits(&j.head().project.config, &edited, |env, param| {
                let v = j.decide(action, env, &param.service, &param.segments);
                let ruling = Ruling {
                    allowed: v.allowed,
                    text: v.text.clone(),
                };
                last = Some(v);
                ruling
            })
            .map_err(|d| (d, last))
        })
        .await?;
    match decided {
        Ok(scopes) => Ok(scopes),
        Err((d, last)) => {
            let verdict = last.unwrap_or(Verdict {
                allowed: false,
                text: d.rule,
                webhook_denied: false,
            });
            Err(judge.deny(state, what, &d.env, &d.param, &verdict).await)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_become_the_right_answers() {
        let cases: Vec<(StoreError, u16, &str)> = vec![
            (
                StoreError::backend("sqlite:x", "gone"),
                503,
                "store_unavailable",
            ),
            (StoreError::Empty, 503, "empty_store"),
            (StoreError::Invalid("bad".into()), 400, "bad_request"),
            (
                StoreError::Project("broken".into()),
                422,
                "invalid_configuration",
            ),
            (
                StoreError::NotFound {
                    kind: "token",
                    id: "t".into(),
                },
                404,
                "not_found",
            ),
            (
                StoreError::DuplicateApproval {
                    request: "R1".into(),
                    principal: "bob".into(),
                },
                409,
                "already_approved",
            ),
            (
                StoreError::RequestState {
                    id: "R1".into(),
                    found: strata_store::requests::RequestStatus::Applied,
                    expected: vec![],
                },
                409,
                "request_closed",
            ),
            (
                StoreError::Corrupt {
                    what: "blob".into(),
                },
                500,
                "internal",
            ),
        ];
        for (e, status, code) in cases {
            let text = e.to_string();
            let a = store_error(e);
            assert_eq!((a.status.as_u16(), a.code), (status, code), "{text}");
        }
        let a = store_error(StoreError::Project("broken".into()));
        assert_eq!(a.details["findings"][0]["message"], "broken");
    }

    #[test]
    fn bodies_must_be_json_objects_with_known_fields() {
        assert!(json_body(&Bytes::from_static(b"")).is_err());
        assert!(json_body(&Bytes::from_static(b"[1]")).is_err());
        assert!(json_body(&Bytes::from_static(b"{x")).is_err());
        let m = json_body(&Bytes::from_static(b"{\"a\": 1, \"b\": 2}")).unwrap_or_default();
        assert!(known_fields(&m, &["a", "b"]).is_ok());
        let e = known_fields(&m, &["a"]).err().map(|e| e.message);
        assert_eq!(e.as_deref(), Some("unknown field `b`; known: a"));
    }
}
