//! `strata export`: write a revision's project files back out, so operational changes
//! made in the store can go back into git.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use strata_core::files::ProjectSource;

use super::store_opts::{StoreOpts, rev_name};
use crate::error::CliError;
use crate::fs_source::DirSource;
use crate::replace_dir_atomically;

/// Arguments of `strata export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Where to write the project (created if missing). An existing project directory, such
    /// as your git checkout, is updated in place: every file of the revision is written and
    /// project files the revision does not have are removed; `.git` and `.strata` are kept.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,

    /// The revision to export (default: the head).
    #[arg(long, value_name = "REV", default_value = "HEAD")]
    rev: String,

    #[command(flatten)]
    store: StoreOpts,
}

/// Runs `strata export`.
pub fn run(root: &Path, args: ExportArgs) -> Result<(), CliError> {
    let repo = args.store.open_existing(root)?;
    let rev = repo.resolve_rev(&args.rev).map_err(CliError::from_store)?;
    let files = repo.files(&rev).map_err(CliError::from_store)?;
    let out = &args.out;
    if out.exists() && !out.is_dir() {
        return Err(CliError::Usage(format!(
            "--out {} is a file, not a directory",
            out.display()
        )));
    }
    let empty = !out.exists()
        || std::fs::read_dir(out)
            .map_err(|e| CliError::io(out, e))?
            .next()
            .is_none();
    if empty {
        replace_dir_atomically(out, |tmp| write_all(tmp, &files))?;
    } else {
        update_in_place(out, &files)?;
    }
    println!(
        "exported revision {} ({} files) to {}",
        rev_name(&rev),
        files.len(),
        out.display()
    );
    Ok(())
}

fn write_all(dir: &Path, files: &BTreeMap<String, Arc<[u8]>>) -> Result<(), CliError> {
    for (rel, bytes) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| CliError::io(parent, e))?;
        }
        std::fs::write(&path, bytes).map_err(|e| CliError::io(&path, e))?;
    }
    Ok(())
}

/// Updates an existing directory so its project files equal `files`: everything is first
/// staged beside it; then files are swapped in with the replaced ones kept aside, so a
/// failure puts every file back as it was.
fn update_in_place(out: &Path, files: &BTreeMap<String, Arc<[u8]>>) -> Result<(), CliError> {
    let stage = out.join(format!(".strata-export-new-{}", std::process::id()));
    let backup = out.join(format!(".strata-export-old-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&stage);
    let _ = std::fs::remove_dir_all(&backup);
    let cleanup = || {
        let _ = std::fs::remove_dir_all(&stage);
        let _ = std::fs::remove_dir_all(&backup);
    };
    if let Err(e) = write_all(&stage, files) {
        cleanup();
        return Err(e);
    }
    let current = DirSource::new(out.to_path_buf())
        .list_all()
        .map_err(|e| CliError::Io(format!("cannot list {}: {}", out.display(), e.message)))?;
    let stale: Vec<&String> = current
        .iter()
        .filter(|p| !files.contains_key(*p) && !p.starts_with(".strata-export-"))
        .collect();
    // (path, whether it existed before) for every swap done so far.
    let mut done: Vec<(String, bool)> = Vec::new();
    let result = (|| -> Result<(), CliError> {
        for rel in files
            .keys()
            .map(String::as_str)
            .chain(stale.iter().map(|s| s.as_str()))
        {
            let target = out.join(rel);
            let existed = target.exists();
            if existed {
                let keep = backup.join(rel);
                if let Some(p) = keep.parent() {
                    std::fs::create_dir_all(p).map_err(|e| CliError::io(p, e))?;
                }
                std::fs::rename(&target, &keep).map_err(|e| CliError::io(&target, e))?;
            }
            done.push((rel.to_string(), existed));
            if files.contains_key(rel) {
                if let Some(p) = target.parent() {
                    std::fs::create_dir_all(p).map_err(|e| CliError::io(p, e))?;
                }
                std::fs::rename(stage.join(rel), &target).map_err(|e| CliError::io(&target, e))?;
            }
        }
        Ok(())
    })();
    if let Err(e) = result {
        for (rel, existed) in done.into_iter().rev() {
            let target = out.join(&rel);
            let _ = std::fs::remove_file(&target);
            if existed {
                let _ = std::fs::rename(backup.join(&rel), &target);
            }
        }
        cleanup();
        return Err(e);
    }
    cleanup();
    Ok(())
}
