//! Conformance of access-control persistence: the audit chain (appends, queries,
//! tampering caught with raw SQL, concurrent appenders), audited commits, API tokens and
//! change requests.

use std::sync::Arc;

use strata_store::audit::{
    self, AuditFilter, AuditProblem, Decision, NewAuditEntry, RawAuditHead, RawAuditRow, action,
};
use strata_store::backend::Store;
use strata_store::error::StoreError;
use strata_store::model::{Commit, CommitOutcome, Hash, Revision};
use strata_store::repo::{ApplyOutcome, CommitExtras, ImportOutcome};
use strata_store::requests::{
    Approval, NewRequest, RequestStatus, RequestTransition, RequestUpdate, StatusChange,
};
use strata_store::tokens::{NewToken, TokenState};

use super::{Fixture, changeset, edit, meta, project};

/// An entry by `who` at `t` on `params`.
pub fn entry(t: i64, who: &str, act: &str, params: &[&str]) -> NewAuditEntry {
    let mut e = NewAuditEntry::new(t, who, act, "prod");
    e.params = params.iter().map(|p| p.to_string()).collect();
    e
}

/// Ten entries: 1–3 in one batch, the rest one by one, with every field used somewhere.
fn ten_entries(store: &dyn Store) -> Vec<audit::AuditEntry> {
    let mut out = store
        .audit_append(&[
            entry(1_000, "alice", action::WRITE, &["web:db.pool"]),
            entry(1_001, "bob", action::READ_SECRET, &["web:db.password"]),
            entry(1_002, "alice", action::WRITE, &["web:db", "api:timeout"]),
        ])
        .unwrap();
    for i in 3..10 {
        let mut e = entry(
            1_000 + i,
            ["alice", "bob", "carol"][i as usize % 3],
            action::WRITE,
            &[],
        );
        if i == 4 {
            e.action = action::DENIED.into();
            e.decision = Decision::Denied;
            e.rule = Some("deny read,write *:**.password for payments-dev".into());
            e.params = vec!["web:db.password".into()];
        }
        if i == 6 {
            e.request = Some("cr-1".into());
            e.revision = Some("ab".repeat(32));
            let mut d = serde_json::Map::new();
            d.insert("z".into(), serde_json::json!(1));
            d.insert("a".into(), serde_json::json!({"y": [1, 2], "x": null}));
            e.detail = Some(d);
            e.params = vec!["web:replicas[0]".into(), "web:db2".into()];
        }
        out.extend(store.audit_append(&[e]).unwrap());
    }
    out
}

/// Every stored row and the head, as a verifier sees them.
pub fn scan(store: &dyn Store) -> (Vec<RawAuditRow>, RawAuditHead) {
    let mut rows = Vec::new();
    let head = store
        .audit_scan(&mut |r| {
            rows.push(r.clone());
            true
        })
        .unwrap();
    (rows, head)
}

