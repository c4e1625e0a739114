//! A small blocking client for the Strata server (`strata serve`, see docs/server.md), with
//! an on-disk cache of the last good configuration so that a service keeps starting when
//! the server cannot be reached.
//!
//! ```no_run
//! let client = strata_client::Client::new("http://127.0.0.1:7878", "strata_…")?
//!     .with_cache_dir("/var/cache/myservice/strata");
//! let fetched = client.fetch("prod", "checkout", Some(("aws", "us-east-1")))?;
//! if fetched.from_cache {
//!     eprintln!("using the cached configuration: {}", fetched.outage.unwrap_or_default());
//! }
//! println!("{}", fetched.config["db"]["pool"]["max_size"]);
//! # Ok::<(), strata_client::ClientError>(())
//! ```
//!
//! What is served from the cache: the cached configuration is used when the server answers
//! `304 Not Modified` to the cached `ETag` (`from_cache == false`, `not_modified == true`: the
//! server confirmed it), and when the server is unreachable — connection refused, DNS
//! failure, timeout, or a `5xx`/`408`/`429` answer — (`from_cache == true`). A `401`, `403`,
//! `404` or any other `4xx` is an answer, not an outage: it is returned as
//! [`ClientError::Status`] and the cache is not used.

mod cache;

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use cache::{CacheEntry, default_cache_dir};

/// The default timeout of a request (connecting included).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest configuration body read (64 MiB).
const BODY_LIMIT: u64 = 64 * 1024 * 1024;

/// What can go wrong when fetching a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server URL given to [`Client::new`] is not usable.
    #[error("invalid server URL {url:?}: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// Why it is refused.
        reason: String,
    },
    /// The server answered with an error status that is not an outage (`4xx`): the cache
    /// is not used.
    #[error("{url}: the server answered {status} ({code}): {message}")]
    Status {
        /// The URL asked.
        url: String,
        /// The HTTP status.
        status: u16,
        /// `error.code` of the JSON error body (`unauthorized`, `forbidden`, `not_found`, …),
        /// or `http_STATUS` when the body is not a Strata error.
        code: String,
        /// `error.message` of the body (or the body's start).
        message: String,
        /// `error.details` of the body (`Null` when absent).
        details: Box<serde_json::Value>,
    },
    /// The server could not be reached (or answered `5xx`) and no cached configuration
    /// exists for this request.
    #[error("cannot reach the Strata server at {url} ({reason}), and {cache}")]
    Unavailable {
        /// The URL asked.
        url: String,
        /// What failed (connection refused, timeout, `503 store_unavailable`, …).
        reason: String,
        /// Where a cached copy was looked for, as text.
        cache: String,
    },
    /// The server's answer could not be understood (not JSON, a `304` without a cached
    /// copy, …).
    #[error("{url}: unexpected answer: {reason}")]
    Protocol {
        /// The URL asked.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// The request could not be made (e.g. an invalid URL once the path is added).
    #[error("{url}: request failed: {reason}")]
    Request {
        /// The URL asked.
        url: String,
        /// Why.
        reason: String,
    },
    /// The server's certificate was not accepted (not issued by a trusted CA, expired, for
    /// another name…), or a `--ca-cert` file cannot be used. Not an outage: the cache is
    /// not used.
    #[error("{origin}: TLS: {reason}")]
    Tls {
        /// The URL asked, or the CA certificate file.
        origin: String,
        /// What was wrong.
        reason: String,
    },
    /// Writing the cache failed (the configuration itself was fetched; see
    /// [`Fetched::cache_error`] — this variant is only returned by [`Client::store`]).
    #[error("cache file {}: {reason}", path.display())]
    Cache {
        /// The cache file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl ClientError {
    /// Whether the error is an outage (the server was not reached or failed), as opposed
    /// to an answer such as 401/403/404.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, ClientError::Unavailable { .. })
    }

    /// The HTTP status of an error answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A fetched effective configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Fetched {
    /// The effective configuration (the JSON of `strata resolve`, secrets redacted).
    pub config: serde_json::Value,
    /// The `ETag` (`"REVISION-ENV/PROVIDER/REGION"`), quotes included.
    pub etag: Option<String>,
    /// The revision id (`Strata-Revision`, else taken from the ETag).
    pub revision: Option<String>,
    /// The target the server chose (`ENV/PROVIDER/REGION`), when known.
    pub target: Option<String>,
    /// True when the server could not be reached and this is the last good configuration
    /// from the cache (possibly stale); [`Fetched::outage`] says why.
    pub from_cache: bool,
    /// True when the server answered `304 Not Modified`: the cached copy is current.
    pub not_modified: bool,
    /// With `from_cache`: what failed (connection refused, timeout, `503 …`).
    pub outage: Option<String>,
    /// Writing the new answer to the cache failed (the configuration is still good).
    pub cache_error: Option<String>,
}

