//! The embedded default backend: one SQLite file in WAL mode (`.strata/store.db`).
//!
//! Writers serialise on `BEGIN IMMEDIATE` (waiting up to a minute for the lock), so
//! several processes can share one file; `synchronous=NORMAL` in WAL mode keeps every
//! acknowledged commit across a process crash.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rayon::prelude::*;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

mod access;
mod actual;

use crate::actual::ActualReport;
use crate::audit::{AuditEntry, AuditFilter, NewAuditEntry, RawAuditHead, RawAuditRow};
use crate::backend::{RawRefs, RawRevision, Store, dir_end, param_query, verified};
use crate::error::StoreError;
use crate::migrations::{self, Migration};
use crate::model::{
    Commit, CommitOutcome, FileChange, FileChangeKind, Hash, LayerRefs, ParamChange, Revision,
    RevisionId,
};
use crate::requests::{ChangeRequest, NewRequest, RequestUpdate};
use crate::tokens::{NewToken, TokenRow};

/// Versioned schema; entry `i` brings the store to version `i + 1`.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: "
CREATE TABLE strata_blobs (hash TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE strata_revisions (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    parent TEXT,
    header TEXT NOT NULL
);
CREATE TABLE strata_refs (name TEXT PRIMARY KEY, rev TEXT);
INSERT INTO strata_refs (name, rev) VALUES ('HEAD', NULL);
CREATE TABLE strata_tags (name TEXT PRIMARY KEY, rev TEXT NOT NULL);
CREATE TABLE strata_file_changes (
    seq INTEGER NOT NULL,
    path TEXT NOT NULL,
    kind TEXT NOT NULL,
    PRIMARY KEY (seq, path)
);
CREATE INDEX strata_file_changes_path ON strata_file_changes (path, seq);
CREATE TABLE strata_param_changes (param TEXT NOT NULL, seq INTEGER NOT NULL, file TEXT NOT NULL);
CREATE INDEX strata_param_changes_param ON strata_param_changes (param, seq);
CREATE INDEX strata_param_changes_seq ON strata_param_changes (seq);
",
    },
    Migration {
        version: 2,
        // The reference index; it covers every revision only in a store created with it.
        sql: "
CREATE TABLE strata_layer_refs (
    path TEXT NOT NULL,
    seq INTEGER NOT NULL,
    refs TEXT NOT NULL,
    PRIMARY KEY (path, seq)
);
CREATE TABLE strata_layer_refs_from (seq INTEGER NOT NULL);
INSERT INTO strata_layer_refs_from (seq) SELECT COALESCE(MAX(seq), 0) + 1 FROM strata_revisions;
",
    },
    Migration {
        version: 3,
        // Access control: the audit chain (with its head row, the lock appenders take, and
        // a parameter index), the audit key, API tokens, change requests and approvals.
        sql: "
CREATE TABLE strata_audit (
    seq INTEGER PRIMARY KEY,
    time_ms INTEGER NOT NULL,
    principal TEXT NOT NULL,
    action TEXT NOT NULL,
    scope TEXT NOT NULL,
    params TEXT NOT NULL,
    decision TEXT NOT NULL,
    rule TEXT,
    request TEXT,
    revision TEXT,
    detail TEXT,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX strata_audit_time ON strata_audit (time_ms);
CREATE INDEX strata_audit_principal ON strata_audit (principal, seq);
CREATE TABLE strata_audit_params (
    param TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (param, seq)
) WITHOUT ROWID;
CREATE TABLE strata_audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO strata_audit_head (id, seq, hash)
    VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
CREATE TABLE strata_audit_key (id INTEGER PRIMARY KEY CHECK (id = 1), key BLOB NOT NULL);
CREATE TABLE strata_tokens (
    id TEXT PRIMARY KEY,
    principal TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER,
    revoked_ms INTEGER
);
CREATE TABLE strata_requests (
    id TEXT PRIMARY KEY,
    author TEXT NOT NULL,
    message TEXT NOT NULL,
    changeset TEXT NOT NULL,
    base_seq INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER,
    rules TEXT NOT NULL,
    status TEXT NOT NULL,
    status_ms INTEGER,
    detail TEXT,
    revision TEXT
);
CREATE INDEX strata_requests_status ON strata_requests (status, created_ms);
CREATE TABLE strata_request_approvals (
    request TEXT NOT NULL REFERENCES strata_requests (id),
    principal TEXT NOT NULL,
    time_ms INTEGER NOT NULL,
    PRIMARY KEY (request, principal)
);
",
    },
    Migration {
        version: 4,
        // The latest configuration each service reported per target (secrets removed).
        sql: "
CREATE TABLE strata_actual (
    target TEXT NOT NULL,
    service TEXT NOT NULL,
    principal TEXT NOT NULL,
    time_ms INTEGER NOT NULL,
    revision TEXT NOT NULL,
    config TEXT NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (target, service)
);
",
    },
];

