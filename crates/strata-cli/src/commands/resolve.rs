//! `strata resolve`: effective configurations, one parameter, or provenance.

use std::path::{Path, PathBuf};

use clap::Args;
use strata_core::path::{Segment, parse_segments, segments_to_string};
use strata_core::resolve::{Effective, ResolveOptions, TargetSession};
use strata_core::value::Value;

use super::load_project_or_rev;
use crate::error::{CliError, display_path};
use crate::output::{OutputFormat, emit, explain, render, scalar_text};
use crate::write_atomic;

/// Arguments of `strata resolve`.
#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// The service to resolve (omit with --all).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    service: Option<String>,

    /// The target, ENV/PROVIDER/REGION (see `strata targets`).
    #[arg(long, short = 't', value_name = "ENV/PROVIDER/REGION")]
    target: String,

    /// Resolve every service: one JSON/YAML object keyed by service, or one file per
    /// service with --out.
    #[arg(long)]
    all: bool,

    /// Output format. With --get on a scalar and no --format, the bare value is printed.
    #[arg(long, short = 'f', value_enum)]
    format: Option<OutputFormat>,

    /// Print only this parameter, e.g. `db.pool.max_size` or `hosts[0]`.
    #[arg(long, value_name = "PATH", conflicts_with = "all")]
    get: Option<String>,

    /// Show the file:line:col that set every parameter and what it overrode.
    #[arg(long, conflicts_with_all = ["all", "format"])]
    explain: bool,

    /// With --all: write one file per service into DIR instead of printing.
    #[arg(long, value_name = "DIR", requires = "all")]
    out: Option<PathBuf>,

    /// Resolve a stored revision (id, tag, HEAD, HEAD~N, #N) instead of the working tree.
    #[arg(long, value_name = "REV")]
    rev: Option<String>,

    /// Decrypt ENC[…] secret values with the age identity file in $STRATA_AGE_IDENTITY
    /// (or --identity). Without it, secrets are printed as ciphertext.
    #[arg(long, conflicts_with = "explain")]
    reveal: bool,

    /// The age identity file for --reveal.
    #[arg(long, value_name = "FILE", requires = "reveal")]
    identity: Option<PathBuf>,

    #[command(flatten)]
    store: super::store_opts::StoreOpts,
}

/// Runs `strata resolve`.
pub fn run(root: &Path, args: ResolveArgs) -> Result<(), CliError> {
    // clap's `requires = "all"` is always satisfied by a flag (it defaults to false).
    if args.out.is_some() && !args.all {
        return Err(CliError::Usage(
            "--out writes one file per service and needs --all\n  hint: strata resolve --all --target ENV/PROVIDER/REGION --out DIR".into(),
        ));
    }
    if let Some(dir) = &args.out
        && dir.exists()
        && !dir.is_dir()
    {
        return Err(CliError::Usage(format!(
            "--out {} is a file, not a directory\n  hint: pass a directory; it is created if missing",
            dir.display()
        )));
    }
    let ids = if args.reveal {
        Some(super::secrets::identities(args.identity.as_deref())?)
    } else {
        None
    };
    let project = load_project_or_rev(root, args.rev.as_deref(), &args.store)?;
    let opts = ResolveOptions {
        keep_prior_values: args.explain,
    };
    let session = project
        .session(&args.target, opts)
        .map_err(|e| CliError::from_resolve(e, root))?;
    warn_unknown_files(&session, root);
    if args.all {
        return resolve_all(root, session, args, ids.as_ref());
    }
    let service = args.service.as_deref().unwrap_or_default();
    let mut eff = session
        .resolve(service)
        .map_err(|e| CliError::from_resolve(e, root))?;
    if let Some(ids) = &ids {
        guard_reveal(root, &args, &[&eff])?;
        super::secrets::reveal(&eff.service, &mut eff.root, ids)?;
    }
    let (node, prefix) = match &args.get {
        None => (&eff.root, Vec::new()),
        Some(p) => {
            let segs = parse_segments(p).map_err(|e| CliError::Usage(format!("--get: {e}")))?;
            let node = eff.get(&segs).ok_or_else(|| missing_param(&eff, &segs))?;
            (node, segs)
        }
    };
    if args.explain {
        let text = format!(
            "# {service} @ {}\n{}",
            eff.target,
            explain(&project, root, node, &prefix)
        );
        return emit(&text);
    }
    let text = match (args.get.is_some(), args.format, &node.value) {
        (true, None, v) if v.is_scalar() => format!("{}\n", scalar_text(v)),
        (_, format, v) => render(v, format.unwrap_or(OutputFormat::Json))?,
    };
    emit(&text)
}

