//! Deterministic generator of synthetic Strata projects.
//!
//! Builds a complete project — `strata.yaml` plus one layer file per service
//! per hierarchy level instance — from a handful of [`GenOptions`]. The same
//! options (including the seed) always produce the same bytes, so generated
//! projects can serve as test fixtures and as reproducible benchmark inputs.
//!
//! The library is pure: [`generate`] hands each [`GenFile`] to a caller-supplied
//! sink (which may write it to disk, hash it, or keep it in memory) and never
//! touches the file system itself.
//!
//! # Shape of a generated project
//!
//! * Targets: every env × provider × two regions of that provider
//!   (see [`provider_regions`]).
//! * Hierarchy: exactly [`HIERARCHY`].
//! * Services `svc-0000`, `svc-0001`, …; teams `team-00`, … (one per 10 services).
//! * `vars` in all four scopes (global, provider, env, target).
//! * Each base layer has exactly `params` leaves (a scalar inside a list counts
//!   as one leaf), nested 2 to 5 levels deep.
//! * Every service has a file at every level instance. Override layers
//!   re-set existing leaf paths with values of the same type: about 5 % of the
//!   base leaves at `provider/{provider}`, 10 % at `env/{env}`, 3 % at
//!   `env/{env}/{provider}` and 1 % at `target/…`, at least one leaf per file.
//! * A few strings per service interpolate `${env}`, `${region}`,
//!   `${vars.company}` (and other vars defined in every scope); about 1 % of the
//!   base leaves (at least one for every service but the first) are
//!   `${ref:svc-XXXX:path}` references to a plain leaf of a lower-numbered
//!   service, so references never form cycles. Reference and interpolated
//!   leaves are never overridden.
//! * No directives and no list strategies: the JSON layers of one target merge
//!   with a plain recursive object merge (`jq -s '.[0] * .[1] * …'`).
//! * With [`GenOptions::schemas`] (the default), every service has a JSON
//!   Schema (2020-12, YAML) at `schemas/svc-NNNN.yaml`, referenced from
//!   `strata.yaml`, that every effective configuration of every target
//!   satisfies once references and interpolations are resolved: `properties`
//!   and `required` for every map (all base keys), `additionalProperties:
//!   false` on the root, on list items and on about half of the other maps,
//!   leaf types with the ranges, vocabularies and patterns the values are drawn
//!   from, and about one `x-strata-validations` CEL rule per 50 base leaves (at
//!   least one) that holds by construction.

mod emit;
mod model;
mod rng;
mod schema;
#[cfg(test)]
mod tests;

use std::fmt::{self, Write as _};
use std::str::FromStr;

use emit::OverrideValue;
use model::{RefTargets, Service, UnitKind, service_name};
use rng::Rng;

/// The hierarchy written to every generated `strata.yaml`, lowest precedence first.
pub const HIERARCHY: [&str; 5] = [
    "base",
    "provider/{provider}",
    "env/{env}",
    "env/{env}/{provider}",
    "target/{env}/{provider}/{region}",
];

/// Serialization format of the layer files (`strata.yaml` is always YAML).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Format {
    /// Block-style YAML with every string double-quoted.
    #[default]
    Yaml,
    /// Pretty-printed JSON (two-space indentation).
    Json,
}

impl Format {
    /// File extension of layer files in this format, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Json => "json",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

impl FromStr for Format {
    type Err = GenError;

    /// Parses `yaml`, `yml` or `json` (case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "yaml" | "yml" => Ok(Format::Yaml),
            "json" => Ok(Format::Json),
            _ => Err(GenError::UnknownFormat(s.to_owned())),
        }
    }
}

/// What to generate. Validated by [`GenOptions::validate`] (every entry point
/// validates first, so invalid options never produce partial output).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenOptions {
    /// Number of services (at least 1).
    pub services: usize,
    /// Number of leaf parameters in each service's base layer (may be 0).
    pub params: usize,
    /// Environment names in promotion order; the last one is marked protected.
    pub envs: Vec<String>,
    /// Provider names; known ones (aws, azure, gcp) get real region names.
    pub providers: Vec<String>,
    /// Format of the layer files.
    pub format: Format,
    /// Seed of the pseudo-random generator.
    pub seed: u64,
    /// Whether to emit a JSON Schema per service (`schemas/svc-NNNN.yaml`,
    /// referenced as `schema:` in `strata.yaml`). Layer files are the same
    /// either way.
    pub schemas: bool,
}

