//! What the benches share: a synthetic project from `strata-gen`, held in memory.

use std::sync::Arc;

use strata_core::files::MemorySource;
use strata_core::resolve::Project;
use strata_gen::{Format, GenOptions};

/// A generated project of `services` × `params` base parameters with `format` layers
/// (default seed, environments, providers and schemas), loaded from memory.
pub fn project(services: usize, params: usize, format: Format) -> Project {
    let opts = GenOptions {
        services,
        params,
        format,
        ..GenOptions::default()
    };
    let mut src = MemorySource::new();
    for f in strata_gen::generate_to_vec(&opts).expect("valid generator options") {
        src.insert(f.path, f.contents);
    }
    Project::load(Arc::new(src)).expect("generated projects are valid")
}
