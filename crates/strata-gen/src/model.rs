//! In-memory model of one service's base layer, and how it is built.
//!
//! A service is built once, then serialized as its base layer and sampled for
//! the override layers, so the (comparatively expensive) tree construction
//! happens once per service, not once per file.

use std::fmt::Write as _;

use crate::emit;
use crate::rng::Rng;

/// A map key: a vocabulary stem plus a disambiguating suffix (`pool`, `pool_2`…).
/// Keys are plain identifiers (`[a-z][a-z0-9_]*`), safe unquoted in YAML.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    stem: &'static str,
    n: u32,
}

impl Key {
    /// The vocabulary stem, without the `_N` suffix.
    pub(crate) fn stem(self) -> &'static str {
        self.stem
    }

    pub(crate) fn write(self, buf: &mut String) {
        buf.push_str(self.stem);
        if self.n > 0 {
            let _ = write!(buf, "_{}", self.n + 1);
        }
    }
}

/// A scalar value. Floats are stored as hundredths so that they always print
/// with a decimal point and round-trip exactly.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Scalar {
    Int(i64),
    Float(i64),
    Bool(bool),
    Str(String),
}

/// How to draw a fresh value of a leaf; kept so overrides have the same type
/// and a plausible value.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ValueGen {
    Int(i64, i64),
    /// Hundredths, inclusive bounds.
    Float(i64, i64),
    Bool,
    Str(StrGen),
}

/// Families of generated string values (none of which contain `${`).
#[derive(Clone, Copy, Debug)]
pub(crate) enum StrGen {
    Choice(&'static [&'static str]),
    Host,
    Path,
    Version,
    Ident,
    Origin,
}

/// Words of generated hosts, idents and origins (lowercase ASCII letters).
pub(crate) const WORDS: &[&str] = &[
    "alpha", "amber", "aspen", "birch", "cedar", "coral", "delta", "ember", "falcon", "fjord",
    "garnet", "harbor", "indigo", "juniper", "kestrel", "lagoon", "maple", "nimbus", "onyx",
    "orchid", "pine", "quartz", "raven", "sable", "summit", "tundra", "umber", "violet", "willow",
    "zephyr",
];

impl ValueGen {
    pub(crate) fn sample(self, rng: &mut Rng) -> Scalar {
        match self {
            ValueGen::Int(lo, hi) => Scalar::Int(rng.range(lo, hi)),
            ValueGen::Float(lo, hi) => Scalar::Float(rng.range(lo, hi)),
            ValueGen::Bool => Scalar::Bool(rng.chance(1, 2)),
            ValueGen::Str(g) => Scalar::Str(g.sample(rng)),
        }
    }
}

impl StrGen {
    fn sample(self, rng: &mut Rng) -> String {
        match self {
            StrGen::Choice(options) => (*rng.pick(options)).to_owned(),
            StrGen::Host => format!("{}-{}.internal", rng.pick(WORDS), rng.range(1, 99)),
            StrGen::Path => format!("/api/v{}/{}", rng.range(1, 4), rng.pick(WORDS)),
            StrGen::Version => format!(
                "{}.{}.{}",
                rng.range(0, 9),
                rng.range(0, 30),
                rng.range(0, 99)
            ),
            StrGen::Ident => format!("{}-{:04x}", rng.pick(WORDS), rng.below(0x1_0000)),
            StrGen::Origin => format!("https://{}.example.com", rng.pick(WORDS)),
        }
    }
}

