//! The answer to a write refused by a freeze (DESIGN §9): `423 Locked`, code `frozen`.
//!
//! Freezes are not built yet, so nothing answers 423 today; the body shape is fixed now so
//! clients can rely on it:
//!
//! ```json
//! {"error": {"code": "frozen", "message": "…", "details": {
//!   "freeze": "black-friday",
//!   "scope": {"envs": ["prod"], "services": ["*"], "teams": []},
//!   "until_ms": 1764633600000,
//!   "params": ["checkout:replicas"],
//!   "override": {"action": "override-freeze", "allowed": false, "request": null}
//! }}}
//! ```
//!
//! `until_ms` is when the window ends (ms since the epoch; `null` for a freeze without an
//! end); `params` are the refused changeset's parameters inside the freeze; `override`
//! says whether the principal may ask for an emergency override (the `override-freeze`
//! action) and names the approved override request once one exists.

use axum::http::StatusCode;
use serde::Serialize;
use serde_json::json;

use crate::error::ApiError;

/// What a freeze covers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FreezeScope {
    /// Environment globs.
    pub envs: Vec<String>,
    /// Service globs.
    pub services: Vec<String>,
    /// Teams whose services it covers.
    pub teams: Vec<String>,
}

/// How a frozen write can still go ahead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FreezeOverride {
    /// The action an override needs (`override-freeze`).
    pub action: &'static str,
    /// Whether the principal may ask for an override.
    pub allowed: bool,
    /// The approved override request, once there is one.
    pub request: Option<String>,
}

/// A write refused because a freeze covers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frozen {
    /// The freeze's name.
    pub freeze: String,
    /// What it covers.
    pub scope: FreezeScope,
    /// When the window ends (ms since the epoch), if it ends.
    pub until_ms: Option<i64>,
    /// The refused parameters (`service:path`) inside the freeze.
    pub params: Vec<String>,
    /// How to go ahead anyway.
    pub override_: FreezeOverride,
}

impl From<Frozen> for ApiError {
    fn from(f: Frozen) -> ApiError {
        let until = match f.until_ms {
            Some(ms) => format!(" until {ms} (ms since the epoch)"),
            None => String::new(),
        };
        let how = if f.override_.allowed {
            "; an emergency override needs an approved `override-freeze` request"
        } else {
            "; ask someone who may `override-freeze` for an emergency override"
        };
        let message = format!(
            "freeze `{}` refuses changes to {}{until}{how}",
            f.freeze,
            f.params.join(", ")
        );
        ApiError::new(StatusCode::LOCKED, "frozen", message)
            .with("freeze", f.freeze)
            .with("scope", json!(f.scope))
            .with("until_ms", json!(f.until_ms))
            .with("params", json!(f.params))
            .with("override", json!(f.override_))
    }
}

#[cfg(test)]
mod tests {
    use axum::response::IntoResponse;

    use super::*;

    #[test]
    fn a_frozen_write_is_423_with_the_documented_shape() {
        let e: ApiError = Frozen {
            freeze: "black-friday".into(),
            scope: FreezeScope {
                envs: vec!["prod".into()],
                services: vec!["*".into()],
                teams: vec![],
            },
            until_ms: Some(1_764_633_600_000),
            params: vec!["checkout:replicas".into()],
            override_: FreezeOverride {
                action: "override-freeze",
                allowed: false,
                request: None,
            },
        }
        .into();
        assert_eq!(e.into_response().status(), StatusCode::LOCKED);
        let e: ApiError = Frozen {
            freeze: "black-friday".into(),
            scope: FreezeScope::default(),
            until_ms: None,
            params: vec!["checkout:replicas".into()],
            override_: FreezeOverride {
                action: "override-freeze",
                allowed: true,
                request: Some("R1234abcd".into()),
            },
        }
        .into();
        let body = e.body();
        assert_eq!(body["error"]["code"], "frozen");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("black-friday") && m.contains("checkout:replicas")),
            "{body}"
        );
        let details = &body["error"]["details"];
        let keys: Vec<&str> = details
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        assert_eq!(keys, ["freeze", "scope", "until_ms", "params", "override"]);
        assert_eq!(
            details["scope"],
            json!({"envs": [], "services": [], "teams": []})
        );
        assert_eq!(details["until_ms"], serde_json::Value::Null);
        assert_eq!(
            details["override"],
            json!({"action": "override-freeze", "allowed": true, "request": "R1234abcd"})
        );
    }
}
