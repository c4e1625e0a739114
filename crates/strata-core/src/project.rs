//! The project model: `strata.yaml` read into typed, validated form.
//!
//! Environments (in promotion order), providers, targets, the layer hierarchy, teams,
//! services, variables and list-merge rules. Every mistake in `strata.yaml` is reported
//! with its line and column and what to write instead; unknown keys are refused because
//! in configuration a typo that is silently ignored is a production incident.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use indexmap::IndexMap;

use crate::error::{DiagKind, Diagnostic};
use crate::path::ParamGlob;
use crate::value::{Loc, Map, Node, Value, new_map};

/// Name of the project file at the root of every project.
pub const PROJECT_FILE: &str = "strata.yaml";

/// An environment, in promotion order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// `dev`, `staging`, `prod`, …
    pub name: String,
    /// Whether changes here need extra care (approvals come with access control).
    pub protected: bool,
}

/// One place a service runs: environment × provider × region.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    /// Environment name.
    pub env: String,
    /// Provider name.
    pub provider: String,
    /// Region name.
    pub region: String,
}

impl Target {
    /// Parses `ENV/PROVIDER/REGION`.
    pub fn parse(s: &str) -> Option<Target> {
        let mut it = s.split('/');
        let (env, provider, region) = (it.next()?, it.next()?, it.next()?);
        if it.next().is_some() || [env, provider, region].iter().any(|p| !valid_name(p)) {
            return None;
        }
        Some(Target {
            env: env.into(),
            provider: provider.into(),
            region: region.into(),
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.env, self.provider, self.region)
    }
}

/// A piece of a hierarchy level template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LevelPart {
    /// Literal text.
    Lit(String),
    /// `{env}`
    Env,
    /// `{provider}`
    Provider,
    /// `{region}`
    Region,
}

/// One level of the hierarchy, e.g. `env/{env}/{provider}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Level {
    /// As written in `strata.yaml`.
    pub template: String,
    /// Parsed pieces.
    pub parts: Vec<LevelPart>,
}

impl Level {
    /// The level's directory for `target`, relative to `layers/`.
    pub fn dir_for(&self, target: &Target) -> String {
        let mut s = String::new();
        for p in &self.parts {
            match p {
                LevelPart::Lit(l) => s.push_str(l),
                LevelPart::Env => s.push_str(&target.env),
                LevelPart::Provider => s.push_str(&target.provider),
                LevelPart::Region => s.push_str(&target.region),
            }
        }
        s
    }
}

/// A team that owns services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    /// Team name.
    pub name: String,
    /// Principals who own it.
    pub owners: Vec<String>,
}

/// A service declared in `strata.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceDef {
    /// Service name.
    pub name: String,
    /// Owning team, if declared.
    pub team: Option<String>,
    /// Project-relative path of its JSON Schema, if any.
    pub schema: Option<String>,
    /// Services whose configuration this one consumes (declared dependency edges).
    pub consumes: Vec<String>,
}

/// How two layers' lists combine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListStrategy {
    /// The later list replaces the earlier one (the default).
    Replace,
    /// Later items go after earlier ones.
    Append,
    /// Later items go before earlier ones.
    Prepend,
    /// Union keeping first occurrences.
    Unique,
    /// Items with the same value of this key merge in place; new ones are appended.
    ByKey(Box<str>),
}

impl ListStrategy {
    /// Reads a strategy: `append`, `prepend`, `unique`, `replace` or `{by-key: NAME}`.
    pub fn from_node(node: &Node) -> Result<ListStrategy, String> {
        const HINT: &str = "use append, prepend, unique, replace or {by-key: NAME}";
        match &node.value {
            Value::Str(s) => match &**s {
                "append" => Ok(ListStrategy::Append),
                "prepend" => Ok(ListStrategy::Prepend),
                "unique" => Ok(ListStrategy::Unique),
                "replace" => Ok(ListStrategy::Replace),
                other => Err(format!("unknown list strategy `{other}`; {HINT}")),
            },
            Value::Map(m) if m.len() == 1 => match m.get("by-key").map(|n| &n.value) {
                Some(Value::Str(k)) if !k.is_empty() => Ok(ListStrategy::ByKey(k.clone())),
                _ => Err(format!("a map strategy must be {{by-key: NAME}}; {HINT}")),
            },
            other => Err(format!(
                "a list strategy cannot be {}; {HINT}",
                other.a_type_name()
            )),
        }
    }
}

