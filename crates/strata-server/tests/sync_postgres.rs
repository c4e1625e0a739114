//! PostgreSQL only: several servers on one database (a commit is served by another server
//! within a second, pushed by NOTIFY), and a store outage — a throwaway PostgreSQL cluster
//! of the test's own, stopped and started again while a server runs on it.
//!
//! Needs `STRATA_TEST_POSTGRES_URL` (a server where test databases are made) and the
//! PostgreSQL server binaries (`STRATA_TEST_PG_BIN`, else `initdb` in PATH, else the
//! newest `/usr/lib/postgresql/*/bin`). Without them these tests fail (they never skip).

mod suite;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use strata_server::ServerConfig;
use strata_testkit::pg;
use suite::watch::{commit_checkout, open};

const CONFIG: &str = "/v1/config/dev/checkout?provider=aws";

/// Waits until `check` holds, failing with `what` after `within`.
fn eventually(within: Duration, what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    loop {
        if check() {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "{what} (waited {within:?})");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_commit_is_served_by_another_server_within_a_second() {
    let url = pg::fresh_database("strata_sync");
    let a = suite::start(url.clone(), Box::new(()));
    // The second server re-reads the head only every 30 s: only the notification can
    // explain a change it serves within a second.
    let mut config = ServerConfig::new(url, SocketAddr::from(([127, 0, 0, 1], 0)));
    config.head_refresh = Duration::from_secs(30);
    let b = suite::serve(
        config,
        a.admin().to_string(),
        a.nobody().to_string(),
        Box::new(()),
    );
    let before = b.get(CONFIG, Some(b.admin()), None);
    assert_eq!(before.status, 200, "{}", before.body);
    let watcher = open(&b, Some(b.admin()), None);
    let first = watcher.next(Duration::from_secs(5)).expect("a first event");
    assert_eq!(first.json(), before.body);

    // The write goes through the first server's API, as a client's would.
    let posted = a.post(
        "/v1/changes",
        Some(a.admin()),
        &serde_json::json!({
            "message": "seven replicas",
            "changes": [{"set": "checkout:replicas", "layer": "env/dev", "value": 7}],
        }),
    );
    let committed = Instant::now();
    assert_eq!(posted.status, 201, "{}", posted.body);
    let rev = posted.body["revision"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let took = eventually(
        Duration::from_secs(1),
        "the other server did not serve the new revision within a second",
        || {
            let now = b.get(CONFIG, Some(b.admin()), before.etag.as_deref());
            now.status == 200 && now.body["replicas"] == 7
        },
    );
    let ev = watcher
        .next(Duration::from_secs(1).saturating_sub(committed.elapsed()))
        .expect("the watcher on the other server got no event within a second");
    assert_eq!(ev.json()["replicas"], 7, "{}", ev.data);
    assert!(
        ev.id
            .as_deref()
            .is_some_and(|i| i.starts_with(&format!("\"{rev}-"))),
        "{:?}",
        ev.id
    );
    // Both servers serve it.
    let on_a = a.get(CONFIG, Some(a.admin()), None);
    assert_eq!(on_a.body["replicas"], 7, "{}", on_a.body);
    assert!(took < Duration::from_secs(1), "{took:?}");
}

/// A PostgreSQL cluster of the test's own in a temporary directory (removed, and the
/// server stopped, when dropped).
struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

impl Cluster {
    /// `initdb` and start on a free 127.0.0.1 port.
    fn start() -> Cluster {
        let bin = pg_bin();
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("strata-outage-")
            .tempdir_in("/tmp")
            .unwrap();
        if as_postgres {
            run(Command::new("chown").arg("postgres:").arg(dir.path()));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = Cluster {
            bin,
            dir,
            port,
            as_postgres,
        };
        let data = cluster.data();
        run(cluster.command("initdb").args([
            "-D",
            &data,
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]));
        let conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n",
            cluster.dir.path().display()
        );
        let path = Path::new(&data).join("postgresql.conf");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(&conf);
        std::fs::write(&path, text).unwrap();
        cluster.pg_ctl_start();
        cluster
    }

    fn data(&self) -> String {
        self.dir.path().join("data").to_string_lossy().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// A command of the cluster's binaries, run as `postgres` when the test is root
    /// (PostgreSQL refuses to run as root).
    fn command(&self, tool: &str) -> Command {
        let program = self.bin.join(tool);
        let mut c = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        c.current_dir("/");
        c
    }

    fn pg_ctl_start(&self) {
        let log = self.dir.path().join("postgres.log");
        run(self.command("pg_ctl").args([
            "-D",
            &self.data(),
            "-l",
            &log.to_string_lossy(),
            "-w",
            "-t",
            "60",
            "start",
        ]));
    }

    fn pg_ctl_stop(&self, mode: &str) {
        run(self.command("pg_ctl").args([
            "-D",
            &self.data(),
            "-m",
            mode,
            "-w",
            "-t",
            "60",
            "stop",
        ]));
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.dir.path().join("data/postmaster.pid").exists() {
            let _ = self
                .command("pg_ctl")
                .args(["-D", &self.data(), "-m", "immediate", "-w", "stop"])
                .output();
        }
    }
}

/// Runs a command and fails with its output when it fails.
fn run(c: &mut Command) {
    let out = c
        .output()
        .unwrap_or_else(|e| panic!("cannot run {c:?}: {e}"));
    assert!(
        out.status.success(),
        "{c:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The directory of `initdb`, `pg_ctl` and `postgres`: `STRATA_TEST_PG_BIN`, else that of
/// `initdb` in PATH, else the newest `/usr/lib/postgresql/*/bin`.
fn pg_bin() -> PathBuf {
    let complete = |d: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|t| d.join(t).is_file())
    };
    if let Ok(dir) = std::env::var("STRATA_TEST_PG_BIN")
        && !dir.is_empty()
    {
        let dir = PathBuf::from(dir);
        assert!(
            complete(&dir),
            "STRATA_TEST_PG_BIN={} holds no initdb, pg_ctl and postgres",
            dir.display()
        );
        return dir;
    }
    for entry in std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
    {
        let initdb = entry.join("initdb");
        if let Ok(real) = std::fs::canonicalize(&initdb)
            && let Some(dir) = real.parent()
            && complete(dir)
        {
            return dir.to_path_buf();
        }
    }
    let mut versions: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let version = name
                .split('.')
                .map(|p| p.parse().ok())
                .collect::<Option<Vec<u32>>>()?;
            let bin = e.path().join("bin");
            complete(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "the PostgreSQL server binaries (initdb, pg_ctl, postgres) are needed to stop and start a store during this test: install them (Debian/Ubuntu: apt-get install postgresql), or set STRATA_TEST_PG_BIN to their directory (./scripts/test does both)"
        ),
    }
}

#[test]
fn a_stopped_store_is_served_from_memory_and_caught_up_when_it_returns() {
    let cluster = Cluster::start();
    let s = suite::start(cluster.url(), Box::new(()));
    let before = s.get(CONFIG, Some(s.admin()), None);
    assert_eq!(before.status, 200, "{}", before.body);
    assert_eq!(s.get("/readyz", None, None).status, 200);
    // A token the server has never seen: it must ask the store.
    let repo = strata_store::repo::open(&cluster.url()).unwrap();
    let unseen = strata_server::seed::create_token(&repo, "marco.silva", "test-admin").unwrap();
    let unseen = unseen.expose().to_string();
    drop(repo);
    let watcher = open(&s, Some(s.admin()), None);
    assert!(watcher.next(Duration::from_secs(5)).is_some());

    cluster.pg_ctl_stop("fast");
    eventually(
        Duration::from_secs(5),
        "/readyz did not say degraded",
        || {
            let r = s.get("/readyz", None, None);
            r.status == 503 && r.body["status"] == "degraded"
        },
    );
    let ready = s.get("/readyz", None, None);
    assert!(ready.body["reason"].is_string(), "{}", ready.body);
    // Reads go on from memory, whole and the same.
    let after = s.get(CONFIG, Some(s.admin()), None);
    assert_eq!(after.status, 200, "{}", after.body);
    assert_eq!(after.body, before.body);
    assert_eq!(after.etag, before.etag);
    // What needs the store is 503 with Retry-After.
    for (what, answer) in [
        ("the audit log", s.get("/v1/audit", Some(s.admin()), None)),
        ("an unseen token", s.get(CONFIG, Some(&unseen), None)),
    ] {
        assert_eq!(answer.status, 503, "{what}: {}", answer.body);
        assert_eq!(
            answer.body["error"]["code"], "store_unavailable",
            "{what}: {}",
            answer.body
        );
        let retry = answer.headers.get("retry-after");
        assert!(
            retry.is_some_and(|r| r.parse::<u32>().is_ok_and(|n| n > 0)),
            "{what}: Retry-After {retry:?}"
        );
    }

    cluster.pg_ctl_start();
    eventually(
        Duration::from_secs(10),
        "/readyz did not say ok once the store was back",
        || s.get("/readyz", None, None).status == 200,
    );
    let rev = commit_checkout(&s);
    let took = eventually(
        Duration::from_secs(1),
        "a revision committed after the restart was not served within a second",
        || s.get(CONFIG, Some(s.admin()), None).body["replicas"] == 7,
    );
    assert!(took < Duration::from_secs(1));
    let ev = watcher
        .next(Duration::from_secs(2))
        .expect("the watcher got no event after the restart");
    assert!(
        ev.id
            .as_deref()
            .is_some_and(|i| i.starts_with(&format!("\"{rev}-"))),
        "{ev:?}"
    );
    assert_eq!(s.get(CONFIG, Some(&unseen), None).status, 200);
}