/// How [`Client::watch`] waits for changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchOptions {
    /// How long the server holds each long poll before answering that nothing changed (at
    /// most the server's request timeout less 2 s: 28 s by default).
    pub wait: Duration,
    /// The first pause after the server could not be reached, doubled after each failure
    /// up to `max_backoff`.
    pub backoff: Duration,
    /// The longest pause between attempts while the server cannot be reached.
    pub max_backoff: Duration,
}

impl Default for WatchOptions {
    /// 25 s polls; 0.5 s to 30 s between attempts during an outage.
    fn default() -> Self {
        WatchOptions {
            wait: Duration::from_secs(25),
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// One configuration request: what is asked, at which URL, and its cache file.
struct Ask<'a> {
    env: &'a str,
    service: &'a str,
    hint: Option<(&'a str, &'a str)>,
    url: &'a str,
    path: Option<&'a Path>,
}

/// The API token; never shown by `Debug`.
#[derive(Clone)]
struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A blocking client of one Strata server.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    token: Token,
    timeout: Duration,
    cache_dir: Option<PathBuf>,
    /// CA certificates trusted for `https://` besides Mozilla's roots.
    ca_certs: Vec<ureq::tls::Certificate<'static>>,
    agent: Agent,
}

#[derive(Clone)]
struct Agent(ureq::Agent);

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Agent")
    }
}

/// An agent with `timeout`, trusting Mozilla's roots (webpki) and `extra` CAs.
fn agent(timeout: Duration, extra: &[ureq::tls::Certificate<'static>]) -> Agent {
    let roots = if extra.is_empty() {
        ureq::tls::RootCerts::WebPki
    } else {
        let mozilla = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned());
        ureq::tls::RootCerts::from(mozilla.chain(extra.iter().cloned()))
    };
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .max_redirects(0)
        .tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build())
        .build();
    Agent(config.into())
}

impl Client {
    /// A client of the server at `base_url` (`http://host:port`, optionally with a path
    /// prefix), authenticating with the API token `token`. No cache until
    /// [`Client::with_cache_dir`]; requests time out after [`DEFAULT_TIMEOUT`].
    pub fn new(base_url: &str, token: impl Into<String>) -> Result<Client, ClientError> {
        let base = base_url.trim().trim_end_matches('/').to_string();
        let bad = |reason: &str| ClientError::BadUrl {
            url: base_url.to_string(),
            reason: reason.to_string(),
        };
        let rest = base
            .strip_prefix("http://")
            .or_else(|| base.strip_prefix("https://"))
            .ok_or_else(|| bad("it must start with http:// or https://"))?;
        if rest.is_empty() || rest.starts_with('/') {
            return Err(bad("it names no host"));
        }
        if rest.contains(['?', '#', ' ']) {
            return Err(bad("it must not hold a query, a fragment or spaces"));
        }
        let token = token.into();
        if token.is_empty() || token.contains(|c: char| c.is_control() || c == ' ') {
            return Err(bad(
                "the API token is empty or holds spaces or control characters",
            ));
        }
        Ok(Client {
            base,
            token: Token(token),
            timeout: DEFAULT_TIMEOUT,
            cache_dir: None,
            ca_certs: Vec::new(),
            agent: agent(DEFAULT_TIMEOUT, &[]),
        })
    }

    /// Trusts the CA certificates in the PEM file `path` for `https://` servers, in
    /// addition to Mozilla's roots (a private CA that issued the server's certificate).
    pub fn with_ca_cert(mut self, path: impl AsRef<Path>) -> Result<Client, ClientError> {
        let path = path.as_ref();
        let bad = |reason: String| ClientError::Tls {
            origin: format!("CA certificate file {}", path.display()),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
        let mut found = Vec::new();
        for item in ureq::tls::parse_pem(&pem) {
            match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => found.push(c),
                Ok(_) => {}
                Err(e) => return Err(bad(format!("not valid PEM: {e}"))),
            }
        }
        if found.is_empty() {
            return Err(bad(
                "it holds no certificate (expected `-----BEGIN CERTIFICATE-----` blocks)".into(),
            ));
        }
        self.ca_certs.extend(found);
        self.agent = agent(self.timeout, &self.ca_certs);
        Ok(self)
    }

