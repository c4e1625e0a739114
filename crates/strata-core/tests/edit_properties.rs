//! Property tests of `strata_core::edit`: random block YAML documents with comments,
//! random sequences of sets and unsets.
//!
//! - The edited text reads back as the reference semantics (`apply_to_json`) say, key
//!   order included, and both refuse the same edits with the same error.
//! - Comments survive: every comment whose owner (the map or entry it sits in) was not
//!   removed or replaced is still in the text; when only existing scalar leaves are set to
//!   scalars, every comment survives.
//! - JSON and TOML documents read back as the reference semantics say.

use std::sync::Arc;

use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value, json};
use strata_core::edit::{Edit, EditError, apply_edits, apply_to_json};
use strata_core::parse::{Format, ParseOptions, parse_document};
use strata_core::path::Segment;
use strata_core::value::FileId;

fn read(text: &str, format: Format) -> Value {
    parse_document(
        &Arc::from("t"),
        FileId(0),
        text.as_bytes(),
        format,
        ParseOptions { templates: false },
    )
    .unwrap_or_else(|e| panic!("does not parse: {e}\n{text}"))
    .value
    .to_json()
}

const KEYS: &[&str] = &[
    "a",
    "b",
    "db",
    "host",
    "x.y",
    "k[0]",
    "true",
    "1",
    "with space",
    "ü",
    "a: b",
    "#h",
    "",
];

const STRINGS: &[&str] = &[
    "plain",
    "two words",
    "true",
    "42",
    "1.5",
    "null",
    "yes",
    "a: b",
    "#x",
    "x #y",
    "",
    "  lead",
    "trail ",
    "ünïcødé ✓",
    "two\nlines",
    "ENC[strata:v1,abc,def]",
    "${vars.x}",
    "- dash",
    "q\"uote",
];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-1000i64..1000).prop_map(|i| json!(i)),
        prop::sample::select(vec![0.5, 1.0, -2.25, 1e20]).prop_map(|f| json!(f)),
        prop::sample::select(STRINGS).prop_map(|s| json!(s)),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(KEYS).prop_map(str::to_string)
}

fn map_of(entries: Vec<(String, Value)>) -> Value {
    let mut m = Map::new();
    for (k, v) in entries {
        m.entry(k).or_insert(v);
    }
    Value::Object(m)
}

/// A value: scalars, maps and lists, nested.
fn value(depth: u32) -> BoxedStrategy<Value> {
    scalar()
        .prop_recursive(depth, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec((key(), inner.clone()), 0..4).prop_map(map_of),
                prop::collection::vec(inner, 0..3).prop_map(Value::Array),
            ]
        })
        .boxed()
}

fn document() -> impl Strategy<Value = Value> {
    prop::collection::vec((key(), value(3)), 0..5).prop_map(map_of)
}

/// How a generated document is laid out.
#[derive(Debug, Clone)]
struct Layout {
    step: usize,
    compact_lists: bool,
    /// Consumed in turn to decide where comments go.
    bits: Vec<u8>,
}

/// A comment in the generated text, with the path of what owns it: the map or list whose
/// block it sits in, or the entry or item on whose line it trails.
#[derive(Debug, Clone)]
struct Comment {
    token: String,
    owner: Vec<Segment>,
}

struct Writer<'a> {
    layout: &'a Layout,
    pos: usize,
    lines: Vec<String>,
    comments: Vec<Comment>,
}

