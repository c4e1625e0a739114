//! What the handlers share: the repository, the head snapshot (re-read at most every
//! `head_refresh`), projects of past revisions asked for with `?rev=`, and the cache of
//! pre-serialized effective configurations.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::StatusCode;
use strata_core::access::AccessPolicy;
use strata_core::resolve::{Project, ResolveOptions};
use strata_store::model::{Revision, RevisionId};
use strata_store::repo::Repository;
use strata_store::tokens::TokenRow;

use crate::error::ApiError;
use crate::metrics::Metrics;

/// How many past revisions' projects are kept in memory for `?rev=`.
const MAX_PAST: usize = 32;
/// How many token lookups are remembered before that memory starts over.
const MAX_TOKENS: usize = 10_000;
/// How many effective configurations are kept before the cache starts over.
const MAX_CACHED: usize = 100_000;

/// The state shared by every handler (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    repo: Repository,
    head_refresh: Duration,
    head: Mutex<Option<(Instant, Arc<Snapshot>)>>,
    past: Mutex<HashMap<RevisionId, Arc<Snapshot>>>,
    cache: Mutex<HashMap<CacheKey, Arc<Cached>>>,
    /// Token hash → its row and when the store last said so.
    tokens: Mutex<HashMap<String, (Instant, TokenRow)>>,
    metrics: Metrics,
    /// The head's identity section (JWT verification, webhook) and its caches.
    auth: crate::auth::AuthCache,
    /// The age identities that decrypt secrets for `?reveal=true` (set once, if ever).
    identities: std::sync::OnceLock<strata_store::crypto::Identities>,
    /// Drift reports per (revision, query).
    drift: crate::drift::DriftCache,
}

/// A revision with its project and the access policy it holds.
pub(crate) struct Snapshot {
    pub rev: Revision,
    pub project: Project,
    /// The policy of this revision (requests are always judged by the head's).
    pub policy: AccessPolicy,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    rev: RevisionId,
    target: String,
    service: String,
}

/// One effective configuration, secrets redacted, as JSON and as response bytes.
pub(crate) struct Cached {
    pub value: serde_json::Value,
    pub bytes: Bytes,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere never leaves these maps half-written: keep going.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs blocking store work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("task failed: {e}")))?
}

impl AppState {
    /// Serves `repo`, re-reading its head at most every `head_refresh`.
    pub fn new(repo: Repository, head_refresh: Duration) -> AppState {
        AppState {
            inner: Arc::new(Inner {
                repo,
                head_refresh,
                head: Mutex::new(None),
                past: Mutex::new(HashMap::new()),
                cache: Mutex::new(HashMap::new()),
                tokens: Mutex::new(HashMap::new()),
                metrics: Metrics::default(),
                auth: crate::auth::AuthCache::default(),
                identities: std::sync::OnceLock::new(),
                drift: crate::drift::DriftCache::default(),
            }),
        }
    }

    /// Gives the server the age identities that decrypt secrets for `?reveal=true`
    /// (without them, reveals answer 501). Only the first call counts.
    pub fn set_identities(&self, ids: strata_store::crypto::Identities) {
        let _ = self.inner.identities.set(ids);
    }

    /// The age identities for `?reveal=true`, when the server has them.
    pub(crate) fn identities(&self) -> Option<&strata_store::crypto::Identities> {
        self.inner.identities.get()
    }

    /// The server's metrics.
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The identity setup of the head (JWT verification, the webhook).
    pub(crate) fn auth(&self) -> &crate::auth::AuthCache {
        &self.inner.auth
    }

    /// The cache of drift reports.
    pub(crate) fn drift_cache(&self) -> &crate::drift::DriftCache {
        &self.inner.drift
    }

