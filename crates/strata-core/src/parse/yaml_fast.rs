//! A fast reader for the plain block-YAML that configuration layers are made of.
//!
//! General YAML parsers scan character by character at about 30 MB/s here, which is most of
//! the time of resolving a million-parameter project. Layer files, though, are nearly always
//! the same simple shape: block mappings and sequences, one scalar per line, plain or
//! double-quoted, with comments. This reader handles exactly that subset, line by line, and
//! gives up (`None`) on anything else — anchors, tags, flow collections, block scalars,
//! single quotes, multi-line scalars, tabs, several documents, duplicate keys, any error.
//! The caller then reads the file with the full parser ([`super::yaml`]), which stays the
//! reference: a differential property test checks that whenever this reader answers, its
//! tree (values and every location) is exactly the full parser's.

use super::Ctx;
use super::yaml::{IntScan, plain_float, plain_int};
use crate::value::{Map, Node, Value, map_with_capacity};

/// One content line: 1-based number, indentation in spaces, and the text after it.
#[derive(Clone, Copy)]
struct Line<'a> {
    no: u32,
    indent: usize,
    text: &'a str,
}

/// Reads `text` if it is in the simple subset; `None` means "use the full parser".
pub(super) fn try_parse(text: &str, cx: &Ctx<'_>) -> Option<Node> {
    if text.contains('\r') || text.contains('\t') {
        return None;
    }
    let mut lines = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let trimmed = raw.trim_start_matches(' ');
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if raw.starts_with("---") || raw.starts_with("...") || raw.starts_with('%') {
            return None;
        }
        lines.push(Line {
            no: u32::try_from(i + 1).ok()?,
            indent: raw.len() - trimmed.len(),
            text: trimmed.trim_end_matches(' '),
        });
    }
    if lines.is_empty() {
        return None;
    }
    let first = lines[0];
    if first.indent != 0 || is_item(first.text) {
        return None;
    }
    let mut r = Reader {
        cx,
        lines,
        pos: 0,
        depth: 0,
    };
    let root = r.mapping(0)?;
    (r.pos == r.lines.len()).then_some(root)
}

