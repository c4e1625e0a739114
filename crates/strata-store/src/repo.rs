//! [`Repository`]: what Strata does with a store — import, changesets with optimistic
//! concurrency, revert, tags, secrets — on top of any [`Store`] backend.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use rayon::prelude::*;

use strata_core::compare::{self, paths_overlap};
use strata_core::edit::{self, Edit};
use strata_core::parse::{Format, ParseOptions, parse_document};
use strata_core::path::{Segment, segments_to_string};
use strata_core::project::ProjectConfig;
use strata_core::resolve::Project;
use strata_core::validate::schema::{Pat, is_encrypted, path_is_secret, secret_patterns};
use strata_core::value::{FileId, Node, Value};

use crate::audit::NewAuditEntry;
use crate::backend::Store;
use crate::changeset::{Changeset, ParamEdit};
use crate::crypto::{self, Identities, Recipients};
use crate::error::{Conflict, StoreError};
use crate::model::{
    Commit, CommitMeta, CommitOutcome, FileChange, FileChangeKind, Hash, LayerRefs, Manifest,
    ParamChange, Revision, RevisionId, referenced_services,
};
use crate::requests::{RequestTransition, RequestUpdate};
use crate::source::{BlobCache, StoreSource, read_blob, read_blobs};
use crate::tree::Tree;

/// New file contents by path (`None` deletes the file).
pub(crate) type FileChanges = BTreeMap<String, Option<Arc<[u8]>>>;

/// A changed layer file: path, service, old blob, new bytes.
type LayerChange<'a> = (&'a str, &'a str, Option<Hash>, Option<&'a Arc<[u8]>>);

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    /// A new revision.
    Committed(Revision),
    /// The content equals the head's: no revision was made.
    Unchanged(Revision),
}

/// What applying a changeset did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// A new revision; `rebased` when the head had moved past the base.
    Committed {
        /// The new head.
        revision: Revision,
        /// Whether the edits were re-applied on a newer head.
        rebased: bool,
    },
    /// The edits change nothing.
    Unchanged(Revision),
}

/// What a revision records besides its content, written in the revision's transaction
/// (see [`Commit::audit`] and [`Commit::request`]): if it cannot be written, nothing is
/// committed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitExtras {
    /// Audit entries; those without a `revision` are given the new revision's id.
    pub audit: Vec<NewAuditEntry>,
    /// The change request the revision applies (typically `approved` → `applied`); it
    /// records the new revision.
    pub request: Option<RequestTransition>,
}

impl CommitExtras {
    /// Puts the extras on `commit`, stamping entries with its revision.
    fn attach(&self, commit: &mut Commit) {
        let id = commit.revision.id.to_string();
        commit.audit = self
            .audit
            .iter()
            .map(|e| NewAuditEntry {
                revision: e.revision.clone().or_else(|| Some(id.clone())),
                ..e.clone()
            })
            .collect();
        commit.request = self.request.clone();
    }

    /// Writes the extras in a transaction of their own, when no revision is made (the
    /// change was already there).
    fn record_alone(&self, store: &dyn Store) -> Result<(), StoreError> {
        if self.audit.is_empty() && self.request.is_none() {
            return Ok(());
        }
        match &self.request {
            Some(t) => {
                let update = RequestUpdate {
                    approval: None,
                    status: Some(t.change.clone()),
                };
                store.request_update(&t.id, &update, &self.audit)?;
            }
            None => {
                store.audit_append(&self.audit)?;
            }
        }
        Ok(())
    }
}

/// A store with Strata's semantics on top.
pub struct Repository {
    store: Arc<dyn Store>,
    cache: BlobCache,
}

/// Opens the store at `location`: a `postgres://`/`postgresql://` URL, or a SQLite file
/// path (its directory is created when missing).
pub fn open(location: &str) -> Result<Repository, StoreError> {
    let store: Arc<dyn Store> =
        if location.starts_with("postgres://") || location.starts_with("postgresql://") {
            Arc::new(crate::postgres::PgStore::open(location)?)
        } else {
            let path = Path::new(location.strip_prefix("sqlite:").unwrap_or(location));
            if let Some(dir) = path.parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir).map_err(|e| StoreError::Backend {
                    store: format!("sqlite:{}", path.display()),
                    message: format!("cannot create {}: {e}", dir.display()),
                })?;
            }
            Arc::new(crate::sqlite::SqliteStore::open(path)?)
        };
    Ok(Repository::new(store))
}

/// Whether `path` is a layer file; returns `(level dir, service)`.
pub fn layer_file(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("layers/")?;
    let (dir, name) = rest.rsplit_once('/')?;
    let (stem, _) = name.rsplit_once('.')?;
    Format::from_path(name)?;
    Some((dir, stem))
}

/// Parses a document with positions (no templates); errors name the file and line.
pub(crate) fn parse_file(path: &str, bytes: &[u8]) -> Result<Node, StoreError> {
    let format = Format::from_path(path).unwrap_or(Format::Yaml);
    parse_document(
        &Arc::from(path),
        FileId(0),
        bytes,
        format,
        ParseOptions { templates: false },
    )
    .map_err(|e| StoreError::Project(e.to_string()))
}

/// The logical parameter path of a layer path: `$provider.aws.x` → `x`.
pub(crate) fn logical_path(path: &[Segment]) -> &[Segment] {
    match path {
        [Segment::Key(p), Segment::Key(_), rest @ ..] if &**p == "$provider" => rest,
        _ => path,
    }
}

