//! What the user sees when something is wrong: exit code, `path:line:col` of the right
//! file as seen from the current directory, a hint; warnings; and no panic on any input.

mod common;

use std::fmt::Write as _;
use std::time::Duration;

use common::*;

const PROD: &str = "prod/aws/us-east-1";

/// Runs `args` twice — inside the project, and from its parent with `--project proj` —
/// and checks the exit code, that stderr is one `error: LOC: MESSAGE` with LOC relative to
/// the current directory each time, and that there is a hint. Returns stderr as seen from
/// the parent.
#[track_caller]
fn assert_located_error(p: &Fixture, args: &[&str], code: i32, loc: &str, message: &str) -> String {
    let inside = p.run(args).expect(code);
    let outside = p.run_outside(args).expect(code);
    for (run, loc) in [
        (&inside, loc.to_string()),
        (&outside, format!("proj/{loc}")),
    ] {
        let expected = format!("error: {loc}: {message}");
        assert!(
            run.stderr.starts_with(&expected),
            "stderr should start with\n{expected}\nbut is\n{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("\n  hint: "),
            "no hint in\n{}",
            run.stderr
        );
        assert!(run.stdout.is_empty(), "stdout: {}", run.stdout);
    }
    outside.stderr
}

/// Every located error, collected into one snapshot so their wording can be reviewed.
#[test]
fn errors_name_the_file_line_and_column() {
    let mut all = String::new();
    let mut case = |name: &str,
                    setup: &dyn Fn(&Fixture),
                    args: &[&str],
                    code: i32,
                    loc: &str,
                    message: &str| {
        let p = small();
        setup(&p);
        let stderr = assert_located_error(&p, args, code, loc, message);
        let _ = writeln!(all, "## {name} (exit {code})\n{stderr}");
    };
    let worker = &["resolve", "worker", "-t", PROD][..];

    case(
        "malformed YAML",
        &|p| p.write("layers/base/worker.yaml", "queue: jobs\n  concurrency: 4\n"),
        worker,
        1,
        "layers/base/worker.yaml:2:14",
        "invalid YAML: ",
    );
    case(
        "malformed JSON",
        &|p| {
            p.remove("layers/base/worker.yaml");
            p.write(
                "layers/base/worker.json",
                "{\n  \"queue\": \"jobs\",\n  \"concurrency\": 4,\n}\n",
            );
        },
        worker,
        1,
        "layers/base/worker.json:4:1",
        "invalid JSON: ",
    );
    case(
        "malformed TOML",
        &|p| {
            p.remove("layers/base/worker.yaml");
            p.write(
                "layers/base/worker.toml",
                "queue = \"jobs\"\nconcurrency = \n",
            );
        },
        worker,
        1,
        "layers/base/worker.toml:2:15",
        "invalid TOML: ",
    );
    case(
        "duplicate key in YAML",
        &|p| {
            p.write(
                "layers/base/worker.yaml",
                "queue: a\nconcurrency: 1\nqueue: b\n",
            )
        },
        worker,
        1,
        "layers/base/worker.yaml:3:1",
        "duplicate key `queue` (first set at line 1)",
    );
    case(
        "duplicate key in JSON",
        &|p| {
            p.remove("layers/base/worker.yaml");
            p.write(
                "layers/base/worker.json",
                "{\"queue\": \"a\",\n \"queue\": \"b\"}\n",
            );
        },
        worker,
        1,
        "layers/base/worker.json:2:2",
        "duplicate key `queue` (first set at line 1)",
    );
    case(
        "unknown placeholder",
        &|p| p.write("layers/base/worker.yaml", "queue: jobs-${foo}\n"),
        worker,
        1,
        "layers/base/worker.yaml:1:8",
        "unknown placeholder `${foo}` in `jobs-${foo}`",
    );
    case(
        "unknown placeholder in a value that a later layer overrides",
        &|p| {
            p.write(
                "layers/base/worker.yaml",
                "queue: q\nconcurrency: \"${stage}\"\n",
            );
            p.write("layers/env/prod/worker.yaml", "concurrency: 8\n");
        },
        worker,
        1,
        "layers/base/worker.yaml:2:14",
        "unknown placeholder `${stage}`",
    );
    case(
        "unknown hierarchy placeholder",
        &|p| {
            let yaml = SMALL[0].1.replace("  - env/{env}\n", "  - env/{stage}\n");
            p.write("strata.yaml", yaml);
        },
        worker,
        1,
        "strata.yaml:14:5",
        "unknown placeholder `{stage}` in hierarchy level `env/{stage}`",
    );
    case(
        "undefined variable",
        &|p| p.write("layers/base/worker.yaml", "queue: ${vars.nope}\n"),
        worker,
        1,
        "layers/base/worker.yaml:1:8",
        "undefined variable `vars.nope` in `${vars.nope}` for target prod/aws/us-east-1",
    );
    case(
        "missing reference",
        &|p| {
            p.write(
                "layers/base/worker.yaml",
                "queue: q\napi_port: ${ref:api:db.nope}\n",
            )
        },
        worker,
        1,
        "layers/base/worker.yaml:2:11",
        "`${ref:api:db.nope}` references `api:db.nope`, which does not exist for target prod/aws/us-east-1",
    );
    case(
        "reference to an unknown service",
        &|p| p.write("layers/base/worker.yaml", "api_port: ${ref:apx:db.port}\n"),
        worker,
        1,
        "layers/base/worker.yaml:1:11",
        "`${ref:apx:db.port}` references unknown service `apx`",
    );
    case(
        "reference cycle",
        &|p| {
            p.write("layers/env/prod/worker.yaml", "x: ${ref:api:y}\n");
            p.write("layers/env/prod/api.yaml", "y: ${ref:worker:x}\n");
        },
        worker,
        1,
        "layers/env/prod/worker.yaml:1:4",
        "reference cycle: worker:x -> api:y -> worker:x\n",
    );
    case(
        "two files for one layer",
        &|p| p.write("layers/base/worker.json", "{}\n"),
        worker,
        1,
        "layers/base/worker.json:1:1",
        "service `worker` has 2 files for one layer",
    );
    case(
        "unknown key in strata.yaml",
        &|p| p.write("strata.yaml", SMALL[0].1.replace("targets:", "tragets:")),
        &["targets"],
        1,
        "strata.yaml:7:1",
        "unknown key `tragets` in strata.yaml",
    );
    case(
        "schema file missing",
        &|p| p.remove("schemas/api.yaml"),
        worker,
        1,
        "strata.yaml:18:32",
        "service `api` names schema `schemas/api.yaml`, which does not exist",
    );
    insta::assert_snapshot!("located_errors", all);
}

