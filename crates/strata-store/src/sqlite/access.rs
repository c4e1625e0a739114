//! The SQLite side of access control: the audit chain, tokens and change requests.
//!
//! Every function here runs on a connection inside a transaction the caller opened
//! (`BEGIN IMMEDIATE` for writes, so appenders in several processes are serialised and
//! the chain never forks); the caller commits.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::audit::{self, AuditEntry, AuditFilter, NewAuditEntry, RawAuditHead, RawAuditRow};
use crate::backend::param_query;
use crate::error::StoreError;
use crate::requests::{
    self, Approval, ChangeRequest, NewRequest, RequestStatus, RequestTransition, RequestUpdate,
};
use crate::tokens::{self, NewToken, TokenRow};

/// The columns of `strata_audit`, in [`raw_row`]'s order.
const AUDIT_COLUMNS: &str = "seq, time_ms, principal, action, scope, params, decision, rule, request, revision, detail, prev, hash";

fn be(name: &str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |e| StoreError::backend(name, e)
}

fn raw_row(r: &Row<'_>) -> rusqlite::Result<RawAuditRow> {
    Ok(RawAuditRow {
        seq: r.get(0)?,
        time_ms: r.get(1)?,
        principal: r.get(2)?,
        action: r.get(3)?,
        scope: r.get(4)?,
        params: r.get(5)?,
        decision: r.get(6)?,
        rule: r.get(7)?,
        request: r.get(8)?,
        revision: r.get(9)?,
        detail: r.get(10)?,
        prev: r.get(11)?,
        hash: r.get(12)?,
    })
}

/// The recorded head of the chain.
pub(super) fn audit_head(conn: &Connection, name: &str) -> Result<RawAuditHead, StoreError> {
    conn.prepare_cached("SELECT seq, hash FROM strata_audit_head WHERE id = 1")
        .map_err(be(name))?
        .query_row([], |r| {
            Ok(RawAuditHead {
                seq: r.get(0)?,
                hash: r.get(1)?,
            })
        })
        .optional()
        .map_err(be(name))?
        .ok_or_else(|| StoreError::Corrupt {
            what: "audit log head (missing)".into(),
        })
}

/// Appends `entries` after the recorded head and moves it (inside the caller's write
/// transaction).
pub(super) fn append(
    conn: &Connection,
    name: &str,
    entries: &[NewAuditEntry],
) -> Result<Vec<AuditEntry>, StoreError> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let err = be(name);
    let head = audit_head(conn, name)?;
    let (seq, hash) = audit::parse_head(head.seq, &head.hash)?;
    let rows = audit::chain(seq, &hash, entries)?;
    {
        let mut insert = conn
            .prepare_cached(
                "INSERT INTO strata_audit (seq, time_ms, principal, action, scope, params, decision, rule, request, revision, detail, prev, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )
            .map_err(&err)?;
        let mut index = conn
            .prepare_cached(
                "INSERT OR IGNORE INTO strata_audit_params (param, seq) VALUES (?1, ?2)",
            )
            .map_err(&err)?;
        for (row, entry) in rows.iter().zip(entries) {
            insert
                .execute(params![
                    row.seq,
                    row.time_ms,
                    row.principal,
                    row.action,
                    row.scope,
                    row.params,
                    row.decision,
                    row.rule,
                    row.request,
                    row.revision,
                    row.detail,
                    row.prev,
                    row.hash
                ])
                .map_err(&err)?;
            for p in &entry.params {
                index.execute(params![p, row.seq]).map_err(&err)?;
            }
        }
    }
    if let Some(last) = rows.last() {
        conn.prepare_cached("UPDATE strata_audit_head SET seq = ?1, hash = ?2 WHERE id = 1")
            .map_err(&err)?
            .execute(params![last.seq, last.hash])
            .map_err(&err)?;
    }
    rows.iter().map(RawAuditRow::decode).collect()
}

