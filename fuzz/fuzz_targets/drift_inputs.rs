//! Any bytes as the drift engine's inputs: a `policies/variations.yaml`, a schema carrying
//! `x-strata-variation`, and two documents compared under that policy (the fuzz input is
//! split at NUL bytes). Errors are fine, a panic is not.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use strata_core::drift::engine::{Side, classify};
use strata_core::drift::policy::{PolicyDate, VariationPolicy};
use strata_core::parse::{Format, ParseOptions, parse_document};
use strata_core::project::Target;
use strata_core::value::FileId;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|b| *b == 0);
    let policy = parts.next().unwrap_or_default();
    let schema = parts.next().unwrap_or_default();
    let a = parts.next().unwrap_or_default();
    let b = parts.next().unwrap_or_default();
    let Ok(mut policy) = VariationPolicy::parse(policy, None) else {
        return;
    };
    let read = |name: &str, bytes: &[u8]| {
        parse_document(
            &Arc::from(name),
            FileId(0),
            bytes,
            Format::Yaml,
            ParseOptions { templates: false },
        )
        .ok()
    };
    if let Some(s) = read("schemas/svc.yaml", schema) {
        let _ = policy.add_schema_rules("svc", "schemas/svc.yaml", &s, None);
    }
    let (Some(a), Some(b)) = (read("a.yaml", a), read("b.yaml", b)) else {
        return;
    };
    let (Some(ta), Some(tb)) = (
        Target::parse("prod/aws/us-east-1"),
        Target::parse("staging/gcp/europe-west1"),
    ) else {
        return;
    };
    let Some(today) = PolicyDate::new(2026, 11, 22) else {
        return;
    };
    for f in classify(
        "svc",
        Side {
            target: &ta,
            root: &a,
        },
        Side {
            target: &tb,
            root: &b,
        },
        &policy,
        today,
    ) {
        let _ = (f.id(), f.param());
    }
});
