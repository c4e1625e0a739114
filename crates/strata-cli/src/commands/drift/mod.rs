//! `strata drift`: where do environments differ, and is each difference intended?
//!
//! Every selected target is compared, parameter by parameter, with the reference
//! environment's target of the same provider and region (else the same provider, else
//! the first), and each difference is classified against `policies/variations.yaml` and
//! the schemas' `x-strata-variation` rules. Failing findings come with remediation
//! options worked out from provenance; `--patch` turns them into a unified diff.
//!
//! - `actual.rs`: `--actual FILE`, desired against a running system's configuration.
//! - `since.rs`: `--since REV`, only the services whose effective configuration changed.
//! - `fix.rs`: `--patch`.
//! - `report.rs`: the text, Markdown and JSON renderings.

mod actual;
mod fix;
mod report;
mod since;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand, ValueEnum};
use rayon::prelude::*;
use strata_core::drift::engine::{Class, Context, Finding, Side, classify_hashed, classify_in};
use strata_core::drift::hash::Hashed;
use strata_core::drift::patch::Repair;
use strata_core::drift::policy::{PolicyDate, VariationPolicy};
use strata_core::drift::remedy::{Becomes, Remedy, Which, suggest};
use strata_core::drift::vocabulary::Vocabulary;
use strata_core::path::segments_to_string;
use strata_core::project::Target;
use strata_core::resolve::{Effective, LayerSlot, Project, ResolveOptions};
use strata_core::sweep::Sweep;
use strata_core::validate::schema::{Pat, path_is_secret, secret_patterns};
use strata_core::value::Node;
use strata_store::crypto::Identities;

use super::load_project_or_rev;
use super::store_opts::{StoreOpts, format_time, now_ms};
use crate::commands::secrets::{identities, reveal};
use crate::error::CliError;
use crate::output::emit;

/// Report formats of `strata drift`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DriftFormat {
    /// Grouped per service, coloured on a terminal.
    Text,
    /// The documented JSON report (docs/drift.md).
    Json,
    /// Tables for a pull-request comment or a wiki page.
    #[value(alias = "md")]
    Markdown,
    /// Only the counts line (a CI gate that needs the exit code, not the details).
    Summary,
}

/// Arguments of `strata drift`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DriftArgs {
    #[command(subcommand)]
    command: Option<DriftCommand>,

    /// Only these services (repeatable; default: all).
    #[arg(long, short = 's', value_name = "SERVICE")]
    service: Vec<String>,

    /// Only the targets of these environments, e.g. `--envs staging,prod`.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "ENV,…",
        conflicts_with = "target"
    )]
    envs: Vec<String>,

    /// Only these targets (repeatable). With --actual: the one target the running system
    /// belongs to.
    #[arg(long, short = 't', value_name = "ENV/PROVIDER/REGION")]
    target: Vec<String>,

    /// The environment the others are compared with (default: the last selected one in
    /// promotion order, usually prod).
    #[arg(long, value_name = "ENV")]
    reference: Option<String>,

    /// Compare a stored revision instead of the working tree.
    #[arg(long, value_name = "REV")]
    rev: Option<String>,

    /// Only re-compare the services whose effective configuration changed since this
    /// stored revision (compares --rev, default HEAD, not the working tree).
    #[arg(long, value_name = "REV", conflicts_with = "actual")]
    since: Option<String>,

    /// Compare the configuration a running system reports (JSON or YAML: one service's
    /// configuration with --service, else `{service: configuration}`) with the desired
    /// configuration of --target.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["envs", "reference"])]
    actual: Option<PathBuf>,

    /// Decrypt secrets with this age identity (default: $STRATA_AGE_IDENTITY when set) so
    /// their values are compared, not their ciphertexts (two encryptions of one value
    /// differ); values are never printed.
    #[arg(long, value_name = "FILE")]
    identity: Option<PathBuf>,

    /// Print a unified diff of the layer files that repairs every drift, violation and
    /// expired variation it can (`git apply` accepts it); a summary goes to stderr.
    #[arg(long, conflicts_with_all = ["rev", "since", "actual"])]
    patch: bool,

    /// Also list the differences the policy expects.
    #[arg(long)]
    all: bool,

    /// Report format.
    #[arg(long, value_enum, default_value_t = DriftFormat::Text)]
    format: DriftFormat,

    /// Same as --format json.
    #[arg(long)]
    json: bool,

    /// The date rule expiry is judged on (YYYY-MM-DD; default: today, UTC).
    #[arg(long, value_name = "DATE")]
    today: Option<String>,

    #[command(flatten)]
    store: StoreOpts,
}

