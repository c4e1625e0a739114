//! The shared backend: PostgreSQL, for several `strata serve` processes on one store.
//!
//! Commits serialise on a row lock of the head (`SELECT … FOR UPDATE`), so the
//! compare-and-swap of the head and everything the commit writes are one transaction.
//! Text keys use the "C" collation so prefix ranges match byte order, as in SQLite.
//!
//! Every commit sends `NOTIFY strata_head` in its transaction, so servers sharing the
//! database hear of it at once ([`Store::head_listener`], `listen.rs`). A connection lost
//! (the server restarted) is made again on the next call, at most once a second.

use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use postgres::{Client, NoTls, Transaction};
use rayon::prelude::*;

mod access;
mod actual;
mod listen;

use crate::actual::ActualReport;
use crate::audit::{AuditEntry, AuditFilter, NewAuditEntry, RawAuditHead, RawAuditRow};
use crate::backend::{HeadListener, RawRefs, RawRevision, Store, dir_end, param_query, verified};
use crate::error::StoreError;
use crate::migrations::{self, Migration};
use crate::model::{
    Commit, CommitOutcome, FileChange, FileChangeKind, Hash, LayerRefs, ParamChange, Revision,
    RevisionId,
};
use crate::requests::{ChangeRequest, NewRequest, RequestUpdate};
use crate::sqlite::verify_row;
use crate::tokens::{NewToken, TokenRow};

/// Versioned schema; entry `i` brings the store to version `i + 1`.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: r#"
CREATE TABLE strata_blobs (hash TEXT COLLATE "C" PRIMARY KEY, data BYTEA NOT NULL);
CREATE TABLE strata_revisions (
    seq BIGINT PRIMARY KEY,
    id TEXT COLLATE "C" NOT NULL UNIQUE,
    parent TEXT COLLATE "C",
    header TEXT NOT NULL
);
CREATE TABLE strata_refs (name TEXT PRIMARY KEY, rev TEXT COLLATE "C");
INSERT INTO strata_refs (name, rev) VALUES ('HEAD', NULL);
CREATE TABLE strata_tags (name TEXT COLLATE "C" PRIMARY KEY, rev TEXT NOT NULL);
CREATE TABLE strata_file_changes (
    seq BIGINT NOT NULL,
    path TEXT COLLATE "C" NOT NULL,
    kind TEXT NOT NULL,
    PRIMARY KEY (seq, path)
);
CREATE INDEX strata_file_changes_path ON strata_file_changes (path, seq);
CREATE TABLE strata_param_changes (param TEXT COLLATE "C" NOT NULL, seq BIGINT NOT NULL, file TEXT NOT NULL);
CREATE INDEX strata_param_changes_param ON strata_param_changes (param, seq);
CREATE INDEX strata_param_changes_seq ON strata_param_changes (seq);
"#,
    },
    Migration {
        version: 2,
        // The reference index; it covers every revision only in a store created with it.
        sql: r#"
CREATE TABLE strata_layer_refs (
    path TEXT COLLATE "C" NOT NULL,
    seq BIGINT NOT NULL,
    refs TEXT NOT NULL,
    PRIMARY KEY (path, seq)
);
CREATE TABLE strata_layer_refs_from (seq BIGINT NOT NULL);
INSERT INTO strata_layer_refs_from (seq) SELECT COALESCE(MAX(seq), 0) + 1 FROM strata_revisions;
"#,
    },
    Migration {
        version: 3,
        // Access control: the audit chain (with its head row, the lock appenders take, and
        // a parameter index), the audit key, API tokens, change requests and approvals.
        sql: r#"
CREATE TABLE strata_audit (
    seq BIGINT PRIMARY KEY,
    time_ms BIGINT NOT NULL,
    principal TEXT COLLATE "C" NOT NULL,
    action TEXT COLLATE "C" NOT NULL,
    scope TEXT COLLATE "C" NOT NULL,
    params TEXT NOT NULL,
    decision TEXT NOT NULL,
    rule TEXT,
    request TEXT COLLATE "C",
    revision TEXT COLLATE "C",
    detail TEXT,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX strata_audit_time ON strata_audit (time_ms);
CREATE INDEX strata_audit_principal ON strata_audit (principal, seq);
CREATE TABLE strata_audit_params (
    param TEXT COLLATE "C" NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (param, seq)
);
CREATE TABLE strata_audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO strata_audit_head (id, seq, hash)
    VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
CREATE TABLE strata_audit_key (id INTEGER PRIMARY KEY CHECK (id = 1), key BYTEA NOT NULL);
CREATE TABLE strata_tokens (
    id TEXT COLLATE "C" PRIMARY KEY,
    principal TEXT COLLATE "C" NOT NULL,
    hash TEXT COLLATE "C" NOT NULL UNIQUE,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT,
    revoked_ms BIGINT
);
CREATE TABLE strata_requests (
    id TEXT COLLATE "C" PRIMARY KEY,
    author TEXT COLLATE "C" NOT NULL,
    message TEXT NOT NULL,
    changeset TEXT NOT NULL,
    base_seq BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT,
    rules TEXT NOT NULL,
    status TEXT NOT NULL,
    status_ms BIGINT,
    detail TEXT,
    revision TEXT
);
CREATE INDEX strata_requests_status ON strata_requests (status, created_ms);
CREATE TABLE strata_request_approvals (
    request TEXT COLLATE "C" NOT NULL REFERENCES strata_requests (id),
    principal TEXT COLLATE "C" NOT NULL,
    time_ms BIGINT NOT NULL,
    PRIMARY KEY (request, principal)
);
"#,
    },
    Migration {
        version: 4,
        // The latest configuration each service reported per target (secrets removed).
        sql: r#"
CREATE TABLE strata_actual (
    target TEXT COLLATE "C" NOT NULL,
    service TEXT COLLATE "C" NOT NULL,
    principal TEXT COLLATE "C" NOT NULL,
    time_ms BIGINT NOT NULL,
    revision TEXT COLLATE "C" NOT NULL,
    config TEXT NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (target, service)
);
"#,
    },
];

