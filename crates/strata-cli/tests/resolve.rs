//! `strata resolve`: output formats, `--explain`, `--get`, `--all` and `--out`, run on real
//! project directories.

mod common;

use common::*;
use serde_json::json;
use strata_core::parse::Format;

const PROD: &str = "prod/aws/us-east-1";

// ---------------------------------------------------------------------------------------
// --explain

#[test]
fn explain_acme_checkout_names_file_line_col_and_overrides() {
    let run = run(
        WORKSPACE,
        &[
            "resolve",
            "checkout",
            "--target",
            PROD,
            "--project",
            "examples/acme",
            "--explain",
        ],
    )
    .ok();
    let out = &run.stdout;
    assert!(
        out.starts_with("# checkout @ prod/aws/us-east-1\n"),
        "{out}"
    );

    // Every parameter line ends in `# FILE:LINE:COL`, with the path as seen from the
    // current directory; every other line is an `overrides … from FILE:LINE:COL`.
    let mut params = 0;
    let mut overrides = 0;
    for line in out.lines().skip(1) {
        let loc = if let Some(rest) = line.strip_prefix("    overrides ") {
            overrides += 1;
            rest.rsplit_once(" from ").expect("overrides … from …").1
        } else if line.contains(" (whole ") || line.starts_with("    replaces ") {
            continue;
        } else {
            params += 1;
            line.rsplit_once("  # ")
                .expect("parameter = value  # loc")
                .1
        };
        assert_loc(loc, "examples/acme/");
    }
    assert!(params > 50, "only {params} parameters:\n{out}");
    assert!(overrides >= 5, "only {overrides} overrides:\n{out}");

    // A parameter set at the target level that hid two earlier layers, latest first.
    let i = out
        .find("autoscaling.max_replicas = 40 ")
        .expect("max_replicas");
    let block: Vec<&str> = out[i..].lines().take(3).collect();
    assert!(
        block[0].ends_with("# examples/acme/layers/target/prod/aws/us-east-1/checkout.yaml:3:17"),
        "{block:?}"
    );
    assert_eq!(
        block[1],
        "    overrides 30 from examples/acme/layers/env/prod/checkout.yaml:5:17"
    );
    assert_eq!(
        block[2],
        "    overrides 6 from examples/acme/layers/base/checkout.yaml:12:17"
    );

    insta::assert_snapshot!("explain_acme_checkout_prod_aws", out);
}

/// Asserts `loc` is `PREFIX…:LINE:COL` with 1-based numbers.
#[track_caller]
fn assert_loc(loc: &str, prefix: &str) {
    assert!(
        loc.starts_with(prefix),
        "`{loc}` should start with `{prefix}`"
    );
    let mut parts = loc.rsplitn(3, ':');
    let col: u32 = parts
        .next()
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no column in `{loc}`"));
    let line: u32 = parts
        .next()
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no line in `{loc}`"));
    assert!(line >= 1 && col >= 1, "{loc}");
    assert!(
        [".yaml", ".yml", ".json", ".toml"]
            .iter()
            .any(|e| parts.next().is_some_and(|p| p.ends_with(e))),
        "{loc}"
    );
}

#[test]
fn explain_paths_follow_the_current_directory() {
    // Inside the project: project-relative paths.
    let inside = run(
        ACME,
        &["resolve", "checkout", "--target", PROD, "--explain"],
    )
    .ok();
    assert!(
        inside
            .stdout
            .contains("  # layers/env/prod/checkout.yaml:2:11\n"),
        "{}",
        inside.stdout
    );
    assert!(!inside.stdout.contains("examples/acme"));
    // From the parent: the project directory in front, like error messages.
    let outside = run(
        format!("{WORKSPACE}/examples"),
        &[
            "-p",
            "acme",
            "resolve",
            "checkout",
            "--target",
            PROD,
            "--explain",
        ],
    )
    .ok();
    assert!(
        outside
            .stdout
            .contains("  # acme/layers/env/prod/checkout.yaml:2:11\n"),
        "{}",
        outside.stdout
    );
}

