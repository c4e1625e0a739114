//! Merkle hashes of configuration trees, so comparisons skip identical subtrees.
//!
//! Every map and list gets a BLAKE3 hash of its content, laid out in one buffer with
//! LEB128 lengths: scalars by type and content, lists by their items in order, maps by
//! their entries sorted by key (key order is presentation, not content). Two subtrees with the same hash are equal, so [`diff`] never walks them; a
//! drift check over a million parameters then costs only the differing paths after the
//! hashing pass, and a stored hash per service tells which services changed at all.

use crate::path::Segment;
use crate::value::{Node, Value};

/// Receives each differing leaf: its path and the node on each side (`None` when absent).
pub type LeafVisitor<'a, 'f> = dyn FnMut(&[Segment], Option<&'a Node>, Option<&'a Node>) + 'f;

/// A 256-bit content hash of a subtree.
pub type TreeHash = [u8; 32];

/// A node with the hash of its subtree and its children, hashed the same way.
///
/// Only maps and lists carry a stored hash: a scalar is fed into its parent's hash
/// directly and compared by value, which saves a hasher per leaf (most nodes are leaves).
#[derive(Debug)]
pub struct Hashed<'a> {
    /// The node.
    pub node: &'a Node,
    /// The hash of a map or list (unused for scalars).
    digest: TreeHash,
    /// Children in document order (map entries or list items), aligned with the node's
    /// map indices or list positions.
    children: Vec<Hashed<'a>>,
}

/// Whether a value is a container (a map or list, empty or not).
fn is_container(v: &Value) -> bool {
    matches!(v, Value::Map(_) | Value::List(_))
}

