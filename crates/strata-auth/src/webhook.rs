//! An external authorization webhook, compatible with Open Policy Agent's Data API.
//!
//! For each decision Strata POSTs `{"input": {...}}` (an [`AuthzInput`]) as JSON to the
//! configured URL — for OPA, a policy's data path such as
//! `http://127.0.0.1:8181/v1/data/strata/allow` — and reads either
//! `{"result": true|false}` or `{"result": {"allow": true|false}}`. Other members of the
//! response (OPA's `decision_id`, …) are ignored.
//!
//! **Fails closed.** A timeout (default 2 s for the whole exchange), a connection error, a
//! status other than 2xx (redirects are not followed), a body over 64 KiB, or a body that is
//! not one of the two shapes above (OPA answers `{}` for an undefined policy path) gives
//! [`Decision::FailedClosed`], a denial carrying the reason. With `fail_open: true` the same
//! failures give [`Decision::FailedOpen`], an *allow*: then anyone who can make the policy
//! engine slow or unreachable is granted whatever they ask. Use it only where availability
//! matters more than the policy, and audit every `FailedOpen`.
//!
//! Proxy settings from the environment (`HTTP_PROXY`, …) are ignored: authorization
//! traffic goes straight to the configured URL. Plain `http://` is always supported;
//! `https://` needs this crate's `https` feature (rustls, ring and the Mozilla root store),
//! and a configuration naming an `https://` URL is refused without it.

use std::fmt;
use std::io::{self, Read as _};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Default time allowed for one whole exchange (connect, send, receive), in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 2_000;
/// Largest response body read, in bytes; a larger one is a failure.
pub const MAX_RESPONSE_BYTES: u64 = 64 * 1024;

/// Where and how to ask the authorization webhook.
///
/// ```yaml
/// url: http://127.0.0.1:8181/v1/data/strata/allow
/// timeout_ms: 2000     # default
/// fail_open: false     # default; true allows every request the webhook cannot answer
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The URL to POST to (`http://`, or `https://` with the `https` feature).
    pub url: String,
    /// Time allowed for the whole exchange, in milliseconds (at least 1).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Allow, instead of deny, when the webhook cannot give an answer. Dangerous: see the
    /// module documentation.
    #[serde(default)]
    pub fail_open: bool,
}

fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT_MS
}

impl WebhookConfig {
    /// A fail-closed configuration with the default timeout.
    pub fn new(url: impl Into<String>) -> Self {
        WebhookConfig {
            url: url.into(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
            fail_open: false,
        }
    }
}

/// What is being decided: sent as the `input` member of the request body.
///
/// Absent optional fields are sent as `null`, so the shape is always the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthzInput {
    /// Who is asking (already authenticated).
    pub principal: String,
    /// The principal's Strata roles.
    pub roles: Vec<String>,
    /// The action: `read`, `read-secret`, `write`, `approve`, `deploy`,
    /// `override-freeze` or `admin` (DESIGN §7).
    pub action: String,
    /// The environment acted on, if any.
    pub env: Option<String>,
    /// The service acted on, if any.
    pub service: Option<String>,
    /// The parameter path acted on (`svc:a.b[0]`), if any.
    pub param: Option<String>,
    /// The request's id, for correlating the policy engine's log with Strata's audit log.
    pub request_id: String,
}

#[derive(Serialize)]
struct Envelope<'a> {
    input: &'a AuthzInput,
}

/// Why the webhook gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookFailure {
    /// No complete answer within the timeout.
    #[error("authorization webhook timed out")]
    Timeout,
    /// The webhook could not be reached.
    #[error("authorization webhook unreachable: {0}")]
    Connect(String),
    /// The webhook answered with a status other than 2xx.
    #[error("authorization webhook answered HTTP {0}")]
    Status(u16),
    /// The response body is larger than [`MAX_RESPONSE_BYTES`].
    #[error("authorization webhook response is larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The body is not `{"result": bool}` or `{"result": {"allow": bool}}`.
    #[error("authorization webhook response is malformed: {0}")]
    Malformed(&'static str),
    /// Any other HTTP-level failure.
    #[error("authorization webhook request failed: {0}")]
    Transport(String),
}

/// The outcome of asking the webhook. Only [`Decision::is_allowed`] decides; the variant
/// says why, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The policy allowed the request.
    Allow,
    /// The policy denied the request.
    Deny,
    /// No usable answer; denied (the default, `fail_open: false`).
    FailedClosed(WebhookFailure),
    /// No usable answer; allowed because the configuration says `fail_open: true`.
    FailedOpen(WebhookFailure),
}

impl Decision {
    /// Whether the request may proceed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow | Decision::FailedOpen(_))
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Allow => f.write_str("allowed by the authorization webhook"),
            Decision::Deny => f.write_str("denied by the authorization webhook"),
            Decision::FailedClosed(e) => write!(f, "denied (fail closed): {e}"),
            Decision::FailedOpen(e) => write!(f, "allowed (fail_open is set): {e}"),
        }
    }
}

/// A configuration the client cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// The URL is not an absolute `http://` or `https://` URL with a host.
    #[error("invalid authorization webhook URL `{0}`: expected http://host[:port]/path")]
    InvalidUrl(String),
    /// An `https://` URL, but this build has no TLS support.
    #[error(
        "authorization webhook URL `{0}` needs HTTPS, which this build does not include (feature `https`)"
    )]
    HttpsUnsupported(String),
    /// `timeout_ms` is 0.
    #[error("authorization webhook `timeout_ms` must be at least 1")]
    ZeroTimeout,
}

/// A client for one authorization webhook. Cheap to share: requests reuse connections.
#[derive(Debug, Clone)]
pub struct AuthzWebhook {
    config: WebhookConfig,
    agent: ureq::Agent,
}

