//! Any bytes read as a CHANGESET.yaml: an error is fine, a panic is not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_store::changeset::Changeset;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Changeset::parse(text, "fuzz.yaml");
    }
});
