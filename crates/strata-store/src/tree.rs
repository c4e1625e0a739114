//! A revision's directory tree, read lazily.
//!
//! A changeset touches a few files; reading and re-encoding the whole manifest of a large
//! project for it would cost more than the edit. [`LazyTree`] loads only the directories
//! on the paths asked for, and [`LazyTree::rewrite`] re-encodes only the directories on
//! the changed paths, reusing every other directory's hash from its parent.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use crate::backend::Store;
use crate::error::StoreError;
use crate::model::{Hash, Manifest, TreeBlob, TreeEntry, encode_tree};
use crate::source::{BlobCache, read_blobs};

/// What a commit needs of its parent's files: look up paths, and the tree after changes.
pub(crate) trait Tree {
    /// The blob of the file at `path`.
    fn lookup(&self, path: &str) -> Result<Option<Hash>, StoreError>;

    /// The root hash and the new directory blobs after `changes` (path → new blob, `None`
    /// deletes).
    fn rewrite(
        &self,
        changes: &BTreeMap<String, Option<Hash>>,
    ) -> Result<(Hash, Vec<TreeBlob>), StoreError>;
}

impl Tree for Manifest {
    fn lookup(&self, path: &str) -> Result<Option<Hash>, StoreError> {
        Ok(self.files.get(path).copied())
    }

    fn rewrite(
        &self,
        changes: &BTreeMap<String, Option<Hash>>,
    ) -> Result<(Hash, Vec<TreeBlob>), StoreError> {
        let mut m = self.clone();
        for (path, hash) in changes {
            match hash {
                Some(h) => m.files.insert(path.clone(), *h),
                None => m.files.remove(path),
            };
        }
        Ok(m.encode())
    }
}

/// Directory entries by name, files and subdirectories.
type Entries = Arc<Vec<TreeEntry>>;

/// A revision's tree whose directories are read on first use.
pub struct LazyTree {
    store: Arc<dyn Store>,
    cache: BlobCache,
    root: Hash,
    what: String,
    /// Directory path (`""`, `"layers/"`, `"layers/base/"`) → its entries.
    dirs: Mutex<HashMap<String, Option<Entries>>>,
}

impl LazyTree {
    pub(crate) fn new(store: Arc<dyn Store>, cache: BlobCache, root: Hash, what: String) -> Self {
        LazyTree {
            store,
            cache,
            root,
            what,
            dirs: Mutex::new(HashMap::new()),
        }
    }

    /// The root directory's hash.
    pub fn root(&self) -> Hash {
        self.root
    }

    fn load(&self, hash: &Hash) -> Result<Entries, StoreError> {
        let bytes = read_blobs(&*self.store, &self.cache, std::slice::from_ref(hash))?;
        let bytes = bytes
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::Corrupt {
                what: self.what.clone(),
            })?;
        Ok(Arc::new(Manifest::decode_tree(&bytes, &self.what)?))
    }

    /// The entries of directory `dir` (`""` or ending with `/`); `None` when absent.
    pub fn entries(&self, dir: &str) -> Result<Option<Entries>, StoreError> {
        if let Some(e) = self.dirs.lock().unwrap_or_else(|e| e.into_inner()).get(dir) {
            return Ok(e.clone());
        }
        let found = if dir.is_empty() {
            Some(self.load(&self.root)?)
        } else {
            let trimmed = &dir[..dir.len() - 1];
            let (parent, name) = match trimmed.rsplit_once('/') {
                Some((p, n)) => (format!("{p}/"), n),
                None => (String::new(), trimmed),
            };
            match self.entries(&parent)? {
                None => None,
                Some(entries) => match entries
                    .iter()
                    .find(|e| matches!(e, TreeEntry::Dir(n, _) if n == name))
                {
                    Some(TreeEntry::Dir(_, h)) => Some(self.load(h)?),
                    _ => None,
                },
            }
        };
        self.dirs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(dir.to_string(), found.clone());
        Ok(found)
    }

    /// Names of the files directly in `dir` (`""` is the root).
    pub fn list_dir(&self, dir: &str) -> Result<Vec<String>, StoreError> {
        let key = dir_key(dir);
        Ok(self
            .entries(&key)?
            .map(|e| {
                e.iter()
                    .filter_map(|x| match x {
                        TreeEntry::File(n, _) => Some(n.clone()),
                        TreeEntry::Dir(..) => None,
                    })
                    .collect()
            })
            .unwrap_or_default())
    }
}

/// `""` stays the root; `a/b` becomes `a/b/`.
fn dir_key(dir: &str) -> String {
    let d = dir.trim_end_matches('/');
    if d.is_empty() {
        String::new()
    } else {
        format!("{d}/")
    }
}

/// Splits `a/b/c.yaml` into (`a/b/`, `c.yaml`).
fn split(path: &str) -> (String, &str) {
    match path.rsplit_once('/') {
        Some((d, n)) => (format!("{d}/"), n),
        None => (String::new(), path),
    }
}

impl Tree for LazyTree {
    fn lookup(&self, path: &str) -> Result<Option<Hash>, StoreError> {
        let (dir, name) = split(path);
        Ok(self.entries(&dir)?.and_then(|e| {
            e.iter().find_map(|x| match x {
                TreeEntry::File(n, h) if n == name => Some(*h),
                _ => None,
            })
        }))
    }

