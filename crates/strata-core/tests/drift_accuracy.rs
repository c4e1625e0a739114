//! Accuracy of the drift engine ([`strata_core::drift::engine::classify`]).
//!
//! The property test takes an effective configuration of a generated project
//! (`strata-gen`), clones it, injects N (1 to 12) differences of every kind (changed
//! scalar, type change, list change, missing key, extra key, nested map change) at
//! distinct, non-overlapping paths of one side, draws up to 6 random variation rules
//! (exact paths, `**.leaf`, parent maps, `*` / `[*]` / `key*` wildcards, `PATH.**`,
//! unrelated paths; random kind, expiry and scope) and checks that the engine reports
//! exactly the leaves that differ (no false positive, no false negative), each with the
//! right class and the right value on each side, plus the equal leaves a `must-differ`
//! rule forbids. It also checks that every reported difference comes from one of the N
//! injections and that every injection is reported.
//!
//! The expected findings come from a deliberately naive oracle written here from the
//! documented semantics (DESIGN.md §4b, `engine.rs` and `policy.rs` docs): both trees are
//! flattened into `leaf path → value` maps and diffed; the deciding rule is the most
//! specific applicable rule naming the leaf itself, else its nearest ancestor
//! (specificity: literal segment 3, `key*` 2, `*`/`[*]` 1, `**` 0, literal service +1;
//! ties go to the earlier rule); the class follows the table in [`expected_class`]. It
//! never calls the engine's own diff or rule lookup.
//!
//! The deterministic test below shows one hand-written example of each kind of
//! difference, as documentation.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use proptest::prelude::*;
use strata_core::drift::engine::{Class, Side, classify};
use strata_core::drift::policy::{PolicyDate, VariationPolicy};
use strata_core::files::MemorySource;
use strata_core::parse::{Format, ParseOptions, parse_document};
use strata_core::path::{Segment, segments_to_string};
use strata_core::project::Target;
use strata_core::resolve::{Project, ResolveOptions};
use strata_core::value::{FileId, Loc, Node, Value, new_map};
use strata_gen::GenOptions;

type Path = Vec<Segment>;

/// The day the comparisons run.
const TODAY: (i32, u8, u8) = (2026, 11, 22);

fn today() -> PolicyDate {
    PolicyDate::new(TODAY.0, TODAY.1, TODAY.2).expect("a real date")
}

// ---------------------------------------------------------------------------------------
// Trees
// ---------------------------------------------------------------------------------------

fn node(value: Value) -> Node {
    Node::new(value, Loc::default())
}

fn map_of(entries: Vec<(&str, Value)>) -> Value {
    let mut m = new_map();
    for (k, v) in entries {
        m.insert(k.into(), node(v));
    }
    Value::Map(Box::new(m))
}

fn yaml(text: &str) -> Node {
    parse_document(
        &Arc::from("t.yaml"),
        FileId(0),
        text.as_bytes(),
        Format::Yaml,
        ParseOptions { templates: false },
    )
    .expect("valid YAML")
}

/// A generated project: the service name, every target, and the effective configuration
/// of the service for target number `target`.
fn generated(
    seed: u64,
    params: usize,
    service: usize,
    target: usize,
) -> (String, Vec<Target>, Node) {
    let opts = GenOptions {
        services: 3,
        params,
        seed,
        schemas: false,
        ..GenOptions::default()
    };
    let mut src = MemorySource::new();
    for f in strata_gen::generate_to_vec(&opts).expect("valid generator options") {
        src.insert(f.path, f.contents);
    }
    let project = Project::load(Arc::new(src)).expect("generated projects load");
    let targets = project.config.targets.clone();
    let service = project
        .config
        .services
        .keys()
        .nth(service)
        .expect("3 services")
        .clone();
    let target_name = targets[target % targets.len()].to_string();
    let eff = project
        .session(&target_name, ResolveOptions::default())
        .expect("target exists")
        .resolve(&service)
        .expect("generated projects resolve");
    (service, targets, eff.root)
}

