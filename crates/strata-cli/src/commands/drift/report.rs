//! Renderings of a drift report on the terminal: the text report coloured with ANSI
//! styles, and the JSON report streamed to stdout. The reports themselves (and Markdown
//! and the one-line summary) are `strata_core::drift::report`'s, shared with the server.

use anstyle::{AnsiColor, Style};
use strata_core::drift::report::{Collected, Tone, json_report};

pub(super) use strata_core::drift::report::{markdown, summary_line};

fn class_style(class: &str) -> Style {
    match class {
        "violation" => AnsiColor::Red.on_default().bold(),
        "drift" => AnsiColor::Yellow.on_default().bold(),
        "expired" => AnsiColor::Magenta.on_default().bold(),
        "missing" => AnsiColor::Cyan.on_default(),
        _ => AnsiColor::Green.on_default(),
    }
}

/// The text report, coloured when `color`.
pub(super) fn text(c: &Collected, all: bool, color: bool) -> String {
    let paint = |tone: Tone, text: &str| -> String {
        if !color {
            return text.to_string();
        }
        let style = match tone {
            Tone::Service => Style::new().bold(),
            Tone::Class(class) => class_style(class),
        };
        format!("{}{text}{}", style.render(), style.render_reset())
    };
    strata_core::drift::report::text(c, all, &paint)
}

/// Writes the JSON report to stdout, streaming.
pub(super) fn json(c: &Collected) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, &json_report(c))?;
    out.write_all(b"\n")?;
    out.flush()
}
