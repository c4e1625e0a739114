//! Surgical, line-based edits of block-style YAML.
//!
//! The parsed tree says on which line each key is (a key's node is located at the key);
//! indentation says how far its value's block reaches. Each edit is a few line splices:
//! replace a scalar's text in place, append an entry after the last line of its map's
//! block, delete an entry's lines. After every edit the text is read back and compared
//! with the reference semantics; anything this module does not recognise, and any
//! mismatch, makes the edit fall back to re-emitting the whole document.

use crate::parse::Format;
use crate::path::Segment;
use crate::value::{Loc, Map, Node, Value, new_map};

use super::emit::{self, Style};
use super::{Edit, EditError, apply_to_node, parse_text};

/// Applies `edits` to YAML `text` whose parsed tree is `root`.
pub(super) fn apply(text: &str, root: Node, edits: &[Edit]) -> Result<String, EditError> {
    let style = Doc::new(text, None).map(|d| d.style).unwrap_or_default();
    let mut text = text.to_string();
    let mut root = root;
    for edit in edits {
        let mut expected = root.clone();
        apply_to_node(&mut expected, edit, Format::Yaml)?;
        if expected.value == root.value {
            continue;
        }
        let surgical = surgical(&text, &root, edit, style)
            .and_then(|(t, back)| (back.value == expected.value).then_some((t, back)));
        (text, root) = match surgical {
            Some(done) => done,
            None => {
                #[cfg(test)]
                FALLBACKS.with(|n| n.set(n.get() + 1));
                fallback(&text, &expected, style)?
            }
        };
    }
    Ok(text)
}

