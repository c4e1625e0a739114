//! One drift run between environments: which targets are compared with which
//! ([`plan`]), and the sweep that resolves, classifies and describes every difference
//! ([`run`]).
//!
//! Every selected target is compared, parameter by parameter, with the reference
//! environment's target of the same provider and region (else the same provider, else
//! the first). `strata drift` and the server's `GET /v1/drift` both call this; what is
//! not pure (the clock, decrypting secrets, a store's history for `--since`) is the
//! caller's, passed in.

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde_json::Value as Json;

use crate::error::Diagnostic;
use crate::project::Target;
use crate::resolve::{Effective, LayerSlot, Project, ResolveError, ResolveOptions};
use crate::sweep::Sweep;
use crate::validate::schema::{Pat, path_is_secret, secret_patterns};
use crate::value::Node;

use super::engine::{Context, Side, classify_hashed};
use super::hash::Hashed;
use super::policy::{PolicyDate, VariationPolicy};
use super::report::{Collected, Compare, DeadRules, Detail, Item, rule_labels};
use super::vocabulary::Vocabulary;

/// Why a drift run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DriftError {
    /// A selected target is not declared.
    #[error("unknown target `{0}`; see `strata targets`")]
    UnknownTarget(String),
    /// A selected (or reference) environment is not declared.
    #[error("unknown environment `{name}`; declared: {}", known.join(", "))]
    UnknownEnvironment {
        /// What was asked for.
        name: String,
        /// The declared environments.
        known: Vec<String>,
    },
    /// A selected service is not declared.
    #[error("unknown service `{0}`; see `strata services`")]
    UnknownService(String),
    /// The selection matches no target.
    #[error("no target is selected")]
    NothingSelected,
    /// The reference environment has no target.
    #[error("environment `{0}` has no target to compare with")]
    NoReference(String),
    /// The variation policy or a schema's `x-strata-variation` is invalid.
    #[error("{0}")]
    Invalid(Diagnostic),
    /// A project file could not be read.
    #[error("cannot read {path}: {message}")]
    Source {
        /// The project-relative path.
        path: String,
        /// Why.
        message: String,
    },
    /// A configuration does not resolve.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// A secret could not be decrypted (the caller's message).
    #[error("{0}")]
    Secret(String),
}

fn source_error(e: crate::files::SourceError) -> DriftError {
    DriftError::Source {
        path: e.path,
        message: e.message,
    }
}

/// Reads `policies/variations.yaml` (a missing file is an empty policy).
pub fn load_policy(project: &Project) -> Result<VariationPolicy, DriftError> {
    let bytes = project
        .source()
        .read(VariationPolicy::PATH)
        .map_err(source_error)?;
    match bytes {
        None => Ok(VariationPolicy::default()),
        Some(b) => VariationPolicy::parse(&b, Some(&project.config)).map_err(DriftError::Invalid),
    }
}

/// The services selected by name (checked), else all.
pub fn selected_services(project: &Project, wanted: &[String]) -> Result<Vec<String>, DriftError> {
    if wanted.is_empty() {
        return Ok(project.config.services.keys().cloned().collect());
    }
    for s in wanted {
        if !project.config.services.contains_key(s) {
            return Err(DriftError::UnknownService(s.clone()));
        }
    }
    Ok(wanted.to_vec())
}

/// A schema worth parsing: service, path, whether it marks secrets, whether it declares
/// variations, the document.
type SchemaRead<'a> = (&'a String, &'a str, bool, bool, Node);

/// Each service's `x-strata-secret` patterns (services without any are absent).
pub type SecretPatterns = BTreeMap<String, Vec<Vec<Pat>>>;