#[test]
fn reference_cycle_names_the_whole_cycle_from_either_end() {
    let p = small();
    p.write("layers/env/prod/worker.yaml", "x: ${ref:api:y}\n");
    p.write("layers/env/prod/api.yaml", "y: ${ref:ledger:z}\n");
    p.write(
        "strata.yaml",
        SMALL[0].1.replace(
            "  worker: { team: web, consumes: [api] }\n",
            "  worker: { team: web }\n  ledger: {}\n",
        ),
    );
    p.write("layers/env/prod/ledger.yaml", "z: ${ref:worker:x}\n");
    let r = p.run(&["resolve", "api", "-t", PROD]).expect(1);
    assert!(
        r.stderr
            .contains("reference cycle: api:y -> ledger:z -> worker:x -> api:y\n"),
        "{}",
        r.stderr
    );
    let r = p.run(&["resolve", "--all", "-t", PROD]).expect(1);
    assert!(r.stderr.contains("reference cycle: "), "{}", r.stderr);
    // Other targets do not read the prod layers.
    p.run(&["resolve", "--all", "-t", "dev/aws/us-east-1"]).ok();
}

#[test]
fn unknown_target_lists_the_declared_ones() {
    let p = small();
    let r = p
        .run(&["resolve", "api", "-t", "prod/aws/eu-west-9"])
        .expect(2);
    assert_eq!(
        r.stderr,
        "error: unknown target `prod/aws/eu-west-9`\n  hint: declared targets: dev/aws/us-east-1, prod/aws/us-east-1, prod/gcp/europe-west1\n"
    );
    let r = p.run(&["resolve", "--all", "-t", "prod"]).expect(2);
    assert!(
        r.stderr
            .starts_with("error: unknown target `prod`\n  hint: declared targets: "),
        "{}",
        r.stderr
    );
}

