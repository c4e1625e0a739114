//! Preparing a store to serve: what `strata demo` and the tests share.

use std::collections::BTreeMap;

use strata_store::StoreError;
use strata_store::audit::NewAuditEntry;
use strata_store::model::CommitMeta;
use strata_store::repo::{CommitExtras, ImportOutcome, Repository};

/// Why seeding failed.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The store refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No token could be generated.
    #[error("cannot make a token: {0}")]
    Token(#[from] strata_auth::token::TokenError),
}

/// Every file under `dir`, by `/`-separated path relative to it (a project to import).
pub fn read_dir(dir: &std::path::Path) -> std::io::Result<BTreeMap<String, Vec<u8>>> {
    fn walk(
        root: &std::path::Path,
        dir: &std::path::Path,
        out: &mut BTreeMap<String, Vec<u8>>,
    ) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(root, &path, out)?;
            } else if let Ok(rel) = path.strip_prefix(root) {
                let rel = rel.to_string_lossy().replace('\\', "/");
                out.insert(rel, std::fs::read(&path)?);
            }
        }
        Ok(())
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out)?;
    Ok(out)
}

/// Imports `files` (path → bytes) as a revision by `principal`, audited.
pub fn import(
    repo: &Repository,
    files: BTreeMap<String, Vec<u8>>,
    principal: &str,
    message: &str,
) -> Result<ImportOutcome, SeedError> {
    let now = crate::now_ms();
    let meta = CommitMeta {
        author: principal.to_string(),
        message: message.to_string(),
        timestamp_ms: now,
        source: None,
        labels: BTreeMap::new(),
    };
    let extras = CommitExtras {
        audit: vec![NewAuditEntry::new(now, principal, "import", "")],
        request: None,
    };
    Ok(repo.import_with(files, meta, &extras)?)
}

/// Creates an API token for `principal` on behalf of `by` (audited) and returns its text,
/// to be shown once.
pub fn create_token(
    repo: &Repository,
    principal: &str,
    by: &str,
) -> Result<strata_auth::token::SecretText, SeedError> {
    let issued = crate::tokens_api::issue(repo, principal, None, by, None, crate::now_ms())?;
    Ok(issued.secret)
}

/// Makes a store at `store` (a SQLite path or PostgreSQL URL) holding the project in
/// `dir`, imported by `seed-admin`, and returns a new token for `principal`.
pub fn store_with(
    dir: &std::path::Path,
    store: &str,
    principal: &str,
) -> Result<strata_auth::token::SecretText, SeedError> {
    let repo = strata_store::repo::open(store)?;
    let files = read_dir(dir).map_err(|e| {
        StoreError::Invalid(format!("cannot read the project {}: {e}", dir.display()))
    })?;
    import(&repo, files, "seed-admin", "seed")?;
    create_token(&repo, principal, "seed-admin")
}