/// Reads each service's schema once: the secret patterns of those marking secrets (values
/// there are never shown), and the `x-strata-variation` rules of those declaring some,
/// added to `policy`. A schema mentioning neither is not parsed (generated schemas are
/// large).
pub fn read_schemas<'a>(
    project: &'a Project,
    services: &'a [String],
    policy: &mut VariationPolicy,
) -> Result<SecretPatterns, DriftError> {
    // Reading and searching the schemas (101 MB in the generated 1M project) runs in
    // parallel; policy rules are then added in service order.
    let read_one = |s: &'a String| -> Result<Option<SchemaRead<'a>>, DriftError> {
        let Some(path) = project
            .config
            .services
            .get(s)
            .and_then(|d| d.schema.as_deref())
        else {
            return Ok(None);
        };
        let Some(bytes) = project.source().read(path).map_err(source_error)? else {
            return Ok(None);
        };
        let has = |key: &str| memchr::memmem::find(&bytes, key.as_bytes()).is_some();
        let (secret, variation) = (has("x-strata-secret"), has(super::policy::SCHEMA_KEY));
        if !secret && !variation {
            return Ok(None);
        }
        // A schema that does not parse is `strata check`'s to report.
        let Ok(Some(node)) = project.read_document(path, false) else {
            return Ok(None);
        };
        Ok(Some((s, path, secret, variation, node)))
    };
    // A few services (`--since`, `--service`) are read on this thread: waking the thread
    // pool would cost more.
    let read: Vec<_> = if services.len() < 8 {
        services.iter().map(read_one).collect::<Result<_, _>>()?
    } else {
        services
            .par_iter()
            .map(read_one)
            .collect::<Result<_, _>>()?
    };
    let mut secrets = BTreeMap::new();
    for (s, path, secret, variation, node) in read.into_iter().flatten() {
        if secret {
            secrets.insert(s.clone(), secret_patterns(&node));
        }
        if variation {
            policy
                .add_schema_rules(s, path, &node, Some(&project.config))
                .map_err(DriftError::Invalid)?;
        }
    }
    Ok(secrets)
}

/// What to compare: empty lists mean everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Selection<'a> {
    /// Only these services.
    pub services: &'a [String],
    /// Only the targets of these environments.
    pub envs: &'a [String],
    /// Only these targets (`ENV/PROVIDER/REGION`).
    pub targets: &'a [String],
    /// The environment the others are compared with (default: the last selected one in
    /// promotion order).
    pub reference: Option<&'a str>,
}

/// Which targets are compared with which, and which services.
pub struct Plan<'p> {
    /// The reference environment.
    pub reference_env: String,
    /// The reference targets, then the others (every target a `--since` must look at).
    pub involved: Vec<&'p Target>,
    /// `(reference, other)` pairs, in the others' declaration order.
    pub pairs: Vec<(&'p Target, &'p Target)>,
    /// The services compared (callers may narrow them, e.g. `--since`).
    pub services: Vec<String>,
}

impl Plan<'_> {
    /// The environments of the compared targets (the reference first), each once.
    pub fn environments(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        let envs = std::iter::once(self.reference_env.as_str()).chain(
            self.pairs
                .iter()
                .flat_map(|(r, o)| [r.env.as_str(), o.env.as_str()]),
        );
        for e in envs {
            if !out.contains(&e) {
                out.push(e);
            }
        }
        out
    }
}

/// Checks the selection against the project and pairs every selected target of another
/// environment with a reference target.
pub fn plan<'p>(project: &'p Project, sel: &Selection<'_>) -> Result<Plan<'p>, DriftError> {
    let cfg = &project.config;
    // Targets, in declaration order.
    for t in sel.targets {
        if cfg.target(t).is_none() {
            return Err(DriftError::UnknownTarget(t.clone()));
        }
    }
    for e in sel.envs.iter().map(String::as_str).chain(sel.reference) {
        if !cfg.environments.iter().any(|x| x.name == e) {
            return Err(DriftError::UnknownEnvironment {
                name: e.to_string(),
                known: cfg.environments.iter().map(|x| x.name.clone()).collect(),
            });
        }
    }
    let selected: Vec<&Target> = cfg
        .targets
        .iter()
        .filter(|t| sel.targets.is_empty() || sel.targets.contains(&t.to_string()))
        .filter(|t| sel.envs.is_empty() || sel.envs.contains(&t.env))
        .collect();
    let env_rank = |env: &str| cfg.environments.iter().position(|e| e.name == env);
    let reference_env = match sel.reference {
        Some(r) => r.to_string(),
        None => selected
            .iter()
            .max_by_key(|t| env_rank(&t.env))
            .map(|t| t.env.clone())
            .ok_or(DriftError::NothingSelected)?,
    };
    // The reference targets: the selected ones of the reference environment (so
    // `--target staging/aws/… --target prod/gcp/…` compares across providers), else all
    // of its targets.
    let mut references: Vec<&Target> = selected
        .iter()
        .copied()
        .filter(|t| t.env == reference_env)
        .collect();
    if references.is_empty() {
        references = cfg
            .targets
            .iter()
            .filter(|t| t.env == reference_env)
            .collect();
    }
    if references.is_empty() {
        return Err(DriftError::NoReference(reference_env));
    }
    let others: Vec<&Target> = selected
        .into_iter()
        .filter(|t| t.env != reference_env)
        .collect();
    let services = selected_services(project, sel.services)?;
    let involved: Vec<&Target> = references.iter().chain(others.iter()).copied().collect();
    let pairs: Vec<(&Target, &Target)> = others
        .iter()
        .map(|other| {
            let reference = references
                .iter()
                .find(|r| r.provider == other.provider && r.region == other.region)
                .or_else(|| references.iter().find(|r| r.provider == other.provider))
                .unwrap_or(&references[0]);
            (*reference, *other)
        })
        .collect();
    Ok(Plan {
        reference_env,
        involved,
        pairs,
        services,
    })
}