#[cfg(test)]
thread_local! {
    /// How many edits re-emitted the whole document (tests check the surgical path is taken).
    static FALLBACKS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Tries the edit as line splices; `None` when the document or the path is not something
/// this editor handles.
fn surgical(text: &str, root: &Node, edit: &Edit, style: Style) -> Option<(String, Node)> {
    let mut s = Session {
        doc: Doc::new(text, Some(style))?,
        root: root.clone(),
        style,
        parsed: Some(text.to_string()),
    };
    match edit {
        Edit::Set { path, value } => {
            let mut at = path.clone();
            let new = super::node_from_json(value, &mut at).ok()?;
            s.set(path, &new.value)?;
        }
        Edit::Unset { path } => s.unset(path)?,
    }
    // The tree of the last splice is the tree of the result when the text is the same;
    // otherwise read the result again.
    let out = s.doc.render();
    let back = match s.parsed {
        Some(p) if p == out => s.root,
        _ => parse_text(&out, Format::Yaml).ok()?,
    };
    Some((out, back))
}

/// Re-emits the whole edited document as block YAML, keeping the comments (and a `---`)
/// that come before its first key.
fn fallback(old: &str, expected: &Node, style: Style) -> Result<(String, Node), EditError> {
    let eol = if old.contains("\r\n") { "\r\n" } else { "\n" };
    let mut lines = header_lines(old);
    lines.extend(emit::document_lines(&expected.value, style));
    let mut text = lines.join(eol);
    text.push_str(eol);
    let back = parse_text(&text, Format::Yaml).map_err(|e| EditError::RoundTrip {
        format: Format::Yaml,
        message: e.message,
    })?;
    if back.value != expected.value {
        return Err(EditError::RoundTrip {
            format: Format::Yaml,
            message: "the written text reads back as a different value".into(),
        });
    }
    Ok((text, back))
}

/// The comment and blank lines (and one `---`) before a document's first content.
fn header_lines(text: &str) -> Vec<String> {
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    let mut marker = false;
    for line in body.lines() {
        let t = line.trim_start_matches(' ');
        if t.is_empty() || t.starts_with('#') {
            out.push(line.to_string());
        } else if !marker && is_start_marker(line) {
            marker = true;
            out.push(line.to_string());
        } else {
            break;
        }
    }
    out
}

/// `---` alone on its line (a trailing comment allowed).
fn is_start_marker(line: &str) -> bool {
    line.strip_prefix("---").is_some_and(|rest| {
        let r = rest.trim_start_matches(' ');
        r.is_empty() || (r.len() < rest.len() && r.starts_with('#'))
    })
}

/// A document marker or directive at the start of a line (`---`, `...`, `%YAML`).
fn is_marker(line: &str) -> bool {
    let marks = |m: &str| {
        line.strip_prefix(m)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
    };
    marks("---") || marks("...") || line.starts_with('%')
}

/// Spaces at the start of a line.
fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// Whether `line` has a sequence dash at byte `col`.
fn is_dash_at(line: &str, col: usize) -> bool {
    let b = line.as_bytes();
    b.get(col) == Some(&b'-') && matches!(b.get(col + 1), None | Some(b' '))
}

/// The column where a key on this line starts: after the indentation and any `- ` dashes.
fn key_col(line: &str) -> usize {
    let b = line.as_bytes();
    let mut i = 0;
    loop {
        while b.get(i) == Some(&b' ') {
            i += 1;
        }
        if is_dash_at(line, i) {
            i += 1;
            continue;
        }
        return i;
    }
}

/// The column of a second dash after an item's `-` (`- - x`).
fn nested_dash(line: &str, value_at: usize) -> Option<usize> {
    let rest = line.get(value_at..)?;
    let d = value_at + rest.len() - rest.trim_start_matches(' ').len();
    (d > value_at && is_dash_at(line, d)).then_some(d)
}

/// Index of the `"` closing the double-quoted scalar that starts `s`.
fn close_double(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// Index of the `'` closing the single-quoted scalar that starts `s`.
fn close_single(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 1;
    while i < b.len() {
        if b[i] == b'\'' {
            if b.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Reads the key that starts at byte `col`: its text and the offset just after its `:`.
fn parse_key(line: &str, col: usize) -> Option<(String, usize)> {
    let rest = line.get(col..)?;
    let first = rest.chars().next()?;
    let after_token = |close: usize| -> Option<usize> {
        let mut j = col + close + 1;
        while line.as_bytes().get(j) == Some(&b' ') {
            j += 1;
        }
        colon_at(line, j).then_some(j + 1)
    };
    match first {
        '"' | '\'' => {
            let close = if first == '"' {
                close_double(rest)?
            } else {
                close_single(rest)?
            };
            let value_at = after_token(close)?;
            let token = &rest[..=close];
            // Quoted keys are rare: let the reader decode the escapes.
            let node = parse_text(&format!("{token}: 0\n"), Format::Yaml).ok()?;
            let key = node.value.as_map()?.first()?.0.to_string();
            Some((key, value_at))
        }
        '?' | '&' | '*' | '!' | '|' | '>' | '{' | '}' | '[' | ']' | ',' | '#' | '%' | '@' | '`'
        | ':' => None,
        _ => {
            let b = rest.as_bytes();
            let mut j = 0;
            while j < b.len() {
                if b[j] == b'#' && j > 0 && b[j - 1] == b' ' {
                    return None;
                }
                if colon_at(rest, j) {
                    let key = rest[..j].trim_end_matches(' ');
                    return (!key.is_empty()).then(|| (key.to_string(), col + j + 1));
                }
                j += 1;
            }
            None
        }
    }
}

/// A `:` at byte `j` that ends a key (followed by a space or the end of the line).
fn colon_at(s: &str, j: usize) -> bool {
    let b = s.as_bytes();
    b.get(j) == Some(&b':') && matches!(b.get(j + 1), None | Some(b' '))
}

/// What follows a key's `:` or an item's `-` on its line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inline {
    /// Nothing (the value is on the following lines, or null); maybe a comment at the offset.
    Empty { comment: Option<usize> },
    /// A one-line plain or quoted scalar at `start..end` (a comment may follow).
    Scalar { start: usize, end: usize },
    /// Anything else: flow collections, anchors, aliases, tags, block scalars, multi-line
    /// quoted scalars, `- - x`.
    Other,
}

fn inline(line: &str, from: usize) -> Inline {
    let b = line.as_bytes();
    let mut p = from;
    while b.get(p) == Some(&b' ') {
        p += 1;
    }
    let Some(&c) = b.get(p) else {
        return Inline::Empty { comment: None };
    };
    let tail_ok = |end: usize| {
        let tail = &line[end..];
        let t = tail.trim_start_matches(' ');
        t.is_empty() || (t.len() < tail.len() && t.starts_with('#'))
    };
    match c {
        b'#' if p > from => Inline::Empty { comment: Some(p) },
        b'"' | b'\'' => {
            let close = if c == b'"' {
                close_double(&line[p..])
            } else {
                close_single(&line[p..])
            };
            match close {
                Some(close) if tail_ok(p + close + 1) => Inline::Scalar {
                    start: p,
                    end: p + close + 1,
                },
                _ => Inline::Other,
            }
        }
        // An empty flow collection is one token, like a scalar.
        b'{' | b'['
            if matches!((c, b.get(p + 1)), (b'{', Some(b'}')) | (b'[', Some(b']')))
                && tail_ok(p + 2) =>
        {
            Inline::Scalar {
                start: p,
                end: p + 2,
            }
        }
        b'#' | b'{' | b'}' | b'[' | b']' | b'&' | b'*' | b'!' | b'|' | b'>' | b'%' | b'@'
        | b'`' | b'?' | b',' | b':' | b'\t' => Inline::Other,
        b'-' if matches!(b.get(p + 1), None | Some(b' ')) => Inline::Other,
        _ => {
            let mut end = line.len();
            let mut j = p;
            while j < b.len() {
                if b[j] == b'#' && b[j - 1] == b' ' {
                    end = j;
                    break;
                }
                j += 1;
            }
            let end = p + line[p..end].trim_end_matches(' ').len();
            Inline::Scalar { start: p, end }
        }
    }
}

/// The trailing comment (with the spaces before it) to keep when a value is rewritten.
fn comment_suffix(line: &str, value_at: usize, inl: Inline) -> &str {
    match inl {
        Inline::Empty { comment: Some(_) } => &line[value_at..],
        Inline::Scalar { end, .. } => {
            let tail = &line[end..];
            if tail.trim_start_matches(' ').starts_with('#') {
                tail
            } else {
                ""
            }
        }
        _ => "",
    }
}

/// Where a value sits in the text: the line of its key (or dash) and how far it reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    /// 0-based index of the key's (or dash's) line.
    line: usize,
    /// Byte column of the key (or dash).
    col: usize,
    /// Byte offset just after the key's `:` (or the item's `-`).
    value_at: usize,
    /// Last line (inclusive) of the value's text.
    end: usize,
    /// A list item rather than a map entry.
    item: bool,
}

/// A YAML text as lines.
struct Doc {
    lines: Vec<String>,
    eol: &'static str,
    final_newline: bool,
    bom: bool,
    /// First line after a leading `---` (0 without one).
    header_end: usize,
    style: Style,
}

impl Doc {
    /// Splits `text` into lines; `None` when it holds something the line editor does not
    /// handle (tabs in indentation, lone carriage returns, several documents, directives).
    /// The style is detected unless given.
    fn new(text: &str, style: Option<Style>) -> Option<Doc> {
        let (bom, body) = match text.strip_prefix('\u{feff}') {
            Some(b) => (true, b),
            None => (false, text),
        };
        let eol = if body.contains("\r\n") { "\r\n" } else { "\n" };
        let mut lines = Vec::new();
        for raw in body.split('\n') {
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.contains('\r') {
                return None;
            }
            lines.push(line.to_string());
        }
        let final_newline = body.is_empty() || body.ends_with('\n');
        if final_newline {
            lines.pop();
        }
        let mut header_end = 0;
        let mut content_seen = false;
        for (i, line) in lines.iter().enumerate() {
            if line
                .bytes()
                .take_while(|b| *b == b' ' || *b == b'\t')
                .any(|b| b == b'\t')
            {
                return None;
            }
            let t = line.trim_start_matches(' ');
            if is_marker(line) {
                if content_seen || header_end > 0 || !is_start_marker(line) {
                    return None;
                }
                header_end = i + 1;
            } else if !t.is_empty() && !t.starts_with('#') {
                content_seen = true;
            }
        }
        let mut doc = Doc {
            lines,
            eol,
            final_newline,
            bom,
            header_end,
            style: style.unwrap_or_default(),
        };
        if style.is_none() {
            doc.style = doc.detect_style();
        }
        Some(doc)
    }

    fn render(&self) -> String {
        let mut out = String::new();
        if self.bom {
            out.push('\u{feff}');
        }
        out.push_str(&self.lines.join(self.eol));
        if self.final_newline && !self.lines.is_empty() {
            out.push_str(self.eol);
        }
        out
    }

    /// The indentation of a content line (`None` for blank and comment lines, and the
    /// header).
    fn content_indent(&self, i: usize) -> Option<usize> {
        if i < self.header_end {
            return None;
        }
        let line = self.lines.get(i)?;
        let t = line.trim_start_matches(' ');
        if t.is_empty() || t.starts_with('#') {
            None
        } else {
            Some(line.len() - t.len())
        }
    }

    fn content_lines(&self) -> impl Iterator<Item = usize> + '_ {
        (self.header_end..self.lines.len()).filter(|&i| self.content_indent(i).is_some())
    }

    /// The indentation step of maps and of lists under keys, from the first examples.
    fn detect_style(&self) -> Style {
        let mut step = None;
        let mut seq = None;
        let mut open_key: Option<usize> = None;
        for i in self.content_lines() {
            let line = &self.lines[i];
            let ind = indent(line);
            if let Some(kc) = open_key {
                if is_dash_at(line, ind) {
                    if seq.is_none() && ind >= kc {
                        seq = Some(ind - kc);
                    }
                } else if step.is_none() && ind > kc {
                    step = Some(ind - kc);
                }
            }
            let kc = key_col(line);
            open_key = parse_key(line, kc)
                .filter(|(_, at)| matches!(inline(line, *at), Inline::Empty { .. }))
                .map(|_| kc);
            if step.is_some() && seq.is_some() {
                break;
            }
        }
        let step = step.filter(|s| (1..=8).contains(s)).unwrap_or(2);
        let seq_indent = seq.filter(|s| *s <= 8).unwrap_or(step);
        Style { step, seq_indent }
    }

    /// The last line of a value whose key (or dash, for `item`) is at `line`, `col`: the
    /// last following content line indented deeper (or, for a key, a `-` at the key's
    /// column: a compact list).
    /// Inside a block scalar (`|`, `>` after `value_at`) every deeper line is content,
    /// even one that starts with `#`.
    fn extent(&self, line: usize, col: usize, value_at: usize, item: bool) -> usize {
        let block_scalar = self.lines[line]
            .get(value_at..)
            .is_some_and(|rest| rest.trim_start_matches(' ').starts_with(['|', '>']));
        let mut end = line;
        for j in line + 1..self.lines.len() {
            let ind = if block_scalar {
                let l = &self.lines[j];
                let t = l.trim_start_matches(' ');
                if t.is_empty() {
                    continue;
                }
                Some(l.len() - t.len()).filter(|i| *i > col || !t.starts_with('#'))
            } else {
                self.content_indent(j)
            };
            let Some(ind) = ind else {
                continue;
            };
            if ind > col || (!item && ind == col && is_dash_at(&self.lines[j], ind)) {
                end = j;
            } else {
                break;
            }
        }
        end
    }

    /// The slot of entry `key` of block map `map`.
    fn entry_slot(&self, map: &Map, key: &str) -> Option<Slot> {
        let child = map.get(key)?;
        let (_, first) = map.first()?;
        let line = line_index(child.loc)?;
        let first_line = line_index(first.loc)?;
        if line < self.header_end {
            return None;
        }
        let text = self.lines.get(line)?;
        let col = key_col(text);
        if col != key_col(self.lines.get(first_line)?) {
            return None;
        }
        // Only a map's first key may share its line with list dashes.
        if line != first_line && indent(text) != col {
            return None;
        }
        let (k, value_at) = parse_key(text, col)?;
        if k != key {
            return None;
        }
        Some(Slot {
            line,
            col,
            value_at,
            end: self.extent(line, col, value_at, false),
            item: false,
        })
    }

    /// The slots of the items of the block list under `place`, which has `len` items.
    fn item_slots(&self, place: Slot, len: usize) -> Option<Vec<Slot>> {
        let head = self.lines.get(place.line)?;
        let mut dash_col = None;
        let mut dashes = Vec::new();
        if !matches!(inline(head, place.value_at), Inline::Empty { .. }) {
            // `- - x`: a list in a list starts on the outer item's line.
            let d = nested_dash(head, place.value_at).filter(|_| place.item)?;
            dash_col = Some(d);
            dashes.push(place.line);
        }
        for j in place.line + 1..=place.end {
            let Some(ind) = self.content_indent(j) else {
                continue;
            };
            let d = *dash_col.get_or_insert(ind);
            if ind < d {
                return None;
            }
            if ind == d {
                if !is_dash_at(&self.lines[j], d) {
                    return None;
                }
                dashes.push(j);
            }
        }
        let d = dash_col?;
        if d < place.col || (place.item && d == place.col) || dashes.len() != len {
            return None;
        }
        Some(
            dashes
                .into_iter()
                .map(|line| Slot {
                    line,
                    col: d,
                    value_at: d + 1,
                    end: self.extent(line, d, d + 1, true),
                    item: true,
                })
                .collect(),
        )
    }

    /// Whether the map or list `node` under `place` (`None`: the root) is in block style.
    fn is_block(&self, place: Option<Slot>, node: &Node) -> bool {
        let Some(place) = place else {
            return self.content_lines().next().is_none_or(|i| {
                !self.lines[i]
                    .trim_start_matches(' ')
                    .starts_with(['{', '['])
            });
        };
        let Some(head) = self.lines.get(place.line) else {
            return false;
        };
        if let Inline::Empty { .. } = inline(head, place.value_at) {
            return true;
        }
        if place.item && matches!(node.value, Value::List(_)) {
            return nested_dash(head, place.value_at).is_some();
        }
        // `- key: value`: a map whose first key shares the item's line (the key itself is
        // checked when its entry is looked up).
        place.item
            && key_col(head) > place.col
            && node
                .value
                .as_map()
                .and_then(|m| m.first())
                .is_some_and(|(_, first)| line_index(first.loc) == Some(place.line))
    }

    /// The slot of the value at `path` (not empty) and its node, checking that every
    /// container on the way is in block style.
    fn slot_of<'n>(&self, root: &'n Node, path: &[Segment]) -> Option<(Slot, &'n Node)> {
        let mut node = root;
        let mut place: Option<Slot> = None;
        for seg in path {
            if !self.is_block(place, node) {
                return None;
            }
            let (child, slot) = match (seg, &node.value) {
                (Segment::Key(k), Value::Map(m)) => (m.get(&**k)?, self.entry_slot(m, k)?),
                (Segment::Index(i), Value::List(items)) => {
                    let slots = self.item_slots(place?, items.len())?;
                    (items.get(*i)?, *slots.get(*i)?)
                }
                _ => return None,
            };
            if let Some(p) = place {
                let inside = if p.item {
                    slot.line >= p.line
                } else {
                    slot.line > p.line
                };
                if !inside || slot.line > p.end {
                    return None;
                }
            }
            node = child;
            place = Some(slot);
        }
        Some((place?, node))
    }

    /// Where the container at `path` lives: `None` for the root.
    fn place_of(&self, root: &Node, path: &[Segment]) -> Option<Option<Slot>> {
        if path.is_empty() {
            Some(None)
        } else {
            self.slot_of(root, path).map(|(s, _)| Some(s))
        }
    }
}

/// 0-based line index of a location.
fn line_index(loc: Loc) -> Option<usize> {
    (loc.line as usize).checked_sub(1)
}

fn get<'n>(root: &'n Node, path: &[Segment]) -> Option<&'n Node> {
    root.get(path)
}

