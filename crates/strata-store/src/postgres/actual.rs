//! The PostgreSQL side of reports of running systems (`strata_actual`, migration 4).

use postgres::GenericClient;

use crate::actual::ActualReport;
use crate::error::StoreError;

fn be(name: &str) -> impl Fn(postgres::Error) -> StoreError + '_ {
    move |e| StoreError::backend(name, e)
}

/// Keeps `report` as the latest of its (target, service) (inside the caller's
/// transaction; concurrent reports of one pair serialise on its row).
pub(super) fn put(
    c: &mut impl GenericClient,
    name: &str,
    report: &ActualReport,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO strata_actual (target, service, principal, time_ms, revision, config, digest)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (target, service) DO UPDATE SET
             principal = excluded.principal, time_ms = excluded.time_ms,
             revision = excluded.revision, config = excluded.config, digest = excluded.digest",
        &[
            &report.target,
            &report.service,
            &report.principal,
            &report.time_ms,
            &report.revision,
            &report.config,
            &report.digest,
        ],
    )
    .map_err(be(name))?;
    Ok(())
}

/// The latest report of `service` on `target`, verified.
pub(super) fn get(
    c: &mut impl GenericClient,
    name: &str,
    target: &str,
    service: &str,
) -> Result<Option<ActualReport>, StoreError> {
    let row = c
        .query_opt(
            "SELECT principal, time_ms, revision, config, digest FROM strata_actual
             WHERE target = $1 AND service = $2",
            &[&target, &service],
        )
        .map_err(be(name))?;
    row.map(|r| {
        ActualReport {
            target: target.to_string(),
            service: service.to_string(),
            principal: r.get(0),
            time_ms: r.get(1),
            revision: r.get(2),
            config: r.get(3),
            digest: r.get(4),
        }
        .verified()
    })
    .transpose()
}