impl<'a> Hashed<'a> {
    /// Hashes `node` and everything under it.
    pub fn new(node: &'a Node) -> Hashed<'a> {
        Hashed::with_scratch(node, &mut Vec::new())
    }

    /// [`Hashed::new`] laying each container's content out in `scratch` (children are
    /// done before their parent starts, so one buffer serves the whole tree) and hashing
    /// it in one call: BLAKE3 is much faster on one buffer than on many small updates.
    fn with_scratch(node: &'a Node, scratch: &mut Vec<u8>) -> Hashed<'a> {
        match &node.value {
            Value::Map(m) => {
                let children: Vec<Hashed<'a>> = m
                    .values()
                    .map(|c| Hashed::with_scratch(c, scratch))
                    .collect();
                let mut order: Vec<(&str, &Hashed<'a>)> =
                    m.keys().map(|k| &**k).zip(children.iter()).collect();
                order.sort_unstable_by(|a, b| a.0.cmp(b.0));
                scratch.clear();
                scratch.push(b'm');
                varint(scratch, order.len() as u64);
                for (k, c) in order {
                    varint(scratch, k.len() as u64);
                    scratch.extend_from_slice(k.as_bytes());
                    c.feed(scratch);
                }
                Hashed {
                    node,
                    digest: *blake3::hash(scratch).as_bytes(),
                    children,
                }
            }
            Value::List(items) => {
                let children: Vec<Hashed<'a>> = items
                    .iter()
                    .map(|c| Hashed::with_scratch(c, scratch))
                    .collect();
                scratch.clear();
                scratch.push(b'l');
                varint(scratch, children.len() as u64);
                for c in &children {
                    c.feed(scratch);
                }
                Hashed {
                    node,
                    digest: *blake3::hash(scratch).as_bytes(),
                    children,
                }
            }
            _ => Hashed {
                node,
                digest: [0; 32],
                children: Vec::new(),
            },
        }
    }

    /// The hash of the node's value (locations are not part of it): equal hashes, equal
    /// values.
    pub fn hash(&self) -> TreeHash {
        if is_container(&self.node.value) {
            self.digest
        } else {
            let mut buf = Vec::new();
            self.feed(&mut buf);
            *blake3::hash(&buf).as_bytes()
        }
    }

    /// Adds this node's content to its parent's bytes: a container's digest, or the
    /// scalar itself (tagged and length-prefixed, so no two values feed the same bytes).
    fn feed(&self, buf: &mut Vec<u8>) {
        if is_container(&self.node.value) {
            buf.push(b'H');
            buf.extend_from_slice(&self.digest);
        } else {
            hash_scalar(buf, &self.node.value);
        }
    }

    /// Whether two nodes have equal values, by hash for containers.
    fn same(&self, other: &Hashed<'_>) -> bool {
        match (
            is_container(&self.node.value),
            is_container(&other.node.value),
        ) {
            (true, true) => self.digest == other.digest,
            (false, false) => self.node.value == other.node.value,
            _ => false,
        }
    }

    /// The children with their path segments.
    fn segments(&self) -> impl Iterator<Item = (Segment, &Hashed<'a>)> {
        let keys: Option<&crate::value::Map> = self.node.value.as_map();
        self.children.iter().enumerate().map(move |(i, c)| {
            let seg = match keys.and_then(|m| m.get_index(i)) {
                Some((k, _)) => Segment::Key(k.as_ref().into()),
                None => Segment::Index(i),
            };
            (seg, c)
        })
    }
}

fn hash_scalar(buf: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => buf.push(b'n'),
        Value::Bool(b) => buf.push(if *b { b't' } else { b'f' }),
        Value::Int(i) => {
            buf.push(b'i');
            // Zigzag, so small negative numbers are short too.
            varint(buf, ((*i << 1) ^ (*i >> 63)) as u64);
        }
        Value::Float(f) => {
            buf.push(b'd');
            // `-0.0 == 0.0`, as `Value`'s equality says: one hash for both.
            let f = if *f == 0.0 { 0.0 } else { *f };
            buf.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        Value::Str(s) => {
            buf.push(b's');
            varint(buf, s.len() as u64);
            buf.extend_from_slice(s.as_bytes());
        }
        Value::Template(t) => {
            buf.push(b'T');
            varint(buf, t.source.len() as u64);
            buf.extend_from_slice(t.source.as_bytes());
        }
        // Containers are hashed by `Hashed::new`.
        Value::Map(_) | Value::List(_) => {}
    }
}

/// Appends `n` in LEB128 (seven bits a byte, low bits first): lengths and numbers are
/// mostly small, and fewer bytes is less hashing. The encoding is prefix-free, so the
/// laid-out content stays unambiguous.
fn varint(buf: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        buf.push((n as u8) | 0x80);
        n >>= 7;
    }
    buf.push(n as u8);
}

/// Calls `f` for every leaf path where `a` and `b` differ (a leaf is a scalar, an empty
/// map or an empty list, never the root; a leaf on one side only is reported with `None`
/// on the other), skipping every subtree whose hashes are equal. The same differences as
/// [`crate::compare::diff`] (a property test holds them together).
pub fn diff<'a>(a: Option<&Hashed<'a>>, b: Option<&Hashed<'a>>, f: &mut LeafVisitor<'a, '_>) {
    fn leaves<'a>(
        x: &Hashed<'a>,
        path: &mut Vec<Segment>,
        out: &mut dyn FnMut(&[Segment], &'a Node),
    ) {
        if x.children.is_empty() {
            // The root is never a leaf of its own (it has no path), as in `compare`.
            if !path.is_empty() {
                out(path, x.node);
            }
            return;
        }
        for (s, c) in x.segments() {
            path.push(s);
            leaves(c, path, out);
            path.pop();
        }
    }
    fn walk<'a>(
        a: Option<&Hashed<'a>>,
        b: Option<&Hashed<'a>>,
        path: &mut Vec<Segment>,
        f: &mut LeafVisitor<'a, '_>,
    ) {
        match (a, b) {
            (None, None) => {}
            (Some(x), Some(y)) if x.same(y) => {}
            (Some(x), None) => leaves(x, path, &mut |p, n| f(p, Some(n), None)),
            (None, Some(y)) => leaves(y, path, &mut |p, n| f(p, None, Some(n))),
            (Some(x), Some(y)) => {
                let same_kind = matches!(
                    (&x.node.value, &y.node.value),
                    (Value::Map(_), Value::Map(_)) | (Value::List(_), Value::List(_))
                );
                if x.children.is_empty() || y.children.is_empty() || !same_kind {
                    // A leaf against a subtree (or containers of different kinds): every
                    // leaf of each side is a difference, except where both are leaves.
                    if x.children.is_empty() && y.children.is_empty() {
                        if !path.is_empty() {
                            f(path, Some(x.node), Some(y.node));
                        }
                    } else {
                        leaves(x, path, &mut |p, n| f(p, Some(n), None));
                        leaves(y, path, &mut |p, n| f(p, None, Some(n)));
                    }
                    return;
                }
                match (&x.node.value, &y.node.value) {
                    (Value::Map(mx), Value::Map(my)) => {
                        // Maps usually list their keys in the same order (the same base
                        // file): pair by position, and look a key up only when the
                        // orders part. A path segment is built only to descend.
                        let counterpart =
                            |k: &str, i: usize, of: &crate::value::Map| match of.get_index(i) {
                                Some((ko, _)) if &**ko == k => Some(i),
                                _ => of.get_index_of(k),
                            };
                        for (i, (k, c)) in mx.keys().zip(&x.children).enumerate() {
                            let other = counterpart(k, i, my).and_then(|j| y.children.get(j));
                            if other.is_some_and(|o| c.same(o)) {
                                continue;
                            }
                            path.push(Segment::Key(k.as_ref().into()));
                            walk(Some(c), other, path, f);
                            path.pop();
                        }
                        for (j, (k, c)) in my.keys().zip(&y.children).enumerate() {
                            if counterpart(k, j, mx).is_none() {
                                path.push(Segment::Key(k.as_ref().into()));
                                walk(None, Some(c), path, f);
                                path.pop();
                            }
                        }
                    }
                    _ => {
                        for (i, c) in x.children.iter().enumerate() {
                            let other = y.children.get(i);
                            if other.is_some_and(|o| c.same(o)) {
                                continue;
                            }
                            path.push(Segment::Index(i));
                            walk(Some(c), other, path, f);
                            path.pop();
                        }
                        for (i, c) in y.children.iter().enumerate().skip(x.children.len()) {
                            path.push(Segment::Index(i));
                            walk(None, Some(c), path, f);
                            path.pop();
                        }
                    }
                }
            }
        }
    }
    walk(a, b, &mut Vec::new(), f);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::FileTable;
    use crate::path::segments_to_string;
    use crate::test_support;