fn single_map(key: &str, v: &Value) -> Value {
    let mut m = new_map();
    m.insert(key.into(), Node::new(v.clone(), Loc::default()));
    Value::Map(Box::new(m))
}

/// The value to write at the first missing segment: `rest` nested around `v`.
fn nest(rest: &[Segment], v: &Value) -> Value {
    rest.iter().rev().fold(v.clone(), |acc, seg| match seg {
        Segment::Key(k) => single_map(k, &acc),
        Segment::Index(_) => Value::List(vec![Node::new(acc, Loc::default())]),
    })
}

/// Whether setting map `new` over map `old` key by key gives `new`'s key order: kept keys
/// stay in `old`'s order and new keys are appended.
fn same_order(old: &Map, new: &Map) -> bool {
    let kept = old.keys().filter(|k| new.contains_key(*k));
    let added = new.keys().filter(|k| !old.contains_key(*k));
    let common = kept.clone().count();
    common > 0 && kept.chain(added).eq(new.keys())
}

/// A document being edited: its lines and its tree, re-read after every splice.
struct Session {
    doc: Doc,
    root: Node,
    style: Style,
    /// The text `root` was read from.
    parsed: Option<String>,
}

impl Session {
    fn splice(&mut self, from: usize, to: usize, lines: Vec<String>) -> Option<()> {
        if from > to || to > self.doc.lines.len() {
            return None;
        }
        self.doc.lines.splice(from..to, lines);
        let text = self.doc.render();
        self.root = parse_text(&text, Format::Yaml).ok()?;
        self.doc = Doc::new(&text, Some(self.style))?;
        self.parsed = Some(text);
        Some(())
    }

