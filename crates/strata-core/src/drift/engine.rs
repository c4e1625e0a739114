//! Classifying the differences between two targets' effective configurations of one
//! service against the variation policy.
//!
//! Differing leaves come from the Merkle-hashed comparison ([`super::hash`]), so equal
//! subtrees cost nothing; `must-differ` rules are then checked on the leaves that are
//! equal, because an equal value is exactly what such a rule forbids.

use std::fmt;
use std::sync::Arc;

use crate::path::{Segment, segments_to_string};
use crate::project::Target;
use crate::value::Node;

use super::hash::{self, Hashed};
use super::policy::{PolicyDate, VariationKind, VariationPolicy, VariationRule};
use super::vocabulary::Vocabulary;

/// What a difference (or a forbidden equality) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// A rule allows it.
    Expected,
    /// No rule explains it.
    Drift,
    /// A `must-equal` parameter differs, or a `must-differ` one is equal.
    Violation,
    /// Present on one side only, and no rule allows that.
    Missing,
    /// A rule would allow it, but the rule has expired.
    Expired,
}

impl Class {
    /// The name used in reports: `expected`, `drift`, `violation`, `missing`, `expired`.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Expected => "expected",
            Class::Drift => "drift",
            Class::Violation => "violation",
            Class::Missing => "missing",
            Class::Expired => "expired",
        }
    }

    /// Whether a CI gate fails on it (`drift`, `violation`, `expired`).
    pub fn fails(self) -> bool {
        matches!(self, Class::Drift | Class::Violation | Class::Expired)
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One target's side of a comparison.
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    /// The target.
    pub target: &'a Target,
    /// Its effective configuration of the service.
    pub root: &'a Node,
}

/// One classified difference.
#[derive(Debug, Clone)]
pub struct Finding<'a> {
    /// The service.
    pub service: Arc<str>,
    /// The parameter path inside the service.
    pub path: Vec<Segment>,
    /// The classification.
    pub class: Class,
    /// The reference target's value (`None`: absent there).
    pub reference: Option<&'a Node>,
    /// The other target's value (`None`: absent there).
    pub other: Option<&'a Node>,
    /// The reference target.
    pub reference_target: Arc<str>,
    /// The other target.
    pub other_target: Arc<str>,
    /// The index in [`VariationPolicy::rules`] of the rule that decided, if any.
    pub rule: Option<usize>,
    /// For targets of different providers: the vocabulary entry (`size:medium`) both
    /// values stand for, which makes the difference `expected`.
    pub vocabulary: Option<String>,
}

impl Finding<'_> {
    /// `service:path`.
    pub fn param(&self) -> String {
        format!("{}:{}", self.service, segments_to_string(&self.path))
    }

    /// A stable id for the finding (the same parameter and targets give the same id on
    /// every run), used by `strata drift ack`.
    pub fn id(&self) -> String {
        let key = format!(
            "{}\u{0}{}\u{0}{}",
            self.param(),
            self.reference_target,
            self.other_target
        );
        blake3::hash(key.as_bytes()).to_hex()[..10].to_string()
    }
}

/// The rule that decides for `path`: the most specific rule naming the path itself, else
/// one naming its nearest ancestor (a rule on a list or map covers what is inside it).
fn rule_for<'p>(
    policy: &'p VariationPolicy,
    service: &str,
    path: &[Segment],
    a: &Target,
    b: &Target,
) -> Option<&'p VariationRule> {
    (1..=path.len()).rev().find_map(|n| {
        policy
            .applicable(service, &path[..n], a, b)
            .first()
            .copied()
    })
}

/// The class of a difference given the rule that applies (most specific first).
fn judge(rule: Option<&VariationRule>, both_present: bool, today: PolicyDate) -> Class {
    let unexplained = if both_present {
        Class::Drift
    } else {
        Class::Missing
    };
    let Some(rule) = rule else {
        return unexplained;
    };
    let expired = rule.expired(today);
    match rule.kind {
        // A lapsed requirement no longer constrains anything.
        VariationKind::MustEqual if expired => unexplained,
        VariationKind::MustEqual => Class::Violation,
        VariationKind::MustDiffer if expired => unexplained,
        VariationKind::MustDiffer => Class::Expected,
        // `may-be-absent` excuses absence, not a different value (expired or not).
        VariationKind::MayBeAbsent if both_present => Class::Drift,
        VariationKind::MayDiffer | VariationKind::MayBeAbsent if expired => Class::Expired,
        VariationKind::MayDiffer | VariationKind::MayBeAbsent => Class::Expected,
    }
}

/// What differences are judged by.
#[derive(Debug, Clone, Copy)]
pub struct Context<'p> {
    /// The variation policy.
    pub policy: &'p VariationPolicy,
    /// The day expiry is judged on.
    pub today: PolicyDate,
    /// Provider vocabularies, to recognise the same portable value on two providers.
    pub vocabulary: Option<&'p Vocabulary>,
}

