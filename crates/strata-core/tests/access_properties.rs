//! Properties of access decisions over random policies:
//! - a principal with no role (not declared, in no group, no extra roles) is denied
//!   everything;
//! - deny wins: adding a deny rule never turns a denied request into an allowed one, and
//!   a matching deny rule of a held role always denies;
//! - the indexed engine agrees with a naive reading of the rules (every rule of every
//!   held role, first deny, else first allow), deciding rule included;
//! - reading never panics on mangled policy text.

use proptest::prelude::*;
use strata_core::access::{AccessPolicy, Action, Basis, Decision, Effect, Request};
use strata_core::path::ParamPath;
use strata_core::project::ProjectConfig;

const PROJECT: &str = "version: 1
environments: [dev, staging, prod, qa]
providers: [aws]
targets: [dev/aws/us-east-1]
hierarchy: [base]
teams:
  t1: { owners: [p0, g0] }
  t2: { owners: [p1] }
services:
  svc1: { team: t1 }
  svc2: {}
  svc3: { team: t2 }
  pay: {}
";

fn config() -> ProjectConfig {
    ProjectConfig::parse(PROJECT).unwrap()
}

const ROLES: [&str; 4] = ["r0", "r1", "r2", "r3"];
const ENVS: [&str; 5] = ["*", "dev", "prod", "st*", "qa"];
const GLOBS: [&str; 12] = [
    "*:**",
    "svc1:**",
    "svc2:a.*",
    "*:**.password",
    "svc1:a.**.password",
    "svc1:a.b",
    "@own:**",
    "@own:a.*",
    "svc2:",
    "*:b[*]",
    "pa*:**",
    "svc3:a.b.**",
];
const PATHS: [&str; 12] = [
    "svc1:",
    "svc1:a.b",
    "svc1:a.b.password",
    "svc1:a.x.y.password",
    "svc2:a.x",
    "svc2:",
    "svc2:b[3]",
    "svc3:a.b.c",
    "svc3:password",
    "pay:a",
    "pay:b[0]",
    "other:a.b",
];
const PRINCIPALS: [&str; 6] = ["p0", "p1", "p2", "m0", "m1", "stranger"];

/// A generated rule: indexes into the pools above.
#[derive(Debug, Clone)]
struct GenRule {
    actions: Vec<usize>,
    envs: Vec<usize>,
    params: Vec<usize>,
}

impl GenRule {
    fn yaml(&self) -> String {
        let list = |v: Vec<String>| v.join(", ");
        format!(
            "{{ actions: [{}], envs: [{}], params: [{}] }}",
            list(
                self.actions
                    .iter()
                    .map(|&a| Action::ALL[a].to_string())
                    .collect()
            ),
            list(
                self.envs
                    .iter()
                    .map(|&e| format!("\"{}\"", ENVS[e]))
                    .collect()
            ),
            list(
                self.params
                    .iter()
                    .map(|&p| format!("\"{}\"", GLOBS[p]))
                    .collect()
            ),
        )
    }
}

#[derive(Debug, Clone)]
struct GenPolicy {
    /// Per role: allow rules, deny rules.
    roles: Vec<(Vec<GenRule>, Vec<GenRule>)>,
    /// Per principal p0..p2: roles held.
    principals: Vec<Vec<usize>>,
    /// Groups g0, g1: members (from m0, m1, p2) and roles.
    groups: Vec<(Vec<usize>, Vec<usize>)>,
}

impl GenPolicy {
    fn yaml(&self) -> String {
        let mut s = String::from("roles:\n");
        for (i, (allow, deny)) in self.roles.iter().enumerate() {
            s += &format!("  {}:\n", ROLES[i]);
            for (key, rules) in [("allow", allow), ("deny", deny)] {
                if rules.is_empty() {
                    continue;
                }
                s += &format!("    {key}:\n");
                for r in rules {
                    s += &format!("      - {}\n", r.yaml());
                }
            }
        }
        let names = |v: &[usize], pool: &[&str]| -> String {
            v.iter().map(|&i| pool[i]).collect::<Vec<_>>().join(", ")
        };
        s += "principals:\n";
        for (i, roles) in self.principals.iter().enumerate() {
            s += &format!("  p{i}: {{ roles: [{}] }}\n", names(roles, &ROLES));
        }
        s += "groups:\n";
        for (i, (members, roles)) in self.groups.iter().enumerate() {
            s += &format!(
                "  g{i}: {{ members: [{}], roles: [{}] }}\n",
                names(members, &["m0", "m1", "p2"]),
                names(roles, &ROLES)
            );
        }
        s
    }
}