/// `strata drift …` subcommands.
#[derive(Debug, Subcommand)]
pub enum DriftCommand {
    /// Record a finding as intentional: append a variation rule for exactly its parameter
    /// and the two targets to policies/variations.yaml, so the next run says `expected`.
    ///
    /// Example: strata drift ack 2a59cc8d32 --reason "staging talks to a slow sandbox" --expires 2027-01-31
    #[command(verbatim_doc_comment)]
    Ack(AckArgs),
}

/// Arguments of `strata drift ack`.
#[derive(Debug, Args)]
pub struct AckArgs {
    /// The finding's id, as `strata drift` prints it.
    id: String,

    /// Why the difference is intended (required: it is what reviewers read).
    #[arg(long)]
    reason: String,

    /// The last day the difference is allowed (YYYY-MM-DD); afterwards it is reported as
    /// expired.
    #[arg(long, value_name = "DATE")]
    expires: Option<String>,

    /// Who answers for the difference.
    #[arg(long)]
    owner: Option<String>,

    /// The date rule expiry is judged on (YYYY-MM-DD; default: today, UTC).
    #[arg(long, value_name = "DATE")]
    today: Option<String>,
}

/// Runs `strata drift`: exit 1 when any drift, violation or expired variation is found,
/// 2 when the comparison cannot be made.
pub fn run(root: &Path, args: DriftArgs) -> Result<(), CliError> {
    if let Some(DriftCommand::Ack(ack_args)) = args.command {
        return ack(root, ack_args).map_err(as_error);
    }
    let collected = match &args.actual {
        Some(file) => actual::collect(root, &args, file),
        None => collect(root, &args),
    }
    .map_err(as_error)?;
    if args.patch {
        return fix::run(root, &collected);
    }
    let format = if args.json {
        DriftFormat::Json
    } else {
        args.format
    };
    if format != DriftFormat::Json {
        for d in &collected.dead_rules {
            eprintln!(
                "warning: {}:{}: rule #{} ({}) matches no parameter of the compared configurations (dead policy)",
                d["file"].as_str().unwrap_or(VariationPolicy::PATH),
                d["line"],
                d["rule"],
                d["reason"].as_str().unwrap_or("")
            );
        }
    }
    if format == DriftFormat::Json {
        return match report::json(&collected) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(CliError::BrokenPipe),
            Err(e) => Err(CliError::Io(format!("cannot write to stdout: {e}"))),
            Ok(()) => gate(&collected),
        };
    }
    let text = match format {
        DriftFormat::Json => String::new(),
        DriftFormat::Summary => report::summary_line(&collected),
        DriftFormat::Markdown => report::markdown(&collected, args.all),
        DriftFormat::Text => {
            let color =
                crate::report::color_wanted(std::io::IsTerminal::is_terminal(&std::io::stdout()));
            report::text(&collected, args.all, color)
        }
    };
    emit(&text)?;
    gate(&collected)
}

/// Exit 1 when any finding fails the gate.
fn gate(c: &Collected) -> Result<(), CliError> {
    if c.items.iter().any(|i| i.class.fails()) {
        Err(CliError::Findings)
    } else {
        Ok(())
    }
}

/// Errors of `strata drift` exit 2 (1 is the CI gate's "found drift"), so an invalid
/// policy or project is not mistaken for drift.
fn as_error(e: CliError) -> CliError {
    match e {
        CliError::Invalid(m) => CliError::Io(m),
        e => e,
    }
}

