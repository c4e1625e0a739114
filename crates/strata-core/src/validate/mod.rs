//! Validation: JSON Schema, CEL cross-parameter rules, secrets, app-compatibility contracts
//! and schema evolution, producing a [`report::Report`] that `strata check` renders.

pub mod cel;
pub mod check;
pub mod contract;
pub mod evolution;
pub mod report;
pub mod report_json;
pub mod schema;
