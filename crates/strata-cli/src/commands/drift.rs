//! `strata drift`: where do environments differ, and is each difference intended?
//!
//! Every selected target is compared, parameter by parameter, with the reference
//! environment's target of the same provider and region (else the same provider, else
//! the first), and each difference is classified against `policies/variations.yaml`.

use std::collections::BTreeMap;
use std::path::Path;

use clap::{Args, Subcommand};
use strata_core::drift::engine::{Class, Side, classify};
use strata_core::drift::policy::{PolicyDate, VariationPolicy};
use strata_core::project::Target;
use strata_core::resolve::{Effective, Project, ResolveOptions};
use strata_core::validate::schema::{Pat, path_is_secret, secret_patterns};

use super::load_project_or_rev;
use super::store_opts::{StoreOpts, format_time, now_ms};
use crate::error::CliError;
use crate::output::emit;

/// Arguments of `strata drift`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DriftArgs {
    #[command(subcommand)]
    command: Option<DriftCommand>,

    /// Only these services (repeatable; default: all).
    #[arg(long, short = 's', value_name = "SERVICE")]
    service: Vec<String>,

    /// Only the targets of these environments, e.g. `--envs staging,prod`.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "ENV,…",
        conflicts_with = "target"
    )]
    envs: Vec<String>,

    /// Only these targets (repeatable).
    #[arg(long, short = 't', value_name = "ENV/PROVIDER/REGION")]
    target: Vec<String>,

    /// The environment the others are compared with (default: the last selected one in
    /// promotion order, usually prod).
    #[arg(long, value_name = "ENV")]
    reference: Option<String>,

    /// Compare a stored revision instead of the working tree.
    #[arg(long, value_name = "REV")]
    rev: Option<String>,

    /// Also list the differences the policy expects.
    #[arg(long)]
    all: bool,

    /// Print JSON.
    #[arg(long)]
    json: bool,

    /// The date rule expiry is judged on (YYYY-MM-DD; default: today, UTC).
    #[arg(long, value_name = "DATE")]
    today: Option<String>,

    #[command(flatten)]
    store: StoreOpts,
}

/// `strata drift …` subcommands.
#[derive(Debug, Subcommand)]
pub enum DriftCommand {
    /// Record a finding as intentional: append a variation rule for exactly its parameter
    /// and the two targets to policies/variations.yaml, so the next run says `expected`.
    ///
    /// Example: strata drift ack 2a59cc8d32 --reason "staging talks to a slow sandbox" --expires 2027-01-31
    #[command(verbatim_doc_comment)]
    Ack(AckArgs),
}

/// Arguments of `strata drift ack`.
#[derive(Debug, Args)]
pub struct AckArgs {
    /// The finding's id, as `strata drift` prints it.
    id: String,

    /// Why the difference is intended (required: it is what reviewers read).
    #[arg(long)]
    reason: String,

    /// The last day the difference is allowed (YYYY-MM-DD); afterwards it is reported as
    /// expired.
    #[arg(long, value_name = "DATE")]
    expires: Option<String>,

    /// Who answers for the difference.
    #[arg(long)]
    owner: Option<String>,

    /// The date rule expiry is judged on (YYYY-MM-DD; default: today, UTC).
    #[arg(long, value_name = "DATE")]
    today: Option<String>,
}

/// Runs `strata drift`: exit 1 when any drift, violation or expired variation is found.
pub fn run(root: &Path, args: DriftArgs) -> Result<(), CliError> {
    if let Some(DriftCommand::Ack(ack_args)) = args.command {
        return ack(root, ack_args);
    }
    let Collected {
        findings,
        reference_env,
        today,
        dead_rules,
    } = collect(root, &args)?;
    if !args.json {
        for d in &dead_rules {
            eprintln!(
                "warning: {}:{}: rule #{} ({}) matches no parameter of the compared configurations (dead policy)",
                VariationPolicy::PATH,
                d["line"],
                d["rule"],
                d["reason"].as_str().unwrap_or("")
            );
        }
    }
    let failing = findings
        .iter()
        .filter(|f| f["fails"].as_bool() == Some(true))
        .count();
    if args.json {
        emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&serde_json::json!({
                "version": 1,
                "reference": reference_env,
                "today": today.to_string(),
                "findings": findings,
                "dead_rules": dead_rules,
            }))
            .unwrap_or_default()
        ))?;
    } else {
        emit(&render_text(&findings, &reference_env, args.all))?;
    }
    if failing > 0 {
        Err(CliError::Findings)
    } else {
        Ok(())
    }
}

