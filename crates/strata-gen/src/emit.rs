//! Hand-written YAML and JSON serializers for layer files.
//!
//! Output is block-style YAML (every string double-quoted, keys plain) or
//! pretty-printed JSON with two-space indentation. Both are written straight
//! into a preallocated `String`; no intermediate value tree or serde.

use std::fmt::Write as _;

use crate::Format;
use crate::model::{Key, Node, Scalar, Service};

/// Appends `s` as a double-quoted string valid in both JSON and YAML.
pub(crate) fn quoted(buf: &mut String, s: &str) {
    buf.reserve(s.len() + 2);
    buf.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..0x20 | 0x7f => "",
            _ => continue,
        };
        buf.push_str(&s[start..i]);
        if esc.is_empty() {
            let _ = write!(buf, "\\u{b:04x}");
        } else {
            buf.push_str(esc);
        }
        start = i + 1;
    }
    buf.push_str(&s[start..]);
    buf.push('"');
}

/// Appends a scalar as a JSON/YAML value (floats always with two decimals).
pub(crate) fn scalar(buf: &mut String, v: &Scalar) {
    match v {
        Scalar::Int(i) => {
            let _ = write!(buf, "{i}");
        }
        Scalar::Float(h) => {
            let sign = if *h < 0 { "-" } else { "" };
            let a = h.unsigned_abs();
            let _ = write!(buf, "{sign}{}.{:02}", a / 100, a % 100);
        }
        Scalar::Bool(b) => buf.push_str(if *b { "true" } else { "false" }),
        Scalar::Str(s) => quoted(buf, s),
    }
}

fn pad(buf: &mut String, n: usize) {
    for _ in 0..n {
        buf.push(' ');
    }
}

fn json_key(buf: &mut String, key: Key) {
    buf.push('"');
    key.write(buf);
    buf.push_str("\": ");
}

/// Serializes a whole base layer.
pub(crate) fn base_layer(format: Format, root: &[(Key, Node)], size_hint: usize) -> String {
    let mut buf = String::with_capacity(size_hint);
    match format {
        Format::Yaml => {
            if root.is_empty() {
                buf.push_str("{}\n");
            } else {
                yaml_map(&mut buf, root, 0, true);
            }
        }
        Format::Json => {
            json_map(&mut buf, root, 0);
            buf.push('\n');
        }
    }
    buf
}

/// Writes map entries at `indent`; if `!pad_first`, the first key continues
/// the current line (after a `- `).
fn yaml_map(buf: &mut String, entries: &[(Key, Node)], indent: usize, pad_first: bool) {
    for (i, (key, node)) in entries.iter().enumerate() {
        if i > 0 || pad_first {
            pad(buf, indent);
        }
        key.write(buf);
        match node {
            Node::Leaf(v, _) => {
                buf.push_str(": ");
                scalar(buf, v);
                buf.push('\n');
            }
            Node::Map(children) if children.is_empty() => buf.push_str(": {}\n"),
            Node::Map(children) => {
                buf.push_str(":\n");
                yaml_map(buf, children, indent + 2, true);
            }
            Node::List(items) if items.is_empty() => buf.push_str(": []\n"),
            Node::List(items) => {
                buf.push_str(":\n");
                yaml_list(buf, items, indent + 2);
            }
        }
    }
}

fn yaml_list(buf: &mut String, items: &[Node], indent: usize) {
    for item in items {
        pad(buf, indent);
        buf.push_str("- ");
        match item {
            Node::Leaf(v, _) => {
                scalar(buf, v);
                buf.push('\n');
            }
            Node::Map(children) if children.is_empty() => buf.push_str("{}\n"),
            Node::Map(children) => yaml_map(buf, children, indent + 2, false),
            Node::List(inner) => {
                // Not generated; written as a flow sequence of its scalars.
                json_list_inline(buf, inner);
                buf.push('\n');
            }
        }
    }
}

fn json_node(buf: &mut String, node: &Node, indent: usize) {
    match node {
        Node::Leaf(v, _) => scalar(buf, v),
        Node::Map(children) => json_map(buf, children, indent),
        Node::List(items) => {
            if items.iter().all(|n| matches!(n, Node::Leaf(..))) {
                json_list_inline(buf, items);
            } else {
                buf.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        buf.push(',');
                    }
                    buf.push('\n');
                    pad(buf, indent + 2);
                    json_node(buf, item, indent + 2);
                }
                buf.push('\n');
                pad(buf, indent);
                buf.push(']');
            }
        }
    }
}

