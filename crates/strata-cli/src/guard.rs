//! Who runs a store-changing command, whether the access policy lets them, and the audit
//! entries that record it.
//!
//! The principal comes from `--token` / `STRATA_TOKEN` (checked against the store's
//! tokens), else `--as` / `STRATA_PRINCIPAL` (taken at its word, like git's `user.name`:
//! on a machine that can write the store file, nobody can be stopped from claiming a
//! name; the server authenticates with tokens). The policy is the one at the store's
//! head, never the working tree's, so editing `policies/access.yaml` locally grants
//! nothing. Decisions are made by `strata_core::access`; this module only gathers the
//! questions and writes the answers to the audit log, failing closed: a denied attempt
//! that cannot be recorded is still denied, and a write whose entry cannot be written is
//! not made.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use strata_core::access::{
    AccessPolicy, Action, Decision, Request, Ruling, approvals_covering, decide_edits,
};
use strata_core::path::{ParamPath, segments_to_string};
use strata_core::resolve::Project;
use strata_store::audit::{Decision as Logged, NewAuditEntry};
use strata_store::changeset::ParamEdit;
use strata_store::repo::Repository;
use strata_store::workflow::edit_entries;

use crate::commands::store_opts::now_ms;
use crate::error::CliError;

/// The global `--as` and `--token` options, set once by `main`.
#[derive(Debug, Clone, Default)]
pub struct Who {
    /// `--as` / `STRATA_PRINCIPAL`.
    pub principal: Option<String>,
    /// `--token` / `STRATA_TOKEN`.
    pub token: Option<String>,
}

static WHO: OnceLock<Who> = OnceLock::new();

/// Records the global options (called once, by `main`).
pub fn set_who(who: Who) {
    let _ = WHO.set(who);
}

fn who() -> Who {
    WHO.get().cloned().unwrap_or_default()
}

/// The global `--token` / `STRATA_TOKEN`, for commands that talk to a server.
pub fn token() -> Option<String> {
    who().token.filter(|t| !t.is_empty())
}

/// The acting principal of a command on `repo`.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The principal name (`anonymous` when none was given to an open project).
    pub principal: String,
    /// Whether anyone was named at all.
    pub named: bool,
}

/// The access policy at the store's head and who is acting.
pub struct Guard<'r> {
    repo: &'r Repository,
    /// The policy of the head revision (open when it has none).
    pub policy: AccessPolicy,
    /// The project at the head (environments, teams).
    pub project: Project,
    /// Who acts.
    pub actor: Actor,
    /// The external authorization webhook (`identity.webhook`), asked after the policy
    /// allows.
    webhook: Option<strata_auth::webhook::AuthzWebhook>,
}

/// A decision of the policy, and of the webhook when one is configured.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// Whether the action may go ahead.
    pub allowed: bool,
    text: String,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Reads and checks the policy's `identity:` section (JWT settings, the webhook), naming
/// its line on errors; returns the webhook client when one is configured (the JWT
/// settings are the server's to use).
pub fn identity_webhook(
    policy: &AccessPolicy,
) -> Result<Option<strata_auth::webhook::AuthzWebhook>, CliError> {
    let Some(node) = &policy.identity else {
        return Ok(None);
    };
    let at = format!("{}:{}", policy.file(), node.loc.line);
    strata_auth::identity::IdentityConfig::from_json(node.value.to_json())
        .and_then(|config| config.webhook())
        .map_err(|e| CliError::Invalid(format!("{at}: identity: {e}")))
}

