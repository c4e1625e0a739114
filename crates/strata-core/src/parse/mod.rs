//! Reading YAML, JSON and TOML documents into [`Node`] trees with locations.
//!
//! All three formats produce the same tree, so layers may mix formats. The readers are
//! strict where silent data loss would otherwise hide: a duplicate key in one mapping is an
//! error in every format, and YAML booleans are only `true`/`false`.

mod json;
mod toml;
mod yaml;
mod yaml_fast;

use std::fmt;
use std::sync::Arc;

use crate::interpolate::Template;
use crate::value::{FileId, Loc, Node, Value};

/// Deepest nesting a document may have. Configuration rarely goes past ten levels; the cap
/// keeps recursive merging and dropping well inside the stack of a worker thread.
pub const MAX_DEPTH: usize = 64;

/// A document format, chosen by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// `.yaml` / `.yml`
    Yaml,
    /// `.json`
    Json,
    /// `.toml`
    Toml,
}

impl Format {
    /// The format of a file name, by extension.
    pub fn from_path(path: &str) -> Option<Format> {
        let ext = path.rsplit_once('.')?.1;
        match ext {
            "yaml" | "yml" => Some(Format::Yaml),
            "json" => Some(Format::Json),
            "toml" => Some(Format::Toml),
            _ => None,
        }
    }

    /// Extensions that layer files may use, in lookup order.
    pub const EXTENSIONS: [&'static str; 4] = ["yaml", "yml", "json", "toml"];
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Yaml => "YAML",
            Format::Json => "JSON",
            Format::Toml => "TOML",
        })
    }
}

use crate::error::DiagKind;
pub use crate::error::Diagnostic as ParseError;

/// How to read a document.
#[derive(Debug, Clone, Copy)]
pub struct ParseOptions {
    /// Parse `${…}` placeholders in strings into templates (layer files); `false` keeps
    /// every string literal (strata.yaml, schemas).
    pub templates: bool,
}

/// Reads `bytes` as a document of `format`. `path` is used in error messages, `file` in
/// the locations of the returned nodes. An empty document is an empty map.
pub fn parse_document(
    path: &Arc<str>,
    file: FileId,
    bytes: &[u8],
    format: Format,
    opts: ParseOptions,
) -> Result<Node, ParseError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let (line, col) = line_col_of_byte(bytes, e.valid_up_to());
        ParseError {
            kind: DiagKind::Syntax,
            path: path.clone(),
            line,
            col,
            message: "the file is not valid UTF-8".into(),
            hint: Some("save the file as UTF-8".into()),
        }
    })?;
    // A byte-order mark is noise some editors add; it is not content.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let cx = Ctx {
        path,
        file,
        templates: opts.templates,
    };
    match format {
        Format::Yaml => yaml::parse(text, &cx),
        Format::Json => json::parse(text, &cx),
        Format::Toml => toml::parse(text, &cx),
    }
}

/// Shared state of one document read.
pub(crate) struct Ctx<'a> {
    pub path: &'a Arc<str>,
    pub file: FileId,
    pub templates: bool,
}

impl Ctx<'_> {
    pub fn loc(&self, line: u32, col: u32) -> Loc {
        Loc::new(self.file, line, col)
    }

    pub fn err(&self, line: u32, col: u32, message: impl Into<String>) -> ParseError {
        ParseError {
            kind: DiagKind::Syntax,
            path: self.path.clone(),
            line,
            col,
            message: message.into(),
            hint: None,
        }
    }

    pub fn err_hint(
        &self,
        line: u32,
        col: u32,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> ParseError {
        ParseError {
            hint: Some(hint.into()),
            ..self.err(line, col, message)
        }
    }

    /// A string value: a template when it holds placeholders and templates are on.
    pub fn string(&self, s: &str, line: u32, col: u32) -> Result<Value, ParseError> {
        if self.templates && s.contains('$') {
            match Template::parse(s) {
                Ok(Some(t)) => return Ok(Value::Template(Box::new(t))),
                Ok(None) => {}
                Err(e) => {
                    let mut d = self.err_hint(line, col, e.message, e.hint);
                    d.kind = DiagKind::Placeholder;
                    return Err(d);
                }
            }
        }
        Ok(Value::Str(s.into()))
    }

    /// Inserts a key read at `line`:`col`, refusing a key the mapping already has.
    pub fn insert_unique(
        &self,
        map: &mut crate::value::Map,
        key: Box<str>,
        value: Node,
        line: u32,
        col: u32,
    ) -> Result<(), ParseError> {
        match map.entry(key) {
            indexmap::map::Entry::Occupied(first) => {
                Err(self.duplicate_key(first.key(), first.get().loc, line, col))
            }
            indexmap::map::Entry::Vacant(slot) => {
                slot.insert(value);
                Ok(())
            }
        }
    }

    pub fn duplicate_key(&self, key: &str, first: Loc, line: u32, col: u32) -> ParseError {
        let mut d = self.err_hint(
            line,
            col,
            format!("duplicate key `{key}` (first set at line {})", first.line),
            "keep one of the two entries; most tools silently drop the first, Strata refuses",
        );
        d.kind = DiagKind::DuplicateKey;
        d
    }
}

/// 1-based line and column of a byte offset.
pub(crate) fn line_col_of_byte(bytes: &[u8], offset: usize) -> (u32, u32) {
    let offset = offset.min(bytes.len());
    let before = &bytes[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let col = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line as u32, col as u32)
}