impl Default for GenOptions {
    /// 10 services, 20 params, dev/staging/prod, aws/azure/gcp, YAML, seed 42,
    /// with schemas.
    fn default() -> Self {
        GenOptions {
            services: 10,
            params: 20,
            envs: ["dev", "staging", "prod"].map(String::from).to_vec(),
            providers: ["aws", "azure", "gcp"].map(String::from).to_vec(),
            format: Format::Yaml,
            seed: 42,
            schemas: true,
        }
    }
}

/// Longest accepted env or provider name.
pub const MAX_NAME_LEN: usize = 64;

impl GenOptions {
    /// Checks the options; the error names the offending option.
    ///
    /// Env and provider names must be 1 to [`MAX_NAME_LEN`] ASCII letters,
    /// digits, `-` or `_`, starting with a letter or digit (they become path
    /// components and target names), and must be unique within their list.
    pub fn validate(&self) -> Result<(), GenError> {
        if self.services == 0 {
            return Err(GenError::NoServices);
        }
        check_names("envs", &self.envs)?;
        check_names("providers", &self.providers)?;
        files_per_service(self)
            .and_then(|n| n.checked_mul(self.services))
            .and_then(|n| n.checked_add(1))
            .ok_or(GenError::TooLarge)?;
        Ok(())
    }
}

fn check_names(option: &'static str, names: &[String]) -> Result<(), GenError> {
    if names.is_empty() {
        return Err(GenError::EmptyList { option });
    }
    for (i, name) in names.iter().enumerate() {
        let bytes = name.as_bytes();
        let valid = !bytes.is_empty()
            && bytes.len() <= MAX_NAME_LEN
            && bytes[0].is_ascii_alphanumeric()
            && bytes
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(GenError::InvalidName {
                option,
                name: name.clone(),
            });
        }
        if names[..i].contains(name) {
            return Err(GenError::DuplicateName {
                option,
                name: name.clone(),
            });
        }
    }
    Ok(())
}

/// One generated file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenFile {
    /// Path relative to the project root, `/`-separated
    /// (`strata.yaml`, `layers/env/prod/aws/svc-0003.json`, …).
    pub path: String,
    /// Complete file contents (UTF-8 text ending in a newline).
    pub contents: Vec<u8>,
}

/// Invalid [`GenOptions`] (or an unparsable [`Format`] name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GenError {
    /// `services` is 0.
    NoServices,
    /// `envs` or `providers` is empty.
    EmptyList {
        /// `"envs"` or `"providers"`.
        option: &'static str,
    },
    /// A name in `envs` or `providers` has characters that cannot be used.
    InvalidName {
        /// `"envs"` or `"providers"`.
        option: &'static str,
        /// The rejected name.
        name: String,
    },
    /// A name appears twice in `envs` or `providers`.
    DuplicateName {
        /// `"envs"` or `"providers"`.
        option: &'static str,
        /// The repeated name.
        name: String,
    },
    /// The file count does not fit in `usize`.
    TooLarge,
    /// A format name other than `yaml`, `yml` or `json`.
    UnknownFormat(String),
}

impl fmt::Display for GenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GenError::NoServices => f.write_str("invalid option `services`: must be at least 1"),
            GenError::EmptyList { option } => {
                write!(
                    f,
                    "invalid option `{option}`: at least one name is required"
                )
            }
            GenError::InvalidName { option, name } => write!(
                f,
                "invalid option `{option}`: {name:?} is not a valid name (use 1 to \
                 {MAX_NAME_LEN} ASCII letters, digits, '-' or '_', starting with a letter or digit)"
            ),
            GenError::DuplicateName { option, name } => {
                write!(f, "invalid option `{option}`: {name:?} is listed twice")
            }
            GenError::TooLarge => f.write_str(
                "invalid options `services`/`envs`/`providers`: too many files to generate",
            ),
            GenError::UnknownFormat(s) => {
                write!(
                    f,
                    "invalid option `format`: {s:?} (expected `yaml` or `json`)"
                )
            }
        }
    }
}

impl std::error::Error for GenError {}

