//! Watching configurations over real HTTP (`GET /v1/watch/…`: server-sent events and the
//! long poll) and the cache carried over between revisions. Run on SQLite and PostgreSQL
//! through [`watch_suite!`].

use std::collections::BTreeMap;
use std::io::BufRead as _;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use strata_server::seed;

use super::{Answer, Running, answer, error_code};

/// checkout in dev on AWS.
pub const WATCH: &str = "/v1/watch/dev/checkout?provider=aws";
const CONFIG: &str = "/v1/config/dev/checkout?provider=aws";

/// One server-sent event.
#[derive(Debug, Clone, PartialEq)]
pub struct Ev {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

impl Ev {
    /// The data as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.data))
    }
}

/// An open event stream, read on a thread of its own.
pub struct Stream {
    rx: mpsc::Receiver<Ev>,
    pub headers: BTreeMap<String, String>,
}

impl Stream {
    /// The next event, if one comes within `within`.
    pub fn next(&self, within: Duration) -> Option<Ev> {
        self.rx.recv_timeout(within).ok()
    }

    /// Whether the server ended the stream within `within` (no event comes first).
    pub fn ends(&self, within: Duration) -> bool {
        match self.rx.recv_timeout(within) {
            Err(mpsc::RecvTimeoutError::Disconnected) => true,
            Ok(ev) => panic!("an event instead of the end: {ev:?}"),
            Err(mpsc::RecvTimeoutError::Timeout) => false,
        }
    }
}

/// Opens an event stream on `path`: the stream, or the answer when it is not one.
pub fn events(
    s: &Running,
    path: &str,
    token: Option<&str>,
    last_event_id: Option<&str>,
) -> Result<Stream, Box<Answer>> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = agent
        .get(format!("{}{path}", s.base()))
        .header("Accept", "text/event-stream");
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    if let Some(id) = last_event_id {
        req = req.header("Last-Event-ID", id);
    }
    let res = req.call().unwrap();
    if res.status() != 200 {
        return Err(Box::new(answer(res)));
    }
    let headers = res
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let (tx, rx) = mpsc::channel();
    let reader = res.into_body().into_reader();
    std::thread::spawn(move || {
        let mut reader = std::io::BufReader::new(reader);
        let mut current = Ev {
            event: "message".into(),
            id: None,
            data: String::new(),
        };
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let l = line.trim_end_matches(['\n', '\r']);
            if l.is_empty() {
                if !current.data.is_empty() {
                    let done = std::mem::replace(
                        &mut current,
                        Ev {
                            event: "message".into(),
                            id: None,
                            data: String::new(),
                        },
                    );
                    if tx.send(done).is_err() {
                        return;
                    }
                }
                continue;
            }
            if l.starts_with(':') {
                continue;
            }
            let (field, value) = l.split_once(':').unwrap_or((l, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => current.event = value.to_string(),
                "id" => current.id = Some(value.to_string()),
                "data" => {
                    if !current.data.is_empty() {
                        current.data.push('\n');
                    }
                    current.data.push_str(value);
                }
                _ => {}
            }
        }
    });
    Ok(Stream { rx, headers })
}

/// An event stream on [`WATCH`] that must open.
pub fn open(s: &Running, token: Option<&str>, last_event_id: Option<&str>) -> Stream {
    events(s, WATCH, token, last_event_id)
        .unwrap_or_else(|a| panic!("no stream: {} {}", a.status, a.body))
}

/// Commits the head's files with `from` replaced by `to` in `path` (through the store, as
/// another server or the CLI would), and returns the new revision id.
pub fn commit_edit(s: &Running, path: &str, from: &str, to: &str) -> String {
    let repo = strata_store::repo::open(s.store()).unwrap();
    let head = repo.head().unwrap();
    let mut files: BTreeMap<String, Vec<u8>> = repo
        .files(&head)
        .unwrap()
        .into_iter()
        .map(|(p, b)| (p, b.to_vec()))
        .collect();
    let file = files
        .get_mut(path)
        .unwrap_or_else(|| panic!("no {path} in the head"));
    let text = String::from_utf8(file.clone()).unwrap();
    assert!(text.contains(from), "{path} has no {from:?}:\n{text}");
    *file = text.replacen(from, to, 1).into_bytes();
    match seed::import(&repo, files, "test-admin", &format!("edit {path}")).unwrap() {
        strata_store::repo::ImportOutcome::Committed(rev) => rev.id.to_string(),
        other => panic!("nothing committed: {other:?}"),
    }
}

