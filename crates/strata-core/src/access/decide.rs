//! The decision engine: rules indexed once, decisions that test only the rules that can
//! match.
//!
//! Every rule parameter pattern becomes an [`Entry`] in the bucket of each action the
//! rule lists, split by effect, then by service: patterns naming one service sit in a
//! hash map under that name, wildcard services (`*`, `pay*`) in one list, `@own` in
//! another. A decision for `(action, service)` therefore looks at one map slot and two
//! short lists per effect. Each role's index is built when the policy is loaded;
//! principals holding the same several roles share one merged index, built on first use;
//! roles granted at request time (a JWT's claims) are looked up in the per-role indexes.
//!
//! When several rules match, the one reported is the first in the file: roles in
//! declaration order, then rules in list order. Entries are kept sorted in that order so
//! each list scan stops at its first match.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use rustc_hash::{FxHashMap, FxHashSet};

use super::policy::{AccessPolicy, ServiceKey};
use super::{Action, Basis, Decision, Effect, Request, RuleRef};
use crate::path::Segment;
use crate::project::ProjectConfig;

/// One rule parameter pattern in a bucket: `roles[role].{allow,deny}[rule].params[param]`.
/// Ordered as the rules appear in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    role: u32,
    rule: u32,
    param: u32,
}

/// The entries of one action and effect, split by how their patterns select services.
#[derive(Debug, Clone, Default)]
struct Bucket {
    exact: FxHashMap<Box<str>, Vec<Entry>>,
    wild: Vec<Entry>,
    own: Vec<Entry>,
}

impl Bucket {
    fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.wild.is_empty() && self.own.is_empty()
    }

    fn finish(&mut self) {
        for v in self.exact.values_mut() {
            v.sort_unstable();
            v.dedup();
        }
        self.wild.sort_unstable();
        self.wild.dedup();
        self.own.sort_unstable();
        self.own.dedup();
    }
}

/// Buckets per action (by [`Action::slot`]), deny and allow.
#[derive(Debug, Clone, Default)]
struct RuleIndex {
    deny: [Bucket; 7],
    allow: [Bucket; 7],
}

impl RuleIndex {
    /// Indexes every rule of the roles `role_ids` (positions in `policy.roles`).
    fn build(policy: &AccessPolicy, role_ids: &[u32]) -> RuleIndex {
        let mut ix = RuleIndex::default();
        for &role in role_ids {
            let Some((_, r)) = policy.roles.get_index(role as usize) else {
                continue;
            };
            for (effect, rules) in [(Effect::Deny, &r.deny), (Effect::Allow, &r.allow)] {
                for (ri, rule) in rules.iter().enumerate() {
                    for (pi, p) in rule.params.iter().enumerate() {
                        let entry = Entry {
                            role,
                            rule: ri as u32,
                            param: pi as u32,
                        };
                        for a in &rule.actions {
                            let bucket = match effect {
                                Effect::Deny => &mut ix.deny[a.slot()],
                                Effect::Allow => &mut ix.allow[a.slot()],
                            };
                            match &p.service {
                                ServiceKey::Exact(s) => match bucket.exact.get_mut(&**s) {
                                    Some(list) => list.push(entry),
                                    None => {
                                        bucket.exact.insert(s.clone(), vec![entry]);
                                    }
                                },
                                ServiceKey::Pattern => bucket.wild.push(entry),
                                ServiceKey::Own => bucket.own.push(entry),
                            }
                        }
                    }
                }
            }
        }
        for b in ix.deny.iter_mut().chain(ix.allow.iter_mut()) {
            b.finish();
        }
        ix
    }

    fn bucket(&self, effect: Effect, action: Action) -> &Bucket {
        match effect {
            Effect::Deny => &self.deny[action.slot()],
            Effect::Allow => &self.allow[action.slot()],
        }
    }
}

/// A set of roles some principals hold, and its merged index, built on first use (a
/// policy naming thousands of principals with distinct role sets loads quickly, and only
/// the sets that are asked about take memory).
#[derive(Debug, Clone, Default)]
struct RoleSet {
    /// Positions in `policy.roles`, sorted.
    roles: Vec<u32>,
    index: OnceLock<RuleIndex>,
}