/// Runs `strata drift ack`.
fn ack(root: &Path, args: AckArgs) -> Result<(), CliError> {
    if args.reason.trim().is_empty() {
        return Err(CliError::Usage(
            "--reason must say why the difference is intended".into(),
        ));
    }
    if let Some(e) = &args.expires
        && PolicyDate::parse(e).is_none()
    {
        return Err(CliError::Usage(format!(
            "--expires {e}: write a date as YYYY-MM-DD"
        )));
    }
    let select = DriftArgs {
        command: None,
        service: Vec::new(),
        envs: Vec::new(),
        target: Vec::new(),
        reference: None,
        rev: None,
        since: None,
        actual: None,
        identity: None,
        patch: false,
        all: true,
        format: DriftFormat::Json,
        json: true,
        today: args.today.clone(),
        store: StoreOpts {
            store: None,
            author: None,
            labels: Vec::new(),
        },
    };
    let items = collect(root, &select)?.items;
    let finding = items
        .iter()
        .filter_map(|f| f.about.as_deref())
        .find(|f| f.id == args.id)
        .ok_or_else(|| {
            CliError::Usage(format!(
                "no finding `{}`; run `strata drift` to see the ids",
                args.id
            ))
        })?;
    let kind = if finding.class == "missing" {
        "may-be-absent"
    } else {
        "may-differ"
    };
    let mut rule = serde_json::Map::new();
    rule.insert("params".into(), serde_json::json!([finding.param]));
    rule.insert("kind".into(), serde_json::json!(kind));
    rule.insert(
        "targets".into(),
        serde_json::json!([&*finding.reference, &*finding.target]),
    );
    rule.insert("reason".into(), serde_json::json!(args.reason));
    if let Some(o) = &args.owner {
        rule.insert("owner".into(), serde_json::json!(o));
    }
    if let Some(e) = &args.expires {
        rule.insert("expires".into(), serde_json::json!(e));
    }
    let path = root.join(VariationPolicy::PATH);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(CliError::io(&path, e)),
    };
    let count = if text.trim().is_empty() {
        0
    } else {
        VariationPolicy::parse(text.as_bytes(), None)
            .map_err(|d| CliError::Invalid(d.to_string()))?
            .rules
            .len()
    };
    let edited = strata_core::edit::apply_edits(
        &text,
        strata_core::parse::Format::Yaml,
        &[strata_core::edit::Edit::Set {
            path: vec![
                strata_core::path::Segment::Key("variations".into()),
                strata_core::path::Segment::Index(count),
            ],
            value: serde_json::Value::Object(rule),
        }],
    )
    .map_err(|e| CliError::Invalid(format!("{}: {e}", VariationPolicy::PATH)))?;
    crate::write_atomic(&path, edited.as_bytes())?;
    println!(
        "{} is now expected: rule #{} ({kind}) added to {}",
        finding.param,
        count + 1,
        VariationPolicy::PATH
    );
    Ok(())
}

/// One reported finding.
pub(crate) struct Item {
    /// Its class.
    pub class: Class,
    /// What the reports show (`None` with `--format summary`).
    pub about: Option<Box<Described>>,
    /// What `--patch` may do about it (failing findings with a layer-editing option).
    pub repair: Option<Box<Repair>>,
}

/// A finding as the reports show it; serializes to a `findings[]` entry of the JSON
/// report (docs/drift.md). Typed rather than a `serde_json::Value`, which took ten times
/// the memory on reports of hundreds of thousands of findings.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Described {
    pub id: String,
    pub class: &'static str,
    pub fails: bool,
    pub service: Arc<str>,
    pub param: String,
    pub reference: Arc<str>,
    pub target: Arc<str>,
    pub reference_value: Option<String>,
    pub value: Option<String>,
    pub equal: Option<bool>,
    pub reference_at: Option<String>,
    pub at: Option<String>,
    pub rule: Option<Arc<str>>,
    pub rule_at: Option<Arc<str>>,
    pub vocabulary: Option<String>,
    pub secret: bool,
    pub suggestions: Vec<Suggestion>,
}

/// A remediation option as the reports show it.
#[derive(Debug, serde::Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub(crate) enum Suggestion {
    /// Delete the override at `file:line`.
    RemoveOverride {
        side: &'static str,
        edits: Arc<str>,
        file: String,
        line: u32,
        param: String,
        becomes: String,
        fixes: bool,
    },
    /// Write the reference's value into a layer file.
    SetValue {
        file: String,
        create: bool,
        param: String,
        value: String,
    },
    /// A `policies/variations.yaml` rule to paste.
    DeclareVariation { file: &'static str, snippet: String },
}

/// What one comparison run found.
pub(crate) struct Collected {
    /// The findings, per service in comparison order.
    pub items: Vec<Item>,
    /// What the others were compared with: the reference environment, or `desired`.
    pub reference: String,
    /// The date expiry was judged on.
    pub today: PolicyDate,
    /// Rules that match no parameter of any compared configuration (only computed when
    /// every service is compared).
    pub dead_rules: Vec<serde_json::Value>,
    /// With `--since`: which services were re-compared and why the others were not.
    pub since: Option<serde_json::Value>,
    /// Notes for the reader (e.g. secrets that could not be compared).
    pub notes: Vec<String>,
    /// Every `(reference, other)` target pair compared.
    pub pairs: Vec<(String, String)>,
}