/// Error of [`generate`]: invalid options (reported before the sink is ever
/// called) or the first error returned by the sink (generation stops there).
#[derive(Debug)]
pub enum GenOutcomeError<E> {
    /// The options were rejected; no file was produced.
    Options(GenError),
    /// The sink failed; files before this one were delivered.
    Sink(E),
}

impl<E> From<GenError> for GenOutcomeError<E> {
    fn from(e: GenError) -> Self {
        GenOutcomeError::Options(e)
    }
}

impl<E: fmt::Display> fmt::Display for GenOutcomeError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GenOutcomeError::Options(e) => e.fmt(f),
            GenOutcomeError::Sink(e) => write!(f, "writing generated file failed: {e}"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for GenOutcomeError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GenOutcomeError::Options(e) => Some(e),
            GenOutcomeError::Sink(e) => Some(e),
        }
    }
}

/// The two regions used for `provider`: real ones for aws, azure and gcp,
/// `region-1`/`region-2` for any other name.
pub fn provider_regions(provider: &str) -> [&'static str; 2] {
    match provider {
        "aws" => ["us-east-1", "eu-west-1"],
        "azure" => ["eastus", "westeurope"],
        "gcp" => ["us-central1", "europe-west1"],
        _ => ["region-1", "region-2"],
    }
}

/// All targets (`ENV/PROVIDER/REGION`) of the generated project, in the order
/// they appear in `strata.yaml`: env-major, then provider, then region.
pub fn targets(opts: &GenOptions) -> Result<Vec<String>, GenError> {
    opts.validate()?;
    Ok(Plan::new(opts)
        .targets
        .into_iter()
        .map(|t| t.name)
        .collect())
}

/// Layer files per service: 1 + providers + envs + envs×providers + targets.
fn layer_files_per_service(opts: &GenOptions) -> Option<usize> {
    let (e, p) = (opts.envs.len(), opts.providers.len());
    let ep = e.checked_mul(p)?;
    1usize
        .checked_add(p)?
        .checked_add(e)?
        .checked_add(ep)?
        .checked_add(ep.checked_mul(2)?)
}

/// Files per service: its layer files plus its schema (if enabled).
fn files_per_service(opts: &GenOptions) -> Option<usize> {
    layer_files_per_service(opts)?.checked_add(usize::from(opts.schemas))
}

/// Number of files [`generate`] will emit (for a progress bar):
/// `1 + services × (1 + providers + envs + envs×providers + 2×envs×providers + S)`,
/// where `S` is 1 with [`GenOptions::schemas`] and 0 without.
pub fn file_count(opts: &GenOptions) -> Result<usize, GenError> {
    opts.validate()?;
    files_per_service(opts)
        .and_then(|n| n.checked_mul(opts.services))
        .and_then(|n| n.checked_add(1))
        .ok_or(GenError::TooLarge)
}

/// Generates the project, calling `sink` once per file in a deterministic order:
/// `strata.yaml` first, then for each service in index order its base layer,
/// provider layers, env layers, env/provider layers and target layers (each
/// group in the order of `opts.envs`/`opts.providers`/regions), then its
/// schema `schemas/svc-NNNN.yaml` (if [`GenOptions::schemas`]).
///
/// Pure: no file system access. Memory use is bounded by one service's tree
/// plus a few reference paths per service. Stops at the first sink error.
///
/// # Example: writing a project to disk
///
/// ```no_run
/// use std::{fs, path::Path};
///
/// let out = Path::new("/tmp/project");
/// strata_gen::generate(&strata_gen::GenOptions::default(), |file| -> std::io::Result<()> {
///     let path = out.join(&file.path);
///     fs::create_dir_all(path.parent().expect("files live in a directory"))?;
///     fs::write(path, &file.contents)
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn generate<E>(
    opts: &GenOptions,
    mut sink: impl FnMut(GenFile) -> Result<(), E>,
) -> Result<(), GenOutcomeError<E>> {
    opts.validate()?;
    let plan = Plan::new(opts);
    sink(GenFile {
        path: "strata.yaml".to_owned(),
        contents: project_file(opts, &plan).into_bytes(),
    })
    .map_err(GenOutcomeError::Sink)?;

    let ext = opts.format.extension();
    let mut lower: Vec<RefTargets> = Vec::with_capacity(opts.services);
    for index in 0..opts.services {
        let name = service_name(index);
        let svc = Service::build(opts.seed, index, opts.params, &lower);
        let base = emit::base_layer(opts.format, &svc.root, 64 + opts.params * 48);
        sink(GenFile {
            path: format!("layers/base/{name}.{ext}"),
            contents: base.into_bytes(),
        })
        .map_err(GenOutcomeError::Sink)?;
        for (li, level) in plan.levels.iter().enumerate() {
            let text = override_file(opts, &svc, index, li, level.percent);
            sink(GenFile {
                path: format!("layers/{}/{name}.{ext}", level.dir),
                contents: text.into_bytes(),
            })
            .map_err(GenOutcomeError::Sink)?;
        }
        if opts.schemas {
            sink(GenFile {
                path: format!("schemas/{name}.yaml"),
                contents: schema::schema_file(opts.seed, index, opts.params, &svc).into_bytes(),
            })
            .map_err(GenOutcomeError::Sink)?;
        }
        lower.push(svc.ref_targets(opts.seed, index));
    }
    Ok(())
}

