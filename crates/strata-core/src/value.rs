//! The configuration tree: values with the source location that set each node.
//!
//! Every parsed document (YAML, JSON, TOML) becomes a [`Node`] tree. Each node carries the
//! [`Loc`] of the text that produced it and, after merging, the [`Prior`] locations it
//! overrode, so that an effective configuration can explain itself (provenance).

use std::fmt;

use indexmap::IndexMap;
use rustc_hash::FxBuildHasher;

use crate::interpolate::Template;

/// An interned file path; resolve to text with [`crate::files::FileTable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId(pub u32);

/// A position in a source file: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Loc {
    /// The file.
    pub file: FileId,
    /// 1-based line.
    pub line: u32,
    /// 1-based column (in characters).
    pub col: u32,
}

impl Loc {
    /// A location in `file` at `line`:`col` (both 1-based).
    pub fn new(file: FileId, line: u32, col: u32) -> Self {
        Loc { file, line, col }
    }
}

/// An ordered map of keys to nodes (insertion order is kept, as users wrote it).
pub type Map = IndexMap<Box<str>, Node, FxBuildHasher>;

/// Creates an empty [`Map`].
pub fn new_map() -> Map {
    Map::with_hasher(FxBuildHasher)
}

/// Creates an empty [`Map`] with room for `n` entries.
pub fn map_with_capacity(n: usize) -> Map {
    Map::with_capacity_and_hasher(n, FxBuildHasher)
}

/// A configuration value.
///
/// `Template` only exists before interpolation: an effective configuration never holds one.
#[derive(Debug, Clone)]
pub enum Value {
    /// YAML `null`/`~`, JSON `null`.
    Null,
    /// `true` / `false` (YAML booleans are read strictly: `yes`/`on` are strings).
    Bool(bool),
    /// A 64-bit signed integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A plain string.
    Str(Box<str>),
    /// A string with `${…}` placeholders, parsed when the document was read.
    Template(Box<Template>),
    /// A list of nodes.
    List(Vec<Node>),
    /// A map of keys to nodes.
    Map(Box<Map>),
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b || (a.is_nan() && b.is_nan()),
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Template(a), Value::Template(b)) => a.source == b.source,
            (Value::List(a), Value::List(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.value == y.value)
            }
            (Value::Map(a), Value::Map(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b.iter())
                        .all(|((ka, va), (kb, vb))| ka == kb && va.value == vb.value)
            }
            _ => false,
        }
    }
}

impl Value {
    /// A short name of the value's type, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "integer",
            Value::Float(_) => "number",
            Value::Str(_) | Value::Template(_) => "string",
            Value::List(_) => "list",
            Value::Map(_) => "map",
        }
    }

    /// The type name with its article, for messages: "an integer", "a map", "null".
    pub fn a_type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) | Value::Template(_) => "a string",
            Value::List(_) => "a list",
            Value::Map(_) => "a map",
        }
    }

    /// Whether this is a scalar (not a list or a map).
    pub fn is_scalar(&self) -> bool {
        !matches!(self, Value::List(_) | Value::Map(_))
    }

    /// The map inside, if this is a map.
    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The string inside, if this is a plain string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Converts to a `serde_json::Value` (templates become their source text).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.to_string()),
            Value::Template(t) => J::String(t.source.to_string()),
            Value::List(items) => J::Array(items.iter().map(|n| n.value.to_json()).collect()),
            Value::Map(m) => J::Object(
                m.iter()
                    .map(|(k, v)| (k.to_string(), v.value.to_json()))
                    .collect(),
            ),
        }
    }
}

impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(f) => s.serialize_f64(*f),
            Value::Str(v) => s.serialize_str(v),
            Value::Template(t) => s.serialize_str(&t.source),
            Value::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&item.value)?;
                }
                seq.end()
            }
            Value::Map(m) => {
                let mut map = s.serialize_map(Some(m.len()))?;
                for (k, v) in m.iter() {
                    map.serialize_entry(&**k, &v.value)?;
                }
                map.end()
            }
        }
    }
}

/// Formats a value compactly on one line (JSON-like), for messages and `--explain`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Template(t) => write!(f, "{:?}", t.source),
            Value::List(_) | Value::Map(_) => write!(f, "{}", self.to_json()),
        }
    }
}

