//! Approval rules: which writes need how many approvals from which roles, and a pure
//! judge of whether the approvals given so far are enough.
//!
//! ```yaml
//! approvals:
//!   - name: prod-changes
//!     envs: [prod]
//!     params: ["*:**"]
//!     required: 2
//!     from_roles: [sre]
//!     expires_after: 72h     # optional: older approvals no longer count
//! ```
//!
//! Nobody approves their own change, approvers must hold one of `from_roles`, and one
//! principal's approvals count once. The caller says how old each approval is; nothing
//! here reads a clock.

use std::fmt;

use super::policy::{AccessPolicy, EnvGlob, ParamPattern};
use crate::path::Segment;
use crate::value::Loc;

/// One item of `approvals:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRule {
    /// The rule's name (unique in the policy), shown to people waiting for approvals.
    pub name: String,
    /// Environments whose writes it covers.
    pub envs: Vec<EnvGlob>,
    /// Parameters whose writes it covers (`@own` is not allowed here).
    pub params: Vec<ParamPattern>,
    /// How many distinct approvers are needed (≥ 1).
    pub required: u32,
    /// Approvers must hold at least one of these roles.
    pub from_roles: Vec<String>,
    /// Approvals older than this many seconds no longer count.
    pub expires_after: Option<u64>,
    /// Free text for readers of the policy.
    pub description: Option<String>,
    /// Where the rule starts.
    pub loc: Loc,
}

impl ApprovalRule {
    /// Whether a write to `service:path` in `env` needs this rule's approvals.
    pub fn covers(&self, env: &str, service: &str, path: &[Segment]) -> bool {
        self.envs.iter().any(|g| g.matches(env))
            && self.params.iter().any(|p| p.matches(service, path, false))
    }

    /// Whether `approval` counts for a change written by `author`, ignoring duplicates
    /// (see [`judge`] for a whole list): self-approval, an expired approval and an
    /// approver without one of `from_roles` are refused, in that order.
    pub fn check(&self, author: &str, approval: &Approval<'_>) -> Result<(), Refusal> {
        if approval.principal == author {
            return Err(Refusal::SelfApproval {
                principal: approval.principal.to_string(),
            });
        }
        if let (Some(limit), Some(age)) = (self.expires_after, approval.age_secs)
            && age > limit
        {
            return Err(Refusal::Expired {
                principal: approval.principal.to_string(),
                age_secs: age,
                expires_after: limit,
            });
        }
        if !approval
            .roles
            .iter()
            .any(|r| self.from_roles.iter().any(|f| f == r))
        {
            return Err(Refusal::MissingRole {
                principal: approval.principal.to_string(),
                from_roles: self.from_roles.clone(),
            });
        }
        Ok(())
    }
}

impl AccessPolicy {
    /// The approval rules covering a write to `service:path` in `env`, in declaration
    /// order (each must be satisfied). None for the open policy.
    pub fn approvals_for(&self, env: &str, service: &str, path: &[Segment]) -> Vec<&ApprovalRule> {
        self.approvals
            .iter()
            .filter(|a| a.covers(env, service, path))
            .collect()
    }
}

/// One approval given so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Approval<'a> {
    /// Who approved.
    pub principal: &'a str,
    /// The roles they held when approving (e.g. from [`AccessPolicy::roles_of`]).
    pub roles: &'a [String],
    /// How old the approval is, in seconds, for rules with `expires_after`; `None` when
    /// the caller does not track it (the approval never expires).
    pub age_secs: Option<u64>,
}

impl<'a> Approval<'a> {
    /// A fresh approval by `principal` holding `roles`.
    pub fn new(principal: &'a str, roles: &'a [String]) -> Self {
        Approval {
            principal,
            roles,
            age_secs: None,
        }
    }
}

/// Why an approval does not count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The approver wrote the change.
    #[error("`{principal}` wrote this change and cannot approve it")]
    SelfApproval {
        /// The author, who tried to approve.
        principal: String,
    },
    /// The approver holds none of the rule's `from_roles`.
    #[error("`{principal}` holds none of the roles that may approve ({})", from_roles.join(", "))]
    MissingRole {
        /// The approver.
        principal: String,
        /// The roles that may approve.
        from_roles: Vec<String>,
    },
    /// The approver has already approved: each principal counts once.
    #[error("`{principal}` has already approved; an approval counts once")]
    Duplicate {
        /// The approver.
        principal: String,
    },
    /// The approval is older than the rule's `expires_after`.
    #[error(
        "the approval by `{principal}` has expired ({age_secs}s old, valid for {expires_after}s)"
    )]
    Expired {
        /// The approver.
        principal: String,
        /// Its age.
        age_secs: u64,
        /// The rule's limit.
        expires_after: u64,
    },
}