impl ValueGen {
    /// Writes the body of a flow-style JSON Schema mapping (no braces) that
    /// every value of [`ValueGen::sample`] satisfies, e.g.
    /// `type: integer, minimum: 1024, maximum: 65535`. Keep in sync with
    /// `sample`.
    pub(crate) fn write_schema(self, buf: &mut String) {
        let (min_word, max_word) = word_len_bounds();
        match self {
            ValueGen::Int(lo, hi) => {
                let _ = write!(buf, "type: integer, minimum: {lo}, maximum: {hi}");
            }
            ValueGen::Float(lo, hi) => {
                buf.push_str("type: number, minimum: ");
                emit::scalar(buf, &Scalar::Float(lo));
                buf.push_str(", maximum: ");
                emit::scalar(buf, &Scalar::Float(hi));
            }
            ValueGen::Bool => buf.push_str("type: boolean"),
            ValueGen::Str(StrGen::Choice(options)) => {
                buf.push_str("type: string, enum: [");
                for (i, o) in options.iter().enumerate() {
                    if i > 0 {
                        buf.push_str(", ");
                    }
                    emit::quoted(buf, o);
                }
                buf.push(']');
            }
            ValueGen::Str(StrGen::Host) => {
                // WORD-N.internal, N in 1..=99.
                let _ = write!(
                    buf,
                    "type: string, minLength: {}, maxLength: {}, pattern: ",
                    min_word + 11,
                    max_word + 12
                );
                emit::quoted(buf, r"^[a-z]+-[1-9][0-9]?\.internal$");
            }
            ValueGen::Str(StrGen::Path) => {
                buf.push_str("type: string, pattern: ");
                emit::quoted(buf, "^/api/v[1-4]/[a-z]+$");
            }
            ValueGen::Str(StrGen::Version) => {
                buf.push_str("type: string, maxLength: 7, pattern: ");
                emit::quoted(buf, r"^[0-9]\.[0-9]{1,2}\.[0-9]{1,2}$");
            }
            ValueGen::Str(StrGen::Ident) => {
                let _ = write!(
                    buf,
                    "type: string, minLength: {}, maxLength: {}, pattern: ",
                    min_word + 5,
                    max_word + 5
                );
                emit::quoted(buf, "^[a-z]+-[0-9a-f]{4}$");
            }
            ValueGen::Str(StrGen::Origin) => {
                buf.push_str("type: string, pattern: ");
                emit::quoted(buf, r"^https://[a-z]+\.example\.com$");
            }
        }
    }
}

/// Shortest and longest entry of [`WORDS`], in bytes (= characters).
fn word_len_bounds() -> (usize, usize) {
    WORDS.iter().fold((usize::MAX, 0), |(lo, hi), w| {
        (lo.min(w.len()), hi.max(w.len()))
    })
}

/// A leaf name with the generator of its values.
struct LeafSpec {
    name: &'static str,
    value: ValueGen,
}

const fn leaf(name: &'static str, value: ValueGen) -> LeafSpec {
    LeafSpec { name, value }
}

/// Top-level sections (always maps; leaves therefore sit at depth >= 2).
const SECTIONS: &[&str] = &[
    "db",
    "cache",
    "queue",
    "http",
    "features",
    "limits",
    "observability",
    "auth",
    "storage",
    "scaling",
    "logging",
    "tracing",
    "deploy",
    "network",
    "security",
    "search",
];

const SUBSECTIONS: &[&str] = &[
    "pool",
    "primary",
    "replica",
    "client",
    "server",
    "retry",
    "timeouts",
    "tls_settings",
    "rate",
    "metrics",
    "alerts",
    "shards",
    "consumer",
    "producer",
    "circuit_breaker",
    "upstream",
    "defaults",
    "read",
    "write",
    "admin",
    "health",
    "exporters",
    "session",
    "quota",
];

const INT_LEAVES: &[LeafSpec] = &[
    leaf("port", ValueGen::Int(1024, 65535)),
    leaf("max_connections", ValueGen::Int(10, 2000)),
    leaf("timeout_ms", ValueGen::Int(50, 60000)),
    leaf("retries", ValueGen::Int(0, 10)),
    leaf("pool_size", ValueGen::Int(1, 256)),
    leaf("workers", ValueGen::Int(1, 64)),
    leaf("ttl_seconds", ValueGen::Int(30, 86400)),
    leaf("batch_size", ValueGen::Int(1, 5000)),
    leaf("max_items", ValueGen::Int(10, 100_000)),
    leaf("replicas", ValueGen::Int(1, 12)),
    leaf("buffer_kb", ValueGen::Int(4, 4096)),
    leaf("concurrency", ValueGen::Int(1, 128)),
    leaf("burst", ValueGen::Int(1, 1000)),
    leaf("interval_s", ValueGen::Int(1, 3600)),
    leaf("max_body_kb", ValueGen::Int(16, 10240)),
    leaf("queue_depth", ValueGen::Int(10, 10000)),
];