    fn rewrite(
        &self,
        changes: &BTreeMap<String, Option<Hash>>,
    ) -> Result<(Hash, Vec<TreeBlob>), StoreError> {
        // Every directory on a changed path, with its file changes.
        let mut touched: BTreeMap<String, BTreeMap<String, Option<Hash>>> = BTreeMap::new();
        for (path, hash) in changes {
            let (dir, name) = split(path);
            touched
                .entry(dir.clone())
                .or_default()
                .insert(name.to_string(), *hash);
            let mut d = dir;
            while !d.is_empty() {
                let (parent, _) = split(&d[..d.len() - 1]);
                touched.entry(parent.clone()).or_default();
                d = parent;
            }
        }
        // Deepest directories first, so children are encoded before their parents.
        let mut order: Vec<String> = touched.keys().cloned().collect();
        order.sort_by_key(|d| std::cmp::Reverse(d.matches('/').count()));
        let mut new_hashes: HashMap<String, Option<Hash>> = HashMap::new();
        let mut blobs = Vec::new();
        for dir in order {
            let mut entries: BTreeMap<String, (char, Hash)> = BTreeMap::new();
            if let Some(old) = self.entries(&dir)? {
                for e in old.iter() {
                    match e {
                        TreeEntry::File(n, h) => entries.insert(n.clone(), ('f', *h)),
                        TreeEntry::Dir(n, h) => entries.insert(n.clone(), ('d', *h)),
                    };
                }
            }
            for (name, hash) in &touched[&dir] {
                match hash {
                    Some(h) => entries.insert(name.clone(), ('f', *h)),
                    None => entries.remove(name),
                };
            }
            let prefix_len = dir.len();
            for (child, hash) in new_hashes.iter().filter(|(c, _)| {
                c.len() > prefix_len
                    && c.starts_with(&dir)
                    && !c[prefix_len..c.len() - 1].contains('/')
            }) {
                let name = child[prefix_len..child.len() - 1].to_string();
                match hash {
                    Some(h) => entries.insert(name, ('d', *h)),
                    None => entries.remove(&name),
                };
            }
            if entries.is_empty() && !dir.is_empty() {
                new_hashes.insert(dir, None);
                continue;
            }
            let (hash, bytes) = encode_tree(entries.iter().map(|(n, (k, h))| (n.as_str(), *k, *h)));
            blobs.push((hash, bytes));
            new_hashes.insert(dir, Some(hash));
        }
        let root = match new_hashes.get("") {
            Some(Some(h)) => *h,
            _ => {
                let (hash, bytes) = encode_tree(std::iter::empty());
                blobs.push((hash, bytes));
                hash
            }
        };
        Ok((root, blobs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Commit, CommitMeta, Revision};
    use crate::sqlite::SqliteStore;
    use proptest::prelude::*;

    /// A store holding `m`'s directory blobs; returns it with the root hash.
    fn stored(m: &Manifest) -> (tempfile::TempDir, Arc<dyn Store>, Hash) {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("s.db")).unwrap());
        let (root, blobs) = m.encode();
        let commit = Commit {
            blobs,
            ..Commit::new(None, Revision::new(1, None, root, CommitMeta::default()))
        };
        store.commit(&commit).unwrap();
        (dir, store, root)
    }

    fn path() -> impl Strategy<Value = String> {
        proptest::collection::vec(prop::sample::select(vec!["a", "b", "c"]), 0..3).prop_flat_map(
            |dirs| {
                prop::sample::select(vec!["x.yaml", "y.yaml", "z"]).prop_map(move |f| {
                    let mut p = dirs.join("/");
                    if !p.is_empty() {
                        p.push('/');
                    }
                    p.push_str(f);
                    p
                })
            },
        )
    }

    proptest! {
        /// Rewriting lazily gives exactly the tree a full re-encode gives.
        #[test]
        fn lazy_rewrite_equals_full_encode(
            files in proptest::collection::btree_map(path(), 0u8..4, 0..12),
            changes in proptest::collection::btree_map(path(), proptest::option::of(0u8..4), 1..6),
        ) {
            let mut m = Manifest::default();
            for (p, v) in &files {
                m.files.insert(p.clone(), Hash::of(&[*v]));
            }
            // A path cannot be both a file and a directory.
            let all: Vec<&String> = m.files.keys().chain(changes.keys()).collect();
            let clash = all.iter().any(|p| {
                all.iter().any(|q| q.starts_with(&format!("{p}/")))
            });
            prop_assume!(!clash);
            let (_dir, store, root) = stored(&m);
            let lazy = LazyTree::new(store, Arc::new(Mutex::new(HashMap::new())), root, "t".into());
            let hashes: BTreeMap<String, Option<Hash>> = changes
                .iter()
                .map(|(p, v)| (p.clone(), v.map(|v| Hash::of(&[v]))))
                .collect();
            let (got, _) = lazy.rewrite(&hashes).unwrap();
            let (want, _) = Tree::rewrite(&m, &hashes).unwrap();
            prop_assert_eq!(got, want);
            for p in m.files.keys() {
                prop_assert_eq!(lazy.lookup(p).unwrap(), m.files.get(p).copied());
            }
        }
    }
}
