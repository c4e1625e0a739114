use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;
use strata_core::resolve::ResolveOptions;
use strata_store::model::{CommitMeta, Revision};
use strata_store::repo::{ImportOutcome, Repository};

use super::*;

const ACME: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/acme");

type Files = BTreeMap<String, Vec<u8>>;

fn acme() -> Files {
    crate::seed::read_dir(Path::new(ACME)).expect("examples/acme is readable")
}

fn generated(seed: u64) -> Files {
    let opts = strata_gen::GenOptions {
        services: 8,
        params: 12,
        envs: vec!["dev".into(), "prod".into()],
        providers: vec!["aws".into(), "gcp".into()],
        seed,
        ..strata_gen::GenOptions::default()
    };
    strata_gen::generate_to_vec(&opts)
        .expect("valid options")
        .into_iter()
        .map(|f| (f.path, f.contents))
        .collect()
}

fn meta(message: &str) -> CommitMeta {
    CommitMeta {
        author: "test".into(),
        message: message.into(),
        timestamp_ms: 1,
        source: None,
        labels: BTreeMap::new(),
    }
}

/// Imports `files` and returns the head (the same head when nothing changed; `None` when
/// the store refuses the files, e.g. a secret made plaintext).
fn import(repo: &Repository, files: &Files) -> Option<Revision> {
    match repo.import(files.clone(), meta("case")) {
        Ok(ImportOutcome::Committed(rev) | ImportOutcome::Unchanged(rev)) => Some(rev),
        Err(_) => None,
    }
}

/// One random edit of a project's files (see [`apply`]).
#[derive(Debug, Clone)]
struct Edit {
    kind: u8,
    pick: usize,
    line: usize,
    value: u32,
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    proptest::collection::vec(
        (0u8..7, any::<usize>(), any::<usize>(), 0u32..1000).prop_map(
            |(kind, pick, line, value)| Edit {
                kind,
                pick,
                line,
                value,
            },
        ),
        1..4,
    )
}

/// Whether a YAML line is `key: plain value` whose value may be replaced.
fn scalar_line(line: &str) -> bool {
    let t = line.trim_start();
    let Some((key, value)) = t.split_once(": ") else {
        return false;
    };
    let value = value.trim();
    !key.is_empty()
        && !key.starts_with(['-', '#', '$'])
        && !value.is_empty()
        && !value.starts_with(['|', '>', '&', '*', '!', '#'])
        && !value.contains("ENC[")
}

/// Applies `edit` to `files` (a project with strata.yaml declaring `services` and
/// `dirs`, the layer directories its targets read).
fn apply(files: &mut Files, services: &[String], dirs: &[String], edit: &Edit) {
    let yaml_layers: Vec<String> = files
        .keys()
        .filter(|p| p.starts_with("layers/") && p.ends_with(".yaml"))
        .cloned()
        .collect();
    match edit.kind {
        // Replace the value of one `key: value` line (often a referenced one).
        0..=2 if !yaml_layers.is_empty() => {
            let path = &yaml_layers[edit.pick % yaml_layers.len()];
            let text = String::from_utf8_lossy(&files[path]).into_owned();
            let lines: Vec<&str> = text.lines().collect();
            let candidates: Vec<usize> = (0..lines.len())
                .filter(|i| scalar_line(lines[*i]))
                .collect();
            let Some(&at) = candidates.get(edit.line % candidates.len().max(1)) else {
                return;
            };
            let (key, _) = lines[at].split_once(": ").unwrap_or((lines[at], ""));
            let value = if edit.value.is_multiple_of(2) {
                format!("{}", edit.value)
            } else {
                format!("v{}", edit.value)
            };
            let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            out[at] = format!("{key}: {value}");
            files.insert(path.clone(), (out.join("\n") + "\n").into_bytes());
        }
        // Delete a layer file.
        3 if !yaml_layers.is_empty() => {
            files.remove(&yaml_layers[edit.pick % yaml_layers.len()]);
        }
        // Add (or replace) a layer file for a service at a level some target reads.
        4 if !services.is_empty() && !dirs.is_empty() => {
            let service = &services[edit.pick % services.len()];
            let dir = &dirs[edit.line % dirs.len()];
            files.insert(
                format!("layers/{dir}/{service}.yaml"),
                format!("zz_added: {}\n", edit.value).into_bytes(),
            );
        }
        // Touch a schema.
        5 => {
            let schemas: Vec<String> = files
                .keys()
                .filter(|p| p.starts_with("schemas/"))
                .cloned()
                .collect();
            if let Some(path) = schemas.get(edit.pick % schemas.len().max(1)) {
                let mut text = files[path].clone();
                text.extend_from_slice(format!("# touched {}\n", edit.value).as_bytes());
                files.insert(path.clone(), text);
            }
        }
        // Touch the access policy (changes no configuration).
        _ => {
            let path = AccessPolicy::PATH.to_string();
            let mut text = files.get(&path).cloned().unwrap_or_default();
            if !text.is_empty() {
                text.extend_from_slice(format!("# touched {}\n", edit.value).as_bytes());
                files.insert(path, text);
            }
        }
    }
}

