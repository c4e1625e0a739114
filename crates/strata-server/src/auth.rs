//! Who is calling and what they may do.
//!
//! **Authentication** ([`authenticate`]): a bearer value starting `strata_` is an API token,
//! looked up in the store (see `AppState::token`); anything else is verified as a JWT with
//! the `identity.jwt` section of the head's `policies/access.yaml` (issuer, audience,
//! `exp`/`nbf`, the signature; the roles claim mapped to Strata roles by `role_map`).
//! Verified JWTs are remembered by a BLAKE3 hash of the token until their `exp` (plus the
//! configured leeway, as [`strata_auth::jwt`] checks it), at most [`MAX_JWTS`] of them.
//!
//! **Authorization** ([`Judge`]): every decision is the head policy's, with the caller's
//! roles from their JWT added to the roles the policy gives the principal; when the policy
//! allows and `identity.webhook` is configured, the webhook is asked too (fail closed
//! unless it says `fail_open`). Webhook calls are blocking HTTP requests: they run on
//! Tokio's blocking threads, never on the async ones. Definite answers (allow or deny) are
//! remembered for [`DECISION_TTL`], at most [`MAX_DECISIONS`] of them; failures are not
//! remembered, but within one request the first failure answers the rest of its
//! decisions, so a dead webhook costs a request one timeout, not one per decision.
//!
//! The identity section is parsed once per head revision and kept while it stays the same,
//! with its caches; a new section starts new caches (a rotated key takes effect at once).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use serde_json::Value;
use strata_auth::identity::IdentityConfig;
use strata_auth::jwt::{self, Verifier};
use strata_auth::webhook::{AuthzInput, AuthzWebhook, Decision as Hook, WebhookFailure};
use strata_core::access::{AccessPolicy, Action, Request};
use strata_core::path::{Segment, segments_to_string};
use strata_store::model::RevisionId;

use crate::error::ApiError;
use crate::state::{AppState, Snapshot};

/// How many verified JWTs are remembered.
pub const MAX_JWTS: usize = 10_000;
/// How many webhook answers are remembered.
pub const MAX_DECISIONS: usize = 10_000;
/// How long a webhook answer is remembered.
pub const DECISION_TTL: Duration = Duration::from_secs(5);

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    /// A Strata API token.
    Token,
    /// A JWT of the configured identity provider.
    Jwt,
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// The principal name.
    pub principal: String,
    /// Roles granted by the JWT's claims (empty for API tokens); added to the roles the
    /// policy gives the principal in every decision.
    pub roles: Vec<String>,
    /// How they authenticated.
    pub via: Via,
}

/// The usable form of a policy's `identity:` section, with the caches that depend on it.
pub(crate) struct Identity {
    verifier: Option<Verifier>,
    webhook: Option<AuthzWebhook>,
    /// BLAKE3 of a token → who it says the caller is.
    jwts: Mutex<HashMap<[u8; 32], jwt::Identity>>,
    /// A question to the webhook → its answer and when it was given.
    answers: Mutex<HashMap<String, (Instant, bool)>>,
}

/// The identity setup of the head, per revision (see the module documentation).
#[derive(Default)]
pub(crate) struct AuthCache {
    current: Mutex<Option<Current>>,
}

struct Current {
    rev: RevisionId,
    section: Value,
    identity: Result<Arc<Identity>, ApiError>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn now_secs() -> u64 {
    u64::try_from(crate::now_ms() / 1000).unwrap_or(0)
}

impl AuthCache {
    /// The identity setup of `head`'s policy (500 when its `identity:` section is
    /// unusable: requests fail closed, as with an invalid policy).
    pub(crate) fn identity(&self, head: &Snapshot) -> Result<Arc<Identity>, ApiError> {
        let mut current = lock(&self.current);
        if let Some(c) = current.as_ref()
            && c.rev == head.rev.id
        {
            return c.identity.clone();
        }
        let section = head
            .policy
            .identity
            .as_ref()
            .map_or(Value::Null, |n| n.value.to_json());
        if let Some(c) = current.as_mut()
            && c.section == section
        {
            c.rev = head.rev.id;
            return c.identity.clone();
        }
        let identity = Identity::from_policy(&head.policy).map(Arc::new);
        *current = Some(Current {
            rev: head.rev.id,
            section,
            identity: identity.clone(),
        });
        identity
    }
}

impl Identity {
    /// Reads `policy`'s `identity:` section (an absent section: API tokens only, no
    /// webhook).
    fn from_policy(policy: &AccessPolicy) -> Result<Identity, ApiError> {
        let (verifier, webhook) = match &policy.identity {
            None => (None, None),
            Some(node) => {
                let unusable = |e: &dyn fmt::Display| {
                    ApiError::internal(format!(
                        "the head's access policy has an unusable identity section ({}:{}): {e}",
                        policy.file(),
                        node.loc.line
                    ))
                };
                let config =
                    IdentityConfig::from_json(node.value.to_json()).map_err(|e| unusable(&e))?;
                let webhook = config.webhook().map_err(|e| unusable(&e))?;
                let verifier = config
                    .jwt
                    .map(Verifier::new)
                    .transpose()
                    .map_err(|e| unusable(&e))?;
                (verifier, webhook)
            }
        };
        Ok(Identity {
            verifier,
            webhook,
            jwts: Mutex::new(HashMap::new()),
            answers: Mutex::new(HashMap::new()),
        })
    }

