//! The seam between the pure core and the outside world: a project is a set of files.
//!
//! `strata-core` never opens a file. Callers hand it a [`ProjectSource`]: a working tree
//! read by the CLI, a git commit read with gix, a stored revision, or [`MemorySource`] in
//! tests. The same resolve code then runs on all of them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rustc_hash::FxHashMap;

use crate::value::FileId;

/// Why a source could not deliver a file or listing.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{path}: {message}")]
pub struct SourceError {
    /// The project-relative path that failed.
    pub path: String,
    /// What went wrong (an I/O error text, a git error, …).
    pub message: String,
}

/// A set of project files addressed by `/`-separated paths relative to the project root.
///
/// Implementations may do I/O; the core only calls these methods.
pub trait ProjectSource: Send + Sync {
    /// The bytes of the file at `path`, or `None` when there is no such file.
    fn read(&self, path: &str) -> Result<Option<Arc<[u8]>>, SourceError>;

    /// Names (not paths) of the regular files directly inside directory `dir`
    /// (`""` is the root). A missing directory lists as empty.
    fn list_dir(&self, dir: &str) -> Result<Vec<String>, SourceError>;

    /// Every file path in the project, sorted (used for the content hash).
    fn list_all(&self) -> Result<Vec<String>, SourceError>;

    /// A human-readable name of the source, e.g. the directory path.
    fn describe(&self) -> String;
}

/// An in-memory project: path → bytes. Used by tests, benchmarks and stored revisions.
#[derive(Debug, Default, Clone)]
pub struct MemorySource {
    files: BTreeMap<String, Arc<[u8]>>,
}

impl MemorySource {
    /// An empty project.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a file.
    pub fn insert(&mut self, path: impl Into<String>, contents: impl Into<Vec<u8>>) {
        self.files
            .insert(path.into(), Arc::from(contents.into().into_boxed_slice()));
    }

    /// Builder form of [`MemorySource::insert`].
    pub fn with(mut self, path: impl Into<String>, contents: impl Into<Vec<u8>>) -> Self {
        self.insert(path, contents);
        self
    }

    /// Removes a file; returns whether it existed.
    pub fn remove(&mut self, path: &str) -> bool {
        self.files.remove(path).is_some()
    }
}

impl ProjectSource for MemorySource {
    fn read(&self, path: &str) -> Result<Option<Arc<[u8]>>, SourceError> {
        Ok(self.files.get(path).cloned())
    }

    fn list_dir(&self, dir: &str) -> Result<Vec<String>, SourceError> {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{}/", dir.trim_end_matches('/'))
        };
        Ok(self
            .files
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter_map(|(p, _)| {
                let rest = &p[prefix.len()..];
                (!rest.contains('/')).then(|| rest.to_string())
            })
            .collect())
    }

    fn list_all(&self) -> Result<Vec<String>, SourceError> {
        Ok(self.files.keys().cloned().collect())
    }

    fn describe(&self) -> String {
        "<memory>".to_string()
    }
}

/// A source that remembers what it read and listed: for work that loads the same project
/// many times (`strata drift --patch` checks every repair by loading the project again),
/// so files are read from the underlying source once.
pub struct CachedSource {
    base: Arc<dyn ProjectSource>,
    reads: Mutex<FxHashMap<String, Option<Arc<[u8]>>>>,
    dirs: Mutex<FxHashMap<String, Vec<String>>>,
}

impl CachedSource {
    /// Caches `base`.
    pub fn new(base: Arc<dyn ProjectSource>) -> Self {
        CachedSource {
            base,
            reads: Mutex::new(FxHashMap::default()),
            dirs: Mutex::new(FxHashMap::default()),
        }
    }
}

impl ProjectSource for CachedSource {
    fn read(&self, path: &str) -> Result<Option<Arc<[u8]>>, SourceError> {
        if let Some(hit) = self
            .reads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(path)
        {
            return Ok(hit.clone());
        }
        let got = self.base.read(path)?;
        self.reads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path.to_string(), got.clone());
        Ok(got)
    }

    fn list_dir(&self, dir: &str) -> Result<Vec<String>, SourceError> {
        if let Some(hit) = self.dirs.lock().unwrap_or_else(|e| e.into_inner()).get(dir) {
            return Ok(hit.clone());
        }
        let got = self.base.list_dir(dir)?;
        self.dirs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(dir.to_string(), got.clone());
        Ok(got)
    }

    fn list_all(&self) -> Result<Vec<String>, SourceError> {
        self.base.list_all()
    }

    fn describe(&self) -> String {
        self.base.describe()
    }
}

/// A project seen with some files replaced or added: how `strata drift --patch` checks
/// a repair before proposing it, without touching the files.
pub struct OverlaySource {
    base: Arc<dyn ProjectSource>,
    files: BTreeMap<String, Option<Arc<[u8]>>>,
}

impl OverlaySource {
    /// `base` with `files` on top: path → new contents, or `None` for a deleted file.
    pub fn new(base: Arc<dyn ProjectSource>, files: BTreeMap<String, Option<Arc<[u8]>>>) -> Self {
        OverlaySource { base, files }
    }
}

impl ProjectSource for OverlaySource {
    fn read(&self, path: &str) -> Result<Option<Arc<[u8]>>, SourceError> {
        match self.files.get(path) {
            Some(b) => Ok(b.clone()),
            None => self.base.read(path),
        }
    }

