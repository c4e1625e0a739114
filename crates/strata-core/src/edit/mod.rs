//! Editing layer documents at parameter paths, keeping what users wrote.
//!
//! `strata set`, `strata unset`, `strata apply` (changesets) and key rotation change layer
//! files (`layers/env/prod/checkout.yaml`) that `strata export` writes back into git, so an
//! edit must change as little text as it can:
//!
//! - **YAML** is edited surgically, line by line, for block-style documents: a scalar is
//!   replaced in place (the key, spacing and a trailing `# comment` stay), new keys are
//!   added at the end of their map's block with the map's indentation, removed keys take
//!   their lines (and nested block) with them. Every surgical edit is verified by reading
//!   the new text back and comparing it with the reference semantics ([`apply_to_json`]);
//!   constructs the line editor does not handle (flow collections on the path, anchors,
//!   several documents, tabs…) or a failed check make that edit re-emit the whole document
//!   as block YAML instead, keeping only the comments before the first key.
//! - **JSON** is re-emitted with 2-space indentation, keys in their order, and a trailing
//!   newline.
//! - **TOML** is re-emitted by the `toml` crate (scalars before sub-tables, as TOML
//!   requires; comments are lost). TOML has no null, so setting one is an error.
//!
//! When no edit changes the document's value, the text is returned unchanged.
//!
//! ```
//! use strata_core::edit::{Edit, apply_edits};
//! use strata_core::parse::Format;
//! use strata_core::path::parse_segments;
//!
//! let text = "# checkout in prod\ndb:\n  host: db1  # primary\n  port: 5432\n";
//! let edits = [
//!     Edit::Set { path: parse_segments("db.host").unwrap(), value: "db2".into() },
//!     Edit::Set { path: parse_segments("db.pool.max").unwrap(), value: 20.into() },
//!     Edit::Unset { path: parse_segments("db.port").unwrap() },
//! ];
//! let out = apply_edits(text, Format::Yaml, &edits).unwrap();
//! assert_eq!(out, "# checkout in prod\ndb:\n  host: db2  # primary\n  pool:\n    max: 20\n");
//! ```
//!
//! Strings in documents are taken literally: `${…}` placeholders are text here, neither
//! parsed nor checked.

mod emit;
mod yaml;

use std::sync::{Arc, LazyLock};

use crate::parse::{Format, ParseError, ParseOptions, parse_document};
use crate::path::{Segment, segments_to_string};
use crate::value::{FileId, Loc, Node, Value, new_map};

/// One edit of a document.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// Sets the value at `path`, creating missing parent maps.
    ///
    /// A `Segment::Index(i)` replaces item `i` when `i < len` and appends when `i == len`;
    /// a missing parent followed by `[0]` is created as a list. Going through a scalar
    /// (`null` included), an index past the end, a key on a list or an index on a map are
    /// errors.
    Set {
        /// Where to set the value; must not be empty.
        path: Vec<Segment>,
        /// The new value.
        value: serde_json::Value,
    },
    /// Removes the value at `path` (a no-op when absent); parent maps left empty by the
    /// removal are removed too.
    ///
    /// Removing a list item shifts the later items. Pruning stops at the root (an empty
    /// root stays an empty map) and at a list: an emptied map that is a list item stays as
    /// `{}`, and an emptied list stays as `[]`. A path that runs into a scalar, a missing
    /// key or an index past the end addresses nothing, so the edit does nothing.
    Unset {
        /// What to remove; must not be empty.
        path: Vec<Segment>,
    },
}

impl Edit {
    /// The path the edit addresses.
    pub fn path(&self) -> &[Segment] {
        match self {
            Edit::Set { path, .. } | Edit::Unset { path } => path,
        }
    }
}

