//! What the store keeps: content-addressed blobs, manifests and revisions.
//!
//! Like git: a file's bytes are a blob named by their BLAKE3 hash; a revision's manifest
//! lists `(path, blob hash)` for every project file and is itself a blob; a revision is
//! a small header (parent, manifest hash, author, message, time, source, labels) whose
//! id is the hash of its canonical encoding. Every read recomputes the hash, so damage
//! is detected instead of served.

use std::collections::BTreeMap;
use std::fmt;

use crate::audit::NewAuditEntry;
use crate::error::StoreError;
use crate::requests::RequestTransition;

/// A BLAKE3 content hash, shown as 64 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The hash of `bytes`.
    pub fn of(bytes: &[u8]) -> Hash {
        Hash(*blake3::hash(bytes).as_bytes())
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(64);
        self.push_hex(&mut s);
        s
    }

    /// Appends the lowercase hex to `out` (manifests write thousands of them).
    pub fn push_hex(&self, out: &mut String) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        for b in self.0 {
            out.push(char::from(DIGITS[usize::from(b >> 4)]));
            out.push(char::from(DIGITS[usize::from(b & 15)]));
        }
    }

    /// Parses 64 hex digits (either case).
    pub fn from_hex(s: &str) -> Option<Hash> {
        fn nibble(c: u8) -> Option<u8> {
            match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                b'A'..=b'F' => Some(c - b'A' + 10),
                _ => None,
            }
        }
        let bytes = s.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            out[i] = nibble(pair[0])? << 4 | nibble(pair[1])?;
        }
        Some(Hash(out))
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl serde::Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

/// A revision's id: the hash of its canonical header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RevisionId(pub Hash);

impl RevisionId {
    /// The first 12 hex digits, as shown to people.
    pub fn short(&self) -> String {
        self.0.to_hex()[..12].to_string()
    }
}

impl fmt::Display for RevisionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl serde::Serialize for RevisionId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_hex())
    }
}

/// Who made a revision, why, when and from where.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommitMeta {
    /// The author (`Name <email>` from git, or a user name).
    pub author: String,
    /// Why.
    pub message: String,
    /// When, in milliseconds since the Unix epoch (passed in: the store has no opinion).
    pub timestamp_ms: i64,
    /// The git commit the content was imported from.
    pub source: Option<String>,
    /// Free-form labels (`ticket=OPS-12`).
    pub labels: BTreeMap<String, String>,
}

/// An immutable revision of the whole project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// The hash of [`Revision::header`].
    pub id: RevisionId,
    /// 1 for the first revision, parent's + 1 after; the head chain is linear.
    pub seq: u64,
    /// The previous head.
    pub parent: Option<RevisionId>,
    /// The hash of the manifest blob.
    pub manifest: Hash,
    /// Author, message, time, source, labels.
    pub meta: CommitMeta,
}

impl Revision {
    /// Builds a revision and computes its id.
    pub fn new(seq: u64, parent: Option<RevisionId>, manifest: Hash, meta: CommitMeta) -> Self {
        let mut rev = Revision {
            id: RevisionId(Hash([0; 32])),
            seq,
            parent,
            manifest,
            meta,
        };
        rev.id = RevisionId(Hash::of(rev.header().as_bytes()));
        rev
    }

    /// The canonical header text the id is the hash of (stored as is).
    pub fn header(&self) -> String {
        let labels: serde_json::Map<String, serde_json::Value> = self
            .meta
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        serde_json::json!({
            "format": 1,
            "seq": self.seq,
            "parent": self.parent.map(|p| p.to_string()),
            "manifest": self.manifest.to_hex(),
            "author": self.meta.author,
            "message": self.meta.message,
            "timestamp_ms": self.meta.timestamp_ms,
            "source": self.meta.source,
            "labels": labels,
        })
        .to_string()
    }

    /// Reads a stored header back, verifying that it hashes to `id`.
    pub fn from_header(id: RevisionId, header: &str) -> Result<Revision, StoreError> {
        let corrupt = || StoreError::Corrupt {
            what: format!("revision {}", id.short()),
        };
        if Hash::of(header.as_bytes()) != id.0 {
            return Err(corrupt());
        }
        let h: Header = serde_json::from_str(header).map_err(|_| corrupt())?;
        let hash = |s: Option<&str>| s.and_then(Hash::from_hex);
        Ok(Revision {
            id,
            seq: h.seq,
            parent: match h.parent {
                None => None,
                Some(p) => Some(RevisionId(hash(Some(&p)).ok_or_else(corrupt)?)),
            },
            manifest: hash(Some(&h.manifest)).ok_or_else(corrupt)?,
            meta: CommitMeta {
                author: h.author,
                message: h.message,
                timestamp_ms: h.timestamp_ms,
                source: h.source,
                labels: h.labels,
            },
        })
    }
}