/// One target's effective configurations (in `services` order) and layer files.
/// How much a run describes each finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Detail {
    /// Only the class (`--format summary`: the counts and the exit code).
    Counts,
    /// Values, locations, rule and suggestions (the reports).
    Full,
    /// Also the repairs `--patch` tries.
    Patch,
}

/// Everything a comparison of one service between two sides needs to describe findings.
pub(crate) struct Compare<'a> {
    pub project: &'a Project,
    pub cx: Context<'a>,
    /// Each policy rule's reason and `file:line`, shared by its findings.
    pub rules: &'a [(Arc<str>, Arc<str>)],
    pub secrets: Option<&'a [Vec<Pat>]>,
    pub reference_layers: &'a [LayerSlot],
    pub other_layers: &'a [LayerSlot],
    pub detail: Detail,
}

impl Compare<'_> {
    /// Classifies `other` against `reference` for `service` and appends the findings.
    pub fn run(&self, service: &str, reference: Side<'_>, other: Side<'_>, out: &mut Vec<Item>) {
        for f in classify_in(service, reference, other, &self.cx) {
            out.push(self.item(&f, reference, other));
        }
    }

    fn item(&self, f: &Finding<'_>, reference: Side<'_>, other: Side<'_>) -> Item {
        if self.detail == Detail::Counts {
            return Item {
                class: f.class,
                about: None,
                repair: None,
            };
        }
        let secret = self.secrets.is_some_and(|p| path_is_secret(p, &f.path));
        let show = |v: &strata_core::value::Value| -> String {
            if secret {
                "<redacted>".to_string()
            } else {
                v.to_string()
            }
        };
        let mut remedies = if f.class == Class::Expected {
            Vec::new()
        } else {
            suggest(
                f,
                reference,
                other,
                self.project.files(),
                self.reference_layers,
                self.other_layers,
            )
        };
        if secret {
            // A secret may only be copied as ciphertext: with `--identity` the compared
            // values are plaintext, and a patch must never write one into a layer.
            remedies.retain(|r| match r {
                Remedy::SetValue { value, .. } => value
                    .as_str()
                    .is_some_and(strata_store::crypto::is_ciphertext),
                _ => true,
            });
        }
        let suggestions = remedies
            .iter()
            .map(|r| self.suggestion(r, &f.reference_target, &f.other_target, secret))
            .collect();
        let rule = f.rule.map(|i| &self.rules[i]);
        let about = Described {
            id: f.id(),
            class: f.class.as_str(),
            fails: f.class.fails(),
            service: f.service.clone(),
            param: f.param(),
            reference: f.reference_target.clone(),
            target: f.other_target.clone(),
            reference_value: f.reference.map(|n| show(&n.value)),
            value: f.other.map(|n| show(&n.value)),
            equal: secret.then(|| f.reference.map(|n| &n.value) == f.other.map(|n| &n.value)),
            reference_at: f.reference.map(|n| self.project.describe_loc(n.loc)),
            at: f.other.map(|n| self.project.describe_loc(n.loc)),
            rule: rule.map(|r| r.0.clone()),
            rule_at: rule.map(|r| r.1.clone()),
            vocabulary: f.vocabulary.clone(),
            secret,
            suggestions,
        };
        let repair = (self.detail == Detail::Patch
            && f.class.fails()
            && remedies.iter().any(Remedy::edits_layers))
        .then(|| {
            Box::new(Repair {
                id: about.id.clone(),
                service: f.service.to_string(),
                path: f.path.clone(),
                reference_target: f.reference_target.to_string(),
                other_target: f.other_target.to_string(),
                remedies,
            })
        });
        Item {
            class: f.class,
            about: Some(Box::new(about)),
            repair,
        }
    }

    fn suggestion(
        &self,
        r: &Remedy,
        reference: &Arc<str>,
        other: &Arc<str>,
        secret: bool,
    ) -> Suggestion {
        let shown = |v: String| {
            if secret { "<redacted>".to_string() } else { v }
        };
        match r {
            Remedy::RemoveOverride {
                side,
                file,
                line,
                path,
                becomes,
                fixes,
            } => Suggestion::RemoveOverride {
                side: match side {
                    Which::Other => "target",
                    Which::Reference => "reference",
                },
                edits: match side {
                    Which::Other => other.clone(),
                    Which::Reference => reference.clone(),
                },
                file: file.clone(),
                line: *line,
                param: segments_to_string(path),
                becomes: match becomes {
                    Becomes::Value(v) => shown(v.to_string()),
                    Becomes::From(loc) => {
                        format!("the value set at {}", self.project.describe_loc(*loc))
                    }
                    Becomes::Absent => "(absent)".to_string(),
                },
                fixes: *fixes,
            },
            Remedy::SetValue {
                file,
                create,
                path,
                value,
            } => Suggestion::SetValue {
                file: file.clone(),
                create: *create,
                param: segments_to_string(path),
                value: shown(value.to_string()),
            },
            Remedy::DeclareVariation { snippet } => Suggestion::DeclareVariation {
                file: VariationPolicy::PATH,
                snippet: snippet.clone(),
            },
        }
    }
}

