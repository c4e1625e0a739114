//! The PostgreSQL side of access control: the audit chain, tokens and change requests.
//!
//! Writers lock rows in one order — the revision head (commits), a change request, the
//! audit head — so concurrent transactions queue instead of deadlocking, and appenders
//! on every connection serialise on the audit head row (`SELECT … FOR UPDATE`): the chain
//! never forks. The caller opens and commits the transaction.

use std::collections::HashMap;

use postgres::GenericClient;
use postgres::types::ToSql;

use crate::audit::{self, AuditEntry, AuditFilter, NewAuditEntry, RawAuditHead, RawAuditRow};
use crate::backend::param_query;
use crate::error::StoreError;
use crate::requests::{
    self, Approval, ChangeRequest, NewRequest, RequestStatus, RequestTransition, RequestUpdate,
};
use crate::tokens::{self, NewToken, TokenRow};

/// The columns of `strata_audit`, in [`raw_row`]'s order.
const AUDIT_COLUMNS: &str = "seq, time_ms, principal, action, scope, params, decision, rule, request, revision, detail, prev, hash";

fn be(name: &str) -> impl Fn(postgres::Error) -> StoreError + '_ {
    move |e| StoreError::backend(name, e)
}

fn raw_row(r: &postgres::Row) -> RawAuditRow {
    RawAuditRow {
        seq: r.get(0),
        time_ms: r.get(1),
        principal: r.get(2),
        action: r.get(3),
        scope: r.get(4),
        params: r.get(5),
        decision: r.get(6),
        rule: r.get(7),
        request: r.get(8),
        revision: r.get(9),
        detail: r.get(10),
        prev: r.get(11),
        hash: r.get(12),
    }
}

/// The recorded head of the chain; `lock` takes its row lock (appenders).
fn audit_head(
    c: &mut impl GenericClient,
    name: &str,
    lock: bool,
) -> Result<RawAuditHead, StoreError> {
    let sql = if lock {
        "SELECT seq, hash FROM strata_audit_head WHERE id = 1 FOR UPDATE"
    } else {
        "SELECT seq, hash FROM strata_audit_head WHERE id = 1"
    };
    let row = c
        .query_opt(sql, &[])
        .map_err(be(name))?
        .ok_or_else(|| StoreError::Corrupt {
            what: "audit log head (missing)".into(),
        })?;
    Ok(RawAuditHead {
        seq: row.get(0),
        hash: row.get(1),
    })
}

/// Appends `entries` after the recorded head (locked until the caller's transaction
/// ends) and moves it.
pub(super) fn append(
    c: &mut impl GenericClient,
    name: &str,
    entries: &[NewAuditEntry],
) -> Result<Vec<AuditEntry>, StoreError> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let err = be(name);
    let head = audit_head(c, name, true)?;
    let (seq, hash) = audit::parse_head(head.seq, &head.hash)?;
    let rows = audit::chain(seq, &hash, entries)?;
    let col = |f: fn(&RawAuditRow) -> &String| rows.iter().map(f).cloned().collect::<Vec<_>>();
    let opt = |f: fn(&RawAuditRow) -> &Option<String>| {
        rows.iter().map(f).cloned().collect::<Vec<Option<String>>>()
    };
    let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
    let times: Vec<i64> = rows.iter().map(|r| r.time_ms).collect();
    let (principals, actions, scopes, params, decisions, prevs, hashes) = (
        col(|r| &r.principal),
        col(|r| &r.action),
        col(|r| &r.scope),
        col(|r| &r.params),
        col(|r| &r.decision),
        col(|r| &r.prev),
        col(|r| &r.hash),
    );
    let (rules, requests, revisions, details) = (
        opt(|r| &r.rule),
        opt(|r| &r.request),
        opt(|r| &r.revision),
        opt(|r| &r.detail),
    );
    c.execute(
        "INSERT INTO strata_audit (seq, time_ms, principal, action, scope, params, decision, rule, request, revision, detail, prev, hash)
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                              $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[])",
        &[
            &seqs, &times, &principals, &actions, &scopes, &params, &decisions, &rules,
            &requests, &revisions, &details, &prevs, &hashes,
        ],
    )
    .map_err(&err)?;
    let (mut index_params, mut index_seqs): (Vec<&str>, Vec<i64>) = (Vec::new(), Vec::new());
    for (row, entry) in rows.iter().zip(entries) {
        for p in &entry.params {
            index_params.push(p);
            index_seqs.push(row.seq);
        }
    }
    if !index_params.is_empty() {
        c.execute(
            "INSERT INTO strata_audit_params (param, seq)
             SELECT * FROM unnest($1::text[], $2::bigint[]) ON CONFLICT DO NOTHING",
            &[&index_params, &index_seqs],
        )
        .map_err(&err)?;
    }
    if let Some(last) = rows.last() {
        c.execute(
            "UPDATE strata_audit_head SET seq = $1, hash = $2 WHERE id = 1",
            &[&last.seq, &last.hash],
        )
        .map_err(&err)?;
    }
    rows.iter().map(RawAuditRow::decode).collect()
}

