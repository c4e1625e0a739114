//! `strata drift --patch`: turning remediation options into one patch of the layer files.
//!
//! Each finding's options ([`super::remedy::suggest`]) are tried in order, and an option
//! is taken only when re-resolving the project with the edit applied (an
//! [`OverlaySource`], nothing is written) shows both targets agreeing on the parameter.
//! Edits accumulate: a later finding is tried on top of the earlier repairs, and one that
//! an earlier repair already fixed (another element of the same list, another target
//! reading the same layer) takes nothing more. The result is a set of file changes,
//! rendered as a unified diff that `git apply` accepts.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use crate::edit::{Edit, apply_edits};
use crate::files::{OverlaySource, ProjectSource, SourceError};
use crate::parse::Format;
use crate::path::Segment;
use crate::resolve::{Project, ResolveOptions};

use super::hash::Hashed;
use super::remedy::Remedy;

/// A finding to repair with its options, best first.
#[derive(Debug, Clone)]
pub struct Repair {
    /// The finding's id.
    pub id: String,
    /// The service.
    pub service: String,
    /// The parameter path (as reported).
    pub path: Vec<Segment>,
    /// The reference target.
    pub reference_target: String,
    /// The target compared with it.
    pub other_target: String,
    /// The options, from [`super::remedy::suggest`].
    pub remedies: Vec<Remedy>,
}

/// A changed, new or deleted file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// Project-relative path.
    pub path: String,
    /// The text before (`None`: a new file).
    pub old: Option<String>,
    /// The text after (`None`: the file is deleted, because the repair left it empty).
    pub new: Option<String>,
}

/// What the patch does.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The files it changes, by path.
    pub changes: Vec<FileChange>,
    /// Repaired findings: id and the option taken (`None`: an earlier repair fixed it).
    pub repaired: Vec<(String, Option<Remedy>)>,
    /// Findings no option repairs.
    pub unrepaired: Vec<String>,
}

/// Why no plan could be made.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// A file could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A file to edit is not UTF-8.
    #[error("{path} is not UTF-8 text")]
    NotText {
        /// The file.
        path: String,
    },
}

/// File contents by path; `None` is a deleted file.
type Overlay = BTreeMap<String, Option<Arc<[u8]>>>;

/// Works out the edits repairing `repairs` (see the module documentation). `pairs` are
/// every `(reference, other)` target pair the report compared: an option is refused when
/// it would make any of them disagree on the parameter where they agreed before (an
/// `env/staging` edit also reaches every other staging target).
pub fn plan(
    base: Arc<dyn ProjectSource>,
    repairs: &[Repair],
    pairs: &[(String, String)],
) -> Result<Plan, PatchError> {
    let mut overlay = Overlay::new();
    let mut out = Plan::default();
    let mut current = load(&base, &overlay);
    for repair in repairs {
        let own = (repair.reference_target.clone(), repair.other_target.clone());
        let mut watched: Vec<(String, String)> =
            pairs.iter().filter(|p| **p != own).cloned().collect();
        watched.insert(0, own);
        let before = match &current {
            Some(p) => states(p, repair, &watched),
            None => vec![false; watched.len()],
        };
        if before[0] {
            out.repaired.push((repair.id.clone(), None));
            continue;
        }
        let mut taken = None;
        for remedy in repair.remedies.iter().filter(|r| r.edits_layers()) {
            let Some((file, edit)) = edit_of(remedy) else {
                continue;
            };
            let text = match overlay.get(&file) {
                Some(b) => b.clone(),
                None => base.read(&file)?,
            };
            let text = match text {
                Some(b) => String::from_utf8(b.to_vec())
                    .map_err(|_| PatchError::NotText { path: file.clone() })?,
                None => String::new(),
            };
            let Some(format) = Format::from_path(&file) else {
                continue;
            };
            let Ok(new_text) = edit_text(&text, format, &edit) else {
                continue;
            };
            let contents = (!is_empty_document(&file, &new_text, format))
                .then(|| Arc::from(new_text.into_bytes().into_boxed_slice()));
            let mut trial = overlay.clone();
            trial.insert(file, contents);
            let Some(p) = load(&base, &trial) else {
                continue;
            };
            let after = states(&p, repair, &watched);
            if after[0] && before.iter().zip(&after).all(|(b, a)| !b || *a) {
                overlay = trial;
                current = Some(p);
                taken = Some(remedy.clone());
                break;
            }
        }
        match taken {
            Some(r) => out.repaired.push((repair.id.clone(), Some(r))),
            None => out.unrepaired.push(repair.id.clone()),
        }
    }
    for (path, new) in overlay {
        let text = |b: Arc<[u8]>| {
            String::from_utf8(b.to_vec()).map_err(|_| PatchError::NotText { path: path.clone() })
        };
        let old = base.read(&path)?.map(text).transpose()?;
        let new = new.map(text).transpose()?;
        if old != new {
            out.changes.push(FileChange { path, old, new });
        }
    }
    Ok(out)
}

