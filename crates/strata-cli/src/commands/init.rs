//! `strata init`: a small, valid project a newcomer can start from.

use std::path::PathBuf;

use clap::Args;

use crate::error::CliError;
use crate::output::emit;
use crate::write_atomic;

/// Arguments of `strata init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to create the project (created if missing).
    #[arg(default_value = ".")]
    dir: PathBuf,
}

const STRATA_YAML: &str = r#"# Strata project: see docs/project-format.md for every field.
version: 1
environments:            # promotion order, first to last
  - name: dev
  - name: staging
  - name: prod
    protected: true
providers: [aws, gcp]
targets:                 # ENV/PROVIDER/REGION
  - dev/aws/us-east-1
  - staging/aws/us-east-1
  - prod/aws/us-east-1
  - prod/gcp/europe-west1
hierarchy:               # lowest precedence first
  - base
  - provider/{provider}
  - env/{env}
  - env/{env}/{provider}
  - target/{env}/{provider}/{region}
teams:
  web: { owners: [you] }
services:
  api:    { team: web }
  worker: { team: web }
vars:
  global: { company: example }
  env:    { prod: { replicas: 3 } }
merge:
  "*:http.allowed_origins": append   # dev adds its origin to the base list
"#;

const FILES: &[(&str, &str)] = &[
    ("strata.yaml", STRATA_YAML),
    (
        "layers/base/api.yaml",
        r#"# Defaults for every target.
http:
  port: 8080
  timeout_ms: 5000
  allowed_origins: ["https://${vars.company}.com"]
replicas: 1
database:
  host: "db.${env}.${vars.company}.internal"
  pool: { min: 2, max: 10 }
"#,
    ),
    (
        "layers/provider/aws/api.yaml",
        "database:\n  $provider:\n    aws: { engine: aurora-postgresql }\n",
    ),
    (
        "layers/env/dev/api.yaml",
        "http:\n  allowed_origins: [\"http://localhost:3000\"]\n",
    ),
    (
        "layers/env/prod/api.yaml",
        "replicas: \"${vars.replicas}\"\ndatabase:\n  pool: { max: 50 }\n",
    ),
    (
        "layers/base/worker.yaml",
        "queue: \"jobs-${env}\"\napi_port: \"${ref:api:http.port}\"\nconcurrency: 4\n",
    ),
];

/// Runs `strata init`.
pub fn run(args: InitArgs) -> Result<(), CliError> {
    let project_file = args.dir.join("strata.yaml");
    if project_file.exists() {
        return Err(CliError::Usage(format!(
            "{} already exists; refusing to overwrite it\n  hint: choose an empty directory: strata init DIR",
            project_file.display()
        )));
    }
    for (path, _) in FILES {
        let p = args.dir.join(path);
        if p.exists() {
            return Err(CliError::Usage(format!(
                "{} already exists; refusing to overwrite it",
                p.display()
            )));
        }
    }
    // strata.yaml last, so an interrupted init never leaves a project that looks complete.
    for (path, contents) in FILES.iter().skip(1).chain(FILES.iter().take(1)) {
        write_atomic(&args.dir.join(path), contents.as_bytes())?;
    }
    let d = args.dir.display();
    emit(&format!(
        "Created a Strata project in {d}. Try:\n  strata --project {d} targets\n  strata --project {d} resolve api --target prod/aws/us-east-1 --explain\n"
    ))
}
