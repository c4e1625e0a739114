//! Routes and handlers: health, readiness and configuration reads.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use strata_core::access::Action;
use strata_core::path::{Segment, segments_to_string};
use strata_store::audit::{Decision as Logged, NewAuditEntry};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::api;
use crate::auth::Judge;
pub(crate) use crate::auth::authenticate;
use crate::error::{ApiError, code_of};
use crate::state::{AppState, Cached, Snapshot};

/// The routes over `state` (without the body-size and timeout limits [`crate::Server`]
/// adds; every error still answers the JSON error body).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(api::metrics))
        .route("/openapi.json", get(api::openapi))
        .route("/v1/config/{env}/{service}", get(config))
        .route("/v1/config/{env}/{service}/{*path}", get(param))
        .route("/v1/revisions", get(api::revisions))
        .route("/v1/revisions/{id}", get(api::revision))
        .route("/v1/diff", get(api::diff))
        .route("/v1/audit", get(api::audit))
        .route("/v1/requests", get(api::requests))
        .route("/v1/requests/{id}", get(api::request))
        .route("/v1/changes", post(crate::changes::post_changes))
        .route("/v1/validate", post(crate::changes::post_validate))
        .route(
            "/v1/requests/{id}/approve",
            post(crate::request_actions::approve),
        )
        .route(
            "/v1/requests/{id}/reject",
            post(crate::request_actions::reject),
        )
        .route(
            "/v1/tokens",
            get(crate::tokens_api::list).post(crate::tokens_api::create),
        )
        .route(
            "/v1/tokens/{id}",
            axum::routing::delete(crate::tokens_api::revoke),
        )
        .route("/v1/drift", get(crate::drift::drift))
        .route("/v1/actual/{env}/{service}", crate::drift::actual())
        .route("/v1/watch/{env}/{service}", get(crate::watch::watch))
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        .with_state(state)
        .layer(axum::middleware::map_response(json_errors))
}

/// Adds the request body limit and the request timeout (outside the JSON error mapping, so
/// their 413 and 408 answers get JSON bodies too).
pub(crate) fn with_limits(app: Router, body_limit: usize, timeout: Duration) -> Router {
    app.layer(RequestBodyLimitLayer::new(body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(axum::middleware::map_response(json_errors))
}

/// Gives every error response without a JSON body (the router's 405, the limits' 413 and
/// 408, …) the JSON error body.
async fn json_errors(res: Response) -> Response {
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return res;
    }
    let (mut parts, _) = res.into_parts();
    let message = status.canonical_reason().unwrap_or("error").to_string();
    let body = ApiError::new(status, code_of(status), message).body();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body.to_string()))
}

async fn healthz() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

/// Ready when the store answered the follower's last read of the head; degraded (503)
/// while it does not (reads are then served from memory, writes refused).
async fn readyz(State(state): State<AppState>) -> Response {
    let mut head = state.head_now();
    if head.snap.is_err() && head.outage.is_none() {
        // Nothing read yet (or an empty store): ask now.
        state.follow();
        let _ = state.refresh().await;
        head = state.head_now();
    }
    // The seq of the revision served: lets operators (and tests) see that servers agree.
    let seq = head.snap.as_ref().ok().map(|s| s.rev.seq);
    match head.outage {
        None => axum::Json(json!({"status": "ok", "seq": seq})).into_response(),
        Some(reason) => {
            let mut res = (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({"status": "degraded", "reason": reason, "seq": seq})),
            )
                .into_response();
            res.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(crate::error::STORE_RETRY_AFTER_SECS),
            );
            res
        }
    }
}

/// `?provider=&region=&rev=&reveal=`
#[derive(Debug, Default, Clone, Deserialize)]
pub(crate) struct ConfigQuery {
    pub(crate) provider: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) rev: Option<String>,
    /// Decrypt secrets (see `reveal.rs`).
    pub(crate) reveal: Option<bool>,
}

/// What a configuration read has established before answering.
pub(crate) struct Read {
    pub(crate) snap: Arc<Snapshot>,
    pub(crate) target: String,
    pub(crate) cached: Arc<Cached>,
    pub(crate) etag: String,
    pub(crate) not_modified: bool,
    /// `?reveal=true`, with the judge of who asked.
    pub(crate) reveal: Option<Arc<Judge>>,
}

