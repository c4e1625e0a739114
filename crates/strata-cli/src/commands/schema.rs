//! `strata schema diff OLD NEW`: which schema changes break today's configuration.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand};
use strata_core::parse::{Format, ParseOptions, parse_document};
use strata_core::resolve::ResolveOptions;
use strata_core::validate::evolution::{Change, diff};
use strata_core::validate::report::{Report, Severity};
use strata_core::value::{FileId, Node};

use crate::error::{CliError, display_path};
use crate::output::emit;
use crate::report::{RenderOptions, ReportFormat, color_wanted, render};

/// `strata schema …`
#[derive(Debug, Subcommand)]
pub enum SchemaCommand {
    /// Classify the changes between two versions of a schema as breaking or compatible.
    ///
    /// With --service (and a project), a removed property or tightened constraint is
    /// breaking only if today's configuration of some target is affected; without it, every
    /// change that could break a configuration is reported as breaking.
    /// Exit 1 when a change is breaking, 0 otherwise.
    Diff(DiffArgs),
}

/// Arguments of `strata schema diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The old schema file.
    old: PathBuf,
    /// The new schema file.
    new: PathBuf,
    /// The service whose configurations (every target of --project) decide what breaks.
    #[arg(long, short = 's')]
    service: Option<String>,
    /// Report format.
    #[arg(long, short = 'f', value_enum, default_value = "text")]
    format: ReportFormat,
}

fn read(path: &Path) -> Result<Node, CliError> {
    let bytes = std::fs::read(path).map_err(|e| CliError::io(path, e))?;
    let shown: Arc<str> = Arc::from(path.display().to_string());
    let format = Format::from_path(&shown).unwrap_or(Format::Yaml);
    parse_document(
        &shown,
        FileId(0),
        &bytes,
        format,
        ParseOptions { templates: false },
    )
    .map_err(|d| CliError::Invalid(d.to_string()))
}

/// Runs `strata schema …`.
pub fn run(root: &Path, cmd: SchemaCommand) -> Result<(), CliError> {
    let SchemaCommand::Diff(args) = cmd;
    let old = read(&args.old)?;
    let new = read(&args.new)?;
    let old_name: Arc<str> = Arc::from(args.old.display().to_string());
    let new_name: Arc<str> = Arc::from(args.new.display().to_string());
    let mut changes: Vec<Change> = diff(&old_name, &old, &new_name, &new);
    let service = args.service.clone().unwrap_or_else(|| {
        args.new
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default()
    });
    match &args.service {
        Some(svc) => {
            let project = super::load_project(root)?;
            for target in project.config.targets.clone() {
                let eff = project
                    .resolve(svc, &target.to_string(), ResolveOptions::default())
                    .map_err(|e| CliError::from_resolve(e, root))?;
                for c in &mut changes {
                    c.observe(&target.to_string(), &eff.root);
                }
            }
        }
        None => changes.iter_mut().for_each(Change::assume_worst),
    }
    let report = Report {
        units: Vec::new(),
        project: changes.iter().map(|c| c.finding(&service)).collect(),
    };
    let shown = |p: &str| display_path(Path::new("."), p);
    let text = render(
        &report,
        args.format,
        &RenderOptions {
            color: color_wanted(std::io::IsTerminal::is_terminal(&std::io::stdout())),
            display_path: &shown,
            fail_on: Severity::Error,
            tool_version: env!("CARGO_PKG_VERSION"),
        },
    );
    emit(&text)?;
    if report.fails(Severity::Error) {
        Err(CliError::Findings)
    } else {
        Ok(())
    }
}
