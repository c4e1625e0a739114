//! The text format: findings grouped under their file, one aligned line each, then a
//! summary.
//!
//! ```text
//! layers/env/prod/checkout.yaml
//!   7:13  error    schema/maximum  checkout:db.pool.max  prod/aws/us-east-1  60 is greater than the maximum of 50
//!         hint: lower it
//!
//! 1 error, 0 warnings, 0 infos in 4 configurations (2 targets × 2 services)
//! check failed
//! ```

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use strata_core::validate::report::{Finding, Report, Severity};

use super::{RenderOptions, Summary, sorted_findings};

/// Heading of the findings that have no location.
const NO_FILE: &str = "(no file)";
/// Shown in an empty column.
const NONE: &str = "-";
/// Width of the severity column (`warning`).
const SEVERITY_WIDTH: usize = 7;

fn severity_style(s: Severity) -> Style {
    match s {
        Severity::Error => AnsiColor::Red.on_default().bold(),
        Severity::Warning => AnsiColor::Yellow.on_default().bold(),
        Severity::Info => AnsiColor::Blue.on_default().bold(),
    }
}

/// `text` in `style` when colouring, else `text` as is.
fn paint(color: bool, style: Style, text: &str) -> String {
    if color {
        format!("{}{text}{}", style.render(), style.render_reset())
    } else {
        text.to_string()
    }
}

/// One finding's columns, before alignment.
struct Row<'r> {
    finding: &'r Finding,
    position: String,
    address: String,
    target: &'r str,
}

pub(super) fn render(report: &Report, opts: &RenderOptions) -> String {
    let findings = sorted_findings(report);
    let rows: Vec<Row> = findings
        .iter()
        .map(|f| {
            let address = f.address();
            Row {
                finding: f,
                position: f
                    .location
                    .as_ref()
                    .map(|l| format!("{}:{}", l.line, l.col))
                    .unwrap_or_default(),
                address: if address.is_empty() {
                    NONE.into()
                } else {
                    address
                },
                target: f.target.as_deref().unwrap_or(NONE),
            }
        })
        .collect();
    let width = |col: fn(&Row) -> usize| rows.iter().map(col).max().unwrap_or(0);
    let w_pos = width(|r| r.position.chars().count());
    let w_rule = width(|r| r.finding.rule.chars().count());
    let w_addr = width(|r| r.address.chars().count());
    let w_target = width(|r| r.target.chars().count());
    // Continuation lines (hints, multi-line messages) start under the severity column, or
    // under the message.
    let hint_indent = " ".repeat(2 + w_pos + 2);
    let message_indent =
        " ".repeat(2 + w_pos + 2 + SEVERITY_WIDTH + 2 + w_rule + 2 + w_addr + 2 + w_target + 2);

    let bold = Style::new().bold();
    let dim = Style::new().dimmed();
    let mut out = String::new();
    let mut current: Option<Option<&str>> = None;
    for row in &rows {
        let f = row.finding;
        let file = f.location.as_ref().map(|l| l.path.as_str());
        if current != Some(file) {
            if current.is_some() {
                out.push('\n');
            }
            let heading = file.map_or_else(|| NO_FILE.to_string(), |p| (opts.display_path)(p));
            let _ = writeln!(out, "{}", paint(opts.color, bold, &heading));
            current = Some(file);
        }
        let sev = f.severity.as_str();
        let message = f
            .message
            .replace("\r\n", "\n")
            .replace('\n', &format!("\n{message_indent}"));
        let _ = writeln!(
            out,
            "  {:<w_pos$}  {}{}  {:<w_rule$}  {:<w_addr$}  {:<w_target$}  {message}",
            row.position,
            paint(opts.color, severity_style(f.severity), sev),
            " ".repeat(SEVERITY_WIDTH - sev.len()),
            f.rule,
            row.address,
            row.target,
        );
        if let Some(hint) = &f.hint {
            let hint = hint
                .replace("\r\n", "\n")
                .replace('\n', &format!("\n{hint_indent}      "));
            let _ = writeln!(
                out,
                "{hint_indent}{}",
                paint(opts.color, dim, &format!("hint: {hint}"))
            );
        }
    }
    if !rows.is_empty() {
        out.push('\n');
    }

    let summary = Summary::of(report, opts.fail_on);
    let _ = writeln!(out, "{}", summary.line());
    let threshold = match opts.fail_on {
        Severity::Error => String::new(),
        s => format!(" (fail on {s})"),
    };
    let verdict = if summary.failed {
        paint(
            opts.color,
            AnsiColor::Red.on_default().bold(),
            "check failed",
        )
    } else {
        paint(
            opts.color,
            AnsiColor::Green.on_default().bold(),
            "check passed",
        )
    };
    let _ = writeln!(out, "{verdict}{threshold}");
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, opts};
    use super::*;

    #[test]
    fn snapshot_plain() {
        let out = render(&fixture(), &opts(Severity::Error));
        insta::assert_snapshot!("text_plain", out);
    }

    #[test]
    fn plain_has_no_ansi_and_groups_by_file() {
        let out = render(&fixture(), &opts(Severity::Error));
        assert!(!out.contains('\x1b'));
        let heading = out
            .lines()
            .position(|l| l == "proj/layers/env/prod/checkout.yaml")
            .expect("file heading");
        let next = out.lines().nth(heading + 1).unwrap();
        assert!(next.trim_start().starts_with("7:13  error"), "{next}");
        assert!(next.contains("schema/maximum") && next.contains("checkout:db.pool.max"));
        assert!(
            next.contains("prod/aws/us-east-1")
                && next.ends_with("60 is greater than the maximum of 50")
        );
        assert!(out.contains("\n(no file)\n"));
        assert!(out.ends_with("in 4 configurations (2 targets × 2 services)\ncheck failed\n"));
    }

    #[test]
    fn color_uses_ansi() {
        let mut o = opts(Severity::Error);
        o.color = true;
        let out = render(&fixture(), &o);
        assert!(out.contains("\x1b["));
        assert!(out.contains(&format!(
            "{}error{}",
            severity_style(Severity::Error).render(),
            severity_style(Severity::Error).render_reset()
        )));
        // Alignment does not count escape codes.
        let plain: String = strip_ansi(&out);
        assert_eq!(plain, render(&fixture(), &opts(Severity::Error)));
    }

    #[test]
    fn verdict_follows_fail_on() {
        let mut r = fixture();
        for u in &mut r.units {
            u.findings.retain(|f| f.severity < Severity::Error);
        }
        assert!(render(&r, &opts(Severity::Error)).ends_with("\ncheck passed\n"));
        assert!(
            render(&r, &opts(Severity::Warning)).ends_with("\ncheck failed (fail on warning)\n")
        );
        let clean = render(&Report::default(), &opts(Severity::Error));
        assert_eq!(
            clean,
            "0 errors, 0 warnings, 0 infos in 0 configurations (0 targets × 0 services)\ncheck passed\n"
        );
    }

    fn strip_ansi(s: &str) -> String {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }
}