/// The path a layer leaf is indexed under: its logical path, so a value set inside a
/// `$provider.aws` block is found by `log --param service:path` like any other.
fn index_path(path: &str) -> std::borrow::Cow<'_, str> {
    if !path.starts_with("$provider") {
        return path.into();
    }
    match strata_core::path::parse_segments(path) {
        Ok(segs) => segments_to_string(logical_path(&segs)).into(),
        Err(_) => path.into(),
    }
}

/// Compact text of a value for messages, with secrets and ciphertexts redacted.
pub(crate) fn shown(value: Option<&serde_json::Value>, secret: bool, absent: &str) -> String {
    match value {
        None => absent.to_string(),
        Some(_) if secret => "<redacted>".to_string(),
        Some(serde_json::Value::String(s)) if s.starts_with("ENC[") => "<redacted>".to_string(),
        Some(v) => v.to_string(),
    }
}

/// The secret patterns of every service with a schema, read from `source`.
pub(crate) struct Secrets {
    by_service: BTreeMap<String, Vec<Vec<Pat>>>,
}

impl Secrets {
    /// The secret patterns of every service.
    pub(crate) fn load(
        config: &ProjectConfig,
        source: &StoreSource,
    ) -> Result<Secrets, StoreError> {
        Self::load_for(config, source, |_| true)
    }

    /// The secret patterns of the services `wanted` selects (schemas are parsed, so a
    /// changeset reads only the schemas of the services it edits).
    pub(crate) fn load_for(
        config: &ProjectConfig,
        source: &StoreSource,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<Secrets, StoreError> {
        let mut by_service = BTreeMap::new();
        let schemas: Vec<&str> = config
            .services
            .iter()
            .filter(|(n, _)| wanted(n))
            .filter_map(|(_, d)| d.schema.as_deref())
            .collect();
        source.prefetch(&schemas)?;
        for (name, def) in config.services.iter().filter(|(n, _)| wanted(n)) {
            let Some(schema) = &def.schema else { continue };
            let Some(bytes) = source.read_file(schema)? else {
                continue;
            };
            // Most schemas have no secret: skip parsing them.
            if !String::from_utf8_lossy(&bytes).contains("x-strata-secret") {
                continue;
            }
            let root = parse_file(schema, &bytes)?;
            let pats = secret_patterns(&root);
            if !pats.is_empty() {
                by_service.insert(name.clone(), pats);
            }
        }
        Ok(Secrets { by_service })
    }

    pub(crate) fn is_secret(&self, service: &str, path: &[Segment]) -> bool {
        self.by_service
            .get(service)
            .is_some_and(|p| path_is_secret(p, path))
    }
}

impl Repository {
    /// Wraps a backend.
    pub fn new(store: Arc<dyn Store>) -> Repository {
        Repository {
            store,
            cache: Arc::new(Mutex::new(Default::default())),
        }
    }

    /// The backend.
    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// The head, or [`StoreError::Empty`].
    pub fn head(&self) -> Result<Revision, StoreError> {
        self.store.head()?.ok_or(StoreError::Empty)
    }

    /// Finds a revision: `HEAD`, `HEAD~N`, a tag, `#SEQ`, or a (prefix of a) revision id.
    pub fn resolve_rev(&self, spec: &str) -> Result<Revision, StoreError> {
        let unknown = |hint: &str| StoreError::UnknownRevision {
            spec: spec.to_string(),
            hint: hint.to_string(),
        };
        if spec == "HEAD" || spec == "@" {
            return self.head();
        }
        if let Some(n) = spec.strip_prefix("HEAD~") {
            let n: u64 = n
                .parse()
                .map_err(|_| unknown(": write HEAD~N with a number"))?;
            let head = self.head()?;
            if n >= head.seq {
                return Err(unknown(&format!(": the head is revision #{}", head.seq)));
            }
            return self
                .store
                .revision_by_seq(head.seq - n)?
                .ok_or_else(|| unknown(""));
        }
        if let Some(n) = spec.strip_prefix('#') {
            let n: u64 = n.parse().map_err(|_| unknown(": write #N with a number"))?;
            return self.store.revision_by_seq(n)?.ok_or_else(|| unknown(""));
        }
        if let Some((_, id)) = self.store.tags()?.into_iter().find(|(t, _)| t == spec) {
            return self.store.revision(&id);
        }
        let hex = spec.len() >= 4 && spec.chars().all(|c| c.is_ascii_hexdigit());
        if hex {
            let found = self.store.find_by_prefix(&spec.to_ascii_lowercase())?;
            return match found.as_slice() {
                [one] => self.store.revision(one),
                [] => Err(unknown("")),
                _ => Err(unknown(": the prefix is ambiguous, give more digits")),
            };
        }
        Err(unknown(
            ": use HEAD, HEAD~N, #N, a tag or a revision id (at least 4 hex digits)",
        ))
    }

    /// A revision's manifest, verified.
    pub fn manifest(&self, rev: &Revision) -> Result<Manifest, StoreError> {
        Manifest::decode(
            &rev.manifest,
            &format!("manifest of revision {}", rev.id.short()),
            &mut |hs| read_blobs(&*self.store, &self.cache, hs),
        )
    }