/// Every node with its path, the root (empty path) included, in document order.
fn all_nodes(root: &Node) -> Vec<(Path, &Node)> {
    fn go<'a>(n: &'a Node, path: &mut Path, out: &mut Vec<(Path, &'a Node)>) {
        out.push((path.clone(), n));
        match &n.value {
            Value::Map(m) => {
                for (k, v) in m.iter() {
                    path.push(Segment::Key(k.clone()));
                    go(v, path, out);
                    path.pop();
                }
            }
            Value::List(items) => {
                for (i, v) in items.iter().enumerate() {
                    path.push(Segment::Index(i));
                    go(v, path, out);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    go(root, &mut Vec::new(), &mut out);
    out
}

/// Whether one path is the other or lies under it.
fn overlaps(a: &[Segment], b: &[Segment]) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

// ---------------------------------------------------------------------------------------
// Injecting differences
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Same type, different value.
    ChangedScalar,
    /// int → string, scalar → map/list, map → list, list → map, anything → null, …
    TypeChange,
    /// An element changed, appended or removed.
    ListChange,
    /// A map key (and everything under it) removed.
    MissingKey,
    /// A new key (scalar, subtree, empty map or list) added to a map.
    ExtraKey,
    /// A scalar at least two maps deep changed.
    NestedMapChange,
}

const KINDS: [Kind; 6] = [
    Kind::ChangedScalar,
    Kind::TypeChange,
    Kind::ListChange,
    Kind::MissingKey,
    Kind::ExtraKey,
    Kind::NestedMapChange,
];

/// One injected difference: its kind and the (sub)tree it changes.
#[derive(Debug, Clone)]
struct Injection {
    kind: Kind,
    site: Path,
}

fn is_plain_scalar(v: &Value) -> bool {
    v.is_scalar() && !matches!(v, Value::Null)
}

/// The paths where a difference of `kind` may go (with the node there, or the map that
/// receives an extra key). Never the root.
fn candidates<'a>(kind: Kind, nodes: &[(Path, &'a Node)], j: usize) -> Vec<(Path, &'a Node)> {
    let mut out: Vec<(Path, &Node)> = Vec::new();
    for (path, n) in nodes {
        let keep = match kind {
            Kind::ChangedScalar => !path.is_empty() && is_plain_scalar(&n.value),
            Kind::TypeChange => !path.is_empty(),
            Kind::ListChange => !path.is_empty() && matches!(n.value, Value::List(_)),
            Kind::MissingKey => matches!(path.last(), Some(Segment::Key(_))),
            Kind::NestedMapChange => {
                path.len() >= 3
                    && path.iter().all(|s| matches!(s, Segment::Key(_)))
                    && is_plain_scalar(&n.value)
            }
            Kind::ExtraKey => {
                if let Value::Map(m) = &n.value {
                    let key = format!("zz_extra_{j}");
                    if !m.contains_key(key.as_str()) {
                        let mut site = path.clone();
                        site.push(Segment::Key(key.into()));
                        out.push((site, *n));
                    }
                }
                false
            }
        };
        if keep {
            out.push((path.clone(), *n));
        }
    }
    out
}

/// A different value of the same type.
fn changed_scalar(old: &Value, var: usize) -> Value {
    match old {
        Value::Int(i) => Value::Int(i.wrapping_add(1 + (var % 7) as i64)),
        Value::Float(f) => Value::Float(f + 0.25 * (1 + var % 4) as f64),
        Value::Bool(b) => Value::Bool(!b),
        Value::Str(s) => Value::Str(format!("{s}-{}", var % 10).into()),
        other => retype(other, var),
    }
}

/// A value of a different type (a scalar's text as a string, the value wrapped in a map
/// or list, a list turned into a map keyed `"0"`, `"1"`, …, empty containers, null…).
fn retype(old: &Value, var: usize) -> Value {
    let text = match old {
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => "replaced".to_string(),
    };
    let mut options = vec![
        Value::Str(text.into()),
        Value::Int((var % 100) as i64),
        Value::Float(0.5),
        Value::Bool(var.is_multiple_of(2)),
        Value::Null,
        map_of(vec![("value", old.clone())]),
        Value::List(vec![node(old.clone())]),
        Value::Map(Box::new(new_map())),
        Value::List(Vec::new()),
    ];
    match old {
        Value::List(items) => {
            let mut m = new_map();
            for (i, item) in items.iter().enumerate() {
                m.insert(i.to_string().into(), item.clone());
            }
            options.push(Value::Map(Box::new(m)));
        }
        Value::Map(m) => options.push(Value::List(m.values().cloned().collect())),
        _ => {}
    }
    options.retain(|v| std::mem::discriminant(v) != std::mem::discriminant(old));
    options.swap_remove(var % options.len())
}

/// Changes something inside `old` (its first leaf), keeping its shape where it can.
fn change_inside(old: &Value, var: usize) -> Value {
    let mut v = old.clone();
    match &mut v {
        Value::Map(m) if !m.is_empty() => {
            let first = &mut m[0];
            first.value = change_inside(&first.value, var);
        }
        Value::List(items) if !items.is_empty() => {
            items[0].value = change_inside(&items[0].value, var);
        }
        other if is_plain_scalar(other) => return changed_scalar(other, var),
        other => return retype(other, var),
    }
    v
}

