//! Resolving many services for several targets together, one service at a time.
//!
//! Comparing whole targets (`strata drift`) with one [`TargetSession`] per target keeps
//! every target's configuration in memory at once and parses the layer files the targets
//! share (`base`, `provider/{provider}`) once per target. A [`Sweep`] instead resolves a
//! service for every target, hands the results to a visitor, and drops them before the
//! next: memory holds the services in flight, and the layers below the first level where
//! two targets of one provider read different files are parsed and merged once, then
//! copied.
//!
//! References (`${ref:SERVICE:PATH}`) are what make one service depend on another. Before
//! resolving, the sweep scans the layer files' text for them: that gives the order (a
//! service after the services it references, where there is no cycle) and which values to
//! keep once a service is resolved ([`TargetSession::publish`]). A reference the scan did
//! not see, or one inside a cycle, is still answered: the session merges the referenced
//! service as it always does. The scan only decides how much work is shared.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::interpolate::Template;
use crate::path::Segment;
use crate::resolve::{Effective, Project, ResolveError, ResolveOptions, TargetSession};
use crate::value::{Loc, Node, Value, map_with_capacity};

/// Parameter paths inside one service.
type Paths = Vec<Vec<Segment>>;

/// The configurations of one service for each target of a sweep, in target order.
pub type PerTarget = Vec<Result<Effective, ResolveError>>;

/// Resolves a set of services for several targets, a service at a time (see the module
/// documentation).
pub struct Sweep<'p> {
    sessions: Vec<TargetSession<'p>>,
    /// Project service indices of the services swept, in the caller's order.
    services: Vec<usize>,
    /// Per project service index: the paths some scanned `${ref:…}` points at.
    referenced: Vec<Paths>,
    /// Per position in `services`: the positions it waits for.
    waits_for: Vec<Vec<usize>>,
    /// Every position, each after the positions it waits for.
    sequence: Vec<usize>,
}

/// Below this many services a sweep runs on the calling thread: waking the thread pool
/// costs more than it saves (`strata drift --since` usually re-compares one service).
const PARALLEL_FROM: usize = 4;

impl<'p> Sweep<'p> {
    /// Prepares a sweep of `services` over `targets` (`ENV/PROVIDER/REGION` names):
    /// lists the layer directories and scans the services' layer files for references.
    pub fn new(
        project: &'p Project,
        targets: &[&str],
        services: &[&str],
        opts: ResolveOptions,
    ) -> Result<Self, ResolveError> {
        let sessions = targets
            .iter()
            .map(|t| Ok(project.session(t, opts)?.with_publishing()))
            .collect::<Result<Vec<_>, ResolveError>>()?;
        let services = services
            .iter()
            .map(|s| project.service_index(s))
            .collect::<Result<Vec<_>, _>>()?;
        let (referenced, edges) = scan_references(project, &sessions, &services);
        let (waits_for, sequence) = order(services.len(), &edges);
        Ok(Sweep {
            sessions,
            services,
            referenced,
            waits_for,
            sequence,
        })
    }

