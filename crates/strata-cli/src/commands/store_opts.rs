//! Options shared by the commands that use the store, and how to render revisions.

use std::path::Path;

use clap::Args;
use strata_store::Repository;
use strata_store::model::{CommitMeta, Revision};

use crate::error::CliError;

/// Where the store is and who is writing.
#[derive(Debug, Clone, Args)]
pub struct StoreOpts {
    /// The store: a SQLite file, or `postgres://user@host:port/db`.
    /// Default: .strata/store.db in the project.
    #[arg(long, env = "STRATA_STORE", value_name = "PATH|URL")]
    pub store: Option<String>,

    /// Who makes the change (default: $STRATA_AUTHOR, else $USER).
    #[arg(long, env = "STRATA_AUTHOR", value_name = "NAME")]
    pub author: Option<String>,

    /// A label for the revision this command makes, e.g. `--label ticket=OPS-12`
    /// (repeatable; shown by `strata show`).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
}

impl StoreOpts {
    /// Opens (creating when missing) the store of the project at `root`.
    pub fn open(&self, root: &Path) -> Result<Repository, CliError> {
        self.check_labels()?;
        strata_store::open(&self.location(root)).map_err(CliError::from_store)
    }

    /// Opens a store that must already exist (every command but `import`): a mistyped
    /// `--store` path must not create an empty store and report on it.
    pub fn open_existing(&self, root: &Path) -> Result<Repository, CliError> {
        self.check_labels()?;
        let location = self.location(root);
        require_existing(&location)?;
        strata_store::open(&location).map_err(CliError::from_store)
    }

    fn location(&self, root: &Path) -> String {
        store_location(self.store.as_deref(), root)
    }

    /// Metadata for a new revision made now.
    pub fn meta(&self, message: String) -> CommitMeta {
        CommitMeta {
            author: self.author_name(),
            message,
            timestamp_ms: now_ms(),
            source: None,
            labels: self
                .labels
                .iter()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect(),
        }
    }

    /// Refuses labels that are not `KEY=VALUE` with a non-empty key.
    pub fn check_labels(&self) -> Result<(), CliError> {
        for l in &self.labels {
            match l.split_once('=') {
                Some((k, _)) if !k.trim().is_empty() => {}
                _ => {
                    return Err(CliError::Usage(format!(
                        "--label {l:?}: write KEY=VALUE, e.g. --label ticket=OPS-12"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The author: --author, $STRATA_AUTHOR (via clap), $USER, or `unknown`.
    pub fn author_name(&self) -> String {
        self.author
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .filter(|a| !a.trim().is_empty())
            .unwrap_or_else(|| "unknown".into())
    }
}

/// The store's location: `store` (`--store`), else `.strata/store.db` in the project.
pub fn store_location(store: Option<&str>, root: &Path) -> String {
    match store {
        Some(s) => s.to_string(),
        None => root.join(".strata").join("store.db").display().to_string(),
    }
}

/// Refuses a SQLite store that does not exist: a mistyped `--store` path must not create
/// an empty store.
pub fn require_existing(location: &str) -> Result<(), CliError> {
    let is_url = location.starts_with("postgres://") || location.starts_with("postgresql://");
    let path = Path::new(location.strip_prefix("sqlite:").unwrap_or(location));
    if !is_url && !path.exists() {
        return Err(CliError::Usage(format!(
            "no store at {}: run `strata import` first (or pass --store PATH|URL)",
            path.display()
        )));
    }
    Ok(())
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `YYYY-MM-DD HH:MM` (UTC) of a Unix time in milliseconds.
pub fn format_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let rem = secs.rem_euclid(86_400);
    format!(
        "{} {:02}:{:02}",
        strata_core::drift::policy::PolicyDate::from_unix_days(secs.div_euclid(86_400)),
        rem / 3600,
        (rem % 3600) / 60
    )
}

/// `#12 3fa2c1d4e5b6` — how a revision is named in messages.
pub fn rev_name(r: &Revision) -> String {
    format!("#{} {}", r.seq, r.id.short())
}

/// The first line of a message.
pub fn subject(message: &str) -> &str {
    message.lines().next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_times() {
        assert_eq!(format_time(0), "1970-01-01 00:00");
        assert_eq!(format_time(1_795_311_000_000), "2026-11-22 01:30");
        assert_eq!(format_time(951_782_400_000), "2000-02-29 00:00");
    }
}
