//! What the store keeps: content-addressed blobs, manifests and revisions.
//!
//! Like git: a file's bytes are a blob named by their BLAKE3 hash; a revision's manifest
//! lists `(path, blob hash)` for every project file and is itself a blob; a revision is
//! a small header (parent, manifest hash, author, message, time, source, labels) whose
//! id is the hash of its canonical encoding. Every read recomputes the hash, so damage
//! is detected instead of served.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::StoreError;

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
        for b in self.0 {
            s.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
            s.push(char::from_digit(u32::from(b & 15), 16).unwrap_or('0'));
        }
        s
    }

    /// Parses 64 hex digits.
    pub fn from_hex(s: &str) -> Option<Hash> {
        if s.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
            let hi = (chunk[0] as char).to_digit(16)?;
            let lo = (chunk[1] as char).to_digit(16)?;
            out[i] = (hi * 16 + lo) as u8;
        }
        Some(Hash(out))
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
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
        let v: serde_json::Value = serde_json::from_str(header).map_err(|_| corrupt())?;
        let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        let hash = |k: &str| text(k).and_then(|s| Hash::from_hex(&s));
        let labels = v
            .get("labels")
            .and_then(|l| l.as_object())
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Revision {
            id,
            seq: v.get("seq").and_then(|x| x.as_u64()).ok_or_else(corrupt)?,
            parent: match v.get("parent") {
                Some(serde_json::Value::Null) | None => None,
                Some(_) => Some(RevisionId(hash("parent").ok_or_else(corrupt)?)),
            },
            manifest: hash("manifest").ok_or_else(corrupt)?,
            meta: CommitMeta {
                author: text("author").unwrap_or_default(),
                message: text("message").unwrap_or_default(),
                timestamp_ms: v.get("timestamp_ms").and_then(|x| x.as_i64()).unwrap_or(0),
                source: text("source"),
                labels,
            },
        })
    }
}

/// The files of a revision: sorted project-relative paths and their blob hashes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Manifest {
    /// Path → blob hash, sorted by path.
    pub files: BTreeMap<String, Hash>,
}

impl Manifest {
    /// The stored form: one `HASH PATH` line per file, sorted by path.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = String::with_capacity(self.files.len() * 100);
        out.push_str("strata-manifest 1\n");
        for (path, hash) in &self.files {
            out.push_str(&hash.to_hex());
            out.push(' ');
            out.push_str(path);
            out.push('\n');
        }
        out.into_bytes()
    }

    /// Reads the stored form (already hash-verified as a blob).
    pub fn decode(bytes: &[u8], what: &str) -> Result<Manifest, StoreError> {
        let corrupt = || StoreError::Corrupt {
            what: what.to_string(),
        };
        let text = std::str::from_utf8(bytes).map_err(|_| corrupt())?;
        let mut lines = text.lines();
        if lines.next() != Some("strata-manifest 1") {
            return Err(corrupt());
        }
        let mut files = BTreeMap::new();
        for line in lines {
            let (hash, path) = line.split_once(' ').ok_or_else(corrupt)?;
            files.insert(path.to_string(), Hash::from_hex(hash).ok_or_else(corrupt)?);
        }
        Ok(Manifest { files })
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
    fn manifest_round_trips() {
        let mut m = Manifest::default();
        m.files.insert("strata.yaml".into(), Hash::of(b"x"));
        m.files
            .insert("layers/base/a b.yaml".into(), Hash::of(b"y"));
        assert_eq!(Manifest::decode(&m.encode(), "m").unwrap(), m);
        assert!(Manifest::decode(b"nonsense", "m").is_err());
    }
}
