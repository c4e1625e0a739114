//! Which cached configurations a new head revision may have changed, worked out from the
//! files that differ between the two revisions' manifests, so that every other cached
//! `(target, service)` configuration is carried over instead of resolved again.
//!
//! Resolution reads `strata.yaml`, the provider catalogs (`providers/`), each service's
//! schema (its `x-strata-merge` list rules) and the layer files of the target's hierarchy
//! levels, nothing else. So:
//!
//! - `strata.yaml`, anything under `providers/`, and any file not understood below
//!   (including `policies/variations.yaml`) affect every configuration;
//! - `policies/access.yaml` affects none: the cache holds resolutions, and access is
//!   decided on each request from the head's policy;
//! - a service's schema affects that service in every target;
//! - a layer file `layers/DIR/SERVICE.EXT` affects SERVICE in the targets one of whose
//!   hierarchy levels is `DIR` (a file whose name is no service is ignored by resolution);
//! - a service whose layer files `${ref:}` an affected service is affected in the same
//!   targets, transitively.
//!
//! References are read from the layer files' text. A file whose text could hide a
//! reference the scan cannot see (an escape sequence such as `\u0024`, or a `${ref:` not
//! followed by `NAME:`) is taken to reference every service.

use std::collections::HashMap;

use strata_core::access::AccessPolicy;
use strata_core::project::ProjectConfig;
use strata_store::StoreError;
use strata_store::model::{Hash, Manifest};
use strata_store::repo::layer_file;

/// The configurations a new revision may have changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Affected {
    /// Every configuration, because of this file (or reason).
    All(String),
    /// Per service, the targets (by index in `targets`) whose configuration of it may
    /// have changed; services not listed are unchanged everywhere.
    Some {
        /// Target name → index.
        targets: HashMap<String, usize>,
        /// Service → one flag per target.
        services: HashMap<String, Vec<bool>>,
    },
}

impl Affected {
    /// Whether the configuration of `service` for `target` may have changed.
    pub(crate) fn contains(&self, target: &str, service: &str) -> bool {
        match self {
            Affected::All(_) => true,
            Affected::Some { targets, services } => match services.get(service) {
                None => false,
                // A target the project does not declare: nothing to keep.
                Some(flags) => targets.get(target).is_none_or(|&t| flags[t]),
            },
        }
    }

    /// How many `(target, service)` pairs may have changed (`None`: all).
    #[cfg(test)]
    pub(crate) fn count(&self) -> Option<usize> {
        match self {
            Affected::All(_) => None,
            Affected::Some { services, .. } => Some(
                services
                    .values()
                    .map(|f| f.iter().filter(|x| **x).count())
                    .sum(),
            ),
        }
    }
}

/// What a layer file's text references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refs {
    /// These services (sorted, deduplicated).
    Services(Vec<String>),
    /// Possibly any service: the text could hide a reference from the scan.
    Any,
}