    fn set(&mut self, path: &[Segment], new: &Value) -> Option<()> {
        let mut found = 0;
        let mut node = &self.root;
        while let Some(child) = path
            .get(found)
            .and_then(|seg| node.get(std::slice::from_ref(seg)))
        {
            node = child;
            found += 1;
        }
        if found == path.len() {
            let old = node.value.clone();
            return self.set_existing(path, &old, new);
        }
        let value = nest(&path[found + 1..], new);
        match &path[found] {
            Segment::Key(k) => self.insert_key(&path[..found], k, &value),
            Segment::Index(_) => self.append_item(&path[..found], &value),
        }
    }

    /// Sets `new` over `old` at `path`, key by key and item by item where the shapes allow,
    /// so that unchanged parts (and their comments) stay.
    fn set_existing(&mut self, path: &[Segment], old: &Value, new: &Value) -> Option<()> {
        if old == new {
            return Some(());
        }
        let child = |seg: Segment| {
            let mut p = path.to_vec();
            p.push(seg);
            p
        };
        match (old, new) {
            (Value::Map(om), Value::Map(nm)) if same_order(om, nm) => {
                for k in om.keys().filter(|k| !nm.contains_key(*k)) {
                    self.remove_key(path, k)?;
                }
                for (k, v) in nm.iter() {
                    match om.get(k) {
                        Some(o) => {
                            self.set_existing(&child(Segment::Key(k.clone())), &o.value, &v.value)?
                        }
                        None => self.insert_key(path, k, &v.value)?,
                    }
                }
                Some(())
            }
            (Value::List(ol), Value::List(nl)) if !ol.is_empty() && !nl.is_empty() => {
                for (i, (o, n)) in ol.iter().zip(nl).enumerate() {
                    self.set_existing(&child(Segment::Index(i)), &o.value, &n.value)?;
                }
                for item in nl.iter().skip(ol.len()) {
                    self.append_item(path, &item.value)?;
                }
                for i in (nl.len()..ol.len()).rev() {
                    self.remove_item(path, i)?;
                }
                Some(())
            }
            _ => self.replace(path, new),
        }
    }