/// Runs `strata drift ack`.
fn ack(root: &Path, args: AckArgs) -> Result<(), CliError> {
    if args.reason.trim().is_empty() {
        return Err(CliError::Usage(
            "--reason must say why the difference is intended".into(),
        ));
    }
    if let Some(e) = &args.expires
        && PolicyDate::parse(e).is_none()
    {
        return Err(CliError::Usage(format!(
            "--expires {e}: write a date as YYYY-MM-DD"
        )));
    }
    let select = DriftArgs {
        command: None,
        service: Vec::new(),
        envs: Vec::new(),
        target: Vec::new(),
        reference: None,
        rev: None,
        all: true,
        json: true,
        today: args.today.clone(),
        store: StoreOpts {
            store: None,
            author: None,
            labels: Vec::new(),
        },
    };
    let findings = collect(root, &select)?.findings;
    let finding = findings
        .iter()
        .find(|f| f["id"].as_str() == Some(args.id.as_str()))
        .ok_or_else(|| {
            CliError::Usage(format!(
                "no finding `{}`; run `strata drift` to see the ids",
                args.id
            ))
        })?;
    let kind = if finding["class"] == "missing" {
        "may-be-absent"
    } else {
        "may-differ"
    };
    let mut rule = serde_json::Map::new();
    rule.insert("params".into(), serde_json::json!([finding["param"]]));
    rule.insert("kind".into(), serde_json::json!(kind));
    rule.insert(
        "targets".into(),
        serde_json::json!([finding["reference"], finding["target"]]),
    );
    rule.insert("reason".into(), serde_json::json!(args.reason));
    if let Some(o) = &args.owner {
        rule.insert("owner".into(), serde_json::json!(o));
    }
    if let Some(e) = &args.expires {
        rule.insert("expires".into(), serde_json::json!(e));
    }
    let path = root.join(VariationPolicy::PATH);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(CliError::io(&path, e)),
    };
    let count = if text.trim().is_empty() {
        0
    } else {
        VariationPolicy::parse(text.as_bytes(), None)
            .map_err(|d| CliError::Invalid(d.to_string()))?
            .rules
            .len()
    };
    let edited = strata_core::edit::apply_edits(
        &text,
        strata_core::parse::Format::Yaml,
        &[strata_core::edit::Edit::Set {
            path: vec![
                strata_core::path::Segment::Key("variations".into()),
                strata_core::path::Segment::Index(count),
            ],
            value: serde_json::Value::Object(rule),
        }],
    )
    .map_err(|e| CliError::Invalid(format!("{}: {e}", VariationPolicy::PATH)))?;
    crate::write_atomic(&path, edited.as_bytes())?;
    println!(
        "{} is now expected: rule #{} ({kind}) added to {}",
        finding["param"].as_str().unwrap_or(""),
        count + 1,
        VariationPolicy::PATH
    );
    Ok(())
}

/// What one comparison run found.
struct Collected {
    /// Findings as JSON objects.
    findings: Vec<serde_json::Value>,
    /// The reference environment.
    reference_env: String,
    /// The date expiry was judged on.
    today: PolicyDate,
    /// Rules that match no parameter of any compared configuration (only computed when
    /// every service is compared).
    dead_rules: Vec<serde_json::Value>,
}

