//! Limits on a request's header block, in two tiers.
//!
//! - **Soft** ([`HeaderLimits::bytes`], [`HeaderLimits::count`]): checked by a middleware
//!   after hyper has parsed the head. Beyond either, the answer is `431` with the JSON
//!   error body (code `headers_too_large`, `details.limit`, `details.bytes` or
//!   `details.count`), and the connection stays usable.
//! - **Hard** ([`HeaderLimits::hard_bytes`], [`HeaderLimits::hard_count`]): hyper's own
//!   parser limits (its read buffer for the request head, start line included, and the
//!   number of header fields it parses). Beyond them hyper answers a bare `431` with no
//!   body and closes the connection: the head is never parsed, so no handler (and no JSON
//!   body) is possible. The hard limits keep the memory one connection can hold bounded.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// How large a request's header block may be (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderLimits {
    /// The most bytes of header fields (each counted as `name: value` plus CRLF, the
    /// request line excluded) answered normally; beyond: JSON `431`.
    pub bytes: usize,
    /// The most header fields (a repeated name counts each time); beyond: JSON `431`.
    pub count: usize,
    /// hyper's buffer for a request head (start line included; at least 8 KiB); beyond: a
    /// bare `431` and the connection closed.
    pub hard_bytes: usize,
    /// The most header fields hyper parses; beyond: a bare `431` and the connection closed.
    pub hard_count: usize,
}

impl Default for HeaderLimits {
    /// 16 KiB and 100 fields answered with JSON; 64 KiB and 256 fields refused by hyper.
    fn default() -> HeaderLimits {
        HeaderLimits {
            bytes: 16 * 1024,
            count: 100,
            hard_bytes: 64 * 1024,
            hard_count: 256,
        }
    }
}

/// The middleware enforcing the soft limits.
pub(crate) async fn headers(
    State(limits): State<HeaderLimits>,
    req: Request,
    next: Next,
) -> Response {
    let h = req.headers();
    let count = h.len();
    if count > limits.count {
        return too_large(format!(
            "the request has {count} header fields; at most {} are accepted",
            limits.count
        ))
        .with("limit", limits.count)
        .with("count", count)
        .into_response();
    }
    let bytes: usize = h
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if bytes > limits.bytes {
        return too_large(format!(
            "the request's header fields take {bytes} bytes; at most {} are accepted (large cookies or tokens?)",
            limits.bytes
        ))
        .with("limit", limits.bytes)
        .with("bytes", bytes)
        .into_response();
    }
    next.run(req).await
}

fn too_large(message: String) -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "headers_too_large",
        message,
    )
}
