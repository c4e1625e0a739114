//! `GET /v1/watch/{env}/{service}`: a service's effective configuration for a target, each
//! time it changes. The same target selection, access check and redaction as
//! `GET /v1/config/…` (`routes::prepare`), in two forms:
//!
//! - **Server-sent events** (`Accept: text/event-stream`): an `event: config` (`id:` the
//!   ETag, `data:` the configuration JSON) at once — unless `Last-Event-ID` names a
//!   configuration equal to the current one — then one each time the configuration
//!   changes (revisions that leave it equal send nothing), with keep-alive comments. When
//!   a new head makes the read fail (the principal lost `read`, the service or target is
//!   gone, it no longer resolves, the token was revoked) an `event: error` carries the
//!   JSON error and the stream ends; streams end on server shutdown.
//! - **Long poll** (`?wait=SECONDS` with `If-None-Match`): `200` with the configuration as
//!   soon as it differs from the one the ETag names, `304` when `wait` passes first (or
//!   the server shuts down). Without `If-None-Match`, or when it names another
//!   configuration, `200` at once.
//!
//! "Differs" compares configurations, not revisions: an ETag of an older revision whose
//! configuration equals the current one is current.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use strata_store::model::RevisionId;
use tokio::sync::watch;

use crate::error::ApiError;
use crate::metrics::{WatchKind, Watching};
use crate::routes::{ConfigQuery, Read, json_bytes, not_modified, path_error, prepare};
use crate::state::{AppState, Head};

/// How long a long poll waits without `?wait=`.
pub(crate) const DEFAULT_WAIT: Duration = Duration::from_secs(25);
/// How often an idle event stream sends a keep-alive comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How soon a stream tries again after the store failed to answer a read.
const RETRY: Duration = Duration::from_secs(1);
/// How many ETags of `If-None-Match` or `Last-Event-ID` are compared by content.
const MAX_TAGS: usize = 4;

/// `?wait=SECONDS` (the target selection is [`ConfigQuery`]).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WaitQuery {
    wait: Option<String>,
}

/// `GET /v1/watch/{env}/{service}`
pub(crate) async fn watch(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<ConfigQuery>, QueryRejection>,
    wait: Result<Query<WaitQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path((env, service)) = path.map_err(path_error)?;
    let bad_query =
        |e: QueryRejection| ApiError::bad_request(format!("bad query string: {}", e.body_text()));
    let Query(query) = query.map_err(bad_query)?;
    let Query(wait) = wait.map_err(bad_query)?;
    // Subscribe before reading, so that no head published meanwhile is missed.
    let heads = state.heads();
    let read = prepare(
        &state,
        &headers,
        &env,
        &service,
        &[],
        Ok(Query(query.clone())),
    )
    .await?;
    if query.rev.as_deref().is_some_and(|r| !r.is_empty()) {
        return Err(ApiError::bad_request(
            "a watch follows the head: drop ?rev= (GET /v1/config/… reads a past revision)",
        )
        .with("rev", query.rev.unwrap_or_default()));
    }
    let wait = parse_wait(wait.wait.as_deref(), state.max_wait())?;
    let watcher = Watcher {
        state,
        headers,
        env,
        service,
        query,
        heads,
        rev: read.snap.rev.id,
        bytes: read.cached.bytes.clone(),
    };
    if wants_events(&watcher.headers) {
        Ok(watcher.stream(read).await)
    } else {
        watcher.poll(read, wait).await
    }
}

