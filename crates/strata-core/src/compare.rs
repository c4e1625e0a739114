//! Parameter-level comparison of two configuration trees.
//!
//! Both trees are flattened to their leaves (scalars, empty maps and empty lists) keyed
//! by dotted path; a leaf present on one side only is added or removed, a leaf whose value
//! differs is changed. Used for the store's change index, `strata diff` and drift.

use indexmap::IndexMap;

use crate::path::{Segment, segments_to_string};
use crate::value::Node;

/// How one parameter differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// Only in the new tree.
    Added,
    /// Only in the old tree.
    Removed,
    /// In both, with different values.
    Changed,
}

/// One differing leaf, borrowing the nodes (for their values and locations).
#[derive(Debug, Clone)]
pub struct LeafChange<'a> {
    /// The dotted path (`db.pool.max_size`, `hosts[0]`).
    pub path: String,
    /// Added, removed or changed.
    pub kind: ChangeKind,
    /// The old leaf.
    pub old: Option<&'a Node>,
    /// The new leaf.
    pub new: Option<&'a Node>,
}

/// The leaves of `root` by dotted path, in document order (the root itself when it is a
/// scalar or empty is skipped: it has no path).
pub fn leaves(root: &Node) -> IndexMap<String, &Node> {
    let mut out = IndexMap::new();
    let mut path: Vec<Segment> = Vec::new();
    root.for_each_leaf(&mut path, &mut |p, n| {
        if !p.is_empty() {
            out.insert(segments_to_string(p), n);
        }
    });
    out
}

/// The leaves that differ between `old` and `new` (either may be absent): removed and
/// changed in old order, then added in new order.
pub fn diff<'a>(old: Option<&'a Node>, new: Option<&'a Node>) -> Vec<LeafChange<'a>> {
    let a = old.map(leaves).unwrap_or_default();
    let b = new.map(leaves).unwrap_or_default();
    let mut out = Vec::new();
    for (path, o) in &a {
        match b.get(path) {
            None => out.push(LeafChange {
                path: path.clone(),
                kind: ChangeKind::Removed,
                old: Some(o),
                new: None,
            }),
            Some(n) if n.value != o.value => out.push(LeafChange {
                path: path.clone(),
                kind: ChangeKind::Changed,
                old: Some(o),
                new: Some(n),
            }),
            Some(_) => {}
        }
    }
    for (path, n) in &b {
        if !a.contains_key(path) {
            out.push(LeafChange {
                path: path.clone(),
                kind: ChangeKind::Added,
                old: None,
                new: Some(n),
            });
        }
    }
    out
}

/// Whether two parameter paths overlap: equal, or one lies under the other.
pub fn paths_overlap(a: &str, b: &str) -> bool {
    let under = |long: &str, short: &str| {
        short.is_empty()
            || (long.len() > short.len()
                && long.starts_with(short)
                && matches!(long.as_bytes()[short.len()], b'.' | b'['))
    };
    a == b || under(a, b) || under(b, a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::FileTable;
    use crate::test_support;

    fn doc(text: &str) -> Node {
        test_support::doc(&FileTable::new(), "x.yaml", text)
    }

    #[test]
    fn finds_added_removed_changed() {
        let old = doc("a: 1\nb: {c: 2, d: [1, 2]}\ngone: x\n");
        let new = doc("a: 1\nb: {c: 3, d: [1, 2, 3]}\nnew: {}\n");
        let d = diff(Some(&old), Some(&new));
        let got: Vec<(String, ChangeKind)> = d.iter().map(|c| (c.path.clone(), c.kind)).collect();
        assert_eq!(
            got,
            vec![
                ("b.c".into(), ChangeKind::Changed),
                ("gone".into(), ChangeKind::Removed),
                ("b.d[2]".into(), ChangeKind::Added),
                ("new".into(), ChangeKind::Added),
            ]
        );
        assert!(diff(Some(&old), Some(&old)).is_empty());
        assert_eq!(diff(None, Some(&new)).len(), leaves(&new).len());
    }

    #[test]
    fn overlap_respects_segment_boundaries() {
        assert!(paths_overlap("db.pool", "db.pool.max"));
        assert!(paths_overlap("db.pool.max", "db.pool"));
        assert!(paths_overlap("hosts", "hosts[0]"));
        assert!(paths_overlap("x", "x"));
        assert!(!paths_overlap("db.pool", "db.poolsize"));
        assert!(!paths_overlap("a", "b"));
    }
}