#[test]
fn unknown_service_lists_the_declared_ones() {
    let r = small().run(&["resolve", "apii", "-t", PROD]).expect(2);
    assert_eq!(
        r.stderr,
        "error: unknown service `apii`\n  hint: declared services: api, worker\n"
    );
}

#[test]
fn missing_project_directory() {
    let p = small();
    for cmd in [&["targets"][..], &["resolve", "api", "-t", PROD]] {
        let mut args = vec!["--project", "nowhere"];
        args.extend_from_slice(cmd);
        let r = run(p.outer(), &args).expect(2);
        assert_eq!(
            r.stderr,
            "error: project directory nowhere does not exist\n  hint: pass --project DIR or set STRATA_PROJECT\n"
        );
    }
}

#[test]
fn directory_without_strata_yaml_suggests_init() {
    let p = small();
    p.remove("strata.yaml");
    let r = p.run_outside(&["resolve", "api", "-t", PROD]).expect(2);
    assert_eq!(
        r.stderr,
        "error: proj is not a Strata project: it has no strata.yaml\n  hint: run `strata init` to create one, or pass --project DIR\n"
    );
    let r = p.run(&["services"]).expect(2);
    assert!(r.stderr.contains("hint: run `strata init`"), "{}", r.stderr);
}

#[test]
fn a_layer_file_of_no_declared_service_is_a_warning() {
    let p = small();
    p.write("layers/base/wroker.yaml", "queue: typo\n");
    p.write("layers/env/prod/wroker.json", "{}");
    let r = p.run(&["resolve", "worker", "-t", PROD]).ok();
    assert_eq!(
        r.stderr,
        "warning: layers/base/wroker.yaml matches no service declared in strata.yaml and is ignored\n\
         warning: layers/env/prod/wroker.json matches no service declared in strata.yaml and is ignored\n"
    );
    assert_eq!(r.json()["queue"], serde_json::json!("jobs-prod"));
    // Seen from elsewhere, the path has the project directory in front.
    let r = p
        .run_outside(&["resolve", "--all", "-t", "dev/aws/us-east-1"])
        .ok();
    assert_eq!(
        r.stderr,
        "warning: proj/layers/base/wroker.yaml matches no service declared in strata.yaml and is ignored\n"
    );
    // Files that are not layer files at all are not mentioned.
    p.write("layers/base/README.md", "# notes\n");
    let r = p.run(&["resolve", "api", "-t", "dev/aws/us-east-1"]).ok();
    assert!(!r.stderr.contains("README"), "{}", r.stderr);
}

#[test]
fn unreadable_files_are_io_errors_with_paths_from_here() {
    let p = small();
    // A directory where strata.yaml should be: reading it fails (even as root).
    p.remove("strata.yaml");
    std::fs::create_dir(p.root().join("strata.yaml")).unwrap();
    let r = p.run_outside(&["resolve", "api", "-t", PROD]).expect(2);
    assert!(
        r.stderr
            .starts_with("error: cannot read proj/strata.yaml: "),
        "{}",
        r.stderr
    );

    // A directory named like a layer file is not a layer file: it is skipped.
    let p = small();
    std::fs::create_dir_all(p.root().join("layers/env/prod/worker.json")).unwrap();
    p.run(&["resolve", "worker", "-t", PROD]).ok();
}

