//! The variation policy: which differences between targets are intended.
//!
//! `policies/variations.yaml` lists rules over parameter globs:
//!
//! ```yaml
//! variations:
//!   - params: ["checkout:db.host", "*:**.endpoint"]
//!     kind: must-differ          # may-differ | must-differ | must-equal | may-be-absent
//!     envs: [staging, prod]      # optional scope: envs, providers, targets
//!     providers: [aws]
//!     targets: [prod/aws/us-east-1]
//!     reason: environments never share a database
//!     owner: payments            # optional
//!     expires: 2027-03-31        # optional; afterwards the rule no longer excuses
//! ```
//!
//! Reading is pure: the caller supplies the bytes (a missing file is an empty
//! [`VariationPolicy::default`]) and today's date for [`VariationRule::expired`].

use std::fmt;
use std::sync::Arc;

use crate::error::Diagnostic;
use crate::parse::{Format, ParseOptions, parse_document};
use crate::path::{ParamGlob, Segment};
use crate::project::{ProjectConfig, Target};
use crate::value::{FileId, Loc, Node, Value};

/// What a rule says about the values of its parameters across targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VariationKind {
    /// `may-differ`: a difference is intended and not reported as drift.
    MayDiffer,
    /// `must-differ`: equal values are a finding (e.g. a shared database host).
    MustDiffer,
    /// `must-equal`: any difference is a finding.
    MustEqual,
    /// `may-be-absent`: the parameter may exist in one target and not the other.
    MayBeAbsent,
}

impl VariationKind {
    /// Every kind, in the order they are listed in messages.
    pub const ALL: [VariationKind; 4] = [
        VariationKind::MayDiffer,
        VariationKind::MustDiffer,
        VariationKind::MustEqual,
        VariationKind::MayBeAbsent,
    ];

    /// The name used in `variations.yaml` (`may-differ`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            VariationKind::MayDiffer => "may-differ",
            VariationKind::MustDiffer => "must-differ",
            VariationKind::MustEqual => "must-equal",
            VariationKind::MayBeAbsent => "may-be-absent",
        }
    }

    /// The kind named `s`, if any.
    pub fn parse(s: &str) -> Option<VariationKind> {
        VariationKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for VariationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A calendar date (proleptic Gregorian), ordered chronologically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyDate {
    /// The year (`parse` reads four digits, 0000–9999).
    pub year: i32,
    /// The month, 1–12.
    pub month: u8,
    /// The day of the month, 1–28/29/30/31.
    pub day: u8,
}

impl PolicyDate {
    /// A date when `year-month-day` exists (leap years included), else `None`.
    pub fn new(year: i32, month: u8, day: u8) -> Option<PolicyDate> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(PolicyDate { year, month, day })
    }

    /// Parses exactly `YYYY-MM-DD` (four-digit year, two-digit month and day) and checks
    /// that the day exists; `None` otherwise. Never panics.
    pub fn parse(s: &str) -> Option<PolicyDate> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let num = |range: std::ops::Range<usize>| -> Option<u32> {
            let part = &b[range];
            if !part.iter().all(u8::is_ascii_digit) {
                return None;
            }
            Some(
                part.iter()
                    .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0')),
            )
        };
        let year = i32::try_from(num(0..4)?).ok()?;
        let month = u8::try_from(num(5..7)?).ok()?;
        let day = u8::try_from(num(8..10)?).ok()?;
        PolicyDate::new(year, month, day)
    }

    /// The date `days` days after 1970-01-01 (negative: before it), in the proleptic
    /// Gregorian calendar; the caller reads the clock (`ms / 86_400_000`, floored).
    /// Saturates at years 0000 and 9999 outside what `parse` reads.
    pub fn from_unix_days(days: i64) -> PolicyDate {
        // Howard Hinnant's days-to-civil algorithm.
        let z = days.clamp(-719_468, 2_932_896) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        PolicyDate {
            year: i32::try_from(year).unwrap_or(0),
            month: u8::try_from(month).unwrap_or(1),
            day: u8::try_from(day).unwrap_or(1),
        }
    }
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

