//! Store benchmarks, on SQLite and (when `STRATA_BENCH_POSTGRES_URL` names a server
//! whose user may create databases) PostgreSQL:
//!
//! - `import_10k/<backend>`: importing the generated 100 × 100 project into an empty store.
//! - `commit_10_params/<backend>`: a 10-parameter changeset on the head of that project.
//! - `log_param_10k_revisions/<backend>`: `log --param` of a parameter changed in every
//!   one of 10,000 revisions (the store is built once, which takes a while).
//! - `audit_append/{single,batch_100}/<backend>`: appending audit entries, one per
//!   transaction and 100 per transaction, to a growing chain (throughput in entries/s).
//! - `audit_verify_10k/<backend>`: verifying a 10,000-entry chain (`Store::audit_verify`).
//!
//! The 1,000,000-parameter import is timed end to end with the CLI (`scripts/bench-store`).
//! Like the `strata` binary, the benchmarks allocate with jemalloc.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

/// The allocator of the `strata` binary, so the figures are the CLI's.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
use strata_core::path::ParamPath;
use strata_store::Repository;
use strata_store::changeset::{Changeset, ParamEdit};
use strata_store::history;
use strata_store::model::CommitMeta;

fn project_10k() -> BTreeMap<String, Vec<u8>> {
    let opts = strata_gen::GenOptions {
        services: 100,
        params: 100,
        ..strata_gen::GenOptions::default()
    };
    strata_gen::generate_to_vec(&opts)
        .expect("valid options")
        .into_iter()
        .map(|f| (f.path, f.contents))
        .collect()
}

fn meta(m: &str) -> CommitMeta {
    CommitMeta {
        author: "bench".into(),
        message: m.into(),
        timestamp_ms: 0,
        ..CommitMeta::default()
    }
}

/// Makes a fresh empty store: its location and what keeps it alive.
type FreshStore = dyn Fn() -> (String, Box<dyn std::any::Any>);

/// Fresh empty stores of each configured backend: (name, location, keep-alive).
fn backends() -> Vec<(&'static str, Box<FreshStore>)> {
    let mut out: Vec<(&'static str, Box<FreshStore>)> = vec![(
        "sqlite",
        Box::new(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            let loc = dir.path().join("store.db").display().to_string();
            (loc, Box::new(dir) as Box<dyn std::any::Any>)
        }),
    )];
    if let Ok(admin) = std::env::var("STRATA_BENCH_POSTGRES_URL") {
        out.push((
            "postgres",
            Box::new(move || {
                static N: AtomicUsize = AtomicUsize::new(0);
                let name = format!(
                    "strata_bench_{}_{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::SeqCst)
                );
                let mut c = postgres::Client::connect(&admin, postgres::NoTls).expect("connect");
                c.batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("create database");
                let (base, _) = admin.rsplit_once('/').expect("URL with a database");
                (
                    format!("{base}/{name}"),
                    Box::new(()) as Box<dyn std::any::Any>,
                )
            }),
        ));
    }
    out
}

fn edits(round: usize) -> Changeset {
    Changeset {
        base: None,
        message: None,
        edits: (0..10)
            .map(|i| ParamEdit {
                param: ParamPath::parse(&format!("svc-{:04}:bench.p{i}", i * 7)).expect("path"),
                layer: "base".into(),
                value: Some(serde_json::json!(round)),
            })
            .collect(),
    }
}

