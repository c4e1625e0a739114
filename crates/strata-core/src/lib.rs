//! # strata-core
//!
//! The pure domain logic of Strata: the project model (`strata.yaml`), parameter paths
//! and globs, reading layer documents with locations, merging layers, interpolation, and
//! resolution of effective configurations with provenance.
//!
//! Architecture invariant: this crate never touches the file system, the network or the
//! clock. A project arrives as a [`files::ProjectSource`] (relative path → bytes), so the
//! same code resolves a working tree, a git commit or a stored revision.
//!
//! ```
//! use std::sync::Arc;
//! use strata_core::files::MemorySource;
//! use strata_core::resolve::{Project, ResolveOptions};
//!
//! let src = MemorySource::new()
//!     .with("strata.yaml", "version: 1\nenvironments: [dev]\nproviders: [aws]\n\
//!         targets: [dev/aws/us-east-1]\nhierarchy: [base, \"env/{env}\"]\nservices: {web: {}}\n")
//!     .with("layers/base/web.yaml", "replicas: 2\nname: \"web-${env}\"\n")
//!     .with("layers/env/dev/web.yaml", "replicas: 1\n");
//! let project = Project::load(Arc::new(src)).unwrap();
//! let eff = project.resolve("web", "dev/aws/us-east-1", ResolveOptions::default()).unwrap();
//! assert_eq!(eff.root.value.to_json(), serde_json::json!({"replicas": 1, "name": "web-dev"}));
//! ```

pub mod access;
pub mod cache;
pub mod compare;
pub mod drift;
pub mod edit;
pub mod error;
pub mod files;
pub mod interpolate;
pub mod merge;
pub mod parse;
pub mod path;
pub mod project;
pub mod providers;
pub mod resolve;
pub mod sweep;
#[cfg(test)]
mod test_support;
pub mod validate;
pub mod value;