/// A list strategy declared for parameters matching a glob.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeRule {
    /// Which parameters.
    pub glob: ParamGlob,
    /// How their lists merge.
    pub strategy: ListStrategy,
    /// Where the rule was declared.
    pub loc: Loc,
}

/// Variables by scope; later scopes win: global < provider < env < target.
#[derive(Debug, Clone)]
pub struct Vars {
    /// `vars.global`
    pub global: Map,
    /// `vars.provider.<name>`
    pub provider: BTreeMap<String, Map>,
    /// `vars.env.<name>`
    pub env: BTreeMap<String, Map>,
    /// `vars.target.<env/provider/region>`
    pub target: BTreeMap<String, Map>,
}

/// The validated content of `strata.yaml`.
#[derive(Debug, Clone)]
pub struct ProjectConfig {
    /// Environments in promotion order.
    pub environments: Vec<Environment>,
    /// Provider names.
    pub providers: Vec<String>,
    /// Targets in declaration order.
    pub targets: Vec<Target>,
    /// Hierarchy levels, lowest precedence first.
    pub hierarchy: Vec<Level>,
    /// Teams by name.
    pub teams: IndexMap<String, Team>,
    /// Services by name, in declaration order.
    pub services: IndexMap<String, ServiceDef>,
    /// Variables.
    pub vars: Vars,
    /// List strategies from `merge:`.
    pub merge: Vec<MergeRule>,
    /// Encryption at rest (`encryption:`): who can read secret values.
    pub encryption: Encryption,
}

/// The `encryption:` section of `strata.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Encryption {
    /// age X25519 recipients (`age1…`) every secret value is encrypted to.
    pub recipients: Vec<String>,
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && s != "."
        && s != ".."
}

/// Reads a YAML configuration tree with located errors (`strata.yaml`, and the policy
/// files that share its conventions).
pub(crate) struct Reader {
    /// The file, for error locations.
    pub(crate) path: Arc<str>,
}

impl Reader {
    pub(crate) fn err(
        &self,
        loc: Loc,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic::new(
            DiagKind::Project,
            self.path.clone(),
            loc.line,
            loc.col,
            message,
        )
        .with_hint(hint)
    }

    pub(crate) fn map<'a>(&self, node: &'a Node, what: &str) -> Result<&'a Map, Diagnostic> {
        node.value.as_map().ok_or_else(|| {
            self.err(
                node.loc,
                format!(
                    "`{what}` must be a mapping, found {}",
                    node.value.a_type_name()
                ),
                format!("write `{what}:` followed by indented `key: value` lines"),
            )
        })
    }

    pub(crate) fn list<'a>(&self, node: &'a Node, what: &str) -> Result<&'a [Node], Diagnostic> {
        match &node.value {
            Value::List(items) => Ok(items),
            other => Err(self.err(
                node.loc,
                format!("`{what}` must be a list, found {}", other.a_type_name()),
                format!("write `{what}: [a, b]` or one `- item` per line"),
            )),
        }
    }

    pub(crate) fn string<'a>(&self, node: &'a Node, what: &str) -> Result<&'a str, Diagnostic> {
        node.value.as_str().ok_or_else(|| {
            self.err(
                node.loc,
                format!(
                    "`{what}` must be a string, found {}",
                    node.value.a_type_name()
                ),
                "quote the value",
            )
        })
    }

    fn name(&self, node: &Node, what: &str) -> Result<String, Diagnostic> {
        let s = self.string(node, what)?;
        if valid_name(s) {
            Ok(s.to_string())
        } else {
            Err(self.err(
                node.loc,
                format!("invalid {what} `{s}`"),
                "names use letters, digits, `-`, `_` and `.`",
            ))
        }
    }

    fn key_name(&self, key: &str, node: &Node, what: &str) -> Result<String, Diagnostic> {
        if valid_name(key) {
            Ok(key.to_string())
        } else {
            Err(self.err(
                node.loc,
                format!("invalid {what} name `{key}`"),
                "names use letters, digits, `-`, `_` and `.`",
            ))
        }
    }

    pub(crate) fn only_keys(
        &self,
        map: &Map,
        at: &Node,
        known: &[&str],
        what: &str,
    ) -> Result<(), Diagnostic> {
        for (k, v) in map.iter() {
            if !known.contains(&&**k) {
                let loc = if v.loc.line > 0 { v.loc } else { at.loc };
                return Err(self.err(
                    loc,
                    format!("unknown key `{k}` in {what}"),
                    format!("known keys: {}", known.join(", ")),
                ));
            }
        }
        Ok(())
    }
}

