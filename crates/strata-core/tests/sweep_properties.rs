//! Property test of [`Sweep`]: on generated projects (random seeds, sizes, formats and
//! service subsets), sweeping every target gives exactly what resolving each service with
//! its own target session gives, errors included.

use std::sync::Arc;

use proptest::prelude::*;
use strata_core::files::MemorySource;
use strata_core::path::segments_to_string;
use strata_core::resolve::{Project, ResolveOptions};
use strata_core::sweep::Sweep;
use strata_core::value::Node;
use strata_gen::{Format, GenOptions};

fn project(services: usize, params: usize, format: Format, seed: u64) -> Project {
    let opts = GenOptions {
        services,
        params,
        format,
        seed,
        schemas: false,
        ..GenOptions::default()
    };
    let mut src = MemorySource::new();
    for f in strata_gen::generate_to_vec(&opts).expect("valid generator options") {
        src.insert(f.path, f.contents);
    }
    Project::load(Arc::new(src)).expect("generated projects are valid")
}

type Row = Vec<Result<Vec<String>, String>>;

/// Every leaf with its value, provenance and overridden values, file paths spelled out
/// (file ids depend on the order files were first read).
fn leaves(p: &Project, root: &Node) -> Vec<String> {
    let mut out = Vec::new();
    root.for_each_leaf(&mut Vec::new(), &mut |path, n| {
        let priors: Vec<String> = n
            .priors
            .iter()
            .flat_map(|b| b.iter())
            .map(|x| format!("{} {:?}", p.describe_loc(x.loc), x.value))
            .collect();
        out.push(format!(
            "{} = {} @ {} {priors:?}",
            segments_to_string(path),
            n.value.to_json(),
            p.describe_loc(n.loc)
        ));
    });
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn sweep_equals_one_session_per_target(
        services in 1usize..12,
        params in 0usize..40,
        json in any::<bool>(),
        seed in any::<u64>(),
        keep in proptest::collection::vec(any::<bool>(), 12),
        reverse in any::<bool>(),
    ) {
        let format = if json { Format::Json } else { Format::Yaml };
        let p = project(services, params, format, seed);
        let targets: Vec<String> = p.config.targets.iter().map(ToString::to_string).collect();
        let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
        let mut names: Vec<&str> = p
            .config
            .services
            .keys()
            .enumerate()
            .filter(|(i, _)| keep[*i])
            .map(|(_, k)| k.as_str())
            .collect();
        if reverse {
            names.reverse();
        }
        let opts = ResolveOptions { keep_prior_values: true };
        let swept: Vec<Row> = Sweep::new(&p, &targets, &names, opts)
            .expect("sweep")
            .run(|_, effs| {
                effs.into_iter()
                    .map(|r| r.map(|e| leaves(&p, &e.root)).map_err(|e| e.to_string()))
                    .collect()
            });
        let expected: Vec<Row> = names
            .iter()
            .map(|s| {
                targets
                    .iter()
                    .map(|t| {
                        p.resolve(s, t, opts)
                            .map(|e| leaves(&p, &e.root))
                            .map_err(|e| e.to_string())
                    })
                    .collect()
            })
            .collect();
        prop_assert_eq!(swept, expected);
    }
}