impl<'r> Guard<'r> {
    /// Reads the head's policy and establishes who acts (a token is verified and its use
    /// recorded). With a policy, someone must be named.
    pub fn new(repo: &'r Repository) -> Result<Guard<'r>, CliError> {
        let head = repo.head().map_err(CliError::from_store)?;
        let project = repo.project(&head).map_err(CliError::from_store)?;
        let bytes = project
            .source()
            .read(AccessPolicy::PATH)
            .map_err(|e| CliError::Io(format!("cannot read {}: {}", e.path, e.message)))?;
        let policy = AccessPolicy::load(bytes.as_deref(), Some(&project.config))
            .map_err(|e| CliError::Invalid(format!("{} (at the store's head)", e.diagnostic)))?;
        let actor = identify(repo, &policy)?;
        let webhook = identity_webhook(&policy)?;
        Ok(Guard {
            repo,
            policy,
            project,
            actor,
            webhook,
        })
    }

    /// One decision: the policy's, then, when it allows and a webhook is configured, the
    /// webhook's (which fails closed).
    pub fn decide(&self, action: Action, env: &str, path: &ParamPath) -> Verdict {
        let d: Decision = self.policy.decide(&Request::new(
            &self.actor.principal,
            action,
            env,
            &path.service,
            &path.segments,
        ));
        let verdict = Verdict {
            allowed: d.allowed,
            text: d.to_string(),
        };
        match &self.webhook {
            Some(hook) if verdict.allowed => {
                let input = strata_auth::webhook::AuthzInput {
                    principal: self.actor.principal.clone(),
                    roles: self
                        .policy
                        .roles_of(&self.actor.principal, &[])
                        .into_iter()
                        .map(str::to_string)
                        .collect(),
                    action: action.as_str().to_string(),
                    env: Some(env.to_string()),
                    service: Some(path.service.clone()),
                    param: Some(format!(
                        "{}:{}",
                        path.service,
                        segments_to_string(&path.segments)
                    )),
                    request_id: format!("cli-{}-{}", std::process::id(), now_ms()),
                };
                let answer = hook.decide(&input);
                Verdict {
                    allowed: answer.is_allowed(),
                    text: format!("{}; authorization webhook: {answer}", verdict.text),
                }
            }
            _ => verdict,
        }
    }

    /// An audit entry by the actor.
    pub fn entry(&self, action: &str, scope: &str) -> NewAuditEntry {
        NewAuditEntry::new(now_ms(), &self.actor.principal, action, scope)
    }

    /// Records a denied attempt and returns the error to stop with. If the entry cannot
    /// be written, the attempt is denied all the same, and the message says so.
    pub fn deny(
        &self,
        what: &str,
        scope: &str,
        params: Vec<String>,
        d: &dyn std::fmt::Display,
    ) -> CliError {
        let mut msg = format!(
            "{} may not {what} {} in {scope}: {d}",
            self.actor.principal,
            params.join(", ")
        );
        let mut e = self.entry(what, scope);
        e.decision = Logged::Denied;
        e.params = params;
        e.rule = Some(d.to_string());
        let recorded = self.repo.store().audit_append(&[e]);
        if let Err(err) = recorded {
            msg.push_str(&format!(" (and the attempt could not be audited: {err})"));
        }
        msg.push_str(
            "\n  hint: `strata access who-can ACTION SERVICE:PATH --env ENV` lists who may",
        );
        CliError::Denied(msg)
    }

    /// Requires `action` on every service in every environment (store-wide commands:
    /// import, revert, tags, tokens). Returns the allowing decision's text.
    /// The loop is the server's (`strata_server::access::everywhere`); each decision is
    /// this guard's (the policy, then the webhook).
    pub fn require_everywhere(&self, action: Action, what: &str) -> Result<String, CliError> {
        strata_server::access::everywhere(&self.policy, &self.project.config, |env, service| {
            let whole = ParamPath {
                service: service.to_string(),
                segments: Vec::new(),
            };
            let d = self.decide(action, env, &whole);
            (d.allowed, d.text)
        })
        .map_err(|r| self.deny(what, &r.env, vec![format!("{}:", r.service)], &r.rule))
    }

    /// Decides a set of edits: every edit must be allowed (`write`) in every environment
    /// its layer reaches. Returns the audit entries of the write and the approval rules
    /// (by name) that cover some edit.
    pub fn check_edits(&self, edits: &[ParamEdit], what: &str) -> Result<Gated, CliError> {
        let edited = edited(edits);
        let scopes = decide_edits(&self.project.config, &edited, |env, param| {
            self.decide(Action::Write, env, param).into()
        })
        .map_err(|d| self.deny(what, &d.env, vec![d.param], &d.rule))?;
        let approvals = approvals_covering(&self.policy, &self.project.config, &edited);
        let entries = edit_entries(edits, &scopes, &self.actor.principal, what, now_ms());
        Ok(Gated { entries, approvals })
    }
}

pub use strata_store::changeset::edited;

impl From<Verdict> for Ruling {
    fn from(v: Verdict) -> Ruling {
        Ruling {
            allowed: v.allowed,
            text: v.text,
        }
    }
}

impl Guard<'_> {
    /// Checks `read-secret` on every secret (ciphertext) leaf of `configs` in `env` and
    /// records the read in the audit log before any value is shown (failing closed).
    pub fn check_secret_reads(
        &self,
        env: &str,
        configs: &[&strata_core::resolve::Effective],
    ) -> Result<(), CliError> {
        let mut params = Vec::new();
        for eff in configs {
            for path in strata_store::reveal::ciphertext_paths(&eff.root) {
                let param = ParamPath {
                    service: eff.service.clone(),
                    segments: path,
                };
                let name = param.to_string();
                let d = self.decide(Action::ReadSecret, env, &param);
                if !d.allowed {
                    return Err(self.deny("read-secret", env, vec![name], &d));
                }
                params.push(name);
            }
        }
        if params.is_empty() {
            return Ok(());
        }
        let mut e = self.entry("read-secret", env);
        e.params = params;
        self.repo
            .store()
            .audit_append(&[e])
            .map_err(CliError::from_store)?;
        Ok(())
    }
}