impl ProjectConfig {
    /// Parses the text of a `strata.yaml` (named so in diagnostics): for tests, benches and
    /// tools that hold the text rather than a project source.
    pub fn parse(text: &str) -> Result<ProjectConfig, Diagnostic> {
        let path: Arc<str> = Arc::from("strata.yaml");
        let root = crate::parse::parse_document(
            &path,
            crate::value::FileId(0),
            text.as_bytes(),
            crate::parse::Format::Yaml,
            crate::parse::ParseOptions { templates: false },
        )?;
        ProjectConfig::from_node(&root, path)
    }

    /// Validates a parsed `strata.yaml` (`path` is used in errors).
    pub fn from_node(root: &Node, path: Arc<str>) -> Result<ProjectConfig, Diagnostic> {
        let r = Reader { path };
        let top = r.map(root, "strata.yaml")?;
        r.only_keys(
            top,
            root,
            &[
                "version",
                "environments",
                "providers",
                "targets",
                "hierarchy",
                "teams",
                "services",
                "vars",
                "merge",
                "encryption",
            ],
            "strata.yaml",
        )?;
        let missing = |key: &str, example: &str| {
            r.err(
                root.loc,
                format!("strata.yaml has no `{key}`"),
                format!("add it, e.g. `{example}`"),
            )
        };

        match top.get("version") {
            None => return Err(missing("version", "version: 1")),
            Some(n) if n.value == Value::Int(1) => {}
            Some(n) => {
                return Err(r.err(
                    n.loc,
                    format!("unsupported project version {}", n.value),
                    "this Strata reads `version: 1`; a newer project needs a newer Strata",
                ));
            }
        }

        // Environments.
        let envs_node = top
            .get("environments")
            .ok_or_else(|| missing("environments", "environments: [{name: dev}, {name: prod}]"))?;
        let mut environments: Vec<Environment> = Vec::new();
        for item in r.list(envs_node, "environments")? {
            let env = match &item.value {
                Value::Str(_) => Environment {
                    name: r.name(item, "environment")?,
                    protected: false,
                },
                Value::Map(m) => {
                    r.only_keys(m, item, &["name", "protected"], "an environment")?;
                    let name_node = m.get("name").ok_or_else(|| {
                        r.err(
                            item.loc,
                            "an environment needs a `name`",
                            "write `- name: dev`",
                        )
                    })?;
                    let protected = match m.get("protected") {
                        None => false,
                        Some(Node {
                            value: Value::Bool(b),
                            ..
                        }) => *b,
                        Some(n) => {
                            return Err(r.err(
                                n.loc,
                                "`protected` must be true or false",
                                "write `protected: true`",
                            ));
                        }
                    };
                    Environment {
                        name: r.name(name_node, "environment")?,
                        protected,
                    }
                }
                _ => {
                    return Err(r.err(
                        item.loc,
                        "an environment must be a name or `{name: …}`",
                        "write `- name: dev`",
                    ));
                }
            };
            if environments.iter().any(|e| e.name == env.name) {
                return Err(r.err(
                    item.loc,
                    format!("environment `{}` is declared twice", env.name),
                    "remove one",
                ));
            }
            environments.push(env);
        }
        if environments.is_empty() {
            return Err(r.err(
                envs_node.loc,
                "no environments declared",
                "list at least one, e.g. `- name: dev`",
            ));
        }

        // Providers.
        let prov_node = top
            .get("providers")
            .ok_or_else(|| missing("providers", "providers: [aws, azure, gcp]"))?;
        let mut providers: Vec<String> = Vec::new();
        for item in r.list(prov_node, "providers")? {
            let p = r.name(item, "provider")?;
            if providers.contains(&p) {
                return Err(r.err(
                    item.loc,
                    format!("provider `{p}` is declared twice"),
                    "remove one",
                ));
            }
            providers.push(p);
        }

        // Targets.
        let tnode = top
            .get("targets")
            .ok_or_else(|| missing("targets", "targets: [dev/aws/us-east-1]"))?;
        let mut targets: Vec<Target> = Vec::new();
        for item in r.list(tnode, "targets")? {
            let s = r.string(item, "target")?;
            let t = Target::parse(s).ok_or_else(|| {
                r.err(
                    item.loc,
                    format!("invalid target `{s}`"),
                    "write ENV/PROVIDER/REGION, e.g. `prod/aws/us-east-1`",
                )
            })?;
            if !environments.iter().any(|e| e.name == t.env) {
                return Err(r.err(
                    item.loc,
                    format!("target `{s}` names unknown environment `{}`", t.env),
                    format!(
                        "declared environments: {}",
                        names(environments.iter().map(|e| &e.name))
                    ),
                ));
            }
            if !providers.contains(&t.provider) {
                return Err(r.err(
                    item.loc,
                    format!("target `{s}` names unknown provider `{}`", t.provider),
                    format!("declared providers: {}", names(providers.iter())),
                ));
            }
            if targets.contains(&t) {
                return Err(r.err(
                    item.loc,
                    format!("target `{s}` is declared twice"),
                    "remove one",
                ));
            }
            targets.push(t);
        }

        // Hierarchy.
        let hnode = top.get("hierarchy").ok_or_else(|| {
            missing(
                "hierarchy",
                "hierarchy: [base, provider/{provider}, env/{env}]",
            )
        })?;
        let mut hierarchy: Vec<Level> = Vec::new();
        for item in r.list(hnode, "hierarchy")? {
            let s = r.string(item, "hierarchy level")?;
            let level = parse_level(s).map_err(|(msg, hint)| r.err(item.loc, msg, hint))?;
            if hierarchy.iter().any(|l| l.template == level.template) {
                return Err(r.err(
                    item.loc,
                    format!("hierarchy level `{s}` is listed twice"),
                    "remove one",
                ));
            }
            hierarchy.push(level);
        }
        if hierarchy.is_empty() {
            return Err(r.err(hnode.loc, "the hierarchy is empty", "list at least `base`"));
        }

        // Teams.
        let mut teams = IndexMap::new();
        if let Some(tn) = top.get("teams") {
            for (k, v) in r.map(tn, "teams")?.iter() {
                let name = r.key_name(k, v, "team")?;
                let mut owners = Vec::new();
                if let Value::Map(m) = &v.value {
                    r.only_keys(m, v, &["owners"], "a team")?;
                    if let Some(o) = m.get("owners") {
                        for item in r.list(o, "owners")? {
                            owners.push(r.string(item, "owner")?.to_string());
                        }
                    }
                } else if v.value != Value::Null {
                    return Err(r.err(
                        v.loc,
                        format!("team `{k}` must be a mapping"),
                        "write `payments: {owners: [alice]}`",
                    ));
                }
                teams.insert(name.clone(), Team { name, owners });
            }
        }

        // Services.
        let snode = top
            .get("services")
            .ok_or_else(|| missing("services", "services: {checkout: {team: payments}}"))?;
        let mut services = IndexMap::new();
        for (k, v) in r.map(snode, "services")?.iter() {
            let name = r.key_name(k, v, "service")?;
            let mut def = ServiceDef {
                name: name.clone(),
                team: None,
                schema: None,
                consumes: Vec::new(),
            };
            match &v.value {
                Value::Null => {}
                Value::Map(m) => {
                    r.only_keys(m, v, &["team", "schema", "consumes"], "a service")?;
                    if let Some(t) = m.get("team") {
                        let team = r.string(t, "team")?;
                        if !teams.contains_key(team) {
                            return Err(r.err(
                                t.loc,
                                format!("service `{name}` names unknown team `{team}`"),
                                if teams.is_empty() {
                                    format!("declare it under `teams:`, e.g. `teams: {{{team}: {{owners: []}}}}`")
                                } else {
                                    format!("declared teams: {}", names(teams.keys()))
                                },
                            ));
                        }
                        def.team = Some(team.to_string());
                    }
                    if let Some(s) = m.get("schema") {
                        let path = r.string(s, "schema")?;
                        let escapes = path.starts_with('/')
                            || path.contains('\\')
                            || path.split('/').any(|seg| seg == ".." || seg.is_empty());
                        if escapes {
                            return Err(r.err(
                                s.loc,
                                format!("schema path `{path}` must stay inside the project"),
                                "write a path relative to the project root, e.g. schemas/checkout.yaml",
                            ));
                        }
                        def.schema = Some(path.to_string());
                    }
                    if let Some(c) = m.get("consumes") {
                        for item in r.list(c, "consumes")? {
                            def.consumes.push(r.name(item, "service")?);
                        }
                    }
                }
                _ => {
                    return Err(r.err(
                        v.loc,
                        format!("service `{k}` must be a mapping"),
                        "write `checkout: {team: payments}`",
                    ));
                }
            }
            services.insert(name, def);
        }
        for def in services.values() {
            for c in &def.consumes {
                if !services.contains_key(c) {
                    let loc = snode
                        .value
                        .as_map()
                        .and_then(|m| m.get(def.name.as_str()))
                        .map_or(snode.loc, |n| n.loc);
                    return Err(r.err(
                        loc,
                        format!("service `{}` consumes unknown service `{c}`", def.name),
                        format!("declared services: {}", names(services.keys())),
                    ));
                }
            }
        }

        // Vars.
        let mut vars = Vars {
            global: new_map(),
            provider: BTreeMap::new(),
            env: BTreeMap::new(),
            target: BTreeMap::new(),
        };
        if let Some(vn) = top.get("vars") {
            let vm = r.map(vn, "vars")?;
            r.only_keys(vm, vn, &["global", "provider", "env", "target"], "vars")?;
            if let Some(g) = vm.get("global") {
                vars.global = r.map(g, "vars.global")?.clone();
            }
            let scoped = |key: &str,
                          valid: &dyn Fn(&str) -> bool,
                          known: String|
             -> Result<BTreeMap<String, Map>, Diagnostic> {
                let mut out = BTreeMap::new();
                if let Some(n) = vm.get(key) {
                    for (name, v) in r.map(n, &format!("vars.{key}"))?.iter() {
                        if !valid(name) {
                            return Err(r.err(
                                v.loc,
                                format!("vars.{key} names unknown {key} `{name}`"),
                                format!("declared: {known}"),
                            ));
                        }
                        out.insert(
                            name.to_string(),
                            r.map(v, &format!("vars.{key}.{name}"))?.clone(),
                        );
                    }
                }
                Ok(out)
            };
            vars.provider = scoped(
                "provider",
                &|n| providers.iter().any(|p| p == n),
                names(providers.iter()),
            )?;
            vars.env = scoped(
                "env",
                &|n| environments.iter().any(|e| e.name == n),
                names(environments.iter().map(|e| &e.name)),
            )?;
            vars.target = scoped(
                "target",
                &|n| targets.iter().any(|t| t.to_string() == n),
                names(targets.iter().map(|t| t.to_string())),
            )?;
        }

        // Merge rules.
        let mut merge = Vec::new();
        if let Some(mn) = top.get("merge") {
            for (k, v) in r.map(mn, "merge")?.iter() {
                let glob = ParamGlob::parse(k).map_err(|e| {
                    r.err(
                        v.loc,
                        e.to_string(),
                        "write SERVICE:GLOB, e.g. `*:sidecars`",
                    )
                })?;
                let strategy = ListStrategy::from_node(v)
                    .map_err(|m| r.err(v.loc, m, "e.g. `\"*:sidecars\": {by-key: name}`"))?;
                merge.push(MergeRule {
                    glob,
                    strategy,
                    loc: v.loc,
                });
            }
        }

        // Encryption recipients.
        let mut encryption = Encryption::default();
        if let Some(en) = top.get("encryption") {
            let em = r.map(en, "encryption")?;
            r.only_keys(em, en, &["recipients"], "encryption")?;
            if let Some(rn) = em.get("recipients") {
                for item in r.list(rn, "encryption.recipients")? {
                    let key = r.string(item, "encryption.recipients")?;
                    if !key.starts_with("age1") {
                        return Err(r.err(
                            item.loc,
                            format!("`{key}` is not an age X25519 recipient"),
                            "recipients look like `age1…`; print one with `age-keygen -y IDENTITY_FILE`",
                        ));
                    }
                    encryption.recipients.push(key.to_string());
                }
            }
        }

        Ok(ProjectConfig {
            environments,
            providers,
            targets,
            hierarchy,
            teams,
            services,
            vars,
            merge,
            encryption,
        })
    }