impl fmt::Display for PolicyDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// One rule of `variations.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariationRule {
    /// The parameters it covers (any glob matching is enough).
    pub params: Vec<ParamGlob>,
    /// What it says about them.
    pub kind: VariationKind,
    /// Environments it is scoped to (empty = any).
    pub envs: Vec<String>,
    /// Providers it is scoped to (empty = any).
    pub providers: Vec<String>,
    /// Targets (`ENV/PROVIDER/REGION`) it is scoped to (empty = any).
    pub targets: Vec<String>,
    /// Why the variation exists.
    pub reason: String,
    /// Who answers for it.
    pub owner: Option<String>,
    /// The last day the rule applies; afterwards it is reported as expired.
    pub expires: Option<PolicyDate>,
    /// The file that declares the rule: `policies/variations.yaml`, or a schema carrying
    /// `x-strata-variation`.
    pub file: Arc<str>,
    /// Where the rule item starts in its file.
    pub loc: Loc,
    /// The rule's position in [`VariationPolicy::rules`] (0-based).
    pub index: usize,
}

impl VariationRule {
    /// Whether the rule has expired on `today` (`expires < today`; a rule is still valid
    /// on its expiry day).
    pub fn expired(&self, today: PolicyDate) -> bool {
        self.expires.is_some_and(|e| e < today)
    }

    /// Whether the rule's scope includes `target` (the scope lists are ANDed; an empty
    /// list means any).
    pub fn in_scope(&self, target: &Target) -> bool {
        (self.envs.is_empty() || self.envs.contains(&target.env))
            && (self.providers.is_empty() || self.providers.contains(&target.provider))
            && (self.targets.is_empty() || {
                let name = target.to_string();
                self.targets.contains(&name)
            })
    }

    /// The specificity of the most specific glob matching `(service, path)`, if any does.
    fn match_specificity(&self, service: &str, path: &[Segment]) -> Option<usize> {
        self.params
            .iter()
            .filter(|g| g.matches(service, path))
            .map(ParamGlob::specificity)
            .max()
    }
}

/// The parsed `policies/variations.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VariationPolicy {
    /// The rules, in declaration order.
    pub rules: Vec<VariationRule>,
}

const TOP_KEYS: &[&str] = &["variations"];
const RULE_KEYS: &[&str] = &[
    "params",
    "kind",
    "envs",
    "providers",
    "targets",
    "reason",
    "owner",
    "expires",
];

/// The keys of an `x-strata-variation` annotation: a rule without `params` (the annotated
/// schema node names the parameter).
const SCHEMA_RULE_KEYS: &[&str] = &[
    "kind",
    "envs",
    "providers",
    "targets",
    "reason",
    "owner",
    "expires",
];

impl VariationPolicy {
    /// Project-relative path of the policy file.
    pub const PATH: &'static str = "policies/variations.yaml";

    /// Reads and validates `variations.yaml`. With `config`, scope entries must name
    /// declared environments, providers and targets. Errors name the file, line and
    /// column and say what to write instead.
    pub fn parse(bytes: &[u8], config: Option<&ProjectConfig>) -> Result<Self, Diagnostic> {
        let path: Arc<str> = Arc::from(Self::PATH);
        let root = parse_document(
            &path,
            FileId(0),
            bytes,
            Format::Yaml,
            ParseOptions { templates: false },
        )?;
        let r = Reader {
            doc: crate::project::Reader { path },
            config,
        };
        let top = r.map(&root, Self::PATH)?;
        r.only_keys(top, &root, TOP_KEYS, Self::PATH)?;
        let items: &[Node] = match top.get("variations") {
            None => &[],
            Some(Node {
                value: Value::Null, ..
            }) => &[],
            Some(n) => r.list(n, "variations")?,
        };
        let rules = items
            .iter()
            .enumerate()
            .map(|(index, item)| r.rule(item, index))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(VariationPolicy { rules })
    }