/// What [`Guard::check_edits`] found.
pub struct Gated {
    /// One entry per edit and environment.
    pub entries: Vec<NewAuditEntry>,
    /// Approval rules covering some edit: non-empty means a change request.
    pub approvals: BTreeSet<String>,
}

/// The name to record for a command on an empty store (no policy can exist yet): `--as`,
/// else `$USER`, else `anonymous`.
pub fn bootstrap_principal() -> String {
    who()
        .principal
        .filter(|p| !p.trim().is_empty())
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "anonymous".into())
}

/// Establishes the actor: a verified token, else `--as`, else nobody (refused when the
/// project has a policy).
fn identify(repo: &Repository, policy: &AccessPolicy) -> Result<Actor, CliError> {
    let who = who();
    if let Some(text) = who.token.as_deref().filter(|t| !t.is_empty()) {
        let now = now_ms();
        let hash = strata_auth::token::hash(text);
        let row = if strata_auth::token::parse(text).is_ok() {
            repo.store()
                .token_by_hash(&hash)
                .map_err(CliError::from_store)?
        } else {
            None
        };
        let Some(row) = row.filter(|r| r.is_active(now)) else {
            let mut e = NewAuditEntry::new(now, "anonymous", "token-use", "");
            e.decision = Logged::Denied;
            e.rule = Some("unknown, revoked or expired token".into());
            let _ = repo.store().audit_append(&[e]);
            return Err(CliError::Denied(
                "the token is unknown, revoked or expired\n  hint: `strata token create --principal P` makes a new one".into(),
            ));
        };
        if let Some(p) = &who.principal
            && p != &row.principal
        {
            return Err(CliError::Usage(format!(
                "--as {p} contradicts the token, which belongs to {}",
                row.principal
            )));
        }
        let mut e = NewAuditEntry::new(now, &row.principal, "token-use", "");
        let mut detail = serde_json::Map::new();
        detail.insert("token".into(), row.id.clone().into());
        e.detail = Some(detail);
        repo.store()
            .audit_append(&[e])
            .map_err(CliError::from_store)?;
        return Ok(Actor {
            principal: row.principal,
            named: true,
        });
    }
    match who.principal.filter(|p| !p.trim().is_empty()) {
        Some(p) => Ok(Actor {
            principal: p,
            named: true,
        }),
        None if policy.is_open() => Ok(Actor {
            principal: std::env::var("USER")
                .ok()
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| "anonymous".into()),
            named: false,
        }),
        None => Err(CliError::Usage(format!(
            "this project has an access policy ({}): say who you are with --as PRINCIPAL (or STRATA_PRINCIPAL), or --token",
            AccessPolicy::PATH
        ))),
    }
}
