//! Access control end to end, on copies of `examples/acme` (whose
//! `policies/access.yaml` gives the platform team `admin`, SREs everything but `admin`,
//! and every engineer `write` on their own team's services, prod writes needing two
//! approvals): decisions, denied writes, change requests and approvals, tokens, and the
//! audit log with tampering caught.

mod common;

use common::{Fixture, Run, acme};

fn audit(f: &Fixture) -> Vec<serde_json::Value> {
    let out = f.run(&["audit", "--format", "jsonl"]).ok();
    out.stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("audit lines are JSON"))
        .collect()
}

/// `(principal, decision)` of the audit entries of one action, in order.
fn who_did<'a>(log: &'a [serde_json::Value], action: &str) -> Vec<(&'a str, &'a str)> {
    log.iter()
        .filter(|e| e["action"] == action)
        .map(|e| {
            (
                e["principal"].as_str().unwrap(),
                e["decision"].as_str().unwrap(),
            )
        })
        .collect()
}

/// `strata access check --principal P --action A --param X --env E EXTRA…`.
fn check(
    f: &Fixture,
    principal: &str,
    action: &str,
    param: &str,
    env: &str,
    extra: &[&str],
) -> Run {
    let mut args = vec![
        "access",
        "check",
        "--principal",
        principal,
        "--action",
        action,
        "--param",
        param,
        "--env",
        env,
    ];
    args.extend_from_slice(extra);
    f.run(&args)
}

fn last_request(f: &Fixture) -> serde_json::Value {
    let list = f.run(&["requests", "--json"]).ok().json();
    list.as_array()
        .and_then(|a| a.last())
        .cloned()
        .expect("a change request")
}

fn imported() -> Fixture {
    let f = acme();
    f.run(&["import", "-m", "baseline", "--as", "dana.kim"])
        .ok();
    f
}

#[test]
fn access_check_prints_the_deciding_rule_and_exits_by_decision() {
    let f = acme();
    let allowed = check(
        &f,
        "alice.nguyen",
        "write",
        "checkout:db.pool.max_size",
        "staging",
        &[],
    )
    .ok();
    assert_eq!(
        allowed.stdout.trim(),
        "alice.nguyen write checkout:db.pool.max_size in staging: allowed by role service-owner allow #1 (policies/access.yaml:15)"
    );
    // Another team's service: no rule allows it.
    let other = check(&f, "alice.nguyen", "write", "search:replicas", "dev", &[]).expect(1);
    assert!(
        other.stdout.contains("denied: no rule allows it"),
        "{}",
        other.stdout
    );
    // Deny over allow, with the rule named.
    let tls = check(
        &f,
        "alice.nguyen",
        "write",
        "checkout:server.tls.cert",
        "dev",
        &["--json"],
    )
    .expect(1)
    .json();
    assert_eq!(tls["allowed"], false);
    assert_eq!(tls["rule"]["role"], "service-owner");
    assert_eq!(tls["rule"]["effect"], "deny");
    assert_eq!(tls["rule"]["line"], 19);
    // Secrets: engineers read their own secrets in dev only.
    check(
        &f,
        "alice.nguyen",
        "read-secret",
        "checkout:db.password",
        "dev",
        &[],
    )
    .ok();
    check(
        &f,
        "alice.nguyen",
        "read-secret",
        "checkout:db.password",
        "prod",
        &[],
    )
    .expect(1);
    // An unknown principal holds no role.
    check(&f, "mallory", "read", "checkout:", "dev", &[]).expect(1);
    let who = f
        .run(&[
            "access",
            "who-can",
            "approve",
            "checkout:db.pool.max_size",
            "--env",
            "prod",
        ])
        .ok();
    let names: Vec<&str> = who
        .stdout
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(names, ["dana.kim", "marco.silva", "priya.shah"]);
    // Errors exit 2.
    check(&f, "x", "fly", "checkout:", "dev", &[]).expect(2);
}

