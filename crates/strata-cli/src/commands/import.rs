//! `strata import`: store the working tree, or a git commit, as a new revision.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Args;
use strata_core::access::Action;
use strata_core::files::ProjectSource;
use strata_store::audit::NewAuditEntry;
use strata_store::repo::{CommitExtras, ImportOutcome};

use super::store_opts::{StoreOpts, now_ms, rev_name};
use crate::error::CliError;
use crate::fs_source::DirSource;
use crate::guard::Guard;

/// Arguments of `strata import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Import this commit (any git revision: HEAD, a branch, a tag, a hash) read straight
    /// from the repository; no checkout is needed. Without it, the working tree.
    #[arg(long, value_name = "REV")]
    git: Option<String>,

    /// The revision message (default: the commit's message, or "import working tree").
    #[arg(long, short = 'm', value_name = "M")]
    message: Option<String>,

    #[command(flatten)]
    store: StoreOpts,
}

/// Runs `strata import`.
pub fn run(root: &Path, args: ImportArgs) -> Result<(), CliError> {
    if !root.is_dir() {
        return Err(CliError::Usage(format!(
            "project directory {} does not exist\n  hint: pass --project DIR",
            root.display()
        )));
    }
    let (files, mut meta) = match &args.git {
        Some(rev) => {
            let snap = strata_store::git::read_commit(root, rev)
                .map_err(|e| CliError::from_store(e.into()))?;
            let mut meta = args.store.meta(snap.message.clone());
            meta.author = snap.author.clone();
            meta.timestamp_ms = snap.time_unix.saturating_mul(1000);
            meta.source = Some(snap.commit.clone());
            (snap.files, meta)
        }
        None => (
            read_tree(root)?,
            args.store.meta("import working tree".into()),
        ),
    };
    if let Some(m) = args.message {
        meta.message = m;
    }
    let repo = args.store.open(root)?;
    // Importing replaces whole files: with a policy at the head it takes `admin`. The
    // first import of an empty store has no policy to ask yet.
    let mut open_note = false;
    let entry = match repo.head() {
        Ok(_) => {
            let guard = Guard::new(&repo)?;
            let rule = guard.require_everywhere(Action::Admin, "import")?;
            let mut e = guard.entry("import", "");
            e.rule = Some(rule);
            e
        }
        Err(strata_store::StoreError::Empty) => {
            open_note = !files.contains_key(strata_core::access::AccessPolicy::PATH);
            NewAuditEntry::new(now_ms(), &crate::guard::bootstrap_principal(), "import", "")
        }
        Err(e) => return Err(CliError::from_store(e)),
    };
    let extras = CommitExtras {
        audit: vec![entry],
        request: None,
    };
    let outcome = repo
        .import_with(files, meta, &extras)
        .map_err(CliError::from_store)?;
    if open_note {
        // Said once, when the store is made: a project without a policy is open.
        eprintln!(
            "note: the project has no {}: anyone may change the store (docs/access.md)",
            strata_core::access::AccessPolicy::PATH
        );
    }
    match outcome {
        ImportOutcome::Committed(rev) => {
            let changed = repo
                .store()
                .file_changes(rev.seq)
                .map_err(CliError::from_store)?
                .len();
            println!(
                "revision {} ({changed} file{} changed)",
                rev_name(&rev),
                if changed == 1 { "" } else { "s" }
            );
        }
        ImportOutcome::Unchanged(rev) => {
            println!(
                "unchanged: the head {} already has this content",
                rev_name(&rev)
            );
        }
    }
    Ok(())
}

/// Every file of the working tree (skipping `.git` and `.strata`).
pub(crate) fn read_tree(root: &Path) -> Result<BTreeMap<String, Vec<u8>>, CliError> {
    let src = DirSource::new(PathBuf::from(root));
    let io = |e: strata_core::files::SourceError| {
        CliError::Io(format!(
            "cannot read {}: {}",
            root.join(&e.path).display(),
            e.message
        ))
    };
    let mut files = BTreeMap::new();
    for path in src.list_all().map_err(io)? {
        if let Some(bytes) = src.read(&path).map_err(io)? {
            files.insert(path, bytes.to_vec());
        }
    }
    Ok(files)
}
