//! YAML reader: saphyr-parser events → [`Node`] tree.
//!
//! Building the tree from events (rather than using a ready-made DOM) gives every node its
//! line and column, lets duplicate keys be refused, and keeps scalar typing strict: the
//! YAML 1.2 core schema, where only `true`/`false` are booleans.

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span, Tag};

use super::{Ctx, ParseError, require_map_root};
use crate::value::{Map, Node, Value, map_with_capacity};

/// Maximum nesting depth; deeper documents are refused instead of exhausting the stack.
const MAX_DEPTH: usize = super::MAX_DEPTH;

/// Maximum number of nodes that aliases may copy in one document. Aliases are rare in
/// configuration; without a cap, a few hundred bytes of nested aliases ("billion laughs")
/// expand to gigabytes.
const MAX_ALIAS_NODES: usize = 100_000;

pub(super) fn parse(text: &str, cx: &Ctx<'_>) -> Result<Node, ParseError> {
    if let Some(node) = super::yaml_fast::try_parse(text, cx) {
        return Ok(node);
    }
    parse_full(text, cx)
}

/// Reads any YAML document with saphyr-parser (the reference for the fast reader).
pub(super) fn parse_full(text: &str, cx: &Ctx<'_>) -> Result<Node, ParseError> {
    let mut b = Builder {
        cx,
        parser: Parser::new_from_str(text),
        anchors: Vec::new(),
        depth: 0,
        alias_nodes: 0,
    };
    b.document()
}

struct Builder<'a, 'i> {
    cx: &'a Ctx<'a>,
    parser: Parser<'i, saphyr_parser::StrInput<'i>>,
    anchors: Vec<(usize, Node)>,
    depth: usize,
    alias_nodes: usize,
}

/// Counts the nodes of a tree, stopping once `limit` is passed.
fn count_nodes(node: &Node, limit: usize) -> usize {
    let mut n = 1;
    let children: Box<dyn Iterator<Item = &Node>> = match &node.value {
        Value::List(items) => Box::new(items.iter()),
        Value::Map(m) => Box::new(m.values()),
        _ => return 1,
    };
    for c in children {
        n += count_nodes(c, limit.saturating_sub(n));
        if n > limit {
            break;
        }
    }
    n
}

fn pos(span: &Span) -> (u32, u32) {
    (span.start.line() as u32, span.start.col() as u32 + 1)
}