/// The stored header, as read back (typed: reading thousands for a log must be cheap).
#[derive(serde::Deserialize)]
struct Header {
    seq: u64,
    parent: Option<String>,
    manifest: String,
    #[serde(default)]
    author: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    timestamp_ms: i64,
    source: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// The files of a revision: sorted project-relative paths and their blob hashes.
///
/// Stored like git's trees: one blob per directory listing its files and subdirectories
/// by hash, so a commit that edits a few files writes only the directories on their paths
/// (a 10-parameter commit on a 3,500-file project writes a few kilobytes, not the whole
/// listing). The revision names the root directory's blob.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Manifest {
    /// Path → blob hash, sorted by path.
    pub files: BTreeMap<String, Hash>,
}

/// The first line of every directory blob.
const TREE_HEADER: &str = "strata-tree 1\n";

/// How deep directories may nest (damaged data must not recurse forever).
const MAX_TREE_DEPTH: usize = 64;

#[derive(Default)]
struct Dir<'a> {
    files: BTreeMap<&'a str, Hash>,
    dirs: BTreeMap<&'a str, Dir<'a>>,
}

impl<'a> Dir<'a> {
    fn encode(&self, out: &mut Vec<(Hash, Vec<u8>)>) -> Hash {
        let mut entries: Vec<(&str, char, Hash)> =
            Vec::with_capacity(self.files.len() + self.dirs.len());
        for (name, dir) in &self.dirs {
            entries.push((name, 'd', dir.encode(out)));
        }
        for (name, hash) in &self.files {
            entries.push((name, 'f', *hash));
        }
        entries.sort();
        let (hash, bytes) = encode_tree(entries.into_iter());
        out.push((hash, bytes));
        hash
    }
}

/// Encodes one directory blob from its entries `(name, 'f' | 'd', hash)`, sorted by name.
pub(crate) fn encode_tree<'n>(
    entries: impl Iterator<Item = (&'n str, char, Hash)>,
) -> (Hash, Vec<u8>) {
    let mut text = String::with_capacity(4096);
    text.push_str(TREE_HEADER);
    for (name, kind, hash) in entries {
        text.push(kind);
        text.push(' ');
        hash.push_hex(&mut text);
        text.push(' ');
        text.push_str(name);
        text.push('\n');
    }
    let bytes = text.into_bytes();
    (Hash::of(&bytes), bytes)
}

/// Fetches verified blobs by hash, in the order asked.
pub type BlobLoader<'a> = dyn FnMut(&[Hash]) -> Result<Vec<std::sync::Arc<[u8]>>, StoreError> + 'a;

/// A directory blob: its hash and bytes.
pub type TreeBlob = (Hash, Vec<u8>);

/// One line of a directory blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeEntry {
    /// A file and its blob.
    File(String, Hash),
    /// A subdirectory and its directory blob.
    Dir(String, Hash),
}

impl Manifest {
    /// The stored form: the root directory's hash and every directory blob (children
    /// before parents).
    pub fn encode(&self) -> (Hash, Vec<TreeBlob>) {
        let mut root = Dir::default();
        for (path, hash) in &self.files {
            let mut dir = &mut root;
            let mut parts = path.split('/').peekable();
            while let Some(part) = parts.next() {
                if parts.peek().is_none() {
                    dir.files.insert(part, *hash);
                } else {
                    dir = dir.dirs.entry(part).or_default();
                }
            }
        }
        let mut out = Vec::new();
        let hash = root.encode(&mut out);
        (hash, out)
    }

    /// Reads one directory blob (already hash-verified).
    pub fn decode_tree(bytes: &[u8], what: &str) -> Result<Vec<TreeEntry>, StoreError> {
        let corrupt = || StoreError::Corrupt {
            what: what.to_string(),
        };
        let text = std::str::from_utf8(bytes).map_err(|_| corrupt())?;
        let body = text.strip_prefix(TREE_HEADER).ok_or_else(corrupt)?;
        body.lines()
            .map(|line| {
                let (kind, rest) = line.split_once(' ').ok_or_else(corrupt)?;
                let (hash, name) = rest.split_once(' ').ok_or_else(corrupt)?;
                let hash = Hash::from_hex(hash).ok_or_else(corrupt)?;
                if name.is_empty() || name.contains('/') {
                    return Err(corrupt());
                }
                match kind {
                    "f" => Ok(TreeEntry::File(name.to_string(), hash)),
                    "d" => Ok(TreeEntry::Dir(name.to_string(), hash)),
                    _ => Err(corrupt()),
                }
            })
            .collect()
    }

