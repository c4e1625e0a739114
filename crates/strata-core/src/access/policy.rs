//! The policy model and its strict reader.
//!
//! Reading follows `strata.yaml`'s conventions: unknown keys are errors (a typo must not
//! silently grant or drop a permission), every error names `policies/access.yaml:LINE:COL`
//! and says what to write instead, and nothing panics on any input.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use indexmap::IndexMap;
use rustc_hash::FxBuildHasher;

use super::approvals::{ApprovalRule, parse_duration};
use super::decide::Index;
use super::{Action, Effect, RuleRef};
use crate::error::{DiagKind, Diagnostic};
use crate::parse::{Format, ParseOptions, parse_document};
use crate::path::{ParamGlob, PathError, Segment, wildcard_match};
use crate::project::ProjectConfig;
use crate::value::{FileId, Loc, Map, Node, Value};

/// The service part of a parameter pattern that means "services my teams own".
const OWN: &str = "@own";

/// What sort of problem a [`PolicyError`] reports, so callers and tests can match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyErrorKind {
    /// The file is not valid YAML (or not UTF-8).
    Syntax,
    /// A key appears twice in one mapping.
    DuplicateKey,
    /// A key the policy format does not know (usually a typo).
    UnknownKey,
    /// A required key is absent (`actions`, `envs`, `params`, `name`, …).
    MissingKey,
    /// A value has the wrong type (a string where a list belongs, …).
    WrongType,
    /// A role, group, principal or approval name is not a valid name, or is repeated.
    BadName,
    /// An action that is not one of [`Action::ALL`].
    UnknownAction,
    /// A principal, group or approval rule names a role `roles:` does not declare.
    UnknownRole,
    /// An environment or parameter glob does not parse, or `@own` is misused.
    MalformedGlob,
    /// An environment or service that `strata.yaml` does not declare.
    Undeclared,
    /// An approval rule's `required` is not a whole number ≥ 1.
    BadRequired,
    /// An `expires_after` that is not a duration like `72h` or `7d`.
    BadDuration,
}

/// A located error in `policies/access.yaml`: a [`Diagnostic`] (file, line, column,
/// message, hint) with the [`PolicyErrorKind`] that makes it matchable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{diagnostic}")]
pub struct PolicyError {
    /// What sort of problem this is.
    pub kind: PolicyErrorKind,
    /// Where it is and what to do about it.
    pub diagnostic: Diagnostic,
}

impl From<PolicyError> for Diagnostic {
    fn from(e: PolicyError) -> Diagnostic {
        e.diagnostic
    }
}

/// An environment glob of a rule: a name (`prod`), `*`, or a pattern (`eu-*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvGlob {
    text: Box<str>,
    kind: EnvKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EnvKind {
    Any,
    Exact,
    Pattern,
}

impl EnvGlob {
    /// Parses an environment glob; `None` when it is empty or holds characters other than
    /// letters, digits, `-`, `_`, `.` and `*`.
    pub fn parse(s: &str) -> Option<EnvGlob> {
        if s.is_empty()
            || !s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '*'))
        {
            return None;
        }
        let kind = if s.chars().all(|c| c == '*') {
            EnvKind::Any
        } else if s.contains('*') {
            EnvKind::Pattern
        } else {
            EnvKind::Exact
        };
        Some(EnvGlob {
            text: s.into(),
            kind,
        })
    }

    /// The glob as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether it is a pattern (holds `*`) rather than one environment's name.
    pub fn is_pattern(&self) -> bool {
        self.kind != EnvKind::Exact
    }

    /// Whether `env` matches.
    #[inline]
    pub fn matches(&self, env: &str) -> bool {
        match self.kind {
            EnvKind::Any => true,
            EnvKind::Exact => &*self.text == env,
            EnvKind::Pattern => wildcard_match(&self.text, env),
        }
    }
}

impl fmt::Display for EnvGlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// How a parameter pattern selects services; what the decision index buckets on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ServiceKey {
    /// One service by name.
    Exact(Box<str>),
    /// A wildcard pattern (`*`, `pay*`).
    Pattern,
    /// `@own`: the services of teams the principal owns.
    Own,
}

/// A parameter glob of a rule: a [`ParamGlob`] (`checkout:db.**`, `*:**.password`), or
/// `@own:PATH_GLOB`, which matches the services owned by a team the principal is an owner
/// of (teams and their services are declared in `strata.yaml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamPattern {
    text: Box<str>,
    glob: ParamGlob,
    pub(crate) service: ServiceKey,
}