/// How far a change is from satisfying one approval rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The rule's name.
    pub rule: String,
    /// Approvals it needs.
    pub required: u32,
    /// The principals whose approvals count, in the order given.
    pub counted: Vec<String>,
    /// Approvals that do not count, with the reason, in the order given.
    pub refused: Vec<Refusal>,
}

impl Verdict {
    /// Whether enough approvals count.
    pub fn satisfied(&self) -> bool {
        self.counted.len() as u64 >= u64::from(self.required)
    }

    /// How many more approvals are needed.
    pub fn missing(&self) -> u32 {
        let have = u32::try_from(self.counted.len()).unwrap_or(u32::MAX);
        self.required.saturating_sub(have)
    }
}

impl fmt::Display for Verdict {
    /// `prod-changes: 1 of 2 approvals (alice)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} of {} approvals",
            self.rule,
            self.counted.len(),
            self.required
        )?;
        if !self.counted.is_empty() {
            write!(f, " ({})", self.counted.join(", "))?;
        }
        Ok(())
    }
}

/// Judges the approvals given so far for a change by `author` under `rule`: each
/// approval counts unless [`ApprovalRule::check`] refuses it or its principal already
/// counted (then it is refused as a duplicate).
pub fn judge(rule: &ApprovalRule, author: &str, approvals: &[Approval<'_>]) -> Verdict {
    let mut counted: Vec<String> = Vec::new();
    let mut refused = Vec::new();
    for a in approvals {
        if counted.iter().any(|c| c == a.principal) {
            refused.push(Refusal::Duplicate {
                principal: a.principal.to_string(),
            });
            continue;
        }
        match rule.check(author, a) {
            Ok(()) => counted.push(a.principal.to_string()),
            Err(r) => refused.push(r),
        }
    }
    Verdict {
        rule: rule.name.clone(),
        required: rule.required,
        counted,
        refused,
    }
}

/// Parses a duration like `72h`, `7d`, `90m`, `1d12h` or `2w` into seconds: one or more
/// `NUMBER UNIT` parts, units `s`, `m`, `h`, `d` (24 hours) and `w` (7 days). `None` for
/// anything else, for zero, and on overflow.
pub fn parse_duration(s: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        let mut chars = rest[digits..].chars();
        let unit = match chars.next()? {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
        rest = chars.as_str();
    }
    (total > 0).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::parse_segments;

    fn rule(required: u32, from: &[&str], expires_after: Option<u64>) -> ApprovalRule {
        ApprovalRule {
            name: "prod-changes".into(),
            envs: vec![EnvGlob::parse("prod").unwrap()],
            params: vec![ParamPattern::parse("*:**").unwrap()],
            required,
            from_roles: from.iter().map(|s| s.to_string()).collect(),
            expires_after,
            description: None,
            loc: Loc::default(),
        }
    }

    fn roles(r: &[&str]) -> Vec<String> {
        r.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn thresholds_count_distinct_qualified_approvers() {
        let r = rule(2, &["sre"], None);
        let sre = roles(&["sre"]);
        let v = judge(&r, "bob", &[]);
        assert!(!v.satisfied());
        assert_eq!(v.missing(), 2);
        let v = judge(&r, "bob", &[Approval::new("alice", &sre)]);
        assert!(!v.satisfied());
        assert_eq!(v.missing(), 1);
        assert_eq!(v.to_string(), "prod-changes: 1 of 2 approvals (alice)");
        let v = judge(
            &r,
            "bob",
            &[Approval::new("alice", &sre), Approval::new("carol", &sre)],
        );
        assert!(v.satisfied());
        assert_eq!(v.missing(), 0);
        assert_eq!(v.counted, vec!["alice", "carol"]);
        assert!(v.refused.is_empty());
        // More than needed is still satisfied.
        let v = judge(
            &rule(1, &["sre"], None),
            "bob",
            &[Approval::new("alice", &sre), Approval::new("carol", &sre)],
        );
        assert!(v.satisfied());
    }

    #[test]
    fn approvers_need_one_of_the_roles() {
        let r = rule(1, &["sre", "security"], None);
        let dev = roles(&["payments-dev"]);
        let sec = roles(&["payments-dev", "security"]);
        let v = judge(&r, "bob", &[Approval::new("dave", &dev)]);
        assert!(!v.satisfied());
        assert_eq!(
            v.refused,
            vec![Refusal::MissingRole {
                principal: "dave".into(),
                from_roles: roles(&["sre", "security"])
            }]
        );
        assert_eq!(
            v.refused[0].to_string(),
            "`dave` holds none of the roles that may approve (sre, security)"
        );
        assert!(judge(&r, "bob", &[Approval::new("erin", &sec)]).satisfied());
        assert!(!judge(&r, "bob", &[Approval::new("erin", &[])]).satisfied());
    }

    #[test]
    fn self_approval_is_refused_with_a_reason() {
        let r = rule(1, &["sre"], None);
        let sre = roles(&["sre"]);
        let v = judge(&r, "alice", &[Approval::new("alice", &sre)]);
        assert!(!v.satisfied());
        assert_eq!(
            v.refused,
            vec![Refusal::SelfApproval {
                principal: "alice".into()
            }]
        );
        assert_eq!(
            v.refused[0].to_string(),
            "`alice` wrote this change and cannot approve it"
        );
        assert_eq!(
            r.check("alice", &Approval::new("alice", &sre)),
            Err(Refusal::SelfApproval {
                principal: "alice".into()
            })
        );
        assert_eq!(r.check("bob", &Approval::new("alice", &sre)), Ok(()));
    }

    #[test]
    fn duplicates_count_once() {
        let r = rule(2, &["sre"], None);
        let sre = roles(&["sre"]);
        let v = judge(
            &r,
            "bob",
            &[
                Approval::new("alice", &sre),
                Approval::new("alice", &sre),
                Approval::new("alice", &sre),
            ],
        );
        assert!(!v.satisfied());
        assert_eq!(v.counted, vec!["alice"]);
        assert_eq!(v.refused.len(), 2);
        assert!(matches!(&v.refused[0], Refusal::Duplicate { principal } if principal == "alice"));
        // A refused approval followed by a valid one by the same principal counts once.
        let v = judge(
            &r,
            "bob",
            &[Approval::new("carol", &[]), Approval::new("carol", &sre)],
        );
        assert_eq!(v.counted, vec!["carol"]);
    }

    #[test]
    fn expired_approvals_do_not_count() {
        let r = rule(1, &["sre"], Some(72 * 3600));
        let sre = roles(&["sre"]);
        let fresh = Approval {
            age_secs: Some(72 * 3600),
            ..Approval::new("alice", &sre)
        };
        assert!(judge(&r, "bob", &[fresh]).satisfied());
        let old = Approval {
            age_secs: Some(72 * 3600 + 1),
            ..fresh
        };
        let v = judge(&r, "bob", &[old]);
        assert!(!v.satisfied());
        assert!(matches!(
            v.refused[0],
            Refusal::Expired {
                age_secs: 259_201,
                ..
            }
        ));
        // Without a limit, age does not matter.
        assert!(judge(&rule(1, &["sre"], None), "bob", &[old]).satisfied());
        // Unknown age never expires.
        assert!(judge(&r, "bob", &[Approval::new("alice", &sre)]).satisfied());
    }

    #[test]
    fn durations_parse_to_seconds() {
        for (s, want) in [
            ("72h", Some(259_200)),
            ("7d", Some(604_800)),
            ("90m", Some(5_400)),
            ("45s", Some(45)),
            ("2w", Some(1_209_600)),
            ("1d12h", Some(129_600)),
            ("1h30m15s", Some(5_415)),
            ("0h", None),
            ("", None),
            ("h", None),
            ("72", None),
            ("72H", None),
            ("7 d", None),
            ("-1d", None),
            ("1.5h", None),
            ("1y", None),
            ("99999999999999999999s", None),
            ("9999999999999999w", None),
            ("3h", Some(10_800)),
        ] {
            assert_eq!(parse_duration(s), want, "{s}");
        }
    }

    #[test]
    fn rules_cover_their_envs_and_params() {
        let mut r = rule(1, &["sre"], None);
        r.params = vec![ParamPattern::parse("checkout:db.**").unwrap()];
        let db = parse_segments("db.pool.max").unwrap();
        assert!(r.covers("prod", "checkout", &db));
        assert!(!r.covers("dev", "checkout", &db));
        assert!(!r.covers("prod", "ledger", &db));
        assert!(!r.covers("prod", "checkout", &parse_segments("replicas").unwrap()));
    }
}
