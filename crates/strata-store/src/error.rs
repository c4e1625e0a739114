//! Errors of the store, typed so callers can match on them; the CLI renders them.

use crate::model::RevisionId;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or answered with an error.
    #[error("store {store}: {message}")]
    Backend {
        /// Which store (`sqlite:PATH` or `postgres://HOST/DB`, never a password).
        store: String,
        /// The database's own message.
        message: String,
    },
    /// The store was written by a newer Strata than this binary.
    #[error(
        "store {store} has schema version {found}, but this strata understands versions up to {supported}; upgrade strata to use it"
    )]
    TooNew {
        /// Which store.
        store: String,
        /// The version found in the store.
        found: i64,
        /// The newest version this binary knows.
        supported: i64,
    },
    /// Stored data does not match its hash: it was damaged after it was written.
    #[error(
        "store corruption: {what} does not match its hash; nothing damaged was served. Run `strata fsck`, then re-import from git or `strata revert-to` a sound revision"
    )]
    Corrupt {
        /// What is damaged (`blob 3fa2…`, `revision 91c0…`, `manifest of revision …`).
        what: String,
    },
    /// A revision spec names no revision.
    #[error("no revision `{spec}`{hint}")]
    UnknownRevision {
        /// What the user wrote.
        spec: String,
        /// Extra help (`: ambiguous prefix …`).
        hint: String,
    },
    /// The store holds no revision yet.
    #[error("the store is empty: run `strata import` first")]
    Empty,
    /// A tag name is already used.
    #[error("tag `{name}` already names revision {target}; pass --force to move it")]
    TagExists {
        /// The tag.
        name: String,
        /// Where it points now.
        target: RevisionId,
    },
    /// A request is invalid (bad tag name, bad changeset, …).
    #[error("{0}")]
    Invalid(String),
    /// The project in a revision or an import cannot be used.
    #[error("{0}")]
    Project(String),
    /// A changeset conflicts with changes made since its base revision.
    #[error("{}", conflict_message(.0))]
    Conflict(Vec<Conflict>),
    /// No token or change request has this id.
    #[error("no {kind} `{id}`")]
    NotFound {
        /// `token` or `change request`.
        kind: &'static str,
        /// The id asked for.
        id: String,
    },
    /// A token or change request with this id (or a token with this hash) exists.
    #[error("{kind} `{id}` already exists")]
    Exists {
        /// `token`, `token hash` or `change request`.
        kind: &'static str,
        /// The id given (never a token hash: `<hidden>` then).
        id: String,
    },
    /// A principal approved the same change request twice.
    #[error("{principal} has already approved change request `{request}`")]
    DuplicateApproval {
        /// The request.
        request: String,
        /// Who approved again.
        principal: String,
    },
    /// The author of a change request tried to approve it.
    #[error(
        "{principal} cannot approve change request `{request}`: nobody approves their own change"
    )]
    SelfApproval {
        /// The request.
        request: String,
        /// Its author.
        principal: String,
    },
    /// A change request is not in the status an update expects (someone else changed it,
    /// or it is closed).
    #[error("change request `{id}` is {found}, not {}", status_list(.expected))]
    RequestState {
        /// The request.
        id: String,
        /// Its status now.
        found: crate::requests::RequestStatus,
        /// What the update expected.
        expected: Vec<crate::requests::RequestStatus>,
    },
    /// Encryption or decryption failed.
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
    /// Reading a git repository failed.
    #[error(transparent)]
    Git(#[from] crate::git::GitError),
}

/// One parameter that both a changeset and a concurrent revision changed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Conflict {
    /// `service:path`.
    pub param: String,
    /// The layer file both changed.
    pub file: String,
    /// The value the changeset wants (`<redacted>` for secrets, `(unset)` when removing).
    pub ours: String,
    /// The value now at the head (`<redacted>` for secrets, `(absent)` when removed).
    pub theirs: String,
    /// The revision that changed it since the changeset's base.
    pub changed_in: RevisionId,
}

fn status_list(statuses: &[crate::requests::RequestStatus]) -> String {
    let names: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    names.join(" or ")
}

fn conflict_message(conflicts: &[Conflict]) -> String {
    let mut s = format!(
        "conflict: {} parameter{} changed since the changeset's base revision",
        conflicts.len(),
        if conflicts.len() == 1 { "" } else { "s" }
    );
    for c in conflicts {
        s.push_str(&format!(
            "\n  {} in {}: yours {}, head has {} (changed in {})",
            c.param,
            c.file,
            c.ours,
            c.theirs,
            c.changed_in.short()
        ));
    }
    s.push_str("\nhint: look at the new values with `strata log --param …`, then edit against the current head (drop --base or name the head)");
    s
}

impl StoreError {
    /// A backend error from any displayable database error.
    pub fn backend(store: &str, err: impl std::fmt::Display) -> StoreError {
        StoreError::Backend {
            store: store.to_string(),
            message: err.to_string(),
        }
    }
}