impl<'i> Builder<'_, 'i> {
    fn next(&mut self) -> Result<(Event<'i>, Span), ParseError> {
        match self.parser.next_event() {
            Some(Ok(ev)) => Ok(ev),
            Some(Err(e)) => Err(self.scan_error(&e)),
            None => Err(self.cx.err(1, 1, "unexpected end of the YAML stream")),
        }
    }

    fn scan_error(&self, e: &ScanError) -> ParseError {
        let m = e.marker();
        let hint = if e.info().contains("flow") {
            "inside [ ] or { }, quote values that hold `{`, `}`, `,` or `: `, e.g. [base, \"env/{env}\"]"
        } else {
            "check indentation, quotes and brackets around this position"
        };
        self.cx.err_hint(
            m.line() as u32,
            m.col() as u32 + 1,
            format!("invalid YAML: {}", e.info()),
            hint,
        )
    }

    fn document(&mut self) -> Result<Node, ParseError> {
        let empty = || {
            Node::new(
                Value::Map(Box::new(map_with_capacity(0))),
                self.cx.loc(1, 1),
            )
        };
        // StreamStart
        self.next()?;
        let (ev, span) = self.next()?;
        let root = match ev {
            Event::StreamEnd => return Ok(empty()),
            Event::DocumentStart(_) => {
                let (ev, span) = self.next()?;
                if let Event::DocumentEnd = ev {
                    empty()
                } else {
                    let node = self.node(ev, span)?;
                    let (end, _) = self.next()?;
                    debug_assert!(matches!(end, Event::DocumentEnd));
                    node
                }
            }
            _ => {
                let (l, c) = pos(&span);
                return Err(self.cx.err(l, c, "expected a YAML document"));
            }
        };
        let (ev, span) = self.next()?;
        if !matches!(ev, Event::StreamEnd) {
            let (l, c) = pos(&span);
            return Err(self.cx.err_hint(
                l,
                c,
                "a second YAML document (`---`) in one file",
                "keep one document per file; split the rest into their own files",
            ));
        }
        if let Value::Null = root.value {
            return Ok(empty());
        }
        require_map_root(&root, self.cx)?;
        Ok(root)
    }

    fn node(&mut self, ev: Event<'i>, span: Span) -> Result<Node, ParseError> {
        let (line, col) = pos(&span);
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let value = self.scalar(&text, style, tag.as_deref(), line, col)?;
                let node = Node::new(value, self.cx.loc(line, col));
                self.remember(anchor, &node);
                Ok(node)
            }
            Event::Alias(id) => {
                let found = self.anchors.iter().rev().find(|(a, _)| *a == id);
                let Some((_, n)) = found else {
                    return Err(self.cx.err(line, col, "alias to an unknown anchor"));
                };
                self.alias_nodes += count_nodes(n, MAX_ALIAS_NODES);
                if self.alias_nodes > MAX_ALIAS_NODES {
                    return Err(self.cx.err_hint(
                        line,
                        col,
                        format!("aliases in this file expand to more than {MAX_ALIAS_NODES} values"),
                        "write the values out, or split the file; deeply nested aliases are refused",
                    ));
                }
                Ok(n.clone())
            }
            Event::SequenceStart(anchor, tag) => {
                self.check_collection_tag(tag.as_deref(), "seq", line, col)?;
                self.enter(line, col)?;
                let mut items = Vec::new();
                loop {
                    let (ev, span) = self.next()?;
                    if let Event::SequenceEnd = ev {
                        break;
                    }
                    items.push(self.node(ev, span)?);
                }
                self.depth -= 1;
                let node = Node::new(Value::List(items), self.cx.loc(line, col));
                self.remember(anchor, &node);
                Ok(node)
            }
            Event::MappingStart(anchor, tag) => {
                self.check_collection_tag(tag.as_deref(), "map", line, col)?;
                self.enter(line, col)?;
                let mut map: Map = map_with_capacity(4);
                loop {
                    let (ev, kspan) = self.next()?;
                    if let Event::MappingEnd = ev {
                        break;
                    }
                    let (kl, kc) = pos(&kspan);
                    let key = match ev {
                        Event::Scalar(text, _, _, _) => text.into_owned(),
                        Event::Alias(_) => {
                            let k = self.node(ev, kspan)?;
                            match k.value {
                                Value::Str(s) => s.into_string(),
                                Value::Map(_) | Value::List(_) => {
                                    return Err(self.cx.err(kl, kc, "a key must be a scalar"));
                                }
                                other => other.to_string(),
                            }
                        }
                        _ => {
                            return Err(self.cx.err_hint(
                                kl,
                                kc,
                                "a mapping key must be a plain scalar, not a list or mapping",
                                "use a string key",
                            ));
                        }
                    };
                    let (vev, vspan) = self.next()?;
                    let value = self.node(vev, vspan)?;
                    // A key's node is located at the key, which is where users look.
                    let mut value = value;
                    if !value.value.is_scalar() || value.loc.line != kl {
                        value.loc = self.cx.loc(kl, kc);
                    }
                    self.cx
                        .insert_unique(&mut map, key.into_boxed_str(), value, kl, kc)?;
                }
                self.depth -= 1;
                let node = Node::new(Value::Map(Box::new(map)), self.cx.loc(line, col));
                self.remember(anchor, &node);
                Ok(node)
            }
            _ => Err(self.cx.err(line, col, "unexpected YAML event")),
        }
    }

    fn int_overflow(&self, text: &str, line: u32, col: u32) -> ParseError {
        self.cx.err_hint(
            line,
            col,
            format!("integer `{text}` does not fit in 64 bits"),
            "quote it to keep it as a string, e.g. \"12345678901234567890\"",
        )
    }

    fn enter(&mut self, line: u32, col: u32) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self
                .cx
                .err(line, col, format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn remember(&mut self, anchor: usize, node: &Node) {
        if anchor > 0 {
            self.anchors.push((anchor, node.clone()));
        }
    }

    fn check_collection_tag(
        &self,
        tag: Option<&Tag>,
        want: &str,
        line: u32,
        col: u32,
    ) -> Result<(), ParseError> {
        match tag {
            None => Ok(()),
            Some(t) if t.is_yaml_core_schema() && t.suffix == want => Ok(()),
            Some(t) => Err(self.unsupported_tag(t, line, col)),
        }
    }

    fn unsupported_tag(&self, t: &Tag, line: u32, col: u32) -> ParseError {
        self.cx.err_hint(
            line,
            col,
            format!("unsupported YAML tag `{t}`"),
            "Strata reads plain data: remove the tag, or quote the value to make it a string",
        )
    }

    fn scalar(
        &self,
        text: &str,
        style: ScalarStyle,
        tag: Option<&Tag>,
        line: u32,
        col: u32,
    ) -> Result<Value, ParseError> {
        if let Some(t) = tag {
            if !t.is_yaml_core_schema() {
                return Err(self.unsupported_tag(t, line, col));
            }
            let bad = |what: &str| {
                self.cx.err(
                    line,
                    col,
                    format!("`{text}` is not a valid {what} for tag `{t}`"),
                )
            };
            return match t.suffix.as_str() {
                "str" => Ok(Value::Str(text.into())),
                "int" => match plain_int(text) {
                    IntScan::Fits(i) => Ok(Value::Int(i)),
                    IntScan::Overflow => Err(self.int_overflow(text, line, col)),
                    IntScan::NotInt => Err(bad("integer")),
                },
                "float" => plain_float(text)
                    .or_else(|| match plain_int(text) {
                        IntScan::Fits(i) => Some(i as f64),
                        _ => None,
                    })
                    .map(Value::Float)
                    .ok_or_else(|| bad("float")),
                "bool" => match text {
                    "true" | "True" | "TRUE" => Ok(Value::Bool(true)),
                    "false" | "False" | "FALSE" => Ok(Value::Bool(false)),
                    _ => Err(bad("boolean")),
                },
                "null" => Ok(Value::Null),
                _ => Err(self.unsupported_tag(t, line, col)),
            };
        }
        if style != ScalarStyle::Plain {
            return self.cx.string(text, line, col);
        }
        Ok(match text {
            "" | "~" | "null" | "Null" | "NULL" => Value::Null,
            "true" | "True" | "TRUE" => Value::Bool(true),
            "false" | "False" | "FALSE" => Value::Bool(false),
            _ => match plain_int(text) {
                IntScan::Fits(i) => Value::Int(i),
                IntScan::Overflow => return Err(self.int_overflow(text, line, col)),
                IntScan::NotInt => match plain_float(text) {
                    Some(f) => Value::Float(f),
                    None => return self.cx.string(text, line, col),
                },
            },
        })
    }
}