    /// Finds a target by its `ENV/PROVIDER/REGION` name.
    pub fn target(&self, name: &str) -> Option<&Target> {
        let t = Target::parse(name)?;
        self.targets.iter().find(|x| **x == t)
    }

    /// The environments whose targets read the layer level `dir` (relative to `layers/`,
    /// e.g. `env/prod`, `base`, `target/prod/aws/us-east-1`), in promotion order: a write
    /// there changes those environments. Empty when no target reads it.
    pub fn envs_reading(&self, dir: &str) -> Vec<String> {
        let dir = dir.trim_matches('/');
        self.environments
            .iter()
            .filter(|e| {
                self.targets
                    .iter()
                    .filter(|t| t.env == e.name)
                    .any(|t| self.hierarchy.iter().any(|l| l.dir_for(t) == dir))
            })
            .map(|e| e.name.clone())
            .collect()
    }

    /// The merged variables for `target` (global < provider < env < target).
    pub fn vars_for(&self, target: &Target) -> Map {
        let mut out = self.vars.global.clone();
        let layers = [
            self.vars.provider.get(&target.provider),
            self.vars.env.get(&target.env),
            self.vars.target.get(&target.to_string()),
        ];
        for layer in layers.into_iter().flatten() {
            merge_vars(&mut out, layer);
        }
        out
    }
}