impl ParamPattern {
    /// Parses `SERVICE:PATH_GLOB` or `@own:PATH_GLOB`.
    pub fn parse(input: &str) -> Result<ParamPattern, PathError> {
        if let Some(rest) = input.strip_prefix(OWN).and_then(|r| r.strip_prefix(':')) {
            let glob = ParamGlob::parse(&format!("*:{rest}")).map_err(|e| PathError {
                input: input.to_string(),
                ..e
            })?;
            return Ok(ParamPattern {
                text: input.into(),
                glob,
                service: ServiceKey::Own,
            });
        }
        if input.starts_with('@') {
            return Err(PathError {
                what: "glob",
                input: input.to_string(),
                reason: "the only service reference is `@own` (services of the principal's teams), e.g. `@own:**`".into(),
            });
        }
        let glob = ParamGlob::parse(input)?;
        let service_part = input.split_once(':').map_or(input, |(s, _)| s);
        let service = if service_part.contains('*') {
            ServiceKey::Pattern
        } else {
            ServiceKey::Exact(service_part.into())
        };
        Ok(ParamPattern {
            text: input.into(),
            glob,
            service,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the service part is `@own`.
    pub fn is_own(&self) -> bool {
        self.service == ServiceKey::Own
    }

    /// The service the pattern names, when it names exactly one.
    pub fn exact_service(&self) -> Option<&str> {
        match &self.service {
            ServiceKey::Exact(s) => Some(s),
            ServiceKey::Pattern | ServiceKey::Own => None,
        }
    }

    /// Whether the pattern matches parameter `service:path`. `owned` says whether the
    /// principal asking owns `service` (only `@own` patterns look at it).
    #[inline]
    pub fn matches(&self, service: &str, path: &[Segment], owned: bool) -> bool {
        match &self.service {
            ServiceKey::Exact(s) => &**s == service && self.glob.matches_segments(path),
            ServiceKey::Pattern => self.glob.matches(service, path),
            ServiceKey::Own => owned && self.glob.matches_segments(path),
        }
    }

    /// Whether the path part matches, the service being known to match already.
    #[inline]
    pub(crate) fn matches_path(&self, path: &[Segment]) -> bool {
        self.glob.matches_segments(path)
    }

    /// Whether the service pattern and the path match (for [`ServiceKey::Pattern`]).
    #[inline]
    pub(crate) fn matches_pattern(&self, service: &str, path: &[Segment]) -> bool {
        self.glob.matches(service, path)
    }
}

impl fmt::Display for ParamPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// One item of a role's `allow:` or `deny:` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The actions it covers (no duplicates, in written order).
    pub actions: Vec<Action>,
    /// The environments it covers (any glob matching is enough).
    pub envs: Vec<EnvGlob>,
    /// The parameters it covers (any pattern matching is enough).
    pub params: Vec<ParamPattern>,
    /// Free text for readers of the policy.
    pub description: Option<String>,
    /// Where the rule starts.
    pub loc: Loc,
}

impl Rule {
    /// Whether the rule covers `action` on `service:path` in `env`; `owned` says whether
    /// the principal owns `service` (for `@own` patterns).
    pub fn covers(
        &self,
        action: Action,
        env: &str,
        service: &str,
        path: &[Segment],
        owned: bool,
    ) -> bool {
        self.actions.contains(&action)
            && self.env_matches(env)
            && self.params.iter().any(|p| p.matches(service, path, owned))
    }

    /// Whether any of the rule's environment globs matches `env`.
    #[inline]
    pub(crate) fn env_matches(&self, env: &str) -> bool {
        self.envs.iter().any(|g| g.matches(env))
    }
}

/// A role: named lists of allow and deny rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// The role's name.
    pub name: Arc<str>,
    /// Free text for readers of the policy.
    pub description: Option<String>,
    /// Rules granting actions.
    pub allow: Vec<Rule>,
    /// Rules refusing actions; a matching deny beats any allow.
    pub deny: Vec<Rule>,
    /// Where the role is declared.
    pub loc: Loc,
}

impl Role {
    /// The rules of one list.
    pub fn rules(&self, effect: Effect) -> &[Rule] {
        match effect {
            Effect::Allow => &self.allow,
            Effect::Deny => &self.deny,
        }
    }
}

/// An entry of `principals:`: a person or machine and the roles it holds directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalDef {
    /// The principal's name (what tokens authenticate as).
    pub name: String,
    /// Roles held directly.
    pub roles: Vec<String>,
    /// Free text for readers of the policy.
    pub description: Option<String>,
    /// Where the principal is declared.
    pub loc: Loc,
}

/// An entry of `groups:`: every member holds the group's roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The group's name.
    pub name: String,
    /// Principal names (they need not be listed under `principals:`).
    pub members: Vec<String>,
    /// Roles every member holds.
    pub roles: Vec<String>,
    /// Free text for readers of the policy.
    pub description: Option<String>,
    /// Where the group is declared.
    pub loc: Loc,
}

/// The parsed and indexed `policies/access.yaml` (or the open policy of a project
/// without one).
#[derive(Debug, Clone)]
pub struct AccessPolicy {
    pub(super) file: Arc<str>,
    pub(super) open: bool,
    pub(super) roles: IndexMap<String, Role, FxBuildHasher>,
    pub(super) principals: IndexMap<String, PrincipalDef, FxBuildHasher>,
    pub(super) groups: IndexMap<String, Group, FxBuildHasher>,
    pub(super) approvals: Vec<ApprovalRule>,
    pub(super) warnings: Vec<Diagnostic>,
    pub(super) index: Index,
    /// The `identity:` section (JWT settings), kept as written for the authentication
    /// layer, which interprets it.
    pub identity: Option<Node>,
}

const TOP_KEYS: &[&str] = &["roles", "principals", "groups", "approvals", "identity"];
const ROLE_KEYS: &[&str] = &["allow", "deny", "description"];
const RULE_KEYS: &[&str] = &["actions", "envs", "params", "description"];
const PRINCIPAL_KEYS: &[&str] = &["roles", "description"];
const GROUP_KEYS: &[&str] = &["members", "roles", "description"];
const APPROVAL_KEYS: &[&str] = &[
    "name",
    "envs",
    "params",
    "required",
    "from_roles",
    "expires_after",
    "description",
];

