//! Resolution: a service's layers for one target → its effective configuration.
//!
//! 1. [`Project::load`] reads `strata.yaml` and the schemas' list-merge annotations.
//! 2. [`Project::session`] fixes a target: it lists each hierarchy level's directory once
//!    and merges the variables of the target's scopes.
//! 3. [`TargetSession::resolve`] merges the service's layer files lowest precedence first
//!    ([`crate::merge`]), then evaluates `${…}` placeholders. A `${ref:…}` loads the other
//!    service's merged tree lazily; cycles are found with an explicit evaluation stack.
//! 4. [`TargetSession::resolve_all`] does the same for every service, merging and
//!    interpolating in parallel, and reuses the merged trees in place instead of copying.

use std::sync::{Arc, OnceLock};

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::cache::ContentHash;
use crate::error::{DiagKind, Diagnostic};
use crate::files::{FileTable, ProjectSource, SourceError};
use crate::interpolate::{Part, Template};
use crate::merge::Merger;
use crate::parse::{Format, ParseOptions, parse_document};
use crate::path::{ParamPath, Segment, segments_to_string};
use crate::project::{
    MergeRule, PROJECT_FILE, ProjectConfig, Target, merge_vars, schema_merge_rules,
};
use crate::providers::Catalogs;
use crate::value::{Loc, Map, Node, Value, map_with_capacity};

/// Why a project could not be loaded.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProjectError {
    /// The source could not be read.
    #[error("cannot read the project: {0}")]
    Source(#[from] SourceError),
    /// There is no `strata.yaml` at the root.
    #[error(
        "{root} is not a Strata project: it has no strata.yaml\n  hint: run `strata init` to create one, or pass --project DIR"
    )]
    NotAProject {
        /// Where we looked.
        root: String,
    },
    /// `strata.yaml` or a schema is invalid.
    #[error("{0}")]
    Invalid(Box<Diagnostic>),
}

/// Why a configuration could not be resolved.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ResolveError {
    /// The target is not declared.
    #[error("unknown target `{name}`\n  hint: declared targets: {}", known.join(", "))]
    UnknownTarget {
        /// What was asked for.
        name: String,
        /// Declared targets.
        known: Vec<String>,
    },
    /// The service is not declared.
    #[error("unknown service `{name}`\n  hint: declared services: {}", known.join(", "))]
    UnknownService {
        /// What was asked for.
        name: String,
        /// Declared services.
        known: Vec<String>,
    },
    /// The environment is not declared.
    #[error("unknown environment `{name}`\n  hint: declared environments: {}", known.join(", "))]
    UnknownEnvironment {
        /// What was asked for.
        name: String,
        /// Declared environments.
        known: Vec<String>,
    },
    /// A selection (of targets, environments, services) matches nothing.
    #[error("{what}\n  hint: widen the selection; `strata targets` lists what exists")]
    NothingSelected {
        /// What was asked for.
        what: String,
    },
    /// A file could not be read.
    #[error("cannot read the project: {0}")]
    Source(#[from] SourceError),
    /// The configuration is invalid at a known place.
    #[error("{0}")]
    Invalid(Box<Diagnostic>),
}

impl From<Diagnostic> for ResolveError {
    fn from(d: Diagnostic) -> Self {
        ResolveError::Invalid(Box::new(d))
    }
}

/// Options of a resolution.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResolveOptions {
    /// Keep overridden scalar values (not only their locations) for `--explain`.
    pub keep_prior_values: bool,
}

/// A loaded project: its source, validated `strata.yaml`, and schema merge annotations.
pub struct Project {
    source: Arc<dyn ProjectSource>,
    /// The validated `strata.yaml`.
    pub config: ProjectConfig,
    files: FileTable,
    /// Per service, the list strategies its schema declares (`x-strata-merge`), read on
    /// first use: a project's schemas can be large and most resolutions need few of them.
    schema_rules: Vec<OnceLock<Result<Vec<MergeRule>, ResolveError>>>,
    /// `strata.yaml` as parsed, to locate errors about what it declares.
    strata_yaml: Node,
    /// Built-in provider catalogs plus the project's `providers/*.yaml`, read on first use.
    catalogs: OnceLock<Result<Catalogs, ResolveError>>,
    content_hash: OnceLock<Result<ContentHash, SourceError>>,
}

impl std::fmt::Debug for Project {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Project")
            .field("source", &self.source.describe())
            .finish_non_exhaustive()
    }
}

/// One hierarchy level's layer file for a service and target (see
/// [`TargetSession::layer_slots`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSlot {
    /// Project-relative path of the file.
    pub path: String,
    /// Whether the file exists (else `path` is where a new one would go).
    pub exists: bool,
}

/// The result of resolving one service for one target.
#[derive(Debug, Clone)]
pub struct Effective {
    /// The service.
    pub service: String,
    /// The target, `ENV/PROVIDER/REGION`.
    pub target: String,
    /// The configuration tree, every node with its provenance.
    pub root: Node,
}

impl Effective {
    /// The node at `path`, if any.
    pub fn get(&self, path: &[Segment]) -> Option<&Node> {
        self.root.get(path)
    }

    /// Every leaf with its path, in document order.
    pub fn leaves(&self) -> Vec<(Vec<Segment>, &Node)> {
        let mut out = Vec::new();
        self.root
            .for_each_leaf(&mut Vec::new(), &mut |p, n| out.push((p.to_vec(), n)));
        out
    }
}

fn read_doc(
    source: &dyn ProjectSource,
    files: &FileTable,
    path: &str,
    templates: bool,
) -> Result<Option<Node>, ResolveError> {
    let Some(bytes) = source.read(path)? else {
        return Ok(None);
    };
    parse_doc(files, path, &bytes, templates).map(Some)
}

/// Parses the bytes of project file `path` (its format from its extension).
fn parse_doc(
    files: &FileTable,
    path: &str,
    bytes: &[u8],
    templates: bool,
) -> Result<Node, ResolveError> {
    let format = Format::from_path(path).unwrap_or(Format::Yaml);
    let id = files.intern(path);
    let path: Arc<str> = Arc::from(path);
    Ok(parse_document(
        &path,
        id,
        bytes,
        format,
        ParseOptions { templates },
    )?)
}

impl Project {
    /// Loads a project: reads and validates `strata.yaml` and the services' schemas.
    pub fn load(source: Arc<dyn ProjectSource>) -> Result<Project, ProjectError> {
        let files = FileTable::new();
        let invalid = |e: ResolveError| match e {
            ResolveError::Source(s) => ProjectError::Source(s),
            ResolveError::Invalid(d) => ProjectError::Invalid(d),
            other => ProjectError::Source(SourceError {
                path: PROJECT_FILE.into(),
                message: other.to_string(),
            }),
        };
        let root = read_doc(&*source, &files, PROJECT_FILE, false)
            .map_err(invalid)?
            .ok_or_else(|| ProjectError::NotAProject {
                root: source.describe(),
            })?;
        let config = ProjectConfig::from_node(&root, Arc::from(PROJECT_FILE))
            .map_err(|d| ProjectError::Invalid(Box::new(d)))?;
        let schema_rules = (0..config.services.len())
            .map(|_| OnceLock::new())
            .collect();
        Ok(Project {
            source,
            config,
            files,
            schema_rules,
            strata_yaml: root,
            catalogs: OnceLock::new(),
            content_hash: OnceLock::new(),
        })
    }