    fn unset(&mut self, path: &[Segment]) -> Option<()> {
        get(&self.root, path)?;
        // Climb over the parent maps this removal empties (not the root, not list items).
        let mut t = path.len();
        while t >= 2 {
            let removable = matches!(path[t - 2], Segment::Key(_))
                && get(&self.root, &path[..t - 1])
                    .and_then(|n| n.value.as_map())
                    .is_some_and(|m| m.len() == 1);
            if !removable {
                break;
            }
            t -= 1;
        }
        let parent = &path[..t - 1];
        match &path[t - 1] {
            Segment::Key(k) => self.remove_key(parent, k),
            Segment::Index(i) => self.remove_item(parent, *i),
        }
    }

    /// Rewrites the value at `path` (not the root) as `new`.
    fn replace(&mut self, path: &[Segment], new: &Value) -> Option<()> {
        let (slot, old) = self.doc.slot_of(&self.root, path)?;
        let line = self.doc.lines.get(slot.line)?.clone();
        let inl = inline(&line, slot.value_at);
        let suffix = comment_suffix(&line, slot.value_at, inl);
        let mut out = Vec::new();
        match emit::inline_text(new) {
            Some(text) => match inl {
                Inline::Scalar { start, end } if slot.end == slot.line && old.value.is_scalar() => {
                    out.push(format!("{}{text}{}", &line[..start], &line[end..]));
                }
                _ => out.push(format!("{} {text}{suffix}", &line[..slot.value_at])),
            },
            None if slot.item => {
                emit::item_lines(new, slot.col, self.style, &mut out);
                if let Some(first) = out.first_mut() {
                    // Keep what precedes the dash (an outer `- ` in `- - x`).
                    *first = format!("{}{}{suffix}", &line[..slot.col], first.get(slot.col..)?);
                }
            }
            None => {
                out.push(format!("{}{suffix}", &line[..slot.value_at]));
                emit::block_lines(new, slot.col, self.style, &mut out);
            }
        }
        self.splice(slot.line, slot.end + 1, out)
    }

    /// Adds entry `key: v` at the end of the map at `map_path`.
    fn insert_key(&mut self, map_path: &[Segment], key: &str, v: &Value) -> Option<()> {
        let node = get(&self.root, map_path)?;
        let map = node.value.as_map()?;
        if map.is_empty() {
            if map_path.is_empty() {
                return self.insert_into_empty_root(key, v);
            }
            return self.replace(map_path, &single_map(key, v));
        }
        let place = self.doc.place_of(&self.root, map_path)?;
        if !self.doc.is_block(place, node) {
            return None;
        }
        let (last_key, _) = map.last()?;
        let last = self.doc.entry_slot(map, last_key)?;
        let mut out = Vec::new();
        emit::entry_lines(key, v, last.col, self.style, &mut out);
        self.splice(last.end + 1, last.end + 1, out)
    }

    /// Adds the first key of a document that is empty, only comments, or `{}`.
    fn insert_into_empty_root(&mut self, key: &str, v: &Value) -> Option<()> {
        let mut out = Vec::new();
        emit::entry_lines(key, v, 0, self.style, &mut out);
        let content: Vec<usize> = self.doc.content_lines().collect();
        match content.as_slice() {
            [] => {
                let end = self.doc.lines.len();
                self.splice(end, end, out)
            }
            [i] => {
                let line = &self.doc.lines[*i];
                let rest = line.trim_start_matches(' ').strip_prefix("{}")?;
                let t = rest.trim_start_matches(' ');
                if !t.is_empty() {
                    if t.len() == rest.len() || !t.starts_with('#') {
                        return None;
                    }
                    // `{}  # comment`: the comment stays, on its own line.
                    out.insert(0, t.to_string());
                }
                self.splice(*i, *i + 1, out)
            }
            _ => None,
        }
    }

    /// Adds item `v` at the end of the list at `list_path`.
    fn append_item(&mut self, list_path: &[Segment], v: &Value) -> Option<()> {
        let Value::List(items) = &get(&self.root, list_path)?.value else {
            return None;
        };
        if items.is_empty() {
            let list = Value::List(vec![Node::new(v.clone(), Loc::default())]);
            return self.replace(list_path, &list);
        }
        let (place, _) = self.doc.slot_of(&self.root, list_path)?;
        let last = *self.doc.item_slots(place, items.len())?.last()?;
        let mut out = Vec::new();
        emit::item_lines(v, last.col, self.style, &mut out);
        self.splice(last.end + 1, last.end + 1, out)
    }

    /// Removes entry `key` of the map at `map_path` (an emptied map becomes `{}`).
    fn remove_key(&mut self, map_path: &[Segment], key: &str) -> Option<()> {
        let node = get(&self.root, map_path)?;
        let map = node.value.as_map()?;
        if map.len() == 1 && !map_path.is_empty() {
            return self.replace(map_path, &Value::Map(Box::new(new_map())));
        }
        let place = self.doc.place_of(&self.root, map_path)?;
        if !self.doc.is_block(place, node) {
            return None;
        }
        let slot = self.doc.entry_slot(map, key)?;
        if map.len() == 1 {
            return self.splice(slot.line, slot.end + 1, vec!["{}".to_string()]);
        }
        let head = self.doc.lines.get(slot.line)?;
        if indent(head) != slot.col {
            // `- key: v` with more keys below: the next key moves up onto the dash.
            let (next_key, _) = map.get_index(1)?;
            let next = self.doc.entry_slot(map, next_key)?;
            let merged = format!(
                "{}{}",
                head.get(..slot.col)?,
                self.doc.lines.get(next.line)?.get(slot.col..)?
            );
            self.doc.lines[next.line] = merged;
        }
        self.splice(slot.line, slot.end + 1, Vec::new())
    }