/// `?wait=` in seconds (decimals allowed), at most `max`.
fn parse_wait(raw: Option<&str>, max: Duration) -> Result<Duration, ApiError> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_WAIT.min(max));
    };
    let secs: f64 = raw.trim().parse().map_err(|_| {
        ApiError::bad_request(format!("?wait={raw} is not a number of seconds")).with("wait", raw)
    })?;
    if !(secs.is_finite() && secs >= 0.0 && secs <= max.as_secs_f64()) {
        return Err(ApiError::bad_request(format!(
            "?wait={raw} is not between 0 and {} seconds (the longest wait below the request timeout)",
            max.as_secs_f64()
        ))
        .with("wait", raw)
        .with("max", max.as_secs_f64()));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Whether the client asks for server-sent events.
fn wants_events(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"))
}

/// The entity tags of header `name` (a list; `W/` and surrounding spaces dropped).
fn tags(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| {
            let t = t.trim();
            t.strip_prefix("W/").unwrap_or(t).to_string()
        })
        .filter(|t| !t.is_empty())
        .collect()
}

/// One watch: what it reads and what it last answered.
struct Watcher {
    state: AppState,
    headers: HeaderMap,
    env: String,
    service: String,
    query: ConfigQuery,
    heads: watch::Receiver<Head>,
    /// The revision last read, and the configuration bytes last answered.
    rev: RevisionId,
    bytes: Bytes,
}

/// What a new head means for a watch.
enum Step {
    /// The configuration changed.
    Changed(Box<Read>),
    /// The head moved but the configuration is the same (or the head did not move).
    Same,
    /// Reading failed for good: the error to report.
    Failed(ApiError),
    /// The store did not answer: try again soon.
    Unavailable,
}

impl Watcher {
    /// Whether one of `given` (ETags) names a configuration equal to `read`'s.
    async fn is_current(&self, read: &Read, given: &[String]) -> bool {
        for tag in given.iter().take(MAX_TAGS) {
            if tag == "*" || *tag == read.etag {
                return true;
            }
            let inner = tag.trim_matches('"');
            let Some((rev, target)) = inner.split_once('-') else {
                continue;
            };
            if target != read.target || rev.len() != 64 || rev == read.snap.rev.id.0.to_hex() {
                continue;
            }
            let Ok(snap) = self.state.revision(rev.to_string()).await else {
                continue;
            };
            let then = self
                .state
                .effective(snap, read.target.clone(), self.service.clone())
                .await;
            if then.is_ok_and(|c| c.bytes == read.cached.bytes) {
                return true;
            }
        }
        false
    }

    /// Reads the configuration again if the head moved.
    async fn step(&mut self, force: bool) -> Step {
        let moved = {
            let head = self.heads.borrow_and_update();
            head.snap.as_ref().map(|s| s.rev.id).ok() != Some(self.rev)
        };
        if !moved && !force {
            return Step::Same;
        }
        let read = prepare(
            &self.state,
            &self.headers,
            &self.env,
            &self.service,
            &[],
            Ok(Query(self.query.clone())),
        )
        .await;
        match read {
            Ok(read) => {
                self.rev = read.snap.rev.id;
                if read.cached.bytes == self.bytes {
                    Step::Same
                } else {
                    self.bytes = read.cached.bytes.clone();
                    Step::Changed(Box::new(read))
                }
            }
            Err(e) if e.status == StatusCode::SERVICE_UNAVAILABLE => Step::Unavailable,
            Err(e) => Step::Failed(e),
        }
    }

    /// The long-poll answer.
    async fn poll(mut self, read: Read, wait: Duration) -> Result<Response, ApiError> {
        let given = tags(&self.headers, header::IF_NONE_MATCH.as_str());
        if given.is_empty() || !self.is_current(&read, &given).await {
            return Ok(json_bytes(read.cached.bytes.clone(), &read.etag, &read));
        }
        let _open = Watching::new(&self.state, WatchKind::Poll);
        let mut stop = self.state.shutting_down();
        let deadline = tokio::time::Instant::now() + wait;
        let target = read.target;
        let mut retry = false;
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                _ = tokio::time::sleep_until(deadline) => break,
                changed = self.heads.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
                _ = tokio::time::sleep(RETRY), if retry => {}
            }
            match self.step(retry).await {
                Step::Changed(read) => {
                    return Ok(json_bytes(read.cached.bytes.clone(), &read.etag, &read));
                }
                Step::Same => retry = false,
                Step::Unavailable => retry = true,
                Step::Failed(e) => return Err(e),
            }
        }
        // The current revision's ETag (its configuration equals the one asked about).
        Ok(not_modified(&etag_of(&self.rev, &target)))
    }

    /// The event-stream answer.
    async fn stream(self, read: Read) -> Response {
        let given = tags(&self.headers, "last-event-id");
        let first = if !given.is_empty() && self.is_current(&read, &given).await {
            None
        } else {
            Some(config_event(&read))
        };
        let stop = self.state.shutting_down();
        let open = Watching::new(&self.state, WatchKind::Stream);
        let events = Events {
            watcher: self,
            first,
            stop,
            retry: false,
            done: false,
            _open: open,
        };
        let stream = futures_util::stream::unfold(events, |mut events| async move {
            let event = events.next().await?;
            Some((Ok::<Event, Infallible>(event), events))
        });
        Sse::new(stream)
            .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
            .into_response()
    }
}