fn broken_at(store: &dyn Store) -> (u64, AuditProblem) {
    let b = store
        .audit_verify()
        .unwrap()
        .expect_err("tampering must be detected");
    (b.seq, b.problem)
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn opt(s: &Option<String>) -> String {
    s.as_deref().map_or("NULL".into(), quote)
}

/// SQL putting every column of `row` back (it has the same seq).
fn restore_sql(row: &RawAuditRow) -> String {
    format!(
        "UPDATE strata_audit SET time_ms = {}, principal = {}, action = {}, scope = {}, params = {}, decision = {}, rule = {}, request = {}, revision = {}, detail = {}, prev = {}, hash = {} WHERE seq = {}",
        row.time_ms,
        quote(&row.principal),
        quote(&row.action),
        quote(&row.scope),
        quote(&row.params),
        quote(&row.decision),
        opt(&row.rule),
        opt(&row.request),
        opt(&row.revision),
        opt(&row.detail),
        quote(&row.prev),
        quote(&row.hash),
        row.seq,
    )
}

/// SQL inserting `row` as is (for forging rows behind the store's back).
fn insert_sql(row: &RawAuditRow) -> String {
    format!(
        "INSERT INTO strata_audit (seq, time_ms, principal, action, scope, params, decision, rule, request, revision, detail, prev, hash) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
        row.seq,
        row.time_ms,
        quote(&row.principal),
        quote(&row.action),
        quote(&row.scope),
        quote(&row.params),
        quote(&row.decision),
        opt(&row.rule),
        opt(&row.request),
        opt(&row.revision),
        opt(&row.detail),
        quote(&row.prev),
        quote(&row.hash),
    )
}

pub fn audit_log_appends_chains_and_queries(fx: &Fixture) {
    let repo = fx.open();
    let store = repo.store();
    assert_eq!(store.audit_verify().unwrap(), Ok(0));
    assert!(
        store
            .audit_entries(&AuditFilter::default())
            .unwrap()
            .is_empty()
    );
    let written = ten_entries(store);
    let seqs: Vec<u64> = written.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=10).collect::<Vec<u64>>());
    assert_eq!(written[0].prev, audit::GENESIS);
    for w in written.windows(2) {
        assert_eq!(
            w[1].prev, w[0].hash,
            "entry #{} chains to #{}",
            w[1].seq, w[0].seq
        );
    }
    // Another handle (another process or server) reads the same entries back.
    let other = fx.open();
    let all = other
        .store()
        .audit_entries(&AuditFilter::default())
        .unwrap();
    assert_eq!(all, written);
    assert_eq!(other.store().audit_verify().unwrap(), Ok(10));
    assert!(strata_store::fsck::fsck(other.store()).unwrap().is_empty());
    // Every field round-trips; the detail is stored with sorted keys.
    let e7 = &all[6];
    assert_eq!(e7.request.as_deref(), Some("cr-1"));
    assert_eq!(e7.revision, Some("ab".repeat(32)));
    assert_eq!(
        serde_json::Value::Object(e7.detail.clone().unwrap()),
        serde_json::json!({"a": {"x": null, "y": [1, 2]}, "z": 1})
    );
    let (rows, head) = scan(store);
    assert_eq!(
        rows[6].detail.as_deref(),
        Some(r#"{"a":{"x":null,"y":[1,2]},"z":1}"#)
    );
    assert_eq!((head.seq, head.hash.clone()), (10, all[9].hash.to_hex()));
    assert_eq!(audit::verify(&rows, Some(&head)), Ok(10));
    let e5 = &all[4];
    assert_eq!(
        (e5.decision, e5.action.as_str(), e5.rule.is_some()),
        (Decision::Denied, "denied", true)
    );
    // Filters.
    let q = |f: AuditFilter| -> Vec<u64> {
        store
            .audit_entries(&f)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect()
    };
    assert_eq!(
        q(AuditFilter {
            after_seq: Some(7),
            ..AuditFilter::default()
        }),
        vec![8, 9, 10]
    );
    assert_eq!(
        q(AuditFilter {
            since_ms: Some(1_008),
            ..AuditFilter::default()
        }),
        vec![9, 10]
    );
    assert_eq!(
        q(AuditFilter {
            principal: Some("alice".into()),
            ..AuditFilter::default()
        }),
        vec![1, 3, 4, 7, 10]
    );
    assert_eq!(
        q(AuditFilter {
            action: Some("denied".into()),
            ..AuditFilter::default()
        }),
        vec![5]
    );
    // A parameter matches itself and what is under it, never a sibling with a longer name.
    let by_param = |p: &str| {
        q(AuditFilter {
            param: Some(p.into()),
            ..AuditFilter::default()
        })
    };
    assert_eq!(by_param("web:db"), vec![1, 2, 3, 5]);
    assert_eq!(by_param("web:db.password"), vec![2, 5]);
    assert_eq!(by_param("web:replicas"), vec![7]);
    assert_eq!(by_param("web:db2"), vec![7]);
    assert_eq!(by_param("web:"), vec![1, 2, 3, 5, 7]);
    assert_eq!(by_param("api:"), vec![3]);
    assert!(by_param("web:db.pool.max").is_empty());
    assert_eq!(
        q(AuditFilter {
            principal: Some("alice".into()),
            newest_first: true,
            limit: Some(2),
            ..AuditFilter::default()
        }),
        vec![10, 7]
    );
    assert_eq!(
        q(AuditFilter {
            param: Some("web:db".into()),
            since_ms: Some(1_002),
            limit: Some(1),
            ..AuditFilter::default()
        }),
        vec![3]
    );
    // An entry without an action is refused, and nothing of its batch is written.
    let bad = NewAuditEntry::new(5, "alice", "", "prod");
    assert!(matches!(
        store.audit_append(&[entry(5, "x", "write", &[]), bad]),
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(store.audit_verify().unwrap(), Ok(10));
    assert!(store.audit_append(&[]).unwrap().is_empty());
}

pub fn audit_detects_an_edited_entry(fx: &Fixture) {
    let repo = fx.open();
    ten_entries(repo.store());
    let (rows, _) = scan(repo.store());
    (fx.sql)("UPDATE strata_audit SET principal = 'mallory' WHERE seq = 5");
    assert_eq!(broken_at(repo.store()), (5, AuditProblem::HashMismatch));
    // A read that meets the modified entry refuses to serve it; reads past it still work.
    assert!(matches!(
        repo.store().audit_entries(&AuditFilter::default()),
        Err(StoreError::Corrupt { .. })
    ));
    let later = repo
        .store()
        .audit_entries(&AuditFilter {
            after_seq: Some(5),
            ..AuditFilter::default()
        })
        .unwrap();
    assert_eq!(later.len(), 5);
    let problems = strata_store::fsck::fsck(repo.store()).unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].object, "audit entry #5");
    // Putting the column back mends the chain; any other column counts as well.
    let original = |seq: i64| rows.iter().find(|r| r.seq == seq).unwrap().clone();
    (fx.sql)(&restore_sql(&original(5)));
    assert_eq!(repo.store().audit_verify().unwrap(), Ok(10));
    for (set, seq) in [
        ("params = '[\"web:other\"]'", 3),
        ("decision = 'allowed'", 5),
        ("detail = '{\"a\":1}'", 7),
        ("rule = NULL", 5),
        ("request = 'cr-2'", 7),
        ("time_ms = time_ms + 1", 1),
        ("scope = 'dev'", 4),
        ("prev = hash", 2),
        ("hash = prev", 10),
    ] {
        (fx.sql)(&format!("UPDATE strata_audit SET {set} WHERE seq = {seq}"));
        let (at, problem) = broken_at(repo.store());
        assert_eq!(at, seq as u64, "{set}");
        assert!(
            matches!(
                problem,
                AuditProblem::HashMismatch | AuditProblem::PrevMismatch
            ),
            "{set}: {problem:?}"
        );
        (fx.sql)(&restore_sql(&original(seq)));
        assert_eq!(repo.store().audit_verify().unwrap(), Ok(10), "{set}");
    }
}