    /// The session of target number `t` (layer slots, unknown files).
    pub fn session(&self, t: usize) -> &TargetSession<'p> {
        &self.sessions[t]
    }

    /// Resolves every service for every target, in parallel, calling `visit` with the
    /// service's position (in the order given to [`Sweep::new`]) and its configurations;
    /// they are dropped when `visit` returns. Returns what `visit` returned, by position.
    pub fn run<R, F>(&self, visit: F) -> Vec<R>
    where
        R: Send,
        F: Fn(usize, PerTarget) -> R + Sync,
    {
        let n = self.services.len();
        if n < PARALLEL_FROM {
            let mut results: Vec<Option<R>> = (0..n).map(|_| None).collect();
            for &pos in &self.sequence {
                results[pos] = Some(visit(pos, self.resolve(pos)));
            }
            return results.into_iter().flatten().collect();
        }
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (pos, waits) in self.waits_for.iter().enumerate() {
            for &w in waits {
                dependents[w].push(pos);
            }
        }
        let run = Run {
            sweep: self,
            visit,
            dependents,
            remaining: self
                .waits_for
                .iter()
                .map(|w| AtomicUsize::new(w.len()))
                .collect(),
            results: (0..n).map(|_| Mutex::new(None)).collect(),
        };
        rayon::scope(|scope| {
            for pos in 0..n {
                if self.waits_for[pos].is_empty() {
                    run.spawn(scope, pos);
                }
            }
        });
        run.results
            .into_iter()
            .filter_map(|m| m.into_inner().unwrap_or_else(PoisonError::into_inner))
            .collect()
    }

    /// Resolves the service at `pos` for every target.
    fn resolve(&self, pos: usize) -> PerTarget {
        let idx = self.services[pos];
        let name = self.sessions[0].service_name(idx).to_string();
        let levels = self.sessions.first().map_or(0, TargetSession::level_count);
        let mut out: Vec<Option<Result<Effective, ResolveError>>> =
            (0..self.sessions.len()).map(|_| None).collect();
        // A reference may already have merged the service for some target.
        for (t, session) in self.sessions.iter().enumerate() {
            if let Some(tree) = session.merged_if_cached(idx) {
                out[t] = Some(self.finish(t, idx, Ok(Some((*tree).clone()))));
            }
        }
        // Targets of one provider share the merge of the levels where they read the same
        // files.
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for t in (0..self.sessions.len()).filter(|t| out[*t].is_none()) {
            let provider = &self.sessions[t].target().provider;
            match groups
                .iter_mut()
                .find(|g| &self.sessions[g[0]].target().provider == provider)
            {
                Some(g) => g.push(t),
                None => groups.push(vec![t]),
            }
        }
        for group in groups {
            let shared = if group.len() < 2 {
                0
            } else {
                (0..levels)
                    .take_while(|&l| {
                        let first = self.sessions[group[0]].level_file(l, &name);
                        group
                            .iter()
                            .all(|&t| self.sessions[t].level_file(l, &name) == first)
                    })
                    .count()
            };
            let mut prefix = self.merge(group[0], idx, None, 0..shared);
            for (n, &t) in group.iter().enumerate() {
                let below = if n + 1 == group.len() {
                    std::mem::replace(&mut prefix, Ok(None))
                } else {
                    prefix.clone()
                };
                let tree = below.and_then(|acc| self.merge(t, idx, acc, shared..levels));
                out[t] = Some(self.finish(t, idx, tree));
            }
        }
        out.into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(ResolveError::UnknownService {
                        name: name.clone(),
                        known: Vec::new(),
                    })
                })
            })
            .collect()
    }

    fn merge(
        &self,
        t: usize,
        idx: usize,
        acc: Option<Node>,
        levels: Range<usize>,
    ) -> Result<Option<Node>, ResolveError> {
        if levels.is_empty() {
            return Ok(acc);
        }
        let session = &self.sessions[t];
        let mut merger = session.merger(idx)?;
        session.merge_levels(idx, &mut merger, acc, levels)
    }

    /// Evaluates a merged tree and publishes its referenced values.
    fn finish(
        &self,
        t: usize,
        idx: usize,
        tree: Result<Option<Node>, ResolveError>,
    ) -> Result<Effective, ResolveError> {
        let session = &self.sessions[t];
        let tree = tree?.unwrap_or_else(|| {
            Node::new(Value::Map(Box::new(map_with_capacity(0))), Loc::default())
        });
        let eff = session.evaluate(idx, tree)?;
        let values = self.referenced[idx]
            .iter()
            .filter_map(|p| eff.root.get(p).map(|n| (p.clone(), n.value.clone())))
            .collect();
        session.publish(idx, values);
        Ok(eff)
    }
}

