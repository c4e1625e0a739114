//! A stored revision as a [`ProjectSource`], so the same core code that resolves a working
//! tree resolves any revision. Files are read from the store on first use and verified.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use strata_core::files::{ProjectSource, SourceError};

use crate::backend::Store;
use crate::error::StoreError;
use crate::model::{Hash, Manifest};

/// Blobs already read and verified, shared by the sources of one repository.
pub(crate) type BlobCache = Arc<Mutex<HashMap<Hash, Arc<[u8]>>>>;

/// Reads one blob through the cache.
pub(crate) fn read_blob(
    store: &dyn Store,
    cache: &BlobCache,
    hash: &Hash,
) -> Result<Arc<[u8]>, StoreError> {
    if let Some(b) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(hash) {
        return Ok(b.clone());
    }
    let bytes: Arc<[u8]> = Arc::from(store.blob(hash)?.into_boxed_slice());
    let mut c = cache.lock().unwrap_or_else(|e| e.into_inner());
    // Keep memory bounded on long history walks: start over past 64k blobs.
    if c.len() > 65_536 {
        c.clear();
    }
    c.insert(*hash, bytes.clone());
    Ok(bytes)
}

/// The files of one revision, possibly with pending edits laid over them.
pub struct StoreSource {
    store: Arc<dyn Store>,
    cache: BlobCache,
    manifest: Arc<Manifest>,
    /// Files replaced (`Some`) or deleted (`None`) on top of the manifest.
    overlay: BTreeMap<String, Option<Arc<[u8]>>>,
    label: String,
}

impl StoreSource {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        cache: BlobCache,
        manifest: Arc<Manifest>,
        label: String,
    ) -> StoreSource {
        StoreSource {
            store,
            cache,
            manifest,
            overlay: BTreeMap::new(),
            label,
        }
    }

    /// The same revision with `overlay` laid over it.
    pub(crate) fn with_overlay(&self, overlay: BTreeMap<String, Option<Arc<[u8]>>>) -> Self {
        StoreSource {
            store: self.store.clone(),
            cache: self.cache.clone(),
            manifest: self.manifest.clone(),
            overlay,
            label: self.label.clone(),
        }
    }

    /// The manifest underneath.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Reads a file, reporting store errors as they are (corruption stays typed).
    pub fn read_file(&self, path: &str) -> Result<Option<Arc<[u8]>>, StoreError> {
        if let Some(o) = self.overlay.get(path) {
            return Ok(o.clone());
        }
        match self.manifest.files.get(path) {
            None => Ok(None),
            Some(h) => read_blob(&*self.store, &self.cache, h).map(Some),
        }
    }

    fn paths(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .manifest
            .files
            .keys()
            .filter(|p| !matches!(self.overlay.get(*p), Some(None)))
            .cloned()
            .collect();
        for (p, v) in &self.overlay {
            if v.is_some() && !self.manifest.files.contains_key(p) {
                all.push(p.clone());
            }
        }
        all.sort();
        all
    }
}

impl ProjectSource for StoreSource {
    fn read(&self, path: &str) -> Result<Option<Arc<[u8]>>, SourceError> {
        self.read_file(path).map_err(|e| SourceError {
            path: path.to_string(),
            message: e.to_string(),
        })
    }

    fn list_dir(&self, dir: &str) -> Result<Vec<String>, SourceError> {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{}/", dir.trim_end_matches('/'))
        };
        Ok(self
            .paths()
            .into_iter()
            .filter_map(|p| {
                let rest = p.strip_prefix(&prefix)?;
                (!rest.contains('/')).then(|| rest.to_string())
            })
            .collect())
    }

    fn list_all(&self) -> Result<Vec<String>, SourceError> {
        Ok(self.paths())
    }

    fn describe(&self) -> String {
        self.label.clone()
    }
}