/// Each rule's reason and `file:line`, as findings show them.
pub(crate) fn rule_labels(policy: &VariationPolicy) -> Vec<(Arc<str>, Arc<str>)> {
    policy
        .rules
        .iter()
        .map(|r| {
            (
                Arc::from(r.reason.as_str()),
                Arc::from(format!("{}:{}", r.file, r.loc.line)),
            )
        })
        .collect()
}

/// How much `args` need each finding described.
pub(crate) fn detail(args: &DriftArgs) -> Detail {
    if args.patch {
        Detail::Patch
    } else if args.format == DriftFormat::Summary && !args.json {
        Detail::Counts
    } else {
        Detail::Full
    }
}

/// Today's date for expiry: `--today` or the clock (UTC).
pub(crate) fn today(arg: Option<&str>) -> Result<PolicyDate, CliError> {
    match arg {
        Some(d) => PolicyDate::parse(d)
            .ok_or_else(|| CliError::Usage(format!("--today {d}: write a date as YYYY-MM-DD"))),
        None => PolicyDate::parse(&format_time(now_ms())[..10])
            .ok_or_else(|| CliError::Io("cannot read the clock".into())),
    }
}

/// The services selected by `--service` (checked), else all.
pub(crate) fn selected_services(
    project: &Project,
    wanted: &[String],
) -> Result<Vec<String>, CliError> {
    if wanted.is_empty() {
        return Ok(project.config.services.keys().cloned().collect());
    }
    for s in wanted {
        if !project.config.services.contains_key(s) {
            return Err(CliError::Usage(format!(
                "unknown service `{s}`; see `strata services`"
            )));
        }
    }
    Ok(wanted.to_vec())
}

