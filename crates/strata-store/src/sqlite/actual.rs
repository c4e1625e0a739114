//! The SQLite side of reports of running systems (`strata_actual`, migration 4).

use rusqlite::{Connection, OptionalExtension, params};

use crate::actual::ActualReport;
use crate::error::StoreError;

fn be(name: &str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |e| StoreError::backend(name, e)
}

/// Keeps `report` as the latest of its (target, service) (inside the caller's write
/// transaction).
pub(super) fn put(conn: &Connection, name: &str, report: &ActualReport) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO strata_actual (target, service, principal, time_ms, revision, config, digest)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (target, service) DO UPDATE SET
             principal = excluded.principal, time_ms = excluded.time_ms,
             revision = excluded.revision, config = excluded.config, digest = excluded.digest",
    )
    .map_err(be(name))?
    .execute(params![
        report.target,
        report.service,
        report.principal,
        report.time_ms,
        report.revision,
        report.config,
        report.digest
    ])
    .map_err(be(name))?;
    Ok(())
}

/// The latest report of `service` on `target`, verified.
pub(super) fn get(
    conn: &Connection,
    name: &str,
    target: &str,
    service: &str,
) -> Result<Option<ActualReport>, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT principal, time_ms, revision, config, digest FROM strata_actual
             WHERE target = ?1 AND service = ?2",
        )
        .map_err(be(name))?
        .query_row(params![target, service], |r| {
            Ok(ActualReport {
                target: target.to_string(),
                service: service.to_string(),
                principal: r.get(0)?,
                time_ms: r.get(1)?,
                revision: r.get(2)?,
                config: r.get(3)?,
                digest: r.get(4)?,
            })
        })
        .optional()
        .map_err(be(name))?;
    row.map(ActualReport::verified).transpose()
}
