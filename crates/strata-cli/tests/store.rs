//! The versioned store through the real `strata` binary, on real project directories, real
//! git repositories and real SQLite files (PostgreSQL where stated): import, edits with
//! optimistic concurrency, history, tags and reverts, secrets at rest, corruption
//! detection and recovery, crash safety and concurrent processes.
//!
//! The PostgreSQL variant needs `STRATA_TEST_POSTGRES_URL` (set by `./scripts/test`, which
//! starts a throwaway server); without it that test fails instead of skipping.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// The files of [`acme_open`]: acme without its access policy.
fn acme_open_tree() -> BTreeMap<String, Vec<u8>> {
    let mut t = read_tree(Path::new(ACME));
    t.remove("policies/access.yaml");
    t
}
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------
// Helpers

const PROD: &str = "prod/aws/us-east-1";
const DEV: &str = "dev/aws/us-east-1";

/// A `strata ARGS` command in `cwd`, free of the caller's store settings; the author is
/// `tester`.
fn cmd(cwd: &Path, args: &[&str]) -> Command {
    let mut c = strata();
    c.current_dir(cwd)
        .args(args)
        .env_remove("STRATA_STORE")
        .env_remove("STRATA_AGE_IDENTITY")
        .env("STRATA_AUTHOR", "tester");
    c
}

/// Runs `strata ARGS` in `cwd` (see [`cmd`]).
fn st(cwd: &Path, args: &[&str]) -> Run {
    run_cmd(&mut cmd(cwd, args))
}

/// `(seq, short id)` from a `revision #N ID…` line.
fn parse_revision(stdout: &str) -> Option<(u64, String)> {
    let rest = stdout.strip_prefix("revision #")?;
    let (seq, rest) = rest.split_once(' ')?;
    let id = rest.get(..12)?;
    if !id
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    Some((seq.parse().ok()?, id.to_string()))
}

/// `(seq, short id)` of the revision a command reported.
#[track_caller]
fn committed(run: &Run) -> (u64, String) {
    parse_revision(&run.stdout)
        .unwrap_or_else(|| panic!("no `revision #N ID` in stdout {:?}", run.stdout))
}

/// `strata log --json EXTRA` in `cwd`.
#[track_caller]
fn log_json(cwd: &Path, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["log", "--json"];
    args.extend_from_slice(extra);
    let v = st(cwd, &args).ok().json();
    v.as_array().expect("log --json prints an array").clone()
}

/// The full id of `rev` (via `show --json`).
#[track_caller]
fn full_id(cwd: &Path, rev: &str) -> String {
    let v = st(cwd, &["show", rev, "--json"]).ok().json();
    v["revision"]["id"].as_str().expect("id").to_string()
}

/// The revision field `key` of a log entry.
fn rev_of<'a>(entry: &'a Value, key: &str) -> &'a Value {
    &entry["revision"][key]
}

/// Asserts that log entries (newest first) form one linear chain #N … #1.
#[track_caller]
fn assert_linear(entries: &[Value]) {
    let n = entries.len() as u64;
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(rev_of(e, "seq"), &json!(n - i as u64), "seq of entry {i}");
        let id = rev_of(e, "id").as_str().unwrap();
        assert_eq!(id.len(), 64, "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        match entries.get(i + 1) {
            Some(older) => assert_eq!(rev_of(e, "parent"), rev_of(older, "id"), "entry {i}"),
            None => assert_eq!(rev_of(e, "parent"), &Value::Null, "the first revision"),
        }
    }
}

/// `strata resolve SERVICE --target TARGET --rev REV --get PATH`, trimmed.
#[track_caller]
fn get(cwd: &Path, service: &str, target: &str, path: &str, rev: &str) -> String {
    st(
        cwd,
        &[
            "resolve", service, "--target", target, "--rev", rev, "--get", path,
        ],
    )
    .ok()
    .stdout
    .trim_end()
    .to_string()
}

/// The project files under `dir` (without `.git` and `.strata`).
fn project_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    read_tree(dir)
        .into_iter()
        .filter(|(p, _)| !p.starts_with(".strata/") && !p.starts_with(".git/"))
        .collect()
}