/// One value that a later layer overrode, kept for provenance.
#[derive(Debug, Clone, PartialEq)]
pub struct Prior {
    /// Where the overridden value was set.
    pub loc: Loc,
    /// The overridden value, when it was a scalar (maps and lists are not copied).
    pub value: Option<Value>,
}

/// A value with the location that set it and the earlier values it overrode.
#[derive(Debug, Clone)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// Where the value was set.
    pub loc: Loc,
    /// Earlier layers' values this one replaced, oldest first (`None` when it replaced nothing).
    pub priors: Option<Box<Vec<Prior>>>,
}

impl Node {
    /// A node without history.
    pub fn new(value: Value, loc: Loc) -> Self {
        Node {
            value,
            loc,
            priors: None,
        }
    }

    /// The priors as a slice (empty when none).
    pub fn priors(&self) -> &[Prior] {
        self.priors.as_deref().map_or(&[], |v| v.as_slice())
    }

    /// Follows `path` from this node; `None` when some segment does not exist.
    pub fn get(&self, path: &[crate::path::Segment]) -> Option<&Node> {
        use crate::path::Segment;
        let mut node = self;
        for seg in path {
            node = match (seg, &node.value) {
                (Segment::Key(k), Value::Map(m)) => m.get(&**k)?,
                (Segment::Index(i), Value::List(items)) => items.get(*i)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// Mutable form of [`Node::get`].
    pub fn get_mut(&mut self, path: &[crate::path::Segment]) -> Option<&mut Node> {
        use crate::path::Segment;
        let mut node = self;
        for seg in path {
            node = match (seg, &mut node.value) {
                (Segment::Key(k), Value::Map(m)) => m.get_mut(&**k)?,
                (Segment::Index(i), Value::List(items)) => items.get_mut(*i)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// Calls `f` for every leaf (scalars, empty lists and empty maps) with its path.
    pub fn for_each_leaf<'a>(
        &'a self,
        path: &mut Vec<crate::path::Segment>,
        f: &mut dyn FnMut(&[crate::path::Segment], &'a Node),
    ) {
        use crate::path::Segment;
        match &self.value {
            Value::Map(m) if !m.is_empty() => {
                for (k, v) in m.iter() {
                    path.push(Segment::Key(k.clone()));
                    v.for_each_leaf(path, f);
                    path.pop();
                }
            }
            Value::List(items) if !items.is_empty() => {
                for (i, v) in items.iter().enumerate() {
                    path.push(Segment::Index(i));
                    v.for_each_leaf(path, f);
                    path.pop();
                }
            }
            _ => f(path, self),
        }
    }

    /// Number of leaves under this node (a scalar counts as one).
    pub fn leaf_count(&self) -> usize {
        match &self.value {
            Value::Map(m) if !m.is_empty() => m.values().map(Node::leaf_count).sum(),
            Value::List(items) if !items.is_empty() => items.iter().map(Node::leaf_count).sum(),
            _ => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_stays_small() {
        // Memory per parameter matters at a million parameters.
        assert!(
            std::mem::size_of::<Value>() <= 32,
            "{}",
            std::mem::size_of::<Value>()
        );
        assert!(
            std::mem::size_of::<Node>() <= 56,
            "{}",
            std::mem::size_of::<Node>()
        );
    }

    #[test]
    fn equality_ignores_locations() {
        let a = Node::new(Value::Int(1), Loc::new(FileId(0), 1, 1));
        let b = Node::new(Value::Int(1), Loc::new(FileId(1), 9, 9));
        assert_eq!(Value::List(vec![a]), Value::List(vec![b]));
        assert_ne!(Value::Int(1), Value::Float(1.0));
    }

    #[test]
    fn display_is_compact() {
        assert_eq!(Value::Str("a".into()).to_string(), "\"a\"");
        assert_eq!(Value::Float(1.5).to_string(), "1.5");
        let mut m = new_map();
        m.insert("k".into(), Node::new(Value::Bool(true), Loc::default()));
        assert_eq!(Value::Map(Box::new(m)).to_string(), "{\"k\":true}");
    }
}
