//! Remediation: how to make a drifted parameter agree with the reference again, worked
//! out from provenance (which layer file and line set each side's value, and what that
//! value overrode).
//!
//! For a finding between the reference target R and another target O the options are,
//! in the order `strata drift --patch` tries them:
//!
//! 1. **Remove O's override** at `file:line`, when that file is one only O reads; the
//!    value falls back to what the override replaced ([`Becomes`]).
//! 2. **Set R's value in one of O's layers**: the file that holds O's value when only O
//!    reads it, else O's layer at the level where R sets its value (`env/prod/aws` →
//!    `env/staging/aws`), else the least specific layer only O reads above O's value (a
//!    new file when it does not exist yet).
//! 3. **Remove R's override**, when only R reads its file (O's value becomes the norm).
//! 4. **Declare the variation**: a `policies/variations.yaml` rule, as a ready snippet.
//!
//! Inside a list the unit of repair is the whole list (layers replace lists), so every
//! finding under `sidecars[…]` suggests editing `sidecars`.

use crate::files::FileTable;
use crate::path::{Segment, segments_to_string};
use crate::resolve::LayerSlot;
use crate::value::{Loc, Node, Value};

use super::engine::{Class, Finding, Side};

/// Which target of a comparison an option edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The reference target (usually prod).
    Reference,
    /// The target compared with it.
    Other,
}

/// What a parameter's value becomes when an override is removed.
#[derive(Debug, Clone, PartialEq)]
pub enum Becomes {
    /// The overridden scalar.
    Value(Value),
    /// The map or list set at this location (not copied by the resolver).
    From(Loc),
    /// Nothing: no lower layer sets the parameter.
    Absent,
}

/// One way to resolve a finding.
#[derive(Debug, Clone, PartialEq)]
pub enum Remedy {
    /// Delete the key at `path` from `file`.
    RemoveOverride {
        /// Whose layer file it is.
        side: Which,
        /// Project-relative path of the layer file.
        file: String,
        /// Line of the value in that file.
        line: u32,
        /// The key to delete (for a list element: the list).
        path: Vec<Segment>,
        /// The value afterwards.
        becomes: Becomes,
        /// Whether, as far as provenance tells, both sides then agree.
        fixes: bool,
    },
    /// Write `value` at `path` in `file` (creating the file when `create`).
    SetValue {
        /// Project-relative path of the layer file.
        file: String,
        /// Whether the file has to be created.
        create: bool,
        /// Where to write (for a list element: the list).
        path: Vec<Segment>,
        /// The reference's value.
        value: serde_json::Value,
    },
    /// Declare the difference intended: a rule for `policies/variations.yaml`.
    DeclareVariation {
        /// The YAML list item to add under `variations:`.
        snippet: String,
    },
}

impl Remedy {
    /// Whether the option edits layer files (what `--patch` can apply).
    pub fn edits_layers(&self) -> bool {
        !matches!(self, Remedy::DeclareVariation { .. })
    }
}

/// The path a repair edits: up to (excluding) the first list index, since layers replace
/// lists whole.
pub fn repair_path(path: &[Segment]) -> &[Segment] {
    match path.iter().position(|s| matches!(s, Segment::Index(_))) {
        Some(0) | None => path,
        Some(i) => &path[..i],
    }
}