/// Decrypts the secrets of a service's configuration in place (service, configuration);
/// the error says which secret could not be decrypted.
pub type Reveal<'a> = dyn Fn(&str, &mut Node) -> Result<(), String> + Sync + 'a;

/// How secrets are handled: decrypted by the caller (it holds an age identity), or
/// compared as ciphertext. Values are never shown either way.
#[derive(Clone, Copy)]
pub struct SecretHandling<'a> {
    /// Decrypts the secrets of a service's configuration in place; `None`: no identity.
    pub reveal: Option<&'a Reveal<'a>>,
    /// Whether a string is a Strata ciphertext (`strata_store::crypto::is_ciphertext`).
    pub is_ciphertext: fn(&str) -> bool,
    /// How the reader gets secrets compared, for the notes (the CLI: `pass --identity
    /// FILE or set STRATA_AGE_IDENTITY`).
    pub how_to_compare: &'a str,
}

/// How a run describes and judges.
#[derive(Clone, Copy)]
pub struct RunOptions<'a> {
    /// How much each finding is described.
    pub detail: Detail,
    /// The date rule expiry is judged on.
    pub today: PolicyDate,
    /// Whether to report rules matching nothing (only meaningful when every service is
    /// compared).
    pub dead_rules: bool,
    /// Secrets.
    pub secrets: SecretHandling<'a>,
}

/// What comparing one service gives.
#[derive(Default)]
struct Outcome {
    items: Vec<Item>,
    /// Secret leaves compared as ciphertext.
    ciphertexts: usize,
    /// Per variation rule: whether it matched a parameter of the service.
    used_rules: Vec<bool>,
}

