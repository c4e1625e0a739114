//! Helpers shared by the unit tests of several modules.

use std::sync::Arc;

use crate::files::FileTable;
use crate::parse::{Format, ParseOptions, parse_document};
use crate::validate::cel::RuleEnv;
use crate::validate::schema::UnitInfo;
use crate::value::Node;

/// Parses `text` as a YAML document named `name` (literal strings, no placeholders),
/// interning the name in `files` so locations resolve to it.
pub fn doc(files: &FileTable, name: &str, text: &str) -> Node {
    let id = files.intern(name);
    parse_document(
        &Arc::from(name),
        id,
        text.as_bytes(),
        Format::Yaml,
        ParseOptions { templates: false },
    )
    .expect("test documents are valid YAML")
}

/// A unit on `prod/aws/us-east-1` of service `svc`, for rule and contract tests.
pub const UNIT: UnitInfo<'static> = UnitInfo {
    target: "prod/aws/us-east-1",
    vars: RuleEnv {
        env: "prod",
        provider: "aws",
        region: "us-east-1",
        service: "svc",
    },
};
