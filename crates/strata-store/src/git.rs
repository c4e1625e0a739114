//! Reading a project straight from a git commit, without a checkout.
//!
//! [`read_commit`] resolves a revision in the repository containing a project directory
//! and returns the bytes of every file under that directory *as committed*, together with
//! the commit's metadata. The working tree, the index and uncommitted changes are never
//! looked at.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use gix::bstr::ByteSlice;

/// A project as recorded in one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitSnapshot {
    /// The full hexadecimal id of the commit.
    pub commit: String,
    /// The commit's author as `Name <email>`.
    pub author: String,
    /// The full commit message, without trailing newlines.
    pub message: String,
    /// The author time, in seconds since the Unix epoch.
    pub time_unix: i64,
    /// Every regular or executable file under the project directory, keyed by its path
    /// relative to the project directory with `/` separators.
    pub files: BTreeMap<String, Vec<u8>>,
}

/// Reading a project from git failed.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// No git repository contains the project directory.
    #[error(
        "{} is not inside a git repository: {message}; run the command from a git \
         checkout, or drop the git revision to read the files on disk",
        path.display()
    )]
    NotARepository {
        /// The project directory that was given.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The revision does not resolve to a single commit.
    #[error(
        "cannot resolve git revision `{rev}`: {message}; use a branch, tag, commit id \
         or an expression like HEAD~1 (see `git help revisions`)"
    )]
    BadRevision {
        /// The revision as given.
        rev: String,
        /// What went wrong.
        message: String,
    },
    /// The project directory does not exist (as a directory) in the commit.
    #[error(
        "the project directory `{dir}` does not exist in commit {commit} (revision `{rev}`){}",
        if reason.is_empty() { String::new() } else { format!(": {reason}") }
    )]
    NotFound {
        /// The project directory relative to the repository root, `/`-separated.
        dir: String,
        /// The revision as given.
        rev: String,
        /// The full id of the commit it resolved to.
        commit: String,
        /// More detail (e.g. "it is a file there"), possibly empty.
        reason: String,
    },
    /// Reading objects from the repository failed.
    #[error("cannot read {what} from the git repository at {}: {message}", repo.display())]
    Read {
        /// The repository's `.git` directory.
        repo: PathBuf,
        /// What was being read.
        what: String,
        /// What went wrong.
        message: String,
    },
}

/// The repository holding a project directory, and where the directory is in it.
struct Located {
    repo: gix::Repository,
    /// The directory relative to the work tree, one path component each (empty at the
    /// root, and for a bare repository).
    components: Vec<String>,
}

/// Opens the repository that contains `project_dir` (searching upward like `git` does)
/// and finds the directory's place in its work tree. The directory need not exist any
/// more, as long as an ancestor does.
fn locate(project_dir: &Path) -> Result<Located, GitError> {
    let not_a_repo = |message: String| GitError::NotARepository {
        path: project_dir.to_path_buf(),
        message,
    };
    let (existing, missing_tail) = split_existing(project_dir).map_err(not_a_repo)?;
    let existing = std::fs::canonicalize(&existing)
        .map_err(|e| not_a_repo(format!("cannot access {}: {e}", existing.display())))?;
    if !existing.is_dir() {
        return Err(not_a_repo("it is not a directory".into()));
    }
    let repo = gix::discover(&existing).map_err(|e| not_a_repo(e.to_string()))?;
    let components: Vec<String> = match repo.workdir() {
        None => Vec::new(),
        Some(workdir) => {
            let workdir = std::fs::canonicalize(workdir).map_err(|e| {
                not_a_repo(format!(
                    "cannot access work tree {}: {e}",
                    workdir.display()
                ))
            })?;
            let rel = existing.strip_prefix(&workdir).map_err(|_| {
                not_a_repo(format!(
                    "it is not inside the work tree {}",
                    workdir.display()
                ))
            })?;
            let mut comps = Vec::new();
            for c in rel.components().chain(missing_tail.components()) {
                match c {
                    Component::Normal(s) => {
                        comps.push(s.to_str().map(str::to_owned).ok_or_else(|| {
                            not_a_repo(format!("the path component {s:?} is not valid UTF-8"))
                        })?)
                    }
                    Component::CurDir => {}
                    other => {
                        return Err(not_a_repo(format!(
                            "unexpected path component {:?}",
                            other.as_os_str()
                        )));
                    }
                }
            }
            comps
        }
    };
    Ok(Located { repo, components })
}

