//! A project read from a directory on disk: the CLI's [`ProjectSource`].

use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use strata_core::files::{ProjectSource, SourceError};

/// Directories never part of a project's content: git's own data (at any depth) and the
/// local store at the root. (`target` is not skipped: `layers/target/...` is a hierarchy level.)
const SKIP_DIRS: [&str; 2] = [".git", ".strata"];

/// The files under a project directory.
#[derive(Debug, Clone)]
pub struct DirSource {
    root: PathBuf,
}

impl DirSource {
    /// A source rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DirSource { root: root.into() }
    }

    fn resolve(&self, rel: &str) -> Result<PathBuf, SourceError> {
        let p = Path::new(rel);
        if p.components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(SourceError {
                path: rel.to_string(),
                message: "path leaves the project directory".into(),
            });
        }
        Ok(self.root.join(p))
    }

    fn err(rel: &str, e: &std::io::Error) -> SourceError {
        SourceError {
            path: rel.to_string(),
            message: e.to_string(),
        }
    }
}

impl ProjectSource for DirSource {
    fn read(&self, path: &str) -> Result<Option<Arc<[u8]>>, SourceError> {
        match std::fs::read(self.resolve(path)?) {
            Ok(b) => Ok(Some(Arc::from(b.into_boxed_slice()))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Self::err(path, &e)),
        }
    }

    fn list_dir(&self, dir: &str) -> Result<Vec<String>, SourceError> {
        let entries = match std::fs::read_dir(self.resolve(dir)?) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Self::err(dir, &e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Self::err(dir, &e))?;
            let is_file = entry.file_type().map_err(|e| Self::err(dir, &e))?.is_file()
                || std::fs::metadata(entry.path()).is_ok_and(|m| m.is_file());
            if is_file && let Some(name) = entry.file_name().to_str() {
                names.push(name.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    fn list_all(&self) -> Result<Vec<String>, SourceError> {
        let mut out = Vec::new();
        let mut stack = vec![String::new()];
        while let Some(dir) = stack.pop() {
            let full = if dir.is_empty() {
                self.root.clone()
            } else {
                self.root.join(&dir)
            };
            let entries = std::fs::read_dir(&full).map_err(|e| Self::err(&dir, &e))?;
            for entry in entries {
                let entry = entry.map_err(|e| Self::err(&dir, &e))?;
                let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                    continue;
                };
                let rel = if dir.is_empty() {
                    name.clone()
                } else {
                    format!("{dir}/{name}")
                };
                let ft = entry.file_type().map_err(|e| Self::err(&rel, &e))?;
                if ft.is_dir() {
                    let skip =
                        name == ".git" || (dir.is_empty() && SKIP_DIRS.contains(&name.as_str()));
                    if !skip {
                        stack.push(rel);
                    }
                } else if ft.is_file() {
                    out.push(rel);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn describe(&self) -> String {
        self.root.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lists_and_refuses_escapes() {
        let dir = tempdir();
        std::fs::create_dir_all(dir.join("layers/base")).unwrap();
        std::fs::create_dir_all(dir.join(".git")).unwrap();
        std::fs::write(dir.join("strata.yaml"), "x").unwrap();
        std::fs::write(dir.join("layers/base/a.yaml"), "a: 1").unwrap();
        std::fs::write(dir.join(".git/HEAD"), "ref").unwrap();
        std::fs::create_dir_all(dir.join("layers/target/prod/aws/r1")).unwrap();
        std::fs::write(dir.join("layers/target/prod/aws/r1/a.yaml"), "a: 2").unwrap();
        std::fs::create_dir_all(dir.join(".strata")).unwrap();
        std::fs::write(dir.join(".strata/store.db"), "db").unwrap();
        let src = DirSource::new(&dir);
        assert_eq!(&*src.read("strata.yaml").unwrap().unwrap(), b"x");
        assert!(src.read("nope.yaml").unwrap().is_none());
        assert!(src.read("../etc/passwd").is_err());
        assert!(src.read("/etc/passwd").is_err());
        assert_eq!(src.list_dir("layers/base").unwrap(), vec!["a.yaml"]);
        assert!(src.list_dir("layers/none").unwrap().is_empty());
        assert_eq!(
            src.list_all().unwrap(),
            vec![
                "layers/base/a.yaml",
                "layers/target/prod/aws/r1/a.yaml",
                "strata.yaml"
            ],
            "the target level is content; .git and the local store are not"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempdir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("strata-fs-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