/// The options for one finding, best first. `reference_layers`/`other_layers` are the
/// two targets' [`LayerSlot`]s for the finding's service (lowest precedence first).
/// A `must-differ` violation (equal values) gets no option: only a person can choose the
/// distinct value.
pub fn suggest(
    finding: &Finding<'_>,
    reference: Side<'_>,
    other: Side<'_>,
    files: &FileTable,
    reference_layers: &[LayerSlot],
    other_layers: &[LayerSlot],
) -> Vec<Remedy> {
    let mut out = Vec::new();
    if finding.class == Class::Expected
        || (finding.class == Class::Violation
            && finding.reference.is_some()
            && finding.other.is_some()
            && finding.reference.map(|n| &n.value) == finding.other.map(|n| &n.value))
    {
        return out;
    }
    let path = repair_path(&finding.path);
    let want = reference.root.get(path);
    let have = other.root.get(path);
    let only_in = |slots: &[LayerSlot], not: &[LayerSlot], file: &str| {
        slots.iter().any(|s| s.exists && s.path == file) && !not.iter().any(|s| s.path == file)
    };
    let file_of = |n: &Node| files.path(n.loc.file).to_string();

    // 1. Remove the other side's override.
    if let Some(h) = have {
        let file = file_of(h);
        if only_in(other_layers, reference_layers, &file) {
            let becomes = becomes(h);
            let fixes = agrees(&becomes, want);
            out.push(Remedy::RemoveOverride {
                side: Which::Other,
                file,
                line: h.loc.line,
                path: path.to_vec(),
                becomes,
                fixes,
            });
        }
    }

    // 2. Set the reference's value in a layer only the other side reads.
    if let Some(w) = want {
        let value = w.value.to_json();
        let above = have
            .and_then(|h| {
                let file = file_of(h);
                other_layers.iter().position(|s| s.path == file)
            })
            .unwrap_or(0);
        let mut candidates: Vec<&LayerSlot> = Vec::new();
        if let Some(h) = have {
            let file = file_of(h);
            if let Some(slot) = other_layers.iter().find(|s| s.path == file)
                && only_in(other_layers, reference_layers, &file)
            {
                candidates.push(slot);
            }
        }
        // The level where the reference sets its value, mirrored: `env/prod/aws` →
        // `env/staging/aws` reaches the same targets on the other side.
        let mirror = reference_layers
            .iter()
            .position(|s| s.path == file_of(w))
            .filter(|&i| i >= above && other_layers.len() == reference_layers.len())
            .map(|i| &other_layers[i])
            .filter(|s| !reference_layers.iter().any(|r| r.path == s.path));
        candidates.extend(mirror);
        candidates.extend(
            other_layers[above.min(other_layers.len())..]
                .iter()
                .filter(|s| !reference_layers.iter().any(|r| r.path == s.path)),
        );
        let mut seen = Vec::new();
        for slot in candidates {
            if seen.contains(&&slot.path) {
                continue;
            }
            seen.push(&slot.path);
            out.push(Remedy::SetValue {
                file: slot.path.clone(),
                create: !slot.exists,
                path: path.to_vec(),
                value: value.clone(),
            });
        }
    }

    // 3. Remove the reference's override.
    if let Some(w) = want {
        let file = file_of(w);
        if only_in(reference_layers, other_layers, &file) {
            let becomes = becomes(w);
            let fixes = agrees(&becomes, have);
            out.push(Remedy::RemoveOverride {
                side: Which::Reference,
                file,
                line: w.loc.line,
                path: path.to_vec(),
                becomes,
                fixes,
            });
        }
    }

    // 4. Declare the variation.
    let kind = if finding.reference.is_none() || finding.other.is_none() {
        "may-be-absent"
    } else {
        "may-differ"
    };
    out.push(Remedy::DeclareVariation {
        snippet: format!(
            "- params: [\"{}:{}\"]\n  kind: {kind}\n  targets: [{}, {}]\n  reason: \"<why {} differs in {}>\"\n",
            finding.service,
            segments_to_string(&finding.path),
            finding.reference_target,
            finding.other_target,
            segments_to_string(&finding.path),
            finding.other_target,
        ),
    });
    out
}

/// What `node`'s parameter becomes without the layer that set it.
fn becomes(node: &Node) -> Becomes {
    match node.priors().last() {
        None => Becomes::Absent,
        Some(p) => match &p.value {
            Some(v) => Becomes::Value(v.clone()),
            None => Becomes::From(p.loc),
        },
    }
}

