//! One module per subcommand.

pub mod access;
pub mod audit;
pub mod changes;
pub mod check;
pub mod drift;
pub mod export;
pub mod fsck;
pub mod gen_cmd;
pub mod get;
pub mod history;
pub mod import;
pub mod init;
pub mod list;
pub mod providers;
pub mod render;
pub mod requests;
pub mod resolve;
pub mod schema;
pub mod secrets;
pub mod serve;
pub mod store_opts;

use std::path::Path;
use std::sync::Arc;

use strata_core::resolve::Project;

use crate::error::CliError;
use crate::fs_source::DirSource;

/// Loads the project at `root`.
pub fn load_project(root: &Path) -> Result<Project, CliError> {
    if !root.is_dir() {
        return Err(CliError::Usage(format!(
            "project directory {} does not exist\n  hint: pass --project DIR or set STRATA_PROJECT",
            root.display()
        )));
    }
    Project::load(Arc::new(DirSource::new(root))).map_err(|e| CliError::from_project(e, root))
}

/// Loads the project at `root`, or the stored revision `rev` of its store.
pub fn load_project_or_rev(
    root: &Path,
    rev: Option<&str>,
    store: &store_opts::StoreOpts,
) -> Result<Project, CliError> {
    match rev {
        None => load_project(root),
        Some(spec) => {
            let repo = store.open_existing(root)?;
            let rev = repo.resolve_rev(spec).map_err(CliError::from_store)?;
            repo.project(&rev).map_err(CliError::from_store)
        }
    }
}