/// Serialises concurrent first opens of one database (an arbitrary constant).
const MIGRATION_LOCK: i64 = 0x5354_5241_5441;

/// How long a connection attempt may take when the URL sets no `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long after a failed reconnection the next one is tried (calls in between fail at
/// once instead of each waiting for a connection).
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// A store in a PostgreSQL database.
pub struct PgStore {
    /// Shared only with the thread that closes it (see `Drop for PgStore`).
    client: Arc<Mutex<Client>>,
    name: String,
    config: postgres::Config,
    /// When the last reconnection failed.
    failed_at: Mutex<Option<Instant>>,
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/db`) and runs pending migrations.
    pub fn open(url: &str) -> Result<PgStore, StoreError> {
        Self::open_with(url, MIGRATIONS)
    }

    fn open_with(url: &str, migrations: &[Migration]) -> Result<PgStore, StoreError> {
        let mut config: postgres::Config = url.parse().map_err(|e| StoreError::Backend {
            store: "postgres".into(),
            message: format!("cannot read the store URL: {e}"),
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let name = describe(&config);
        let mut client = config.connect(NoTls).map_err(|e| StoreError::Backend {
            store: name.clone(),
            message: format!("cannot connect: {e}; is the server running and the URL right?"),
        })?;
        migrate(&mut client, &name, migrations)?;
        Ok(PgStore {
            client: Arc::new(Mutex::new(client)),
            name,
            config,
            failed_at: Mutex::new(None),
        })
    }

    /// The connection, made again first when it was lost (at most every
    /// [`RECONNECT_AFTER`]; until then the closed one is returned and its calls fail).
    fn client(&self) -> MutexGuard<'_, Client> {
        let mut client = self.client.lock().unwrap_or_else(|e| e.into_inner());
        if client.is_closed() {
            let mut failed_at = self.failed_at.lock().unwrap_or_else(|e| e.into_inner());
            if failed_at.is_none_or(|t| t.elapsed() >= RECONNECT_AFTER) {
                match self.config.connect(NoTls) {
                    Ok(fresh) => {
                        *client = fresh;
                        *failed_at = None;
                    }
                    Err(_) => *failed_at = Some(Instant::now()),
                }
            }
        }
        client
    }

    fn err(&self) -> impl Fn(postgres::Error) -> StoreError + '_ {
        move |e| StoreError::backend(&self.name, e)
    }

    /// Runs `f` in a transaction and commits when it succeeds; an error rolls everything
    /// back.
    fn write<T>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut client = self.client();
        let mut tx = client.transaction().map_err(self.err())?;
        let out = f(&mut tx)?;
        tx.commit().map_err(self.err())?;
        Ok(out)
    }

    /// Runs reads `f` in one read-only repeatable-read transaction (one snapshot).
    fn snapshot<T>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut client = self.client();
        let mut tx = client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(self.err())?;
        let out = f(&mut tx)?;
        tx.commit().map_err(self.err())?;
        Ok(out)
    }

    fn one_revision(
        &self,
        sql: &str,
        arg: &(dyn postgres::types::ToSql + Sync),
    ) -> Result<Option<Revision>, StoreError> {
        let row = self.client().query_opt(sql, &[arg]).map_err(self.err())?;
        row.map(|r| verify_row(r.get(0), r.get::<_, &str>(1), r.get::<_, &str>(2)))
            .transpose()
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // The client closes its connection with a blocking call, which panics on a thread
        // that drives async tasks (where a server's last handle on its store may go): on
        // such a thread, a thread of its own closes it once it holds the last reference
        // (as soon as this store's fields are dropped).
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let mut client = self.client.clone();
        let _ = std::thread::Builder::new()
            .name("strata-pg-close".into())
            .spawn(move || {
                loop {
                    match Arc::try_unwrap(client) {
                        Ok(last) => return drop(last),
                        Err(shared) => client = shared,
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            });
    }
}

/// `postgres://user@host:port/db`, without the password.
fn describe(config: &postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            postgres::config::Host::Tcp(s) => s.clone(),
            postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        config.get_user().unwrap_or(""),
        config.get_dbname().unwrap_or("")
    )
}