/// Entries matching `filter`, each checked against its hash.
pub(super) fn entries(
    conn: &Connection,
    name: &str,
    filter: &AuditFilter,
) -> Result<Vec<AuditEntry>, StoreError> {
    use rusqlite::types::Value;
    let mut sql = format!("SELECT {AUDIT_COLUMNS} FROM strata_audit WHERE 1 = 1");
    let mut args: Vec<Value> = Vec::new();
    if let Some(after) = filter.after_seq {
        sql.push_str(" AND seq > ?");
        args.push(Value::Integer(i64::try_from(after).unwrap_or(i64::MAX)));
    }
    if let Some(since) = filter.since_ms {
        sql.push_str(" AND time_ms >= ?");
        args.push(Value::Integer(since));
    }
    if let Some(p) = &filter.principal {
        sql.push_str(" AND principal = ?");
        args.push(Value::Text(p.clone()));
    }
    if let Some(a) = &filter.action {
        sql.push_str(" AND action = ?");
        args.push(Value::Text(a.clone()));
    }
    if let Some(param) = &filter.param {
        let (exact, [(a_lo, a_hi), (b_lo, b_hi)]) = param_query(param);
        sql.push_str(
            " AND seq IN (SELECT seq FROM strata_audit_params
               WHERE param = ? OR (param >= ? AND param < ?) OR (param >= ? AND param < ?))",
        );
        args.extend([exact, a_lo, a_hi, b_lo, b_hi].map(Value::Text));
    }
    sql.push_str(if filter.newest_first {
        " ORDER BY seq DESC"
    } else {
        " ORDER BY seq"
    });
    if let Some(limit) = filter.limit {
        sql.push_str(" LIMIT ?");
        args.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
    }
    let mut stmt = conn.prepare_cached(&sql).map_err(be(name))?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(args), raw_row)
        .map_err(be(name))?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row.map_err(be(name))?.decode()?);
    }
    Ok(out)
}

/// Every row by seq, then the head (the caller holds one read transaction).
pub(super) fn scan(
    conn: &Connection,
    name: &str,
    f: &mut dyn FnMut(&RawAuditRow) -> bool,
) -> Result<RawAuditHead, StoreError> {
    // The head first: SQLite's snapshot starts at the transaction's first read.
    let head = audit_head(conn, name)?;
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {AUDIT_COLUMNS} FROM strata_audit ORDER BY seq"
        ))
        .map_err(be(name))?;
    let mut rows = stmt.query([]).map_err(be(name))?;
    while let Some(row) = rows.next().map_err(be(name))? {
        if !f(&raw_row(row).map_err(be(name))?) {
            break;
        }
    }
    Ok(head)
}

/// The stored audit key, if it was made.
pub(super) fn stored_key(conn: &Connection, name: &str) -> Result<Option<[u8; 32]>, StoreError> {
    let stored: Option<Vec<u8>> = conn
        .prepare_cached("SELECT key FROM strata_audit_key WHERE id = 1")
        .map_err(be(name))?
        .query_row([], |r| r.get(0))
        .optional()
        .map_err(be(name))?;
    stored.map(|k| audit::key_from_bytes(&k)).transpose()
}

/// The audit key, made on first use (inside the caller's write transaction).
pub(super) fn key(conn: &Connection, name: &str) -> Result<[u8; 32], StoreError> {
    if let Some(key) = stored_key(conn, name)? {
        return Ok(key);
    }
    let fresh = audit::new_key(name)?;
    conn.execute(
        "INSERT OR IGNORE INTO strata_audit_key (id, key) VALUES (1, ?1)",
        params![&fresh[..]],
    )
    .map_err(be(name))?;
    Ok(stored_key(conn, name)?.unwrap_or(fresh))
}

// ---- tokens ----

const TOKEN_COLUMNS: &str = "id, principal, created_ms, expires_ms, revoked_ms";

fn token_row(r: &Row<'_>) -> rusqlite::Result<TokenRow> {
    Ok(TokenRow {
        id: r.get(0)?,
        principal: r.get(1)?,
        created_ms: r.get(2)?,
        expires_ms: r.get(3)?,
        revoked_ms: r.get(4)?,
    })
}

pub(super) fn token_create(
    conn: &Connection,
    name: &str,
    token: &NewToken,
    audit: &[NewAuditEntry],
) -> Result<Vec<AuditEntry>, StoreError> {
    tokens::check(token)?;
    let err = be(name);
    let taken = |sql: &str, arg: &str| -> Result<bool, StoreError> {
        conn.prepare_cached(sql)
            .map_err(&err)?
            .exists([arg])
            .map_err(&err)
    };
    if taken("SELECT 1 FROM strata_tokens WHERE id = ?1", &token.id)? {
        return Err(StoreError::Exists {
            kind: "token",
            id: token.id.clone(),
        });
    }
    if taken("SELECT 1 FROM strata_tokens WHERE hash = ?1", &token.hash)? {
        return Err(crate::tokens::hash_taken());
    }
    conn.execute(
        "INSERT INTO strata_tokens (id, principal, hash, created_ms, expires_ms, revoked_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, NULL)",
        params![
            token.id,
            token.principal,
            token.hash,
            token.created_ms,
            token.expires_ms
        ],
    )
    .map_err(&err)?;
    append(conn, name, audit)
}

