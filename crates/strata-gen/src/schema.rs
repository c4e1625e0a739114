//! JSON Schema (2020-12, written as YAML) of one service's effective configuration.
//!
//! The schema is derived from the service's base tree and from the generators
//! of its leaves, which is what makes every effective configuration satisfy it:
//!
//! * overrides only re-set existing leaves, drawing from the leaf's own
//!   generator, so every map keeps exactly its base keys (`required` lists all
//!   of them, and `additionalProperties: false` is safe anywhere) and every
//!   leaf stays within its generator's range;
//! * a standalone `${ref:…}` resolves to the referenced leaf, whose generator
//!   the model records on the referring leaf;
//! * any other string holding `${` resolves to a string that keeps the
//!   template's literal text, so it gets `type: string`, a `minLength` of the
//!   literal text and a `pattern` anchoring its literal prefix.
//!
//! `x-strata-validations` rules (about one per 50 base leaves, at least one)
//! hold by construction: generator ranges, orderings of integer leaves whose
//! ranges do not overlap, vocabularies, literal prefixes, non-empty strings and
//! lists, and presence of base keys. They read only plain leaves (never a
//! reference or a template), so they also hold on the unresolved base layer.

use std::fmt::Write as _;

use crate::emit::quoted;
use crate::model::{
    Key, MAP_LIST_MAX_ITEMS, Node, SCALAR_LIST_LEN, Scalar, Service, StrGen, ValueGen, service_name,
};
use crate::rng::Rng;

/// One base leaf in this many gets an `x-strata-validations` rule.
const LEAVES_PER_RULE: usize = 50;

/// How far a map's integer leaf looks ahead among its siblings for an
/// ordering rule partner (keeps candidate search linear).
const ORDER_WINDOW: usize = 8;

/// The CEL rule a [`Rule`] stands for; `k` is the key of the rule's child.
#[derive(Clone, Copy, Debug)]
enum RuleKind {
    /// `lo <= k <= hi` (an integer leaf's generator range).
    IntRange(i64, i64),
    /// `self.k <= self.OTHER`, OTHER being the child with that index: `k`'s
    /// range ends where OTHER's begins (or earlier).
    IntOrder(u32),
    /// `k in [...]` (a string leaf drawn from a vocabulary).
    OneOf(&'static [&'static str]),
    /// `k.startsWith(...)`.
    Prefix(&'static str),
    /// `size(k) > 0` (a string leaf).
    NonEmpty,
    /// `size(k) >= 1` (a list).
    ListNonEmpty,
    /// `has(self.k)`.
    Has,
    /// `size(self) == 0` on a service without parameters.
    EmptyRoot,
}

impl RuleKind {
    /// Whether the rule may sit on the leaf itself (`self` = the leaf).
    fn leaf_capable(self) -> bool {
        !matches!(
            self,
            RuleKind::IntOrder(_) | RuleKind::Has | RuleKind::EmptyRoot
        )
    }
}

/// A rule on map `map` (pre-order index, root = 0) about its child `child`,
/// written on the map or, if `on_leaf`, on the child's own schema.
#[derive(Clone, Copy, Debug)]
struct Rule {
    map: u32,
    child: u32,
    on_leaf: bool,
    kind: RuleKind,
}

impl Rule {
    /// Sort and lookup key: leaf rules by child, then the map's own rules.
    fn slot(&self) -> (u32, u32, u32) {
        let own = if self.on_leaf { self.child } else { u32::MAX };
        (self.map, own, self.child)
    }
}

/// What a string leaf holding `${` resolves to.
enum Template<'a> {
    /// A whole-value `${ref:…}`: the referenced value, typed.
    Standalone,
    /// A string: `literal` characters of fixed text starting with `prefix`.
    Text { literal: usize, prefix: &'a str },
}