    /// Runs `f` on the repository in a blocking task, timed as the store call `op`.
    pub(crate) async fn with_repo<T: Send + 'static>(
        &self,
        op: &'static str,
        f: impl FnOnce(&Repository) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let state = self.clone();
        blocking(move || {
            let started = Instant::now();
            let answer = f(&state.inner.repo);
            state.inner.metrics.store_call(op, started.elapsed());
            answer
        })
        .await
    }

    /// The head snapshot. When the store cannot be read, the last good one is served (the
    /// store is tried again on the next request); without one, 503.
    pub(crate) async fn head(&self) -> Result<Arc<Snapshot>, ApiError> {
        let last = lock(&self.inner.head).clone();
        if let Some((at, snap)) = &last
            && at.elapsed() < self.inner.head_refresh
        {
            return Ok(snap.clone());
        }
        let state = self.clone();
        let fresh = blocking(move || {
            let repo = &state.inner.repo;
            let started = Instant::now();
            let rev = repo.head();
            state.inner.metrics.store_call("head", started.elapsed());
            let rev = rev.map_err(|e| match e {
                strata_store::StoreError::Empty => ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "empty_store",
                    "the store holds no revision yet: run `strata import`",
                ),
                e => ApiError::store(&e),
            })?;
            match last {
                Some((_, snap)) if snap.rev.id == rev.id => Ok(snap),
                _ => {
                    let started = Instant::now();
                    let snap = load(repo, rev);
                    state.inner.metrics.store_call("project", started.elapsed());
                    Ok(Arc::new(snap?))
                }
            }
        })
        .await;
        let mut slot = lock(&self.inner.head);
        match fresh {
            Ok(snap) => {
                self.inner.metrics.head(snap.rev.seq);
                *slot = Some((Instant::now(), snap.clone()));
                Ok(snap)
            }
            Err(e) if e.status == StatusCode::SERVICE_UNAVAILABLE => match &*slot {
                Some((_, snap)) => Ok(snap.clone()),
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// The stored row of the token whose hash is `hash`. The store is asked at most every
    /// `head_refresh` per token (a revocation takes effect within that time); when it
    /// cannot be read, the last answer it gave is used, so reads go on from memory.
    pub(crate) async fn token(&self, hash: String) -> Result<Option<TokenRow>, ApiError> {
        let last = lock(&self.inner.tokens).get(&hash).cloned();
        if let Some((at, row)) = &last
            && at.elapsed() < self.inner.head_refresh
        {
            return Ok(Some(row.clone()));
        }
        let state = self.clone();
        let key = hash.clone();
        let fresh = blocking(move || {
            let started = Instant::now();
            let row = state.inner.repo.store().token_by_hash(&key);
            state.inner.metrics.store_call("token", started.elapsed());
            row.map_err(|e| ApiError::store(&e))
        })
        .await;
        let mut tokens = lock(&self.inner.tokens);
        match fresh {
            Ok(Some(row)) => {
                if tokens.len() >= MAX_TOKENS {
                    tokens.clear();
                }
                tokens.insert(hash, (Instant::now(), row.clone()));
                Ok(Some(row))
            }
            Ok(None) => {
                tokens.remove(&hash);
                Ok(None)
            }
            Err(e) => match last {
                Some((_, row)) if e.status == StatusCode::SERVICE_UNAVAILABLE => Ok(Some(row)),
                _ => Err(e),
            },
        }
    }

    /// The snapshot of revision `spec` (an id, prefix or tag).
    pub(crate) async fn revision(&self, spec: String) -> Result<Arc<Snapshot>, ApiError> {
        let state = self.clone();
        blocking(move || {
            let repo = &state.inner.repo;
            let started = Instant::now();
            let rev = repo.resolve_rev(&spec);
            state
                .inner
                .metrics
                .store_call("resolve_rev", started.elapsed());
            let rev = rev.map_err(|e| match e {
                e @ (strata_store::StoreError::UnknownRevision { .. }
                | strata_store::StoreError::Empty) => {
                    ApiError::not_found(e.to_string()).with("rev", spec.clone())
                }
                e => ApiError::store(&e),
            })?;
            if let Some(snap) = lock(&state.inner.past).get(&rev.id) {
                return Ok(snap.clone());
            }
            let started = Instant::now();
            let snap = load(repo, rev);
            state.inner.metrics.store_call("project", started.elapsed());
            let snap = Arc::new(snap?);
            let mut past = lock(&state.inner.past);
            if past.len() >= MAX_PAST {
                past.clear();
            }
            past.insert(snap.rev.id, snap.clone());
            Ok(snap)
        })
        .await
    }

    /// The effective configuration of `service` for `target` at `snap`, from the cache or
    /// resolved now.
    pub(crate) async fn effective(
        &self,
        snap: Arc<Snapshot>,
        target: String,
        service: String,
    ) -> Result<Arc<Cached>, ApiError> {
        let key = CacheKey {
            rev: snap.rev.id,
            target,
            service,
        };
        if let Some(hit) = lock(&self.inner.cache).get(&key) {
            self.inner.metrics.cache(true);
            return Ok(hit.clone());
        }
        self.inner.metrics.cache(false);
        let state = self.clone();
        blocking(move || {
            let eff = snap
                .project
                .resolve(&key.service, &key.target, ResolveOptions::default())
                .map_err(|e| {
                    ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "unresolvable",
                        e.to_string(),
                    )
                })?;
            let mut value = eff.root.value.to_json();
            redact(&mut value);
            let bytes = serde_json::to_vec(&value)
                .map_err(|e| ApiError::internal(format!("cannot serialize: {e}")))?;
            let cached = Arc::new(Cached {
                value,
                bytes: Bytes::from(bytes),
            });
            let mut cache = lock(&state.inner.cache);
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
            cache.insert(key, cached.clone());
            Ok(cached)
        })
        .await
    }
}

/// Reads a revision's project and policy.
fn load(repo: &Repository, rev: Revision) -> Result<Snapshot, ApiError> {
    let project = repo.project(&rev).map_err(|e| ApiError::store(&e))?;
    let bytes = project
        .source()
        .read(AccessPolicy::PATH)
        .map_err(|e| ApiError::internal(format!("cannot read {}: {}", e.path, e.message)))?;
    let policy = AccessPolicy::load(bytes.as_deref(), Some(&project.config)).map_err(|e| {
        ApiError::internal(format!(
            "the access policy of revision {} is invalid: {}",
            rev.id.short(),
            e.diagnostic
        ))
    })?;
    Ok(Snapshot {
        rev,
        project,
        policy,
    })
}

/// Whether `s` is an encrypted value: a Strata ciphertext, or any other `ENC[…]` form
/// (SOPS-style values imported from git).
fn is_encrypted(s: &str) -> bool {
    strata_store::crypto::is_ciphertext(s) || (s.starts_with("ENC[") && s.ends_with(']'))
}

/// Replaces every encrypted value (secret) in `value` with `"<redacted>"`.
pub(crate) fn redact(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) if is_encrypted(s) => {
            *s = "<redacted>".to_string();
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact),
        serde_json::Value::Object(map) => map.values_mut().for_each(redact),
        _ => {}
    }
}