    fn list_dir(&self, dir: &str) -> Result<Vec<String>, SourceError> {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{}/", dir.trim_end_matches('/'))
        };
        let mut names: Vec<String> = self
            .base
            .list_dir(dir)?
            .into_iter()
            .filter(|n| !matches!(self.files.get(&format!("{prefix}{n}")), Some(None)))
            .collect();
        for (p, contents) in &self.files {
            if let (Some(rest), Some(_)) = (p.strip_prefix(&prefix), contents)
                && !rest.contains('/')
                && !names.iter().any(|n| n == rest)
            {
                names.push(rest.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    fn list_all(&self) -> Result<Vec<String>, SourceError> {
        let mut all: Vec<String> = self
            .base
            .list_all()?
            .into_iter()
            .filter(|p| !matches!(self.files.get(p), Some(None)))
            .collect();
        all.extend(
            self.files
                .iter()
                .filter(|(_, c)| c.is_some())
                .map(|(p, _)| p.clone()),
        );
        all.sort();
        all.dedup();
        Ok(all)
    }

    fn describe(&self) -> String {
        self.base.describe()
    }
}

/// Interns file paths so that every [`crate::value::Loc`] is 12 bytes.
///
/// Shared by all threads resolving one project; only file opens take the lock.
#[derive(Debug, Default)]
pub struct FileTable {
    inner: Mutex<FileTableInner>,
}

#[derive(Debug, Default)]
struct FileTableInner {
    paths: Vec<Arc<str>>,
    ids: FxHashMap<Arc<str>, FileId>,
}

impl FileTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// The id of `path`, adding it when new.
    pub fn intern(&self, path: &str) -> FileId {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(id) = inner.ids.get(path) {
            return *id;
        }
        let id = FileId(inner.paths.len() as u32);
        let path: Arc<str> = Arc::from(path);
        inner.paths.push(path.clone());
        inner.ids.insert(path, id);
        id
    }

    /// The path of `id` (`"<unknown>"` for an id this table never gave out).
    pub fn path(&self, id: FileId) -> Arc<str> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner
            .paths
            .get(id.0 as usize)
            .cloned()
            .unwrap_or_else(|| Arc::from("<unknown>"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_source_lists_one_directory_level() {
        let src = MemorySource::new()
            .with("strata.yaml", "")
            .with("layers/base/a.yaml", "")
            .with("layers/base/b.json", "")
            .with("layers/base2/c.yaml", "")
            .with("layers/env/prod/a.yaml", "");
        assert_eq!(
            src.list_dir("layers/base").unwrap(),
            vec!["a.yaml", "b.json"]
        );
        assert_eq!(src.list_dir("").unwrap(), vec!["strata.yaml"]);
        assert!(src.list_dir("nope").unwrap().is_empty());
        assert_eq!(src.list_all().unwrap().len(), 5);
    }

    #[test]
    fn file_table_interns() {
        let t = FileTable::new();
        let a = t.intern("a.yaml");
        let b = t.intern("b.yaml");
        assert_ne!(a, b);
        assert_eq!(t.intern("a.yaml"), a);
        assert_eq!(&*t.path(b), "b.yaml");
        assert_eq!(&*t.path(FileId(99)), "<unknown>");
    }

    #[test]
    fn an_overlay_adds_replaces_and_deletes_files() {
        let base: Arc<dyn ProjectSource> = Arc::new(
            MemorySource::new()
                .with("a/x.yaml", "x")
                .with("a/y.yaml", "y")
                .with("b.yaml", "b"),
        );
        let mut files = BTreeMap::new();
        files.insert("a/x.yaml".to_string(), Some(Arc::from(&b"X"[..])));
        files.insert("a/y.yaml".to_string(), None);
        files.insert("a/z.yaml".to_string(), Some(Arc::from(&b"Z"[..])));
        let o = OverlaySource::new(base, files);
        assert_eq!(o.read("a/x.yaml").unwrap().as_deref(), Some(&b"X"[..]));
        assert_eq!(o.read("a/y.yaml").unwrap(), None);
        assert_eq!(o.read("b.yaml").unwrap().as_deref(), Some(&b"b"[..]));
        assert_eq!(o.list_dir("a").unwrap(), vec!["x.yaml", "z.yaml"]);
        assert_eq!(
            o.list_all().unwrap(),
            vec!["a/x.yaml", "a/z.yaml", "b.yaml"]
        );
        assert_eq!(o.describe(), "<memory>");
    }

    #[test]
    fn a_cached_source_reads_each_file_once() {
        let base: Arc<dyn ProjectSource> = Arc::new(
            MemorySource::new()
                .with("a/x.yaml", "x")
                .with("b.yaml", "b"),
        );
        let c = CachedSource::new(base);
        for _ in 0..2 {
            assert_eq!(c.read("a/x.yaml").unwrap().as_deref(), Some(&b"x"[..]));
            assert_eq!(c.read("nope").unwrap(), None);
            assert_eq!(c.list_dir("a").unwrap(), vec!["x.yaml"]);
        }
        assert_eq!(c.reads.lock().unwrap().len(), 2);
        assert_eq!(c.list_all().unwrap(), vec!["a/x.yaml", "b.yaml"]);
        assert_eq!(c.describe(), "<memory>");
    }
}