    /// The interned file paths that node locations refer to.
    pub fn files(&self) -> &FileTable {
        &self.files
    }

    /// Reads and parses a project file (`None` when it does not exist). `templates` parses
    /// `${…}` placeholders (layer files) instead of keeping strings literal.
    pub fn read_document(&self, path: &str, templates: bool) -> Result<Option<Node>, ResolveError> {
        read_doc(&*self.source, &self.files, path, templates)
    }

    /// The source the project was loaded from.
    pub fn source(&self) -> &Arc<dyn ProjectSource> {
        &self.source
    }

    /// A `file:line:col` text for a location (`(no layer)` for the empty configuration
    /// of a service that has no layer files).
    pub fn describe_loc(&self, loc: Loc) -> String {
        if loc.line == 0 {
            return "(no layer)".into();
        }
        format!("{}:{}:{}", self.files.path(loc.file), loc.line, loc.col)
    }

    /// A hash of every file in the project (computed once), the cache key of resolutions.
    pub fn content_hash(&self) -> Result<ContentHash, SourceError> {
        self.content_hash
            .get_or_init(|| {
                let mut h = blake3::Hasher::new();
                for path in self.source.list_all()? {
                    let bytes = self
                        .source
                        .read(&path)?
                        .unwrap_or_else(|| Arc::from(Vec::new()));
                    h.update(&(path.len() as u64).to_le_bytes());
                    h.update(path.as_bytes());
                    h.update(&(bytes.len() as u64).to_le_bytes());
                    h.update(&bytes);
                }
                Ok(ContentHash(*h.finalize().as_bytes()))
            })
            .clone()
    }