    /// Keeps the last good configuration of each request in `dir` (created when needed).
    pub fn with_cache_dir(mut self, dir: impl Into<PathBuf>) -> Client {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Sets the timeout of a whole request (connecting, sending and reading).
    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout;
        self.agent = agent(timeout, &self.ca_certs);
        self
    }

    /// The server URL (without a trailing slash).
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The cache directory, when there is one.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.cache_dir.as_deref()
    }

    /// The timeout of a request.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The URL of the effective configuration of `service` in `env`.
    pub fn config_url(&self, env: &str, service: &str, hint: Option<(&str, &str)>) -> String {
        let mut url = format!(
            "{}/v1/config/{}/{}",
            self.base,
            encode(env),
            encode(service)
        );
        if let Some((provider, region)) = hint {
            url.push_str(&format!(
                "?provider={}&region={}",
                encode(provider),
                encode(region)
            ));
        }
        url
    }

    /// The URL of the long poll on the configuration of `service` in `env`, waiting
    /// `wait` for a change (`GET /v1/watch/…?wait=`).
    pub fn watch_url(
        &self,
        env: &str,
        service: &str,
        hint: Option<(&str, &str)>,
        wait: Duration,
    ) -> String {
        let config = self.config_url(env, service, hint);
        let rest = config
            .strip_prefix(&format!("{}/v1/config/", self.base))
            .unwrap_or_default();
        let sep = if hint.is_some() { '&' } else { '?' };
        format!(
            "{}/v1/watch/{rest}{sep}wait={}",
            self.base,
            wait.as_secs_f64()
        )
    }

    /// Follows the effective configuration of `service` in `env` (narrowed to
    /// `(provider, region)` when given): calls `on_change` with the current configuration
    /// (as [`Client::fetch`] gets it: from the cache when the server is unreachable), then
    /// with each new one, until `on_change` breaks. Each change is a long poll
    /// (`GET /v1/watch/…?wait=` with the ETag held) answered as soon as the configuration
    /// differs, and is written to the cache. While the server cannot be reached the watch
    /// waits (with backoff, see [`WatchOptions`]) and goes on when it is back, without
    /// calling `on_change` for the outage.
    ///
    /// Errors: those of the first [`Client::fetch`], and any later answer that is not an
    /// outage (401 after a revocation, 403 after a policy change, 404, …).
    pub fn watch(
        &self,
        env: &str,
        service: &str,
        target_hint: Option<(&str, &str)>,
        options: &WatchOptions,
        mut on_change: impl FnMut(&Fetched) -> ControlFlow<()>,
    ) -> Result<(), ClientError> {
        let mut current = self.fetch(env, service, target_hint)?;
        if on_change(&current).is_break() {
            return Ok(());
        }
        // A long poll takes up to `wait`, then the usual time to answer.
        let agent = agent(options.wait + self.timeout, &self.ca_certs);
        let url = self.watch_url(env, service, target_hint, options.wait);
        let path = self.cache_path(env, service, target_hint);
        let ask = Ask {
            env,
            service,
            hint: target_hint,
            url: &url,
            path: path.as_deref(),
        };
        let mut backoff = options.backoff;
        loop {
            let held = CacheEntry {
                server: self.base.clone(),
                env: env.to_string(),
                service: service.to_string(),
                target_hint: target_hint.map(|(p, r)| (p.to_string(), r.to_string())),
                etag: current.etag.clone(),
                revision: current.revision.clone(),
                target: current.target.clone(),
                config: current.config.clone(),
            };
            let next = self.exchange(&agent.0, &ask, Some(held))?;
            if next.from_cache {
                // The server cannot be reached: keep what we have, try again later.
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(options.max_backoff);
                continue;
            }
            backoff = options.backoff;
            if next.not_modified {
                continue;
            }
            if next.config == current.config && next.etag.is_none() {
                // Without an ETag the server cannot wait for a change: do not spin.
                std::thread::sleep(options.wait);
                continue;
            }
            let changed = next.config != current.config;
            current = next;
            if changed && on_change(&current).is_break() {
                return Ok(());
            }
        }
    }

    /// The cache file of a request (`None` without a cache directory).
    pub fn cache_path(
        &self,
        env: &str,
        service: &str,
        hint: Option<(&str, &str)>,
    ) -> Option<PathBuf> {
        let dir = self.cache_dir.as_ref()?;
        Some(cache::path(dir, &self.base, env, service, hint))
    }

    /// Writes `entry` as the cached answer of a request (what [`Client::fetch`] does after
    /// each `200`).
    pub fn store(
        &self,
        env: &str,
        service: &str,
        hint: Option<(&str, &str)>,
        entry: &CacheEntry,
    ) -> Result<(), ClientError> {
        match self.cache_path(env, service, hint) {
            Some(path) => cache::write(&path, entry),
            None => Ok(()),
        }
    }

    /// Fetches the effective configuration of `service` in `env`, narrowed to
    /// `(provider, region)` when given. See the crate documentation for when the cache is
    /// used.
    pub fn fetch(
        &self,
        env: &str,
        service: &str,
        target_hint: Option<(&str, &str)>,
    ) -> Result<Fetched, ClientError> {
        let url = self.config_url(env, service, target_hint);
        let path = self.cache_path(env, service, target_hint);
        // An unreadable or damaged cache file counts as no cache.
        let cached = path.as_deref().and_then(cache::read);
        let ask = Ask {
            env,
            service,
            hint: target_hint,
            url: &url,
            path: path.as_deref(),
        };
        self.exchange(&self.agent.0, &ask, cached)
    }

    /// Asks `ask.url` with `If-None-Match` the ETag of `held` (the configuration the caller
    /// has: from the cache, or the last one a watch saw); a `200` is written to the cache,
    /// a `304` or an outage answers `held`.
    fn exchange(
        &self,
        agent: &ureq::Agent,
        ask: &Ask<'_>,
        cached: Option<CacheEntry>,
    ) -> Result<Fetched, ClientError> {
        let (env, service, target_hint, url, path) =
            (ask.env, ask.service, ask.hint, ask.url, ask.path);
        let mut req = agent
            .get(url)
            .header("Authorization", format!("Bearer {}", self.token.0))
            .header("Accept", "application/json");
        if let Some(etag) = cached.as_ref().and_then(|c| c.etag.as_deref()) {
            req = req.header("If-None-Match", etag);
        }
        let outage = |reason: String, cached: Option<CacheEntry>| match cached {
            Some(c) => Ok(Fetched {
                config: c.config,
                etag: c.etag,
                revision: c.revision,
                target: c.target,
                from_cache: true,
                not_modified: false,
                outage: Some(reason),
                cache_error: None,
            }),
            None => Err(ClientError::Unavailable {
                url: url.to_string(),
                reason,
                cache: match &path {
                    Some(p) => format!("no cached configuration at {}", p.display()),
                    None => "no cache directory is configured".to_string(),
                },
            }),
        };

        let mut res = match req.call() {
            Ok(res) => res,
            Err(e) => {
                if let Some(reason) = tls_failure(&e) {
                    return Err(ClientError::Tls {
                        origin: url.to_string(),
                        reason,
                    });
                }
                return match transport_outage(&e) {
                    Some(reason) => outage(reason, cached),
                    None => Err(ClientError::Request {
                        url: url.to_string(),
                        reason: e.to_string(),
                    }),
                };
            }
        };
        let status = res.status().as_u16();
        let header = |name: &str| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let etag = header("etag");
        let target = header("strata-target");
        let revision = header("strata-revision").or_else(|| etag.as_deref().and_then(rev_of));

        match status {
            200 => {
                let body = match res.body_mut().with_config().limit(BODY_LIMIT).read_to_vec() {
                    Ok(b) => b,
                    Err(e) => {
                        return match transport_outage(&e) {
                            Some(reason) => outage(reason, cached),
                            None => Err(ClientError::Protocol {
                                url: url.to_string(),
                                reason: format!("reading the body: {e}"),
                            }),
                        };
                    }
                };
                let config: serde_json::Value =
                    serde_json::from_slice(&body).map_err(|e| ClientError::Protocol {
                        url: url.to_string(),
                        reason: format!("the body is not JSON: {e}"),
                    })?;
                let entry = CacheEntry {
                    server: self.base.clone(),
                    env: env.to_string(),
                    service: service.to_string(),
                    target_hint: target_hint.map(|(p, r)| (p.to_string(), r.to_string())),
                    etag: etag.clone(),
                    revision: revision.clone(),
                    target: target.clone(),
                    config,
                };
                let cache_error = match &path {
                    Some(p) => cache::write(p, &entry).err().map(|e| e.to_string()),
                    None => None,
                };
                Ok(Fetched {
                    config: entry.config,
                    etag,
                    revision,
                    target,
                    from_cache: false,
                    not_modified: false,
                    outage: None,
                    cache_error,
                })
            }
            304 => match cached {
                Some(c) => Ok(Fetched {
                    config: c.config,
                    etag: etag.or(c.etag),
                    revision: revision.or(c.revision),
                    target: target.or(c.target),
                    from_cache: false,
                    not_modified: true,
                    outage: None,
                    cache_error: None,
                }),
                None => Err(ClientError::Protocol {
                    url: url.to_string(),
                    reason: "304 Not Modified to a request without If-None-Match".into(),
                }),
            },
            s if s >= 500 || s == 408 || s == 429 => {
                let (code, message, _) = error_body(&mut res);
                outage(format!("the server answered {s} {code}: {message}"), cached)
            }
            s => {
                let (code, message, details) = error_body(&mut res);
                Err(ClientError::Status {
                    url: url.to_string(),
                    status: s,
                    code,
                    message,
                    details: Box::new(details),
                })
            }
        }
    }
}

