//! Handlers beyond configuration reads: metrics, history (revisions, diff), the audit log
//! and change requests.

use std::sync::Arc;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use strata_core::access::Action;
use strata_core::path::ParamPath;
use strata_store::StoreError;
use strata_store::audit::AuditFilter;
use strata_store::history::{self, revision_json};

use crate::access::{anywhere, everywhere};
use crate::auth::{Judge, Verdict};
use crate::error::ApiError;
use crate::routes::{authenticate, deny};
use crate::state::{AppState, redact};

/// The most revisions, audit entries or requests one answer lists.
pub(crate) const MAX_LIMIT: usize = 1000;
/// How many are listed without `?limit=`.
pub(crate) const DEFAULT_LIMIT: usize = 100;

/// Authenticates and requires `read` on at least one service in one environment (the
/// coarse check of endpoints whose data is not per service). The judge of the caller's
/// further questions (holding the head snapshot) comes back.
pub(crate) async fn reader(state: &AppState, headers: &HeaderMap) -> Result<Arc<Judge>, ApiError> {
    let caller = authenticate(state, headers).await?;
    let head = state.head().await?;
    let judge = Judge::new(state, caller, head)?;
    let found = judge
        .run(|j| {
            let head = j.head();
            let mut last = None;
            let found = anywhere(&head.policy, &head.project.config, |env, service| {
                let v = j.decide(Action::Read, env, service, &[]);
                let answer = (v.allowed, v.text.clone());
                last = Some(v);
                answer
            });
            (found, last)
        })
        .await?;
    match found {
        (Some(_), _) => Ok(judge),
        (None, Some(last)) if last.webhook_denied => {
            Err(judge.deny(state, "read", "*", "*:", &last).await)
        }
        (None, _) => {
            let rule = format!(
                "no rule lets {} read any service in any environment",
                judge.caller.principal
            );
            Err(deny(state, &judge.caller.principal, "read", "*", "*:", rule).await)
        }
    }
}

/// Authenticates and requires `admin` on every service in every environment (as the
/// CLI's store-wide commands do).
async fn admin(state: &AppState, headers: &HeaderMap) -> Result<Arc<Judge>, ApiError> {
    let caller = authenticate(state, headers).await?;
    let head = state.head().await?;
    let judge = Judge::new(state, caller, head)?;
    require_admin(state, &judge, "admin").await?;
    Ok(judge)
}

/// Requires `admin` on every service in every environment for the judge's caller: the
/// first allowing rule, or 403 audited as `what`.
pub(crate) async fn require_admin(
    state: &AppState,
    judge: &Arc<Judge>,
    what: &str,
) -> Result<String, ApiError> {
    let decided = judge
        .run(|j| {
            let head = j.head();
            let mut last = None;
            everywhere(&head.policy, &head.project.config, |env, service| {
                let v = j.decide(Action::Admin, env, service, &[]);
                let answer = (v.allowed, v.text.clone());
                last = Some(v);
                answer
            })
            .map_err(|r| (r, last))
        })
        .await?;
    match decided {
        Ok(rule) => Ok(rule),
        Err((r, last)) => {
            let param = format!("{}:", r.service);
            let verdict = last.unwrap_or(Verdict {
                allowed: false,
                text: r.rule,
                webhook_denied: false,
            });
            Err(judge.deny(state, what, &r.env, &param, &verdict).await)
        }
    }
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(t)| t)
        .map_err(|e| ApiError::bad_request(format!("bad query string: {}", e.body_text())))
}

fn limit(asked: Option<usize>) -> Result<usize, ApiError> {
    match asked {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(format!(
            "limit {n} is not between 1 and {MAX_LIMIT}"
        ))
        .with("limit", n)),
    }
}

/// A store error of a revision look-up: unknown revisions are 404, bad specs 400.
fn rev_error(spec: &str, e: StoreError) -> ApiError {
    match e {
        e @ (StoreError::UnknownRevision { .. } | StoreError::Empty) => {
            ApiError::not_found(e.to_string()).with("rev", spec)
        }
        e @ StoreError::Invalid(_) => ApiError::bad_request(e.to_string()).with("rev", spec),
        e => ApiError::store(&e),
    }
}

/// `GET /metrics`
pub(crate) async fn metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    reader(&state, &headers).await?;
    let mut res = state.metrics().render().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(res)
}

