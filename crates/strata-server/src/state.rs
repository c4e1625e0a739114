//! What the handlers share: the repository, the head snapshot (published by the follower,
//! see `follow.rs`), projects of past revisions asked for with `?rev=`, and the cache of
//! pre-serialized effective configurations (carried over from one head to the next where
//! the new revision cannot have changed them, see `invalidate.rs`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::StatusCode;
use strata_core::access::AccessPolicy;
use strata_core::resolve::{Project, ResolveOptions};
use strata_store::model::{Manifest, Revision, RevisionId};
use strata_store::repo::Repository;
use strata_store::tokens::TokenRow;
use tokio::sync::watch;

use crate::error::ApiError;
use crate::invalidate::{self, Affected, RefMemo};
use crate::metrics::Metrics;

/// How many past revisions' projects are kept in memory for `?rev=`.
const MAX_PAST: usize = 32;
/// How many token lookups are remembered before that memory starts over.
const MAX_TOKENS: usize = 10_000;
/// How many effective configurations are kept before the cache starts over.
const MAX_CACHED: usize = 100_000;
/// The longest long-poll wait when the request timeout is not known (the default 30 s
/// timeout less a margin).
const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(28);

/// The state shared by every handler (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    repo: Repository,
    head_refresh: Duration,
    /// The head as last read: every reader, watcher and `/readyz` looks here.
    head: watch::Sender<Head>,
    /// Serialises head refreshes (the follower's and first requests').
    refreshing: tokio::sync::Mutex<()>,
    /// What the last refresh learnt that the next one reuses.
    follow: Mutex<FollowMemo>,
    /// Whether the follower task was started.
    following: AtomicBool,
    /// Becomes `true` when the server starts shutting down (watch streams end).
    shutdown: watch::Sender<bool>,
    /// The longest long-poll wait, in milliseconds.
    max_wait_ms: AtomicU64,
    past: Mutex<HashMap<RevisionId, Arc<Snapshot>>>,
    cache: Mutex<Cache>,
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

/// The head as the server serves it.
#[derive(Clone)]
pub(crate) struct Head {
    /// The last fully loaded head revision, or why there is none to serve (not read yet,
    /// an empty store, a head whose access policy is invalid: reads fail closed).
    pub snap: Result<Arc<Snapshot>, ApiError>,
    /// Why the store did not answer the last time it was asked (`None`: it did).
    pub outage: Option<String>,
}

/// What consecutive head refreshes share: the last head's manifest and what its layer
/// files reference.
#[derive(Default)]
struct FollowMemo {
    manifest: Option<(RevisionId, Arc<Manifest>)>,
    refs: RefMemo,
}

/// A revision with its project and the access policy it holds.
pub(crate) struct Snapshot {
    pub rev: Revision,
    pub project: Project,
    /// The policy of this revision (requests are always judged by the head's).
    pub policy: AccessPolicy,
}

/// One (target, service) of a revision in the cache.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Unit {
    target: String,
    service: String,
}

/// The cached configurations, by revision: the head's, the previous head's, and those of
/// revisions read (`?rev=`) since the head last moved.
#[derive(Default)]
struct Cache {
    revs: HashMap<RevisionId, HashMap<Unit, Arc<Cached>>>,
    len: usize,
}

impl Cache {
    fn get(&self, rev: &RevisionId, unit: &Unit) -> Option<&Arc<Cached>> {
        self.revs.get(rev)?.get(unit)
    }

    fn insert(&mut self, rev: RevisionId, unit: Unit, cached: Arc<Cached>) {
        if self.len >= MAX_CACHED {
            self.revs.clear();
            self.len = 0;
        }
        if self
            .revs
            .entry(rev)
            .or_default()
            .insert(unit, cached)
            .is_none()
        {
            self.len += 1;
        }
    }