fn extra_value(var: usize) -> Value {
    match var % 6 {
        0 => Value::Int(7),
        1 => Value::Str("new".into()),
        2 => map_of(vec![
            ("a", Value::Int(1)),
            ("b", map_of(vec![("c", Value::Bool(true))])),
        ]),
        3 => Value::List(vec![
            node(Value::Int(1)),
            node(Value::Str("two".into())),
            node(map_of(vec![("d", Value::Null)])),
        ]),
        4 => Value::Map(Box::new(new_map())),
        _ => Value::List(Vec::new()),
    }
}

fn apply(tree: &mut Node, kind: Kind, site: &[Segment], old: &Node, var: usize) {
    // Sites never overlap and no injection shifts another's path, so every site taken
    // from the original tree still exists.
    if let (Kind::MissingKey | Kind::ExtraKey, Some(Segment::Key(last))) = (kind, site.last()) {
        let parent = tree
            .get_mut(&site[..site.len() - 1])
            .expect("parent exists");
        let Value::Map(m) = &mut parent.value else {
            unreachable!("keys live in maps")
        };
        if kind == Kind::MissingKey {
            m.shift_remove(&**last).expect("key exists");
        } else {
            m.insert(last.clone(), node(extra_value(var)));
        }
    } else {
        apply_at(tree.get_mut(site).expect("site exists"), kind, old, var);
    }
}

fn apply_at(n: &mut Node, kind: Kind, old: &Node, var: usize) {
    match kind {
        Kind::ChangedScalar => n.value = changed_scalar(&old.value, var),
        Kind::NestedMapChange if var % 3 == 2 => n.value = retype(&old.value, var),
        Kind::NestedMapChange => n.value = changed_scalar(&old.value, var),
        Kind::TypeChange => n.value = retype(&old.value, var),
        Kind::ListChange => {
            let Value::List(items) = &mut n.value else {
                unreachable!("list sites hold lists")
            };
            let len = items.len();
            match var % 3 {
                0 if len > 0 => {
                    let i = (var / 3) % len;
                    items[i].value = change_inside(&items[i].value, var);
                }
                1 if len > 0 => {
                    items.remove((var / 3) % len);
                }
                _ => {
                    let item = items
                        .last()
                        .map_or_else(|| node(Value::Int(1)), Clone::clone);
                    items.push(item);
                }
            }
        }
        Kind::MissingKey | Kind::ExtraKey => unreachable!("handled on the parent map"),
    }
}

/// Applies the injections `(kind, site choice, variant)` to a copy of `base`, each at a
/// path that overlaps no earlier one (when a kind has no free site left, the next kind
/// is tried).
fn inject(base: &Node, specs: &[(usize, usize, usize)]) -> (Node, Vec<Injection>) {
    let nodes = all_nodes(base);
    let mut tree = base.clone();
    let mut done: Vec<Injection> = Vec::new();
    for (j, &(k, pick, var)) in specs.iter().enumerate() {
        for attempt in 0..KINDS.len() {
            let kind = KINDS[(k + attempt) % KINDS.len()];
            let free: Vec<(Path, &Node)> = candidates(kind, &nodes, j)
                .into_iter()
                .filter(|(p, _)| done.iter().all(|d| !overlaps(&d.site, p)))
                .collect();
            if free.is_empty() {
                continue;
            }
            let (site, old) = &free[pick % free.len()];
            apply(&mut tree, kind, site, old, var);
            done.push(Injection {
                kind,
                site: site.clone(),
            });
            break;
        }
    }
    (tree, done)
}

// ---------------------------------------------------------------------------------------
// Variation rules, with their own naive matcher
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RuleKind {
    MayDiffer,
    MustDiffer,
    MustEqual,
    MayBeAbsent,
}

impl RuleKind {
    fn name(self) -> &'static str {
        match self {
            RuleKind::MayDiffer => "may-differ",
            RuleKind::MustDiffer => "must-differ",
            RuleKind::MustEqual => "must-equal",
            RuleKind::MayBeAbsent => "may-be-absent",
        }
    }
}

/// The service part of a glob.
#[derive(Debug, Clone)]
enum Svc {
    /// A literal name (the compared service, or another one).
    Name(String),
    /// `*`.
    Any,
    /// `svc*`.
    Prefix(String),
}

/// One segment of a glob's path.
#[derive(Debug, Clone)]
enum G {
    Key(String),
    Index(usize),
    /// `*`: any one segment.
    Star,
    /// `[*]`: any one index.
    AnyIndex,
    /// `prefix*`: a key starting with `prefix`.
    Pat(String),
    /// `**`: any number of segments.
    Any,
}