pub fn audit_detects_a_deleted_entry(fx: &Fixture) {
    let repo = fx.open();
    ten_entries(repo.store());
    (fx.sql)("DELETE FROM strata_audit WHERE seq = 5");
    assert_eq!(
        broken_at(repo.store()),
        (5, AuditProblem::Gap { found: Some(6) })
    );
    // Dropping the newest entries is caught by the recorded head.
    (fx.sql)("DELETE FROM strata_audit WHERE seq >= 5");
    assert_eq!(
        broken_at(repo.store()),
        (5, AuditProblem::Gap { found: None })
    );
}

pub fn audit_detects_a_forged_entry(fx: &Fixture) {
    let repo = fx.open();
    let written = ten_entries(repo.store());
    let (rows, _) = scan(repo.store());
    // (1) A row added at the end with made-up hashes.
    let mut forged = rows[9].clone();
    forged.seq = 11;
    forged.principal = "mallory".into();
    (fx.sql)(&insert_sql(&forged));
    assert_eq!(broken_at(repo.store()), (11, AuditProblem::PrevMismatch));
    (fx.sql)("DELETE FROM strata_audit WHERE seq = 11");
    assert_eq!(repo.store().audit_verify().unwrap(), Ok(10));
    // (2) One chained correctly by someone who knows the format, but not recorded in the
    // head: the head gives it away.
    let clever = audit::chain(
        10,
        &written[9].hash,
        &[entry(2_000, "mallory", "write", &[])],
    )
    .unwrap();
    (fx.sql)(&insert_sql(&clever[0]));
    assert_eq!(
        broken_at(repo.store()),
        (11, AuditProblem::BeyondHead { head: 10 })
    );
    (fx.sql)("DELETE FROM strata_audit WHERE seq = 11");
    // (3) Inserted in the middle (later entries renumbered to make room), with a made-up
    // hash: named at its own seq.
    (fx.sql)(
        "UPDATE strata_audit SET seq = seq + 100 WHERE seq >= 6; UPDATE strata_audit SET seq = seq - 99 WHERE seq >= 106",
    );
    let mut middle = rows[5].clone();
    middle.principal = "mallory".into();
    (fx.sql)(&insert_sql(&middle));
    assert_eq!(broken_at(repo.store()), (6, AuditProblem::HashMismatch));
    // (4) The same with a correctly chained forgery: the entry after it no longer links.
    (fx.sql)("DELETE FROM strata_audit WHERE seq = 6");
    let chained = audit::chain(
        5,
        &written[4].hash,
        &[entry(2_000, "mallory", "write", &[])],
    )
    .unwrap();
    (fx.sql)(&insert_sql(&chained[0]));
    let (seq, problem) = broken_at(repo.store());
    assert_eq!(seq, 7);
    assert!(
        matches!(
            problem,
            AuditProblem::PrevMismatch | AuditProblem::HashMismatch
        ),
        "{problem:?}"
    );
}

