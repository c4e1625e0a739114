//! Drift detection: comparing the effective configurations of targets and judging the
//! differences against the project's declared variation policy
//! (`policies/variations.yaml`).

pub mod engine;
pub mod hash;
pub mod patch;
pub mod policy;
pub mod remedy;
pub mod vocabulary;