pub(super) fn token_by_hash(
    conn: &Connection,
    name: &str,
    hash: &str,
) -> Result<Option<TokenRow>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {TOKEN_COLUMNS} FROM strata_tokens WHERE hash = ?1"
    ))
    .map_err(be(name))?
    .query_row([hash], token_row)
    .optional()
    .map_err(be(name))
}

pub(super) fn token_list(conn: &Connection, name: &str) -> Result<Vec<TokenRow>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {TOKEN_COLUMNS} FROM strata_tokens ORDER BY created_ms, id"
        ))
        .map_err(be(name))?;
    let rows = stmt.query_map([], token_row).map_err(be(name))?;
    rows.collect::<Result<_, _>>().map_err(be(name))
}

pub(super) fn token_revoke(
    conn: &Connection,
    name: &str,
    id: &str,
    time_ms: i64,
    audit: &[NewAuditEntry],
) -> Result<(TokenRow, Vec<AuditEntry>), StoreError> {
    let err = be(name);
    let n = conn
        .execute(
            "UPDATE strata_tokens SET revoked_ms = COALESCE(revoked_ms, ?2) WHERE id = ?1",
            params![id, time_ms],
        )
        .map_err(&err)?;
    if n == 0 {
        return Err(StoreError::NotFound {
            kind: "token",
            id: id.to_string(),
        });
    }
    let row = conn
        .query_row(
            &format!("SELECT {TOKEN_COLUMNS} FROM strata_tokens WHERE id = ?1"),
            [id],
            token_row,
        )
        .map_err(&err)?;
    Ok((row, append(conn, name, audit)?))
}

// ---- change requests ----

const REQUEST_COLUMNS: &str = "id, author, message, changeset, base_seq, created_ms, expires_ms, rules, status, status_ms, detail, revision";

/// A request row before its status is checked and its approvals are attached.
type RequestRow = (ChangeRequest, String);

fn request_row(r: &Row<'_>) -> rusqlite::Result<RequestRow> {
    Ok((
        ChangeRequest {
            id: r.get(0)?,
            author: r.get(1)?,
            message: r.get(2)?,
            changeset: r.get(3)?,
            base_seq: r.get::<_, i64>(4)?.max(0) as u64,
            created_ms: r.get(5)?,
            expires_ms: r.get(6)?,
            rules: r.get(7)?,
            status: RequestStatus::Pending,
            status_ms: r.get(9)?,
            detail: r.get(10)?,
            revision: r.get(11)?,
            approvals: Vec::new(),
        },
        r.get(8)?,
    ))
}

fn with_status((mut req, status): RequestRow) -> Result<ChangeRequest, StoreError> {
    req.status = requests::parse_status(&req.id, &status)?;
    Ok(req)
}

pub(super) fn request_create(
    conn: &Connection,
    name: &str,
    req: &NewRequest,
    audit: &[NewAuditEntry],
) -> Result<Vec<AuditEntry>, StoreError> {
    requests::check_new(req)?;
    let err = be(name);
    if conn
        .prepare_cached("SELECT 1 FROM strata_requests WHERE id = ?1")
        .map_err(&err)?
        .exists([&req.id])
        .map_err(&err)?
    {
        return Err(StoreError::Exists {
            kind: "change request",
            id: req.id.clone(),
        });
    }
    conn.execute(
        "INSERT INTO strata_requests (id, author, message, changeset, base_seq, created_ms, expires_ms, rules, status, status_ms, detail, revision)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', NULL, NULL, NULL)",
        params![
            req.id,
            req.author,
            req.message,
            req.changeset,
            i64::try_from(req.base_seq).unwrap_or(i64::MAX),
            req.created_ms,
            req.expires_ms,
            req.rules
        ],
    )
    .map_err(&err)?;
    append(conn, name, audit)
}

pub(super) fn request_get(
    conn: &Connection,
    name: &str,
    id: &str,
) -> Result<Option<ChangeRequest>, StoreError> {
    let err = be(name);
    let Some(row) = conn
        .prepare_cached(&format!(
            "SELECT {REQUEST_COLUMNS} FROM strata_requests WHERE id = ?1"
        ))
        .map_err(&err)?
        .query_row([id], request_row)
        .optional()
        .map_err(&err)?
    else {
        return Ok(None);
    };
    let mut req = with_status(row)?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT principal, time_ms FROM strata_request_approvals WHERE request = ?1 ORDER BY time_ms, principal",
        )
        .map_err(&err)?;
    let approvals = stmt
        .query_map([id], |r| {
            Ok(Approval {
                principal: r.get(0)?,
                time_ms: r.get(1)?,
            })
        })
        .map_err(&err)?;
    req.approvals = approvals.collect::<Result<_, _>>().map_err(&err)?;
    Ok(Some(req))
}

