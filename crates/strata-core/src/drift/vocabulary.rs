//! Provider vocabulary in comparisons: `t3.medium` on AWS and `e2-standard-2` on GCP are
//! both `${size:medium}`, so comparing targets of different providers must not call that
//! difference drift.

use std::collections::HashMap;

use crate::providers::Catalogs;
use crate::value::Value;

/// A reverse index of every provider's vocabulary: concrete value → the portable entries
/// (`size:medium`) it stands for.
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    /// provider → rendered scalar → `kind:name` entries.
    by_provider: HashMap<String, HashMap<String, Vec<String>>>,
}

/// The key a scalar is indexed under (maps and lists are never vocabulary words).
fn key(v: &Value) -> Option<String> {
    v.is_scalar().then(|| v.to_string())
}

impl Vocabulary {
    /// Indexes every catalog's vocabulary.
    pub fn new(catalogs: &Catalogs) -> Vocabulary {
        let mut by_provider: HashMap<String, HashMap<String, Vec<String>>> = HashMap::new();
        for cat in catalogs.all() {
            let index = by_provider.entry(cat.name.clone()).or_default();
            for (kind, words) in &cat.vocabulary {
                for (name, value) in words {
                    if let Some(k) = key(value) {
                        index.entry(k).or_default().push(format!("{kind}:{name}"));
                    }
                }
            }
        }
        Vocabulary { by_provider }
    }

    /// The vocabulary entry (`size:medium`) that `a` on provider `pa` and `b` on provider
    /// `pb` both stand for, when the providers differ and there is one.
    pub fn common(&self, pa: &str, a: &Value, pb: &str, b: &Value) -> Option<&str> {
        if pa == pb {
            return None;
        }
        let ea = self.by_provider.get(pa)?.get(&key(a)?)?;
        let eb = self.by_provider.get(pb)?.get(&key(b)?)?;
        ea.iter().find(|e| eb.contains(e)).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::Str(v.into())
    }

    #[test]
    fn the_same_portable_word_is_the_same_value() {
        let cats = Catalogs::builtin().unwrap();
        let v = Vocabulary::new(cats);
        let aws = cats.vocabulary("aws", "size", "medium").unwrap();
        let gcp = cats.vocabulary("gcp", "size", "medium").unwrap();
        let gcp_large = cats.vocabulary("gcp", "size", "large").unwrap();
        assert_eq!(v.common("aws", &aws, "gcp", &gcp), Some("size:medium"));
        assert_eq!(v.common("aws", &aws, "gcp", &gcp_large), None);
        // Same provider: a difference is a difference.
        assert_eq!(v.common("aws", &aws, "aws", &aws), None);
        assert_eq!(v.common("aws", &s("not-a-size"), "gcp", &gcp), None);
        assert_eq!(v.common("nosuch", &aws, "gcp", &gcp), None);
    }
}
