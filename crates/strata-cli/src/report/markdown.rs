//! Markdown for a merge-request comment (GitHub, GitLab): a verdict, counts per environment,
//! risk notes, and the most severe findings as a table.

use std::fmt::Write as _;

use strata_core::validate::report::{Finding, Report, Severity};

use super::{RenderOptions, Summary, finding_order, location_string, plural};

/// At most this many findings are listed.
pub const MAX_FINDINGS: usize = 20;

/// Shown in an empty cell.
const NONE: &str = "—";

/// Escapes text for a table cell: Markdown punctuation is backslash-escaped (so messages
/// render literally, `|` does not split the cell and `<…>` is not taken for HTML), line
/// breaks become `<br>`.
fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&' => {
                out.push('\\');
                out.push(c);
            }
            '\r' => {}
            '\n' => out.push_str("<br>"),
            c => out.push(c),
        }
    }
    out
}

/// A code span in a table cell (`|` still needs escaping there); plain escaped text when
/// the content has a backtick or a line break.
fn code(s: &str) -> String {
    if s.contains(['`', '\n', '\r']) || s.is_empty() {
        cell(s)
    } else {
        format!("`{}`", s.replace('|', "\\|"))
    }
}

#[derive(Default)]
struct Counts {
    errors: usize,
    warnings: usize,
    infos: usize,
}

impl Counts {
    fn add(&mut self, findings: &[Finding]) {
        for f in findings {
            match f.severity {
                Severity::Error => self.errors += 1,
                Severity::Warning => self.warnings += 1,
                Severity::Info => self.infos += 1,
            }
        }
    }

    fn total(&self) -> usize {
        self.errors + self.warnings + self.infos
    }
}

/// Per environment in check order: name, protected, units, counts.
fn environments(report: &Report) -> Vec<(&str, bool, usize, Counts)> {
    let mut envs: Vec<(&str, bool, usize, Counts)> = Vec::new();
    for u in &report.units {
        let i = match envs.iter().position(|e| e.0 == u.env) {
            Some(i) => i,
            None => {
                envs.push((&u.env, false, 0, Counts::default()));
                envs.len() - 1
            }
        };
        let e = &mut envs[i];
        e.1 |= u.protected;
        e.2 += 1;
        e.3.add(&u.findings);
    }
    envs
}

pub(super) fn render(report: &Report, opts: &RenderOptions) -> String {
    let summary = Summary::of(report, opts.fail_on);
    let mut out = String::new();
    let (icon, verdict) = if summary.failed {
        ("❌", "failed")
    } else {
        ("✅", "passed")
    };
    let _ = writeln!(out, "## {icon} strata check {verdict}\n");
    let _ = writeln!(
        out,
        "{}; failing on {}.\n",
        summary.line(),
        plural_severity(opts.fail_on)
    );

    // Counts per environment × severity.
    let envs = environments(report);
    let _ = writeln!(out, "| environment | errors | warnings | infos |");
    let _ = writeln!(out, "| --- | ---: | ---: | ---: |");
    for (env, protected, _, c) in &envs {
        let lock = if *protected { " 🔒" } else { "" };
        let _ = writeln!(
            out,
            "| {}{lock} | {} | {} | {} |",
            cell(env),
            c.errors,
            c.warnings,
            c.infos
        );
    }
    if !report.project.is_empty() {
        let mut c = Counts::default();
        c.add(&report.project);
        let _ = writeln!(
            out,
            "| *project-wide* | {} | {} | {} |",
            c.errors, c.warnings, c.infos
        );
    }

    // Risk notes.
    let _ = writeln!(out, "\n### Risk notes\n");
    let mut any_protected = false;
    for (env, _, units, c) in envs.iter().filter(|e| e.1) {
        any_protected = true;
        let found = if c.total() == 0 {
            "no findings".to_string()
        } else {
            format!(
                "{}, {}, {}",
                plural(c.errors, "error", "errors"),
                plural(c.warnings, "warning", "warnings"),
                plural(c.infos, "info", "infos")
            )
        };
        let _ = writeln!(
            out,
            "- 🔒 protected environment {} checked ({}): {found}",
            code(env),
            plural(*units, "configuration", "configurations")
        );
    }
    if !any_protected {
        let _ = writeln!(out, "- no protected environment checked");
    }
    let secrets = report
        .findings()
        .filter(|f| f.rule.starts_with("secret/"))
        .count();
    if secrets > 0 {
        let _ = writeln!(
            out,
            "- 🔑 touches secrets: {} from `secret/` rules",
            plural(secrets, "finding", "findings")
        );
    }

    // The most severe findings.
    let _ = writeln!(out, "\n### Findings\n");
    let mut findings: Vec<&Finding> = report.findings().collect();
    if findings.is_empty() {
        let _ = writeln!(out, "No findings.");
        return out;
    }
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| finding_order(a, b))
    });
    let _ = writeln!(
        out,
        "| severity | parameter | target | location | message |"
    );
    let _ = writeln!(out, "| --- | --- | --- | --- | --- |");
    for f in findings.iter().take(MAX_FINDINGS) {
        let address = f.address();
        let mut message = cell(&f.message);
        if let Some(hint) = &f.hint {
            message.push_str("<br>hint: ");
            message.push_str(&cell(hint));
        }
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {message} |",
            f.severity,
            if address.is_empty() {
                NONE.into()
            } else {
                code(&address)
            },
            f.target.as_deref().map_or_else(|| NONE.into(), code),
            location_string(f, opts).map_or_else(|| NONE.into(), |l| code(&l)),
        );
    }
    if findings.len() > MAX_FINDINGS {
        let _ = writeln!(out, "\n… and {} more.", findings.len() - MAX_FINDINGS);
    }
    out
}