    /// The files of `rev` as a project source for the core.
    pub fn source(&self, rev: &Revision) -> Result<StoreSource, StoreError> {
        Ok(StoreSource::new(
            self.store.clone(),
            self.cache.clone(),
            rev.manifest,
            format!("revision {}", rev.id.short()),
        ))
    }

    /// Every file of `rev` (verified).
    pub fn files(&self, rev: &Revision) -> Result<BTreeMap<String, Arc<[u8]>>, StoreError> {
        let manifest = self.manifest(rev)?;
        manifest
            .files
            .iter()
            .map(|(p, h)| Ok((p.clone(), read_blob(&*self.store, &self.cache, h)?)))
            .collect()
    }

    /// The project of `rev`, loaded by the core.
    pub fn project(&self, rev: &Revision) -> Result<Project, StoreError> {
        Project::load(Arc::new(self.source(rev)?)).map_err(|e| StoreError::Project(e.to_string()))
    }

    /// Stores a whole project (a working tree or a git commit) as a new revision on the
    /// head. Identical content makes no revision. The project must load, every layer file
    /// must parse, and secret parameters must hold ciphertext.
    pub fn import(
        &self,
        files: BTreeMap<String, Vec<u8>>,
        meta: CommitMeta,
    ) -> Result<ImportOutcome, StoreError> {
        self.import_with(files, meta, &CommitExtras::default())
    }

    /// [`Repository::import`] that also writes `extras` (audit entries, a change request's
    /// status) in the revision's transaction, or on their own when nothing changed.
    pub fn import_with(
        &self,
        files: BTreeMap<String, Vec<u8>>,
        meta: CommitMeta,
        extras: &CommitExtras,
    ) -> Result<ImportOutcome, StoreError> {
        for path in files.keys() {
            if path.contains('\n') || path.starts_with('/') || path.split('/').any(|p| p == "..") {
                return Err(StoreError::Invalid(format!(
                    "cannot store the file name {path:?}: project paths must be relative and on one line"
                )));
            }
        }
        let files: BTreeMap<String, Arc<[u8]>> = files
            .into_iter()
            .map(|(p, b)| (p, Arc::from(b.into_boxed_slice())))
            .collect();
        let mut memory = strata_core::files::MemorySource::new();
        for (p, b) in &files {
            memory.insert(p.clone(), b.to_vec());
        }
        let project = Project::load(Arc::new(memory))
            .map_err(|e| StoreError::Project(format!("cannot import: {e}")))?;
        check_plaintext(&project.config, &files)?;
        // Importing sound content repairs damaged copies of the same blobs (recovery).
        let mut manifest = Manifest::default();
        for (p, b) in &files {
            manifest.files.insert(p.clone(), Hash::of(b));
        }
        let (_, trees) = manifest.encode();
        let mut given: Vec<(Hash, &[u8])> = files.values().map(|b| (Hash::of(b), &b[..])).collect();
        given.extend(trees.iter().map(|(h, b)| (*h, &b[..])));
        self.store.repair_blobs(&given)?;
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).clear();
        loop {
            let head = self.store.head()?;
            // A damaged head manifest is replaced whole: every file counts as changed.
            let old = match &head {
                Some(h) => match self.manifest(h) {
                    Ok(m) => m,
                    Err(StoreError::Corrupt { .. }) => Manifest::default(),
                    Err(e) => return Err(e),
                },
                None => Manifest::default(),
            };
            let mut changes: BTreeMap<String, Option<Arc<[u8]>>> = BTreeMap::new();
            for (p, b) in &files {
                if old.files.get(p) != Some(&Hash::of(b)) {
                    changes.insert(p.clone(), Some(b.clone()));
                }
            }
            for p in old.files.keys() {
                if !files.contains_key(p) {
                    changes.insert(p.clone(), None);
                }
            }
            if let Some(h) = &head
                && changes.is_empty()
            {
                extras.record_alone(&*self.store)?;
                return Ok(ImportOutcome::Unchanged(h.clone()));
            }
            let mut commit = self.build_commit(head.as_ref(), &old, &changes, meta.clone())?;
            extras.attach(&mut commit);
            if let CommitOutcome::Committed = self.store.commit(&commit)? {
                return Ok(ImportOutcome::Committed(commit.revision));
            }
        }
    }