#[test]
fn bad_policies_are_located_and_a_policy_without_admin_warns() {
    let f = acme();
    f.write(
        "policies/access.yaml",
        "roles:\n  dev:\n    allow:\n      - { actions: [write], envs: [dev], params: [\"checkout:**\"] }\nprincipals:\n  bob: { roles: [sre] }\n",
    );
    let e = check(&f, "bob", "write", "checkout:x", "dev", &[]).expect(1);
    assert!(e.stderr.contains("policies/access.yaml:6"), "{}", e.stderr);
    assert!(e.stderr.contains("sre"), "{}", e.stderr);
    f.write(
        "policies/access.yaml",
        "roles:\n  dev:\n    allow:\n      - { actions: [write], envs: [dev], params: [\"checkout:[\"] }\n",
    );
    let e = check(&f, "bob", "write", "checkout:x", "dev", &[]).expect(1);
    assert!(e.stderr.contains("policies/access.yaml:4"), "{}", e.stderr);
    f.write("policies/access.yaml", "roles: [\n");
    let e = check(&f, "bob", "write", "checkout:x", "dev", &[]).expect(1);
    assert!(e.stderr.contains("policies/access.yaml:"), "{}", e.stderr);
    f.write(
        "policies/access.yaml",
        "roles:\n  dev:\n    allow:\n      - { actions: [write], envs: [dev], params: [\"checkout:**\"] }\nprincipals:\n  bob: { roles: [dev] }\n",
    );
    let ok = check(&f, "bob", "write", "checkout:x", "dev", &[]).ok();
    assert!(
        ok.stderr.contains("warning") && ok.stderr.contains("administer"),
        "{}",
        ok.stderr
    );
}