    /// Copies the entries of revision `from` to revision `to`, but those `affected` says
    /// may differ. The entries of `from` stay (requests in flight when the head moved may
    /// still read it); older revisions' are dropped. Returns (carried, dropped).
    fn carry(&mut self, from: RevisionId, to: RevisionId, affected: &Affected) -> (u64, u64) {
        let (kept, before): (Vec<(Unit, Arc<Cached>)>, usize) = match self.revs.get(&from) {
            Some(old) => (
                old.iter()
                    .filter(|(u, _)| !affected.contains(&u.target, &u.service))
                    .map(|(u, c)| (u.clone(), c.clone()))
                    .collect(),
                old.len(),
            ),
            None => (Vec::new(), 0),
        };
        let carried = kept.len();
        self.revs.retain(|rev, _| *rev == from || *rev == to);
        let into = self.revs.entry(to).or_default();
        for (unit, cached) in kept {
            into.entry(unit).or_insert(cached);
        }
        self.len = self.revs.values().map(HashMap::len).sum();
        (carried as u64, (before - carried) as u64)
    }
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
    ///
    /// The head is followed by a background task (started with the first request, or by
    /// [`crate::Server::bind`]) that publishes each new head once fully loaded.
    pub fn new(repo: Repository, head_refresh: Duration) -> AppState {
        let not_read = ApiError::store_unavailable("the store's head has not been read yet");
        AppState {
            inner: Arc::new(Inner {
                repo,
                head_refresh,
                head: watch::Sender::new(Head {
                    snap: Err(not_read),
                    outage: None,
                }),
                refreshing: tokio::sync::Mutex::new(()),
                follow: Mutex::new(FollowMemo::default()),
                following: AtomicBool::new(false),
                shutdown: watch::Sender::new(false),
                max_wait_ms: AtomicU64::new(DEFAULT_MAX_WAIT.as_millis() as u64),
                past: Mutex::new(HashMap::new()),
                cache: Mutex::new(Cache::default()),
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

    /// A state from its shared part (the follower holds it weakly).
    pub(crate) fn from_inner(inner: Arc<Inner>) -> AppState {
        AppState { inner }
    }

    /// The shared part, weakly (what the follower holds, so that it ends with the state).
    pub(crate) fn downgrade(&self) -> std::sync::Weak<Inner> {
        Arc::downgrade(&self.inner)
    }

    /// The repository.
    pub(crate) fn repo(&self) -> &Repository {
        &self.inner.repo
    }

    /// How often the head is re-read when no notification says it moved.
    pub(crate) fn head_refresh(&self) -> Duration {
        self.inner.head_refresh
    }

    /// Starts following the store's head (once; later calls do nothing).
    pub(crate) fn follow(&self) {
        if !self.inner.following.swap(true, Ordering::AcqRel) {
            crate::follow::start(self);
        }
    }

    /// The published head, to watch for changes.
    pub(crate) fn heads(&self) -> watch::Receiver<Head> {
        self.inner.head.subscribe()
    }

    /// The head as published now.
    pub(crate) fn head_now(&self) -> Head {
        self.inner.head.borrow().clone()
    }

    /// Tells watch streams (which then end), long polls (which answer at once) and the
    /// head follower that the server is shutting down. [`crate::Server::run`] does it when
    /// its shutdown future completes; call it before a graceful shutdown of a router built
    /// with [`crate::router`], which would otherwise wait for open streams.
    pub fn begin_shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    /// Becomes `true` when the server starts shutting down.
    pub(crate) fn shutting_down(&self) -> watch::Receiver<bool> {
        self.inner.shutdown.subscribe()
    }

    /// Limits long-poll waits to below the request timeout `timeout`.
    pub(crate) fn set_request_timeout(&self, timeout: Duration) {
        let margin = Duration::from_secs(2).min(timeout / 2);
        let max = timeout.saturating_sub(margin);
        self.inner
            .max_wait_ms
            .store(max.as_millis() as u64, Ordering::Relaxed);
    }

    /// The longest long-poll wait.
    pub(crate) fn max_wait(&self) -> Duration {
        Duration::from_millis(self.inner.max_wait_ms.load(Ordering::Relaxed))
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

    /// The head snapshot, as the follower last published it. Until one is published (the
    /// first requests, an empty store), the head is read now; an outage before any was
    /// read is 503. A head that cannot be served (an invalid access policy) is its error
    /// until the follower publishes another.
    pub(crate) async fn head(&self) -> Result<Arc<Snapshot>, ApiError> {
        match &self.inner.head.borrow().snap {
            Ok(snap) => return Ok(snap.clone()),
            Err(e)
                if e.status != StatusCode::SERVICE_UNAVAILABLE
                    && self.inner.following.load(Ordering::Acquire) =>
            {
                return Err(e.clone());
            }
            Err(_) => {}
        }
        self.follow();
        self.refresh().await
    }

    /// Reads the store's head and, when it moved, loads the new revision whole, carries
    /// the cache over and publishes it. Returns what reads are now served from: when the
    /// store does not answer, the last good head (or 503 without one).
    pub(crate) async fn refresh(&self) -> Result<Arc<Snapshot>, ApiError> {
        let _one_at_a_time = self.inner.refreshing.lock().await;
        let state = self.clone();
        blocking(move || Ok(state.refresh_blocking())).await?
    }

    fn refresh_blocking(&self) -> Result<Arc<Snapshot>, ApiError> {
        let inner = &self.inner;
        let last = inner.head.borrow().snap.clone();
        let started = Instant::now();
        let rev = inner.repo.store().head();
        inner.metrics.store_call("head", started.elapsed());
        let rev = match rev {
            Ok(Some(rev)) => rev,
            Ok(None) => {
                let empty = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "empty_store",
                    "the store holds no revision yet: run `strata import`",
                );
                // A head once served is never taken back.
                let snap = last.or(Err(empty));
                self.publish(snap.clone(), None);
                return snap;
            }
            Err(e) => {
                let down = ApiError::store(&e);
                let snap = match last {
                    Ok(snap) => Ok(snap),
                    Err(_) => Err(down.clone()),
                };
                self.publish(snap.clone(), Some(e.to_string()));
                return snap;
            }
        };
        if let Ok(snap) = &last
            && snap.rev.id == rev.id
        {
            self.publish(last.clone(), None);
            return last;
        }
        let started = Instant::now();
        let loaded = load(&inner.repo, rev);
        inner.metrics.store_call("project", started.elapsed());
        let snap = match loaded {
            Ok(snap) => Arc::new(snap),
            Err(e) if e.status == StatusCode::SERVICE_UNAVAILABLE => {
                // The store failed mid-load: keep serving what was whole.
                let snap = last.or(Err(e.clone()));
                self.publish(snap.clone(), Some(e.message));
                return snap;
            }
            Err(e) => {
                // E.g. an invalid access policy: reads fail closed.
                self.publish(Err(e.clone()), None);
                return Err(e);
            }
        };
        if let Ok(prev) = &last {
            let affected = self.affected(prev, &snap);
            let (carried, dropped) = lock(&inner.cache).carry(prev.rev.id, snap.rev.id, &affected);
            inner.metrics.carried(carried, dropped);
        }
        inner.metrics.head(snap.rev.seq);
        self.publish(Ok(snap.clone()), None);
        Ok(snap)
    }

    /// What moving from `prev` to `next` may change (everything when it cannot be told).
    fn affected(&self, prev: &Snapshot, next: &Snapshot) -> Affected {
        let repo = &self.inner.repo;
        let mut memo = lock(&self.inner.follow);
        let manifest = |rev: &Revision, memo: &FollowMemo| match &memo.manifest {
            Some((id, m)) if *id == rev.id => Ok(m.clone()),
            _ => repo.manifest(rev).map(Arc::new),
        };
        let old = manifest(&prev.rev, &memo);
        let new = repo.manifest(&next.rev).map(Arc::new);
        let (old, new) = match (old, new) {
            (Ok(old), Ok(new)) => (old, new),
            (Err(e), _) | (_, Err(e)) => return Affected::All(e.to_string()),
        };
        memo.manifest = Some((next.rev.id, new.clone()));
        let started = Instant::now();
        let found = invalidate::affected(
            &old,
            &new,
            &next.project.config,
            &mut memo.refs,
            &mut |hashes| repo.store().blobs(hashes),
        );
        self.inner
            .metrics
            .store_call("invalidate", started.elapsed());
        found.unwrap_or_else(|e| Affected::All(e.to_string()))
    }

    /// Publishes the head (watchers are woken only when something changed).
    fn publish(&self, snap: Result<Arc<Snapshot>, ApiError>, outage: Option<String>) {
        self.inner.head.send_if_modified(|head| {
            let same_snap = match (&head.snap, &snap) {
                (Ok(a), Ok(b)) => Arc::ptr_eq(a, b),
                (Err(a), Err(b)) => a.code == b.code && a.message == b.message,
                _ => false,
            };
            if same_snap && head.outage == outage {
                return false;
            }
            head.snap = snap;
            head.outage = outage;
            true
        });
    }

    /// The stored row of the token whose hash is `hash`. The store is asked at most every
    /// `head_refresh` per token (a revocation takes effect within that time); when it
    /// cannot be read (or is known to be down), the last answer it gave is used, so reads
    /// go on from memory.
    pub(crate) async fn token(&self, hash: String) -> Result<Option<TokenRow>, ApiError> {
        let last = lock(&self.inner.tokens).get(&hash).cloned();
        if let Some((at, row)) = &last
            && (at.elapsed() < self.inner.head_refresh || self.inner.head.borrow().outage.is_some())
        {
            // Fresh enough, or the store is known to be down (the follower watches it):
            // do not wait for it.
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
        let rev = snap.rev.id;
        let key = Unit { target, service };
        if let Some(hit) = lock(&self.inner.cache).get(&rev, &key) {
            self.inner.metrics.cache(true);
            return Ok(hit.clone());
        }
        self.inner.metrics.cache(false);
        let state = self.clone();
        blocking(move || {
            let eff = snap
                .project
                .resolve(&key.service, &key.target, ResolveOptions::default())
                .map_err(|e| match e {
                    // The store did not answer a read: an outage, not a bad configuration.
                    strata_core::resolve::ResolveError::Source(s) => ApiError::store_unavailable(
                        format!("cannot read {}: {}", s.path, s.message),
                    ),
                    e => ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "unresolvable",
                        e.to_string(),
                    ),
                })?;
            let mut value = eff.root.value.to_json();
            redact(&mut value);
            let bytes = serde_json::to_vec(&value)
                .map_err(|e| ApiError::internal(format!("cannot serialize: {e}")))?;
            let cached = Arc::new(Cached {
                value,
                bytes: Bytes::from(bytes),
            });
            lock(&state.inner.cache).insert(rev, key, cached.clone());
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
