//! Store-wide access questions over a policy and a project: may a principal do an action
//! on every service in every environment (admin-only endpoints, like the CLI's
//! store-wide commands), or on at least one (coarse checks of endpoints whose data is not
//! per service).
//!
//! [`everywhere`] and [`anywhere`] hold the loops and take the single decision as a
//! function, so that callers which add to the policy (the server's JWT roles and
//! authorization webhook, the CLI's webhook) share them; [`decide_everywhere`] and
//! [`decide_anywhere`] are the policy-only forms.

use strata_core::access::{AccessPolicy, Action, Request};
use strata_core::project::ProjectConfig;

/// The (env, service) a store-wide decision was refused on, and the deciding rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The environment.
    pub env: String,
    /// The service.
    pub service: String,
    /// The denying decision, as text.
    pub rule: String,
}

/// Whether `decide(env, service)` allows every service (the whole configuration,
/// `service:`) in every environment, asked in declaration order and stopping at the first
/// refusal. `decide` answers whether it is allowed and why. `Ok` holds the first
/// allowing answer (`open project` for an open policy, without asking); `Err` the first
/// refusal.
pub fn everywhere(
    policy: &AccessPolicy,
    config: &ProjectConfig,
    mut decide: impl FnMut(&str, &str) -> (bool, String),
) -> Result<String, Refused> {
    if policy.is_open() {
        return Ok("open project".into());
    }
    let mut rule = String::new();
    for env in &config.environments {
        for service in config.services.keys() {
            let (allowed, text) = decide(&env.name, service);
            if !allowed {
                return Err(Refused {
                    env: env.name.clone(),
                    service: service.clone(),
                    rule: text,
                });
            }
            if rule.is_empty() {
                rule = text;
            }
        }
    }
    Ok(rule)
}

/// Whether `decide(env, service)` allows at least one service in one environment: the
/// first allowing answer's text, or `None` (`open project` for an open policy).
pub fn anywhere(
    policy: &AccessPolicy,
    config: &ProjectConfig,
    mut decide: impl FnMut(&str, &str) -> (bool, String),
) -> Option<String> {
    if policy.is_open() {
        return Some("open project".into());
    }
    config.environments.iter().find_map(|env| {
        config.services.keys().find_map(|service| {
            let (allowed, text) = decide(&env.name, service);
            allowed.then_some(text)
        })
    })
}

/// [`everywhere`] decided by the policy alone for `principal` (no extra roles, no
/// webhook).
pub fn decide_everywhere(
    policy: &AccessPolicy,
    config: &ProjectConfig,
    principal: &str,
    action: Action,
) -> Result<String, Refused> {
    everywhere(policy, config, |env, service| {
        let d = policy.decide(&Request::new(principal, action, env, service, &[]));
        (d.allowed, d.to_string())
    })
}

/// [`anywhere`] decided by the policy alone for `principal` (no extra roles, no webhook).
pub fn decide_anywhere(
    policy: &AccessPolicy,
    config: &ProjectConfig,
    principal: &str,
    action: Action,
) -> Option<String> {
    anywhere(policy, config, |env, service| {
        let d = policy.decide(&Request::new(principal, action, env, service, &[]));
        (d.allowed, d.to_string())
    })
}
