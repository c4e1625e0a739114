//! API token management: [`issue`] (shared with `strata token create` and the seeding of
//! demo and test stores) and the admin endpoints `GET /v1/tokens` (never a secret),
//! `POST /v1/tokens` (the token shown once) and `DELETE /v1/tokens/{id}` (revoke).
//!
//! The endpoints need `admin` on every service in every environment of the head's
//! policy (as the CLI's store-wide commands do); creations and revocations are audited
//! with the allowing rule, denials with the refusing one.

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use strata_store::StoreError;
use strata_store::audit::NewAuditEntry;
use strata_store::repo::Repository;
use strata_store::tokens::{NewToken, TokenRow};

use crate::AppState;
use crate::auth::Judge;
use crate::error::ApiError;
use crate::routes::{authenticate, path_error};
use crate::seed::SeedError;
use crate::writes::{fresh_head, json_body, known_fields, store_error};

/// A token just made: its text (to show once) and public id.
pub struct Issued {
    /// The token (`strata_<id>_<secret>`); never stored, never logged.
    pub secret: strata_auth::token::SecretText,
    /// Its public id (listings, revocation).
    pub id: String,
}

/// Makes an API token for `principal`, expiring at `expires_ms` if given, on behalf of
/// `by` (audited as `token-create`, with the allowing `rule` when there is one), and
/// returns it. Only its hash is stored.
pub fn issue(
    repo: &Repository,
    principal: &str,
    expires_ms: Option<i64>,
    by: &str,
    rule: Option<String>,
    now_ms: i64,
) -> Result<Issued, SeedError> {
    let (token, hashed) = strata_auth::token::generate(principal)?;
    let mut e = NewAuditEntry::new(now_ms, by, "token-create", "");
    e.rule = rule;
    let mut detail = serde_json::Map::new();
    detail.insert("token".into(), token.id.clone().into());
    detail.insert("for".into(), principal.into());
    e.detail = Some(detail);
    repo.store().token_create(
        &NewToken {
            id: hashed.id,
            principal: hashed.principal,
            hash: hashed.hash,
            created_ms: now_ms,
            expires_ms,
        },
        &[e],
    )?;
    Ok(Issued {
        secret: token.secret_text,
        id: token.id,
    })
}

/// A token row as listed: the row (no hash) and its state now.
fn listed(row: &TokenRow, now_ms: i64) -> Value {
    let mut v = json!(row);
    v["state"] = json!(row.state(now_ms));
    v
}

/// Authenticates and requires `admin` everywhere (by the head's policy, read fresh):
/// the principal and the allowing rule, or 403 audited as `what`.
async fn admin(
    state: &AppState,
    headers: &HeaderMap,
    what: &str,
) -> Result<(String, String), ApiError> {
    let caller = authenticate(state, headers).await?;
    let head = fresh_head(state).await?;
    let judge = Judge::new(state, caller, head)?;
    let rule = crate::api::require_admin(state, &judge, what).await?;
    Ok((judge.caller.principal.clone(), rule))
}

/// `GET /v1/tokens` → `{tokens: [{id, principal, created_ms, expires_ms, revoked_ms,
/// state}]}` (admins only; never a token or its hash).
pub(crate) async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    admin(&state, &headers, "token-list").await?;
    let rows = state
        .with_repo("tokens", |repo| {
            repo.store().token_list().map_err(store_error)
        })
        .await?;
    let now = crate::now_ms();
    let tokens: Vec<Value> = rows.iter().map(|r| listed(r, now)).collect();
    Ok(axum::Json(json!({ "tokens": tokens })).into_response())
}

/// `POST /v1/tokens` with `{principal, expires?}` (`expires` a duration: `90d`, `12h`)
/// → 201 `{token, id, principal, expires_ms}`, the token shown this once
/// (`Cache-Control: no-store`).
pub(crate) async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (by, rule) = admin(&state, &headers, "token-create").await?;
    let body = json_body(&body)?;
    known_fields(&body, &["principal", "expires"])?;
    let principal = match body.get("principal") {
        Some(Value::String(p)) if !p.trim().is_empty() => p.clone(),
        _ => {
            return Err(ApiError::bad_request(
                "`principal` is required: the name the token acts as",
            )
            .with("field", "principal"));
        }
    };
    let now = crate::now_ms();
    let expires_ms = match body.get("expires") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => {
            let secs = strata_core::access::parse_duration(text).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "expires `{text}`: write a duration such as 90d, 12h or 30m"
                ))
                .with("field", "expires")
            })?;
            let ms = i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(1000);
            Some(now.saturating_add(ms))
        }
        Some(_) => {
            return Err(
                ApiError::bad_request("`expires` must be a duration such as \"90d\"")
                    .with("field", "expires"),
            );
        }
    };
    let who = principal.clone();
    let issued = state
        .with_repo("token_create", move |repo| {
            issue(repo, &who, expires_ms, &by, Some(rule), now).map_err(|e| match e {
                SeedError::Store(e) => store_error(e),
                SeedError::Token(e) => {
                    ApiError::bad_request(format!("cannot make a token for `{who}`: {e}"))
                        .with("field", "principal")
                }
            })
        })
        .await?;
    let mut res = (
        StatusCode::CREATED,
        axum::Json(json!({
            "token": issued.secret.expose(),
            "id": issued.id,
            "principal": principal,
            "created_ms": now,
            "expires_ms": expires_ms,
        })),
    )
        .into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// `DELETE /v1/tokens/{id}` → 200 `{token}` (revoked; revoking again keeps the first
/// time), 404 for an unknown id.
pub(crate) async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let (by, rule) = admin(&state, &headers, "token-revoke").await?;
    let Path(id) = path.map_err(path_error)?;
    let row = state
        .with_repo("token_revoke", move |repo| {
            let now = crate::now_ms();
            let mut e = NewAuditEntry::new(now, &by, "token-revoke", "");
            e.rule = Some(rule);
            let mut detail = serde_json::Map::new();
            detail.insert("token".into(), id.clone().into());
            e.detail = Some(detail);
            match repo.store().token_revoke(&id, now, &[e]) {
                Ok((row, _)) => Ok(row),
                Err(StoreError::NotFound { .. }) => Err(ApiError::not_found(format!(
                    "no token `{id}`: `GET /v1/tokens` lists them"
                ))
                .with("id", id.clone())),
                Err(e) => Err(store_error(e)),
            }
        })
        .await?;
    Ok(axum::Json(json!({ "token": listed(&row, crate::now_ms()) })).into_response())
}