    /// Builds the commit that applies `changes` (path → new bytes, `None` deletes) to
    /// `parent`, whose manifest is `old`.
    fn build_commit(
        &self,
        parent: Option<&Revision>,
        old: &dyn Tree,
        changes: &BTreeMap<String, Option<Arc<[u8]>>>,
        meta: CommitMeta,
    ) -> Result<Commit, StoreError> {
        let mut blobs: Vec<(Hash, Vec<u8>)> = Vec::new();
        let mut files = Vec::new();
        let mut seen = BTreeSet::new();
        let mut tree_changes: BTreeMap<String, Option<Hash>> = BTreeMap::new();
        let mut layers: Vec<LayerChange<'_>> = Vec::new();
        for (path, new) in changes {
            let old_hash = old.lookup(path)?;
            let new_hash = new.as_ref().map(|b| Hash::of(b));
            if old_hash == new_hash {
                continue;
            }
            let kind = match (old_hash, new_hash) {
                (None, _) => FileChangeKind::Added,
                (_, None) => FileChangeKind::Deleted,
                _ => FileChangeKind::Modified,
            };
            files.push(FileChange {
                path: path.clone(),
                kind,
            });
            tree_changes.insert(path.clone(), new_hash);
            if let (Some(bytes), Some(h)) = (new, new_hash)
                && seen.insert(h)
            {
                blobs.push((h, bytes.to_vec()));
            }
            if let Some((_, service)) = layer_file(path) {
                layers.push((path, service, old_hash, new.as_ref()));
            }
        }
        // The parameter index: parse both sides of every changed layer file, in parallel.
        let per_file: Vec<Result<Vec<ParamChange>, StoreError>> = layers
            .par_iter()
            .map(|&(path, service, old_hash, new)| {
                // A damaged old file (being replaced in a recovery) counts as absent.
                let before = match old_hash.map(|h| read_blob(&*self.store, &self.cache, &h)) {
                    Some(Ok(bytes)) => Some(parse_file(path, &bytes)?),
                    Some(Err(StoreError::Corrupt { .. })) | None => None,
                    Some(Err(e)) => return Err(e),
                };
                let after = match new {
                    Some(b) => Some(parse_file(path, b)?),
                    None => None,
                };
                Ok(compare::diff(before.as_ref(), after.as_ref())
                    .into_iter()
                    .map(|c| ParamChange {
                        param: format!("{service}:{}", index_path(&c.path)),
                        file: path.to_string(),
                    })
                    .collect())
            })
            .collect();
        let mut params = Vec::new();
        for p in per_file {
            params.extend(p?);
        }
        // The reference index records only files that reference (or stop referencing)
        // another service, so it stays as small as the web of references.
        let mut refs = Vec::new();
        for &(path, _, old_hash, new) in &layers {
            let now = new.map(|b| referenced_services(b));
            let before = match old_hash.map(|h| read_blob(&*self.store, &self.cache, &h)) {
                Some(Ok(bytes)) => referenced_services(&bytes),
                Some(Err(StoreError::Corrupt { .. })) | None => Vec::new(),
                Some(Err(e)) => return Err(e),
            };
            if !before.is_empty() || now.as_ref().is_some_and(|n| !n.is_empty()) {
                refs.push(LayerRefs {
                    path: path.to_string(),
                    services: now,
                });
            }
        }
        let (manifest_hash, trees) = old.rewrite(&tree_changes)?;
        for (h, b) in trees {
            if seen.insert(h) {
                blobs.push((h, b));
            }
        }
        let wanted: Vec<Hash> = blobs.iter().map(|(h, _)| *h).collect();
        let missing: BTreeSet<Hash> = self.store.missing_blobs(&wanted)?.into_iter().collect();
        blobs.retain(|(h, _)| missing.contains(h));
        let revision = Revision::new(
            parent.map_or(1, |p| p.seq + 1),
            parent.map(|p| p.id),
            manifest_hash,
            meta,
        );
        Ok(Commit {
            expected_head: parent.map(|p| p.id),
            revision,
            blobs,
            files,
            params,
            refs,
            audit: Vec::new(),
            request: None,
        })
    }

    /// Applies a changeset. When the head moved past its base, edits to parameters nobody
    /// else changed are rebased onto the head; otherwise the changeset is refused with a
    /// [`StoreError::Conflict`] naming each parameter and both values.
    pub fn apply(&self, cs: &Changeset, meta: CommitMeta) -> Result<ApplyOutcome, StoreError> {
        self.apply_with(cs, meta, &CommitExtras::default())
    }

    /// [`Repository::apply`] that also writes `extras` (audit entries, a change request's
    /// status) in the revision's transaction — if they cannot be written, nothing is
    /// committed — or on their own when the edits change nothing. A conflict writes none.
    pub fn apply_with(
        &self,
        cs: &Changeset,
        meta: CommitMeta,
        extras: &CommitExtras,
    ) -> Result<ApplyOutcome, StoreError> {
        let base = match &cs.base {
            Some(spec) => self.resolve_rev(spec)?,
            None => self.head()?,
        };
        let mut current = base.clone();
        loop {
            let (source, changes) = self.plan_checked(cs, &current)?;
            let changes: BTreeMap<String, Option<Arc<[u8]>>> = changes
                .into_iter()
                .filter(|(p, b)| source.lookup(p).ok().flatten() != b.as_ref().map(|b| Hash::of(b)))
                .collect();
            if changes.is_empty() {
                // Nothing to change against `current`; if the head moved past it, the
                // edits must still be checked against (and planned on) the head, or an
                // edit made against an old base would be silently lost.
                let head = self.head()?;
                if head.id == current.id {
                    extras.record_alone(&*self.store)?;
                    return Ok(ApplyOutcome::Unchanged(current));
                }
                let conflicts = self.conflicts(&current, &head, &cs.edits)?;
                if !conflicts.is_empty() {
                    return Err(StoreError::Conflict(conflicts));
                }
                current = head;
                continue;
            }
            let mut commit =
                self.build_commit(Some(&current), source.tree(), &changes, meta.clone())?;
            extras.attach(&mut commit);
            match self.store.commit(&commit)? {
                CommitOutcome::Committed => {
                    return Ok(ApplyOutcome::Committed {
                        revision: commit.revision,
                        rebased: current.id != base.id,
                    });
                }
                CommitOutcome::HeadMoved { .. } => {
                    let head = self.head()?;
                    let conflicts = self.conflicts(&current, &head, &cs.edits)?;
                    if !conflicts.is_empty() {
                        return Err(StoreError::Conflict(conflicts));
                    }
                    current = head;
                }
            }
        }
    }