/// Entries matching `filter`, each checked against its hash.
pub(super) fn entries(
    c: &mut impl GenericClient,
    name: &str,
    filter: &AuditFilter,
) -> Result<Vec<AuditEntry>, StoreError> {
    let mut sql = format!("SELECT {AUDIT_COLUMNS} FROM strata_audit WHERE 1 = 1");
    let mut args: Vec<Box<dyn ToSql + Sync>> = Vec::new();
    let mut arg = |sql: &mut String, text: &str, v: Box<dyn ToSql + Sync>| {
        args.push(v);
        sql.push_str(&text.replace('?', &format!("${}", args.len())));
    };
    if let Some(after) = filter.after_seq {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        arg(&mut sql, " AND seq > ?", Box::new(after));
    }
    if let Some(since) = filter.since_ms {
        arg(&mut sql, " AND time_ms >= ?", Box::new(since));
    }
    if let Some(p) = &filter.principal {
        arg(&mut sql, " AND principal = ?", Box::new(p.clone()));
    }
    if let Some(a) = &filter.action {
        arg(&mut sql, " AND action = ?", Box::new(a.clone()));
    }
    if let Some(param) = &filter.param {
        let (exact, [(a_lo, a_hi), (b_lo, b_hi)]) = param_query(param);
        arg(
            &mut sql,
            " AND seq IN (SELECT seq FROM strata_audit_params WHERE param = ?",
            Box::new(exact),
        );
        arg(&mut sql, " OR (param >= ?", Box::new(a_lo));
        arg(&mut sql, " AND param < ?)", Box::new(a_hi));
        arg(&mut sql, " OR (param >= ?", Box::new(b_lo));
        arg(&mut sql, " AND param < ?))", Box::new(b_hi));
    }
    sql.push_str(if filter.newest_first {
        " ORDER BY seq DESC"
    } else {
        " ORDER BY seq"
    });
    if let Some(limit) = filter.limit {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        arg(&mut sql, " LIMIT ?", Box::new(limit));
    }
    let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a.as_ref()).collect();
    let rows = c.query(&sql, &refs).map_err(be(name))?;
    rows.iter().map(|r| raw_row(r).decode()).collect()
}

/// Every row by seq, then the head, in the caller's repeatable-read transaction.
pub(super) fn scan(
    tx: &mut postgres::Transaction<'_>,
    name: &str,
    f: &mut dyn FnMut(&RawAuditRow) -> bool,
) -> Result<RawAuditHead, StoreError> {
    let head = audit_head(tx, name, false)?;
    let portal = tx
        .bind(
            &format!("SELECT {AUDIT_COLUMNS} FROM strata_audit ORDER BY seq"),
            &[],
        )
        .map_err(be(name))?;
    loop {
        let rows = tx.query_portal(&portal, 1024).map_err(be(name))?;
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            if !f(&raw_row(r)) {
                return Ok(head);
            }
        }
    }
    Ok(head)
}

/// The stored audit key, if it was made.
pub(super) fn stored_key(
    c: &mut impl GenericClient,
    name: &str,
) -> Result<Option<[u8; 32]>, StoreError> {
    let row = c
        .query_opt("SELECT key FROM strata_audit_key WHERE id = 1", &[])
        .map_err(be(name))?;
    row.map(|r| audit::key_from_bytes(r.get::<_, &[u8]>(0)))
        .transpose()
}

/// The audit key, made on first use (inside the caller's transaction; a concurrent first
/// use keeps whichever key was stored first).
pub(super) fn key(c: &mut impl GenericClient, name: &str) -> Result<[u8; 32], StoreError> {
    if let Some(key) = stored_key(c, name)? {
        return Ok(key);
    }
    let fresh = audit::new_key(name)?;
    c.execute(
        "INSERT INTO strata_audit_key (id, key) VALUES (1, $1) ON CONFLICT DO NOTHING",
        &[&&fresh[..]],
    )
    .map_err(be(name))?;
    Ok(stored_key(c, name)?.unwrap_or(fresh))
}

// ---- tokens ----

const TOKEN_COLUMNS: &str = "id, principal, created_ms, expires_ms, revoked_ms";

fn token_row(r: &postgres::Row) -> TokenRow {
    TokenRow {
        id: r.get(0),
        principal: r.get(1),
        created_ms: r.get(2),
        expires_ms: r.get(3),
        revoked_ms: r.get(4),
    }
}