    /// Removes item `i` of the list at `list_path` (an emptied list becomes `[]`).
    fn remove_item(&mut self, list_path: &[Segment], i: usize) -> Option<()> {
        let Value::List(items) = &get(&self.root, list_path)?.value else {
            return None;
        };
        if items.len() == 1 {
            return self.replace(list_path, &Value::List(Vec::new()));
        }
        let (place, _) = self.doc.slot_of(&self.root, list_path)?;
        let slots = self.doc.item_slots(place, items.len())?;
        let slot = *slots.get(i)?;
        let head = self.doc.lines.get(slot.line)?;
        if indent(head) != slot.col {
            // `- - x` with more items below: the next item moves up onto the outer dash.
            let next = slots.get(i + 1)?;
            let merged = format!(
                "{}{}",
                head.get(..slot.col)?,
                self.doc.lines.get(next.line)?.get(slot.col..)?
            );
            self.doc.lines[next.line] = merged;
        }
        self.splice(slot.line, slot.end + 1, Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::{Edit, EditError, apply_edits, apply_to_json, parse_text};
    use crate::parse::Format;
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

    /// Applies edits, checks the result against the reference semantics, and checks that
    /// no edit re-emitted the whole document.
    fn edit(text: &str, edits: &[Edit]) -> String {
        let (out, fallbacks) = edit_counting(text, edits);
        assert_eq!(fallbacks, 0, "fell back:\n{out}");
        out
    }

    /// Like [`edit`], for edits that must re-emit the document.
    fn edit_fallback(text: &str, edits: &[Edit]) -> String {
        let (out, fallbacks) = edit_counting(text, edits);
        assert!(fallbacks > 0, "did not fall back:\n{out}");
        out
    }

    fn edit_counting(text: &str, edits: &[Edit]) -> (String, usize) {
        let before = super::FALLBACKS.with(|n| n.get());
        let out = apply_edits(text, Format::Yaml, edits).unwrap();
        let fallbacks = super::FALLBACKS.with(|n| n.get()) - before;
        let mut want = parse_text(text, Format::Yaml).unwrap().value.to_json();
        apply_to_json(&mut want, edits).unwrap();
        let got = parse_text(&out, Format::Yaml)
            .unwrap_or_else(|e| panic!("output does not parse: {e}\n{out}"))
            .value
            .to_json();
        assert_eq!(got, want, "output:\n{out}");
        (out, fallbacks)
    }

    const DOC: &str = "\
# checkout, production
db:
  host: db1.internal   # primary
  port: 5432
  # pool sizing
  pool:
    max: 10
hosts:
  - a.example
  - b.example   # canary
feature: on
";

    #[test]
    fn replacing_a_scalar_keeps_comments_and_the_trailing_comment() {
        let out = edit(DOC, &[set("db.host", json!("db2.internal"))]);
        assert_eq!(out, DOC.replace("db1.internal", "db2.internal"));
        let out = edit(DOC, &[set("hosts[1]", json!("c.example"))]);
        assert_eq!(out, DOC.replace("b.example", "c.example"));
        let out = edit(DOC, &[set("db.pool.max", json!(20))]);
        assert_eq!(out, DOC.replace("max: 10", "max: 20"));
    }

    #[test]
    fn setting_the_same_value_changes_nothing() {
        let messy = "a:   1  # one\nb: {x: 1}\n";
        assert_eq!(edit(messy, &[set("a", json!(1))]), messy);
        assert_eq!(edit(messy, &[set("b.x", json!(1))]), messy);
        assert_eq!(edit(messy, &[unset("nope.deeper")]), messy);
    }

    #[test]
    fn a_new_key_at_depth_three_creates_its_parents() {
        let out = edit(DOC, &[set("db.pool.timeouts.connect", json!("5s"))]);
        insta::assert_snapshot!(out, @r"
        # checkout, production
        db:
          host: db1.internal   # primary
          port: 5432
          # pool sizing
          pool:
            max: 10
            timeouts:
              connect: 5s
        hosts:
          - a.example
          - b.example   # canary
        feature: on
        ");
        let out = edit(DOC, &[set("cache.redis.url", json!("redis://r:6379"))]);
        assert!(out.starts_with(DOC), "{out}");
        assert!(
            out.ends_with("feature: on\ncache:\n  redis:\n    url: redis://r:6379\n"),
            "{out}"
        );
    }

    #[test]
    fn setting_maps_and_lists_writes_block_style() {
        let out = edit(
            DOC,
            &[
                set(
                    "limits",
                    json!({"cpu": "500m", "memory": {"max": "1Gi"}, "tags": []}),
                ),
                set(
                    "db.replicas",
                    json!(["r1", {"host": "r2", "port": 1}, [1, 2]]),
                ),
                set("empty", json!({})),
            ],
        );
        insta::assert_snapshot!(out, @r"
        # checkout, production
        db:
          host: db1.internal   # primary
          port: 5432
          # pool sizing
          pool:
            max: 10
          replicas:
            - r1
            - host: r2
              port: 1
            - - 1
              - 2
        hosts:
          - a.example
          - b.example   # canary
        feature: on
        limits:
          cpu: 500m
          memory:
            max: 1Gi
          tags: []
        empty: {}
        ");
    }

    #[test]
    fn replacing_a_scalar_with_a_map_keeps_the_key_comment() {
        let out = edit(
            DOC,
            &[set("db.host", json!({"primary": "p", "replica": "r"}))],
        );
        assert!(
            out.contains("  host:   # primary\n    primary: p\n    replica: r\n  port: 5432\n"),
            "{out}"
        );
        let out = edit(DOC, &[set("db.pool", json!(7))]);
        assert!(out.contains("  # pool sizing\n  pool: 7\nhosts:"), "{out}");
    }

    #[test]
    fn setting_a_map_over_a_map_edits_key_by_key() {
        let out = edit(
            DOC,
            &[set(
                "db",
                json!({"host": "db1.internal", "pool": {"max": 12, "min": 2}}),
            )],
        );
        assert_eq!(
            out,
            DOC.replace("  port: 5432\n", "")
                .replace("    max: 10\n", "    max: 12\n    min: 2\n")
        );
        let out = edit(DOC, &[set("hosts", json!(["a.example", "z.example", "y"]))]);
        assert_eq!(
            out,
            DOC.replace("b.example   # canary\n", "z.example   # canary\n  - y\n")
        );
    }

    #[test]
    fn unset_removes_a_leaf_an_item_and_a_subtree() {
        let out = edit(DOC, &[unset("db.port")]);
        assert_eq!(out, DOC.replace("  port: 5432\n", ""));
        let out = edit(DOC, &[unset("hosts[0]")]);
        assert_eq!(out, DOC.replace("  - a.example\n", ""));
        let out = edit(DOC, &[unset("db")]);
        // The comment inside the removed block goes with it; the others stay.
        assert_eq!(
            out,
            "# checkout, production\nhosts:\n  - a.example\n  - b.example   # canary\nfeature: on\n"
        );
    }

    #[test]
    fn unset_removes_the_parents_it_empties() {
        let out = edit(DOC, &[unset("db.pool.max")]);
        assert_eq!(out, DOC.replace("  pool:\n    max: 10\n", ""));
        let doc = "a:\n  b:\n    c: 1\nkeep: 2\n";
        assert_eq!(edit(doc, &[unset("a.b.c")]), "keep: 2\n");
        assert_eq!(edit("a:\n  b:\n    c: 1\n", &[unset("a.b.c")]), "{}\n");
        // A list left empty stays, as does a map that is a list item.
        assert_eq!(edit("l:\n  - x\n", &[unset("l[0]")]), "l: []\n");
        assert_eq!(
            edit("l:\n  - k: 1\n  - j: 2\n", &[unset("l[0].k")]),
            "l:\n  - {}\n  - j: 2\n"
        );
    }

    #[test]
    fn unset_first_key_of_a_list_item_moves_the_next_key_onto_the_dash() {
        let doc = "users:\n  - name: ann\n    role: admin  # full\n  - name: bob\n";
        assert_eq!(
            edit(doc, &[unset("users[0].name")]),
            "users:\n  - role: admin  # full\n  - name: bob\n"
        );
        assert_eq!(
            edit(
                doc,
                &[
                    set("users[0].name", json!("amy")),
                    set("users[1].role", json!("ro"))
                ]
            ),
            "users:\n  - name: amy\n    role: admin  # full\n  - name: bob\n    role: ro\n"
        );
        assert_eq!(
            edit(doc, &[set("users[2]", json!({"name": "cy"}))]),
            format!("{doc}  - name: cy\n")
        );
    }

    #[test]
    fn lists_in_lists() {
        let doc = "m:\n  - - a  # first\n    - b\n  - - c\n";
        assert_eq!(
            edit(doc, &[set("m[0][1]", json!("B"))]),
            "m:\n  - - a  # first\n    - B\n  - - c\n"
        );
        assert_eq!(
            edit(doc, &[set("m[0][2]", json!({"k": 1}))]),
            "m:\n  - - a  # first\n    - b\n    - k: 1\n  - - c\n"
        );
        assert_eq!(edit(doc, &[unset("m[0][0]")]), "m:\n  - - b\n  - - c\n");
        assert_eq!(
            edit(doc, &[unset("m[1][0]")]),
            "m:\n  - - a  # first\n    - b\n  - []\n"
        );
        assert_eq!(
            edit(doc, &[set("m[0][0]", json!([1]))]),
            "m:\n  - - - 1  # first\n    - b\n  - - c\n"
        );
        assert_eq!(
            edit(doc, &[set("m[1]", json!({"k": [1]}))]),
            "m:\n  - - a  # first\n    - b\n  - k:\n      - 1\n"
        );
    }

    #[test]
    fn strings_that_need_quotes_get_them() {
        let cases = [
            ("true", "\"true\""),
            ("42", "\"42\""),
            ("1.5", "\"1.5\""),
            ("null", "\"null\""),
            ("a: b", "\"a: b\""),
            ("#x", "\"#x\""),
            ("x #y", "\"x #y\""),
            ("", "\"\""),
            ("  lead", "\"  lead\""),
            ("trail ", "\"trail \""),
            ("two\nlines", "\"two\\nlines\""),
            ("- dash", "\"- dash\""),
            ("*alias", "\"*alias\""),
            ("{x}", "\"{x}\""),
            ("it's \"q\"", "it's \"q\""),
            ("ünïcødé ✓ 日本", "ünïcødé ✓ 日本"),
            ("yes", "yes"),
            ("ENC[strata:v1,abc,def]", "ENC[strata:v1,abc,def]"),
            ("${vars.x}-y", "${vars.x}-y"),
        ];
        for (value, written) in cases {
            let out = edit("a: old  # c\n", &[set("a", json!(value))]);
            assert_eq!(out, format!("a: {written}  # c\n"), "{value:?}");
        }
    }

    #[test]
    fn keys_with_dots_brackets_and_odd_text() {
        let out = edit(
            "a: 1\n",
            &[
                set("[\"x.y\"]", json!(1)),
                set("[\"k[0]\"]", json!(2)),
                set("[\"a: b\"].c", json!(3)),
                set("[\"true\"]", json!(4)),
            ],
        );
        assert_eq!(out, "a: 1\nx.y: 1\nk[0]: 2\n\"a: b\":\n  c: 3\ntrue: 4\n");
        let again = edit(&out, &[set("[\"a: b\"].c", json!(5)), unset("[\"x.y\"]")]);
        assert_eq!(again, "a: 1\nk[0]: 2\n\"a: b\":\n  c: 5\ntrue: 4\n");
    }

    #[test]
    fn numbers_and_nulls_keep_their_types() {
        let out = edit(
            "a: 1\n",
            &[
                set("f", json!(1.0)),
                set("g", json!(2.5e-9)),
                set("n", json!(null)),
                set("b", json!(false)),
                set("i", json!(-7)),
            ],
        );
        assert_eq!(out, "a: 1\nf: 1.0\ng: 2.5e-9\nn: null\nb: false\ni: -7\n");
    }

    #[test]
    fn indentation_and_list_style_follow_the_document() {
        let doc = "a:\n    b: 1\nl:\n- x\n";
        let out = edit(
            doc,
            &[
                set("a.c.d", json!(1)),
                set("m", json!([1])),
                set("l[1]", json!("y")),
            ],
        );
        assert_eq!(
            out,
            "a:\n    b: 1\n    c:\n        d: 1\nl:\n- x\n- y\nm:\n- 1\n"
        );
    }

    #[test]
    fn flow_style_documents_fall_back_with_correct_values() {
        let doc = "# flow\ndb: {host: a, port: 1}\nl: [1, 2]\n";
        let out = edit_fallback(doc, &[set("db.user", json!("u")), unset("l[0]")]);
        assert_eq!(
            out,
            "# flow\ndb:\n  host: a\n  port: 1\n  user: u\nl:\n  - 2\n"
        );
        // A flow value at the end of the path is simply replaced.
        assert_eq!(
            edit(doc, &[set("l", json!("x"))]),
            "# flow\ndb: {host: a, port: 1}\nl: x\n"
        );
        let root_flow = "{a: 1, b: [x]}\n";
        assert_eq!(
            edit_fallback(root_flow, &[set("b[1]", json!("y"))]),
            "a: 1\nb:\n  - x\n  - y\n"
        );
    }

    #[test]
    fn unhandled_constructs_fall_back() {
        let anchors = "base: &b\n  x: 1\nother: *b\n";
        let out = edit_fallback(anchors, &[set("base.x", json!(2))]);
        assert_eq!(out, "base:\n  x: 2\nother:\n  x: 1\n");
        let two_docs_marker = "a: 1\n...\n";
        if parse_text(two_docs_marker, Format::Yaml).is_ok() {
            edit_fallback(two_docs_marker, &[set("a", json!(2))]);
        }
        let block = "script: |\n  echo hi\n  # not a comment\nnext: 1  # n\n";
        assert_eq!(
            edit(block, &[set("script", json!("run"))]),
            "script: run\nnext: 1  # n\n"
        );
        let folded = "a:\n  s: >-\n    x\n\n    # y\n  # about b\n  b: 1\n";
        assert_eq!(edit(folded, &[unset("a.s")]), "a:\n  # about b\n  b: 1\n");
        let marker = "---\n# doc\na: 1  # one\n";
        assert_eq!(
            edit(marker, &[set("a", json!(2))]),
            "---\n# doc\na: 2  # one\n"
        );
        let multi_line = "a: \"x\n  y\"\nb: 1\n";
        assert_eq!(edit(multi_line, &[set("a", json!("z"))]), "a: z\nb: 1\n");
    }

    #[test]
    fn empty_and_comment_only_documents() {
        assert_eq!(edit("", &[set("a.b", json!(1))]), "a:\n  b: 1\n");
        assert_eq!(edit("# only\n", &[set("a", json!(1))]), "# only\na: 1\n");
        assert_eq!(edit("{}\n", &[set("a", json!(1))]), "a: 1\n");
        assert_eq!(
            edit("{}  # empty\n", &[set("a", json!(1))]),
            "# empty\na: 1\n"
        );
        assert_eq!(
            edit(
                "m: {}  # later\nl: []  # none\n",
                &[set("m.k", json!(1)), set("l[0]", json!(2))]
            ),
            "m:  # later\n  k: 1\nl:  # none\n  - 2\n"
        );
        assert_eq!(edit("# c\na: 1\n", &[unset("a")]), "# c\n{}\n");
        assert_eq!(edit("", &[unset("a")]), "");
    }

    #[test]
    fn line_endings_and_missing_final_newline_are_kept() {
        assert_eq!(
            edit(
                "a: 1\r\nb: 2\r\n",
                &[set("b", json!(3)), set("c", json!(4))]
            ),
            "a: 1\r\nb: 3\r\nc: 4\r\n"
        );
        assert_eq!(edit("a: 1", &[set("b", json!(2))]), "a: 1\nb: 2");
        assert_eq!(
            edit("\u{feff}a: 1\n", &[set("a", json!(2))]),
            "\u{feff}a: 2\n"
        );
    }

    #[test]
    fn errors_name_the_path() {
        let e = apply_edits(DOC, Format::Yaml, &[set("db.port.x", json!(1))]).unwrap_err();
        assert_eq!(
            e,
            EditError::ThroughScalar {
                path: "db.port.x".into(),
                at: "db.port".into(),
                found: "an integer"
            }
        );
        assert!(e.to_string().contains("`db.port`"), "{e}");
        let e = apply_edits(DOC, Format::Yaml, &[set("hosts[5]", json!(1))]).unwrap_err();
        assert!(
            matches!(
                e,
                EditError::IndexOutOfRange {
                    index: 5,
                    len: 2,
                    ..
                }
            ),
            "{e}"
        );
        let e = apply_edits(DOC, Format::Yaml, &[set("hosts.x", json!(1))]).unwrap_err();
        assert!(
            matches!(
                e,
                EditError::WrongContainer {
                    found: "a list",
                    ..
                }
            ),
            "{e}"
        );
        let e = apply_edits(DOC, Format::Yaml, &[Edit::Unset { path: vec![] }]).unwrap_err();
        assert_eq!(e, EditError::EmptyPath);
        let e = apply_edits("a: [1\nb: 2\n", Format::Yaml, &[set("a", json!(1))]).unwrap_err();
        assert!(matches!(e, EditError::Parse { line: 2.., .. }), "{e}");
        let e = apply_edits("- 1\n", Format::Yaml, &[set("a", json!(1))]).unwrap_err();
        assert!(matches!(e, EditError::Parse { .. }), "{e}");
        let e = apply_edits("a: 1\n", Format::Yaml, &[set("a", json!(u64::MAX))]).unwrap_err();
        assert!(
            matches!(e, EditError::Unrepresentable { ref path, .. } if path == "a"),
            "{e}"
        );
        // An error in a later edit leaves nothing half-done: the caller keeps the text.
        let e = apply_edits(
            DOC,
            Format::Yaml,
            &[set("a", json!(1)), set("a.b", json!(1))],
        );
        assert!(e.is_err());
    }
}