fn json_map(buf: &mut String, entries: &[(Key, Node)], indent: usize) {
    if entries.is_empty() {
        buf.push_str("{}");
        return;
    }
    buf.push('{');
    for (i, (key, node)) in entries.iter().enumerate() {
        if i > 0 {
            buf.push(',');
        }
        buf.push('\n');
        pad(buf, indent + 2);
        json_key(buf, *key);
        json_node(buf, node, indent + 2);
    }
    buf.push('\n');
    pad(buf, indent);
    buf.push('}');
}

/// `[a, b, c]` — valid flow syntax in both JSON and YAML.
fn json_list_inline(buf: &mut String, items: &[Node]) {
    buf.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            buf.push_str(", ");
        }
        if let Node::Leaf(v, _) = item {
            scalar(buf, v);
        }
    }
    buf.push(']');
}

/// A value of an override: a scalar or a whole list of scalars.
pub(crate) enum OverrideValue {
    Scalar(Scalar),
    List(Vec<Scalar>),
}

/// Serializes an override layer: the given units (ascending unit indices,
/// which is document order) with their new values, as nested maps.
pub(crate) fn override_layer(
    format: Format,
    svc: &Service,
    picked: &[(u32, OverrideValue)],
) -> String {
    let mut buf = String::with_capacity(64 + picked.len() * 96);
    if picked.is_empty() {
        buf.push_str("{}\n");
        return buf;
    }
    let mut prev: &[Key] = &[];
    if format == Format::Json {
        buf.push('{');
    }
    for (n, (unit, value)) in picked.iter().enumerate() {
        let path = svc.keys(&svc.units[*unit as usize]);
        let common = prev.iter().zip(path).take_while(|(a, b)| a == b).count();
        debug_assert!(common < path.len(), "units are distinct leaves");
        match format {
            Format::Yaml => {
                for (d, key) in path.iter().enumerate().skip(common) {
                    pad(&mut buf, 2 * d);
                    key.write(&mut buf);
                    if d + 1 < path.len() {
                        buf.push_str(":\n");
                    }
                }
                match value {
                    OverrideValue::Scalar(v) => {
                        buf.push_str(": ");
                        scalar(&mut buf, v);
                        buf.push('\n');
                    }
                    OverrideValue::List(items) => {
                        buf.push_str(":\n");
                        for v in items {
                            pad(&mut buf, 2 * path.len());
                            buf.push_str("- ");
                            scalar(&mut buf, v);
                            buf.push('\n');
                        }
                    }
                }
            }
            Format::Json => {
                if n > 0 {
                    // Close maps of the previous path below the common prefix.
                    for s in (common..prev.len() - 1).rev() {
                        buf.push('\n');
                        pad(&mut buf, 2 * (s + 1));
                        buf.push('}');
                    }
                    buf.push(',');
                }
                for (s, key) in path.iter().enumerate().skip(common) {
                    buf.push('\n');
                    pad(&mut buf, 2 * (s + 1));
                    json_key(&mut buf, *key);
                    if s + 1 < path.len() {
                        buf.push('{');
                    }
                }
                match value {
                    OverrideValue::Scalar(v) => scalar(&mut buf, v),
                    OverrideValue::List(items) => {
                        buf.push('[');
                        for (i, v) in items.iter().enumerate() {
                            if i > 0 {
                                buf.push_str(", ");
                            }
                            scalar(&mut buf, v);
                        }
                        buf.push(']');
                    }
                }
            }
        }
        prev = path;
    }
    if format == Format::Json {
        for s in (0..prev.len() - 1).rev() {
            buf.push('\n');
            pad(&mut buf, 2 * (s + 1));
            buf.push('}');
        }
        buf.push_str("\n}\n");
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes() {
        let mut b = String::new();
        quoted(&mut b, "a\"b\\c\nd\u{1}é");
        assert_eq!(b, "\"a\\\"b\\\\c\\nd\\u0001é\"");
    }

    #[test]
    fn floats_keep_decimal_point() {
        let mut b = String::new();
        scalar(&mut b, &Scalar::Float(300));
        b.push(' ');
        scalar(&mut b, &Scalar::Float(5));
        b.push(' ');
        scalar(&mut b, &Scalar::Float(-125));
        assert_eq!(b, "3.00 0.05 -1.25");
    }
}