    /// Adds the rules that `service`'s schema (read from `schema_path`) declares on its
    /// nodes with `x-strata-variation` — one rule (a map with `kind`, `reason` and the
    /// optional scope, `owner` and `expires`) or a list of them. The annotated node names
    /// the parameter: `properties.db.properties.host` becomes `service:db.host`, `items`
    /// `[*]`, and `patternProperties`/`additionalProperties` any key (`*`).
    pub fn add_schema_rules(
        &mut self,
        service: &str,
        schema_path: &str,
        schema: &Node,
        config: Option<&ProjectConfig>,
    ) -> Result<(), Diagnostic> {
        let r = Reader {
            doc: crate::project::Reader {
                path: Arc::from(schema_path),
            },
            config,
        };
        let mut found: Vec<(String, &Node)> = Vec::new();
        crate::validate::schema::walk_schema(schema, &mut |pats, node| {
            if let Some(annotation) = node.value.as_map().and_then(|m| m.get(SCHEMA_KEY)) {
                found.push((schema_glob(service, pats), annotation));
            }
        });
        for (glob, annotation) in found {
            let items: Vec<&Node> = match &annotation.value {
                Value::List(items) => items.iter().collect(),
                _ => vec![annotation],
            };
            let params = ParamGlob::parse(&glob).map_err(|e| {
                r.err(
                    annotation.loc,
                    format!("`{SCHEMA_KEY}` on a property Strata cannot name: {e}"),
                    "annotate a property whose name is a plain key, or write the rule in policies/variations.yaml",
                )
            })?;
            for item in items {
                let m = r.rule_map(item)?;
                r.only_keys(m, item, SCHEMA_RULE_KEYS, SCHEMA_KEY)?;
                let index = self.rules.len();
                let rule = r.rule_body(m, item, index, vec![params.clone()])?;
                self.rules.push(rule);
            }
        }
        Ok(())
    }

    /// Rules applying to parameter `(service, path)` when comparing targets `a` and `b`:
    /// some param glob matches, and the scope includes at least one of the two targets (an
    /// empty scope list means any; `envs`, `providers` and `targets` are ANDed). "EU prod
    /// targets may differ" (`targets: [prod/gcp/europe-west1]`) must cover comparing that
    /// target with staging, which is outside the scope. Most specific first (by
    /// [`ParamGlob::specificity`] of the best matching glob), then declaration order.
    pub fn applicable(
        &self,
        service: &str,
        path: &[Segment],
        a: &Target,
        b: &Target,
    ) -> Vec<&VariationRule> {
        let mut found: Vec<(usize, &VariationRule)> = self
            .rules
            .iter()
            .filter(|r| r.in_scope(a) || r.in_scope(b))
            .filter_map(|r| r.match_specificity(service, path).map(|s| (s, r)))
            .collect();
        found.sort_by_key(|&(spec, r)| (std::cmp::Reverse(spec), r.index));
        found.into_iter().map(|(_, r)| r).collect()
    }
}

/// The schema keyword that declares a variation rule on the annotated parameter.
pub const SCHEMA_KEY: &str = "x-strata-variation";

/// The parameter glob naming what a schema walk's patterns select.
fn schema_glob(service: &str, pats: &[crate::validate::schema::Pat]) -> String {
    use crate::validate::schema::Pat;
    let mut out = format!("{service}:");
    if pats.is_empty() {
        out.push_str("**");
    }
    for (i, pat) in pats.iter().enumerate() {
        match pat {
            Pat::AnyIndex => out.push_str("[*]"),
            Pat::Key(k) => {
                if i > 0 {
                    out.push('.');
                }
                out.push_str(k);
            }
            Pat::AnyKey | Pat::KeyMatching(_) | Pat::OtherKeys { .. } => {
                if i > 0 {
                    out.push('.');
                }
                out.push('*');
            }
        }
    }
    out
}

/// Reads one `variations.yaml` tree into rules, producing located errors.
struct Reader<'c> {
    /// The shared located-error reader of configuration files.
    doc: crate::project::Reader,
    config: Option<&'c ProjectConfig>,
}

impl std::ops::Deref for Reader<'_> {
    type Target = crate::project::Reader;

    fn deref(&self) -> &crate::project::Reader {
        &self.doc
    }
}