/// Resolves the planned services for every paired target, a service at a time, and
/// classifies every difference. `policy` holds the schemas' rules and `secrets` their
/// patterns ([`read_schemas`] over `plan.services`); `since` is carried into the report.
pub fn run(
    project: &Project,
    plan: &Plan<'_>,
    policy: &VariationPolicy,
    secrets: &SecretPatterns,
    since: Option<Json>,
    opts: &RunOptions<'_>,
) -> Result<Collected, DriftError> {
    let detail = opts.detail;
    let services = &plan.services;
    // Priors say what a value becomes without an override: only suggestions need them.
    let resolve_opts = ResolveOptions {
        keep_prior_values: detail != Detail::Counts,
    };
    let vocabulary = project.catalogs().ok().map(Vocabulary::new);
    let cx = Context {
        policy,
        today: opts.today,
        vocabulary: vocabulary.as_ref(),
    };
    let rules = rule_labels(policy);
    let mut targets: Vec<&Target> = Vec::new();
    for t in plan.pairs.iter().flat_map(|(r, o)| [*r, *o]) {
        if !targets.contains(&t) {
            targets.push(t);
        }
    }
    if targets.is_empty() {
        // Only the reference environment is selected: nothing to compare (and no rule
        // can be judged dead on nothing).
        return Ok(Collected {
            items: Vec::new(),
            reference: plan.reference_env.clone(),
            today: opts.today,
            dead_rules: Vec::new(),
            since,
            notes: Vec::new(),
            pairs: Vec::new(),
        });
    }
    let want_dead = opts.dead_rules;
    let mut dead = DeadRules::new(policy);
    let handling = opts.secrets;

    // A sweep resolves one service for every target at a time (sharing the parse of the
    // layers the targets have in common), compares it, and drops it: memory holds the
    // services in flight, not whole targets.
    let names: Vec<&str> = services.iter().map(String::as_str).collect();
    let target_names: Vec<String> = targets.iter().map(ToString::to_string).collect();
    let target_refs: Vec<&str> = target_names.iter().map(String::as_str).collect();
    let position = |t: &Target| targets.iter().position(|x| *x == t).unwrap_or(0);
    let pair_at: Vec<(usize, usize)> = plan
        .pairs
        .iter()
        .map(|(r, o)| (position(r), position(o)))
        .collect();
    let sweep = Sweep::new(project, &target_refs, &names, resolve_opts)?;
    let outcomes = sweep.run(|i, resolved| -> Result<Outcome, DriftError> {
        let service = &services[i];
        let mut effs = resolved
            .into_iter()
            .collect::<Result<Vec<Effective>, _>>()?;
        let mut outcome = Outcome::default();
        let patterns = secrets.get(service);
        if let Some(pats) = patterns {
            match handling.reveal {
                Some(reveal) => {
                    for e in &mut effs {
                        reveal(service, &mut e.root).map_err(DriftError::Secret)?;
                    }
                }
                None => {
                    for &(r, o) in &pair_at {
                        outcome.ciphertexts += ciphertext_pairs(
                            &effs[r].root,
                            &effs[o].root,
                            pats,
                            handling.is_ciphertext,
                        );
                    }
                }
            }
        }
        if want_dead {
            for e in &effs {
                dead.mark_into(service, &e.root, &mut outcome.used_rules);
            }
        }
        let hashed: Vec<Option<Hashed<'_>>> = (0..effs.len())
            .map(|t| {
                pair_at
                    .iter()
                    .any(|&(r, o)| r == t || o == t)
                    .then(|| Hashed::new(&effs[t].root))
            })
            .collect();
        let slots: Vec<Vec<LayerSlot>> = (0..effs.len())
            .map(|t| {
                if detail == Detail::Counts {
                    Vec::new()
                } else {
                    sweep.session(t).layer_slots(service)
                }
            })
            .collect();
        for &(r, o) in &pair_at {
            let (Some(ha), Some(hb)) = (&hashed[r], &hashed[o]) else {
                continue;
            };
            let compare = Compare {
                project,
                cx,
                rules: &rules,
                secrets: patterns.map(Vec::as_slice),
                reference_layers: &slots[r],
                other_layers: &slots[o],
                detail,
                is_ciphertext: handling.is_ciphertext,
            };
            let reference_side = Side {
                target: targets[r],
                root: &effs[r].root,
            };
            let other_side = Side {
                target: targets[o],
                root: &effs[o].root,
            };
            for f in classify_hashed(service, reference_side, ha, other_side, hb, &cx) {
                outcome
                    .items
                    .push(compare.item(&f, reference_side, other_side));
            }
        }
        Ok(outcome)
    });
    let mut per_service: Vec<Vec<Item>> = Vec::with_capacity(outcomes.len());
    let mut ciphertexts = 0;
    for outcome in outcomes {
        let outcome = outcome?;
        ciphertexts += outcome.ciphertexts;
        dead.add(&outcome.used_rules);
        per_service.push(outcome.items);
    }
    let items: Vec<Item> = per_service.into_iter().flatten().collect();
    let mut notes = Vec::new();
    if ciphertexts > 0 {
        notes.push(format!(
            "{ciphertexts} secret parameter(s) were compared as ciphertext, and two encryptions of one value always differ (so `must-differ` cannot see a shared secret): {} to compare the values",
            handling.how_to_compare
        ));
    }
    let dead_rules = if want_dead { dead.finish() } else { Vec::new() };
    let pairs: Vec<(String, String)> = plan
        .pairs
        .iter()
        .map(|(r, o)| (r.to_string(), o.to_string()))
        .collect();
    Ok(Collected {
        items,
        reference: plan.reference_env.clone(),
        today: opts.today,
        dead_rules,
        since,
        notes,
        pairs,
    })
}

/// How many secret leaves hold a ciphertext on both sides of a compared pair.
fn ciphertext_pairs(
    a: &Node,
    b: &Node,
    pats: &[Vec<Pat>],
    is_ciphertext: fn(&str) -> bool,
) -> usize {
    let cipher = |v: &crate::value::Value| v.as_str().is_some_and(is_ciphertext);
    let mut n = 0;
    a.for_each_leaf(&mut Vec::new(), &mut |p, x| {
        if path_is_secret(pats, p) && cipher(&x.value) && b.get(p).is_some_and(|y| cipher(&y.value))
        {
            n += 1;
        }
    });
    n
}
