//! Commands that create projects: `strata init` and `strata gen`.

mod common;

use std::path::Path;

use common::*;
use serde_json::json;

// ---------------------------------------------------------------------------------------
// strata init

#[test]
fn init_creates_a_project_that_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(dir.path(), &["init", "demo"]).ok();
    assert!(
        r.stdout
            .starts_with("Created a Strata project in demo. Try:\n"),
        "{}",
        r.stdout
    );
    assert!(dir.path().join("demo/strata.yaml").is_file());

    let api = run(
        dir.path(),
        &[
            "--project",
            "demo",
            "resolve",
            "api",
            "--target",
            "prod/aws/us-east-1",
        ],
    )
    .ok()
    .json();
    assert_eq!(
        api["replicas"],
        json!(3),
        "typed ${{vars.replicas}} is a number: {api}"
    );
    assert_eq!(api["database"]["pool"], json!({"min": 2, "max": 50}));
    assert_eq!(
        api["database"]["engine"],
        json!("aurora-postgresql"),
        "$provider block for aws"
    );
    assert_eq!(api["database"]["host"], json!("db.prod.example.internal"));

    let worker = run(
        dir.path(),
        &[
            "-p",
            "demo",
            "resolve",
            "worker",
            "-t",
            "prod/aws/us-east-1",
        ],
    )
    .ok()
    .json();
    assert_eq!(
        worker,
        json!({"queue": "jobs-prod", "api_port": 8080, "concurrency": 4})
    );

    // Every target of the new project resolves, and the suggested commands work.
    let targets = run(dir.path(), &["-p", "demo", "targets", "--json"])
        .ok()
        .json();
    for t in targets.as_array().unwrap() {
        run(
            dir.path(),
            &[
                "-p",
                "demo",
                "resolve",
                "--all",
                "-t",
                t["target"].as_str().unwrap(),
            ],
        )
        .ok();
    }
    let explain = run(
        dir.path(),
        &[
            "--project",
            "demo",
            "resolve",
            "api",
            "--target",
            "prod/aws/us-east-1",
            "--explain",
        ],
    )
    .ok();
    assert!(
        explain.stdout.contains("replicas = 3 "),
        "{}",
        explain.stdout
    );
    assert!(
        explain
            .stdout
            .contains("# demo/layers/env/prod/api.yaml:1:11\n"),
        "{}",
        explain.stdout
    );

    // dev appends its origin to the base list.
    let dev = run(
        dir.path(),
        &[
            "-p",
            "demo",
            "resolve",
            "api",
            "-t",
            "dev/aws/us-east-1",
            "--get",
            "http.allowed_origins",
        ],
    )
    .ok();
    assert_eq!(
        dev.json(),
        json!(["https://example.com", "http://localhost:3000"])
    );
}

#[test]
fn init_into_the_current_directory() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), &["init"]).ok();
    run(dir.path(), &["resolve", "api", "-t", "dev/aws/us-east-1"]).ok();
}

#[test]
fn second_init_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), &["init", "demo"]).ok();
    let edited = dir.path().join("demo/layers/base/api.yaml");
    std::fs::write(&edited, "replicas: 9\n").unwrap();
    let before = read_tree(dir.path());

    let r = run(dir.path(), &["init", "demo"]).expect(2);
    assert_eq!(
        r.stderr,
        "error: demo/strata.yaml already exists; refusing to overwrite it\n  hint: choose an empty directory: strata init DIR\n"
    );
    assert!(r.stdout.is_empty());
    assert_eq!(read_tree(dir.path()), before);
}

#[test]
fn init_refuses_to_overwrite_any_layer_file() {
    let dir = tempfile::tempdir().unwrap();
    let mine = dir.path().join("layers/base/worker.yaml");
    std::fs::create_dir_all(mine.parent().unwrap()).unwrap();
    std::fs::write(&mine, "mine: true\n").unwrap();
    let r = run(dir.path(), &["init", "."]).expect(2);
    assert!(
        r.stderr
            .contains("layers/base/worker.yaml already exists; refusing to overwrite it"),
        "{}",
        r.stderr
    );
    // Nothing was written: not even the files that did not exist.
    assert_eq!(
        read_tree(dir.path()).into_keys().collect::<Vec<_>>(),
        ["layers/base/worker.yaml"]
    );
}

// ---------------------------------------------------------------------------------------
// strata gen

fn generate(cwd: &Path, out: &str, extra: &[&str]) -> Run {
    let mut args = vec!["gen", "--services", "5", "--params", "30", "--out", out];
    args.extend_from_slice(extra);
    run(cwd, &args)
}