fn missing_param(eff: &Effective, segs: &[Segment]) -> CliError {
    let mut depth = 0;
    while depth < segs.len() && eff.get(&segs[..=depth]).is_some() {
        depth += 1;
    }
    let hint = match eff.get(&segs[..depth]).map(|n| &n.value) {
        Some(Value::List(items)) if depth > 0 => format!(
            "`{}` is a list of {} item{}{}",
            segments_to_string(&segs[..depth]),
            items.len(),
            if items.len() == 1 { "" } else { "s" },
            if items.is_empty() {
                String::new()
            } else {
                format!(", indices 0 to {}", items.len() - 1)
            }
        ),
        Some(Value::Map(m)) => format!(
            "keys at `{}`: {}",
            if depth == 0 {
                "(top)".to_string()
            } else {
                segments_to_string(&segs[..depth])
            },
            m.keys().map(|k| &**k).collect::<Vec<_>>().join(", ")
        ),
        _ => "run without --get to see the whole configuration".into(),
    };
    CliError::Usage(format!(
        "{}:{} does not exist for target {}\n  hint: {hint}",
        eff.service,
        segments_to_string(segs),
        eff.target
    ))
}

fn warn_unknown_files(session: &TargetSession<'_>, root: &Path) {
    for f in session.unknown_files() {
        eprintln!(
            "warning: {} matches no service declared in strata.yaml and is ignored",
            display_path(root, f)
        );
    }
}

/// Revealing a stored revision's secrets takes `read-secret` on each of them and is
/// audited. (The working tree's files are the reader's already: whoever holds the
/// identity decrypts them without Strata.)
fn guard_reveal(
    root: &Path,
    args: &ResolveArgs,
    configs: &[&strata_core::resolve::Effective],
) -> Result<(), CliError> {
    if args.rev.is_none() {
        return Ok(());
    }
    let repo = args.store.open_existing(root)?;
    let guard = crate::guard::Guard::new(&repo)?;
    let env = args
        .target
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    guard.check_secret_reads(&env, configs)
}

fn resolve_all(
    root: &Path,
    session: TargetSession<'_>,
    args: ResolveArgs,
    ids: Option<&strata_store::crypto::Identities>,
) -> Result<(), CliError> {
    let mut all = session
        .resolve_all()
        .map_err(|e| CliError::from_resolve_all(e, root))?;
    if let Some(ids) = ids {
        guard_reveal(root, &args, &all.iter().collect::<Vec<_>>())?;
        for eff in &mut all {
            super::secrets::reveal(&eff.service, &mut eff.root, ids)?;
        }
    }
    let format = args.format.unwrap_or(OutputFormat::Json);
    match args.out {
        Some(dir) => {
            // Render every file before writing any, so a service that cannot be rendered
            // (a null in TOML) leaves no half-written directory behind.
            let mut files = Vec::with_capacity(all.len());
            for eff in &all {
                let text = render(&eff.root.value, format).map_err(|e| match e {
                    CliError::Invalid(m) => CliError::Invalid(format!("{}: {m}", eff.service)),
                    other => other,
                })?;
                files.push((
                    dir.join(format!("{}.{}", eff.service, format.extension())),
                    text,
                ));
            }
            for (path, text) in &files {
                write_atomic(path, text.as_bytes())?;
            }
            eprintln!("wrote {} files to {}", all.len(), dir.display());
            Ok(())
        }
        None => {
            if format == OutputFormat::Env {
                return Err(CliError::Usage(
                    "--all prints one object keyed by service; env format needs --out DIR (one file per service)".into(),
                ));
            }
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
            crate::output::write_keyed(&mut out, all, format)
        }
    }
}