fn subset(n: usize, max: usize) -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::btree_set(0..n, 1..=max).prop_map(|s| s.into_iter().collect())
}

fn gen_rule() -> impl Strategy<Value = GenRule> {
    (
        subset(Action::ALL.len(), 3),
        subset(ENVS.len(), 2),
        subset(GLOBS.len(), 2),
    )
        .prop_map(|(actions, envs, params)| GenRule {
            actions,
            envs,
            params,
        })
}

fn gen_policy() -> impl Strategy<Value = GenPolicy> {
    let role = (
        proptest::collection::vec(gen_rule(), 0..4),
        proptest::collection::vec(gen_rule(), 0..3),
    );
    let held = proptest::collection::btree_set(0..ROLES.len(), 0..3)
        .prop_map(|s| s.into_iter().collect::<Vec<_>>());
    let members = proptest::collection::btree_set(0..3usize, 0..3)
        .prop_map(|s| s.into_iter().collect::<Vec<_>>());
    (
        proptest::collection::vec(role, ROLES.len()),
        proptest::collection::vec(held.clone(), 3),
        proptest::collection::vec((members, held), 2),
    )
        .prop_map(|(roles, principals, groups)| GenPolicy {
            roles,
            principals,
            groups,
        })
}

#[derive(Debug, Clone)]
struct GenRequest {
    principal: usize,
    extra: Vec<String>,
    action: usize,
    env: &'static str,
    path: usize,
}

fn gen_request() -> impl Strategy<Value = GenRequest> {
    (
        0..PRINCIPALS.len(),
        proptest::collection::vec(
            prop_oneof![
                (0..ROLES.len()).prop_map(|i| ROLES[i].to_string()),
                Just("undeclared".to_string())
            ],
            0..3,
        ),
        0..Action::ALL.len(),
        prop_oneof![Just("dev"), Just("staging"), Just("prod"), Just("qa")],
        0..PATHS.len(),
    )
        .prop_map(|(principal, extra, action, env, path)| GenRequest {
            principal,
            extra,
            action,
            env,
            path,
        })
}

fn decide(p: &AccessPolicy, r: &GenRequest) -> Decision {
    let param = ParamPath::parse(PATHS[r.path]).unwrap();
    p.decide(
        &Request::new(
            PRINCIPALS[r.principal],
            Action::ALL[r.action],
            r.env,
            &param.service,
            &param.segments,
        )
        .with_extra_roles(&r.extra),
    )
}

/// Whether `principal` owns `service` by `PROJECT`'s teams, read independently.
fn owns(p: &AccessPolicy, config: &ProjectConfig, principal: &str, service: &str) -> bool {
    let Some(team) = config.services.get(service).and_then(|s| s.team.as_ref()) else {
        return false;
    };
    config.teams[team].owners.iter().any(|o| {
        o == principal
            || p.groups()
                .get(o)
                .is_some_and(|g| g.members.iter().any(|m| m == principal))
    })
}

