//! Listing commands, choosing the project (`--project`, `STRATA_PROJECT`), help and version.

mod common;

use common::*;
use serde_json::json;

// ---------------------------------------------------------------------------------------
// strata targets / strata services

#[test]
fn targets_and_services_of_acme() {
    let targets = run(ACME, &["targets"]).ok().stdout;
    assert!(targets.starts_with("TARGET "), "{targets}");
    assert_eq!(targets.lines().count(), 9, "{targets}");
    insta::assert_snapshot!("targets_acme", targets);

    let services = run(ACME, &["services"]).ok().stdout;
    let names: Vec<&str> = services
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(names, ACME_SERVICES);
    insta::assert_snapshot!("services_acme", services);
}

#[test]
fn targets_json_of_acme_lists_every_target_in_order() {
    let v = run(ACME, &["targets", "--json"]).ok().json();
    let rows = v.as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["target"].as_str().unwrap()).collect();
    assert_eq!(names, ACME_TARGETS);
    for r in rows {
        assert_eq!(r["protected"], json!(r["env"] == "prod"), "{r}");
        assert_eq!(
            r["target"].as_str().unwrap(),
            format!(
                "{}/{}/{}",
                r["env"].as_str().unwrap(),
                r["provider"].as_str().unwrap(),
                r["region"].as_str().unwrap()
            )
        );
    }
}

#[test]
fn targets_and_services_of_a_small_project() {
    let p = small();
    let targets = p.run(&["targets"]).ok().stdout;
    assert_eq!(
        targets,
        "TARGET                 ENV         PROVIDER  REGION\n\
         dev/aws/us-east-1      dev         aws       us-east-1\n\
         prod/aws/us-east-1     prod        aws       us-east-1  (protected)\n\
         prod/gcp/europe-west1  prod        gcp       europe-west1  (protected)\n"
    );
    let json = p.run(&["targets", "--json"]).ok().json();
    let names: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["target"].as_str().unwrap())
        .collect();
    assert_eq!(names, SMALL_TARGETS);

    let services = p.run(&["services"]).ok().stdout;
    assert_eq!(
        services,
        "SERVICE  TEAM            SCHEMA\n\
         api      web             schemas/api.yaml\n\
         worker   web             -\n"
    );
    let json = p.run(&["services", "--json"]).ok().json();
    assert_eq!(
        json,
        json!([
            {"service": "api", "team": "web", "schema": "schemas/api.yaml", "consumes": []},
            {"service": "worker", "team": "web", "schema": null, "consumes": ["api"]},
        ])
    );
}

#[test]
fn listing_an_invalid_project_fails_like_resolve() {
    let p = small();
    p.write("strata.yaml", "version: 1\ntragets: []\n");
    for cmd in ["targets", "services"] {
        let r = p.run(&[cmd]).expect(1);
        assert!(
            r.stderr
                .starts_with("error: strata.yaml:2:1: unknown key `tragets`"),
            "{cmd}: {}",
            r.stderr
        );
        assert!(
            r.stderr
                .contains("\n  hint: known keys: version, environments"),
            "{}",
            r.stderr
        );
    }
}

// ---------------------------------------------------------------------------------------
// Choosing the project

/// Two projects side by side whose services tell them apart.
fn two_projects() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("alpha");
    let b = dir.path().join("beta");
    for (root, service) in [(&a, "alpha-svc"), (&b, "beta-svc")] {
        std::fs::create_dir_all(root.join("layers/base")).unwrap();
        std::fs::write(
            root.join("strata.yaml"),
            format!(
                "version: 1\nenvironments: [{{name: dev}}]\nproviders: [aws]\ntargets: [dev/aws/us-east-1]\n\
                 hierarchy: [base]\nservices: {{{service}: {{}}}}\n"
            ),
        )
        .unwrap();
        std::fs::write(
            root.join(format!("layers/base/{service}.yaml")),
            format!("from: {service}\n"),
        )
        .unwrap();
    }
    (dir, a, b)
}

#[test]
fn strata_project_env_var_sets_the_project() {
    let (dir, a, _b) = two_projects();
    let r = run_cmd(
        strata()
            .current_dir(dir.path())
            .env("STRATA_PROJECT", &a)
            .arg("services"),
    );
    let r = r.ok();
    assert!(r.stdout.contains("alpha-svc"), "{}", r.stdout);
    let r = run_cmd(
        strata()
            .current_dir(dir.path())
            .env("STRATA_PROJECT", "alpha")
            .args([
                "resolve",
                "alpha-svc",
                "-t",
                "dev/aws/us-east-1",
                "--get",
                "from",
            ]),
    )
    .ok();
    assert_eq!(r.stdout, "alpha-svc\n");
}