impl Refs {
    /// Scans `text` for `${ref:SERVICE:…}` (escaped `$${ref:` ones included: counting
    /// one too many only invalidates more).
    pub(crate) fn scan(text: &[u8]) -> Refs {
        const OPEN: &[u8] = b"${ref:";
        let escape = memchr::memchr_iter(b'\\', text).any(|at| {
            matches!(
                text.get(at + 1),
                Some(b'u' | b'U' | b'x' | b' ' | b'\t' | b'\n' | b'\r') | None
            )
        });
        if escape {
            return Refs::Any;
        }
        let mut out: Vec<String> = Vec::new();
        for at in memchr::memmem::find_iter(text, OPEN) {
            let rest = &text[at + OPEN.len()..];
            let end = rest
                .iter()
                .position(|b| !(b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_'))
                .unwrap_or(rest.len());
            if end == 0 || rest.get(end) != Some(&b':') {
                return Refs::Any;
            }
            out.push(String::from_utf8_lossy(&rest[..end]).into_owned());
        }
        out.sort();
        out.dedup();
        Refs::Services(out)
    }
}

/// What the layer files of the revisions seen so far reference, by blob hash: only the
/// files a new revision changes are read again.
#[derive(Debug, Default)]
pub(crate) struct RefMemo {
    by_blob: HashMap<Hash, Refs>,
}

/// Reads blobs by hash (verified), in the order asked.
pub(crate) type ReadBlobs<'a> = dyn FnMut(&[Hash]) -> Result<Vec<Vec<u8>>, StoreError> + 'a;

/// How many blobs are read per store call when scanning references.
const READ_CHUNK: usize = 256;

/// The configurations that may differ between revision `old` and revision `new` (whose
/// `strata.yaml` is `config`), see the module documentation. `read` fetches layer files
/// the memo does not know yet.
pub(crate) fn affected(
    old: &Manifest,
    new: &Manifest,
    config: &ProjectConfig,
    memo: &mut RefMemo,
    read: &mut ReadBlobs<'_>,
) -> Result<Affected, StoreError> {
    let changed = changed_paths(old, new);
    let targets: HashMap<String, usize> = config
        .targets
        .iter()
        .enumerate()
        .map(|(i, t)| (t.to_string(), i))
        .collect();
    // Layer directory → the targets reading it.
    let mut readers: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, t) in config.targets.iter().enumerate() {
        for level in &config.hierarchy {
            let list = readers.entry(level.dir_for(t)).or_default();
            if !list.contains(&i) {
                list.push(i);
            }
        }
    }
    let n = config.targets.len();
    let mut services: HashMap<String, Vec<bool>> = HashMap::new();
    for path in changed {
        if path == "strata.yaml" || path.starts_with("providers/") {
            return Ok(Affected::All(path.to_string()));
        }
        if path == AccessPolicy::PATH {
            continue;
        }
        let mut understood = false;
        for (name, def) in &config.services {
            if def.schema.as_deref() == Some(path) {
                services.insert(name.clone(), vec![true; n]);
                understood = true;
            }
        }
        if let Some((dir, stem)) = layer_file(path) {
            understood = true;
            if config.services.contains_key(stem) {
                let flags = services
                    .entry(stem.to_string())
                    .or_insert_with(|| vec![false; n]);
                for &t in readers.get(dir).into_iter().flatten() {
                    flags[t] = true;
                }
            }
        }
        if !understood {
            return Ok(Affected::All(path.to_string()));
        }
    }
    services.retain(|_, flags| flags.iter().any(|x| *x));
    if services.is_empty() {
        return Ok(Affected::Some { targets, services });
    }

    let edges = references(new, config, memo, read)?;
    // Spread to the services that reference an affected one, until nothing changes.
    loop {
        let mut grew = false;
        for (service, refs) in &edges {
            let mut reach = vec![false; n];
            match refs {
                Refs::Any => {
                    for flags in services.values() {
                        or_into(&mut reach, flags);
                    }
                }
                Refs::Services(list) => {
                    for r in list {
                        if let Some(flags) = services.get(r) {
                            or_into(&mut reach, flags);
                        }
                    }
                }
            }
            if !reach.iter().any(|x| *x) {
                continue;
            }
            let flags = services
                .entry(service.clone())
                .or_insert_with(|| vec![false; n]);
            for (f, r) in flags.iter_mut().zip(&reach) {
                if *r && !*f {
                    *f = true;
                    grew = true;
                }
            }
        }
        if !grew {
            break;
        }
    }
    Ok(Affected::Some { targets, services })
}

fn or_into(into: &mut [bool], from: &[bool]) {
    for (a, b) in into.iter_mut().zip(from) {
        *a |= *b;
    }
}

/// The paths added, removed or changed between two manifests.
fn changed_paths<'m>(old: &'m Manifest, new: &'m Manifest) -> Vec<&'m str> {
    let mut out: Vec<&str> = Vec::new();
    for (path, hash) in &new.files {
        if old.files.get(path) != Some(hash) {
            out.push(path);
        }
    }
    for path in old.files.keys() {
        if !new.files.contains_key(path) {
            out.push(path);
        }
    }
    out
}

/// Per service, what its layer files in `manifest` reference (merged over its files).
fn references(
    manifest: &Manifest,
    config: &ProjectConfig,
    memo: &mut RefMemo,
    read: &mut ReadBlobs<'_>,
) -> Result<Vec<(String, Refs)>, StoreError> {
    let layers: Vec<(&str, Hash)> = manifest
        .files
        .iter()
        .filter_map(|(path, hash)| {
            let (_, stem) = layer_file(path)?;
            config.services.contains_key(stem).then_some((stem, *hash))
        })
        .collect();
    let mut unknown: Vec<Hash> = layers
        .iter()
        .map(|(_, h)| *h)
        .filter(|h| !memo.by_blob.contains_key(h))
        .collect();
    unknown.sort();
    unknown.dedup();
    for chunk in unknown.chunks(READ_CHUNK) {
        let texts = read(chunk)?;
        for (hash, text) in chunk.iter().zip(texts) {
            memo.by_blob.insert(*hash, Refs::scan(&text));
        }
    }
    // Forget files no longer in the head.
    let live: std::collections::HashSet<Hash> = layers.iter().map(|(_, h)| *h).collect();
    memo.by_blob.retain(|h, _| live.contains(h));

    let mut merged: HashMap<&str, Refs> = HashMap::new();
    for (service, hash) in &layers {
        let Some(refs) = memo.by_blob.get(hash) else {
            continue;
        };
        let slot = merged
            .entry(service)
            .or_insert_with(|| Refs::Services(Vec::new()));
        match (slot, refs) {
            (Refs::Any, _) => {}
            (slot, Refs::Any) => *slot = Refs::Any,
            (Refs::Services(into), Refs::Services(more)) => {
                into.extend(more.iter().cloned());
                into.sort();
                into.dedup();
            }
        }
    }
    Ok(merged
        .into_iter()
        .filter(|(_, r)| *r != Refs::Services(Vec::new()))
        .map(|(s, r)| (s.to_string(), r))
        .collect())
}

#[cfg(test)]
mod tests;