    /// The project of `on` with the changeset's edits applied in memory — what
    /// [`Repository::apply`] would commit on `on` — without writing anything (for
    /// validating a changeset before it is committed or proposed). Refuses what `apply`
    /// refuses: edits to undeclared services, unknown levels and plaintext secrets.
    pub fn preview(&self, cs: &Changeset, on: &Revision) -> Result<Project, StoreError> {
        let (source, changes) = self.plan_checked(cs, on)?;
        Project::load(Arc::new(source.with_overlay(changes)))
            .map_err(|e| StoreError::Project(e.to_string()))
    }

    /// The changeset's edits checked (declared services, known levels, no plaintext
    /// secrets) and planned as file changes on revision `on`, with `on`'s source: what
    /// both [`Repository::apply_with`] and [`Repository::preview`] start from.
    fn plan_checked(
        &self,
        cs: &Changeset,
        on: &Revision,
    ) -> Result<(StoreSource, FileChanges), StoreError> {
        let source = self.source(on)?;
        let project = Project::load(Arc::new(source.with_overlay(BTreeMap::new())))
            .map_err(|e| StoreError::Project(e.to_string()))?;
        let edited = |svc: &str| cs.edits.iter().any(|e| e.param.service == svc);
        let secrets = Secrets::load_for(&project.config, &source, edited)?;
        self.check_edits(&project.config, &secrets, &cs.edits)?;
        let (changes, _) = plan_edits(&source, &cs.edits)?;
        Ok((source, changes))
    }