const FLOAT_LEAVES: &[LeafSpec] = &[
    leaf("sample_rate", ValueGen::Float(1, 100)),
    leaf("backoff_factor", ValueGen::Float(100, 400)),
    leaf("cpu_limit", ValueGen::Float(25, 800)),
    leaf("threshold", ValueGen::Float(1, 99)),
    leaf("jitter", ValueGen::Float(0, 50)),
    leaf("weight", ValueGen::Float(1, 100)),
    leaf("error_budget", ValueGen::Float(1, 500)),
    leaf("memory_gb", ValueGen::Float(50, 6400)),
];

const BOOL_LEAVES: &[LeafSpec] = &[
    leaf("enabled", ValueGen::Bool),
    leaf("tls", ValueGen::Bool),
    leaf("compress", ValueGen::Bool),
    leaf("strict", ValueGen::Bool),
    leaf("verbose", ValueGen::Bool),
    leaf("dry_run", ValueGen::Bool),
    leaf("keep_alive", ValueGen::Bool),
    leaf("read_only", ValueGen::Bool),
];

const STR_LEAVES: &[LeafSpec] = &[
    leaf("host", ValueGen::Str(StrGen::Host)),
    leaf("endpoint", ValueGen::Str(StrGen::Path)),
    leaf("version", ValueGen::Str(StrGen::Version)),
    leaf("name", ValueGen::Str(StrGen::Ident)),
    leaf(
        "mode",
        ValueGen::Str(StrGen::Choice(&["active", "passive", "standby"])),
    ),
    leaf(
        "level",
        ValueGen::Str(StrGen::Choice(&["debug", "info", "warn", "error"])),
    ),
    leaf(
        "strategy",
        ValueGen::Str(StrGen::Choice(&[
            "round_robin",
            "least_conn",
            "random",
            "consistent_hash",
        ])),
    ),
    leaf(
        "codec",
        ValueGen::Str(StrGen::Choice(&["gzip", "zstd", "snappy", "none"])),
    ),
    leaf(
        "log_format",
        ValueGen::Str(StrGen::Choice(&["json", "text", "logfmt"])),
    ),
];

/// Length bounds (inclusive) of generated lists of scalars; overrides keep the length.
pub(crate) const SCALAR_LIST_LEN: (usize, usize) = (2, 4);

/// Most items in a generated list of maps (at least one).
pub(crate) const MAP_LIST_MAX_ITEMS: usize = 3;

/// Lists of scalars: the spec gives the element generator.
const LIST_LEAVES: &[LeafSpec] = &[
    leaf("hosts", ValueGen::Str(StrGen::Host)),
    leaf("ports", ValueGen::Int(1024, 65535)),
    leaf("allowed_origins", ValueGen::Str(StrGen::Origin)),
    leaf(
        "tags",
        ValueGen::Str(StrGen::Choice(&[
            "critical", "internal", "pci", "beta", "legacy",
        ])),
    ),
    leaf("weights", ValueGen::Float(1, 100)),
    leaf("retry_codes", ValueGen::Int(400, 599)),
];

/// Lists of maps: a name and the fields of every item.
const LIST_MAP_LEAVES: &[(&str, &[LeafSpec])] = &[
    (
        "backends",
        &[
            leaf("host", ValueGen::Str(StrGen::Host)),
            leaf("port", ValueGen::Int(1024, 65535)),
            leaf("weight", ValueGen::Float(1, 100)),
        ],
    ),
    (
        "rules",
        &[
            leaf("path", ValueGen::Str(StrGen::Path)),
            leaf("limit", ValueGen::Int(1, 10000)),
            leaf("enabled", ValueGen::Bool),
        ],
    ),
    (
        "routes",
        &[
            leaf("prefix", ValueGen::Str(StrGen::Path)),
            leaf("timeout_ms", ValueGen::Int(50, 30000)),
            leaf("retries", ValueGen::Int(0, 5)),
        ],
    ),
];

