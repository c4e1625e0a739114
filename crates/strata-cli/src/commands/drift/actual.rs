//! `strata drift --actual FILE --target T [--service S]`: the configuration a running
//! system reports against the desired configuration of its target, classified by the
//! same policy (a `may-differ` rule on `replicas` covers an autoscaler's change).
//!
//! Desired secrets are ciphertext; with an age identity they are decrypted (in memory)
//! and compared, without one they cannot be compared and are left out, which the
//! report says. Secret values are never printed either way.

use std::path::Path;
use std::sync::Arc;

use strata_core::drift::engine::{Context, Side};
use strata_core::drift::policy::VariationKind;
use strata_core::drift::vocabulary::Vocabulary;
use strata_core::parse::{Format, ParseOptions, parse_document};
use strata_core::path::Segment;
use strata_core::resolve::ResolveOptions;
use strata_core::validate::schema::{is_encrypted, path_is_secret};
use strata_core::value::{Node, Value};

use super::{Collected, Compare, DriftArgs, load_policy, read_schemas, selected_services, today};
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
    let mut policy = load_policy(&project)?;

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
            selected_services(&project, &args.service)?;
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
    let secrets = read_schemas(&project, &services, &mut policy)?;
    // `must-differ` is about two targets (a shared database); a running system equal to
    // its desired configuration is the goal, not a violation.
    policy.rules.retain(|r| r.kind != VariationKind::MustDiffer);
    for (i, r) in policy.rules.iter_mut().enumerate() {
        r.index = i;
    }
    let ids = super::identity(args.identity.as_deref())?;
    let vocabulary = project.catalogs().ok().map(Vocabulary::new);
    let cx = Context {
        policy: &policy,
        today,
        vocabulary: vocabulary.as_ref(),
    };
    let rules = super::rule_labels(&policy);
    let session = project
        .session(
            target,
            ResolveOptions {
                keep_prior_values: true,
            },
        )
        .map_err(|e| CliError::from_resolve(e, root))?;

    let mut items = Vec::new();
    let mut uncompared = 0usize;
    for (service, mut actual) in reported {
        let mut desired = session
            .resolve(&service)
            .map_err(|e| CliError::from_resolve(e, root))?
            .root;
        let pats = secrets.get(&service).map(Vec::as_slice);
        match &ids {
            Some(ids) => reveal(&service, &mut desired, ids)?,
            None => {
                if let Some(pats) = pats {
                    uncompared += leave_out_secrets(&desired, &mut actual, pats);
                }
            }
        }
        let compare = Compare {
            project: &project,
            cx,
            rules: &rules,
            secrets: pats,
            reference_layers: &[],
            other_layers: &[],
            detail: super::detail(args),
        };
        let start = items.len();
        compare.run(
            &service,
            Side {
                target: &t,
                root: &desired,
            },
            Side {
                target: &t,
                root: &actual,
            },
            &mut items,
        );
        let (desired_label, actual_label): (Arc<str>, Arc<str>) = (
            Arc::from(format!("{target} (desired)")),
            Arc::from(format!("{target} (actual)")),
        );
        for about in items[start..]
            .iter_mut()
            .filter_map(|i| i.about.as_deref_mut())
        {
            about.reference = desired_label.clone();
            about.target = actual_label.clone();
        }
    }
    let mut notes = Vec::new();
    if uncompared > 0 {
        notes.push(format!(
            "{uncompared} secret parameter(s) were not compared: the desired values are encrypted; pass --identity FILE or set STRATA_AGE_IDENTITY"
        ));
    }
    if items.iter().any(|i| i.class.fails()) {
        notes.push(format!(
            "the running system differs from the desired configuration of {target}: redeploy it, or change the layers if the running values are right"
        ));
    }
    Ok(Collected {
        items,
        reference: format!("the desired configuration of {target}"),
        today,
        dead_rules: Vec::new(),
        since: None,
        notes,
        pairs: Vec::new(),
    })
}

/// Makes the reported value of every encrypted desired secret equal to the desired one,
/// so that a ciphertext is not compared with a plaintext; returns how many.
fn leave_out_secrets(
    desired: &Node,
    actual: &mut Node,
    pats: &[Vec<strata_core::validate::schema::Pat>],
) -> usize {
    let mut paths: Vec<(Vec<Segment>, Value)> = Vec::new();
    desired.for_each_leaf(&mut Vec::new(), &mut |p, n| {
        if is_encrypted(&n.value) && path_is_secret(pats, p) {
            paths.push((p.to_vec(), n.value.clone()));
        }
    });
    let mut n = 0;
    for (p, v) in paths {
        if let Some(node) = actual.get_mut(&p) {
            node.value = v;
            n += 1;
        }
    }
    n
}
