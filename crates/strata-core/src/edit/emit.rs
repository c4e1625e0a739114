//! Writing values as block YAML: scalars plain when they read back as themselves, otherwise
//! double-quoted; maps and lists in block style (`{}` and `[]` when empty).

use crate::value::Value;

use super::parse_text;
use crate::parse::Format;

/// Indentation of the YAML being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Style {
    /// Spaces per nesting level of a map under a key.
    pub step: usize,
    /// Spaces a list's `-` is indented under its key (0 is the compact `key:\n- x` form).
    pub seq_indent: usize,
}

impl Default for Style {
    fn default() -> Self {
        Style {
            step: 2,
            seq_indent: 2,
        }
    }
}

/// The text of an inline value (scalars, `{}`, `[]`); collections with content give `None`.
pub(super) fn inline_text(v: &Value) -> Option<String> {
    Some(match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => float_text(*f),
        Value::Str(s) => string_text(s),
        Value::Template(t) => string_text(&t.source),
        Value::Map(m) if m.is_empty() => "{}".to_string(),
        Value::List(items) if items.is_empty() => "[]".to_string(),
        Value::Map(_) | Value::List(_) => return None,
    })
}

/// A float as YAML reads it back: `.inf`, `-.inf`, `.nan`, or Rust's shortest round-trip
/// form, which always has a `.` or an exponent (`1.0`, `1e20`).
fn float_text(f: f64) -> String {
    if f.is_nan() {
        ".nan".to_string()
    } else if f.is_infinite() {
        if f > 0.0 { ".inf" } else { "-.inf" }.to_string()
    } else {
        format!("{f:?}")
    }
}

/// A string value: plain when `k: TEXT` reads back as this very string, else double-quoted.
pub(super) fn string_text(s: &str) -> String {
    if plain_candidate(s) && reads_back_as_value(s) {
        s.to_string()
    } else {
        quoted(s)
    }
}

/// A map key: plain when `TEXT: 0` reads back with this very key, else double-quoted.
pub(super) fn key_text(k: &str) -> String {
    if plain_candidate(k) && !k.contains(':') && reads_back_as_key(k) {
        k.to_string()
    } else {
        quoted(k)
    }
}

/// Cheap refusals before asking the parser: text that can never be a one-line plain scalar.
fn plain_candidate(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if s.starts_with(' ') || s.ends_with(' ') || s.contains(" #") || s.contains(": ") {
        return false;
    }
    if matches!(
        first,
        '-' | '?'
            | ':'
            | ','
            | '['
            | ']'
            | '{'
            | '}'
            | '#'
            | '&'
            | '*'
            | '!'
            | '|'
            | '>'
            | '\''
            | '"'
            | '%'
            | '@'
            | '`'
    ) && !(first == '-' && s.len() > 1 && !s[1..].starts_with(' '))
    {
        return false;
    }
    s.chars().all(|c| !c.is_control() && !needs_escape(c)) && !s.ends_with(':')
}

fn reads_back_as_value(s: &str) -> bool {
    let Ok(node) = parse_text(&format!("k: {s}\n"), Format::Yaml) else {
        return false;
    };
    node.value
        .as_map()
        .and_then(|m| m.get("k"))
        .is_some_and(|n| n.value.as_str() == Some(s))
}

fn reads_back_as_key(k: &str) -> bool {
    let Ok(node) = parse_text(&format!("{k}: 0\n"), Format::Yaml) else {
        return false;
    };
    node.value
        .as_map()
        .is_some_and(|m| m.len() == 1 && m.get(k).is_some())
}

/// Characters written as `\uXXXX` inside double quotes (not printable in YAML).
fn needs_escape(c: char) -> bool {
    let n = c as u32;
    n < 0x20
        || (0x7f..=0x9f).contains(&n)
        || matches!(n, 0xfeff | 0x2028 | 0x2029 | 0xfffe | 0xffff)
}

