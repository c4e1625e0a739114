//! `strata check` as a library call: resolve every selected target × service, validate it
//! against its schema (JSON Schema, CEL, secrets), the app contracts asked for, and — with a
//! base project — transition rules and schema evolution; return a [`Report`].
//!
//! Targets are processed one at a time (services in parallel), so memory stays bounded by
//! one target's configurations however many targets a project has. Hooks are returned, not
//! run: running commands is the caller's I/O.

use std::collections::BTreeMap;
use std::sync::Arc;

use rayon::prelude::*;

use super::cel::RuleEnv;
use super::contract::{Contracts, Hook};
use super::evolution::{Change, diff};
use super::report::{Finding, Report, Severity, SourceLoc, Unit};
use super::schema::{ServiceSchema, UnitInfo};
use crate::error::Diagnostic;
use crate::resolve::{Effective, Project, RefTable, ResolveError, ResolveOptions};

/// What to check.
#[derive(Default)]
pub struct CheckOptions<'a> {
    /// Only these environments (empty: all).
    pub envs: Vec<String>,
    /// Only these targets (empty: all of the selected environments).
    pub targets: Vec<String>,
    /// Only these services (empty: all).
    pub services: Vec<String>,
    /// Application versions to check against their contracts: `(service, version)`.
    pub apps: Vec<(String, semver::Version)>,
    /// The previous version of the project, for transition rules and schema evolution.
    pub base: Option<&'a Project>,
}

/// A hook the caller should run for one unit.
#[derive(Debug, Clone)]
pub struct PendingHook {
    /// Index into [`Report::units`] where its finding belongs.
    pub unit: usize,
    /// `ENV/PROVIDER/REGION`.
    pub target: String,
    /// The service.
    pub service: String,
    /// What to run.
    pub hook: Hook,
    /// The effective configuration as JSON, for the hook's stdin.
    pub input: String,
}

/// The result of a check: the report, and the hooks still to run.
#[derive(Debug, Clone, Default)]
pub struct CheckRun {
    /// Findings so far.
    pub report: Report,
    /// Hooks of the contracts in use, one per unit and hook.
    pub hooks: Vec<PendingHook>,
}

/// Each service's effective configuration for one target, or why it could not be built.
type Resolved<'a> = Vec<(&'a str, Result<Effective, ResolveError>)>;

/// A finding from a resolution error (the configuration could not even be built).
fn resolve_finding(service: &str, target: &str, e: &ResolveError) -> Finding {
    let (location, message, hint, kind) = match e {
        ResolveError::Invalid(d) => {
            let Diagnostic {
                path,
                line,
                col,
                message,
                hint,
                kind,
            } = &**d;
            (
                Some(SourceLoc {
                    path: path.to_string(),
                    line: *line,
                    col: *col,
                }),
                message.clone(),
                hint.clone(),
                format!("{kind:?}").to_lowercase(),
            )
        }
        other => (None, other.to_string(), None, "source".to_string()),
    };
    Finding {
        severity: Severity::Error,
        rule: format!("resolve/{kind}"),
        service: service.to_string(),
        target: Some(target.to_string()),
        param: None,
        message,
        hint,
        location,
    }
}

/// Projects with at most this many services are checked as one chunk.
const SINGLE_CHUNK: usize = 128;
/// Services per chunk in larger projects.
const CHUNK: usize = 64;

/// A chunk's compiled schemas and, with a base project, its schema changes.
type Prepared<'s> = (
    BTreeMap<&'s str, ServiceSchema>,
    BTreeMap<&'s str, Vec<Change>>,
);

/// A checked unit with its place in the report (target index, service index) and hooks.
type Checked = (usize, usize, Unit, Vec<(Hook, String)>);

