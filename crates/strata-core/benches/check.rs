//! `strata check` as a library call on generated projects with schemas and CEL rules
//! (held in memory: parse + merge + interpolate + validate, no disk).
//!
//! - `check_10k/all_targets`: 100 services × 100 parameters, every one of the 18 targets.
//! - `check_1m/all_targets`: 1,000 × 1,000 (run with `STRATA_BENCH_1M=1`; minutes).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use strata_core::resolve::Project;
use strata_core::validate::check::{CheckOptions, check};
use strata_gen::Format;

mod support;
use support::project;

fn run(p: &Project) -> usize {
    let run = check(p, &CheckOptions::default()).expect("checks");
    assert!(
        run.report.findings().next().is_none(),
        "generated projects are clean"
    );
    run.report.units.len()
}

fn bench_10k(c: &mut Criterion) {
    let p = project(100, 100, Format::Yaml);
    let mut g = c.benchmark_group("check_10k");
    g.sample_size(20);
    g.bench_function("all_targets", |b| b.iter(|| black_box(run(&p))));
    g.finish();
}

fn bench_1m(c: &mut Criterion) {
    if std::env::var_os("STRATA_BENCH_1M").is_none() {
        return;
    }
    let p = project(1000, 1000, Format::Yaml);
    let mut g = c.benchmark_group("check_1m");
    g.sample_size(10);
    g.bench_function("all_targets", |b| b.iter(|| black_box(run(&p))));
    g.finish();
}

criterion_group!(benches, bench_10k, bench_1m);
criterion_main!(benches);