fn template(s: &str) -> Option<Template<'_>> {
    let first = s.find("${")?;
    if first == 0 && s.starts_with("${ref:") && s.ends_with('}') && !s[2..].contains("${") {
        return Some(Template::Standalone);
    }
    let mut literal = 0;
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        literal += rest[..i].chars().count();
        rest = match rest[i..].find('}') {
            Some(j) => &rest[i + j + 1..],
            None => "",
        };
    }
    literal += rest.chars().count();
    Some(Template::Text {
        literal,
        prefix: &s[..first],
    })
}

/// True if the leaf is a plain generated value (not a reference or template).
fn is_plain(v: &Scalar) -> bool {
    !matches!(v, Scalar::Str(s) if s.contains("${"))
}

/// Candidate rules of a map and, recursively, of its child maps.
fn collect(entries: &[(Key, Node)], next_id: &mut u32, out: &mut Vec<Rule>) {
    let map = *next_id;
    *next_id += 1;
    let rule = |child: usize, kind| Rule {
        map,
        child: child as u32,
        on_leaf: false,
        kind,
    };
    let mut ints: Vec<(usize, i64, i64)> = Vec::new();
    for (ci, (_, node)) in entries.iter().enumerate() {
        match node {
            Node::Map(children) => {
                out.push(rule(ci, RuleKind::Has));
                collect(children, next_id, out);
            }
            Node::List(items) if !items.is_empty() => out.push(rule(ci, RuleKind::ListNonEmpty)),
            Node::List(_) => out.push(rule(ci, RuleKind::Has)),
            Node::Leaf(v, _) if !is_plain(v) => {
                let kind = match v {
                    Scalar::Str(s) => match template(s) {
                        Some(Template::Text { .. }) => RuleKind::NonEmpty,
                        _ => RuleKind::Has,
                    },
                    _ => RuleKind::Has,
                };
                out.push(rule(ci, kind));
            }
            Node::Leaf(_, g) => {
                let kind = match *g {
                    ValueGen::Int(lo, hi) => {
                        ints.push((ci, lo, hi));
                        RuleKind::IntRange(lo, hi)
                    }
                    ValueGen::Float(..) | ValueGen::Bool => RuleKind::Has,
                    ValueGen::Str(StrGen::Choice(options)) => RuleKind::OneOf(options),
                    ValueGen::Str(StrGen::Origin) => RuleKind::Prefix("https://"),
                    ValueGen::Str(StrGen::Path) => RuleKind::Prefix("/api/v"),
                    ValueGen::Str(StrGen::Host | StrGen::Ident | StrGen::Version) => {
                        RuleKind::NonEmpty
                    }
                };
                out.push(rule(ci, kind));
            }
        }
    }
    for (i, &(a, a_lo, a_hi)) in ints.iter().enumerate() {
        for &(b, b_lo, b_hi) in ints.iter().skip(i + 1).take(ORDER_WINDOW) {
            if a_hi <= b_lo {
                out.push(rule(a, RuleKind::IntOrder(b as u32)));
            } else if b_hi <= a_lo {
                out.push(rule(b, RuleKind::IntOrder(a as u32)));
            }
        }
    }
}

