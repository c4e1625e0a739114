//! Versioned schema migrations, run when a store is opened.
//!
//! Each backend lists its migrations in order; the store records the versions it has
//! applied in `strata_schema`. A store whose version is newer than the binary's newest
//! migration is refused, so an old `strata` never misreads a newer store.

use crate::error::StoreError;

/// One schema step.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// The version the store has after this step (1, 2, …).
    pub version: i64,
    /// The SQL that performs it (one batch, run inside the opening transaction).
    pub sql: &'static str,
}

/// The migrations still to run on a store at version `found`, or the refusal of a store
/// newer than `migrations` know.
pub(crate) fn pending<'m>(
    store: &str,
    found: i64,
    migrations: &'m [Migration],
) -> Result<&'m [Migration], StoreError> {
    let supported = migrations.last().map_or(0, |m| m.version);
    if found > supported {
        return Err(StoreError::TooNew {
            store: store.to_string(),
            found,
            supported,
        });
    }
    let done = migrations.iter().take_while(|m| m.version <= found).count();
    Ok(&migrations[done..])
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: &[Migration] = &[
        Migration {
            version: 1,
            sql: "a",
        },
        Migration {
            version: 2,
            sql: "b",
        },
    ];

    #[test]
    fn pending_steps() {
        assert_eq!(pending("s", 0, M).unwrap().len(), 2);
        assert_eq!(pending("s", 1, M).unwrap()[0].sql, "b");
        assert!(pending("s", 2, M).unwrap().is_empty());
        let e = pending("s", 3, M).unwrap_err().to_string();
        assert!(e.contains("upgrade strata"), "{e}");
    }
}