/// `errors`, `warnings or worse`, `any finding`.
fn plural_severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "errors",
        Severity::Warning => "warnings or worse",
        Severity::Info => "any finding",
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, opts};
    use super::*;

    #[test]
    fn snapshot() {
        insta::assert_snapshot!("markdown", render(&fixture(), &opts(Severity::Error)));
    }

    #[test]
    fn counts_table_and_risk_notes() {
        let out = render(&fixture(), &opts(Severity::Error));
        assert!(out.starts_with("## ❌ strata check failed\n"));
        assert!(out.contains("| prod 🔒 | 1 | 1 | 0 |\n"));
        assert!(out.contains("| dev | 1 | 0 | 1 |\n"));
        assert!(out.contains("| *project-wide* | 0 | 1 | 1 |\n"));
        assert!(out.contains("- 🔒 protected environment `prod` checked (2 configurations): 1 error, 1 warning, 0 infos\n"));
        assert!(out.contains("- 🔑 touches secrets: 1 finding from `secret/` rules\n"));
    }

    #[test]
    fn escapes_cells_errors_first() {
        let out = render(&fixture(), &opts(Severity::Error));
        let rows: Vec<&str> = out
            .lines()
            .skip_while(|l| !l.starts_with("| severity |"))
            .skip(2)
            .collect();
        assert_eq!(rows.len(), 6);
        assert!(rows[0].starts_with("| error | `ledger:db.password` | `dev/gcp/europe-west1` | `proj/layers/env/dev/ledger.yaml:12:5` |"));
        assert!(
            rows[0]
                .contains(r#"plaintext secret in a\|b \<\&\> "q", 100% sure:<br>use a reference"#)
        );
        assert!(rows[1].starts_with("| error | `checkout:db.pool.max`"));
        assert!(rows[5].starts_with("| info | — | — | — | hook \\`lint\\` took 3s |"));
        // Every row has exactly the six unescaped separators of five cells.
        for row in rows {
            let seps = row
                .match_indices('|')
                .filter(|(i, _)| !row[..*i].ends_with('\\'))
                .count();
            assert_eq!(seps, 6, "{row}");
        }
    }

    #[test]
    fn truncates_and_passes() {
        let mut r = fixture();
        let f = r.units[0].findings[0].clone();
        r.units[1].findings = vec![f; 25];
        let out = render(&r, &opts(Severity::Error));
        assert_eq!(
            out.lines().filter(|l| l.starts_with("| warning |")).count(),
            18
        );
        assert!(out.ends_with("\n… and 11 more.\n"));

        let clean = render(&Report::default(), &opts(Severity::Error));
        assert!(clean.starts_with("## ✅ strata check passed\n"));
        assert!(clean.contains("- no protected environment checked\n"));
        assert!(clean.ends_with("No findings.\n"));
    }

    #[test]
    fn code_spans() {
        assert_eq!(code("a|b"), "`a\\|b`");
        assert_eq!(code("a`b"), "a\\`b");
    }
}