/// Why an edit could not be applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EditError {
    /// The document is not valid in its format.
    #[error("the {format} document does not parse: line {line}, column {col}: {message}")]
    Parse {
        /// The document's format.
        format: Format,
        /// 1-based line of the problem.
        line: u32,
        /// 1-based column of the problem.
        col: u32,
        /// What the reader said.
        message: String,
    },
    /// An edit with an empty path: the root itself cannot be set or unset.
    #[error("an edit needs a parameter path; the document root itself cannot be set or unset")]
    EmptyPath,
    /// The document root is not a map.
    #[error("the document root is {found}, not a map")]
    RootNotMap {
        /// What the root is ("a list", "a string", …).
        found: &'static str,
    },
    /// The path of a set goes through a scalar value.
    #[error("cannot set `{path}`: `{at}` is {found}, which has no keys or items")]
    ThroughScalar {
        /// The path being set.
        path: String,
        /// The part of the path that reaches the scalar.
        at: String,
        /// What is there ("a string", "null", …).
        found: &'static str,
    },
    /// A key addresses a list, or an index addresses a map.
    #[error("cannot set `{path}`: `{at}` is {found}, which cannot be addressed by {segment}")]
    WrongContainer {
        /// The path being set.
        path: String,
        /// The part of the path that reaches the container (`(root)` for the root).
        at: String,
        /// What is there ("a list" or "a map").
        found: &'static str,
        /// The offending segment (`key "x"` or `index [2]`).
        segment: String,
    },
    /// A set's list index is past the end of the list.
    #[error(
        "cannot set `{path}`: index {index} is out of range for `{at}`, a list of {len} items (index {len} appends)"
    )]
    IndexOutOfRange {
        /// The path being set.
        path: String,
        /// The part of the path that reaches the list.
        at: String,
        /// The index asked for.
        index: usize,
        /// The list's length.
        len: usize,
    },
    /// The value cannot be written in the document's format (null in TOML, an integer
    /// beyond 64 bits, an infinite number in JSON).
    #[error("cannot write `{path}` in {format}: {reason}")]
    Unrepresentable {
        /// Where the value is.
        path: String,
        /// The document's format.
        format: Format,
        /// Why it cannot be written.
        reason: String,
    },
    /// The edited text would not read back as the edited value (e.g. it nests deeper than
    /// the readers accept).
    #[error("the edited {format} document does not read back as the edited value: {message}")]
    RoundTrip {
        /// The document's format.
        format: Format,
        /// What went wrong.
        message: String,
    },
}

/// Applies `edits` in order to document `text` of `format`; returns the new text.
/// An empty `text` is an empty map.
///
/// The result reads back (with [`crate::parse::parse_document`]) as [`apply_to_json`]
/// would leave the document's value. When nothing changes, `text` is returned as it is.
/// Errors leave nothing half-done: the caller still has `text`.
pub fn apply_edits(text: &str, format: Format, edits: &[Edit]) -> Result<String, EditError> {
    let root = parse_text(text, format).map_err(|e| parse_error(format, &e))?;
    match format {
        Format::Yaml => yaml::apply(text, root, edits),
        Format::Json | Format::Toml => {
            let mut edited = root.clone();
            for edit in edits {
                apply_to_node(&mut edited, edit, format)?;
            }
            if edited.value == root.value {
                return Ok(text.to_string());
            }
            let out = if format == Format::Json {
                let mut out = to_json_text(&edited.value)?;
                if text.contains("\r\n") {
                    out = out.replace('\n', "\r\n");
                }
                out
            } else {
                to_toml_text(&edited.value)?
            };
            let back = parse_text(&out, format).map_err(|e| EditError::RoundTrip {
                format,
                message: e.message,
            })?;
            // TOML writes a table's scalars before its sub-tables, so key order may move.
            let same = if format == Format::Toml {
                same_unordered(&back.value, &edited.value)
            } else {
                back.value == edited.value
            };
            if !same {
                return Err(EditError::RoundTrip {
                    format,
                    message: "the written text reads back as a different value".into(),
                });
            }
            Ok(out)
        }
    }
}