/// Chooses about one rule per [`LEAVES_PER_RULE`] leaves (at least one),
/// preferring cross-field orderings, then range/vocabulary/prefix rules, then
/// non-emptiness and presence. Sorted by [`Rule::slot`].
fn choose_rules(root: &[(Key, Node)], params: usize, rng: &mut Rng) -> Vec<Rule> {
    if root.is_empty() {
        return vec![Rule {
            map: 0,
            child: u32::MAX,
            on_leaf: false,
            kind: RuleKind::EmptyRoot,
        }];
    }
    let mut cands = Vec::with_capacity(params + params / 4 + 16);
    collect(root, &mut 0, &mut cands);
    let mut pools: [Vec<Rule>; 3] = Default::default();
    for c in cands {
        let tier = match c.kind {
            RuleKind::IntOrder(_) => 0,
            RuleKind::IntRange(..) | RuleKind::OneOf(_) | RuleKind::Prefix(_) => 1,
            _ => 2,
        };
        pools[tier].push(c);
    }
    let n = (params / LEAVES_PER_RULE).max(1);
    let quotas = [(n / 4).max(1), (n * 3).div_ceil(4).max(1), n];
    let mut chosen: Vec<Rule> = Vec::with_capacity(n);
    let mut taken = [0usize; 3];
    // First pass: fill each tier up to its cumulative quota; second pass:
    // make up for short tiers from whatever is left, best tier first.
    for pass in 0..2 {
        for tier in 0..3 {
            let limit = if pass == 0 { quotas[tier] } else { n };
            let pool = &mut pools[tier];
            while chosen.len() < limit && taken[tier] < pool.len() {
                // Partial Fisher-Yates: pool[..taken] holds the picks so far.
                let j = taken[tier] + rng.below_usize(pool.len() - taken[tier]);
                pool.swap(taken[tier], j);
                chosen.push(pool[taken[tier]]);
                taken[tier] += 1;
            }
        }
    }
    for r in &mut chosen {
        r.on_leaf = r.kind.leaf_capable() && rng.chance(1, 3);
    }
    chosen.sort_by_key(Rule::slot);
    chosen
}

/// Appends `s` with regex metacharacters escaped.
fn regex_escaped(buf: &mut String, s: &str) {
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            buf.push('\\');
        }
        buf.push(c);
    }
}

fn key_text(key: Key) -> String {
    let mut s = String::new();
    key.write(&mut s);
    s
}

fn pad(buf: &mut String, n: usize) {
    for _ in 0..n {
        buf.push(' ');
    }
}

struct Writer<'a> {
    buf: String,
    rules: Vec<Rule>,
    next_map: u32,
    rng: Rng,
    /// `$defs` entries: name and the fields of a list item.
    defs: Vec<(&'static str, &'a [(Key, Node)])>,
}

impl<'a> Writer<'a> {
    /// Rules at `(map, slot)`, `slot` being a child index or `u32::MAX` for
    /// the map's own rules.
    fn rules_at(&self, map: u32, slot: u32) -> &[Rule] {
        let lo = self.rules.partition_point(|r| r.slot() < (map, slot, 0));
        let hi = self
            .rules
            .partition_point(|r| r.slot() <= (map, slot, u32::MAX));
        &self.rules[lo..hi]
    }

    /// CEL expression, message and `fieldPath` (for rules on the map) of a
    /// rule about a child of `entries`.
    fn rule_text(entries: &[(Key, Node)], rule: &Rule) -> (String, String, Option<String>) {
        if let RuleKind::EmptyRoot = rule.kind {
            return (
                "size(self) == 0".to_owned(),
                "this service has no parameters".to_owned(),
                None,
            );
        }
        let k = key_text(entries[rule.child as usize].0);
        let f = if rule.on_leaf {
            "self".to_owned()
        } else {
            format!("self.{k}")
        };
        let (expr, message) = match rule.kind {
            RuleKind::IntRange(lo, hi) => (
                format!("{f} >= {lo} && {f} <= {hi}"),
                format!("{k} must be between {lo} and {hi}"),
            ),
            RuleKind::IntOrder(other) => {
                let o = key_text(entries[other as usize].0);
                (
                    format!("self.{k} <= self.{o}"),
                    format!("{k} must not exceed {o}"),
                )
            }
            RuleKind::OneOf(options) => {
                let list = options
                    .iter()
                    .map(|o| format!("'{o}'"))
                    .collect::<Vec<_>>()
                    .join(", ");
                (
                    format!("{f} in [{list}]"),
                    format!("{k} must be one of {}", options.join(", ")),
                )
            }
            RuleKind::Prefix(p) => (
                format!("{f}.startsWith('{p}')"),
                format!("{k} must start with {p}"),
            ),
            RuleKind::NonEmpty => (format!("size({f}) > 0"), format!("{k} must not be empty")),
            RuleKind::ListNonEmpty => (
                format!("size({f}) >= 1"),
                format!("{k} needs at least one item"),
            ),
            RuleKind::Has => (format!("has(self.{k})"), format!("{k} must be set")),
            RuleKind::EmptyRoot => unreachable!("handled above"),
        };
        let field = (!rule.on_leaf).then(|| format!(".{k}"));
        (expr, message, field)
    }

