//! What a drift run found, as every report shows it: the described findings
//! ([`Described`], one `findings[]` entry of the JSON report in docs/drift.md), the JSON
//! report's shape ([`json_report`]), and the text, Markdown and one-line renderings.
//!
//! Shared by `strata drift` and the server's `GET /v1/drift` and `/v1/actual`, so a
//! pipeline can switch between them and parse the same report.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use serde_json::Value as Json;

use crate::path::segments_to_string;
use crate::resolve::{LayerSlot, Project};
use crate::validate::schema::{Pat, path_is_secret};
use crate::value::Node;

use super::engine::{Class, Context, Finding, Side, classify_in};
use super::patch::Repair;
use super::policy::{PolicyDate, VariationPolicy};
use super::remedy::{Becomes, Remedy, Which, suggest};

/// Classes in the order summaries list them.
pub const CLASSES: [&str; 5] = ["drift", "violation", "expired", "missing", "expected"];

/// What reports show in place of a secret value.
pub const REDACTED: &str = "<redacted>";

/// One reported finding.
pub struct Item {
    /// Its class.
    pub class: Class,
    /// What the reports show (`None` with [`Detail::Counts`]).
    pub about: Option<Box<Described>>,
    /// What `--patch` may do about it (failing findings with a layer-editing option, with
    /// [`Detail::Patch`] only).
    pub repair: Option<Box<Repair>>,
}

/// A finding as the reports show it; serializes to a `findings[]` entry of the JSON
/// report (docs/drift.md). Typed rather than a `serde_json::Value`, which took ten times
/// the memory on reports of hundreds of thousands of findings.
#[derive(Debug, serde::Serialize)]
pub struct Described {
    /// The stable id (`strata drift ack` takes it).
    pub id: String,
    /// `drift`, `violation`, `expired`, `missing` or `expected`.
    pub class: &'static str,
    /// Whether the class fails the gate.
    pub fails: bool,
    /// The service.
    pub service: Arc<str>,
    /// `service:path`.
    pub param: String,
    /// The reference side (a target, or `T (desired)`).
    pub reference: Arc<str>,
    /// The compared side (a target, or `T (actual)`).
    pub target: Arc<str>,
    /// The reference value as text (`None`: absent there; [`REDACTED`] for a secret).
    pub reference_value: Option<String>,
    /// The compared value as text (`None`: absent there; [`REDACTED`] for a secret).
    pub value: Option<String>,
    /// For a secret: whether the two values are equal (they are never shown).
    pub equal: Option<bool>,
    /// `file:line:col` of the reference value.
    pub reference_at: Option<String>,
    /// `file:line:col` of the compared value.
    pub at: Option<String>,
    /// The deciding rule's reason.
    pub rule: Option<Arc<str>>,
    /// The deciding rule's `file:line`.
    pub rule_at: Option<Arc<str>>,
    /// The provider-vocabulary entry both values stand for.
    pub vocabulary: Option<String>,
    /// Whether the parameter is an `x-strata-secret` one.
    pub secret: bool,
    /// Remediation options, best first.
    pub suggestions: Vec<Suggestion>,
}

/// A remediation option as the reports show it.
#[derive(Debug, serde::Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Suggestion {
    /// Delete the override at `file:line`.
    RemoveOverride {
        /// `target` or `reference`: whose layer is edited.
        side: &'static str,
        /// The target whose layer is edited.
        edits: Arc<str>,
        /// The layer file.
        file: String,
        /// The override's line.
        line: u32,
        /// The parameter path inside the service.
        param: String,
        /// What the value becomes without the override.
        becomes: String,
        /// Whether both sides then agree.
        fixes: bool,
    },
    /// Write the reference's value into a layer file.
    SetValue {
        /// The layer file.
        file: String,
        /// Whether the file is new.
        create: bool,
        /// The parameter path inside the service.
        param: String,
        /// The value to write, as text.
        value: String,
    },
    /// A `policies/variations.yaml` rule to paste.
    DeclareVariation {
        /// The policy file.
        file: &'static str,
        /// The rule, as YAML.
        snippet: String,
    },
}

/// What one comparison run found.
pub struct Collected {
    /// The findings, per service in comparison order.
    pub items: Vec<Item>,
    /// What the others were compared with: the reference environment, or `the desired
    /// configuration of T`.
    pub reference: String,
    /// The date expiry was judged on.
    pub today: PolicyDate,
    /// Rules that match no parameter of any compared configuration (only computed when
    /// every service is compared).
    pub dead_rules: Vec<Json>,
    /// With `--since`: which services were re-compared and why the others were not.
    pub since: Option<Json>,
    /// Notes for the reader (e.g. secrets that could not be compared).
    pub notes: Vec<String>,
    /// Every `(reference, other)` target pair compared.
    pub pairs: Vec<(String, String)>,
}

impl Collected {
    /// Whether any finding fails the gate (`strata drift` exits 1).
    pub fn fails(&self) -> bool {
        self.items.iter().any(|i| i.class.fails())
    }
}