impl AccessPolicy {
    /// Project-relative path of the policy file.
    pub const PATH: &'static str = "policies/access.yaml";

    /// The policy of a project without `policies/access.yaml`: everything is allowed,
    /// and every decision says "no policy: the project is open".
    pub fn open() -> AccessPolicy {
        AccessPolicy {
            file: Arc::from(Self::PATH),
            open: true,
            roles: IndexMap::default(),
            principals: IndexMap::default(),
            groups: IndexMap::default(),
            approvals: Vec::new(),
            warnings: Vec::new(),
            index: Index::default(),
            identity: None,
        }
    }

    /// The policy given the file's bytes, if it exists: [`AccessPolicy::open`] when it
    /// does not, else [`AccessPolicy::parse`].
    pub fn load(
        bytes: Option<&[u8]>,
        config: Option<&ProjectConfig>,
    ) -> Result<AccessPolicy, PolicyError> {
        match bytes {
            None => Ok(AccessPolicy::open()),
            Some(b) => AccessPolicy::parse(b, config),
        }
    }

    /// Reads and validates `policies/access.yaml` and indexes its rules for decisions.
    ///
    /// With `config` (the project's `strata.yaml`), environment and service names in
    /// rules must be declared there, and `@own` patterns resolve through its teams and
    /// services; without it, `@own` matches nothing. Problems that are not errors (nobody
    /// can administer the project, an approval threshold no declared principal can meet)
    /// are in [`AccessPolicy::warnings`].
    pub fn parse(bytes: &[u8], config: Option<&ProjectConfig>) -> Result<Self, PolicyError> {
        let file: Arc<str> = Arc::from(Self::PATH);
        let root = parse_document(
            &file,
            FileId(0),
            bytes,
            Format::Yaml,
            ParseOptions { templates: false },
        )
        .map_err(|d| PolicyError {
            kind: if d.kind == DiagKind::DuplicateKey {
                PolicyErrorKind::DuplicateKey
            } else {
                PolicyErrorKind::Syntax
            },
            diagnostic: d,
        })?;
        let r = Reader {
            doc: crate::project::Reader { path: file.clone() },
            config,
        };
        let top = r.map(&root, Self::PATH)?;
        r.only_keys(top, &root, TOP_KEYS, Self::PATH)?;

        let mut roles: IndexMap<String, Role, FxBuildHasher> = IndexMap::default();
        if let Some(n) = top.get("roles") {
            for (name, node) in r.section(n, "roles")? {
                let role = r.role(name, node)?;
                roles.insert(name.to_string(), role);
            }
        }

        let mut principals: IndexMap<String, PrincipalDef, FxBuildHasher> = IndexMap::default();
        if let Some(n) = top.get("principals") {
            for (name, node) in r.section(n, "principals")? {
                let p = r.principal(name, node, &roles)?;
                principals.insert(name.to_string(), p);
            }
        }

        let mut groups: IndexMap<String, Group, FxBuildHasher> = IndexMap::default();
        if let Some(n) = top.get("groups") {
            for (name, node) in r.section(n, "groups")? {
                let g = r.group(name, node, &roles)?;
                groups.insert(name.to_string(), g);
            }
        }

        let mut approvals: Vec<ApprovalRule> = Vec::new();
        if let Some(n) = top.get("approvals") {
            let items: &[Node] = match &n.value {
                Value::Null => &[],
                _ => r.list(n, "approvals")?,
            };
            for item in items {
                let rule = r.approval(item, &roles)?;
                if approvals.iter().any(|a| a.name == rule.name) {
                    return Err(r.fail(
                        PolicyErrorKind::BadName,
                        item.loc,
                        format!("approval rule `{}` is declared twice", rule.name),
                        "give each approval rule its own name",
                    ));
                }
                approvals.push(rule);
            }
        }

        let identity = top.get("identity").cloned();
        let mut policy = AccessPolicy {
            file,
            open: false,
            roles,
            principals,
            groups,
            approvals,
            warnings: Vec::new(),
            index: Index::default(),
            identity,
        };
        policy.index = Index::build(&policy, config);
        policy.warnings = policy.lint(top.get("roles").map_or(root.loc, |n| n.loc));
        Ok(policy)
    }

    /// Whether this is the open policy of a project without `policies/access.yaml`.
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// The policy file's project-relative path (for messages).
    pub fn file(&self) -> &Arc<str> {
        &self.file
    }

    /// The roles, in declaration order.
    pub fn roles(&self) -> &IndexMap<String, Role, FxBuildHasher> {
        &self.roles
    }

    /// The principals listed under `principals:`, in declaration order.
    pub fn principals(&self) -> &IndexMap<String, PrincipalDef, FxBuildHasher> {
        &self.principals
    }

    /// The groups, in declaration order.
    pub fn groups(&self) -> &IndexMap<String, Group, FxBuildHasher> {
        &self.groups
    }

    /// The approval rules, in declaration order.
    pub fn approval_rules(&self) -> &[ApprovalRule] {
        &self.approvals
    }