impl Read {
    /// The revealed answer of this read (see `reveal.rs`).
    async fn reveal(
        self,
        state: &AppState,
        service: String,
        segments: Vec<Segment>,
        one: bool,
    ) -> Result<Response, ApiError> {
        let Some(judge) = self.reveal else {
            return Err(ApiError::internal("not a reveal"));
        };
        let r = crate::reveal::Reveal {
            judge,
            snap: self.snap,
            target: self.target,
            service,
            segments,
            one,
        };
        crate::reveal::answer(state, r).await
    }
}

async fn config(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<ConfigQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path((env, service)) = path.map_err(path_error)?;
    let read = prepare(&state, &headers, &env, &service, &[], query).await?;
    if read.reveal.is_some() {
        return read.reveal(&state, service, Vec::new(), false).await;
    }
    if read.not_modified {
        return Ok(not_modified(&read.etag));
    }
    Ok(json_bytes(read.cached.bytes.clone(), &read.etag, &read))
}

async fn param(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<(String, String, String)>, PathRejection>,
    query: Result<Query<ConfigQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path((env, service, raw)) = path.map_err(path_error)?;
    let segments = parse_param(&raw)?;
    let read = prepare(&state, &headers, &env, &service, &segments, query).await?;
    let name = segments_to_string(&segments);
    let Some(value) = lookup(&read.cached.value, &segments) else {
        return Err(ApiError::not_found(format!(
            "{service}:{name} is not set for {}",
            read.target
        ))
        .with("service", service)
        .with("param", name)
        .with("target", read.target));
    };
    if read.reveal.is_some() {
        return read.reveal(&state, service, segments, true).await;
    }
    if read.not_modified {
        return Ok(not_modified(&read.etag));
    }
    let body = json!({
        "service": service,
        "target": read.target,
        "revision": read.snap.rev.id.0.to_hex(),
        "path": name,
        "value": value,
    });
    Ok(json_bytes(body.to_string().into(), &read.etag, &read))
}

/// Authenticates, picks the revision and target, decides `read`, and fetches the
/// configuration.
pub(crate) async fn prepare(
    state: &AppState,
    headers: &HeaderMap,
    env: &str,
    service: &str,
    segments: &[Segment],
    query: Result<Query<ConfigQuery>, QueryRejection>,
) -> Result<Read, ApiError> {
    let caller = authenticate(state, headers).await?;
    let Query(query) =
        query.map_err(|e| ApiError::bad_request(format!("bad query string: {}", e.body_text())))?;
    let head = state.head().await?;
    let snap = match query.rev {
        Some(spec) if !spec.is_empty() => state.revision(spec).await?,
        _ => head.clone(),
    };
    let config = &snap.project.config;
    if !config.services.contains_key(service) {
        return Err(ApiError::not_found(format!("no service `{service}`"))
            .with("service", service)
            .with("known", config.services.keys().cloned().collect::<Vec<_>>()));
    }
    let target = choose_target(
        config,
        env,
        query.provider.as_deref(),
        query.region.as_deref(),
    )?;
    let judge = Judge::new(state, caller, head.clone())?;
    let (e, s, p) = (env.to_string(), service.to_string(), segments.to_vec());
    let verdict = judge
        .run(move |j| j.decide(Action::Read, &e, &s, &p))
        .await?;
    if !verdict.allowed {
        let param = format!("{service}:{}", segments_to_string(segments));
        return Err(judge.deny(state, "read", env, &param, &verdict).await);
    }
    let etag = format!("\"{}-{}\"", snap.rev.id.0.to_hex(), target);
    let not_modified = matches(headers, &etag);
    let cached = state
        .effective(snap.clone(), target.clone(), service.to_string())
        .await?;
    let reveal = (query.reveal == Some(true)).then_some(judge);
    Ok(Read {
        snap,
        target,
        cached,
        etag,
        not_modified,
        reveal,
    })
}