/// All files of [`generate`], in memory (for tests and benchmarks).
///
/// ```
/// let opts = strata_gen::GenOptions { services: 2, params: 5, ..Default::default() };
/// let files = strata_gen::generate_to_vec(&opts)?;
/// assert_eq!(files.len(), strata_gen::file_count(&opts)?);
/// assert_eq!(files[0].path, "strata.yaml");
/// assert_eq!(files[1].path, "layers/base/svc-0000.yaml");
/// # Ok::<(), strata_gen::GenError>(())
/// ```
pub fn generate_to_vec(opts: &GenOptions) -> Result<Vec<GenFile>, GenError> {
    let mut files = Vec::with_capacity(file_count(opts)?);
    generate(opts, |f| {
        files.push(f);
        Ok::<(), std::convert::Infallible>(())
    })
    .map_err(|e| match e {
        GenOutcomeError::Options(e) => e,
        GenOutcomeError::Sink(never) => match never {},
    })?;
    Ok(files)
}

struct Target {
    name: String,
    provider: usize,
}

/// An override level instance: its directory under `layers/` and how many
/// percent of the base leaves it overrides.
struct Level {
    dir: String,
    percent: usize,
}

/// Derived, validated layout of the project.
struct Plan {
    targets: Vec<Target>,
    levels: Vec<Level>,
}

impl Plan {
    fn new(opts: &GenOptions) -> Self {
        let mut targets = Vec::new();
        for env in &opts.envs {
            for (p, provider) in opts.providers.iter().enumerate() {
                for region in provider_regions(provider) {
                    targets.push(Target {
                        name: format!("{env}/{provider}/{region}"),
                        provider: p,
                    });
                }
            }
        }
        let mut levels = Vec::new();
        for p in &opts.providers {
            levels.push(Level {
                dir: format!("provider/{p}"),
                percent: 5,
            });
        }
        for e in &opts.envs {
            levels.push(Level {
                dir: format!("env/{e}"),
                percent: 10,
            });
        }
        for e in &opts.envs {
            for p in &opts.providers {
                levels.push(Level {
                    dir: format!("env/{e}/{p}"),
                    percent: 3,
                });
            }
        }
        for t in &targets {
            levels.push(Level {
                dir: format!("target/{}", t.name),
                percent: 1,
            });
        }
        Plan { targets, levels }
    }
}

/// One override layer of service `index` at level instance `li`.
fn override_file(
    opts: &GenOptions,
    svc: &Service,
    index: usize,
    li: usize,
    percent: usize,
) -> String {
    let mut rng = Rng::stream(opts.seed, index as u64, li as u64 + 1);
    let wanted = (opts.params * percent + 50) / 100;
    let k = if opts.params > 0 { wanted.max(1) } else { 0 }.min(svc.plain.len());
    let picked: Vec<(u32, OverrideValue)> = rng
        .sample_sorted(svc.plain.len(), k)
        .into_iter()
        .map(|p| {
            let u = svc.plain[p as usize];
            let unit = &svc.units[u as usize];
            let base = svc.node(unit);
            // Draw a new value of the same type, preferring one that differs.
            let value = match unit.kind {
                UnitKind::Scalar(g) => {
                    let mut v = g.sample(&mut rng);
                    for _ in 0..4 {
                        if !matches!(base, model::Node::Leaf(b, _) if *b == v) {
                            break;
                        }
                        v = g.sample(&mut rng);
                    }
                    OverrideValue::Scalar(v)
                }
                UnitKind::List(g, len) => {
                    OverrideValue::List((0..len).map(|_| g.sample(&mut rng)).collect())
                }
            };
            (u, value)
        })
        .collect();
    emit::override_layer(opts.format, svc, &picked)
}