/// `GET /openapi.json` (any valid token).
pub(crate) async fn openapi(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authenticate(&state, &headers).await?;
    Ok(axum::Json(crate::openapi::document()).into_response())
}

/// `?limit=`
#[derive(Debug, Default, Deserialize)]
pub(crate) struct LimitQuery {
    limit: Option<usize>,
}

/// `GET /v1/revisions`
pub(crate) async fn revisions(
    State(state): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<LimitQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    reader(&state, &headers).await?;
    let n = limit(query(q)?.limit)?;
    let entries = state
        .with_repo("log", move |repo| {
            history::log(repo, None, None, Some(n)).map_err(|e| match e {
                StoreError::Empty => ApiError::not_found("the store holds no revision"),
                e => ApiError::store(&e),
            })
        })
        .await?;
    let list: Vec<Value> = entries
        .iter()
        .map(|e| {
            let mut v = revision_json(&e.revision);
            v["tags"] = json!(e.tags);
            v
        })
        .collect();
    Ok(axum::Json(json!({ "revisions": list })).into_response())
}

/// `GET /v1/revisions/{id}`: the revision, its changed files, and the parameter changes
/// the principal may `read` in some environment reading the changed layer (`hidden`
/// counts the others).
pub(crate) async fn revision(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let judge = reader(&state, &headers).await?;
    let Path(spec) = path.map_err(crate::routes::path_error)?;
    let shown = state
        .with_repo("show", move |repo| {
            let rev = repo.resolve_rev(&spec).map_err(|e| rev_error(&spec, e))?;
            history::show(repo, &rev).map_err(|e| ApiError::store(&e))
        })
        .await?;
    let files: Vec<Value> = shown
        .files
        .iter()
        .map(|f| json!({"kind": f.kind.letter().to_string(), "path": f.path}))
        .collect();
    let changes = shown.params.clone();
    let (params, hidden): (Vec<_>, Vec<_>) = judge
        .run(move |j| {
            let config = &j.head().project.config;
            changes.into_iter().partition(|p| {
                let Ok(param) = ParamPath::parse(&p.param) else {
                    return false;
                };
                let dir = p
                    .file
                    .strip_prefix("layers/")
                    .and_then(|f| f.rsplit_once('/'))
                    .map_or("", |(d, _)| d);
                let mut envs = config.envs_reading(dir);
                if envs.is_empty() {
                    envs = config.environments.iter().map(|e| e.name.clone()).collect();
                }
                envs.iter().any(|env| {
                    j.decide(Action::Read, env, &param.service, &param.segments)
                        .allowed
                })
            })
        })
        .await?;
    Ok(axum::Json(json!({
        "revision": revision_json(&shown.revision),
        "tags": shown.tags,
        "files": files,
        "params": params.iter().map(|p| json!({"param": p.param, "file": p.file})).collect::<Vec<_>>(),
        "hidden": hidden.len(),
    }))
    .into_response())
}

/// `?from=&to=&target=&service=`
#[derive(Debug, Default, Deserialize)]
pub(crate) struct DiffQuery {
    from: Option<String>,
    to: Option<String>,
    target: Option<String>,
    service: Option<String>,
}

/// `GET /v1/diff`: the semantic diff of `strata diff --json`, limited to the (env,
/// service) pairs the principal may read; secrets redacted.
pub(crate) async fn diff(
    State(state): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<DiffQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let judge = reader(&state, &headers).await?;
    let head = judge.head().clone();
    let q = query(q)?;
    let Some(from) = q.from.filter(|f| !f.is_empty()) else {
        return Err(ApiError::bad_request("`from` is required (a revision)"));
    };
    let to =
        q.to.filter(|t| !t.is_empty())
            .unwrap_or_else(|| "HEAD".into());
    if let Some(t) = &q.target
        && !head
            .project
            .config
            .targets
            .iter()
            .any(|d| d.to_string() == *t)
    {
        return Err(
            ApiError::bad_request(format!("no declared target `{t}`")).with("target", t.clone())
        );
    }
    let (target, service) = (q.target, q.service);
    let (a, b, diffs) = state
        .with_repo("diff", move |repo| {
            let a = repo.resolve_rev(&from).map_err(|e| rev_error(&from, e))?;
            let b = repo.resolve_rev(&to).map_err(|e| rev_error(&to, e))?;
            let d = history::diff(repo, &a, &b, target.as_deref(), service.as_deref())
                .map_err(|e| ApiError::store(&e))?;
            Ok((a, b, d))
        })
        .await?;
    let (diffs, allowed) = judge
        .run(move |j| {
            let allowed: Vec<bool> = diffs
                .iter()
                .map(|d| {
                    let env = d.target.split('/').next().unwrap_or_default();
                    j.decide(Action::Read, env, &d.service, &[]).allowed
                })
                .collect();
            (diffs, allowed)
        })
        .await?;
    let mut hidden = 0;
    let mut shown = Vec::new();
    for (d, allowed) in diffs.into_iter().zip(allowed) {
        if !allowed {
            hidden += 1;
            continue;
        }
        let mut v = serde_json::to_value(&d)
            .map_err(|e| ApiError::internal(format!("cannot serialize: {e}")))?;
        redact_quoted(&mut v);
        shown.push(v);
    }
    Ok(axum::Json(json!({
        "from": revision_json(&a),
        "to": revision_json(&b),
        "diffs": shown,
        "hidden": hidden,
    }))
    .into_response())
}