#[derive(Debug, Clone)]
struct Glob {
    service: Svc,
    segs: Vec<G>,
}

impl Glob {
    fn text(&self) -> String {
        let mut s = match &self.service {
            Svc::Name(n) => n.clone(),
            Svc::Any => "*".into(),
            Svc::Prefix(p) => format!("{p}*"),
        };
        s.push(':');
        for (i, g) in self.segs.iter().enumerate() {
            match g {
                G::Index(n) => write!(s, "[{n}]").unwrap(),
                G::AnyIndex => s.push_str("[*]"),
                other => {
                    if i > 0 {
                        s.push('.');
                    }
                    match other {
                        G::Key(k) => s.push_str(k),
                        G::Star => s.push('*'),
                        G::Pat(p) => write!(s, "{p}*").unwrap(),
                        _ => s.push_str("**"),
                    }
                }
            }
        }
        s
    }

    fn matches(&self, service: &str, path: &[Segment]) -> bool {
        fn segs(g: &[G], p: &[Segment]) -> bool {
            match (g.first(), p.first()) {
                (None, _) => p.is_empty(),
                (Some(G::Any), _) => (0..=p.len()).any(|skip| segs(&g[1..], &p[skip..])),
                (Some(_), None) => false,
                (Some(head), Some(seg)) => {
                    let ok = match (head, seg) {
                        (G::Key(a), Segment::Key(b)) => a.as_str() == &**b,
                        (G::Index(a), Segment::Index(b)) => a == b,
                        (G::Star, _) => true,
                        (G::AnyIndex, Segment::Index(_)) => true,
                        (G::Pat(prefix), Segment::Key(k)) => k.starts_with(prefix.as_str()),
                        _ => false,
                    };
                    ok && segs(&g[1..], &p[1..])
                }
            }
        }
        let service_ok = match &self.service {
            Svc::Name(n) => n == service,
            Svc::Any => true,
            Svc::Prefix(p) => service.starts_with(p.as_str()),
        };
        service_ok && segs(&self.segs, path)
    }

    fn specificity(&self) -> usize {
        let path: usize = self
            .segs
            .iter()
            .map(|g| match g {
                G::Key(_) | G::Index(_) => 3,
                G::Pat(_) => 2,
                G::Star | G::AnyIndex => 1,
                G::Any => 0,
            })
            .sum();
        path + usize::from(matches!(self.service, Svc::Name(_)))
    }
}

#[derive(Debug, Clone)]
struct Rule {
    globs: Vec<Glob>,
    kind: RuleKind,
    envs: Vec<String>,
    providers: Vec<String>,
    targets: Vec<String>,
    expires: Option<(i32, u8, u8)>,
}

impl Rule {
    fn expired(&self) -> bool {
        self.expires.is_some_and(|e| e < TODAY)
    }

    fn covers(&self, t: &Target) -> bool {
        (self.envs.is_empty() || self.envs.contains(&t.env))
            && (self.providers.is_empty() || self.providers.contains(&t.provider))
            && (self.targets.is_empty() || self.targets.contains(&t.to_string()))
    }
}