pub fn audit_detects_swapped_entries(fx: &Fixture) {
    let repo = fx.open();
    ten_entries(repo.store());
    (fx.sql)(
        "UPDATE strata_audit SET seq = -4 WHERE seq = 4; UPDATE strata_audit SET seq = 4 WHERE seq = 7; UPDATE strata_audit SET seq = 7 WHERE seq = -4",
    );
    assert_eq!(broken_at(repo.store()), (4, AuditProblem::PrevMismatch));
    // Swapping neighbours is caught as well.
    (fx.sql)(
        "UPDATE strata_audit SET seq = -4 WHERE seq = 4; UPDATE strata_audit SET seq = 4 WHERE seq = 7; UPDATE strata_audit SET seq = 7 WHERE seq = -4",
    );
    assert_eq!(repo.store().audit_verify().unwrap(), Ok(10));
    (fx.sql)(
        "UPDATE strata_audit SET seq = -9 WHERE seq = 9; UPDATE strata_audit SET seq = 9 WHERE seq = 10; UPDATE strata_audit SET seq = 10 WHERE seq = -9",
    );
    assert_eq!(broken_at(repo.store()), (9, AuditProblem::PrevMismatch));
}

/// Two handles (two processes on one SQLite file, two PostgreSQL connections) append and
/// commit at once: every entry lands once, in one unbroken chain.
pub fn audit_appenders_never_fork_the_chain(fx: &Fixture) {
    let repo = fx.open();
    repo.import(project(), meta("baseline")).unwrap();
    let fx = Arc::new(fx);
    // The three writers start together, each on its own handle (connection).
    let start = Arc::new(std::sync::Barrier::new(3));
    std::thread::scope(|s| {
        for t in 0..2 {
            let fx = fx.clone();
            let start = start.clone();
            s.spawn(move || {
                let repo = fx.open();
                let who = format!("t{t}");
                start.wait();
                for i in 0..60 {
                    if i % 20 == 19 {
                        let batch: Vec<NewAuditEntry> = (0..5)
                            .map(|k| entry(i * 10 + k, &who, "write", &[]))
                            .collect();
                        repo.store().audit_append(&batch).unwrap();
                    } else {
                        repo.store()
                            .audit_append(&[entry(i * 10, &who, "write", &[])])
                            .unwrap();
                    }
                }
            });
        }
        let fx = fx.clone();
        s.spawn(move || {
            let repo = fx.open();
            start.wait();
            for i in 0..5 {
                let extras = CommitExtras {
                    audit: vec![entry(i, "committer", "write", &["web:replicas"])],
                    request: None,
                };
                repo.apply_with(
                    &changeset(None, vec![edit("web:replicas", "base", Some(i.into()))]),
                    meta("tick"),
                    &extras,
                )
                .unwrap();
            }
        });
    });
    let store = repo.store();
    assert_eq!(store.audit_verify().unwrap(), Ok(2 * (57 + 3 * 5) + 5));
    let all = store.audit_entries(&AuditFilter::default()).unwrap();
    for who in ["t0", "t1", "committer"] {
        let times: Vec<i64> = all
            .iter()
            .filter(|e| e.principal == who)
            .map(|e| e.time_ms)
            .collect();
        let mut sorted = times.clone();
        sorted.sort();
        assert_eq!(times, sorted, "{who}'s entries keep their order");
    }
    // Each commit's entry names its revision.
    let committed: Vec<_> = all.iter().filter(|e| e.principal == "committer").collect();
    assert_eq!(committed.len(), 5);
    for e in committed {
        let rev = e.revision.as_deref().unwrap();
        let rev = repo.resolve_rev(rev).unwrap();
        assert_eq!(rev.meta.message, "tick");
    }
    assert!(strata_store::fsck::fsck(store).unwrap().is_empty());
}