// ---------------------------------------------------------------------------------------
// No input makes it panic

/// A deterministic pseudo-random byte string (xorshift), so failures reproduce.
fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

/// Inputs that are invalid as `strata.yaml` and as a YAML, JSON or TOML layer.
fn garbage() -> Vec<(String, Vec<u8>)> {
    let mut g: Vec<(String, Vec<u8>)> = Vec::new();
    for seed in [1, 2, 3, 0xdead_beef] {
        g.push((
            format!("random bytes (seed {seed})"),
            random_bytes(seed, 4096),
        ));
    }
    g.push(("100k [".into(), "[".repeat(100_000).into_bytes()));
    g.push(("100k {".into(), "{".repeat(100_000).into_bytes()));
    g.push((
        "balanced [[…]] 50k deep".into(),
        format!("a: {}{}", "[".repeat(50_000), "]".repeat(50_000)).into_bytes(),
    ));
    g.push((
        "nested JSON objects 50k deep".into(),
        format!("{}1{}", "{\"a\":".repeat(50_000), "}".repeat(50_000)).into_bytes(),
    ));
    g.push((
        "nested TOML inline tables".into(),
        format!("a = {}1{}", "{b = ".repeat(5_000), "}".repeat(5_000)).into_bytes(),
    ));
    g.push((
        "block mappings 2000 deep".into(),
        (0..2000)
            .map(|i| format!("{}k:\n", "  ".repeat(i)))
            .collect::<String>()
            .into_bytes(),
    ));
    g.push(("a huge bare number".into(), "9".repeat(10_000).into_bytes()));
    g.push((
        "a huge negative exponent list".into(),
        b"- -1e-999999999999\n- 1e999999999999\n".to_vec(),
    ));
    g.push(("invalid UTF-8".into(), b"a: \xff\xfe\xfd\n".to_vec()));
    g.push(("overlong UTF-8".into(), b"a: \xc0\xaf\n".to_vec()));
    g.push(("UTF-8 surrogate".into(), b"a: \xed\xa0\x80\n".to_vec()));
    g.push(("truncated UTF-8".into(), b"a: caf\xc3".to_vec()));
    g.push((
        "UTF-16 with BOM".into(),
        b"\xff\xfea\x00:\x00 \x001\x00".to_vec(),
    ));
    g.push(("NUL bytes".into(), b"a: b\x00\x00\x00\n".to_vec()));
    g.push((
        "unterminated placeholder".into(),
        b"a: \"${ref:\"\n".to_vec(),
    ));
    g.push((
        "unterminated string".into(),
        b"a: \"never closed\n".to_vec(),
    ));
    g.push(("two documents".into(), b"a: 1\n---\nb: 2\n".to_vec()));
    g.push(("unknown alias".into(), b"a: *nope\n".to_vec()));
    g.push(("custom tag".into(), b"a: !Ref b\n".to_vec()));
    g.push(("a list document".into(), b"- a\n- b\n".to_vec()));
    g.push((
        "a mapping with a complex key".into(),
        b"? [a, b]\n: 1\n".to_vec(),
    ));
    g.push(("tab indentation".into(), b"a:\n\tb: 1\n".to_vec()));
    g.push((
        "a map as a $provider section".into(),
        b"$provider: {nope: {a: 1}}\n".to_vec(),
    ));
    g.push((
        "$patch with a sibling".into(),
        b"a: {$patch: delete, b: 1}\n".to_vec(),
    ));
    g
}