/// The project directory's path inside the work tree of the git repository holding it,
/// `/`-terminated (`deploy/config/`), or `""` at the root: what a patch of project files
/// prefixes its paths with so that `git apply` takes it from the repository's root.
///
/// # Errors
///
/// [`GitError::NotARepository`] when no repository holds the directory.
pub fn work_tree_prefix(project_dir: &Path) -> Result<String, GitError> {
    let located = locate(project_dir)?;
    Ok(located.components.iter().map(|c| format!("{c}/")).collect())
}

/// Opens the repository that contains `project_dir` (searching upward like `git` does),
/// resolves `rev`, peels it to a commit, and reads every file under the project directory
/// from that commit's tree.
///
/// * `rev` is any single-revision spec gix supports: `HEAD`, a branch, a tag (annotated
///   tags are peeled), a full or abbreviated commit id, `HEAD~2`, `origin/main`, …
/// * The project directory's location inside the repository is its path relative to the
///   work tree (the repository root when they are the same, and also for bare
///   repositories). It does not need to exist on disk any more, as long as an ancestor
///   does and it exists in the commit.
/// * Regular and executable files are included, recursively. **Symbolic links and
///   submodules (commit entries in the tree) are skipped.** Non-UTF-8 file names are
///   converted lossily.
/// * Nothing is checked out, and the working tree and index are never read: uncommitted
///   changes are not seen.
///
/// # Errors
///
/// [`GitError::NotARepository`], [`GitError::BadRevision`] (also when `rev` names a
/// range, a tree or a blob), [`GitError::NotFound`] if the project directory is not a
/// directory in that commit, [`GitError::Read`] for repository corruption and the like.
pub fn read_commit(project_dir: &Path, rev: &str) -> Result<GitSnapshot, GitError> {
    let Located {
        repo,
        components: rel_components,
    } = locate(project_dir)?;
    let git_dir = repo.git_dir().to_path_buf();
    let read_err = |what: &str, message: String| GitError::Read {
        repo: git_dir.clone(),
        what: what.to_string(),
        message,
    };
    let rel_dir = rel_components.join("/");

    // Resolve the revision to a commit.
    let bad_rev = |message: String| GitError::BadRevision {
        rev: rev.to_string(),
        message,
    };
    if rev.trim().is_empty() {
        return Err(bad_rev("the revision is empty".into()));
    }
    let id = repo
        .rev_parse_single(rev.as_bytes().as_bstr())
        .map_err(|e| {
            use gix::revision::spec::parse::single::Error as E;
            let message = match e {
                E::RangedRev { .. } => {
                    "it names a range of commits, but a single commit is needed".to_string()
                }
                E::Parse(e) => e.to_string(),
            };
            if repo.head().is_ok_and(|h| h.is_unborn()) {
                bad_rev(format!("{message} (the repository has no commits yet)"))
            } else {
                bad_rev(message)
            }
        })?;
    let object = id
        .object()
        .map_err(|e| read_err(&format!("object {id}"), e.to_string()))?;
    let kind = object.kind;
    let commit = object
        .peel_to_commit()
        .map_err(|_| bad_rev(format!("it names a {kind} ({id}), not a commit")))?;
    let commit_id = commit.id().to_string();

    let author_sig = commit
        .author()
        .map_err(|e| read_err(&format!("commit {commit_id}"), e.to_string()))?
        .trim();
    let author = format!(
        "{} <{}>",
        author_sig.name.to_str_lossy(),
        author_sig.email.to_str_lossy()
    );
    let time_unix = author_sig.seconds();
    let message = commit
        .message_raw()
        .map_err(|e| read_err(&format!("commit {commit_id}"), e.to_string()))?
        .to_str_lossy()
        .trim_end_matches(['\n', '\r'])
        .to_string();

    // Find the project's tree.
    let root = commit
        .tree()
        .map_err(|e| read_err(&format!("the tree of commit {commit_id}"), e.to_string()))?;
    let not_found = |reason: &str| GitError::NotFound {
        dir: rel_dir.clone(),
        rev: rev.to_string(),
        commit: commit_id.clone(),
        reason: reason.to_string(),
    };
    let tree = if rel_components.is_empty() {
        root
    } else {
        let entry = root
            .lookup_entry(rel_components.iter().map(|c| c.as_bytes()))
            .map_err(|e| read_err(&format!("the tree of commit {commit_id}"), e.to_string()))?
            .ok_or_else(|| not_found(""))?;
        let mode = entry.mode();
        if !mode.is_tree() {
            let what = if mode.is_commit() {
                "it is a submodule there"
            } else {
                "it is a file there, not a directory"
            };
            return Err(not_found(what));
        }
        entry
            .object()
            .map_err(|e| read_err(&format!("tree `{rel_dir}`"), e.to_string()))?
            .into_tree()
    };

    // Read every blob below it.
    let mut recorder = gix::traverse::tree::Recorder::default();
    tree.traverse()
        .breadthfirst(&mut recorder)
        .map_err(|e| read_err(&format!("tree `{rel_dir}`"), e.to_string()))?;
    let mut files = BTreeMap::new();
    for entry in recorder.records {
        // `is_blob` is true for regular and executable files only: symlinks, trees and
        // submodule commits are skipped.
        if !entry.mode.is_blob() {
            continue;
        }
        let path = entry.filepath.to_str_lossy().into_owned();
        let mut blob = repo
            .find_blob(entry.oid)
            .map_err(|e| read_err(&format!("file `{path}`"), e.to_string()))?;
        files.insert(path, blob.take_data());
    }

    Ok(GitSnapshot {
        commit: commit_id,
        author,
        message,
        time_unix,
        files,
    })
}

