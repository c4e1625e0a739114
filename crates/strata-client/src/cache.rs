//! The on-disk cache: one JSON file per (server, env, service, target hint), named by a
//! hash of those, holding the last good configuration and its ETag. Written atomically (a
//! temporary file in the same directory, then a rename), so a reader sees the old file or
//! the new one, never half of one.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ClientError;

/// The format version of a cache file.
const VERSION: u32 = 1;

/// One cached answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheEntry {
    /// The server URL it came from.
    pub server: String,
    /// The environment asked.
    pub env: String,
    /// The service asked.
    pub service: String,
    /// The `(provider, region)` hint asked, if any.
    pub target_hint: Option<(String, String)>,
    /// The ETag of the answer.
    pub etag: Option<String>,
    /// The revision id.
    pub revision: Option<String>,
    /// The target the server chose.
    pub target: Option<String>,
    /// The configuration.
    pub config: serde_json::Value,
}

#[derive(Serialize, Deserialize)]
struct File {
    version: u32,
    #[serde(flatten)]
    entry: CacheEntry,
}

/// The default cache directory: `$XDG_CACHE_HOME/strata`, else `$HOME/.cache/strata`.
pub fn default_cache_dir() -> Option<PathBuf> {
    let nonempty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(xdg) = nonempty("XDG_CACHE_HOME") {
        return Some(PathBuf::from(xdg).join("strata"));
    }
    nonempty("HOME").map(|h| PathBuf::from(h).join(".cache").join("strata"))
}

/// The file of a request in `dir`.
pub(crate) fn path(
    dir: &Path,
    server: &str,
    env: &str,
    service: &str,
    hint: Option<(&str, &str)>,
) -> PathBuf {
    let mut h = blake3::Hasher::new();
    // Length-prefixed fields: no two different requests share a key.
    let hint_text = hint.map(|(p, r)| format!("{}:{p}{}:{r}", p.len(), r.len()));
    for field in [server, env, service, hint_text.as_deref().unwrap_or("-")] {
        h.update(&(field.len() as u64).to_le_bytes());
        h.update(field.as_bytes());
    }
    let hex = h.finalize().to_hex();
    let safe = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
            .take(40)
            .collect()
    };
    dir.join(format!(
        "{}-{}-{}.json",
        safe(env),
        safe(service),
        &hex[..32]
    ))
}

/// Reads a cache file; `None` when it is missing, unreadable or damaged.
pub(crate) fn read(path: &Path) -> Option<CacheEntry> {
    let bytes = std::fs::read(path).ok()?;
    let file: File = serde_json::from_slice(&bytes).ok()?;
    (file.version == VERSION).then_some(file.entry)
}

/// Writes a cache file atomically.
pub(crate) fn write(path: &Path, entry: &CacheEntry) -> Result<(), ClientError> {
    let err = |p: &Path, e: &dyn std::fmt::Display| ClientError::Cache {
        path: p.to_path_buf(),
        reason: e.to_string(),
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| err(dir, &e))?;
    let file = File {
        version: VERSION,
        entry: entry.clone(),
    };
    let bytes = serde_json::to_vec(&file).map_err(|e| err(path, &e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = dir.join(format!(".{name}.tmp-{}-{nonce}", std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(&tmp, &e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(path, &e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_by_every_field() {
        let d = Path::new("/c");
        let a = path(d, "http://a", "dev", "svc", None);
        assert_ne!(a, path(d, "http://b", "dev", "svc", None));
        assert_ne!(a, path(d, "http://a", "prod", "svc", None));
        assert_ne!(a, path(d, "http://a", "dev", "svc2", None));
        assert_ne!(a, path(d, "http://a", "dev", "svc", Some(("aws", "x"))));
        assert_ne!(
            path(d, "http://a", "dev", "svc", Some(("aw", "sx"))),
            path(d, "http://a", "dev", "svc", Some(("aws", "x")))
        );
        assert_eq!(a, path(d, "http://a", "dev", "svc", None));
        assert!(a.to_string_lossy().starts_with("/c/dev-svc-"));
    }

    #[test]
    fn round_trip_and_damaged_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub").join("x.json");
        let e = CacheEntry {
            server: "http://a".into(),
            env: "dev".into(),
            service: "svc".into(),
            target_hint: Some(("aws".into(), "r".into())),
            etag: Some("\"r-dev/aws/r\"".into()),
            revision: Some("r".into()),
            target: Some("dev/aws/r".into()),
            config: serde_json::json!({"a": 1}),
        };
        write(&p, &e).unwrap();
        assert_eq!(read(&p), Some(e));
        std::fs::write(&p, b"{not json").unwrap();
        assert_eq!(read(&p), None);
        assert_eq!(read(&dir.path().join("missing")), None);
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }
}
