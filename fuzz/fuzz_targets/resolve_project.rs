//! A fixed strata.yaml and two layer files made of fuzz input, resolved for a target: merge
//! directives, placeholders and references on arbitrary documents must never panic.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use strata_core::files::MemorySource;
use strata_core::resolve::{Project, ResolveOptions};

const CONFIG: &str = "version: 1
environments: [dev]
providers: [aws, gcp]
targets: [dev/aws/r1]
hierarchy: [base, \"env/{env}\"]
services: {a: {}, b: {}}
vars: {global: {x: 1, m: {k: v}}}
merge: {\"*:l\": append, \"*:s\": {by-key: name}}
";

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (first, second) = data.split_at(split);
    let second = second.get(1..).unwrap_or_default();
    let src = MemorySource::new()
        .with("strata.yaml", CONFIG)
        .with("layers/base/a.yaml", first.to_vec())
        .with("layers/env/dev/a.yaml", second.to_vec())
        .with("layers/base/b.yaml", second.to_vec());
    if let Ok(project) = Project::load(Arc::new(src)) {
        if let Ok(session) = project.session("dev/aws/r1", ResolveOptions { keep_prior_values: true }) {
            let _ = session.resolve("a");
            let _ = session.resolve_all();
        }
    }
});