/// Applies edits to an in-memory JSON value (the reference semantics; used by tests and callers).
///
/// On error `doc` is left unchanged.
pub fn apply_to_json(doc: &mut serde_json::Value, edits: &[Edit]) -> Result<(), EditError> {
    let mut work = doc.clone();
    for edit in edits {
        match edit {
            Edit::Set { path, value } => set_in(&mut work, path, value.clone())?,
            Edit::Unset { path } => unset_in(&mut work, path)?,
        }
    }
    *doc = work;
    Ok(())
}

/// Applies one edit to a parsed document tree (same semantics as [`apply_to_json`]).
fn apply_to_node(root: &mut Node, edit: &Edit, format: Format) -> Result<(), EditError> {
    match edit {
        Edit::Set { path, value } => {
            let mut at = path.clone();
            let node =
                node_from_json(value, &mut at).map_err(|reason| EditError::Unrepresentable {
                    path: display_path(&at),
                    format,
                    reason,
                })?;
            set_in(root, path, node)
        }
        Edit::Unset { path } => unset_in(root, path),
    }
}

static DOC_PATH: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from("document"));

/// Reads a document literally (no placeholder parsing).
fn parse_text(text: &str, format: Format) -> Result<Node, ParseError> {
    parse_document(
        &DOC_PATH,
        FileId(0),
        text.as_bytes(),
        format,
        ParseOptions { templates: false },
    )
}

fn parse_error(format: Format, e: &ParseError) -> EditError {
    let message = match &e.hint {
        Some(h) => format!("{} ({h})", e.message),
        None => e.message.clone(),
    };
    EditError::Parse {
        format,
        line: e.line,
        col: e.col,
        message,
    }
}

/// A path for messages; the empty path is the root.
fn display_path(segs: &[Segment]) -> String {
    if segs.is_empty() {
        "(root)".to_string()
    } else {
        segments_to_string(segs)
    }
}

/// Converts a JSON value to a tree node; `path` is left at the first value that does not fit.
fn node_from_json(v: &serde_json::Value, path: &mut Vec<Segment>) -> Result<Node, String> {
    use serde_json::Value as J;
    let value = match v {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Value::Int(i),
            (None, _) if n.is_u64() => {
                return Err(format!(
                    "integer {n} does not fit in 64 bits (signed); write it as a string"
                ));
            }
            (None, Some(f)) => Value::Float(f),
            (None, None) => return Err(format!("number {n} is not a 64-bit number")),
        },
        J::String(s) => Value::Str(s.as_str().into()),
        J::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                path.push(Segment::Index(i));
                out.push(node_from_json(item, path)?);
                path.pop();
            }
            Value::List(out)
        }
        J::Object(m) => {
            let mut out = new_map();
            for (k, item) in m {
                path.push(Segment::Key(k.as_str().into()));
                out.insert(k.as_str().into(), node_from_json(item, path)?);
                path.pop();
            }
            Value::Map(Box::new(out))
        }
    };
    Ok(Node::new(value, Loc::default()))
}

