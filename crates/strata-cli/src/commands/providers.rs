//! `strata providers`: the provider catalogs (built-in and the project's `providers/*.yaml`).

use std::path::Path;

use clap::Args;
use strata_core::providers::{Catalog, Catalogs, NameRule};

use crate::error::CliError;
use crate::output::emit;

/// Arguments of `strata providers`.
#[derive(Debug, Args)]
pub struct ProvidersArgs {
    /// `show` followed by a provider name prints its regions, vocabulary and rules.
    #[arg(value_name = "show PROVIDER", num_args = 0..=2)]
    words: Vec<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn catalogs(root: &Path) -> Result<Catalogs, CliError> {
    // Inside a project, its providers/*.yaml extend the built-in catalogs.
    if root.join("strata.yaml").is_file() {
        let project = super::load_project(root)?;
        return project
            .catalogs()
            .cloned()
            .map_err(|e| CliError::from_resolve(e, root));
    }
    Catalogs::builtin()
        .cloned()
        .map_err(|d| CliError::Invalid(d.to_string()))
}

fn rule_text(r: &NameRule) -> String {
    let mut s = format!(
        "{}–{} characters",
        r.min,
        if r.max == usize::MAX {
            "∞".to_string()
        } else {
            r.max.to_string()
        }
    );
    if let Some(p) = &r.pattern {
        s.push_str(&format!(", matches {}", p.as_str()));
    }
    for f in &r.rules {
        s.push_str(&format!("; {}", f.reason));
    }
    s
}

fn show(c: &Catalog) -> String {
    let mut s = format!(
        "{} — {} ({})\n\nregions ({}):\n",
        c.name,
        c.display,
        c.source,
        c.regions.len()
    );
    for r in &c.regions {
        s.push_str(&format!(
            "  {:<24} {:<36} {}\n",
            r.name,
            r.display,
            r.zones.join(" ")
        ));
    }
    s.push_str("\nvocabulary (${KIND:NAME}):\n");
    for (kind, words) in &c.vocabulary {
        let list: Vec<String> = words
            .iter()
            .map(|(k, v)| format!("{k}={}", crate::output::scalar_text(v)))
            .collect();
        s.push_str(&format!("  {kind:<10} {}\n", list.join("  ")));
    }
    s.push_str("\nformats:\n");
    s.push_str(&format!("  {}-region\n", c.name));
    for (kind, rule) in &c.names {
        s.push_str(&format!("  {}-{kind:<28} {}\n", c.name, rule_text(rule)));
    }
    if let Some(t) = &c.tags {
        // Aligned with the naming rules above.
        let key = format!("{}-key", t.word);
        let value = format!("{}-value", t.word);
        s.push_str(&format!("  {}-{key:<28} {}\n", c.name, rule_text(&t.key)));
        s.push_str(&format!(
            "  {}-{value:<28} {}\n",
            c.name,
            rule_text(&t.value)
        ));
        if let Some(max) = t.max_count {
            s.push_str(&format!("  at most {max} {}s per resource\n", t.word));
        }
    }
    if !c.vars.is_empty() {
        s.push_str("\ndefault vars (under strata.yaml's vars):\n");
        for (k, v) in c.vars.iter() {
            s.push_str(&format!("  {k} = {}\n", v.value));
        }
    }
    s
}

/// Runs `strata providers [show NAME]`.
pub fn run(root: &Path, args: ProvidersArgs) -> Result<(), CliError> {
    let cats = catalogs(root)?;
    match args.words.as_slice() {
        [] => {
            if args.json {
                let rows: Vec<_> = cats
                    .all()
                    .map(|c| serde_json::json!({"name": c.name, "display": c.display, "regions": c.regions.len(), "source": c.source}))
                    .collect();
                return emit(&format!(
                    "{}\n",
                    serde_json::to_string_pretty(&rows).unwrap_or_default()
                ));
            }
            let mut s = format!(
                "{:<10} {:<28} {:>7}  {}\n",
                "PROVIDER", "NAME", "REGIONS", "SOURCE"
            );
            for c in cats.all() {
                s.push_str(&format!(
                    "{:<10} {:<28} {:>7}  {}\n",
                    c.name,
                    c.display,
                    c.regions.len(),
                    c.source
                ));
            }
            emit(&s)
        }
        [cmd, name] if cmd == "show" => {
            let c = cats.get(name).ok_or_else(|| {
                CliError::Usage(format!(
                    "unknown provider `{name}`\n  hint: known providers: {}",
                    cats.all()
                        .map(|c| c.name.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
            if args.json {
                let json = serde_json::json!({
                    "name": c.name, "display": c.display, "source": c.source,
                    "regions": c.regions.iter().map(|r| serde_json::json!({"name": r.name, "display": r.display, "zones": r.zones})).collect::<Vec<_>>(),
                    "vocabulary": c.vocabulary.iter().map(|(k, w)| (k.clone(), w.iter().map(|(n, v)| (n.clone(), v.to_json())).collect::<serde_json::Map<_, _>>().into())).collect::<serde_json::Map<String, serde_json::Value>>(),
                    "names": c.names.iter().map(|(k, r)| (format!("{}-{k}", c.name), serde_json::Value::String(rule_text(r)))).collect::<serde_json::Map<_, _>>(),
                    "tags": c.tags.as_ref().map(|t| serde_json::json!({
                        "word": t.word,
                        "max_count": t.max_count,
                        "key": rule_text(&t.key),
                        "value": rule_text(&t.value),
                    })),
                    "vars": c.vars.iter().map(|(k, v)| (k.to_string(), v.value.to_json())).collect::<serde_json::Map<_, _>>(),
                    "instance_sizes": c.instance_sizes,
                });
                return emit(&format!(
                    "{}\n",
                    serde_json::to_string_pretty(&json).unwrap_or_default()
                ));
            }
            emit(&show(c))
        }
        other => Err(CliError::Usage(format!(
            "unexpected `{}`\n  hint: strata providers, or strata providers show PROVIDER",
            other.join(" ")
        ))),
    }
}
