//! `strata render --provider P`: every effective configuration for one provider, one file
//! per target and service, written atomically (a temporary directory, then a rename).

use std::path::{Path, PathBuf};

use clap::Args;
use strata_core::resolve::ResolveOptions;

use super::load_project;
use crate::error::CliError;
use crate::output::{OutputFormat, render};

/// Arguments of `strata render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The provider whose targets to render.
    #[arg(long)]
    provider: String,
    /// Only this environment (repeatable).
    #[arg(long = "env", value_name = "ENV")]
    envs: Vec<String>,
    /// Output directory (replaced as a whole): OUT/ENV/PROVIDER/REGION/SERVICE.json.
    #[arg(long, default_value = "rendered", value_name = "DIR")]
    out: PathBuf,
    /// File format.
    #[arg(long, short = 'f', value_enum, default_value = "json")]
    format: OutputFormat,
}

/// Runs `strata render`.
pub fn run(root: &Path, args: RenderArgs) -> Result<(), CliError> {
    if !matches!(args.format, OutputFormat::Json | OutputFormat::Yaml) {
        return Err(CliError::Usage("render writes json or yaml".into()));
    }
    let project = load_project(root)?;
    let cfg = &project.config;
    if !cfg.providers.contains(&args.provider) {
        return Err(CliError::Usage(format!(
            "unknown provider `{}`\n  hint: the project's providers: {}",
            args.provider,
            cfg.providers.join(", ")
        )));
    }
    for e in &args.envs {
        if !cfg.environments.iter().any(|x| &x.name == e) {
            return Err(CliError::Usage(format!(
                "unknown environment `{e}`\n  hint: declared environments: {}",
                cfg.environments
                    .iter()
                    .map(|x| x.name.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let targets: Vec<_> = cfg
        .targets
        .iter()
        .filter(|t| {
            t.provider == args.provider && (args.envs.is_empty() || args.envs.contains(&t.env))
        })
        .collect();
    if targets.is_empty() {
        return Err(CliError::Usage(format!(
            "no target of provider `{}` in the selected environments",
            args.provider
        )));
    }
    // Everything is rendered in memory first: an invalid configuration writes nothing.
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    for t in &targets {
        let name = t.to_string();
        let all = project
            .session(&name, ResolveOptions::default())
            .map_err(|e| CliError::from_resolve(e, root))?
            .resolve_all()
            .map_err(|e| CliError::from_resolve_all(e, root))?;
        for eff in all {
            let rel = PathBuf::from(&t.env)
                .join(&t.provider)
                .join(&t.region)
                .join(format!("{}.{}", eff.service, args.format.extension()));
            files.push((rel, render(&eff.root.value, args.format)?));
        }
    }
    crate::replace_dir_atomically(&args.out, |tmp| {
        for (rel, text) in &files {
            let path = tmp.join(rel);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| CliError::io(dir, e))?;
            }
            std::fs::write(&path, text).map_err(|e| CliError::io(&path, e))?;
        }
        Ok(())
    })?;
    let out = &args.out;
    eprintln!(
        "rendered {} configurations of {} target(s) to {}",
        files.len(),
        targets.len(),
        out.display()
    );
    Ok(())
}