#[test]
fn explain_small_project_with_get_limits_to_a_subtree() {
    let p = small();
    let out = p
        .run(&[
            "resolve",
            "api",
            "-t",
            PROD,
            "--explain",
            "--get",
            "db.pool",
        ])
        .ok()
        .stdout;
    assert_eq!(
        out,
        "# api @ prod/aws/us-east-1\n\
         db.pool.min = 2   # layers/base/api.yaml:7:16\n\
         db.pool.max = 50  # layers/env/prod/api.yaml:3:10\n    \
         overrides 10 from layers/base/api.yaml:7:24\n"
    );
}

#[test]
fn explain_with_format_is_refused() {
    let r = small()
        .run(&[
            "resolve",
            "api",
            "-t",
            PROD,
            "--explain",
            "--format",
            "json",
        ])
        .expect(2);
    assert!(
        r.stderr
            .contains("'--explain' cannot be used with '--format"),
        "{}",
        r.stderr
    );
}

// ---------------------------------------------------------------------------------------
// Output formats

#[test]
fn json_of_one_acme_service() {
    let run = run(ACME, &["resolve", "ledger", "--target", PROD]).ok();
    let v = run.json();
    assert!(v.is_object());
    insta::assert_snapshot!("json_acme_ledger_prod_aws", run.stdout);
}

#[test]
fn json_of_the_small_project() {
    let run = small().run(&["resolve", "api", "--target", PROD]).ok();
    let v = run.json();
    // Merge, typed var, provider block skipped on aws, append strategy, $${ escape.
    assert_eq!(v["replicas"], json!(4));
    assert_eq!(
        v["db"],
        json!({"host": "db.prod.acme.internal", "port": 5432, "pool": {"min": 2, "max": 50}, "tls": true})
    );
    assert_eq!(
        v["allowed_origins"],
        json!(["https://acme.com", "https://www.acme.com"])
    );
    assert_eq!(v["motd"], json!("it's \"quoted\" ${literal}"));
    insta::assert_snapshot!("json_small_api_prod_aws", run.stdout);
}

#[test]
fn yaml_format_snapshot_and_round_trip() {
    let p = small();
    let yaml = p
        .run(&["resolve", "api", "-t", PROD, "--format", "yaml"])
        .ok()
        .stdout;
    let json = p.run(&["resolve", "api", "-t", PROD]).ok().json();
    assert_eq!(
        parse_as_json(&yaml, Format::Yaml),
        json,
        "YAML output reads back differently:\n{yaml}"
    );
    insta::assert_snapshot!("yaml_small_api_prod_aws", yaml);
}

#[test]
fn toml_format_snapshot_and_round_trip() {
    let p = small();
    let text = p
        .run(&["resolve", "api", "-t", PROD, "-f", "toml"])
        .ok()
        .stdout;
    let json = p.run(&["resolve", "api", "-t", PROD]).ok().json();
    let parsed: toml::Table =
        toml::from_str(&text).unwrap_or_else(|e| panic!("bad TOML: {e}\n{text}"));
    assert_eq!(serde_json::to_value(parsed).unwrap(), json);
    insta::assert_snapshot!("toml_small_api_prod_aws", text);
}