/// A commit changing only notifications' dev layer: checkout does not reference
/// notifications (the other way round), so its configuration cannot change.
pub fn commit_unrelated(s: &Running) -> String {
    commit_edit(
        s,
        "layers/env/dev/notifications.yaml",
        "replicas: 1\n",
        "replicas: 2\n",
    )
}

/// A commit changing checkout in dev (replicas 1 → 7).
pub fn commit_checkout(s: &Running) -> String {
    commit_edit(
        s,
        "layers/env/dev/checkout.yaml",
        "replicas: 1\n",
        "replicas: 7\n",
    )
}

/// Waits until the server serves revision `rev` to configuration reads (their
/// `Strata-Revision` header).
pub fn wait_for_head(s: &Running, rev: &str, within: Duration) {
    let started = Instant::now();
    loop {
        let a = s.get(CONFIG, Some(s.admin()), None);
        if a.headers.get("strata-revision").map(String::as_str) == Some(rev) {
            return;
        }
        assert!(
            started.elapsed() < within,
            "revision {rev} was not served within {within:?} (serving {:?})",
            a.headers.get("strata-revision")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The value of metric line `name` (e.g. `strata_cache_misses_total`).
pub fn metric(s: &Running, name: &str) -> f64 {
    let (status, text) = s.get_text("/metrics", Some(s.admin()));
    assert_eq!(status, 200, "{text}");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
        .parse()
        .unwrap()
}

pub fn events_start_with_the_configuration_and_follow_its_changes(s: &Running) {
    let now = s.get(CONFIG, Some(s.admin()), None);
    assert_eq!(now.status, 200, "{}", now.body);
    let stream = open(s, Some(s.admin()), None);
    assert!(
        stream
            .headers
            .get("content-type")
            .is_some_and(|c| c.starts_with("text/event-stream")),
        "{:?}",
        stream.headers
    );
    let first = stream
        .next(Duration::from_secs(5))
        .expect("a first event at once");
    assert_eq!(first.event, "config");
    assert_eq!(first.id, now.etag);
    assert_eq!(first.json(), now.body);
    assert_eq!(metric(s, "strata_watch_open{kind=\"stream\"}"), 1.0);

    // Another service's revision: served, but nothing for this watch.
    let unrelated = commit_unrelated(s);
    wait_for_head(s, &unrelated, Duration::from_secs(5));
    assert_eq!(stream.next(Duration::from_millis(500)), None);

    let changed = commit_checkout(s);
    let ev = stream
        .next(Duration::from_secs(5))
        .expect("an event for the change");
    assert_eq!(ev.event, "config");
    assert_eq!(ev.json()["replicas"], 7, "{}", ev.data);
    let id = ev.id.expect("an id");
    assert!(id.starts_with(&format!("\"{changed}-")), "{id}");
    assert_eq!(
        Some(id),
        s.get(CONFIG, Some(s.admin()), None).etag,
        "the event's id is the config read's ETag"
    );
    assert_eq!(stream.next(Duration::from_millis(300)), None);
}

pub fn event_streams_refuse_before_streaming(s: &Running) {
    let none = events(s, WATCH, None, None).err().expect("401");
    assert_eq!((none.status, error_code(&none)), (401, "unauthorized"));
    let nobody = events(s, WATCH, Some(s.nobody()), None).err().expect("403");
    assert_eq!(
        (nobody.status, error_code(&nobody)),
        (403, "forbidden"),
        "{}",
        nobody.body
    );
    assert!(nobody.body["error"]["details"]["rule"].is_string());
    let unknown = events(s, "/v1/watch/dev/nope?provider=aws", Some(s.admin()), None)
        .err()
        .expect("404");
    assert_eq!((unknown.status, error_code(&unknown)), (404, "not_found"));
    let ambiguous = events(s, "/v1/watch/prod/checkout", Some(s.admin()), None)
        .err()
        .expect("400");
    assert_eq!(ambiguous.status, 400, "{}", ambiguous.body);
    let rev = events(s, &format!("{WATCH}&rev=HEAD"), Some(s.admin()), None)
        .err()
        .expect("400");
    assert_eq!(
        (rev.status, error_code(&rev)),
        (400, "bad_request"),
        "{}",
        rev.body
    );
}

pub fn last_event_id_skips_a_current_first_event(s: &Running) {
    let first = open(s, Some(s.admin()), None)
        .next(Duration::from_secs(5))
        .expect("a first event");
    let id = first.id.clone().expect("an id");
    let again = open(s, Some(s.admin()), Some(&id));
    assert_eq!(again.next(Duration::from_millis(500)), None);
    // An older revision whose configuration is the current one is current too.
    let unrelated = commit_unrelated(s);
    wait_for_head(s, &unrelated, Duration::from_secs(5));
    let old_id = open(s, Some(s.admin()), Some(&id));
    assert_eq!(old_id.next(Duration::from_millis(500)), None);
    // An id naming something else gets the configuration at once.
    let other = open(s, Some(s.admin()), Some("\"0000-dev/aws/us-east-1\""));
    let ev = other.next(Duration::from_secs(5)).expect("a first event");
    assert_eq!(ev.json(), first.json());
    assert!(
        ev.id
            .is_some_and(|i| i.starts_with(&format!("\"{unrelated}-")))
    );
    // The stream that skipped its first event still reports changes.
    commit_checkout(s);
    let ev = again.next(Duration::from_secs(5)).expect("an event");
    assert_eq!(ev.json()["replicas"], 7);
}

pub fn a_watcher_losing_read_gets_an_error_event(s: &Running) {
    let repo = strata_store::repo::open(s.store()).unwrap();
    let auditor = seed::create_token(&repo, "lena.fischer", "test-admin").unwrap();
    let auditor = auditor.expose().to_string();
    let stream = open(s, Some(&auditor), None);
    assert_eq!(
        stream.next(Duration::from_secs(5)).map(|e| e.event),
        Some("config".to_string())
    );
    commit_edit(
        s,
        "policies/access.yaml",
        "  lena.fischer: { roles: [auditor] }\n",
        "",
    );
    let ev = stream.next(Duration::from_secs(5)).expect("an error event");
    assert_eq!(ev.event, "error");
    let body = ev.json();
    assert_eq!(body["error"]["code"], "forbidden", "{body}");
    assert!(body["error"]["details"]["rule"].is_string(), "{body}");
    assert!(stream.ends(Duration::from_secs(5)), "the stream went on");
    // The denial is audited like any other.
    let logged = s.get(
        "/v1/audit?principal=lena.fischer&action=read",
        Some(s.admin()),
        None,
    );
    assert_eq!(
        logged.body["entries"].as_array().map(Vec::len),
        Some(1),
        "{}",
        logged.body
    );
}

pub fn streams_end_when_the_server_shuts_down(s: &Running) {
    let stream = open(s, Some(s.admin()), None);
    assert!(stream.next(Duration::from_secs(5)).is_some());
    let started = Instant::now();
    s.shutdown();
    assert!(stream.ends(Duration::from_secs(5)), "the stream went on");
    while !s.stopped() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the server did not stop"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn long_polls_answer_a_change_or_304(s: &Running) {
    // Without If-None-Match: the configuration at once.
    let now = s.get(WATCH, Some(s.admin()), None);
    assert_eq!(now.status, 200, "{}", now.body);
    let config = s.get(CONFIG, Some(s.admin()), None);
    assert_eq!(now.body, config.body);
    assert_eq!(now.etag, config.etag);
    let etag = now.etag.clone().unwrap();

    // Nothing changes: 304 once the wait is over, not before.
    let started = Instant::now();
    let idle = s.get(&format!("{WATCH}&wait=0.4"), Some(s.admin()), Some(&etag));
    assert_eq!(idle.status, 304, "{}", idle.body);
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(idle.etag.as_deref(), Some(etag.as_str()));

    // A change of another service: still 304 (with the new revision's ETag).
    let unrelated = commit_unrelated(s);
    wait_for_head(s, &unrelated, Duration::from_secs(5));
    let other = s.get(&format!("{WATCH}&wait=0.3"), Some(s.admin()), Some(&etag));
    assert_eq!(other.status, 304, "{}", other.body);
    assert!(
        other
            .etag
            .as_deref()
            .is_some_and(|e| e.starts_with(&format!("\"{unrelated}-"))),
        "{:?}",
        other.etag
    );

    // A change of this configuration answers the waiting poll at once.
    std::thread::scope(|scope| {
        let poll = scope.spawn(|| {
            let started = Instant::now();
            let a = s.get(&format!("{WATCH}&wait=20"), Some(s.admin()), Some(&etag));
            (a, started.elapsed())
        });
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(metric(s, "strata_watch_open{kind=\"poll\"}"), 1.0);
        commit_checkout(s);
        let (a, took) = poll.join().unwrap();
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.body["replicas"], 7, "{}", a.body);
        assert!(took < Duration::from_secs(5), "{took:?}");
        assert_ne!(a.etag.as_deref(), Some(etag.as_str()));
    });
    // An ETag naming an older configuration: the current one at once.
    let stale = s.get(&format!("{WATCH}&wait=20"), Some(s.admin()), Some(&etag));
    assert_eq!(stale.status, 200);
    assert_eq!(stale.body["replicas"], 7);

    for bad in ["wait=-1", "wait=x", "wait=3600"] {
        let a = s.get(&format!("{WATCH}&{bad}"), Some(s.admin()), Some(&etag));
        assert_eq!((a.status, error_code(&a)), (400, "bad_request"), "{bad}");
    }
    assert_eq!(s.get(WATCH, None, None).status, 401);
    assert_eq!(s.get(WATCH, Some(s.nobody()), None).status, 403);
}

pub fn an_unrelated_revision_keeps_the_cache(s: &Running) {
    let first = s.get(CONFIG, Some(s.admin()), None);
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(metric(s, "strata_cache_misses_total"), 1.0);
    let unrelated = commit_unrelated(s);
    wait_for_head(s, &unrelated, Duration::from_secs(5));
    let again = s.get(CONFIG, Some(s.admin()), None);
    assert_eq!(again.body, first.body);
    assert_ne!(again.etag, first.etag, "a new revision, a new ETag");
    // Carried over, not resolved again.
    assert_eq!(metric(s, "strata_cache_misses_total"), 1.0);
    assert!(metric(s, "strata_cache_carried_total") >= 1.0);
    assert!(metric(s, "strata_cache_hits_total") >= 1.0);
    // A revision changing checkout drops it.
    let changed = commit_checkout(s);
    wait_for_head(s, &changed, Duration::from_secs(5));
    assert_eq!(metric(s, "strata_cache_misses_total"), 2.0);
    assert!(metric(s, "strata_cache_invalidated_total") >= 1.0);
    let now = s.get(CONFIG, Some(s.admin()), None);
    assert_eq!(now.body["replicas"], 7);
}

/// One `#[test]` per case of this module, each on a fresh server from `$start`.
#[macro_export]
macro_rules! watch_suite {
    ($start:expr) => {
        #[test]
        fn events_start_with_the_configuration_and_follow_its_changes() {
            suite::watch::events_start_with_the_configuration_and_follow_its_changes(&$start);
        }
        #[test]
        fn event_streams_refuse_before_streaming() {
            suite::watch::event_streams_refuse_before_streaming(&$start);
        }
        #[test]
        fn last_event_id_skips_a_current_first_event() {
            suite::watch::last_event_id_skips_a_current_first_event(&$start);
        }
        #[test]
        fn a_watcher_losing_read_gets_an_error_event() {
            suite::watch::a_watcher_losing_read_gets_an_error_event(&$start);
        }
        #[test]
        fn streams_end_when_the_server_shuts_down() {
            suite::watch::streams_end_when_the_server_shuts_down(&$start);
        }
        #[test]
        fn long_polls_answer_a_change_or_304() {
            suite::watch::long_polls_answer_a_change_or_304(&$start);
        }
        #[test]
        fn an_unrelated_revision_keeps_the_cache() {
            suite::watch::an_unrelated_revision_keeps_the_cache(&$start);
        }
    };
}