/// Everything a decision looks up, built once per policy.
#[derive(Debug, Clone, Default)]
pub(crate) struct Index {
    /// One index per role, for roles granted at request time.
    by_role: Vec<RuleIndex>,
    /// The distinct role sets of the principals the policy names.
    sets: Vec<RoleSet>,
    /// Principal name → position in `sets`.
    principals: FxHashMap<Box<str>, u32>,
    /// Principal name → the services of the teams it owns (`@own`).
    owned: FxHashMap<Box<str>, FxHashSet<Box<str>>>,
}

impl Index {
    /// Indexes `policy`; `config` supplies teams and services for `@own`.
    pub(crate) fn build(policy: &AccessPolicy, config: Option<&ProjectConfig>) -> Index {
        let by_role = (0..policy.roles.len() as u32)
            .map(|r| RuleIndex::build(policy, &[r]))
            .collect();

        let mut held: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
        let role_id = |name: &str| policy.roles.get_index_of(name).map(|i| i as u32);
        for p in policy.principals.values() {
            held.entry(&p.name)
                .or_default()
                .extend(p.roles.iter().filter_map(|r| role_id(r)));
        }
        for g in policy.groups.values() {
            for m in &g.members {
                held.entry(m)
                    .or_default()
                    .extend(g.roles.iter().filter_map(|r| role_id(r)));
            }
        }
        let mut set_ids: FxHashMap<Vec<u32>, u32> = FxHashMap::default();
        let mut sets: Vec<RoleSet> = Vec::new();
        let mut principals = FxHashMap::default();
        for (name, mut roles) in held {
            roles.sort_unstable();
            roles.dedup();
            let id = *set_ids.entry(roles.clone()).or_insert_with(|| {
                sets.push(RoleSet {
                    roles,
                    index: OnceLock::new(),
                });
                (sets.len() - 1) as u32
            });
            principals.insert(Box::from(name), id);
        }

        Index {
            by_role,
            sets,
            principals,
            owned: owned_services(policy, config),
        }
    }
}

/// Who owns which services: a team's `owners` are principal names, or names of groups
/// whose members all count as owners.
fn owned_services(
    policy: &AccessPolicy,
    config: Option<&ProjectConfig>,
) -> FxHashMap<Box<str>, FxHashSet<Box<str>>> {
    let mut owned: FxHashMap<Box<str>, FxHashSet<Box<str>>> = FxHashMap::default();
    let Some(config) = config else {
        return owned;
    };
    for team in config.teams.values() {
        let services: Vec<&str> = config
            .services
            .values()
            .filter(|s| s.team.as_deref() == Some(team.name.as_str()))
            .map(|s| s.name.as_str())
            .collect();
        for owner in &team.owners {
            let mut who: Vec<&str> = vec![owner];
            if let Some(g) = policy.groups.get(owner) {
                who.extend(g.members.iter().map(String::as_str));
            }
            for p in who {
                owned
                    .entry(Box::from(p))
                    .or_default()
                    .extend(services.iter().map(|s| Box::from(*s)));
            }
        }
    }
    owned
}

/// The request's parameter, and whether the principal owns its service.
struct Target<'r> {
    env: &'r str,
    service: &'r str,
    path: &'r [Segment],
    owned: bool,
}

impl AccessPolicy {
    /// Decides `req`: the first matching deny rule of the principal's roles denies; else
    /// the first matching allow rule allows; else it is denied because no rule allows it.
    /// The open policy allows everything.
    pub fn decide(&self, req: &Request<'_>) -> Decision {
        if self.open {
            return Decision {
                allowed: true,
                basis: Basis::Open,
            };
        }
        let ix = &self.index;
        let set = ix
            .principals
            .get(req.principal)
            .and_then(|&s| ix.sets.get(s as usize));
        let target = Target {
            env: req.env,
            service: req.service,
            path: req.path,
            owned: ix
                .owned
                .get(req.principal)
                .is_some_and(|s| s.contains(req.service)),
        };
        for effect in [Effect::Deny, Effect::Allow] {
            let mut best: Option<Entry> = None;
            if let Some(set) = set {
                let index = self.set_index(set);
                best = self.first_match(effect, index.bucket(effect, req.action), &target, best);
            }
            for (i, extra) in req.extra_roles.iter().enumerate() {
                let Some(role) = self.roles.get_index_of(extra.as_str()) else {
                    continue;
                };
                let role = role as u32;
                let already = set.is_some_and(|s| s.roles.binary_search(&role).is_ok())
                    || req.extra_roles[..i].iter().any(|e| e == extra);
                if already {
                    continue;
                }
                if let Some(rix) = ix.by_role.get(role as usize) {
                    best = self.first_match(effect, rix.bucket(effect, req.action), &target, best);
                }
            }
            if let Some(e) = best
                && let Some(rule) = self.entry_ref(effect, e)
            {
                return Decision {
                    allowed: effect == Effect::Allow,
                    basis: Basis::Rule(rule),
                };
            }
        }
        Decision {
            allowed: false,
            basis: Basis::NoRule,
        }
    }

