//! Desired against actual: the configuration a running system reports, compared with the
//! desired configuration of its target and classified by the same policy (a `may-differ`
//! rule on `replicas` covers an autoscaler's change). `strata drift --actual` and the
//! server's `POST /v1/actual/{env}/{service}` both call [`compare`].
//!
//! Desired secrets are ciphertext: with an age identity the caller decrypts them (in
//! memory) and they are compared; without one they are left out ([`leave_out_secrets`]),
//! which the report says. A report kept by a server never holds a secret value:
//! [`redact_secrets`] replaces them with [`REDACTED`] first.

use std::sync::Arc;

use crate::path::Segment;
use crate::project::Target;
use crate::resolve::{Project, ResolveOptions};
use crate::validate::schema::{Pat, is_encrypted, path_is_secret};
use crate::value::{Node, Value};

use super::collect::{DriftError, SecretHandling, SecretPatterns};
use super::engine::{Context, Side};
use super::policy::{PolicyDate, VariationKind, VariationPolicy};
use super::report::{Collected, Compare, Detail, REDACTED, rule_labels};
use super::vocabulary::Vocabulary;

/// How a desired-against-actual comparison describes and judges.
#[derive(Clone, Copy)]
pub struct ActualOptions<'a> {
    /// How much each finding is described.
    pub detail: Detail,
    /// The date rule expiry is judged on.
    pub today: PolicyDate,
    /// Secrets.
    pub secrets: SecretHandling<'a>,
    /// A reported value that stands for a secret left out before the comparison (the
    /// server's [`REDACTED`]): such a value is not compared where the desired one is a
    /// secret, like a reported plaintext the desired ciphertext cannot be compared with.
    pub placeholder: Option<&'a str>,
}

/// Compares each reported `(service, configuration)` with the desired configuration of
/// `target`. `policy` holds the schemas' rules and `secrets` their patterns (see
/// [`super::collect::read_schemas`]); `must-differ` rules are dropped here, since they are
/// about two targets and a running system equal to its desired configuration is the
/// goal.
pub fn compare(
    project: &Project,
    target: &Target,
    mut policy: VariationPolicy,
    secrets: &SecretPatterns,
    reported: Vec<(String, Node)>,
    opts: &ActualOptions<'_>,
) -> Result<Collected, DriftError> {
    let name = target.to_string();
    policy.rules.retain(|r| r.kind != VariationKind::MustDiffer);
    for (i, r) in policy.rules.iter_mut().enumerate() {
        r.index = i;
    }
    let vocabulary = project.catalogs().ok().map(Vocabulary::new);
    let cx = Context {
        policy: &policy,
        today: opts.today,
        vocabulary: vocabulary.as_ref(),
    };
    let rules = rule_labels(&policy);
    let session = project.session(
        &name,
        ResolveOptions {
            keep_prior_values: true,
        },
    )?;
    let (desired_label, actual_label): (Arc<str>, Arc<str>) = (
        Arc::from(format!("{name} (desired)")),
        Arc::from(format!("{name} (actual)")),
    );

    let mut items = Vec::new();
    let mut uncompared = 0usize;
    for (service, mut actual) in reported {
        let mut desired = session.resolve(&service)?.root;
        let pats = secrets.get(&service).map(Vec::as_slice);
        match opts.secrets.reveal {
            Some(reveal) => reveal(&service, &mut desired).map_err(DriftError::Secret)?,
            None => uncompared += leave_out_secrets(&desired, &mut actual, pats, opts.placeholder),
        }
        let compare = Compare {
            project,
            cx,
            rules: &rules,
            secrets: pats,
            reference_layers: &[],
            other_layers: &[],
            detail: opts.detail,
            is_ciphertext: opts.secrets.is_ciphertext,
        };
        let start = items.len();
        compare.run(
            &service,
            Side {
                target,
                root: &desired,
            },
            Side {
                target,
                root: &actual,
            },
            &mut items,
        );
        for about in items[start..]
            .iter_mut()
            .filter_map(|i| i.about.as_deref_mut())
        {
            about.reference = desired_label.clone();
            about.target = actual_label.clone();
        }
    }
    let mut notes = Vec::new();
    if uncompared > 0 {
        notes.push(format!(
            "{uncompared} secret parameter(s) were not compared: the desired values are encrypted; {}",
            opts.secrets.how_to_compare
        ));
    }
    if items.iter().any(|i| i.class.fails()) {
        notes.push(format!(
            "the running system differs from the desired configuration of {name}: redeploy it, or change the layers if the running values are right"
        ));
    }
    Ok(Collected {
        items,
        reference: format!("the desired configuration of {name}"),
        today: opts.today,
        dead_rules: Vec::new(),
        since: None,
        notes,
        pairs: Vec::new(),
    })
}

