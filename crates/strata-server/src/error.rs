//! The JSON error body every failure carries: `{"error": {"code", "message", "details"}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// The `Retry-After` (seconds) of a 503 for a store that did not answer: about when the
/// server tries it again and would know it is back.
pub const STORE_RETRY_AFTER_SECS: u16 = 2;

/// An error answered to a client.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable machine-readable code (`not_found`, `forbidden`, …).
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
    /// Structured extras (candidates, the deciding rule, …).
    pub details: Map<String, Value>,
    /// Seconds for a `Retry-After` header (set on 503s for an unreachable store).
    pub retry_after: Option<u16>,
}

impl ApiError {
    /// An error without details.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Map::new(),
            retry_after: None,
        }
    }

    /// Adds a `Retry-After: secs` header to the answer.
    pub fn with_retry_after(mut self, secs: u16) -> ApiError {
        self.retry_after = Some(secs);
        self
    }

    /// Adds a detail.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> ApiError {
        self.details.insert(key.to_string(), value.into());
        self
    }

    /// 401 with `WWW-Authenticate: Bearer`.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 503 `store_unavailable` with `Retry-After`: the store did not answer what was
    /// asked (`message` says what); the client should try again after that many seconds.
    pub fn store_unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            message,
        )
        .with_retry_after(STORE_RETRY_AFTER_SECS)
    }

    /// [`ApiError::store_unavailable`] for a store error.
    pub fn store(e: &strata_store::StoreError) -> ApiError {
        ApiError::store_unavailable(e.to_string())
    }

    /// 500: a blocking task failed.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// The body's JSON.
    pub fn body(&self) -> Value {
        json!({"error": {"code": self.code, "message": self.message, "details": self.details}})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (self.status, axum::Json(self.body())).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

/// The stable code of a status the server's layers or the router answer by themselves.
pub(crate) fn code_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::URI_TOO_LONG => "uri_too_long",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "headers_too_large",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_outages_say_when_to_retry() {
        let e = strata_store::StoreError::backend("sqlite:x", "disk I/O error");
        let res = ApiError::store(&e).into_response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            res.headers().get(header::RETRY_AFTER),
            Some(&HeaderValue::from(STORE_RETRY_AFTER_SECS))
        );
        let other = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "empty_store", "empty");
        assert!(
            other
                .into_response()
                .headers()
                .get(header::RETRY_AFTER)
                .is_none()
        );
    }
}