/// The reason text when a request failed because the TLS handshake did (the server's
/// certificate was refused): a configuration problem, not an outage.
fn tls_failure(e: &ureq::Error) -> Option<String> {
    use ureq::Error as E;
    match e {
        E::Tls(m) => Some((*m).to_string()),
        E::Rustls(r) => Some(r.to_string()),
        E::Pem(p) => Some(p.to_string()),
        // rustls handshakes on the first write: its error comes wrapped in an I/O error.
        E::Io(io) => io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .map(|r| r.to_string()),
        _ => None,
    }
}

/// The reason text when a transport error is an outage (the server was not reached or
/// stopped answering), `None` for errors of the request itself.
fn transport_outage(e: &ureq::Error) -> Option<String> {
    use ureq::Error as E;
    match e {
        E::ConnectionFailed => Some("connection failed".into()),
        E::HostNotFound => Some("host not found".into()),
        E::Timeout(t) => Some(format!("timed out ({t})")),
        E::Io(io) => Some(format!("I/O error: {io}")),
        E::Protocol(p) => Some(format!("HTTP protocol error: {p}")),
        _ => None,
    }
}

/// `(code, message, details)` of a JSON error body.
fn error_body(res: &mut ureq::http::Response<ureq::Body>) -> (String, String, serde_json::Value) {
    let status = res.status().as_u16();
    let text = res
        .body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_string()
        .unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let err = &json["error"];
    let code = err["code"]
        .as_str()
        .map_or_else(|| format!("http_{status}"), str::to_string);
    let message = err["message"].as_str().map_or_else(
        || {
            let t: String = text.chars().take(200).collect();
            if t.trim().is_empty() {
                "(no body)".to_string()
            } else {
                t.trim().to_string()
            }
        },
        str::to_string,
    );
    (code, message, err["details"].clone())
}