impl Writer<'_> {
    fn bit(&mut self) -> u8 {
        let b = self.layout.bits[self.pos % self.layout.bits.len()];
        self.pos += 1;
        b
    }

    fn comment_line(&mut self, indent: usize, owner: &[Segment]) {
        if self.bit().is_multiple_of(7) {
            self.lines.push(String::new());
        }
        if self.bit().is_multiple_of(4) {
            let token = format!("c{}", self.comments.len());
            self.lines.push(format!("{}# {token}", " ".repeat(indent)));
            self.comments.push(Comment {
                token,
                owner: owner.to_vec(),
            });
        }
    }

    fn trailing(&mut self, line: &mut String, owner: &[Segment]) {
        if self.bit().is_multiple_of(3) {
            let token = format!("t{}", self.comments.len());
            line.push_str(&format!("  # {token}"));
            self.comments.push(Comment {
                token,
                owner: owner.to_vec(),
            });
        }
    }

    fn scalar(&mut self, v: &Value) -> Option<String> {
        Some(match v {
            Value::String(s) => {
                let simple = s
                    .split(' ')
                    .all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase()))
                    && !matches!(s.as_str(), "true" | "null" | "yes");
                let single = !s.contains(['\n', '\\', '"']);
                match self.bit() % 3 {
                    0 if single => format!("'{}'", s.replace('\'', "''")),
                    _ if simple => s.clone(),
                    _ => v.to_string(),
                }
            }
            Value::Object(m) if m.is_empty() => "{}".into(),
            Value::Array(a) if a.is_empty() => "[]".into(),
            Value::Object(_) | Value::Array(_) => return None,
            other => other.to_string(),
        })
    }

    fn key(k: &str) -> String {
        if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') {
            k.to_string()
        } else {
            Value::String(k.into()).to_string()
        }
    }

    /// Writes the entries of `m` at `indent`; `first_prefix` replaces the indentation of
    /// the first line (a list item's `- `).
    fn map(
        &mut self,
        m: &Map<String, Value>,
        indent: usize,
        path: &mut Vec<Segment>,
        first_prefix: Option<String>,
    ) {
        let mut prefix = first_prefix;
        for (k, v) in m {
            if prefix.is_none() {
                self.comment_line(indent, path);
            }
            path.push(Segment::Key(k.as_str().into()));
            let lead = prefix.take().unwrap_or_else(|| " ".repeat(indent));
            let mut line = format!("{lead}{}:", Self::key(k));
            match self.scalar(v) {
                Some(text) => {
                    line.push_str(if self.bit().is_multiple_of(5) {
                        "   "
                    } else {
                        " "
                    });
                    line.push_str(&text);
                    self.trailing(&mut line, path);
                    self.lines.push(line);
                }
                None => {
                    self.trailing(&mut line, path);
                    self.lines.push(line);
                    match v {
                        Value::Object(child) => {
                            self.map(child, indent + self.layout.step, path, None)
                        }
                        Value::Array(items) => {
                            let d = if self.layout.compact_lists {
                                indent
                            } else {
                                indent + self.layout.step
                            };
                            self.list(items, d, path, None);
                        }
                        _ => unreachable!(),
                    }
                }
            }
            path.pop();
        }
    }

    /// Writes the items of a list with dashes at `indent`; `first_prefix` as in [`Writer::map`].
    fn list(
        &mut self,
        items: &[Value],
        indent: usize,
        path: &mut Vec<Segment>,
        first_prefix: Option<String>,
    ) {
        let mut prefix = first_prefix;
        for (i, item) in items.iter().enumerate() {
            if prefix.is_none() {
                self.comment_line(indent, path);
            }
            path.push(Segment::Index(i));
            let lead = prefix.take().unwrap_or_else(|| " ".repeat(indent));
            let dash = format!("{lead}- ");
            match (self.scalar(item), item) {
                (Some(text), _) => {
                    let mut line = format!("{dash}{text}");
                    self.trailing(&mut line, path);
                    self.lines.push(line);
                }
                (None, Value::Object(m)) => self.map(m, indent + 2, path, Some(dash)),
                (None, Value::Array(inner)) => self.list(inner, indent + 2, path, Some(dash)),
                _ => unreachable!(),
            }
            path.pop();
        }
    }
}

fn write(doc: &Value, layout: &Layout) -> (String, Vec<Comment>) {
    let mut w = Writer {
        layout,
        pos: 0,
        lines: Vec::new(),
        comments: Vec::new(),
    };
    w.comment_line(0, &[]);
    match doc {
        Value::Object(m) if !m.is_empty() => w.map(m, 0, &mut Vec::new(), None),
        _ => w.lines.push("{}".into()),
    }
    w.comment_line(0, &[]);
    let mut text = w.lines.join("\n");
    text.push('\n');
    (text, w.comments)
}

fn layout() -> impl Strategy<Value = Layout> {
    (
        prop::sample::select(vec![2usize, 4]),
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 1..32),
    )
        .prop_map(|(step, compact_lists, bits)| Layout {
            step,
            compact_lists,
            bits,
        })
}

