//! `strata drift --since REV`: re-compare only the services whose effective configuration
//! changed between a stored revision and the one compared (`--rev`, default HEAD).
//!
//! The store records which files every revision changed, so the candidates come without
//! reading any content: services whose layer files or schema changed, plus services whose
//! layers `${ref:…}` a candidate. A change to `strata.yaml`, `providers/` or the variation
//! policy can change everything, so every service is a candidate then. Each candidate is
//! resolved at both revisions for every compared target, and only those whose
//! Merkle root hash differs somewhere are compared again.

use std::collections::BTreeSet;
use std::path::Path;

use strata_core::drift::hash::Hashed;
use strata_core::drift::policy::VariationPolicy;
use strata_core::project::Target;
use strata_core::resolve::{Project, ResolveOptions};
use strata_store::model::Revision;
use strata_store::repo::{Repository, layer_file};

use super::super::store_opts::{StoreOpts, rev_name};
use crate::error::CliError;

/// The two revisions of a `--since` run.
pub(super) struct Since {
    repo: Repository,
    then: Revision,
    now: Revision,
}

/// Which services changed.
pub(super) struct Changed {
    /// Services whose effective configuration changed for some compared target.
    pub changed: Vec<String>,
    /// What the report says about the run.
    pub json: serde_json::Value,
}

impl Since {
    /// Opens the store and finds both revisions.
    pub fn open(root: &Path, store: &StoreOpts, since: &str, now: &str) -> Result<Since, CliError> {
        let repo = store.open_existing(root)?;
        let then = repo.resolve_rev(since).map_err(CliError::from_store)?;
        let now = repo.resolve_rev(now).map_err(CliError::from_store)?;
        Ok(Since { repo, then, now })
    }

    /// The project at the compared revision.
    pub fn project(&self) -> Result<Project, CliError> {
        self.repo.project(&self.now).map_err(CliError::from_store)
    }

    /// The services among `services` whose effective configuration changed for one of
    /// `targets`.
    pub fn changed(
        &self,
        now: &Project,
        targets: &[&Target],
        services: &[String],
    ) -> Result<Changed, CliError> {
        let candidates = self.candidates(now, services)?;
        let then = if candidates.is_empty() {
            None
        } else {
            Some(
                self.repo
                    .project(&self.then)
                    .map_err(CliError::from_store)?,
            )
        };
        let mut changed = Vec::new();
        if let Some(then) = &then {
            let opts = ResolveOptions::default();
            for s in services.iter().filter(|s| candidates.contains(*s)) {
                let differs = targets.iter().any(|t| {
                    let name = t.to_string();
                    let a = then.resolve(s, &name, opts).ok();
                    let b = now.resolve(s, &name, opts).ok();
                    match (a, b) {
                        (Some(a), Some(b)) => {
                            Hashed::new(&a.root).hash() != Hashed::new(&b.root).hash()
                        }
                        _ => true,
                    }
                });
                if differs {
                    changed.push(s.clone());
                }
            }
        }
        let summary = format!(
            "since {}: {} of {} services changed{}; the others were not compared again",
            rev_name(&self.then),
            changed.len(),
            services.len(),
            if changed.is_empty() {
                String::new()
            } else {
                format!(" ({})", changed.join(", "))
            }
        );
        let json = serde_json::json!({
            "rev": self.then.id.to_string(),
            "seq": self.then.seq,
            "compared": self.now.id.to_string(),
            "compared_seq": self.now.seq,
            "candidates": candidates.len(),
            "changed_services": changed,
            "summary": summary,
        });
        Ok(Changed { changed, json })
    }

    /// Services a changed file may affect (see the module documentation).
    fn candidates(&self, now: &Project, services: &[String]) -> Result<BTreeSet<String>, CliError> {
        let (lo, hi) = if self.then.seq <= self.now.seq {
            (self.then.seq, self.now.seq)
        } else {
            (self.now.seq, self.then.seq)
        };
        let mut paths = BTreeSet::new();
        for seq in lo + 1..=hi {
            for c in self
                .repo
                .store()
                .file_changes(seq)
                .map_err(CliError::from_store)?
            {
                paths.insert(c.path);
            }
        }
        let everything = || services.iter().cloned().collect::<BTreeSet<String>>();
        let mut out = BTreeSet::new();
        for p in &paths {
            if p == "strata.yaml" || p.starts_with("providers/") || p == VariationPolicy::PATH {
                return Ok(everything());
            }
            if let Some((_, service)) = layer_file(p) {
                out.insert(service.to_string());
            }
            for (name, def) in &now.config.services {
                if def.schema.as_deref() == Some(p.as_str()) {
                    out.insert(name.clone());
                }
            }
        }
        if out.is_empty() {
            return Ok(out);
        }
        // Services that reference a candidate, until nothing new is found.
        let layer_paths: Vec<String> = now
            .source()
            .list_all()
            .map_err(|e| CliError::Io(format!("{}: {}", e.path, e.message)))?
            .into_iter()
            .filter(|p| layer_file(p).is_some())
            .collect();
        let mut texts: Vec<(String, std::sync::Arc<[u8]>)> = Vec::new();
        for p in &layer_paths {
            let Some((_, service)) = layer_file(p) else {
                continue;
            };
            if let Some(bytes) = now
                .source()
                .read(p)
                .map_err(|e| CliError::Io(format!("{}: {}", e.path, e.message)))?
                && memchr::memmem::find(&bytes, b"${ref:").is_some()
            {
                texts.push((service.to_string(), bytes));
            }
        }
        loop {
            let before = out.len();
            for (service, bytes) in &texts {
                if out.contains(service) {
                    continue;
                }
                if out.iter().any(|c| {
                    memchr::memmem::find(bytes, format!("${{ref:{c}:").as_bytes()).is_some()
                }) {
                    out.insert(service.clone());
                }
            }
            if out.len() == before {
                break;
            }
        }
        Ok(out)
    }
}
