//! The [`Store`] trait: what a database must do for Strata, and nothing more.
//!
//! Backends store bytes and rows; everything that understands projects (imports,
//! changesets, rebases, history, secrets) lives in [`crate::repo::Repository`] on top, so
//! SQLite and PostgreSQL behave identically and pass one conformance suite.

use crate::actual::ActualReport;
use crate::audit::{AuditBreak, AuditEntry, AuditFilter, NewAuditEntry, RawAuditHead, RawAuditRow};
use crate::error::StoreError;
use crate::model::{
    Commit, CommitOutcome, FileChange, Hash, LayerRefs, ParamChange, Revision, RevisionId,
};
use crate::requests::{Approval, ChangeRequest, NewRequest, RequestUpdate, StatusChange};
use crate::tokens::{NewToken, TokenRow};

/// One problem `fsck` found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FsckProblem {
    /// What is damaged: `blob …`, `revision …`, `HEAD`, `tag …`.
    pub object: String,
    /// What is wrong with it.
    pub problem: String,
}

/// A revision row exactly as stored (for `fsck`, which trusts nothing).
#[derive(Debug, Clone)]
pub struct RawRevision {
    /// The seq column.
    pub seq: i64,
    /// The id column (hex).
    pub id: String,
    /// The parent column (hex).
    pub parent: Option<String>,
    /// The canonical header.
    pub header: String,
}

/// The head and tags exactly as stored.
#[derive(Debug, Clone, Default)]
pub struct RawRefs {
    /// The head revision id (hex), `None` in an empty store.
    pub head: Option<String>,
    /// `(name, revision id hex)`.
    pub tags: Vec<(String, String)>,
}

/// Pushed news of commits made by any process sharing a store (see
/// [`Store::head_listener`]): a dedicated connection that waits for them.
pub trait HeadListener: Send {
    /// Waits up to `timeout` for commits. `Ok(true)`: the head may have moved — a commit
    /// was announced, or the listener has just (re)connected and may have missed some, so
    /// the caller should read the head again; `Ok(false)`: nothing within `timeout`;
    /// `Err`: the connection is lost (or could not be made). The next call connects again,
    /// so the caller decides how long to back off between failed calls.
    fn wait(&mut self, timeout: std::time::Duration) -> Result<bool, StoreError>;
}

/// A versioned, transactional store of revisions.
///
/// Every method is one transaction. Reads verify hashes and return
/// [`StoreError::Corrupt`] instead of damaged data.
pub trait Store: Send + Sync {
    /// `sqlite:PATH` or `postgres://HOST:PORT/DB` (never a password), for messages.
    fn describe(&self) -> String;

    /// The current head, verified.
    fn head(&self) -> Result<Option<Revision>, StoreError>;

    /// One revision, verified.
    fn revision(&self, id: &RevisionId) -> Result<Revision, StoreError>;

    /// The revision with sequence number `seq` on the head chain.
    fn revision_by_seq(&self, seq: u64) -> Result<Option<Revision>, StoreError>;

    /// Ids of revisions whose hex id starts with `prefix` (at most 2, enough to tell ambiguity).
    fn find_by_prefix(&self, prefix: &str) -> Result<Vec<RevisionId>, StoreError>;

    /// Revisions with `from <= seq <= to`, newest first, verified.
    fn revisions(&self, from: u64, to: u64) -> Result<Vec<Revision>, StoreError>;

    /// The revisions with these sequence numbers, verified, in the given order.
    fn revisions_by_seq(&self, seqs: &[u64]) -> Result<Vec<Revision>, StoreError>;

    /// A blob's bytes, verified against `hash`.
    fn blob(&self, hash: &Hash) -> Result<Vec<u8>, StoreError>;

    /// Several blobs at once (one round trip where the backend allows), each verified
    /// against its hash, in the order asked.
    fn blobs(&self, hashes: &[Hash]) -> Result<Vec<Vec<u8>>, StoreError>;

    /// Revisions that changed `param` or a parameter under it (see
    /// [`Store::param_history`]), newest first, at most `limit`, verified.
    fn param_log(&self, param: &str, limit: usize) -> Result<Vec<Revision>, StoreError>;

    /// Which of `hashes` the store does not hold yet.
    fn missing_blobs(&self, hashes: &[Hash]) -> Result<Vec<Hash>, StoreError>;

    /// Rewrites stored blobs among `blobs` whose stored bytes differ from the given ones
    /// (damage found by `fsck`): re-importing the same content from git repairs them.
    /// Returns how many were repaired.
    fn repair_blobs(&self, blobs: &[(Hash, &[u8])]) -> Result<usize, StoreError>;