/// Compares `other` with `reference` for `service` and classifies every difference, and
/// every equal value a `must-differ` rule forbids. `today` decides expiry.
pub fn classify<'a>(
    service: &str,
    reference: Side<'a>,
    other: Side<'a>,
    policy: &VariationPolicy,
    today: PolicyDate,
) -> Vec<Finding<'a>> {
    let cx = Context {
        policy,
        today,
        vocabulary: None,
    };
    classify_in(service, reference, other, &cx)
}

/// [`classify`] with every judging input, including provider vocabularies.
pub fn classify_in<'a>(
    service: &str,
    reference: Side<'a>,
    other: Side<'a>,
    cx: &Context<'_>,
) -> Vec<Finding<'a>> {
    let ha = Hashed::new(reference.root);
    let hb = Hashed::new(other.root);
    classify_hashed(service, reference, &ha, other, &hb, cx)
}

/// [`classify_in`] with both sides already hashed (`ha` of `reference.root`, `hb` of
/// `other.root`), so a reference compared with several targets is hashed once.
pub fn classify_hashed<'a>(
    service: &str,
    reference: Side<'a>,
    ha: &Hashed<'a>,
    other: Side<'a>,
    hb: &Hashed<'a>,
    cx: &Context<'_>,
) -> Vec<Finding<'a>> {
    let (policy, today) = (cx.policy, cx.today);
    // Shared by every finding of the call (there can be hundreds of thousands).
    let service_name: Arc<str> = Arc::from(service);
    let reference_name: Arc<str> = Arc::from(reference.target.to_string());
    let other_name: Arc<str> = Arc::from(other.target.to_string());
    let mut out: Vec<Finding<'a>> = Vec::new();
    let finding = |path: &[Segment], class, a, b, rule: Option<&VariationRule>| Finding {
        service: service_name.clone(),
        path: path.to_vec(),
        class,
        reference: a,
        other: b,
        reference_target: reference_name.clone(),
        other_target: other_name.clone(),
        rule: rule.map(|r| r.index),
        vocabulary: None,
    };
    hash::diff(Some(ha), Some(hb), &mut |path, a, b| {
        if let (Some(voc), Some(x), Some(y)) = (cx.vocabulary, a, b)
            && let Some(entry) = voc.common(
                &reference.target.provider,
                &x.value,
                &other.target.provider,
                &y.value,
            )
        {
            let mut f = finding(path, Class::Expected, a, b, None);
            f.vocabulary = Some(entry.to_string());
            out.push(f);
            return;
        }
        let rule = rule_for(policy, service, path, reference.target, other.target);
        let class = judge(rule, a.is_some() && b.is_some(), today);
        out.push(finding(path, class, a, b, rule));
    });

    // Equal values that a `must-differ` rule forbids.
    let must_differ = policy.rules.iter().any(|r| {
        r.kind == VariationKind::MustDiffer
            && !r.expired(today)
            && (r.in_scope(reference.target) || r.in_scope(other.target))
    });
    if must_differ {
        let mut path = Vec::new();
        reference.root.for_each_leaf(&mut path, &mut |p, a| {
            if p.is_empty() {
                return;
            }
            let Some(b) = other.root.get(p) else { return };
            if b.value != a.value {
                return;
            }
            if let Some(rule) = rule_for(policy, service, p, reference.target, other.target)
                && rule.kind == VariationKind::MustDiffer
                && !rule.expired(today)
            {
                out.push(finding(p, Class::Violation, Some(a), Some(b), Some(rule)));
            }
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::FileTable;
    use crate::test_support;

    fn doc(text: &str) -> Node {
        test_support::doc(&FileTable::new(), "x.yaml", text)
    }

    fn policy(text: &str) -> VariationPolicy {
        VariationPolicy::parse(text.as_bytes(), None).unwrap()
    }

    fn target(s: &str) -> Target {
        Target::parse(s).unwrap()
    }

    const TODAY: PolicyDate = PolicyDate {
        year: 2026,
        month: 11,
        day: 22,
    };

    fn run(policy_text: &str, a: &str, b: &str) -> Vec<(String, Class)> {
        let (ta, tb) = (
            target("staging/aws/us-east-1"),
            target("prod/aws/us-east-1"),
        );
        let (da, db) = (doc(a), doc(b));
        let mut got: Vec<(String, Class)> = classify(
            "svc",
            Side {
                target: &ta,
                root: &da,
            },
            Side {
                target: &tb,
                root: &db,
            },
            &policy(policy_text),
            TODAY,
        )
        .into_iter()
        .map(|f| (f.param(), f.class))
        .collect();
        got.sort();
        got
    }

    #[test]
    fn unexplained_differences_are_drift_or_missing() {
        let got = run(
            "variations: []\n",
            "a: 1\nb: x\ngone: 1\n",
            "a: 2\nb: x\nnew: 1\n",
        );
        assert_eq!(
            got,
            vec![
                ("svc:a".into(), Class::Drift),
                ("svc:gone".into(), Class::Missing),
                ("svc:new".into(), Class::Missing),
            ]
        );
        assert!(run("variations: []\n", "a: {b: [1]}\n", "a: {b: [1]}\n").is_empty());
    }

    #[test]
    fn rules_explain_or_forbid() {
        let p = "variations:
  - {params: [\"svc:replicas\"], kind: may-differ, reason: prod is bigger}
  - {params: [\"svc:db.host\"], kind: must-differ, reason: own databases}
  - {params: [\"svc:region_code\"], kind: must-equal, reason: one region}
  - {params: [\"svc:debug\"], kind: may-be-absent, reason: dev only}
  - {params: [\"svc:old\"], kind: may-differ, reason: migration, expires: 2026-01-31}
";
        let a = "replicas: 2\ndb: {host: shared}\nregion_code: a\ndebug: true\nold: 1\n";
        let b = "replicas: 6\ndb: {host: shared}\nregion_code: b\nold: 2\n";
        assert_eq!(
            run(p, a, b),
            vec![
                ("svc:db.host".into(), Class::Violation),
                ("svc:debug".into(), Class::Expected),
                ("svc:old".into(), Class::Expired),
                ("svc:region_code".into(), Class::Violation),
                ("svc:replicas".into(), Class::Expected),
            ]
        );
    }

    #[test]
    fn scope_and_specificity_decide_which_rule_applies() {
        // Scoped to dev: does not cover a staging↔prod comparison.
        let p = "variations:
  - {params: [\"svc:a\"], kind: must-equal, envs: [dev], reason: r}
  - {params: [\"svc:**\"], kind: may-differ, reason: anything}
  - {params: [\"svc:b\"], kind: must-equal, reason: exact}
";
        assert_eq!(
            run(p, "a: 1\nb: 1\n", "a: 2\nb: 2\n"),
            vec![
                ("svc:a".into(), Class::Expected),
                ("svc:b".into(), Class::Violation),
            ]
        );
    }

    #[test]
    fn a_rule_on_a_list_or_map_covers_what_is_inside() {
        let p = "variations:
  - {params: [\"*:**.brokers\"], kind: may-differ, reason: per env}
  - {params: [\"svc:db\"], kind: may-differ, reason: own db}
  - {params: [\"svc:db.pool\"], kind: must-equal, reason: same sizing}
";
        assert_eq!(
            run(
                p,
                "q: {brokers: [a, b]}\ndb: {host: x, pool: 5}\n",
                "q: {brokers: [c]}\ndb: {host: y, pool: 6}\n"
            ),
            vec![
                ("svc:db.host".into(), Class::Expected),
                ("svc:db.pool".into(), Class::Violation),
                ("svc:q.brokers[0]".into(), Class::Expected),
                ("svc:q.brokers[1]".into(), Class::Expected),
            ]
        );
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        let (ta, tb) = (
            target("staging/aws/us-east-1"),
            target("prod/aws/us-east-1"),
        );
        let (da, db) = (doc("a: 1\nb: 1\n"), doc("a: 2\nb: 2\n"));
        let side = |t, r| Side { target: t, root: r };
        let p = VariationPolicy::default();
        let one = classify("svc", side(&ta, &da), side(&tb, &db), &p, TODAY);
        let two = classify("svc", side(&ta, &da), side(&tb, &db), &p, TODAY);
        assert_eq!(one[0].id(), two[0].id());
        assert_ne!(one[0].id(), one[1].id());
        assert!(Class::Drift.fails() && !Class::Expected.fails() && !Class::Missing.fails());
    }

    #[test]
    fn the_same_vocabulary_word_on_two_providers_is_expected() {
        let cats = crate::providers::Catalogs::builtin().unwrap();
        let voc = Vocabulary::new(cats);
        let aws = cats.vocabulary("aws", "size", "medium").unwrap();
        let gcp = cats.vocabulary("gcp", "size", "medium").unwrap();
        let gcp_large = cats.vocabulary("gcp", "size", "large").unwrap();
        let (ta, tb) = (
            target("prod/aws/us-east-1"),
            target("staging/gcp/europe-west1"),
        );
        let da = doc(&format!("size: {aws}\nother: {aws}\n"));
        let db = doc(&format!("size: {gcp}\nother: {gcp_large}\n"));
        let p = policy(
            "variations:\n  - {params: [\"svc:size\"], kind: must-equal, reason: same tier}\n",
        );
        let cx = Context {
            policy: &p,
            today: TODAY,
            vocabulary: Some(&voc),
        };
        let side = |t, r| Side { target: t, root: r };
        let found = classify_in("svc", side(&ta, &da), side(&tb, &db), &cx);
        let got: Vec<(String, Class, Option<String>)> = found
            .iter()
            .map(|f| (f.param(), f.class, f.vocabulary.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "svc:size".into(),
                    Class::Expected,
                    Some("size:medium".into())
                ),
                ("svc:other".into(), Class::Drift, None),
            ]
        );
        // Without the vocabulary the sizes are simply different values.
        let plain = classify("svc", side(&ta, &da), side(&tb, &db), &p, TODAY);
        assert_eq!(plain[0].class, Class::Violation);
    }
}