    /// Starts resolving for the target named `ENV/PROVIDER/REGION`.
    pub fn session(
        &self,
        target: &str,
        opts: ResolveOptions,
    ) -> Result<TargetSession<'_>, ResolveError> {
        let t = self
            .config
            .target(target)
            .ok_or_else(|| ResolveError::UnknownTarget {
                name: target.to_string(),
                known: self.config.targets.iter().map(Target::to_string).collect(),
            })?
            .clone();
        TargetSession::new(self, t, opts)
    }

    /// Resolves one service for one target.
    pub fn resolve(
        &self,
        service: &str,
        target: &str,
        opts: ResolveOptions,
    ) -> Result<Effective, ResolveError> {
        self.session(target, opts)?.resolve(service)
    }

    /// The provider catalogs: built-in ones extended by the project's `providers/*.yaml`.
    pub fn catalogs(&self) -> Result<&Catalogs, ResolveError> {
        self.catalogs
            .get_or_init(|| {
                let mut docs = Vec::new();
                for name in self.source.list_dir("providers")? {
                    if !Format::EXTENSIONS
                        .iter()
                        .any(|e| name.ends_with(&format!(".{e}")))
                    {
                        continue;
                    }
                    let path = format!("providers/{name}");
                    if let Some(node) = read_doc(&*self.source, &self.files, &path, false)? {
                        docs.push((Arc::from(path.as_str()), node));
                    }
                }
                Ok(Catalogs::with_project(&docs)?)
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The list strategies declared in service `idx`'s schema (read once).
    fn merge_rules(&self, idx: usize) -> Result<&[MergeRule], ResolveError> {
        let cell = self
            .schema_rules
            .get(idx)
            .ok_or_else(|| ResolveError::UnknownService {
                name: format!("#{idx}"),
                known: Vec::new(),
            })?;
        cell.get_or_init(|| {
            let Some((name, def)) = self.config.services.get_index(idx) else {
                return Ok(Vec::new());
            };
            let Some(schema_path) = &def.schema else {
                return Ok(Vec::new());
            };
            let Some(bytes) = self.source.read(schema_path)? else {
                let loc = schema_loc(&self.strata_yaml, name);
                return Err(Diagnostic::new(
                    DiagKind::Project,
                    Arc::from(PROJECT_FILE),
                    loc.line,
                    loc.col,
                    format!("service `{name}` names schema `{schema_path}`, which does not exist"),
                )
                .with_hint("create the file or fix the path (it is relative to the project root)")
                .into());
            };
            // Most schemas declare no list strategy: skip parsing them for resolution.
            if memchr::memmem::find(&bytes, b"x-strata-merge").is_none() {
                return Ok(Vec::new());
            }
            let id = self.files.intern(schema_path);
            let path: Arc<str> = Arc::from(schema_path.as_str());
            let format = Format::from_path(schema_path).unwrap_or(Format::Yaml);
            let node =
                parse_document(&path, id, &bytes, format, ParseOptions { templates: false })?;
            Ok(schema_merge_rules(name, &node, &path)?)
        })
        .as_ref()
        .map(Vec::as_slice)
        .map_err(Clone::clone)
    }

    pub(crate) fn service_index(&self, name: &str) -> Result<usize, ResolveError> {
        self.config
            .services
            .get_index_of(name)
            .ok_or_else(|| ResolveError::UnknownService {
                name: name.to_string(),
                known: self.config.services.keys().cloned().collect(),
            })
    }
}

fn schema_loc(root: &Node, service: &str) -> Loc {
    let path = [
        Segment::Key("services".into()),
        Segment::Key(service.into()),
        Segment::Key("schema".into()),
    ];
    root.get(&path).map_or(root.loc, |n| n.loc)
}

/// The layer files of one hierarchy level for the session's target.
struct LevelFiles {
    dir: String,
    /// Service name → file name inside `dir`.
    files: FxHashMap<String, String>,
    /// Services with more than one file at this level (an error when resolved).
    duplicates: FxHashMap<String, Vec<String>>,
}

/// Resolution for one target: layer directories listed once, variables merged once,
/// merged service trees computed at most once each.
pub struct TargetSession<'p> {
    project: &'p Project,
    target: Target,
    target_name: String,
    levels: Vec<LevelFiles>,
    vars: Map,
    merged: Vec<OnceLock<Result<Arc<Node>, ResolveError>>>,
    opts: ResolveOptions,
    unknown_files: Vec<String>,
    /// Values of referenced parameters computed earlier (see [`TargetSession::ref_table`]).
    refs: Option<Arc<RefTable>>,
    /// Values of referenced parameters published by a [`crate::sweep::Sweep`] as each
    /// service is resolved, by service index (empty outside a sweep).
    published: Vec<OnceLock<Published>>,
}

/// One service's referenced parameters and their evaluated values.
pub(crate) type Published = FxHashMap<Vec<Segment>, Value>;

/// The evaluated values of every parameter some `${ref:…}` points at, for one target:
/// with it, resolving a service never merges the services it references.
pub type RefTable = FxHashMap<(usize, Vec<Segment>), Value>;

impl<'p> TargetSession<'p> {
    fn new(
        project: &'p Project,
        target: Target,
        opts: ResolveOptions,
    ) -> Result<Self, ResolveError> {
        let cfg = &project.config;
        let mut levels = Vec::with_capacity(cfg.hierarchy.len());
        let mut unknown_files = Vec::new();
        for level in &cfg.hierarchy {
            let dir = format!("layers/{}", level.dir_for(&target));
            let mut files: FxHashMap<String, String> = FxHashMap::default();
            let mut duplicates: FxHashMap<String, Vec<String>> = FxHashMap::default();
            for name in project.source.list_dir(&dir)? {
                let Some((stem, ext)) = name.rsplit_once('.') else {
                    continue;
                };
                if !Format::EXTENSIONS.contains(&ext) {
                    continue;
                }
                if !cfg.services.contains_key(stem) {
                    unknown_files.push(format!("{dir}/{name}"));
                    continue;
                }
                if let Some(prev) = files.get(stem) {
                    duplicates
                        .entry(stem.to_string())
                        .or_insert_with(|| vec![prev.clone()])
                        .push(name.clone());
                } else {
                    files.insert(stem.to_string(), name);
                }
            }
            levels.push(LevelFiles {
                dir,
                files,
                duplicates,
            });
        }
        unknown_files.sort();
        // The provider catalog's defaults sit under every scope of strata.yaml's vars.
        let mut vars = project
            .catalogs()
            .ok()
            .and_then(|c| c.get(&target.provider))
            .map(|c| c.vars.clone())
            .unwrap_or_default();
        merge_vars(&mut vars, &cfg.vars_for(&target));
        let merged = (0..cfg.services.len()).map(|_| OnceLock::new()).collect();
        Ok(TargetSession {
            project,
            target_name: target.to_string(),
            target,
            levels,
            vars,
            merged,
            opts,
            unknown_files,
            refs: None,
            published: Vec::new(),
        })
    }

    /// Computes the values of every referenced parameter (merging every service once), so
    /// that later sessions for this target resolve any subset of services without merging
    /// the services they reference ([`TargetSession::with_ref_table`]). References that do
    /// not resolve are left out: resolving the service that holds them reports the error.
    pub fn ref_table(self) -> RefTable {
        let n = self.merged.len();
        let services = &self.project.config.services;
        let mut wanted: Vec<(usize, Vec<Segment>)> = (0..n)
            .into_par_iter()
            .flat_map_iter(|i| {
                let Ok(tree) = self.merged(i) else {
                    return Vec::new();
                };
                let mut paths = Vec::new();
                collect_templates(&tree, &[], &mut paths);
                paths
                    .iter()
                    .filter_map(|p| match tree.get(p).map(|n| &n.value) {
                        Some(Value::Template(t)) => Some(t.refs().cloned().collect::<Vec<_>>()),
                        _ => None,
                    })
                    .flatten()
                    .filter_map(|r| {
                        services
                            .get_index_of(r.service.as_str())
                            .map(|idx| (idx, r.segments))
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        wanted.sort();
        wanted.dedup();
        let table = wanted
            .into_par_iter()
            .filter_map(|(idx, path)| {
                let mut interp = Interp::new(&self);
                let value = interp.value_at(idx, &path).ok()??;
                Some(((idx, path), value))
            })
            .collect();
        // The merged trees are no longer needed; free them on every core.
        self.merged.into_par_iter().for_each(drop);
        table
    }

    /// Uses values computed by [`TargetSession::ref_table`] for this target.
    pub fn with_ref_table(mut self, table: Arc<RefTable>) -> Self {
        self.refs = Some(table);
        self
    }

    /// The target being resolved.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Layer files whose name matches no declared service (probably a typo), sorted.
    pub fn unknown_files(&self) -> &[String] {
        &self.unknown_files
    }

    /// The layer files that apply to `service` for this target, lowest precedence first.
    pub fn layer_files(&self, service: &str) -> Vec<String> {
        self.levels
            .iter()
            .filter_map(|l| l.files.get(service).map(|f| format!("{}/{f}", l.dir)))
            .collect()
    }

    /// Every hierarchy level's file for `service` and this target, lowest precedence
    /// first: the existing file, or the path a new YAML file would take
    /// (`layers/env/prod/checkout.yaml`).
    pub fn layer_slots(&self, service: &str) -> Vec<LayerSlot> {
        self.levels
            .iter()
            .map(|l| match l.files.get(service) {
                Some(f) => LayerSlot {
                    path: format!("{}/{f}", l.dir),
                    exists: true,
                },
                None => LayerSlot {
                    path: format!("{}/{service}.yaml", l.dir),
                    exists: false,
                },
            })
            .collect()
    }

    fn merged(&self, idx: usize) -> Result<Arc<Node>, ResolveError> {
        self.merged[idx]
            .get_or_init(|| self.merge_service(idx).map(Arc::new))
            .clone()
    }

    fn merge_service(&self, idx: usize) -> Result<Node, ResolveError> {
        let mut merger = self.merger(idx)?;
        let merged = self.merge_levels(idx, &mut merger, None, 0..self.levels.len())?;
        Ok(merged.unwrap_or_else(|| {
            Node::new(Value::Map(Box::new(map_with_capacity(0))), Loc::default())
        }))
    }

    /// The merger of service `idx` for this target's provider.
    pub(crate) fn merger(&self, idx: usize) -> Result<Merger<'_>, ResolveError> {
        let project = self.project;
        let cfg = &project.config;
        let Some((name, _)) = cfg.services.get_index(idx) else {
            return Err(ResolveError::UnknownService {
                name: format!("#{idx}"),
                known: Vec::new(),
            });
        };
        let schema_rules = project.merge_rules(idx)?;
        Ok(Merger::new(
            name,
            &self.target.provider,
            &cfg.providers,
            &cfg.merge,
            schema_rules,
            &project.files,
            self.opts.keep_prior_values,
        ))
    }

    /// The name of service `idx` (`""` for an index out of range).
    pub(crate) fn service_name(&self, idx: usize) -> &str {
        self.project
            .config
            .services
            .get_index(idx)
            .map_or("", |(k, _)| k.as_str())
    }

    /// Number of hierarchy levels.
    pub(crate) fn level_count(&self) -> usize {
        self.levels.len()
    }

    /// The layer file of service `name` at hierarchy level `level`, if there is one.
    pub(crate) fn level_file(&self, level: usize, name: &str) -> Option<String> {
        let l = self.levels.get(level)?;
        l.files.get(name).map(|f| format!("{}/{f}", l.dir))
    }

    /// Merges the layers of service `idx` at hierarchy `levels` onto `acc` (the result of
    /// the levels below; `None` when there is none yet).
    pub(crate) fn merge_levels(
        &self,
        idx: usize,
        merger: &mut Merger<'_>,
        mut acc: Option<Node>,
        levels: std::ops::Range<usize>,
    ) -> Result<Option<Node>, ResolveError> {
        let project = self.project;
        let name = project
            .config
            .services
            .get_index(idx)
            .map_or("", |(k, _)| k.as_str());
        for level in &self.levels[levels] {
            if let Some(dups) = level.duplicates.get(name) {
                let listed: Vec<String> =
                    dups.iter().map(|f| format!("{}/{f}", level.dir)).collect();
                return Err(Diagnostic::new(
                    DiagKind::DuplicateLayer,
                    Arc::from(listed[0].as_str()),
                    1,
                    1,
                    format!("service `{name}` has {} files for one layer: {}", listed.len(), listed.join(", ")),
                )
                .with_hint("keep one file per service and layer (YAML, JSON or TOML) and merge the others into it")
                .into());
            }
            let Some(file) = level.files.get(name) else {
                continue;
            };
            let path = format!("{}/{file}", level.dir);
            let Some(mut doc) = read_doc(&*project.source, &project.files, &path, true)? else {
                continue;
            };
            match acc.as_mut() {
                None => {
                    merger.normalize_layer(&mut doc)?;
                    acc = Some(doc);
                }
                Some(a) => merger.merge_layer(a, doc)?,
            }
        }
        Ok(acc)
    }

    /// Service `idx`'s merged tree if something (a reference) has merged it already.
    pub(crate) fn merged_if_cached(&self, idx: usize) -> Option<Arc<Node>> {
        self.merged.get(idx)?.get()?.as_ref().ok().cloned()
    }

    /// Turns on publishing: [`TargetSession::publish`] then answers references.
    pub(crate) fn with_publishing(mut self) -> Self {
        self.published = (0..self.merged.len()).map(|_| OnceLock::new()).collect();
        self
    }

    /// Records the evaluated values of service `idx`'s referenced parameters, so that
    /// references to them no longer merge the service.
    pub(crate) fn publish(&self, idx: usize, values: Published) {
        if let Some(cell) = self.published.get(idx) {
            let _ = cell.set(values);
        }
    }

    /// Evaluates the placeholders of service `idx`'s merged `tree` and substitutes them.
    pub(crate) fn evaluate(&self, idx: usize, tree: Node) -> Result<Effective, ResolveError> {
        let tree = Arc::new(tree);
        let values = {
            let mut interp = Interp::new(self);
            interp.current = Some((idx, tree.clone()));
            interp.evaluate_service(idx, &tree)?
        };
        let mut root = Arc::try_unwrap(tree).unwrap_or_else(|shared| (*shared).clone());
        apply(&mut root, values);
        Ok(Effective {
            service: self
                .project
                .config
                .services
                .get_index(idx)
                .map_or_else(String::new, |(k, _)| k.clone()),
            target: self.target_name.clone(),
            root,
        })
    }

    /// Resolves one service.
    pub fn resolve(&self, service: &str) -> Result<Effective, ResolveError> {
        let idx = self.project.service_index(service)?;
        let tree = self.merged(idx)?;
        let mut interp = Interp::new(self);
        let values = interp.evaluate_service(idx, &tree)?;
        let mut root = (*tree).clone();
        apply(&mut root, values);
        Ok(Effective {
            service: service.to_string(),
            target: self.target_name.clone(),
            root,
        })
    }

    /// Resolves every service, in parallel; results in declaration order. On failure,
    /// returns every service's error, not just the first.
    pub fn resolve_all(self) -> Result<Vec<Effective>, Vec<ResolveError>> {
        let n = self.merged.len();
        // Phase 1: merge every service.
        let errors: Vec<ResolveError> = (0..n)
            .into_par_iter()
            .filter_map(|i| self.merged(i).err())
            .collect();
        if !errors.is_empty() {
            return Err(errors);
        }
        // Phase 2: evaluate placeholders against the merged trees (read-only).
        let evaluated: Vec<Result<Substitutions, ResolveError>> = (0..n)
            .into_par_iter()
            .map(|i| {
                let tree = self.merged(i)?;
                Interp::new(&self).evaluate_service(i, &tree)
            })
            .collect();
        let mut errors = Vec::new();
        let mut values = Vec::with_capacity(n);
        for r in evaluated {
            match r {
                Ok(v) => values.push(v),
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        // Phase 3: substitute in place; the trees are no longer shared.
        let target = self.target_name.clone();
        let names: Vec<String> = self.project.config.services.keys().cloned().collect();
        let trees: Vec<Arc<Node>> = self
            .merged
            .into_iter()
            .filter_map(|cell| cell.into_inner().and_then(Result::ok))
            .collect();
        Ok(trees
            .into_par_iter()
            .zip(values.into_par_iter())
            .zip(names.into_par_iter())
            .map(|((tree, vals), service)| {
                let mut root = Arc::try_unwrap(tree).unwrap_or_else(|shared| (*shared).clone());
                apply(&mut root, vals);
                Effective {
                    service,
                    target: target.clone(),
                    root,
                }
            })
            .collect())
    }

    /// Resolves some services, in parallel, each with its own result, without copying their
    /// trees (the session is used up). Unknown names are `UnknownService` errors.
    pub fn resolve_each(self, services: &[&str]) -> Vec<Result<Effective, ResolveError>> {
        let indices: Vec<Result<usize, ResolveError>> = services
            .iter()
            .map(|s| self.project.service_index(s))
            .collect();
        let evaluated: Vec<Result<(usize, Substitutions), ResolveError>> = indices
            .into_par_iter()
            .map(|idx| {
                let idx = idx?;
                let tree = self.merged(idx)?;
                Ok((idx, Interp::new(&self).evaluate_service(idx, &tree)?))
            })
            .collect();
        let target = self.target_name.clone();
        let mut cells: Vec<Option<Arc<Node>>> = self
            .merged
            .into_iter()
            .map(|cell| cell.into_inner().and_then(Result::ok))
            .collect();
        evaluated
            .into_iter()
            .zip(services)
            .map(|(r, service)| {
                let (idx, vals) = r?;
                let tree = cells.get_mut(idx).and_then(Option::take).ok_or_else(|| {
                    ResolveError::UnknownService {
                        name: service.to_string(),
                        known: Vec::new(),
                    }
                })?;
                let mut root = Arc::try_unwrap(tree).unwrap_or_else(|shared| (*shared).clone());
                apply(&mut root, vals);
                Ok(Effective {
                    service: service.to_string(),
                    target: target.clone(),
                    root,
                })
            })
            .collect()
    }
}

/// Evaluated placeholders of one service: where each template leaf is and its value.
type Substitutions = Vec<(Vec<Segment>, Value)>;

fn apply(root: &mut Node, values: Substitutions) {
    for (path, value) in values {
        if let Some(node) = root.get_mut(&path) {
            node.value = value;
        }
    }
}

/// Dotted names of the variables in `vars` (maps are walked; lists and scalars are names).
fn var_names(vars: &Map, prefix: &str, out: &mut Vec<String>) {
    for (k, v) in vars.iter() {
        let name = if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        };
        match &v.value {
            Value::Map(m) if !m.is_empty() => var_names(m, &name, out),
            _ => out.push(name),
        }
    }
}

/// A step of a path borrowed from the tree, so walking it allocates nothing.
#[derive(Clone, Copy)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// The paths of every template leaf under `node`.
fn collect_templates(node: &Node, prefix: &[Segment], out: &mut Vec<Vec<Segment>>) {
    fn walk<'a>(
        node: &'a Node,
        steps: &mut Vec<Step<'a>>,
        prefix: &[Segment],
        out: &mut Vec<Vec<Segment>>,
    ) {
        match &node.value {
            Value::Template(_) => {
                let mut path = prefix.to_vec();
                path.extend(steps.iter().map(|s| match s {
                    Step::Key(k) => Segment::Key((*k).into()),
                    Step::Index(i) => Segment::Index(*i),
                }));
                out.push(path);
            }
            Value::Map(m) => {
                for (k, v) in m.iter() {
                    if matches!(v.value, Value::Template(_) | Value::Map(_) | Value::List(_)) {
                        steps.push(Step::Key(k));
                        walk(v, steps, prefix, out);
                        steps.pop();
                    }
                }
            }
            Value::List(items) => {
                for (i, v) in items.iter().enumerate() {
                    if matches!(v.value, Value::Template(_) | Value::Map(_) | Value::List(_)) {
                        steps.push(Step::Index(i));
                        walk(v, steps, prefix, out);
                        steps.pop();
                    }
                }
            }
            _ => {}
        }
    }
    walk(node, &mut Vec::new(), prefix, out);
}

/// Evaluates placeholders with an explicit stack (for cycles) and a memo (so a value
/// referenced many times is computed once).
struct Interp<'s, 'p> {
    session: &'s TargetSession<'p>,
    stack: Vec<(usize, Vec<Segment>, Loc)>,
    memo: FxHashMap<(usize, Vec<Segment>), Value>,
    /// The service being evaluated and its merged tree, when it is not in the session's
    /// cache (a sweep): references within the service read it instead of merging again.
    current: Option<(usize, Arc<Node>)>,
}

impl<'s, 'p> Interp<'s, 'p> {
    fn new(session: &'s TargetSession<'p>) -> Self {
        Interp {
            session,
            stack: Vec::new(),
            memo: FxHashMap::default(),
            current: None,
        }
    }

    fn diag(&self, kind: DiagKind, loc: Loc, message: String, hint: String) -> ResolveError {
        Diagnostic::new(
            kind,
            self.session.project.files.path(loc.file),
            loc.line,
            loc.col,
            message,
        )
        .with_hint(hint)
        .into()
    }

    fn service_name(&self, idx: usize) -> &str {
        self.session
            .project
            .config
            .services
            .get_index(idx)
            .map_or("?", |(k, _)| k.as_str())
    }

    fn evaluate_service(&mut self, idx: usize, tree: &Node) -> Result<Substitutions, ResolveError> {
        let mut paths = Vec::new();
        collect_templates(tree, &[], &mut paths);
        paths
            .into_iter()
            .map(|p| {
                let v = self.eval_at(idx, &p, tree)?;
                Ok((p, v))
            })
            .collect()
    }

    /// Evaluates the template leaf at `path` of service `idx` (whose merged tree is `tree`).
    fn eval_at(
        &mut self,
        idx: usize,
        path: &[Segment],
        tree: &Node,
    ) -> Result<Value, ResolveError> {
        let key = (idx, path.to_vec());
        if let Some(v) = self.memo.get(&key) {
            return Ok(v.clone());
        }
        let Some(node) = tree.get(path) else {
            return Ok(Value::Null);
        };
        let Value::Template(t) = &node.value else {
            return Ok(node.value.clone());
        };
        if let Some(start) = self
            .stack
            .iter()
            .position(|(i, p, _)| *i == idx && p == path)
        {
            let mut chain: Vec<String> = self.stack[start..]
                .iter()
                .map(|(i, p, _)| format!("{}:{}", self.service_name(*i), segments_to_string(p)))
                .collect();
            chain.push(format!(
                "{}:{}",
                self.service_name(idx),
                segments_to_string(path)
            ));
            let loc = self.stack[start].2;
            return Err(self.diag(
                DiagKind::RefCycle,
                loc,
                format!("reference cycle: {}", chain.join(" -> ")),
                "break the cycle: one of these parameters must hold a value instead of a ${ref:…}"
                    .into(),
            ));
        }
        self.stack.push((idx, path.to_vec(), node.loc));
        let result = self.eval_template(idx, t, node.loc);
        self.stack.pop();
        let v = result?;
        self.memo.insert(key, v.clone());
        Ok(v)
    }

    fn eval_template(&mut self, idx: usize, t: &Template, loc: Loc) -> Result<Value, ResolveError> {
        if let Some(part) = t.single() {
            return self.eval_part(idx, part, loc, t);
        }
        let mut out = String::new();
        for part in &t.parts {
            match self.eval_part(idx, part, loc, t)? {
                Value::Str(s) => out.push_str(&s),
                Value::Int(i) => out.push_str(&i.to_string()),
                Value::Float(f) => out.push_str(&f.to_string()),
                Value::Bool(b) => out.push_str(if b { "true" } else { "false" }),
                other => {
                    return Err(self.diag(
                        DiagKind::NotAScalar,
                        loc,
                        format!("`{}` puts {} inside a string", t.source, other.a_type_name()),
                        "only strings, numbers and booleans can be embedded; make the placeholder the whole value to copy a list or map".into(),
                    ));
                }
            }
        }
        Ok(Value::Str(out.into()))
    }

    fn eval_part(
        &mut self,
        idx: usize,
        part: &Part,
        loc: Loc,
        t: &Template,
    ) -> Result<Value, ResolveError> {
        let target = &self.session.target;
        Ok(match part {
            Part::Lit(s) => Value::Str(s.clone()),
            Part::Env => Value::Str(target.env.as_str().into()),
            Part::Provider => Value::Str(target.provider.as_str().into()),
            Part::Region => Value::Str(target.region.as_str().into()),
            Part::Service => Value::Str(self.service_name(idx).into()),
            Part::Var(segs) => {
                let found = match segs.split_first() {
                    Some((Segment::Key(k), rest)) => {
                        self.session.vars.get(&**k).and_then(|n| n.get(rest))
                    }
                    _ => None,
                };
                match found {
                    Some(n) => n.value.clone(),
                    None => {
                        let mut known: Vec<String> = Vec::new();
                        var_names(&self.session.vars, "", &mut known);
                        return Err(self.diag(
                            DiagKind::UndefinedVariable,
                            loc,
                            format!(
                                "undefined variable `vars.{}` in `{}` for target {}",
                                segments_to_string(segs),
                                t.source,
                                self.session.target_name
                            ),
                            if known.is_empty() {
                                "declare it in strata.yaml under vars: global, provider, env or target".into()
                            } else {
                                format!(
                                    "variables for this target: {}; declare it in strata.yaml under vars:",
                                    known.join(", ")
                                )
                            },
                        ));
                    }
                }
            }
            Part::Ref(r) => self.ref_value(r, loc, t)?,
            Part::Vocab { kind, name } => {
                let catalogs = self.session.project.catalogs()?;
                catalogs
                    .vocabulary(&target.provider, kind, name)
                    .map_err(|e| {
                        self.diag(
                            DiagKind::Vocabulary,
                            loc,
                            format!("`{}` for provider {}: {e}", t.source, target.provider),
                            "use a name from the provider catalog (`strata providers show PROVIDER`), or add it in providers/<name>.yaml".into(),
                        )
                    })?
            }
        })
    }

    fn ref_value(&mut self, r: &ParamPath, loc: Loc, t: &Template) -> Result<Value, ResolveError> {
        let services = &self.session.project.config.services;
        let Some(idx) = services.get_index_of(r.service.as_str()) else {
            return Err(self.diag(
                DiagKind::MissingRef,
                loc,
                format!("`{}` references unknown service `{}`", t.source, r.service),
                format!(
                    "declared services: {}",
                    services.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        };
        if let Some(v) = self
            .session
            .refs
            .as_ref()
            .and_then(|table| table.get(&(idx, r.segments.clone())))
        {
            return Ok(v.clone());
        }
        if let Some(v) = self
            .session
            .published
            .get(idx)
            .and_then(OnceLock::get)
            .and_then(|values| values.get(r.segments.as_slice()))
        {
            return Ok(v.clone());
        }
        if let Some(v) = self.value_at(idx, &r.segments)? {
            return Ok(v);
        }
        let tree = self.tree(idx)?;
        // Find how far the path goes, to say what exists there.
        let mut depth = 0;
        while depth < r.segments.len() && tree.get(&r.segments[..=depth]).is_some() {
            depth += 1;
        }
        let there = tree.get(&r.segments[..depth]);
        let available = match there.map(|n| &n.value) {
            Some(Value::Map(m)) => {
                let keys: Vec<&str> = m.keys().map(|k| &**k).take(20).collect();
                format!(
                    "keys at `{}:{}`: {}",
                    r.service,
                    segments_to_string(&r.segments[..depth]),
                    keys.join(", ")
                )
            }
            Some(Value::List(items)) => format!(
                "`{}:{}` is a list of {} items",
                r.service,
                segments_to_string(&r.segments[..depth]),
                items.len()
            ),
            _ => "check the path; `strata resolve SERVICE --target T` shows what exists".into(),
        };
        Err(self.diag(
            DiagKind::MissingRef,
            loc,
            format!(
                "`{}` references `{r}`, which does not exist for target {}",
                t.source, self.session.target_name
            ),
            available,
        ))
    }

    /// Service `idx`'s merged tree: the one being evaluated, else the session's.
    fn tree(&self, idx: usize) -> Result<Arc<Node>, ResolveError> {
        match &self.current {
            Some((i, tree)) if *i == idx => Ok(tree.clone()),
            _ => self.session.merged(idx),
        }
    }

    /// The evaluated value at `path` of service `idx`; `None` when there is no such node.
    fn value_at(&mut self, idx: usize, path: &[Segment]) -> Result<Option<Value>, ResolveError> {
        let tree = self.tree(idx)?;
        let Some(node) = tree.get(path) else {
            return Ok(None);
        };
        let mut value = node.clone();
        let mut inner = Vec::new();
        collect_templates(&value, &[], &mut inner);
        for sub in inner {
            let mut full = path.to_vec();
            full.extend(sub.iter().cloned());
            let v = self.eval_at(idx, &full, &tree)?;
            if let Some(n) = value.get_mut(&sub) {
                n.value = v;
            }
        }
        Ok(Some(value.value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::MemorySource;

    const CONFIG: &str = r#"version: 1
environments: [{name: dev}, {name: prod}]
providers: [aws, gcp]
targets: [dev/aws/us-east-1, prod/aws/us-east-1, prod/gcp/europe-west1]
hierarchy:
  - base
  - provider/{provider}
  - env/{env}
  - env/{env}/{provider}
  - target/{env}/{provider}/{region}
services:
  a: {}
  b: {}
vars:
  global: {company: acme, n: 3, nested: {x: y}}
  env: {prod: {tier: gold}}
"#;

    fn project(files: &[(&str, &str)]) -> Project {
        let mut src = MemorySource::new().with("strata.yaml", CONFIG);
        for (p, c) in files {
            src.insert(*p, *c);
        }
        Project::load(Arc::new(src)).unwrap()
    }

    fn resolve(
        files: &[(&str, &str)],
        svc: &str,
        target: &str,
    ) -> Result<serde_json::Value, ResolveError> {
        project(files)
            .resolve(svc, target, ResolveOptions::default())
            .map(|e| e.root.value.to_json())
    }

    fn j(s: &str) -> serde_json::Value {
        serde_json::from_str(s).unwrap()
    }

    fn diag(e: ResolveError) -> Diagnostic {
        match e {
            ResolveError::Invalid(d) => *d,
            other => panic!("expected a diagnostic, got {other}"),
        }
    }

    #[test]
    fn hierarchy_order_lowest_first() {
        let files = [
            (
                "layers/base/a.yaml",
                "v: base\nb: base\np: base\ne: base\nep: base\n",
            ),
            (
                "layers/provider/aws/a.yaml",
                "v: provider\np: provider\ne: provider\nep: provider\n",
            ),
            (
                "layers/env/prod/a.json",
                r#"{"v": "env", "e": "env", "ep": "env"}"#,
            ),
            (
                "layers/env/prod/aws/a.toml",
                "v = \"env-provider\"\nep = \"env-provider\"\n",
            ),
            ("layers/target/prod/aws/us-east-1/a.yaml", "v: target\n"),
        ];
        assert_eq!(
            resolve(&files, "a", "prod/aws/us-east-1").unwrap(),
            j(r#"{"v": "target", "b": "base", "p": "provider", "e": "env", "ep": "env-provider"}"#)
        );
        assert_eq!(
            resolve(&files, "a", "dev/aws/us-east-1").unwrap(),
            j(
                r#"{"v": "provider", "b": "base", "p": "provider", "e": "provider", "ep": "provider"}"#
            )
        );
        assert_eq!(
            resolve(&files, "a", "prod/gcp/europe-west1").unwrap(),
            j(r#"{"v": "env", "b": "base", "p": "base", "e": "env", "ep": "env"}"#)
        );
    }

    #[test]
    fn provenance_points_at_the_setting_layer() {
        let p = project(&[
            ("layers/base/a.yaml", "db:\n  port: 1\n  host: h\n"),
            ("layers/env/prod/a.yaml", "db:\n  port: 2\n"),
        ]);
        let e = p
            .resolve(
                "a",
                "prod/aws/us-east-1",
                ResolveOptions {
                    keep_prior_values: true,
                },
            )
            .unwrap();
        let port = e
            .get(&crate::path::parse_segments("db.port").unwrap())
            .unwrap();
        assert_eq!(p.describe_loc(port.loc), "layers/env/prod/a.yaml:2:9");
        assert_eq!(
            p.describe_loc(port.priors()[0].loc),
            "layers/base/a.yaml:2:9"
        );
        assert_eq!(port.priors()[0].value, Some(Value::Int(1)));
        let host = e
            .get(&crate::path::parse_segments("db.host").unwrap())
            .unwrap();
        assert_eq!(p.describe_loc(host.loc), "layers/base/a.yaml:3:9");
        assert!(host.priors().is_empty());
    }

    #[test]
    fn every_interpolation_form() {
        let files = [
            (
                "layers/base/a.yaml",
                "s: \"${service}-${env}-${provider}-${region}\"\nc: \"${vars.company}\"\nn: \"${vars.n}\"\nnested: \"${vars.nested.x}\"\nesc: \"$${env} ${env}\"\nport: \"${ref:b:db.port}\"\nurl: \"http://h:${ref:b:db.port}/x\"\nm: \"${ref:b:db}\"\nflag: \"${ref:b:on}\"\n",
            ),
            (
                "layers/base/b.yaml",
                "db: {port: 5432, name: \"${service}\"}\non: true\n",
            ),
        ];
        assert_eq!(
            resolve(&files, "a", "prod/aws/us-east-1").unwrap(),
            j(
                r#"{"s": "a-prod-aws-us-east-1", "c": "acme", "n": 3, "nested": "y", "esc": "${env} prod",
                 "port": 5432, "url": "http://h:5432/x", "m": {"port": 5432, "name": "b"}, "flag": true}"#
            )
        );
    }

    #[test]
    fn refs_follow_the_referenced_services_own_layers() {
        let files = [
            ("layers/base/a.yaml", "x: \"${ref:b:v}\"\n"),
            ("layers/base/b.yaml", "v: 1\n"),
            ("layers/env/prod/b.yaml", "v: 2\n"),
        ];
        assert_eq!(
            resolve(&files, "a", "prod/aws/us-east-1").unwrap(),
            j(r#"{"x": 2}"#)
        );
        assert_eq!(
            resolve(&files, "a", "dev/aws/us-east-1").unwrap(),
            j(r#"{"x": 1}"#)
        );
    }

    #[test]
    fn chained_refs_and_self_refs() {
        let files = [
            (
                "layers/base/a.yaml",
                "x: \"${ref:b:y}\"\nself: \"${ref:a:z}\"\nz: 7\n",
            ),
            (
                "layers/base/b.yaml",
                "y: \"${ref:b:w}-suffix\"\nw: \"${env}\"\n",
            ),
        ];
        assert_eq!(
            resolve(&files, "a", "dev/aws/us-east-1").unwrap(),
            j(r#"{"x": "dev-suffix", "self": 7, "z": 7}"#)
        );
    }

    #[test]
    fn cycles_name_the_whole_cycle() {
        let files = [
            ("layers/base/a.yaml", "x: \"${ref:b:y}\"\n"),
            ("layers/base/b.yaml", "y: \"${ref:a:x}\"\n"),
        ];
        let d = diag(resolve(&files, "a", "dev/aws/us-east-1").unwrap_err());
        assert_eq!(d.kind, DiagKind::RefCycle);
        assert_eq!(d.message, "reference cycle: a:x -> b:y -> a:x");
        assert_eq!((&*d.path, d.line), ("layers/base/a.yaml", 1));

        let self_cycle = [("layers/base/a.yaml", "m:\n  k: \"${ref:a:m}\"\n")];
        let d = diag(resolve(&self_cycle, "a", "dev/aws/us-east-1").unwrap_err());
        assert_eq!(d.message, "reference cycle: a:m.k -> a:m.k");
    }

    #[test]
    fn undefined_variables_and_missing_refs_are_located() {
        let d = diag(
            resolve(
                &[("layers/base/a.yaml", "k: 1\nx: \"${vars.tier}\"\n")],
                "a",
                "dev/aws/us-east-1",
            )
            .unwrap_err(),
        );
        assert_eq!(d.kind, DiagKind::UndefinedVariable);
        assert_eq!((&*d.path, d.line, d.col), ("layers/base/a.yaml", 2, 4));
        assert!(d.message.contains("vars.tier"), "{d}");
        assert!(d.hint.unwrap().contains("company"));
        // Defined in prod only.
        assert!(
            resolve(
                &[("layers/base/a.yaml", "x: \"${vars.tier}\"\n")],
                "a",
                "prod/aws/us-east-1"
            )
            .is_ok()
        );

        let d = diag(
            resolve(
                &[
                    ("layers/base/a.yaml", "x: \"${ref:b:db.nope}\"\n"),
                    ("layers/base/b.yaml", "db: {port: 1}\n"),
                ],
                "a",
                "dev/aws/us-east-1",
            )
            .unwrap_err(),
        );
        assert_eq!(d.kind, DiagKind::MissingRef);
        assert_eq!(d.line, 1);
        assert!(d.message.contains("b:db.nope"), "{d}");
        assert!(d.hint.unwrap().contains("port"), "lists what exists");

        let d = diag(
            resolve(
                &[("layers/base/a.yaml", "x: \"${ref:zz:y}\"\n")],
                "a",
                "dev/aws/us-east-1",
            )
            .unwrap_err(),
        );
        assert!(d.message.contains("unknown service `zz`"), "{d}");
    }

    #[test]
    fn lists_and_maps_cannot_be_embedded() {
        let d = diag(
            resolve(
                &[("layers/base/a.yaml", "l: [1]\nx: \"a ${ref:a:l}\"\n")],
                "a",
                "dev/aws/us-east-1",
            )
            .unwrap_err(),
        );
        assert_eq!(d.kind, DiagKind::NotAScalar);
    }

    #[test]
    fn unknown_target_and_service() {
        let p = project(&[]);
        assert!(matches!(
            p.resolve("a", "prod/aws/nowhere", ResolveOptions::default()),
            Err(ResolveError::UnknownTarget { .. })
        ));
        let e = p
            .resolve("zz", "prod/aws/us-east-1", ResolveOptions::default())
            .unwrap_err();
        assert!(matches!(e, ResolveError::UnknownService { .. }));
        assert!(e.to_string().contains("declared services: a, b"));
    }

    #[test]
    fn two_files_for_one_layer_is_an_error() {
        let e = diag(
            resolve(
                &[("layers/base/a.yaml", "x: 1"), ("layers/base/a.json", "{}")],
                "a",
                "dev/aws/us-east-1",
            )
            .unwrap_err(),
        );
        assert_eq!(e.kind, DiagKind::DuplicateLayer);
        assert!(
            e.message.contains("layers/base/a.json") && e.message.contains("layers/base/a.yaml"),
            "{e}"
        );
    }

    #[test]
    fn syntax_errors_carry_the_layer_path() {
        let e = diag(
            resolve(
                &[("layers/env/dev/a.yaml", "x: [1\n")],
                "a",
                "dev/aws/us-east-1",
            )
            .unwrap_err(),
        );
        assert_eq!(&*e.path, "layers/env/dev/a.yaml");
        assert_eq!(e.kind, DiagKind::Syntax);
    }

    #[test]
    fn resolve_all_matches_single_resolves() {
        let files = [
            ("layers/base/a.yaml", "x: \"${ref:b:y}\"\nl: [1, 2]\n"),
            ("layers/base/b.yaml", "y: \"${env}\"\n"),
            ("layers/unused/zz.yaml", "ignored: true\n"),
            ("layers/base/typo.yaml", "x: 1\n"),
        ];
        let p = project(&files);
        let s = p
            .session("dev/aws/us-east-1", ResolveOptions::default())
            .unwrap();
        assert_eq!(s.unknown_files(), ["layers/base/typo.yaml"]);
        let single: Vec<_> = ["a", "b"]
            .iter()
            .map(|n| s.resolve(n).unwrap().root.value.to_json())
            .collect();
        let all = s.resolve_all().unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].service, "a");
        assert_eq!(all[0].root.value.to_json(), single[0]);
        assert_eq!(all[1].root.value.to_json(), single[1]);
    }

    #[test]
    fn a_ref_table_replaces_merging_referenced_services() {
        let files = [
            (
                "layers/base/a.yaml",
                "x: \"${ref:b:y}\"\nm: \"${ref:b:db}\"\nbad: \"${ref:b:nope}\"\n",
            ),
            (
                "layers/base/b.yaml",
                "y: \"${env}-b\"\ndb: {port: 1, name: \"${service}\"}\n",
            ),
        ];
        let p = project(&files);
        let s = p
            .session("dev/aws/us-east-1", ResolveOptions::default())
            .unwrap();
        let table = s.ref_table();
        let b = p.config.services.get_index_of("b").unwrap();
        assert_eq!(table.len(), 2, "the missing ref is left out: {table:?}");
        let y = crate::path::parse_segments("y").unwrap();
        assert_eq!(table[&(b, y)], Value::Str("dev-b".into()));
        // The table answers refs: b's layer may even be gone without changing a.
        let mut src = MemorySource::new().with("strata.yaml", CONFIG);
        src.insert(
            "layers/base/a.yaml",
            "x: \"${ref:b:y}\"\nm: \"${ref:b:db}\"\n",
        );
        let p2 = Project::load(Arc::new(src)).unwrap();
        let with = p2
            .session("dev/aws/us-east-1", ResolveOptions::default())
            .unwrap()
            .with_ref_table(Arc::new(table));
        assert_eq!(
            with.resolve("a").unwrap().root.value.to_json(),
            j(r#"{"x": "dev-b", "m": {"port": 1, "name": "b"}}"#)
        );
        let each = p
            .session("dev/aws/us-east-1", ResolveOptions::default())
            .unwrap()
            .resolve_each(&["b", "zz", "a"]);
        assert_eq!(
            each[0].as_ref().unwrap().root.value.to_json(),
            j(r#"{"y": "dev-b", "db": {"port": 1, "name": "b"}}"#)
        );
        assert!(matches!(each[1], Err(ResolveError::UnknownService { .. })));
        assert!(
            matches!(&each[2], Err(ResolveError::Invalid(d)) if d.kind == DiagKind::MissingRef)
        );
    }

    #[test]
    fn resolve_all_reports_every_failing_service() {
        let p = project(&[
            ("layers/base/a.yaml", "x: \"${vars.nope}\"\n"),
            ("layers/base/b.yaml", "y: [\n"),
        ]);
        let errs = p
            .session("dev/aws/us-east-1", ResolveOptions::default())
            .unwrap()
            .resolve_all()
            .unwrap_err();
        assert_eq!(errs.len(), 1, "merge errors stop before interpolation");
        let p = project(&[
            ("layers/base/a.yaml", "x: \"${vars.nope}\"\n"),
            ("layers/base/b.yaml", "y: \"${vars.nope2}\"\n"),
        ]);
        let errs = p
            .session("dev/aws/us-east-1", ResolveOptions::default())
            .unwrap()
            .resolve_all()
            .unwrap_err();
        assert_eq!(errs.len(), 2);
    }

    #[test]
    fn missing_project_file_and_schema() {
        let e = Project::load(Arc::new(MemorySource::new())).unwrap_err();
        assert!(matches!(e, ProjectError::NotAProject { .. }));
        let src = MemorySource::new().with(
            "strata.yaml",
            CONFIG.replace("a: {}", "a: {schema: schemas/a.yaml}"),
        );
        // Schemas are read when first needed: resolving `a` reports the missing file at the
        // line of strata.yaml that names it; `b` is unaffected.
        let p = Project::load(Arc::new(src)).unwrap();
        let d = diag(
            p.resolve("a", "dev/aws/us-east-1", ResolveOptions::default())
                .unwrap_err(),
        );
        assert_eq!((&*d.path, d.line), ("strata.yaml", 12));
        assert!(d.message.contains("schemas/a.yaml"));
        assert!(
            p.resolve("b", "dev/aws/us-east-1", ResolveOptions::default())
                .is_ok()
        );
    }

    #[test]
    fn schema_merge_annotations_apply() {
        let src = MemorySource::new()
            .with(
                "strata.yaml",
                CONFIG.replace("a: {}", "a: {schema: schemas/a.yaml}"),
            )
            .with(
                "schemas/a.yaml",
                "type: object\nproperties:\n  origins: {type: array, x-strata-merge: append}\n",
            )
            .with("layers/base/a.yaml", "origins: [x]\n")
            .with("layers/env/dev/a.yaml", "origins: [y]\n");
        let p = Project::load(Arc::new(src)).unwrap();
        let e = p
            .resolve("a", "dev/aws/us-east-1", ResolveOptions::default())
            .unwrap();
        assert_eq!(e.root.value.to_json(), j(r#"{"origins": ["x", "y"]}"#));
    }

    #[test]
    fn content_hash_changes_with_content() {
        let a = project(&[("layers/base/a.yaml", "x: 1")]);
        let b = project(&[("layers/base/a.yaml", "x: 2")]);
        let a2 = project(&[("layers/base/a.yaml", "x: 1")]);
        assert_ne!(a.content_hash().unwrap(), b.content_hash().unwrap());
        assert_eq!(a.content_hash().unwrap(), a2.content_hash().unwrap());
    }
}