    /// Writes a commit if the head is still `commit.expected_head`: blobs, revision, index
    /// rows, the head move, the audit entries (`commit.audit`) and the change request's
    /// status (`commit.request`) land together or not at all.
    fn commit(&self, commit: &Commit) -> Result<CommitOutcome, StoreError>;

    /// A listener told of every commit (by any process) as it lands, for servers that
    /// follow the head; `None` when the backend cannot push (SQLite: callers poll
    /// [`Store::head`]). Opening it makes no connection yet: the first
    /// [`HeadListener::wait`] does.
    fn head_listener(&self) -> Option<Box<dyn HeadListener>> {
        None
    }

    /// Files changed by revision `seq`.
    fn file_changes(&self, seq: u64) -> Result<Vec<FileChange>, StoreError>;

    /// The layer files that reference other services in revision `seq`, with the services
    /// each references (the reference index). `None` when the index does not cover `seq`:
    /// a store whose revisions predate the index; callers then read the files.
    fn layer_refs(&self, seq: u64) -> Result<Option<Vec<LayerRefs>>, StoreError>;

    /// Parameter rows of revisions `after < seq <= upto`, with their seq.
    fn param_changes_between(
        &self,
        after: u64,
        upto: u64,
    ) -> Result<Vec<(u64, ParamChange)>, StoreError>;

    /// Sequence numbers (ascending) of revisions that changed `param` or a parameter under
    /// it (`service:path`, or `service:` for the whole service).
    fn param_history(&self, param: &str) -> Result<Vec<u64>, StoreError>;

    /// Sequence numbers (ascending) of revisions that changed a file outside directory
    /// `dir` (e.g. `layers/`: changes to `strata.yaml`, schemas, providers).
    fn file_history_outside(&self, dir: &str) -> Result<Vec<u64>, StoreError>;

    /// Points tag `name` at `id` (replacing an existing one only when `force`).
    fn set_tag(&self, name: &str, id: &RevisionId, force: bool) -> Result<(), StoreError>;

    /// All tags, sorted by name.
    fn tags(&self) -> Result<Vec<(String, RevisionId)>, StoreError>;

    /// Calls `f` with every stored blob's recorded hash (as stored text) and bytes, for
    /// `fsck`; no verification is done here.
    fn scan_blobs(&self, f: &mut dyn FnMut(&str, &[u8])) -> Result<(), StoreError>;

    /// Every revision row as stored, by ascending seq, for `fsck`.
    fn scan_revisions(&self) -> Result<Vec<RawRevision>, StoreError>;

    /// The head and the tags as stored (unverified text), for `fsck`.
    fn scan_refs(&self) -> Result<RawRefs, StoreError>;

    // ---- Audit log ----

    /// Appends `entries` in one transaction: reads the chain's head, gives them the next
    /// sequence numbers and chains their hashes (see [`crate::audit`]). Concurrent
    /// appenders (threads, processes, servers) are serialised, so the chain never forks.
    /// Returns the stored entries.
    fn audit_append(&self, entries: &[NewAuditEntry]) -> Result<Vec<AuditEntry>, StoreError>;

    /// Entries matching `filter`, by seq (oldest first unless `filter.newest_first`).
    /// Each is checked against its own hash; a modified entry is
    /// [`StoreError::Corrupt`], never served.
    fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError>;

    /// Calls `f` with every audit row as stored, by ascending seq, until it returns
    /// `false`, and returns the chain's recorded head, read in the same snapshot (so rows
    /// appended meanwhile are not seen). Nothing is verified here: see
    /// [`crate::audit::Verifier`] and [`Store::audit_verify`].
    fn audit_scan(
        &self,
        f: &mut dyn FnMut(&RawAuditRow) -> bool,
    ) -> Result<RawAuditHead, StoreError>;

    /// The store's random 32-byte audit key for [`crate::audit::secret_digest`], made on
    /// first use.
    fn audit_key(&self) -> Result<[u8; 32], StoreError>;

    /// Verifies the whole audit chain. `Ok(Ok(n))`: `n` sound entries; `Ok(Err(b))`:
    /// tampered, `b` names the first bad seq; `Err`: the store could not be read.
    fn audit_verify(&self) -> Result<Result<u64, AuditBreak>, StoreError> {
        let mut v = crate::audit::Verifier::new();
        let head = self.audit_scan(&mut |row| v.push(row).is_ok())?;
        Ok(v.finish(Some(&head)))
    }

    // ---- API tokens ----

    /// Records a token (its hash only) with `audit` entries, in one transaction.
    /// [`StoreError::Exists`] when the id or the hash is taken.
    fn token_create(
        &self,
        token: &NewToken,
        audit: &[NewAuditEntry],
    ) -> Result<Vec<AuditEntry>, StoreError>;