#[test]
fn project_flag_overrides_the_env_var() {
    let (dir, a, b) = two_projects();
    for flag in ["--project", "-p"] {
        let r = run_cmd(
            strata()
                .current_dir(dir.path())
                .env("STRATA_PROJECT", &a)
                .args(["services", flag])
                .arg(&b),
        )
        .ok();
        assert!(
            r.stdout.contains("beta-svc") && !r.stdout.contains("alpha-svc"),
            "{}",
            r.stdout
        );
    }
    // The global flag works after the subcommand, too.
    let r = run_cmd(
        strata()
            .current_dir(dir.path())
            .env("STRATA_PROJECT", "alpha")
            .args([
                "resolve",
                "beta-svc",
                "-t",
                "dev/aws/us-east-1",
                "--project",
                "beta",
            ]),
    )
    .ok();
    assert_eq!(r.json(), json!({"from": "beta-svc"}));
}

#[test]
fn env_var_pointing_nowhere_is_a_usage_error() {
    let (dir, _a, _b) = two_projects();
    let r = run_cmd(
        strata()
            .current_dir(dir.path())
            .env("STRATA_PROJECT", "gamma")
            .arg("targets"),
    )
    .expect(2);
    assert_eq!(
        r.stderr,
        "error: project directory gamma does not exist\n  hint: pass --project DIR or set STRATA_PROJECT\n"
    );
}

#[test]
fn default_project_is_the_current_directory() {
    let (_dir, a, _b) = two_projects();
    let r = run(&a, &["targets", "--json"]).ok();
    assert_eq!(r.json()[0]["target"], json!("dev/aws/us-east-1"));
}

// ---------------------------------------------------------------------------------------
// Help and version

#[test]
fn resolve_help_mentions_explain_and_an_example() {
    let r = run(WORKSPACE, &["resolve", "--help"]).ok();
    assert!(r.stdout.contains("--explain"), "{}", r.stdout);
    assert!(r.stdout.contains("Examples:"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("strata resolve checkout --target prod/aws/us-east-1 --explain"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("--all"), "{}", r.stdout);
    assert!(r.stdout.contains("STRATA_PROJECT"), "{}", r.stdout);
    // `help resolve` is the same text.
    assert_eq!(run(WORKSPACE, &["help", "resolve"]).ok().stdout, r.stdout);
}

#[test]
fn top_level_help_lists_commands_and_exit_codes() {
    let r = run(WORKSPACE, &["--help"]).ok();
    for cmd in [
        "resolve",
        "targets",
        "services",
        "init",
        "gen",
        "import",
        "set",
        "unset",
        "apply",
        "export",
        "log",
        "show",
        "diff",
        "blame",
        "tag",
        "revert-to",
        "fsck",
        "secret",
        "keys",
        "access",
        "propose",
        "requests",
        "approve",
        "reject",
        "audit",
        "token",
    ] {
        assert!(
            r.stdout.contains(&format!("  {cmd} ")),
            "{cmd}: {}",
            r.stdout
        );
    }
    let flat = r.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("Exit codes: 0 success, 1 invalid configuration (or damaged store), 2 usage or I/O error, 3 conflict with a concurrent change, 4 denied by the access policy."),
        "{}",
        r.stdout
    );
    // No subcommand: usage on stderr, exit 2.
    let r = run(WORKSPACE, &[]).expect(2);
    assert!(r.stderr.contains("Usage: strata"), "{}", r.stderr);
}

#[test]
fn version() {
    let r = run(WORKSPACE, &["--version"]).ok();
    assert_eq!(r.stdout, format!("strata {}\n", env!("CARGO_PKG_VERSION")));
    // propagate_version: subcommands answer too.
    let r = run(WORKSPACE, &["resolve", "--version"]).ok();
    assert!(r.stdout.contains(env!("CARGO_PKG_VERSION")), "{}", r.stdout);
}

#[test]
fn unknown_flags_and_commands_are_usage_errors() {
    let r = run(WORKSPACE, &["resolv"]).expect(2);
    assert!(
        r.stderr.contains("unrecognized subcommand 'resolv'"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("resolve"), "a suggestion: {}", r.stderr);
    let r = run(WORKSPACE, &["targets", "--jsn"]).expect(2);
    assert!(r.stderr.contains("--jsn"), "{}", r.stderr);
}
