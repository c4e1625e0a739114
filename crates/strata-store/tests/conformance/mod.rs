//! The conformance suite every [`Store`] backend passes: `tests/sqlite.rs` and
//! `tests/postgres.rs` run each function here against their backend with the
//! [`conformance_tests!`] macro.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use strata_core::path::ParamPath;
use strata_store::changeset::{Changeset, ParamEdit};
use strata_store::crypto::{self, Identities};
use strata_store::error::StoreError;
use strata_store::history;
use strata_store::model::{CommitMeta, FileChangeKind, Hash};
use strata_store::repo::{ApplyOutcome, ImportOutcome, Repository};

mod access;
pub use access::*;
mod actual;
pub use actual::*;

/// Rewrites a stored blob (by hex hash) with a function of its bytes.
pub type Tamper = dyn Fn(&str, &dyn Fn(&mut Vec<u8>)) + Send + Sync;

/// One row of a diff, flattened for comparison: service, param, kind, old, new.
type DiffRow<'a> = (String, String, &'a str, Option<String>, Option<String>);

/// A fresh, empty store of one backend, plus the backend-specific ways to damage it.
pub struct Fixture {
    /// What `strata_store::open` takes.
    pub location: String,
    /// Replaces the stored bytes of a blob (by hex hash) with `f(bytes)`, behind the
    /// store's back.
    pub tamper: Box<Tamper>,
    /// Runs SQL statements on the store's database over a connection of its own, behind
    /// the store's back (to tamper with rows).
    pub sql: Box<dyn Fn(&str) + Send + Sync>,
    /// Anything that must live as long as the store (a temporary directory).
    pub _keep: Box<dyn std::any::Any + Send + Sync>,
}

impl Fixture {
    /// A new handle on the store (as another process or server would open it).
    pub fn open(&self) -> Repository {
        strata_store::open(&self.location).expect("open store")
    }
}

/// The test age key pair, made once per process.
pub fn keys() -> &'static (String, String) {
    static KEYS: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    KEYS.get_or_init(crypto::generate_identity)
}

pub fn identities() -> Identities {
    Identities::parse(&keys().0).unwrap()
}

/// A small project: two services, two targets, a schema with a secret.
pub fn project() -> BTreeMap<String, Vec<u8>> {
    let mut f = BTreeMap::new();
    let strata = format!(
        "version: 1\nenvironments:\n  - name: dev\n  - name: prod\nproviders: [aws]\ntargets: [dev/aws/us-east-1, prod/aws/us-east-1]\nhierarchy: [base, \"env/{{env}}\"]\nservices:\n  web: {{schema: schemas/web.yaml}}\n  api: {{}}\nencryption:\n  recipients: [{}]\n",
        keys().1
    );
    f.insert("strata.yaml".into(), strata.into_bytes());
    f.insert(
        "schemas/web.yaml".into(),
        b"type: object\nproperties:\n  db:\n    type: object\n    properties:\n      password: {type: string, x-strata-secret: true}\n".to_vec(),
    );
    f.insert(
        "layers/base/web.yaml".into(),
        b"# web defaults\nreplicas: 2  # keep small\ndb:\n  pool: 5\n  host: db.internal\n"
            .to_vec(),
    );
    f.insert("layers/env/prod/web.yaml".into(), b"replicas: 6\n".to_vec());
    f.insert(
        "layers/base/api.yaml".into(),
        b"upstream: \"http://${ref:web:db.host}\"\ntimeout: 30\n".to_vec(),
    );
    f
}

pub fn meta(message: &str) -> CommitMeta {
    CommitMeta {
        author: "alice".into(),
        message: message.into(),
        timestamp_ms: 1_795_311_000_000,
        ..CommitMeta::default()
    }
}

pub fn edit(param: &str, layer: &str, value: Option<serde_json::Value>) -> ParamEdit {
    ParamEdit {
        param: ParamPath::parse(param).unwrap(),
        layer: layer.into(),
        value,
    }
}

pub fn changeset(base: Option<&str>, edits: Vec<ParamEdit>) -> Changeset {
    Changeset {
        base: base.map(str::to_string),
        message: None,
        edits,
    }
}

fn committed(o: ApplyOutcome) -> strata_store::model::Revision {
    match o {
        ApplyOutcome::Committed { revision, .. } => revision,
        ApplyOutcome::Unchanged(r) => panic!("expected a commit, head stayed {}", r.seq),
    }
}

fn file(repo: &Repository, path: &str) -> Option<String> {
    let head = repo.head().unwrap();
    repo.files(&head)
        .unwrap()
        .get(path)
        .map(|b| String::from_utf8(b.to_vec()).unwrap())
}