/// Resolves the selected targets and classifies every difference.
fn collect(root: &Path, args: &DriftArgs) -> Result<Collected, CliError> {
    let project = load_project_or_rev(root, args.rev.as_deref(), &args.store)?;
    let today = match &args.today {
        Some(d) => PolicyDate::parse(d)
            .ok_or_else(|| CliError::Usage(format!("--today {d}: write a date as YYYY-MM-DD")))?,
        None => PolicyDate::parse(&format_time(now_ms())[..10])
            .ok_or_else(|| CliError::Io("cannot read the clock".into()))?,
    };
    let policy = load_policy(&project)?;
    let cfg = &project.config;

    // Targets, in declaration order.
    for t in &args.target {
        if cfg.target(t).is_none() {
            return Err(CliError::Usage(format!(
                "unknown target `{t}`; see `strata targets`"
            )));
        }
    }
    for e in args.envs.iter().chain(args.reference.iter()) {
        if !cfg.environments.iter().any(|x| &x.name == e) {
            let known: Vec<&str> = cfg.environments.iter().map(|x| x.name.as_str()).collect();
            return Err(CliError::Usage(format!(
                "unknown environment `{e}`; declared: {}",
                known.join(", ")
            )));
        }
    }
    let selected: Vec<&Target> = cfg
        .targets
        .iter()
        .filter(|t| args.target.is_empty() || args.target.contains(&t.to_string()))
        .filter(|t| args.envs.is_empty() || args.envs.contains(&t.env))
        .collect();
    let env_rank = |env: &str| cfg.environments.iter().position(|e| e.name == env);
    let reference_env = match &args.reference {
        Some(r) => r.clone(),
        None => selected
            .iter()
            .max_by_key(|t| env_rank(&t.env))
            .map(|t| t.env.clone())
            .ok_or_else(|| CliError::Usage("no target is selected".into()))?,
    };
    let references: Vec<&Target> = cfg
        .targets
        .iter()
        .filter(|t| t.env == reference_env)
        .collect();
    if references.is_empty() {
        return Err(CliError::Usage(format!(
            "environment `{reference_env}` has no target to compare with"
        )));
    }
    let others: Vec<&Target> = selected
        .into_iter()
        .filter(|t| t.env != reference_env)
        .collect();
    let services: Vec<String> = if args.service.is_empty() {
        cfg.services.keys().cloned().collect()
    } else {
        for s in &args.service {
            if !cfg.services.contains_key(s) {
                return Err(CliError::Usage(format!(
                    "unknown service `{s}`; see `strata services`"
                )));
            }
        }
        args.service.clone()
    };

    // Resolve every target involved once.
    let mut resolved: BTreeMap<String, BTreeMap<String, Effective>> = BTreeMap::new();
    let names: Vec<&str> = services.iter().map(String::as_str).collect();
    for t in references.iter().chain(others.iter()) {
        let key = t.to_string();
        if resolved.contains_key(&key) {
            continue;
        }
        let session = project
            .session(&key, ResolveOptions::default())
            .map_err(|e| CliError::from_resolve(e, root))?;
        let mut by_service = BTreeMap::new();
        for r in session.resolve_each(&names) {
            let eff = r.map_err(|e| CliError::from_resolve(e, root))?;
            by_service.insert(eff.service.clone(), eff);
        }
        resolved.insert(key, by_service);
    }
    let secrets = secret_paths(&project, &services);

    let mut findings = Vec::new();
    for other in &others {
        let reference = references
            .iter()
            .find(|r| r.provider == other.provider && r.region == other.region)
            .or_else(|| references.iter().find(|r| r.provider == other.provider))
            .unwrap_or(&references[0]);
        for service in &services {
            let (Some(a), Some(b)) = (
                resolved[&reference.to_string()].get(service),
                resolved[&other.to_string()].get(service),
            ) else {
                continue;
            };
            for f in classify(
                service,
                Side {
                    target: reference,
                    root: &a.root,
                },
                Side {
                    target: other,
                    root: &b.root,
                },
                &policy,
                today,
            ) {
                let secret = secrets
                    .get(service)
                    .is_some_and(|p| path_is_secret(p, &f.path));
                let show = |n: Option<&strata_core::value::Node>| -> Option<String> {
                    n.map(|n| {
                        if secret {
                            "<redacted>".to_string()
                        } else {
                            n.value.to_string()
                        }
                    })
                };
                findings.push(serde_json::json!({
                    "id": f.id(),
                    "class": f.class.as_str(),
                    "fails": f.class.fails(),
                    "service": f.service,
                    "param": f.param(),
                    "reference": f.reference_target,
                    "target": f.other_target,
                    "reference_value": show(f.reference),
                    "value": show(f.other),
                    "reference_at": f.reference.map(|n| project.describe_loc(n.loc)),
                    "at": f.other.map(|n| project.describe_loc(n.loc)),
                    "rule": f.rule.map(|i| policy.rules[i].reason.clone()),
                    "secret": secret,
                }));
            }
        }
    }
    // Dead policy: rules whose globs name no parameter (or enclosing map or list) of any
    // configuration compared; only meaningful when every service was compared.
    let mut used = vec![false; policy.rules.len()];
    if args.service.is_empty() {
        for by_service in resolved.values() {
            for (svc, eff) in by_service {
                eff.root.for_each_leaf(&mut Vec::new(), &mut |p, _| {
                    for (i, rule) in policy.rules.iter().enumerate() {
                        if !used[i]
                            && (1..=p.len())
                                .any(|n| rule.params.iter().any(|g| g.matches(svc, &p[..n])))
                        {
                            used[i] = true;
                        }
                    }
                });
            }
        }
    }
    let dead_rules = if args.service.is_empty() {
        policy
            .rules
            .iter()
            .zip(&used)
            .filter(|(_, u)| !**u)
            .map(|(r, _)| {
                serde_json::json!({"rule": r.index + 1, "line": r.loc.line, "reason": r.reason})
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(Collected {
        findings,
        reference_env,
        today,
        dead_rules,
    })
}

fn load_policy(project: &Project) -> Result<VariationPolicy, CliError> {
    let bytes = project
        .source()
        .read(VariationPolicy::PATH)
        .map_err(|e| CliError::Io(format!("cannot read {}: {}", e.path, e.message)))?;
    match bytes {
        None => Ok(VariationPolicy::default()),
        Some(b) => VariationPolicy::parse(&b, Some(&project.config))
            .map_err(|d| CliError::Invalid(d.to_string())),
    }
}

/// The secret patterns of the services' schemas (values there are never printed).
fn secret_paths(project: &Project, services: &[String]) -> BTreeMap<String, Vec<Vec<Pat>>> {
    let mut out = BTreeMap::new();
    for s in services {
        let Some(schema) = project
            .config
            .services
            .get(s)
            .and_then(|d| d.schema.clone())
        else {
            continue;
        };
        if let Ok(Some(node)) = project.read_document(&schema, false) {
            out.insert(s.clone(), secret_patterns(&node));
        }
    }
    out
}

fn render_text(findings: &[serde_json::Value], reference: &str, all: bool) -> String {
    let mut out = String::new();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut current = String::new();
    for f in findings {
        let class = f["class"].as_str().unwrap_or("");
        *counts.entry(class).or_default() += 1;
        if class == Class::Expected.as_str() && !all {
            continue;
        }
        let service = f["service"].as_str().unwrap_or("");
        if service != current {
            out.push_str(&format!("\n{service}\n"));
            current = service.to_string();
        }
        let value = |k: &str| {
            f[k].as_str()
                .map(str::to_string)
                .unwrap_or_else(|| "(absent)".into())
        };
        let shown = if f["secret"].as_bool() == Some(true) {
            "differs".to_string()
        } else {
            format!("{} -> {}", value("reference_value"), value("value"))
        };
        out.push_str(&format!(
            "  {:<9} {}  {} vs {}: {}  [{}]\n",
            class,
            f["param"].as_str().unwrap_or(""),
            f["reference"].as_str().unwrap_or(""),
            f["target"].as_str().unwrap_or(""),
            shown,
            f["id"].as_str().unwrap_or("")
        ));
        if let Some(at) = f["at"].as_str() {
            out.push_str(&format!("            set at {at}\n"));
        }
        if let Some(rule) = f["rule"].as_str() {
            out.push_str(&format!("            rule: {rule}\n"));
        }
    }
    let summary: Vec<String> = ["drift", "violation", "expired", "missing", "expected"]
        .iter()
        .map(|c| format!("{} {c}", counts.get(c).copied().unwrap_or(0)))
        .collect();
    out.push_str(&format!(
        "\ncompared with {reference}: {}\n",
        summary.join(", ")
    ));
    out.trim_start().to_string()
}
