//! Resolution benchmarks on synthetic projects from `strata-gen` (held in memory, so the
//! figures are parse + merge + interpolate, without disk I/O).
//!
//! - `resolve_10k/all_services_one_target`: 100 services × 100 parameters, every service
//!   for one target (the "under 20 ms" figure).
//! - `resolve_10k/all_services_all_targets`: the same for each of the 18 targets.
//! - `resolve_1m/all_services_one_target`: 1,000 services × 1,000 parameters
//!   (run with `STRATA_BENCH_1M=1`; it needs about a minute).
//! - `cache/get_param`: a cached single-parameter read.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use strata_core::cache::ResolveCache;
use strata_core::path::parse_segments;
use strata_core::resolve::{Project, ResolveOptions};
use strata_gen::Format;

mod support;
use support::project;

fn resolve_all(p: &Project, target: &str) -> usize {
    p.session(target, ResolveOptions::default())
        .expect("target exists")
        .resolve_all()
        .expect("generated projects resolve")
        .len()
}

fn bench_10k(c: &mut Criterion) {
    let mut g = c.benchmark_group("resolve_10k");
    for (name, format) in [("yaml", Format::Yaml), ("json", Format::Json)] {
        let p = project(100, 100, format);
        let target = p.config.targets[0].to_string();
        let targets: Vec<String> = p.config.targets.iter().map(ToString::to_string).collect();
        g.bench_function(format!("all_services_one_target/{name}"), |b| {
            b.iter(|| black_box(resolve_all(&p, &target)))
        });
        g.bench_function(format!("all_services_all_targets/{name}"), |b| {
            b.iter(|| targets.iter().map(|t| resolve_all(&p, t)).sum::<usize>())
        });
    }
    g.finish();
}

fn bench_1m(c: &mut Criterion) {
    if std::env::var_os("STRATA_BENCH_1M").is_none() {
        return;
    }
    let mut g = c.benchmark_group("resolve_1m");
    g.sample_size(10);
    for (name, format) in [("json", Format::Json), ("yaml", Format::Yaml)] {
        let p = project(1000, 1000, format);
        let target = p.config.targets[0].to_string();
        g.bench_function(format!("all_services_one_target/{name}"), |b| {
            b.iter(|| black_box(resolve_all(&p, &target)))
        });
    }
    g.finish();
}

fn bench_cache(c: &mut Criterion) {
    let p = project(100, 100, Format::Yaml);
    let target = p.config.targets[0].to_string();
    let cache = ResolveCache::new();
    let all = cache.resolve_all(&p, &target).expect("resolves");
    let hash = p.content_hash().expect("in memory");
    // A real leaf of the first service, found from the resolved tree.
    let eff = &all[0];
    let (path, _) = eff.leaves().into_iter().nth(50).expect("100 leaves");
    let text = strata_core::path::segments_to_string(&path);
    let segs = parse_segments(&text).expect("printed paths parse");
    let service = eff.service.clone();
    c.bench_function("cache/get_param", |b| {
        b.iter(|| {
            black_box(cache.get_param(&hash, &target, &service, black_box(&segs))).expect("cached")
        })
    });
}

criterion_group!(benches, bench_10k, bench_1m, bench_cache);
criterion_main!(benches);