pub(super) fn token_create(
    c: &mut impl GenericClient,
    name: &str,
    token: &NewToken,
    audit: &[NewAuditEntry],
) -> Result<Vec<AuditEntry>, StoreError> {
    tokens::check(token)?;
    let err = be(name);
    let inserted = c
        .execute(
            "INSERT INTO strata_tokens (id, principal, hash, created_ms, expires_ms, revoked_ms)
             VALUES ($1, $2, $3, $4, $5, NULL) ON CONFLICT DO NOTHING",
            &[
                &token.id,
                &token.principal,
                &token.hash,
                &token.created_ms,
                &token.expires_ms,
            ],
        )
        .map_err(&err)?;
    if inserted == 0 {
        let id_taken = c
            .query_opt("SELECT 1 FROM strata_tokens WHERE id = $1", &[&token.id])
            .map_err(&err)?
            .is_some();
        return Err(if id_taken {
            StoreError::Exists {
                kind: "token",
                id: token.id.clone(),
            }
        } else {
            tokens::hash_taken()
        });
    }
    append(c, name, audit)
}

pub(super) fn token_by_hash(
    c: &mut impl GenericClient,
    name: &str,
    hash: &str,
) -> Result<Option<TokenRow>, StoreError> {
    let row = c
        .query_opt(
            &format!("SELECT {TOKEN_COLUMNS} FROM strata_tokens WHERE hash = $1"),
            &[&hash],
        )
        .map_err(be(name))?;
    Ok(row.as_ref().map(token_row))
}

pub(super) fn token_list(
    c: &mut impl GenericClient,
    name: &str,
) -> Result<Vec<TokenRow>, StoreError> {
    let rows = c
        .query(
            &format!("SELECT {TOKEN_COLUMNS} FROM strata_tokens ORDER BY created_ms, id"),
            &[],
        )
        .map_err(be(name))?;
    Ok(rows.iter().map(token_row).collect())
}

pub(super) fn token_revoke(
    c: &mut impl GenericClient,
    name: &str,
    id: &str,
    time_ms: i64,
    audit: &[NewAuditEntry],
) -> Result<(TokenRow, Vec<AuditEntry>), StoreError> {
    let row = c
        .query_opt(
            &format!(
                "UPDATE strata_tokens SET revoked_ms = COALESCE(revoked_ms, $2) WHERE id = $1
                 RETURNING {TOKEN_COLUMNS}"
            ),
            &[&id, &time_ms],
        )
        .map_err(be(name))?
        .ok_or_else(|| StoreError::NotFound {
            kind: "token",
            id: id.to_string(),
        })?;
    Ok((token_row(&row), append(c, name, audit)?))
}

// ---- change requests ----

const REQUEST_COLUMNS: &str = "id, author, message, changeset, base_seq, created_ms, expires_ms, rules, status, status_ms, detail, revision";

fn request_row(r: &postgres::Row) -> Result<ChangeRequest, StoreError> {
    let id: String = r.get(0);
    let status = requests::parse_status(&id, r.get::<_, &str>(8))?;
    Ok(ChangeRequest {
        id,
        author: r.get(1),
        message: r.get(2),
        changeset: r.get(3),
        base_seq: r.get::<_, i64>(4).max(0) as u64,
        created_ms: r.get(5),
        expires_ms: r.get(6),
        rules: r.get(7),
        status,
        status_ms: r.get(9),
        detail: r.get(10),
        revision: r.get(11),
        approvals: Vec::new(),
    })
}

pub(super) fn request_create(
    c: &mut impl GenericClient,
    name: &str,
    req: &NewRequest,
    audit: &[NewAuditEntry],
) -> Result<Vec<AuditEntry>, StoreError> {
    requests::check_new(req)?;
    let base_seq = i64::try_from(req.base_seq).unwrap_or(i64::MAX);
    let inserted = c
        .execute(
            "INSERT INTO strata_requests (id, author, message, changeset, base_seq, created_ms, expires_ms, rules, status, status_ms, detail, revision)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', NULL, NULL, NULL) ON CONFLICT DO NOTHING",
            &[
                &req.id,
                &req.author,
                &req.message,
                &req.changeset,
                &base_seq,
                &req.created_ms,
                &req.expires_ms,
                &req.rules,
            ],
        )
        .map_err(be(name))?;
    if inserted == 0 {
        return Err(StoreError::Exists {
            kind: "change request",
            id: req.id.clone(),
        });
    }
    append(c, name, audit)
}