#[test]
fn writes_are_checked_against_the_stored_policy_and_audited() {
    let f = imported();
    // With a policy, somebody must be named.
    let anon = f
        .run(&[
            "set",
            "checkout:db.pool.max_size",
            "30",
            "--layer",
            "env/staging",
        ])
        .expect(2);
    assert!(anon.stderr.contains("--as"), "{}", anon.stderr);
    // Allowed: a revision, and an entry in the same transaction.
    f.run(&[
        "set",
        "checkout:db.pool.max_size",
        "30",
        "--layer",
        "env/staging",
        "--as",
        "alice.nguyen",
    ])
    .ok();
    // Denied: exit 4, the rule named, the attempt audited, nothing written.
    let head_before = f.run(&["log"]).ok().stdout;
    let denied = f
        .run(&[
            "set",
            "search:replicas",
            "9",
            "--layer",
            "env/dev",
            "--as",
            "alice.nguyen",
        ])
        .expect(4);
    assert!(
        denied
            .stderr
            .contains("alice.nguyen may not write search:replicas in dev"),
        "{}",
        denied.stderr
    );
    assert_eq!(f.run(&["log"]).ok().stdout, head_before);
    // Editing the working tree's policy grants nothing: the store's head decides.
    f.write(
        "policies/access.yaml",
        "roles:\n  all:\n    allow:\n      - { actions: [write], envs: [\"*\"], params: [\"*:**\"] }\nprincipals:\n  alice.nguyen: { roles: [all] }\n",
    );
    f.run(&[
        "set",
        "search:replicas",
        "9",
        "--layer",
        "env/dev",
        "--as",
        "alice.nguyen",
    ])
    .expect(4);
    let log = audit(&f);
    let summary: Vec<(String, String, String)> = log
        .iter()
        .map(|e| {
            (
                e["principal"].as_str().unwrap().to_string(),
                e["action"].as_str().unwrap().to_string(),
                e["decision"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expect = |p: &str, a: &str, d: &str| (p.to_string(), a.to_string(), d.to_string());
    assert_eq!(
        summary,
        [
            expect("dana.kim", "import", "allowed"),
            expect("alice.nguyen", "write", "allowed"),
            expect("alice.nguyen", "write", "denied"),
            expect("alice.nguyen", "write", "denied"),
        ]
    );
    assert_eq!(log[1]["params"][0], "checkout:db.pool.max_size");
    assert_eq!(log[1]["scope"], "staging");
    assert!(
        log[1]["revision"].is_string(),
        "the write's entry names its revision"
    );
    assert!(
        log[2]["rule"]
            .as_str()
            .unwrap()
            .contains("no rule allows it")
    );
    // Filters.
    let by_param = f
        .run(&["audit", "--param", "search:", "--format", "jsonl"])
        .ok();
    assert_eq!(by_param.stdout.lines().count(), 2);
    let by_principal = f.run(&["audit", "--principal", "dana.kim"]).ok();
    assert_eq!(by_principal.stdout.lines().count(), 1);
    f.run(&["audit", "verify"]).ok();
}

#[test]
fn prod_writes_need_two_approvals_from_the_right_roles() {
    let f = imported();
    let proposed = f
        .run(&[
            "set",
            "checkout:db.pool.max_size",
            "60",
            "--layer",
            "env/prod",
            "--as",
            "alice.nguyen",
        ])
        .ok();
    assert!(
        proposed
            .stdout
            .contains("needs approval: prod-changes (2 from sre, admin)")
    );
    let r = last_request(&f);
    let id = r["id"].as_str().unwrap().to_string();
    assert_eq!(r["status"], "pending");
    // No revision yet.
    assert_eq!(f.run(&["log"]).ok().stdout.lines().count(), 1);
    // The author cannot approve; an engineer holds no `approve`.
    let own = f.run(&["approve", &id, "--as", "alice.nguyen"]).expect(4);
    assert!(own.stderr.contains("nobody approves their own request"));
    f.run(&["approve", &id, "--as", "tom.becker"]).expect(4);
    // One SRE is not enough; the same SRE twice counts once.
    let one = f.run(&["approve", &id, "--as", "marco.silva"]).ok();
    assert!(one.stdout.contains("1 of 2"), "{}", one.stdout);
    f.run(&["approve", &id, "--as", "marco.silva"]).expect(2);
    assert_eq!(f.run(&["log"]).ok().stdout.lines().count(), 1);
    // The second applies it, as its author's revision.
    let applied = f.run(&["approve", &id, "--as", "priya.shah"]).ok();
    assert!(
        applied.stdout.contains("approved and applied"),
        "{}",
        applied.stdout
    );
    let log = f.run(&["log"]).ok().stdout;
    assert!(
        log.lines().next().unwrap().contains("alice.nguyen"),
        "{log}"
    );
    f.run(&["export", "--out", "out"]).ok();
    let prod = std::fs::read_to_string(f.root().join("out/layers/env/prod/checkout.yaml")).unwrap();
    assert!(prod.contains("max_size: 60"), "{prod}");
    assert_eq!(last_request(&f)["status"], "applied");
    let actions: Vec<String> = audit(&f)
        .iter()
        .map(|e| {
            format!(
                "{} {} {}",
                e["principal"].as_str().unwrap(),
                e["action"].as_str().unwrap(),
                e["decision"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        actions[1..],
        [
            "alice.nguyen propose allowed",
            "alice.nguyen approve denied",
            "tom.becker approve denied",
            "marco.silva approve allowed",
            "priya.shah approve allowed",
            "priya.shah apply allowed",
        ]
    );
}

#[test]
fn rejected_expired_and_conflicting_requests() {
    let f = imported();
    let changeset =
        "changes:\n  - set: checkout:db.pool.max_size\n    layer: env/prod\n    value: 70\n";
    f.write("cs.yaml", changeset);
    // Rejected: closed for good.
    f.run(&["propose", "cs.yaml", "-m", "one", "--as", "alice.nguyen"])
        .ok();
    let r1 = last_request(&f)["id"].as_str().unwrap().to_string();
    f.run(&[
        "reject",
        &r1,
        "--reason",
        "not during the freeze",
        "--as",
        "marco.silva",
    ])
    .ok();
    assert_eq!(last_request(&f)["status"], "rejected");
    f.run(&["approve", &r1, "--as", "priya.shah"]).expect(2);
    // Two requests on one parameter: the second to be approved conflicts.
    f.run(&["propose", "cs.yaml", "-m", "two", "--as", "alice.nguyen"])
        .ok();
    let r2 = last_request(&f)["id"].as_str().unwrap().to_string();
    f.write("cs.yaml", changeset.replace("70", "80"));
    f.run(&["propose", "cs.yaml", "-m", "three", "--as", "rahul.mehta"])
        .ok();
    let r3 = last_request(&f)["id"].as_str().unwrap().to_string();
    for who in ["marco.silva", "priya.shah"] {
        f.run(&["approve", &r3, "--as", who]).ok();
    }
    f.run(&["approve", &r2, "--as", "marco.silva"]).ok();
    let conflict = f.run(&["approve", &r2, "--as", "priya.shah"]).expect(3);
    assert!(
        conflict.stderr.contains("conflicted"),
        "{}",
        conflict.stderr
    );
    let list = f.run(&["requests", "--json"]).ok().json();
    let status = |id: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status(&r2), "conflicted");
    assert_eq!(status(&r3), "applied");
    // Expiry: a rule whose approvals must come within a second.
    let policy = std::fs::read_to_string(f.root().join("policies/access.yaml"))
        .unwrap()
        .replace("expires_after: 7d", "expires_after: 1s");
    f.write("policies/access.yaml", policy);
    f.run(&["import", "-m", "short approvals", "--as", "dana.kim"])
        .ok();
    f.run(&["propose", "cs.yaml", "-m", "four", "--as", "alice.nguyen"])
        .ok();
    let r4 = last_request(&f)["id"].as_str().unwrap().to_string();
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let late = f.run(&["approve", &r4, "--as", "marco.silva"]).expect(2);
    assert!(late.stderr.contains("expired"), "{}", late.stderr);
    assert_eq!(last_request(&f)["status"], "expired");
    let pending = f.run(&["requests", "--pending"]).ok();
    assert_eq!(pending.stdout.trim(), "no change requests");
    f.run(&["audit", "verify"]).ok();
}

#[test]
fn tokens_name_their_principal_until_revoked() {
    let f = imported();
    f.run(&[
        "token",
        "create",
        "--principal",
        "ci",
        "--as",
        "alice.nguyen",
    ])
    .expect(4);
    let created = f
        .run(&[
            "token",
            "create",
            "--principal",
            "marco.silva",
            "--expires",
            "30d",
            "--as",
            "dana.kim",
        ])
        .ok();
    let token = created.stdout.trim().to_string();
    assert!(token.starts_with("strata_") && token.len() == 84, "{token}");
    let list = f.run(&["token", "list", "--json"]).ok().json();
    assert_eq!(list[0]["principal"], "marco.silva");
    assert_eq!(list[0]["state"], "active");
    assert!(
        !list.to_string().contains(&token[20..]),
        "listings never show the token"
    );
    let mut cmd = common::strata();
    cmd.current_dir(f.root()).env("STRATA_TOKEN", &token).args([
        "set",
        "checkout:db.pool.max_size",
        "12",
        "--layer",
        "env/dev",
    ]);
    common::run_cmd(&mut cmd).ok();
    let id = &token[7..19];
    f.run(&["token", "revoke", id, "--as", "dana.kim"]).ok();
    let mut cmd = common::strata();
    cmd.current_dir(f.root()).env("STRATA_TOKEN", &token).args([
        "set",
        "checkout:db.pool.max_size",
        "13",
        "--layer",
        "env/dev",
    ]);
    common::run_cmd(&mut cmd).expect(4);
    let log = audit(&f);
    let text = serde_json::to_string(&log).unwrap();
    assert!(
        !text.contains(&token[20..]),
        "the audit log never holds the token"
    );
    let uses = who_did(&log, "token-use");
    assert_eq!(uses, [("marco.silva", "allowed"), ("anonymous", "denied")]);
}

#[test]
fn audit_verify_names_the_first_tampered_entry() {
    let f = imported();
    for v in ["31", "32", "33"] {
        f.run(&[
            "set",
            "checkout:db.pool.max_size",
            v,
            "--layer",
            "env/staging",
            "--as",
            "alice.nguyen",
        ])
        .ok();
    }
    f.run(&["audit", "verify"]).ok();
    let db = f.root().join(".strata/store.db");
    let sql = |q: &str| {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(q).unwrap();
    };
    sql("UPDATE strata_audit SET principal = 'mallory' WHERE seq = 3");
    let e = f.run(&["audit", "verify"]).expect(1);
    assert!(e.stderr.contains("entry #3"), "{}", e.stderr);
}

#[test]
fn secrets_are_written_and_read_only_with_permission_and_audited_without_values() {
    let keys = tempfile::tempdir().unwrap();
    let (id_path, public) = common::identity(keys.path(), "ops.key");
    let f = common::secret_project(&public);
    f.write("layers/base/svc.yaml", "db:\n  host: db.internal\n");
    f.write(
        "policies/access.yaml",
        "roles:
  ops:
    allow:
      - { actions: [admin, read, read-secret, write], envs: [\"*\"], params: [\"*:**\"] }
  dev:
    allow:
      - { actions: [read, write], envs: [\"*\"], params: [\"*:**\"] }
principals:
  ana: { roles: [ops] }
  bo: { roles: [dev] }
",
    );
    f.run(&["import", "-m", "baseline", "--as", "ana"]).ok();
    let plain = "Zq9-not-in-the-log";
    let set = |who: &str| {
        let value = keys.path().join("value");
        std::fs::write(&value, plain).unwrap();
        f.run(&[
            "secret",
            "set",
            "svc:db.password",
            "--layer",
            "base",
            "--value-file",
            value.to_str().unwrap(),
            "--as",
            who,
        ])
    };
    set("ana").ok();
    let reveal = |who: &str| {
        let mut cmd = common::strata();
        cmd.current_dir(f.root())
            .env("STRATA_AGE_IDENTITY", &id_path)
            .args([
                "resolve",
                "svc",
                "--target",
                "prod/aws/us-east-1",
                "--rev",
                "HEAD",
                "--get",
                "db.password",
                "--reveal",
                "--as",
                who,
            ]);
        common::run_cmd(&mut cmd)
    };
    // bo may write but not read secrets: the read is refused before anything is shown.
    let denied = reveal("bo").expect(4);
    assert!(!denied.stdout.contains(plain) && !denied.stderr.contains(plain));
    assert!(denied.stderr.contains("read-secret"), "{}", denied.stderr);
    let shown = reveal("ana").ok();
    assert_eq!(shown.stdout.trim(), plain);
    let log = audit(&f);
    let text = serde_json::to_string(&log).unwrap();
    assert!(
        !text.contains(plain),
        "the audit log never holds a secret value"
    );
    let written = log.iter().find(|e| e["action"] == "write-secret").unwrap();
    assert_eq!(written["params"][0], "svc:db.password");
    assert!(written["detail"]["value_digest"].as_str().unwrap().len() >= 32);
    let reads = who_did(&log, "read-secret");
    assert_eq!(reads, [("bo", "denied"), ("ana", "allowed")]);
    // Setting the same value again records the same digest: a changed secret shows as a
    // changed digest, never as the value.
    set("ana").ok();
    let digests: Vec<String> = audit(&f)
        .iter()
        .filter(|e| e["action"] == "write-secret")
        .map(|e| e["detail"]["value_digest"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(digests.len(), 2);
    assert_eq!(digests[0], digests[1]);
}

/// A one-thread HTTP server on loopback answering every request with `body`; returns its
/// URL and the request bodies it received.
fn webhook(body: &'static str) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/v1/data/strata/allow",
        listener.local_addr().unwrap()
    );
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut buf = vec![0; length];
            let _ = reader.read_exact(&mut buf);
            log.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&buf).into_owned());
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, seen)
}

#[test]
fn an_authorization_webhook_can_veto_what_the_policy_allows() {
    let f = acme();
    let (url, seen) = webhook(r#"{"result": false}"#);
    let policy = std::fs::read_to_string(f.root().join("policies/access.yaml")).unwrap();
    f.write(
        "policies/access.yaml",
        format!("{policy}\nidentity:\n  webhook: {{ url: \"{url}\", timeout_ms: 2000 }}\n"),
    );
    // The bootstrap import has no policy to ask; the next write does.
    f.run(&["import", "-m", "baseline", "--as", "dana.kim"])
        .ok();
    let denied = f
        .run(&[
            "set",
            "checkout:db.pool.max_size",
            "30",
            "--layer",
            "env/staging",
            "--as",
            "alice.nguyen",
        ])
        .expect(4);
    assert!(
        denied.stderr.contains("allowed by role service-owner")
            && denied.stderr.contains("authorization webhook"),
        "{}",
        denied.stderr
    );
    let bodies = seen.lock().unwrap().clone();
    let input: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(input["input"]["principal"], "alice.nguyen");
    assert_eq!(input["input"]["action"], "write");
    assert_eq!(input["input"]["env"], "staging");
    assert_eq!(input["input"]["param"], "checkout:db.pool.max_size");
    // A webhook nobody answers denies (fail closed).
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}/allow", dead.local_addr().unwrap());
    drop(dead);
    let g = acme();
    g.write(
        "policies/access.yaml",
        format!("{policy}\nidentity:\n  webhook: {{ url: \"{dead_url}\", timeout_ms: 500 }}\n"),
    );
    g.run(&["import", "-m", "baseline", "--as", "dana.kim"])
        .ok();
    g.run(&[
        "set",
        "checkout:db.pool.max_size",
        "30",
        "--layer",
        "env/staging",
        "--as",
        "alice.nguyen",
    ])
    .expect(4);
    // A malformed identity section is located.
    f.write(
        "policies/access.yaml",
        format!("{policy}\nidentity:\n  webhok: {{}}\n"),
    );
    let bad = check(&f, "bob", "read", "checkout:", "dev", &[]).expect(1);
    assert!(
        bad.stderr.contains("policies/access.yaml:") && bad.stderr.contains("webhok"),
        "{}",
        bad.stderr
    );
}