/// A commit and its audit entries land together or not at all.
pub fn commits_write_their_audit_entries_atomically(fx: &Fixture) {
    let repo = fx.open();
    let mut extras = CommitExtras {
        audit: vec![entry(1, "alice", action::WRITE, &["web:"])],
        request: None,
    };
    let ImportOutcome::Committed(first) = repo
        .import_with(project(), meta("baseline"), &extras)
        .unwrap()
    else {
        panic!()
    };
    let e = repo.store().audit_entries(&AuditFilter::default()).unwrap();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].revision, Some(first.id.to_string()));
    // An audit entry that cannot be written fails the commit: no revision, no entry.
    extras.audit = vec![
        entry(2, "alice", action::WRITE, &["web:replicas"]),
        NewAuditEntry::new(2, "", action::WRITE, "prod"),
    ];
    let cs = changeset(None, vec![edit("web:replicas", "base", Some(9.into()))]);
    assert!(matches!(
        repo.apply_with(&cs, meta("nine"), &extras),
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(repo.head().unwrap().id, first.id);
    assert_eq!(repo.store().audit_verify().unwrap(), Ok(1));
    // A commit refused because the head moved writes none of its entries.
    let stale = Commit {
        audit: vec![entry(3, "alice", action::WRITE, &[])],
        ..Commit::new(None, Revision::new(1, None, Hash::of(b"m"), meta("stale")))
    };
    assert!(matches!(
        repo.store().commit(&stale).unwrap(),
        CommitOutcome::HeadMoved { .. }
    ));
    assert_eq!(repo.store().audit_verify().unwrap(), Ok(1));
    // Entries that name their own revision keep it; the commit succeeds with both.
    extras.audit = vec![
        entry(4, "alice", action::WRITE, &["web:replicas"]),
        NewAuditEntry {
            revision: Some("given".into()),
            ..entry(4, "alice", action::OVERRIDE, &[])
        },
    ];
    let ApplyOutcome::Committed { revision, .. } =
        repo.apply_with(&cs, meta("nine"), &extras).unwrap()
    else {
        panic!()
    };
    let e = repo
        .store()
        .audit_entries(&AuditFilter {
            after_seq: Some(1),
            ..AuditFilter::default()
        })
        .unwrap();
    let revs: Vec<Option<String>> = e.iter().map(|e| e.revision.clone()).collect();
    assert_eq!(
        revs,
        vec![Some(revision.id.to_string()), Some("given".to_string())]
    );
    // Edits that change nothing make no revision, but their entries are still written.
    extras.audit = vec![entry(5, "alice", action::WRITE, &["web:replicas"])];
    assert!(matches!(
        repo.apply_with(&cs, meta("again"), &extras).unwrap(),
        ApplyOutcome::Unchanged(_)
    ));
    let last = repo
        .store()
        .audit_entries(&AuditFilter {
            newest_first: true,
            limit: Some(1),
            ..AuditFilter::default()
        })
        .unwrap();
    assert_eq!((last[0].seq, last[0].revision.clone()), (4, None));
    assert!(strata_store::fsck::fsck(repo.store()).unwrap().is_empty());
}

pub fn audit_key_is_made_once(fx: &Fixture) {
    let a = fx.open();
    let key = a.store().audit_key().unwrap();
    assert_ne!(key, [0u8; 32]);
    assert_eq!(fx.open().store().audit_key().unwrap(), key);
    assert_eq!(a.store().audit_key().unwrap(), key);
    let d = audit::secret_digest(&key, "web:db.password", b"hunter2");
    assert_eq!(d.len(), 64);
    assert_ne!(
        d,
        audit::secret_digest(&[0u8; 32], "web:db.password", b"hunter2")
    );
}

pub fn tokens_are_stored_by_hash(fx: &Fixture) {
    let repo = fx.open();
    let store = repo.store();
    let token = |id: &str, hash: &str, created: i64, expires: Option<i64>| NewToken {
        id: id.into(),
        principal: "alice".into(),
        hash: hash.into(),
        created_ms: created,
        expires_ms: expires,
    };
    let written = store
        .token_create(
            &token("tok-1", "h1", 100, Some(1_000)),
            &[entry(100, "admin", action::TOKEN_CREATE, &[])],
        )
        .unwrap();
    assert_eq!(written.len(), 1);
    store
        .token_create(&token("tok-0", "h0", 100, None), &[])
        .unwrap();
    assert!(matches!(
        store.token_create(&token("tok-1", "h9", 1, None), &[]),
        Err(StoreError::Exists { kind: "token", .. })
    ));
    let dup_hash = store
        .token_create(&token("tok-9", "h1", 1, None), &[])
        .unwrap_err()
        .to_string();
    assert!(!dup_hash.contains("h1"), "{dup_hash}");
    assert!(matches!(
        store.token_create(&token("", "h5", 1, None), &[]),
        Err(StoreError::Invalid(_))
    ));
    let found = store.token_by_hash("h1").unwrap().unwrap();
    assert_eq!(
        (found.id.as_str(), found.principal.as_str()),
        ("tok-1", "alice")
    );
    assert_eq!(found.state(999), TokenState::Active);
    assert_eq!(found.state(1_000), TokenState::Expired);
    assert_eq!(store.token_by_hash("nope").unwrap(), None);
    let list = store.token_list().unwrap();
    let ids: Vec<&str> = list.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, vec!["tok-0", "tok-1"]);
    let shown = serde_json::to_string(&list).unwrap();
    assert!(
        !shown.contains("\"h0\"") && !shown.contains("\"h1\""),
        "{shown}"
    );
    // Revoking: recorded with its audit entry; a second revocation keeps the first time.
    let (row, entries) = store
        .token_revoke(
            "tok-1",
            500,
            &[entry(500, "admin", action::TOKEN_REVOKE, &[])],
        )
        .unwrap();
    assert_eq!((row.revoked_ms, entries[0].seq), (Some(500), 2));
    let (row, _) = store.token_revoke("tok-1", 700, &[]).unwrap();
    assert_eq!(row.revoked_ms, Some(500));
    assert_eq!(
        fx.open()
            .store()
            .token_by_hash("h1")
            .unwrap()
            .unwrap()
            .state(10),
        TokenState::Revoked
    );
    assert!(matches!(
        store.token_revoke("tok-404", 1, &[entry(1, "admin", "token-revoke", &[])]),
        Err(StoreError::NotFound { kind: "token", .. })
    ));
    // A failed audit entry leaves the token unrevoked.
    assert!(
        store
            .token_revoke("tok-0", 1, &[NewAuditEntry::new(1, "admin", "", "")])
            .is_err()
    );
    assert_eq!(store.token_by_hash("h0").unwrap().unwrap().revoked_ms, None);
    assert_eq!(store.audit_verify().unwrap(), Ok(2));
}