/// Resolves the selected targets and classifies every difference.
fn collect(root: &Path, args: &DriftArgs) -> Result<Collected, CliError> {
    let rev = match (&args.rev, &args.since) {
        (Some(r), _) => Some(r.as_str()),
        (None, Some(_)) => Some("HEAD"),
        (None, None) => None,
    };
    let since_ctx = match &args.since {
        Some(spec) => Some(since::Since::open(
            root,
            &args.store,
            spec,
            rev.unwrap_or("HEAD"),
        )?),
        None => None,
    };
    let project = match &since_ctx {
        Some(s) => s.project()?,
        None => load_project_or_rev(root, rev, &args.store)?,
    };
    let today = today(args.today.as_deref())?;
    let policy = load_policy(&project)?;
    let cfg = &project.config;

    // Targets, in declaration order.
    for t in &args.target {
        if cfg.target(t).is_none() {
            return Err(CliError::Usage(format!(
                "unknown target `{t}`; see `strata targets`"
            )));
        }
    }
    for e in args.envs.iter().chain(args.reference.iter()) {
        if !cfg.environments.iter().any(|x| &x.name == e) {
            let known: Vec<&str> = cfg.environments.iter().map(|x| x.name.as_str()).collect();
            return Err(CliError::Usage(format!(
                "unknown environment `{e}`; declared: {}",
                known.join(", ")
            )));
        }
    }
    let selected: Vec<&Target> = cfg
        .targets
        .iter()
        .filter(|t| args.target.is_empty() || args.target.contains(&t.to_string()))
        .filter(|t| args.envs.is_empty() || args.envs.contains(&t.env))
        .collect();
    let env_rank = |env: &str| cfg.environments.iter().position(|e| e.name == env);
    let reference_env = match &args.reference {
        Some(r) => r.clone(),
        None => selected
            .iter()
            .max_by_key(|t| env_rank(&t.env))
            .map(|t| t.env.clone())
            .ok_or_else(|| CliError::Usage("no target is selected".into()))?,
    };
    // The reference targets: the selected ones of the reference environment (so
    // `--target staging/aws/… --target prod/gcp/…` compares across providers), else all
    // of its targets.
    let mut references: Vec<&Target> = selected
        .iter()
        .copied()
        .filter(|t| t.env == reference_env)
        .collect();
    if references.is_empty() {
        references = cfg
            .targets
            .iter()
            .filter(|t| t.env == reference_env)
            .collect();
    }
    if references.is_empty() {
        return Err(CliError::Usage(format!(
            "environment `{reference_env}` has no target to compare with"
        )));
    }
    let others: Vec<&Target> = selected
        .into_iter()
        .filter(|t| t.env != reference_env)
        .collect();
    let mut services = selected_services(&project, &args.service)?;
    let involved: Vec<&Target> = references.iter().chain(others.iter()).copied().collect();
    let since = match &since_ctx {
        Some(s) => {
            let c = s.changed(&project, &involved, &services)?;
            services = c.changed;
            Some(c.json)
        }
        None => None,
    };

    // Pair every other target with its reference, then resolve only the targets paired.
    let pairs: Vec<(&Target, &Target)> = others
        .iter()
        .map(|other| {
            let reference = references
                .iter()
                .find(|r| r.provider == other.provider && r.region == other.region)
                .or_else(|| references.iter().find(|r| r.provider == other.provider))
                .unwrap_or(&references[0]);
            (*reference, *other)
        })
        .collect();
    let detail = detail(args);
    // Priors say what a value becomes without an override: only suggestions need them.
    let opts = ResolveOptions {
        keep_prior_values: detail != Detail::Counts,
    };
    let mut policy = policy;
    let secrets = read_schemas(&project, &services, &mut policy)?;
    let ids = identity(args.identity.as_deref())?;
    let vocabulary = project.catalogs().ok().map(Vocabulary::new);
    let cx = Context {
        policy: &policy,
        today,
        vocabulary: vocabulary.as_ref(),
    };
    let rules = rule_labels(&policy);
    let mut targets: Vec<&Target> = Vec::new();
    for t in pairs.iter().flat_map(|(r, o)| [*r, *o]) {
        if !targets.contains(&t) {
            targets.push(t);
        }
    }
    let want_dead = args.service.is_empty() && args.since.is_none();
    let mut dead = DeadRules::new(&policy);

    // A sweep resolves one service for every target at a time (sharing the parse of the
    // layers the targets have in common), compares it, and drops it: memory holds the
    // services in flight, not whole targets.
    let names: Vec<&str> = services.iter().map(String::as_str).collect();
    let target_names: Vec<String> = targets.iter().map(ToString::to_string).collect();
    let target_refs: Vec<&str> = target_names.iter().map(String::as_str).collect();
    let position = |t: &Target| targets.iter().position(|x| *x == t).unwrap_or(0);
    let pair_at: Vec<(usize, usize)> = pairs
        .iter()
        .map(|(r, o)| (position(r), position(o)))
        .collect();
    let sweep = Sweep::new(&project, &target_refs, &names, opts)
        .map_err(|e| CliError::from_resolve(e, root))?;
    let outcomes = sweep.run(|i, resolved| -> Result<Outcome, CliError> {
        let service = &services[i];
        let mut effs = resolved
            .into_iter()
            .collect::<Result<Vec<Effective>, _>>()
            .map_err(|e| CliError::from_resolve(e, root))?;
        let mut outcome = Outcome::default();
        let patterns = secrets.get(service);
        if let Some(pats) = patterns {
            match &ids {
                Some(ids) => {
                    for e in &mut effs {
                        reveal(service, &mut e.root, ids)?;
                    }
                }
                None => {
                    for &(r, o) in &pair_at {
                        outcome.ciphertexts += ciphertext_pairs(&effs[r].root, &effs[o].root, pats);
                    }
                }
            }
        }
        if want_dead {
            for e in &effs {
                dead.mark_into(service, &e.root, &mut outcome.used_rules);
            }
        }
        let hashed: Vec<Option<Hashed<'_>>> = (0..effs.len())
            .map(|t| {
                pair_at
                    .iter()
                    .any(|&(r, o)| r == t || o == t)
                    .then(|| Hashed::new(&effs[t].root))
            })
            .collect();
        let slots: Vec<Vec<LayerSlot>> = (0..effs.len())
            .map(|t| {
                if detail == Detail::Counts {
                    Vec::new()
                } else {
                    sweep.session(t).layer_slots(service)
                }
            })
            .collect();
        for &(r, o) in &pair_at {
            let (Some(ha), Some(hb)) = (&hashed[r], &hashed[o]) else {
                continue;
            };
            let compare = Compare {
                project: &project,
                cx,
                rules: &rules,
                secrets: patterns.map(Vec::as_slice),
                reference_layers: &slots[r],
                other_layers: &slots[o],
                detail,
            };
            let reference_side = Side {
                target: targets[r],
                root: &effs[r].root,
            };
            let other_side = Side {
                target: targets[o],
                root: &effs[o].root,
            };
            for f in classify_hashed(service, reference_side, ha, other_side, hb, &cx) {
                outcome
                    .items
                    .push(compare.item(&f, reference_side, other_side));
            }
        }
        Ok(outcome)
    });
    let mut per_service: Vec<Vec<Item>> = Vec::with_capacity(outcomes.len());
    let mut ciphertexts = 0;
    for outcome in outcomes {
        let outcome = outcome?;
        ciphertexts += outcome.ciphertexts;
        dead.add(&outcome.used_rules);
        per_service.push(outcome.items);
    }
    let items: Vec<Item> = per_service.into_iter().flatten().collect();
    let mut notes = Vec::new();
    if ciphertexts > 0 {
        notes.push(format!(
            "{ciphertexts} secret parameter(s) were compared as ciphertext, and two encryptions of one value always differ (so `must-differ` cannot see a shared secret): pass --identity FILE or set STRATA_AGE_IDENTITY to compare the values"
        ));
    }
    let dead_rules = if want_dead { dead.finish() } else { Vec::new() };
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(r, o)| (r.to_string(), o.to_string()))
        .collect();
    Ok(Collected {
        items,
        reference: reference_env,
        today,
        dead_rules,
        since,
        notes,
        pairs,
    })
}