/// A store in one SQLite file.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    name: String,
}

impl SqliteStore {
    /// Opens (creating when missing) the store at `path` and runs pending migrations.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        Self::open_with(path, MIGRATIONS)
    }

    fn open_with(path: &Path, migrations: &[Migration]) -> Result<SqliteStore, StoreError> {
        let name = format!("sqlite:{}", path.display());
        let err = |e: rusqlite::Error| StoreError::backend(&name, e);
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(Duration::from_secs(60)).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;
        let mut store = SqliteStore {
            conn: Mutex::new(conn),
            name,
        };
        store.migrate(migrations)?;
        Ok(store)
    }

    /// Where the file is (for messages).
    pub fn path(&self) -> PathBuf {
        PathBuf::from(self.name.trim_start_matches("sqlite:"))
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |e| StoreError::backend(&self.name, e)
    }

    /// Runs `f` in a write transaction (`BEGIN IMMEDIATE`: writers in every process
    /// queue here) and commits when it succeeds; an error rolls everything back.
    fn write<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.err())?;
        let out = f(&tx)?;
        tx.commit().map_err(self.err())?;
        Ok(out)
    }

    fn migrate(&mut self, migrations: &[Migration]) -> Result<(), StoreError> {
        let name = self.name.clone();
        let err = |e: rusqlite::Error| StoreError::backend(&name, e);
        let conn = self.conn.get_mut().unwrap_or_else(|e| e.into_inner());
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        tx.execute_batch("CREATE TABLE IF NOT EXISTS strata_schema (version INTEGER NOT NULL)")
            .map_err(err)?;
        let found: Option<i64> = tx
            .query_row("SELECT max(version) FROM strata_schema", [], |r| r.get(0))
            .map_err(err)?;
        let pending = migrations::pending(&name, found.unwrap_or(0), migrations)?;
        for m in pending {
            tx.execute_batch(m.sql).map_err(err)?;
            tx.execute(
                "INSERT INTO strata_schema (version) VALUES (?1)",
                params![m.version],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    fn read_revision(
        &self,
        conn: &Connection,
        sql: &str,
        arg: &dyn rusqlite::ToSql,
    ) -> Result<Option<Revision>, StoreError> {
        let row: Option<(i64, String, String)> = conn
            .query_row(sql, [arg], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()
            .map_err(self.err())?;
        row.map(|(seq, id, header)| verify_row(seq, &id, &header))
            .transpose()
    }
}

impl SqliteStore {
    /// Runs a query returning `(seq, id, header)` rows and verifies every revision
    /// (in parallel: a log may read ten thousand).
    fn verified_revisions(
        &self,
        sql: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<Revision>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(sql).map_err(self.err())?;
        let rows: Vec<(i64, String, String)> = stmt
            .query_map(args, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(self.err())?
            .collect::<Result<_, _>>()
            .map_err(self.err())?;
        rows.par_iter()
            .map(|(seq, id, header)| verify_row(*seq, id, header))
            .collect()
    }
}

/// Checks a revision row against its header hash and columns.
pub(crate) fn verify_row(seq: i64, id: &str, header: &str) -> Result<Revision, StoreError> {
    let corrupt = || StoreError::Corrupt {
        what: format!("revision {}", id.get(..12).unwrap_or(id)),
    };
    let id = RevisionId(Hash::from_hex(id).ok_or_else(corrupt)?);
    let rev = Revision::from_header(id, header)?;
    if i64::try_from(rev.seq).ok() != Some(seq) {
        return Err(corrupt());
    }
    Ok(rev)
}

fn kind_letter(k: FileChangeKind) -> String {
    k.letter().to_string()
}

impl Store for SqliteStore {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn head(&self) -> Result<Option<Revision>, StoreError> {
        let conn = self.conn();
        let head: Option<String> = conn
            .query_row("SELECT rev FROM strata_refs WHERE name = 'HEAD'", [], |r| {
                r.get(0)
            })
            .map_err(self.err())?;
        match head {
            None => Ok(None),
            Some(id) => self
                .read_revision(
                    &conn,
                    "SELECT seq, id, header FROM strata_revisions WHERE id = ?1",
                    &id,
                )?
                .map(Some)
                .ok_or_else(|| StoreError::Corrupt {
                    what: format!("HEAD (names missing revision {id})"),
                }),
        }
    }

    fn revision(&self, id: &RevisionId) -> Result<Revision, StoreError> {
        let conn = self.conn();
        self.read_revision(
            &conn,
            "SELECT seq, id, header FROM strata_revisions WHERE id = ?1",
            &id.to_string(),
        )?
        .ok_or_else(|| StoreError::UnknownRevision {
            spec: id.to_string(),
            hint: String::new(),
        })
    }

    fn revision_by_seq(&self, seq: u64) -> Result<Option<Revision>, StoreError> {
        let conn = self.conn();
        self.read_revision(
            &conn,
            "SELECT seq, id, header FROM strata_revisions WHERE seq = ?1",
            &(seq as i64),
        )
    }

    fn find_by_prefix(&self, prefix: &str) -> Result<Vec<RevisionId>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT id FROM strata_revisions WHERE id >= ?1 AND id < ?2 LIMIT 2")
            .map_err(self.err())?;
        let rows = stmt
            .query_map(params![prefix, format!("{prefix}g")], |r| {
                r.get::<_, String>(0)
            })
            .map_err(self.err())?;
        let mut out = Vec::new();
        for row in rows {
            let id = row.map_err(self.err())?;
            if let Some(h) = Hash::from_hex(&id) {
                out.push(RevisionId(h));
            }
        }
        Ok(out)
    }

    fn revisions(&self, from: u64, to: u64) -> Result<Vec<Revision>, StoreError> {
        self.verified_revisions(
            "SELECT seq, id, header FROM strata_revisions WHERE seq >= ?1 AND seq <= ?2 ORDER BY seq DESC",
            params![from as i64, to as i64],
        )
    }

    fn revisions_by_seq(&self, seqs: &[u64]) -> Result<Vec<Revision>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT seq, id, header FROM strata_revisions WHERE seq = ?1")
            .map_err(self.err())?;
        let mut out = Vec::with_capacity(seqs.len());
        for &seq in seqs {
            let (seq, id, header): (i64, String, String) = stmt
                .query_row([seq as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(self.err())?;
            out.push(verify_row(seq, &id, &header)?);
        }
        Ok(out)
    }

    fn blob(&self, hash: &Hash) -> Result<Vec<u8>, StoreError> {
        let mut out = self.blobs(std::slice::from_ref(hash))?;
        Ok(out.pop().unwrap_or_default())
    }

    fn blobs(&self, hashes: &[Hash]) -> Result<Vec<Vec<u8>>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT data FROM strata_blobs WHERE hash = ?1")
            .map_err(self.err())?;
        hashes
            .iter()
            .map(|h| {
                let data: Option<Vec<u8>> = stmt
                    .query_row([h.to_hex()], |r| r.get(0))
                    .optional()
                    .map_err(self.err())?;
                verified(h, data)
            })
            .collect()
    }

    fn param_log(&self, param: &str, limit: usize) -> Result<Vec<Revision>, StoreError> {
        let (exact, [(a_lo, a_hi), (b_lo, b_hi)]) = param_query(param);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.verified_revisions(
            "SELECT r.seq, r.id, r.header FROM strata_revisions r
             WHERE r.seq IN (SELECT seq FROM strata_param_changes
               WHERE param = ?1 OR (param >= ?2 AND param < ?3) OR (param >= ?4 AND param < ?5))
             ORDER BY r.seq DESC LIMIT ?6",
            params![exact, a_lo, a_hi, b_lo, b_hi, limit],
        )
    }

    fn missing_blobs(&self, hashes: &[Hash]) -> Result<Vec<Hash>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT 1 FROM strata_blobs WHERE hash = ?1")
            .map_err(self.err())?;
        let mut out = Vec::new();
        for h in hashes {
            if !stmt.exists([h.to_hex()]).map_err(self.err())? {
                out.push(*h);
            }
        }
        Ok(out)
    }

    fn repair_blobs(&self, blobs: &[(Hash, &[u8])]) -> Result<usize, StoreError> {
        let mut conn = self.conn();
        let name = self.name.clone();
        let err = |e: rusqlite::Error| StoreError::backend(&name, e);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let mut repaired = 0;
        {
            let mut stmt = tx
                .prepare_cached("UPDATE strata_blobs SET data = ?2 WHERE hash = ?1 AND data != ?2")
                .map_err(err)?;
            for (hash, data) in blobs {
                if Hash::of(data) == *hash {
                    repaired += stmt.execute(params![hash.to_hex(), data]).map_err(err)?;
                }
            }
        }
        tx.commit().map_err(err)?;
        Ok(repaired)
    }

    fn commit(&self, commit: &Commit) -> Result<CommitOutcome, StoreError> {
        let mut conn = self.conn();
        let name = self.name.clone();
        let err = |e: rusqlite::Error| StoreError::backend(&name, e);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let head: Option<String> = tx
            .query_row("SELECT rev FROM strata_refs WHERE name = 'HEAD'", [], |r| {
                r.get(0)
            })
            .map_err(err)?;
        let expected = commit.expected_head.map(|h| h.to_string());
        if head != expected {
            return Ok(CommitOutcome::HeadMoved {
                head: head.and_then(|h| Hash::from_hex(&h)).map(RevisionId),
            });
        }
        {
            let mut put = tx
                .prepare_cached("INSERT OR IGNORE INTO strata_blobs (hash, data) VALUES (?1, ?2)")
                .map_err(err)?;
            for (hash, data) in &commit.blobs {
                put.execute(params![hash.to_hex(), data]).map_err(err)?;
            }
            let rev = &commit.revision;
            let seq = rev.seq as i64;
            tx.execute(
                "INSERT INTO strata_revisions (seq, id, parent, header) VALUES (?1, ?2, ?3, ?4)",
                params![
                    seq,
                    rev.id.to_string(),
                    rev.parent.map(|p| p.to_string()),
                    rev.header()
                ],
            )
            .map_err(err)?;
            let mut file = tx
                .prepare_cached(
                    "INSERT INTO strata_file_changes (seq, path, kind) VALUES (?1, ?2, ?3)",
                )
                .map_err(err)?;
            for f in &commit.files {
                file.execute(params![seq, f.path, kind_letter(f.kind)])
                    .map_err(err)?;
            }
            let mut param = tx
                .prepare_cached(
                    "INSERT INTO strata_param_changes (param, seq, file) VALUES (?1, ?2, ?3)",
                )
                .map_err(err)?;
            for p in &commit.params {
                param.execute(params![p.param, seq, p.file]).map_err(err)?;
            }
            if !commit.refs.is_empty() {
                let mut refs = tx
                    .prepare_cached(
                        "INSERT INTO strata_layer_refs (path, seq, refs) VALUES (?1, ?2, ?3)",
                    )
                    .map_err(err)?;
                for r in &commit.refs {
                    refs.execute(params![r.path, seq, r.encode()])
                        .map_err(err)?;
                }
            }
            tx.execute(
                "UPDATE strata_refs SET rev = ?1 WHERE name = 'HEAD'",
                params![rev.id.to_string()],
            )
            .map_err(err)?;
            if let Some(t) = &commit.request {
                access::request_transition(&tx, &name, t, &rev.id.to_string())?;
            }
            access::append(&tx, &name, &commit.audit)?;
        }
        tx.commit().map_err(err)?;
        Ok(CommitOutcome::Committed)
    }

    fn layer_refs(&self, seq: u64) -> Result<Option<Vec<LayerRefs>>, StoreError> {
        let conn = self.conn();
        let from: i64 = conn
            .query_row("SELECT seq FROM strata_layer_refs_from", [], |r| r.get(0))
            .map_err(self.err())?;
        if from > 1 {
            return Ok(None);
        }
        let mut stmt = conn
            .prepare_cached(
                "SELECT r.path, r.refs FROM strata_layer_refs r
                 JOIN (SELECT path, MAX(seq) AS m FROM strata_layer_refs WHERE seq <= ?1 GROUP BY path) l
                   ON r.path = l.path AND r.seq = l.m
                 WHERE r.refs != '' AND r.refs != '!'
                 ORDER BY r.path",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map([seq as i64], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(self.err())?;
        rows.map(|row| {
            row.map(|(path, refs)| LayerRefs {
                path,
                services: Some(LayerRefs::decode(&refs)),
            })
            .map_err(self.err())
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
    }

    fn file_changes(&self, seq: u64) -> Result<Vec<FileChange>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT path, kind FROM strata_file_changes WHERE seq = ?1 ORDER BY path",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map([seq as i64], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(self.err())?;
        let mut out = Vec::new();
        for row in rows {
            let (path, kind) = row.map_err(self.err())?;
            let kind = FileChangeKind::from_letter(&kind).ok_or_else(|| StoreError::Corrupt {
                what: format!("change index of revision #{seq}"),
            })?;
            out.push(FileChange { path, kind });
        }
        Ok(out)
    }

    fn param_changes_between(
        &self,
        after: u64,
        upto: u64,
    ) -> Result<Vec<(u64, ParamChange)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT seq, param, file FROM strata_param_changes WHERE seq > ?1 AND seq <= ?2 ORDER BY seq, param",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map(params![after as i64, upto as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    ParamChange {
                        param: r.get(1)?,
                        file: r.get(2)?,
                    },
                ))
            })
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    fn param_history(&self, param: &str) -> Result<Vec<u64>, StoreError> {
        let (exact, [(a_lo, a_hi), (b_lo, b_hi)]) = param_query(param);
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT DISTINCT seq FROM strata_param_changes
                 WHERE param = ?1 OR (param >= ?2 AND param < ?3) OR (param >= ?4 AND param < ?5)
                 ORDER BY seq",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map(params![exact, a_lo, a_hi, b_lo, b_hi], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(self.err())?;
        rows.map(|r| r.map(|s| s as u64))
            .collect::<Result<_, _>>()
            .map_err(self.err())
    }

    fn file_history_outside(&self, dir: &str) -> Result<Vec<u64>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT DISTINCT seq FROM strata_file_changes WHERE path < ?1 OR path >= ?2 ORDER BY seq",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map(params![dir, dir_end(dir)], |r| r.get::<_, i64>(0))
            .map_err(self.err())?;
        rows.map(|r| r.map(|s| s as u64))
            .collect::<Result<_, _>>()
            .map_err(self.err())
    }

    fn set_tag(&self, name: &str, id: &RevisionId, force: bool) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.err())?;
        let existing: Option<String> = tx
            .query_row("SELECT rev FROM strata_tags WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
            .map_err(self.err())?;
        if let Some(existing) = existing
            && !force
            && existing != id.to_string()
        {
            return Err(StoreError::TagExists {
                name: name.to_string(),
                target: RevisionId(Hash::from_hex(&existing).unwrap_or(Hash([0; 32]))),
            });
        }
        tx.execute(
            "INSERT INTO strata_tags (name, rev) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET rev = excluded.rev",
            params![name, id.to_string()],
        )
        .map_err(self.err())?;
        tx.commit().map_err(self.err())
    }

    fn tags(&self) -> Result<Vec<(String, RevisionId)>, StoreError> {
        let raw = self.scan_refs()?;
        raw.tags
            .into_iter()
            .map(|(name, rev)| {
                let id = Hash::from_hex(&rev).ok_or_else(|| StoreError::Corrupt {
                    what: format!("tag {name}"),
                })?;
                Ok((name, RevisionId(id)))
            })
            .collect()
    }

    fn scan_blobs(&self, f: &mut dyn FnMut(&str, &[u8])) -> Result<(), StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT hash, data FROM strata_blobs ORDER BY hash")
            .map_err(self.err())?;
        let mut rows = stmt.query([]).map_err(self.err())?;
        while let Some(row) = rows.next().map_err(self.err())? {
            let hash: String = row.get(0).map_err(self.err())?;
            let data = row.get_ref(1).map_err(self.err())?;
            let bytes = data.as_blob().unwrap_or_default();
            f(&hash, bytes);
        }
        Ok(())
    }

    fn scan_revisions(&self) -> Result<Vec<RawRevision>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT seq, id, parent, header FROM strata_revisions ORDER BY seq")
            .map_err(self.err())?;
        let rows = stmt
            .query_map([], |r| {
                Ok(RawRevision {
                    seq: r.get(0)?,
                    id: r.get(1)?,
                    parent: r.get(2)?,
                    header: r.get(3)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    fn scan_refs(&self) -> Result<RawRefs, StoreError> {
        let conn = self.conn();
        let head: Option<String> = conn
            .query_row("SELECT rev FROM strata_refs WHERE name = 'HEAD'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(self.err())?
            .flatten();
        let mut stmt = conn
            .prepare("SELECT name, rev FROM strata_tags ORDER BY name")
            .map_err(self.err())?;
        let tags = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(self.err())?
            .collect::<Result<_, _>>()
            .map_err(self.err())?;
        Ok(RawRefs { head, tags })
    }

    fn audit_append(&self, entries: &[NewAuditEntry]) -> Result<Vec<AuditEntry>, StoreError> {
        self.write(|tx| access::append(tx, &self.name, entries))
    }

    fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        access::entries(&self.conn(), &self.name, filter)
    }

    fn audit_scan(
        &self,
        f: &mut dyn FnMut(&RawAuditRow) -> bool,
    ) -> Result<RawAuditHead, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(self.err())?;
        let head = access::scan(&tx, &self.name, f)?;
        tx.commit().map_err(self.err())?;
        Ok(head)
    }

    fn audit_key(&self) -> Result<[u8; 32], StoreError> {
        if let Some(key) = access::stored_key(&self.conn(), &self.name)? {
            return Ok(key);
        }
        self.write(|tx| access::key(tx, &self.name))
    }

    fn token_create(
        &self,
        token: &NewToken,
        audit: &[NewAuditEntry],
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.write(|tx| access::token_create(tx, &self.name, token, audit))
    }

    fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRow>, StoreError> {
        access::token_by_hash(&self.conn(), &self.name, hash)
    }

    fn token_list(&self) -> Result<Vec<TokenRow>, StoreError> {
        access::token_list(&self.conn(), &self.name)
    }

    fn token_revoke(
        &self,
        id: &str,
        time_ms: i64,
        audit: &[NewAuditEntry],
    ) -> Result<(TokenRow, Vec<AuditEntry>), StoreError> {
        self.write(|tx| access::token_revoke(tx, &self.name, id, time_ms, audit))
    }

    fn request_create(
        &self,
        request: &NewRequest,
        audit: &[NewAuditEntry],
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.write(|tx| access::request_create(tx, &self.name, request, audit))
    }

    fn request_get(&self, id: &str) -> Result<Option<ChangeRequest>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(self.err())?;
        let out = access::request_get(&tx, &self.name, id)?;
        tx.commit().map_err(self.err())?;
        Ok(out)
    }

    fn request_list(&self, open_only: bool) -> Result<Vec<ChangeRequest>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(self.err())?;
        let out = access::request_list(&tx, &self.name, open_only)?;
        tx.commit().map_err(self.err())?;
        Ok(out)
    }

    fn request_update(
        &self,
        id: &str,
        update: &RequestUpdate,
        audit: &[NewAuditEntry],
    ) -> Result<(ChangeRequest, Vec<AuditEntry>), StoreError> {
        self.write(|tx| access::request_update(tx, &self.name, id, update, audit))
    }

    fn actual_put(&self, report: &ActualReport) -> Result<(), StoreError> {
        report.check()?;
        self.write(|tx| actual::put(tx, &self.name, report))
    }

    fn actual_get(&self, target: &str, service: &str) -> Result<Option<ActualReport>, StoreError> {
        actual::get(&self.conn(), &self.name, target, service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_from_before_the_reference_index_says_it_is_not_covered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let v1 = SqliteStore::open_with(&path, &MIGRATIONS[..1]).unwrap();
        let commit = Commit::new(
            None,
            Revision::new(1, None, Hash::of(b"m"), crate::model::CommitMeta::default()),
        );
        v1.commit(&commit).unwrap();
        drop(v1);
        let migrated = SqliteStore::open(&path).unwrap();
        assert_eq!(migrated.layer_refs(1).unwrap(), None);
        let fresh = SqliteStore::open(&dir.path().join("fresh.db")).unwrap();
        assert_eq!(fresh.layer_refs(1).unwrap(), Some(Vec::new()));
    }

    #[test]
    fn a_store_from_before_access_control_gets_an_empty_audit_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let v2 = SqliteStore::open_with(&path, &MIGRATIONS[..2]).unwrap();
        v2.commit(&Commit::new(
            None,
            Revision::new(1, None, Hash::of(b"m"), crate::model::CommitMeta::default()),
        ))
        .unwrap();
        drop(v2);
        let migrated = SqliteStore::open(&path).unwrap();
        assert_eq!(migrated.audit_verify().unwrap(), Ok(0));
        let e = crate::audit::NewAuditEntry::new(1, "alice", "write", "prod");
        let written = migrated.audit_append(&[e.clone(), e]).unwrap();
        assert_eq!(written.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(migrated.audit_verify().unwrap(), Ok(2));
        assert_eq!(migrated.head().unwrap().map(|r| r.seq), Some(1));
    }

    #[test]
    fn a_newer_store_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        drop(SqliteStore::open(&path).unwrap());
        let mut newer = MIGRATIONS.to_vec();
        newer.push(Migration {
            version: MIGRATIONS.len() as i64 + 1,
            sql: "CREATE TABLE strata_future (x INTEGER);",
        });
        drop(SqliteStore::open_with(&path, &newer).unwrap());
        let supported = MIGRATIONS.len() as i64;
        match SqliteStore::open(&path) {
            Err(StoreError::TooNew {
                found,
                supported: s,
                ..
            }) => assert_eq!((found, s), (supported + 1, supported)),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("opened a newer store"),
        }
    }

    #[test]
    fn reopening_runs_no_migration_twice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        drop(SqliteStore::open(&path).unwrap());
        let s = SqliteStore::open(&path).unwrap();
        let n: i64 = s
            .conn()
            .query_row("SELECT count(*) FROM strata_schema", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, MIGRATIONS.len() as i64);
    }
}
