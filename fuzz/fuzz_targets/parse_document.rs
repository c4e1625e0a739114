//! Any bytes, read as YAML, JSON and TOML layer documents: an error is fine, a panic is not.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use strata_core::parse::{Format, ParseOptions, parse_document};
use strata_core::value::FileId;

fuzz_target!(|data: &[u8]| {
    let path: Arc<str> = Arc::from("fuzz.yaml");
    for format in [Format::Yaml, Format::Json, Format::Toml] {
        for templates in [true, false] {
            let _ = parse_document(&path, FileId(0), data, format, ParseOptions { templates });
        }
    }
});