fn policy_yaml(rules: &[Rule]) -> String {
    let mut y = String::from("variations:\n");
    if rules.is_empty() {
        y = "variations: []\n".into();
    }
    let list = |v: &[String]| {
        v.iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for r in rules {
        let globs: Vec<String> = r.globs.iter().map(Glob::text).collect();
        writeln!(y, "  - params: [{}]", list(&globs)).unwrap();
        writeln!(y, "    kind: {}", r.kind.name()).unwrap();
        for (key, v) in [
            ("envs", &r.envs),
            ("providers", &r.providers),
            ("targets", &r.targets),
        ] {
            if !v.is_empty() {
                writeln!(y, "    {key}: [{}]", list(v)).unwrap();
            }
        }
        y.push_str("    reason: generated\n");
        if let Some((yy, m, d)) = r.expires {
            writeln!(y, "    expires: \"{yy:04}-{m:02}-{d:02}\"").unwrap();
        }
    }
    y
}

/// `(path choice, glob form, service form)` for each glob, then kind, scope and expiry.
type RuleSpec = (Vec<(usize, u8, u8)>, u8, u8, u8);

fn rule_spec() -> impl Strategy<Value = RuleSpec> {
    (
        prop::collection::vec((any::<usize>(), 0u8..7, 0u8..6), 1..=2),
        0u8..4,
        0u8..11,
        0u8..7,
    )
}

/// A glob over `path` in one of several forms: exact, `**.last`, `path.**`, one segment
/// made `*` or `[*]`, the parent, `**`, or the parent plus `ab*` for the last key.
fn glob_segs(path: &[Segment], form: u8, pick: usize) -> Vec<G> {
    let lit = |s: &Segment| match s {
        Segment::Key(k) => G::Key(k.to_string()),
        Segment::Index(i) => G::Index(*i),
    };
    let mut exact: Vec<G> = path.iter().map(lit).collect();
    let n = path.len();
    match form {
        0 => exact,
        1 => vec![G::Any, lit(&path[n - 1])],
        2 => {
            exact.push(G::Any);
            exact
        }
        3 => {
            let i = pick % n;
            exact[i] = match path[i] {
                Segment::Index(_) if pick.is_multiple_of(2) => G::AnyIndex,
                _ => G::Star,
            };
            exact
        }
        4 if n > 1 => {
            exact.pop();
            exact
        }
        4 | 5 => vec![G::Any],
        _ => {
            if let Segment::Key(k) = &path[n - 1]
                && k.len() >= 2
            {
                exact[n - 1] = G::Pat(k.chars().take(2).collect());
            }
            exact
        }
    }
}

/// Builds rules from their specs. Globs are drawn over a pool of paths: the injected
/// sites, the differing leaves, the sites' ancestors, unrelated leaves of the base tree
/// and a path that does not exist.
fn build_rules(
    specs: &[RuleSpec],
    service: &str,
    pools: [&[Path]; 4],
    a: &Target,
    b: &Target,
) -> Vec<Rule> {
    let nowhere: Path = vec![Segment::Key("no_such".into()), Segment::Key("param".into())];
    let other_env = ["dev", "staging", "prod", "qa"]
        .into_iter()
        .find(|e| *e != a.env && *e != b.env)
        .expect("four names, two targets")
        .to_string();
    specs
        .iter()
        .map(|(globs, kind, scope, expiry)| {
            let globs = globs
                .iter()
                .map(|&(pick, form, svc)| {
                    let category = pick % 5;
                    let path = match pools.get(category) {
                        Some(pool) if !pool.is_empty() => &pool[(pick / 5) % pool.len()],
                        Some(_) => &pools[0][(pick / 5) % pools[0].len()],
                        None => &nowhere,
                    };
                    let service = match svc {
                        0..=2 => Svc::Name(service.to_string()),
                        3 => Svc::Any,
                        4 => Svc::Prefix(service.chars().take(3).collect()),
                        _ => Svc::Name("other-svc".into()),
                    };
                    Glob {
                        service,
                        segs: glob_segs(path, form, pick / 7),
                    }
                })
                .collect();
            let kind = [
                RuleKind::MayDiffer,
                RuleKind::MustDiffer,
                RuleKind::MustEqual,
                RuleKind::MayBeAbsent,
            ][*kind as usize];
            let s = |x: &str| vec![x.to_string()];
            let (envs, providers, targets) = match scope {
                4 => (s(&a.env), vec![], vec![]),
                5 => (s(&b.env), vec![], vec![]),
                6 => (s(&other_env), vec![], vec![]),
                7 => (vec![], s(&a.provider), vec![]),
                8 => (vec![], vec![], s(&b.to_string())),
                9 => (s(&a.env), vec![], s("qa/none/r1")),
                10 => (s(&a.env), s(&b.provider), vec![]),
                _ => (vec![], vec![], vec![]),
            };
            let expires = match expiry {
                3 => Some((2026, 11, 21)), // yesterday: expired
                4 => Some(TODAY),          // still valid on its last day
                5 => Some((2025, 6, 30)),
                6 => Some((2027, 3, 31)),
                _ => None,
            };
            Rule {
                globs,
                kind,
                envs,
                providers,
                targets,
                expires,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The oracle
// ---------------------------------------------------------------------------------------

/// `(leaf path, class, reference value, other value)`, values in `Debug` form.
type Row = (String, Class, Option<String>, Option<String>);

/// The leaves (scalars, empty maps, empty lists; never the root) by path.
fn flatten(root: &Node) -> BTreeMap<Path, &Value> {
    all_nodes(root)
        .into_iter()
        .filter(|(p, n)| {
            !p.is_empty()
                && match &n.value {
                    Value::Map(m) => m.is_empty(),
                    Value::List(l) => l.is_empty(),
                    _ => true,
                }
        })
        .map(|(p, n)| (p, &n.value))
        .collect()
}

/// Equality of two leaves, as `compare::diff` defines it (value equality; types matter).
fn leaf_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Map(x), Value::Map(y)) => x.is_empty() && y.is_empty(),
        (Value::List(x), Value::List(y)) => x.is_empty() && y.is_empty(),
        _ => false,
    }
}

/// The deciding rule: among the rules in scope of either target, those naming the path
/// itself, else its nearest ancestor that any rule names; the most specific wins, ties go
/// to the earlier rule.
fn deciding<'r>(
    rules: &'r [Rule],
    service: &str,
    path: &[Segment],
    a: &Target,
    b: &Target,
) -> Option<&'r Rule> {
    for n in (1..=path.len()).rev() {
        let mut best: Option<(usize, &Rule)> = None;
        for r in rules.iter().filter(|r| r.covers(a) || r.covers(b)) {
            let spec = r
                .globs
                .iter()
                .filter(|g| g.matches(service, &path[..n]))
                .map(Glob::specificity)
                .max();
            if let Some(spec) = spec
                && best.is_none_or(|(s, _)| spec > s)
            {
                best = Some((spec, r));
            }
        }
        if let Some((_, r)) = best {
            return Some(r);
        }
    }
    None
}