    fn doc(text: &str) -> Node {
        test_support::doc(&FileTable::new(), "x.yaml", text)
    }

    fn changes(a: &Node, b: &Node) -> Vec<String> {
        let (ha, hb) = (Hashed::new(a), Hashed::new(b));
        let mut out = Vec::new();
        diff(Some(&ha), Some(&hb), &mut |p, x, y| {
            out.push(format!(
                "{} {}",
                segments_to_string(p),
                match (x, y) {
                    (Some(_), Some(_)) => "changed",
                    (Some(_), None) => "removed",
                    _ => "added",
                }
            ))
        });
        out.sort();
        out
    }

    #[test]
    fn equal_trees_hash_equal_whatever_the_key_order() {
        let a = doc("a: 1\nb: {c: [1, 2], d: x}\n");
        let b = doc("b: {d: x, c: [1, 2]}\na: 1\n");
        assert_eq!(Hashed::new(&a).hash(), Hashed::new(&b).hash());
        assert!(changes(&a, &b).is_empty());
        let c = doc("a: 1\nb: {c: [2, 1], d: x}\n");
        assert_ne!(
            Hashed::new(&a).hash(),
            Hashed::new(&c).hash(),
            "list order matters"
        );
        // Types are part of the content.
        assert_ne!(
            Hashed::new(&doc("a: 1\n")).hash(),
            Hashed::new(&doc("a: \"1\"\n")).hash()
        );
        assert_ne!(
            Hashed::new(&doc("a: {}\n")).hash(),
            Hashed::new(&doc("a: []\n")).hash()
        );
    }

    #[test]
    fn reports_exactly_the_differing_leaves() {
        let a = doc("a: 1\nb: {c: [1, 2], d: x}\ngone: 1\nt: {x: 1}\n");
        let b = doc("a: 2\nb: {c: [1, 2, 3], d: x}\nnew: {}\nt: 5\n");
        assert_eq!(
            changes(&a, &b),
            [
                "a changed",
                "b.c[2] added",
                "gone removed",
                "new added",
                "t added",
                "t.x removed"
            ]
        );
    }

    fn json_doc(v: &serde_json::Value) -> Node {
        crate::parse::parse_document(
            &std::sync::Arc::from("x.json"),
            crate::value::FileId(0),
            v.to_string().as_bytes(),
            crate::parse::Format::Json,
            crate::parse::ParseOptions { templates: false },
        )
        .unwrap()
    }

    fn value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            (-3i64..3).prop_map(serde_json::Value::from),
            prop::sample::select(vec!["x", "y", "1"]).prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(serde_json::Value::from),
                prop::collection::btree_map(
                    prop::sample::select(vec!["a", "b", "c"]).prop_map(String::from),
                    inner,
                    0..3
                )
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    use proptest::prelude::*;

    proptest::proptest! {
        /// Skipping equal subtrees by hash reports exactly what a full leaf walk reports.
        #[test]
        fn hashed_diff_equals_the_full_comparison(
            a in proptest::collection::btree_map(
                proptest::sample::select(vec!["p", "q", "r"]).prop_map(String::from), value(), 0..4),
            b in proptest::collection::btree_map(
                proptest::sample::select(vec!["p", "q", "r"]).prop_map(String::from), value(), 0..4),
        ) {
            let na = json_doc(&serde_json::Value::Object(a.into_iter().collect()));
            let nb = json_doc(&serde_json::Value::Object(b.into_iter().collect()));
            let mut want: Vec<String> = crate::compare::diff(Some(&na), Some(&nb))
                .into_iter()
                .map(|c| format!("{} {}", c.path, match c.kind {
                    crate::compare::ChangeKind::Changed => "changed",
                    crate::compare::ChangeKind::Removed => "removed",
                    crate::compare::ChangeKind::Added => "added",
                }))
                .collect();
            want.sort();
            prop_assert_eq!(changes(&na, &nb), want);
            prop_assert_eq!(Hashed::new(&na).hash() == Hashed::new(&nb).hash(), na.value == nb.value);
        }
    }
}
