//! Any text edited at a path taken from the input: an error is fine, a panic is not, and a
//! successful YAML edit must read back as the reference semantics say.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use strata_core::edit::{Edit, apply_edits, apply_to_json};
use strata_core::parse::{Format, ParseOptions, parse_document};
use strata_core::path::parse_segments;
use strata_core::value::FileId;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // First line: the path; second: the value (YAML-ish); the rest: the document.
    let mut parts = text.splitn(3, '\n');
    let (Some(path), Some(value), Some(doc)) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    let Ok(path) = parse_segments(path) else { return };
    if path.is_empty() {
        return;
    }
    let value = serde_json::from_str(value).unwrap_or(serde_json::Value::String(value.into()));
    let name: Arc<str> = Arc::from("fuzz.yaml");
    let opts = ParseOptions { templates: false };
    for edits in [
        vec![Edit::Set { path: path.clone(), value: value.clone() }],
        vec![Edit::Unset { path: path.clone() }],
    ] {
        for format in [Format::Yaml, Format::Json, Format::Toml] {
            if let Ok(out) = apply_edits(doc, format, &edits)
                && format == Format::Yaml
                && let Ok(before) = parse_document(&name, FileId(0), doc.as_bytes(), format, opts)
            {
                let mut want = before.value.to_json();
                if apply_to_json(&mut want, &edits).is_ok() {
                    let got = parse_document(&name, FileId(0), out.as_bytes(), format, opts)
                        .expect("edited YAML reads back");
                    assert_eq!(got.value.to_json(), want);
                }
            }
        }
    }
});