    /// The principals the policy names (see [`AccessPolicy::known_principals`]) that may
    /// do `action` on `service:path` in `env`, sorted by name, each with the allow rule
    /// that lets them. Roles granted by tokens are not known here and not counted. Empty
    /// for the open policy, which names nobody.
    pub fn who_can(
        &self,
        action: Action,
        env: &str,
        service: &str,
        path: &[Segment],
    ) -> Vec<(String, RuleRef)> {
        self.known_principals()
            .into_iter()
            .filter_map(|p| {
                let d = self.decide(&Request::new(p, action, env, service, path));
                match (d.allowed, d.basis) {
                    (true, Basis::Rule(r)) => Some((p.to_string(), r)),
                    _ => None,
                }
            })
            .collect()
    }

    /// The merged index of a role set: the role's own for a single role, else built once.
    fn set_index<'s>(&'s self, set: &'s RoleSet) -> &'s RuleIndex {
        if let [role] = set.roles[..]
            && let Some(ix) = self.index.by_role.get(role as usize)
        {
            return ix;
        }
        set.index.get_or_init(|| RuleIndex::build(self, &set.roles))
    }

    /// The earliest entry of `bucket` (of `effect`'s lists) matching `t`, if it comes
    /// before `best`.
    fn first_match(
        &self,
        effect: Effect,
        bucket: &Bucket,
        t: &Target<'_>,
        best: Option<Entry>,
    ) -> Option<Entry> {
        if bucket.is_empty() {
            return best;
        }
        let mut best = best;
        let mut scan = |entries: &[Entry], how: Match| {
            for &e in entries {
                if best.is_some_and(|b| e >= b) {
                    return;
                }
                if self.entry_matches(effect, e, t, how) {
                    best = Some(e);
                    return;
                }
            }
        };
        if let Some(list) = bucket.exact.get(t.service) {
            scan(list, Match::Path);
        }
        scan(&bucket.wild, Match::ServiceAndPath);
        if t.owned {
            scan(&bucket.own, Match::Path);
        }
        best
    }

    /// Whether the rule and pattern `e` points at match `t` (the action matched already:
    /// the entry is in that action's bucket).
    #[inline]
    fn entry_matches(&self, effect: Effect, e: Entry, t: &Target<'_>, how: Match) -> bool {
        let Some(rule) = self
            .roles
            .get_index(e.role as usize)
            .and_then(|(_, r)| r.rules(effect).get(e.rule as usize))
        else {
            return false;
        };
        let Some(param) = rule.params.get(e.param as usize) else {
            return false;
        };
        rule.env_matches(t.env)
            && match how {
                Match::Path => param.matches_path(t.path),
                Match::ServiceAndPath => param.matches_pattern(t.service, t.path),
            }
    }

    /// The [`RuleRef`] of entry `e` of `effect`'s lists.
    fn entry_ref(&self, effect: Effect, e: Entry) -> Option<RuleRef> {
        let (_, role) = self.roles.get_index(e.role as usize)?;
        let rule = role.rules(effect).get(e.rule as usize)?;
        Some(RuleRef {
            role: role.name.clone(),
            effect,
            index: e.rule as usize,
            file: self.file.clone(),
            line: rule.loc.line,
            col: rule.loc.col,
        })
    }
}

/// What is left to check of an entry once its bucket matched the service.
#[derive(Debug, Clone, Copy)]
enum Match {
    /// The service is known to match (exact name or owned); check the path.
    Path,
    /// Check the service pattern and the path.
    ServiceAndPath,
}