fn effective(repo: &Repository, service: &str, target: &str) -> serde_json::Value {
    let head = repo.head().unwrap();
    let project = repo.project(&head).unwrap();
    project
        .resolve(service, target, Default::default())
        .unwrap()
        .root
        .value
        .to_json()
}

pub fn empty_store(fx: &Fixture) {
    let repo = fx.open();
    assert!(repo.store().head().unwrap().is_none());
    assert!(matches!(repo.head(), Err(StoreError::Empty)));
    assert!(matches!(repo.resolve_rev("HEAD"), Err(StoreError::Empty)));
    assert!(strata_store::fsck::fsck(repo.store()).unwrap().is_empty());
    // Opening again runs no migration twice and finds the same empty store.
    assert!(fx.open().store().head().unwrap().is_none());
}

pub fn import_is_content_addressed(fx: &Fixture) {
    let repo = fx.open();
    let first = match repo.import(project(), meta("baseline")).unwrap() {
        ImportOutcome::Committed(r) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(first.seq, 1);
    assert_eq!(first.parent, None);
    // Identical content makes no revision.
    assert!(matches!(
        repo.import(project(), meta("again")).unwrap(),
        ImportOutcome::Unchanged(r) if r.id == first.id
    ));
    // Every file reads back byte for byte.
    let files = repo.files(&first).unwrap();
    for (p, b) in project() {
        assert_eq!(&*files[&p], &b[..], "{p}");
    }
    // A changed and a deleted file.
    let mut next = project();
    next.insert("layers/env/prod/web.yaml".into(), b"replicas: 8\n".to_vec());
    next.remove("layers/base/api.yaml");
    next.insert("README.md".into(), b"hello\n".to_vec());
    let second = match repo.import(next, meta("second")).unwrap() {
        ImportOutcome::Committed(r) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!((second.seq, second.parent), (2, Some(first.id)));
    let changes = repo.store().file_changes(2).unwrap();
    let got: Vec<(&str, FileChangeKind)> =
        changes.iter().map(|c| (c.path.as_str(), c.kind)).collect();
    assert_eq!(
        got,
        vec![
            ("README.md", FileChangeKind::Added),
            ("layers/base/api.yaml", FileChangeKind::Deleted),
            ("layers/env/prod/web.yaml", FileChangeKind::Modified),
        ]
    );
    let params: Vec<String> = history::show(&repo, &second)
        .unwrap()
        .params
        .into_iter()
        .map(|p| p.param)
        .collect();
    assert_eq!(params, vec!["api:timeout", "api:upstream", "web:replicas"]);
    // The old revision is intact.
    assert!(
        repo.files(&first)
            .unwrap()
            .contains_key("layers/base/api.yaml")
    );
}

pub fn metadata_round_trips(fx: &Fixture) {
    let repo = fx.open();
    let mut m = meta("from git\n\nwith a body");
    m.source = Some("0123456789abcdef0123456789abcdef01234567".into());
    m.labels.insert("ticket".into(), "OPS-12".into());
    let ImportOutcome::Committed(rev) = repo.import(project(), m.clone()).unwrap() else {
        panic!()
    };
    let back = fx.open().store().revision(&rev.id).unwrap();
    assert_eq!(back.meta, m);
    assert_eq!(back, rev);
    assert_eq!(fx.open().resolve_rev(&rev.id.short()).unwrap().id, rev.id);
}

pub fn import_refuses_broken_projects(fx: &Fixture) {
    let repo = fx.open();
    let mut bad = project();
    bad.insert("layers/base/web.yaml".into(), b"a: [1,\n".to_vec());
    let e = repo.import(bad, meta("bad")).unwrap_err().to_string();
    assert!(e.contains("layers/base/web.yaml:"), "{e}");
    let mut bad = project();
    bad.insert("strata.yaml".into(), b"version: 1\n".to_vec());
    assert!(repo.import(bad, meta("bad")).is_err());
    // Nothing was written.
    assert!(repo.store().head().unwrap().is_none());
}

pub fn set_and_unset_edit_layers(fx: &Fixture) {
    let repo = fx.open();
    repo.import(project(), meta("baseline")).unwrap();
    let r = committed(
        repo.apply(
            &changeset(
                None,
                vec![edit("web:db.pool", "base", Some(serde_json::json!(9)))],
            ),
            meta("pool"),
        )
        .unwrap(),
    );
    assert_eq!(r.seq, 2);
    let text = file(&repo, "layers/base/web.yaml").unwrap();
    assert!(
        text.contains("# web defaults") && text.contains("# keep small"),
        "{text}"
    );
    assert!(text.contains("pool: 9"), "{text}");
    assert_eq!(
        effective(&repo, "web", "dev/aws/us-east-1")["db"]["pool"],
        serde_json::json!(9)
    );
    // A new layer file.
    committed(
        repo.apply(
            &changeset(
                None,
                vec![edit("api:timeout", "env/prod", Some(serde_json::json!(5)))],
            ),
            meta("api prod"),
        )
        .unwrap(),
    );
    assert_eq!(
        file(&repo, "layers/env/prod/api.yaml").unwrap().trim(),
        "timeout: 5"
    );
    // Unset.
    committed(
        repo.apply(
            &changeset(None, vec![edit("web:db.host", "base", None)]),
            meta("unset"),
        )
        .unwrap(),
    );
    assert!(
        !file(&repo, "layers/base/web.yaml")
            .unwrap()
            .contains("host")
    );
    // Setting the same value again changes nothing.
    assert!(matches!(
        repo.apply(
            &changeset(
                None,
                vec![edit("web:db.pool", "base", Some(serde_json::json!(9)))]
            ),
            meta("same"),
        )
        .unwrap(),
        ApplyOutcome::Unchanged(_)
    ));
    // Bad edits are refused and write nothing.
    let head = repo.head().unwrap();
    for (cs, want) in [
        (
            edit("nope:x", "base", Some(serde_json::json!(1))),
            "unknown service",
        ),
        (
            edit("web:x", "provider/aws", Some(serde_json::json!(1))),
            "matches no hierarchy level",
        ),
        (
            edit("web:replicas.deeper", "base", Some(serde_json::json!(1))),
            "layers/base/web.yaml",
        ),
    ] {
        let e = repo
            .apply(&changeset(None, vec![cs]), meta("bad"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{e}");
    }
    assert_eq!(repo.head().unwrap().id, head.id);
}

pub fn changesets_rebase_or_conflict(fx: &Fixture) {
    let repo = fx.open();
    let ImportOutcome::Committed(base) = repo.import(project(), meta("baseline")).unwrap() else {
        panic!()
    };
    let base_id = base.id.to_string();
    committed(
        repo.apply(
            &changeset(
                None,
                vec![edit("web:replicas", "env/prod", Some(serde_json::json!(7)))],
            ),
            meta("theirs"),
        )
        .unwrap(),
    );
    // Disjoint parameters against the old base: rebased onto the head.
    match repo
        .apply(
            &changeset(
                Some(&base_id),
                vec![edit("web:db.pool", "base", Some(serde_json::json!(11)))],
            ),
            meta("mine"),
        )
        .unwrap()
    {
        ApplyOutcome::Committed { revision, rebased } => {
            assert!(rebased);
            assert_eq!(revision.seq, 3);
        }
        other => panic!("{other:?}"),
    }
    let prod = effective(&repo, "web", "prod/aws/us-east-1");
    assert_eq!(
        (prod["replicas"].clone(), prod["db"]["pool"].clone()),
        (serde_json::json!(7), serde_json::json!(11))
    );
    // The same parameter against the old base: a conflict naming it and both values.
    let e = repo
        .apply(
            &changeset(
                Some(&base_id),
                vec![edit("web:replicas", "env/prod", Some(serde_json::json!(9)))],
            ),
            meta("clash"),
        )
        .unwrap_err();
    match &e {
        StoreError::Conflict(c) => {
            assert_eq!(c.len(), 1);
            assert_eq!(c[0].param, "web:replicas");
            assert_eq!(c[0].file, "layers/env/prod/web.yaml");
            assert_eq!((c[0].ours.as_str(), c[0].theirs.as_str()), ("9", "7"));
        }
        other => panic!("{other}"),
    }
    assert!(e.to_string().contains("web:replicas"), "{e}");
    assert_eq!(repo.head().unwrap().seq, 3);
    // A parent path overlapping a changed leaf conflicts too.
    assert!(matches!(
        repo.apply(
            &changeset(Some(&base_id), vec![edit("web:db", "base", None)]),
            meta("parent"),
        ),
        Err(StoreError::Conflict(_))
    ));
}

pub fn conflicts_redact_secrets(fx: &Fixture) {
    let repo = fx.open();
    let ImportOutcome::Committed(base) = repo.import(project(), meta("baseline")).unwrap() else {
        panic!()
    };
    let pw = ParamPath::parse("web:db.password").unwrap();
    committed(
        repo.secret_set(&pw, "env/prod", "hunter2-first", meta("s1"))
            .unwrap(),
    );
    let ct = crypto::encrypt(
        "hunter2-second",
        "web:db.password",
        &crypto::Recipients::parse(&[keys().1.clone()]).unwrap(),
    )
    .unwrap();
    let e = repo
        .apply(
            &changeset(
                Some(&base.id.to_string()),
                vec![edit(
                    "web:db.password",
                    "env/prod",
                    Some(serde_json::json!(ct)),
                )],
            ),
            meta("clash"),
        )
        .unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, StoreError::Conflict(_)));
    assert!(
        text.contains("<redacted>") && !text.contains("hunter2") && !text.contains("ENC["),
        "{text}"
    );
}

pub fn history_log_show_diff_blame(fx: &Fixture) {
    let repo = fx.open();
    repo.import(project(), meta("baseline")).unwrap();
    for (i, v) in [3, 4].iter().enumerate() {
        committed(
            repo.apply(
                &changeset(
                    None,
                    vec![edit("web:replicas", "base", Some(serde_json::json!(v)))],
                ),
                meta(&format!("base replicas {i}")),
            )
            .unwrap(),
        );
    }
    committed(
        repo.apply(
            &changeset(
                None,
                vec![edit(
                    "web:db.host",
                    "base",
                    Some(serde_json::json!("db2.internal")),
                )],
            ),
            meta("host"),
        )
        .unwrap(),
    );
    let all = history::log(&repo, None, None, None).unwrap();
    assert_eq!(
        all.iter().map(|e| e.revision.seq).collect::<Vec<_>>(),
        vec![4, 3, 2, 1]
    );
    assert_eq!(history::log(&repo, None, None, Some(2)).unwrap().len(), 2);
    assert!(history::log(&repo, None, None, Some(0)).unwrap().is_empty());
    let p = ParamPath::parse("web:replicas").unwrap();
    let seqs: Vec<u64> = history::log(&repo, Some(&p), None, None)
        .unwrap()
        .iter()
        .map(|e| e.revision.seq)
        .collect();
    assert_eq!(seqs, vec![3, 2, 1]);
    // Whole subtree and whole service.
    let db = ParamPath::parse("web:db").unwrap();
    assert_eq!(history::log(&repo, Some(&db), None, None).unwrap().len(), 2);
    let svc = ParamPath::parse("web:").unwrap();
    assert_eq!(
        history::log(&repo, Some(&svc), None, None).unwrap().len(),
        4
    );
    // Effective history: prod overrides replicas, so base edits do not move it there.
    let prod = history::log(&repo, Some(&p), Some("prod/aws/us-east-1"), None).unwrap();
    assert_eq!(
        prod.iter().map(|e| e.revision.seq).collect::<Vec<_>>(),
        vec![1]
    );
    let dev = history::log(&repo, Some(&p), Some("dev/aws/us-east-1"), None).unwrap();
    assert_eq!(
        dev.iter().map(|e| e.revision.seq).collect::<Vec<_>>(),
        vec![3, 2, 1]
    );
    assert_eq!(dev[0].value.as_deref(), Some("4"));
    // A referenced service's change moves the referring value.
    let up = ParamPath::parse("api:upstream").unwrap();
    let ups = history::log(&repo, Some(&up), Some("dev/aws/us-east-1"), None).unwrap();
    assert_eq!(
        ups.iter().map(|e| e.revision.seq).collect::<Vec<_>>(),
        vec![4, 1]
    );
    // Blame.
    let b = history::blame(&repo, &p, "dev/aws/us-east-1").unwrap();
    assert_eq!((b.revision.seq, b.value.as_str()), (3, "4"));
    assert!(b.at.starts_with("layers/base/web.yaml:"), "{}", b.at);
    let b = history::blame(&repo, &p, "prod/aws/us-east-1").unwrap();
    assert_eq!(b.revision.seq, 1);
    assert!(b.at.starts_with("layers/env/prod/web.yaml:"), "{}", b.at);
    // Diff.
    let r1 = repo.resolve_rev("#1").unwrap();
    let head = repo.resolve_rev("HEAD").unwrap();
    let d = history::diff(&repo, &r1, &head, Some("dev/aws/us-east-1"), None).unwrap();
    let mut got: Vec<DiffRow<'_>> = d
        .iter()
        .flat_map(|s| {
            s.changes.iter().map(move |c| {
                (
                    s.service.clone(),
                    c.param.clone(),
                    c.kind,
                    c.old.clone(),
                    c.new.clone(),
                )
            })
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (
                "api".into(),
                "upstream".into(),
                "changed",
                Some("\"http://db.internal\"".into()),
                Some("\"http://db2.internal\"".into())
            ),
            (
                "web".into(),
                "db.host".into(),
                "changed",
                Some("\"db.internal\"".into()),
                Some("\"db2.internal\"".into())
            ),
            (
                "web".into(),
                "replicas".into(),
                "changed",
                Some("2".into()),
                Some("4".into())
            ),
        ]
    );
    let web = d.iter().find(|s| s.service == "web").unwrap();
    assert!(
        web.changes[0]
            .new_at
            .as_deref()
            .unwrap()
            .starts_with("layers/base/web.yaml:")
    );
    assert!(
        history::diff(&repo, &head, &head, None, None)
            .unwrap()
            .is_empty()
    );
    assert!(history::diff(&repo, &r1, &head, Some("nope/aws/x"), None).is_err());
    // Show.
    let s = history::show(&repo, &head).unwrap();
    assert_eq!(s.params.len(), 1);
    assert_eq!(s.params[0].param, "web:db.host");
}

pub fn revisions_are_found_by_spec(fx: &Fixture) {
    let repo = fx.open();
    let ImportOutcome::Committed(r1) = repo.import(project(), meta("one")).unwrap() else {
        panic!()
    };
    let r2 = committed(
        repo.apply(
            &changeset(
                None,
                vec![edit("web:x", "base", Some(serde_json::json!(1)))],
            ),
            meta("two"),
        )
        .unwrap(),
    );
    assert_eq!(repo.resolve_rev("HEAD").unwrap().id, r2.id);
    assert_eq!(repo.resolve_rev("HEAD~1").unwrap().id, r1.id);
    assert_eq!(repo.resolve_rev("#1").unwrap().id, r1.id);
    assert_eq!(repo.resolve_rev(&r1.id.to_string()).unwrap().id, r1.id);
    assert_eq!(repo.resolve_rev(&r2.id.to_string()[..8]).unwrap().id, r2.id);
    for bad in ["HEAD~2", "#9", "nosuchtag", "ffffffffffff", "HEAD~x"] {
        assert!(
            matches!(
                repo.resolve_rev(bad),
                Err(StoreError::UnknownRevision { .. })
            ),
            "{bad}"
        );
    }
}

pub fn tags_name_revisions(fx: &Fixture) {
    let repo = fx.open();
    let ImportOutcome::Committed(r1) = repo.import(project(), meta("one")).unwrap() else {
        panic!()
    };
    repo.tag(&r1, "v1.0", false).unwrap();
    assert_eq!(repo.resolve_rev("v1.0").unwrap().id, r1.id);
    let r2 = committed(
        repo.apply(
            &changeset(
                None,
                vec![edit("web:x", "base", Some(serde_json::json!(1)))],
            ),
            meta("two"),
        )
        .unwrap(),
    );
    assert!(matches!(
        repo.tag(&r2, "v1.0", false),
        Err(StoreError::TagExists { .. })
    ));
    repo.tag(&r2, "v1.0", true).unwrap();
    assert_eq!(fx.open().resolve_rev("v1.0").unwrap().id, r2.id);
    for bad in ["HEAD", "", "has space", "abcdef12", "#3"] {
        assert!(
            matches!(repo.tag(&r1, bad, false), Err(StoreError::Invalid(_))),
            "{bad}"
        );
    }
    assert_eq!(repo.tags_of(&r2.id).unwrap(), vec!["v1.0".to_string()]);
}

pub fn revert_to_restores_content(fx: &Fixture) {
    let repo = fx.open();
    let ImportOutcome::Committed(r1) = repo.import(project(), meta("one")).unwrap() else {
        panic!()
    };
    committed(
        repo.apply(
            &changeset(
                None,
                vec![
                    edit("web:replicas", "base", Some(serde_json::json!(40))),
                    edit("api:new", "env/prod", Some(serde_json::json!(true))),
                ],
            ),
            meta("two"),
        )
        .unwrap(),
    );
    let r3 = repo.revert_to(&r1, meta("back")).unwrap();
    assert_eq!((r3.seq, r3.manifest), (3, r1.manifest));
    assert_eq!(repo.files(&r3).unwrap(), repo.files(&r1).unwrap());
    let params: Vec<String> = history::show(&repo, &r3)
        .unwrap()
        .params
        .into_iter()
        .map(|p| p.param)
        .collect();
    assert_eq!(params, vec!["api:new", "web:replicas"]);
}

pub fn damage_is_detected_never_served_and_repaired(fx: &Fixture) {
    let repo = fx.open();
    let ImportOutcome::Committed(r1) = repo.import(project(), meta("one")).unwrap() else {
        panic!()
    };
    let manifest = repo.manifest(&r1).unwrap();
    let target = manifest.files["layers/base/web.yaml"];
    (fx.tamper)(&target.to_hex(), &|b: &mut Vec<u8>| b[3] ^= 0x20);
    // A fresh handle (no cache) refuses the damaged file.
    let fresh = fx.open();
    let e = fresh.files(&r1).unwrap_err();
    assert!(matches!(e, StoreError::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains(&target.to_hex()[..12]), "{e}");
    assert!(fresh.project(&r1).is_ok(), "strata.yaml is sound");
    let problems = strata_store::fsck::fsck(fresh.store()).unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p.object.contains(&target.to_hex()[..12])),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.problem.contains("layers/base/web.yaml")),
        "{problems:?}"
    );
    // Recovery: importing the sound content again repairs the blob.
    assert!(matches!(
        fresh.import(project(), meta("repair")).unwrap(),
        ImportOutcome::Unchanged(_)
    ));
    assert!(strata_store::fsck::fsck(fresh.store()).unwrap().is_empty());
    assert_eq!(
        &*fresh.files(&r1).unwrap()["layers/base/web.yaml"],
        &project()["layers/base/web.yaml"][..]
    );
    // A damaged manifest.
    (fx.tamper)(&r1.manifest.to_hex(), &|b: &mut Vec<u8>| {
        let n = b.len() - 2;
        b[n] ^= 1;
    });
    let fresh = fx.open();
    assert!(matches!(fresh.files(&r1), Err(StoreError::Corrupt { .. })));
    assert!(!strata_store::fsck::fsck(fresh.store()).unwrap().is_empty());
    // Recovery: revert-to is impossible for the only revision, re-import repairs.
    fresh.import(project(), meta("repair")).unwrap();
    assert!(
        strata_store::fsck::fsck(fresh.store()).unwrap().is_empty(),
        "{:?}",
        strata_store::fsck::fsck(fresh.store())
    );
}