/// The declared target of `env` narrowed by `provider` and `region` (as
/// `ENV/PROVIDER/REGION`): 404 with the known targets when none matches, 400 with the
/// candidates when several do.
pub(crate) fn choose_target(
    config: &strata_core::project::ProjectConfig,
    env: &str,
    provider: Option<&str>,
    region: Option<&str>,
) -> Result<String, ApiError> {
    let candidates: Vec<String> = config
        .targets
        .iter()
        .filter(|t| t.env == env)
        .filter(|t| provider.is_none_or(|p| t.provider == p))
        .filter(|t| region.is_none_or(|r| t.region == r))
        .map(ToString::to_string)
        .collect();
    match candidates.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(ApiError::not_found(format!(
            "no declared target matches env `{env}`{}{}",
            provider
                .map(|p| format!(", provider `{p}`"))
                .unwrap_or_default(),
            region
                .map(|r| format!(", region `{r}`"))
                .unwrap_or_default(),
        ))
        .with("env", env)
        .with(
            "known",
            config
                .targets
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
        )),
        _ => Err(ApiError::bad_request(format!(
            "env `{env}` has {} targets: choose one with ?provider= and ?region=",
            candidates.len()
        ))
        .with("candidates", candidates)),
    }
}

/// Records a denied `action` on `param` in `env` and returns the 403 to answer (still 403
/// if recording fails).
pub(crate) async fn deny(
    state: &AppState,
    principal: &str,
    action: &str,
    env: &str,
    param: &str,
    rule: String,
) -> ApiError {
    let mut e = NewAuditEntry::new(crate::now_ms(), principal, action, env);
    e.decision = Logged::Denied;
    e.params = vec![param.to_string()];
    e.rule = Some(rule.clone());
    let recorded = state
        .with_repo("audit_append", move |repo| {
            repo.store()
                .audit_append(&[e])
                .map_err(|e| ApiError::store(&e))
        })
        .await;
    let mut message = format!("{principal} may not {action} {param} in {env}: {rule}");
    if let Err(err) = recorded {
        message.push_str(&format!(
            " (and the attempt could not be audited: {})",
            err.message
        ));
    }
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
        .with("rule", rule)
        .with("principal", principal)
}

/// `db.pool.max_size` or `db/pool/max_size` as segments.
fn parse_param(raw: &str) -> Result<Vec<Segment>, ApiError> {
    let dotted = raw.trim_matches('/').replace('/', ".");
    strata_core::path::parse_segments(&dotted).map_err(|e| {
        ApiError::bad_request(format!("bad parameter path `{raw}`: {e}")).with("path", raw)
    })
}

/// The value at `segments` in `value`.
fn lookup<'v>(value: &'v Value, segments: &[Segment]) -> Option<&'v Value> {
    segments.iter().try_fold(value, |v, s| match s {
        Segment::Key(k) => v.as_object()?.get(&**k),
        Segment::Index(i) => v.as_array()?.get(*i),
    })
}

/// Whether `If-None-Match` names `etag` (or `*`).
fn matches(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
}

fn etag_value(etag: &str) -> HeaderValue {
    // Revision ids are hex and targets are validated names: always a valid header.
    HeaderValue::from_str(etag).unwrap_or_else(|_| HeaderValue::from_static("\"\""))
}

pub(crate) fn not_modified(etag: &str) -> Response {
    let mut res = StatusCode::NOT_MODIFIED.into_response();
    res.headers_mut().insert(header::ETAG, etag_value(etag));
    res
}

pub(crate) fn json_bytes(bytes: axum::body::Bytes, etag: &str, read: &Read) -> Response {
    let mut res = Response::new(Body::from(bytes));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::ETAG, etag_value(etag));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&read.target) {
        h.insert("strata-target", v);
    }
    if let Ok(v) = HeaderValue::from_str(&read.snap.rev.id.0.to_hex()) {
        h.insert("strata-revision", v);
    }
    res
}

pub(crate) fn path_error(e: PathRejection) -> ApiError {
    ApiError::bad_request(format!("bad path: {}", e.body_text()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_lists_and_weak_tags() {
        let mut h = HeaderMap::new();
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"a\", W/\"b-c\""),
        );
        assert!(matches(&h, "\"b-c\""));
        assert!(!matches(&h, "\"c\""));
    }

    #[test]
    fn param_paths_take_dots_or_slashes() {
        let a = parse_param("db/pool/max_size").ok();
        let b = parse_param("db.pool.max_size").ok();
        assert!(a.is_some());
        assert_eq!(a, b);
        let v = json!({"db": {"pool": {"max_size": 5}}, "l": [1, 2]});
        assert_eq!(lookup(&v, &a.unwrap_or_default()), Some(&json!(5)));
        assert_eq!(
            lookup(&v, &parse_param("l[1]").unwrap_or_default()),
            Some(&json!(2))
        );
    }
}
