//! Table-driven tests of access decisions (`tests/data/access/cases.txt` against
//! `tests/data/access/access.yaml`), `who_can`, `approvals_for`, and one row per kind of
//! policy error, each located at `policies/access.yaml:LINE:COL`.

use strata_core::access::{
    AccessPolicy, Action, Approval, Basis, Effect, PolicyErrorKind, Request, judge,
};
use strata_core::path::{ParamPath, parse_segments};
use strata_core::project::ProjectConfig;

const POLICY: &str = include_str!("data/access/access.yaml");
const PROJECT: &str = include_str!("data/access/strata.yaml");
const CASES: &str = include_str!("data/access/cases.txt");

fn config() -> ProjectConfig {
    ProjectConfig::parse(PROJECT).unwrap()
}

fn policy() -> AccessPolicy {
    AccessPolicy::parse(POLICY.as_bytes(), Some(&config())).unwrap()
}

/// One row of `cases.txt`.
struct Case<'a> {
    line: usize,
    open: bool,
    principal: &'a str,
    extra: Vec<String>,
    action: Action,
    env: &'a str,
    param: ParamPath,
    expected: &'a str,
}

fn cases() -> Vec<Case<'static>> {
    let mut out = Vec::new();
    for (i, line) in CASES.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let mut rest = line;
        let mut col = || {
            let t = rest.trim_start();
            let end = t.find(char::is_whitespace).unwrap_or(t.len());
            let (word, tail) = t.split_at(end);
            rest = tail;
            word
        };
        let policy = col();
        let principal = col();
        let extra = col();
        let action = col();
        let env = col();
        let param = col();
        let expected = rest.trim();
        assert!(
            matches!(policy, "file" | "open"),
            "cases.txt:{line_no}: policy `{policy}`"
        );
        out.push(Case {
            line: line_no,
            open: policy == "open",
            principal,
            extra: if extra == "-" {
                Vec::new()
            } else {
                extra.split(',').map(str::to_string).collect()
            },
            action: action
                .parse()
                .unwrap_or_else(|e| panic!("cases.txt:{line_no}: {e}")),
            env,
            param: ParamPath::parse(param).unwrap_or_else(|e| panic!("cases.txt:{line_no}: {e}")),
            expected,
        });
    }
    out
}

#[test]
fn the_table_has_at_least_fifty_cases() {
    assert!(cases().len() >= 50, "{} cases", cases().len());
}