/// The class of a difference (`both`: present on both sides) under `rule`.
///
/// | rule          | valid                             | expired                            |
/// |---------------|-----------------------------------|------------------------------------|
/// | none          | drift (missing if one-sided)      |                                    |
/// | may-differ    | expected                          | expired                            |
/// | must-differ   | expected                          | drift / missing                    |
/// | must-equal    | violation                         | drift / missing                    |
/// | may-be-absent | expected if one-sided, else drift | expired if one-sided, else drift   |
///
/// An expired `may-be-absent` rule still says nothing about a *changed* value (it never
/// excused one), so that stays drift: `expired` means "a rule would allow it, but the
/// rule has expired" (`Class::Expired`).
fn expected_class(rule: Option<&Rule>, both: bool) -> Class {
    let unexplained = if both { Class::Drift } else { Class::Missing };
    let Some(rule) = rule else {
        return unexplained;
    };
    match (rule.kind, rule.expired()) {
        (RuleKind::MayDiffer, false) => Class::Expected,
        (RuleKind::MayDiffer, true) => Class::Expired,
        (RuleKind::MustDiffer, false) => Class::Expected,
        (RuleKind::MustEqual, false) => Class::Violation,
        (RuleKind::MustDiffer | RuleKind::MustEqual, true) => unexplained,
        (RuleKind::MayBeAbsent, _) if both => Class::Drift,
        (RuleKind::MayBeAbsent, false) => Class::Expected,
        (RuleKind::MayBeAbsent, true) => Class::Expired,
    }
}

fn shown(v: Option<&Value>) -> Option<String> {
    v.map(|v| format!("{v:?}"))
}

/// What the engine must report, sorted; and the paths of the differing leaves.
fn oracle(
    service: &str,
    reference: &Node,
    other: &Node,
    rules: &[Rule],
    a: &Target,
    b: &Target,
) -> (Vec<Row>, Vec<Path>) {
    let (ra, rb) = (flatten(reference), flatten(other));
    let mut paths: Vec<&Path> = ra.keys().chain(rb.keys()).collect();
    paths.sort();
    paths.dedup();
    let mut rows = Vec::new();
    let mut differing = Vec::new();
    for path in paths {
        let (x, y) = (ra.get(path).copied(), rb.get(path).copied());
        let rule = deciding(rules, service, path, a, b);
        let class = match (x, y) {
            (Some(x), Some(y)) if leaf_eq(x, y) => match rule {
                Some(r) if r.kind == RuleKind::MustDiffer && !r.expired() => Class::Violation,
                _ => continue,
            },
            _ => {
                differing.push(path.clone());
                expected_class(rule, x.is_some() && y.is_some())
            }
        };
        rows.push((segments_to_string(path), class, shown(x), shown(y)));
    }
    rows.sort();
    (rows, differing)
}

fn engine(
    service: &str,
    reference: &Node,
    other: &Node,
    policy: &VariationPolicy,
    a: &Target,
    b: &Target,
) -> Vec<Row> {
    let mut rows: Vec<Row> = classify(
        service,
        Side {
            target: a,
            root: reference,
        },
        Side {
            target: b,
            root: other,
        },
        policy,
        today(),
    )
    .into_iter()
    .map(|f| {
        (
            segments_to_string(&f.path),
            f.class,
            shown(f.reference.map(|n| &n.value)),
            shown(f.other.map(|n| &n.value)),
        )
    })
    .collect();
    rows.sort();
    rows
}