#[test]
fn generated_project_resolves_every_service_for_every_target() {
    let dir = tempfile::tempdir().unwrap();
    let r = generate(dir.path(), "p", &[]).ok();
    assert!(
        r.stderr
            .contains("generated 5 services x 30 parameters: 176 files"),
        "{}",
        r.stderr
    );
    let root = dir.path().join("p");

    let services: Vec<String> = run(&root, &["services", "--json"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["service"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(services.len(), 5);
    let targets = run(&root, &["targets", "--json"]).ok().json();
    let targets: Vec<&str> = targets
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["target"].as_str().unwrap())
        .collect();
    assert_eq!(targets.len(), 18, "3 envs x 3 providers x 2 regions");

    for t in &targets {
        let all = run(&root, &["resolve", "--all", "-t", t]).ok().json();
        let keys: Vec<&String> = all.as_object().unwrap().keys().collect();
        assert_eq!(keys, services.iter().collect::<Vec<_>>(), "{t}");
        for s in &services {
            let one = run(&root, &["resolve", s, "-t", t]).ok().json();
            assert_eq!(one, all[s], "{s} on {t}");
            assert!(
                one.as_object().is_some_and(|m| !m.is_empty()),
                "{s} on {t} is empty"
            );
        }
    }
}

#[test]
fn same_seed_gives_byte_identical_trees() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), "a", &["--seed", "7"]).ok();
    generate(dir.path(), "b", &["--seed", "7"]).ok();
    generate(dir.path(), "c", &["--seed", "8"]).ok();
    let a = read_tree(&dir.path().join("a"));
    let b = read_tree(&dir.path().join("b"));
    let c = read_tree(&dir.path().join("c"));
    assert_eq!(a.len(), 176, "171 layer and project files + 5 schemas");
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (path, bytes) in &a {
        assert!(
            b[path] == *bytes,
            "{path} differs between two runs with the same seed"
        );
    }
    assert_ne!(a, c, "another seed should give another project");
    // Nothing but the three projects was left beside them (no temporary directories).
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["a", "b", "c"]);
}

#[test]
fn json_layers_parse_as_json_and_resolve() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), "j", &["--format", "json"]).ok();
    generate(dir.path(), "y", &[]).ok();
    let root = dir.path().join("j");
    let tree = read_tree(&root);
    assert_eq!(tree.len(), 176);
    let mut layers = 0;
    for (path, bytes) in &tree {
        if path == "strata.yaml" || path.starts_with("schemas/") {
            continue;
        }
        assert!(
            path.starts_with("layers/") && path.ends_with(".json"),
            "{path}"
        );
        let v: serde_json::Value =
            serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(v.is_object(), "{path}");
        layers += 1;
    }
    assert_eq!(layers, 170);
    // Same seed, other format: the same effective configuration.
    for t in ["dev/aws/us-east-1", "prod/gcp/europe-west1"] {
        let from_json = run(&root, &["resolve", "--all", "-t", t]).ok().json();
        let from_yaml = run(dir.path().join("y"), &["resolve", "--all", "-t", t])
            .ok()
            .json();
        assert_eq!(from_json, from_yaml, "{t}");
    }
}

#[test]
fn gen_into_a_non_empty_directory_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("busy");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "keep me").unwrap();
    let r = generate(dir.path(), "busy", &[]).expect(2);
    assert_eq!(
        r.stderr,
        "error: busy exists and is not empty; refusing to mix a generated project into it\n  hint: pass a new directory to --out\n"
    );
    assert_eq!(
        read_tree(dir.path()).into_keys().collect::<Vec<_>>(),
        ["busy/notes.txt"]
    );
    // An empty directory is fine.
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    generate(dir.path(), "empty", &[]).ok();
    assert!(dir.path().join("empty/strata.yaml").is_file());
}

#[test]
fn gen_option_errors_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(dir.path(), &["gen", "--services", "0", "--out", "x"]).expect(2);
    assert!(
        r.stderr.starts_with("error: invalid option `services`"),
        "{}",
        r.stderr
    );
    let r = run(dir.path(), &["gen", "--format", "toml", "--out", "x"]).expect(2);
    assert!(
        r.stderr.contains("possible values: yaml, json"),
        "{}",
        r.stderr
    );
    let r = run(dir.path(), &["gen", "--services", "2"]).expect(2);
    assert!(r.stderr.contains("--out <DIR>"), "{}", r.stderr);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing written"
    );
}