    /// Reads the whole manifest under root directory `root`, loading directory blobs with
    /// `load` (which must verify their hashes), one batch per directory level.
    pub fn decode(
        root: &Hash,
        what: &str,
        load: &mut BlobLoader<'_>,
    ) -> Result<Manifest, StoreError> {
        let mut files = BTreeMap::new();
        let mut level: Vec<(String, Hash)> = vec![(String::new(), *root)];
        for _ in 0..=MAX_TREE_DEPTH {
            if level.is_empty() {
                return Ok(Manifest { files });
            }
            let hashes: Vec<Hash> = level.iter().map(|(_, h)| *h).collect();
            let blobs = load(&hashes)?;
            let mut next = Vec::new();
            for ((prefix, _), bytes) in level.iter().zip(blobs) {
                for entry in Manifest::decode_tree(&bytes, what)? {
                    match entry {
                        TreeEntry::File(name, h) => {
                            let mut path = String::with_capacity(prefix.len() + name.len());
                            path.push_str(prefix);
                            path.push_str(&name);
                            files.insert(path, h);
                        }
                        TreeEntry::Dir(name, h) => next.push((format!("{prefix}{name}/"), h)),
                    }
                }
            }
            level = next;
        }
        Err(StoreError::Corrupt {
            what: what.to_string(),
        })
    }
}

/// How a file changed in a revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileChangeKind {
    /// New file.
    Added,
    /// Different bytes.
    Modified,
    /// Gone.
    Deleted,
}

impl FileChangeKind {
    /// One letter, like git's `--name-status`.
    pub fn letter(self) -> char {
        match self {
            FileChangeKind::Added => 'A',
            FileChangeKind::Modified => 'M',
            FileChangeKind::Deleted => 'D',
        }
    }

    pub(crate) fn from_letter(c: &str) -> Option<FileChangeKind> {
        match c {
            "A" => Some(FileChangeKind::Added),
            "M" => Some(FileChangeKind::Modified),
            "D" => Some(FileChangeKind::Deleted),
            _ => None,
        }
    }
}

/// One changed file of a revision (an index row, derived from the manifests).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileChange {
    /// The file.
    pub path: String,
    /// How it changed.
    pub kind: FileChangeKind,
}

/// One changed parameter in one layer file (an index row for `log --param` and rebases).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ParamChange {
    /// `service:path` of a leaf.
    pub param: String,
    /// The layer file.
    pub file: String,
}

/// Everything one commit writes, in one transaction.
#[derive(Debug, Clone)]
pub struct Commit {
    /// The head this commit was computed against (`None`: the store must be empty).
    pub expected_head: Option<RevisionId>,
    /// The new revision (its parent is `expected_head`).
    pub revision: Revision,
    /// New blobs (file contents and the manifest); existing ones are skipped.
    pub blobs: Vec<(Hash, Vec<u8>)>,
    /// Changed files.
    pub files: Vec<FileChange>,
    /// Changed parameters.
    pub params: Vec<ParamChange>,
    /// The reference index rows: changed layer files that reference another service or
    /// did before this commit.
    pub refs: Vec<LayerRefs>,
    /// Audit entries recording this commit, appended in its transaction: if they cannot
    /// be written, nothing is committed (and a commit refused because the head moved
    /// writes none of them).
    pub audit: Vec<NewAuditEntry>,
    /// A change request this commit applies: its status changes (compare-and-set) and it
    /// records the new revision, in the commit's transaction. A request not in the
    /// expected status fails the whole commit.
    pub request: Option<RequestTransition>,
}

impl Commit {
    /// A commit of `revision` on `expected_head` that writes nothing else yet.
    pub fn new(expected_head: Option<RevisionId>, revision: Revision) -> Commit {
        Commit {
            expected_head,
            revision,
            blobs: Vec::new(),
            files: Vec::new(),
            params: Vec::new(),
            refs: Vec::new(),
            audit: Vec::new(),
            request: None,
        }
    }
}

