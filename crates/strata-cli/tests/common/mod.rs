//! Helpers shared by the CLI integration tests: build a project in a temporary directory,
//! run the real `strata` binary on it, and look at exit code, stdout and stderr.
//!
//! A fixture lives in `TMP/proj`, so a test can run `strata` inside the project (paths in
//! messages are `layers/…`) or from `TMP` with `--project proj` (paths are
//! `proj/layers/…`): both are deterministic, which keeps snapshots free of temp paths.

#![allow(dead_code)] // every test file uses a different subset

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The workspace root.
pub const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
/// The realistic example project.
pub const ACME: &str = strata_testkit::acme::DIR;

/// The services of `examples/acme`, in declaration order.
pub const ACME_SERVICES: &[&str] = &[
    "checkout",
    "ledger",
    "payments-gateway",
    "catalog",
    "search",
    "recommendations",
    "auth",
    "notifications",
    "ingest",
    "analytics",
    "billing-export",
];

/// The small project most tests start from: two services, three targets, three levels, a
/// var that differs per env, a typed `${ref:…}`, a `$provider` block, a list strategy and
/// values that are awkward to render (quotes, `$${`, dotted keys, look-alike numbers).
pub const SMALL: &[(&str, &str)] = &[
    (
        "strata.yaml",
        r#"version: 1
environments:
  - name: dev
  - name: prod
    protected: true
providers: [aws, gcp]
targets:
  - dev/aws/us-east-1
  - prod/aws/us-east-1
  - prod/gcp/europe-west1
hierarchy:
  - base
  - provider/{provider}
  - env/{env}
teams:
  web: { owners: [ana] }
services:
  api:    { team: web, schema: schemas/api.yaml }
  worker: { team: web, consumes: [api] }
vars:
  global: { company: acme, replicas: 2 }
  env:
    prod: { replicas: 4 }
merge:
  "api:allowed_origins": append
"#,
    ),
    (
        "schemas/api.yaml",
        "$schema: https://json-schema.org/draft/2020-12/schema\ntype: object\n",
    ),
    (
        "layers/base/api.yaml",
        r#"# api defaults
name: ${service}-${env}
replicas: ${vars.replicas}
db:
  host: db.${env}.${vars.company}.internal
  port: 5432
  pool: { min: 2, max: 10 }
  tls: true
  $provider:
    gcp: { host: "cloudsql.${region}.internal" }
allowed_origins: ["https://${vars.company}.com"]
ratio: 0.75
version_tag: "4.18"
labels:
  app.kubernetes.io/name: api
  team: web
motd: "it's \"quoted\" $${literal}"
empty_list: []
empty_map: {}
sidecars:
  - name: envoy
    image: envoy:v1.31
  - name: otel
    args: [--region, "${region}"]
"#,
    ),
    (
        "layers/env/prod/api.yaml",
        r#"db:
  pool:
    max: 50
allowed_origins: ["https://www.${vars.company}.com"]
"#,
    ),
    (
        "layers/base/worker.yaml",
        r#"queue: jobs-${env}
api_port: ${ref:api:db.port}
api_url: "http://api:${ref:api:db.port}/v1"
concurrency: 4
"#,
    ),
];

/// The targets of [`SMALL`].
pub const SMALL_TARGETS: &[&str] = &[
    "dev/aws/us-east-1",
    "prod/aws/us-east-1",
    "prod/gcp/europe-west1",
];

/// The result of one `strata` run.
#[derive(Debug)]
pub struct Run {
    /// The exit code; `None` when a signal ended the process.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts the exit code, showing both streams when it is wrong.
    #[track_caller]
    pub fn expect(self, code: i32) -> Self {
        assert_eq!(
            self.code,
            Some(code),
            "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Asserts success.
    #[track_caller]
    pub fn ok(self) -> Self {
        self.expect(0)
    }

    /// Stdout parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON: {e}\n{}", self.stdout))
    }
}

/// A `strata` command with a clean environment (no `STRATA_PROJECT` from the caller).
pub fn strata() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_strata"));
    cmd.env_remove("STRATA_PROJECT")
        .env_remove("STRATA_AGE_IDENTITY")
        .env_remove("STRATA_PRINCIPAL")
        .env_remove("STRATA_TOKEN")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("COLUMNS")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    cmd
}

