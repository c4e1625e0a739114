//! `strata`: the command-line tool. Argument parsing and output only; every decision
//! is made by `strata-core`.

mod commands;
mod error;
mod fs_source;
mod hooks;
mod output;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::CliError;

/// jemalloc: resolution allocates millions of small keys and strings, where it is markedly
/// faster than the system allocator (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Strata keeps the configuration of many services consistent across environments and
/// clouds: one source of truth in layered YAML/JSON/TOML files, resolved per target with
/// provenance for every parameter.
///
/// Exit codes: 0 success, 1 invalid configuration, 2 usage or I/O error.
#[derive(Debug, Parser)]
#[command(
    name = "strata",
    version,
    propagate_version = true,
    max_term_width = 100
)]
struct Cli {
    /// Project directory (the one holding strata.yaml).
    #[arg(
        long,
        short = 'p',
        global = true,
        env = "STRATA_PROJECT",
        default_value = ".",
        value_name = "DIR"
    )]
    project: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the effective configuration of a service for a target.
    ///
    /// Layers are merged lowest precedence first along the hierarchy in strata.yaml, then
    /// ${…} placeholders are filled in. `--explain` shows the file and line that set every
    /// parameter and what it overrode.
    ///
    /// Examples:
    ///   strata resolve checkout --target prod/aws/us-east-1
    ///   strata resolve checkout --target prod/aws/us-east-1 --get db.pool.max_size
    ///   strata resolve checkout --target prod/aws/us-east-1 --explain
    ///   strata resolve --all --target prod/aws/us-east-1 --out build/prod
    #[command(verbatim_doc_comment)]
    Resolve(commands::resolve::ResolveArgs),

    /// List the targets (ENV/PROVIDER/REGION) in declaration order.
    Targets(commands::list::ListArgs),

    /// List the services with their teams.
    Services(commands::list::ListArgs),

    /// Create a small, valid project to start from.
    ///
    /// Writes strata.yaml and a few layer files into DIR (default: the current directory).
    /// Refuses to overwrite an existing strata.yaml.
    Init(commands::init::InitArgs),

    /// Generate a synthetic project for tests and benchmarks.
    ///
    /// Deterministic for a given --seed. Every service gets a layer file at every level of
    /// the hierarchy, with nesting depth 2–5, lists, overrides at every level and
    /// cross-service references.
    ///
    /// Example: strata gen --services 100 --params 100 --out /tmp/p10k
    #[command(verbatim_doc_comment)]
    Gen(commands::gen_cmd::GenArgs),

    /// Validate configurations: the pipeline gate.
    ///
    /// Every effective configuration of the selected targets × services is checked against
    /// its schema (JSON Schema 2020-12, CEL rules in x-strata-validations, x-strata-secret),
    /// against app contracts (--app), and with --schema-base against the previous project
    /// (breaking schema changes, oldSelf transition rules).
    ///
    /// Exit 0 when nothing at or above --fail-on is found, 1 when something is, 2 on usage
    /// or I/O errors.
    ///
    /// Examples:
    ///   strata check
    ///   strata check --env prod --format sarif --output strata.sarif
    ///   strata check --app checkout=4.18.2 --format markdown
    ///   strata check --schema-base ../main --fail-on warning
    #[command(verbatim_doc_comment)]
    Check(commands::check::CheckArgs),

    /// List the provider catalogs, or show one (`strata providers show aws`): regions,
    /// vocabulary (`${size:medium}` …), naming and tag/label rules, default variables.
    Providers(commands::providers::ProvidersArgs),

    /// Write every effective configuration of one provider, one file per target and
    /// service (OUT/ENV/PROVIDER/REGION/SERVICE.json), atomically.
    ///
    /// Example: strata render --provider aws --env prod --out build/aws
    #[command(verbatim_doc_comment)]
    Render(commands::render::RenderArgs),

    /// Work with schemas (`strata schema diff OLD NEW`).
    #[command(subcommand)]
    Schema(commands::schema::SchemaCommand),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let result = match cli.command {
        Command::Resolve(args) => commands::resolve::run(&cli.project, args),
        Command::Targets(args) => commands::list::targets(&cli.project, args),
        Command::Services(args) => commands::list::services(&cli.project, args),
        Command::Init(args) => commands::init::run(args),
        Command::Gen(args) => commands::gen_cmd::run(args),
        Command::Check(args) => commands::check::run(&cli.project, args),
        Command::Schema(cmd) => commands::schema::run(&cli.project, cmd),
        Command::Providers(args) => commands::providers::run(&cli.project, args),
        Command::Render(args) => commands::render::run(&cli.project, args),
    };
    match result {
        Ok(()) | Err(CliError::BrokenPipe) => ExitCode::SUCCESS,
        Err(CliError::Findings) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

/// Writes `contents` to `path` atomically: a temporary file beside it, then a rename.
pub fn write_atomic(path: &std::path::Path, contents: &[u8]) -> Result<(), CliError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| CliError::io(dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, contents).map_err(|e| CliError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        CliError::io(path, e)
    })
}

/// Replaces directory `out` atomically: `fill` writes the new tree into a sibling temporary
/// directory, which then takes `out`'s place (the old tree is renamed away first and removed
/// last). When `fill` fails, or the swap does, `out` is left exactly as it was.
pub fn replace_dir_atomically(
    out: &std::path::Path,
    fill: impl FnOnce(&std::path::Path) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| CliError::io(parent, e))?;
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "out".into());
    let tmp = parent.join(format!(".{name}.new-{}", std::process::id()));
    let old = parent.join(format!(".{name}.old-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| CliError::io(&tmp, e))?;
    if let Err(e) = fill(&tmp) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if out.exists() {
        std::fs::rename(out, &old).map_err(|e| {
            let _ = std::fs::remove_dir_all(&tmp);
            CliError::io(out, e)
        })?;
    }
    if let Err(e) = std::fs::rename(&tmp, out) {
        if old.exists() {
            let _ = std::fs::rename(&old, out);
        }
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(CliError::io(out, e));
    }
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}
