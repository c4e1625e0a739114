//! History commands: `log`, `show`, `diff`, `blame`.

use std::fmt::Write as _;
use std::path::Path;

use clap::Args;
use strata_core::path::ParamPath;
use strata_store::history::{self, revision_json};
use strata_store::model::Revision;

use super::store_opts::{StoreOpts, format_time, rev_name, subject};
use crate::error::CliError;
use crate::output::emit;

/// Arguments of `strata log`.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Only revisions that changed this parameter (SERVICE:PATH, or SERVICE: for any of
    /// the service's parameters) in any layer.
    #[arg(long, value_name = "SERVICE:PATH")]
    param: Option<String>,

    /// With --param: only revisions that changed its effective value for this target,
    /// which also moves when strata.yaml, a schema or a referenced service changes.
    #[arg(
        long,
        short = 't',
        value_name = "ENV/PROVIDER/REGION",
        requires = "param"
    )]
    target: Option<String>,

    /// At most this many revisions, newest first.
    #[arg(long, short = 'n', value_name = "N")]
    limit: Option<usize>,

    /// Print JSON.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    store: StoreOpts,
}

/// Arguments of `strata show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The revision (id or prefix, tag, HEAD, HEAD~N, #N).
    #[arg(default_value = "HEAD")]
    rev: String,

    /// Print JSON.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    store: StoreOpts,
}

/// Arguments of `strata diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The old revision.
    rev1: String,

    /// The new revision (default: the head).
    #[arg(default_value = "HEAD")]
    rev2: String,

    /// Only this target.
    #[arg(long, short = 't', value_name = "ENV/PROVIDER/REGION")]
    target: Option<String>,

    /// Only this service.
    #[arg(long, short = 's', value_name = "SERVICE")]
    service: Option<String>,

    /// Print JSON.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    store: StoreOpts,
}

/// Arguments of `strata blame`.
#[derive(Debug, Args)]
pub struct BlameArgs {
    /// The parameter, SERVICE:PATH.
    param: String,

    /// The target whose effective value is blamed.
    #[arg(long, short = 't', value_name = "ENV/PROVIDER/REGION")]
    target: String,

    /// Print JSON.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    store: StoreOpts,
}

fn param_arg(text: &str) -> Result<ParamPath, CliError> {
    ParamPath::parse(text).map_err(|e| {
        CliError::Usage(format!(
            "{e}\n  hint: write SERVICE:PATH, e.g. checkout:db.pool.max_size"
        ))
    })
}

fn json_out(v: &serde_json::Value) -> Result<(), CliError> {
    emit(&format!(
        "{}\n",
        serde_json::to_string_pretty(v).unwrap_or_default()
    ))
}

fn line(r: &Revision, tags: &[String]) -> String {
    let tags = if tags.is_empty() {
        String::new()
    } else {
        format!(" [{}]", tags.join(", "))
    };
    format!(
        "{}  {}  {}  {}{tags}",
        rev_name(r),
        format_time(r.meta.timestamp_ms),
        r.meta.author,
        subject(&r.meta.message)
    )
}

/// Runs `strata log`.
pub fn log(root: &Path, args: LogArgs) -> Result<(), CliError> {
    let param = args.param.as_deref().map(param_arg).transpose()?;
    let repo = args.store.open_existing(root)?;
    let entries = history::log(&repo, param.as_ref(), args.target.as_deref(), args.limit)
        .map_err(CliError::from_store)?;
    if args.json {
        return json_out(&serde_json::to_value(&entries).unwrap_or_default());
    }
    let mut out = String::new();
    for e in &entries {
        out.push_str(&line(&e.revision, &e.tags));
        if let Some(v) = &e.value {
            let _ = write!(
                out,
                "\n    {} = {v}",
                param.as_ref().map(ToString::to_string).unwrap_or_default()
            );
        }
        out.push('\n');
    }
    emit(&out)
}

