//! Revealing secrets in a resolved configuration: which leaves hold Strata ciphertexts
//! (each needs `read-secret` and an audit entry before it is shown), and replacing them
//! with their plaintext. Shared by `strata resolve --reveal` and the server's
//! `?reveal=true`.

use strata_core::path::{Segment, segments_to_string};
use strata_core::value::{Node, Value};

use crate::crypto::{self, CryptoError, Identities};

/// A secret that could not be decrypted: its parameter and why (never its value).
#[derive(Debug, thiserror::Error)]
#[error("cannot reveal {param}: {source}")]
pub struct RevealError {
    /// `service:path`.
    pub param: String,
    /// Why.
    #[source]
    pub source: CryptoError,
}

/// The paths, relative to `node`, of every leaf under it holding a Strata ciphertext
/// (`ENC[strata:v1,…]`), in tree order.
pub fn ciphertext_paths(node: &Node) -> Vec<Vec<Segment>> {
    let mut out = Vec::new();
    node.for_each_leaf(&mut Vec::new(), &mut |p, n| {
        if n.value.as_str().is_some_and(crypto::is_ciphertext) {
            out.push(p.to_vec());
        }
    });
    out
}

/// Replaces every Strata ciphertext under `node` with its plaintext. `node` is the
/// subtree at `prefix` of `service`'s configuration: each value is decrypted with its
/// parameter path (`service:prefix.rest`), to which it is bound.
pub fn reveal_tree(
    service: &str,
    prefix: &[Segment],
    node: &mut Node,
    ids: &Identities,
) -> Result<(), RevealError> {
    fn walk(
        service: &str,
        node: &mut Node,
        path: &mut Vec<Segment>,
        ids: &Identities,
    ) -> Result<(), RevealError> {
        match &mut node.value {
            Value::Map(m) => {
                for (k, v) in m.iter_mut() {
                    path.push(Segment::Key(k.clone()));
                    walk(service, v, path, ids)?;
                    path.pop();
                }
            }
            Value::List(items) => {
                for (i, v) in items.iter_mut().enumerate() {
                    path.push(Segment::Index(i));
                    walk(service, v, path, ids)?;
                    path.pop();
                }
            }
            Value::Str(s) if crypto::is_ciphertext(s) => {
                let param = format!("{service}:{}", segments_to_string(path));
                let plain = crypto::decrypt(s, &param, ids)
                    .map_err(|source| RevealError { param, source })?;
                node.value = Value::Str(plain.into());
            }
            _ => {}
        }
        Ok(())
    }
    walk(service, node, &mut prefix.to_vec(), ids)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use strata_core::parse::{Format, ParseOptions, parse_document};
    use strata_core::path::parse_segments;
    use strata_core::value::FileId;

    use super::*;
    use crate::crypto::{Recipients, encrypt, generate_identity};

    #[test]
    fn ciphertexts_are_found_and_revealed_with_their_path() {
        let (secret, public) = generate_identity();
        let ids = Identities::parse(&secret).unwrap();
        let to = Recipients::parse(&[public]).unwrap();
        let pw = encrypt("hunter2", "checkout:db.password", &to).unwrap();
        let key = encrypt("k", "checkout:keys[1]", &to).unwrap();
        let text = format!(
            "db: {{password: \"{pw}\", host: h}}\nkeys: [plain, \"{key}\"]\nsops: \"ENC[AGE,data:x,type:str]\"\n"
        );
        let mut root = parse_document(
            &Arc::from("x.yaml"),
            FileId(0),
            text.as_bytes(),
            Format::Yaml,
            ParseOptions { templates: false },
        )
        .unwrap();
        let paths: Vec<String> = ciphertext_paths(&root)
            .iter()
            .map(|p| segments_to_string(p))
            .collect();
        assert_eq!(paths, ["db.password", "keys[1]"]);
        // A subtree is decrypted with its full path.
        let db = parse_segments("db").unwrap();
        let mut sub = root.get(&db).unwrap().clone();
        reveal_tree("checkout", &db, &mut sub, &ids).unwrap();
        assert_eq!(sub.value.to_json()["password"], "hunter2");
        reveal_tree("checkout", &[], &mut root, &ids).unwrap();
        let v = root.value.to_json();
        assert_eq!(v["keys"][1], "k");
        assert_eq!(v["sops"], "ENC[AGE,data:x,type:str]");
        // Bound to its path: under another service it does not decrypt, and the error
        // names the parameter without the value.
        let mut again = parse_document(
            &Arc::from("x.yaml"),
            FileId(0),
            text.as_bytes(),
            Format::Yaml,
            ParseOptions { templates: false },
        )
        .unwrap();
        let e = reveal_tree("ledger", &[], &mut again, &ids).unwrap_err();
        assert_eq!(e.param, "ledger:db.password");
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}