/// The ETag of a configuration read of `target` at `rev` (as `routes::prepare` makes it).
fn etag_of(rev: &RevisionId, target: &str) -> String {
    format!("\"{}-{}\"", rev.0.to_hex(), target)
}

/// An event stream's state.
struct Events {
    watcher: Watcher,
    first: Option<Event>,
    stop: watch::Receiver<bool>,
    retry: bool,
    done: bool,
    _open: Watching,
}

impl Events {
    /// The next event; `None` ends the stream.
    async fn next(&mut self) -> Option<Event> {
        if let Some(first) = self.first.take() {
            return Some(first);
        }
        if self.done {
            return None;
        }
        loop {
            tokio::select! {
                _ = self.stop.wait_for(|s| *s) => return None,
                changed = self.watcher.heads.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
                _ = tokio::time::sleep(RETRY), if self.retry => {}
            }
            match self.watcher.step(self.retry).await {
                Step::Changed(read) => {
                    self.retry = false;
                    return Some(config_event(&read));
                }
                Step::Same => self.retry = false,
                Step::Unavailable => self.retry = true,
                Step::Failed(e) => {
                    self.done = true;
                    return Some(error_event(&e));
                }
            }
        }
    }
}

/// `event: config`, `id:` the ETag, `data:` the configuration.
fn config_event(read: &Read) -> Event {
    let data = String::from_utf8_lossy(&read.cached.bytes);
    let event = Event::default().event("config").data(data);
    if read.etag.contains(['\n', '\r', '\0']) {
        event
    } else {
        event.id(read.etag.clone())
    }
}

/// `event: error`, `data:` the JSON error body.
fn error_event(e: &ApiError) -> Event {
    Event::default().event("error").data(e.body().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_seconds_up_to_the_limit() {
        let max = Duration::from_secs(28);
        assert_eq!(parse_wait(None, max).ok(), Some(DEFAULT_WAIT));
        assert_eq!(
            parse_wait(None, Duration::from_secs(3)).ok(),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            parse_wait(Some("0.5"), max).ok(),
            Some(Duration::from_millis(500))
        );
        for bad in ["-1", "x", "29", "NaN", "inf"] {
            let e = parse_wait(Some(bad), max).err();
            assert_eq!(e.map(|e| e.code), Some("bad_request"), "{bad}");
        }
    }

    #[test]
    fn tags_are_split_and_weak_marks_dropped() {
        let mut h = HeaderMap::new();
        h.insert(
            header::IF_NONE_MATCH,
            axum::http::HeaderValue::from_static("\"a-x\", W/\"b-y\""),
        );
        assert_eq!(
            tags(&h, header::IF_NONE_MATCH.as_str()),
            vec!["\"a-x\"".to_string(), "\"b-y\"".to_string()]
        );
        let mut sse = HeaderMap::new();
        sse.insert(
            header::ACCEPT,
            axum::http::HeaderValue::from_static("text/event-stream"),
        );
        assert!(wants_events(&sse));
        assert!(!wants_events(&h));
    }
}