fn is_item(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

struct Reader<'a, 'c> {
    cx: &'c Ctx<'c>,
    lines: Vec<Line<'a>>,
    pos: usize,
    depth: usize,
}

impl<'a> Reader<'a, '_> {
    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= super::MAX_DEPTH).then_some(())
    }

    /// A block mapping whose keys sit at `indent`, starting at the current line.
    fn mapping(&mut self, indent: usize) -> Option<Node> {
        self.enter()?;
        let start = self.lines[self.pos];
        let mut map: Map = map_with_capacity(4);
        while let Some(&line) = self.lines.get(self.pos) {
            if line.indent < indent {
                break;
            }
            if line.indent > indent || is_item(line.text) {
                return None;
            }
            let (key, rest) = split_key(line.text)?;
            let key_col = line.indent as u32 + 1;
            self.pos += 1;
            let value = if rest.is_empty() {
                self.block_value(indent, line.no, key_col)?
            } else {
                let col = line.indent + line.text.len() - rest.len();
                let mut v = self.scalar(rest, line.no, col as u32 + 1)?;
                if !v.value.is_scalar() {
                    // `key: []`: collections are located at their key, as in the full reader.
                    v.loc = self.cx.loc(line.no, key_col);
                }
                v
            };
            match map.entry(key.into()) {
                indexmap::map::Entry::Occupied(_) => return None,
                indexmap::map::Entry::Vacant(slot) => {
                    slot.insert(value);
                }
            }
        }
        self.depth -= 1;
        Some(Node::new(
            Value::Map(Box::new(map)),
            self.cx.loc(start.no, start.indent as u32 + 1),
        ))
    }

    /// The value of `key:` with nothing after the colon: a nested block on the next lines.
    fn block_value(&mut self, indent: usize, key_line: u32, key_col: u32) -> Option<Node> {
        let next = *self.lines.get(self.pos)?;
        let mut node = if next.indent > indent && !is_item(next.text) {
            self.mapping(next.indent)?
        } else if next.indent >= indent && is_item(next.text) {
            self.sequence(next.indent)?
        } else {
            // `key:` with no value at all (null): the full parser places it; leave it there.
            return None;
        };
        node.loc = self.cx.loc(key_line, key_col);
        Some(node)
    }

    /// A block sequence whose dashes sit at `indent`.
    fn sequence(&mut self, indent: usize) -> Option<Node> {
        self.enter()?;
        let start = self.lines[self.pos];
        let mut items = Vec::new();
        while let Some(&line) = self.lines.get(self.pos) {
            if line.indent < indent || (line.indent == indent && !is_item(line.text)) {
                break;
            }
            if line.indent > indent {
                return None;
            }
            let content = line.text.get(1..)?.trim_start_matches(' ');
            if content.is_empty() || is_item(content) {
                return None;
            }
            let offset = line.indent + line.text.len() - content.len();
            if split_key(content).is_some() {
                // A mapping item: its keys continue at the column of the first one.
                self.lines[self.pos] = Line {
                    no: line.no,
                    indent: offset,
                    text: content,
                };
                items.push(self.mapping(offset)?);
            } else {
                self.pos += 1;
                items.push(self.scalar(content, line.no, offset as u32 + 1)?);
            }
        }
        self.depth -= 1;
        Some(Node::new(
            Value::List(items),
            self.cx.loc(start.no, start.indent as u32 + 1),
        ))
    }

    /// A scalar that fills the rest of a line (a trailing comment allowed).
    fn scalar(&self, text: &str, line: u32, col: u32) -> Option<Node> {
        let loc = self.cx.loc(line, col);
        let value = if let Some(body) = text.strip_prefix('"') {
            let (s, rest) = double_quoted(body)?;
            let comment_only =
                rest.starts_with(' ') && rest.trim_start_matches(' ').starts_with('#');
            if !(rest.is_empty() || comment_only) {
                return None;
            }
            self.cx.string(&s, line, col).ok()?
        } else {
            match text {
                "[]" => Value::List(Vec::new()),
                "{}" => Value::Map(Box::new(map_with_capacity(0))),
                _ => self.plain(text, line, col)?,
            }
        };
        Some(Node::new(value, loc))
    }

    fn plain(&self, text: &str, line: u32, col: u32) -> Option<Value> {
        let first = text.chars().next()?;
        // A lone `-` (or `- …`) is a sequence entry, not a scalar.
        if "[]{}&*!|>'\"%@`#,?:".contains(first) || text == "-" || text.starts_with("- ") {
            return None;
        }
        let body = match text.find(" #") {
            Some(i) => text[..i].trim_end_matches(' '),
            None => text,
        };
        if body.is_empty()
            || body.contains(": ")
            || body.ends_with(':')
            || body.chars().any(|c| c.is_control())
        {
            return None;
        }
        Some(match body {
            "~" | "null" | "Null" | "NULL" => Value::Null,
            "true" | "True" | "TRUE" => Value::Bool(true),
            "false" | "False" | "FALSE" => Value::Bool(false),
            _ => match plain_int(body) {
                IntScan::Fits(i) => Value::Int(i),
                IntScan::Overflow => return None,
                IntScan::NotInt => match plain_float(body) {
                    Some(f) => Value::Float(f),
                    None => self.cx.string(body, line, col).ok()?,
                },
            },
        })
    }
}

/// Splits `key: rest` or `key:` where the key is a plain identifier-like word.
fn split_key(text: &str) -> Option<(&str, &str)> {
    let end = text
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/' | b'$')))
        .unwrap_or(text.len());
    let key = &text[..end];
    let after = &text[end..];
    if key.is_empty() || key.starts_with(['-', '.']) {
        return None;
    }
    if after == ":" {
        return Some((key, ""));
    }
    let rest = after.strip_prefix(": ")?.trim_start_matches(' ');
    if rest.starts_with('#') {
        return Some((key, ""));
    }
    Some((key, rest))
}

