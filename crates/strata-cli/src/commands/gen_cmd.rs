//! `strata gen`: synthetic projects for tests and benchmarks (see the `strata-gen` crate).

use std::path::PathBuf;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use strata_gen::{Format, GenOptions, GenOutcomeError};

use crate::error::CliError;

/// Arguments of `strata gen`.
#[derive(Debug, Args)]
pub struct GenArgs {
    /// Number of services.
    #[arg(long, default_value_t = 10)]
    services: usize,
    /// Leaf parameters per service in its base layer.
    #[arg(long, default_value_t = 20)]
    params: usize,
    /// Environments, in promotion order.
    #[arg(long, value_delimiter = ',', default_value = "dev,staging,prod")]
    envs: Vec<String>,
    /// Providers.
    #[arg(long, value_delimiter = ',', default_value = "aws,azure,gcp")]
    providers: Vec<String>,
    /// Format of the layer files (strata.yaml is always YAML).
    #[arg(long, default_value = "yaml", value_parser = ["yaml", "json"])]
    format: String,
    /// Seed of the generator: the same seed gives the same bytes.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Do not write schemas (by default every service gets schemas/<service>.yaml with
    /// constraints and CEL rules that the generated configuration satisfies).
    #[arg(long)]
    no_schemas: bool,
    /// Output directory; must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// Runs `strata gen`.
pub fn run(args: GenArgs) -> Result<(), CliError> {
    let format: Format = args
        .format
        .parse()
        .map_err(|e: strata_gen::GenError| CliError::Usage(e.to_string()))?;
    let opts = GenOptions {
        services: args.services,
        params: args.params,
        envs: args.envs,
        providers: args.providers,
        format,
        seed: args.seed,
        schemas: !args.no_schemas,
    };
    let total = strata_gen::file_count(&opts).map_err(|e| CliError::Usage(e.to_string()))?;
    let out = args.out;
    if out.exists() {
        let empty = std::fs::read_dir(&out)
            .map_err(|e| CliError::io(&out, e))?
            .next()
            .is_none();
        if !empty {
            return Err(CliError::Usage(format!(
                "{} exists and is not empty; refusing to mix a generated project into it\n  hint: pass a new directory to --out",
                out.display()
            )));
        }
    }
    // Write into a temporary directory that takes `out`'s place at the end, so an
    // interrupted run leaves nothing that looks like a project.
    let bar = if total >= 1000 {
        ProgressBar::new(total as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} files")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut bytes = 0u64;
    let written = crate::replace_dir_atomically(&out, |tmp| {
        let result = strata_gen::generate(&opts, |file| {
            let path = tmp.join(&file.path);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| CliError::io(dir, e))?;
            }
            std::fs::write(&path, &file.contents).map_err(|e| CliError::io(&path, e))?;
            bytes += file.contents.len() as u64;
            bar.inc(1);
            Ok::<(), CliError>(())
        });
        result.map_err(|e| match e {
            GenOutcomeError::Options(o) => CliError::Usage(o.to_string()),
            GenOutcomeError::Sink(s) => s,
        })
    });
    bar.finish_and_clear();
    written?;
    eprintln!(
        "generated {} services x {} parameters: {total} files, {:.1} MB in {}",
        opts.services,
        opts.params,
        bytes as f64 / 1e6,
        out.display()
    );
    Ok(())
}