/// A JSON-style double-quoted string (valid YAML: JSON escapes are YAML escapes).
pub(super) fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Lines of the entry `key: value` at `indent` (the value's block follows when it has one).
pub(super) fn entry_lines(
    key: &str,
    v: &Value,
    indent: usize,
    style: Style,
    out: &mut Vec<String>,
) {
    let pad = " ".repeat(indent);
    let key = key_text(key);
    match inline_text(v) {
        Some(text) => out.push(format!("{pad}{key}: {text}")),
        None => {
            out.push(format!("{pad}{key}:"));
            block_lines(v, indent, style, out);
        }
    }
}

/// Lines of the list item `- value` whose dash is at `indent`.
pub(super) fn item_lines(v: &Value, indent: usize, style: Style, out: &mut Vec<String>) {
    let pad = " ".repeat(indent);
    match inline_text(v) {
        Some(text) => out.push(format!("{pad}- {text}")),
        None => {
            let start = out.len();
            content_lines(v, indent + 2, style, out);
            if let Some(first) = out.get_mut(start) {
                let rest = first.get(indent + 2..).unwrap_or("").to_string();
                *first = format!("{pad}- {rest}");
            }
        }
    }
}

/// Lines of a map's or list's block under a key at `key_indent`.
pub(super) fn block_lines(v: &Value, key_indent: usize, style: Style, out: &mut Vec<String>) {
    match v {
        Value::Map(_) => content_lines(v, key_indent + style.step, style, out),
        Value::List(_) => content_lines(v, key_indent + style.seq_indent, style, out),
        _ => {}
    }
}

/// The entries of a map, or the items of a list, with keys or dashes at `indent`.
pub(super) fn content_lines(v: &Value, indent: usize, style: Style, out: &mut Vec<String>) {
    match v {
        Value::Map(m) => {
            for (k, child) in m.iter() {
                entry_lines(k, &child.value, indent, style, out);
            }
        }
        Value::List(items) => {
            for item in items {
                item_lines(&item.value, indent, style, out);
            }
        }
        _ => {}
    }
}

/// A whole document body for a root map: its entries, or `{}` when it is empty.
pub(super) fn document_lines(root: &Value, style: Style) -> Vec<String> {
    let mut out = Vec::new();
    match root {
        Value::Map(m) if !m.is_empty() => content_lines(root, 0, style, &mut out),
        _ => out.push("{}".to_string()),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_plain_only_when_they_read_back() {
        assert_eq!(string_text("hello"), "hello");
        assert_eq!(
            string_text("ENC[strata:v1,abc,def]"),
            "ENC[strata:v1,abc,def]"
        );
        assert_eq!(string_text("yes"), "yes");
        assert_eq!(string_text("a.b-c_d/e"), "a.b-c_d/e");
        assert_eq!(string_text("-x"), "-x");
        assert_eq!(string_text("true"), "\"true\"");
        assert_eq!(string_text("Null"), "\"Null\"");
        assert_eq!(string_text("~"), "\"~\"");
        assert_eq!(string_text("42"), "\"42\"");
        assert_eq!(string_text("0x1f"), "\"0x1f\"");
        assert_eq!(string_text("1e3"), "\"1e3\"");
        assert_eq!(string_text(".inf"), "\".inf\"");
        assert_eq!(string_text("a: b"), "\"a: b\"");
        assert_eq!(string_text("#x"), "\"#x\"");
        assert_eq!(string_text("a #x"), "\"a #x\"");
        assert_eq!(string_text(""), "\"\"");
        assert_eq!(string_text("  lead"), "\"  lead\"");
        assert_eq!(string_text("- item"), "\"- item\"");
        assert_eq!(string_text("line\nnext"), "\"line\\nnext\"");
        assert_eq!(string_text("tab\there"), "\"tab\\there\"");
        assert_eq!(string_text("q\"uote\\"), "q\"uote\\");
        assert_eq!(string_text("\"q"), "\"\\\"q\"");
        assert_eq!(string_text("héllo ✓"), "héllo ✓");
        assert_eq!(string_text("bell\u{7}"), "\"bell\\u0007\"");
    }

    #[test]
    fn keys_are_plain_only_when_they_read_back() {
        assert_eq!(key_text("db"), "db");
        assert_eq!(key_text("a.b"), "a.b");
        assert_eq!(key_text("x[0]"), "x[0]");
        assert_eq!(key_text("true"), "true");
        assert_eq!(key_text("1"), "1");
        assert_eq!(key_text("a: b"), "\"a: b\"");
        assert_eq!(key_text("a:b"), "\"a:b\"");
        assert_eq!(key_text(""), "\"\"");
        assert_eq!(key_text("? q"), "\"? q\"");
        assert_eq!(key_text("[x]"), "\"[x]\"");
    }

    #[test]
    fn floats_keep_their_type() {
        assert_eq!(float_text(1.0), "1.0");
        assert_eq!(float_text(1e20), "1e20");
        assert_eq!(float_text(-0.5), "-0.5");
        assert_eq!(float_text(f64::NEG_INFINITY), "-.inf");
        assert_eq!(float_text(f64::NAN), ".nan");
    }
}