/// The revision id of an ETag `"REV-ENV/PROVIDER/REGION"`.
fn rev_of(etag: &str) -> Option<String> {
    let inner = etag.trim_start_matches("W/").trim_matches('"');
    inner
        .split_once('-')
        .map(|(rev, _)| rev.to_string())
        .filter(|r| !r.is_empty())
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_not_in_debug_output() {
        let c = Client::new("http://127.0.0.1:1/", "strata_secret_token").unwrap();
        let text = format!("{c:?}");
        assert!(!text.contains("strata_secret_token"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
        assert_eq!(c.base_url(), "http://127.0.0.1:1");
    }

    #[test]
    fn bad_urls_and_tokens_are_refused() {
        for url in ["", "127.0.0.1:7878", "ftp://x", "http://", "http://x/?a"] {
            assert!(
                matches!(Client::new(url, "t"), Err(ClientError::BadUrl { .. })),
                "{url}"
            );
        }
        assert!(Client::new("http://x", "").is_err());
        let e = Client::new("http://x", "a b\n").unwrap_err().to_string();
        assert!(!e.contains("a b"), "{e}");
    }

    #[test]
    fn urls_are_encoded() {
        let c = Client::new("http://h:1/prefix", "t").unwrap();
        assert_eq!(
            c.config_url("dev", "a b/c", Some(("aws", "us-east-1"))),
            "http://h:1/prefix/v1/config/dev/a%20b%2Fc?provider=aws&region=us-east-1"
        );
        assert_eq!(
            c.config_url("dev", "x", None),
            "http://h:1/prefix/v1/config/dev/x"
        );
    }

    #[test]
    fn revision_from_etag() {
        assert_eq!(
            rev_of("\"abc123-dev/aws/us-east-1\"").as_deref(),
            Some("abc123")
        );
        assert_eq!(rev_of("W/\"r-x\"").as_deref(), Some("r"));
        assert_eq!(rev_of("\"\""), None);
    }
}