/// Deep-merges variable maps: `src` wins.
pub(crate) fn merge_vars(dst: &mut Map, src: &Map) {
    for (k, v) in src.iter() {
        match (dst.get_mut(k), &v.value) {
            (Some(d), Value::Map(sm)) if matches!(d.value, Value::Map(_)) => {
                if let Value::Map(dm) = &mut d.value {
                    merge_vars(dm, sm);
                }
            }
            _ => {
                dst.insert(k.clone(), v.clone());
            }
        }
    }
}

fn names<T: AsRef<str>>(it: impl Iterator<Item = T>) -> String {
    let v: Vec<String> = it.map(|s| s.as_ref().to_string()).collect();
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}

/// Parses a hierarchy level like `env/{env}/{provider}`.
pub fn parse_level(s: &str) -> Result<Level, (String, String)> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        lit.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or_else(|| {
            (
                format!("unclosed `{{` in hierarchy level `{s}`"),
                "placeholders look like {env}".to_string(),
            )
        })?;
        let name = &after[..close];
        let part = match name {
            "env" => LevelPart::Env,
            "provider" => LevelPart::Provider,
            "region" => LevelPart::Region,
            other => {
                return Err((
                    format!("unknown placeholder `{{{other}}}` in hierarchy level `{s}`"),
                    "a level may use {env}, {provider} and {region}".to_string(),
                ));
            }
        };
        if !lit.is_empty() {
            parts.push(LevelPart::Lit(std::mem::take(&mut lit)));
        }
        parts.push(part);
        rest = &after[close + 1..];
    }
    lit.push_str(rest);
    if lit.contains('}') {
        return Err((
            format!("stray `}}` in hierarchy level `{s}`"),
            "placeholders look like {env}".into(),
        ));
    }
    if !lit.is_empty() {
        parts.push(LevelPart::Lit(lit));
    }
    let bad_segment = s
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..");
    if bad_segment || s.contains('\\') {
        return Err((
            format!("invalid hierarchy level `{s}`"),
            "a level is a relative directory under layers/, like `env/{env}`; no empty, `.` or `..` segments".into(),
        ));
    }
    Ok(Level {
        template: s.to_string(),
        parts,
    })
}

