//! Prometheus metrics (`GET /metrics`, text format 0.0.4): request counts by route template
//! and status, request latency by route, cache hits and misses, the head revision's seq
//! and store call latency by operation. Plain atomics and mutex-guarded maps: no metrics
//! crate.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::AppState;

/// Histogram bucket upper bounds, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// One latency histogram (cumulative buckets are computed when rendered).
#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.counts[i] += 1;
        }
        self.count += 1;
        self.sum += secs;
    }

    fn render(&self, out: &mut String, name: &str, label: &str, value: &str) {
        let mut cumulative = 0;
        for (bound, n) in BUCKETS.iter().zip(self.counts) {
            cumulative += n;
            let _ = writeln!(
                out,
                "{name}_bucket{{{label}=\"{value}\",le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{label}=\"{value}\",le=\"+Inf\"}} {}",
            self.count
        );
        let _ = writeln!(out, "{name}_sum{{{label}=\"{value}\"}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{label}=\"{value}\"}} {}", self.count);
    }
}

/// The server's counters (one per [`AppState`]).
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    store: Mutex<BTreeMap<&'static str, Histogram>>,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    head_seq: AtomicU64,
    /// Cache entries carried over to a new head, and dropped because it may change them.
    cache_carried: AtomicU64,
    cache_invalidated: AtomicU64,
    /// Open server-sent-event watch streams, and long polls waiting.
    watch_streams: AtomicU64,
    watch_polls: AtomicU64,
}

/// Which kind of watcher a [`Watching`] guard counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WatchKind {
    /// A server-sent-event stream.
    Stream,
    /// A waiting long poll.
    Poll,
}

/// Counts one open watcher while it lives.
pub(crate) struct Watching {
    state: AppState,
    kind: WatchKind,
}

impl Watching {
    /// Counts a watcher of `kind` until the guard is dropped.
    pub(crate) fn new(state: &AppState, kind: WatchKind) -> Watching {
        state.metrics().gauge(kind).fetch_add(1, Ordering::Relaxed);
        Watching {
            state: state.clone(),
            kind,
        }
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        self.state
            .metrics()
            .gauge(self.kind)
            .fetch_sub(1, Ordering::Relaxed);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Metrics {
    /// Counts one answered request.
    pub(crate) fn request(&self, route: &str, status: u16, took: Duration) {
        *lock(&self.requests)
            .entry((route.to_string(), status))
            .or_default() += 1;
        lock(&self.latency)
            .entry(route.to_string())
            .or_default()
            .observe(took);
    }

    /// Records one store call of `op`.
    pub(crate) fn store_call(&self, op: &'static str, took: Duration) {
        lock(&self.store).entry(op).or_default().observe(took);
    }

    /// Counts a cache lookup.
    pub(crate) fn cache(&self, hit: bool) {
        let c = if hit {
            &self.cache_hits
        } else {
            &self.cache_misses
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// The head revision's seq as last read.
    pub(crate) fn head(&self, seq: u64) {
        self.head_seq.store(seq, Ordering::Relaxed);
    }

    /// Counts cache entries carried over to a new head and dropped.
    pub(crate) fn carried(&self, carried: u64, dropped: u64) {
        self.cache_carried.fetch_add(carried, Ordering::Relaxed);
        self.cache_invalidated.fetch_add(dropped, Ordering::Relaxed);
    }

    fn gauge(&self, kind: WatchKind) -> &AtomicU64 {
        match kind {
            WatchKind::Stream => &self.watch_streams,
            WatchKind::Poll => &self.watch_polls,
        }
    }

    /// The Prometheus text exposition.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP strata_http_requests_total HTTP requests answered, by route template and status.\n");
        out.push_str("# TYPE strata_http_requests_total counter\n");
        for ((route, status), n) in lock(&self.requests).iter() {
            let _ = writeln!(
                out,
                "strata_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        out.push_str("# HELP strata_http_request_duration_seconds HTTP request latency, by route template.\n");
        out.push_str("# TYPE strata_http_request_duration_seconds histogram\n");
        for (route, h) in lock(&self.latency).iter() {
            h.render(
                &mut out,
                "strata_http_request_duration_seconds",
                "route",
                &escape(route),
            );
        }
        out.push_str(
            "# HELP strata_store_call_duration_seconds Store call latency, by operation.\n",
        );
        out.push_str("# TYPE strata_store_call_duration_seconds histogram\n");
        for (op, h) in lock(&self.store).iter() {
            h.render(&mut out, "strata_store_call_duration_seconds", "op", op);
        }
        let value = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let header = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        for (name, help, counter) in [
            (
                "strata_cache_hits_total",
                "Effective configurations answered from the cache.",
                &self.cache_hits,
            ),
            (
                "strata_cache_misses_total",
                "Effective configurations resolved because they were not cached.",
                &self.cache_misses,
            ),
            (
                "strata_cache_carried_total",
                "Cached configurations carried over to a new head revision that cannot have changed them.",
                &self.cache_carried,
            ),
            (
                "strata_cache_invalidated_total",
                "Cached configurations dropped because a new head revision may have changed them.",
                &self.cache_invalidated,
            ),
        ] {
            header(&mut out, name, "counter", help);
            let _ = writeln!(out, "{name} {}", value(counter));
        }
        header(
            &mut out,
            "strata_watch_open",
            "gauge",
            "Open watches of configurations: server-sent-event streams and waiting long polls.",
        );
        for (kind, gauge) in [("stream", &self.watch_streams), ("poll", &self.watch_polls)] {
            let _ = writeln!(out, "strata_watch_open{{kind=\"{kind}\"}} {}", value(gauge));
        }
        header(
            &mut out,
            "strata_head_revision_seq",
            "gauge",
            "The seq of the head revision the server serves.",
        );
        let _ = writeln!(out, "strata_head_revision_seq {}", value(&self.head_seq));
        out
    }
}

/// Label values escape `\`, `"` and newlines.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The middleware counting every request by its route template (`unmatched` for the
/// fallback).
pub(crate) async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let started = Instant::now();
    let res = next.run(req).await;
    state
        .metrics()
        .request(&route, res.status().as_u16(), started.elapsed());
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.request("/healthz", 200, Duration::from_micros(100));
        m.request("/healthz", 200, Duration::from_millis(3));
        m.cache(true);
        m.head(4);
        let text = m.render();
        assert!(text.contains("strata_http_requests_total{route=\"/healthz\",status=\"200\"} 2"));
        assert!(text.contains(
            "strata_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"0.001\"} 1"
        ));
        assert!(text.contains(
            "strata_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"0.005\"} 2"
        ));
        assert!(text.contains("strata_cache_hits_total 1"));
        assert!(text.contains("strata_head_revision_seq 4"));
    }
}