pub(super) fn request_list(
    conn: &Connection,
    name: &str,
    open_only: bool,
) -> Result<Vec<ChangeRequest>, StoreError> {
    let err = be(name);
    let filter = if open_only {
        "WHERE status IN ('pending', 'approved')"
    } else {
        ""
    };
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {REQUEST_COLUMNS} FROM strata_requests {filter} ORDER BY created_ms, id"
        ))
        .map_err(&err)?;
    let rows: Vec<RequestRow> = stmt
        .query_map([], request_row)
        .map_err(&err)?
        .collect::<Result<_, _>>()
        .map_err(&err)?;
    let mut approvals: HashMap<String, Vec<Approval>> = HashMap::new();
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT a.request, a.principal, a.time_ms FROM strata_request_approvals a
             JOIN strata_requests r ON r.id = a.request {}
             ORDER BY a.request, a.time_ms, a.principal",
            filter.replace("status", "r.status")
        ))
        .map_err(&err)?;
    let mut q = stmt.query([]).map_err(&err)?;
    while let Some(r) = q.next().map_err(&err)? {
        approvals
            .entry(r.get(0).map_err(&err)?)
            .or_default()
            .push(Approval {
                principal: r.get(1).map_err(&err)?,
                time_ms: r.get(2).map_err(&err)?,
            });
    }
    rows.into_iter()
        .map(|row| {
            let mut req = with_status(row)?;
            req.approvals = approvals.remove(&req.id).unwrap_or_default();
            Ok(req)
        })
        .collect()
}

/// The author and status of request `id`.
fn request_state(
    conn: &Connection,
    name: &str,
    id: &str,
) -> Result<(String, RequestStatus), StoreError> {
    let (author, status): (String, String) = conn
        .prepare_cached("SELECT author, status FROM strata_requests WHERE id = ?1")
        .map_err(be(name))?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(be(name))?
        .ok_or_else(|| StoreError::NotFound {
            kind: "change request",
            id: id.to_string(),
        })?;
    Ok((author, requests::parse_status(id, &status)?))
}

fn set_status(
    conn: &Connection,
    name: &str,
    id: &str,
    change: &requests::StatusChange,
    revision: Option<&str>,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE strata_requests SET status = ?2, status_ms = ?3, detail = ?4, revision = COALESCE(?5, revision) WHERE id = ?1",
    )
    .map_err(be(name))?
    .execute(params![
        id,
        change.to.as_str(),
        change.time_ms,
        change.detail,
        revision
    ])
    .map_err(be(name))?;
    Ok(())
}

pub(super) fn request_update(
    conn: &Connection,
    name: &str,
    id: &str,
    update: &RequestUpdate,
    audit: &[NewAuditEntry],
) -> Result<(ChangeRequest, Vec<AuditEntry>), StoreError> {
    let err = be(name);
    let (author, status) = request_state(conn, name, id)?;
    if let Some(a) = &update.approval {
        let already = conn
            .prepare_cached(
                "SELECT 1 FROM strata_request_approvals WHERE request = ?1 AND principal = ?2",
            )
            .map_err(&err)?
            .exists([id, a.principal.as_str()])
            .map_err(&err)?;
        requests::check_approval(id, &author, status, a, already)?;
        conn.execute(
            "INSERT INTO strata_request_approvals (request, principal, time_ms) VALUES (?1, ?2, ?3)",
            params![id, a.principal, a.time_ms],
        )
        .map_err(&err)?;
    }
    if let Some(change) = &update.status {
        requests::check_transition(id, status, change)?;
        set_status(conn, name, id, change, None)?;
    }
    let entries = append(conn, name, audit)?;
    let req = request_get(conn, name, id)?.ok_or_else(|| StoreError::NotFound {
        kind: "change request",
        id: id.to_string(),
    })?;
    Ok((req, entries))
}

/// A commit's request transition (inside the commit's transaction).
pub(super) fn request_transition(
    conn: &Connection,
    name: &str,
    t: &RequestTransition,
    revision: &str,
) -> Result<(), StoreError> {
    let (_, status) = request_state(conn, name, &t.id)?;
    requests::check_transition(&t.id, status, &t.change)?;
    set_status(conn, name, &t.id, &t.change, Some(revision))
}
