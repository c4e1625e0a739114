//! Drift detection: comparing the effective configurations of targets and judging the
//! differences against the project's declared variation policy
//! (`policies/variations.yaml`).
//!
//! `collect` runs a comparison between environments, `actual` one of a running system
//! against its desired configuration, and `report` holds what both produce and its
//! renderings; the CLI and the server share them.

pub mod actual;
pub mod collect;
pub mod engine;
pub mod hash;
pub mod patch;
pub mod policy;
pub mod remedy;
pub mod report;
pub mod vocabulary;
