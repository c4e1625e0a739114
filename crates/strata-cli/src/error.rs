//! CLI errors and their exit codes: 0 ok, 1 invalid configuration, 2 usage or I/O error,
//! 3 conflict, 4 denied by the access policy.

use std::fmt;

use std::path::Path;
use std::sync::Arc;

use strata_core::error::Diagnostic;
use strata_core::files::SourceError;
use strata_core::resolve::{ProjectError, ResolveError};

/// A failed command, rendered for a human on stderr.
#[derive(Debug)]
pub enum CliError {
    /// The configuration is invalid (exit 1).
    Invalid(String),
    /// The command was used wrongly or named something that does not exist (exit 2).
    Usage(String),
    /// Reading or writing files failed (exit 2).
    Io(String),
    /// Whoever read stdout closed it early (`strata resolve … | head`): stop quietly, exit 0.
    BrokenPipe,
    /// A check found problems at or above `--fail-on`; the report already says which (exit 1).
    Findings,
    /// A changeset conflicts with changes made since its base revision (exit 3): look at
    /// the new head and try again.
    Conflict(String),
    /// The access policy denies what was asked (exit 4); the message names the rule.
    Denied(String),
}

impl CliError {
    /// The process exit code.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::BrokenPipe => 0,
            CliError::Invalid(_) | CliError::Findings => 1,
            CliError::Usage(_) | CliError::Io(_) => 2,
            CliError::Conflict(_) => 3,
            CliError::Denied(_) => 4,
        }
    }

    /// An I/O error about `path`.
    pub fn io(path: &std::path::Path, e: impl fmt::Display) -> Self {
        CliError::Io(format!("{}: {e}", path.display()))
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Invalid(m)
            | CliError::Usage(m)
            | CliError::Io(m)
            | CliError::Conflict(m)
            | CliError::Denied(m) => f.write_str(m),
            CliError::BrokenPipe => f.write_str("stdout was closed"),
            CliError::Findings => f.write_str("the check found problems"),
        }
    }
}

/// Shows a project-relative path as the user can open it from the current directory.
pub fn display_path(root: &Path, rel: &str) -> String {
    if root == Path::new(".") || root.as_os_str().is_empty() {
        rel.to_string()
    } else {
        root.join(rel).display().to_string()
    }
}

/// An unreadable file, with its path as seen from the current directory.
fn unreadable(e: &SourceError, root: &Path) -> CliError {
    // A stored revision's file that fails its hash check is damaged data (exit 1).
    if e.message.starts_with("store corruption") {
        return CliError::Invalid(format!("{}: {}", e.path, e.message));
    }
    CliError::Io(format!(
        "cannot read {}: {}",
        display_path(root, &e.path),
        e.message
    ))
}

fn relocate(d: &Diagnostic, root: &Path) -> String {
    let mut d = d.clone();
    d.path = Arc::from(display_path(root, &d.path));
    d.to_string()
}

impl CliError {
    /// Renders a project-loading error, with file paths as seen from the current directory.
    pub fn from_project(e: ProjectError, root: &Path) -> Self {
        match e {
            ProjectError::Invalid(d) => CliError::Invalid(relocate(&d, root)),
            ProjectError::NotAProject { .. } => CliError::Usage(e.to_string()),
            ProjectError::Source(s) => unreadable(&s, root),
        }
    }

    /// Renders a resolution error, with file paths as seen from the current directory.
    pub fn from_resolve(e: ResolveError, root: &Path) -> Self {
        match e {
            ResolveError::Invalid(d) => CliError::Invalid(relocate(&d, root)),
            ResolveError::UnknownService { .. }
            | ResolveError::UnknownTarget { .. }
            | ResolveError::UnknownEnvironment { .. }
            | ResolveError::NothingSelected { .. } => CliError::Usage(e.to_string()),
            ResolveError::Source(s) => unreadable(&s, root),
        }
    }

    /// Renders a store error: conflicts exit 3; invalid or damaged data 1; the rest 2.
    pub fn from_store(e: strata_store::StoreError) -> Self {
        use strata_store::StoreError as S;
        match e {
            S::Conflict(_) => CliError::Conflict(e.to_string()),
            S::Corrupt { .. } | S::Project(_) => CliError::Invalid(e.to_string()),
            S::Backend { .. } | S::TooNew { .. } | S::Git(_) => CliError::Io(e.to_string()),
            S::Invalid(_)
            | S::UnknownRevision { .. }
            | S::Empty
            | S::TagExists { .. }
            | S::NotFound { .. }
            | S::Exists { .. }
            | S::DuplicateApproval { .. }
            | S::RequestState { .. }
            | S::Crypto(_) => CliError::Usage(e.to_string()),
            S::SelfApproval { .. } => CliError::Denied(e.to_string()),
        }
    }

    /// Renders the errors of several services at once.
    pub fn from_resolve_all(errors: Vec<ResolveError>, root: &Path) -> Self {
        let count = errors.len();
        let rendered: Vec<CliError> = errors
            .into_iter()
            .map(|e| Self::from_resolve(e, root))
            .collect();
        let code = rendered.iter().map(CliError::exit_code).min().unwrap_or(2);
        let text = rendered
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n");
        let text = if count > 1 {
            format!("{count} services failed to resolve:\n{text}")
        } else {
            text
        };
        if code == 1 {
            CliError::Invalid(text)
        } else {
            CliError::Usage(text)
        }
    }
}