/// Templates of interpolated strings with the key stem they are stored under.
/// The first one uses `${env}`, `${region}` and `${vars.company}` and is always
/// used for a service's first interpolated leaf. Every `${vars.NAME}` used here
/// is defined for every target.
const INTERP_TEMPLATES: &[(&str, &str)] = &[
    (
        "resource_prefix",
        "${vars.company}-${service}-${env}-${region}",
    ),
    ("dns_name", "${service}.${env}.${region}.${vars.dns_suffix}"),
    (
        "public_url",
        "https://${service}.${env}.${vars.company}.example/api",
    ),
    ("label", "${vars.company}/${service}/${env}/${vars.tier}"),
    (
        "log_path",
        "/var/log/${vars.company}/${service}-${region}.log",
    ),
    ("placement", "${provider}-${region}-az${vars.az_count}"),
];

/// Key stems of list-element reference targets, when referenced standalone.
const LIST_ITEM_REF_STEM: &str = "upstream_item";

/// A tree node. Maps keep insertion order, which is the output order.
#[derive(Clone, Debug)]
pub(crate) enum Node {
    Map(Vec<(Key, Node)>),
    List(Vec<Node>),
    /// A scalar and how its values are drawn in every layer. A string holding
    /// `${` is an interpolation or a reference (generated values never contain
    /// `${`): for a standalone `${ref:…}` the generator is the referenced
    /// leaf's; for other templates it is meaningless.
    Leaf(Scalar, ValueGen),
}

/// The shape of an overridable unit: a map-keyed scalar, or a map-keyed list
/// of scalars (lists replace on merge, so a list is overridden as a whole).
#[derive(Clone, Copy, Debug)]
pub(crate) enum UnitKind {
    Scalar(ValueGen),
    List(ValueGen, u32),
}

/// What a map-keyed scalar slot has become.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Plain,
    Ref,
    Interp,
}

/// A map-keyed scalar or list of scalars, located by key path and child-index path.
#[derive(Clone, Debug)]
pub(crate) struct Unit {
    keys: (u32, u32),
    idx: (u32, u32),
    pub(crate) kind: UnitKind,
    pub(crate) role: Role,
}

/// One service's base layer plus the indexes needed to derive overrides.
pub(crate) struct Service {
    pub(crate) root: Vec<(Key, Node)>,
    key_arena: Vec<Key>,
    idx_arena: Vec<u32>,
    pub(crate) units: Vec<Unit>,
    /// Indices into `units` of the plain (overridable) units, ascending.
    pub(crate) plain: Vec<u32>,
}