    /// Verifies `token` as a JWT (remembered until it expires).
    fn verify(&self, token: &str) -> Result<jwt::Identity, ApiError> {
        let Some(verifier) = &self.verifier else {
            return Err(ApiError::unauthorized(
                "the bearer token is not a Strata API token (strata_…), and the server's access policy configures no JWT verification (identity.jwt in policies/access.yaml)",
            ));
        };
        let now = now_secs();
        let leeway = verifier.config().leeway_secs;
        let key = *blake3::hash(token.as_bytes()).as_bytes();
        if let Some(known) = lock(&self.jwts).get(&key)
            && now < known.expires_at.saturating_add(leeway)
        {
            return Ok(known.clone());
        }
        match verifier.verify(token, now) {
            Ok(identity) => {
                let mut jwts = lock(&self.jwts);
                if jwts.len() >= MAX_JWTS {
                    jwts.retain(|_, i| now < i.expires_at.saturating_add(leeway));
                    if jwts.len() >= MAX_JWTS {
                        jwts.clear();
                    }
                }
                jwts.insert(key, identity.clone());
                Ok(identity)
            }
            Err(e) => {
                lock(&self.jwts).remove(&key);
                Err(ApiError::unauthorized(format!("the JWT is refused: {e}"))
                    .with("reason", e.to_string()))
            }
        }
    }

    /// The webhook's URL, when one is configured.
    pub(crate) fn webhook_url(&self) -> Option<&str> {
        self.webhook.as_ref().map(|w| w.config().url.as_str())
    }
}

/// The caller named by the request's `Authorization: Bearer …` header (401 without one or
/// with a bad one).
pub(crate) async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Caller, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::unauthorized(
            "a bearer token is required (Authorization: Bearer strata_… or a JWT)",
        ));
    };
    let text = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_string())
        .ok_or_else(|| ApiError::unauthorized("the Authorization header is not `Bearer TOKEN`"))?;
    if text.starts_with("strata_") {
        if strata_auth::token::parse(&text).is_err() {
            return Err(ApiError::unauthorized("the API token is malformed"));
        }
        let hash = strata_auth::token::hash(&text);
        return match state.token(hash).await? {
            Some(row) if row.is_active(crate::now_ms()) => Ok(Caller {
                principal: row.principal,
                roles: Vec::new(),
                via: Via::Token,
            }),
            _ => Err(ApiError::unauthorized(
                "the API token is unknown, revoked or expired",
            )),
        };
    }
    let head = state.head().await?;
    let identity = state.auth().identity(&head)?;
    let verified = identity.verify(&text)?;
    Ok(Caller {
        principal: verified.principal,
        roles: verified.roles,
        via: Via::Jwt,
    })
}

/// One decision: allowed or not, and why (the policy's rule, and the webhook's answer
/// when it was asked).
#[derive(Debug, Clone)]
pub(crate) struct Verdict {
    /// Whether the action may go ahead.
    pub allowed: bool,
    /// Why, for messages and the audit log.
    pub text: String,
    /// Whether the webhook refused what the policy allowed.
    pub webhook_denied: bool,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Decides a request's questions for one caller against the head (see the module
/// documentation). Cheap to share across a blocking task.
pub(crate) struct Judge {
    /// Who asks.
    pub caller: Caller,
    head: Arc<Snapshot>,
    identity: Arc<Identity>,
    /// This request's number in the process (the webhook's `request_id` is made of it
    /// only when the webhook is asked: most requests never are).
    request: u64,
    /// The first webhook failure of this request, which answers its later questions.
    failed: Mutex<Option<WebhookFailure>>,
}

impl Judge {
    /// A judge of `caller`'s questions against `head`'s policy and identity section.
    pub(crate) fn new(
        state: &AppState,
        caller: Caller,
        head: Arc<Snapshot>,
    ) -> Result<Arc<Judge>, ApiError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let identity = state.auth().identity(&head)?;
        Ok(Arc::new(Judge {
            caller,
            head,
            identity,
            request: NEXT.fetch_add(1, Ordering::Relaxed),
            failed: Mutex::new(None),
        }))
    }