/// Where the schema's `x-strata-merge` annotations apply, as globs for one service.
///
/// `properties.K` is key `K`, `items` is `[*]`, `additionalProperties` and
/// `patternProperties` are `*`; local `$ref`s (`#/$defs/...`) are followed.
pub fn schema_merge_rules(
    service: &str,
    schema: &Node,
    path: &Arc<str>,
) -> Result<Vec<MergeRule>, Diagnostic> {
    let mut out = Vec::new();
    let mut error = None;
    crate::validate::schema::walk_schema(schema, &mut |pats, node| {
        let Some(s) = node.value.as_map().and_then(|m| m.get("x-strata-merge")) else {
            return;
        };
        let err = |msg: String| {
            Diagnostic::new(DiagKind::Project, path.clone(), s.loc.line, s.loc.col, msg)
        };
        let glob_text = crate::validate::schema::pattern_glob(service, pats);
        let rule = ListStrategy::from_node(s)
            .map_err(err)
            .and_then(|strategy| {
                ParamGlob::parse(&glob_text)
                    .map(|glob| MergeRule {
                        glob,
                        strategy,
                        loc: s.loc,
                    })
                    .map_err(|e| err(e.to_string()))
            });
        match rule {
            Ok(r) => out.push(r),
            Err(e) => {
                error.get_or_insert(e);
            }
        }
    });
    match error {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{Format, ParseOptions, parse_document};
    use crate::value::FileId;

    pub(crate) const CANONICAL: &str = r#"version: 1
environments:
  - name: dev
  - name: staging
  - name: prod
    protected: true
providers: [aws, azure, gcp]
targets:
  - dev/aws/us-east-1
  - staging/aws/us-east-1
  - prod/aws/us-east-1
  - prod/gcp/europe-west1
hierarchy:
  - base
  - provider/{provider}
  - env/{env}
  - env/{env}/{provider}
  - target/{env}/{provider}/{region}
teams:
  payments: { owners: [alice] }
services:
  checkout: { team: payments, schema: schemas/checkout.yaml }
  ledger:   { team: payments }
vars:
  global:   { company: acme }
  provider: { aws: { dns_suffix: amazonaws.com } }
  env:      { prod: { tier: gold } }
  target:   { prod/aws/us-east-1: { az_count: 3 } }
merge:
  "checkout:allowed_origins": append
  "*:sidecars": { by-key: name }
"#;

    fn load(text: &str) -> Result<ProjectConfig, Diagnostic> {
        ProjectConfig::parse(text)
    }

    #[test]
    fn reads_the_canonical_shape() {
        let c = load(CANONICAL).unwrap();
        assert_eq!(c.environments.len(), 3);
        assert!(c.environments[2].protected);
        assert_eq!(c.providers, vec!["aws", "azure", "gcp"]);
        assert_eq!(c.targets[3].to_string(), "prod/gcp/europe-west1");
        assert_eq!(
            c.hierarchy[4].dir_for(&c.targets[2]),
            "target/prod/aws/us-east-1"
        );
        assert_eq!(c.services["checkout"].team.as_deref(), Some("payments"));
        assert_eq!(c.merge[1].strategy, ListStrategy::ByKey("name".into()));
        let vars = c.vars_for(&c.targets[2]);
        assert_eq!(vars["company"].value, Value::Str("acme".into()));
        assert_eq!(vars["tier"].value, Value::Str("gold".into()));
        assert_eq!(vars["az_count"].value, Value::Int(3));
        assert_eq!(vars["dns_suffix"].value, Value::Str("amazonaws.com".into()));
        let dev = c.vars_for(&c.targets[0]);
        assert!(dev.get("tier").is_none());
    }

    #[test]
    fn later_var_scopes_win_and_nested_maps_merge() {
        let text = CANONICAL
            .replace(
                "global:   { company: acme }",
                "global:   { company: acme, tier: bronze, dns: {a: 1, b: 2} }",
            )
            .replace(
                "env:      { prod: { tier: gold } }",
                "env:      { prod: { tier: gold, dns: {b: 3} } }",
            );
        let c = load(&text).unwrap();
        let v = c.vars_for(&c.targets[2]);
        assert_eq!(v["tier"].value, Value::Str("gold".into()));
        let dns = v["dns"].value.as_map().unwrap();
        assert_eq!(dns["a"].value, Value::Int(1));
        assert_eq!(dns["b"].value, Value::Int(3));
    }

    fn err(text: &str) -> Diagnostic {
        load(text).unwrap_err()
    }

    #[test]
    fn errors_name_the_line_and_what_to_do() {
        let e = err(&CANONICAL.replace("  - env/{env}\n", "  - env/{stage}\n"));
        assert_eq!(e.line, 16);
        assert!(e.message.contains("unknown placeholder `{stage}`"), "{e}");
        assert!(e.hint.as_deref().unwrap().contains("{env}"));

        let e = err(&CANONICAL.replace("  - prod/gcp/europe-west1", "  - prod/gpc/europe-west1"));
        assert_eq!(e.line, 12);
        assert!(e.message.contains("unknown provider `gpc`"), "{e}");

        let e = err(&CANONICAL.replace("version: 1", "version: 2"));
        assert!(e.message.contains("unsupported project version 2"));

        let e = err(&CANONICAL.replace("targets:", "tragets:"));
        assert!(e.message.contains("unknown key `tragets`"), "{e}");

        let e = err(&CANONICAL.replace("{ team: payments }", "{ team: paymnts }"));
        assert!(e.message.contains("unknown team `paymnts`"), "{e}");
        assert_eq!(e.line, 23);

        let e = err(&CANONICAL.replace("schemas/checkout.yaml", "../../etc/passwd"));
        assert!(e.message.contains("inside the project"), "{e}");
        assert_eq!(e.line, 22);

        let e = err(&CANONICAL.replace("append", "apend"));
        assert!(e.message.contains("unknown list strategy `apend`"), "{e}");

        let e = err(&CANONICAL.replace("prod: { tier: gold }", "prd: { tier: gold }"));
        assert!(e.message.contains("unknown env `prd`"), "{e}");

        let e = err(&CANONICAL.replace("  - dev/aws/us-east-1\n", "  - dev/aws\n"));
        assert!(e.hint.unwrap().contains("ENV/PROVIDER/REGION"));

        let e = err("version: 1\n");
        assert!(e.message.contains("no `environments`"));

        let e = err(&CANONICAL.replace("  - name: staging\n", "  - name: dev\n"));
        assert!(e.message.contains("declared twice"));
    }

    #[test]
    fn level_parsing() {
        assert!(parse_level("a/{env}").is_ok());
        assert!(parse_level("a/{env").is_err());
        assert!(parse_level("a/env}").is_err());
        assert!(parse_level("../x").is_err());
        assert!(parse_level("a//b").is_err());
        assert!(parse_level("").is_err());
    }

    #[test]
    fn schema_annotations_become_rules() {
        let text = r##"
type: object
properties:
  allowed_origins: { type: array, x-strata-merge: unique }
  sidecars:
    type: array
    items:
      type: object
      properties:
        env: { type: array, x-strata-merge: { by-key: name } }
  nested: { $ref: "#/$defs/n" }
$defs:
  n: { type: object, properties: { list: { x-strata-merge: prepend } } }
"##;
        let path: Arc<str> = Arc::from("schemas/checkout.yaml");
        let node = parse_document(
            &path,
            FileId(0),
            text.as_bytes(),
            Format::Yaml,
            ParseOptions { templates: false },
        )
        .unwrap();
        let rules = schema_merge_rules("checkout", &node, &path).unwrap();
        let globs: Vec<_> = rules.iter().map(|r| r.glob.as_str().to_string()).collect();
        assert_eq!(
            globs,
            vec![
                "checkout:allowed_origins",
                "checkout:sidecars[*].env",
                "checkout:nested.list"
            ]
        );
        assert_eq!(rules[1].strategy, ListStrategy::ByKey("name".into()));
    }

    #[test]
    fn layers_name_the_environments_they_change() {
        let c = load(CANONICAL).unwrap();
        assert_eq!(c.envs_reading("base"), ["dev", "staging", "prod"]);
        assert_eq!(c.envs_reading("provider/gcp"), ["prod"]);
        assert_eq!(c.envs_reading("provider/aws"), ["dev", "staging", "prod"]);
        assert_eq!(c.envs_reading("env/staging/"), ["staging"]);
        assert_eq!(c.envs_reading("target/prod/aws/us-east-1"), ["prod"]);
        assert!(c.envs_reading("env/qa").is_empty());
    }

    #[test]
    fn target_lookup() {
        let c = load(CANONICAL).unwrap();
        assert!(c.target("prod/aws/us-east-1").is_some());
        assert!(c.target("prod/aws/us-west-2").is_none());
        assert!(c.target("garbage").is_none());
    }
}