pub fn revert_recovers_from_a_damaged_head(fx: &Fixture) {
    let repo = fx.open();
    let ImportOutcome::Committed(r1) = repo.import(project(), meta("one")).unwrap() else {
        panic!()
    };
    let r2 = committed(
        repo.apply(
            &changeset(
                None,
                vec![edit("web:replicas", "base", Some(serde_json::json!(99)))],
            ),
            meta("two"),
        )
        .unwrap(),
    );
    let damaged = repo.manifest(&r2).unwrap().files["layers/base/web.yaml"];
    (fx.tamper)(&damaged.to_hex(), &|b: &mut Vec<u8>| b[0] ^= 1);
    let fresh = fx.open();
    assert!(fresh.files(&r2).is_err());
    let r3 = fresh.revert_to(&r1, meta("revert to sound")).unwrap();
    assert_eq!(fresh.files(&r3).unwrap(), fresh.files(&r1).unwrap());
}

pub fn secrets_are_encrypted_at_rest(fx: &Fixture) {
    let repo = fx.open();
    // Plaintext secrets never reach the store.
    let mut plain = project();
    plain.insert(
        "layers/env/prod/web.yaml".into(),
        b"replicas: 6\ndb:\n  password: hunter2\n".to_vec(),
    );
    let e = repo.import(plain, meta("plain")).unwrap_err().to_string();
    assert!(
        e.contains("layers/env/prod/web.yaml:3:")
            && e.contains("strata secret set web:db.password"),
        "{e}"
    );
    assert!(!e.contains("hunter2"), "{e}");
    repo.import(project(), meta("baseline")).unwrap();
    let e = repo
        .apply(
            &changeset(
                None,
                vec![edit(
                    "web:db.password",
                    "base",
                    Some(serde_json::json!("hunter2")),
                )],
            ),
            meta("plain"),
        )
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("strata secret set") && !e.contains("hunter2"),
        "{e}"
    );
    let e = repo
        .apply(
            &changeset(
                None,
                vec![edit(
                    "web:db",
                    "base",
                    Some(serde_json::json!({"password": "hunter2"})),
                )],
            ),
            meta("plain"),
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("secret"), "{e}");

    // secret set stores only ciphertext, bound to the parameter.
    let pw = ParamPath::parse("web:db.password").unwrap();
    committed(
        repo.secret_set(&pw, "env/prod", "s3cret-value", meta("pw"))
            .unwrap(),
    );
    let text = file(&repo, "layers/env/prod/web.yaml").unwrap();
    assert!(!text.contains("s3cret-value"), "{text}");
    let eff = effective(&repo, "web", "prod/aws/us-east-1");
    let ct = eff["db"]["password"].as_str().unwrap().to_string();
    assert!(crypto::is_ciphertext(&ct));
    assert_eq!(
        crypto::decrypt(&ct, "web:db.password", &identities()).unwrap(),
        "s3cret-value"
    );
    assert!(crypto::decrypt(&ct, "web:db.host", &identities()).is_err());
    let mut all = Vec::new();
    fx.open()
        .store()
        .scan_blobs(&mut |_, b| all.push(b.to_vec()))
        .unwrap();
    assert!(
        !all.iter()
            .any(|b| b.windows(12).any(|w| w == b"s3cret-value"))
    );

    // Rotation re-encrypts every secret to the new recipients in one revision.
    let (new_secret, new_public) = crypto::generate_identity();
    let before = repo.head().unwrap();
    let (rev, count) = repo
        .rotate_keys(
            &identities(),
            std::slice::from_ref(&new_public),
            meta("rotate"),
        )
        .unwrap();
    assert_eq!((count, rev.seq), (1, before.seq + 1));
    let eff = effective(&repo, "web", "prod/aws/us-east-1");
    let ct = eff["db"]["password"].as_str().unwrap();
    let new_ids = Identities::parse(&new_secret).unwrap();
    assert_eq!(
        crypto::decrypt(ct, "web:db.password", &new_ids).unwrap(),
        "s3cret-value"
    );
    assert!(crypto::decrypt(ct, "web:db.password", &identities()).is_err());
    let strata = file(&repo, "strata.yaml").unwrap();
    assert!(
        strata.contains(&new_public) && !strata.contains(&keys().1),
        "{strata}"
    );
    // A wrong key leaves the store as it was.
    let head = repo.head().unwrap();
    let e = repo
        .rotate_keys(&identities(), &[keys().1.clone()], meta("rotate back"))
        .unwrap_err();
    assert!(e.to_string().contains("web:db.password"), "{e}");
    assert_eq!(repo.head().unwrap().id, head.id);
}