/// The state of one [`Sweep::run`].
struct Run<'s, 'p, R, F> {
    sweep: &'s Sweep<'p>,
    visit: F,
    /// Per position: the positions waiting for it.
    dependents: Vec<Vec<usize>>,
    /// Per position: how many of the positions it waits for are not done.
    remaining: Vec<AtomicUsize>,
    results: Vec<Mutex<Option<R>>>,
}

impl<'s, 'p, R, F> Run<'s, 'p, R, F>
where
    R: Send,
    F: Fn(usize, PerTarget) -> R + Sync,
{
    fn spawn<'r>(&'r self, scope: &rayon::Scope<'r>, pos: usize) {
        scope.spawn(move |scope| {
            let result = (self.visit)(pos, self.sweep.resolve(pos));
            *self.results[pos]
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(result);
            for &d in &self.dependents[pos] {
                if self.remaining[d].fetch_sub(1, Ordering::AcqRel) == 1 {
                    self.spawn(scope, d);
                }
            }
        });
    }
}

/// Scans the layer files of the swept services for `${ref:…}`: per project service
/// index, the paths referenced; and the edges (position, referenced position) between
/// swept services. Files that cannot be read are skipped: resolving reports them.
fn scan_references(
    project: &Project,
    sessions: &[TargetSession<'_>],
    services: &[usize],
) -> (Vec<Paths>, Vec<(usize, usize)>) {
    let all = &project.config.services;
    let position: FxHashMap<usize, usize> =
        services.iter().enumerate().map(|(p, &i)| (i, p)).collect();
    let scan = |&idx: &usize| {
        let name = sessions.first().map_or("", |s| s.service_name(idx));
        let mut files: Vec<String> = sessions
            .iter()
            .flat_map(|s| (0..s.level_count()).filter_map(|l| s.level_file(l, name)))
            .collect();
        files.sort();
        files.dedup();
        let mut refs = Vec::new();
        for file in files {
            if let Ok(Some(bytes)) = project.source().read(&file) {
                references_in(&bytes, &mut |service, path| {
                    if let Some(i) = all.get_index_of(service) {
                        refs.push((i, path));
                    }
                });
            }
        }
        refs
    };
    let found: Vec<Vec<(usize, Vec<Segment>)>> = if services.len() < PARALLEL_FROM {
        services.iter().map(scan).collect()
    } else {
        services.par_iter().map(scan).collect()
    };
    let mut referenced: Vec<FxHashSet<Vec<Segment>>> = vec![FxHashSet::default(); all.len()];
    let mut edges = Vec::new();
    for (pos, refs) in found.into_iter().enumerate() {
        for (idx, path) in refs {
            if let Some(&to) = position.get(&idx)
                && to != pos
            {
                edges.push((pos, to));
            }
            referenced[idx].insert(path);
        }
    }
    edges.sort_unstable();
    edges.dedup();
    let referenced = referenced
        .into_iter()
        .map(|set| {
            let mut paths: Vec<Vec<Segment>> = set.into_iter().collect();
            paths.sort();
            paths
        })
        .collect();
    (referenced, edges)
}

/// Calls `found` with the service and path of every `${ref:SERVICE:PATH}` placeholder in
/// a file's text. Reads text, not the document: a placeholder in a comment is found too,
/// which costs only a value kept for nothing.
fn references_in(bytes: &[u8], found: &mut dyn FnMut(&str, Vec<Segment>)) {
    for start in memchr::memmem::find_iter(bytes, b"${ref:") {
        let Some(len) = memchr::memchr(b'}', &bytes[start..]) else {
            break;
        };
        let Ok(text) = std::str::from_utf8(&bytes[start..=start + len]) else {
            continue;
        };
        if let Ok(Some(template)) = Template::parse(text) {
            for r in template.refs() {
                found(&r.service, r.segments.clone());
            }
        }
    }
}

/// Which positions each position waits for: `edges` are (position, position it
/// references). A depth-first post-order puts referenced services first; an edge that
/// order cannot honour (a cycle between services) is dropped, and the reference is
/// answered by merging instead.
fn order(n: usize, edges: &[(usize, usize)]) -> (Vec<Vec<usize>>, Vec<usize>) {
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(from, to) in edges {
        out[from].push(to);
    }
    let mut rank = vec![usize::MAX; n];
    let mut sequence = Vec::with_capacity(n);
    let mut next = 0;
    let mut on_path = vec![false; n];
    for root in 0..n {
        if rank[root] != usize::MAX || on_path[root] {
            continue;
        }
        // (node, index of the next edge to follow)
        let mut stack = vec![(root, 0)];
        on_path[root] = true;
        while let Some(&mut (node, ref mut edge)) = stack.last_mut() {
            if let Some(&to) = out[node].get(*edge) {
                *edge += 1;
                if rank[to] == usize::MAX && !on_path[to] {
                    on_path[to] = true;
                    stack.push((to, 0));
                }
            } else {
                stack.pop();
                on_path[node] = false;
                rank[node] = next;
                sequence.push(node);
                next += 1;
            }
        }
    }
    for (node, waits) in out.iter_mut().enumerate() {
        waits.retain(|&to| rank[to] < rank[node]);
    }
    (out, sequence)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::MemorySource;
    use std::sync::Arc;

    const CONFIG: &str = r#"version: 1
environments: [{name: dev}, {name: staging}, {name: prod}]
providers: [aws, gcp]
targets: [dev/aws/us-east-1, staging/aws/us-east-1, prod/aws/us-east-1, prod/gcp/europe-west1]
hierarchy:
  - base
  - provider/{provider}
  - env/{env}
services:
  a: {}
  b: {}
  c: {}
vars:
  global: {company: acme}
"#;

    fn project(files: &[(&str, &str)]) -> Project {
        let mut src = MemorySource::new().with("strata.yaml", CONFIG);
        for (p, c) in files {
            src.insert(*p, *c);
        }
        Project::load(Arc::new(src)).expect("project loads")
    }

    const TARGETS: [&str; 4] = [
        "dev/aws/us-east-1",
        "staging/aws/us-east-1",
        "prod/aws/us-east-1",
        "prod/gcp/europe-west1",
    ];

    /// What one session per target resolves, service by service.
    fn one_by_one(p: &Project, services: &[&str]) -> Vec<Vec<Result<Node, String>>> {
        services
            .iter()
            .map(|s| {
                TARGETS
                    .iter()
                    .map(|t| {
                        p.resolve(s, t, ResolveOptions::default())
                            .map(|e| e.root)
                            .map_err(|e| e.to_string())
                    })
                    .collect()
            })
            .collect()
    }

    fn swept(p: &Project, services: &[&str]) -> Vec<Vec<Result<Node, String>>> {
        Sweep::new(p, &TARGETS, services, ResolveOptions::default())
            .expect("sweep")
            .run(|_, effs| {
                effs.into_iter()
                    .map(|r| r.map(|e| e.root).map_err(|e| e.to_string()))
                    .collect()
            })
    }

    fn values(rows: &[Vec<Result<Node, String>>]) -> Vec<Vec<Result<serde_json::Value, String>>> {
        rows.iter()
            .map(|r| {
                r.iter()
                    .map(|x| x.as_ref().map(|n| n.value.to_json()).map_err(Clone::clone))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_sweep_resolves_what_sessions_resolve() {
        // c references b, b references a, a references c (a cycle of services but not of
        // parameters), and b references itself.
        let p = project(&[
            (
                "layers/base/a.yaml",
                "port: 80\nname: ${service}-${env}\nfrom_c: ${ref:c:size}\n",
            ),
            ("layers/provider/gcp/a.yaml", "port: 8080\n"),
            ("layers/env/prod/a.yaml", "port: 443\n"),
            (
                "layers/base/b.yaml",
                "url: http://a:${ref:a:port}\nsame: ${ref:b:url}\nlist: [1, 2]\n",
            ),
            ("layers/env/dev/b.yaml", "list: [3]\n"),
            (
                "layers/base/c.yaml",
                "size: ${vars.company}-small\nup: ${ref:b:url}\n",
            ),
            ("layers/env/staging/c.yaml", "size: medium\n"),
        ]);
        let services = ["c", "b", "a"];
        let expected = one_by_one(&p, &services);
        assert_eq!(values(&swept(&p, &services)), values(&expected));
        // Spot checks, so a shared mistake in both paths would still show.
        let rows = values(&expected);
        assert_eq!(
            rows[0][2].as_ref().unwrap()["up"],
            serde_json::json!("http://a:443")
        );
        assert_eq!(
            rows[2][1].as_ref().unwrap()["from_c"],
            serde_json::json!("medium")
        );
        assert_eq!(rows[2][0].as_ref().unwrap()["port"], serde_json::json!(80));
        assert_eq!(
            rows[2][3].as_ref().unwrap()["name"],
            serde_json::json!("a-prod")
        );
    }

    #[test]
    fn errors_are_per_service_and_target() {
        let p = project(&[
            ("layers/base/a.yaml", "x: ${ref:b:missing}\n"),
            ("layers/base/b.yaml", "y: 1\n"),
            ("layers/env/prod/b.yaml", "y: [\n"),
        ]);
        let out = swept(&p, &["a", "b"]);
        let expected = one_by_one(&p, &["a", "b"]);
        assert_eq!(values(&out), values(&expected));
        assert!(out[0].iter().all(Result::is_err));
        assert!(out[1][0].is_ok() && out[1][2].is_err());
    }

    #[test]
    fn a_subset_reads_references_outside_it() {
        let p = project(&[
            ("layers/base/a.yaml", "v: ${ref:b:w}\n"),
            ("layers/base/b.yaml", "w: 1\n"),
            ("layers/env/dev/b.yaml", "w: 2\n"),
        ]);
        assert_eq!(values(&swept(&p, &["a"])), values(&one_by_one(&p, &["a"])));
    }

    #[test]
    fn references_are_read_from_text() {
        let mut seen = Vec::new();
        references_in(
            b"a: ${ref:svc:x.y}\nb: \"${ref:other:list[0]}-${env}\"\n# ${ref:bad\nc: ${ref:",
            &mut |s, p| seen.push(format!("{s}:{}", crate::path::segments_to_string(&p))),
        );
        assert_eq!(seen, ["svc:x.y", "other:list[0]"]);
    }

    #[test]
    fn order_puts_referenced_first_and_drops_cycle_edges() {
        // 0 -> 1 -> 2, and 2 -> 0 closes a cycle; 3 -> 1.
        let (waits, sequence) = order(4, &[(0, 1), (1, 2), (2, 0), (3, 1)]);
        let at = |p: usize| sequence.iter().position(|&x| x == p).unwrap();
        for (p, w) in waits.iter().enumerate() {
            assert!(w.iter().all(|&q| at(q) < at(p)), "{p} runs after {w:?}");
        }
        let kept: usize = waits.iter().map(Vec::len).sum();
        assert_eq!(kept, 3, "one edge of the cycle is dropped: {waits:?}");
        assert!(waits[3].contains(&1));
        // Whatever is kept is acyclic: following waits always ends.
        for start in 0..4 {
            let mut seen = vec![start];
            let mut frontier = waits[start].clone();
            while let Some(n) = frontier.pop() {
                assert!(!seen.contains(&n) || n != start, "cycle through {start}");
                seen.push(n);
                frontier.extend(waits[n].iter().copied());
                assert!(seen.len() < 32);
            }
        }
    }
}