fn read(path: impl AsRef<Path>) -> String {
    let path = path.as_ref();
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn write(path: impl AsRef<Path>, text: &str) {
    let path = path.as_ref();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// Replaces the one occurrence of `from` in a file.
#[track_caller]
fn edit(path: impl AsRef<Path>, from: &str, to: &str) {
    let path = path.as_ref();
    let text = read(path);
    assert_eq!(
        text.matches(from).count(),
        1,
        "{from:?} in {}",
        path.display()
    );
    write(path, &text.replacen(from, to, 1));
}

/// A tiny project: one service, two levels.
const TINY: &[(&str, &str)] = &[
    (
        "strata.yaml",
        "version: 1
environments:
  - name: prod
providers: [aws]
targets:
  - prod/aws/us-east-1
hierarchy:
  - base
  - env/{env}
teams:
  ops: { owners: [ana] }
services:
  svc: { team: ops }
",
    ),
    ("layers/base/svc.yaml", "# svc defaults\nport: 80\n"),
    ("layers/env/prod/svc.yaml", "port: 443\n"),
];

/// Merges the store's write-ahead log into the database file and checks that nothing is
/// left in it, so what is in `store.db` is the whole store.
#[track_caller]
fn checkpoint(db: &Path) {
    let conn = rusqlite::Connection::open(db).expect("open the store with rusqlite");
    let busy: i64 = conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
        .expect("checkpoint");
    assert_eq!(busy, 0, "the checkpoint was blocked");
    drop(conn);
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    let left = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert_eq!(left, 0, "{} still holds frames", wal.display());
}

/// Overwrites, in every place `needle` occurs in the file, its byte at `at` with `to`;
/// returns how many places there were.
fn flip(file: &Path, needle: &[u8], at: usize, to: u8) -> usize {
    let mut bytes = std::fs::read(file).unwrap();
    let mut count = 0;
    let mut from = 0;
    while let Some(i) = find(&bytes[from..], needle) {
        let pos = from + i;
        assert_ne!(bytes[pos + at], to, "the flip must change the byte");
        bytes[pos + at] = to;
        count += 1;
        from = pos + needle.len();
    }
    std::fs::write(file, bytes).unwrap();
    count
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Every byte of the store files under `dir/.strata` (database, WAL, shared memory).
fn store_bytes(root: &Path) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(root.join(".strata"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// Asserts that no store file under `root/.strata` contains `text`.
#[track_caller]
fn assert_not_stored(root: &Path, text: &str) {
    for (name, bytes) in store_bytes(root) {
        assert!(
            find(&bytes, text.as_bytes()).is_none(),
            "{name} contains {text:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// 1. Importing the working tree; log

#[test]
fn import_working_tree_then_log() {
    let fx = acme_open();
    let root = fx.root();
    let files = read_tree(&root).len();

    let first = st(&root, &["import"]).ok();
    let (seq, s1) = committed(&first);
    assert_eq!(seq, 1);
    assert_eq!(
        first.stdout,
        format!("revision #1 {s1} ({files} files changed)\n")
    );
    assert!(root.join(".strata/store.db").is_file());

    // The store under .strata is not content: importing again changes nothing.
    let again = st(&root, &["import"]).ok();
    assert_eq!(
        again.stdout,
        format!("unchanged: the head #1 {s1} already has this content\n")
    );

    edit(
        root.join("layers/base/checkout.yaml"),
        "\nreplicas: 2\n",
        "\nreplicas: 3\n",
    );
    let second = st(&root, &["import", "-m", "three replicas"]).ok();
    let (seq, s2) = committed(&second);
    assert_eq!(seq, 2);
    assert_eq!(
        second.stdout,
        format!("revision #2 {s2} (1 file changed)\n")
    );
    assert_eq!(
        get(
            &root,
            "checkout",
            "staging/aws/us-east-1",
            "replicas",
            "HEAD"
        ),
        "3"
    );
    assert_eq!(
        get(
            &root,
            "checkout",
            "staging/aws/us-east-1",
            "replicas",
            "HEAD~1"
        ),
        "2"
    );

    let text = st(&root, &["log"]).ok().stdout;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with(&format!("#2 {s2}  "))
            && lines[0].ends_with("  tester  three replicas"),
        "{text}"
    );
    assert!(
        lines[1].starts_with(&format!("#1 {s1}  "))
            && lines[1].ends_with("  tester  import working tree"),
        "{text}"
    );

    let entries = log_json(&root, &[]);
    assert_eq!(entries.len(), 2);
    assert_linear(&entries);
    let id2 = rev_of(&entries[0], "id").as_str().unwrap();
    let id1 = rev_of(&entries[1], "id").as_str().unwrap();
    assert!(id2.starts_with(&s2) && id1.starts_with(&s1));
    assert_eq!(rev_of(&entries[0], "author"), "tester");
    assert_eq!(rev_of(&entries[0], "message"), "three replicas");
    assert_eq!(rev_of(&entries[0], "source"), &Value::Null);
    assert!(rev_of(&entries[0], "timestamp_ms").as_i64().unwrap() > 1_600_000_000_000);

    let newest = log_json(&root, &["-n", "1"]);
    assert_eq!(newest, entries[..1]);
    // A revision is found by its full id, an id prefix and #N.
    assert_eq!(full_id(&root, id1), id1);
    assert_eq!(full_id(&root, &s1), id1);
    assert_eq!(full_id(&root, "#1"), id1);
}

#[test]
fn store_location_and_author_options() {
    let fx = acme_open();
    let outer = fx.outer();
    let r = st(
        outer,
        &[
            "-p",
            "proj",
            "import",
            "--store",
            "elsewhere.db",
            "--author",
            "alice",
        ],
    )
    .ok();
    assert_eq!(committed(&r).0, 1);
    assert!(outer.join("elsewhere.db").is_file());
    assert!(!fx.root().join(".strata").exists());

    // STRATA_STORE names the same store; STRATA_AUTHOR is the default author.
    let store = outer.join("elsewhere.db");
    let mut c = cmd(outer, &["-p", "proj", "set", "checkout:replicas", "4"]);
    c.args(["--layer", "base"])
        .env("STRATA_STORE", &store)
        .env("STRATA_AUTHOR", "bob");
    run_cmd(&mut c).ok();
    let mut c = cmd(outer, &["-p", "proj", "log", "--json"]);
    c.env("STRATA_STORE", &store);
    let v = run_cmd(&mut c).ok().json();
    let authors: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| rev_of(e, "author").as_str().unwrap())
        .collect();
    assert_eq!(authors, ["bob", "alice"]);

    // The project's default store is another one, which does not exist.
    let r = st(outer, &["-p", "proj", "log"]).expect(2);
    assert!(
        r.stderr
            .contains("no store at proj/.strata/store.db: run `strata import` first"),
        "{}",
        r.stderr
    );
}

// ---------------------------------------------------------------------------------------
// 2. Importing git commits

#[test]
fn import_git_commits_without_the_working_tree() {
    let fx = acme_open();
    let root = fx.root();
    git(&root, &["init", "-q"]);
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "-q", "-m", "baseline\n\nwith a body"]);
    let c1 = git(&root, &["rev-parse", "HEAD"]);
    let prod = root.join("layers/env/prod/checkout.yaml");
    edit(&prod, "\nreplicas: 6\n", "\nreplicas: 7\n");
    git(&root, &["commit", "-q", "-am", "raise prod replicas"]);
    let c2 = git(&root, &["rev-parse", "HEAD"]);
    // Uncommitted changes, one tracked and one untracked: never imported.
    edit(&prod, "\nreplicas: 7\n", "\nreplicas: 8\n");
    fx.write("UNTRACKED.md", "not committed\n");
    let committed_files = git(&root, &["ls-files"]).lines().count();

    let r = st(&root, &["import", "--git", "HEAD~1"]).ok();
    let (seq, _) = committed(&r);
    assert_eq!(seq, 1);
    assert!(
        r.stdout
            .ends_with(&format!("({committed_files} files changed)\n")),
        "{}",
        r.stdout
    );
    let show = st(&root, &["show", "--json"]).ok().json();
    assert_eq!(show["revision"]["source"], json!(c1));
    assert_eq!(show["revision"]["author"], "Alice <a@x>");
    assert_eq!(show["revision"]["message"], "baseline\n\nwith a body");

    let r = st(&root, &["import", "--git", "HEAD"]).ok();
    let (seq, s2) = committed(&r);
    assert_eq!(seq, 2);
    assert_eq!(r.stdout, format!("revision #2 {s2} (1 file changed)\n"));
    let show = st(&root, &["show", "--json"]).ok().json();
    assert_eq!(show["revision"]["source"], json!(c2));
    assert_eq!(show["revision"]["author"], "Alice <a@x>");
    assert_eq!(show["revision"]["message"], "raise prod replicas");
    assert_eq!(
        show["files"],
        json!([{"path": "layers/env/prod/checkout.yaml", "kind": "modified"}])
    );
    let text = st(&root, &["show"]).ok().stdout;
    assert!(text.contains(&format!("\nsource   git {c2}\n")), "{text}");
    assert!(text.contains("\nauthor   Alice <a@x>\n"), "{text}");

    // The store has the committed content; the working tree has its own edit.
    assert_eq!(get(&root, "checkout", PROD, "replicas", "HEAD"), "7");
    assert_eq!(get(&root, "checkout", PROD, "replicas", "HEAD~1"), "6");
    let wt = st(
        &root,
        &["resolve", "checkout", "--target", PROD, "--get", "replicas"],
    );
    assert_eq!(wt.ok().stdout, "8\n");
    let out = fx.outer().join("exported");
    st(&root, &["export", "--out", out.to_str().unwrap()]).ok();
    let exported = read_tree(&out);
    assert_eq!(exported.len(), committed_files);
    assert!(!exported.contains_key("UNTRACKED.md"));
    assert_eq!(
        String::from_utf8_lossy(&exported["layers/env/prod/checkout.yaml"]).trim_end(),
        git(&root, &["show", "HEAD:layers/env/prod/checkout.yaml"])
    );

    let r = st(&root, &["import", "--git", "HEAD"]).ok();
    assert!(
        r.stdout.starts_with("unchanged: the head #2 "),
        "{}",
        r.stdout
    );

    // An older commit by abbreviated id, with a message of our own.
    let r = st(
        &root,
        &["import", "--git", &c1[..8], "-m", "back to baseline"],
    )
    .ok();
    assert_eq!(committed(&r).0, 3);
    let show = st(&root, &["show", "--json"]).ok().json();
    assert_eq!(show["revision"]["message"], "back to baseline");
    assert_eq!(show["revision"]["source"], json!(c1));
    assert_eq!(get(&root, "checkout", PROD, "replicas", "HEAD"), "6");

    let r = st(&root, &["import", "--git", "no-such-branch"]).expect(2);
    assert!(r.stderr.contains("`no-such-branch`"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
    assert_eq!(log_json(&root, &[]).len(), 3);
}

#[test]
fn import_git_with_the_project_in_a_subdirectory() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let deploy = repo.join("deploy");
    copy_tree(Path::new(ACME), &deploy);
    write(repo.join("OUTSIDE.md"), "not part of the project\n");
    write(repo.join("tools/run.sh"), "#!/bin/sh\n");
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "deploy config"]);
    let head = git(&repo, &["rev-parse", "HEAD"]);

    let r = st(
        tmp.path(),
        &["--project", "repo/deploy", "import", "--git", "HEAD"],
    )
    .ok();
    assert_eq!(committed(&r).0, 1);
    assert!(deploy.join(".strata/store.db").is_file());
    let show = st(tmp.path(), &["-p", "repo/deploy", "show", "--json"])
        .ok()
        .json();
    assert_eq!(show["revision"]["source"], json!(head));
    let paths: BTreeSet<&str> = show["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    let expected: BTreeSet<String> = read_tree(Path::new(ACME)).into_keys().collect();
    assert_eq!(
        paths,
        expected.iter().map(String::as_str).collect::<BTreeSet<_>>()
    );

    // Run inside the project directory: the same store, the same content.
    // The imported acme has an access policy now: importing again takes an admin.
    let r = st(&deploy, &["import", "--git", "HEAD", "--as", "dana.kim"]).ok();
    assert!(r.stdout.starts_with("unchanged: "), "{}", r.stdout);
    let out = tmp.path().join("out");
    st(&deploy, &["export", "--out", out.to_str().unwrap()]).ok();
    assert_eq!(read_tree(&out), read_tree(Path::new(ACME)));
}

// ---------------------------------------------------------------------------------------
// 3. set, unset, apply, export

#[test]
fn set_unset_apply_and_export() {
    let fx = acme_open();
    let root = fx.root();
    let outer = fx.outer();
    st(&root, &["import"]).ok();
    let prod_file = "layers/env/prod/checkout.yaml";
    let original = read(root.join(prod_file));

    let r = st(
        &root,
        &[
            "set",
            "checkout:db.pool.max_size",
            "77",
            "--layer",
            "env/prod",
        ],
    )
    .ok();
    let (seq, s2) = committed(&r);
    assert_eq!((seq, r.stdout.clone()), (2, format!("revision #2 {s2}\n")));
    assert_eq!(
        get(&root, "checkout", PROD, "db.pool.max_size", "HEAD"),
        "77"
    );
    let v = st(
        &root,
        &[
            "resolve",
            "checkout",
            "--target",
            PROD,
            "--rev",
            "HEAD",
            "--get",
            "db.pool.max_size",
            "--format",
            "json",
        ],
    )
    .ok()
    .json();
    assert_eq!(v, json!(77), "a number, not a string");
    // The store changed, the working tree did not.
    assert_eq!(read(root.join(prod_file)), original);
    let wt = st(
        &root,
        &[
            "resolve",
            "checkout",
            "--target",
            PROD,
            "--get",
            "db.pool.max_size",
        ],
    );
    assert_eq!(wt.ok().stdout, "20\n");

    // Export into a new directory: the tree, with the one file edited in place (comments kept).
    let out = outer.join("exports/new");
    let r = st(&root, &["export", "--out", out.to_str().unwrap()]).ok();
    assert!(
        r.stdout
            .starts_with(&format!("exported revision #2 {s2} (")),
        "{}",
        r.stdout
    );
    let before = project_files(&root);
    let after = read_tree(&out);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    for (path, bytes) in &before {
        if path != prod_file {
            assert_eq!(&after[path], bytes, "{path}");
        }
    }
    let edited = String::from_utf8(after[prod_file].clone()).unwrap();
    let anchor = "type:str]\n";
    assert_eq!(original.matches(anchor).count(), 1);
    assert_eq!(
        edited,
        original.replace(anchor, "type:str]\n  pool:\n    max_size: 77\n")
    );
    assert!(edited.starts_with("# checkout in prod\n"), "{edited}");

    // Export into the project itself, a git checkout: only the edited file changes, `.git`
    // and `.strata` stay, a file the revision does not have is removed.
    git(&root, &["init", "-q"]);
    write(root.join(".git/info/exclude"), ".strata/\n");
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "-q", "-m", "checkout"]);
    let git_head = git(&root, &["rev-parse", "HEAD"]);
    fx.write("notes.txt", "scratch\n");
    st(outer, &["-p", "proj", "export", "--out", "proj"]).ok();
    assert_eq!(
        git(&root, &["status", "--porcelain"]),
        format!("M {prod_file}")
    );
    assert_eq!(
        git(&root, &["diff", "--numstat"]),
        format!("2\t0\t{prod_file}")
    );
    assert_eq!(git(&root, &["rev-parse", "HEAD"]), git_head);
    assert!(!root.join("notes.txt").exists());
    assert_eq!(read(root.join(prod_file)), edited);
    assert!(
        read_tree(&root)
            .keys()
            .all(|p| !p.contains(".strata-export-")),
        "no staging left behind"
    );
    assert_eq!(log_json(&root, &[]).len(), 2, "the store is intact");
    let r = st(&root, &["import"]).ok();
    assert!(r.stdout.starts_with("unchanged: "), "{}", r.stdout);

    // unset removes the parameter again; a second unset changes nothing.
    let r = st(
        &root,
        &["unset", "checkout:db.pool.max_size", "--layer", "env/prod"],
    )
    .ok();
    let (seq, s3) = committed(&r);
    assert_eq!(seq, 3);
    assert_eq!(
        get(&root, "checkout", PROD, "db.pool.max_size", "HEAD"),
        "20"
    );
    let r = st(
        &root,
        &["unset", "checkout:db.pool.max_size", "--layer", "env/prod"],
    )
    .ok();
    assert_eq!(
        r.stdout,
        format!("unchanged: #3 {s3} already has these values\n")
    );
    let out3 = outer.join("exports/three");
    st(&root, &["export", "--out", out3.to_str().unwrap()]).ok();
    assert_eq!(read(out3.join(prod_file)), original);

    // A changeset with two edits is one revision.
    write(
        outer.join("raise.yaml"),
        "message: raise pools for the sale
changes:
  - set: checkout:db.pool.max_size
    layer: env/prod
    value: 90
  - set: ledger:replicas
    layer: env/prod
    value: 7
",
    );
    let r = st(outer, &["-p", "proj", "apply", "raise.yaml"]).ok();
    assert_eq!(committed(&r).0, 4);
    let entries = log_json(&root, &[]);
    assert_eq!(entries.len(), 4);
    assert_linear(&entries);
    let show = st(&root, &["show", "--json"]).ok().json();
    assert_eq!(show["revision"]["message"], "raise pools for the sale");
    assert_eq!(
        show["files"],
        json!([
            {"path": "layers/env/prod/checkout.yaml", "kind": "modified"},
            {"path": "layers/env/prod/ledger.yaml", "kind": "modified"},
        ])
    );
    assert_eq!(
        show["params"],
        json!([
            {"param": "checkout:db.pool.max_size", "file": "layers/env/prod/checkout.yaml"},
            {"param": "ledger:replicas", "file": "layers/env/prod/ledger.yaml"},
        ])
    );
    assert_eq!(
        get(&root, "checkout", PROD, "db.pool.max_size", "HEAD"),
        "90"
    );
    assert_eq!(get(&root, "ledger", PROD, "replicas", "HEAD"), "7");

    // A changeset that is not YAML names the file and line; nothing is committed.
    write(
        outer.join("bad.yaml"),
        "message: broken
changes:
  - set: checkout:replicas
    layer: [base
    value: 1
",
    );
    let r = st(outer, &["-p", "proj", "apply", "bad.yaml"]).expect(2);
    insta::assert_snapshot!(r.stderr, @r"
    error: bad.yaml:5:10: invalid YAML: illegal placement of ':' indicator
      hint: check indentation, quotes and brackets around this position
    ");
    write(
        outer.join("novalue.yaml"),
        "changes:\n  - set: checkout:replicas\n    layer: base\n",
    );
    let r = st(outer, &["-p", "proj", "apply", "novalue.yaml"]).expect(2);
    insta::assert_snapshot!(r.stderr, @"error: novalue.yaml:2:5: the change of `checkout:replicas` sets no `value:`");
    assert_eq!(log_json(&root, &[]).len(), 4);
}

// ---------------------------------------------------------------------------------------
// 4. Conflicts

#[test]
fn concurrent_edits_conflict_or_rebase() {
    let fx = acme_open();
    let root = fx.root();
    st(&root, &["import"]).ok();
    let id1 = full_id(&root, "HEAD");
    let param = "checkout:db.pool.max_size";

    let r = st(
        &root,
        &["set", param, "11", "--layer", "env/prod", "--base", &id1],
    )
    .ok();
    let (_, s2) = committed(&r);
    assert!(!r.stdout.contains("rebased"), "{}", r.stdout);

    // The same parameter against the same base: refused, naming both values.
    let r = st(
        &root,
        &[
            "set",
            param,
            "12",
            "--layer",
            "env/prod",
            "--base",
            &id1[..12],
        ],
    )
    .expect(3);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(
        r.stderr.starts_with(
            "error: conflict: 1 parameter changed since the changeset's base revision\n"
        ),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!(
            "  checkout:db.pool.max_size in layers/env/prod/checkout.yaml: yours 12, head has 11 (changed in {s2})"
        )),
        "{}",
        r.stderr
    );
    write(
        fx.outer().join("cs.yaml"),
        &format!("base: {id1}\nchanges:\n  - set: {param}\n    layer: env/prod\n    value: 13\n"),
    );
    let r = st(fx.outer(), &["-p", "proj", "apply", "cs.yaml"]).expect(3);
    assert!(r.stderr.contains("yours 13, head has 11"), "{}", r.stderr);
    assert_eq!(log_json(&root, &[]).len(), 2, "nothing was committed");
    assert_eq!(
        get(&root, "checkout", PROD, "db.pool.max_size", "HEAD"),
        "11"
    );

    // Another parameter against the same old base: rebased onto the head.
    let r = st(
        &root,
        &[
            "set",
            "checkout:replicas",
            "9",
            "--layer",
            "env/prod",
            "--base",
            &id1,
        ],
    )
    .ok();
    let (seq, s3) = committed(&r);
    assert_eq!(seq, 3);
    assert_eq!(
        r.stdout,
        format!("revision #3 {s3} (rebased onto the moved head)\n")
    );
    assert_eq!(
        get(&root, "checkout", PROD, "db.pool.max_size", "HEAD"),
        "11"
    );
    assert_eq!(get(&root, "checkout", PROD, "replicas", "HEAD"), "9");
    assert_linear(&log_json(&root, &[]));
}

/// An edit that changes nothing against its old base is still checked against what
/// happened since: here someone set the parameter after the base, and removing it "as of
/// the base" must be refused, not reported as "unchanged" (which leaves the other value in
/// the head while telling the user the edit is in).
#[test]
fn a_no_op_edit_against_an_old_base_still_conflicts() {
    let fx = acme_open();
    let root = fx.root();
    st(&root, &["import"]).ok();
    let id1 = full_id(&root, "HEAD");
    let param = "checkout:db.pool.max_size";
    st(&root, &["set", param, "11", "--layer", "env/prod"]).ok();
    let r = st(
        &root,
        &["unset", param, "--layer", "env/prod", "--base", &id1],
    )
    .expect(3);
    assert!(
        r.stderr.contains("yours (unset), head has 11"),
        "{}",
        r.stderr
    );
    // The same with a set to the value the base had: the head has another one now.
    st(&root, &["set", "checkout:replicas", "3", "--layer", "base"]).ok();
    let r = st(
        &root,
        &[
            "set",
            "checkout:replicas",
            "2",
            "--layer",
            "base",
            "--base",
            &id1,
        ],
    )
    .expect(3);
    assert!(r.stderr.contains("yours 2, head has 3"), "{}", r.stderr);
}

// ---------------------------------------------------------------------------------------
// 5. show, diff, blame, tag, revert-to

/// The 1-based line and column of `value` on the line `line_text` of a file.
fn loc(text: &str, line_text: &str, value: &str) -> String {
    let (i, line) = text
        .lines()
        .enumerate()
        .find(|(_, l)| *l == line_text)
        .unwrap_or_else(|| panic!("no line {line_text:?}"));
    format!("{}:{}", i + 1, line.find(value).unwrap() + 1)
}

#[test]
fn show_diff_blame_tag_and_revert() {
    let fx = acme_open();
    let root = fx.root();
    st(&root, &["import"]).ok();
    let id1 = full_id(&root, "HEAD");
    let s1 = &id1[..12];
    st(
        &root,
        &[
            "set",
            "checkout:db.pool.max_size",
            "77",
            "--layer",
            "env/prod",
            "-m",
            "sale\n\nmore pool for the sale",
        ],
    )
    .ok();
    let id2 = full_id(&root, "HEAD");
    let s2 = &id2[..12];

    let show = st(&root, &["show"]).ok().stdout;
    for want in [
        format!("revision {id2} (#2)\n"),
        format!("\nparent   {id1}\n"),
        "\nauthor   tester\n".to_string(),
        "\n    sale\n    \n    more pool for the sale\n".to_string(),
        "\nM layers/env/prod/checkout.yaml\n".to_string(),
        "\n1 parameter change:\n  checkout:db.pool.max_size  (layers/env/prod/checkout.yaml)\n"
            .to_string(),
    ] {
        assert!(show.contains(&want), "{want:?} not in\n{show}");
    }
    let first = st(&root, &["show", "#1", "--json"]).ok().json();
    let files = first["files"].as_array().unwrap();
    assert_eq!(files.len(), acme_open_tree().len());
    assert!(files.iter().all(|f| f["kind"] == "added"));

    // diff: old -> new with the file:line:col that set each.
    let base = read(root.join("layers/base/checkout.yaml"));
    let old_at = format!(
        "layers/base/checkout.yaml:{}",
        loc(&base, "    max_size: 20", "20")
    );
    let new_at = "layers/env/prod/checkout.yaml:11:15";
    let d = st(
        &root,
        &["diff", "HEAD~1", "--target", PROD, "--service", "checkout"],
    )
    .ok()
    .stdout;
    assert_eq!(
        d,
        format!(
            "diff #1 {s1} .. #2 {s2}\n\ncheckout @ {PROD}\n  ~ db.pool.max_size: 20 -> 77    ({old_at} -> {new_at})\n"
        )
    );
    let d = st(&root, &["diff", "#1", "--json"]).ok().json();
    assert_eq!(d["from"]["id"], json!(id1));
    assert_eq!(d["to"]["id"], json!(id2));
    let targets: Vec<&str> = d["diffs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["target"].as_str().unwrap())
        .collect();
    let prod_targets: Vec<&str> = ACME_TARGETS
        .iter()
        .copied()
        .filter(|t| t.starts_with("prod/"))
        .collect();
    assert_eq!(targets, prod_targets);
    for x in d["diffs"].as_array().unwrap() {
        assert_eq!(x["service"], "checkout");
        assert_eq!(
            x["changes"],
            json!([{"param": "db.pool.max_size", "kind": "changed", "old": "20", "new": "77",
                    "old_at": old_at, "new_at": new_at}])
        );
    }

    // blame: the revision that last changed the effective value, and where it is set.
    let b = st(
        &root,
        &["blame", "checkout:db.pool.max_size", "--target", PROD],
    )
    .ok()
    .stdout;
    assert!(
        b.starts_with(&format!(
            "checkout:db.pool.max_size = 77 for {PROD}\n  set at {new_at}\n  last changed by #2 {s2}  "
        )) && b.ends_with("  tester  sale\n"),
        "{b}"
    );
    let b = st(
        &root,
        &[
            "blame",
            "checkout:db.pool.max_size",
            "--target",
            DEV,
            "--json",
        ],
    )
    .ok()
    .json();
    let dev = read(root.join("layers/env/dev/checkout.yaml"));
    assert_eq!(b["revision"]["id"], json!(id1));
    assert_eq!(b["value"], "5");
    assert_eq!(
        b["at"],
        json!(format!(
            "layers/env/dev/checkout.yaml:{}",
            loc(&dev, "    max_size: 5", "5")
        ))
    );
    // log --param --target: only revisions that moved the effective value there.
    let l = log_json(
        &root,
        &["--param", "checkout:db.pool.max_size", "--target", PROD],
    );
    let seen: Vec<(u64, &str)> = l
        .iter()
        .map(|e| {
            (
                rev_of(e, "seq").as_u64().unwrap(),
                e["value"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(seen, [(2, "77"), (1, "20")]);
    let l = log_json(
        &root,
        &["--param", "checkout:db.pool.max_size", "--target", DEV],
    );
    assert_eq!(l.len(), 1);
    assert_eq!(rev_of(&l[0], "id"), &json!(id1));

    // tag
    let r = st(&root, &["tag", "#1", "release-1"]).ok();
    assert_eq!(r.stdout, format!("tag release-1 -> #1 {s1}\n"));
    assert_eq!(
        get(&root, "checkout", PROD, "db.pool.max_size", "release-1"),
        "20"
    );
    let text = st(&root, &["log"]).ok().stdout;
    assert!(
        text.lines().nth(1).unwrap().ends_with(" [release-1]"),
        "{text}"
    );
    let r = st(&root, &["tag", "HEAD", "release-1"]).expect(2);
    assert!(
        r.stderr
            .contains(&format!("tag `release-1` already names revision {id1}")),
        "{}",
        r.stderr
    );
    st(&root, &["tag", "HEAD", "release-1", "--force"]).ok();
    assert_eq!(
        get(&root, "checkout", PROD, "db.pool.max_size", "release-1"),
        "77"
    );
    let r = st(&root, &["tag", "HEAD", "HEAD"]).expect(2);
    assert!(r.stderr.contains("invalid tag name"), "{}", r.stderr);

    // revert-to: a new head with the content of #1.
    let r = st(&root, &["revert-to", "#1"]).ok();
    let (seq, s3) = committed(&r);
    assert_eq!(seq, 3);
    assert_eq!(r.stdout, format!("revision #3 {s3} (content of #1 {s1})\n"));
    let a = fx.outer().join("at1");
    let h = fx.outer().join("head");
    st(
        &root,
        &["export", "--rev", "#1", "--out", a.to_str().unwrap()],
    )
    .ok();
    st(&root, &["export", "--out", h.to_str().unwrap()]).ok();
    assert_eq!(read_tree(&a), read_tree(&h));
    assert_eq!(read_tree(&a), acme_open_tree());
    assert_eq!(
        get(&root, "checkout", PROD, "db.pool.max_size", "HEAD"),
        "20"
    );
    let d = st(&root, &["diff", "#1"]).ok().stdout;
    assert_eq!(
        d,
        format!("diff #1 {s1} .. #3 {s3}\nno effective parameter differs\n")
    );
    let l = log_json(&root, &[]);
    assert_linear(&l);
    assert_eq!(
        rev_of(&l[0], "message"),
        &json!(format!("revert to #1 {s1}"))
    );
}

// ---------------------------------------------------------------------------------------
// 6. Secrets

/// `strata resolve svc --target PROD --rev HEAD --get db.password [--reveal]`, with
/// `STRATA_AGE_IDENTITY` set to `identity` when given.
fn password(root: &Path, reveal: bool, identity: Option<&Path>) -> Run {
    let mut args = vec![
        "resolve",
        "svc",
        "--target",
        PROD,
        "--rev",
        "HEAD",
        "--get",
        "db.password",
    ];
    if reveal {
        args.push("--reveal");
    }
    let mut c = cmd(root, &args);
    if let Some(p) = identity {
        c.env("STRATA_AGE_IDENTITY", p);
    }
    run_cmd(&mut c)
}

#[test]
fn secrets_are_stored_encrypted_and_revealed_with_the_right_key() {
    let keys = tempfile::tempdir().unwrap();
    let (old_key, old_pub) = identity(keys.path(), "old.key");
    let (new_key, new_pub) = identity(keys.path(), "new.key");
    let (stranger, _) = identity(keys.path(), "stranger.key");
    let fx = secret_project(&old_pub);
    let root = fx.root();
    let plain = "s3cret-Vq7z";

    // A plaintext secret in a layer file is refused, naming the file:line, not the value.
    let r = st(&root, &["import"]).expect(1);
    assert!(
        r.stderr.starts_with("error: layers/base/svc.yaml:3:13: svc:db.password is a secret (x-strata-secret) but holds plaintext"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("`strata secret set svc:db.password --layer base`"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("hunter2") && !r.stdout.contains("hunter2"));
    let r = st(&root, &["log"]).expect(2);
    assert!(r.stderr.contains("the store is empty"), "{}", r.stderr);
    assert_not_stored(&root, "hunter2");

    fx.write("layers/base/svc.yaml", "db:\n  host: db.internal\n");
    assert_eq!(committed(&st(&root, &["import"]).ok()).0, 1);

    // `strata set` refuses a plaintext value for a secret, too.
    let r = st(
        &root,
        &["set", "svc:db.password", "hunter2-cli", "--layer", "base"],
    )
    .expect(2);
    assert!(
        r.stderr.contains("strata secret set svc:db.password"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("hunter2"), "{}", r.stderr);

    // secret set: plaintext on stdin, ciphertext in the most specific layer of the target.
    let mut child = cmd(
        &root,
        &["secret", "set", "svc:db.password", "--target", PROD],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(plain.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(parse_revision(&stdout).unwrap().0, 2, "{stdout}");
    let show = st(&root, &["show", "--json"]).ok().json();
    assert_eq!(
        show["files"],
        json!([{"path": "layers/target/prod/aws/us-east-1/svc.yaml", "kind": "added"}])
    );
    assert_not_stored(&root, plain);
    assert_not_stored(&root, "s3cret");

    // Without --reveal: the ciphertext; history shows it redacted.
    let ct = password(&root, false, None).ok().stdout;
    assert!(
        ct.starts_with("ENC[strata:v1,") && ct.ends_with("]\n"),
        "{ct}"
    );
    let d = st(&root, &["diff", "HEAD~1", "--json"]).ok().json();
    assert_eq!(
        d["diffs"][0]["changes"][0],
        json!({"param": "db.password", "kind": "added", "new": "<redacted>",
               "new_at": "layers/target/prod/aws/us-east-1/svc.yaml:2:13"})
    );
    let l = log_json(&root, &["--param", "svc:db.password", "--target", PROD]);
    assert_eq!(l[0]["value"], "<redacted>");

    // --reveal with the right key, a wrong key, no key.
    let r = password(&root, true, Some(&old_key)).ok();
    assert_eq!(r.stdout, format!("{plain}\n"));
    let r = password(&root, true, Some(&stranger)).expect(2);
    assert!(
        r.stderr
            .contains("cannot reveal svc:db.password: cannot decrypt `svc:db.password`: none of the 1 age identities"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(plain) && !r.stdout.contains(plain));
    let r = password(&root, true, None).expect(2);
    assert!(r.stderr.contains("STRATA_AGE_IDENTITY"), "{}", r.stderr);
    assert!(!r.stdout.contains(plain));
    let r = password(&root, true, Some(&keys.path().join("missing.key"))).expect(2);
    assert!(
        r.stderr.contains("cannot read age identity file"),
        "{}",
        r.stderr
    );

    // Rotation: re-encrypted to the new key only, recorded in strata.yaml.
    let r = st(
        &root,
        &[
            "keys",
            "rotate",
            "--recipient",
            &new_pub,
            "--identity",
            old_key.to_str().unwrap(),
        ],
    )
    .ok();
    let (seq, s3) = committed(&r);
    assert_eq!(seq, 3);
    assert_eq!(
        r.stdout,
        format!("revision #3 {s3}: re-encrypted 1 secret value to 1 recipient\n")
    );
    assert_eq!(
        password(&root, true, Some(&new_key)).ok().stdout,
        format!("{plain}\n")
    );
    let r = password(&root, true, Some(&old_key)).expect(2);
    assert!(r.stderr.contains("cannot decrypt"), "{}", r.stderr);
    assert!(!r.stdout.contains(plain) && !r.stderr.contains(plain));
    let out = fx.outer().join("rotated");
    st(&root, &["export", "--out", out.to_str().unwrap()]).ok();
    let strata_yaml = read(out.join("strata.yaml"));
    assert!(strata_yaml.contains(&new_pub), "{strata_yaml}");
    assert!(!strata_yaml.contains(&old_pub), "{strata_yaml}");
    let layer = read(out.join("layers/target/prod/aws/us-east-1/svc.yaml"));
    assert!(
        layer.contains("ENC[strata:v1,") && !layer.contains(plain),
        "{layer}"
    );
    assert_not_stored(&root, plain);
    // Rotating again needs an identity: the old one no longer decrypts anything.
    let r = st(&root, &["keys", "rotate", "--recipient", &new_pub]).expect(2);
    assert!(r.stderr.contains("STRATA_AGE_IDENTITY"), "{}", r.stderr);
    let r = st(
        &root,
        &[
            "keys",
            "rotate",
            "--recipient",
            &old_pub,
            "--identity",
            old_key.to_str().unwrap(),
        ],
    )
    .expect(2);
    assert!(r.stderr.contains("cannot decrypt"), "{}", r.stderr);
    assert_eq!(log_json(&root, &[]).len(), 3);
}

// ---------------------------------------------------------------------------------------
// 7. Corruption of the SQLite file

const CANARY: &str = "zebra-canary-31337";

/// A tiny project with two revisions: #2 adds a layer value only it holds (`CANARY`).
fn two_revisions() -> Fixture {
    let fx = project(TINY);
    st(&fx.root(), &["import"]).ok();
    fx.write(
        "layers/base/svc.yaml",
        format!("# svc defaults\nport: 80\nmarker: {CANARY}\n"),
    );
    st(&fx.root(), &["import"]).ok();
    fx
}

/// The manifest directory blob of `layers/base` that a revision of the working tree of
/// `root` has.
fn manifest_of(root: &Path) -> Vec<u8> {
    let mut m = strata_store::model::Manifest::default();
    for (path, bytes) in project_files(root) {
        m.files.insert(path, strata_store::model::Hash::of(&bytes));
    }
    let (_, trees) = m.encode();
    trees
        .into_iter()
        .map(|(_, bytes)| bytes)
        .find(|b| find(b, b" svc.yaml\n").is_some())
        .expect("a directory blob lists layers/base/svc.yaml")
}

fn short_hash(bytes: &[u8]) -> String {
    strata_store::model::Hash::of(bytes).to_hex()[..12].to_string()
}

/// Asserts that reading the head fails as corruption and shows none of `damaged`.
#[track_caller]
fn assert_head_refused(fx: &Fixture, damaged: &str) {
    let root = fx.root();
    // Exit 1 is "damaged store".
    let r = st(
        &root,
        &["resolve", "svc", "--target", PROD, "--rev", "HEAD"],
    )
    .expect(1);
    assert!(r.stderr.contains("store corruption: "), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(!r.stderr.contains(damaged), "{}", r.stderr);
    let out = fx.outer().join("damaged-export");
    let r = st(&root, &["export", "--out", out.to_str().unwrap()]).expect(1);
    assert!(r.stderr.contains("store corruption: "), "{}", r.stderr);
    assert!(!out.exists(), "nothing is exported");
    let r = st(&root, &["blame", "svc:port", "--target", PROD]).expect(1);
    assert!(r.stderr.contains("store corruption: "), "{}", r.stderr);
    assert!(!r.stdout.contains(damaged) && !r.stderr.contains(damaged));
}

#[test]
fn a_damaged_layer_blob_is_detected_never_served_and_repaired_by_import() {
    let fx = two_revisions();
    let root = fx.root();
    let db = root.join(".strata/store.db");
    let s2 = full_id(&root, "HEAD")[..12].to_string();
    let blob = short_hash(read(root.join("layers/base/svc.yaml")).as_bytes());
    checkpoint(&db);
    // zebra-canary-31337 -> zebra-canary-31338
    let damaged = CANARY.replace("31337", "31338");
    assert_eq!(flip(&db, CANARY.as_bytes(), CANARY.len() - 1, b'8'), 1);

    let r = st(&root, &["fsck"]).expect(1);
    assert_eq!(
        r.stdout,
        format!(
            "sqlite:./.strata/store.db: 2 problems
  blob {blob}: its content does not match its hash (damaged)
  revision #2 {s2}: file layers/base/svc.yaml: blob {blob} is missing or damaged
hint: damaged data is never served; recover with `strata import --git REV` (re-import from git) or `strata revert-to REV` (a sound revision)
"
        )
    );
    let v = st(&root, &["fsck", "--json"]).expect(1).json();
    assert_eq!(v["ok"], false);
    assert_eq!(v["problems"].as_array().unwrap().len(), 2);
    assert_head_refused(&fx, &damaged);
    // History without content still works; the sound revision is still served.
    assert_eq!(log_json(&root, &[]).len(), 2);
    assert_eq!(get(&root, "svc", PROD, "port", "#1"), "443");

    // revert-to a sound revision makes a sound head.
    let r = st(&root, &["revert-to", "#1"]).ok();
    assert_eq!(committed(&r).0, 3);
    let r = st(
        &root,
        &["resolve", "svc", "--target", PROD, "--rev", "HEAD"],
    )
    .ok();
    assert!(!r.stdout.contains("marker"), "{}", r.stdout);

    // Re-importing the sound content repairs the damaged blob.
    let r = st(&root, &["import"]).ok();
    assert_eq!(committed(&r).0, 4);
    let r = st(&root, &["fsck"]).ok();
    assert_eq!(r.stdout, "sqlite:./.strata/store.db: ok\n");
    assert_eq!(get(&root, "svc", PROD, "marker", "HEAD"), CANARY);
    assert_eq!(get(&root, "svc", PROD, "marker", "#2"), CANARY);
    assert_linear(&log_json(&root, &[]));
}

/// Damages the head's manifest: one hex digit of the line of `layers/base/svc.yaml`.
/// Returns the manifest's short hash.
fn damage_head_manifest(fx: &Fixture) -> String {
    let root = fx.root();
    let db = root.join(".strata/store.db");
    let manifest = manifest_of(&root);
    assert!(manifest.starts_with(b"strata-tree 1\n"));
    let at = find(&manifest, b" svc.yaml\n").unwrap() - 1;
    let to = if manifest[at] == b'0' { b'1' } else { b'0' };
    checkpoint(&db);
    assert_eq!(
        flip(&db, &manifest, at, to),
        1,
        "the manifest is stored once"
    );
    short_hash(&manifest)
}

#[test]
fn a_damaged_manifest_is_detected_never_served_and_repaired_by_import() {
    let fx = two_revisions();
    let root = fx.root();
    let s2 = full_id(&root, "HEAD")[..12].to_string();
    let blob = damage_head_manifest(&fx);

    let r = st(&root, &["fsck"]).expect(1);
    assert!(
        r.stdout.contains(&format!(
            "\n  blob {blob}: its content does not match its hash (damaged)\n"
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!(
            "\n  revision #2 {s2}: manifest directory layers/base/ (blob {blob}) is missing or damaged\n"
        )),
        "{}",
        r.stdout
    );
    assert_head_refused(&fx, CANARY);
    assert_eq!(get(&root, "svc", PROD, "port", "#1"), "443");
    let r = st(&root, &["show"]).ok();
    assert!(r.stdout.contains("M layers/base/svc.yaml"), "{}", r.stdout);

    // Re-importing the sound content repairs the manifest: no new revision is needed.
    let r = st(&root, &["import"]).ok();
    assert!(
        r.stdout
            .starts_with(&format!("unchanged: the head #2 {s2} ")),
        "{}",
        r.stdout
    );
    st(&root, &["fsck"]).ok();
    assert_eq!(get(&root, "svc", PROD, "marker", "HEAD"), CANARY);
}

/// `strata revert-to` is the recovery `fsck` and the corruption message recommend, but
/// it reads the head's manifest first and so fails when that is what is damaged.
#[test]
fn revert_to_recovers_from_a_damaged_head_manifest() {
    let fx = two_revisions();
    let root = fx.root();
    damage_head_manifest(&fx);
    let r = st(&root, &["revert-to", "#1"]).ok();
    assert_eq!(committed(&r).0, 3);
    assert_eq!(get(&root, "svc", PROD, "port", "HEAD"), "443");
    let r = st(
        &root,
        &["resolve", "svc", "--target", PROD, "--rev", "HEAD"],
    )
    .ok();
    assert!(!r.stdout.contains("marker"), "{}", r.stdout);
}

/// Every command that meets damaged data exits 1 ("invalid or damaged"): today `resolve
/// --rev` exits 2 when a layer file is damaged (the core reports it as an unreadable file),
/// and `diff` prints "cannot compare: … store corruption …" and exits 0.
#[test]
fn corruption_always_exits_1() {
    let fx = two_revisions();
    let root = fx.root();
    let db = root.join(".strata/store.db");
    checkpoint(&db);
    assert_eq!(flip(&db, CANARY.as_bytes(), 0, b'Z'), 1);
    for args in [
        &["resolve", "svc", "--target", PROD, "--rev", "HEAD"][..],
        &["diff", "HEAD~1"],
    ] {
        let r = st(&root, args).expect(1);
        assert!(
            r.stderr.contains("store corruption: "),
            "{args:?}: {}",
            r.stderr
        );
    }
}

// ---------------------------------------------------------------------------------------
// 8. Crash safety

/// xorshift64: deterministic delays without a dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

#[test]
fn killed_writers_never_damage_the_store_or_lose_acknowledged_commits() {
    let fx = project(TINY);
    let root = fx.root();
    st(&root, &["import"]).ok();
    let mut rng = XorShift(0x5EED_C0DE_2024_0001);
    let mut acknowledged: Vec<(u64, String, String, u64)> = Vec::new(); // seq, id, param, value
    let mut killed = 0;
    let start = Instant::now();
    for n in 0..200u64 {
        let param = format!("svc:counter.n{n}");
        let value = n.to_string();
        let mut child = cmd(&root, &["set", &param, &value, "--layer", "base"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if rng.next().is_multiple_of(3) {
            std::thread::sleep(Duration::from_millis(rng.next() % 41));
            child.kill().unwrap(); // SIGKILL
        }
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        match out.status.code() {
            None => killed += 1,
            Some(0) => {
                let (seq, short) =
                    parse_revision(&stdout).unwrap_or_else(|| panic!("set {n} printed {stdout:?}"));
                acknowledged.push((seq, short, param, n));
            }
            Some(code) => panic!(
                "set {n} exited {code}: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }
    assert!(killed >= 20, "only {killed} processes were killed mid-run");
    assert!(acknowledged.len() >= 100, "{}", acknowledged.len());

    // The first command after the crashes verifies the store as the crashes left it.
    let r = st(&root, &["fsck"]).ok();
    assert_eq!(r.stdout, "sqlite:./.strata/store.db: ok\n");
    let entries = log_json(&root, &[]);
    assert_linear(&entries);
    // Killed writers may have committed without saying so; never the other way round.
    let unacknowledged = entries.len() - 1 - acknowledged.len();
    eprintln!(
        "{} acknowledged, {killed} killed ({unacknowledged} of them after committing) in {:?}",
        acknowledged.len(),
        start.elapsed()
    );
    let by_seq: BTreeMap<u64, &str> = entries
        .iter()
        .map(|e| {
            (
                rev_of(e, "seq").as_u64().unwrap(),
                rev_of(e, "id").as_str().unwrap(),
            )
        })
        .collect();
    for (seq, short, _, _) in &acknowledged {
        let id = by_seq
            .get(seq)
            .unwrap_or_else(|| panic!("acknowledged #{seq} {short} is not in the log"));
        assert!(id.starts_with(short.as_str()), "#{seq}: {id} vs {short}");
    }
    for (_, short, _, _) in acknowledged.iter().step_by(25) {
        st(&root, &["show", short]).ok();
    }
    // Every acknowledged value is in the head.
    let head = st(
        &root,
        &["resolve", "svc", "--target", PROD, "--rev", "HEAD"],
    )
    .ok()
    .json();
    for (_, _, param, n) in &acknowledged {
        let key = param.strip_prefix("svc:counter.").unwrap();
        assert_eq!(head["counter"][key], json!(n), "{param}");
    }
}

// ---------------------------------------------------------------------------------------
// 9. Concurrent processes

/// Rounds of 8 processes started at once, all against the same base revision: each sets
/// its own parameter, the odd ones also a shared one. Exactly one shared writer per round
/// wins; the other three conflict; nobody else does; the chain stays linear.
fn concurrent_changesets(store: Option<&str>) {
    const ROUNDS: usize = 5;
    const WRITERS: usize = 8;
    let fx = project(TINY);
    let root = fx.root();
    let outer = fx.outer();
    let with_store = |mut c: Command| {
        if let Some(s) = store {
            c.env("STRATA_STORE", s);
        }
        c
    };
    let run_s = |args: &[&str]| run_cmd(&mut with_store(cmd(&root, args)));
    run_s(&["import"]).ok();
    let mut committed_params: BTreeSet<String> = BTreeSet::new();
    let mut refused_params: BTreeSet<String> = BTreeSet::new();
    let mut commits = 0;
    let mut last_winner = String::new();
    for round in 0..ROUNDS {
        let v = run_s(&["log", "--json", "-n", "1"]).ok().json();
        let base = v[0]["revision"]["id"].as_str().unwrap().to_string();
        let mut children = Vec::new();
        for w in 0..WRITERS {
            let own = format!("own.r{round}w{w}");
            let mut text = format!(
                "base: {base}\nmessage: round {round} writer {w}\nchanges:\n  - set: svc:{own}\n    layer: base\n    value: {w}\n"
            );
            if w % 2 == 1 {
                text.push_str(&format!(
                    "  - set: svc:shared\n    layer: base\n    value: r{round}w{w}\n"
                ));
            }
            let file = outer.join(format!("cs-{round}-{w}.yaml"));
            write(&file, &text);
            let child = with_store(cmd(&root, &["apply", file.to_str().unwrap()]))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            children.push((w, own, child));
        }
        let mut shared_winners = Vec::new();
        for (w, own, child) in children {
            let out = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            match out.status.code() {
                Some(0) => {
                    assert!(parse_revision(&stdout).is_some(), "{stdout}");
                    commits += 1;
                    committed_params.insert(own);
                    if w % 2 == 1 {
                        shared_winners.push(w);
                    }
                }
                Some(3) => {
                    assert!(
                        w % 2 == 1,
                        "writer {w} only set its own parameter yet conflicted: {stderr}"
                    );
                    assert!(
                        stderr.contains("svc:shared in layers/base/svc.yaml: yours \"r"),
                        "{stderr}"
                    );
                    assert!(!stderr.contains(&own), "{stderr}");
                    refused_params.insert(own);
                }
                other => panic!("round {round} writer {w} exited {other:?}: {stderr}"),
            }
        }
        assert_eq!(
            shared_winners.len(),
            1,
            "round {round}: shared writers that committed: {shared_winners:?}"
        );
        last_winner = format!("r{round}w{}", shared_winners[0]);
    }
    assert_eq!(commits, ROUNDS * (WRITERS / 2 + 1));

    let v = run_s(&["log", "--json"]).ok().json();
    let entries = v.as_array().unwrap();
    assert_eq!(entries.len(), 1 + commits);
    assert_linear(entries);
    let head = run_s(&["resolve", "svc", "--target", PROD, "--rev", "HEAD"])
        .ok()
        .json();
    for p in &committed_params {
        let key = p.strip_prefix("own.").unwrap();
        assert!(head["own"].get(key).is_some(), "{p} is not in the head");
    }
    for p in &refused_params {
        let key = p.strip_prefix("own.").unwrap();
        assert!(head["own"].get(key).is_none(), "refused {p} is in the head");
    }
    assert_eq!(head["shared"], json!(last_winner));
    run_s(&["fsck"]).ok();
}

#[test]
fn concurrent_processes_sqlite() {
    concurrent_changesets(None);
}

#[test]
fn concurrent_processes_postgres() {
    let db = strata_testkit::pg::TempDatabase::new("strata_cli_");
    concurrent_changesets(Some(db.url()));
}

// ---------------------------------------------------------------------------------------
// 10. Errors

#[test]
fn usage_errors_exit_2_with_a_useful_message() {
    let fx = acme_open();
    let root = fx.root();
    for args in [
        &["log"][..],
        &["show"],
        &["export", "--out", "x"],
        &["resolve", "checkout", "--target", PROD, "--rev", "HEAD"],
    ] {
        let r = st(&root, args).expect(2);
        assert_eq!(
            r.stderr,
            "error: no store at ./.strata/store.db: run `strata import` first (or pass --store PATH|URL)\n",
            "{args:?}"
        );
        assert!(
            !root.join(".strata/store.db").exists(),
            "a read creates no store"
        );
    }
    st(&root, &["import"]).ok();

    let r = st(&root, &["show", "nosuch"]).expect(2);
    insta::assert_snapshot!(r.stderr, @"error: no revision `nosuch`: use HEAD, HEAD~N, #N, a tag or a revision id (at least 4 hex digits)");
    let r = st(&root, &["show", "deadbeef"]).expect(2);
    assert_eq!(r.stderr, "error: no revision `deadbeef`\n");
    let r = st(&root, &["show", "HEAD~5"]).expect(2);
    assert!(r.stderr.contains("the head is revision #1"), "{}", r.stderr);
    let r = st(&root, &["export", "--rev", "#7", "--out", "x"]).expect(2);
    assert_eq!(r.stderr, "error: no revision `#7`\n");

    let r = st(&root, &["set", "checkout:x", "1", "--layer", "bogus/level"]).expect(2);
    insta::assert_snapshot!(r.stderr, @"error: layer `bogus/level` matches no hierarchy level; levels: base, provider/{provider}, env/{env}, env/{env}/{provider}, target/{env}/{provider}/{region}");
    let r = st(&root, &["set", "nosuch:x", "1", "--layer", "base"]).expect(2);
    assert!(
        r.stderr
            .starts_with("error: unknown service `nosuch` in `nosuch:x`; declared: "),
        "{}",
        r.stderr
    );
    let r = st(&root, &["set", "checkout", "1", "--layer", "base"]).expect(2);
    assert!(r.stderr.contains("expected SERVICE:PATH"), "{}", r.stderr);
    let r = st(&root, &["set", "checkout:x", "1", "--layer", "../base"]).expect(2);
    assert!(r.stderr.contains("invalid layer `../base`"), "{}", r.stderr);
    let r = st(&root, &["apply", "missing.yaml"]).expect(2);
    assert!(r.stderr.contains("missing.yaml"), "{}", r.stderr);
    let r = st(&root, &["diff", "#1", "--target", "nowhere/x/y"]).expect(2);
    assert!(r.stderr.contains("nowhere/x/y"), "{}", r.stderr);
    assert_eq!(log_json(&root, &[]).len(), 1, "nothing was committed");

    // A store written by a newer strata is refused, not misread.
    let db = root.join(".strata/store.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("INSERT INTO strata_schema (version) VALUES (99)", [])
        .unwrap();
    drop(conn);
    for args in [&["log"][..], &["import"], &["fsck"]] {
        let r = st(&root, args).expect(2);
        assert!(
            r.stderr.contains("has schema version 99")
                && r.stderr.contains("upgrade strata to use it"),
            "{args:?}: {}",
            r.stderr
        );
    }
}

#[test]
fn labels_are_recorded_and_shown() {
    let fx = acme_open();
    let root = fx.root();
    st(
        &root,
        &["import", "--label", "ticket=OPS-12", "--label", "env=prod"],
    )
    .ok();
    let v = st(&root, &["show", "--json"]).ok().json();
    assert_eq!(v["revision"]["labels"]["ticket"], "OPS-12", "{v}");
    assert_eq!(v["revision"]["labels"]["env"], "prod", "{v}");
    let r = st(
        &root,
        &[
            "set",
            "checkout:replicas",
            "3",
            "--layer",
            "base",
            "--label",
            "oops",
        ],
    )
    .expect(2);
    assert!(r.stderr.contains("write KEY=VALUE"), "{}", r.stderr);
    // Values in `$provider` blocks are indexed under their logical path.
    let r = st(&root, &["log", "--param", "checkout:labels.team", "--json"])
        .ok()
        .json();
    assert_eq!(r.as_array().map(Vec::len), Some(1), "{r}");
}
