//! `strata fsck`: verify every blob, manifest, revision and reference of a store.

use std::path::Path;

use clap::Args;

use super::store_opts::StoreOpts;
use crate::error::CliError;
use crate::output::emit;

/// Arguments of `strata fsck`.
#[derive(Debug, Args)]
pub struct FsckArgs {
    /// Print JSON.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    store: StoreOpts,
}

/// Runs `strata fsck`: exit 0 when sound, 1 when damage was found.
pub fn run(root: &Path, args: FsckArgs) -> Result<(), CliError> {
    let repo = args.store.open_existing(root)?;
    let problems = strata_store::fsck::fsck(repo.store()).map_err(CliError::from_store)?;
    if args.json {
        emit(&format!(
            "{}\n",
            serde_json::json!({"store": repo.store().describe(), "ok": problems.is_empty(), "problems": problems})
        ))?;
    } else if problems.is_empty() {
        emit(&format!("{}: ok\n", repo.store().describe()))?;
    } else {
        let mut out = format!(
            "{}: {} problem{}\n",
            repo.store().describe(),
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        );
        for p in &problems {
            out.push_str(&format!("  {}: {}\n", p.object, p.problem));
        }
        out.push_str("hint: damaged data is never served; recover with `strata import --git REV` (re-import from git) or `strata revert-to REV` (a sound revision)\n");
        emit(&out)?;
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(CliError::Findings)
    }
}