#[test]
fn garbage_never_panics() {
    let mut failures = Vec::new();
    for (what, bytes) in garbage() {
        // As strata.yaml, and as the base layer of `api` in each format.
        for file in [
            "strata.yaml",
            "layers/base/api.yaml",
            "layers/base/api.json",
            "layers/base/api.toml",
        ] {
            let p = small();
            p.remove("layers/base/api.yaml");
            if file == "strata.yaml" {
                p.write("layers/base/api.yaml", "a: 1\n");
            }
            p.write(file, &bytes);
            for args in [
                &["resolve", "--all", "-t", PROD][..],
                &["resolve", "api", "-t", PROD, "--explain"],
            ] {
                let r = run_cmd_limited(
                    strata().current_dir(p.root()).args(args),
                    Duration::from_secs(30),
                );
                // The error is about the garbage file, not some consequence of it.
                let ok = matches!(r.code, Some(1 | 2))
                    && r.stderr.starts_with("error: ")
                    && r.stderr.contains(file)
                    && r.stdout.is_empty();
                if !ok {
                    failures.push(format!(
                        "{what} as {file}, {args:?}: exit {:?}\n{}",
                        r.code, r.stderr
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Odd inputs that may well be valid: whatever the outcome, no panic, and an error is an
/// `error:` with exit 1 or 2.
#[test]
fn odd_but_maybe_valid_inputs_never_panic() {
    let inputs: &[&str] = &[
        "a: 99999999999999999999999999999999999999\n",
        "a: -0x8000000000000000000\n",
        "a: 1e99999\nb: -1e99999\nc: .nan\n",
        "a: 0o777777777777777777777777\n",
        "a: &x {b: [1, 2]}\nc: *x\nd: [*x, *x]\n",
        "a: \"\\u0000\"\n",
        "a: \x1b[31mred\x07\n",
        "\u{feff}a: 1\n",
        "'': 1\n",
        "a: ${ref:api:a}\n",
        "a: ${ref:api:b}\nb: ${ref:api:c}\nc: 1\n",
        "a: $${\n",
        "a: \"${vars.company}${vars.company}${env}\"\n",
        "a: [\"${vars.replicas}\"]\n",
        "$provider: {aws: {a: 1}, gcp: {a: 2}}\n",
        "a: {$patch: replace, b: 1}\n",
        "a: {$patch: delete}\n",
        "sidecars: [{$patch: replace}]\n",
    ];
    for input in inputs {
        let p = small();
        p.write("layers/base/api.yaml", input);
        for format in ["json", "yaml", "toml", "env"] {
            let args = ["resolve", "--all", "-t", PROD, "-f", format, "--out", "out"];
            let r = run_cmd_limited(
                strata().current_dir(p.root()).args(args),
                Duration::from_secs(30),
            );
            match r.code {
                Some(0) => {}
                Some(1 | 2) => assert!(
                    r.stderr.starts_with("error: "),
                    "{input:?} as {format}: {}",
                    r.stderr
                ),
                other => panic!("{input:?} as {format}: exit {other:?}\n{}", r.stderr),
            }
        }
    }
}

/// A 400-byte YAML file whose aliases expand to 10^9 nodes must be refused, not fill the
/// memory. Run under a 2 GB address-space limit so a failure cannot take the machine down.
#[cfg(unix)]
#[test]
fn yaml_alias_bomb_is_refused() {
    let p = small();
    let mut doc = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..9 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        let _ = writeln!(doc, "a{i}: &a{i} [{refs}]");
    }
    p.write("layers/base/api.yaml", doc);
    let r = run_cmd_limited(
        std::process::Command::new("sh")
            .current_dir(p.root())
            .env_remove("STRATA_PROJECT")
            .args([
                "-c",
                "ulimit -v 2000000; exec \"$0\" resolve api -t prod/aws/us-east-1",
            ])
            .arg(env!("CARGO_BIN_EXE_strata")),
        Duration::from_secs(60),
    );
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stderr.starts_with("error: layers/base/api.yaml:"),
        "{}",
        r.stderr
    );
}