    /// Problems worth reporting that do not make the policy invalid.
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// Every principal the policy names: those under `principals:` and every group's
    /// members, sorted, each once.
    pub fn known_principals(&self) -> Vec<&str> {
        let mut names: BTreeSet<&str> = self.principals.keys().map(String::as_str).collect();
        for g in self.groups.values() {
            names.extend(g.members.iter().map(String::as_str));
        }
        names.into_iter().collect()
    }

    /// The roles `principal` holds: its own, then its groups' (in declaration order),
    /// then those of `extra_roles` the policy declares; each once.
    pub fn roles_of<'a>(&'a self, principal: &str, extra_roles: &'a [String]) -> Vec<&'a str> {
        let mut out: Vec<&str> = Vec::new();
        let mut add = |r: &'a str| {
            if !out.contains(&r) {
                out.push(r);
            }
        };
        if let Some(p) = self.principals.get(principal) {
            p.roles.iter().for_each(|r| add(r));
        }
        for g in self.groups.values() {
            if g.members.iter().any(|m| m == principal) {
                g.roles.iter().for_each(|r| add(r));
            }
        }
        for r in extra_roles {
            if self.roles.contains_key(r) {
                add(r);
            }
        }
        out
    }

    /// The reference to rule `index` of `role`'s `effect` list, if it exists.
    pub fn rule_ref(&self, role: &str, effect: Effect, index: usize) -> Option<RuleRef> {
        let r = self.roles.get(role)?;
        let rule = r.rules(effect).get(index)?;
        Some(RuleRef {
            role: r.name.clone(),
            effect,
            index,
            file: self.file.clone(),
            line: rule.loc.line,
            col: rule.loc.col,
        })
    }

    /// Warnings: nobody holds `admin`; an approval rule more approvers than declared
    /// principals can give.
    fn lint(&self, roles_loc: Loc) -> Vec<Diagnostic> {
        let warn = |loc: Loc, message: String, hint: &str| {
            Diagnostic::new(
                DiagKind::Project,
                self.file.clone(),
                loc.line,
                loc.col,
                message,
            )
            .with_hint(hint)
        };
        let held: Vec<Vec<&str>> = self
            .known_principals()
            .into_iter()
            .map(|p| self.roles_of(p, &[]))
            .collect();
        let mut out = Vec::new();
        let administers = |roles: &Vec<&str>| {
            roles.iter().any(|r| {
                self.roles.get(*r).is_some_and(|role| {
                    role.allow
                        .iter()
                        .any(|x| x.actions.contains(&Action::Admin))
                })
            })
        };
        if !held.iter().any(administers) {
            out.push(warn(
                roles_loc,
                "nobody can administer this project: no principal holds a role with an `admin` allow rule".into(),
                "add e.g. `{actions: [admin], envs: [\"*\"], params: [\"*:**\"]}` to a role some principal holds",
            ));
        }
        for a in &self.approvals {
            let holders = held
                .iter()
                .filter(|roles| roles.iter().any(|r| a.from_roles.iter().any(|f| f == r)))
                .count();
            if (holders as u64) < u64::from(a.required) {
                let (noun, verb) = if holders == 1 {
                    ("principal", "holds")
                } else {
                    ("principals", "hold")
                };
                out.push(warn(
                    a.loc,
                    format!(
                        "approval rule `{}` needs {} approvals but only {holders} declared {noun} {verb} {}",
                        a.name,
                        a.required,
                        a.from_roles.join(" or "),
                    ),
                    "lower `required`, or give more principals one of `from_roles` (roles from tokens count too)",
                ));
            }
        }
        out
    }
}