    /// Refuses a changeset whose base is behind `head` when its edits collide with
    /// parameters changed since the base ([`StoreError::Conflict`], as
    /// [`Repository::apply`] would); a changeset without a base, or on the head, passes.
    pub fn check_base(&self, cs: &Changeset, head: &Revision) -> Result<(), StoreError> {
        let Some(spec) = &cs.base else {
            return Ok(());
        };
        let base = self.resolve_rev(spec)?;
        if base.id == head.id {
            return Ok(());
        }
        let conflicts = self.conflicts(&base, head, &cs.edits)?;
        if conflicts.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Conflict(conflicts))
        }
    }

    /// Refuses edits to undeclared services, unknown levels and plaintext secrets.
    fn check_edits(
        &self,
        config: &ProjectConfig,
        secrets: &Secrets,
        edits: &[ParamEdit],
    ) -> Result<(), StoreError> {
        for e in edits {
            let service = &e.param.service;
            if !config.services.contains_key(service) {
                let known: Vec<&str> = config.services.keys().map(String::as_str).collect();
                return Err(StoreError::Invalid(format!(
                    "unknown service `{service}` in `{}`; declared: {}",
                    e.param,
                    known.join(", ")
                )));
            }
            if !config
                .hierarchy
                .iter()
                .any(|l| level_matches(&l.template, &e.layer))
            {
                let levels: Vec<&str> = config
                    .hierarchy
                    .iter()
                    .map(|l| l.template.as_str())
                    .collect();
                return Err(StoreError::Invalid(format!(
                    "layer `{}` matches no hierarchy level; levels: {}",
                    e.layer,
                    levels.join(", ")
                )));
            }
            if let Some(v) = &e.value {
                let mut plain = Vec::new();
                json_leaves(v, &mut e.param.segments.clone(), &mut plain);
                for (path, leaf) in plain {
                    let encrypted = matches!(leaf, serde_json::Value::String(s) if crypto::is_ciphertext(s) || s.starts_with("ENC["));
                    if !encrypted
                        && !leaf.is_null()
                        && secrets.is_secret(service, logical_path(&path))
                    {
                        return Err(StoreError::Invalid(format!(
                            "{service}:{} is a secret (x-strata-secret) and the store keeps secrets only encrypted: use `strata secret set {service}:{} --layer {}`",
                            segments_to_string(&path),
                            segments_to_string(logical_path(&path)),
                            e.layer
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// The edits of `edits` that collide with parameters changed in `(base, head]`.
    fn conflicts(
        &self,
        base: &Revision,
        head: &Revision,
        edits: &[ParamEdit],
    ) -> Result<Vec<Conflict>, StoreError> {
        let changed = self.store.param_changes_between(base.seq, head.seq)?;
        let head_source = self.source(head)?;
        let head_project = Project::load(Arc::new(head_source.with_overlay(BTreeMap::new())))
            .map_err(|e| StoreError::Project(e.to_string()))?;
        let edited = |svc: &str| edits.iter().any(|e| e.param.service == svc);
        let secrets = Secrets::load_for(&head_project.config, &head_source, edited)?;
        let mut out: Vec<Conflict> = Vec::new();
        for e in edits {
            let mine = segments_to_string(&e.param.segments);
            let stem = e.file_stem();
            for (seq, c) in &changed {
                let Some((_, path)) = c.param.split_once(':') else {
                    continue;
                };
                let same_file = c.file.rsplit_once('.').map(|(s, _)| s) == Some(stem.as_str());
                if !same_file
                    || !c.param.starts_with(&format!("{}:", e.param.service))
                    || !paths_overlap(&mine, path)
                {
                    continue;
                }
                if out
                    .iter()
                    .any(|x| x.param == e.param.to_string() && x.file == c.file)
                {
                    continue;
                }
                let theirs = match head_source.read_file(&c.file)? {
                    Some(b) => parse_file(&c.file, &b)?
                        .get(&e.param.segments)
                        .map(|n| n.value.to_json()),
                    None => None,
                };
                let secret = secrets.is_secret(&e.param.service, logical_path(&e.param.segments));
                let changed_in = self
                    .store
                    .revision_by_seq(*seq)?
                    .map(|r| r.id)
                    .unwrap_or(head.id);
                out.push(Conflict {
                    param: e.param.to_string(),
                    file: c.file.clone(),
                    ours: shown(e.value.as_ref(), secret, "(unset)"),
                    theirs: shown(theirs.as_ref(), secret, "(absent)"),
                    changed_in,
                });
            }
        }
        Ok(out)
    }

    /// Makes a new head whose files equal `target`'s.
    pub fn revert_to(&self, target: &Revision, meta: CommitMeta) -> Result<Revision, StoreError> {
        self.revert_to_with(target, meta, &CommitExtras::default())
    }

    /// [`Repository::revert_to`] that also writes `extras` in the revision's transaction.
    pub fn revert_to_with(
        &self,
        target: &Revision,
        meta: CommitMeta,
        extras: &CommitExtras,
    ) -> Result<Revision, StoreError> {
        let want = self.manifest(target)?;
        loop {
            let head = self.head()?;
            // A damaged head manifest is replaced whole: recovering from it is the point.
            let old = match self.manifest(&head) {
                Ok(m) => m,
                Err(StoreError::Corrupt { .. }) => Manifest::default(),
                Err(e) => return Err(e),
            };
            let mut changes = BTreeMap::new();
            for (p, h) in &want.files {
                if old.files.get(p) != Some(h) {
                    changes.insert(p.clone(), Some(read_blob(&*self.store, &self.cache, h)?));
                }
            }
            for p in old.files.keys() {
                if !want.files.contains_key(p) {
                    changes.insert(p.clone(), None);
                }
            }
            let mut commit = self.build_commit(Some(&head), &old, &changes, meta.clone())?;
            extras.attach(&mut commit);
            if let CommitOutcome::Committed = self.store.commit(&commit)? {
                return Ok(commit.revision);
            }
        }
    }

    /// Names `rev` with tag `name`.
    pub fn tag(&self, rev: &Revision, name: &str, force: bool) -> Result<(), StoreError> {
        let reserved = name == "HEAD" || name.starts_with("HEAD~");
        let looks_like_id = name.len() >= 4 && name.chars().all(|c| c.is_ascii_hexdigit());
        let allowed = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
        if name.is_empty() || reserved || looks_like_id || !allowed {
            return Err(StoreError::Invalid(format!(
                "invalid tag name `{name}`: use letters, digits, `-`, `_`, `.`, `/` (not HEAD and not all hex digits)"
            )));
        }
        self.store.set_tag(name, &rev.id, force)
    }

    /// Encrypts `plaintext` to the project's recipients and stores it at `param` in
    /// `layer`, as one changeset on the head.
    pub fn secret_set(
        &self,
        param: &strata_core::path::ParamPath,
        layer: &str,
        plaintext: &str,
        meta: CommitMeta,
    ) -> Result<ApplyOutcome, StoreError> {
        self.secret_set_with(param, layer, plaintext, meta, &CommitExtras::default())
    }

    /// [`Repository::secret_set`] that also writes `extras` in the revision's transaction
    /// (show the change with [`crate::audit::secret_digest`] under
    /// [`Store::audit_key`], never the value).
    pub fn secret_set_with(
        &self,
        param: &strata_core::path::ParamPath,
        layer: &str,
        plaintext: &str,
        meta: CommitMeta,
        extras: &CommitExtras,
    ) -> Result<ApplyOutcome, StoreError> {
        let head = self.head()?;
        let project = self.project(&head)?;
        let recipients = Recipients::parse(&project.config.encryption.recipients)?;
        if recipients.is_empty() {
            return Err(StoreError::Invalid(
                "strata.yaml lists no `encryption.recipients`: add at least one age recipient (`age1…`) and import it first".into(),
            ));
        }
        let ciphertext = crypto::encrypt(plaintext, &param.to_string(), &recipients)?;
        let cs = Changeset {
            base: None,
            message: None,
            edits: vec![ParamEdit {
                param: param.clone(),
                layer: layer.to_string(),
                value: Some(serde_json::Value::String(ciphertext)),
            }],
        };
        self.apply_with(&cs, meta, extras)
    }

    /// Re-encrypts every secret value of the head to `recipients` (decrypting with
    /// `identities`) and records the new recipients in `strata.yaml`, in one revision.
    /// Returns the revision and how many values were re-encrypted.
    pub fn rotate_keys(
        &self,
        identities: &Identities,
        recipients: &[String],
        meta: CommitMeta,
    ) -> Result<(Revision, usize), StoreError> {
        self.rotate_keys_with(identities, recipients, meta, &CommitExtras::default())
    }

    /// [`Repository::rotate_keys`] that also writes `extras` in the revision's transaction.
    pub fn rotate_keys_with(
        &self,
        identities: &Identities,
        recipients: &[String],
        meta: CommitMeta,
        extras: &CommitExtras,
    ) -> Result<(Revision, usize), StoreError> {
        let new_recipients = Recipients::parse(recipients)?;
        if new_recipients.is_empty() {
            return Err(StoreError::Invalid(
                "name at least one new recipient with --recipient age1…".into(),
            ));
        }
        loop {
            let head = self.head()?;
            let source = self.source(&head)?;
            let mut changes: BTreeMap<String, Option<Arc<[u8]>>> = BTreeMap::new();
            let mut count = 0;
            for path in source.manifest()?.files.keys() {
                let Some((_, service)) = layer_file(path) else {
                    continue;
                };
                let Some(bytes) = source.read_file(path)? else {
                    continue;
                };
                let doc = parse_file(path, &bytes)?;
                let mut found: Vec<(Vec<Segment>, String)> = Vec::new();
                doc.for_each_leaf(&mut Vec::new(), &mut |p, n| {
                    if let Value::Str(s) = &n.value
                        && crypto::is_ciphertext(s)
                    {
                        found.push((p.to_vec(), s.to_string()));
                    }
                });
                if found.is_empty() {
                    continue;
                }
                let mut edits = Vec::new();
                for (p, ct) in found {
                    let param = format!("{service}:{}", segments_to_string(logical_path(&p)));
                    let plain = crypto::decrypt(&ct, &param, identities).map_err(|e| {
                        StoreError::Invalid(format!("{path}: cannot decrypt {param}: {e}"))
                    })?;
                    let fresh = crypto::encrypt(&plain, &param, &new_recipients)?;
                    edits.push(Edit::Set {
                        path: p,
                        value: serde_json::Value::String(fresh),
                    });
                    count += 1;
                }
                let text = std::str::from_utf8(&bytes)
                    .map_err(|_| StoreError::Project(format!("{path} is not UTF-8")))?;
                let format = Format::from_path(path).unwrap_or(Format::Yaml);
                let new = edit::apply_edits(text, format, &edits)
                    .map_err(|e| StoreError::Project(format!("{path}: {e}")))?;
                changes.insert(
                    path.clone(),
                    Some(Arc::from(new.into_bytes().into_boxed_slice())),
                );
            }
            let strata = source
                .read_file("strata.yaml")?
                .ok_or_else(|| StoreError::Project("the revision has no strata.yaml".into()))?;
            let text = std::str::from_utf8(&strata)
                .map_err(|_| StoreError::Project("strata.yaml is not UTF-8".into()))?;
            let new = edit::apply_edits(
                text,
                Format::Yaml,
                &[Edit::Set {
                    path: vec![
                        Segment::Key("encryption".into()),
                        Segment::Key("recipients".into()),
                    ],
                    value: serde_json::json!(recipients),
                }],
            )
            .map_err(|e| StoreError::Project(format!("strata.yaml: {e}")))?;
            changes.insert(
                "strata.yaml".into(),
                Some(Arc::from(new.into_bytes().into_boxed_slice())),
            );
            let mut commit =
                self.build_commit(Some(&head), source.tree(), &changes, meta.clone())?;
            extras.attach(&mut commit);
            if let CommitOutcome::Committed = self.store.commit(&commit)? {
                return Ok((commit.revision, count));
            }
        }
    }

    /// Revisions `(from, to]` of the head chain that share nothing; helper for callers
    /// listing history.
    pub fn revisions(&self, from: u64, to: u64) -> Result<Vec<Revision>, StoreError> {
        self.store.revisions(from, to)
    }

    /// Tags pointing at `id`.
    pub fn tags_of(&self, id: &RevisionId) -> Result<Vec<String>, StoreError> {
        Ok(self
            .store
            .tags()?
            .into_iter()
            .filter(|(_, t)| t == id)
            .map(|(n, _)| n)
            .collect())
    }
}

/// The new bytes of every layer file the edits touch, and the file each edit landed in.
pub(crate) fn plan_edits(
    source: &StoreSource,
    edits: &[ParamEdit],
) -> Result<(FileChanges, Vec<String>), StoreError> {
    let mut grouped: BTreeMap<String, Vec<Edit>> = BTreeMap::new();
    let mut landed = Vec::new();
    for e in edits {
        let stem = e.file_stem();
        let existing = Format::EXTENSIONS
            .iter()
            .map(|ext| format!("{stem}.{ext}"))
            .find(|p| matches!(source.lookup(p), Ok(Some(_))));
        let path = existing.unwrap_or_else(|| format!("{stem}.yaml"));
        let edit = match &e.value {
            Some(v) => Edit::Set {
                path: e.param.segments.clone(),
                value: v.clone(),
            },
            None => Edit::Unset {
                path: e.param.segments.clone(),
            },
        };
        grouped.entry(path.clone()).or_default().push(edit);
        landed.push(path);
    }
    let paths: Vec<&str> = grouped.keys().map(String::as_str).collect();
    source.prefetch(&paths)?;
    let mut out = BTreeMap::new();
    for (path, edits) in grouped {
        let old = source.read_file(&path)?;
        if old.is_none() && edits.iter().all(|e| matches!(e, Edit::Unset { .. })) {
            continue;
        }
        let text = match &old {
            Some(b) => std::str::from_utf8(b)
                .map_err(|_| StoreError::Project(format!("{path} is not UTF-8")))?
                .to_string(),
            None => String::new(),
        };
        let format = Format::from_path(&path).unwrap_or(Format::Yaml);
        let new = edit::apply_edits(&text, format, &edits)
            .map_err(|e| StoreError::Invalid(format!("{path}: {e}")))?;
        out.insert(path, Some(Arc::from(new.into_bytes().into_boxed_slice())));
    }
    Ok((out, landed))
}

/// Whether layer directory `layer` is an instance of hierarchy level `template`
/// (`env/{env}` matches `env/prod`).
pub(crate) fn level_matches(template: &str, layer: &str) -> bool {
    let t: Vec<&str> = template.split('/').collect();
    let l: Vec<&str> = layer.split('/').collect();
    t.len() == l.len()
        && t.iter().zip(&l).all(|(t, l)| {
            if t.contains('{') {
                // A placeholder part: the literal text around placeholders must match.
                let lit: Vec<&str> = t
                    .split(['{', '}'])
                    .enumerate()
                    .filter(|(i, _)| i % 2 == 0)
                    .map(|(_, s)| s)
                    .collect();
                l.starts_with(lit[0])
                    && l.ends_with(lit[lit.len() - 1])
                    && l.len() > lit[0].len() + lit[lit.len() - 1].len()
            } else {
                t == l
            }
        })
}

/// The leaves of a JSON value with their full paths.
fn json_leaves<'a>(
    v: &'a serde_json::Value,
    path: &mut Vec<Segment>,
    out: &mut Vec<(Vec<Segment>, &'a serde_json::Value)>,
) {
    match v {
        serde_json::Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                path.push(Segment::Key(k.as_str().into()));
                json_leaves(x, path, out);
                path.pop();
            }
        }
        serde_json::Value::Array(items) if !items.is_empty() => {
            for (i, x) in items.iter().enumerate() {
                path.push(Segment::Index(i));
                json_leaves(x, path, out);
                path.pop();
            }
        }
        _ => out.push((path.clone(), v)),
    }
}

/// Refuses an import whose layer files hold a secret parameter in plaintext, naming the
/// file and line, or whose layer files do not parse.
fn check_plaintext(
    config: &ProjectConfig,
    files: &BTreeMap<String, Arc<[u8]>>,
) -> Result<(), StoreError> {
    let mut patterns: BTreeMap<&str, Vec<Vec<Pat>>> = BTreeMap::new();
    for (name, def) in &config.services {
        if let Some(schema) = &def.schema
            && let Some(bytes) = files.get(schema)
        {
            let pats = secret_patterns(&parse_file(schema, bytes)?);
            if !pats.is_empty() {
                patterns.insert(name, pats);
            }
        }
    }
    for (path, bytes) in files {
        let Some((level, service)) = layer_file(path) else {
            continue;
        };
        // Other layer files are parsed (and refused when broken) by the commit itself.
        let Some(pats) = patterns.get(service) else {
            continue;
        };
        let doc = parse_file(path, bytes)?;
        let mut bad: Option<(Vec<Segment>, u32, u32)> = None;
        doc.for_each_leaf(&mut Vec::new(), &mut |p, n| {
            let plain = !matches!(n.value, Value::Null) && !is_encrypted(&n.value);
            if bad.is_none() && plain && path_is_secret(pats, logical_path(p)) {
                bad = Some((p.to_vec(), n.loc.line, n.loc.col));
            }
        });
        if let Some((p, line, col)) = bad {
            let logical = segments_to_string(logical_path(&p));
            return Err(StoreError::Project(format!(
                "{path}:{line}:{col}: {service}:{logical} is a secret (x-strata-secret) but holds plaintext; the store keeps secrets only as ENC[…] ciphertext\nhint: remove the value from the file, import, then run `strata secret set {service}:{logical} --layer {level}`"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_files_are_recognised() {
        assert_eq!(
            layer_file("layers/env/prod/checkout.yaml"),
            Some(("env/prod", "checkout"))
        );
        assert_eq!(layer_file("layers/base/a.toml"), Some(("base", "a")));
        assert_eq!(layer_file("layers/base/a.txt"), None);
        assert_eq!(layer_file("schemas/a.yaml"), None);
    }

    #[test]
    fn levels_match_their_instances() {
        assert!(level_matches("base", "base"));
        assert!(level_matches("env/{env}", "env/prod"));
        assert!(level_matches(
            "target/{env}/{provider}/{region}",
            "target/prod/aws/us-east-1"
        ));
        assert!(!level_matches("env/{env}", "env"));
        assert!(!level_matches("env/{env}", "provider/aws"));
        assert!(!level_matches("base", "env/prod"));
    }

    #[test]
    fn provider_blocks_are_indexed_by_logical_path() {
        assert_eq!(index_path("$provider.gcp.labels.team"), "labels.team");
        assert_eq!(index_path("labels.team"), "labels.team");
        assert_eq!(index_path("$provider"), "$provider");
    }

    #[test]
    fn provider_blocks_have_logical_paths() {
        let p = vec![
            Segment::Key("$provider".into()),
            Segment::Key("aws".into()),
            Segment::Key("db".into()),
        ];
        assert_eq!(segments_to_string(logical_path(&p)), "db");
    }

    #[test]
    fn shown_values_hide_secrets() {
        let v = serde_json::json!("hunter2");
        assert_eq!(shown(Some(&v), true, "-"), "<redacted>");
        assert_eq!(
            shown(Some(&serde_json::json!("ENC[x]")), false, "-"),
            "<redacted>"
        );
        assert_eq!(shown(Some(&serde_json::json!(5)), false, "-"), "5");
        assert_eq!(shown(None, false, "(absent)"), "(absent)");
    }
}