pub(super) fn request_get(
    c: &mut impl GenericClient,
    name: &str,
    id: &str,
) -> Result<Option<ChangeRequest>, StoreError> {
    let Some(row) = c
        .query_opt(
            &format!("SELECT {REQUEST_COLUMNS} FROM strata_requests WHERE id = $1"),
            &[&id],
        )
        .map_err(be(name))?
    else {
        return Ok(None);
    };
    let mut req = request_row(&row)?;
    req.approvals = c
        .query(
            "SELECT principal, time_ms FROM strata_request_approvals WHERE request = $1 ORDER BY time_ms, principal",
            &[&id],
        )
        .map_err(be(name))?
        .iter()
        .map(|r| Approval {
            principal: r.get(0),
            time_ms: r.get(1),
        })
        .collect();
    Ok(Some(req))
}

pub(super) fn request_list(
    c: &mut impl GenericClient,
    name: &str,
    open_only: bool,
) -> Result<Vec<ChangeRequest>, StoreError> {
    let filter = if open_only {
        "WHERE r.status IN ('pending', 'approved')"
    } else {
        ""
    };
    let rows = c
        .query(
            &format!(
                "SELECT {REQUEST_COLUMNS} FROM strata_requests r {filter} ORDER BY created_ms, id"
            ),
            &[],
        )
        .map_err(be(name))?;
    let mut approvals: HashMap<String, Vec<Approval>> = HashMap::new();
    for r in c
        .query(
            &format!(
                "SELECT a.request, a.principal, a.time_ms FROM strata_request_approvals a
                 JOIN strata_requests r ON r.id = a.request {filter}
                 ORDER BY a.request, a.time_ms, a.principal"
            ),
            &[],
        )
        .map_err(be(name))?
    {
        approvals.entry(r.get(0)).or_default().push(Approval {
            principal: r.get(1),
            time_ms: r.get(2),
        });
    }
    rows.iter()
        .map(|row| {
            let mut req = request_row(row)?;
            req.approvals = approvals.remove(&req.id).unwrap_or_default();
            Ok(req)
        })
        .collect()
}

/// The author and status of request `id`, locking its row until the transaction ends.
fn request_state(
    c: &mut impl GenericClient,
    name: &str,
    id: &str,
) -> Result<(String, RequestStatus), StoreError> {
    let row = c
        .query_opt(
            "SELECT author, status FROM strata_requests WHERE id = $1 FOR UPDATE",
            &[&id],
        )
        .map_err(be(name))?
        .ok_or_else(|| StoreError::NotFound {
            kind: "change request",
            id: id.to_string(),
        })?;
    Ok((
        row.get(0),
        requests::parse_status(id, row.get::<_, &str>(1))?,
    ))
}

fn set_status(
    c: &mut impl GenericClient,
    name: &str,
    id: &str,
    change: &requests::StatusChange,
    revision: Option<&str>,
) -> Result<(), StoreError> {
    c.execute(
        "UPDATE strata_requests SET status = $2, status_ms = $3, detail = $4, revision = COALESCE($5, revision) WHERE id = $1",
        &[&id, &change.to.as_str(), &change.time_ms, &change.detail, &revision],
    )
    .map_err(be(name))?;
    Ok(())
}

pub(super) fn request_update(
    c: &mut impl GenericClient,
    name: &str,
    id: &str,
    update: &RequestUpdate,
    audit: &[NewAuditEntry],
) -> Result<(ChangeRequest, Vec<AuditEntry>), StoreError> {
    let (author, status) = request_state(c, name, id)?;
    if let Some(a) = &update.approval {
        let already = c
            .query_opt(
                "SELECT 1 FROM strata_request_approvals WHERE request = $1 AND principal = $2",
                &[&id, &a.principal],
            )
            .map_err(be(name))?
            .is_some();
        requests::check_approval(id, &author, status, a, already)?;
        c.execute(
            "INSERT INTO strata_request_approvals (request, principal, time_ms) VALUES ($1, $2, $3)",
            &[&id, &a.principal, &a.time_ms],
        )
        .map_err(be(name))?;
    }
    if let Some(change) = &update.status {
        requests::check_transition(id, status, change)?;
        set_status(c, name, id, change, None)?;
    }
    let entries = append(c, name, audit)?;
    let req = request_get(c, name, id)?.ok_or_else(|| StoreError::NotFound {
        kind: "change request",
        id: id.to_string(),
    })?;
    Ok((req, entries))
}

/// A commit's request transition (inside the commit's transaction).
pub(super) fn request_transition(
    c: &mut impl GenericClient,
    name: &str,
    t: &RequestTransition,
    revision: &str,
) -> Result<(), StoreError> {
    let (_, status) = request_state(c, name, &t.id)?;
    requests::check_transition(&t.id, status, &t.change)?;
    set_status(c, name, &t.id, &t.change, Some(revision))
}