/// Redacts encrypted values, also when they are rendered as quoted JSON text (the
/// `old`/`new` of a diff).
fn redact_quoted(v: &mut Value) {
    redact(v);
    match v {
        Value::String(s) => {
            if let Ok(mut inner @ Value::String(_)) = serde_json::from_str::<Value>(s) {
                let before = inner.clone();
                redact(&mut inner);
                if inner != before {
                    *s = "<redacted>".into();
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_quoted),
        Value::Object(map) => map.values_mut().for_each(redact_quoted),
        _ => {}
    }
}

/// `?since=&principal=&param=&action=&limit=`
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AuditQuery {
    since: Option<String>,
    principal: Option<String>,
    param: Option<String>,
    action: Option<String>,
    limit: Option<usize>,
}

/// `GET /v1/audit`: audit entries, newest first (admins only).
pub(crate) async fn audit(
    State(state): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    admin(&state, &headers).await?;
    let q = query(q)?;
    let mut filter = AuditFilter {
        principal: q.principal,
        param: q.param,
        action: q.action,
        newest_first: true,
        limit: Some(limit(q.limit)?),
        ..AuditFilter::default()
    };
    if let Some(since) = q.since.filter(|s| !s.is_empty()) {
        let bad = || {
            ApiError::bad_request(format!(
                "since `{since}`: write a duration (24h, 7d) or a sequence number (#120)"
            ))
            .with("since", since.clone())
        };
        if let Some(seq) = since.strip_prefix('#') {
            filter.after_seq = Some(seq.parse().map_err(|_| bad())?);
        } else {
            let secs = strata_core::access::parse_duration(&since).ok_or_else(bad)?;
            let ms = i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
            filter.since_ms = Some(crate::now_ms().saturating_sub(ms));
        }
    }
    let entries = state
        .with_repo("audit", move |repo| {
            repo.store()
                .audit_entries(&filter)
                .map_err(|e| ApiError::store(&e))
        })
        .await?;
    Ok(axum::Json(json!({ "entries": entries })).into_response())
}

/// `?pending=`
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RequestsQuery {
    pending: Option<bool>,
}

/// `GET /v1/requests`: change requests (only open ones with `pending=true`).
pub(crate) async fn requests(
    State(state): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<RequestsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    reader(&state, &headers).await?;
    let open_only = query(q)?.pending.unwrap_or(false);
    let list = state
        .with_repo("requests", move |repo| {
            repo.store()
                .request_list(open_only)
                .map_err(|e| ApiError::store(&e))
        })
        .await?;
    Ok(axum::Json(json!({ "requests": list })).into_response())
}

/// `GET /v1/requests/{id}`
pub(crate) async fn request(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    reader(&state, &headers).await?;
    let Path(id) = path.map_err(crate::routes::path_error)?;
    let key = id.clone();
    let found = state
        .with_repo("request", move |repo| {
            repo.store()
                .request_get(&key)
                .map_err(|e| ApiError::store(&e))
        })
        .await?;
    match found {
        Some(r) => Ok(axum::Json(json!({ "request": r })).into_response()),
        None => Err(ApiError::not_found(format!("no change request `{id}`")).with("id", id)),
    }
}