impl AuthzWebhook {
    /// Checks `config` and builds the HTTP client.
    pub fn new(config: WebhookConfig) -> Result<Self, WebhookError> {
        let uri = config
            .url
            .parse::<ureq::http::Uri>()
            .map_err(|_| WebhookError::InvalidUrl(config.url.clone()))?;
        if uri.host().is_none_or(str::is_empty) {
            return Err(WebhookError::InvalidUrl(config.url.clone()));
        }
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") if cfg!(feature = "https") => {}
            Some("https") => return Err(WebhookError::HttpsUnsupported(config.url.clone())),
            _ => return Err(WebhookError::InvalidUrl(config.url.clone())),
        }
        if config.timeout_ms == 0 {
            return Err(WebhookError::ZeroTimeout);
        }
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_millis(config.timeout_ms)))
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .user_agent(concat!("strata-auth/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Ok(AuthzWebhook { config, agent })
    }

    /// The configuration this client uses.
    pub fn config(&self) -> &WebhookConfig {
        &self.config
    }

    /// Asks the webhook and applies the fail-closed (or fail-open) rule. Never fails and
    /// never panics: every failure becomes a [`Decision`].
    pub fn decide(&self, input: &AuthzInput) -> Decision {
        match self.query(input) {
            Ok(true) => Decision::Allow,
            Ok(false) => Decision::Deny,
            Err(e) if self.config.fail_open => Decision::FailedOpen(e),
            Err(e) => Decision::FailedClosed(e),
        }
    }

    /// Asks the webhook: `Ok(allowed)` when it answered with one of the accepted shapes,
    /// otherwise why not. Does not apply `fail_open`.
    pub fn query(&self, input: &AuthzInput) -> Result<bool, WebhookFailure> {
        let body = serde_json::to_vec(&Envelope { input })
            .map_err(|e| WebhookFailure::Transport(format!("cannot encode the request: {e}")))?;
        let mut response = self
            .agent
            .post(&self.config.url)
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .send(&body[..])
            .map_err(map_ureq_error)?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(WebhookFailure::Status(status));
        }
        // Read at most one byte more than allowed: that byte says the body is too large.
        let mut bytes = Vec::new();
        response
            .body_mut()
            .as_reader()
            .take(MAX_RESPONSE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| map_ureq_error(ureq::Error::from(e)))?;
        if bytes.len() as u64 > MAX_RESPONSE_BYTES {
            return Err(WebhookFailure::BodyTooLarge {
                limit: MAX_RESPONSE_BYTES,
            });
        }
        parse_answer(&bytes)
    }
}

/// Reads `{"result": bool}` or `{"result": {"allow": bool}}`.
fn parse_answer(bytes: &[u8]) -> Result<bool, WebhookFailure> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|_| WebhookFailure::Malformed("the body is not JSON"))?;
    let Value::Object(object) = value else {
        return Err(WebhookFailure::Malformed("the body is not a JSON object"));
    };
    match object.get("result") {
        Some(Value::Bool(allow)) => Ok(*allow),
        Some(Value::Object(result)) => match result.get("allow") {
            Some(Value::Bool(allow)) => Ok(*allow),
            _ => Err(WebhookFailure::Malformed("`result.allow` is not a boolean")),
        },
        None => Err(WebhookFailure::Malformed(
            "no `result` (is the policy path defined?)",
        )),
        Some(_) => Err(WebhookFailure::Malformed(
            "`result` is neither a boolean nor an object with `allow`",
        )),
    }
}

fn map_ureq_error(e: ureq::Error) -> WebhookFailure {
    match e {
        ureq::Error::Timeout(_) => WebhookFailure::Timeout,
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => {
            WebhookFailure::Connect(e.to_string())
        }
        ureq::Error::Io(io) => match io.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => WebhookFailure::Timeout,
            io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::NotConnected
            | io::ErrorKind::AddrNotAvailable
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable => WebhookFailure::Connect(io.to_string()),
            _ => WebhookFailure::Transport(io.to_string()),
        },
        other => WebhookFailure::Transport(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_shapes() {
        assert_eq!(parse_answer(br#"{"result": true}"#), Ok(true));
        assert_eq!(
            parse_answer(br#"{"result": false, "decision_id": "x"}"#),
            Ok(false)
        );
        assert_eq!(parse_answer(br#"{"result": {"allow": true}}"#), Ok(true));
        assert_eq!(parse_answer(br#"{"result": {"allow": false}}"#), Ok(false));
        for bad in [
            &br#"{}"#[..],
            br#"{"result": "true"}"#,
            br#"{"result": 1}"#,
            br#"{"result": null}"#,
            br#"{"result": {}}"#,
            br#"{"result": {"allow": "yes"}}"#,
            br#"[true]"#,
            br#"true"#,
            b"",
            b"\xff\xfe",
        ] {
            assert!(
                matches!(parse_answer(bad), Err(WebhookFailure::Malformed(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn bad_configurations_are_refused() {
        for url in [
            "",
            "127.0.0.1:8181/v1",
            "ftp://host/x",
            "http:///path",
            "not a url",
        ] {
            assert!(
                AuthzWebhook::new(WebhookConfig::new(url)).is_err(),
                "{url:?} was accepted"
            );
        }
        let mut zero = WebhookConfig::new("http://127.0.0.1:1/");
        zero.timeout_ms = 0;
        assert_eq!(
            AuthzWebhook::new(zero).err(),
            Some(WebhookError::ZeroTimeout)
        );
        let https = AuthzWebhook::new(WebhookConfig::new("https://opa.internal/v1/data/x"));
        if cfg!(feature = "https") {
            assert!(https.is_ok());
        } else {
            assert!(matches!(https, Err(WebhookError::HttpsUnsupported(_))));
        }
    }
}