/// What a tree value is, as far as walking a path is concerned.
enum Shape {
    Map(usize),
    List(usize),
    Scalar(&'static str),
}

/// The tree operations the edit semantics need, so JSON values and parsed documents share
/// one implementation of them.
trait Tree: Sized {
    fn shape(&self) -> Shape;
    fn new_map() -> Self;
    fn new_list() -> Self;
    fn child(&self, seg: &Segment) -> Option<&Self>;
    fn child_mut(&mut self, seg: &Segment) -> Option<&mut Self>;
    /// Replaces the value of key `k` in place, or appends it (self is a map).
    fn map_set(&mut self, k: &str, v: Self);
    /// The child at `k`, inserting `make()` first when absent (self is a map).
    fn map_entry(&mut self, k: &str, make: impl FnOnce() -> Self) -> Option<&mut Self>;
    /// Removes key `k`, keeping the order of the others (self is a map).
    fn map_remove(&mut self, k: &str) -> bool;
    /// Sets item `i` (`i < len`) or appends (`i == len`) (self is a list).
    fn list_put(&mut self, i: usize, v: Self);
    /// Removes item `i` when it exists (self is a list).
    fn list_remove(&mut self, i: usize) -> bool;
}

impl Tree for serde_json::Value {
    fn shape(&self) -> Shape {
        use serde_json::Value as J;
        match self {
            J::Object(m) => Shape::Map(m.len()),
            J::Array(a) => Shape::List(a.len()),
            J::Null => Shape::Scalar("null"),
            J::Bool(_) => Shape::Scalar("a boolean"),
            J::Number(n) if n.is_i64() || n.is_u64() => Shape::Scalar("an integer"),
            J::Number(_) => Shape::Scalar("a number"),
            J::String(_) => Shape::Scalar("a string"),
        }
    }
    fn new_map() -> Self {
        serde_json::Value::Object(serde_json::Map::new())
    }
    fn new_list() -> Self {
        serde_json::Value::Array(Vec::new())
    }
    fn child(&self, seg: &Segment) -> Option<&Self> {
        match (seg, self) {
            (Segment::Key(k), serde_json::Value::Object(m)) => m.get(&**k),
            (Segment::Index(i), serde_json::Value::Array(a)) => a.get(*i),
            _ => None,
        }
    }
    fn child_mut(&mut self, seg: &Segment) -> Option<&mut Self> {
        match (seg, self) {
            (Segment::Key(k), serde_json::Value::Object(m)) => m.get_mut(&**k),
            (Segment::Index(i), serde_json::Value::Array(a)) => a.get_mut(*i),
            _ => None,
        }
    }
    fn map_set(&mut self, k: &str, v: Self) {
        if let serde_json::Value::Object(m) = self {
            m.insert(k.to_string(), v);
        }
    }
    fn map_entry(&mut self, k: &str, make: impl FnOnce() -> Self) -> Option<&mut Self> {
        match self {
            serde_json::Value::Object(m) => Some(m.entry(k).or_insert_with(make)),
            _ => None,
        }
    }
    fn map_remove(&mut self, k: &str) -> bool {
        match self {
            serde_json::Value::Object(m) => m.shift_remove(k).is_some(),
            _ => false,
        }
    }
    fn list_put(&mut self, i: usize, v: Self) {
        if let serde_json::Value::Array(a) = self {
            match a.get_mut(i) {
                Some(slot) => *slot = v,
                None => a.push(v),
            }
        }
    }
    fn list_remove(&mut self, i: usize) -> bool {
        match self {
            serde_json::Value::Array(a) if i < a.len() => {
                a.remove(i);
                true
            }
            _ => false,
        }
    }
}

impl Tree for Node {
    fn shape(&self) -> Shape {
        match &self.value {
            Value::Map(m) => Shape::Map(m.len()),
            Value::List(items) => Shape::List(items.len()),
            other => Shape::Scalar(other.a_type_name()),
        }
    }
    fn new_map() -> Self {
        Node::new(Value::Map(Box::new(new_map())), Loc::default())
    }
    fn new_list() -> Self {
        Node::new(Value::List(Vec::new()), Loc::default())
    }
    fn child(&self, seg: &Segment) -> Option<&Self> {
        self.get(std::slice::from_ref(seg))
    }
    fn child_mut(&mut self, seg: &Segment) -> Option<&mut Self> {
        self.get_mut(std::slice::from_ref(seg))
    }
    fn map_set(&mut self, k: &str, v: Self) {
        if let Value::Map(m) = &mut self.value {
            match m.get_mut(k) {
                Some(slot) => *slot = v,
                None => {
                    m.insert(k.into(), v);
                }
            }
        }
    }
    fn map_entry(&mut self, k: &str, make: impl FnOnce() -> Self) -> Option<&mut Self> {
        match &mut self.value {
            Value::Map(m) => Some(m.entry(k.into()).or_insert_with(make)),
            _ => None,
        }
    }
    fn map_remove(&mut self, k: &str) -> bool {
        match &mut self.value {
            Value::Map(m) => m.shift_remove(k).is_some(),
            _ => false,
        }
    }
    fn list_put(&mut self, i: usize, v: Self) {
        if let Value::List(items) = &mut self.value {
            match items.get_mut(i) {
                Some(slot) => *slot = v,
                None => items.push(v),
            }
        }
    }
    fn list_remove(&mut self, i: usize) -> bool {
        match &mut self.value {
            Value::List(items) if i < items.len() => {
                items.remove(i);
                true
            }
            _ => false,
        }
    }
}

fn check_root<T: Tree>(root: &T, path: &[Segment]) -> Result<(), EditError> {
    if path.is_empty() {
        return Err(EditError::EmptyPath);
    }
    match root.shape() {
        Shape::Map(_) => Ok(()),
        Shape::List(_) => Err(EditError::RootNotMap { found: "a list" }),
        Shape::Scalar(found) => Err(EditError::RootNotMap { found }),
    }
}

/// A new container for the segment that follows: a list before `[i]`, else a map.
fn container_for<T: Tree>(next: &Segment) -> T {
    match next {
        Segment::Index(_) => T::new_list(),
        Segment::Key(_) => T::new_map(),
    }
}

fn set_in<T: Tree>(root: &mut T, path: &[Segment], value: T) -> Result<(), EditError> {
    check_root(root, path)?;
    let mut value = Some(value);
    let mut cur = root;
    for (i, seg) in path.iter().enumerate() {
        let at = || display_path(&path[..i]);
        let next = path.get(i + 1);
        let step = match (seg, cur.shape()) {
            (Segment::Key(k), Shape::Map(_)) => match next {
                None => {
                    if let Some(v) = value.take() {
                        cur.map_set(k, v);
                    }
                    return Ok(());
                }
                Some(next) => cur.map_entry(k, || container_for(next)),
            },
            (Segment::Index(n), Shape::List(len)) => {
                if *n > len {
                    return Err(EditError::IndexOutOfRange {
                        path: display_path(path),
                        at: at(),
                        index: *n,
                        len,
                    });
                }
                match next {
                    None => {
                        if let Some(v) = value.take() {
                            cur.list_put(*n, v);
                        }
                        return Ok(());
                    }
                    Some(next) => {
                        if *n == len {
                            cur.list_put(*n, container_for(next));
                        }
                        cur.child_mut(seg)
                    }
                }
            }
            (_, Shape::Scalar(found)) => {
                return Err(EditError::ThroughScalar {
                    path: display_path(path),
                    at: at(),
                    found,
                });
            }
            (Segment::Key(k), Shape::List(_)) => {
                return Err(EditError::WrongContainer {
                    path: display_path(path),
                    at: at(),
                    found: "a list",
                    segment: format!("key {k:?}"),
                });
            }
            (Segment::Index(n), Shape::Map(_)) => {
                return Err(EditError::WrongContainer {
                    path: display_path(path),
                    at: at(),
                    found: "a map",
                    segment: format!("index [{n}]"),
                });
            }
        };
        cur = match step {
            Some(c) => c,
            // Unreachable: the shape was checked just above.
            None => {
                return Err(EditError::ThroughScalar {
                    path: display_path(path),
                    at: at(),
                    found: "a scalar",
                });
            }
        };
    }
    Ok(())
}

fn get_path_mut<'a, T: Tree>(root: &'a mut T, path: &[Segment]) -> Option<&'a mut T> {
    let mut cur = root;
    for seg in path {
        cur = cur.child_mut(seg)?;
    }
    Some(cur)
}