/// How much a run describes each finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Only the class (`--format summary`: the counts and the exit code).
    Counts,
    /// Values, locations, rule and suggestions (the reports).
    Full,
    /// Also the repairs `--patch` tries.
    Patch,
}

/// Everything a comparison of one service between two sides needs to describe findings.
pub struct Compare<'a> {
    /// The project compared (locations, file names).
    pub project: &'a Project,
    /// The policy and the date.
    pub cx: Context<'a>,
    /// Each policy rule's reason and `file:line`, shared by its findings.
    pub rules: &'a [(Arc<str>, Arc<str>)],
    /// The service's `x-strata-secret` patterns: values there are never shown.
    pub secrets: Option<&'a [Vec<Pat>]>,
    /// The reference target's layer slots (for suggestions).
    pub reference_layers: &'a [LayerSlot],
    /// The other target's layer slots (for suggestions).
    pub other_layers: &'a [LayerSlot],
    /// How much to describe.
    pub detail: Detail,
    /// Whether a string is a Strata ciphertext (a secret may only be copied as one).
    pub is_ciphertext: fn(&str) -> bool,
}

impl Compare<'_> {
    /// Classifies `other` against `reference` for `service` and appends the findings.
    pub fn run(&self, service: &str, reference: Side<'_>, other: Side<'_>, out: &mut Vec<Item>) {
        for f in classify_in(service, reference, other, &self.cx) {
            out.push(self.item(&f, reference, other));
        }
    }

    /// Describes one finding as [`Compare::detail`] asks.
    pub fn item(&self, f: &Finding<'_>, reference: Side<'_>, other: Side<'_>) -> Item {
        if self.detail == Detail::Counts {
            return Item {
                class: f.class,
                about: None,
                repair: None,
            };
        }
        let secret = self.secrets.is_some_and(|p| path_is_secret(p, &f.path));
        let show = |v: &crate::value::Value| -> String {
            if secret {
                REDACTED.to_string()
            } else {
                v.to_string()
            }
        };
        let mut remedies = if f.class == Class::Expected {
            Vec::new()
        } else {
            suggest(
                f,
                reference,
                other,
                self.project.files(),
                self.reference_layers,
                self.other_layers,
            )
        };
        if secret {
            // A secret may only be copied as ciphertext: with an identity the compared
            // values are plaintext, and a patch must never write one into a layer.
            let is_ciphertext = self.is_ciphertext;
            remedies.retain(|r| match r {
                Remedy::SetValue { value, .. } => value.as_str().is_some_and(is_ciphertext),
                _ => true,
            });
        }
        let suggestions = remedies
            .iter()
            .map(|r| self.suggestion(r, &f.reference_target, &f.other_target, secret))
            .collect();
        let rule = f.rule.map(|i| &self.rules[i]);
        let about = Described {
            id: f.id(),
            class: f.class.as_str(),
            fails: f.class.fails(),
            service: f.service.clone(),
            param: f.param(),
            reference: f.reference_target.clone(),
            target: f.other_target.clone(),
            reference_value: f.reference.map(|n| show(&n.value)),
            value: f.other.map(|n| show(&n.value)),
            equal: secret.then(|| f.reference.map(|n| &n.value) == f.other.map(|n| &n.value)),
            reference_at: f.reference.map(|n| self.project.describe_loc(n.loc)),
            at: f.other.map(|n| self.project.describe_loc(n.loc)),
            rule: rule.map(|r| r.0.clone()),
            rule_at: rule.map(|r| r.1.clone()),
            vocabulary: f.vocabulary.clone(),
            secret,
            suggestions,
        };
        let repair = (self.detail == Detail::Patch
            && f.class.fails()
            && remedies.iter().any(Remedy::edits_layers))
        .then(|| {
            Box::new(Repair {
                id: about.id.clone(),
                service: f.service.to_string(),
                path: f.path.clone(),
                reference_target: f.reference_target.to_string(),
                other_target: f.other_target.to_string(),
                remedies,
            })
        });
        Item {
            class: f.class,
            about: Some(Box::new(about)),
            repair,
        }
    }

    fn suggestion(
        &self,
        r: &Remedy,
        reference: &Arc<str>,
        other: &Arc<str>,
        secret: bool,
    ) -> Suggestion {
        let shown = |v: String| {
            if secret { REDACTED.to_string() } else { v }
        };
        match r {
            Remedy::RemoveOverride {
                side,
                file,
                line,
                path,
                becomes,
                fixes,
            } => Suggestion::RemoveOverride {
                side: match side {
                    Which::Other => "target",
                    Which::Reference => "reference",
                },
                edits: match side {
                    Which::Other => other.clone(),
                    Which::Reference => reference.clone(),
                },
                file: file.clone(),
                line: *line,
                param: segments_to_string(path),
                becomes: match becomes {
                    Becomes::Value(v) => shown(v.to_string()),
                    Becomes::From(loc) => {
                        format!("the value set at {}", self.project.describe_loc(*loc))
                    }
                    Becomes::Absent => "(absent)".to_string(),
                },
                fixes: *fixes,
            },
            Remedy::SetValue {
                file,
                create,
                path,
                value,
            } => Suggestion::SetValue {
                file: file.clone(),
                create: *create,
                param: segments_to_string(path),
                value: shown(value.to_string()),
            },
            Remedy::DeclareVariation { snippet } => Suggestion::DeclareVariation {
                file: VariationPolicy::PATH,
                snippet: snippet.clone(),
            },
        }
    }
}