    /// Writes the schema of a map whose schema keys sit at `indent`.
    fn map(&mut self, entries: &'a [(Key, Node)], indent: usize) {
        let id = self.next_map;
        self.next_map += 1;
        pad(&mut self.buf, indent);
        self.buf.push_str("type: object\n");
        if id == 0 || self.rng.chance(1, 2) {
            pad(&mut self.buf, indent);
            self.buf.push_str("additionalProperties: false\n");
        }
        if !entries.is_empty() {
            pad(&mut self.buf, indent);
            self.buf.push_str("required: [");
            for (i, (key, _)) in entries.iter().enumerate() {
                if i > 0 {
                    self.buf.push_str(", ");
                }
                key.write(&mut self.buf);
            }
            self.buf.push_str("]\n");
            pad(&mut self.buf, indent);
            self.buf.push_str("properties:\n");
        }
        for (ci, (key, node)) in entries.iter().enumerate() {
            pad(&mut self.buf, indent + 2);
            key.write(&mut self.buf);
            if let Node::Map(children) = node {
                self.buf.push_str(":\n");
                self.map(children, indent + 4);
                continue;
            }
            self.buf.push_str(": {");
            match node {
                Node::Leaf(v, g) => leaf(&mut self.buf, v, *g),
                Node::List(items) => self.list(*key, items),
                Node::Map(_) => unreachable!("handled above"),
            }
            let rules = self.rules_at(id, ci as u32);
            if !rules.is_empty() {
                let texts: Vec<_> = rules.iter().map(|r| Self::rule_text(entries, r)).collect();
                self.buf.push_str(", x-strata-validations: [");
                for (i, (expr, message, _)) in texts.iter().enumerate() {
                    if i > 0 {
                        self.buf.push_str(", ");
                    }
                    self.buf.push_str("{rule: ");
                    quoted(&mut self.buf, expr);
                    self.buf.push_str(", message: ");
                    quoted(&mut self.buf, message);
                    self.buf.push('}');
                }
                self.buf.push(']');
            }
            self.buf.push_str("}\n");
        }
        let rules = self.rules_at(id, u32::MAX);
        if !rules.is_empty() {
            let texts: Vec<_> = rules.iter().map(|r| Self::rule_text(entries, r)).collect();
            pad(&mut self.buf, indent);
            self.buf.push_str("x-strata-validations:\n");
            for (expr, message, field) in texts {
                pad(&mut self.buf, indent + 2);
                self.buf.push_str("- rule: ");
                quoted(&mut self.buf, &expr);
                self.buf.push('\n');
                pad(&mut self.buf, indent + 4);
                self.buf.push_str("message: ");
                quoted(&mut self.buf, &message);
                self.buf.push('\n');
                if let Some(field) = field {
                    pad(&mut self.buf, indent + 4);
                    self.buf.push_str("fieldPath: ");
                    quoted(&mut self.buf, &field);
                    self.buf.push('\n');
                }
            }
        }
    }