    /// The token whose hash is `hash`, revoked and expired ones included (see
    /// [`TokenRow::state`]).
    fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRow>, StoreError>;

    /// Every token, by creation time then id (no hashes).
    fn token_list(&self) -> Result<Vec<TokenRow>, StoreError>;

    /// Revokes token `id` at `time_ms` with `audit` entries, in one transaction. Revoking
    /// a revoked token keeps its first revocation time. [`StoreError::NotFound`] for an
    /// unknown id.
    fn token_revoke(
        &self,
        id: &str,
        time_ms: i64,
        audit: &[NewAuditEntry],
    ) -> Result<(TokenRow, Vec<AuditEntry>), StoreError>;

    // ---- Change requests ----

    /// Records a `pending` change request with `audit` entries (the proposal), in one
    /// transaction. [`StoreError::Exists`] when the id is taken.
    fn request_create(
        &self,
        request: &NewRequest,
        audit: &[NewAuditEntry],
    ) -> Result<Vec<AuditEntry>, StoreError>;

    /// One change request with its approvals.
    fn request_get(&self, id: &str) -> Result<Option<ChangeRequest>, StoreError>;

    /// Change requests by creation time then id; with `open_only`, only those still
    /// pending or approved (not applied, rejected, expired or conflicted).
    fn request_list(&self, open_only: bool) -> Result<Vec<ChangeRequest>, StoreError>;

    /// Adds an approval and/or changes the status of request `id`, and appends `audit`,
    /// in one transaction (see [`RequestUpdate`] for what is refused). Returns the request
    /// as updated and the entries.
    fn request_update(
        &self,
        id: &str,
        update: &RequestUpdate,
        audit: &[NewAuditEntry],
    ) -> Result<(ChangeRequest, Vec<AuditEntry>), StoreError>;

    /// Adds `principal`'s approval to request `id` (once per principal; never its
    /// author's; only while open).
    fn request_add_approval(
        &self,
        id: &str,
        principal: &str,
        time_ms: i64,
    ) -> Result<ChangeRequest, StoreError> {
        let update = RequestUpdate {
            approval: Some(Approval {
                principal: principal.to_string(),
                time_ms,
            }),
            status: None,
        };
        Ok(self.request_update(id, &update, &[])?.0)
    }

    /// Changes request `id`'s status if it is `change.from` now.
    fn request_set_status(
        &self,
        id: &str,
        change: &StatusChange,
    ) -> Result<ChangeRequest, StoreError> {
        let update = RequestUpdate {
            approval: None,
            status: Some(change.clone()),
        };
        Ok(self.request_update(id, &update, &[])?.0)
    }

    // ---- Reports of running systems ----

    /// Keeps `report` as the latest of its (target, service), replacing the one before.
    /// The caller has removed secret values; [`StoreError::Invalid`] for a report without
    /// a target, service or principal, or whose digest is not its configuration's.
    fn actual_put(&self, report: &ActualReport) -> Result<(), StoreError>;

    /// The latest report of `service` on `target`, checked against its digest
    /// ([`StoreError::Corrupt`] when it does not match).
    fn actual_get(&self, target: &str, service: &str) -> Result<Option<ActualReport>, StoreError>;
}

/// How the index rows under a parameter are found: `param` itself, `param.…` and
/// `param[…`, or every `service:…` when `param` ends with `:`. Shared by the backends so
/// they match parameters identically, as one exact key and two `[lo, hi)` byte ranges
/// (`.`+1 is `/`, `[`+1 is `\`, `:`+1 is `;`).
pub(crate) fn param_query(param: &str) -> (String, [(String, String); 2]) {
    if let Some(service) = param.strip_suffix(':') {
        let r = (format!("{service}:"), format!("{service};"));
        return (String::new(), [r.clone(), r]);
    }
    (
        param.to_string(),
        [
            (format!("{param}."), format!("{param}/")),
            (format!("{param}["), format!("{param}\\")),
        ],
    )
}

/// The exclusive upper bound of paths under directory `dir` (which ends with `/`).
pub(crate) fn dir_end(dir: &str) -> String {
    let mut s = dir.trim_end_matches('/').to_string();
    s.push('0');
    s
}

/// Checks fetched blob bytes against their hash.
pub(crate) fn verified(hash: &Hash, data: Option<Vec<u8>>) -> Result<Vec<u8>, StoreError> {
    let data = data.ok_or_else(|| StoreError::Corrupt {
        what: format!("blob {} (missing)", &hash.to_hex()[..12]),
    })?;
    if Hash::of(&data) != *hash {
        return Err(StoreError::Corrupt {
            what: format!("blob {}", &hash.to_hex()[..12]),
        });
    }
    Ok(data)
}
