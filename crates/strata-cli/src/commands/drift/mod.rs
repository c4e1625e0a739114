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

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use strata_core::drift::collect::{
    self as drift_collect, DriftError, Reveal, RunOptions, SecretHandling, Selection,
};
use strata_core::drift::policy::{PolicyDate, VariationPolicy};
use strata_core::drift::report::{Collected, Detail};
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

/// How the notes tell a reader to get secrets compared.
pub(crate) const HOW_TO_COMPARE: &str = "pass --identity FILE or set STRATA_AGE_IDENTITY";

/// A drift error as the CLI reports it (paths as seen from the current directory).
pub(crate) fn cli_error(e: DriftError, root: &Path) -> CliError {
    match e {
        DriftError::UnknownTarget(_)
        | DriftError::UnknownEnvironment { .. }
        | DriftError::UnknownService(_)
        | DriftError::NothingSelected
        | DriftError::NoReference(_)
        | DriftError::Secret(_) => CliError::Usage(e.to_string()),
        DriftError::Invalid(_) => CliError::Invalid(e.to_string()),
        DriftError::Source { .. } => CliError::Io(e.to_string()),
        DriftError::Resolve(r) => CliError::from_resolve(r, root),
    }
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
    let err = |e| cli_error(e, root);
    let mut policy = drift_collect::load_policy(&project).map_err(err)?;
    let selection = Selection {
        services: &args.service,
        envs: &args.envs,
        targets: &args.target,
        reference: args.reference.as_deref(),
    };
    let mut plan = drift_collect::plan(&project, &selection).map_err(err)?;
    let since = match &since_ctx {
        Some(s) => {
            let c = s.changed(&project, &plan.involved, &plan.services)?;
            plan.services = c.changed;
            Some(c.json)
        }
        None => None,
    };
    let secrets =
        drift_collect::read_schemas(&project, &plan.services, &mut policy).map_err(err)?;
    let ids = identity(args.identity.as_deref())?;
    let revealer = ids.as_ref().map(|ids| {
        move |service: &str, node: &mut Node| reveal(service, node, ids).map_err(|e| e.to_string())
    });
    let opts = RunOptions {
        detail: detail(args),
        today,
        dead_rules: args.service.is_empty() && args.since.is_none(),
        secrets: SecretHandling {
            reveal: revealer.as_ref().map(|r| r as &Reveal<'_>),
            is_ciphertext: strata_store::crypto::is_ciphertext,
            how_to_compare: HOW_TO_COMPARE,
        },
    };
    drift_collect::run(&project, &plan, &policy, &secrets, since, &opts).map_err(err)
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