/// Runs `strata show`.
pub fn show(root: &Path, args: ShowArgs) -> Result<(), CliError> {
    let repo = args.store.open_existing(root)?;
    let rev = repo.resolve_rev(&args.rev).map_err(CliError::from_store)?;
    let shown = history::show(&repo, &rev).map_err(CliError::from_store)?;
    if args.json {
        return json_out(&serde_json::to_value(&shown).unwrap_or_default());
    }
    let r = &shown.revision;
    let mut out = format!("revision {} (#{})\n", r.id, r.seq);
    if let Some(p) = r.parent {
        let _ = writeln!(out, "parent   {p}");
    }
    let _ = writeln!(out, "author   {}", r.meta.author);
    let _ = writeln!(out, "date     {} UTC", format_time(r.meta.timestamp_ms));
    if let Some(s) = &r.meta.source {
        let _ = writeln!(out, "source   git {s}");
    }
    if !shown.tags.is_empty() {
        let _ = writeln!(out, "tags     {}", shown.tags.join(", "));
    }
    for (k, v) in &r.meta.labels {
        let _ = writeln!(out, "label    {k}={v}");
    }
    out.push('\n');
    for l in r.meta.message.lines() {
        let _ = writeln!(out, "    {l}");
    }
    out.push('\n');
    for f in &shown.files {
        let _ = writeln!(out, "{} {}", f.kind.letter(), f.path);
    }
    if !shown.params.is_empty() {
        let _ = writeln!(
            out,
            "\n{} parameter change{}:",
            shown.params.len(),
            if shown.params.len() == 1 { "" } else { "s" }
        );
        for p in &shown.params {
            let _ = writeln!(out, "  {}  ({})", p.param, p.file);
        }
    }
    emit(&out)
}

/// Runs `strata diff`.
pub fn diff(root: &Path, args: DiffArgs) -> Result<(), CliError> {
    let repo = args.store.open_existing(root)?;
    let a = repo.resolve_rev(&args.rev1).map_err(CliError::from_store)?;
    let b = repo.resolve_rev(&args.rev2).map_err(CliError::from_store)?;
    let diffs = history::diff(
        &repo,
        &a,
        &b,
        args.target.as_deref(),
        args.service.as_deref(),
    )
    .map_err(CliError::from_store)?;
    if args.json {
        return json_out(&serde_json::json!({
            "from": revision_json(&a),
            "to": revision_json(&b),
            "diffs": diffs,
        }));
    }
    let mut out = format!("diff {} .. {}\n", rev_name(&a), rev_name(&b));
    if diffs.is_empty() {
        out.push_str("no effective parameter differs\n");
    }
    for d in &diffs {
        let _ = writeln!(out, "\n{} @ {}", d.service, d.target);
        if let Some(e) = &d.error {
            let _ = writeln!(out, "  cannot compare: {e}");
        }
        for c in &d.changes {
            match c.kind {
                "added" => {
                    let _ = writeln!(
                        out,
                        "  + {} = {}    ({})",
                        c.param,
                        c.new.as_deref().unwrap_or(""),
                        c.new_at.as_deref().unwrap_or("")
                    );
                }
                "removed" => {
                    let _ = writeln!(
                        out,
                        "  - {} = {}    (was {})",
                        c.param,
                        c.old.as_deref().unwrap_or(""),
                        c.old_at.as_deref().unwrap_or("")
                    );
                }
                _ => {
                    let _ = writeln!(
                        out,
                        "  ~ {}: {} -> {}    ({} -> {})",
                        c.param,
                        c.old.as_deref().unwrap_or(""),
                        c.new.as_deref().unwrap_or(""),
                        c.old_at.as_deref().unwrap_or(""),
                        c.new_at.as_deref().unwrap_or("")
                    );
                }
            }
        }
    }
    emit(&out)
}

/// Runs `strata blame`.
pub fn blame(root: &Path, args: BlameArgs) -> Result<(), CliError> {
    let param = param_arg(&args.param)?;
    let repo = args.store.open_existing(root)?;
    let b = history::blame(&repo, &param, &args.target).map_err(CliError::from_store)?;
    if args.json {
        return json_out(&serde_json::to_value(&b).unwrap_or_default());
    }
    emit(&format!(
        "{param} = {} for {}\n  set at {}\n  last changed by {}\n",
        b.value,
        args.target,
        b.at,
        line(&b.revision, &[])
    ))
}
