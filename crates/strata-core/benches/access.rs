//! Access decision benchmarks on a generated policy of 1,000 rules.
//!
//! 200 services (`svc000`…`svc199`, ten teams of 20) and 50 roles of 20 rules each
//! (16 allow, 4 deny): rules naming one service (`svc042:**`, `svc042:db.*`,
//! `svc042:db.**.password`, exact leaves), wildcard services (`*:**.password`,
//! `svc0*:feature.*`) and `@own:**`, over environment lists and globs (`eu-*`). The
//! principal `bench` holds 15 roles directly and through two groups (300 rules among
//! them) and owns a team.
//!
//! - `access_1k/allowed`: `bench write dev svc007:db.pool.max_size`, allowed by an allow
//!   rule.
//! - `access_1k/denied_by_deny`: `bench read prod svc007:db.primary.password`, denied by
//!   a deny rule that beats several matching allows.
//! - `access_1k/no_rule`: `bench write prod svc012:cache.ttl`, a service its roles have
//!   rules for, where none matches (every candidate is tested).
//! - `access_1k/extra_roles`: the allowed case for a principal the policy does not
//!   declare, holding three roles from a token.
//! - `access_1k/parse_and_index`: reading and indexing the policy file.

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use strata_core::access::{AccessPolicy, Action, Request};
use strata_core::path::{Segment, parse_segments};
use strata_core::project::ProjectConfig;

const SERVICES: usize = 200;
const ROLES: usize = 50;

fn project_yaml() -> String {
    let mut s = String::from(
        "version: 1\nenvironments: [dev, staging, prod, eu-prod, eu-staging]\nproviders: [aws]\n\
         targets: [dev/aws/us-east-1]\nhierarchy: [base]\nteams:\n",
    );
    for t in 0..10 {
        let _ = writeln!(s, "  team{t}: {{ owners: [owner{t}] }}");
    }
    s.push_str("services:\n");
    for i in 0..SERVICES {
        let _ = writeln!(s, "  svc{i:03}: {{ team: team{} }}", i / 20);
    }
    s
}

/// 50 roles × 20 rules. Role `r` looks after services `4r .. 4r+3` (mod 200), and a few of
/// its rules reach across services with wildcards.
fn policy_yaml() -> String {
    let mut s = String::from("roles:\n");
    for r in 0..ROLES {
        let svc = |k: usize| format!("svc{:03}", (r * 4 + k) % SERVICES);
        let _ = writeln!(s, "  role{r:02}:\n    allow:");
        for k in 0..4 {
            let sv = svc(k);
            let _ = writeln!(
                s,
                "      - {{ actions: [read], envs: [dev, staging, prod, \"eu-*\"], params: [\"{sv}:**\"] }}"
            );
            let _ = writeln!(
                s,
                "      - {{ actions: [write], envs: [dev, staging], params: [\"{sv}:db.*\", \"{sv}:db.pool.*\"] }}"
            );
            let _ = writeln!(
                s,
                "      - {{ actions: [read-secret], envs: [dev], params: [\"{sv}:db.**.password\", \"{sv}:api.key\"] }}"
            );
        }
        let _ = writeln!(
            s,
            "      - {{ actions: [write], envs: [\"*\"], params: [\"svc{}*:feature.*\"] }}",
            r % 10
        );
        let _ = writeln!(
            s,
            "      - {{ actions: [read, write], envs: [dev], params: [\"@own:**\"] }}"
        );
        let _ = writeln!(
            s,
            "      - {{ actions: [approve], envs: [prod, \"eu-*\"], params: [\"{}:**\", \"*:replicas\"] }}",
            svc(0)
        );
        let _ = writeln!(
            s,
            "      - {{ actions: [deploy], envs: [staging], params: [\"{}:\"] }}",
            svc(1)
        );
        s.push_str("    deny:\n");
        let _ = writeln!(
            s,
            "      - {{ actions: [read, write], envs: [prod, \"eu-*\"], params: [\"*:**.password\"] }}"
        );
        let _ = writeln!(
            s,
            "      - {{ actions: [write], envs: [prod], params: [\"{}:db.**\"] }}",
            svc(2)
        );
        let _ = writeln!(
            s,
            "      - {{ actions: [write], envs: [\"*\"], params: [\"{}:legacy.**\"] }}",
            svc(3)
        );
        let _ = writeln!(
            s,
            "      - {{ actions: [read-secret], envs: [\"eu-*\"], params: [\"*:**.key\"] }}"
        );
    }
    s.push_str("principals:\n");
    let held: Vec<String> = (0..5).map(|r| format!("role{r:02}")).collect();
    let _ = writeln!(s, "  bench: {{ roles: [{}] }}", held.join(", "));
    for p in 0..100 {
        let _ = writeln!(s, "  user{p}: {{ roles: [role{:02}] }}", p % ROLES);
    }
    s.push_str("groups:\n");
    for g in 0..2 {
        let roles: Vec<String> = (0..5)
            .map(|r| format!("role{:02}", 5 + g * 5 + r))
            .collect();
        let _ = writeln!(
            s,
            "  group{g}: {{ members: [bench, user{g}], roles: [{}] }}",
            roles.join(", ")
        );
    }
    s
}

fn load() -> AccessPolicy {
    let config = ProjectConfig::parse(&project_yaml()).expect("generated project is valid");
    let policy_text = policy_yaml();
    let rules = policy_text.matches("      - {").count();
    assert_eq!(rules, 1_000, "the generated policy has 1,000 rules");
    AccessPolicy::parse(policy_text.as_bytes(), Some(&config)).expect("generated policy is valid")
}

fn segs(s: &str) -> Vec<Segment> {
    parse_segments(s).expect("benchmark paths parse")
}

fn bench(c: &mut Criterion) {
    let policy = load();
    let allowed_path = segs("db.pool.max_size");
    let password = segs("db.primary.password");
    let ttl = segs("cache.ttl");
    let token_roles: Vec<String> = vec!["role00".into(), "role01".into(), "role07".into()];

    let allowed = Request::new("bench", Action::Write, "dev", "svc007", &allowed_path);
    let denied = Request::new("bench", Action::Read, "prod", "svc007", &password);
    let no_rule = Request::new("bench", Action::Write, "prod", "svc012", &ttl);
    let extra = Request::new("token-user", Action::Write, "dev", "svc007", &allowed_path)
        .with_extra_roles(&token_roles);
    // The cases are what their names say.
    let d = policy.decide(&allowed);
    assert!(d.allowed, "{d}");
    let d = policy.decide(&denied);
    assert!(!d.allowed && d.rule().is_some(), "{d}");
    let d = policy.decide(&no_rule);
    assert!(!d.allowed && d.rule().is_none(), "{d}");
    let d = policy.decide(&extra);
    assert!(d.allowed, "{d}");

    let mut g = c.benchmark_group("access_1k");
    g.bench_function("allowed", |b| b.iter(|| policy.decide(black_box(&allowed))));
    g.bench_function("denied_by_deny", |b| {
        b.iter(|| policy.decide(black_box(&denied)))
    });
    g.bench_function("no_rule", |b| b.iter(|| policy.decide(black_box(&no_rule))));
    g.bench_function("extra_roles", |b| {
        b.iter(|| policy.decide(black_box(&extra)))
    });
    let config = ProjectConfig::parse(&project_yaml()).expect("generated project is valid");
    let policy_text = policy_yaml();
    g.sample_size(20);
    g.bench_function("parse_and_index", |b| {
        b.iter(|| AccessPolicy::parse(black_box(policy_text.as_bytes()), Some(&config)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
