//! `strata targets` and `strata services`.

use std::path::Path;

use std::fmt::Write as _;

use clap::Args;

use super::load_project;
use crate::error::CliError;
use crate::output::emit;

/// Options shared by the listing commands.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// `strata targets`
pub fn targets(root: &Path, args: ListArgs) -> Result<(), CliError> {
    let project = load_project(root)?;
    let cfg = &project.config;
    if args.json {
        let rows: Vec<_> = cfg
            .targets
            .iter()
            .map(|t| {
                serde_json::json!({
                    "target": t.to_string(), "env": t.env, "provider": t.provider, "region": t.region,
                    "protected": cfg.environments.iter().any(|e| e.name == t.env && e.protected),
                })
            })
            .collect();
        return emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        ));
    }
    let width = cfg
        .targets
        .iter()
        .map(|t| t.to_string().len())
        .max()
        .unwrap_or(6)
        .max(6);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<width$}  {:<10}  {:<8}  REGION",
        "TARGET", "ENV", "PROVIDER"
    );
    for t in &cfg.targets {
        let protected = cfg
            .environments
            .iter()
            .any(|e| e.name == t.env && e.protected);
        let _ = writeln!(
            out,
            "{:<width$}  {:<10}  {:<8}  {}{}",
            t.to_string(),
            t.env,
            t.provider,
            t.region,
            if protected { "  (protected)" } else { "" }
        );
    }
    emit(&out)
}

/// `strata services`
pub fn services(root: &Path, args: ListArgs) -> Result<(), CliError> {
    let project = load_project(root)?;
    let cfg = &project.config;
    if args.json {
        let rows: Vec<_> = cfg
            .services
            .values()
            .map(|s| serde_json::json!({"service": s.name, "team": s.team, "schema": s.schema, "consumes": s.consumes}))
            .collect();
        return emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        ));
    }
    let width = cfg
        .services
        .keys()
        .map(String::len)
        .max()
        .unwrap_or(7)
        .max(7);
    let mut out = String::new();
    let _ = writeln!(out, "{:<width$}  {:<14}  SCHEMA", "SERVICE", "TEAM");
    for s in cfg.services.values() {
        let _ = writeln!(
            out,
            "{:<width$}  {:<14}  {}",
            s.name,
            s.team.as_deref().unwrap_or("-"),
            s.schema.as_deref().unwrap_or("-")
        );
    }
    emit(&out)
}
