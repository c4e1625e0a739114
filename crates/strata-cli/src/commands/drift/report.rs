//! Renderings of a drift report: text (grouped per service, coloured on a terminal),
//! Markdown (tables for a pull-request comment), JSON (the schema in docs/drift.md) and
//! the one-line summary.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use serde_json::Value as Json;

use super::{Collected, Described, Item, Suggestion};

/// Classes in the order summaries list them.
const CLASSES: [&str; 5] = ["drift", "violation", "expired", "missing", "expected"];

fn class_style(class: &str) -> Style {
    match class {
        "violation" => AnsiColor::Red.on_default().bold(),
        "drift" => AnsiColor::Yellow.on_default().bold(),
        "expired" => AnsiColor::Magenta.on_default().bold(),
        "missing" => AnsiColor::Cyan.on_default(),
        _ => AnsiColor::Green.on_default(),
    }
}

fn paint(color: bool, style: Style, text: &str) -> String {
    if color {
        format!("{}{text}{}", style.render(), style.render_reset())
    } else {
        text.to_string()
    }
}

fn counts(items: &[Item]) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for i in items {
        *counts.entry(i.class.as_str()).or_default() += 1;
    }
    counts
}

fn summary(items: &[Item]) -> String {
    let counts = counts(items);
    CLASSES
        .iter()
        .map(|c| format!("{} {c}", counts.get(c).copied().unwrap_or(0)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `since` object's summary sentence.
fn since_line(since: &Json) -> &str {
    since["summary"].as_str().unwrap_or("")
}

/// `reference -> value`, or `differs`/`equal` for a secret.
fn values(f: &Described) -> String {
    if f.secret {
        return if f.equal == Some(true) {
            "equal".into()
        } else {
            "differs".into()
        };
    }
    let v = |x: &Option<String>| x.clone().unwrap_or_else(|| "(absent)".into());
    format!("{} -> {}", v(&f.reference_value), v(&f.value))
}

/// One remediation option in words.
fn option_text(o: &Suggestion) -> String {
    match o {
        Suggestion::RemoveOverride {
            edits,
            file,
            line,
            param,
            becomes,
            fixes,
            ..
        } => format!(
            "remove {param} at {file}:{line} so {edits} gets {becomes}{}",
            if *fixes { " (then both agree)" } else { "" }
        ),
        Suggestion::SetValue {
            file,
            create,
            param,
            value,
        } => format!(
            "set {param} to {value} in {file}{}",
            if *create { " (a new file)" } else { "" }
        ),
        Suggestion::DeclareVariation { file, .. } => format!("declare it intended in {file}:"),
    }
}

/// The described findings, skipping `expected` ones unless `all`.
fn shown(c: &Collected, all: bool) -> impl Iterator<Item = &Described> {
    c.items
        .iter()
        .filter(move |i| all || i.class.as_str() != "expected")
        .filter_map(|i| i.about.as_deref())
}

/// The text report.
pub(super) fn text(c: &Collected, all: bool, color: bool) -> String {
    let mut out = String::new();
    let mut current: &str = "";
    for f in shown(c, all) {
        if &*f.service != current {
            let _ = writeln!(out, "\n{}", paint(color, Style::new().bold(), &f.service));
            current = &f.service;
        }
        let _ = writeln!(
            out,
            "  {}{} {}  {} vs {}: {}  [{}]",
            paint(color, class_style(f.class), f.class),
            " ".repeat(9usize.saturating_sub(f.class.len())),
            f.param,
            f.reference,
            f.target,
            values(f),
            f.id,
        );
        if let Some(at) = &f.at {
            let _ = writeln!(out, "            set at {at}");
        } else if let Some(at) = &f.reference_at {
            let _ = writeln!(out, "            only set at {at}");
        }
        if let Some(v) = &f.vocabulary {
            let _ = writeln!(out, "            same vocabulary entry: {v}");
        }
        if let (Some(rule), Some(at)) = (&f.rule, &f.rule_at) {
            let _ = writeln!(out, "            rule: {rule} ({at})");
        }
        // The first layer to set the value in is enough here; JSON lists every one.
        let mut set_shown = false;
        let options = f.suggestions.iter().filter(|o| {
            let first_set = matches!(o, Suggestion::SetValue { .. }) && !set_shown;
            if first_set {
                set_shown = true;
            }
            first_set || !matches!(o, Suggestion::SetValue { .. })
        });
        for (n, o) in options.enumerate() {
            let lead = if n == 0 { "fix:" } else { "or: " };
            let _ = writeln!(out, "            {lead} {}", option_text(o));
            if let Suggestion::DeclareVariation { snippet, .. } = o {
                for line in snippet.lines() {
                    let _ = writeln!(out, "                   {line}");
                }
            }
        }
    }
    for note in &c.notes {
        let _ = writeln!(out, "\nnote: {note}");
    }
    if let Some(since) = &c.since {
        let _ = writeln!(out, "\n{}", since_line(since));
    }
    let _ = writeln!(
        out,
        "\ncompared with {}: {}",
        c.reference,
        summary(&c.items)
    );
    out.trim_start().to_string()
}

/// Escapes a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The Markdown report.
pub(super) fn markdown(c: &Collected, all: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Drift against {}\n", cell(&c.reference));
    let _ = writeln!(out, "**{}**\n", summary(&c.items));
    if let Some(since) = &c.since {
        let _ = writeln!(out, "{}\n", cell(since_line(since)));
    }
    let mut by_service: Vec<(&str, Vec<&Described>)> = Vec::new();
    for f in shown(c, all) {
        match by_service.iter_mut().find(|(name, _)| *name == &*f.service) {
            Some((_, list)) => list.push(f),
            None => by_service.push((&f.service, vec![f])),
        }
    }
    if by_service.is_empty() {
        let _ = writeln!(out, "No differences to report.");
    }
    for (service, findings) in by_service {
        let _ = writeln!(out, "### {}\n", cell(service));
        let _ = writeln!(
            out,
            "| Class | Parameter | Compared | Values | Set at | Suggested fix | Id |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|");
        for f in findings {
            let fix = match f.suggestions.first() {
                Some(Suggestion::DeclareVariation { file, snippet }) => format!(
                    "declare it in `{file}`: `{}`",
                    snippet.trim_end().replace('\n', "` `")
                ),
                Some(o) => option_text(o),
                None => f
                    .rule
                    .as_ref()
                    .map(|r| format!("rule: {r}"))
                    .unwrap_or_default(),
            };
            let _ = writeln!(
                out,
                "| **{}** | `{}` | {} → {} | `{}` | {} | {} | `{}` |",
                f.class,
                cell(&f.param),
                cell(&f.reference),
                cell(&f.target),
                cell(&values(f)),
                f.at.as_ref()
                    .map(|a| format!("`{}`", cell(a)))
                    .unwrap_or_default(),
                cell(&fix),
                f.id,
            );
        }
        out.push('\n');
    }
    for note in &c.notes {
        let _ = writeln!(out, "> {}\n", cell(note));
    }
    out
}

/// The JSON report's shape (field order is the document's).
#[derive(serde::Serialize)]
struct JsonReport<'a> {
    version: u32,
    reference: &'a str,
    today: String,
    summary: serde_json::Map<String, Json>,
    fails: bool,
    findings: Findings<'a>,
    dead_rules: &'a [Json],
    notes: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    since: Option<&'a Json>,
}

/// The findings, serialized straight from the items (no copy).
struct Findings<'a>(&'a [Item]);

impl serde::Serialize for Findings<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().filter_map(|i| i.about.as_deref()))
    }
}

/// Writes the JSON report to stdout, streaming.
pub(super) fn json(c: &Collected) -> std::io::Result<()> {
    use std::io::Write as _;
    let counts = counts(&c.items);
    let report = JsonReport {
        version: 1,
        reference: &c.reference,
        today: c.today.to_string(),
        summary: CLASSES
            .iter()
            .map(|k| {
                (
                    k.to_string(),
                    Json::from(counts.get(k).copied().unwrap_or(0)),
                )
            })
            .collect(),
        fails: c.items.iter().any(|i| i.class.fails()),
        findings: Findings(&c.items),
        dead_rules: &c.dead_rules,
        notes: &c.notes,
        since: c.since.as_ref(),
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, &report)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// `--format summary`: the counts line only.
pub(super) fn summary_line(c: &Collected) -> String {
    let mut out = String::new();
    if let Some(since) = &c.since {
        let _ = writeln!(out, "{}", since_line(since));
    }
    let _ = writeln!(out, "compared with {}: {}", c.reference, summary(&c.items));
    out
}