/// Tracks which rules match some parameter of the configurations compared; the others
/// are dead policy.
pub(crate) struct DeadRules<'p> {
    policy: &'p VariationPolicy,
    used: Vec<bool>,
}

impl<'p> DeadRules<'p> {
    pub fn new(policy: &'p VariationPolicy) -> Self {
        DeadRules {
            policy,
            used: vec![false; policy.rules.len()],
        }
    }

    /// Marks in `used` (grown to the number of rules) the rules matching a parameter (or
    /// an enclosing map or list) of `root`.
    pub fn mark_into(&self, service: &str, root: &Node, used: &mut Vec<bool>) {
        let policy = self.policy;
        used.resize(policy.rules.len(), false);
        let candidates: Vec<usize> = policy
            .rules
            .iter()
            .enumerate()
            .filter(|(i, r)| {
                !self.used[*i] && !used[*i] && r.params.iter().any(|g| g.matches_service(service))
            })
            .map(|(i, _)| i)
            .collect();
        if candidates.is_empty() {
            return;
        }
        root.for_each_leaf(&mut Vec::new(), &mut |p, _| {
            for &i in &candidates {
                if !used[i]
                    && (1..=p.len()).any(|n| {
                        policy.rules[i]
                            .params
                            .iter()
                            .any(|g| g.matches(service, &p[..n]))
                    })
                {
                    used[i] = true;
                }
            }
        });
    }

    /// Adds the marks of [`DeadRules::mark_into`].
    pub fn add(&mut self, used: &[bool]) {
        for (mine, theirs) in self.used.iter_mut().zip(used) {
            *mine |= *theirs;
        }
    }

    /// The dead rules, as the JSON report lists them.
    pub fn finish(self) -> Vec<serde_json::Value> {
        self.policy
            .rules
            .iter()
            .zip(&self.used)
            .filter(|(_, u)| !**u)
            .map(|(r, _)| {
                serde_json::json!({"rule": r.index + 1, "file": &*r.file, "line": r.loc.line, "reason": r.reason})
            })
            .collect()
    }
}

