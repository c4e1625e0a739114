//! `examples/acme`: the example project most tests import and serve.
//!
//! Why here: the server's HTTP suite, the client's and the CLI's tests all seed stores with
//! acme and commit edited copies of it; the directory is read by the same function that
//! `strata demo` uses ([`strata_server::seed::read_dir`]), so tests import exactly what the
//! demo would.

use std::collections::BTreeMap;
use std::path::Path;

/// The directory of `examples/acme`.
pub const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/acme");

/// Acme's files, by `/`-separated path relative to [`DIR`].
///
/// # Panics
///
/// When the directory cannot be read.
pub fn files() -> BTreeMap<String, Vec<u8>> {
    strata_server::seed::read_dir(Path::new(DIR))
        .unwrap_or_else(|e| panic!("cannot read {DIR}: {e}"))
}

/// Acme's files with `replicas: 1` of checkout's dev layer set to `replicas` (`1` → `7` is
/// the change most tests commit, as a second revision).
///
/// # Panics
///
/// When the layer no longer says `replicas: 1` (the tests relying on it would be wrong).
pub fn with_dev_checkout_replicas(replicas: u32) -> BTreeMap<String, Vec<u8>> {
    let mut files = files();
    let layer = files
        .get_mut("layers/env/dev/checkout.yaml")
        .expect("acme has checkout's dev layer");
    let text = String::from_utf8(layer.clone()).unwrap();
    assert!(text.contains("replicas: 1\n"), "{text}");
    *layer = text
        .replace("replicas: 1\n", &format!("replicas: {replicas}\n"))
        .into_bytes();
    files
}
