//! Renderings of a drift report: text (grouped per service, coloured on a terminal),
//! Markdown (tables for a pull-request comment) and JSON (the schema in docs/drift.md).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use serde_json::Value as Json;

use super::{Collected, Item};

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

fn s<'a>(j: &'a Json, key: &str) -> &'a str {
    j[key].as_str().unwrap_or("")
}

/// `reference -> value`, or `differs`/`equal` for a secret.
fn values(f: &Json) -> String {
    if f["secret"].as_bool() == Some(true) {
        return if f["equal"].as_bool() == Some(true) {
            "equal".into()
        } else {
            "differs".into()
        };
    }
    let v = |k: &str| f[k].as_str().unwrap_or("(absent)").to_string();
    format!("{} -> {}", v("reference_value"), v("value"))
}

/// One remediation option in words.
fn option_text(o: &Json) -> String {
    match s(o, "action") {
        "remove-override" => {
            let becomes = s(o, "becomes");
            let tail = if o["fixes"].as_bool() == Some(true) {
                " (then both agree)"
            } else {
                ""
            };
            format!(
                "remove {} at {}:{} so {} gets {becomes}{tail}",
                s(o, "param"),
                s(o, "file"),
                o["line"],
                s(o, "edits"),
            )
        }
        "set-value" => format!(
            "set {} to {} in {}{}",
            s(o, "param"),
            s(o, "value"),
            s(o, "file"),
            if o["create"].as_bool() == Some(true) {
                " (a new file)"
            } else {
                ""
            }
        ),
        "declare-variation" => format!("declare it intended in {}:", s(o, "file")),
        other => other.to_string(),
    }
}

/// The text report.
pub(super) fn text(c: &Collected, all: bool, color: bool) -> String {
    let mut out = String::new();
    let mut current = String::new();
    for item in &c.items {
        let f = &item.json;
        let class = item.class.as_str();
        if class == "expected" && !all {
            continue;
        }
        let service = s(f, "service");
        if service != current {
            let _ = writeln!(out, "\n{}", paint(color, Style::new().bold(), service));
            current = service.to_string();
        }
        let _ = writeln!(
            out,
            "  {}{} {}  {} vs {}: {}  [{}]",
            paint(color, class_style(class), class),
            " ".repeat(9usize.saturating_sub(class.len())),
            s(f, "param"),
            s(f, "reference"),
            s(f, "target"),
            values(f),
            s(f, "id"),
        );
        if let Some(at) = f["at"].as_str() {
            let _ = writeln!(out, "            set at {at}");
        } else if let Some(at) = f["reference_at"].as_str() {
            let _ = writeln!(out, "            only set at {at}");
        }
        if let Some(v) = f["vocabulary"].as_str() {
            let _ = writeln!(out, "            same vocabulary entry: {v}");
        }
        if let Some(rule) = f["rule"].as_str() {
            let _ = writeln!(out, "            rule: {rule} ({})", s(f, "rule_at"));
        }
        // The first layer to set the value in is enough here; JSON lists every one.
        let options: Vec<&Json> = f["suggestions"]
            .as_array()
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .enumerate()
            .filter(|(n, o)| {
                s(o, "action") != "set-value"
                    || !f["suggestions"]
                        .as_array()
                        .is_some_and(|all| all[..*n].iter().any(|p| s(p, "action") == "set-value"))
            })
            .map(|(_, o)| o)
            .collect();
        for (n, o) in options.iter().enumerate() {
            let lead = if n == 0 { "fix:" } else { "or: " };
            let _ = writeln!(out, "            {lead} {}", option_text(o));
            if let Some(snippet) = o["snippet"].as_str() {
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
        let _ = writeln!(out, "\n{}", s(since, "summary"));
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
        let _ = writeln!(out, "{}\n", cell(s(since, "summary")));
    }
    let mut by_service: Vec<(&str, Vec<&Item>)> = Vec::new();
    for item in &c.items {
        if item.class.as_str() == "expected" && !all {
            continue;
        }
        let service = s(&item.json, "service");
        match by_service.iter_mut().find(|(name, _)| *name == service) {
            Some((_, list)) => list.push(item),
            None => by_service.push((service, vec![item])),
        }
    }
    if by_service.is_empty() {
        let _ = writeln!(out, "No differences to report.");
    }
    for (service, items) in by_service {
        let _ = writeln!(out, "### {}\n", cell(service));
        let _ = writeln!(
            out,
            "| Class | Parameter | Compared | Values | Set at | Suggested fix | Id |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|");
        for item in items {
            let f = &item.json;
            let fix = f["suggestions"]
                .as_array()
                .and_then(|o| o.first())
                .map(|o| {
                    if s(o, "action") == "declare-variation" {
                        format!(
                            "declare it in `{}`: `{}`",
                            s(o, "file"),
                            s(o, "snippet").trim_end().replace('\n', "` `")
                        )
                    } else {
                        option_text(o)
                    }
                })
                .or_else(|| f["rule"].as_str().map(|r| format!("rule: {r}")))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "| **{}** | `{}` | {} → {} | `{}` | {} | {} | `{}` |",
                item.class.as_str(),
                cell(s(f, "param")),
                cell(s(f, "reference")),
                cell(s(f, "target")),
                cell(&values(f)),
                f["at"]
                    .as_str()
                    .map(|a| format!("`{}`", cell(a)))
                    .unwrap_or_default(),
                cell(&fix),
                s(f, "id"),
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
    findings: Vec<&'a Json>,
    dead_rules: &'a [Json],
    notes: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    since: Option<&'a Json>,
}

/// Writes the JSON report to stdout, streaming (a report of thousands of findings is
/// never held twice).
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
        findings: c.items.iter().map(|i| &i.json).collect(),
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
        let _ = writeln!(out, "{}", s(since, "summary"));
    }
    let _ = writeln!(out, "compared with {}: {}", c.reference, summary(&c.items));
    out
}