/// Checks that a document's root is a mapping (as every layer, strata.yaml and schema must be).
pub(crate) fn require_map_root(node: &Node, cx: &Ctx<'_>) -> Result<(), ParseError> {
    if matches!(node.value, Value::Map(_)) {
        Ok(())
    } else {
        Err(cx.err_hint(
            node.loc.line,
            node.loc.col,
            format!(
                "the document is {}, not a mapping",
                node.value.a_type_name()
            ),
            "a configuration file holds keys and values at the top level, e.g. `db: {host: x}`",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::Segment;
    use proptest::prelude::*;

    pub(crate) fn parse(text: &str, format: Format) -> Result<Node, ParseError> {
        parse_document(
            &Arc::from("f"),
            FileId(0),
            text.as_bytes(),
            format,
            ParseOptions { templates: true },
        )
    }

    fn get<'a>(n: &'a Node, path: &str) -> &'a Node {
        let segs = crate::path::parse_segments(path).unwrap();
        n.get(&segs).unwrap_or_else(|| panic!("no {path}"))
    }

    #[test]
    fn formats_by_extension() {
        assert_eq!(Format::from_path("a/b.yml"), Some(Format::Yaml));
        assert_eq!(Format::from_path("b.toml"), Some(Format::Toml));
        assert_eq!(Format::from_path("b.json"), Some(Format::Json));
        assert_eq!(Format::from_path("b.txt"), None);
        assert_eq!(Format::from_path("noext"), None);
    }

    #[test]
    fn same_tree_from_every_format() {
        let yaml = "db:\n  host: h\n  port: 5432\n  ratio: 0.5\n  on: true\n  tags: [a, b]\n  none: null\n";
        let json = r#"{"db": {"host": "h", "port": 5432, "ratio": 0.5, "on": true, "tags": ["a", "b"], "none": null}}"#;
        let toml =
            "[db]\nhost = \"h\"\nport = 5432\nratio = 0.5\non = true\ntags = [\"a\", \"b\"]\n";
        let y = parse(yaml, Format::Yaml).unwrap();
        let j = parse(json, Format::Json).unwrap();
        let t = parse(toml, Format::Toml).unwrap();
        for n in [&y, &j, &t] {
            assert_eq!(get(n, "db.host").value, Value::Str("h".into()));
            assert_eq!(get(n, "db.port").value, Value::Int(5432));
            assert_eq!(get(n, "db.ratio").value, Value::Float(0.5));
            assert_eq!(get(n, "db.on").value, Value::Bool(true));
            assert_eq!(get(n, "db.tags[1]").value, Value::Str("b".into()));
        }
        assert_eq!(get(&y, "db.port").loc.line, 3);
        assert_eq!(get(&t, "db.port").loc.line, 3);
        assert_eq!(get(&j, "db.port").loc.line, 1);
        assert_eq!(y.value, j.value);
    }

    #[test]
    fn invalid_utf8_is_located() {
        let e = parse_document(
            &Arc::from("x.yaml"),
            FileId(0),
            b"a: 1\nb: \xff\n",
            Format::Yaml,
            ParseOptions { templates: false },
        )
        .unwrap_err();
        assert_eq!((e.line, e.col), (2, 4));
        assert!(
            e.to_string()
                .starts_with("x.yaml:2:4: the file is not valid UTF-8")
        );
    }

    #[test]
    fn templates_are_parsed_only_when_asked() {
        let n = parse("a: \"x-${env}\"\nb: plain $ sign\n", Format::Yaml).unwrap();
        assert!(matches!(get(&n, "a").value, Value::Template(_)));
        assert!(matches!(get(&n, "b").value, Value::Str(_)));
        let lit = parse_document(
            &Arc::from("f"),
            FileId(0),
            b"a: x-${nope}",
            Format::Yaml,
            ParseOptions { templates: false },
        )
        .unwrap();
        assert!(matches!(get(&lit, "a").value, Value::Str(_)));
        let e = parse("a: x-${nope}\n", Format::Yaml).unwrap_err();
        assert_eq!((e.line, e.col), (1, 4));
        assert!(e.message.contains("${nope}"), "{e}");
    }

    #[test]
    fn a_byte_order_mark_is_ignored() {
        for f in [Format::Yaml, Format::Json, Format::Toml] {
            let text = if f == Format::Toml {
                "\u{feff}a = 1"
            } else if f == Format::Json {
                "\u{feff}{\"a\": 1}"
            } else {
                "\u{feff}a: 1"
            };
            let n = parse(text, f).unwrap();
            assert_eq!(n.value.as_map().unwrap()["a"].value, Value::Int(1), "{f}");
        }
    }

    #[test]
    fn line_col() {
        assert_eq!(line_col_of_byte(b"ab\ncd", 4), (2, 2));
        assert_eq!(line_col_of_byte(b"", 0), (1, 1));
        assert_eq!(line_col_of_byte("é\nx".as_bytes(), 2), (1, 2));
    }

    #[test]
    fn segment_helper_works() {
        let n = parse("a: [1, {b: 2}]", Format::Yaml).unwrap();
        assert_eq!(
            n.get(&[
                Segment::Key("a".into()),
                Segment::Index(1),
                Segment::Key("b".into())
            ])
            .unwrap()
            .value,
            Value::Int(2)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn no_input_panics_any_reader(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            for f in [Format::Yaml, Format::Json, Format::Toml] {
                let _ = parse_document(&Arc::from("f"), FileId(0), &bytes, f, ParseOptions { templates: true });
            }
        }

        #[test]
        fn no_structured_input_panics(s in "[\\[\\]{}:,\"'\\-#&*!|>%@` \\n\\ta-z0-9.$]{0,120}") {
            for f in [Format::Yaml, Format::Json, Format::Toml] {
                let _ = parse(&s, f);
            }
        }
    }
}
