//! # strata-store
//!
//! Strata's memory: every change to a project as an immutable, content-addressed
//! revision in a transactional store, with history, optimistic concurrency, corruption
//! detection, secrets encrypted at rest and import straight from git.
//!
//! - [`backend::Store`] is what a database must provide; [`sqlite::SqliteStore`] (the
//!   embedded default) and [`postgres::PgStore`] (shared by several servers) implement it
//!   and pass one conformance suite (`tests/conformance`).
//! - [`repo::Repository`] puts Strata's semantics on any store: import, changesets with
//!   rebase-or-conflict, revert, tags, secrets; [`history`] answers log, show, diff and
//!   blame; [`fsck`] verifies a whole store.
//! - [`crypto`] encrypts secret values per value with age; [`git`] reads a commit's tree
//!   with gix, without a checkout.
//! - [`audit`] is the tamper-evident audit log (a BLAKE3 hash chain the backends append
//!   to in the same transaction as the change it records, and [`audit::verify`]);
//!   [`tokens`] and [`requests`] are the stored API tokens and change requests;
//!   [`actual`] the latest configuration each running service reported.
//!
//! ```no_run
//! use std::collections::BTreeMap;
//! use strata_store::model::CommitMeta;
//!
//! let repo = strata_store::repo::open(".strata/store.db")?;
//! let mut files = BTreeMap::new();
//! files.insert("strata.yaml".to_string(), std::fs::read("strata.yaml").unwrap());
//! repo.import(files, CommitMeta { author: "alice".into(), ..CommitMeta::default() })?;
//! # Ok::<(), strata_store::error::StoreError>(())
//! ```

pub mod actual;
pub mod audit;
pub mod backend;
pub mod changeset;
pub mod crypto;
pub mod error;
pub mod fsck;
pub mod git;
pub mod history;
pub mod migrations;
pub mod model;
pub mod postgres;
pub mod repo;
pub mod requests;
pub mod reveal;
pub mod source;
pub mod sqlite;
pub mod tokens;
pub mod tree;
pub mod workflow;

pub use error::StoreError;
pub use repo::{Repository, open};