fn benches(c: &mut Criterion) {
    let files = project_10k();
    let service = files
        .keys()
        .find_map(|p| {
            p.strip_prefix("layers/base/")?
                .strip_suffix(".yaml")
                .map(str::to_string)
        })
        .expect("a base layer");
    assert!(
        service.starts_with("svc-"),
        "generated services are named svc-NNN: {service}"
    );

    for (name, fresh) in backends() {
        let mut g = c.benchmark_group("import_10k");
        g.sample_size(20);
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let (loc, keep) = fresh();
                    (strata_store::open(&loc).expect("open"), keep)
                },
                |(repo, _keep)| {
                    black_box(repo.import(files.clone(), meta("import")).expect("import"))
                },
                BatchSize::PerIteration,
            )
        });
        g.finish();

        let (loc, _keep) = fresh();
        let repo = strata_store::open(&loc).expect("open");
        repo.import(files.clone(), meta("import")).expect("import");
        let mut round = 0;
        let mut g = c.benchmark_group("commit_10_params");
        g.sample_size(50);
        g.bench_function(name, |b| {
            b.iter(|| {
                round += 1;
                black_box(repo.apply(&edits(round), meta("ten")).expect("commit"))
            })
        });
        g.finish();

        // Built only when this benchmark is selected: 10,000 commits take a while.
        let built: std::cell::OnceCell<(Repository, Box<dyn std::any::Any>)> =
            std::cell::OnceCell::new();
        let param = ParamPath::parse(&format!("{service}:bench.counter")).expect("path");
        let mut g = c.benchmark_group("log_param_10k_revisions");
        g.sample_size(20);
        g.bench_function(name, |b| {
            let (repo, _) = built.get_or_init(|| {
                let (loc, keep) = fresh();
                let repo: Repository = strata_store::open(&loc).expect("open");
                repo.import(files.clone(), meta("import")).expect("import");
                let head = repo.head().expect("head").seq;
                for i in head..10_000 {
                    let cs = Changeset {
                        base: None,
                        message: None,
                        edits: vec![ParamEdit {
                            param: param.clone(),
                            layer: "base".into(),
                            value: Some(serde_json::json!(i)),
                        }],
                    };
                    repo.apply(&cs, meta("tick")).expect("commit");
                }
                (repo, keep)
            });
            b.iter(|| {
                let log = history::log(repo, Some(&param), None, None).expect("log");
                assert_eq!(log.len(), 9_999);
                black_box(log)
            })
        });
        g.finish();
    }
}

/// A typical entry: a write of two parameters in prod, with the deciding rule.
fn audit_entry(i: i64) -> strata_store::audit::NewAuditEntry {
    let mut e = strata_store::audit::NewAuditEntry::new(
        1_795_311_000_000 + i,
        "alice",
        strata_store::audit::action::WRITE,
        "prod",
    );
    e.params = vec![
        format!("svc-{:04}:db.pool.max_size", i % 100),
        format!("svc-{:04}:replicas", i % 100),
    ];
    e.rule = Some("sre: allow write envs=[*] params=[*:**]".into());
    e
}

fn audit_benches(c: &mut Criterion) {
    for (name, fresh) in backends() {
        let (loc, _keep) = fresh();
        let repo = strata_store::open(&loc).expect("open");
        let store = repo.store();
        let mut n = 0i64;
        let mut g = c.benchmark_group("audit_append");
        g.throughput(Throughput::Elements(1));
        g.bench_function(format!("single/{name}"), |b| {
            b.iter(|| {
                n += 1;
                black_box(store.audit_append(&[audit_entry(n)]).expect("append"))
            })
        });
        g.throughput(Throughput::Elements(100));
        g.bench_function(format!("batch_100/{name}"), |b| {
            b.iter(|| {
                let batch: Vec<_> = (0..100)
                    .map(|_| {
                        n += 1;
                        audit_entry(n)
                    })
                    .collect();
                black_box(store.audit_append(&batch).expect("append"))
            })
        });
        g.finish();

        let (loc, _keep) = fresh();
        let repo = strata_store::open(&loc).expect("open");
        let batch: Vec<_> = (0..1_000).map(audit_entry).collect();
        for _ in 0..10 {
            repo.store().audit_append(&batch).expect("append");
        }
        let mut g = c.benchmark_group("audit_verify_10k");
        g.sample_size(20);
        g.throughput(Throughput::Elements(10_000));
        g.bench_function(name, |b| {
            b.iter(|| {
                let n = repo.store().audit_verify().expect("scan").expect("sound");
                assert_eq!(n, 10_000);
                black_box(n)
            })
        });
        g.finish();
    }
}

criterion_group!(store, audit_benches, benches);
criterion_main!(store);
