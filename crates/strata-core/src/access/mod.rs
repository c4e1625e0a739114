//! Access control: who may do what to which parameters in which environments.
//!
//! `policies/access.yaml` gives **roles** rules that allow or deny **actions** on
//! environment globs × parameter globs; **principals** and **groups** hold roles:
//!
//! ```yaml
//! roles:
//!   sre:
//!     allow:
//!       - { actions: [read, read-secret, write, approve, deploy], envs: ["*"], params: ["*:**"] }
//!   payments-dev:
//!     allow:
//!       - { actions: [write], envs: [dev, staging], params: ["@own:**"] }
//!     deny:
//!       - { actions: [read, write], envs: ["*"], params: ["*:**.password"] }
//! principals:
//!   alice: { roles: [sre] }
//! groups:
//!   payments: { members: [bob], roles: [payments-dev] }
//! approvals:
//!   - { name: prod-changes, envs: [prod], params: ["*:**"], required: 2, from_roles: [sre] }
//! ```
//!
//! A decision takes every rule of every role the principal holds (its own, its groups',
//! and extra roles the caller passes, e.g. from a JWT): a matching `deny` wins, else a
//! matching `allow` allows, else the request is denied because no rule allows it. The
//! decision names the rule that decided (`allowed by role sre allow #1
//! (policies/access.yaml:4)`). A project without a policy is open
//! ([`AccessPolicy::open`]), so callers have one code path.
//!
//! Everything here is pure: the caller reads the file, supplies the roles found in a
//! token and the age of approvals; nothing reads a clock or the network. Rules are
//! indexed when the policy is loaded (by principal, action and service), so a decision
//! only tests the rules that can match.

mod approvals;
mod decide;
mod policy;
mod writes;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::path::{Segment, write_segments};

pub use approvals::{Approval, ApprovalRule, Refusal, Verdict, judge, parse_duration};
pub use policy::{
    AccessPolicy, EnvGlob, Group, ParamPattern, PolicyError, PolicyErrorKind, PrincipalDef, Role,
    Rule,
};
pub use writes::{
    EditDenied, EditScope, Edited, Given, Ruling, approvals_covering, decide_edits, layer_envs,
    unmet_approvals,
};

/// Something a principal may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Read configuration values (secrets stay encrypted or redacted).
    Read,
    /// Read the plaintext of secret parameters.
    ReadSecret,
    /// Change parameters (changesets, `strata set`).
    Write,
    /// Approve other people's change requests.
    Approve,
    /// Deploy revisions and bundles.
    Deploy,
    /// Change something during a freeze (itself subject to approval).
    OverrideFreeze,
    /// Administer the project: tokens, policies, keys.
    Admin,
}

impl Action {
    /// Every action, in the order they are listed in messages.
    pub const ALL: [Action; 7] = [
        Action::Read,
        Action::ReadSecret,
        Action::Write,
        Action::Approve,
        Action::Deploy,
        Action::OverrideFreeze,
        Action::Admin,
    ];

    /// The name used in `access.yaml` (`read`, `read-secret`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::ReadSecret => "read-secret",
            Action::Write => "write",
            Action::Approve => "approve",
            Action::Deploy => "deploy",
            Action::OverrideFreeze => "override-freeze",
            Action::Admin => "admin",
        }
    }

    /// A dense number (0..7), for per-action tables.
    pub(crate) fn slot(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An action name that is not one of [`Action::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown action `{0}` (known actions: read, read-secret, write, approve, deploy, override-freeze, admin)"
)]
pub struct UnknownAction(pub String);

impl FromStr for Action {
    type Err = UnknownAction;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownAction(s.to_string()))
    }
}

/// Whether a rule grants or refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Effect {
    /// A rule under `allow:`.
    Allow,
    /// A rule under `deny:` (wins over any allow).
    Deny,
}

impl Effect {
    /// `allow` or `deny`, as in the policy file.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
        }
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reference to one rule of the policy: which role, which list, which item, and where
/// it is written. Displays as `role sre allow #1 (policies/access.yaml:4)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RuleRef {
    /// The role the rule belongs to.
    pub role: Arc<str>,
    /// The list it is in (`allow` or `deny`).
    pub effect: Effect,
    /// Its 0-based position in that list (displayed 1-based: `#1` is the first rule).
    pub index: usize,
    /// The policy file.
    pub file: Arc<str>,
    /// 1-based line of the rule.
    pub line: u32,
    /// 1-based column of the rule.
    pub col: u32,
}

impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "role {} {} #{} ({}:{})",
            self.role,
            self.effect,
            self.index + 1,
            self.file,
            self.line
        )
    }
}