/// Runs `strata ARGS` in `cwd`.
pub fn run(cwd: impl AsRef<Path>, args: &[&str]) -> Run {
    run_cmd(strata().current_dir(cwd).args(args))
}

/// Runs a prepared command to completion.
pub fn run_cmd(cmd: &mut Command) -> Run {
    let out = cmd.output().expect("run strata");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs a prepared command, killing it (and failing the test) after `limit`.
pub fn run_cmd_limited(cmd: &mut Command, limit: Duration) -> Run {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn strata");
    // Drain the pipes on threads so a chatty child never blocks on a full pipe.
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = std::io::Read::read_to_end(&mut out, &mut b);
        b
    });
    let err_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = std::io::Read::read_to_end(&mut err, &mut b);
        b
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("strata ran longer than {limit:?}: {cmd:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&out_t.join().unwrap_or_default()).into_owned(),
        stderr: String::from_utf8_lossy(&err_t.join().unwrap_or_default()).into_owned(),
    }
}

/// `strata serve` running on a fixture's project (see [`Fixture::serve`]); killed if
/// still running when dropped.
pub struct Serving {
    child: std::process::Child,
    stderr: std::io::BufReader<std::process::ChildStderr>,
    /// The first line it wrote to stderr (`serving on URL …`).
    pub first_line: String,
}