/// What a plain scalar is as an integer.
pub(super) enum IntScan {
    Fits(i64),
    /// Integer syntax, but outside the 64-bit range.
    Overflow,
    NotInt,
}

/// YAML 1.2 core-schema integers: decimal, `0o` octal, `0x` hex.
pub(super) fn plain_int(s: &str) -> IntScan {
    let radix_digits = |body: &str, radix: u32| {
        if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
            IntScan::NotInt
        } else {
            i64::from_str_radix(body, radix).map_or(IntScan::Overflow, IntScan::Fits)
        }
    };
    if let Some(h) = s.strip_prefix("0x") {
        return radix_digits(h, 16);
    }
    if let Some(o) = s.strip_prefix("0o") {
        return radix_digits(o, 8);
    }
    let b = s.as_bytes();
    let digits = match b.first() {
        None => return IntScan::NotInt,
        Some(b'-' | b'+') => &b[1..],
        Some(_) => b,
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return IntScan::NotInt;
    }
    s.parse().map_or(IntScan::Overflow, IntScan::Fits)
}

/// YAML 1.2 core-schema floats, plus integers too large for i64.
pub(super) fn plain_float(s: &str) -> Option<f64> {
    match s {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    let b = s.as_bytes();
    let body = match b.first()? {
        b'-' | b'+' => &b[1..],
        _ => b,
    };
    // [0-9]* ( . [0-9]* )? ( [eE] [-+]? [0-9]+ )?, with at least one digit before the exponent.
    let mut i = 0;
    let mut mantissa_digits = 0;
    while i < body.len() && body[i].is_ascii_digit() {
        i += 1;
        mantissa_digits += 1;
    }
    if i < body.len() && body[i] == b'.' {
        i += 1;
        while i < body.len() && body[i].is_ascii_digit() {
            i += 1;
            mantissa_digits += 1;
        }
    }
    if mantissa_digits == 0 {
        return None;
    }
    if i < body.len() && (body[i] == b'e' || body[i] == b'E') {
        i += 1;
        if i < body.len() && (body[i] == b'-' || body[i] == b'+') {
            i += 1;
        }
        let start = i;
        while i < body.len() && body[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    if i != body.len() {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::super::Format;
    use super::super::tests::parse as p;
    use super::*;

    fn parse(s: &str) -> Result<Node, ParseError> {
        p(s, Format::Yaml)
    }

    fn top(s: &str, key: &str) -> Value {
        parse(s).unwrap().value.as_map().unwrap()[key].value.clone()
    }

    #[test]
    fn booleans_are_strict() {
        assert_eq!(top("a: true", "a"), Value::Bool(true));
        assert_eq!(top("a: False", "a"), Value::Bool(false));
        for s in ["yes", "no", "on", "off", "y", "n"] {
            assert_eq!(top(&format!("a: {s}"), "a"), Value::Str(s.into()), "{s}");
        }
    }

    #[test]
    fn scalars_follow_the_core_schema() {
        assert_eq!(top("a: 0x1f", "a"), Value::Int(31));
        assert_eq!(top("a: 0o17", "a"), Value::Int(15));
        assert_eq!(top("a: -12", "a"), Value::Int(-12));
        assert_eq!(top("a: 1e3", "a"), Value::Float(1000.0));
        assert_eq!(top("a: .5", "a"), Value::Float(0.5));
        assert_eq!(top("a: -.inf", "a"), Value::Float(f64::NEG_INFINITY));
        assert_eq!(top("a: ~", "a"), Value::Null);
        assert_eq!(top("a:", "a"), Value::Null);
        assert_eq!(top("a: '12'", "a"), Value::Str("12".into()));
        assert_eq!(top("a: 1.2.3", "a"), Value::Str("1.2.3".into()));
        assert_eq!(top("a: 012", "a"), Value::Int(12));
        assert!(
            parse("a: 99999999999999999999")
                .unwrap_err()
                .message
                .contains("64 bits")
        );
        assert!(parse("a: 0xffffffffffffffffff").is_err());
        assert_eq!(top("a: 1e20", "a"), Value::Float(1e20));
        assert_eq!(top("a: 0xzz", "a"), Value::Str("0xzz".into()));
        assert_eq!(top("a: !!str 12", "a"), Value::Str("12".into()));
        assert_eq!(top("a: !!float 12", "a"), Value::Float(12.0));
        assert_eq!(top("a: 1e", "a"), Value::Str("1e".into()));
        assert_eq!(top("a: .", "a"), Value::Str(".".into()));
    }

    #[test]
    fn duplicate_keys_are_refused_with_both_lines() {
        let e = parse("db:\n  host: a\n  port: 1\n  host: b\n").unwrap_err();
        assert_eq!((e.line, e.col), (4, 3));
        assert!(e.message.contains("duplicate key `host`"), "{e}");
        assert!(e.message.contains("line 2"), "{e}");
    }

    #[test]
    fn malformed_yaml_is_located() {
        let e = parse("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert!(e.line >= 2, "{e}");
        assert!(e.message.starts_with("invalid YAML"), "{e}");
        let e = parse("a: 1\n  b: 2\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
    }

    #[test]
    fn flow_collections_with_braces_get_a_quoting_hint() {
        let e = parse("h: [base, env/{env}]\n").unwrap_err();
        assert!(e.hint.unwrap().contains("quote"), "{}", e.message);
    }

    #[test]
    fn documents_must_be_single_mappings() {
        assert!(parse("").unwrap().value.as_map().unwrap().is_empty());
        assert!(
            parse("# only a comment\n")
                .unwrap()
                .value
                .as_map()
                .unwrap()
                .is_empty()
        );
        let e = parse("- a\n- b\n").unwrap_err();
        assert!(e.message.contains("not a mapping"), "{e}");
        let e = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("second YAML document"), "{e}");
    }

    #[test]
    fn anchors_and_aliases_copy_values() {
        let n = parse("base: &b {x: 1}\nother: *b\n").unwrap();
        let m = n.value.as_map().unwrap();
        assert_eq!(m["other"].value, m["base"].value);
        assert!(parse("a: *nope\n").is_err());
    }

    #[test]
    fn custom_tags_are_refused() {
        let e = parse("a: !Ref x\n").unwrap_err();
        assert!(e.message.contains("unsupported YAML tag"), "{e}");
        assert!(parse("a: !!int x\n").is_err());
    }

    #[test]
    fn complex_keys_are_refused() {
        assert!(parse("? [a]\n: 1\n").is_err());
        assert!(parse("{[a]: 1}").is_err());
    }

    #[test]
    fn locations_point_at_keys_and_items() {
        let n = parse("a:\n  b:\n    - x\n    - y\n").unwrap();
        let m = n.value.as_map().unwrap();
        assert_eq!(m["a"].loc.line, 1);
        let b = &m["a"].value.as_map().unwrap()["b"];
        assert_eq!((b.loc.line, b.loc.col), (2, 3));
        let Value::List(items) = &b.value else {
            panic!()
        };
        assert_eq!((items[1].loc.line, items[1].loc.col), (4, 7));
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut doc = String::from("a0: &a0 [l, l, l, l, l, l, l, l, l, l]\n");
        for i in 1..9 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            doc.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let e = parse(&doc).unwrap_err();
        assert!(e.message.contains("aliases"), "{e}");
        assert!(
            e.line >= 5,
            "located at the alias that crossed the limit: {e}"
        );
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let s = format!("a: {}{}", "[".repeat(1000), "]".repeat(1000));
        assert!(parse(&s).is_err());
    }
}