#[test]
fn decisions_match_the_table() {
    let file = policy();
    let open = AccessPolicy::open();
    let mut failures = Vec::new();
    for c in cases() {
        let p = if c.open { &open } else { &file };
        let req = Request::new(
            c.principal,
            c.action,
            c.env,
            &c.param.service,
            &c.param.segments,
        )
        .with_extra_roles(&c.extra);
        let d = p.decide(&req);
        let shown = d.to_string();
        if shown != c.expected {
            failures.push(format!(
                "cases.txt:{}: {req}\n    expected: {}\n    got:      {shown}",
                c.line, c.expected
            ));
            continue;
        }
        // The typed reference agrees with what is shown, and points at a real rule.
        assert_eq!(d.allowed, c.expected.starts_with("allowed"));
        match &d.basis {
            Basis::Rule(r) => {
                assert_eq!(
                    p.rule_ref(&r.role, r.effect, r.index).as_ref(),
                    Some(r),
                    "cases.txt:{}",
                    c.line
                );
                assert_eq!(d.allowed, r.effect == Effect::Allow);
                assert_eq!(&*r.file, "policies/access.yaml");
            }
            Basis::NoRule => assert!(!d.allowed),
            Basis::Open => assert!(c.open && d.allowed),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_test_policy_loads_cleanly() {
    let p = policy();
    assert!(p.warnings().is_empty(), "{:?}", p.warnings());
    assert!(p.identity.is_some());
    assert_eq!(
        p.known_principals(),
        vec![
            "alice", "bob", "carol", "ci-bot", "dave", "erin", "frank", "oscar", "sam"
        ]
    );
}

fn who(p: &AccessPolicy, action: Action, env: &str, param: &str) -> Vec<String> {
    let param = ParamPath::parse(param).unwrap();
    p.who_can(action, env, &param.service, &param.segments)
        .into_iter()
        .map(|(name, rule)| format!("{name}: {rule}"))
        .collect()
}

#[test]
fn who_can_lists_principals_and_their_rules_sorted() {
    let p = policy();
    assert_eq!(
        who(&p, Action::Write, "dev", "checkout:db.host"),
        vec![
            "alice: role sre allow #1 (policies/access.yaml:5)",
            "bob: role payments-dev allow #1 (policies/access.yaml:10)",
            "erin: role team-dev allow #1 (policies/access.yaml:17)",
            "oscar: role sre allow #1 (policies/access.yaml:5)",
        ]
    );
    assert_eq!(
        who(&p, Action::ReadSecret, "dev", "checkout:db.password"),
        vec![
            "alice: role sre allow #1 (policies/access.yaml:5)",
            "carol: role secrets-reader allow #1 (policies/access.yaml:21)",
            "oscar: role sre allow #1 (policies/access.yaml:5)",
        ]
    );
    // Denied by a group's deny rule: bob and frank drop out.
    assert_eq!(
        who(&p, Action::Write, "prod", "web:feature.x"),
        vec![
            "alice: role sre allow #1 (policies/access.yaml:5)",
            "oscar: role sre allow #1 (policies/access.yaml:5)",
        ]
    );
    assert!(who(&p, Action::OverrideFreeze, "prod", "checkout:db.host").is_empty());
    assert!(who(&AccessPolicy::open(), Action::Read, "dev", "checkout:").is_empty());
}

#[test]
fn approvals_for_lists_the_rules_covering_a_write() {
    let p = policy();
    let names = |env: &str, param: &str| -> Vec<String> {
        let param = ParamPath::parse(param).unwrap();
        p.approvals_for(env, &param.service, &param.segments)
            .iter()
            .map(|a| a.name.clone())
            .collect()
    };
    assert_eq!(
        names("prod", "checkout:db.password"),
        vec!["prod-changes", "payments-secrets"]
    );
    assert_eq!(names("eu-prod", "web:replicas"), vec!["prod-changes"]);
    assert_eq!(names("dev", "ledger:a.password"), vec!["payments-secrets"]);
    assert!(names("dev", "checkout:db.host").is_empty());
    assert!(names("dev", "web:password").is_empty());

    let rule = p.approvals_for("prod", "web", &[])[0];
    assert_eq!(rule.expires_after, Some(72 * 3600));
    // Roles as the policy computes them feed the judge.
    let alice_roles: Vec<String> = p
        .roles_of("alice", &[])
        .iter()
        .map(|s| s.to_string())
        .collect();
    let bob_roles: Vec<String> = p
        .roles_of("bob", &[])
        .iter()
        .map(|s| s.to_string())
        .collect();
    let v = judge(
        rule,
        "alice",
        &[
            Approval::new("alice", &alice_roles),
            Approval::new("bob", &bob_roles),
        ],
    );
    assert!(!v.satisfied());
    assert_eq!(v.refused.len(), 2);
    assert_eq!(
        v.refused[0].to_string(),
        "`alice` wrote this change and cannot approve it"
    );
    assert!(v.refused[1].to_string().contains("holds none of the roles"));
    assert!(
        AccessPolicy::open()
            .approvals_for("prod", "web", &[])
            .is_empty()
    );
}

#[test]
fn deep_paths_and_every_glob_depth() {
    let text = r#"roles:
  r:
    allow:
      - { actions: [read], envs: ["*"], params: ["*:**"] }
      - { actions: [write], envs: ["*"], params: ["svc:**"] }
      - { actions: [approve], envs: ["*"], params: ["svc:a.*"] }
      - { actions: [deploy], envs: ["*"], params: ["svc:a.**.password"] }
      - { actions: [admin], envs: ["*"], params: ["svc:a.b.c"] }
principals:
  p: { roles: [r] }
"#;
    let p = AccessPolicy::parse(text.as_bytes(), None).unwrap();
    let check = |action: Action, param: &str| -> bool {
        let param = ParamPath::parse(param).unwrap();
        p.decide(&Request::new(
            "p",
            action,
            "dev",
            &param.service,
            &param.segments,
        ))
        .allowed
    };
    let deep = format!("svc:{}", vec!["x"; 40].join("."));
    for (action, param, want) in [
        (Action::Read, "other:", true),
        (Action::Read, deep.as_str(), true),
        (Action::Write, "svc:", true),
        (Action::Write, deep.as_str(), true),
        (Action::Write, "svcx:a", false),
        (Action::Approve, "svc:a.b", true),
        (Action::Approve, "svc:a[3]", true),
        (Action::Approve, "svc:a", false),
        (Action::Approve, "svc:a.b.c", false),
        (Action::Deploy, "svc:a.password", true),
        (Action::Deploy, "svc:a.x.y.z.password", true),
        (Action::Deploy, "svc:a.x.password.y", false),
        (Action::Deploy, "svc:b.password", false),
        (Action::Admin, "svc:a.b.c", true),
        (Action::Admin, "svc:a.b", false),
        (Action::Admin, "svc:a.b.c.d", false),
    ] {
        assert_eq!(check(action, param), want, "{action} {param}");
    }
    assert_eq!(parse_segments("a.b").unwrap().len(), 2);
}

/// A policy text with `from` replaced by `to` (which must occur once).
fn mutate(from: &str, to: &str) -> String {
    assert_eq!(POLICY.matches(from).count(), 1, "`{from}` must occur once");
    POLICY.replacen(from, to, 1)
}

#[test]
fn every_kind_of_policy_error_is_located() {
    let cases: Vec<(String, PolicyErrorKind, u32, &str)> = vec![
        (
            mutate("  sre:\n    allow:\n", "  sre:\n    allow: [\n"),
            PolicyErrorKind::Syntax,
            5,
            "",
        ),
        (
            mutate("  dave: {}\n", "  dave: {}\n  dave: {}\n"),
            PolicyErrorKind::DuplicateKey,
            44,
            "dave",
        ),
        (
            mutate("principals:\n", "principal:\n"),
            PolicyErrorKind::UnknownKey,
            39,
            "unknown key `principal` in policies/access.yaml",
        ),
        (
            mutate(r#"params: ["ledger:db.*"]"#, r#"parms: ["ledger:db.*"]"#),
            PolicyErrorKind::UnknownKey,
            12,
            "unknown key `parms` in a rule",
        ),
        (
            mutate(
                "        description: reads the dev database passwords\n",
                "        descripton: reads the dev database passwords\n",
            ),
            PolicyErrorKind::UnknownKey,
            24,
            "unknown key `descripton`",
        ),
        (
            mutate(
                "  ci-bot: { roles: [deployer] }",
                "  ci-bot: { role: [deployer] }",
            ),
            PolicyErrorKind::UnknownKey,
            44,
            "unknown key `role` in a principal",
        ),
        (
            mutate("approve, deploy, admin]", "approve, deploi, admin]"),
            PolicyErrorKind::UnknownAction,
            5,
            "unknown action `deploi`",
        ),
        (
            mutate(
                "  alice: { roles: [sre] }",
                "  alice: { roles: [sre, root] }",
            ),
            PolicyErrorKind::UnknownRole,
            40,
            "unknown role `root`",
        ),
        (
            mutate(
                "members: [erin], roles: [team-dev]",
                "members: [erin], roles: [team-devs]",
            ),
            PolicyErrorKind::UnknownRole,
            47,
            "unknown role `team-devs`",
        ),
        (
            mutate("from_roles: [sre]\n", "from_roles: [sres]\n"),
            PolicyErrorKind::UnknownRole,
            55,
            "unknown role `sres`",
        ),
        (
            mutate(r#"["ledger:db.*"]"#, r#"["ledger:db..*"]"#),
            PolicyErrorKind::MalformedGlob,
            12,
            "invalid parameter glob `ledger:db..*`",
        ),
        (
            mutate(
                r#"envs: [prod, "eu-*"], params"#,
                r#"envs: [prod, "eu prod"], params"#,
            ),
            PolicyErrorKind::MalformedGlob,
            11,
            "invalid environment glob `eu prod`",
        ),
        (
            mutate(
                r#"params: ["@own:**"] }
      - { actions: [read]"#,
                r#"params: ["@team:**"] }
      - { actions: [read]"#,
            ),
            PolicyErrorKind::MalformedGlob,
            17,
            "`@team:**`",
        ),
        (
            mutate(
                r#"params: ["*:**"]
    required: 2"#,
                r#"params: ["@own:**"]
    required: 2"#,
            ),
            PolicyErrorKind::MalformedGlob,
            53,
            "`@own` is only meaningful in role rules",
        ),
        (
            mutate("required: 2", "required: 0"),
            PolicyErrorKind::BadRequired,
            54,
            "at least 1, found 0",
        ),
        (
            mutate("required: 2", "required: two"),
            PolicyErrorKind::BadRequired,
            54,
            "found \"two\"",
        ),
        (
            mutate("required: 2", "required: 1.5"),
            PolicyErrorKind::BadRequired,
            54,
            "whole number",
        ),
        (
            mutate("required: 2", "required: 99999999999"),
            PolicyErrorKind::BadRequired,
            54,
            "too large",
        ),
        (
            mutate("    required: 1\n", ""),
            PolicyErrorKind::MissingKey,
            57,
            "an approval rule needs `required`",
        ),
        (
            mutate(
                r#"{ actions: [deploy], envs: ["*"], params: ["*:"] }"#,
                r#"{ actions: [deploy], params: ["*:"] }"#,
            ),
            PolicyErrorKind::MissingKey,
            35,
            "a rule needs `envs`",
        ),
        (
            mutate(r#"envs: [dev]"#, "envs: dev"),
            PolicyErrorKind::WrongType,
            22,
            "`envs` must be a list, found a string",
        ),
        (
            mutate(
                r#"{ actions: [override-freeze], envs: [prod]"#,
                r#"{ actions: [], envs: [prod]"#,
            ),
            PolicyErrorKind::WrongType,
            38,
            "`actions` must not be empty",
        ),
        (
            mutate(
                r#"params: ["*:feature.*"]"#,
                r#"params: ["*:feature.*"], envs: [x]"#,
            ),
            PolicyErrorKind::DuplicateKey,
            27,
            "envs",
        ),
        (
            mutate("envs: [dev]", "envs: [devv]"),
            PolicyErrorKind::Undeclared,
            22,
            "environment `devv` is not declared in strata.yaml",
        ),
        (
            mutate(r#""checkout:db.password""#, r#""chekout:db.password""#),
            PolicyErrorKind::Undeclared,
            23,
            "service `chekout` is not declared in strata.yaml",
        ),
        (
            mutate("expires_after: 72h", "expires_after: 72 hours"),
            PolicyErrorKind::BadDuration,
            56,
            "`expires_after` is not a duration: `72 hours`",
        ),
        (
            mutate("name: payments-secrets", "name: prod-changes"),
            PolicyErrorKind::BadName,
            57,
            "approval rule `prod-changes` is declared twice",
        ),
        (
            mutate("  list-editor:\n", "  \"list editor\":\n"),
            PolicyErrorKind::BadName,
            30,
            "invalid role name `list editor`",
        ),
        (
            mutate("members: [frank, bob]", "members: [frank, \"b ob\"]"),
            PolicyErrorKind::BadName,
            48,
            "invalid principal name `b ob`",
        ),
    ];
    let config = config();
    let mut failures = Vec::new();
    for (text, kind, line, fragment) in &cases {
        let e = match AccessPolicy::parse(text.as_bytes(), Some(&config)) {
            Ok(_) => {
                failures.push(format!("{kind:?} (line {line}): parsed without error"));
                continue;
            }
            Err(e) => e,
        };
        let shown = e.to_string();
        let prefix = format!("policies/access.yaml:{line}:");
        if e.kind != *kind || !shown.starts_with(&prefix) || !shown.contains(fragment) {
            failures.push(format!(
                "expected {kind:?} at {prefix} containing {fragment:?}, got {:?}: {shown}",
                e.kind
            ));
        }
        assert!(
            e.diagnostic.hint.is_some() || e.kind == PolicyErrorKind::Syntax,
            "{shown}"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn unknown_actions_list_the_known_ones() {
    let e = AccessPolicy::parse(
        mutate("approve, deploy, admin]", "approve, deploy, root]").as_bytes(),
        None,
    )
    .unwrap_err();
    assert_eq!(
        e.diagnostic.hint.as_deref(),
        Some("known actions: read, read-secret, write, approve, deploy, override-freeze, admin")
    );
}

#[test]
fn without_a_config_names_are_not_checked_and_own_matches_nothing() {
    let text = mutate("envs: [dev]", "envs: [devv]");
    let p = AccessPolicy::parse(text.as_bytes(), None).unwrap();
    let d = p.decide(&Request::new(
        "bob",
        Action::Write,
        "dev",
        "ledger",
        &parse_segments("replicas").unwrap(),
    ));
    assert_eq!(d.to_string(), "denied: no rule allows it");
}

/// The example and messages in `docs/access.md` are what Strata reads and prints.
#[test]
fn the_documented_example_is_valid() {
    let doc = include_str!("../../../docs/access.md");
    let start = doc.find("## 1. The file").unwrap();
    let body = &doc[start..];
    let yaml_start = body.find("```yaml\n").unwrap() + "```yaml\n".len();
    let yaml = &body[yaml_start..yaml_start + body[yaml_start..].find("```").unwrap()];
    let p = AccessPolicy::parse(yaml.as_bytes(), None).unwrap();
    assert!(p.warnings().is_empty(), "{:?}", p.warnings());
    let pw = parse_segments("db.password").unwrap();
    for (principal, want) in [
        (
            "alice",
            "allowed by role sre allow #1 (policies/access.yaml:4)",
        ),
        (
            "bob",
            "denied by role payments-dev deny #1 (policies/access.yaml:12)",
        ),
    ] {
        let d = p.decide(&Request::new(
            principal,
            Action::Read,
            "prod",
            "checkout",
            &pw,
        ));
        assert_eq!(d.to_string(), want);
        assert!(doc.contains(want), "{want}");
    }
    for (from, to) in [
        ("approve, deploy, admin]", "approve, deploi, admin]"),
        ("alice: { roles: [sre] }", "alice: { roles: [sre, root] }"),
        (
            "[\"checkout:**\"] }\n      - { actions: [read]",
            "[\"checkout:db..*\"] }\n      - { actions: [read]",
        ),
    ] {
        let e = AccessPolicy::parse(yaml.replacen(from, to, 1).as_bytes(), None).unwrap_err();
        assert!(doc.contains(&e.to_string()), "docs/access.md lacks:\n{e}");
    }
}
