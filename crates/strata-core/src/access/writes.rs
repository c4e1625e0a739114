//! The decisions a write needs, shared by the CLI and the server: which environments a
//! layer reaches, whether a principal may act on every (environment, parameter) a set of
//! edits reaches, which approval rules cover those edits, and whether a change request's
//! approvals satisfy the rules it needs.
//!
//! Pure like the rest of [`crate::access`]: the caller passes the decider (the policy, or
//! the policy then an authorization webhook) and the ages of approvals.

use std::collections::BTreeSet;

use super::{AccessPolicy, Approval, Decision, Verdict, judge};
use crate::path::ParamPath;
use crate::project::ProjectConfig;

/// The environments a write to the layer directory `layer` (`base`, `env/prod`) reaches:
/// those with a target reading it, or every environment when no target reads it (a
/// layer nobody reads yet is judged as if everybody did).
pub fn layer_envs(config: &ProjectConfig, layer: &str) -> Vec<String> {
    let envs = config.envs_reading(layer);
    if envs.is_empty() {
        config.environments.iter().map(|e| e.name.clone()).collect()
    } else {
        envs
    }
}

/// One edited parameter and the layer it is edited in (what access control needs of a
/// changeset edit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edited<'a> {
    /// The parameter.
    pub param: &'a ParamPath,
    /// The layer directory below `layers/`.
    pub layer: &'a str,
}

/// The answer of whoever decides one (action, environment, parameter): the policy, or the
/// policy then a webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ruling {
    /// Whether the action may go ahead.
    pub allowed: bool,
    /// The deciding rule, as text (`allowed by role sre allow #1 (…)`).
    pub text: String,
}

impl From<Decision> for Ruling {
    fn from(d: Decision) -> Ruling {
        Ruling {
            allowed: d.allowed,
            text: d.to_string(),
        }
    }
}

/// One (edit, environment) the action was allowed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditScope {
    /// The index of the edit in the list decided.
    pub edit: usize,
    /// The environment.
    pub env: String,
    /// `service:path`.
    pub param: String,
    /// The allowing rule, as text.
    pub rule: String,
}

/// The first (edit, environment) the action was refused on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditDenied {
    /// The index of the edit in the list decided.
    pub edit: usize,
    /// The environment.
    pub env: String,
    /// `service:path`.
    pub param: String,
    /// The refusing rule, as text.
    pub rule: String,
}

/// Decides one action on every (edit, environment) the edits reach (edits in order, each
/// in the environments of [`layer_envs`]), stopping at the first refusal. `decide` is
/// asked `(env, param)`.
pub fn decide_edits(
    config: &ProjectConfig,
    edits: &[Edited<'_>],
    mut decide: impl FnMut(&str, &ParamPath) -> Ruling,
) -> Result<Vec<EditScope>, EditDenied> {
    let mut out = Vec::new();
    for (i, edit) in edits.iter().enumerate() {
        let param = edit.param.to_string();
        for env in layer_envs(config, edit.layer) {
            let ruling = decide(&env, edit.param);
            if !ruling.allowed {
                return Err(EditDenied {
                    edit: i,
                    env,
                    param,
                    rule: ruling.text,
                });
            }
            out.push(EditScope {
                edit: i,
                env,
                param: param.clone(),
                rule: ruling.text,
            });
        }
    }
    Ok(out)
}

/// The names of the approval rules covering some edit in some environment it reaches:
/// non-empty means the edits go through a change request.
pub fn approvals_covering(
    policy: &AccessPolicy,
    config: &ProjectConfig,
    edits: &[Edited<'_>],
) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for edit in edits {
        for env in layer_envs(config, edit.layer) {
            for rule in policy.approvals_for(&env, &edit.param.service, &edit.param.segments) {
                names.insert(rule.name.clone());
            }
        }
    }
    names
}

/// One approval a change request has received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Given<'a> {
    /// Who approved.
    pub principal: &'a str,
    /// How old the approval is, in seconds (`None`: never expires).
    pub age_secs: Option<u64>,
}

