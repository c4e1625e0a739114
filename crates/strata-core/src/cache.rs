//! Cache of effective configurations keyed by (project content hash, target, service).
//!
//! A cached read is three hash-map lookups and a walk down the parameter path: no file
//! is read and nothing is merged. Keying by content hash means an edited project can never
//! be served stale results: its hash differs.

use std::fmt;
use std::sync::{Arc, RwLock};

use rustc_hash::FxHashMap;

use crate::path::Segment;
use crate::resolve::{Effective, Project, ResolveError, ResolveOptions};
use crate::value::Value;

/// BLAKE3 hash of a project's files (paths and contents).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash(pub [u8; 32]);

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({self})")
    }
}

type ByService = FxHashMap<String, Arc<Effective>>;
type ByTarget = FxHashMap<String, ByService>;

/// Thread-safe cache of resolved configurations.
#[derive(Default)]
pub struct ResolveCache {
    entries: RwLock<FxHashMap<ContentHash, ByTarget>>,
}

impl ResolveCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The cached configuration, if present.
    pub fn get(&self, hash: &ContentHash, target: &str, service: &str) -> Option<Arc<Effective>> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries.get(hash)?.get(target)?.get(service).cloned()
    }

    /// One cached parameter's value: a lookup, never a merge. `None` when the configuration
    /// is not cached or has no such parameter.
    pub fn get_param(
        &self,
        hash: &ContentHash,
        target: &str,
        service: &str,
        path: &[Segment],
    ) -> Option<Value> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let eff = entries.get(hash)?.get(target)?.get(service)?;
        eff.root.get(path).map(|n| n.value.clone())
    }

    /// Stores a resolved configuration and returns the shared copy.
    pub fn insert(&self, hash: ContentHash, eff: Effective) -> Arc<Effective> {
        let eff = Arc::new(eff);
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries
            .entry(hash)
            .or_default()
            .entry(eff.target.clone())
            .or_default()
            .insert(eff.service.clone(), eff.clone());
        eff
    }

    /// The cached configuration, resolving and storing it on a miss.
    pub fn resolve(
        &self,
        project: &Project,
        target: &str,
        service: &str,
    ) -> Result<Arc<Effective>, ResolveError> {
        let hash = project.content_hash()?;
        if let Some(hit) = self.get(&hash, target, service) {
            return Ok(hit);
        }
        let eff = project.resolve(service, target, ResolveOptions::default())?;
        Ok(self.insert(hash, eff))
    }

    /// Resolves and caches every service of `target` (in parallel).
    pub fn resolve_all(
        &self,
        project: &Project,
        target: &str,
    ) -> Result<Vec<Arc<Effective>>, Vec<ResolveError>> {
        let hash = project.content_hash().map_err(|e| vec![e.into()])?;
        let all = project
            .session(target, ResolveOptions::default())
            .map_err(|e| vec![e])?
            .resolve_all()?;
        Ok(all.into_iter().map(|e| self.insert(hash, e)).collect())
    }

    /// Drops every entry whose project hash is not `keep` (older project versions).
    pub fn retain_only(&self, keep: &ContentHash) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.retain(|h, _| h == keep);
    }

    /// Number of cached configurations.
    pub fn len(&self) -> usize {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries
            .values()
            .flat_map(|t| t.values())
            .map(|s| s.len())
            .sum()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::MemorySource;
    use crate::path::parse_segments;

    fn project(value: &str) -> Project {
        let src = MemorySource::new()
            .with(
                "strata.yaml",
                "version: 1\nenvironments: [dev]\nproviders: [aws]\ntargets: [dev/aws/r1]\nhierarchy: [base]\nservices: {a: {}, b: {}}\n",
            )
            .with("layers/base/a.yaml", format!("db: {{port: {value}}}\n"))
            .with("layers/base/b.yaml", "x: 1\n");
        Project::load(Arc::new(src)).unwrap()
    }

    #[test]
    fn caches_by_content_target_and_service() {
        let cache = ResolveCache::new();
        let p1 = project("1");
        let h1 = p1.content_hash().unwrap();
        let port = parse_segments("db.port").unwrap();
        assert_eq!(cache.get_param(&h1, "dev/aws/r1", "a", &port), None);
        let first = cache.resolve(&p1, "dev/aws/r1", "a").unwrap();
        let again = cache.resolve(&p1, "dev/aws/r1", "a").unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "second read is served from the cache"
        );
        assert_eq!(
            cache.get_param(&h1, "dev/aws/r1", "a", &port),
            Some(Value::Int(1))
        );
        assert_eq!(cache.get_param(&h1, "dev/aws/r1", "b", &port), None);

        // Edited content: a different key, never the stale value.
        let p2 = project("2");
        let h2 = p2.content_hash().unwrap();
        assert_ne!(h1, h2);
        assert_eq!(
            cache
                .resolve(&p2, "dev/aws/r1", "a")
                .unwrap()
                .root
                .get(&port)
                .unwrap()
                .value,
            Value::Int(2)
        );
        assert_eq!(cache.len(), 2);
        cache.retain_only(&h2);
        assert_eq!(cache.len(), 1);
        assert!(cache.get(&h1, "dev/aws/r1", "a").is_none());
    }

    #[test]
    fn resolve_all_fills_the_cache() {
        let cache = ResolveCache::new();
        let p = project("1");
        let all = cache.resolve_all(&p, "dev/aws/r1").unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(cache.len(), 2);
        assert!(!cache.is_empty());
        assert!(cache.resolve_all(&p, "nope/aws/r1").is_err());
        assert_eq!(
            format!("{:?}", p.content_hash().unwrap()).len(),
            "ContentHash()".len() + 64
        );
    }
}
