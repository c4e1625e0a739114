//! `strata fsck`: verifies a whole store without trusting any of it.
//!
//! Every blob is re-hashed; every revision header is re-hashed and checked against its
//! columns; the chain must run #1, #2, … with each parent the previous revision; every
//! manifest must decode and name only sound blobs; the head must be the newest revision
//! and every tag must name a revision; the audit log's hash chain must be whole (its
//! first break is reported).

use std::collections::HashSet;

use crate::backend::{FsckProblem, Store};
use crate::model::{Hash, Manifest, TreeEntry};
use crate::sqlite::verify_row;

/// Checks `store`; an empty list means it is sound.
pub fn fsck(store: &dyn Store) -> Result<Vec<FsckProblem>, crate::StoreError> {
    let mut problems = Vec::new();
    let mut problem = |object: String, what: &str| {
        problems.push(FsckProblem {
            object,
            problem: what.to_string(),
        })
    };
    let mut sound: HashSet<Hash> = HashSet::new();
    store.scan_blobs(&mut |hash, data| match Hash::from_hex(hash) {
        Some(h) if Hash::of(data) == h => {
            sound.insert(h);
        }
        _ => problem(
            format!("blob {}", hash.get(..12).unwrap_or(hash)),
            "its content does not match its hash (damaged)",
        ),
    })?;

    let rows = store.scan_revisions()?;
    let mut previous: Option<String> = None;
    let mut checked_manifests: HashSet<Hash> = HashSet::new();
    let mut checked_trees: HashSet<Hash> = HashSet::new();
    for (i, row) in rows.iter().enumerate() {
        let name = format!(
            "revision #{} {}",
            row.seq,
            row.id.get(..12).unwrap_or(&row.id)
        );
        if row.seq != i as i64 + 1 {
            problem(
                name.clone(),
                &format!("expected sequence number #{}", i + 1),
            );
        }
        if row.parent != previous {
            problem(
                name.clone(),
                "its parent is not the previous revision (broken chain)",
            );
        }
        previous = Some(row.id.clone());
        let rev = match verify_row(row.seq, &row.id, &row.header) {
            Ok(r) => r,
            Err(_) => {
                problem(name, "its header does not match its id (damaged)");
                continue;
            }
        };
        if rev.parent.map(|p| p.to_string()) != row.parent {
            problem(name.clone(), "its parent column disagrees with its header");
        }
        if !checked_manifests.insert(rev.manifest) {
            continue;
        }
        check_tree(
            store,
            &sound,
            &rev.manifest,
            "",
            0,
            &mut checked_trees,
            &mut |what| problem(name.clone(), &what),
        );
    }

    let refs = store.scan_refs()?;
    let ids: HashSet<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    match (&refs.head, rows.last()) {
        (None, None) => {}
        (Some(h), Some(last)) if *h == last.id => {}
        (Some(h), _) if !ids.contains(h.as_str()) => {
            problem("HEAD".into(), "names a revision that does not exist")
        }
        _ => problem("HEAD".into(), "is not the newest revision"),
    }
    for (name, id) in &refs.tags {
        if !ids.contains(id.as_str()) {
            problem(
                format!("tag {name}"),
                "names a revision that does not exist",
            );
        }
    }
    if let Err(b) = store.audit_verify()? {
        problem(format!("audit entry #{}", b.seq), &b.problem.to_string());
    }
    Ok(problems)
}

/// Checks one directory blob and everything under it (each directory once per run).
fn check_tree(
    store: &dyn Store,
    sound: &HashSet<Hash>,
    hash: &Hash,
    prefix: &str,
    depth: usize,
    checked: &mut HashSet<Hash>,
    report: &mut dyn FnMut(String),
) {
    if !checked.insert(*hash) {
        return;
    }
    let dir = if prefix.is_empty() {
        "/".to_string()
    } else {
        prefix.to_string()
    };
    let bytes = match sound.contains(hash) {
        true => store.blob(hash).ok(),
        false => None,
    };
    let Some(bytes) = bytes else {
        report(format!(
            "manifest directory {dir} (blob {}) is missing or damaged",
            &hash.to_hex()[..12]
        ));
        return;
    };
    let entries = match Manifest::decode_tree(&bytes, "manifest") {
        Ok(e) if depth <= 64 => e,
        _ => {
            report(format!("manifest directory {dir} does not decode"));
            return;
        }
    };
    for entry in entries {
        match entry {
            TreeEntry::File(name, h) => {
                if !sound.contains(&h) {
                    report(format!(
                        "file {prefix}{name}: blob {} is missing or damaged",
                        &h.to_hex()[..12]
                    ));
                }
            }
            TreeEntry::Dir(name, h) => check_tree(
                store,
                sound,
                &h,
                &format!("{prefix}{name}/"),
                depth + 1,
                checked,
                report,
            ),
        }
    }
}