/// Eight threads, each with its own handle, commit against a stale base: edits to their
/// own parameter rebase, edits to a shared one conflict; nothing is lost or half-applied.
pub fn concurrent_writers(fx: &Fixture) {
    let repo = fx.open();
    let ImportOutcome::Committed(base) = repo.import(project(), meta("baseline")).unwrap() else {
        panic!()
    };
    let base_id = base.id.to_string();
    let fx = Arc::new(fx);
    let results: Vec<(usize, Result<ApplyOutcome, String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let base_id = base_id.clone();
                let fx = fx.clone();
                s.spawn(move || {
                    let repo = fx.open();
                    let mut out = Vec::new();
                    for round in 0..3 {
                        // Odd threads also touch the shared parameter.
                        let mut edits = vec![edit(
                            &format!("web:own.t{i}.r{round}"),
                            "base",
                            Some(serde_json::json!(i * 10 + round)),
                        )];
                        if i % 2 == 1 {
                            edits.push(edit("web:shared", "env/prod", Some(serde_json::json!(i))));
                        }
                        out.push((
                            i,
                            repo.apply(
                                &changeset(Some(&base_id), edits),
                                meta(&format!("t{i} r{round}")),
                            )
                            .map_err(|e| e.to_string()),
                        ));
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let committed: Vec<&(usize, Result<ApplyOutcome, String>)> =
        results.iter().filter(|(_, r)| r.is_ok()).collect();
    for (_, r) in &results {
        if let Err(e) = r {
            assert!(e.starts_with("conflict:"), "{e}");
        }
    }
    // Even threads never conflict: their edits are disjoint from everyone's.
    for (i, r) in &results {
        if i % 2 == 0 {
            assert!(r.is_ok(), "thread {i}: {r:?}");
        }
    }
    // Exactly one writer of the shared parameter can win against the stale base.
    let shared_wins = results
        .iter()
        .filter(|(i, r)| i % 2 == 1 && r.is_ok())
        .count();
    assert_eq!(shared_wins, 1);
    let repo = fx.open();
    let head = repo.head().unwrap();
    assert_eq!(head.seq as usize, 1 + committed.len());
    // Linear chain: #n's parent is #n-1, all the way down.
    let revs = repo.revisions(1, head.seq).unwrap();
    for w in revs.windows(2) {
        assert_eq!(w[0].parent, Some(w[1].id));
        assert_eq!(w[0].seq, w[1].seq + 1);
    }
    // Every committed edit is present (none lost); every refused one absent (none half-applied).
    let eff = effective(&repo, "web", "prod/aws/us-east-1");
    for (i, r) in &results {
        let _ = i;
        if let Ok(ApplyOutcome::Committed { revision, .. }) = r {
            let msg = &revision.meta.message;
            let (t, round) = msg.trim_start_matches('t').split_once(" r").unwrap();
            assert_eq!(
                eff["own"][format!("t{t}")][format!("r{round}")],
                serde_json::json!(
                    t.parse::<usize>().unwrap() * 10 + round.parse::<usize>().unwrap()
                ),
                "{msg}"
            );
        }
    }
    let own_total: usize = eff["own"].as_object().map_or(0, |m| {
        m.values()
            .map(|v| v.as_object().map_or(0, |x| x.len()))
            .sum()
    });
    assert_eq!(own_total, committed.len());
    assert!(strata_store::fsck::fsck(repo.store()).unwrap().is_empty());
}

/// The hash of a blob as the store names it (for fixtures that locate stored bytes).
/// The reference index follows every revision: which layer files `${ref:}` which
/// services, as of any revision.
pub fn reference_index_follows_revisions(fx: &Fixture) {
    let repo = fx.open();
    let one = match repo.import(project(), meta("baseline")).unwrap() {
        ImportOutcome::Committed(r) => r,
        other => panic!("{other:?}"),
    };
    let refs = |seq: u64| -> Vec<(String, Vec<String>)> {
        repo.store()
            .layer_refs(seq)
            .unwrap()
            .expect("covered")
            .into_iter()
            .map(|r| (r.path, r.services.unwrap_or_default()))
            .collect()
    };
    assert_eq!(
        refs(one.seq),
        vec![("layers/base/api.yaml".to_string(), vec!["web".to_string()])]
    );
    // web starts referencing api (and an escaped `$${ref:…}` is no reference).
    let mut files = project();
    files.insert(
        "layers/env/prod/web.yaml".into(),
        b"replicas: 6\npeer: \"${ref:api:timeout}\"\nliteral: \"$${ref:nope:x}\"\n".to_vec(),
    );
    let two = match repo.import(files.clone(), meta("web uses api")).unwrap() {
        ImportOutcome::Committed(r) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        refs(two.seq),
        vec![
            ("layers/base/api.yaml".to_string(), vec!["web".to_string()]),
            (
                "layers/env/prod/web.yaml".to_string(),
                vec!["api".to_string()]
            ),
        ]
    );
    // api stops referencing; the file is deleted in the next.
    files.insert("layers/base/api.yaml".into(), b"timeout: 30\n".to_vec());
    let three = match repo.import(files.clone(), meta("no ref")).unwrap() {
        ImportOutcome::Committed(r) => r,
        other => panic!("{other:?}"),
    };
    files.remove("layers/env/prod/web.yaml");
    let four = match repo.import(files, meta("drop prod web")).unwrap() {
        ImportOutcome::Committed(r) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        refs(three.seq),
        vec![(
            "layers/env/prod/web.yaml".to_string(),
            vec!["api".to_string()]
        )]
    );
    assert!(refs(four.seq).is_empty());
    // Earlier revisions still answer as they were.
    assert_eq!(refs(one.seq).len(), 1);
    assert_eq!(refs(two.seq).len(), 2);
}

pub fn hash_hex(bytes: &[u8]) -> String {
    Hash::of(bytes).to_hex()
}

/// Declares one `#[test]` per conformance function, each on a fresh store from `$fresh`.
#[macro_export]
macro_rules! conformance_tests {
    ($fresh:path) => {
        $crate::conformance_tests!(@each $fresh;
            empty_store,
            import_is_content_addressed,
            metadata_round_trips,
            import_refuses_broken_projects,
            set_and_unset_edit_layers,
            changesets_rebase_or_conflict,
            conflicts_redact_secrets,
            history_log_show_diff_blame,
            revisions_are_found_by_spec,
            tags_name_revisions,
            revert_to_restores_content,
            damage_is_detected_never_served_and_repaired,
            revert_recovers_from_a_damaged_head,
            secrets_are_encrypted_at_rest,
            concurrent_writers,
            reference_index_follows_revisions,
            audit_log_appends_chains_and_queries,
            audit_detects_an_edited_entry,
            audit_detects_a_deleted_entry,
            audit_detects_a_forged_entry,
            audit_detects_swapped_entries,
            audit_appenders_never_fork_the_chain,
            commits_write_their_audit_entries_atomically,
            audit_key_is_made_once,
            tokens_are_stored_by_hash,
            change_requests_are_approved_and_applied,
            actual_reports_keep_the_latest_per_target_and_service,
        );
    };
    (@each $fresh:path; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let fx = $fresh();
                conformance::$name(&fx);
            }
        )*
    };
}