/// Every path in a document, with the length of the list there (if it is one).
fn paths(v: &Value, path: &mut Vec<Segment>, out: &mut Vec<(Vec<Segment>, Option<usize>)>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                path.push(Segment::Key(k.as_str().into()));
                out.push((path.clone(), child.as_array().map(Vec::len)));
                paths(child, path, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                path.push(Segment::Index(i));
                out.push((path.clone(), child.as_array().map(Vec::len)));
                paths(child, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn edits_for(doc: &Value) -> BoxedStrategy<Vec<Edit>> {
    let mut all = Vec::new();
    paths(doc, &mut Vec::new(), &mut all);
    let all = Arc::new(all);
    let one = (
        0..6u8,
        any::<Index>(),
        key(),
        value(2),
        scalar(),
        any::<bool>(),
    )
        .prop_map(move |(kind, idx, new_key, v, s, deeper)| {
            let (base, list_len) = if all.is_empty() {
                (Vec::new(), None)
            } else {
                all[idx.index(all.len())].clone()
            };
            let or_key = |p: Vec<Segment>| {
                if p.is_empty() {
                    vec![Segment::Key(new_key.as_str().into())]
                } else {
                    p
                }
            };
            match kind {
                // Set an existing path to a scalar, or to anything.
                0 | 1 => Edit::Set {
                    path: or_key(base),
                    value: if kind == 0 { s } else { v },
                },
                // Set a new key under an existing path (or under a new map).
                2 => {
                    let mut path = base;
                    path.push(Segment::Key(new_key.as_str().into()));
                    if deeper {
                        path.push(Segment::Key("deep".into()));
                    }
                    Edit::Set { path, value: s }
                }
                // Append to a list (or index something that is not one).
                3 => {
                    let mut path = or_key(base);
                    path.push(Segment::Index(list_len.unwrap_or(0)));
                    Edit::Set { path, value: v }
                }
                _ => Edit::Unset { path: or_key(base) },
            }
        });
    prop::collection::vec(one, 1..6).boxed()
}

fn get<'a>(v: &'a Value, path: &[Segment]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, seg| match (seg, v) {
        (Segment::Key(k), Value::Object(m)) => m.get(&**k),
        (Segment::Index(i), Value::Array(a)) => a.get(*i),
        _ => None,
    })
}

fn is_scalar(v: &Value) -> bool {
    !v.is_object() && !v.is_array()
}

/// Paths whose text an edit may drop, cut at the first list index (removing an item
/// renumbers the ones after it).
fn affected(before: &Value, after: &Value, edit: &Edit) -> Vec<Vec<Segment>> {
    let cut = |p: &[Segment]| -> Vec<Segment> {
        let end = p
            .iter()
            .position(|s| matches!(s, Segment::Index(_)))
            .unwrap_or(p.len());
        p[..end].to_vec()
    };
    let path = edit.path();
    let mut out = vec![cut(path)];
    for j in 1..path.len() {
        if get(before, &path[..j]).is_some() && get(after, &path[..j]).is_none() {
            out.push(cut(&path[..j]));
        }
    }
    out
}

fn check_yaml(doc: &Value, layout: &Layout, edits: &[Edit]) -> Result<(), TestCaseError> {
    let (text, comments) = write(doc, layout);
    prop_assert_eq!(
        read(&text, Format::Yaml).to_string(),
        doc.to_string(),
        "generator:\n{}",
        text
    );

    let mut want = doc.clone();
    let reference = apply_to_json(&mut want, edits);
    let got = apply_edits(&text, Format::Yaml, edits);
    let out = match (got, reference) {
        (Ok(out), Ok(())) => out,
        (Err(a), Err(b)) => {
            prop_assert_eq!(a, b);
            return Ok(());
        }
        (got, reference) => {
            return Err(TestCaseError::fail(format!(
                "apply_edits {got:?} but apply_to_json {reference:?}\n{text}"
            )));
        }
    };
    // Same value, same key order.
    prop_assert_eq!(
        read(&out, Format::Yaml).to_string(),
        want.to_string(),
        "before:\n{}\nafter:\n{}",
        text,
        out
    );

    // Which comments may go: those owned by something removed or replaced.
    let mut state = doc.clone();
    let mut may_go: Vec<Vec<Segment>> = Vec::new();
    let mut only_scalar_sets = true;
    for edit in edits {
        let before = state.clone();
        apply_to_json(&mut state, std::slice::from_ref(edit))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        match edit {
            Edit::Set { path, value } => {
                only_scalar_sets &= is_scalar(value) && get(&before, path).is_some_and(is_scalar);
            }
            Edit::Unset { .. } => only_scalar_sets = false,
        }
        may_go.extend(affected(&before, &state, edit));
    }
    for c in &comments {
        let allowed = !only_scalar_sets && may_go.iter().any(|p| c.owner.starts_with(p));
        if !allowed {
            prop_assert!(
                out.contains(&format!("# {}", c.token)),
                "lost comment {} (owner {:?})\nbefore:\n{}\nafter:\n{}",
                c.token,
                c.owner,
                text,
                out
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn yaml_edits_follow_the_reference_and_keep_comments(
        (doc, layout, edits) in document().prop_flat_map(|doc| {
            let edits = edits_for(&doc);
            (Just(doc), layout(), edits)
        })
    ) {
        check_yaml(&doc, &layout, &edits)?;
    }

    #[test]
    fn json_and_toml_edits_follow_the_reference(
        (doc, edits) in document().prop_flat_map(|doc| {
            let edits = edits_for(&doc);
            (Just(doc), edits)
        })
    ) {
        let mut want = doc.clone();
        let reference = apply_to_json(&mut want, &edits);
        let json_text = serde_json::to_string(&doc).unwrap();
        match (apply_edits(&json_text, Format::Json, &edits), &reference) {
            (Ok(out), Ok(())) => prop_assert_eq!(read(&out, Format::Json).to_string(), want.to_string()),
            (Err(a), Err(b)) => prop_assert_eq!(&a, b),
            (got, reference) => prop_assert!(false, "JSON: {:?} vs {:?}", got, reference),
        }
        // TOML cannot hold null; start from documents without one.
        if !json_text.contains("null") {
            let toml_text = toml::to_string(&doc).unwrap();
            prop_assert_eq!(read(&toml_text, Format::Toml), doc.clone());
            match (apply_edits(&toml_text, Format::Toml, &edits), &reference) {
                // Order is not compared: TOML writes a table's scalars before its tables.
                (Ok(out), Ok(())) => prop_assert_eq!(read(&out, Format::Toml), want),
                (Err(EditError::Unrepresentable { format: Format::Toml, .. }), Ok(())) => {
                    prop_assert!(want.to_string().contains("null"));
                }
                (Err(a), Err(b)) => prop_assert_eq!(&a, b),
                (got, reference) => prop_assert!(false, "TOML: {:?} vs {:?}", got, reference),
            }
        }
    }
}

/// Edits that touch the first keys a random text is likely to have.
fn fixed_edits() -> impl Strategy<Value = Vec<Edit>> {
    let k = |s: &str| Segment::Key(s.into());
    let all = vec![
        Edit::Set {
            path: vec![k("a")],
            value: json!(1),
        },
        Edit::Set {
            path: vec![k("a"), k("b")],
            value: json!("x y"),
        },
        Edit::Set {
            path: vec![k("b"), Segment::Index(0)],
            value: json!({"k": [1]}),
        },
        Edit::Set {
            path: vec![k("a"), Segment::Index(1)],
            value: json!(null),
        },
        Edit::Unset { path: vec![k("a")] },
        Edit::Unset {
            path: vec![k("b"), Segment::Index(0)],
        },
        Edit::Unset {
            path: vec![k("a"), k("b")],
        },
    ];
    prop::collection::vec(prop::sample::select(all), 1..4)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1024,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Any text: no panic; when it reads, the edited text reads as the reference says.
    #[test]
    fn edit_of_arbitrary_yaml_never_panics(
        text in prop_oneof![
            "(a|b|k|-|:|,|#|&x|\\*x|!|\\||>|'|\"|\\[|\\]|\\{|\\}| |\n|\t|1|---|\\.\\.\\.){0,40}",
            "((  )*(- )?(- )?(a|b|k|\"a\")(:( (1|x|\\[\\]|\\{\\}|'q'|\"q\"|&x 1|\\*x|\\||x y|\\[1\\]|\\{a: 1\\}))?)?( #c)?\n){0,8}",
        ],
        edits in fixed_edits(),
    ) {
        let out = apply_edits(&text, Format::Yaml, &edits);
        let Ok(doc) = parse_document(&Arc::from("t"), FileId(0), text.as_bytes(), Format::Yaml, ParseOptions { templates: false }) else {
            prop_assert!(matches!(out, Err(EditError::Parse { .. })), "{:?}", out);
            return Ok(());
        };
        let mut want = doc.value.to_json();
        match (out, apply_to_json(&mut want, &edits)) {
            (Ok(out), Ok(())) => prop_assert_eq!(read(&out, Format::Yaml).to_string(), want.to_string(), "{}", out),
            (Err(a), Err(b)) => prop_assert_eq!(a, b),
            (a, b) => prop_assert!(false, "{:?} vs {:?}", a, b),
        }
    }
}

#[test]
fn edit_of_a_realistic_layer_keeps_every_comment() {
    let text = "\
# checkout service, production overrides
replicas: 3   # scaled for Black Friday

db:
  # primary cluster
  host: db-prod.internal
  password: ENC[strata:v1,k1,aGVsbG8=]   # rotated 2024-05
  pool:
    max: 50
features:
  - name: new-cart
    enabled: false  # until QA signs off
";
    let edits = [
        Edit::Set {
            path: vec![Segment::Key("db".into()), Segment::Key("password".into())],
            value: json!("ENC[strata:v1,k2,d29ybGQ=]"),
        },
        Edit::Set {
            path: vec![
                Segment::Key("features".into()),
                Segment::Index(0),
                Segment::Key("enabled".into()),
            ],
            value: json!(true),
        },
    ];
    let out = apply_edits(text, Format::Yaml, &edits).unwrap();
    assert_eq!(
        out,
        text.replace("k1,aGVsbG8=", "k2,d29ybGQ=")
            .replace("enabled: false", "enabled: true")
    );
}
