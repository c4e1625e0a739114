//! Store-wide access questions over a policy and a project: may a principal do an action
//! on every service in every environment (admin-only endpoints, like the CLI's
//! store-wide commands), or on at least one (coarse checks of endpoints whose data is not
//! per service).

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

/// Whether `principal` may do `action` on every service (`service:`, the whole
/// configuration) in every environment. `Ok` holds the first allowing decision's text
/// (`open project` for an open policy); `Err` the first refusal.
pub fn decide_everywhere(
    policy: &AccessPolicy,
    config: &ProjectConfig,
    principal: &str,
    action: Action,
) -> Result<String, Refused> {
    if policy.is_open() {
        return Ok("open project".into());
    }
    let mut rule = String::new();
    for env in &config.environments {
        for service in config.services.keys() {
            let d = policy.decide(&Request::new(principal, action, &env.name, service, &[]));
            if !d.allowed {
                return Err(Refused {
                    env: env.name.clone(),
                    service: service.clone(),
                    rule: d.to_string(),
                });
            }
            if rule.is_empty() {
                rule = d.to_string();
            }
        }
    }
    Ok(rule)
}

/// Whether `principal` may do `action` on at least one service in one environment: the
/// allowing decision's text, or `None`.
pub fn decide_anywhere(
    policy: &AccessPolicy,
    config: &ProjectConfig,
    principal: &str,
    action: Action,
) -> Option<String> {
    if policy.is_open() {
        return Some("open project".into());
    }
    config.environments.iter().find_map(|env| {
        config.services.keys().find_map(|service| {
            let d = policy.decide(&Request::new(principal, action, &env.name, service, &[]));
            d.allowed.then(|| d.to_string())
        })
    })
}
