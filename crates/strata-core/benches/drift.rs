//! Drift benchmarks on synthetic projects from `strata-gen` (held in memory, so there is
//! no disk I/O). The policy is empty (`VariationPolicy::default()`), so every difference
//! is classified as drift or missing; expiry is judged on 2026-11-22.
//!
//! - `drift_10k/classify_3_envs`: 100 services × 100 parameters; every service is
//!   resolved for dev, staging and prod (all `aws/us-east-1`) once, outside the timed
//!   loop; the timed part classifies every service of dev and of staging against prod
//!   (the engine only: Merkle hashing, diff and classification).
//! - `drift_10k/resolve_and_classify_3_envs`: the same including the resolution of the
//!   three targets (the whole comparison from the project files in memory).
//! - `drift_10k/sweep_and_classify_3_envs`: the same as the CLI does it: a
//!   [`Sweep`](strata_core::sweep::Sweep) resolves each service for the three targets
//!   (parsing the layers they share once), prod is hashed once, and each service is
//!   classified and dropped before the next.
//! - `drift_1m/…`: the same three at 1,000 services × 1,000 parameters (run with `STRATA_BENCH_1M=1`; sample size 10,
//!   a few minutes in all).
//! - `drift_100k_pair/classify`: one pair of 100,000-parameter configurations
//!   (100 services × 1,000 parameters, dev vs prod of `aws/us-east-1`), every service
//!   classified; the same pair `scripts/bench-drift-deepdiff` gives deepdiff.

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use strata_core::drift::engine::{Context, Side, classify, classify_hashed};
use strata_core::drift::hash::Hashed;
use strata_core::drift::policy::{PolicyDate, VariationPolicy};
use strata_core::project::Target;
use strata_core::resolve::{Effective, Project, ResolveOptions};
use strata_core::sweep::Sweep;
use strata_gen::Format;

mod support;
use support::project;

const REFERENCE: &str = "prod/aws/us-east-1";
const OTHERS: [&str; 2] = ["dev/aws/us-east-1", "staging/aws/us-east-1"];

fn target<'p>(p: &'p Project, name: &str) -> &'p Target {
    p.config.target(name).expect("generated target exists")
}

/// Every service's effective configuration for `target`, by service name.
fn resolve(p: &Project, target: &str) -> BTreeMap<String, Effective> {
    p.session(target, ResolveOptions::default())
        .expect("target exists")
        .resolve_all()
        .expect("generated projects resolve")
        .into_iter()
        .map(|e| (e.service.clone(), e))
        .collect()
}

/// Classifies every service of `other` against `reference`; the number of findings.
fn classify_all(
    reference: (&Target, &BTreeMap<String, Effective>),
    other: (&Target, &BTreeMap<String, Effective>),
    policy: &VariationPolicy,
    today: PolicyDate,
) -> usize {
    let mut n = 0;
    for (service, a) in reference.1 {
        let Some(b) = other.1.get(service) else {
            continue;
        };
        let found = classify(
            service,
            Side {
                target: reference.0,
                root: &a.root,
            },
            Side {
                target: other.0,
                root: &b.root,
            },
            policy,
            today,
        );
        n += black_box(found).len();
    }
    n
}

/// Classifies dev and staging against prod, given the resolved configurations.
fn classify_3_envs(
    p: &Project,
    resolved: &BTreeMap<&str, BTreeMap<String, Effective>>,
    policy: &VariationPolicy,
    today: PolicyDate,
) -> usize {
    let reference = (target(p, REFERENCE), &resolved[REFERENCE]);
    OTHERS
        .iter()
        .map(|o| classify_all(reference, (target(p, o), &resolved[o]), policy, today))
        .sum()
}

fn resolve_3_envs(p: &Project) -> BTreeMap<&'static str, BTreeMap<String, Effective>> {
    std::iter::once(REFERENCE)
        .chain(OTHERS)
        .map(|t| (t, resolve(p, t)))
        .collect()
}

/// Sweeps every service over prod, dev and staging, classifying dev and staging against
/// prod as each service is resolved; the number of findings.
fn sweep_and_classify_3_envs(p: &Project, policy: &VariationPolicy, today: PolicyDate) -> usize {
    let targets = [REFERENCE, OTHERS[0], OTHERS[1]];
    let names: Vec<&str> = p.config.services.keys().map(String::as_str).collect();
    let cx = Context {
        policy,
        today,
        vocabulary: None,
    };
    let sweep = Sweep::new(p, &targets, &names, ResolveOptions::default()).expect("targets exist");
    sweep
        .run(|i, effs| {
            let effs: Vec<Effective> = effs
                .into_iter()
                .collect::<Result<_, _>>()
                .expect("generated projects resolve");
            let reference = Hashed::new(&effs[0].root);
            let side = |t: usize| Side {
                target: target(p, targets[t]),
                root: &effs[t].root,
            };
            (1..3)
                .map(|t| {
                    let other = Hashed::new(&effs[t].root);
                    classify_hashed(names[i], side(0), &reference, side(t), &other, &cx).len()
                })
                .sum::<usize>()
        })
        .into_iter()
        .sum()
}

fn bench_size(c: &mut Criterion, group: &str, services: usize, params: usize, samples: usize) {
    let p = project(services, params, Format::Yaml);
    let policy = VariationPolicy::default();
    let today = PolicyDate::new(2026, 11, 22).expect("valid date");
    let resolved = resolve_3_envs(&p);
    let mut g = c.benchmark_group(group);
    g.sample_size(samples);
    g.bench_function("classify_3_envs", |b| {
        b.iter(|| black_box(classify_3_envs(&p, &resolved, &policy, today)))
    });
    drop(resolved);
    g.bench_function("resolve_and_classify_3_envs", |b| {
        b.iter(|| {
            let resolved = resolve_3_envs(&p);
            black_box(classify_3_envs(&p, &resolved, &policy, today))
        })
    });
    g.bench_function("sweep_and_classify_3_envs", |b| {
        b.iter(|| black_box(sweep_and_classify_3_envs(&p, &policy, today)))
    });
    g.finish();
}

fn bench_10k(c: &mut Criterion) {
    bench_size(c, "drift_10k", 100, 100, 100);
}

fn bench_1m(c: &mut Criterion) {
    if std::env::var_os("STRATA_BENCH_1M").is_none() {
        return;
    }
    bench_size(c, "drift_1m", 1000, 1000, 10);
}

fn bench_100k_pair(c: &mut Criterion) {
    let p = project(100, 1000, Format::Yaml);
    let policy = VariationPolicy::default();
    let today = PolicyDate::new(2026, 11, 22).expect("valid date");
    let (a, b) = (REFERENCE, OTHERS[0]);
    let (ra, rb) = (resolve(&p, a), resolve(&p, b));
    let mut g = c.benchmark_group("drift_100k_pair");
    g.bench_function("classify", |bench| {
        bench.iter(|| {
            black_box(classify_all(
                (target(&p, a), &ra),
                (target(&p, b), &rb),
                &policy,
                today,
            ))
        })
    });
    g.finish();
}

criterion_group!(benches, bench_10k, bench_1m, bench_100k_pair);
criterion_main!(benches);