fn request(id: &str, created: i64) -> NewRequest {
    NewRequest {
        id: id.into(),
        author: "alice".into(),
        message: "raise the pool".into(),
        changeset: "changes:\n  - set: web:replicas\n    layer: base\n    value: 7\n".into(),
        base_seq: 1,
        created_ms: created,
        expires_ms: Some(created + 86_400_000),
        rules: r#"[{"name":"prod-changes","required":2,"from_roles":["sre"]}]"#.into(),
    }
}

fn to(from: RequestStatus, to: RequestStatus, t: i64) -> StatusChange {
    StatusChange {
        from,
        to,
        time_ms: t,
        detail: None,
    }
}

pub fn change_requests_are_approved_and_applied(fx: &Fixture) {
    let repo = fx.open();
    let ImportOutcome::Committed(base) = repo.import(project(), meta("baseline")).unwrap() else {
        panic!()
    };
    let store = repo.store();
    let proposed = store
        .request_create(
            &request("cr-1", 10),
            &[NewAuditEntry {
                request: Some("cr-1".into()),
                ..entry(10, "alice", action::PROPOSE, &["web:replicas"])
            }],
        )
        .unwrap();
    assert_eq!(proposed[0].request.as_deref(), Some("cr-1"));
    store.request_create(&request("cr-2", 20), &[]).unwrap();
    assert!(matches!(
        store.request_create(&request("cr-1", 30), &[]),
        Err(StoreError::Exists {
            kind: "change request",
            ..
        })
    ));
    assert!(matches!(
        store.request_create(
            &NewRequest {
                rules: "two approvals".into(),
                ..request("cr-bad", 30)
            },
            &[]
        ),
        Err(StoreError::Invalid(_))
    ));
    let got = store.request_get("cr-1").unwrap().unwrap();
    assert_eq!(got.status, RequestStatus::Pending);
    assert_eq!(
        (got.base_seq, got.changeset.as_str(), got.rules.as_str()),
        (
            1,
            request("x", 0).changeset.as_str(),
            request("x", 0).rules.as_str()
        )
    );
    assert_eq!(store.request_get("cr-404").unwrap(), None);
    // Nobody approves their own change; one approval per principal.
    assert!(matches!(
        store.request_add_approval("cr-1", "alice", 11),
        Err(StoreError::SelfApproval { .. })
    ));
    let r = store.request_add_approval("cr-1", "bob", 12).unwrap();
    assert_eq!(
        r.approvals,
        vec![Approval {
            principal: "bob".into(),
            time_ms: 12
        }]
    );
    assert!(matches!(
        store.request_add_approval("cr-1", "bob", 13),
        Err(StoreError::DuplicateApproval { .. })
    ));
    assert!(matches!(
        store.request_add_approval("cr-404", "bob", 13),
        Err(StoreError::NotFound { .. })
    ));
    // The approval that completes the rules moves the request, with its audit entry, in
    // one transaction.
    let (r, entries) = store
        .request_update(
            "cr-1",
            &RequestUpdate {
                approval: Some(Approval {
                    principal: "carol".into(),
                    time_ms: 14,
                }),
                status: Some(to(RequestStatus::Pending, RequestStatus::Approved, 14)),
            },
            &[NewAuditEntry {
                request: Some("cr-1".into()),
                ..entry(14, "carol", action::APPROVE, &["web:replicas"])
            }],
        )
        .unwrap();
    assert_eq!(r.status, RequestStatus::Approved);
    assert_eq!(r.status_ms, Some(14));
    assert_eq!(r.approvals.len(), 2);
    assert_eq!(entries[0].seq, 2);
    // Status changes are compare-and-set.
    assert!(matches!(
        store.request_set_status(
            "cr-1",
            &to(RequestStatus::Pending, RequestStatus::Rejected, 15)
        ),
        Err(StoreError::RequestState {
            found: RequestStatus::Approved,
            ..
        })
    ));
    // A failing update writes nothing: the approval of dave is not kept.
    assert!(
        store
            .request_update(
                "cr-2",
                &RequestUpdate {
                    approval: Some(Approval {
                        principal: "dave".into(),
                        time_ms: 16
                    }),
                    status: Some(to(RequestStatus::Approved, RequestStatus::Applied, 16)),
                },
                &[],
            )
            .is_err()
    );
    assert!(
        store
            .request_get("cr-2")
            .unwrap()
            .unwrap()
            .approvals
            .is_empty()
    );
    // Applying: the commit, the request's status and the audit entry in one transaction.
    let apply = CommitExtras {
        audit: vec![NewAuditEntry {
            request: Some("cr-1".into()),
            ..entry(20, "server", action::WRITE, &["web:replicas"])
        }],
        request: Some(RequestTransition {
            id: "cr-1".into(),
            change: StatusChange {
                detail: Some("applied by server".into()),
                ..to(RequestStatus::Approved, RequestStatus::Applied, 20)
            },
        }),
    };
    let cs = changeset(
        Some(&base.id.to_string()),
        vec![edit("web:replicas", "base", Some(7.into()))],
    );
    let ApplyOutcome::Committed { revision, .. } =
        repo.apply_with(&cs, meta("cr-1"), &apply).unwrap()
    else {
        panic!()
    };
    let r = store.request_get("cr-1").unwrap().unwrap();
    assert_eq!(r.status, RequestStatus::Applied);
    assert_eq!(r.revision, Some(revision.id.to_string()));
    assert_eq!(r.detail.as_deref(), Some("applied by server"));
    // A second server applying the same request fails whole: no revision, no entry.
    let cs2 = changeset(None, vec![edit("web:replicas", "base", Some(8.into()))]);
    assert!(matches!(
        repo.apply_with(&cs2, meta("cr-1 again"), &apply),
        Err(StoreError::RequestState {
            found: RequestStatus::Applied,
            ..
        })
    ));
    assert_eq!(repo.head().unwrap().id, revision.id);
    assert_eq!(store.audit_verify().unwrap(), Ok(3));
    // Closed requests stay closed.
    assert!(matches!(
        store.request_add_approval("cr-1", "dave", 30),
        Err(StoreError::RequestState { .. })
    ));
    assert!(
        store
            .request_set_status(
                "cr-1",
                &to(RequestStatus::Applied, RequestStatus::Pending, 30)
            )
            .is_err()
    );
    // Rejecting (status and audit together), then listing.
    let (r, _) = store
        .request_update(
            "cr-2",
            &RequestUpdate {
                approval: None,
                status: Some(StatusChange {
                    detail: Some("not during the freeze".into()),
                    ..to(RequestStatus::Pending, RequestStatus::Rejected, 40)
                }),
            },
            &[entry(40, "bob", action::REJECT, &[])],
        )
        .unwrap();
    assert_eq!(r.status, RequestStatus::Rejected);
    store.request_create(&request("cr-3", 50), &[]).unwrap();
    store.request_add_approval("cr-3", "bob", 51).unwrap();
    let ids = |open: bool| -> Vec<String> {
        store
            .request_list(open)
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect()
    };
    assert_eq!(ids(false), vec!["cr-1", "cr-2", "cr-3"]);
    assert_eq!(ids(true), vec!["cr-3"]);
    let listed = store.request_list(false).unwrap();
    assert_eq!(listed[0].approvals.len(), 2);
    assert_eq!(listed[2].approvals.len(), 1);
    assert_eq!(listed, {
        let other = fx.open();
        other.store().request_list(false).unwrap()
    });
    for status in [RequestStatus::Expired, RequestStatus::Conflicted] {
        let id = format!("cr-{status}");
        store.request_create(&request(&id, 60), &[]).unwrap();
        let r = store
            .request_set_status(&id, &to(RequestStatus::Pending, status, 61))
            .unwrap();
        assert_eq!(r.status, status);
    }
    assert_eq!(ids(true), vec!["cr-3"]);
    assert!(strata_store::fsck::fsck(store).unwrap().is_empty());
}