/// Compiles the schemas of a chunk of services and, with a base project, diffs them.
fn prepare_chunk<'s>(
    project: &Project,
    base: Option<&Project>,
    chunk: &[&'s str],
    problems: &mut Vec<Finding>,
) -> Result<Prepared<'s>, ResolveError> {
    let compiled: Vec<(&str, Result<Option<Compiled>, ResolveError>)> = chunk
        .par_iter()
        .map(|&service| (service, compile_schema(project, service)))
        .collect();
    let mut schemas = BTreeMap::new();
    for (service, result) in compiled {
        // `None`: the service declares no schema.
        if let Some(compiled) = result? {
            match compiled {
                Ok(schema) => {
                    schemas.insert(service, schema);
                }
                Err(found) => problems.extend(found),
            }
        }
    }
    let mut changes = BTreeMap::new();
    if let Some(base) = base {
        for (&service, schema) in &schemas {
            // A base without this schema (a new service, or none then) has nothing to compare.
            let declared = base.config.services.get(service);
            let old = match declared.and_then(|d| d.schema.as_deref()) {
                Some(p) => base.read_document(p, false)?.map(|doc| (p, doc)),
                None => None,
            };
            if let Some((old_path, old)) = old {
                let old_path: Arc<str> = format!("(base) {old_path}").into();
                changes.insert(service, diff(&old_path, &old, &schema.path, &schema.root));
            }
        }
    }
    Ok((schemas, changes))
}

/// Resolves a chunk of services for one target: all at once when the chunk is every
/// service (parallel, no copies), else one by one in parallel; one by one also attributes
/// resolution errors to their services.
fn resolve_chunk<'s>(
    project: &Project,
    target: &str,
    chunk: &[&'s str],
    whole: bool,
    refs: Option<&Arc<RefTable>>,
) -> Result<Resolved<'s>, ResolveError> {
    if whole
        && let Ok(all) = project
            .session(target, ResolveOptions::default())?
            .resolve_all()
    {
        return Ok(chunk.iter().copied().zip(all.into_iter().map(Ok)).collect());
    }
    let mut session = project.session(target, ResolveOptions::default())?;
    if let Some(table) = refs {
        session = session.with_ref_table(table.clone());
    }
    Ok(chunk
        .iter()
        .copied()
        .zip(session.resolve_each(chunk))
        .collect())
}

/// A compiled schema, or the findings that stop it from compiling.
type Compiled = Result<ServiceSchema, Vec<Finding>>;

/// Reads and compiles `service`'s schema; `None` when it declares none.
fn compile_schema(project: &Project, service: &str) -> Result<Option<Compiled>, ResolveError> {
    let Some(path) = project.config.services[service].schema.as_deref() else {
        return Ok(None);
    };
    let doc = match project.read_document(path, false) {
        Ok(Some(doc)) => doc,
        Ok(None) => return Ok(None),
        // A schema that is not even valid YAML is a finding like any broken schema.
        Err(ResolveError::Invalid(d)) => {
            let mut finding = resolve_finding(service, "", &ResolveError::Invalid(d));
            finding.rule = "schema/invalid".into();
            finding.target = None;
            return Ok(Some(Err(vec![finding])));
        }
        Err(e) => return Err(e),
    };
    let catalogs = project.catalogs()?;
    Ok(Some(ServiceSchema::compile(
        service,
        path.into(),
        doc,
        catalogs,
    )))
}