impl Reader<'_> {
    fn strings(&self, node: &Node, what: &str) -> Result<Vec<(String, Loc)>, Diagnostic> {
        self.list(node, what)?
            .iter()
            .map(|n| self.string(n, what).map(|s| (s.to_string(), n.loc)))
            .collect()
    }

    /// Checks each scope entry against the declared names (when a config is given).
    fn check_declared(
        &self,
        entries: &[(String, Loc)],
        what: &str,
        declared: &[String],
    ) -> Result<(), Diagnostic> {
        if self.config.is_none() {
            return Ok(());
        }
        for (name, loc) in entries {
            if !declared.contains(name) {
                return Err(self.err(
                    *loc,
                    format!("{what} `{name}` is not declared in strata.yaml"),
                    format!("declared: {}", declared.join(", ")),
                ));
            }
        }
        Ok(())
    }

    fn rule(&self, item: &Node, index: usize) -> Result<VariationRule, Diagnostic> {
        let m = self.rule_map(item)?;
        self.only_keys(m, item, RULE_KEYS, "a variation rule")?;

        // params
        let params_node = m.get("params").ok_or_else(|| {
            self.err(
                item.loc,
                "a variation rule needs `params`",
                "add `params: [\"SERVICE:PATH\"]`, e.g. `params: [\"checkout:db.host\"]`",
            )
        })?;
        let globs = self.strings(params_node, "params")?;
        if globs.is_empty() {
            return Err(self.err(
                params_node.loc,
                "`params` must list at least one parameter glob",
                "write e.g. `params: [\"checkout:db.host\", \"*:**.endpoint\"]`",
            ));
        }
        let params = globs
            .iter()
            .map(|(g, loc)| {
                ParamGlob::parse(g).map_err(|e| {
                    self.err(
                        *loc,
                        e.to_string(),
                        "globs look like `checkout:db.host`, `checkout:db.**` or `*:**.endpoint`",
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.rule_body(m, item, index, params)
    }

    fn rule_map<'n>(&self, item: &'n Node) -> Result<&'n crate::value::Map, Diagnostic> {
        item.value.as_map().ok_or_else(|| {
            self.err(
                item.loc,
                format!(
                    "a variation rule must be a mapping, found {}",
                    item.value.a_type_name()
                ),
                "write `- params: [\"svc:path\"]` with `kind:` and `reason:` below it",
            )
        })
    }

    /// Everything of a rule but its `params`.
    fn rule_body(
        &self,
        m: &crate::value::Map,
        item: &Node,
        index: usize,
        params: Vec<ParamGlob>,
    ) -> Result<VariationRule, Diagnostic> {
        // kind
        let known_kinds = VariationKind::ALL.map(VariationKind::as_str).join(", ");
        let kind_node = m.get("kind").ok_or_else(|| {
            self.err(
                item.loc,
                "a variation rule needs `kind`",
                format!("add `kind:` with one of: {known_kinds}"),
            )
        })?;
        let kind_str = self.string(kind_node, "kind")?;
        let kind = VariationKind::parse(kind_str).ok_or_else(|| {
            self.err(
                kind_node.loc,
                format!("unknown variation kind `{kind_str}`"),
                format!("known kinds: {known_kinds}"),
            )
        })?;

        // scope
        let scope = |key: &str| -> Result<Vec<(String, Loc)>, Diagnostic> {
            m.get(key).map_or(Ok(Vec::new()), |n| self.strings(n, key))
        };
        let envs = scope("envs")?;
        let providers = scope("providers")?;
        let targets = scope("targets")?;
        for (t, loc) in &targets {
            if Target::parse(t).is_none() {
                return Err(self.err(
                    *loc,
                    format!("invalid target `{t}`"),
                    "write targets as ENV/PROVIDER/REGION, e.g. `prod/aws/us-east-1`",
                ));
            }
        }
        if let Some(c) = self.config {
            let env_names: Vec<String> = c.environments.iter().map(|e| e.name.clone()).collect();
            self.check_declared(&envs, "environment", &env_names)?;
            self.check_declared(&providers, "provider", &c.providers)?;
            let target_names: Vec<String> = c.targets.iter().map(Target::to_string).collect();
            self.check_declared(&targets, "target", &target_names)?;
        }

        // reason
        let reason_node = m.get("reason").ok_or_else(|| {
            self.err(
                item.loc,
                "a variation rule needs a `reason`",
                "add `reason: …` saying why these values vary (or must not)",
            )
        })?;
        let reason = self.string(reason_node, "reason")?.trim().to_string();
        if reason.is_empty() {
            return Err(self.err(
                reason_node.loc,
                "`reason` must not be empty",
                "say why these values vary (or must not), e.g. `reason: environments never share a database`",
            ));
        }

        // owner
        let owner = m
            .get("owner")
            .map(|n| self.string(n, "owner").map(str::to_string))
            .transpose()?;

        // expires
        let expires = m
            .get("expires")
            .map(|n| {
                let s = self.string(n, "expires")?;
                PolicyDate::parse(s).ok_or_else(|| {
                    self.err(
                        n.loc,
                        format!("`expires` is not a valid date: `{s}`"),
                        "write an existing calendar date as YYYY-MM-DD, e.g. `expires: 2027-03-31`",
                    )
                })
            })
            .transpose()?;

        let names = |v: Vec<(String, Loc)>| v.into_iter().map(|(s, _)| s).collect();
        Ok(VariationRule {
            params,
            kind,
            envs: names(envs),
            providers: names(providers),
            targets: names(targets),
            reason,
            owner,
            expires,
            file: self.path.clone(),
            loc: item.loc,
            index,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::parse_segments;
    use proptest::prelude::*;

    const CANONICAL: &str = r#"variations:
  - params: ["checkout:db.host", "*:**.endpoint"]
    kind: must-differ
    envs: [staging, prod]
    providers: [aws]
    targets: [prod/aws/us-east-1]
    reason: environments never share a database
    owner: payments
    expires: 2027-03-31
  - params: ["*:replicas"]
    kind: may-differ
    reason: sized per environment
"#;

    const PROJECT: &str = "version: 1
environments: [dev, staging, prod]
providers: [aws, gcp]
targets: [dev/aws/us-east-1, staging/aws/us-east-1, prod/aws/us-east-1, prod/gcp/europe-west1]
hierarchy: [base]
services: {checkout: {}}
";

    fn config() -> ProjectConfig {
        ProjectConfig::parse(PROJECT).unwrap()
    }

    fn parse(text: &str) -> Result<VariationPolicy, Diagnostic> {
        VariationPolicy::parse(text.as_bytes(), None)
    }

    fn err(text: &str) -> Diagnostic {
        parse(text).unwrap_err()
    }

    fn t(s: &str) -> Target {
        Target::parse(s).unwrap()
    }

    fn date(s: &str) -> PolicyDate {
        PolicyDate::parse(s).unwrap()
    }

    #[test]
    fn dates_from_days_since_the_epoch() {
        assert_eq!(PolicyDate::from_unix_days(0), date("1970-01-01"));
        assert_eq!(PolicyDate::from_unix_days(-1), date("1969-12-31"));
        assert_eq!(PolicyDate::from_unix_days(19_782), date("2024-02-29"));
        assert_eq!(PolicyDate::from_unix_days(20_779), date("2026-11-22"));
        assert_eq!(PolicyDate::from_unix_days(i64::MIN), date("0000-03-01"));
        assert_eq!(PolicyDate::from_unix_days(i64::MAX), date("9999-12-31"));
        for d in [-800_000_i64, -1, 0, 59, 60, 365, 11_016, 2_932_896] {
            let shown = PolicyDate::from_unix_days(d).to_string();
            assert_eq!(
                PolicyDate::parse(&shown),
                Some(PolicyDate::from_unix_days(d)),
                "{d}"
            );
        }
    }

    #[test]
    fn reads_the_canonical_shape() {
        let p = VariationPolicy::parse(CANONICAL.as_bytes(), Some(&config())).unwrap();
        assert_eq!(p.rules.len(), 2);
        let r = &p.rules[0];
        assert_eq!(r.params.len(), 2);
        assert_eq!(r.params[1].as_str(), "*:**.endpoint");
        assert_eq!(r.kind, VariationKind::MustDiffer);
        assert_eq!(r.envs, vec!["staging", "prod"]);
        assert_eq!(r.providers, vec!["aws"]);
        assert_eq!(r.targets, vec!["prod/aws/us-east-1"]);
        assert_eq!(r.reason, "environments never share a database");
        assert_eq!(r.owner.as_deref(), Some("payments"));
        assert_eq!(r.expires, Some(date("2027-03-31")));
        assert_eq!((r.loc.line, r.index), (2, 0));
        let r = &p.rules[1];
        assert_eq!(r.kind, VariationKind::MayDiffer);
        assert!(r.envs.is_empty() && r.owner.is_none() && r.expires.is_none());
        assert_eq!(r.index, 1);
    }

    #[test]
    fn empty_documents_are_empty_policies() {
        assert_eq!(parse("").unwrap(), VariationPolicy::default());
        assert_eq!(
            parse("variations: []\n").unwrap(),
            VariationPolicy::default()
        );
        assert_eq!(parse("variations:\n").unwrap(), VariationPolicy::default());
    }

    fn assert_at(e: &Diagnostic, line: u32, col: u32, msg: &str) {
        assert_eq!(&*e.path, "policies/variations.yaml");
        assert_eq!((e.line, e.col), (line, col), "{e}");
        assert!(e.message.contains(msg), "{e}");
        assert!(
            e.to_string()
                .starts_with(&format!("policies/variations.yaml:{line}:{col}: ")),
            "{e}"
        );
    }

    #[test]
    fn unknown_keys_are_refused_with_the_known_ones() {
        let e = err(&CANONICAL.replace("owner:", "ownr:"));
        assert_at(&e, 8, 11, "unknown key `ownr` in a variation rule");
        let hint = e.hint.unwrap();
        assert!(
            hint.contains("params") && hint.contains("expires"),
            "{hint}"
        );

        let e = err("variatons: []\n");
        assert_at(&e, 1, 1, "unknown key `variatons`");
        assert!(e.hint.unwrap().contains("variations"));
    }

    #[test]
    fn bad_kind_lists_the_known_kinds() {
        let e = err(&CANONICAL.replace("kind: must-differ", "kind: must-diff"));
        assert_at(&e, 3, 11, "unknown variation kind `must-diff`");
        assert_eq!(
            e.hint.as_deref(),
            Some("known kinds: may-differ, must-differ, must-equal, may-be-absent")
        );
    }

    #[test]
    fn params_must_be_a_non_empty_list_of_valid_globs() {
        let e = err(&CANONICAL.replace(
            r#"params: ["checkout:db.host", "*:**.endpoint"]"#,
            "params: []",
        ));
        assert_at(&e, 2, 5, "at least one parameter glob");

        let e = err(&CANONICAL.replace(r#""*:**.endpoint""#, r#""*:a..b""#));
        assert_at(&e, 2, 34, "invalid parameter glob `*:a..b`");
        assert!(e.hint.unwrap().contains("checkout:db.**"));

        let e = err("variations:\n  - kind: may-differ\n    reason: x\n");
        assert_at(&e, 2, 5, "needs `params`");
    }

    #[test]
    fn scope_names_must_be_declared_when_a_config_is_given() {
        let text = CANONICAL.replace("envs: [staging, prod]", "envs: [staging, prd]");
        assert!(parse(&text).is_ok());
        let e = VariationPolicy::parse(text.as_bytes(), Some(&config())).unwrap_err();
        assert_at(&e, 4, 21, "environment `prd` is not declared");
        assert_eq!(e.hint.as_deref(), Some("declared: dev, staging, prod"));

        let text = CANONICAL.replace("providers: [aws]", "providers: [azure]");
        let e = VariationPolicy::parse(text.as_bytes(), Some(&config())).unwrap_err();
        assert_at(&e, 5, 17, "provider `azure` is not declared");
        assert_eq!(e.hint.as_deref(), Some("declared: aws, gcp"));

        let text = CANONICAL.replace("[prod/aws/us-east-1]", "[prod/aws/us-west-2]");
        let e = VariationPolicy::parse(text.as_bytes(), Some(&config())).unwrap_err();
        assert_at(&e, 6, 15, "target `prod/aws/us-west-2` is not declared");
        assert!(e.hint.unwrap().contains("prod/gcp/europe-west1"));

        let e = err(&CANONICAL.replace("[prod/aws/us-east-1]", "[prod/aws]"));
        assert_at(&e, 6, 15, "invalid target `prod/aws`");
        assert!(e.hint.unwrap().contains("ENV/PROVIDER/REGION"));
    }

    #[test]
    fn expires_must_be_a_real_date() {
        let e = err(&CANONICAL.replace("2027-03-31", "2027-02-30"));
        assert_at(&e, 9, 14, "`expires` is not a valid date: `2027-02-30`");
        assert!(e.hint.unwrap().contains("YYYY-MM-DD"));
        assert!(parse(&CANONICAL.replace("2027-03-31", "2028-02-29")).is_ok());
        assert!(parse(&CANONICAL.replace("2027-03-31", "\"2027-03-31\"")).is_ok());
        let e = err(&CANONICAL.replace("2027-03-31", "20270331"));
        assert_at(&e, 9, 14, "`expires` must be a string");
    }

    #[test]
    fn reason_is_required_and_non_empty() {
        let e = err(&CANONICAL.replace("    reason: sized per environment\n", ""));
        assert_at(&e, 10, 5, "needs a `reason`");
        let e = err(&CANONICAL.replace("sized per environment", "\"  \""));
        assert_at(&e, 12, 13, "`reason` must not be empty");
    }

    #[test]
    fn dates_validate_and_order() {
        assert_eq!(
            PolicyDate::parse("2024-02-29"),
            Some(PolicyDate {
                year: 2024,
                month: 2,
                day: 29
            })
        );
        for bad in [
            "2023-02-29",
            "1900-02-29",
            "2027-02-30",
            "2027-04-31",
            "2027-13-01",
            "2027-00-10",
            "2027-01-00",
            "2027-1-01",
            "27-01-01",
            "2027/01/01",
            "+027-01-01",
            "2027-01-01 ",
            "",
        ] {
            assert_eq!(PolicyDate::parse(bad), None, "{bad}");
        }
        assert!(PolicyDate::parse("2000-02-29").is_some());
        assert!(date("2026-12-31") < date("2027-01-01"));
        assert!(date("2027-01-31") < date("2027-02-01"));
        assert_eq!(date("0042-01-05").to_string(), "0042-01-05");
    }

    #[test]
    fn rules_expire_after_their_date() {
        let p = parse(CANONICAL).unwrap();
        let r = &p.rules[0];
        assert!(!r.expired(date("2027-03-30")));
        assert!(!r.expired(date("2027-03-31")));
        assert!(r.expired(date("2027-04-01")));
        assert!(!p.rules[1].expired(date("9999-12-31")));
    }

    fn segs(s: &str) -> Vec<Segment> {
        parse_segments(s).unwrap()
    }

    #[test]
    fn applicable_honours_scopes() {
        let text = r#"variations:
  - params: ["checkout:db.host"]
    kind: must-differ
    envs: [staging, prod]
    reason: no shared databases
  - params: ["checkout:db.host"]
    kind: must-equal
    providers: [aws]
    targets: [prod/aws/us-east-1, staging/aws/us-east-1]
    reason: scoped by provider and target
"#;
        let p = parse(text).unwrap();
        let host = segs("db.host");
        let (dev, stg, prod, gcp) = (
            t("dev/aws/us-east-1"),
            t("staging/aws/us-east-1"),
            t("prod/aws/us-east-1"),
            t("prod/gcp/europe-west1"),
        );
        let idx = |a: &Target, b: &Target| -> Vec<usize> {
            p.applicable("checkout", &host, a, b)
                .iter()
                .map(|r| r.index)
                .collect()
        };
        // A rule applies when either compared target is in its scope.
        assert_eq!(idx(&dev, &prod), vec![0, 1]);
        assert_eq!(idx(&stg, &prod), vec![0, 1]);
        assert_eq!(idx(&prod, &stg), vec![0, 1]);
        assert_eq!(idx(&prod, &gcp), vec![0, 1]);
        assert_eq!(idx(&dev, &t("dev/gcp/europe-west1")), Vec::<usize>::new());
        assert!(p.applicable("ledger", &host, &stg, &prod).is_empty());
        assert!(
            p.applicable("checkout", &segs("db.port"), &stg, &prod)
                .is_empty()
        );
    }

    #[test]
    fn applicable_orders_by_specificity_then_declaration() {
        let text = r#"variations:
  - params: ["*:**"]
    kind: may-differ
    reason: anything
  - params: ["*:**.host"]
    kind: may-differ
    reason: any host
  - params: ["*:other", "checkout:db.host"]
    kind: must-differ
    reason: exact
  - params: ["checkout:db.*"]
    kind: may-differ
    reason: db
  - params: ["checkout:db.*"]
    kind: must-equal
    reason: db again
"#;
        let p = parse(text).unwrap();
        let (a, b) = (t("dev/aws/us-east-1"), t("prod/aws/us-east-1"));
        let order: Vec<usize> = p
            .applicable("checkout", &segs("db.host"), &a, &b)
            .iter()
            .map(|r| r.index)
            .collect();
        assert_eq!(order, vec![2, 3, 4, 1, 0]);
    }

    fn schema(text: &str) -> Node {
        let path: Arc<str> = Arc::from("schemas/checkout.yaml");
        parse_document(
            &path,
            FileId(0),
            text.as_bytes(),
            Format::Yaml,
            ParseOptions { templates: false },
        )
        .unwrap()
    }

    #[test]
    fn schemas_declare_rules_on_the_annotated_parameter() {
        let mut p = parse(CANONICAL).unwrap();
        let s = schema(
            "type: object
properties:
  db:
    properties:
      host:
        type: string
        x-strata-variation: {kind: must-differ, reason: own databases, envs: [prod]}
  sidecars:
    items:
      properties:
        image:
          x-strata-variation:
            - {kind: may-differ, reason: canary images}
            - {kind: must-equal, reason: pinned in prod, targets: [prod/aws/us-east-1]}
  labels:
    additionalProperties:
      x-strata-variation: {kind: may-differ, reason: free-form, expires: 2027-01-31}
",
        );
        p.add_schema_rules("checkout", "schemas/checkout.yaml", &s, Some(&config()))
            .unwrap();
        let added: Vec<(String, VariationKind, usize, &str)> = p.rules[2..]
            .iter()
            .map(|r| (r.params[0].to_string(), r.kind, r.index, &*r.file))
            .collect();
        assert_eq!(
            added,
            vec![
                (
                    "checkout:db.host".to_string(),
                    VariationKind::MustDiffer,
                    2,
                    "schemas/checkout.yaml"
                ),
                (
                    "checkout:sidecars[*].image".to_string(),
                    VariationKind::MayDiffer,
                    3,
                    "schemas/checkout.yaml"
                ),
                (
                    "checkout:sidecars[*].image".to_string(),
                    VariationKind::MustEqual,
                    4,
                    "schemas/checkout.yaml"
                ),
                (
                    "checkout:labels.*".to_string(),
                    VariationKind::MayDiffer,
                    5,
                    "schemas/checkout.yaml"
                ),
            ]
        );
        assert_eq!(p.rules[2].envs, vec!["prod"]);
        assert_eq!(p.rules[2].loc.line, 7);
        assert!(p.rules[2].params[0].matches("checkout", &segs("db.host")));
        assert!(p.rules[3].params[0].matches("checkout", &segs("sidecars[3].image")));

        // `params` is implied, an unknown environment or key is located in the schema.
        for (bad, want) in [
            (
                "x-strata-variation: {kind: may-differ, reason: r, params: [\"a:b\"]}\n",
                "params",
            ),
            (
                "x-strata-variation: {kind: may-differ, reason: r, envs: [qa]}\n",
                "`qa`",
            ),
            (
                "x-strata-variation: {kind: maybe, reason: r}\n",
                "unknown variation kind",
            ),
            ("x-strata-variation: [1]\n", "must be a mapping"),
        ] {
            let e = VariationPolicy::default()
                .add_schema_rules(
                    "checkout",
                    "schemas/checkout.yaml",
                    &schema(bad),
                    Some(&config()),
                )
                .unwrap_err();
            assert!(e.to_string().contains("schemas/checkout.yaml:1:"), "{e}");
            assert!(e.to_string().contains(want), "{bad}: {e}");
        }
    }

    prop_compose! {
        fn valid_date()(year in 0i32..=9999, month in 1u8..=12, day in 1u8..=31)
            -> Option<PolicyDate> {
            PolicyDate::new(year, month, day)
        }
    }

    proptest! {
        #[test]
        fn dates_round_trip(d in valid_date()) {
            if let Some(d) = d {
                prop_assert_eq!(PolicyDate::parse(&d.to_string()), Some(d));
            }
        }

        #[test]
        fn parse_never_panics(s in ".{0,16}") {
            let _ = PolicyDate::parse(&s);
        }

        #[test]
        fn parse_never_panics_on_date_like_text(s in "[0-9+-]{4}-[0-9a]{2}-[0-9 ]{2}") {
            if let Some(d) = PolicyDate::parse(&s) {
                prop_assert_eq!(d.to_string(), s);
            }
        }
    }
}
