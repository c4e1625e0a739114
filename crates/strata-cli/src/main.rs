//! `strata`: the command-line tool. Argument parsing and output only; every decision
//! is made by `strata-core`.

mod commands;
mod error;
mod fs_source;
mod guard;
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
/// Exit codes: 0 success, 1 invalid configuration (or damaged store), 2 usage or I/O error,
/// 3 conflict with a concurrent change, 4 denied by the access policy.
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

    /// Act as this principal (see policies/access.yaml); commands that change the store
    /// are checked against the access policy at the store's head and audited.
    #[arg(long = "as", global = true, env = "STRATA_PRINCIPAL", value_name = "P")]
    acting_as: Option<String>,

    /// Act with this API token (`strata token create`), which names the principal.
    #[arg(
        long = "token",
        global = true,
        env = "STRATA_TOKEN",
        hide_env_values = true,
        value_name = "T"
    )]
    acting_token: Option<String>,

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

    /// Find where environments differ and whether each difference is intended.
    ///
    /// Every selected target is compared with the reference environment's target (same
    /// provider and region when there is one), parameter by parameter, and each difference
    /// is classified against policies/variations.yaml: expected, drift, violation, missing
    /// or expired. Exit 1 when any drift, violation or expired variation is found.
    ///
    /// Examples:
    ///   strata drift --envs staging,prod
    ///   strata drift --service checkout --json
    #[command(verbatim_doc_comment)]
    Drift(commands::drift::DriftArgs),

    /// Store the project as a new revision: the working tree, or a git commit read
    /// straight from the repository (--git REV, no checkout needed). Identical content
    /// makes no new revision.
    ///
    /// Examples:
    ///   strata import -m "baseline"
    ///   strata import --git origin/main
    #[command(verbatim_doc_comment)]
    Import(commands::import::ImportArgs),

    /// Set one parameter in one layer of the stored project (a one-edit changeset).
    ///
    /// Exit 3 when --base is older than the head and someone changed the same parameter.
    ///
    /// Example: strata set checkout:db.pool.max_size 50 --layer env/prod -m "sale"
    #[command(verbatim_doc_comment)]
    Set(commands::changes::SetArgs),

    /// Remove one parameter from one layer of the stored project.
    Unset(commands::changes::UnsetArgs),

    /// Apply a changeset file: several edits against a base revision, in one revision.
    Apply(commands::changes::ApplyArgs),

    /// Write a revision's project files to a directory (e.g. back into your git checkout).
    Export(commands::export::ExportArgs),

    /// List revisions, newest first; with --param only those that changed a parameter.
    Log(commands::history::LogArgs),

    /// Show one revision: who, when, why, and the files and parameters it changed.
    Show(commands::history::ShowArgs),

    /// Compare the effective configurations of two revisions, per target and service.
    Diff(commands::history::DiffArgs),

    /// Show the revision that last changed a parameter's effective value for a target.
    Blame(commands::history::BlameArgs),

    /// Name a revision.
    Tag(commands::changes::TagArgs),

    /// Make a new revision whose content equals an older one.
    RevertTo(commands::changes::RevertArgs),

    /// Verify every blob, manifest, revision and reference of the store (exit 1 on damage).
    Fsck(commands::fsck::FsckArgs),

    /// Encrypted secret values (`strata secret set SERVICE:PATH --target T`).
    /// Ask the access policy (policies/access.yaml): may a principal do something, and
    /// who may.
    #[command(subcommand)]
    Access(commands::access::AccessCommand),

    /// Propose a changeset for approval (the format of `strata apply`): it becomes a
    /// change request, applied once the approval rules of policies/access.yaml are met.
    ///
    /// Example: strata propose raise-pool.yaml --message "Sale weekend" --as alice
    Propose(commands::requests::ProposeArgs),

    /// List change requests.
    Requests(commands::requests::RequestsArgs),

    /// Approve a change request; the last approval it needs applies it.
    Approve(commands::requests::ApproveArgs),

    /// Reject a change request (or withdraw your own).
    Reject(commands::requests::RejectArgs),

    /// Read the audit log; `strata audit verify` checks its hash chain.
    ///
    /// Examples:
    ///   strata audit --since 24h --principal bob
    ///   strata audit --param checkout:db --format jsonl
    ///   strata audit verify
    #[command(verbatim_doc_comment)]
    Audit(commands::audit::AuditArgs),

    /// API tokens: create (shown once, stored as a hash), list, revoke.
    #[command(subcommand)]
    Token(commands::audit::TokenCommand),

    #[command(subcommand)]
    Secret(commands::secrets::SecretCommand),

    /// Encryption keys (`strata keys rotate --recipient age1…`).
    #[command(subcommand)]
    Keys(commands::secrets::KeysCommand),

    /// Serve configurations over HTTP (JSON API under /v1; see docs/server.md).
    ///
    /// Binds 127.0.0.1:7878 by default. A non-loopback address needs TLS, or --insecure
    /// to say explicitly that plain HTTP is wanted. Stops on Ctrl-C or SIGTERM after the
    /// requests in flight finish.
    ///
    /// Example: strata serve --store postgres://strata@db/strata --bind 127.0.0.1:7878
    #[command(verbatim_doc_comment)]
    Serve(commands::serve::ServeArgs),

    /// Try the server on the example project: imports examples/acme into a fresh store in
    /// a temporary directory, creates an admin token, serves it and prints example curl
    /// commands.
    Demo(commands::serve::DemoArgs),

    /// Fetch a service's effective configuration from a Strata server (see docs/client.md).
    ///
    /// Keeps the last good answer in a local cache and prints it, with a note on stderr,
    /// when the server is unreachable. The token comes from --token / STRATA_TOKEN.
    ///
    /// Example: strata get checkout --target prod/aws/us-east-1 --server http://127.0.0.1:7878
    #[command(verbatim_doc_comment)]
    Get(commands::get::GetArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    guard::set_who(guard::Who {
        principal: cli.acting_as.clone(),
        token: cli.acting_token.clone(),
    });
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
        Command::Drift(args) => commands::drift::run(&cli.project, args),
        Command::Import(args) => commands::import::run(&cli.project, args),
        Command::Set(args) => commands::changes::set(&cli.project, args),
        Command::Unset(args) => commands::changes::unset(&cli.project, args),
        Command::Apply(args) => commands::changes::apply(&cli.project, args),
        Command::Export(args) => commands::export::run(&cli.project, args),
        Command::Log(args) => commands::history::log(&cli.project, args),
        Command::Show(args) => commands::history::show(&cli.project, args),
        Command::Diff(args) => commands::history::diff(&cli.project, args),
        Command::Blame(args) => commands::history::blame(&cli.project, args),
        Command::Tag(args) => commands::changes::tag(&cli.project, args),
        Command::RevertTo(args) => commands::changes::revert_to(&cli.project, args),
        Command::Fsck(args) => commands::fsck::run(&cli.project, args),
        Command::Access(cmd) => commands::access::run(&cli.project, cmd),
        Command::Propose(args) => commands::requests::propose(&cli.project, args),
        Command::Requests(args) => commands::requests::list(&cli.project, args),
        Command::Approve(args) => commands::requests::approve(&cli.project, args),
        Command::Reject(args) => commands::requests::reject(&cli.project, args),
        Command::Audit(args) => commands::audit::run(&cli.project, args),
        Command::Token(cmd) => commands::audit::token(&cli.project, cmd),
        Command::Secret(cmd) => commands::secrets::secret(&cli.project, cmd),
        Command::Keys(cmd) => commands::secrets::keys(&cli.project, cmd),
        Command::Serve(args) => commands::serve::serve(&cli.project, args),
        Command::Demo(args) => commands::serve::demo(args),
        Command::Get(args) => commands::get::run(args),
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
