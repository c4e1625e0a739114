//! The `identity:` section of `policies/access.yaml`: how principals authenticate beyond
//! `--as` and API tokens (JWTs from an identity provider) and which external policy
//! engine is consulted after the policy file allows something.
//!
//! ```yaml
//! identity:
//!   jwt:
//!     issuer: https://login.acme.example
//!     audience: strata
//!     algorithms: [RS256]
//!     key: { jwks: { keys: [ … ] } }
//!     roles_claim: groups
//!     role_map: { platform-admins: [admin], sre: [sre] }
//!   webhook:
//!     url: http://127.0.0.1:8181/v1/data/strata/allow
//!     timeout_ms: 2000
//! ```

use serde::Deserialize;

use crate::jwt::{self, JwtConfig, JwtError};
use crate::webhook::{AuthzWebhook, WebhookConfig, WebhookError};

/// The parsed `identity:` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// JWT verification settings, when tokens from an identity provider are accepted.
    pub jwt: Option<JwtConfig>,
    /// The authorization webhook, when one is consulted.
    pub webhook: Option<WebhookConfig>,
}

/// Why an `identity:` section is unusable.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The shape is wrong (an unknown key, a missing field, a wrong type).
    #[error("{0}")]
    Shape(String),
    /// The JWT settings cannot verify anything (weak secret, bad JWKS…).
    #[error("jwt: {0}")]
    Jwt(#[from] JwtError),
    /// The webhook settings are unusable (bad URL, zero timeout…).
    #[error("webhook: {0}")]
    Webhook(#[from] WebhookError),
}

impl IdentityConfig {
    /// Reads the section from its JSON form (the YAML node converted) and checks that
    /// both parts are usable.
    pub fn from_json(value: serde_json::Value) -> Result<IdentityConfig, IdentityError> {
        let config: IdentityConfig =
            serde_json::from_value(value).map_err(|e| IdentityError::Shape(e.to_string()))?;
        if let Some(j) = &config.jwt {
            jwt::check_config(j)?;
        }
        Ok(config)
    }

    /// The webhook client, when one is configured.
    pub fn webhook(&self) -> Result<Option<AuthzWebhook>, IdentityError> {
        Ok(match &self.webhook {
            Some(w) => Some(AuthzWebhook::new(w.clone())?),
            None => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_parts_and_rejects_typos() {
        let ok = IdentityConfig::from_json(serde_json::json!({
            "webhook": {"url": "http://127.0.0.1:8181/v1/data/strata/allow", "timeout_ms": 500},
            "jwt": {"issuer": "https://idp", "audience": "strata", "algorithms": ["HS256"],
                    "key": {"hs256_secret": "0123456789abcdef0123456789abcdef"}}
        }))
        .unwrap();
        assert_eq!(ok.webhook.as_ref().unwrap().timeout_ms, 500);
        assert!(ok.webhook().unwrap().is_some());
        assert_eq!(ok.jwt.as_ref().unwrap().principal_claim, "sub");
        let typo = IdentityConfig::from_json(serde_json::json!({"webhok": {}})).unwrap_err();
        assert!(typo.to_string().contains("webhok"), "{typo}");
        let weak = IdentityConfig::from_json(serde_json::json!({
            "jwt": {"issuer": "i", "audience": "a", "algorithms": ["HS256"],
                    "key": {"hs256_secret": "short"}}
        }))
        .unwrap_err();
        assert!(matches!(weak, IdentityError::Jwt(_)), "{weak}");
        let bad_url = IdentityConfig::from_json(serde_json::json!({"webhook": {"url": "ftp://x"}}))
            .unwrap()
            .webhook()
            .unwrap_err();
        assert!(bad_url.to_string().starts_with("webhook:"), "{bad_url}");
    }
}