impl Serving {
    /// Sends SIGTERM and waits for the process to exit: its status and the rest of its
    /// stderr. Fails the test (killing it) when it is still running after 10 s.
    pub fn stop_with_sigterm(mut self) -> (std::process::ExitStatus, String) {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > Duration::from_secs(10) {
                let _ = self.child.kill();
                panic!("strata serve did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut self.stderr, &mut rest).unwrap();
        (status, rest)
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A project in `TMP/proj`, deleted when dropped.
pub struct Fixture {
    tmp: TempDir,
}

/// A fixture holding `files` (path, contents).
pub fn project(files: &[(&str, &str)]) -> Fixture {
    let f = Fixture {
        tmp: tempfile::tempdir().expect("tempdir"),
    };
    std::fs::create_dir_all(f.root()).expect("mkdir proj");
    for (path, contents) in files {
        f.write(path, contents.as_bytes());
    }
    f
}

/// A fixture with the [`SMALL`] project.
pub fn small() -> Fixture {
    project(SMALL)
}

impl Fixture {
    /// The project directory, `TMP/proj`.
    pub fn root(&self) -> PathBuf {
        self.tmp.path().join("proj")
    }

    /// The directory holding the project, `TMP`.
    pub fn outer(&self) -> &Path {
        self.tmp.path()
    }

    /// Writes a project file (creating directories).
    pub fn write(&self, path: &str, contents: impl AsRef<[u8]>) {
        let p = self.root().join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, contents).expect("write");
    }

    /// Removes a project file.
    pub fn remove(&self, path: &str) {
        std::fs::remove_file(self.root().join(path)).expect("remove");
    }

    /// Runs `strata ARGS` inside the project directory (no `--project`).
    pub fn run(&self, args: &[&str]) -> Run {
        run(self.root(), args)
    }

    /// Starts `strata serve ARGS` inside the project and waits for its first line on
    /// stderr.
    pub fn serve(&self, args: &[&str]) -> Serving {
        let mut child = strata()
            .current_dir(self.root())
            .arg("serve")
            .args(args)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut first_line = String::new();
        std::io::BufRead::read_line(&mut stderr, &mut first_line).unwrap();
        Serving {
            child,
            stderr,
            first_line,
        }
    }

    /// Runs `strata --project proj ARGS` from the directory holding the project.
    pub fn run_outside(&self, args: &[&str]) -> Run {
        let mut all = vec!["--project", "proj"];
        all.extend_from_slice(args);
        run(self.outer(), &all)
    }
}

/// Every file under `dir` (relative path with `/` → bytes), read as `strata demo` reads a
/// project to import.
pub fn read_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    strata_server::seed::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

/// Parses a YAML, JSON or TOML document with Strata's own reader (no `${…}` templates),
/// as JSON, to check that what `strata` prints can be read back.
#[track_caller]
pub fn parse_as_json(text: &str, format: strata_core::parse::Format) -> serde_json::Value {
    use std::sync::Arc;
    let path: Arc<str> = Arc::from("output");
    let node = strata_core::parse::parse_document(
        &path,
        Default::default(),
        text.as_bytes(),
        format,
        strata_core::parse::ParseOptions { templates: false },
    )
    .unwrap_or_else(|e| panic!("cannot read back the output: {e}\n{text}"));
    node.value.to_json()
}

/// Copies every file under `src` into `dst` (created as needed), keeping relative paths.
pub fn copy_tree(src: &Path, dst: &Path) {
    for (rel, bytes) in read_tree(src) {
        let p = dst.join(&rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, bytes).expect("write");
    }
}

/// A fixture holding a copy of `examples/acme` in `TMP/proj`.
pub fn acme() -> Fixture {
    let f = project(&[]);
    copy_tree(Path::new(ACME), &f.root());
    f
}

/// A copy of acme without its access policy (an open project), for tests about other
/// things than access control.
pub fn acme_open() -> Fixture {
    let f = acme();
    f.remove("policies/access.yaml");
    f
}

/// The targets of acme, in declaration order.
pub const ACME_TARGETS: &[&str] = &[
    "dev/aws/us-east-1",
    "dev/azure/eastus",
    "staging/aws/us-east-1",
    "staging/gcp/europe-west1",
    "prod/aws/us-east-1",
    "prod/aws/eu-west-1",
    "prod/gcp/europe-west1",
    "prod/azure/westeurope",
];

/// Runs `git ARGS` in `dir` as Alice, isolated from the user's configuration.
#[track_caller]
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_AUTHOR_NAME")
        .env_remove("GIT_AUTHOR_EMAIL")
        .env_remove("GIT_COMMITTER_NAME")
        .env_remove("GIT_COMMITTER_EMAIL")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .args([
            "-c",
            "user.name=Alice",
            "-c",
            "user.email=a@x",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A project whose `svc:db.password` is secret, encrypted to `recipient`.
pub fn secret_project(recipient: &str) -> Fixture {
    project(&[
        (
            "strata.yaml",
            &format!(
                "version: 1
environments:
  - name: prod
providers: [aws]
targets:
  - prod/aws/us-east-1
hierarchy:
  - base
  - env/{{env}}
  - target/{{env}}/{{provider}}/{{region}}
teams:
  ops: {{ owners: [ana] }}
services:
  svc: {{ team: ops, schema: schemas/svc.yaml }}
encryption:
  recipients: [{recipient}]
"
            ),
        ),
        (
            "schemas/svc.yaml",
            "$schema: https://json-schema.org/draft/2020-12/schema
type: object
properties:
  db:
    type: object
    properties:
      host: { type: string }
      password: { type: string, x-strata-secret: true }
",
        ),
        (
            "layers/base/svc.yaml",
            "db:\n  host: db.internal\n  password: hunter2-plain\n",
        ),
    ])
}

/// Writes a new age identity file; returns its path and public key.
pub fn identity(dir: &Path, name: &str) -> (PathBuf, String) {
    let (secret, public) = strata_store::crypto::generate_identity();
    let path = dir.join(name);
    std::fs::write(&path, format!("# public key: {public}\n{secret}\n")).expect("write identity");
    (path, public)
}