/// The age identities to decrypt secrets with: `--identity`, else `STRATA_AGE_IDENTITY`
/// when set, else none (secrets are compared as ciphertext).
pub(crate) fn identity(flag: Option<&Path>) -> Result<Option<Identities>, CliError> {
    match (flag, std::env::var_os("STRATA_AGE_IDENTITY")) {
        (Some(p), _) => identities(Some(p)).map(Some),
        (None, Some(v)) if !v.is_empty() => identities(None).map(Some),
        _ => Ok(None),
    }
}

/// How many secret leaves hold a ciphertext on both sides of a compared pair.
fn ciphertext_pairs(a: &Node, b: &Node, pats: &[Vec<Pat>]) -> usize {
    let cipher =
        |v: &strata_core::value::Value| v.as_str().is_some_and(strata_store::crypto::is_ciphertext);
    let mut n = 0;
    a.for_each_leaf(&mut Vec::new(), &mut |p, x| {
        if path_is_secret(pats, p) && cipher(&x.value) && b.get(p).is_some_and(|y| cipher(&y.value))
        {
            n += 1;
        }
    });
    n
}

/// What comparing one service gives.
#[derive(Default)]
struct Outcome {
    items: Vec<Item>,
    /// Secret leaves compared as ciphertext.
    ciphertexts: usize,
    /// Per variation rule: whether it matched a parameter of the service.
    used_rules: Vec<bool>,
}

/// Reads `policies/variations.yaml` (a missing file is an empty policy).
pub(crate) fn load_policy(project: &Project) -> Result<VariationPolicy, CliError> {
    let bytes = project
        .source()
        .read(VariationPolicy::PATH)
        .map_err(|e| CliError::Io(format!("cannot read {}: {}", e.path, e.message)))?;
    match bytes {
        None => Ok(VariationPolicy::default()),
        Some(b) => VariationPolicy::parse(&b, Some(&project.config))
            .map_err(|d| CliError::Invalid(d.to_string())),
    }
}

/// A schema worth parsing: service, path, whether it marks secrets, whether it declares
/// variations, the document.
type SchemaRead<'a> = (&'a String, &'a str, bool, bool, Node);

/// Reads each service's schema once: the secret patterns of those marking secrets (values
/// there are never printed), and the `x-strata-variation` rules of those declaring some,
/// added to `policy`. A schema mentioning neither is not parsed (generated schemas are
/// large).
pub(crate) fn read_schemas<'a>(
    project: &'a Project,
    services: &'a [String],
    policy: &mut VariationPolicy,
) -> Result<BTreeMap<String, Vec<Vec<Pat>>>, CliError> {
    // Reading and searching the schemas (101 MB in the generated 1M project) runs in
    // parallel; policy rules are then added in service order.
    let read_one = |s: &'a String| -> Result<Option<SchemaRead<'a>>, CliError> {
        let Some(path) = project
            .config
            .services
            .get(s)
            .and_then(|d| d.schema.as_deref())
        else {
            return Ok(None);
        };
        let Some(bytes) = project
            .source()
            .read(path)
            .map_err(|e| CliError::Io(format!("cannot read {}: {}", e.path, e.message)))?
        else {
            return Ok(None);
        };
        let has = |key: &str| memchr::memmem::find(&bytes, key.as_bytes()).is_some();
        let (secret, variation) = (
            has("x-strata-secret"),
            has(strata_core::drift::policy::SCHEMA_KEY),
        );
        if !secret && !variation {
            return Ok(None);
        }
        // A schema that does not parse is `strata check`'s to report.
        let Ok(Some(node)) = project.read_document(path, false) else {
            return Ok(None);
        };
        Ok(Some((s, path, secret, variation, node)))
    };
    // A few services (`--since`, `--service`) are read on this thread: waking the thread
    // pool would cost more.
    let read: Vec<_> = if services.len() < 8 {
        services.iter().map(read_one).collect::<Result<_, _>>()?
    } else {
        services
            .par_iter()
            .map(read_one)
            .collect::<Result<_, _>>()?
    };
    let mut secrets = BTreeMap::new();
    for (s, path, secret, variation, node) in read.into_iter().flatten() {
        if secret {
            secrets.insert(s.clone(), secret_patterns(&node));
        }
        if variation {
            policy
                .add_schema_rules(s, path, &node, Some(&project.config))
                .map_err(|d| CliError::Invalid(d.to_string()))?;
        }
    }
    Ok(secrets)
}
