//! `strata drift --since REV`: re-compare only the services whose effective configuration
//! changed between a stored revision and the one compared (`--rev`, default HEAD).
//!
//! The store records which files every revision changed, so the candidates come without
//! reading any content: services whose layer files or schema changed, plus the services
//! whose layers `${ref:…}` a candidate (from the store's reference index). A candidate is
//! resolved at both revisions, for each compared target that reads one of the changed
//! files (its own or those of the services it references), and compared again only when
//! its Merkle root hash differs there. A changed schema (its `x-strata-variation` rules),
//! policy, `strata.yaml` or provider catalog can change how differences are classified,
//! so those re-compare their service, or every service.

use std::collections::BTreeSet;
use std::path::Path;

use strata_core::drift::hash::Hashed;
use strata_core::drift::policy::VariationPolicy;
use strata_core::project::Target;
use strata_core::resolve::{Project, ResolveOptions};
use strata_store::model::{Revision, referenced_services};
use strata_store::repo::{Repository, layer_file};

use super::super::store_opts::{StoreOpts, rev_name};
use crate::error::CliError;

/// The two revisions of a `--since` run.
pub(super) struct Since {
    repo: Repository,
    then: Revision,
    now: Revision,
}

/// What the changed files say.
#[derive(Default)]
struct Candidates {
    /// Every file changed between the two revisions.
    paths: BTreeSet<String>,
    /// Services a changed file may affect.
    candidates: BTreeSet<String>,
    /// Services whose schema changed (their variation rules may have).
    schema_changed: BTreeSet<String>,
    /// `strata.yaml`, a provider catalog or the policy changed: every service.
    everything: bool,
    /// `(service, services one of its layer files references)`.
    edges: Vec<(String, Vec<String>)>,
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
    /// `targets`, or whose classification may have changed (their schema, or the policy,
    /// `strata.yaml` or a provider catalog changed: then every service).
    pub fn changed(
        &self,
        now: &Project,
        targets: &[&Target],
        services: &[String],
    ) -> Result<Changed, CliError> {
        let found = self.candidates(now, services)?;
        let mut changed = Vec::new();
        if found.everything {
            changed = services.to_vec();
        } else if !found.candidates.is_empty() {
            let then = self
                .repo
                .project(&self.then)
                .map_err(CliError::from_store)?;
            let opts = ResolveOptions::default();
            let levels = &now.config.hierarchy;
            for s in services.iter().filter(|s| found.candidates.contains(*s)) {
                if found.schema_changed.contains(s) {
                    changed.push(s.clone());
                    continue;
                }
                // The services whose layers feed `s`: itself and what it references.
                let mut feeding: BTreeSet<&str> = BTreeSet::from([s.as_str()]);
                loop {
                    let before = feeding.len();
                    for (svc, refs) in &found.edges {
                        if feeding.contains(svc.as_str()) {
                            feeding.extend(refs.iter().map(String::as_str));
                        }
                    }
                    if feeding.len() == before {
                        break;
                    }
                }
                let differs = targets.iter().any(|t| {
                    // Only a target reading one of the changed files can see a change.
                    let dirs: Vec<String> = levels.iter().map(|l| l.dir_for(t)).collect();
                    let touched = found.paths.iter().any(|p| {
                        layer_file(p).is_some_and(|(dir, svc)| {
                            feeding.contains(svc) && dirs.iter().any(|d| d == dir)
                        })
                    });
                    if !touched {
                        return false;
                    }
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
            "candidates": found.candidates.len(),
            "changed_services": changed,
            "summary": summary,
        });
        Ok(Changed { changed, json })
    }

    /// Services a changed file may affect (see the module documentation).
    fn candidates(&self, now: &Project, services: &[String]) -> Result<Candidates, CliError> {
        let (lo, hi) = if self.then.seq <= self.now.seq {
            (self.then.seq, self.now.seq)
        } else {
            (self.now.seq, self.then.seq)
        };
        let mut found = Candidates::default();
        for seq in lo + 1..=hi {
            for c in self
                .repo
                .store()
                .file_changes(seq)
                .map_err(CliError::from_store)?
            {
                found.paths.insert(c.path);
            }
        }
        for p in &found.paths {
            if p == "strata.yaml" || p.starts_with("providers/") || p == VariationPolicy::PATH {
                found.everything = true;
                found.candidates = services.iter().cloned().collect();
                return Ok(found);
            }
            if let Some((_, service)) = layer_file(p) {
                found.candidates.insert(service.to_string());
            }
            for (name, def) in &now.config.services {
                if def.schema.as_deref() == Some(p.as_str()) {
                    found.candidates.insert(name.clone());
                    found.schema_changed.insert(name.clone());
                }
            }
        }
        if found.candidates.is_empty() {
            return Ok(found);
        }
        // Services that reference a candidate, until nothing new is found: from the
        // store's reference index, or (a store older than the index) the layer texts.
        found.edges = match self
            .repo
            .store()
            .layer_refs(self.now.seq)
            .map_err(CliError::from_store)?
        {
            Some(rows) => rows
                .into_iter()
                .filter_map(|r| {
                    let service = layer_file(&r.path)?.1.to_string();
                    Some((service, r.services.unwrap_or_default()))
                })
                .collect(),
            None => self.scan_refs(now)?,
        };
        loop {
            let before = found.candidates.len();
            for (service, refs) in &found.edges {
                if !found.candidates.contains(service)
                    && refs.iter().any(|r| found.candidates.contains(r))
                {
                    found.candidates.insert(service.clone());
                }
            }
            if found.candidates.len() == before {
                break;
            }
        }
        Ok(found)
    }

    /// `(service, services it references)` per layer file, read from the files.
    fn scan_refs(&self, now: &Project) -> Result<Vec<(String, Vec<String>)>, CliError> {
        let io =
            |e: strata_core::files::SourceError| CliError::Io(format!("{}: {}", e.path, e.message));
        let mut out = Vec::new();
        for p in now.source().list_all().map_err(io)? {
            let Some((_, service)) = layer_file(&p) else {
                continue;
            };
            if let Some(bytes) = now.source().read(&p).map_err(io)? {
                let refs = referenced_services(&bytes);
                if !refs.is_empty() {
                    out.push((service.to_string(), refs));
                }
            }
        }
        Ok(out)
    }
}