fn migrate(client: &mut Client, name: &str, migrations: &[Migration]) -> Result<(), StoreError> {
    let err = |e: postgres::Error| StoreError::backend(name, e);
    let mut tx = client.transaction().map_err(err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(err)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS strata_schema (version BIGINT NOT NULL)")
        .map_err(err)?;
    let found: Option<i64> = tx
        .query_one("SELECT max(version) FROM strata_schema", &[])
        .map_err(err)?
        .get(0);
    for m in migrations::pending(name, found.unwrap_or(0), migrations)? {
        tx.batch_execute(m.sql).map_err(err)?;
        tx.execute(
            "INSERT INTO strata_schema (version) VALUES ($1)",
            &[&m.version],
        )
        .map_err(err)?;
    }
    tx.commit().map_err(err)
}

/// One field of PostgreSQL's COPY text format.
fn copy_field(out: &mut Vec<u8>, s: &str) {
    for b in s.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

fn copy_rows(
    tx: &mut Transaction<'_>,
    sql: &str,
    rows: &mut dyn Iterator<Item = [&str; 3]>,
) -> Result<(), postgres::Error> {
    let mut rows = rows.peekable();
    if rows.peek().is_none() {
        return Ok(());
    }
    let mut w = tx.copy_in(sql)?;
    // Rows go out in 1 MiB pieces, so a million-row import never holds them all.
    let mut buf = Vec::with_capacity(1 << 20);
    let mut failed = false;
    for row in rows {
        for (i, field) in row.iter().enumerate() {
            if i > 0 {
                buf.push(b'\t');
            }
            copy_field(&mut buf, field);
        }
        buf.push(b'\n');
        if buf.len() >= 1 << 20 {
            // A write error is reported by `finish`, which carries the server's reason.
            failed |= w.write_all(&buf).is_err();
            buf.clear();
            if failed {
                break;
            }
        }
    }
    if !failed {
        let _ = w.write_all(&buf);
    }
    w.finish().map(|_| ())
}

fn seqs(rows: Vec<postgres::Row>) -> Vec<u64> {
    rows.iter().map(|r| r.get::<_, i64>(0) as u64).collect()
}

impl Store for PgStore {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn head_listener(&self) -> Option<Box<dyn HeadListener>> {
        Some(Box::new(listen::PgListener::new(
            self.config.clone(),
            self.name.clone(),
        )))
    }

    fn head(&self) -> Result<Option<Revision>, StoreError> {
        let head: Option<String> = self
            .client()
            .query_one("SELECT rev FROM strata_refs WHERE name = 'HEAD'", &[])
            .map_err(self.err())?
            .get(0);
        match head {
            None => Ok(None),
            Some(id) => self
                .one_revision(
                    "SELECT seq, id, header FROM strata_revisions WHERE id = $1",
                    &id,
                )?
                .map(Some)
                .ok_or_else(|| StoreError::Corrupt {
                    what: format!("HEAD (names missing revision {id})"),
                }),
        }
    }

    fn revision(&self, id: &RevisionId) -> Result<Revision, StoreError> {
        self.one_revision(
            "SELECT seq, id, header FROM strata_revisions WHERE id = $1",
            &id.to_string(),
        )?
        .ok_or_else(|| StoreError::UnknownRevision {
            spec: id.to_string(),
            hint: String::new(),
        })
    }

    fn revision_by_seq(&self, seq: u64) -> Result<Option<Revision>, StoreError> {
        self.one_revision(
            "SELECT seq, id, header FROM strata_revisions WHERE seq = $1",
            &(seq as i64),
        )
    }

    fn find_by_prefix(&self, prefix: &str) -> Result<Vec<RevisionId>, StoreError> {
        let rows = self
            .client()
            .query(
                "SELECT id FROM strata_revisions WHERE id >= $1 AND id < $2 LIMIT 2",
                &[&prefix, &format!("{prefix}g")],
            )
            .map_err(self.err())?;
        Ok(rows
            .iter()
            .filter_map(|r| Hash::from_hex(r.get::<_, &str>(0)).map(RevisionId))
            .collect())
    }

    fn revisions(&self, from: u64, to: u64) -> Result<Vec<Revision>, StoreError> {
        let rows = self
            .client()
            .query(
                "SELECT seq, id, header FROM strata_revisions WHERE seq >= $1 AND seq <= $2 ORDER BY seq DESC",
                &[&(from as i64), &(to as i64)],
            )
            .map_err(self.err())?;
        rows.iter()
            .map(|r| verify_row(r.get(0), r.get::<_, &str>(1), r.get::<_, &str>(2)))
            .collect()
    }

    fn revisions_by_seq(&self, seqs: &[u64]) -> Result<Vec<Revision>, StoreError> {
        let wanted: Vec<i64> = seqs.iter().map(|&s| s as i64).collect();
        let rows = self
            .client()
            .query(
                "SELECT seq, id, header FROM strata_revisions WHERE seq = ANY($1)",
                &[&wanted],
            )
            .map_err(self.err())?;
        let mut by_seq = std::collections::HashMap::with_capacity(rows.len());
        for r in &rows {
            let rev = verify_row(r.get(0), r.get::<_, &str>(1), r.get::<_, &str>(2))?;
            by_seq.insert(rev.seq, rev);
        }
        seqs.iter()
            .map(|s| {
                by_seq.remove(s).ok_or_else(|| StoreError::Corrupt {
                    what: format!("revision #{s} (missing)"),
                })
            })
            .collect()
    }

    fn blob(&self, hash: &Hash) -> Result<Vec<u8>, StoreError> {
        let mut out = self.blobs(std::slice::from_ref(hash))?;
        Ok(out.pop().unwrap_or_default())
    }

    fn blobs(&self, hashes: &[Hash]) -> Result<Vec<Vec<u8>>, StoreError> {
        let wanted: Vec<String> = hashes.iter().map(Hash::to_hex).collect();
        let rows = self
            .client()
            .query(
                "SELECT hash, data FROM strata_blobs WHERE hash = ANY($1)",
                &[&wanted],
            )
            .map_err(self.err())?;
        let mut found: std::collections::HashMap<String, Vec<u8>> = rows
            .into_iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, Vec<u8>>(1)))
            .collect();
        hashes
            .iter()
            .zip(&wanted)
            .map(|(h, hex)| {
                // A hash asked twice gets the bytes twice.
                let data = match found.get(hex) {
                    Some(d) if wanted.iter().filter(|w| *w == hex).count() > 1 => Some(d.clone()),
                    _ => found.remove(hex),
                };
                verified(h, data)
            })
            .collect()
    }

    fn param_log(&self, param: &str, limit: usize) -> Result<Vec<Revision>, StoreError> {
        let (exact, [(a_lo, a_hi), (b_lo, b_hi)]) = param_query(param);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .client()
            .query(
                "SELECT r.seq, r.id, r.header FROM strata_revisions r
                 WHERE r.seq IN (SELECT seq FROM strata_param_changes
                   WHERE param = $1 OR (param >= $2 AND param < $3) OR (param >= $4 AND param < $5))
                 ORDER BY r.seq DESC LIMIT $6",
                &[&exact, &a_lo, &a_hi, &b_lo, &b_hi, &limit],
            )
            .map_err(self.err())?;
        // Verifying ten thousand headers is worth both cores.
        rows.par_iter()
            .map(|r| verify_row(r.get(0), r.get::<_, &str>(1), r.get::<_, &str>(2)))
            .collect()
    }

    fn missing_blobs(&self, hashes: &[Hash]) -> Result<Vec<Hash>, StoreError> {
        let wanted: Vec<String> = hashes.iter().map(Hash::to_hex).collect();
        let rows = self
            .client()
            .query(
                "SELECT hash FROM strata_blobs WHERE hash = ANY($1)",
                &[&wanted],
            )
            .map_err(self.err())?;
        let present: std::collections::HashSet<String> =
            rows.iter().map(|r| r.get::<_, String>(0)).collect();
        Ok(hashes
            .iter()
            .filter(|h| !present.contains(&h.to_hex()))
            .copied()
            .collect())
    }

    fn repair_blobs(&self, blobs: &[(Hash, &[u8])]) -> Result<usize, StoreError> {
        let sound: Vec<&(Hash, &[u8])> = blobs.iter().filter(|(h, d)| Hash::of(d) == *h).collect();
        let mut client = self.client();
        let name = self.name.clone();
        let err = |e: postgres::Error| StoreError::backend(&name, e);
        let mut tx = client.transaction().map_err(err)?;
        let mut repaired = 0;
        for chunk in sound.chunks(256) {
            let hashes: Vec<String> = chunk.iter().map(|(h, _)| h.to_hex()).collect();
            let datas: Vec<&[u8]> = chunk.iter().map(|(_, d)| *d).collect();
            repaired += tx
                .execute(
                    "UPDATE strata_blobs b SET data = n.data
                     FROM unnest($1::text[], $2::bytea[]) AS n(hash, data)
                     WHERE b.hash = n.hash AND b.data <> n.data",
                    &[&hashes, &datas],
                )
                .map_err(err)? as usize;
        }
        tx.commit().map_err(err)?;
        Ok(repaired)
    }

    fn commit(&self, commit: &Commit) -> Result<CommitOutcome, StoreError> {
        let mut client = self.client();
        let name = self.name.clone();
        let err = |e: postgres::Error| StoreError::backend(&name, e);
        let mut tx = client.transaction().map_err(err)?;
        let head: Option<String> = tx
            .query_one(
                "SELECT rev FROM strata_refs WHERE name = 'HEAD' FOR UPDATE",
                &[],
            )
            .map_err(err)?
            .get(0);
        let expected = commit.expected_head.map(|h| h.to_string());
        if head != expected {
            return Ok(CommitOutcome::HeadMoved {
                head: head.and_then(|h| Hash::from_hex(&h)).map(RevisionId),
            });
        }
        for chunk in commit.blobs.chunks(256) {
            let hashes: Vec<String> = chunk.iter().map(|(h, _)| h.to_hex()).collect();
            let datas: Vec<&[u8]> = chunk.iter().map(|(_, d)| d.as_slice()).collect();
            tx.execute(
                "INSERT INTO strata_blobs (hash, data)
                 SELECT * FROM unnest($1::text[], $2::bytea[]) ON CONFLICT DO NOTHING",
                &[&hashes, &datas],
            )
            .map_err(err)?;
        }
        let rev = &commit.revision;
        let seq = rev.seq as i64;
        tx.execute(
            "INSERT INTO strata_revisions (seq, id, parent, header) VALUES ($1, $2, $3, $4)",
            &[
                &seq,
                &rev.id.to_string(),
                &rev.parent.map(|p| p.to_string()),
                &rev.header(),
            ],
        )
        .map_err(err)?;
        let seq_text = seq.to_string();
        copy_rows(
            &mut tx,
            "COPY strata_file_changes (seq, path, kind) FROM STDIN",
            &mut commit.files.iter().map(|f| {
                [
                    seq_text.as_str(),
                    f.path.as_str(),
                    match f.kind {
                        FileChangeKind::Added => "A",
                        FileChangeKind::Modified => "M",
                        FileChangeKind::Deleted => "D",
                    },
                ]
            }),
        )
        .map_err(err)?;
        copy_rows(
            &mut tx,
            "COPY strata_param_changes (seq, param, file) FROM STDIN",
            &mut commit
                .params
                .iter()
                .map(|p| [seq_text.as_str(), p.param.as_str(), p.file.as_str()]),
        )
        .map_err(err)?;
        let encoded: Vec<String> = commit.refs.iter().map(LayerRefs::encode).collect();
        copy_rows(
            &mut tx,
            "COPY strata_layer_refs (seq, path, refs) FROM STDIN",
            &mut commit
                .refs
                .iter()
                .zip(&encoded)
                .map(|(r, e)| [seq_text.as_str(), r.path.as_str(), e.as_str()]),
        )
        .map_err(err)?;
        tx.execute(
            "UPDATE strata_refs SET rev = $1 WHERE name = 'HEAD'",
            &[&rev.id.to_string()],
        )
        .map_err(err)?;
        if let Some(t) = &commit.request {
            access::request_transition(&mut tx, &name, t, &rev.id.to_string())?;
        }
        access::append(&mut tx, &name, &commit.audit)?;
        // Delivered to listeners only if the transaction commits.
        tx.execute(
            "SELECT pg_notify($1, $2)",
            &[&listen::CHANNEL, &rev.id.to_string()],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(CommitOutcome::Committed)
    }

    fn layer_refs(&self, seq: u64) -> Result<Option<Vec<LayerRefs>>, StoreError> {
        let mut client = self.client();
        let from: i64 = client
            .query_one("SELECT seq FROM strata_layer_refs_from", &[])
            .map_err(self.err())?
            .get(0);
        if from > 1 {
            return Ok(None);
        }
        let rows = client
            .query(
                "SELECT r.path, r.refs FROM strata_layer_refs r
                 JOIN (SELECT path, MAX(seq) AS m FROM strata_layer_refs WHERE seq <= $1 GROUP BY path) l
                   ON r.path = l.path AND r.seq = l.m
                 WHERE r.refs <> '' AND r.refs <> '!'
                 ORDER BY r.path",
                &[&(seq as i64)],
            )
            .map_err(self.err())?;
        Ok(Some(
            rows.iter()
                .map(|r| LayerRefs {
                    path: r.get::<_, String>(0),
                    services: Some(LayerRefs::decode(r.get::<_, &str>(1))),
                })
                .collect(),
        ))
    }

    fn file_changes(&self, seq: u64) -> Result<Vec<FileChange>, StoreError> {
        let rows = self
            .client()
            .query(
                "SELECT path, kind FROM strata_file_changes WHERE seq = $1 ORDER BY path",
                &[&(seq as i64)],
            )
            .map_err(self.err())?;
        rows.iter()
            .map(|r| {
                let kind = FileChangeKind::from_letter(r.get::<_, &str>(1)).ok_or_else(|| {
                    StoreError::Corrupt {
                        what: format!("change index of revision #{seq}"),
                    }
                })?;
                Ok(FileChange {
                    path: r.get(0),
                    kind,
                })
            })
            .collect()
    }

    fn param_changes_between(
        &self,
        after: u64,
        upto: u64,
    ) -> Result<Vec<(u64, ParamChange)>, StoreError> {
        let rows = self
            .client()
            .query(
                "SELECT seq, param, file FROM strata_param_changes WHERE seq > $1 AND seq <= $2 ORDER BY seq, param",
                &[&(after as i64), &(upto as i64)],
            )
            .map_err(self.err())?;
        Ok(rows
            .iter()
            .map(|r| {
                (
                    r.get::<_, i64>(0) as u64,
                    ParamChange {
                        param: r.get(1),
                        file: r.get(2),
                    },
                )
            })
            .collect())
    }

    fn param_history(&self, param: &str) -> Result<Vec<u64>, StoreError> {
        let (exact, [(a_lo, a_hi), (b_lo, b_hi)]) = param_query(param);
        let rows = self
            .client()
            .query(
                "SELECT DISTINCT seq FROM strata_param_changes
                 WHERE param = $1 OR (param >= $2 AND param < $3) OR (param >= $4 AND param < $5)
                 ORDER BY seq",
                &[&exact, &a_lo, &a_hi, &b_lo, &b_hi],
            )
            .map_err(self.err())?;
        Ok(seqs(rows))
    }

    fn file_history_outside(&self, dir: &str) -> Result<Vec<u64>, StoreError> {
        let rows = self
            .client()
            .query(
                "SELECT DISTINCT seq FROM strata_file_changes WHERE path < $1 OR path >= $2 ORDER BY seq",
                &[&dir, &dir_end(dir)],
            )
            .map_err(self.err())?;
        Ok(seqs(rows))
    }

    fn set_tag(&self, name: &str, id: &RevisionId, force: bool) -> Result<(), StoreError> {
        let mut client = self.client();
        let store = self.name.clone();
        let err = |e: postgres::Error| StoreError::backend(&store, e);
        let mut tx = client.transaction().map_err(err)?;
        let existing: Option<String> = tx
            .query_opt(
                "SELECT rev FROM strata_tags WHERE name = $1 FOR UPDATE",
                &[&name],
            )
            .map_err(err)?
            .map(|r| r.get(0));
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
            "INSERT INTO strata_tags (name, rev) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET rev = excluded.rev",
            &[&name, &id.to_string()],
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }

    fn tags(&self) -> Result<Vec<(String, RevisionId)>, StoreError> {
        self.scan_refs()?
            .tags
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
        let mut client = self.client();
        let mut tx = client.transaction().map_err(self.err())?;
        let portal = tx
            .bind("SELECT hash, data FROM strata_blobs ORDER BY hash", &[])
            .map_err(self.err())?;
        loop {
            let rows = tx.query_portal(&portal, 256).map_err(self.err())?;
            if rows.is_empty() {
                break;
            }
            for r in &rows {
                f(r.get::<_, &str>(0), r.get::<_, &[u8]>(1));
            }
        }
        tx.commit().map_err(self.err())
    }

    fn scan_revisions(&self) -> Result<Vec<RawRevision>, StoreError> {
        let rows = self
            .client()
            .query(
                "SELECT seq, id, parent, header FROM strata_revisions ORDER BY seq",
                &[],
            )
            .map_err(self.err())?;
        Ok(rows
            .iter()
            .map(|r| RawRevision {
                seq: r.get(0),
                id: r.get(1),
                parent: r.get(2),
                header: r.get(3),
            })
            .collect())
    }

    fn scan_refs(&self) -> Result<RawRefs, StoreError> {
        let mut client = self.client();
        let head: Option<String> = client
            .query_opt("SELECT rev FROM strata_refs WHERE name = 'HEAD'", &[])
            .map_err(self.err())?
            .and_then(|r| r.get(0));
        let tags = client
            .query("SELECT name, rev FROM strata_tags ORDER BY name", &[])
            .map_err(self.err())?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        Ok(RawRefs { head, tags })
    }

    fn audit_append(&self, entries: &[NewAuditEntry]) -> Result<Vec<AuditEntry>, StoreError> {
        self.write(|tx| access::append(tx, &self.name, entries))
    }

    fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        access::entries(&mut *self.client(), &self.name, filter)
    }

    fn audit_scan(
        &self,
        f: &mut dyn FnMut(&RawAuditRow) -> bool,
    ) -> Result<RawAuditHead, StoreError> {
        self.snapshot(|tx| access::scan(tx, &self.name, f))
    }

    fn audit_key(&self) -> Result<[u8; 32], StoreError> {
        if let Some(key) = access::stored_key(&mut *self.client(), &self.name)? {
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
        access::token_by_hash(&mut *self.client(), &self.name, hash)
    }

    fn token_list(&self) -> Result<Vec<TokenRow>, StoreError> {
        access::token_list(&mut *self.client(), &self.name)
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
        self.snapshot(|tx| access::request_get(tx, &self.name, id))
    }

    fn request_list(&self, open_only: bool) -> Result<Vec<ChangeRequest>, StoreError> {
        self.snapshot(|tx| access::request_list(tx, &self.name, open_only))
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
        actual::get(&mut *self.client(), &self.name, target, service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_separators() {
        let mut out = Vec::new();
        copy_field(&mut out, "a\tb\nc\\d\re");
        assert_eq!(out, b"a\\tb\\nc\\\\d\\re");
    }

    #[test]
    fn description_hides_the_password() {
        let c: postgres::Config = "postgres://bob:hunter2@db.example:6432/strata"
            .parse()
            .unwrap();
        let d = describe(&c);
        assert_eq!(d, "postgres://bob@db.example:6432/strata");
        assert!(!d.contains("hunter2"));
    }
}