/// The content of a double-quoted scalar (after the opening quote) and the text after the
/// closing quote; `None` for escapes outside the common set or an unclosed quote.
fn double_quoted(body: &str) -> Option<(String, &str)> {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &body[i + 1..])),
            '\\' => {
                let (_, e) = chars.next()?;
                match e {
                    '"' => out.push('"'),
                    '\\' => out.push('\\'),
                    '/' => out.push('/'),
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '0' => out.push('\0'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'u' => {
                        let mut code = 0u32;
                        for _ in 0..4 {
                            let (_, h) = chars.next()?;
                            code = code * 16 + h.to_digit(16)?;
                        }
                        out.push(char::from_u32(code)?);
                    }
                    _ => return None,
                }
            }
            c if c.is_control() => return None,
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::ParseOptions;
    use crate::value::FileId;
    use proptest::prelude::*;
    use std::sync::Arc;

    fn ctx_parse(text: &str) -> (Option<Node>, Result<Node, crate::parse::ParseError>) {
        let path: Arc<str> = Arc::from("f.yaml");
        let cx = Ctx {
            path: &path,
            file: FileId(0),
            templates: ParseOptions { templates: true }.templates,
        };
        (
            try_parse(text, &cx),
            super::super::yaml::parse_full(text, &cx),
        )
    }

    /// Every command resolving anything reads the built-in catalogs: they stay in the fast
    /// reader's subset (block style, double quotes), and it reads them as the full parser.
    #[test]
    fn the_builtin_catalogs_are_read_by_the_fast_reader() {
        for (name, text) in [
            ("aws", include_str!("../../catalogs/aws.yaml")),
            ("azure", include_str!("../../catalogs/azure.yaml")),
            ("gcp", include_str!("../../catalogs/gcp.yaml")),
            ("mock", include_str!("../../catalogs/mock.yaml")),
        ] {
            let (fast, full) = ctx_parse(text);
            let fast = fast.unwrap_or_else(|| panic!("{name}: the fast reader gave up"));
            if let Err(e) = same(&fast, &full.unwrap()) {
                panic!("{name}: {e}");
            }
        }
    }

    /// Values and every location equal.
    fn same(a: &Node, b: &Node) -> Result<(), String> {
        if a.loc != b.loc {
            return Err(format!("loc {:?} vs {:?} at {}", a.loc, b.loc, a.value));
        }
        match (&a.value, &b.value) {
            (Value::Map(x), Value::Map(y)) => {
                if x.len() != y.len() {
                    return Err(format!("map sizes {} vs {}", x.len(), y.len()));
                }
                for ((ka, va), (kb, vb)) in x.iter().zip(y.iter()) {
                    if ka != kb {
                        return Err(format!("keys {ka} vs {kb}"));
                    }
                    same(va, vb)?;
                }
                Ok(())
            }
            (Value::List(x), Value::List(y)) => {
                if x.len() != y.len() {
                    return Err("list sizes".into());
                }
                x.iter().zip(y).try_for_each(|(p, q)| same(p, q))
            }
            (x, y) if x == y => Ok(()),
            (x, y) => Err(format!("{x} vs {y}")),
        }
    }

    /// Whenever the fast reader answers, the full reader agrees exactly.
    fn check(text: &str) -> Result<bool, String> {
        let (fast, full) = ctx_parse(text);
        match (fast, full) {
            (None, _) => Ok(false),
            (Some(f), Ok(g)) => same(&f, &g)
                .map(|_| true)
                .map_err(|e| format!("{e}\n---\n{text}")),
            (Some(_), Err(e)) => Err(format!(
                "fast read a document the full parser refuses: {e}\n---\n{text}"
            )),
        }
    }

    #[derive(Debug, Clone)]
    enum T {
        Scalar(String),
        List(Vec<T>),
        Map(Vec<(String, T)>),
    }

    fn scalar_text() -> impl Strategy<Value = String> {
        prop_oneof![
            (-1000i64..1000).prop_map(|i| i.to_string()),
            Just("0x1F".to_string()),
            Just("1e3".to_string()),
            Just("0.25".to_string()),
            Just("true".to_string()),
            Just("False".to_string()),
            Just("yes".to_string()),
            Just("~".to_string()),
            Just("null".to_string()),
            Just("[]".to_string()),
            Just("{}".to_string()),
            "[a-z][a-z0-9 ._/-]{0,12}",
            "[a-z:#\\[\\]{},'&*!|>@%-]{1,6}",
            "\"[a-z é\\\\\"${}]{0,10}\"",
            "\"[a-z]{0,4}\\\\[ntu0/][0-9a-f]{0,4}\"",
            "[a-z]{1,4} #[a-z ]{0,5}",
            Just("\"x\" # note".to_string()),
            Just("\"${env}-${region}\"".to_string()),
            Just("\"${nope}\"".to_string()),
            Just("99999999999999999999".to_string()),
        ]
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z_][a-z0-9_-]{0,8}",
            Just("$patch".to_string()),
            Just("8080".to_string()),
            Just("a.b".to_string()),
            Just("true".to_string()),
        ]
    }

    fn tree() -> impl Strategy<Value = T> {
        let leaf = scalar_text().prop_map(T::Scalar);
        leaf.prop_recursive(5, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 1..4).prop_map(T::List),
                prop::collection::vec((key(), inner), 1..5).prop_map(T::Map),
            ]
        })
    }

    /// Emits block YAML with varying indentation and comments.
    fn emit(t: &T, indent: usize, step: usize, out: &mut String, comments: bool) {
        let pad = " ".repeat(indent);
        match t {
            T::Map(entries) => {
                for (k, v) in entries {
                    if comments {
                        out.push_str(&format!("{pad}# about {k}\n\n"));
                    }
                    match v {
                        T::Scalar(s) => out.push_str(&format!("{pad}{k}: {s}\n")),
                        T::Map(_) => {
                            out.push_str(&format!("{pad}{k}:\n"));
                            emit(v, indent + step, step, out, comments);
                        }
                        T::List(_) => {
                            out.push_str(&format!("{pad}{k}:\n"));
                            // Sequences both indented and at the key's own column.
                            emit(
                                v,
                                indent + if step == 4 { 0 } else { step },
                                step,
                                out,
                                comments,
                            );
                        }
                    }
                }
            }
            T::List(items) => {
                for item in items {
                    match item {
                        T::Scalar(s) => out.push_str(&format!("{pad}- {s}\n")),
                        T::Map(_) => {
                            let mut inner = String::new();
                            emit(item, indent + 2, step, &mut inner, false);
                            out.push_str(&format!("{pad}- {}", inner.trim_start_matches(' ')));
                        }
                        T::List(_) => {
                            out.push_str(&format!("{pad}-\n"));
                            emit(item, indent + step, step, out, comments);
                        }
                    }
                }
            }
            T::Scalar(s) => out.push_str(&format!("{pad}{s}\n")),
        }
    }

    fn safe_scalar() -> impl Strategy<Value = String> {
        prop_oneof![
            (-1000i64..1000).prop_map(|i| i.to_string()),
            Just("0.25".to_string()),
            Just("true".to_string()),
            Just("yes".to_string()),
            Just("~".to_string()),
            Just("[]".to_string()),
            "[a-z][a-z0-9._/-]{0,12}",
            "\"[a-z é:#]{0,10}\"",
            "[a-z]{1,4} #[a-z ]{0,5}",
            Just("\"${env}-${region}\"".to_string()),
        ]
    }

    fn safe_tree() -> impl Strategy<Value = T> {
        safe_scalar()
            .prop_map(T::Scalar)
            .prop_recursive(5, 48, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 1..4)
                        .prop_filter("no list in list", |items| {
                            !items.iter().any(|i| matches!(i, T::List(_)))
                        })
                        .prop_map(T::List),
                    prop::collection::btree_map("[a-z_][a-z0-9_-]{0,8}", inner, 1..5)
                        .prop_map(|m| T::Map(m.into_iter().collect())),
                ]
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn plain_documents_take_the_fast_path_and_agree(
            entries in prop::collection::btree_map("[a-z_][a-z0-9_-]{0,8}", safe_tree(), 1..5),
            step in prop_oneof![Just(2usize), Just(4usize)],
            comments in any::<bool>(),
        ) {
            let mut text = String::new();
            emit(&T::Map(entries.into_iter().collect()), 0, step, &mut text, comments);
            prop_assert_eq!(check(&text), Ok(true), "{}", text);
        }

        #[test]
        fn agrees_with_the_full_parser(
            entries in prop::collection::vec((key(), tree()), 1..5),
            step in prop_oneof![Just(2usize), Just(4usize)],
            comments in any::<bool>(),
        ) {
            let mut text = String::new();
            emit(&T::Map(entries), 0, step, &mut text, comments);
            check(&text).map_err(TestCaseError::fail)?;
        }

        #[test]
        fn agrees_on_mutated_documents(
            entries in prop::collection::vec((key(), tree()), 1..4),
            cut in any::<prop::sample::Index>(),
            insert in prop::sample::select(vec!["", " ", "  ", "\n", "- ", ": ", "#", "\"", "x", "\t", "---\n", "&a ", "*a", "? "]),
        ) {
            let mut text = String::new();
            emit(&T::Map(entries), 0, 2, &mut text, false);
            let mut at = cut.index(text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            text.insert_str(at, insert);
            check(&text).map_err(TestCaseError::fail)?;
        }
    }

    #[test]
    fn plain_configuration_takes_the_fast_path() {
        let text = "# a layer\ndb:\n  host: \"db.${env}.internal\"  # where\n  port: 5432\n  pool: {}\n  tags: []\nhosts:\n- a\n- b\nsidecars:\n  - name: envoy\n    image: envoy:1.31\n  - name: log\n    ports:\n      - 80\n$patch: replace\n";
        assert_eq!(check(text), Ok(true));
    }

    #[test]
    fn everything_else_falls_back() {
        for text in [
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "a: [1, 2]\n",
            "a: |\n  text\n",
            "a: 'q'\n",
            "a: b\n  c\n",
            "a:\n",
            "- a\n",
            "a: 1\na: 2\n",
            "---\na: 1\n",
            "a:\tb\n",
            "a: 1\r\n",
            "a: \"${nope}\"\n",
            "a: 99999999999999999999\n",
            "a: \"\\x41\"\n",
            "a:\n  b: -\n",
            "",
        ] {
            let (fast, _) = ctx_parse(text);
            assert!(fast.is_none(), "{text:?}");
        }
    }
}