// ---------------------------------------------------------------------------------------
// The property
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, failure_persistence: None, ..ProptestConfig::default() })]

    /// N injected differences of every kind are reported exactly (no false positive, no
    /// false negative) and classified as the variation rules say.
    #[test]
    fn the_engine_reports_exactly_the_injected_differences(
        seed in any::<u64>(),
        params in 20usize..=40,
        service in 0usize..3,
        (ta, tb) in (0usize..18, 1usize..18),
        into_reference in any::<bool>(),
        specs in prop::collection::vec((0usize..6, any::<usize>(), any::<usize>()), 1..=12),
        rule_specs in prop::collection::vec(rule_spec(), 0..=6),
    ) {
        let (service, targets, base) = generated(seed, params, service, ta);
        let a = targets[ta % targets.len()].clone();
        let b = targets[(ta + tb) % targets.len()].clone();
        prop_assert_ne!(&a, &b);

        let (changed, injections) = inject(&base, &specs);
        prop_assert_eq!(injections.len(), specs.len(), "every injection found a free site");
        let (reference, other) = if into_reference { (&changed, &base) } else { (&base, &changed) };

        // Path pools for the rules' globs.
        let (_, differing) = oracle(&service, reference, other, &[], &a, &b);
        let sites: Vec<Path> = injections.iter().map(|i| i.site.clone()).collect();
        let mut ancestors: Vec<Path> = sites
            .iter()
            .flat_map(|s| (1..s.len()).map(move |n| s[..n].to_vec()))
            .collect();
        ancestors.sort();
        ancestors.dedup();
        let unrelated: Vec<Path> = flatten(&base).into_keys().collect();
        let rules = build_rules(
            &rule_specs,
            &service,
            [&sites, &differing, &ancestors, &unrelated],
            &a,
            &b,
        );
        let yaml = policy_yaml(&rules);
        let policy = VariationPolicy::parse(yaml.as_bytes(), None)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{yaml}")))?;

        let (want, differing) = oracle(&service, reference, other, &rules, &a, &b);
        let got = engine(&service, reference, other, &policy, &a, &b);
        prop_assert_eq!(
            &got, &want,
            "\n{} vs {}, injected into the {} side: {:?}\n{}",
            a, b, if into_reference { "reference" } else { "other" }, injections, yaml
        );

        // The differences are exactly the injected ones: each differing leaf lies under
        // (or, for a container emptied or filled, above) an injection site, and every
        // injection shows.
        for d in &differing {
            prop_assert!(
                sites.iter().any(|s| overlaps(s, d)),
                "{} differs but nothing was injected there", segments_to_string(d)
            );
        }
        for i in &injections {
            prop_assert!(
                differing.iter().any(|d| overlaps(&i.site, d)),
                "{:?} at {} is not reported", i.kind, segments_to_string(&i.site)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// One example of each kind, as documentation
// ---------------------------------------------------------------------------------------

fn run(policy: &str, reference: &str, other: &str) -> Vec<(String, Class)> {
    let a = Target::parse("staging/aws/us-east-1").unwrap();
    let b = Target::parse("prod/aws/us-east-1").unwrap();
    let policy = VariationPolicy::parse(policy.as_bytes(), None).unwrap();
    engine("svc", &yaml(reference), &yaml(other), &policy, &a, &b)
        .into_iter()
        .map(|(p, c, _, _)| (p, c))
        .collect()
}

fn rows(want: &[(&str, Class)]) -> Vec<(String, Class)> {
    want.iter().map(|(p, c)| (p.to_string(), *c)).collect()
}

/// What changed, the other side's document, and the findings.
type Example = (&'static str, &'static str, &'static [(&'static str, Class)]);

const NO_RULES: &str = "variations: []\n";

#[test]
fn each_kind_of_difference_is_reported_leaf_by_leaf() {
    use Class::*;
    let base =
        "port: 8080\nhost: a\ndb: {pool: {max: 5, min: 1}, user: app}\nbrokers: [k1, k2, k3]\n";
    let cases: [Example; 9] = [
        (
            "changed scalar",
            "port: 8080\nhost: b\ndb: {pool: {max: 5, min: 1}, user: app}\nbrokers: [k1, k2, k3]\n",
            &[("host", Drift)],
        ),
        (
            "type change: int to string",
            "port: \"8080\"\nhost: a\ndb: {pool: {max: 5, min: 1}, user: app}\nbrokers: [k1, k2, k3]\n",
            &[("port", Drift)],
        ),
        (
            "type change: scalar to map (the scalar and the new leaves are one-sided)",
            "port: 8080\nhost: {name: a}\ndb: {pool: {max: 5, min: 1}, user: app}\nbrokers: [k1, k2, k3]\n",
            &[("host", Missing), ("host.name", Missing)],
        ),
        (
            "list change: element changed",
            "port: 8080\nhost: a\ndb: {pool: {max: 5, min: 1}, user: app}\nbrokers: [k1, kx, k3]\n",
            &[("brokers[1]", Drift)],
        ),
        (
            "list change: element removed (later elements shift)",
            "port: 8080\nhost: a\ndb: {pool: {max: 5, min: 1}, user: app}\nbrokers: [k1, k3]\n",
            &[("brokers[1]", Drift), ("brokers[2]", Missing)],
        ),
        (
            "list change: element appended",
            "port: 8080\nhost: a\ndb: {pool: {max: 5, min: 1}, user: app}\nbrokers: [k1, k2, k3, k4]\n",
            &[("brokers[3]", Missing)],
        ),
        (
            "missing key: every leaf under it",
            "port: 8080\nhost: a\nbrokers: [k1, k2, k3]\n",
            &[
                ("db.pool.max", Missing),
                ("db.pool.min", Missing),
                ("db.user", Missing),
            ],
        ),
        (
            "extra key: every leaf of the new subtree",
            "port: 8080\nhost: a\ndb: {pool: {max: 5, min: 1}, user: app}\nbrokers: [k1, k2, k3]\ntls: {ca: [x], verify: {}}\n",
            &[("tls.ca[0]", Missing), ("tls.verify", Missing)],
        ),
        (
            "nested map change",
            "port: 8080\nhost: a\ndb: {pool: {max: 9, min: 1}, user: app}\nbrokers: [k1, k2, k3]\n",
            &[("db.pool.max", Drift)],
        ),
    ];
    for (what, other, want) in cases {
        assert_eq!(run(NO_RULES, base, other), rows(want), "{what}");
    }
}

#[test]
fn rules_decide_the_class() {
    use Class::*;
    let policy = r#"variations:
  - {params: ["svc:db"], kind: may-differ, reason: own database}
  - {params: ["svc:db.pool.**"], kind: must-equal, reason: same sizing}
  - {params: ["*:**.host"], kind: must-differ, reason: never shared}
  - {params: ["svc:debug"], kind: may-be-absent, reason: dev only}
  - {params: ["svc:brokers"], kind: may-differ, reason: migration, expires: "2026-01-31"}
  - {params: ["svc:port"], kind: must-equal, envs: [dev], reason: out of scope}
"#;
    let reference =
        "port: 1\nhost: shared\ndb: {user: a, pool: {max: 5}}\nbrokers: [k1]\ndebug: true\n";
    let other = "port: 2\nhost: shared\ndb: {user: b, pool: {max: 6}}\nbrokers: [k1, k2]\n";
    assert_eq!(
        run(policy, reference, other),
        rows(&[
            ("brokers[1]", Expired),    // the covering list rule has expired
            ("db.pool.max", Violation), // the more specific rule wins
            ("db.user", Expected),      // a rule on a map covers what is inside
            ("debug", Expected),        // may be absent
            ("host", Violation),        // equal, but must differ
            ("port", Drift),            // the only rule is scoped to dev
        ])
    );
}

// ---------------------------------------------------------------------------------------
// Engine bugs this suite found (these fail until the engine is fixed)
// ---------------------------------------------------------------------------------------

/// `may-be-absent` excuses absence, never a changed value, so its expiry cannot turn a
/// changed value into `expired` ("a rule would allow it, but the rule has expired"): it
/// stays `drift`, as it is while the rule is valid.
#[test]
fn an_expired_may_be_absent_rule_does_not_excuse_a_changed_value() {
    let valid = "variations:\n  - {params: [\"svc:a\"], kind: may-be-absent, reason: r}\n";
    let expired = "variations:\n  - {params: [\"svc:a\"], kind: may-be-absent, reason: r, expires: \"2025-06-30\"}\n";
    assert_eq!(run(valid, "a: 1\n", "a: 2\n"), rows(&[("a", Class::Drift)]));
    assert_eq!(
        run(expired, "a: 1\n", "a: 2\n"),
        rows(&[("a", Class::Drift)])
    );
}

/// `0.0` and `-0.0` are equal values (`compare::diff` reports nothing), so drift reports
/// nothing either — and never both `expected` and `violation` for one leaf.
#[test]
fn minus_zero_equals_zero() {
    assert_eq!(
        strata_core::compare::diff(Some(&yaml("a: 0.0\n")), Some(&yaml("a: -0.0\n"))).len(),
        0
    );
    assert_eq!(run(NO_RULES, "a: 0.0\n", "a: -0.0\n"), rows(&[]));
    let must_differ = "variations:\n  - {params: [\"svc:a\"], kind: must-differ, reason: r}\n";
    assert_eq!(
        run(must_differ, "a: 0.0\n", "a: -0.0\n"),
        rows(&[("a", Class::Violation)])
    );
}