const OWNERS: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yasmin",
];

/// `strata.yaml`. User-provided names are always double-quoted (an env could
/// be called `on` or `123`); generated keys (`team-00`, `svc-0000`) are plain.
fn project_file(opts: &GenOptions, plan: &Plan) -> String {
    let mut rng = Rng::stream(opts.seed, u64::MAX, 0);
    let q = emit::quoted;
    let mut b = String::with_capacity(4096 + opts.services * 88 + plan.targets.len() * 96);
    let _ = writeln!(
        b,
        "# Synthetic Strata project generated by strata-gen.\n\
         # seed: {}, services: {}, params per base layer: {}, layer format: {}\n\
         version: 1",
        opts.seed, opts.services, opts.params, opts.format
    );
    b.push_str("environments:\n");
    for (i, env) in opts.envs.iter().enumerate() {
        b.push_str("  - name: ");
        q(&mut b, env);
        b.push('\n');
        if i + 1 == opts.envs.len() {
            b.push_str("    protected: true\n");
        }
    }
    b.push_str("providers:\n");
    for p in &opts.providers {
        b.push_str("  - ");
        q(&mut b, p);
        b.push('\n');
    }
    b.push_str("targets:\n");
    for t in &plan.targets {
        b.push_str("  - ");
        q(&mut b, &t.name);
        b.push('\n');
    }
    b.push_str("hierarchy:\n");
    for h in HIERARCHY {
        b.push_str("  - ");
        q(&mut b, h);
        b.push('\n');
    }
    let teams = opts.services.div_ceil(10);
    b.push_str("teams:\n");
    for t in 0..teams {
        let _ = writeln!(b, "  team-{t:02}:\n    owners:");
        let first = rng.below_usize(OWNERS.len());
        let count = rng.range_usize(1, 2);
        for o in 0..count {
            b.push_str("      - ");
            q(&mut b, OWNERS[(first + o * 7) % OWNERS.len()]);
            b.push('\n');
        }
    }
    b.push_str("services:\n");
    for s in 0..opts.services {
        let name = service_name(s);
        let _ = writeln!(b, "  {name}:\n    team: \"team-{:02}\"", s / 10);
        if opts.schemas {
            let _ = writeln!(b, "    schema: \"schemas/{name}.yaml\"");
        }
    }
    b.push_str(
        "vars:\n  global:\n    company: \"acme\"\n    org_id: 4242\n    \
         support_email: \"ops@acme.example\"\n  provider:\n",
    );
    for p in &opts.providers {
        let suffix = match p.as_str() {
            "aws" => "amazonaws.com".to_owned(),
            "azure" => "azure.com".to_owned(),
            "gcp" => "googleapis.com".to_owned(),
            other => format!("{other}.example"),
        };
        b.push_str("    ");
        q(&mut b, p);
        b.push_str(":\n      dns_suffix: ");
        q(&mut b, &suffix);
        let _ = writeln!(
            b,
            "\n      account_id: \"{:012}\"",
            rng.below(1_000_000_000_000)
        );
    }
    b.push_str("  env:\n");
    let last = opts.envs.len() - 1;
    for (i, e) in opts.envs.iter().enumerate() {
        let (tier, replicas) = match i {
            _ if i == last => ("gold", 3),
            0 => ("bronze", 1),
            _ => ("silver", 2),
        };
        b.push_str("    ");
        q(&mut b, e);
        let _ = writeln!(b, ":\n      tier: \"{tier}\"\n      replicas: {replicas}");
    }
    b.push_str("  target:\n");
    for (i, t) in plan.targets.iter().enumerate() {
        b.push_str("    ");
        q(&mut b, &t.name);
        let _ = writeln!(
            b,
            ":\n      az_count: {}\n      cidr: \"10.{}.{}.0/24\"",
            rng.range(2, 3),
            t.provider,
            i % 256
        );
    }
    b
}