/// Whether `text` holds no parameter (only comments, or `{}`): such a file is deleted.
fn is_empty_document(path: &str, text: &str, format: Format) -> bool {
    let path: Arc<str> = Arc::from(path);
    crate::parse::parse_document(
        &path,
        crate::value::FileId(0),
        text.as_bytes(),
        format,
        crate::parse::ParseOptions { templates: false },
    )
    .is_ok_and(|n| n.value.as_map().is_some_and(|m| m.is_empty()))
}

/// The file and edit an option makes.
fn edit_of(remedy: &Remedy) -> Option<(String, Edit)> {
    match remedy {
        Remedy::RemoveOverride { file, path, .. } => {
            Some((file.clone(), Edit::Unset { path: path.clone() }))
        }
        Remedy::SetValue {
            file, path, value, ..
        } => Some((
            file.clone(),
            Edit::Set {
                path: path.clone(),
                value: value.clone(),
            },
        )),
        Remedy::DeclareVariation { .. } => None,
    }
}

/// Applies one edit; an empty (new) document starts as an empty map.
fn edit_text(text: &str, format: Format, edit: &Edit) -> Result<String, crate::edit::EditError> {
    let start = match format {
        _ if !text.trim().is_empty() => text,
        Format::Yaml | Format::Json => "{}\n",
        Format::Toml => "",
    };
    apply_edits(start, format, std::slice::from_ref(edit))
}

fn load(base: &Arc<dyn ProjectSource>, overlay: &Overlay) -> Option<Project> {
    let src: Arc<dyn ProjectSource> = if overlay.is_empty() {
        base.clone()
    } else {
        Arc::new(OverlaySource::new(base.clone(), overlay.clone()))
    };
    Project::load(src).ok()
}

/// For each pair: whether both targets resolve and agree on the repair's parameter.
fn states(project: &Project, repair: &Repair, pairs: &[(String, String)]) -> Vec<bool> {
    let mut resolved: BTreeMap<String, Option<crate::value::Node>> = BTreeMap::new();
    let mut get = |target: &str| -> Option<Option<super::hash::TreeHash>> {
        let root = resolved.entry(target.to_string()).or_insert_with(|| {
            project
                .session(target, ResolveOptions::default())
                .ok()?
                .resolve(&repair.service)
                .ok()
                .map(|e| e.root)
        });
        let root = root.as_ref()?;
        Some(root.get(&repair.path).map(|n| Hashed::new(n).hash()))
    };
    pairs
        .iter()
        .map(|(a, b)| match (get(a), get(b)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        })
        .collect()
}

