//! `?reveal=true` on configuration reads: secrets decrypted for a principal allowed to
//! `read-secret` each of them (as `strata resolve --rev … --reveal` decides).
//!
//! A revealed answer is resolved afresh, never taken from or put into the shared cache of
//! redacted configurations, and carries `Cache-Control: no-store` and no ETag. Every
//! Strata ciphertext shown needs `read-secret` by the head's policy (the first refusal is
//! 403, audited); the read is recorded in the audit log (parameter names only) before
//! any value leaves the server, and if it cannot be recorded nothing is shown. Encrypted
//! values Strata cannot decrypt (SOPS-style `ENC[AGE,…]` imported from git) stay
//! `"<redacted>"`. Without age identities (`strata serve --identity`) a reveal that
//! would show a secret answers 501.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::json;
use strata_core::access::Action;
use strata_core::path::{ParamPath, Segment, segments_to_string};
use strata_core::resolve::ResolveOptions;
use strata_store::audit::NewAuditEntry;
use strata_store::reveal::{ciphertext_paths, reveal_tree};

use crate::AppState;
use crate::auth::Judge;
use crate::error::ApiError;
use crate::state::{Snapshot, redact};

/// A configuration read asked with `?reveal=true`, after the `read` decision.
pub(crate) struct Reveal {
    /// Who reads, judged by the head's policy (and the webhook).
    pub judge: Arc<Judge>,
    /// The revision read (the head or `?rev=`).
    pub snap: Arc<Snapshot>,
    /// `ENV/PROVIDER/REGION`.
    pub target: String,
    /// The service.
    pub service: String,
    /// The parameter read (empty: the whole configuration).
    pub segments: Vec<Segment>,
    /// Whether the one-parameter form was asked (`{service, target, revision, path,
    /// value}`).
    pub one: bool,
}

/// Answers a reveal: decide `read-secret` on every secret shown, audit, decrypt.
pub(crate) async fn answer(state: &AppState, r: Reveal) -> Result<Response, ApiError> {
    let env = r.target.split('/').next().unwrap_or_default().to_string();
    let (snap, target, service, segments) = (
        r.snap.clone(),
        r.target.clone(),
        r.service.clone(),
        r.segments.clone(),
    );
    let node = crate::state::blocking(move || {
        let eff = snap
            .project
            .resolve(&service, &target, ResolveOptions::default())
            .map_err(|e| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "unresolvable",
                    e.to_string(),
                )
            })?;
        if segments.is_empty() {
            return Ok(eff.root);
        }
        eff.get(&segments).cloned().ok_or_else(|| {
            ApiError::not_found(format!(
                "{service}:{} is not set for {target}",
                segments_to_string(&segments)
            ))
        })
    })
    .await?;
    let mut node = node;
    let secrets: Vec<ParamPath> = ciphertext_paths(&node)
        .into_iter()
        .map(|rest| ParamPath {
            service: r.service.clone(),
            segments: r.segments.iter().cloned().chain(rest).collect(),
        })
        .collect();
    let (asked, e) = (secrets.clone(), env.clone());
    let refused = r
        .judge
        .run(move |j| {
            asked.into_iter().find_map(|param| {
                let v = j.decide(Action::ReadSecret, &e, &param.service, &param.segments);
                (!v.allowed).then_some((param, v))
            })
        })
        .await?;
    if let Some((param, verdict)) = refused {
        return Err(r
            .judge
            .deny(state, "read-secret", &env, &param.to_string(), &verdict)
            .await);
    }
    if !secrets.is_empty() {
        let Some(ids) = state.identities().cloned() else {
            return Err(ApiError::new(
                StatusCode::NOT_IMPLEMENTED,
                "reveal_unavailable",
                "this server holds no age identity to decrypt secrets: start it with `strata serve --identity FILE` (or STRATA_AGE_IDENTITY)",
            ));
        };
        let mut e = NewAuditEntry::new(
            crate::now_ms(),
            &r.judge.caller.principal,
            "read-secret",
            &env,
        );
        e.params = secrets.iter().map(ToString::to_string).collect();
        e.revision = Some(r.snap.rev.id.to_string());
        state
            .with_repo("audit_append", move |repo| {
                repo.store()
                    .audit_append(&[e])
                    .map_err(|e| ApiError::store(&e))
            })
            .await?;
        reveal_tree(&r.service, &r.segments, &mut node, &ids)
            .map_err(|e| ApiError::internal(e.to_string()))?;
    }
    let mut value = node.value.to_json();
    redact(&mut value);
    let body = if r.one {
        json!({
            "service": r.service,
            "target": r.target,
            "revision": r.snap.rev.id.0.to_hex(),
            "path": segments_to_string(&r.segments),
            "value": value,
        })
    } else {
        value
    };
    let mut res = Response::new(Body::from(body.to_string()));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&r.target) {
        h.insert("strata-target", v);
    }
    if let Ok(v) = HeaderValue::from_str(&r.snap.rev.id.0.to_hex()) {
        h.insert("strata-revision", v);
    }
    Ok(res)
}