/// The naive decision: every rule of every held role, in file order.
fn oracle(p: &AccessPolicy, config: &ProjectConfig, r: &GenRequest) -> (bool, Option<String>) {
    let param = ParamPath::parse(PATHS[r.path]).unwrap();
    let principal = PRINCIPALS[r.principal];
    let held = p.roles_of(principal, &r.extra);
    let owned = owns(p, config, principal, &param.service);
    for effect in [Effect::Deny, Effect::Allow] {
        for (name, role) in p.roles() {
            if !held.contains(&name.as_str()) {
                continue;
            }
            for (i, rule) in role.rules(effect).iter().enumerate() {
                if rule.covers(
                    Action::ALL[r.action],
                    r.env,
                    &param.service,
                    &param.segments,
                    owned,
                ) {
                    let shown = p.rule_ref(name, effect, i).unwrap().to_string();
                    return (effect == Effect::Allow, Some(shown));
                }
            }
        }
    }
    (false, None)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_principal_without_roles_is_denied_everything(
        policy in gen_policy(),
        action in 0..Action::ALL.len(),
        env in prop_oneof![Just("dev"), Just("prod"), Just("qa"), Just("anything")],
        path in 0..PATHS.len(),
    ) {
        let config = config();
        let p = AccessPolicy::parse(policy.yaml().as_bytes(), Some(&config)).unwrap();
        let param = ParamPath::parse(PATHS[path]).unwrap();
        let d = p.decide(&Request::new(
            "stranger",
            Action::ALL[action],
            env,
            &param.service,
            &param.segments,
        ));
        prop_assert!(!d.allowed);
        prop_assert_eq!(d.basis, Basis::NoRule);
        prop_assert!(p.roles_of("stranger", &[]).is_empty());
    }

    #[test]
    fn the_index_agrees_with_reading_every_rule(
        policy in gen_policy(),
        requests in proptest::collection::vec(gen_request(), 1..24),
    ) {
        let config = config();
        let text = policy.yaml();
        let p = AccessPolicy::parse(text.as_bytes(), Some(&config)).unwrap();
        for r in &requests {
            let d = decide(&p, r);
            let (allowed, rule) = oracle(&p, &config, r);
            prop_assert_eq!(d.allowed, allowed, "{:?}\n{}", r, text);
            prop_assert_eq!(d.rule().map(ToString::to_string), rule, "{:?}\n{}", r, text);
        }
    }

    #[test]
    fn deny_wins(
        policy in gen_policy(),
        role in 0..ROLES.len(),
        deny in gen_rule(),
        requests in proptest::collection::vec(gen_request(), 1..24),
    ) {
        let config = config();
        let before = AccessPolicy::parse(policy.yaml().as_bytes(), Some(&config)).unwrap();
        let mut more = policy.clone();
        more.roles[role].1.push(deny.clone());
        let after = AccessPolicy::parse(more.yaml().as_bytes(), Some(&config)).unwrap();
        let added = &after.roles()[ROLES[role]].deny[more.roles[role].1.len() - 1];
        for r in &requests {
            let (d0, d1) = (decide(&before, r), decide(&after, r));
            if !d0.allowed {
                prop_assert!(!d1.allowed, "{:?}: {} then {}", r, d0, d1);
            }
            let param = ParamPath::parse(PATHS[r.path]).unwrap();
            let principal = PRINCIPALS[r.principal];
            let held = after.roles_of(principal, &r.extra).contains(&ROLES[role]);
            let matches = added.covers(
                Action::ALL[r.action],
                r.env,
                &param.service,
                &param.segments,
                owns(&after, &config, principal, &param.service),
            );
            if held && matches {
                prop_assert!(!d1.allowed, "{:?}: {}", r, d1);
                prop_assert_eq!(d1.rule().map(|x| x.effect), Some(Effect::Deny));
            }
        }
    }

    #[test]
    fn reading_never_panics_on_mangled_policies(
        policy in gen_policy(),
        cut in 0usize..2000,
        insert in "[\\[\\]{}:, \\n\"*@a-z0-9-]{0,8}",
    ) {
        let text = policy.yaml();
        let at = text.char_indices().map(|(i, _)| i).nth(cut % text.len().max(1)).unwrap_or(0);
        let mangled = format!("{}{}{}", &text[..at], insert, &text[at..]);
        let config = config();
        if let Ok(p) = AccessPolicy::parse(mangled.as_bytes(), Some(&config)) {
            for r in ["p0", "m0", "x"] {
                let _ = p.decide(&Request::new(r, Action::Write, "dev", "svc1", &[]));
            }
        }
        let _ = AccessPolicy::parse(mangled.as_bytes(), None);
    }

    #[test]
    fn reading_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = AccessPolicy::parse(&bytes, Some(&config()));
    }
}