#[test]
fn toml_refuses_null_with_its_path() {
    let p = small();
    p.write("layers/env/prod/worker.yaml", "retry:\n  backoff: null\n");
    let r = p
        .run(&["resolve", "worker", "-t", PROD, "-f", "toml"])
        .expect(1);
    assert!(
        r.stderr
            .starts_with("error: TOML cannot represent the null at `retry.backoff`"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty());
    // JSON and YAML have null.
    p.run(&["resolve", "worker", "-t", PROD, "-f", "yaml"]).ok();
    // With --out, nothing is written: not even the services that could be rendered.
    let r = p
        .run(&[
            "resolve", "--all", "-t", PROD, "-f", "toml", "--out", "build",
        ])
        .expect(1);
    assert!(
        r.stderr
            .starts_with("error: worker: TOML cannot represent the null at `retry.backoff`"),
        "{}",
        r.stderr
    );
    assert!(!p.root().join("build").exists());
}

#[test]
fn json_refuses_infinity_instead_of_printing_null() {
    let p = small();
    p.write("layers/env/prod/worker.yaml", "limits: [1.5, .inf]\n");
    let r = p.run(&["resolve", "worker", "-t", PROD]).expect(1);
    assert!(
        r.stderr
            .contains("JSON cannot represent the number inf at `limits[1]`"),
        "{}",
        r.stderr
    );
    let r = p.run(&["resolve", "--all", "-t", PROD]).expect(1);
    assert!(
        r.stderr
            .contains("JSON cannot represent the number inf at `worker:limits[1]`"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    let yaml = p
        .run(&["resolve", "worker", "-t", PROD, "-f", "yaml"])
        .ok()
        .stdout;
    assert!(yaml.contains("- .inf\n"), "{yaml}");
}

#[test]
fn env_format_snapshot() {
    let text = small()
        .run(&["resolve", "api", "-t", PROD, "--format", "env"])
        .ok()
        .stdout;
    assert!(
        text.lines()
            .all(|l| l.split_once('=').is_some_and(|(k, _)| !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))),
        "{text}"
    );
    assert!(text.contains("\nDB_POOL_MAX=50\n"), "{text}");
    assert!(
        text.contains("\nLABELS_APP_KUBERNETES_IO_NAME=api\n"),
        "{text}"
    );
    insta::assert_snapshot!("env_small_api_prod_aws", text);
}

#[cfg(unix)]
#[test]
fn env_format_is_valid_shell() {
    let p = small();
    let text = p
        .run(&["resolve", "api", "-t", PROD, "-f", "env"])
        .ok()
        .stdout;
    std::fs::write(p.outer().join("api.env"), &text).unwrap();
    let out = std::process::Command::new("sh")
        .current_dir(p.outer())
        .args([
            "-c",
            ". ./api.env && printf '%s|%s|%s' \"$MOTD\" \"$SIDECARS_1_ARGS_1\" \"$EMPTY_LIST\"",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "it's \"quoted\" ${literal}|us-east-1|"
    );
}

// ---------------------------------------------------------------------------------------
// --get

#[test]
fn get_scalar_prints_the_bare_value() {
    let p = small();
    assert_eq!(
        p.run(&["resolve", "api", "-t", PROD, "--get", "db.pool.max"])
            .ok()
            .stdout,
        "50\n"
    );
    assert_eq!(
        p.run(&["resolve", "api", "-t", PROD, "--get", "db.host"])
            .ok()
            .stdout,
        "db.prod.acme.internal\n"
    );
    assert_eq!(
        p.run(&["resolve", "api", "-t", PROD, "--get", "db.tls"])
            .ok()
            .stdout,
        "true\n"
    );
    assert_eq!(
        p.run(&["resolve", "api", "-t", PROD, "--get", "sidecars[1].args[1]"])
            .ok()
            .stdout,
        "us-east-1\n"
    );
    assert_eq!(
        p.run(&[
            "resolve",
            "api",
            "-t",
            PROD,
            "--get",
            "labels[\"app.kubernetes.io/name\"]"
        ])
        .ok()
        .stdout,
        "api\n"
    );
    // With --format the scalar is rendered in that format.
    assert_eq!(
        p.run(&[
            "resolve", "api", "-t", PROD, "--get", "db.host", "-f", "json"
        ])
        .ok()
        .stdout,
        "\"db.prod.acme.internal\"\n"
    );
}

#[test]
fn get_map_or_list_prints_json() {
    let p = small();
    let pool = p
        .run(&["resolve", "api", "-t", PROD, "--get", "db.pool"])
        .ok()
        .json();
    assert_eq!(pool, json!({"min": 2, "max": 50}));
    let origins = p
        .run(&["resolve", "api", "-t", PROD, "--get", "allowed_origins"])
        .ok()
        .json();
    assert_eq!(origins, json!(["https://acme.com", "https://www.acme.com"]));
}

#[test]
fn get_missing_parameter_is_a_usage_error_listing_keys() {
    let p = small();
    let r = p
        .run(&["resolve", "api", "-t", PROD, "--get", "nope.x"])
        .expect(2);
    assert_eq!(
        r.stderr,
        "error: api:nope.x does not exist for target prod/aws/us-east-1\n  hint: keys at `(top)`: name, replicas, db, \
         allowed_origins, ratio, version_tag, labels, motd, empty_list, empty_map, sidecars\n"
    );
    assert!(r.stdout.is_empty());

    let r = p
        .run(&["resolve", "api", "-t", PROD, "--get", "db.pool.maximum"])
        .expect(2);
    assert!(
        r.stderr.contains("hint: keys at `db.pool`: min, max\n"),
        "{}",
        r.stderr
    );

    let r = p
        .run(&["resolve", "api", "-t", PROD, "--get", "sidecars[7].name"])
        .expect(2);
    assert!(
        r.stderr
            .contains("hint: `sidecars` is a list of 2 items, indices 0 to 1\n"),
        "{}",
        r.stderr
    );

    let r = p
        .run(&["resolve", "api", "-t", PROD, "--get", "db[0"])
        .expect(2);
    assert!(
        r.stderr
            .starts_with("error: --get: invalid parameter path `db[0`"),
        "{}",
        r.stderr
    );
}

// ---------------------------------------------------------------------------------------
// --all and --out

#[test]
fn all_prints_one_object_keyed_by_service_in_declaration_order() {
    let all = run(ACME, &["resolve", "--all", "--target", PROD])
        .ok()
        .json();
    let keys: Vec<&str> = all
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ACME_SERVICES);
    // Each entry is exactly what resolving that one service prints.
    for service in ["checkout", "payments-gateway", "billing-export"] {
        let one = run(ACME, &["resolve", service, "--target", PROD])
            .ok()
            .json();
        assert_eq!(all[service], one, "{service}");
    }
}

#[test]
fn all_resolves_acme_for_every_target() {
    let targets = run(ACME, &["targets", "--json"]).ok().json();
    let targets = targets.as_array().unwrap();
    assert_eq!(targets.len(), 8);
    for t in targets {
        let t = t["target"].as_str().unwrap();
        let all = run(ACME, &["resolve", "--all", "-t", t]).ok().json();
        assert_eq!(all.as_object().unwrap().len(), ACME_SERVICES.len(), "{t}");
    }
}

#[test]
fn all_yaml_reads_back() {
    let p = small();
    let yaml = p
        .run(&["resolve", "--all", "-t", PROD, "-f", "yaml"])
        .ok()
        .stdout;
    let json = p.run(&["resolve", "--all", "-t", PROD]).ok().json();
    assert_eq!(parse_as_json(&yaml, Format::Yaml), json);
}

#[test]
fn all_out_writes_one_parseable_file_per_service() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("build/prod");
    let r = run(
        ACME,
        &[
            "resolve",
            "--all",
            "-t",
            PROD,
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .ok();
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(r.stderr.contains("wrote 11 files to"), "{}", r.stderr);
    let all = run(ACME, &["resolve", "--all", "-t", PROD]).ok().json();
    let tree = read_tree(&out);
    let names: Vec<&str> = tree.keys().map(String::as_str).collect();
    let mut expected: Vec<String> = ACME_SERVICES.iter().map(|s| format!("{s}.json")).collect();
    expected.sort();
    assert_eq!(names, expected);
    for (name, bytes) in &tree {
        let v: serde_json::Value =
            serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(v, all[name.trim_end_matches(".json")], "{name}");
    }
}

#[test]
fn all_out_in_every_format() {
    let p = small();
    let json = p.run(&["resolve", "--all", "-t", PROD]).ok().json();
    for (format, ext) in [
        ("yaml", "yaml"),
        ("toml", "toml"),
        ("env", "env"),
        ("json", "json"),
    ] {
        let out = p.outer().join(format);
        p.run(&[
            "resolve",
            "--all",
            "-t",
            PROD,
            "-f",
            format,
            "--out",
            out.to_str().unwrap(),
        ])
        .ok();
        let tree = read_tree(&out);
        let names: Vec<&str> = tree.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [format!("api.{ext}"), format!("worker.{ext}")],
            "{format}"
        );
        let worker = String::from_utf8(tree[&format!("worker.{ext}")].clone()).unwrap();
        match format {
            "yaml" => assert_eq!(parse_as_json(&worker, Format::Yaml), json["worker"]),
            "toml" => assert_eq!(parse_as_json(&worker, Format::Toml), json["worker"]),
            "json" => assert_eq!(parse_as_json(&worker, Format::Json), json["worker"]),
            _ => assert_eq!(
                worker,
                "QUEUE=jobs-prod\nAPI_PORT=5432\nAPI_URL=http://api:5432/v1\nCONCURRENCY=4\n"
            ),
        }
    }
}

#[test]
fn all_usage_errors() {
    let p = small();
    let r = p.run(&["resolve", "--all", "api", "-t", PROD]).expect(2);
    assert!(
        r.stderr.contains("'--all' cannot be used with '[SERVICE]'"),
        "{}",
        r.stderr
    );
    let r = p
        .run(&["resolve", "--all", "-t", PROD, "--get", "db"])
        .expect(2);
    assert!(r.stderr.contains("cannot be used with"), "{}", r.stderr);
    let r = p
        .run(&["resolve", "--all", "-t", PROD, "-f", "env"])
        .expect(2);
    assert!(
        r.stderr.contains("env format needs --out DIR"),
        "{}",
        r.stderr
    );
    let r = p
        .run(&["resolve", "api", "-t", PROD, "--out", "x"])
        .expect(2);
    assert!(
        r.stderr
            .starts_with("error: --out writes one file per service and needs --all"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty() && !p.root().join("x").exists());
    let r = p.run(&["resolve", "-t", PROD]).expect(2);
    assert!(r.stderr.contains("<SERVICE>"), "{}", r.stderr);
    let r = p.run(&["resolve", "api"]).expect(2);
    assert!(r.stderr.contains("--target"), "{}", r.stderr);
    let r = p
        .run(&["resolve", "api", "-t", PROD, "--format", "xml"])
        .expect(2);
    assert!(
        r.stderr.contains("possible values: json, yaml, toml, env"),
        "{}",
        r.stderr
    );
    // --out naming an existing file.
    p.write("taken", "x");
    let r = p
        .run(&["resolve", "--all", "-t", PROD, "--out", "taken"])
        .expect(2);
    assert!(
        r.stderr
            .starts_with("error: --out taken is a file, not a directory\n  hint: "),
        "{}",
        r.stderr
    );
    assert_eq!(
        std::fs::read_to_string(p.root().join("taken")).unwrap(),
        "x"
    );
}

#[test]
fn all_reports_a_broken_service_and_writes_nothing() {
    let p = small();
    p.write("layers/env/prod/worker.yaml", "x: ${vars.nope}\n");
    let r = p
        .run(&["resolve", "--all", "-t", PROD, "--out", "build"])
        .expect(1);
    assert!(
        r.stderr
            .starts_with("error: layers/env/prod/worker.yaml:1:4: undefined variable `vars.nope`"),
        "{}",
        r.stderr
    );
    assert!(!p.root().join("build").exists());
    // The other targets do not read that layer.
    p.run(&["resolve", "--all", "-t", "dev/aws/us-east-1"]).ok();
}

// ---------------------------------------------------------------------------------------
// Pipes

#[test]
fn a_closed_stdout_is_not_a_panic() {
    for args in [
        &["resolve", "--all", "-t", PROD][..],
        &["resolve", "checkout", "-t", PROD, "--explain"],
        &["targets"],
    ] {
        let mut child = strata()
            .current_dir(ACME)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // like `strata … | head -0`
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