/// The changes as one unified diff, paths prefixed by `prefix` (the project's directory
/// inside its git repository, `""` or ending in `/`), as `git apply` takes it.
pub fn unified_diff(changes: &[FileChange], prefix: &str) -> String {
    let mut out = String::new();
    for c in changes {
        let path = format!("{prefix}{}", c.path);
        let _ = writeln!(out, "diff --git a/{path} b/{path}");
        match (&c.old, &c.new) {
            (None, _) => {
                let _ = writeln!(out, "new file mode 100644");
            }
            (Some(_), None) => {
                let _ = writeln!(out, "deleted file mode 100644");
            }
            _ => {}
        }
        let from = match c.old {
            Some(_) => format!("a/{path}"),
            None => "/dev/null".to_string(),
        };
        let to = match c.new {
            Some(_) => format!("b/{path}"),
            None => "/dev/null".to_string(),
        };
        let (old, new) = (
            c.old.as_deref().unwrap_or(""),
            c.new.as_deref().unwrap_or(""),
        );
        let diff = similar::TextDiff::from_lines(old, new);
        let _ = write!(
            out,
            "{}",
            diff.unified_diff().context_radius(3).header(&from, &to)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::remedy::{Becomes, Which};
    use crate::files::MemorySource;
    use crate::path::parse_segments;
    use crate::value::Value;

    const PROJECT: &str = "version: 1
environments: [staging, prod]
providers: [aws]
targets: [staging/aws/us-east-1, prod/aws/us-east-1]
hierarchy: [base, \"env/{env}\"]
services: {svc: {}}
";

    fn source() -> Arc<dyn ProjectSource> {
        Arc::new(
            MemorySource::new()
                .with("strata.yaml", PROJECT)
                .with(
                    "layers/base/svc.yaml",
                    "# svc defaults\ntimeout: 5s\npool: 5\n",
                )
                .with("layers/env/staging/svc.yaml", "timeout: 30s # load test\n")
                .with("layers/env/prod/svc.yaml", "pool: 20\nextra: 1\n"),
        )
    }

    fn repair(id: &str, path: &str, remedies: Vec<Remedy>) -> Repair {
        Repair {
            id: id.into(),
            service: "svc".into(),
            path: parse_segments(path).unwrap(),
            reference_target: "prod/aws/us-east-1".into(),
            other_target: "staging/aws/us-east-1".into(),
            remedies,
        }
    }

    fn remove(file: &str, path: &str) -> Remedy {
        Remedy::RemoveOverride {
            side: Which::Other,
            file: file.into(),
            line: 1,
            path: parse_segments(path).unwrap(),
            becomes: Becomes::Value(Value::Int(0)),
            fixes: true,
        }
    }

    fn set(file: &str, create: bool, path: &str, value: serde_json::Value) -> Remedy {
        Remedy::SetValue {
            file: file.into(),
            create,
            path: parse_segments(path).unwrap(),
            value,
        }
    }

    #[test]
    fn options_are_verified_and_the_first_that_repairs_is_taken() {
        let repairs = [
            repair(
                "t",
                "timeout",
                vec![remove("layers/env/staging/svc.yaml", "timeout")],
            ),
            // A removal that does not repair (prod overrides too) is skipped for the set.
            repair(
                "p",
                "pool",
                vec![
                    remove("layers/base/svc.yaml", "pool"),
                    set("layers/env/staging/svc.yaml", false, "pool", 20.into()),
                ],
            ),
            // Already repaired by the first.
            repair("t2", "timeout", vec![]),
            // Nothing repairs it.
            repair(
                "x",
                "pool",
                vec![set("layers/base/svc.yaml", false, "pool", 7.into())],
            ),
        ];
        let mut fixed = repairs.to_vec();
        fixed[3].path = parse_segments("extra").unwrap();
        fixed[3].remedies = vec![set("layers/base/svc.yaml", false, "other", 1.into())];
        let plan = plan(source(), &fixed, &[]).unwrap();
        assert_eq!(plan.unrepaired, vec!["x".to_string()]);
        assert_eq!(plan.repaired.len(), 3);
        assert!(plan.repaired[0].1.is_some());
        assert_eq!(
            plan.repaired[1].1,
            Some(set("layers/env/staging/svc.yaml", false, "pool", 20.into()))
        );
        assert_eq!(plan.repaired[2], ("t2".to_string(), None));
        assert_eq!(plan.changes.len(), 1);
        assert_eq!(plan.changes[0].new.as_deref(), Some("pool: 20\n"));

        let diff = unified_diff(&plan.changes, "");
        assert_eq!(
            diff,
            "diff --git a/layers/env/staging/svc.yaml b/layers/env/staging/svc.yaml
--- a/layers/env/staging/svc.yaml
+++ b/layers/env/staging/svc.yaml
@@ -1 +1 @@
-timeout: 30s # load test
+pool: 20
"
        );
    }

    #[test]
    fn new_layer_files_are_created() {
        let base: Arc<dyn ProjectSource> = Arc::new(
            MemorySource::new()
                .with("strata.yaml", PROJECT)
                .with("layers/base/svc.yaml", "pool: 5\n")
                .with(
                    "layers/env/prod/svc.yaml",
                    "pool: 20\ndb: {hosts: [a, b]}\n",
                ),
        );
        let plan = plan(
            base,
            &[
                repair(
                    "p",
                    "pool",
                    vec![set("layers/env/staging/svc.yaml", true, "pool", 20.into())],
                ),
                repair(
                    "d",
                    "db.hosts[1]",
                    vec![set(
                        "layers/env/staging/svc.yaml",
                        true,
                        "db.hosts",
                        serde_json::json!(["a", "b"]),
                    )],
                ),
            ],
            &[],
        )
        .unwrap();
        assert!(plan.unrepaired.is_empty(), "{plan:?}");
        assert_eq!(plan.changes[0].old, None);
        let diff = unified_diff(&plan.changes, "deploy/");
        assert!(
            diff.starts_with(
                "diff --git a/deploy/layers/env/staging/svc.yaml b/deploy/layers/env/staging/svc.yaml\nnew file mode 100644\n--- /dev/null\n+++ b/deploy/layers/env/staging/svc.yaml\n"
            ),
            "{diff}"
        );
        assert!(diff.contains("+pool: 20\n"), "{diff}");
    }

    #[test]
    fn an_edit_that_breaks_another_pair_is_refused_and_empty_files_are_deleted() {
        const TWO_REGIONS: &str = "version: 1
environments: [staging, prod]
providers: [aws, gcp]
targets: [staging/aws/us-east-1, staging/gcp/europe-west1, prod/aws/us-east-1, prod/gcp/europe-west1]
hierarchy: [base, \"env/{env}\", \"env/{env}/{provider}\"]
services: {svc: {}}
";
        let base: Arc<dyn ProjectSource> = Arc::new(
            MemorySource::new()
                .with("strata.yaml", TWO_REGIONS)
                .with("layers/base/svc.yaml", "a: 1\n")
                .with("layers/env/prod/aws/svc.yaml", "master: true\n")
                .with("layers/env/staging/aws/svc.yaml", "# only this\nb: 2\n")
                .with("layers/env/prod/svc.yaml", "b: 3\n"),
        );
        let aws = |id: &str, path: &str, remedies| Repair {
            other_target: "staging/aws/us-east-1".into(),
            ..repair(id, path, remedies)
        };
        let pairs = [
            (
                "prod/aws/us-east-1".to_string(),
                "staging/aws/us-east-1".to_string(),
            ),
            (
                "prod/gcp/europe-west1".to_string(),
                "staging/gcp/europe-west1".to_string(),
            ),
        ];
        let planned = plan(
            base,
            &[
                // `master` only exists in prod/aws: setting it in env/staging would make
                // staging/gcp differ from prod/gcp, so the aws-only layer is taken.
                aws(
                    "m",
                    "master",
                    vec![
                        set("layers/env/staging/svc.yaml", true, "master", true.into()),
                        set(
                            "layers/env/staging/aws/svc.yaml",
                            false,
                            "master",
                            true.into(),
                        ),
                    ],
                ),
                // Setting `b` to prod's value in staging/aws's layer.
                aws(
                    "b",
                    "b",
                    vec![remove("layers/env/staging/aws/svc.yaml", "b")],
                ),
            ],
            &pairs,
        )
        .unwrap();
        assert_eq!(
            planned.repaired[0].1,
            Some(set(
                "layers/env/staging/aws/svc.yaml",
                false,
                "master",
                true.into()
            ))
        );
        // Removing `b` leaves `b` = 1 from base while prod says 3: not a repair.
        assert_eq!(planned.unrepaired, vec!["b".to_string()]);
        assert_eq!(planned.changes.len(), 1);
        assert_eq!(
            planned.changes[0].new.as_deref(),
            Some("# only this\nb: 2\nmaster: true\n")
        );

        // A file left without parameters is deleted, and the diff says so.
        let base: Arc<dyn ProjectSource> = Arc::new(
            MemorySource::new()
                .with("strata.yaml", PROJECT)
                .with("layers/base/svc.yaml", "t: 5\n")
                .with("layers/env/staging/svc.yaml", "# override\nt: 6\n"),
        );
        let planned = plan(
            base,
            &[repair(
                "t",
                "t",
                vec![remove("layers/env/staging/svc.yaml", "t")],
            )],
            &[],
        )
        .unwrap();
        assert_eq!(planned.changes[0].new, None);
        let diff = unified_diff(&planned.changes, "");
        assert!(
            diff.contains(
                "deleted file mode 100644\n--- a/layers/env/staging/svc.yaml\n+++ /dev/null\n"
            ),
            "{diff}"
        );
    }
}