#[cfg(test)]
mod corpus {
    //! The fast reader on real layer files: the example project and generated projects.
    use super::tests_support::check_file;

    #[test]
    fn example_project_files_agree() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/acme");
        let mut stack = vec![std::path::PathBuf::from(root)];
        let (mut total, mut fast) = (0, 0);
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("examples/acme exists") {
                let path = entry.expect("readable").path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "yaml") {
                    let text = std::fs::read_to_string(&path).expect("utf-8");
                    total += 1;
                    fast += usize::from(
                        check_file(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
                    );
                }
            }
        }
        assert!(total > 50, "{total}");
        assert!(
            fast * 2 > total,
            "most example files take the fast path: {fast}/{total}"
        );
    }

    #[test]
    fn generated_files_all_take_the_fast_path() {
        let opts = strata_gen::GenOptions {
            services: 6,
            params: 200,
            ..Default::default()
        };
        for f in strata_gen::generate_to_vec(&opts).expect("valid options") {
            if f.path.starts_with("layers/") {
                let text = String::from_utf8(f.contents).expect("utf-8");
                assert_eq!(check_file(&text), Ok(true), "{}", f.path);
            }
        }
    }
}

#[cfg(test)]
mod tests_support {
    use super::*;
    use crate::value::FileId;
    use std::sync::Arc;

    /// `Ok(true)` when the fast reader answered and agrees with the full one.
    pub fn check_file(text: &str) -> Result<bool, String> {
        let path: Arc<str> = Arc::from("f.yaml");
        let cx = Ctx {
            path: &path,
            file: FileId(0),
            templates: true,
        };
        let Some(fast) = try_parse(text, &cx) else {
            return Ok(false);
        };
        let full = super::super::yaml::parse_full(text, &cx).map_err(|e| e.to_string())?;
        (format!("{:?}", fast) == format!("{:?}", full))
            .then_some(true)
            .ok_or_else(|| "trees differ".to_string())
    }
}