/// Why a decision came out as it did.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Basis {
    /// A rule decided: the first matching deny, else the first matching allow.
    Rule(RuleRef),
    /// Nothing matched: with a policy, whatever no rule allows is denied.
    NoRule,
    /// The project has no access policy, so everything is allowed.
    Open,
}

/// The answer to a [`Request`]: allowed or not, and why.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Decision {
    /// Whether the action may go ahead.
    pub allowed: bool,
    /// The rule (or absence of one) that decided.
    pub basis: Basis,
}

impl Decision {
    /// The deciding rule, when a rule decided.
    pub fn rule(&self) -> Option<&RuleRef> {
        match &self.basis {
            Basis::Rule(r) => Some(r),
            Basis::NoRule | Basis::Open => None,
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.allowed { "allowed" } else { "denied" };
        match &self.basis {
            Basis::Rule(r) => write!(f, "{verdict} by {r}"),
            Basis::NoRule => write!(f, "{verdict}: no rule allows it"),
            Basis::Open => write!(f, "{verdict}: no policy: the project is open"),
        }
    }
}

/// One question to the policy: may `principal` do `action` on `service:path` in `env`?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// Who asks (a principal name; unknown names simply hold no roles).
    pub principal: &'a str,
    /// Roles granted from outside the policy file, e.g. a JWT's claims. Names the policy
    /// does not declare grant nothing.
    pub extra_roles: &'a [String],
    /// What they want to do.
    pub action: Action,
    /// The environment (matched against rules' `envs` globs).
    pub env: &'a str,
    /// The service.
    pub service: &'a str,
    /// The parameter inside the service; empty means the whole service.
    pub path: &'a [Segment],
}

impl<'a> Request<'a> {
    /// A request without extra roles.
    pub fn new(
        principal: &'a str,
        action: Action,
        env: &'a str,
        service: &'a str,
        path: &'a [Segment],
    ) -> Self {
        Request {
            principal,
            extra_roles: &[],
            action,
            env,
            service,
            path,
        }
    }

    /// The same request with roles granted from outside the policy (a JWT's claims).
    pub fn with_extra_roles(self, extra_roles: &'a [String]) -> Self {
        Request {
            extra_roles,
            ..self
        }
    }
}

impl fmt::Display for Request<'_> {
    /// `bob write checkout:db.host in prod`, for logs and messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}:", self.principal, self.action, self.service)?;
        write_segments(f, self.path)?;
        write!(f, " in {}", self.env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_round_trip_through_their_names() {
        for a in Action::ALL {
            assert_eq!(a.to_string().parse::<Action>(), Ok(a));
            assert_eq!(a.slot(), Action::ALL.iter().position(|b| *b == a).unwrap());
        }
        let e = "delete".parse::<Action>().unwrap_err();
        assert!(e.to_string().contains("unknown action `delete`"), "{e}");
        assert!("Read".parse::<Action>().is_err());
    }

    #[test]
    fn decisions_explain_themselves() {
        let rule = RuleRef {
            role: Arc::from("sre"),
            effect: Effect::Allow,
            index: 0,
            file: Arc::from("policies/access.yaml"),
            line: 4,
            col: 9,
        };
        let d = Decision {
            allowed: true,
            basis: Basis::Rule(rule.clone()),
        };
        assert_eq!(
            d.to_string(),
            "allowed by role sre allow #1 (policies/access.yaml:4)"
        );
        assert_eq!(d.rule(), Some(&rule));
        let d = Decision {
            allowed: false,
            basis: Basis::NoRule,
        };
        assert_eq!(d.to_string(), "denied: no rule allows it");
        assert_eq!(d.rule(), None);
        let d = Decision {
            allowed: true,
            basis: Basis::Open,
        };
        assert_eq!(d.to_string(), "allowed: no policy: the project is open");
    }

    #[test]
    fn requests_print_their_parameter() {
        let path = crate::path::parse_segments("db.hosts[0]").unwrap();
        let r = Request::new("bob", Action::Write, "prod", "checkout", &path);
        assert_eq!(r.to_string(), "bob write checkout:db.hosts[0] in prod");
        let r = Request::new("bob", Action::Read, "dev", "checkout", &[]);
        assert_eq!(r.to_string(), "bob read checkout: in dev");
    }
}
