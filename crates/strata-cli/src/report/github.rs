//! GitHub Actions workflow commands: one annotation per finding, then the summary as plain
//! log lines.
//!
//! ```text
//! ::error file=layers/env/prod/checkout.yaml,line=7,col=13,title=schema/maximum::60 is greater than the maximum of 50 (target prod/aws/us-east-1, parameter checkout:db.pool.max)
//! ```
//!
//! Escaping follows `@actions/core` (`toCommandValue`/`escapeData`/`escapeProperty`):
//! `%`, `\r`, `\n` in messages; additionally `:` and `,` in properties.

use std::fmt::Write as _;

use strata_core::validate::report::{Report, Severity};

use super::{RenderOptions, Summary, message_with_context, sorted_findings};

/// Escapes a command's message.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a command property's value.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

fn command(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "notice",
    }
}

pub(super) fn render(report: &Report, opts: &RenderOptions) -> String {
    let mut out = String::new();
    for f in sorted_findings(report) {
        let mut props = Vec::new();
        if let Some(loc) = &f.location {
            props.push(format!(
                "file={}",
                escape_property(&(opts.display_path)(&loc.path))
            ));
            props.push(format!("line={}", loc.line));
            props.push(format!("col={}", loc.col));
        }
        props.push(format!("title={}", escape_property(&f.rule)));
        let _ = writeln!(
            out,
            "::{} {}::{}",
            command(f.severity),
            props.join(","),
            escape_data(&message_with_context(f))
        );
    }
    let summary = Summary::of(report, opts.fail_on);
    let _ = writeln!(out, "{}", summary.line());
    let _ = writeln!(
        out,
        "check {}",
        if summary.failed { "failed" } else { "passed" }
    );
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, opts};
    use super::*;

    #[test]
    fn snapshot() {
        insta::assert_snapshot!("github", render(&fixture(), &opts(Severity::Error)));
    }

    #[test]
    fn exact_lines() {
        let out = render(&fixture(), &opts(Severity::Error));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines,
            [
                "::warning file=proj/layers/base/checkout.yaml,line=3,col=1,title=contract/unused::no consumer reads this parameter (target prod/aws/us-east-1, parameter checkout:feature.legacy)",
                "::error file=proj/layers/env/dev/ledger.yaml,line=12,col=5,title=secret/plaintext::plaintext secret in a|b <&> \"q\", 100%25 sure:%0Ause a reference (target dev/gcp/europe-west1, parameter ledger:db.password)",
                "::error file=proj/layers/env/prod/checkout.yaml,line=7,col=13,title=schema/maximum::60 is greater than the maximum of 50 (target prod/aws/us-east-1, parameter checkout:db.pool.max)",
                "::warning file=proj/schemas/checkout.yaml,line=4,col=9,title=schema-evolution/type-narrowed::type narrowed from number to integer (parameter checkout:db.pool.max)",
                "::notice title=cel::replicas == 1: no redundancy (target dev/gcp/europe-west1, parameter checkout:replicas)",
                "::notice title=hook::hook `lint` took 3s",
                "2 errors, 2 warnings, 2 infos in 4 configurations (2 targets × 2 services)",
                "check failed",
            ]
        );
    }

    #[test]
    fn properties_escape_colon_and_comma() {
        assert_eq!(escape_property("a:b,c%d\ne"), "a%3Ab%2Cc%25d%0Ae");
        assert_eq!(escape_data("a:b,c%d\r\ne"), "a:b,c%25d%0D%0Ae");
    }
}