fn get_path<'a, T: Tree>(root: &'a T, path: &[Segment]) -> Option<&'a T> {
    let mut cur = root;
    for seg in path {
        cur = cur.child(seg)?;
    }
    Some(cur)
}

fn unset_in<T: Tree>(root: &mut T, path: &[Segment]) -> Result<(), EditError> {
    check_root(root, path)?;
    let Some((last, parent_path)) = path.split_last() else {
        return Err(EditError::EmptyPath);
    };
    let Some(parent) = get_path_mut(root, parent_path) else {
        return Ok(());
    };
    let removed = match last {
        Segment::Key(k) => parent.map_remove(k),
        Segment::Index(i) => parent.list_remove(*i),
    };
    if !removed {
        return Ok(());
    }
    // Remove maps the removal left empty, up to (not including) the root; stop at lists.
    for j in (1..path.len()).rev() {
        let Segment::Key(k) = &path[j - 1] else {
            break;
        };
        let empty = get_path(root, &path[..j]).is_some_and(|n| matches!(n.shape(), Shape::Map(0)));
        if !empty {
            break;
        }
        if let Some(grand) = get_path_mut(root, &path[..j - 1]) {
            grand.map_remove(k);
        }
    }
    Ok(())
}

/// Equality of values where map key order does not matter.
fn same_unordered(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_unordered(&v.value, &w.value)))
        }
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(v, w)| same_unordered(&v.value, &w.value))
        }
        _ => a == b,
    }
}

