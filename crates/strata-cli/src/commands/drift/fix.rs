//! `strata drift --patch`: a unified diff of the layer files implementing, for every
//! failing finding, the first remediation option that re-resolution confirms (see
//! `strata_core::drift::patch`). The diff goes to stdout, what it does to stderr.

use std::path::Path;
use std::sync::Arc;

use strata_core::drift::patch::{Repair, plan, unified_diff};
use strata_core::files::{CachedSource, ProjectSource};

use crate::error::CliError;
use crate::fs_source::DirSource;
use crate::output::emit;
use strata_core::drift::report::{Collected, Item};

/// Prints the patch; exit 1 when some failing finding has no repair.
pub(super) fn run(root: &Path, c: &Collected) -> Result<(), CliError> {
    let repairs: Vec<Repair> = c
        .items
        .iter()
        .filter_map(|i| i.repair.as_deref().cloned())
        .collect();
    // Every repair is checked by loading the project again: read each file once.
    let base: Arc<dyn ProjectSource> = Arc::new(CachedSource::new(Arc::new(DirSource::new(root))));
    let planned = plan(base, &repairs, &c.pairs).map_err(|e| CliError::Io(e.to_string()))?;
    // Paths from the repository's root, so `git apply` takes the patch there; a project
    // outside git keeps project-relative paths.
    let prefix = strata_store::git::work_tree_prefix(root).unwrap_or_default();
    emit(&unified_diff(&planned.changes, &prefix))?;

    let failing: Vec<&Item> = c.items.iter().filter(|i| i.class.fails()).collect();
    let undecided: Vec<String> = failing
        .iter()
        .filter_map(|i| i.about.as_deref().map(|a| (i, a)))
        .filter(|(i, a)| i.repair.is_none() || planned.unrepaired.contains(&a.id))
        .map(|(i, a)| {
            format!(
                "  {} {} ({} vs {}) [{}]",
                i.class.as_str(),
                a.param,
                a.reference,
                a.target,
                a.id
            )
        })
        .collect();
    eprintln!(
        "the patch repairs {} of {} failing findings, editing {} file(s); apply it with `git apply`",
        failing.len() - undecided.len(),
        failing.len(),
        planned.changes.len()
    );
    if undecided.is_empty() {
        Ok(())
    } else {
        eprintln!(
            "these need a decision (a distinct value, or `strata drift ack ID --reason …`):\n{}",
            undecided.join("\n")
        );
        Err(CliError::Findings)
    }
}