    /// The head snapshot decisions are made against.
    pub(crate) fn head(&self) -> &Arc<Snapshot> {
        &self.head
    }

    /// The webhook's URL, when one is configured.
    pub(crate) fn webhook_url(&self) -> Option<&str> {
        self.identity.webhook_url()
    }

    /// Whether deciding may block (a webhook is configured).
    fn may_block(&self) -> bool {
        self.identity.webhook.is_some()
    }

    /// Runs `f` with this judge: on a blocking thread when a webhook may be asked,
    /// directly otherwise.
    pub(crate) async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Judge) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        if !self.may_block() {
            return Ok(f(self));
        }
        let judge = self.clone();
        tokio::task::spawn_blocking(move || f(&judge))
            .await
            .map_err(|e| ApiError::internal(format!("authorization task failed: {e}")))
    }

    /// Whether the caller may do `action` on `service:path` in `env`: the policy (with the
    /// caller's JWT roles), then the webhook. Blocks while the webhook is asked: call it
    /// inside [`Judge::run`].
    pub(crate) fn decide(
        &self,
        action: Action,
        env: &str,
        service: &str,
        path: &[Segment],
    ) -> Verdict {
        let policy = &self.head.policy;
        let d = policy.decide(
            &Request::new(&self.caller.principal, action, env, service, path)
                .with_extra_roles(&self.caller.roles),
        );
        let verdict = Verdict {
            allowed: d.allowed,
            text: d.to_string(),
            webhook_denied: false,
        };
        let Some(hook) = &self.identity.webhook else {
            return verdict;
        };
        if !verdict.allowed {
            return verdict;
        }
        let input = AuthzInput {
            principal: self.caller.principal.clone(),
            roles: policy
                .roles_of(&self.caller.principal, &self.caller.roles)
                .into_iter()
                .map(str::to_string)
                .collect(),
            action: action.as_str().to_string(),
            env: Some(env.to_string()),
            service: Some(service.to_string()),
            param: Some(format!("{service}:{}", segments_to_string(path))),
            request_id: format!("strata-serve-{}-{}", std::process::id(), self.request),
        };
        let answer = self.ask(hook, &input);
        Verdict {
            allowed: answer.is_allowed(),
            webhook_denied: !answer.is_allowed(),
            text: format!("{}; authorization webhook: {answer}", verdict.text),
        }
    }

    /// The webhook's answer to `input`, remembered (see the module documentation).
    fn ask(&self, hook: &AuthzWebhook, input: &AuthzInput) -> Hook {
        let key = format!(
            "{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}",
            input.principal,
            input.roles.join(","),
            input.action,
            input.env.as_deref().unwrap_or_default(),
            input.param.as_deref().unwrap_or_default(),
        );
        if let Some((at, allowed)) = lock(&self.identity.answers).get(&key)
            && at.elapsed() < DECISION_TTL
        {
            return if *allowed { Hook::Allow } else { Hook::Deny };
        }
        if let Some(failure) = lock(&self.failed).clone() {
            return if hook.config().fail_open {
                Hook::FailedOpen(failure)
            } else {
                Hook::FailedClosed(failure)
            };
        }
        let answer = hook.decide(input);
        match &answer {
            Hook::Allow | Hook::Deny => {
                let mut answers = lock(&self.identity.answers);
                if answers.len() >= MAX_DECISIONS {
                    answers.retain(|_, (at, _)| at.elapsed() < DECISION_TTL);
                    if answers.len() >= MAX_DECISIONS {
                        answers.clear();
                    }
                }
                answers.insert(key, (Instant::now(), answer == Hook::Allow));
            }
            Hook::FailedClosed(f) | Hook::FailedOpen(f) => {
                *lock(&self.failed) = Some(f.clone());
            }
        }
        answer
    }

    /// Records a refused `action` on `param` in `env` in the audit log and returns the
    /// 403 to answer (naming the webhook when it refused).
    pub(crate) async fn deny(
        &self,
        state: &AppState,
        action: &str,
        env: &str,
        param: &str,
        verdict: &Verdict,
    ) -> ApiError {
        let mut e = crate::routes::deny(
            state,
            &self.caller.principal,
            action,
            env,
            param,
            verdict.text.clone(),
        )
        .await;
        if verdict.webhook_denied
            && let Some(url) = self.webhook_url()
        {
            e = e.with("webhook", url);
        }
        if self.caller.via == Via::Jwt {
            e = e
                .with("authenticated_by", "jwt")
                .with("jwt_roles", self.caller.roles.clone());
        }
        e
    }
}
