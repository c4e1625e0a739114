//! Any bytes read as a CHANGESET.yaml, and as the JSON body of `POST /v1/changes`: an
//! error is fine, a panic is not. A JSON changeset that is accepted must survive its
//! YAML rendering (`to_text`, what a change request stores) unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_store::changeset::Changeset;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Changeset::parse(text, "fuzz.yaml");
    }
    if let Ok(doc) = serde_json::from_slice::<serde_json::Value>(data)
        && let Ok(cs) = Changeset::from_json(&doc)
    {
        let again = Changeset::parse(&cs.to_text(), "request.yaml")
            .unwrap_or_else(|e| panic!("to_text of an accepted changeset does not parse: {e}"));
        assert_eq!(again.edits, cs.edits, "to_text changed the edits");
    }
});