/// Each rule's reason and `file:line`, as findings show them.
pub fn rule_labels(policy: &VariationPolicy) -> Vec<(Arc<str>, Arc<str>)> {
    policy
        .rules
        .iter()
        .map(|r| {
            (
                Arc::from(r.reason.as_str()),
                Arc::from(format!("{}:{}", r.file, r.loc.line)),
            )
        })
        .collect()
}

/// Tracks which rules match some parameter of the configurations compared; the others
/// are dead policy.
pub struct DeadRules<'p> {
    policy: &'p VariationPolicy,
    used: Vec<bool>,
}

impl<'p> DeadRules<'p> {
    /// No rule used yet.
    pub fn new(policy: &'p VariationPolicy) -> Self {
        DeadRules {
            policy,
            used: vec![false; policy.rules.len()],
        }
    }

    /// Marks in `used` (grown to the number of rules) the rules matching a parameter (or
    /// an enclosing map or list) of `root`.
    pub fn mark_into(&self, service: &str, root: &Node, used: &mut Vec<bool>) {
        let policy = self.policy;
        used.resize(policy.rules.len(), false);
        let candidates: Vec<usize> = policy
            .rules
            .iter()
            .enumerate()
            .filter(|(i, r)| {
                !self.used[*i] && !used[*i] && r.params.iter().any(|g| g.matches_service(service))
            })
            .map(|(i, _)| i)
            .collect();
        if candidates.is_empty() {
            return;
        }
        root.for_each_leaf(&mut Vec::new(), &mut |p, _| {
            for &i in &candidates {
                if !used[i]
                    && (1..=p.len()).any(|n| {
                        policy.rules[i]
                            .params
                            .iter()
                            .any(|g| g.matches(service, &p[..n]))
                    })
                {
                    used[i] = true;
                }
            }
        });
    }

    /// Adds the marks of [`DeadRules::mark_into`].
    pub fn add(&mut self, used: &[bool]) {
        for (mine, theirs) in self.used.iter_mut().zip(used) {
            *mine |= *theirs;
        }
    }

    /// The dead rules, as the JSON report lists them.
    pub fn finish(self) -> Vec<Json> {
        self.policy
            .rules
            .iter()
            .zip(&self.used)
            .filter(|(_, u)| !**u)
            .map(|(r, _)| {
                serde_json::json!({"rule": r.index + 1, "file": &*r.file, "line": r.loc.line, "reason": r.reason})
            })
            .collect()
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

/// What the text report may colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// A service heading.
    Service,
    /// A finding's class (`drift`, `violation`, …).
    Class(&'static str),
}

/// The text report, grouped per service; `paint` colours a piece of text (or returns it
/// as it is), so the caller decides about terminals.
pub fn text(c: &Collected, all: bool, paint: &dyn Fn(Tone, &str) -> String) -> String {
    let mut out = String::new();
    let mut current: &str = "";
    for f in shown(c, all) {
        if &*f.service != current {
            let _ = writeln!(out, "\n{}", paint(Tone::Service, &f.service));
            current = &f.service;
        }
        let _ = writeln!(
            out,
            "  {}{} {}  {} vs {}: {}  [{}]",
            paint(Tone::Class(f.class), f.class),
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

/// The Markdown report (tables for a pull-request comment).
pub fn markdown(c: &Collected, all: bool) -> String {
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

/// `--format summary`: the counts line only (after the `since` sentence, if any).
pub fn summary_line(c: &Collected) -> String {
    let mut out = String::new();
    if let Some(since) = &c.since {
        let _ = writeln!(out, "{}", since_line(since));
    }
    let _ = writeln!(out, "compared with {}: {}", c.reference, summary(&c.items));
    out
}

/// The JSON report (docs/drift.md); field order is the document's. Serialize it with
/// `serde_json` (the CLI pretty-prints it, streaming).
#[derive(serde::Serialize)]
pub struct JsonReport<'a> {
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

/// The JSON report of `c`.
pub fn json_report(c: &Collected) -> JsonReport<'_> {
    let counts = counts(&c.items);
    JsonReport {
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
        fails: c.fails(),
        findings: Findings(&c.items),
        dead_rules: &c.dead_rules,
        notes: &c.notes,
        since: c.since.as_ref(),
    }
}