/// Resolves every `(target, service)` at `old` and `new` and checks that the ones
/// `affected` leaves out are equal (what carrying their cache entries over serves).
/// Returns how many were carried and how many are affected.
fn check(repo: &Repository, memo: &mut RefMemo, old: &Revision, new: &Revision) -> (usize, usize) {
    let before = repo.project(old).expect("old project loads");
    let after = repo.project(new).expect("new project loads");
    let found = affected(
        &repo.manifest(old).expect("old manifest"),
        &repo.manifest(new).expect("new manifest"),
        &after.config,
        memo,
        &mut |hs: &[Hash]| repo.store().blobs(hs),
    )
    .expect("affected");
    let (mut carried, mut changed) = (0, 0);
    for target in &after.config.targets {
        let target = target.to_string();
        for service in after.config.services.keys() {
            if found.contains(&target, service) {
                changed += 1;
                continue;
            }
            carried += 1;
            let Ok(was) = before.resolve(service, &target, ResolveOptions::default()) else {
                // Failed resolutions are never cached: nothing is carried over.
                continue;
            };
            let now = after
                .resolve(service, &target, ResolveOptions::default())
                .map(|e| e.root.value.to_json())
                .map_err(|e| e.to_string());
            assert_eq!(
                now,
                Ok(was.root.value.to_json()),
                "{service} for {target} was carried over but changed ({:?})",
                found
            );
        }
    }
    (carried, changed)
}

/// Level directories the targets of `files`' strata.yaml read.
fn shape(repo: &Repository, rev: &Revision) -> (Vec<String>, Vec<String>) {
    let project = repo.project(rev).expect("project loads");
    let services = project.config.services.keys().cloned().collect();
    let mut dirs: Vec<String> = project
        .config
        .targets
        .iter()
        .flat_map(|t| project.config.hierarchy.iter().map(move |l| l.dir_for(t)))
        .collect();
    dirs.sort();
    dirs.dedup();
    (services, dirs)
}

fn run_cases(base: Files, cases: Vec<Vec<Edit>>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("store.db");
    let repo = strata_store::repo::open(&store.to_string_lossy()).expect("store opens");
    let first = import(&repo, &base).expect("the base project imports");
    let (services, dirs) = shape(&repo, &first);
    let mut memo = RefMemo::default();
    let (mut carried, mut changed) = (0, 0);
    for case in cases {
        let Some(old) = import(&repo, &base) else {
            continue;
        };
        let mut files = base.clone();
        for e in &case {
            apply(&mut files, &services, &dirs, e);
        }
        let Some(new) = import(&repo, &files) else {
            continue;
        };
        let (c, a) = check(&repo, &mut memo, &old, &new);
        carried += c;
        changed += a;
    }
    // Not vacuous: edits both kept and invalidated configurations.
    assert!(
        carried > 0 && changed > 0,
        "{carried} carried, {changed} changed"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4, ..ProptestConfig::default() })]

    #[test]
    fn carried_configurations_equal_fresh_ones_on_acme(cases in proptest::collection::vec(edits(), 6)) {
        run_cases(acme(), cases);
    }

    #[test]
    fn carried_configurations_equal_fresh_ones_on_generated_projects(
        seed in 0u64..1000,
        cases in proptest::collection::vec(edits(), 6),
    ) {
        run_cases(generated(seed), cases);
    }
}

fn manifest(files: &[(&str, u8)]) -> Manifest {
    Manifest {
        files: files
            .iter()
            .map(|(p, b)| (p.to_string(), Hash::of(&[*b])))
            .collect(),
    }
}