/// Runs a check. Usage mistakes (an unknown target, environment or service) are errors;
/// everything about the configuration itself is a finding in the report.
pub fn check(project: &Project, opts: &CheckOptions<'_>) -> Result<CheckRun, ResolveError> {
    let cfg = &project.config;
    for env in &opts.envs {
        if !cfg.environments.iter().any(|e| &e.name == env) {
            return Err(ResolveError::UnknownEnvironment {
                name: env.clone(),
                known: cfg.environments.iter().map(|e| e.name.clone()).collect(),
            });
        }
    }
    let mut targets = Vec::new();
    for t in &opts.targets {
        let target = cfg.target(t).ok_or_else(|| ResolveError::UnknownTarget {
            name: t.clone(),
            known: cfg.targets.iter().map(ToString::to_string).collect(),
        })?;
        targets.push(target.clone());
    }
    if targets.is_empty() {
        targets = cfg
            .targets
            .iter()
            .filter(|t| opts.envs.is_empty() || opts.envs.contains(&t.env))
            .cloned()
            .collect();
    } else if !opts.envs.is_empty() {
        targets.retain(|t| opts.envs.contains(&t.env));
    }
    let mut seen = Vec::new();
    targets.retain(|t| {
        let new = !seen.contains(t);
        seen.push(t.clone());
        new
    });
    if targets.is_empty() {
        return Err(ResolveError::NothingSelected {
            what: format!(
                "no target matches --env {} and --target {}",
                opts.envs.join(","),
                opts.targets.join(",")
            ),
        });
    }
    for s in opts.services.iter().chain(opts.apps.iter().map(|(s, _)| s)) {
        project.service_index(s)?;
    }
    let services: Vec<&str> = cfg
        .services
        .keys()
        .map(String::as_str)
        .filter(|s| opts.services.is_empty() || opts.services.iter().any(|x| x == s))
        .collect();

    let mut run = CheckRun::default();

    // Contracts of the app versions asked for.
    let mut contracts: BTreeMap<&str, (Contracts, &semver::Version)> = BTreeMap::new();
    for (service, version) in &opts.apps {
        let path = format!("contracts/{service}.yaml");
        match project.read_document(&path, false)? {
            None => run.report.project.push(Finding {
                severity: Severity::Error,
                rule: "contract/missing".into(),
                service: service.clone(),
                target: None,
                param: None,
                message: format!(
                    "--app {service}={version} asks for a contract, but {path} does not exist"
                ),
                hint: Some(format!(
                    "write {path} (see docs/validation.md), or drop --app {service}"
                )),
                location: None,
            }),
            Some(doc) => match Contracts::parse(service, path.into(), &doc) {
                Ok(c) => {
                    contracts.insert(service.as_str(), (c, version));
                }
                Err(problems) => run.report.project.extend(problems),
            },
        }
    }

    // Services are checked in chunks: a chunk's compiled schemas are dropped before the
    // next chunk's are built, so memory stays bounded however many services (and schema
    // nodes) a project has. A small project is one chunk, resolved with `resolve_all`.
    let all_services = services.len() == cfg.services.len();
    let chunk_len = if services.len() <= SINGLE_CHUNK {
        services.len().max(1)
    } else {
        CHUNK
    };
    let mut units: Vec<Checked> = Vec::new();
    // With several chunks, each target's referenced values are computed once up front, so
    // resolving a chunk never merges the services its references point into.
    let ref_tables = |p: &Project| -> Vec<Option<Arc<RefTable>>> {
        targets
            .iter()
            .map(|t| {
                let name = t.to_string();
                (services.len() > chunk_len)
                    .then(|| p.session(&name, ResolveOptions::default()).ok())
                    .flatten()
                    .map(|s| Arc::new(s.ref_table()))
            })
            .collect()
    };
    let tables = ref_tables(project);
    let base_tables = match opts.base {
        Some(base) if services.len() > chunk_len => ref_tables(base),
        _ => vec![None; targets.len()],
    };
    for (chunk_no, chunk) in services.chunks(chunk_len).enumerate() {
        let whole = all_services && chunk.len() == services.len();
        let (schemas, changes) = prepare_chunk(project, opts.base, chunk, &mut run.report.project)?;
        let mut changes = changes;
        let wants_base = opts.base.is_some() && !schemas.is_empty();
        for (t_index, target) in targets.iter().enumerate() {
            let name = target.to_string();
            let protected = cfg
                .environments
                .iter()
                .any(|e| e.name == target.env && e.protected);
            let effs = resolve_chunk(project, &name, chunk, whole, tables[t_index].as_ref())?;
            let base_effs: BTreeMap<String, Effective> = match opts.base {
                Some(base) if wants_base && base.config.target(&name).is_some() => {
                    // A base that does not resolve only loses its transition rules.
                    resolve_chunk(base, &name, chunk, false, base_tables[t_index].as_ref())
                        .into_iter()
                        .flatten()
                        .filter_map(|(s, e)| e.ok().map(|e| (s.to_string(), e)))
                        .collect()
                }
                _ => BTreeMap::new(),
            };
            let results: Vec<(Unit, Vec<(Hook, String)>)> = effs
                .par_iter()
                .map(|(service, eff)| {
                    let vars = RuleEnv {
                        env: &target.env,
                        provider: &target.provider,
                        region: &target.region,
                        service,
                    };
                    let info = UnitInfo {
                        target: &name,
                        vars,
                    };
                    let mut findings = Vec::new();
                    let mut hooks = Vec::new();
                    match eff {
                        Err(e) => findings.push(resolve_finding(service, &name, e)),
                        Ok(eff) => {
                            if let Some(schema) = schemas.get(service) {
                                let base = base_effs.get(*service).map(|b| &b.root);
                                findings.extend(schema.check(
                                    &eff.root,
                                    base,
                                    info,
                                    project.files(),
                                ));
                            }
                            if let Some((c, version)) = contracts.get(service) {
                                findings.extend(c.check(version, &eff.root, info, project.files()));
                                if let Some(contract) = c.for_version(version)
                                    && !contract.hooks.is_empty()
                                {
                                    let input = eff.root.value.to_json().to_string();
                                    hooks.extend(
                                        contract.hooks.iter().map(|h| (h.clone(), input.clone())),
                                    );
                                }
                            }
                        }
                    }
                    let unit = Unit {
                        target: name.clone(),
                        env: target.env.clone(),
                        provider: target.provider.clone(),
                        service: service.to_string(),
                        protected,
                        findings,
                    };
                    (unit, hooks)
                })
                .collect();
            for (i, (unit, hooks)) in results.into_iter().enumerate() {
                units.push((t_index, chunk_no * chunk_len + i, unit, hooks));
            }
            for (service, eff) in &effs {
                if let (Some(list), Ok(eff)) = (changes.get_mut(service), eff) {
                    for change in list.iter_mut() {
                        change.observe(&name, &eff.root);
                    }
                }
            }
            // Freeing a million nodes is real work: spread it over the cores too.
            effs.into_par_iter().for_each(drop);
            base_effs.into_par_iter().for_each(drop);
        }
        for (service, list) in &changes {
            run.report
                .project
                .extend(list.iter().map(|c| c.finding(service)));
        }
    }
    // Units in target then service order, hooks pointing at their unit.
    units.sort_by_key(|(t, s, _, _)| (*t, *s));
    for (_, _, unit, hooks) in units {
        let index = run.report.units.len();
        for (hook, input) in hooks {
            run.hooks.push(PendingHook {
                unit: index,
                target: unit.target.clone(),
                service: unit.service.clone(),
                hook,
                input,
            });
        }
        run.report.units.push(unit);
    }
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::MemorySource;

    const CONFIG: &str = "version: 1
environments: [{name: dev}, {name: prod, protected: true}]
providers: [aws]
targets: [dev/aws/r1, prod/aws/r1]
hierarchy: [base, \"env/{env}\"]
services:
  api: {schema: schemas/api.yaml}
  worker: {}
";

    const SCHEMA: &str = "type: object
properties:
  replicas:
    type: integer
    minimum: 1
    maximum: 10
  password: {type: string, x-strata-secret: true}
x-strata-validations:
  - rule: \"env != 'prod' || self.replicas >= 3\"
    message: prod runs at least 3 replicas
    fieldPath: .replicas
";

    fn project(files: &[(&str, &str)]) -> Project {
        let mut src = MemorySource::new()
            .with("strata.yaml", CONFIG)
            .with("schemas/api.yaml", SCHEMA);
        for (p, c) in files {
            src.insert(*p, *c);
        }
        Project::load(Arc::new(src)).unwrap()
    }

    fn rules(run: &CheckRun) -> Vec<(String, String, String)> {
        run.report
            .findings()
            .map(|f| {
                (
                    f.rule.clone(),
                    f.target.clone().unwrap_or_default(),
                    f.location
                        .as_ref()
                        .map(|l| l.to_string())
                        .unwrap_or_default(),
                )
            })
            .collect()
    }

    #[test]
    fn a_clean_project_passes_every_unit() {
        let p = project(&[(
            "layers/base/api.yaml",
            "replicas: 3\npassword: \"ENC[AGE,x]\"\n",
        )]);
        let run = check(&p, &CheckOptions::default()).unwrap();
        assert_eq!(run.report.units.len(), 4, "2 targets × 2 services");
        assert!(!run.report.fails(Severity::Info), "{:?}", rules(&run));
        assert!(
            run.report
                .units
                .iter()
                .any(|u| u.protected && u.env == "prod")
        );
    }

    #[test]
    fn findings_carry_target_and_layer_location() {
        let p = project(&[
            ("layers/base/api.yaml", "replicas: 2\npassword: plain\n"),
            ("layers/env/dev/api.yaml", "replicas: 11\n"),
        ]);
        let run = check(&p, &CheckOptions::default()).unwrap();
        let got = rules(&run);
        assert!(
            got.contains(&(
                "schema/maximum".into(),
                "dev/aws/r1".into(),
                "layers/env/dev/api.yaml:1:11".into()
            )),
            "{got:?}"
        );
        assert!(
            got.contains(&(
                "cel".into(),
                "prod/aws/r1".into(),
                "layers/base/api.yaml:1:11".into()
            )),
            "{got:?}"
        );
        assert_eq!(
            got.iter().filter(|g| g.0 == "secret/plaintext").count(),
            2,
            "{got:?}"
        );
        assert!(run.report.fails(Severity::Error));
    }

    #[test]
    fn selection_by_env_target_and_service() {
        let p = project(&[("layers/base/api.yaml", "replicas: 3\n")]);
        let only_prod = CheckOptions {
            envs: vec!["prod".into()],
            ..Default::default()
        };
        assert_eq!(check(&p, &only_prod).unwrap().report.units.len(), 2);
        let one = CheckOptions {
            targets: vec!["dev/aws/r1".into()],
            services: vec!["api".into()],
            ..Default::default()
        };
        let run = check(&p, &one).unwrap();
        assert_eq!(run.report.units.len(), 1);
        assert_eq!(run.report.units[0].service, "api");
        let both = CheckOptions {
            envs: vec!["prod".into()],
            targets: vec!["dev/aws/r1".into(), "prod/aws/r1".into()],
            ..Default::default()
        };
        let run = check(&p, &both).unwrap();
        assert!(
            run.report.units.iter().all(|u| u.env == "prod"),
            "targets are narrowed by --env too"
        );
        let twice = CheckOptions {
            targets: vec!["dev/aws/r1".into(), "dev/aws/r1".into()],
            ..Default::default()
        };
        assert_eq!(
            check(&p, &twice).unwrap().report.units.len(),
            2,
            "a repeated target is checked once"
        );
        let none = CheckOptions {
            envs: vec!["prod".into()],
            targets: vec!["dev/aws/r1".into()],
            ..Default::default()
        };
        let e = check(&p, &none).unwrap_err();
        assert!(matches!(e, ResolveError::NothingSelected { .. }));
        assert!(e.to_string().contains("--env prod"), "{e}");
        assert!(matches!(
            check(
                &p,
                &CheckOptions {
                    envs: vec!["qa".into()],
                    ..Default::default()
                }
            ),
            Err(ResolveError::UnknownEnvironment { .. })
        ));
        assert!(matches!(
            check(
                &p,
                &CheckOptions {
                    targets: vec!["x/y/z".into()],
                    ..Default::default()
                }
            ),
            Err(ResolveError::UnknownTarget { .. })
        ));
        assert!(matches!(
            check(
                &p,
                &CheckOptions {
                    services: vec!["nope".into()],
                    ..Default::default()
                }
            ),
            Err(ResolveError::UnknownService { .. })
        ));
    }

    /// A source whose one file cannot be read (an I/O error, not a missing file).
    struct Unreadable(MemorySource, &'static str);
    impl crate::files::ProjectSource for Unreadable {
        fn read(&self, path: &str) -> Result<Option<Arc<[u8]>>, crate::files::SourceError> {
            if path == self.1 {
                return Err(crate::files::SourceError {
                    path: path.into(),
                    message: "permission denied".into(),
                });
            }
            self.0.read(path)
        }
        fn list_dir(&self, dir: &str) -> Result<Vec<String>, crate::files::SourceError> {
            self.0.list_dir(dir)
        }
        fn list_all(&self) -> Result<Vec<String>, crate::files::SourceError> {
            self.0.list_all()
        }
        fn describe(&self) -> String {
            "unreadable".into()
        }
    }

    #[test]
    fn unreadable_layers_and_missing_or_broken_files() {
        let src = MemorySource::new()
            .with("strata.yaml", CONFIG)
            .with("schemas/api.yaml", SCHEMA)
            .with("layers/base/worker.yaml", "x: 1\n");
        let p = Project::load(Arc::new(Unreadable(src, "layers/base/worker.yaml"))).unwrap();
        let run = check(&p, &CheckOptions::default()).unwrap();
        let f: Vec<_> = run
            .report
            .findings()
            .filter(|f| f.rule == "resolve/source")
            .collect();
        assert_eq!(f.len(), 2, "{:?}", rules(&run));
        assert!(f[0].message.contains("permission denied"));

        // A declared schema that does not exist: resolving fails, located in strata.yaml.
        let src = MemorySource::new()
            .with("strata.yaml", CONFIG)
            .with("layers/base/api.yaml", "replicas: 3\n");
        let p = Project::load(Arc::new(src)).unwrap();
        let got = rules(&check(&p, &CheckOptions::default()).unwrap());
        assert!(
            got.iter()
                .any(|g| g.0 == "resolve/project" && g.2.starts_with("strata.yaml:")),
            "{got:?}"
        );

        // A schema that does not compile and a contract that does not parse: project findings.
        let p = project(&[
            ("layers/base/api.yaml", "replicas: 3\n"),
            ("contracts/api.yaml", "contracts: nope\n"),
        ]);
        let mut src = MemorySource::new()
            .with("strata.yaml", CONFIG)
            .with("schemas/api.yaml", "type: 12\n");
        src.insert("layers/base/api.yaml", "replicas: 3\n");
        let broken = Project::load(Arc::new(src)).unwrap();
        assert_eq!(
            check(&broken, &CheckOptions::default())
                .unwrap()
                .report
                .project[0]
                .rule,
            "schema/invalid"
        );
        let opts = CheckOptions {
            apps: vec![("api".into(), semver::Version::new(1, 0, 0))],
            ..Default::default()
        };
        assert_eq!(
            check(&p, &opts).unwrap().report.project[0].rule,
            "contract/invalid"
        );
        // A schema that is not even YAML is a located finding too.
        let mut src = MemorySource::new()
            .with("strata.yaml", CONFIG)
            .with("schemas/api.yaml", "a: 1\na: 2\n");
        src.insert("layers/base/api.yaml", "replicas: 3\n");
        let not_yaml = Project::load(Arc::new(src)).unwrap();
        let run = check(&not_yaml, &CheckOptions::default()).unwrap();
        assert_eq!(run.report.project[0].rule, "schema/invalid");
        assert_eq!(
            run.report.project[0].location.as_ref().unwrap().to_string(),
            "schemas/api.yaml:2:1"
        );
        // An unreadable schema is an I/O error, not a finding.
        let src = MemorySource::new()
            .with("strata.yaml", CONFIG)
            .with("schemas/api.yaml", "type: object\n");
        let p = Project::load(Arc::new(Unreadable(src, "schemas/api.yaml"))).unwrap();
        assert!(matches!(
            check(&p, &CheckOptions::default()),
            Err(ResolveError::Source(_))
        ));
    }

    #[test]
    fn resolution_errors_become_findings() {
        let p = project(&[
            ("layers/base/worker.yaml", "x: \"${vars.nope}\"\n"),
            ("layers/base/api.yaml", "replicas: 3\n"),
        ]);
        let run = check(&p, &CheckOptions::default()).unwrap();
        let got = rules(&run);
        assert_eq!(
            got.iter()
                .filter(|g| g.0 == "resolve/undefinedvariable")
                .count(),
            2,
            "{got:?}"
        );
        assert!(
            got.iter().all(|g| g.0.starts_with("resolve/")),
            "api still checked and clean: {got:?}"
        );
    }

    #[test]
    fn contracts_and_hooks() {
        let p = project(&[
            ("layers/base/api.yaml", "replicas: 3\n"),
            (
                "contracts/api.yaml",
                "contracts:\n  - versions: \">=1\"\n    requires: [db.host]\n    hooks: [{command: [\"true\"]}]\n",
            ),
        ]);
        let opts = CheckOptions {
            apps: vec![("api".into(), semver::Version::new(1, 2, 0))],
            ..Default::default()
        };
        let run = check(&p, &opts).unwrap();
        assert_eq!(
            run.report
                .findings()
                .filter(|f| f.rule == "contract/required")
                .count(),
            2
        );
        assert_eq!(run.hooks.len(), 2);
        assert_eq!(run.report.units[run.hooks[0].unit].service, "api");
        assert_eq!(run.hooks[0].input, "{\"replicas\":3}");
        let missing = CheckOptions {
            apps: vec![("worker".into(), semver::Version::new(1, 0, 0))],
            ..Default::default()
        };
        let run = check(&p, &missing).unwrap();
        assert_eq!(run.report.project[0].rule, "contract/missing");
    }

    #[test]
    fn large_projects_are_checked_in_chunks_in_the_same_order() {
        let n = SINGLE_CHUNK + 10;
        let mut cfg = String::from(
            "version: 1\nenvironments: [dev, prod]\nproviders: [aws]\ntargets: [dev/aws/r1, prod/aws/r1]\nhierarchy: [base]\nservices:\n",
        );
        let mut src = MemorySource::new().with("schemas/s.yaml", "properties: {n: {maximum: 5}}\n");
        for i in 0..n {
            cfg.push_str(&format!("  s{i:03}: {{schema: schemas/s.yaml}}\n"));
            src.insert(
                format!("layers/base/s{i:03}.yaml"),
                format!("n: {}\nr: \"${{ref:s000:n}}\"\n", i % 7),
            );
        }
        src.insert("strata.yaml", cfg);
        src.insert(
            "contracts/s137.yaml",
            "contracts: [{versions: \">=1\", hooks: [{command: [\"true\"]}]}]\n",
        );
        let p = Project::load(Arc::new(src)).unwrap();
        let opts = CheckOptions {
            apps: vec![("s137".into(), semver::Version::new(1, 0, 0))],
            ..Default::default()
        };
        let run = check(&p, &opts).unwrap();
        assert_eq!(run.report.units.len(), 2 * n);
        let order: Vec<(String, String)> = run
            .report
            .units
            .iter()
            .map(|u| (u.target.clone(), u.service.clone()))
            .collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted, "target then service order");
        let failing: Vec<&str> = run
            .report
            .units
            .iter()
            .filter(|u| !u.findings.is_empty())
            .map(|u| u.service.as_str())
            .collect();
        assert_eq!(failing.len(), 2 * (0..n).filter(|i| i % 7 > 5).count());
        assert_eq!(run.hooks.len(), 2);
        for h in &run.hooks {
            assert_eq!(run.report.units[h.unit].service, "s137");
            assert_eq!(run.report.units[h.unit].target, h.target);
        }
    }

    #[test]
    fn bases_without_the_schema_or_that_do_not_resolve_are_tolerated() {
        let current = project(&[("layers/base/api.yaml", "replicas: 3\n")]);
        // The base had no schema for api, then one whose file is missing, then broken layers.
        let no_schema = Project::load(Arc::new(
            MemorySource::new()
                .with(
                    "strata.yaml",
                    CONFIG.replace("api: {schema: schemas/api.yaml}", "api: {}"),
                )
                .with("layers/base/api.yaml", "replicas: 3\n"),
        ))
        .unwrap();
        let missing_file =
            Project::load(Arc::new(MemorySource::new().with("strata.yaml", CONFIG))).unwrap();
        let broken = project(&[("layers/base/api.yaml", "replicas: [\n")]);
        for base in [&no_schema, &missing_file, &broken] {
            let run = check(
                &current,
                &CheckOptions {
                    base: Some(base),
                    ..Default::default()
                },
            )
            .unwrap();
            assert!(run.report.findings().next().is_none(), "{:?}", rules(&run));
        }
    }

    #[test]
    fn base_project_enables_transitions_and_evolution() {
        let schema_v2 = SCHEMA.replace("maximum: 10", "maximum: 4").replace(
            "x-strata-validations:\n",
            "x-strata-validations:\n  - rule: \"self.replicas >= oldSelf.replicas / 2\"\n    message: replicas may not drop by more than half\n",
        );
        let base = project(&[("layers/base/api.yaml", "replicas: 8\n")]);
        let mut src = MemorySource::new()
            .with("strata.yaml", CONFIG)
            .with("schemas/api.yaml", schema_v2);
        src.insert("layers/base/api.yaml", "replicas: 3\n");
        let new = Project::load(Arc::new(src)).unwrap();
        let run = check(
            &new,
            &CheckOptions {
                base: Some(&base),
                ..Default::default()
            },
        )
        .unwrap();
        let got = rules(&run);
        assert_eq!(
            got.iter().filter(|g| g.0 == "cel/transition").count(),
            2,
            "{got:?}"
        );
        let evo: Vec<_> = run
            .report
            .project
            .iter()
            .filter(|f| f.rule.starts_with("schema-evolution/"))
            .collect();
        assert_eq!(evo.len(), 1, "{evo:?}");
        assert_eq!(
            evo[0].severity,
            Severity::Info,
            "3 is within the new maximum of 4"
        );
    }
}