/// Splits `path` (made absolute) into its longest existing ancestor and the rest.
fn split_existing(path: &Path) -> Result<(PathBuf, PathBuf), String> {
    let abs = std::path::absolute(path).map_err(|e| format!("cannot resolve the path: {e}"))?;
    let mut existing = abs.as_path();
    let mut tail = Vec::new();
    while !existing.exists() {
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                tail.push(name.to_os_string());
                existing = parent;
            }
            _ => return Err("no part of the path exists".into()),
        }
    }
    let rest: PathBuf = tail.iter().rev().collect();
    Ok((existing.to_path_buf(), rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Runs `git` in `dir` isolated from the user's and system configuration.
    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .current_dir(dir)
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .env_remove("GIT_OBJECT_DIRECTORY")
            .env_remove("GIT_CEILING_DIRECTORIES")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_DATE", "@1700000000 +0100")
            .env("GIT_COMMITTER_DATE", "@1700000100 +0100")
            .args([
                "-c",
                "user.name=Test User",
                "-c",
                "user.email=test@example.com",
                "-c",
                "commit.gpgsign=false",
                "-c",
                "tag.gpgsign=false",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    fn write(root: &Path, rel: &str, content: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    fn commit_all(dir: &Path, message: &str) -> String {
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-q", "-m", message]);
        git(dir, &["rev-parse", "HEAD"])
    }

    fn init() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "-q"]);
        dir
    }

    fn keys(s: &GitSnapshot) -> Vec<&str> {
        s.files.keys().map(String::as_str).collect()
    }

    #[test]
    fn project_at_repository_root() {
        let repo = init();
        let root = repo.path();
        write(root, "strata.yaml", "version: 1\n");
        write(root, "services/checkout/base.yaml", "replicas: 2\n");
        write(root, "scripts/run.sh", "#!/bin/sh\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let p = root.join("scripts/run.sh");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
            std::os::unix::fs::symlink("strata.yaml", root.join("link.yaml")).unwrap();
        }
        let head = commit_all(root, "Initial import\n\nWith a body.\n");

        let snap = read_commit(root, "HEAD").unwrap();
        assert_eq!(snap.commit, head);
        assert_eq!(snap.commit.len(), 40);
        assert_eq!(snap.author, "Test User <test@example.com>");
        assert_eq!(snap.message, "Initial import\n\nWith a body.");
        assert_eq!(snap.time_unix, 1_700_000_000);
        assert_eq!(
            keys(&snap),
            [
                "scripts/run.sh",
                "services/checkout/base.yaml",
                "strata.yaml"
            ],
            "executables included, symlink skipped"
        );
        assert_eq!(snap.files["strata.yaml"], b"version: 1\n");

        // Discovery works from a subdirectory too (here the project is the subdirectory).
        let sub = read_commit(&root.join("services"), "main").unwrap();
        assert_eq!(keys(&sub), ["checkout/base.yaml"]);
    }

    #[test]
    fn the_work_tree_prefix_is_the_project_directory_in_the_repository() {
        let repo = init();
        let root = repo.path();
        write(root, "deploy/config/strata.yaml", "version: 1\n");
        assert_eq!(work_tree_prefix(root).unwrap(), "");
        assert_eq!(
            work_tree_prefix(&root.join("deploy/config")).unwrap(),
            "deploy/config/"
        );
        let outside = tempfile::tempdir().unwrap();
        assert!(matches!(
            work_tree_prefix(outside.path()),
            Err(GitError::NotARepository { .. })
        ));
    }

    #[test]
    fn project_in_subdirectory() {
        let repo = init();
        let root = repo.path();
        write(root, "README.md", "hello\n");
        write(root, "deploy/other.txt", "x\n");
        write(root, "deploy/config/strata.yaml", "version: 1\n");
        write(
            root,
            "deploy/config/services/api/prod.yaml",
            "replicas: 5\n",
        );
        commit_all(root, "add config");

        let snap = read_commit(&root.join("deploy/config"), "HEAD").unwrap();
        assert_eq!(keys(&snap), ["services/api/prod.yaml", "strata.yaml"]);
        assert_eq!(snap.files["services/api/prod.yaml"], b"replicas: 5\n");

        // A relative-looking path with `.` components works as well.
        let snap2 = read_commit(&root.join("deploy/./config"), "HEAD").unwrap();
        assert_eq!(snap2.files, snap.files);
    }

    #[test]
    fn older_commits_branches_tags_and_abbreviated_ids() {
        let repo = init();
        let root = repo.path();
        write(root, "strata.yaml", "version: 1\n");
        let first = commit_all(root, "one");
        git(root, &["tag", "v1"]);
        git(root, &["tag", "-a", "v1-annotated", "-m", "annotated"]);
        write(root, "strata.yaml", "version: 2\n");
        write(root, "new.yaml", "n: 1\n");
        let second = commit_all(root, "two");

        let head = read_commit(root, "HEAD").unwrap();
        assert_eq!(head.commit, second);
        assert_eq!(head.files["strata.yaml"], b"version: 2\n");

        for rev in ["HEAD~1", "v1", "v1-annotated", &first[..8], &first] {
            let old = read_commit(root, rev).unwrap();
            assert_eq!(old.commit, first, "{rev}");
            assert_eq!(old.message, "one");
            assert_eq!(old.files["strata.yaml"], b"version: 1\n", "{rev}");
            assert!(!old.files.contains_key("new.yaml"), "{rev}");
        }
        git(root, &["branch", "old", &first]);
        assert_eq!(read_commit(root, "old").unwrap().commit, first);
    }

    #[test]
    fn uncommitted_changes_are_not_seen() {
        let repo = init();
        let root = repo.path();
        write(root, "strata.yaml", "committed\n");
        commit_all(root, "c");
        write(root, "strata.yaml", "modified in working tree\n");
        write(root, "untracked.yaml", "u\n");
        git(root, &["add", "untracked.yaml"]); // staged, still not committed
        std::fs::write(root.join("extra.yaml"), "not even staged\n").unwrap();

        let snap = read_commit(root, "HEAD").unwrap();
        assert_eq!(keys(&snap), ["strata.yaml"]);
        assert_eq!(snap.files["strata.yaml"], b"committed\n");
    }

    #[test]
    fn unknown_revision_is_bad_revision() {
        let repo = init();
        let root = repo.path();
        write(root, "a.yaml", "a\n");
        commit_all(root, "c");
        for rev in [
            "no-such-branch",
            "HEAD~5",
            "deadbeef",
            "HEAD~1..HEAD",
            "HEAD:a.yaml",
            "",
        ] {
            let err = read_commit(root, rev).unwrap_err();
            assert!(
                matches!(&err, GitError::BadRevision { rev: r, .. } if r == rev),
                "{rev}: {err:?}"
            );
            let msg = err.to_string();
            assert!(msg.contains(&format!("`{rev}`")), "{msg}");
        }
        let err = read_commit(root, "HEAD:a.yaml").unwrap_err();
        assert!(err.to_string().contains("not a commit"), "{err}");
        write(root, "b.yaml", "b\n");
        commit_all(root, "second");
        let err = read_commit(root, "HEAD~1..HEAD").unwrap_err();
        assert!(err.to_string().contains("range"), "{err}");
    }

    #[test]
    fn empty_repository_has_no_head() {
        let repo = init();
        let err = read_commit(repo.path(), "HEAD").unwrap_err();
        assert!(matches!(err, GitError::BadRevision { .. }), "{err:?}");
        assert!(err.to_string().contains("no commits yet"), "{err}");
    }

    #[test]
    fn not_a_repository() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_commit(dir.path(), "HEAD").unwrap_err();
        assert!(matches!(err, GitError::NotARepository { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    }

    #[test]
    fn project_missing_in_commit_is_not_found() {
        let repo = init();
        let root = repo.path();
        write(root, "README.md", "r\n");
        commit_all(root, "one");
        write(root, "deploy/config/strata.yaml", "v\n");
        write(root, "deploy/file", "f\n");
        commit_all(root, "two");

        let err = read_commit(&root.join("deploy/config"), "HEAD~1").unwrap_err();
        assert!(
            matches!(&err, GitError::NotFound { dir, .. } if dir == "deploy/config"),
            "{err:?}"
        );
        assert!(err.to_string().contains("`deploy/config`"), "{err}");

        let err = read_commit(&root.join("deploy/file"), "HEAD").unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");

        // The directory no longer exists on disk but does in the commit.
        std::fs::remove_dir_all(root.join("deploy/config")).unwrap();
        let snap = read_commit(&root.join("deploy/config"), "HEAD").unwrap();
        assert_eq!(keys(&snap), ["strata.yaml"]);
    }

    #[test]
    fn submodules_are_skipped() {
        let repo = init();
        let root = repo.path();
        write(root, "strata.yaml", "v\n");
        let first = commit_all(root, "one");
        git(
            root,
            &[
                "update-index",
                "--add",
                "--cacheinfo",
                &format!("160000,{first},vendor/sub"),
            ],
        );
        git(root, &["commit", "-q", "-m", "add submodule"]);

        let snap = read_commit(root, "HEAD").unwrap();
        assert_eq!(keys(&snap), ["strata.yaml"]);
        let err = read_commit(&root.join("vendor/sub"), "HEAD").unwrap_err();
        assert!(err.to_string().contains("submodule"), "{err}");
    }
}
