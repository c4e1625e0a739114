//! `strata access check` and `strata access who-can`: questions to the access policy
//! (`policies/access.yaml`) of the working tree, or of a stored revision with `--rev`.

use std::path::Path;

use clap::{Args, Subcommand};
use strata_core::access::{AccessPolicy, Action, Basis, Request};
use strata_core::path::ParamPath;
use strata_core::resolve::Project;

use super::load_project_or_rev;
use super::store_opts::StoreOpts;
use crate::error::{CliError, display_path};

/// `strata access …`
#[derive(Debug, Subcommand)]
pub enum AccessCommand {
    /// May a principal do an action on a parameter in an environment?
    ///
    /// Prints the decision and the rule that decided it. Exit 0 when allowed, 1 when
    /// denied, 2 on errors (an invalid policy, an unknown action).
    ///
    /// Example:
    ///   strata access check --principal bob --action write --param checkout:db.pool --env prod
    #[command(verbatim_doc_comment)]
    Check(CheckArgs),

    /// List the principals the policy lets do an action on a parameter in an environment,
    /// each with the rule that allows it.
    ///
    /// Example:
    ///   strata access who-can write checkout:db.pool --env prod
    #[command(verbatim_doc_comment)]
    WhoCan(WhoCanArgs),
}

/// Where the policy comes from.
#[derive(Debug, Args)]
pub struct PolicySource {
    /// Read the policy of this stored revision instead of the working tree.
    #[arg(long, value_name = "REV")]
    rev: Option<String>,

    /// Print JSON.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    store: StoreOpts,
}

/// `strata access check`
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Who asks.
    #[arg(long, value_name = "P")]
    principal: String,

    /// What they want to do: read, read-secret, write, approve, deploy, override-freeze,
    /// admin.
    #[arg(long, value_name = "A")]
    action: String,

    /// The parameter, `SERVICE:PATH` (`SERVICE:` alone is the whole service).
    #[arg(long, value_name = "SERVICE:PATH")]
    param: String,

    /// The environment.
    #[arg(long, value_name = "E")]
    env: String,

    /// A role granted from outside the policy (as a token's claims would); repeatable.
    #[arg(long = "role", value_name = "R")]
    roles: Vec<String>,

    #[command(flatten)]
    source: PolicySource,
}

/// `strata access who-can`
#[derive(Debug, Args)]
pub struct WhoCanArgs {
    /// The action.
    action: String,

    /// The parameter, `SERVICE:PATH`.
    param: String,

    /// The environment.
    #[arg(long, value_name = "E")]
    env: String,

    #[command(flatten)]
    source: PolicySource,
}

/// Runs `strata access …`.
pub fn run(root: &Path, cmd: AccessCommand) -> Result<(), CliError> {
    match cmd {
        AccessCommand::Check(args) => check(root, args),
        AccessCommand::WhoCan(args) => who_can(root, args),
    }
}

/// Reads the policy of `project` (the open policy when it has none), rejecting an invalid
/// one with its `file:line`; warnings go to stderr.
pub fn load_policy(project: &Project, root: &Path) -> Result<AccessPolicy, CliError> {
    let bytes = project
        .source()
        .read(AccessPolicy::PATH)
        .map_err(|e| CliError::Io(format!("cannot read {}: {}", e.path, e.message)))?;
    let policy = AccessPolicy::load(bytes.as_deref(), Some(&project.config)).map_err(|e| {
        let mut d = e.diagnostic;
        d.path = std::sync::Arc::from(display_path(root, &d.path));
        CliError::Invalid(d.to_string())
    })?;
    crate::guard::identity_webhook(&policy)?;
    Ok(policy)
}

fn parts(
    root: &Path,
    source: &PolicySource,
    action: &str,
    param: &str,
    env: &str,
) -> Result<(AccessPolicy, Action, ParamPath), CliError> {
    let action: Action = action
        .parse()
        .map_err(|e| CliError::Usage(format!("{e}")))?;
    let param = ParamPath::parse(param).map_err(|e| {
        CliError::Usage(format!(
            "--param `{param}`: {e}\n  hint: write SERVICE:PATH, e.g. checkout:db.pool.max_size"
        ))
    })?;
    let project = load_project_or_rev(root, source.rev.as_deref(), &source.store)?;
    if !project.config.environments.iter().any(|e| e.name == env) {
        let known: Vec<&str> = project
            .config
            .environments
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        return Err(CliError::Usage(format!(
            "unknown environment `{env}`; declared: {}",
            known.join(", ")
        )));
    }
    if !project.config.services.contains_key(&param.service) {
        return Err(CliError::Usage(format!(
            "unknown service `{}`; see `strata services`",
            param.service
        )));
    }
    let policy = load_policy(&project, root)?;
    for w in policy.warnings() {
        eprintln!("warning: {w}");
    }
    Ok((policy, action, param))
}

fn check(root: &Path, args: CheckArgs) -> Result<(), CliError> {
    let (policy, action, param) = parts(root, &args.source, &args.action, &args.param, &args.env)?;
    let request = Request::new(
        &args.principal,
        action,
        &args.env,
        &param.service,
        &param.segments,
    )
    .with_extra_roles(&args.roles);
    let decision = policy.decide(&request);
    if args.source.json {
        let rule = decision.rule().map(|r| {
            serde_json::json!({
                "role": &*r.role,
                "effect": r.effect.as_str(),
                "index": r.index + 1,
                "file": &*r.file,
                "line": r.line,
            })
        });
        let basis = match &decision.basis {
            Basis::Rule(_) => "rule",
            Basis::NoRule => "no-rule",
            Basis::Open => "open",
        };
        let out = serde_json::json!({
            "principal": args.principal,
            "action": action.as_str(),
            "param": param.to_string(),
            "env": args.env,
            "allowed": decision.allowed,
            "basis": basis,
            "rule": rule,
            "decision": decision.to_string(),
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        println!("{request}: {decision}");
    }
    if decision.allowed {
        Ok(())
    } else {
        Err(CliError::Findings)
    }
}

fn who_can(root: &Path, args: WhoCanArgs) -> Result<(), CliError> {
    let (policy, action, param) = parts(root, &args.source, &args.action, &args.param, &args.env)?;
    let found = policy.who_can(action, &args.env, &param.service, &param.segments);
    if args.source.json {
        let list: Vec<serde_json::Value> = found
            .iter()
            .map(|(p, r)| serde_json::json!({"principal": p, "rule": r.to_string()}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&list).unwrap_or_default()
        );
    } else if policy.is_open() {
        println!(
            "anyone: the project has no {} (it is open)",
            AccessPolicy::PATH
        );
    } else if found.is_empty() {
        println!("nobody may {action} {param} in {}", args.env);
    } else {
        for (p, r) in &found {
            println!("{p}\t{r}");
        }
    }
    Ok(())
}