/// Leaves that later services may reference: their path (`a.b.c` or
/// `a.b.list[1]`), a key stem for a standalone reference to them, and the
/// generator of their values (in every layer).
pub(crate) type RefTargets = Vec<(String, &'static str, ValueGen)>;

/// Maximum number of reference targets remembered per service.
const MAX_REF_TARGETS: usize = 8;

/// Per-map key allocator: the n-th use of a stem gets suffix `_n`.
#[derive(Default)]
struct Names(Vec<(&'static str, u32)>);

impl Names {
    fn key(&mut self, stem: &'static str) -> Key {
        for (s, n) in &mut self.0 {
            if *s == stem {
                *n += 1;
                return Key { stem, n: *n };
            }
        }
        self.0.push((stem, 0));
        Key { stem, n: 0 }
    }
}

/// Splits `total` into `parts` random positive parts (`total >= parts >= 1`).
fn split(rng: &mut Rng, total: usize, parts: usize) -> Vec<usize> {
    debug_assert!(parts >= 1 && total >= parts);
    let weights: Vec<usize> = (0..parts).map(|_| rng.range_usize(1, 4)).collect();
    let sum: usize = weights.iter().sum();
    let spare = total - parts;
    let mut out: Vec<usize> = weights.iter().map(|w| 1 + spare * w / sum).collect();
    let mut left = total - out.iter().sum::<usize>();
    let mut i = 0;
    while left > 0 {
        out[i % parts] += 1;
        left -= 1;
        i += 1;
    }
    out
}

struct Builder<'r> {
    rng: &'r mut Rng,
    scalars_emitted: usize,
}

impl Builder<'_> {
    /// Root map with exactly `budget` leaves.
    fn root(&mut self, budget: usize) -> Vec<(Key, Node)> {
        if budget == 0 {
            return Vec::new();
        }
        let count = (budget / 5).clamp(1, SECTIONS.len());
        let mut order: Vec<&'static str> = SECTIONS.to_vec();
        for i in 0..count {
            let j = i + self.rng.below_usize(order.len() - i);
            order.swap(i, j);
        }
        let mut names = Names::default();
        split(self.rng, budget, count)
            .into_iter()
            .zip(order)
            .map(|(part, name)| (names.key(name), self.section(2, part)))
            .collect()
    }

    /// A map whose keys are at path depth `depth` (2..=5) with exactly `budget` leaves.
    fn section(&mut self, depth: usize, budget: usize) -> Node {
        let mut entries = Vec::new();
        let mut names = Names::default();
        let leaves_only = depth >= 5 || budget <= 3 || (budget <= 8 && self.rng.chance(1, 3));
        if leaves_only {
            self.fill(&mut entries, &mut names, depth, budget);
        } else {
            let direct = self.rng.range_usize(1, budget / 2);
            let rest = budget - direct;
            let subs = (rest / 4).clamp(1, 8);
            self.fill(&mut entries, &mut names, depth, direct);
            for part in split(self.rng, rest, subs) {
                let stem = *self.rng.pick(SUBSECTIONS);
                let key = names.key(stem);
                let child = self.section(depth + 1, part);
                entries.push((key, child));
            }
        }
        Node::Map(entries)
    }

    /// Appends map-keyed leaves totalling exactly `budget` leaves.
    fn fill(&mut self, out: &mut Vec<(Key, Node)>, names: &mut Names, depth: usize, budget: usize) {
        let mut rem = budget;
        while rem > 0 {
            // The first two leaves of a service are plain scalars so that a
            // service always has room for a reference and an overridable leaf.
            let free = self.scalars_emitted >= 2;
            let roll = self.rng.below(100);
            if free && depth <= 4 && rem >= 4 && roll < 2 {
                let (name, fields) = *self.rng.pick(LIST_MAP_LEAVES);
                let max_items = (rem / fields.len()).min(MAP_LIST_MAX_ITEMS);
                let items = self.rng.range_usize(1, max_items);
                let list = (0..items)
                    .map(|_| {
                        Node::Map(
                            fields
                                .iter()
                                .map(|f| {
                                    let key = Key { stem: f.name, n: 0 };
                                    (key, Node::Leaf(f.value.sample(self.rng), f.value))
                                })
                                .collect(),
                        )
                    })
                    .collect();
                out.push((names.key(name), Node::List(list)));
                rem -= items * fields.len();
            } else if free && rem >= SCALAR_LIST_LEN.0 && roll < 10 {
                let spec = self.rng.pick(LIST_LEAVES);
                let len = self
                    .rng
                    .range_usize(SCALAR_LIST_LEN.0, rem.min(SCALAR_LIST_LEN.1));
                let list = (0..len)
                    .map(|_| Node::Leaf(spec.value.sample(self.rng), spec.value))
                    .collect();
                out.push((names.key(spec.name), Node::List(list)));
                rem -= len;
            } else {
                let table = match self.rng.below(100) {
                    0..35 => INT_LEAVES,
                    35..55 => FLOAT_LEAVES,
                    55..70 => BOOL_LEAVES,
                    _ => STR_LEAVES,
                };
                let spec = self.rng.pick(table);
                let value = spec.value.sample(self.rng);
                out.push((names.key(spec.name), Node::Leaf(value, spec.value)));
                self.scalars_emitted += 1;
                rem -= 1;
            }
        }
    }
}

/// Name of service `index` (`svc-0000`, …).
pub(crate) fn service_name(index: usize) -> String {
    format!("svc-{index:04}")
}

impl Service {
    /// Builds service `index` with exactly `params` base leaves. `lower` holds
    /// the reference targets of every service with a lower index.
    pub(crate) fn build(seed: u64, index: usize, params: usize, lower: &[RefTargets]) -> Self {
        let mut rng = Rng::stream(seed, index as u64, 0);
        let mut builder = Builder {
            rng: &mut rng,
            scalars_emitted: 0,
        };
        let root = builder.root(params);
        let mut svc = Service {
            root,
            key_arena: Vec::with_capacity(params * 4),
            idx_arena: Vec::with_capacity(params * 4),
            units: Vec::with_capacity(params),
            plain: Vec::new(),
        };
        let mut keys = Vec::with_capacity(6);
        let mut idx = Vec::with_capacity(6);
        let root = std::mem::take(&mut svc.root);
        svc.index_map(&root, &mut keys, &mut idx);
        svc.root = root;
        svc.assign_roles(&mut rng, index, params, lower);
        svc.plain = (0..svc.units.len() as u32)
            .filter(|&u| svc.units[u as usize].role == Role::Plain)
            .collect();
        svc
    }

    fn index_map(&mut self, entries: &[(Key, Node)], keys: &mut Vec<Key>, idx: &mut Vec<u32>) {
        for (i, (key, node)) in entries.iter().enumerate() {
            keys.push(*key);
            idx.push(i as u32);
            let kind = match node {
                Node::Map(children) => {
                    self.index_map(children, keys, idx);
                    None
                }
                Node::Leaf(_, g) => Some(UnitKind::Scalar(*g)),
                Node::List(items) => match items.first() {
                    Some(Node::Leaf(_, g)) => Some(UnitKind::List(*g, items.len() as u32)),
                    _ => None, // list of maps: never overridden nor referenced
                },
            };
            if let Some(kind) = kind {
                let k0 = self.key_arena.len() as u32;
                self.key_arena.extend_from_slice(keys);
                let i0 = self.idx_arena.len() as u32;
                self.idx_arena.extend_from_slice(idx);
                self.units.push(Unit {
                    keys: (k0, keys.len() as u32),
                    idx: (i0, idx.len() as u32),
                    kind,
                    role: Role::Plain,
                });
            }
            keys.pop();
            idx.pop();
        }
    }

    /// Key path of a unit.
    pub(crate) fn keys(&self, unit: &Unit) -> &[Key] {
        &self.key_arena[unit.keys.0 as usize..(unit.keys.0 + unit.keys.1) as usize]
    }

    /// Base node of a unit.
    pub(crate) fn node(&self, unit: &Unit) -> &Node {
        let path = &self.idx_arena[unit.idx.0 as usize..(unit.idx.0 + unit.idx.1) as usize];
        let mut entries = &self.root;
        let (last, init) = path.split_last().expect("unit paths are non-empty");
        for &i in init {
            match &entries[i as usize].1 {
                Node::Map(children) => entries = children,
                _ => unreachable!("unit paths go through maps"),
            }
        }
        &entries[*last as usize].1
    }

    fn node_mut(&mut self, unit: usize) -> &mut Node {
        let (s, l) = self.units[unit].idx;
        let path = &self.idx_arena[s as usize..(s + l) as usize];
        let mut entries = &mut self.root;
        let (last, init) = path.split_last().expect("unit paths are non-empty");
        for &i in init {
            match &mut entries[i as usize].1 {
                Node::Map(children) => entries = children,
                _ => unreachable!("unit paths go through maps"),
            }
        }
        &mut entries[*last as usize].1
    }

    /// Dotted path of a unit (`db.pool.size`).
    fn dotted(&self, unit: &Unit) -> String {
        let mut s = String::new();
        for (i, k) in self.keys(unit).iter().enumerate() {
            if i > 0 {
                s.push('.');
            }
            k.write(&mut s);
        }
        s
    }

    /// Turns some plain scalar slots into cross-service references and
    /// interpolated strings, always leaving at least one plain scalar.
    fn assign_roles(&mut self, rng: &mut Rng, index: usize, params: usize, lower: &[RefTargets]) {
        let scalar_slots: Vec<usize> = (0..self.units.len())
            .filter(|&u| matches!(self.units[u].kind, UnitKind::Scalar(_)))
            .collect();
        if scalar_slots.len() < 2 {
            return;
        }
        let mut budget = scalar_slots.len() - 1; // keep one plain scalar
        let wanted_refs = if index > 0 {
            params.div_ceil(100).max(1)
        } else {
            0
        };
        let wanted_interp = 2 + params / 200;
        let n_refs = wanted_refs.min(budget);
        budget -= n_refs;
        let n_interp = wanted_interp.min(budget);
        let chosen = rng.sample_sorted(scalar_slots.len(), n_refs + n_interp);
        // Shuffle which chosen slots become refs vs interpolations.
        let mut chosen: Vec<usize> = chosen
            .into_iter()
            .map(|c| scalar_slots[c as usize])
            .collect();
        for i in (1..chosen.len()).rev() {
            let j = rng.below_usize(i + 1);
            chosen.swap(i, j);
        }
        for (n, &slot) in chosen.iter().enumerate() {
            let (stem, text) = if n < n_refs {
                let target_svc = rng.below_usize(index);
                if lower[target_svc].is_empty() {
                    continue; // cannot happen when params > 0; stay plain
                }
                self.units[slot].role = Role::Ref;
                let (path, target_stem, target_gen) = rng.pick(&lower[target_svc]);
                let reference = format!("${{ref:{}:{}}}", service_name(target_svc), path);
                // Alternate the first ref's style by service so both appear.
                let standalone = if n == 0 {
                    index % 2 == 1
                } else {
                    rng.chance(3, 5)
                };
                if standalone {
                    // A standalone reference resolves to the target's value
                    // itself: record how those values are drawn (for schemas).
                    if let Node::Leaf(_, g) = self.node_mut(slot) {
                        *g = *target_gen;
                    }
                    (*target_stem, reference)
                } else {
                    match rng.below(3) {
                        0 => ("upstream_url", format!("http://{reference}:8080/health")),
                        1 => ("peer_id", format!("{reference}-${{env}}")),
                        _ => (
                            "routing_hint",
                            format!("upstream={reference};region=${{region}}"),
                        ),
                    }
                }
            } else {
                self.units[slot].role = Role::Interp;
                let t = if n == n_refs {
                    0
                } else {
                    rng.below_usize(INTERP_TEMPLATES.len())
                };
                let (stem, template) = INTERP_TEMPLATES[t];
                (stem, template.to_owned())
            };
            self.rename(slot, stem);
            if let Node::Leaf(value, _) = self.node_mut(slot) {
                *value = Scalar::Str(text);
            }
        }
    }

    /// Gives a unit's key a new stem, unique among its siblings.
    fn rename(&mut self, unit: usize, stem: &'static str) {
        let (s, l) = self.units[unit].idx;
        let path = &self.idx_arena[s as usize..(s + l) as usize];
        let (last, init) = path.split_last().expect("unit paths are non-empty");
        let mut entries = &mut self.root;
        for &i in init {
            match &mut entries[i as usize].1 {
                Node::Map(children) => entries = children,
                _ => unreachable!("unit paths go through maps"),
            }
        }
        let n = entries
            .iter()
            .filter(|(k, _)| k.stem == stem)
            .map(|(k, _)| k.n + 1)
            .max()
            .unwrap_or(0);
        let key = Key { stem, n };
        entries[*last as usize].0 = key;
        let (ks, kl) = self.units[unit].keys;
        self.key_arena[(ks + kl - 1) as usize] = key;
    }

    /// Leaves later services may reference: plain scalars and list elements.
    pub(crate) fn ref_targets(&self, seed: u64, index: usize) -> RefTargets {
        let mut rng = Rng::stream(seed, index as u64, u64::MAX);
        let n = self.plain.len();
        let k = n.min(MAX_REF_TARGETS);
        rng.sample_sorted(n, k)
            .into_iter()
            .map(|p| {
                let unit = &self.units[self.plain[p as usize] as usize];
                let mut path = self.dotted(unit);
                match unit.kind {
                    UnitKind::List(g, len) => {
                        let _ = write!(path, "[{}]", rng.below(u64::from(len)));
                        (path, LIST_ITEM_REF_STEM, g)
                    }
                    UnitKind::Scalar(g) => {
                        (path, self.keys(unit).last().expect("non-empty").stem, g)
                    }
                }
            })
            .collect()
    }
}