/// Which services a layer file `${ref:…}`s as of one revision: the reference index that
/// lets `strata drift --since` find the services depending on a changed one without
/// reading every layer file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRefs {
    /// The layer file.
    pub path: String,
    /// The services it references, sorted (`None`: the file was deleted).
    pub services: Option<Vec<String>>,
}

impl LayerRefs {
    /// The column text: `a,b`, empty for none, `!` for a deleted file.
    pub fn encode(&self) -> String {
        match &self.services {
            None => "!".to_string(),
            Some(v) => v.join(","),
        }
    }

    /// The services in a column text (none for a deleted file).
    pub fn decode(text: &str) -> Vec<String> {
        if text == "!" {
            return Vec::new();
        }
        text.split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// The services `text` references with `${ref:SERVICE:…}` (not `$${` escapes), sorted.
pub fn referenced_services(text: &[u8]) -> Vec<String> {
    const OPEN: &[u8] = b"${ref:";
    let mut out: Vec<String> = Vec::new();
    for at in memchr::memmem::find_iter(text, OPEN) {
        if at > 0 && text[at - 1] == b'$' {
            continue;
        }
        let rest = &text[at + OPEN.len()..];
        let end = rest
            .iter()
            .position(|b| !(b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_'))
            .unwrap_or(rest.len());
        if end > 0 && rest.get(end) == Some(&b':') {
            let name = String::from_utf8_lossy(&rest[..end]).into_owned();
            if !out.contains(&name) {
                out.push(name);
            }
        }
    }
    out.sort();
    out
}

/// What a compare-and-swap commit did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    /// The revision is the new head.
    Committed,
    /// Someone else moved the head first; nothing was written.
    HeadMoved {
        /// The head now.
        head: Option<RevisionId>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        let h = Hash::of(b"abc");
        assert_eq!(Hash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(Hash::from_hex("zz"), None);
        assert_eq!(Hash::from_hex(&"g".repeat(64)), None);
    }

    #[test]
    fn header_round_trips_and_detects_damage() {
        let mut meta = CommitMeta {
            author: "alice".into(),
            message: "raise pool".into(),
            timestamp_ms: 1_700_000_000_000,
            source: Some("abc123".into()),
            ..CommitMeta::default()
        };
        meta.labels.insert("ticket".into(), "OPS-1".into());
        let parent = RevisionId(Hash::of(b"p"));
        let rev = Revision::new(7, Some(parent), Hash::of(b"m"), meta);
        let back = Revision::from_header(rev.id, &rev.header()).unwrap();
        assert_eq!(back, rev);
        let damaged = rev.header().replace("alice", "mallory");
        assert!(matches!(
            Revision::from_header(rev.id, &damaged),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn manifest_round_trips_through_trees() {
        let mut m = Manifest::default();
        m.files.insert("strata.yaml".into(), Hash::of(b"x"));
        m.files
            .insert("layers/base/a b.yaml".into(), Hash::of(b"y"));
        m.files
            .insert("layers/env/prod/a.yaml".into(), Hash::of(b"z"));
        let (root, trees) = m.encode();
        assert_eq!(trees.len(), 5, "root, layers, base, env, prod");
        assert_eq!(trees.last().map(|t| t.0), Some(root));
        let blobs: std::collections::HashMap<Hash, Vec<u8>> = trees.into_iter().collect();
        let back = Manifest::decode(&root, "m", &mut |hs| {
            hs.iter()
                .map(|h| {
                    blobs
                        .get(h)
                        .map(|b| std::sync::Arc::from(b.clone().into_boxed_slice()))
                        .ok_or(StoreError::Corrupt {
                            what: "missing".into(),
                        })
                })
                .collect()
        })
        .unwrap();
        assert_eq!(back, m);
        // Editing one file changes only the directories on its path.
        let mut m2 = m.clone();
        m2.files
            .insert("layers/base/a b.yaml".into(), Hash::of(b"w"));
        let (root2, trees2) = m2.encode();
        assert_ne!(root2, root);
        let new: Vec<&Hash> = trees2
            .iter()
            .map(|t| &t.0)
            .filter(|h| !blobs.contains_key(h))
            .collect();
        assert_eq!(new.len(), 3, "base, layers, root");
        assert!(Manifest::decode_tree(b"nonsense", "m").is_err());
        assert!(Manifest::decode_tree(b"strata-tree 1\nx 00 a\n", "m").is_err());
    }
}
