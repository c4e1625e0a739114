//! `strata check`: the pipeline gate. Validates every selected target × service and prints
//! a report; exit 0 when nothing at or above `--fail-on` is found, 1 when something is,
//! 2 on usage or I/O errors.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::Args;
use strata_core::validate::check::{CheckOptions, check};
use strata_core::validate::report::Severity;

use super::load_project;
use crate::error::{CliError, display_path};
use crate::output::emit;
use crate::report::{RenderOptions, ReportFormat, color_wanted, render};
use crate::write_atomic;

/// The severity that fails a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    /// Fail on errors only.
    Error,
    /// Fail on warnings and errors.
    Warning,
}

/// Arguments of `strata check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Only this environment (repeatable).
    #[arg(long = "env", value_name = "ENV")]
    envs: Vec<String>,
    /// Only this target, ENV/PROVIDER/REGION (repeatable).
    #[arg(long = "target", short = 't', value_name = "ENV/PROVIDER/REGION")]
    targets: Vec<String>,
    /// Only this service (repeatable).
    #[arg(long = "service", short = 's', value_name = "SERVICE")]
    services: Vec<String>,
    /// Check against the contract of this application version, e.g. checkout=4.18.2 (repeatable).
    #[arg(long = "app", value_name = "SERVICE=VERSION", value_parser = parse_app)]
    apps: Vec<(String, semver::Version)>,
    /// The previous version of the project (e.g. a checkout of main): breaking schema
    /// changes fail the check, and transition rules (`oldSelf`) are evaluated.
    #[arg(long, value_name = "DIR")]
    schema_base: Option<PathBuf>,
    /// Report format.
    #[arg(long, short = 'f', value_enum, default_value = "text")]
    format: ReportFormat,
    /// Write the report to FILE instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// The lowest severity that fails the check.
    #[arg(long, value_enum, default_value = "error")]
    fail_on: FailOn,
    /// Skip the contracts' pre-deploy hooks.
    #[arg(long)]
    no_hooks: bool,
}

fn parse_app(s: &str) -> Result<(String, semver::Version), String> {
    let (svc, ver) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: expected SERVICE=VERSION, e.g. checkout=4.18.2"))?;
    let version = semver::Version::parse(ver.trim_start_matches('v'))
        .map_err(|e| format!("`{ver}` is not a semantic version ({e}); write e.g. 4.18.2"))?;
    Ok((svc.to_string(), version))
}

/// Runs `strata check`.
pub fn run(root: &Path, args: CheckArgs) -> Result<(), CliError> {
    let project = load_project(root)?;
    let base = match &args.schema_base {
        Some(dir) if !dir.is_dir() => {
            return Err(CliError::Usage(format!(
                "--schema-base {} is not a directory\n  hint: pass the previous version of the project, e.g. `git worktree add ../main main` and --schema-base ../main",
                dir.display()
            )));
        }
        Some(dir) => Some(load_project(dir).map_err(|e| match e {
            CliError::Usage(m) | CliError::Io(m) => CliError::Usage(format!("--schema-base: {m}")),
            other => other,
        })?),
        None => None,
    };
    let opts = CheckOptions {
        envs: args.envs,
        targets: args.targets,
        services: args.services,
        apps: args.apps,
        base: base.as_ref(),
    };
    let mut run = check(&project, &opts).map_err(|e| CliError::from_resolve(e, root))?;
    if !args.no_hooks {
        for hook in &run.hooks {
            if let Some(finding) = crate::hooks::run(root, hook)
                && let Some(unit) = run.report.units.get_mut(hook.unit)
            {
                unit.findings.push(finding);
            }
        }
    }
    let fail_on = match args.fail_on {
        FailOn::Error => Severity::Error,
        FailOn::Warning => Severity::Warning,
    };
    // Files of the base project are marked "(base) …" by the engine; show them from here.
    let base_dir = args.schema_base.clone();
    let shown = |p: &str| match (p.strip_prefix("(base) "), &base_dir) {
        (Some(rest), Some(dir)) => display_path(dir, rest),
        _ => display_path(root, p),
    };
    let to_terminal = args.output.is_none() && std::io::stdout().is_terminal();
    let text = render(
        &run.report,
        args.format,
        &RenderOptions {
            color: color_wanted(to_terminal),
            display_path: &shown,
            fail_on,
            tool_version: env!("CARGO_PKG_VERSION"),
        },
    );
    match &args.output {
        Some(path) => write_atomic(path, text.as_bytes())?,
        None => emit(&text)?,
    }
    if run.report.fails(fail_on) {
        Err(CliError::Findings)
    } else {
        Ok(())
    }
}