/// Judges a change request by `author` needing the approval rules named `needed`, with
/// the approvals `given` so far, under `policy` as it is now (approvers' roles are read
/// from it): the verdicts of the rules not yet satisfied, in the policy's order. Empty:
/// the request may be applied. A named rule the policy no longer has needs nothing.
pub fn unmet_approvals(
    policy: &AccessPolicy,
    needed: &[String],
    author: &str,
    given: &[Given<'_>],
) -> Vec<Verdict> {
    let roles: Vec<Vec<String>> = given
        .iter()
        .map(|g| {
            policy
                .roles_of(g.principal, &[])
                .into_iter()
                .map(str::to_string)
                .collect()
        })
        .collect();
    let approvals: Vec<Approval<'_>> = given
        .iter()
        .zip(&roles)
        .map(|(g, held)| Approval {
            principal: g.principal,
            roles: held,
            age_secs: g.age_secs,
        })
        .collect();
    policy
        .approval_rules()
        .iter()
        .filter(|rule| needed.contains(&rule.name))
        .map(|rule| judge(rule, author, &approvals))
        .filter(|v| !v.satisfied())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{Action, Request};

    const PROJECT: &str = r#"version: 1
environments: [{name: dev}, {name: prod}]
providers: [aws]
targets: [dev/aws/us-east-1, prod/aws/us-east-1]
hierarchy: [base, "env/{env}"]
services: {checkout: {}, ledger: {}}
"#;

    const POLICY: &str = r#"roles:
  sre:
    allow:
      - { actions: [read, write, approve], envs: ["*"], params: ["*:**"] }
  dev:
    allow:
      - { actions: [write], envs: [dev], params: ["checkout:**"] }
principals:
  alice: { roles: [sre] }
  carol: { roles: [sre] }
  bob:   { roles: [dev] }
approvals:
  - { name: prod-changes, envs: [prod], params: ["*:**"], required: 2, from_roles: [sre] }
  - { name: tls, envs: ["*"], params: ["*:**.tls.**"], required: 1, from_roles: [sre] }
"#;

    fn config() -> ProjectConfig {
        ProjectConfig::parse(PROJECT).unwrap()
    }

    fn policy(config: &ProjectConfig) -> AccessPolicy {
        AccessPolicy::parse(POLICY.as_bytes(), Some(config)).unwrap()
    }

    fn p(s: &str) -> ParamPath {
        ParamPath::parse(s).unwrap()
    }

    #[test]
    fn a_layer_reaches_the_envs_reading_it_or_all() {
        let c = config();
        assert_eq!(layer_envs(&c, "env/prod"), ["prod"]);
        assert_eq!(layer_envs(&c, "base"), ["dev", "prod"]);
        assert_eq!(layer_envs(&c, "env/nowhere"), ["dev", "prod"]);
    }

    #[test]
    fn every_reached_env_is_decided_and_the_first_refusal_stops() {
        let c = config();
        let pol = policy(&c);
        let (a, b) = (p("checkout:replicas"), p("ledger:replicas"));
        let edits = [
            Edited {
                param: &a,
                layer: "base",
            },
            Edited {
                param: &b,
                layer: "env/dev",
            },
        ];
        let decide = |who: &'static str| {
            let pol = &pol;
            move |env: &str, param: &ParamPath| -> Ruling {
                pol.decide(&Request::new(
                    who,
                    Action::Write,
                    env,
                    &param.service,
                    &param.segments,
                ))
                .into()
            }
        };
        let ok = decide_edits(&c, &edits, decide("alice")).unwrap();
        let seen: Vec<(usize, &str)> = ok.iter().map(|s| (s.edit, s.env.as_str())).collect();
        assert_eq!(seen, [(0, "dev"), (0, "prod"), (1, "dev")]);
        assert_eq!(ok[0].param, "checkout:replicas");
        assert!(
            ok[0].rule.starts_with("allowed by role sre"),
            "{}",
            ok[0].rule
        );
        let refused = decide_edits(&c, &edits, decide("bob")).unwrap_err();
        assert_eq!((refused.edit, refused.env.as_str()), (0, "prod"));
        assert_eq!(refused.param, "checkout:replicas");
        assert_eq!(refused.rule, "denied: no rule allows it");
    }

    #[test]
    fn approval_rules_cover_the_envs_an_edit_reaches() {
        let c = config();
        let pol = policy(&c);
        let (dev, tls) = (p("checkout:replicas"), p("checkout:http.tls.cert"));
        let one = |param, layer| {
            approvals_covering(&pol, &c, &[Edited { param, layer }])
                .into_iter()
                .collect::<Vec<_>>()
        };
        assert!(one(&dev, "env/dev").is_empty());
        assert_eq!(one(&dev, "base"), ["prod-changes"]);
        assert_eq!(one(&tls, "env/dev"), ["tls"]);
        assert_eq!(one(&tls, "env/prod"), ["prod-changes", "tls"]);
        assert!(approvals_covering(&AccessPolicy::open(), &c, &[]).is_empty());
    }

    #[test]
    fn requests_are_judged_by_the_rules_they_need() {
        let c = config();
        let pol = policy(&c);
        let needed = vec!["prod-changes".to_string(), "gone".to_string()];
        let given = |who: &[&'static str]| -> Vec<Given<'static>> {
            who.iter()
                .map(|p| Given {
                    principal: p,
                    age_secs: None,
                })
                .collect()
        };
        let unmet = unmet_approvals(&pol, &needed, "bob", &given(&["alice"]));
        assert_eq!(unmet.len(), 1);
        assert_eq!(
            unmet[0].to_string(),
            "prod-changes: 1 of 2 approvals (alice)"
        );
        // An approver without the role does not count; two SREs do.
        assert_eq!(
            unmet_approvals(&pol, &needed, "bob", &given(&["alice", "bob"])).len(),
            1
        );
        assert!(unmet_approvals(&pol, &needed, "bob", &given(&["alice", "carol"])).is_empty());
        // A rule the policy no longer has needs nothing.
        assert!(unmet_approvals(&pol, &["gone".into()], "bob", &[]).is_empty());
    }
}