    /// Body of a list's flow schema. Lists of scalars keep their length and
    /// element generator in every layer; lists of maps are never overridden.
    fn list(&mut self, key: Key, items: &'a [Node]) {
        self.buf.push_str("type: array");
        match items.first() {
            None => {}
            Some(Node::Leaf(_, g)) => {
                let _ = write!(
                    self.buf,
                    ", minItems: 1, maxItems: {}, items: {{",
                    SCALAR_LIST_LEN.1
                );
                g.write_schema(&mut self.buf);
                self.buf.push('}');
            }
            Some(Node::Map(fields)) => {
                let stem = key.stem();
                let name = stem.strip_suffix('s').unwrap_or(stem);
                if !self.defs.iter().any(|(n, _)| *n == name) {
                    self.defs.push((name, fields));
                }
                let _ = write!(
                    self.buf,
                    ", minItems: 1, maxItems: {MAP_LIST_MAX_ITEMS}, items: {{$ref: \"#/$defs/{name}\"}}"
                );
            }
            Some(Node::List(_)) => {} // not generated
        }
    }

    /// `$defs`: item schemas of lists of maps (all fields plain leaves).
    fn defs(&mut self) {
        if self.defs.is_empty() {
            return;
        }
        self.buf.push_str("$defs:\n");
        for (name, fields) in std::mem::take(&mut self.defs) {
            let _ = write!(
                self.buf,
                "  {name}:\n    type: object\n    additionalProperties: false\n    required: ["
            );
            for (i, (key, _)) in fields.iter().enumerate() {
                if i > 0 {
                    self.buf.push_str(", ");
                }
                key.write(&mut self.buf);
            }
            self.buf.push_str("]\n    properties:\n");
            for (key, node) in fields {
                self.buf.push_str("      ");
                key.write(&mut self.buf);
                self.buf.push_str(": {");
                if let Node::Leaf(v, g) = node {
                    leaf(&mut self.buf, v, *g);
                }
                self.buf.push_str("}\n");
            }
        }
    }
}

/// Body of a scalar leaf's flow schema.
fn leaf(buf: &mut String, v: &Scalar, g: ValueGen) {
    match v {
        Scalar::Str(s) => match template(s) {
            Some(Template::Text { literal, prefix }) => {
                let _ = write!(buf, "type: string, minLength: {}", literal.max(1));
                if !prefix.is_empty() {
                    let mut pattern = String::from("^");
                    regex_escaped(&mut pattern, prefix);
                    buf.push_str(", pattern: ");
                    quoted(buf, &pattern);
                }
            }
            Some(Template::Standalone) | None => g.write_schema(buf),
        },
        _ => g.write_schema(buf),
    }
}

/// `schemas/svc-NNNN.yaml` of service `index`.
pub(crate) fn schema_file(seed: u64, index: usize, params: usize, svc: &Service) -> String {
    let name = service_name(index);
    let mut rng = Rng::stream(seed, index as u64, u64::MAX - 1);
    let rules = choose_rules(&svc.root, params, &mut rng);
    let mut w = Writer {
        buf: String::with_capacity(512 + params * 80),
        rules,
        next_map: 0,
        rng,
        defs: Vec::new(),
    };
    let _ = writeln!(
        w.buf,
        "# JSON Schema of {name}'s effective configuration, generated by strata-gen (seed {seed}).\n\
         $schema: \"https://json-schema.org/draft/2020-12/schema\"\n\
         title: \"{name}\"\n\
         description: \"Effective configuration of {name} (synthetic). Satisfied by every target.\""
    );
    w.map(&svc.root, 0);
    w.defs();
    w.buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_classified() {
        assert!(matches!(
            template("${ref:svc-0001:db.port}"),
            Some(Template::Standalone)
        ));
        match template("http://${ref:svc-0001:db.host}:8080/health") {
            Some(Template::Text { literal, prefix }) => {
                assert_eq!((literal, prefix), (19, "http://"));
            }
            _ => panic!("embedded reference is text"),
        }
        match template("${vars.company}-${service}") {
            Some(Template::Text { literal, prefix }) => assert_eq!((literal, prefix), (1, "")),
            _ => panic!("interpolation is text"),
        }
        assert!(template("plain").is_none());
    }

    #[test]
    fn regex_escaping() {
        let mut s = String::new();
        regex_escaped(&mut s, "a.b/c(d)");
        assert_eq!(s, r"a\.b/c\(d\)");
    }
}