/// The document as pretty JSON (2 spaces, key order kept, trailing newline).
fn to_json_text(root: &Value) -> Result<String, EditError> {
    fn check(v: &Value, path: &mut Vec<Segment>) -> Result<(), EditError> {
        match v {
            Value::Float(f) if !f.is_finite() => Err(EditError::Unrepresentable {
                path: display_path(path),
                format: Format::Json,
                reason: format!("JSON has no number {f}"),
            }),
            Value::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(Segment::Index(i));
                    check(&item.value, path)?;
                    path.pop();
                }
                Ok(())
            }
            Value::Map(m) => {
                for (k, item) in m.iter() {
                    path.push(Segment::Key(k.clone()));
                    check(&item.value, path)?;
                    path.pop();
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
    check(root, &mut Vec::new())?;
    let mut out =
        serde_json::to_string_pretty(&root.to_json()).map_err(|e| EditError::RoundTrip {
            format: Format::Json,
            message: e.to_string(),
        })?;
    out.push('\n');
    Ok(out)
}

/// The document as TOML, written by the `toml` crate.
fn to_toml_text(root: &Value) -> Result<String, EditError> {
    fn conv(v: &Value, path: &mut Vec<Segment>) -> Result<toml::Value, EditError> {
        Ok(match v {
            Value::Null => {
                return Err(EditError::Unrepresentable {
                    path: display_path(path),
                    format: Format::Toml,
                    reason: "TOML has no null; unset the key instead".into(),
                });
            }
            Value::Bool(b) => toml::Value::Boolean(*b),
            Value::Int(i) => toml::Value::Integer(*i),
            Value::Float(f) => toml::Value::Float(*f),
            Value::Str(s) => string_or_datetime(s),
            Value::Template(t) => string_or_datetime(&t.source),
            Value::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    path.push(Segment::Index(i));
                    out.push(conv(&item.value, path)?);
                    path.pop();
                }
                toml::Value::Array(out)
            }
            Value::Map(m) => {
                let mut out = toml::Table::new();
                for (k, item) in m.iter() {
                    path.push(Segment::Key(k.clone()));
                    out.insert(k.to_string(), conv(&item.value, path)?);
                    path.pop();
                }
                toml::Value::Table(out)
            }
        })
    }
    let table = match conv(root, &mut Vec::new())? {
        toml::Value::Table(t) => t,
        _ => {
            return Err(EditError::RoundTrip {
                format: Format::Toml,
                message: "a TOML document must be a table".into(),
            });
        }
    };
    let mut out = toml::to_string(&table).map_err(|e| EditError::RoundTrip {
        format: Format::Toml,
        message: e.to_string(),
    })?;
    while out.ends_with("\n\n") {
        out.pop();
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

/// TOML dates are read as strings; a string that is exactly a TOML date is written back
/// as one, so a rewrite keeps `when = 1979-05-27` as it was.
fn string_or_datetime(s: &str) -> toml::Value {
    match s.parse::<toml::value::Datetime>() {
        Ok(d) if d.to_string() == s => toml::Value::Datetime(d),
        _ => toml::Value::String(s.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::path::parse_segments;

    fn set(path: &str, value: serde_json::Value) -> Edit {
        Edit::Set {
            path: parse_segments(path).unwrap(),
            value,
        }
    }

    fn unset(path: &str) -> Edit {
        Edit::Unset {
            path: parse_segments(path).unwrap(),
        }
    }

    fn json_after(mut doc: serde_json::Value, edits: &[Edit]) -> serde_json::Value {
        apply_to_json(&mut doc, edits).unwrap();
        doc
    }

    #[test]
    fn reference_semantics_of_set() {
        let doc = json!({"a": {"b": 1}, "l": [1, 2]});
        assert_eq!(
            json_after(doc.clone(), &[set("a.c.d", json!(2))]),
            json!({"a": {"b": 1, "c": {"d": 2}}, "l": [1, 2]})
        );
        assert_eq!(
            json_after(doc.clone(), &[set("l[2]", json!(3)), set("l[0]", json!(0))]),
            json!({"a": {"b": 1}, "l": [0, 2, 3]})
        );
        assert_eq!(
            json_after(doc.clone(), &[set("n[0].k", json!(1))]),
            json!({"a": {"b": 1}, "l": [1, 2], "n": [{"k": 1}]})
        );
        // Replacing keeps the key's place.
        let out = json_after(doc.clone(), &[set("a", json!("x"))]);
        assert_eq!(
            out.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["a", "l"]
        );
        assert_eq!(
            set_error(&doc, "l[3]"),
            EditError::IndexOutOfRange {
                path: "l[3]".into(),
                at: "l".into(),
                index: 3,
                len: 2
            }
        );
        assert_eq!(
            set_error(&doc, "a.b.c"),
            EditError::ThroughScalar {
                path: "a.b.c".into(),
                at: "a.b".into(),
                found: "an integer"
            }
        );
        assert!(matches!(
            set_error(&doc, "[0]"),
            EditError::WrongContainer { found: "a map", ref at, .. } if at == "(root)"
        ));
        assert!(matches!(
            set_error(&doc, "l.x"),
            EditError::WrongContainer {
                found: "a list",
                ..
            }
        ));
        assert!(matches!(
            set_error(&doc, "n[1]"),
            EditError::IndexOutOfRange { .. }
        ));
        let mut not_map = json!([1]);
        assert_eq!(
            apply_to_json(&mut not_map, &[set("a", json!(1))]),
            Err(EditError::RootNotMap { found: "a list" })
        );
        assert_eq!(
            apply_to_json(
                &mut json!({}),
                &[Edit::Set {
                    path: vec![],
                    value: json!(1)
                }]
            ),
            Err(EditError::EmptyPath)
        );
    }

    fn set_error(doc: &serde_json::Value, path: &str) -> EditError {
        let mut d = doc.clone();
        let e = apply_to_json(&mut d, &[set("zz", json!(9)), set(path, json!(1))]).unwrap_err();
        assert_eq!(&d, doc, "a failed apply leaves the document unchanged");
        e
    }

    #[test]
    fn reference_semantics_of_unset() {
        let doc = json!({"a": {"b": {"c": 1}}, "k": 1, "l": [{"x": 1}, 2]});
        assert_eq!(
            json_after(doc.clone(), &[unset("a.b.c")]),
            json!({"k": 1, "l": [{"x": 1}, 2]})
        );
        assert_eq!(
            json_after(doc.clone(), &[unset("l[0].x")]),
            json!({"a": {"b": {"c": 1}}, "k": 1, "l": [{}, 2]})
        );
        assert_eq!(
            json_after(doc.clone(), &[unset("l[0]"), unset("l[0]")]),
            json!({"a": {"b": {"c": 1}}, "k": 1, "l": []})
        );
        for absent in ["nope", "a.x.y", "k.z", "l[9]", "l.x", "a[0]"] {
            assert_eq!(json_after(doc.clone(), &[unset(absent)]), doc, "{absent}");
        }
        assert_eq!(
            json_after(json!({"a": 1}), &[unset("a")]),
            json!({}),
            "the root stays"
        );
        // Key order is kept around a removal.
        let out = json_after(json!({"x": 1, "y": 2, "z": 3}), &[unset("y")]);
        assert_eq!(
            out.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["x", "z"]
        );
    }

    #[test]
    fn json_documents_are_re_emitted_in_order() {
        let text = "{\"z\": 1, \"a\": {\"k\": [1, 2]}}";
        let out = apply_edits(
            text,
            Format::Json,
            &[
                set("a.k[2]", json!(3)),
                set("m", json!("ENC[strata:v1,abc,def]")),
            ],
        )
        .unwrap();
        assert_eq!(
            out,
            "{\n  \"z\": 1,\n  \"a\": {\n    \"k\": [\n      1,\n      2,\n      3\n    ]\n  },\n  \"m\": \"ENC[strata:v1,abc,def]\"\n}\n"
        );
        // Nothing changed: the text is returned as it was.
        assert_eq!(
            apply_edits(text, Format::Json, &[set("z", json!(1))]).unwrap(),
            text
        );
        assert_eq!(apply_edits("", Format::Json, &[unset("x")]).unwrap(), "");
        assert_eq!(
            apply_edits("", Format::Json, &[set("x", json!(null))]).unwrap(),
            "{\n  \"x\": null\n}\n"
        );
        let e = apply_edits("{\"a\": 1e999}", Format::Json, &[set("b", json!(1))]).unwrap_err();
        assert!(
            matches!(e, EditError::Unrepresentable { ref path, .. } if path == "a"),
            "{e}"
        );
        let e = apply_edits("{\"a\": }", Format::Json, &[]).unwrap_err();
        assert!(
            matches!(
                e,
                EditError::Parse {
                    format: Format::Json,
                    line: 1,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn toml_documents_are_re_emitted() {
        let text = "title = \"x\"\nwhen = 1979-05-27\n\n[db]\nhost = \"h\"\nport = 5432\n";
        let out = apply_edits(
            text,
            Format::Toml,
            &[
                set("db.port", json!(6543)),
                set("db.pool.max", json!(10)),
                set("flags", json!([true, false])),
                unset("title"),
            ],
        )
        .unwrap();
        insta::assert_snapshot!(out, @r#"
        when = 1979-05-27
        flags = [true, false]

        [db]
        host = "h"
        port = 6543

        [db.pool]
        max = 10
        "#);
        let e = apply_edits(text, Format::Toml, &[set("db.pass", json!(null))]).unwrap_err();
        assert_eq!(
            e,
            EditError::Unrepresentable {
                path: "db.pass".into(),
                format: Format::Toml,
                reason: "TOML has no null; unset the key instead".into()
            }
        );
        let e = apply_edits(text, Format::Toml, &[set("x", json!({"a": [1, null]}))]).unwrap_err();
        assert!(
            matches!(e, EditError::Unrepresentable { ref path, .. } if path == "x.a[1]"),
            "{e}"
        );
        let e = apply_edits("a = = 1\n", Format::Toml, &[]).unwrap_err();
        assert!(
            matches!(
                e,
                EditError::Parse {
                    format: Format::Toml,
                    ..
                }
            ),
            "{e}"
        );
        assert!(
            e.to_string()
                .starts_with("the TOML document does not parse: line 1"),
            "{e}"
        );
        assert_eq!(
            apply_edits(text, Format::Toml, &[unset("nope")]).unwrap(),
            text
        );
    }
}