fn acme_config() -> ProjectConfig {
    let mut source = strata_core::files::MemorySource::new();
    for (path, bytes) in acme() {
        source.insert(path, bytes);
    }
    strata_core::resolve::Project::load(std::sync::Arc::new(source))
        .expect("acme loads")
        .config
}

#[test]
fn project_wide_files_affect_everything_and_the_access_policy_nothing() {
    let config = acme_config();
    let mut memo = RefMemo::default();
    let mut no_read = |_: &[Hash]| -> Result<Vec<Vec<u8>>, StoreError> { Ok(Vec::new()) };
    let old = manifest(&[
        ("strata.yaml", 1),
        ("providers/aws.yaml", 1),
        ("policies/access.yaml", 1),
        ("policies/variations.yaml", 1),
        ("README.md", 1),
    ]);
    for (path, all) in [
        ("strata.yaml", true),
        ("providers/aws.yaml", true),
        ("policies/variations.yaml", true),
        ("README.md", true),
        ("policies/access.yaml", false),
    ] {
        let mut new = old.clone();
        new.files.insert(path.to_string(), Hash::of(b"changed"));
        let a = affected(&old, &new, &config, &mut memo, &mut no_read).expect("affected");
        assert_eq!(matches!(a, Affected::All(_)), all, "{path}: {a:?}");
        if !all {
            assert_eq!(a.count(), Some(0), "{path}");
        }
    }
}

#[test]
fn a_layer_file_affects_its_service_where_it_is_read_and_its_referrers() {
    let config = acme_config();
    let mut memo = RefMemo::default();
    let texts: BTreeMap<Hash, Vec<u8>> = [
        (Hash::of(&[1]), b"x: 1\n".to_vec()),
        (
            Hash::of(b"ref"),
            b"t: ${ref:checkout:queue.topics.a}\n".to_vec(),
        ),
        (Hash::of(&[2]), b"y: 2\n".to_vec()),
    ]
    .into_iter()
    .collect();
    let mut read = |hs: &[Hash]| -> Result<Vec<Vec<u8>>, StoreError> {
        Ok(hs.iter().map(|h| texts[h].clone()).collect())
    };
    let old = Manifest {
        files: [
            (
                "layers/env/dev/aws/checkout.yaml".to_string(),
                Hash::of(&[1]),
            ),
            (
                "layers/base/notifications.yaml".to_string(),
                Hash::of(b"ref"),
            ),
            ("layers/base/search.yaml".to_string(), Hash::of(&[1])),
        ]
        .into_iter()
        .collect(),
    };
    let mut new = old.clone();
    new.files.insert(
        "layers/env/dev/aws/checkout.yaml".to_string(),
        Hash::of(&[2]),
    );
    let a = affected(&old, &new, &config, &mut memo, &mut read).expect("affected");
    assert!(a.contains("dev/aws/us-east-1", "checkout"), "{a:?}");
    assert!(!a.contains("dev/azure/eastus", "checkout"), "{a:?}");
    assert!(!a.contains("prod/aws/us-east-1", "checkout"), "{a:?}");
    // notifications references checkout: affected where checkout is.
    assert!(a.contains("dev/aws/us-east-1", "notifications"), "{a:?}");
    assert!(!a.contains("prod/aws/us-east-1", "notifications"), "{a:?}");
    assert!(!a.contains("dev/aws/us-east-1", "search"), "{a:?}");
    assert_eq!(a.count(), Some(2));
    // A file whose name is no service changes nothing.
    let mut other = old.clone();
    other
        .files
        .insert("layers/base/nobody.yaml".to_string(), Hash::of(&[2]));
    let b = affected(&old, &other, &config, &mut memo, &mut read).expect("affected");
    assert_eq!(b.count(), Some(0), "{b:?}");
}

#[test]
fn references_hidden_by_escapes_count_as_any() {
    assert_eq!(
        Refs::scan(b"a: ${ref:x:y}\nb: \"$${ref:z:w}\"\n"),
        Refs::Services(vec!["x".into(), "z".into()])
    );
    assert_eq!(Refs::scan(b"a: \"\\u0024{ref:x:y}\"\n"), Refs::Any);
    assert_eq!(Refs::scan(b"a: \"${r\\\n  ef:x:y}\"\n"), Refs::Any);
    assert_eq!(Refs::scan(b"a: ${ref:}\n"), Refs::Any);
    assert_eq!(
        Refs::scan(b"pattern: \"^\\\\d+$\"\n"),
        Refs::Services(Vec::new())
    );
}
