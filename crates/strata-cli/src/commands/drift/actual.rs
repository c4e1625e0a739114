//! `strata drift --actual FILE --target T [--service S]`: the configuration a running
//! system reports against the desired configuration of its target, classified by the
//! same policy (a `may-differ` rule on `replicas` covers an autoscaler's change).
//!
//! Desired secrets are ciphertext; with an age identity they are decrypted (in memory)
//! and compared, without one they cannot be compared and are left out, which the
//! report says. Secret values are never printed either way.

use std::path::Path;
use std::sync::Arc;

use strata_core::drift::actual::{ActualOptions, compare};
use strata_core::drift::collect::{
    Reveal, SecretHandling, load_policy, read_schemas, selected_services,
};
use strata_core::drift::report::Collected;
use strata_core::parse::{Format, ParseOptions, parse_document};
use strata_core::value::{Node, Value};

use super::{DriftArgs, HOW_TO_COMPARE, cli_error, today};
use crate::commands::load_project_or_rev;
use crate::commands::secrets::reveal;
use crate::error::CliError;

/// Largest report accepted (a running system's configuration, not a dump).
const MAX_BYTES: u64 = 256 * 1024 * 1024;

/// Compares the reported configuration in `file` with the desired one.
pub(super) fn collect(root: &Path, args: &DriftArgs, file: &Path) -> Result<Collected, CliError> {
    let [target] = args.target.as_slice() else {
        return Err(CliError::Usage(
            "--actual needs exactly one --target: the target the running system belongs to".into(),
        ));
    };
    let project = load_project_or_rev(root, args.rev.as_deref(), &args.store)?;
    let t = project.config.target(target).cloned().ok_or_else(|| {
        CliError::Usage(format!("unknown target `{target}`; see `strata targets`"))
    })?;
    let today = today(args.today.as_deref())?;
    let err = |e| cli_error(e, root);
    let mut policy = load_policy(&project).map_err(err)?;

    // The reported document.
    let size = std::fs::metadata(file)
        .map_err(|e| CliError::io(file, e))?
        .len();
    if size > MAX_BYTES {
        return Err(CliError::Usage(format!(
            "{}: {size} bytes is more than the {MAX_BYTES} a configuration report may have",
            file.display()
        )));
    }
    let bytes = std::fs::read(file).map_err(|e| CliError::io(file, e))?;
    let shown: Arc<str> = Arc::from(file.display().to_string());
    let format = match Format::from_path(&shown) {
        Some(f) => f,
        // No known extension: JSON is YAML, so YAML reads both.
        None => Format::Yaml,
    };
    let id = project.files().intern(&shown);
    let doc = parse_document(
        &shown,
        id,
        &bytes,
        format,
        ParseOptions { templates: false },
    )
    .map_err(|e| {
        CliError::Io(format!(
            "{e}\n  hint: --actual takes the JSON or YAML a service reports"
        ))
    })?;

    // Which services the document holds.
    let reported: Vec<(String, Node)> = match args.service.as_slice() {
        [one] => {
            selected_services(&project, &args.service).map_err(err)?;
            vec![(one.clone(), doc)]
        }
        wanted => {
            let Value::Map(m) = doc.value else {
                return Err(CliError::Usage(format!(
                    "{}: without --service the document must map service names to their configurations, found {}",
                    shown,
                    doc.value.a_type_name()
                )));
            };
            let mut out = Vec::new();
            for (name, node) in m.into_iter() {
                if !project.config.services.contains_key(&*name) {
                    return Err(CliError::Usage(format!(
                        "{}:{}: `{name}` is not a service of this project; pass --service S when the file is one service's configuration",
                        shown, node.loc.line
                    )));
                }
                if wanted.is_empty() || wanted.iter().any(|w| **w == *name) {
                    out.push((name.to_string(), node));
                }
            }
            out
        }
    };
    let services: Vec<String> = reported.iter().map(|(s, _)| s.clone()).collect();
    let secrets = read_schemas(&project, &services, &mut policy).map_err(err)?;
    let ids = super::identity(args.identity.as_deref())?;
    let revealer = ids.as_ref().map(|ids| {
        move |service: &str, node: &mut Node| reveal(service, node, ids).map_err(|e| e.to_string())
    });
    let opts = ActualOptions {
        detail: super::detail(args),
        today,
        secrets: SecretHandling {
            reveal: revealer.as_ref().map(|r| r as &Reveal<'_>),
            is_ciphertext: strata_store::crypto::is_ciphertext,
            how_to_compare: HOW_TO_COMPARE,
        },
        placeholder: None,
    };
    compare(&project, &t, policy, &secrets, reported, &opts).map_err(err)
}