/// Makes the reported value of every encrypted desired secret equal to the desired one,
/// so that a ciphertext is not compared with a plaintext; returns how many. With a
/// `placeholder`, a reported placeholder also takes the desired value wherever the desired
/// one is encrypted or an `x-strata-secret`.
pub fn leave_out_secrets(
    desired: &Node,
    actual: &mut Node,
    pats: Option<&[Vec<Pat>]>,
    placeholder: Option<&str>,
) -> usize {
    let mut paths: Vec<(Vec<Segment>, Value, bool)> = Vec::new();
    desired.for_each_leaf(&mut Vec::new(), &mut |p, n| {
        let secret = pats.is_some_and(|pats| path_is_secret(pats, p));
        let encrypted = is_encrypted(&n.value);
        if (encrypted && secret) || (placeholder.is_some() && (encrypted || secret)) {
            paths.push((p.to_vec(), n.value.clone(), encrypted && secret));
        }
    });
    let mut n = 0;
    for (p, v, always) in paths {
        if let Some(node) = actual.get_mut(&p)
            && (always || placeholder.is_some_and(|ph| node.value.as_str() == Some(ph)))
        {
            node.value = v;
            n += 1;
        }
    }
    n
}

/// Replaces every secret value of a reported configuration with [`REDACTED`], so it can
/// be kept and shown: a value at or under an `x-strata-secret` path, at or under a path
/// whose desired value is encrypted, or itself an `ENC[…]` value. Returns the parameter
/// paths replaced.
pub fn redact_secrets(
    desired: Option<&Node>,
    actual: &mut Node,
    pats: Option<&[Vec<Pat>]>,
) -> Vec<Vec<Segment>> {
    let mut paths: Vec<Vec<Segment>> = Vec::new();
    actual.for_each_leaf(&mut Vec::new(), &mut |p, n| {
        if matches!(n.value, Value::Map(_) | Value::List(_)) {
            return;
        }
        let under_ciphertext = || {
            desired.is_some_and(|d| {
                (1..=p.len()).any(|k| d.get(&p[..k]).is_some_and(|x| is_encrypted(&x.value)))
            })
        };
        if is_encrypted(&n.value)
            || pats.is_some_and(|pats| path_is_secret(pats, p))
            || under_ciphertext()
        {
            paths.push(p.to_vec());
        }
    });
    for p in &paths {
        if let Some(node) = actual.get_mut(p) {
            node.value = Value::Str(REDACTED.into());
        }
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{Format, ParseOptions, parse_document};
    use crate::path::parse_segments;

    fn doc(text: &str) -> Node {
        let name: Arc<str> = Arc::from("t.json");
        parse_document(
            &name,
            crate::value::FileId(0),
            text.as_bytes(),
            Format::Json,
            ParseOptions { templates: false },
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn at(n: &Node, p: &str) -> serde_json::Value {
        let segs = parse_segments(p).unwrap_or_default();
        n.get(&segs)
            .map_or(serde_json::Value::Null, |x| x.value.to_json())
    }

    #[test]
    fn secrets_are_redacted_by_schema_ciphertext_and_shape() {
        let desired = doc(
            r#"{"db": {"password": "ENC[AGE,x]", "host": "h"}, "token": "ENC[strata:v1,a,b]"}"#,
        );
        let mut actual = doc(
            r#"{"db": {"password": "hunter2", "host": "h"}, "token": {"inner": "t0p"}, "key": "s3cret", "other": "ENC[x]", "n": 1}"#,
        );
        let pats = vec![vec![Pat::Key("key".into())]];
        let paths = redact_secrets(Some(&desired), &mut actual, Some(&pats));
        assert_eq!(paths.len(), 4, "{paths:?}");
        let text = actual.value.to_json().to_string();
        for secret in ["hunter2", "t0p", "s3cret", "ENC["] {
            assert!(!text.contains(secret), "{text}");
        }
        assert_eq!(at(&actual, "db.host"), "h");
        assert_eq!(at(&actual, "n"), 1);
        assert_eq!(at(&actual, "key"), REDACTED);
    }

    #[test]
    fn a_placeholder_is_left_out_where_the_desired_value_is_secret() {
        let desired = doc(r#"{"password": "ENC[AGE,x]", "key": "plain", "size": 1}"#);
        let mut actual = doc(r#"{"password": "<redacted>", "key": "<redacted>", "size": 1}"#);
        let pats = vec![vec![Pat::Key("key".into())]];
        // Without a placeholder only encrypted secrets are left out (the CLI's rule).
        let mut cli = actual.clone();
        assert_eq!(leave_out_secrets(&desired, &mut cli, Some(&pats), None), 0);
        assert_eq!(
            leave_out_secrets(&desired, &mut actual, Some(&pats), Some(REDACTED)),
            2
        );
        assert_eq!(at(&actual, "password"), "ENC[AGE,x]");
        assert_eq!(at(&actual, "key"), "plain");
    }
}