/// Reads one `access.yaml` tree, producing located [`PolicyError`]s.
struct Reader<'c> {
    doc: crate::project::Reader,
    config: Option<&'c ProjectConfig>,
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Principal names come from tokens (`sub` claims, e-mail addresses), so only whitespace
/// and control characters are refused.
fn valid_principal(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn known(names: impl Iterator<Item = impl AsRef<str>>) -> String {
    let all: Vec<String> = names.map(|s| s.as_ref().to_string()).collect();
    if all.is_empty() {
        "none".to_string()
    } else {
        all.join(", ")
    }
}

impl Reader<'_> {
    fn fail(
        &self,
        kind: PolicyErrorKind,
        loc: Loc,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> PolicyError {
        PolicyError {
            kind,
            diagnostic: self.doc.err(loc, message, hint),
        }
    }

    fn wrong_type(d: Diagnostic) -> PolicyError {
        PolicyError {
            kind: PolicyErrorKind::WrongType,
            diagnostic: d,
        }
    }

    fn map<'a>(&self, node: &'a Node, what: &str) -> Result<&'a Map, PolicyError> {
        self.doc.map(node, what).map_err(Self::wrong_type)
    }

    fn list<'a>(&self, node: &'a Node, what: &str) -> Result<&'a [Node], PolicyError> {
        self.doc.list(node, what).map_err(Self::wrong_type)
    }

    fn string<'a>(&self, node: &'a Node, what: &str) -> Result<&'a str, PolicyError> {
        self.doc.string(node, what).map_err(Self::wrong_type)
    }

    fn only_keys(&self, m: &Map, at: &Node, keys: &[&str], what: &str) -> Result<(), PolicyError> {
        self.doc
            .only_keys(m, at, keys, what)
            .map_err(|d| PolicyError {
                kind: PolicyErrorKind::UnknownKey,
                diagnostic: d,
            })
    }

    /// The entries of a top-level mapping section; an empty one (`roles:`) has none.
    fn section<'a>(
        &self,
        node: &'a Node,
        what: &str,
    ) -> Result<impl Iterator<Item = (&'a str, &'a Node)>, PolicyError> {
        let map = match &node.value {
            Value::Null => None,
            _ => Some(self.map(node, what)?),
        };
        Ok(map
            .into_iter()
            .flat_map(|m| m.iter().map(|(k, v)| (&**k, v))))
    }

    /// An entry's mapping (`alice: {roles: [sre]}`); `alice:` alone is an empty one.
    fn entry<'a>(
        &self,
        node: &'a Node,
        what: &str,
        keys: &[&str],
    ) -> Result<Option<&'a Map>, PolicyError> {
        match &node.value {
            Value::Null => Ok(None),
            _ => {
                let m = self.map(node, what)?;
                self.only_keys(m, node, keys, what)?;
                Ok(Some(m))
            }
        }
    }

    /// A list of strings with their locations; `required` refuses an empty list.
    fn strings<'a>(
        &self,
        node: &'a Node,
        what: &str,
        example: &str,
    ) -> Result<Vec<(&'a str, Loc)>, PolicyError> {
        let items = self.list(node, what)?;
        if items.is_empty() {
            return Err(self.fail(
                PolicyErrorKind::WrongType,
                node.loc,
                format!("`{what}` must not be empty"),
                format!("write e.g. `{what}: {example}`"),
            ));
        }
        items
            .iter()
            .map(|n| self.string(n, what).map(|s| (s, n.loc)))
            .collect()
    }

    fn required<'a>(
        &self,
        m: &'a Map,
        at: &Node,
        key: &str,
        what: &str,
        example: &str,
    ) -> Result<&'a Node, PolicyError> {
        m.get(key).ok_or_else(|| {
            self.fail(
                PolicyErrorKind::MissingKey,
                at.loc,
                format!("{what} needs `{key}`"),
                format!("add `{key}: {example}`"),
            )
        })
    }

    fn description(&self, m: Option<&Map>) -> Result<Option<String>, PolicyError> {
        m.and_then(|m| m.get("description"))
            .map(|n| self.string(n, "description").map(str::to_string))
            .transpose()
    }

    fn role(&self, name: &str, node: &Node) -> Result<Role, PolicyError> {
        if !valid_name(name) {
            return Err(self.fail(
                PolicyErrorKind::BadName,
                node.loc,
                format!("invalid role name `{name}`"),
                "role names use letters, digits, `-`, `_` and `.`",
            ));
        }
        let m = self.entry(node, "a role", ROLE_KEYS)?;
        let list = |key: &str| -> Result<Vec<Rule>, PolicyError> {
            match m.and_then(|m| m.get(key)) {
                None => Ok(Vec::new()),
                Some(Node {
                    value: Value::Null, ..
                }) => Ok(Vec::new()),
                Some(n) => self
                    .list(n, key)?
                    .iter()
                    .map(|item| self.rule(item))
                    .collect(),
            }
        };
        Ok(Role {
            name: Arc::from(name),
            description: self.description(m)?,
            allow: list("allow")?,
            deny: list("deny")?,
            loc: node.loc,
        })
    }

    fn rule(&self, item: &Node) -> Result<Rule, PolicyError> {
        let m = self.map(item, "a rule")?;
        self.only_keys(m, item, RULE_KEYS, "a rule")?;
        let example = "[read, write]";
        let actions_node = self.required(m, item, "actions", "a rule", example)?;
        let mut actions = Vec::new();
        for (s, loc) in self.strings(actions_node, "actions", example)? {
            let a: Action = s.parse().map_err(|_| {
                self.fail(
                    PolicyErrorKind::UnknownAction,
                    loc,
                    format!("unknown action `{s}`"),
                    format!(
                        "known actions: {}",
                        known(Action::ALL.iter().map(|a| a.as_str()))
                    ),
                )
            })?;
            if !actions.contains(&a) {
                actions.push(a);
            }
        }
        let envs = self.envs(m, item)?;
        let params = self.params(m, item, true)?;
        Ok(Rule {
            actions,
            envs,
            params,
            description: self.description(Some(m))?,
            loc: item.loc,
        })
    }

    fn envs(&self, m: &Map, item: &Node) -> Result<Vec<EnvGlob>, PolicyError> {
        let example = "[dev, staging]";
        let node = self.required(m, item, "envs", "a rule", example)?;
        let mut out = Vec::new();
        for (s, loc) in self.strings(node, "envs", example)? {
            let g = EnvGlob::parse(s).ok_or_else(|| {
                self.fail(
                    PolicyErrorKind::MalformedGlob,
                    loc,
                    format!("invalid environment glob `{s}`"),
                    "write an environment name (`prod`), `*`, or a pattern like `eu-*`",
                )
            })?;
            if let Some(c) = self.config
                && !g.is_pattern()
                && !c.environments.iter().any(|e| e.name == s)
            {
                return Err(self.fail(
                    PolicyErrorKind::Undeclared,
                    loc,
                    format!("environment `{s}` is not declared in strata.yaml"),
                    format!(
                        "declared: {}",
                        known(c.environments.iter().map(|e| e.name.as_str()))
                    ),
                ));
            }
            out.push(g);
        }
        Ok(out)
    }

    fn params(
        &self,
        m: &Map,
        item: &Node,
        own_allowed: bool,
    ) -> Result<Vec<ParamPattern>, PolicyError> {
        let example = "[\"checkout:**\"]";
        let node = self.required(m, item, "params", "a rule", example)?;
        let mut out = Vec::new();
        for (s, loc) in self.strings(node, "params", example)? {
            let p = ParamPattern::parse(s).map_err(|e| {
                self.fail(
                    PolicyErrorKind::MalformedGlob,
                    loc,
                    e.to_string(),
                    "globs look like `checkout:**`, `checkout:db.*`, `*:**.password` or `@own:**`",
                )
            })?;
            if p.is_own() && !own_allowed {
                return Err(self.fail(
                    PolicyErrorKind::MalformedGlob,
                    loc,
                    format!("`{s}`: `@own` is only meaningful in role rules"),
                    "an approval rule covers parameters whoever changes them; name the services, e.g. `checkout:**`",
                ));
            }
            if let (Some(c), Some(svc)) = (self.config, p.exact_service())
                && !c.services.contains_key(svc)
            {
                return Err(self.fail(
                    PolicyErrorKind::Undeclared,
                    loc,
                    format!("service `{svc}` is not declared in strata.yaml"),
                    format!("declared: {}", known(c.services.keys())),
                ));
            }
            out.push(p);
        }
        Ok(out)
    }

    /// A list of role names that must all be declared.
    fn role_names(
        &self,
        node: &Node,
        what: &str,
        roles: &IndexMap<String, Role, FxBuildHasher>,
        allow_empty: bool,
    ) -> Result<Vec<String>, PolicyError> {
        let items = self.list(node, what)?;
        if items.is_empty() && !allow_empty {
            return Err(self.fail(
                PolicyErrorKind::WrongType,
                node.loc,
                format!("`{what}` must not be empty"),
                format!("write e.g. `{what}: [sre]`"),
            ));
        }
        let mut out: Vec<String> = Vec::new();
        for n in items {
            let s = self.string(n, what)?;
            if !roles.contains_key(s) {
                return Err(self.fail(
                    PolicyErrorKind::UnknownRole,
                    n.loc,
                    format!("unknown role `{s}`"),
                    format!("roles declared under `roles:`: {}", known(roles.keys())),
                ));
            }
            if !out.iter().any(|r| r == s) {
                out.push(s.to_string());
            }
        }
        Ok(out)
    }

    fn principal(
        &self,
        name: &str,
        node: &Node,
        roles: &IndexMap<String, Role, FxBuildHasher>,
    ) -> Result<PrincipalDef, PolicyError> {
        if !valid_principal(name) {
            return Err(self.fail(
                PolicyErrorKind::BadName,
                node.loc,
                format!("invalid principal name `{name}`"),
                "principal names must not be empty or hold spaces",
            ));
        }
        let m = self.entry(node, "a principal", PRINCIPAL_KEYS)?;
        let held = match m.and_then(|m| m.get("roles")) {
            None => Vec::new(),
            Some(n) => self.role_names(n, "roles", roles, true)?,
        };
        Ok(PrincipalDef {
            name: name.to_string(),
            roles: held,
            description: self.description(m)?,
            loc: node.loc,
        })
    }

    fn group(
        &self,
        name: &str,
        node: &Node,
        roles: &IndexMap<String, Role, FxBuildHasher>,
    ) -> Result<Group, PolicyError> {
        if !valid_name(name) {
            return Err(self.fail(
                PolicyErrorKind::BadName,
                node.loc,
                format!("invalid group name `{name}`"),
                "group names use letters, digits, `-`, `_` and `.`",
            ));
        }
        let m = self.entry(node, "a group", GROUP_KEYS)?;
        let mut members: Vec<String> = Vec::new();
        if let Some(n) = m.and_then(|m| m.get("members")) {
            for item in self.list(n, "members")? {
                let s = self.string(item, "members")?;
                if !valid_principal(s) {
                    return Err(self.fail(
                        PolicyErrorKind::BadName,
                        item.loc,
                        format!("invalid principal name `{s}`"),
                        "principal names must not be empty or hold spaces",
                    ));
                }
                if !members.iter().any(|x| x == s) {
                    members.push(s.to_string());
                }
            }
        }
        let held = match m.and_then(|m| m.get("roles")) {
            None => Vec::new(),
            Some(n) => self.role_names(n, "roles", roles, true)?,
        };
        Ok(Group {
            name: name.to_string(),
            members,
            roles: held,
            description: self.description(m)?,
            loc: node.loc,
        })
    }

    fn approval(
        &self,
        item: &Node,
        roles: &IndexMap<String, Role, FxBuildHasher>,
    ) -> Result<ApprovalRule, PolicyError> {
        let m = self.map(item, "an approval rule")?;
        self.only_keys(m, item, APPROVAL_KEYS, "an approval rule")?;
        let name_node = self.required(m, item, "name", "an approval rule", "prod-changes")?;
        let name = self.string(name_node, "name")?;
        if !valid_name(name) {
            return Err(self.fail(
                PolicyErrorKind::BadName,
                name_node.loc,
                format!("invalid approval rule name `{name}`"),
                "names use letters, digits, `-`, `_` and `.`",
            ));
        }
        let envs = self.envs(m, item)?;
        let params = self.params(m, item, false)?;
        let req_node = self.required(m, item, "required", "an approval rule", "2")?;
        let required = match &req_node.value {
            Value::Int(n) if *n >= 1 => u32::try_from(*n).map_err(|_| {
                self.fail(
                    PolicyErrorKind::BadRequired,
                    req_node.loc,
                    format!("`required` is too large: {n}"),
                    "write the number of approvals needed, e.g. `required: 2`",
                )
            })?,
            other => {
                return Err(self.fail(
                    PolicyErrorKind::BadRequired,
                    req_node.loc,
                    format!("`required` must be a whole number of at least 1, found {other}"),
                    "write the number of approvals needed, e.g. `required: 2`",
                ));
            }
        };
        let from_node = self.required(m, item, "from_roles", "an approval rule", "[sre]")?;
        let from_roles = self.role_names(from_node, "from_roles", roles, false)?;
        let expires_after = m
            .get("expires_after")
            .map(|n| {
                let s = self.string(n, "expires_after")?;
                parse_duration(s).ok_or_else(|| {
                    self.fail(
                        PolicyErrorKind::BadDuration,
                        n.loc,
                        format!("`expires_after` is not a duration: `{s}`"),
                        "write a positive number with a unit s, m, h, d or w, e.g. `72h`, `7d` or `1d12h`",
                    )
                })
            })
            .transpose()?;
        Ok(ApprovalRule {
            name: name.to_string(),
            envs,
            params,
            required,
            from_roles,
            expires_after,
            description: self.description(Some(m))?,
            loc: item.loc,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANONICAL: &str = r#"roles:
  sre:
    allow:
      - { actions: [read, read-secret, write, approve, deploy], envs: ["*"], params: ["*:**"] }
  payments-dev:
    allow:
      - { actions: [read, write], envs: [dev, staging], params: ["checkout:**"] }
      - { actions: [read], envs: [prod], params: ["checkout:**"] }
    deny:
      - { actions: [read, write], envs: ["*"], params: ["*:**.password"] }
principals:
  alice: { roles: [sre] }
  bob:   { roles: [payments-dev] }
groups:
  payments: { members: [bob], roles: [payments-dev] }
approvals:
  - name: prod-changes
    envs: [prod]
    params: ["*:**"]
    required: 2
    from_roles: [sre]
"#;

    #[test]
    fn reads_the_canonical_shape() {
        let p = AccessPolicy::parse(CANONICAL.as_bytes(), None).unwrap();
        assert!(!p.is_open());
        assert_eq!(p.roles().len(), 2);
        let sre = &p.roles()["sre"];
        assert_eq!(sre.allow.len(), 1);
        assert_eq!(sre.allow[0].actions.len(), 5);
        assert_eq!((sre.allow[0].loc.line, sre.allow[0].loc.col), (4, 9));
        assert_eq!(sre.allow[0].envs[0].as_str(), "*");
        assert_eq!(sre.allow[0].params[0].as_str(), "*:**");
        let dev = &p.roles()["payments-dev"];
        assert_eq!((dev.allow.len(), dev.deny.len()), (2, 1));
        assert_eq!(dev.deny[0].loc.line, 10);
        assert_eq!(p.principals()["bob"].roles, vec!["payments-dev"]);
        assert_eq!(p.groups()["payments"].members, vec!["bob"]);
        let a = &p.approval_rules()[0];
        assert_eq!(
            (
                a.name.as_str(),
                a.required,
                a.from_roles.as_slice(),
                a.loc.line
            ),
            ("prod-changes", 2, &["sre".to_string()][..], 17)
        );
        assert_eq!(a.expires_after, None);
        assert_eq!(p.known_principals(), vec!["alice", "bob"]);
        assert_eq!(
            p.rule_ref("sre", Effect::Allow, 0).unwrap().to_string(),
            "role sre allow #1 (policies/access.yaml:4)"
        );
        assert_eq!(p.rule_ref("sre", Effect::Deny, 0), None);
        assert_eq!(p.rule_ref("nope", Effect::Allow, 0), None);
    }

    #[test]
    fn warns_when_nobody_administers_or_approvals_cannot_be_met() {
        let p = AccessPolicy::parse(CANONICAL.as_bytes(), None).unwrap();
        let w: Vec<String> = p.warnings().iter().map(ToString::to_string).collect();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].starts_with("policies/access.yaml:1:1: nobody can administer this project"),
            "{w:?}"
        );
        assert!(
            w[1].starts_with(
                "policies/access.yaml:17:5: approval rule `prod-changes` needs 2 approvals but only 1 declared principal holds sre"
            ),
            "{w:?}"
        );

        let text = CANONICAL
            .replace("approve, deploy]", "approve, deploy, admin]")
            .replace(
                "  bob:   { roles: [payments-dev] }\n",
                "  bob:   { roles: [payments-dev] }\n  carol: { roles: [sre] }\n",
            );
        let p = AccessPolicy::parse(text.as_bytes(), None).unwrap();
        assert!(p.warnings().is_empty(), "{:?}", p.warnings());

        // Admin held only by a role nobody has still warns.
        let text = CANONICAL.replace(
            "principals:",
            "  root:\n    allow: [{actions: [admin], envs: [\"*\"], params: [\"*:**\"]}]\nprincipals:",
        );
        let p = AccessPolicy::parse(text.as_bytes(), None).unwrap();
        assert!(p.warnings()[0].message.contains("nobody can administer"));
    }

    #[test]
    fn empty_sections_and_entries_are_allowed() {
        for text in [
            "",
            "roles:\n",
            "roles: {}\nprincipals: {}\ngroups: {}\napprovals: []\n",
            "roles:\n  viewer:\n  ops: {}\n  x: {allow: [], deny:}\nprincipals:\n  alice:\ngroups:\n  g:\n",
        ] {
            let p = AccessPolicy::parse(text.as_bytes(), None).unwrap();
            assert!(!p.is_open(), "{text}");
        }
        let p = AccessPolicy::parse(b"principals:\n  alice:\n", None).unwrap();
        assert!(p.principals()["alice"].roles.is_empty());
    }

    #[test]
    fn identity_is_kept_uninterpreted() {
        let text = format!(
            "{CANONICAL}identity:\n  jwt:\n    issuer: https://id.example.com\n    roles_claim: groups\n    whatever: [1, 2]\n"
        );
        let p = AccessPolicy::parse(text.as_bytes(), None).unwrap();
        let id = p.identity.as_ref().unwrap();
        assert_eq!(
            id.value.to_json(),
            serde_json::json!({"jwt": {"issuer": "https://id.example.com", "roles_claim": "groups", "whatever": [1, 2]}})
        );
        assert_eq!(id.loc.line, 22);
        assert!(
            AccessPolicy::parse(CANONICAL.as_bytes(), None)
                .unwrap()
                .identity
                .is_none()
        );
    }

    #[test]
    fn roles_of_merges_own_group_and_extra_roles() {
        let text = CANONICAL
            .replace("principals:", "  auditor: {}\n  viewer: {}\nprincipals:")
            .replace(
                "groups:\n",
                "groups:\n  audit: { members: [bob, zed], roles: [auditor, payments-dev] }\n",
            );
        let p = AccessPolicy::parse(text.as_bytes(), None).unwrap();
        let extra = vec![
            "viewer".to_string(),
            "sre".to_string(),
            "nonsense".to_string(),
        ];
        assert_eq!(p.roles_of("bob", &[]), vec!["payments-dev", "auditor"]);
        assert_eq!(
            p.roles_of("bob", &extra),
            vec!["payments-dev", "auditor", "viewer", "sre"]
        );
        assert_eq!(p.roles_of("zed", &[]), vec!["auditor", "payments-dev"]);
        assert!(p.roles_of("nobody", &[]).is_empty());
        assert_eq!(p.known_principals(), vec!["alice", "bob", "zed"]);
    }

    #[test]
    fn patterns_parse_and_match() {
        let own = ParamPattern::parse("@own:db.**").unwrap();
        assert!(own.is_own() && own.exact_service().is_none());
        let db = crate::path::parse_segments("db.host").unwrap();
        assert!(own.matches("anything", &db, true));
        assert!(!own.matches("anything", &db, false));
        assert!(!own.matches("anything", &[], true));
        let exact = ParamPattern::parse("checkout:**").unwrap();
        assert_eq!(exact.exact_service(), Some("checkout"));
        assert!(exact.matches("checkout", &[], false));
        assert!(!exact.matches("checkouts", &[], false));
        let wild = ParamPattern::parse("pay*:db.*").unwrap();
        assert!(wild.matches("payments", &db, false));
        assert!(!wild.matches("ledger", &db, false));
        for bad in [
            "@own",
            "@own:",
            "@own:a..b",
            "@team:**",
            "checkout",
            ":**",
            "a:b**",
            "@own:**.x[",
            "x y:**",
        ] {
            let e = ParamPattern::parse(bad);
            // `@own:` is the whole service of owned services: a valid glob.
            if bad == "@own:" {
                assert!(e.is_ok());
            } else {
                assert!(e.is_err(), "{bad}");
            }
        }
        assert!(
            ParamPattern::parse("@team:**")
                .unwrap_err()
                .reason
                .contains("@own")
        );

        for (g, env, want) in [
            ("*", "prod", true),
            ("prod", "prod", true),
            ("prod", "production", false),
            ("eu-*", "eu-prod", true),
            ("eu-*", "us-prod", false),
            ("**", "x", true),
        ] {
            assert_eq!(EnvGlob::parse(g).unwrap().matches(env), want, "{g} {env}");
        }
        for bad in ["", "pr od", "a/b", "a:b"] {
            assert!(EnvGlob::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn policy_errors_convert_to_diagnostics() {
        let e = AccessPolicy::parse(b"rolez: {}\n", None).unwrap_err();
        assert_eq!(e.kind, PolicyErrorKind::UnknownKey);
        let d: Diagnostic = e.clone().into();
        assert_eq!(d.to_string(), e.to_string());
        assert!(d.to_string().starts_with("policies/access.yaml:1:"), "{d}");
    }

    #[test]
    fn load_without_a_file_is_open() {
        let p = AccessPolicy::load(None, None).unwrap();
        assert!(p.is_open());
        assert!(AccessPolicy::load(Some(b"roles: {}\n"), None).is_ok_and(|p| !p.is_open()));
    }
}
