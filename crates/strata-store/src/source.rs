//! A stored revision as a [`ProjectSource`], so the same core code that resolves a working
//! tree resolves any revision. Files are read from the store on first use and verified.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use strata_core::files::{ProjectSource, SourceError};

use crate::backend::Store;
use crate::error::StoreError;
use crate::model::{Hash, Manifest};
use crate::tree::{LazyTree, Tree};

/// Blobs already read and verified, shared by the sources of one repository.
pub(crate) type BlobCache = Arc<Mutex<HashMap<Hash, Arc<[u8]>>>>;

/// Reads one blob through the cache.
pub(crate) fn read_blob(
    store: &dyn Store,
    cache: &BlobCache,
    hash: &Hash,
) -> Result<Arc<[u8]>, StoreError> {
    read_blobs(store, cache, std::slice::from_ref(hash))?
        .pop()
        .ok_or_else(|| StoreError::Corrupt {
            what: format!("blob {} (missing)", &hash.to_hex()[..12]),
        })
}

/// Reads several blobs through the cache, fetching the missing ones in one batch.
pub(crate) fn read_blobs(
    store: &dyn Store,
    cache: &BlobCache,
    hashes: &[Hash],
) -> Result<Vec<Arc<[u8]>>, StoreError> {
    let missing: Vec<Hash> = {
        let c = cache.lock().unwrap_or_else(|e| e.into_inner());
        let mut m: Vec<Hash> = hashes
            .iter()
            .filter(|h| !c.contains_key(h))
            .copied()
            .collect();
        m.sort();
        m.dedup();
        m
    };
    if !missing.is_empty() {
        let fetched = store.blobs(&missing)?;
        let mut c = cache.lock().unwrap_or_else(|e| e.into_inner());
        // Keep memory bounded on long history walks: start over past 64k blobs.
        if c.len() + missing.len() > 65_536 {
            c.clear();
        }
        for (h, b) in missing.into_iter().zip(fetched) {
            c.insert(h, Arc::from(b.into_boxed_slice()));
        }
    }
    let c = cache.lock().unwrap_or_else(|e| e.into_inner());
    hashes
        .iter()
        .map(|h| match c.get(h) {
            Some(b) => Ok(b.clone()),
            None => Err(StoreError::Corrupt {
                what: format!("blob {} (missing)", &h.to_hex()[..12]),
            }),
        })
        .collect()
}

/// The files of one revision, possibly with pending edits laid over them. Directories
/// are read on first use ([`LazyTree`]); the full manifest only when something lists it.
pub struct StoreSource {
    store: Arc<dyn Store>,
    cache: BlobCache,
    tree: Arc<LazyTree>,
    manifest: Arc<OnceLock<Arc<Manifest>>>,
    /// Files replaced (`Some`) or deleted (`None`) on top of the revision.
    overlay: BTreeMap<String, Option<Arc<[u8]>>>,
    label: String,
}

impl StoreSource {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        cache: BlobCache,
        root: Hash,
        label: String,
    ) -> StoreSource {
        let tree = LazyTree::new(
            store.clone(),
            cache.clone(),
            root,
            format!("manifest of {label}"),
        );
        StoreSource {
            store,
            cache,
            tree: Arc::new(tree),
            manifest: Arc::new(OnceLock::new()),
            overlay: BTreeMap::new(),
            label,
        }
    }

    /// The same revision with `overlay` laid over it.
    pub(crate) fn with_overlay(&self, overlay: BTreeMap<String, Option<Arc<[u8]>>>) -> Self {
        StoreSource {
            store: self.store.clone(),
            cache: self.cache.clone(),
            tree: self.tree.clone(),
            manifest: self.manifest.clone(),
            overlay,
            label: self.label.clone(),
        }
    }

    /// The revision's tree (without the overlay), read lazily.
    pub(crate) fn tree(&self) -> &LazyTree {
        &self.tree
    }

    /// The revision's whole manifest (without the overlay), decoded on first use.
    pub fn manifest(&self) -> Result<Arc<Manifest>, StoreError> {
        if let Some(m) = self.manifest.get() {
            return Ok(m.clone());
        }
        let m = Arc::new(Manifest::decode(
            &self.tree.root(),
            &self.label,
            &mut |hs| read_blobs(&*self.store, &self.cache, hs),
        )?);
        Ok(self.manifest.get_or_init(|| m).clone())
    }

    /// The blob of the file at `path` in the revision (without the overlay).
    pub fn lookup(&self, path: &str) -> Result<Option<Hash>, StoreError> {
        self.tree.lookup(path)
    }

    /// Reads `paths` into the cache in one batch (missing paths are skipped), so that
    /// the reads that follow make no round trip each.
    pub fn prefetch(&self, paths: &[&str]) -> Result<(), StoreError> {
        let mut hashes = Vec::new();
        for p in paths {
            if !self.overlay.contains_key(*p)
                && let Some(h) = self.tree.lookup(p)?
            {
                hashes.push(h);
            }
        }
        read_blobs(&*self.store, &self.cache, &hashes).map(|_| ())
    }

    /// Reads a file, reporting store errors as they are (corruption stays typed).
    pub fn read_file(&self, path: &str) -> Result<Option<Arc<[u8]>>, StoreError> {
        if let Some(o) = self.overlay.get(path) {
            return Ok(o.clone());
        }
        match self.tree.lookup(path)? {
            None => Ok(None),
            Some(h) => read_blob(&*self.store, &self.cache, &h).map(Some),
        }
    }

    fn paths(&self) -> Result<Vec<String>, StoreError> {
        let manifest = self.manifest()?;
        let mut all: Vec<String> = manifest
            .files
            .keys()
            .filter(|p| !matches!(self.overlay.get(*p), Some(None)))
            .cloned()
            .collect();
        for (p, v) in &self.overlay {
            if v.is_some() && !manifest.files.contains_key(p) {
                all.push(p.clone());
            }
        }
        all.sort();
        Ok(all)
    }
}

fn source_error(path: &str, e: StoreError) -> SourceError {
    SourceError {
        path: path.to_string(),
        message: e.to_string(),
    }
}

impl ProjectSource for StoreSource {
    fn read(&self, path: &str) -> Result<Option<Arc<[u8]>>, SourceError> {
        self.read_file(path).map_err(|e| source_error(path, e))
    }

    fn list_dir(&self, dir: &str) -> Result<Vec<String>, SourceError> {
        let mut names = self.tree.list_dir(dir).map_err(|e| source_error(dir, e))?;
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{}/", dir.trim_end_matches('/'))
        };
        for (p, v) in &self.overlay {
            if let Some(rest) = p.strip_prefix(&prefix)
                && !rest.contains('/')
            {
                match v {
                    Some(_) if !names.iter().any(|n| n == rest) => names.push(rest.to_string()),
                    None => names.retain(|n| n != rest),
                    Some(_) => {}
                }
            }
        }
        names.sort();
        Ok(names)
    }

    fn list_all(&self) -> Result<Vec<String>, SourceError> {
        self.paths().map_err(|e| source_error("", e))
    }

    fn describe(&self) -> String {
        self.label.clone()
    }
}