/// Whether a parameter that becomes `b` then equals `target`.
fn agrees(b: &Becomes, target: Option<&Node>) -> bool {
    match (b, target) {
        (Becomes::Absent, None) => true,
        (Becomes::Value(v), Some(t)) => *v == t.value,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::engine::classify;
    use crate::drift::policy::{PolicyDate, VariationPolicy};
    use crate::files::MemorySource;
    use crate::project::Target;
    use crate::resolve::{Project, ResolveOptions};
    use std::sync::Arc;

    const PROJECT: &str = "version: 1
environments: [staging, prod]
providers: [aws]
targets: [staging/aws/us-east-1, prod/aws/us-east-1]
hierarchy: [base, \"env/{env}\", \"target/{env}/{provider}/{region}\"]
services: {svc: {}}
";

    fn project(files: &[(&str, &str)]) -> Project {
        let mut src = MemorySource::new().with("strata.yaml", PROJECT);
        for (p, t) in files {
            src.insert(*p, *t);
        }
        Project::load(Arc::new(src)).unwrap()
    }

    /// `(param, remedies)` for every finding of staging against prod.
    fn remedies(p: &Project) -> Vec<(String, Vec<Remedy>)> {
        let opts = ResolveOptions {
            keep_prior_values: true,
        };
        let (r, o) = ("prod/aws/us-east-1", "staging/aws/us-east-1");
        let sr = p.session(r, opts).unwrap();
        let so = p.session(o, opts).unwrap();
        let (er, eo) = (sr.resolve("svc").unwrap(), so.resolve("svc").unwrap());
        let (tr, to) = (Target::parse(r).unwrap(), Target::parse(o).unwrap());
        let ref_side = Side {
            target: &tr,
            root: &er.root,
        };
        let other_side = Side {
            target: &to,
            root: &eo.root,
        };
        let findings = classify(
            "svc",
            ref_side,
            other_side,
            &VariationPolicy::default(),
            PolicyDate::new(2026, 11, 22).unwrap(),
        );
        let (lr, lo) = (sr.layer_slots("svc"), so.layer_slots("svc"));
        findings
            .iter()
            .map(|f| {
                (
                    f.param(),
                    suggest(f, ref_side, other_side, p.files(), &lr, &lo),
                )
            })
            .collect()
    }

    fn seg(s: &str) -> Vec<Segment> {
        crate::path::parse_segments(s).unwrap()
    }

    #[test]
    fn an_override_only_the_other_side_reads_is_removed_first() {
        let p = project(&[
            ("layers/base/svc.yaml", "timeout: 5s\nlog: info\n"),
            ("layers/env/staging/svc.yaml", "timeout: 30s\n"),
        ]);
        let got = remedies(&p);
        assert_eq!(got.len(), 1);
        let (param, options) = &got[0];
        assert_eq!(param, "svc:timeout");
        assert_eq!(
            options[0],
            Remedy::RemoveOverride {
                side: Which::Other,
                file: "layers/env/staging/svc.yaml".into(),
                line: 1,
                path: seg("timeout"),
                becomes: Becomes::Value(Value::Str("5s".into())),
                fixes: true,
            }
        );
        assert_eq!(
            options[1],
            Remedy::SetValue {
                file: "layers/env/staging/svc.yaml".into(),
                create: false,
                path: seg("timeout"),
                value: "5s".into(),
            }
        );
        let Remedy::DeclareVariation { snippet } = options.last().unwrap() else {
            panic!("the last option declares the variation: {options:?}");
        };
        assert!(snippet.contains("params: [\"svc:timeout\"]"), "{snippet}");
        assert!(
            snippet.contains("targets: [prod/aws/us-east-1, staging/aws/us-east-1]"),
            "{snippet}"
        );
    }

    #[test]
    fn a_prod_override_means_setting_the_value_in_a_layer_of_the_other_side() {
        let p = project(&[
            ("layers/base/svc.yaml", "pool: 5\nsidecars: [a, b]\n"),
            (
                "layers/env/prod/svc.yaml",
                "pool: 20\nsidecars: [a, b, c]\n",
            ),
        ]);
        let got = remedies(&p);
        let pool = &got.iter().find(|(p, _)| p == "svc:pool").unwrap().1;
        // Staging's value is the shared base: nothing to remove on its side; the value is
        // set in the least specific layer only staging reads, which does not exist yet.
        assert_eq!(
            pool[0],
            Remedy::SetValue {
                file: "layers/env/staging/svc.yaml".into(),
                create: true,
                path: seg("pool"),
                value: 20.into(),
            }
        );
        assert!(matches!(
            &pool[2],
            Remedy::RemoveOverride {
                side: Which::Reference,
                becomes: Becomes::Value(Value::Int(5)),
                fixes: true,
                ..
            }
        ));
        // A list element is repaired as the whole list.
        let c = &got.iter().find(|(p, _)| p == "svc:sidecars[2]").unwrap().1;
        assert_eq!(
            c[0],
            Remedy::SetValue {
                file: "layers/env/staging/svc.yaml".into(),
                create: true,
                path: seg("sidecars"),
                value: serde_json::json!(["a", "b", "c"]),
            }
        );
    }

    #[test]
    fn an_extra_key_is_removed_and_becomes_absent() {
        let p = project(&[
            ("layers/base/svc.yaml", "a: 1\n"),
            (
                "layers/target/staging/aws/us-east-1/svc.yaml",
                "debug: {on: true}\n",
            ),
        ]);
        let got = remedies(&p);
        assert_eq!(got[0].0, "svc:debug.on");
        assert!(matches!(
            &got[0].1[0],
            Remedy::RemoveOverride {
                side: Which::Other,
                becomes: Becomes::Absent,
                fixes: true,
                line: 1,
                ..
            }
        ));
        // Nothing to set: the reference has no value.
        assert!(
            !got[0]
                .1
                .iter()
                .any(|r| matches!(r, Remedy::SetValue { .. }))
        );
        assert!(repair_path(&seg("a[0].b")) == seg("a").as_slice());
        assert!(repair_path(&seg("a.b")) == seg("a.b").as_slice());
    }
}
