//! A service's schema, compiled once: JSON Schema 2020-12 (the `jsonschema` crate) plus the
//! Strata annotations found on its nodes — `x-strata-validations` (CEL), `x-strata-secret`
//! and `x-strata-merge` — located by the instance paths they apply to.

use std::sync::Arc;

use super::cel::{CelRule, Outcome, RuleEnv};
use super::report::{Finding, Severity, SourceLoc};
use crate::files::FileTable;
use crate::path::{Segment, segments_to_string};
use crate::value::{Loc, Node, Value};

/// One step of the instance paths a schema node applies to.
#[derive(Debug, Clone)]
pub enum Pat {
    /// `properties.NAME`
    Key(String),
    /// `items`: every list item.
    AnyIndex,
    /// Every map value (an `additionalProperties` beside no `properties`).
    AnyKey,
    /// `patternProperties.REGEX`: the values whose key matches.
    KeyMatching(Arc<regex::Regex>),
    /// `additionalProperties`: the values whose key is neither named in `properties` nor
    /// matched by `patternProperties`.
    OtherKeys {
        /// Keys named in `properties`.
        named: Vec<String>,
        /// The `patternProperties` regexes.
        patterns: Vec<Arc<regex::Regex>>,
    },
}

impl PartialEq for Pat {
    fn eq(&self, other: &Self) -> bool {
        let same_regexes = |a: &[Arc<regex::Regex>], b: &[Arc<regex::Regex>]| {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.as_str() == y.as_str())
        };
        match (self, other) {
            (Pat::Key(a), Pat::Key(b)) => a == b,
            (Pat::AnyIndex, Pat::AnyIndex) | (Pat::AnyKey, Pat::AnyKey) => true,
            (Pat::KeyMatching(a), Pat::KeyMatching(b)) => a.as_str() == b.as_str(),
            (
                Pat::OtherKeys {
                    named: a,
                    patterns: p,
                },
                Pat::OtherKeys {
                    named: b,
                    patterns: q,
                },
            ) => a == b && same_regexes(p, q),
            _ => false,
        }
    }
}

impl Pat {
    /// Whether this step selects the map value under `key`.
    fn takes_key(&self, key: &str) -> bool {
        match self {
            Pat::Key(k) => k == key,
            Pat::AnyKey => true,
            Pat::KeyMatching(r) => r.is_match(key),
            Pat::OtherKeys { named, patterns } => {
                !named.iter().any(|n| n == key) && !patterns.iter().any(|r| r.is_match(key))
            }
            Pat::AnyIndex => false,
        }
    }
}

/// Renders a pattern as glob text (`db.pool`, `sidecars[*].env`, `labels.*`).
pub fn pattern_glob(service: &str, pats: &[Pat]) -> String {
    let mut s = format!("{service}:");
    for (i, p) in pats.iter().enumerate() {
        match p {
            Pat::Key(k)
                if k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
            {
                if i > 0 {
                    s.push('.');
                }
                s.push_str(k);
            }
            Pat::Key(k) => s.push_str(&format!("[{k:?}]")),
            Pat::AnyIndex => s.push_str("[*]"),
            Pat::AnyKey | Pat::KeyMatching(_) | Pat::OtherKeys { .. } => {
                // A glob cannot say "keys matching a regex": the nearest is any key.
                if i > 0 {
                    s.push('.');
                }
                s.push('*');
            }
        }
    }
    s
}

/// Calls `f` for every schema node reachable through `properties`, `items`,
/// `additionalProperties`, `patternProperties`, `allOf`/`anyOf`/`oneOf` and local `$ref`s,
/// with the instance pattern it applies to.
pub fn walk_schema<'a>(root: &'a Node, f: &mut dyn FnMut(&[Pat], &'a Node)) {
    fn walk<'a>(
        root: &'a Node,
        node: &'a Node,
        pats: &mut Vec<Pat>,
        f: &mut dyn FnMut(&[Pat], &'a Node),
        depth: usize,
    ) {
        // Depth also bounds `$ref` cycles (a schema that refers to itself).
        if let (Value::Map(m), true) = (&node.value, depth <= 64) {
            f(pats, node);
            let target = match m.get("$ref").map(|n| &n.value) {
                Some(Value::Str(r)) => r
                    .strip_prefix('#')
                    .and_then(|ptr| schema_node_at(root, ptr)),
                _ => None,
            };
            if let Some(t) = target {
                walk(root, t, pats, f, depth + 1);
            }
            if let Some(Value::Map(props)) = m.get("properties").map(|n| &n.value) {
                for (k, v) in props.iter() {
                    pats.push(Pat::Key(k.to_string()));
                    walk(root, v, pats, f, depth + 1);
                    pats.pop();
                }
            }
            if let Some(items) = m.get("items") {
                pats.push(Pat::AnyIndex);
                walk(root, items, pats, f, depth + 1);
                pats.pop();
            }
            let mut patterns = Vec::new();
            if let Some(Value::Map(pp)) = m.get("patternProperties").map(|n| &n.value) {
                // An invalid regex is jsonschema's error to report; it selects nothing here.
                let valid = pp
                    .iter()
                    .filter_map(|(re, v)| Some((regex::Regex::new(re).ok()?, v)));
                for (re, v) in valid {
                    let re = Arc::new(re);
                    patterns.push(re.clone());
                    pats.push(Pat::KeyMatching(re));
                    walk(root, v, pats, f, depth + 1);
                    pats.pop();
                }
            }
            if let Some(sub) = m.get("additionalProperties") {
                let named: Vec<String> = match m.get("properties").map(|n| &n.value) {
                    Some(Value::Map(props)) => props.keys().map(|k| k.to_string()).collect(),
                    _ => Vec::new(),
                };
                pats.push(if named.is_empty() && patterns.is_empty() {
                    Pat::AnyKey
                } else {
                    Pat::OtherKeys { named, patterns }
                });
                walk(root, sub, pats, f, depth + 1);
                pats.pop();
            }
            for key in ["allOf", "anyOf", "oneOf"] {
                if let Some(Value::List(items)) = m.get(key).map(|n| &n.value) {
                    for item in items {
                        walk(root, item, pats, f, depth + 1);
                    }
                }
            }
        }
    }
    walk(root, root, &mut Vec::new(), f, 0);
}

/// The nodes of `root` an instance pattern selects, with their concrete paths.
pub fn select<'a>(root: &'a Node, pats: &[Pat]) -> Vec<(Vec<Segment>, &'a Node)> {
    let mut out = Vec::new();
    fn go<'a>(
        node: &'a Node,
        pats: &[Pat],
        path: &mut Vec<Segment>,
        out: &mut Vec<(Vec<Segment>, &'a Node)>,
    ) {
        let (first, rest) = match pats.split_first() {
            Some(split) => split,
            None => return out.push((path.clone(), node)),
        };
        match (first, &node.value) {
            (Pat::Key(k), Value::Map(m)) => {
                if let Some(child) = m.get(k.as_str()) {
                    path.push(Segment::Key(k.as_str().into()));
                    go(child, rest, path, out);
                    path.pop();
                }
            }
            (Pat::AnyIndex, Value::List(items)) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(Segment::Index(i));
                    go(item, rest, path, out);
                    path.pop();
                }
            }
            (step, value) => {
                let children = value.as_map().into_iter().flat_map(|m| m.iter());
                for (k, child) in children.filter(|(k, _)| step.takes_key(k)) {
                    path.push(Segment::Key(k.clone()));
                    go(child, rest, path, out);
                    path.pop();
                }
            }
        }
    }
    go(root, pats, &mut Vec::new(), &mut out);
    out
}

/// Where a target's configuration comes from, for rule variables and finding texts.
#[derive(Debug, Clone, Copy)]
pub struct UnitInfo<'a> {
    /// `ENV/PROVIDER/REGION`.
    pub target: &'a str,
    /// Variables for CEL rules.
    pub vars: RuleEnv<'a>,
}

/// A compiled service schema.
pub struct ServiceSchema {
    /// The service.
    pub service: String,
    /// Project-relative path of the schema file.
    pub path: Arc<str>,
    /// The schema document, with locations.
    pub root: Node,
    validator: jsonschema::Validator,
    rules: Vec<(Vec<Pat>, CelRule)>,
    secrets: Vec<Vec<Pat>>,
    /// Strata formats (`aws-region`, `cloud-region`, `gcp-project-id`, …), optionally only
    /// for one provider (inside `x-strata-provider`).
    formats: Vec<(Vec<Pat>, String, Option<String>)>,
    /// Tag/label maps (`x-strata-tags: true`), optionally only for one provider.
    tag_maps: Vec<(Vec<Pat>, Option<String>)>,
    /// `x-strata-provider: {PROVIDER: schema}` overlays: (where, provider, validator, the
    /// overlay's line in the schema file, for hints).
    overlays: Vec<(Vec<Pat>, String, jsonschema::Validator, u32)>,
    catalogs: crate::providers::Catalogs,
}

impl std::fmt::Debug for ServiceSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceSchema")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn schema_finding(
    service: &str,
    path: &Arc<str>,
    loc: Loc,
    message: String,
    hint: &str,
) -> Finding {
    Finding {
        severity: Severity::Error,
        rule: "schema/invalid".into(),
        service: service.to_string(),
        target: None,
        param: None,
        message,
        hint: Some(hint.to_string()),
        location: Some(SourceLoc {
            path: path.to_string(),
            line: loc.line,
            col: loc.col,
        }),
    }
}

/// The schema node at a JSON pointer into the schema (for the line of a keyword).
fn schema_node_at<'a>(root: &'a Node, pointer: &str) -> Option<&'a Node> {
    let mut node = root;
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        node = match &node.value {
            Value::Map(m) => m.get(token.as_str())?,
            Value::List(items) => items.get(token.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(node)
}

impl ServiceSchema {
    /// Compiles a schema document. Every problem (not a valid JSON Schema, a CEL rule that
    /// does not compile, a malformed annotation) is a finding located in the schema file.
    pub fn compile(
        service: &str,
        path: Arc<str>,
        root: Node,
        catalogs: &crate::providers::Catalogs,
    ) -> Result<ServiceSchema, Vec<Finding>> {
        let mut problems = Vec::new();
        let json = root.value.to_json();
        let validator = match jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&json)
        {
            Ok(v) => Some(v),
            Err(e) => {
                let pointer = e.schema_path().as_str().to_string();
                let at = e.instance_path().as_str().to_string();
                let loc = schema_node_at(&root, &at)
                    .or_else(|| schema_node_at(&root, &pointer))
                    .map_or(root.loc, |n| n.loc);
                problems.push(schema_finding(
                    service,
                    &path,
                    loc,
                    format!("not a valid JSON Schema 2020-12: {e}"),
                    "fix the schema; see https://json-schema.org/draft/2020-12",
                ));
                None
            }
        };
        let mut rules = Vec::new();
        let mut secrets = Vec::new();
        let mut formats = Vec::new();
        let mut tag_maps = Vec::new();
        let mut overlays = Vec::new();
        // Provider annotations on a node (also inside overlays, limited to that provider).
        let provider_notes =
            |pats: &[Pat],
             m: &crate::value::Map,
             only: Option<&str>,
             formats: &mut Vec<(Vec<Pat>, String, Option<String>)>,
             tag_maps: &mut Vec<(Vec<Pat>, Option<String>)>| {
                if let Some(Value::Str(f)) = m.get("format").map(|n| &n.value)
                    && catalogs.knows_format(f)
                {
                    formats.push((pats.to_vec(), f.to_string(), only.map(str::to_string)));
                }
                if matches!(
                    m.get("x-strata-tags").map(|n| &n.value),
                    Some(Value::Bool(true))
                ) {
                    tag_maps.push((pats.to_vec(), only.map(str::to_string)));
                }
            };
        walk_schema(&root, &mut |pats, node| {
            let m = node.value.as_map();
            if let Some(m) = m {
                provider_notes(pats, m, None, &mut formats, &mut tag_maps);
            }
            if let Some(block) = m.and_then(|m| m.get("x-strata-provider")) {
                let Some(by_provider) = block.value.as_map() else {
                    problems.push(schema_finding(
                        service,
                        &path,
                        block.loc,
                        "`x-strata-provider` must map provider names to schemas".into(),
                        "write `x-strata-provider: {aws: {maxLength: 63}, gcp: {pattern: \"^[a-z]\"}}`",
                    ));
                    return;
                };
                for (provider, sub) in by_provider.iter() {
                    if catalogs.get(provider).is_none() {
                        problems.push(schema_finding(
                            service,
                            &path,
                            sub.loc,
                            format!("`x-strata-provider` names unknown provider `{provider}`"),
                            "use a provider with a catalog (`strata providers`), or add providers/<name>.yaml",
                        ));
                        continue;
                    }
                    match jsonschema::options()
                        .with_draft(jsonschema::Draft::Draft202012)
                        .should_validate_formats(true)
                        .build(&sub.value.to_json())
                    {
                        Ok(v) => {
                            overlays.push((pats.to_vec(), provider.to_string(), v, sub.loc.line))
                        }
                        Err(e) => problems.push(schema_finding(
                            service,
                            &path,
                            sub.loc,
                            format!("the `{provider}` overlay is not a valid JSON Schema: {e}"),
                            "fix the overlay schema",
                        )),
                    }
                    walk_schema(sub, &mut |inner, n| {
                        if let Some(im) = n.value.as_map() {
                            let mut full = pats.to_vec();
                            full.extend(inner.iter().cloned());
                            provider_notes(&full, im, Some(provider), &mut formats, &mut tag_maps);
                        }
                    });
                }
            }
            if let Some(s) = m.and_then(|m| m.get("x-strata-secret")) {
                match s.value {
                    Value::Bool(true) => secrets.push(pats.to_vec()),
                    Value::Bool(false) => {}
                    _ => problems.push(schema_finding(
                        service,
                        &path,
                        s.loc,
                        "`x-strata-secret` must be true or false".into(),
                        "write `x-strata-secret: true`",
                    )),
                }
            }
            let Some(list) = m.and_then(|m| m.get("x-strata-validations")) else {
                return;
            };
            let Value::List(items) = &list.value else {
                problems.push(schema_finding(
                    service,
                    &path,
                    list.loc,
                    "`x-strata-validations` must be a list".into(),
                    "write `x-strata-validations: [{rule: \"self.min <= self.max\", message: \"…\"}]`",
                ));
                return;
            };
            for item in items {
                match parse_rule(item) {
                    Ok(rule) => rules.push((pats.to_vec(), rule)),
                    Err((loc, message)) => problems.push(schema_finding(
                        service,
                        &path,
                        loc,
                        message,
                        "rules are CEL expressions over `self` (this node), `env`, `provider`, `region`, `service`",
                    )),
                }
            }
        });
        match validator {
            Some(validator) if problems.is_empty() => Ok(ServiceSchema {
                service: service.to_string(),
                path,
                root,
                validator,
                rules,
                secrets,
                formats,
                tag_maps,
                overlays,
                catalogs: catalogs.clone(),
            }),
            _ => Err(problems),
        }
    }

    /// Checks one effective configuration. `base` is the same configuration in the base
    /// project (for transition rules); `files` resolves the locations of `eff`'s nodes.
    pub fn check(
        &self,
        eff: &Node,
        base: Option<&Node>,
        unit: UnitInfo<'_>,
        files: &FileTable,
    ) -> Vec<Finding> {
        let mut out = Vec::new();
        let secret_paths: Vec<Vec<Segment>> = self
            .secrets
            .iter()
            .flat_map(|p| select(eff, p).into_iter().map(|(path, _)| path))
            .collect();
        let is_secret = |path: &[Segment]| secret_paths.iter().any(|s| path.starts_with(s));
        let finding =
            |rule: String, path: &[Segment], message: String, hint: Option<String>, loc: Loc| {
                Finding {
                    severity: Severity::Error,
                    rule,
                    service: self.service.clone(),
                    target: Some(unit.target.to_string()),
                    param: Some(segments_to_string(path)),
                    message,
                    hint,
                    location: (loc.line > 0).then(|| SourceLoc {
                        path: files.path(loc.file).to_string(),
                        line: loc.line,
                        col: loc.col,
                    }),
                }
            };

        // Secrets first: a plaintext secret is reported without its value.
        for pats in &self.secrets {
            for (path, node) in select(eff, pats) {
                if !is_encrypted(&node.value) {
                    out.push(finding(
                        "secret/plaintext".into(),
                        &path,
                        format!("secret in plaintext: `{}:{}` must hold an encrypted ENC[…] value", self.service, segments_to_string(&path)),
                        Some("replace the value with its ENC[…] ciphertext; never commit the plaintext".into()),
                        node.loc,
                    ));
                }
            }
        }

        // JSON Schema.
        let mut schema_errors = |validator: &jsonschema::Validator,
                                 at: &[Segment],
                                 node: &Node,
                                 prefix: &str,
                                 line_of: &dyn Fn(&str) -> u32| {
            let json = node.value.to_json();
            // Most configurations are valid: the yes/no check is much cheaper than collecting errors.
            if validator.is_valid(&json) {
                return;
            }
            for error in validator.iter_errors(&json) {
                let mut path = at.to_vec();
                path.extend(instance_segments(error.instance_path()));
                let keyword = error.kind().keyword().to_string();
                let mut found = eff.get(&path);
                if let jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } =
                    error.kind()
                    && let Some(first) = unexpected.first()
                {
                    path.push(Segment::Key(first.as_str().into()));
                    found = eff.get(&path).or(found);
                }
                if let jsonschema::error::ValidationErrorKind::Required { property } = error.kind()
                    && let Some(name) = property.as_str()
                {
                    path.push(Segment::Key(name.into()));
                }
                let secret = is_secret(&path);
                if secret && found.is_some_and(|n| is_encrypted(&n.value)) {
                    // Constraints on a secret describe its plaintext; ciphertext cannot be checked.
                    continue;
                }
                let message = if secret {
                    error.masked().to_string()
                } else {
                    error.to_string()
                };
                let hint = format!(
                    "the rule is `{keyword}` at {}:{}; change the value in the layer, or the schema if the rule is wrong",
                    self.path,
                    line_of(error.schema_path().as_str())
                );
                let loc = found.map_or(node.loc, |n| n.loc);
                out.push(finding(
                    format!("{prefix}{keyword}"),
                    &path,
                    message,
                    Some(hint),
                    loc,
                ));
            }
        };
        let root_line =
            |pointer: &str| schema_node_at(&self.root, pointer).map_or(0, |n| n.loc.line);
        schema_errors(&self.validator, &[], eff, "schema/", &root_line);
        for (pats, provider, validator, line) in &self.overlays {
            if provider != unit.vars.provider {
                continue;
            }
            let overlay_line = |_: &str| *line;
            for (path, node) in select(eff, pats) {
                schema_errors(validator, &path, node, "provider/", &overlay_line);
            }
        }

        // Provider formats and tag/label rules, for the target's provider.
        let provider = unit.vars.provider;
        let applies = |only: &Option<String>| only.as_deref().is_none_or(|p| p == provider);
        for (pats, format, only) in &self.formats {
            if !applies(only) {
                continue;
            }
            for (path, node) in select(eff, pats) {
                let Value::Str(text) = &node.value else {
                    continue;
                };
                if is_secret(&path) {
                    continue;
                }
                if let Some(Err(message)) = self.catalogs.check_format(format, text, provider) {
                    out.push(finding(
                        format!("provider/{format}"),
                        &path,
                        message,
                        Some(format!(
                            "`format: {format}` in {}; see `strata providers show {provider}`",
                            self.path
                        )),
                        node.loc,
                    ));
                }
            }
        }
        for (pats, only) in &self.tag_maps {
            if !applies(only) {
                continue;
            }
            for (path, node) in select(eff, pats) {
                let Value::Map(map) = &node.value else {
                    continue;
                };
                for (key, message) in self.catalogs.check_tags(provider, map) {
                    let mut at = path.clone();
                    let mut loc = node.loc;
                    if let Some(k) = key {
                        loc = map.get(k.as_str()).map_or(loc, |n| n.loc);
                        at.push(Segment::Key(k.into()));
                    }
                    out.push(finding(
                        "provider/tags".into(),
                        &at,
                        message,
                        Some(format!("the {provider} rules for tags and labels: `strata providers show {provider}`")),
                        loc,
                    ));
                }
            }
        }

        // CEL rules.
        for (pats, rule) in &self.rules {
            for (path, node) in select(eff, pats) {
                let old = if rule.transition {
                    match base.and_then(|b| b.get(&path)) {
                        Some(o) => Some(&o.value),
                        None => continue,
                    }
                } else {
                    None
                };
                let outcome = rule.eval(&node.value, old, unit.vars);
                if outcome == Outcome::Pass {
                    continue;
                }
                let mut at = path.clone();
                if let Some(fp) = &rule.field_path
                    && let Ok(extra) = crate::path::parse_segments(fp.trim_start_matches('.'))
                {
                    at.extend(extra);
                }
                let loc = eff.get(&at).map_or(node.loc, |n| n.loc);
                let (message, hint) = match outcome {
                    Outcome::Fail => (
                        rule.failure_message(),
                        format!("rule `{}` at {}:{}", rule.source, self.path, rule.loc.line),
                    ),
                    Outcome::Error(e) => (
                        format!("rule `{}` could not be evaluated: {e}", rule.source),
                        format!(
                            "fix the rule at {}:{} or the value it reads",
                            self.path, rule.loc.line
                        ),
                    ),
                    Outcome::Pass => unreachable!("skipped above"),
                };
                let id = if rule.transition {
                    "cel/transition"
                } else {
                    "cel"
                };
                out.push(finding(id.into(), &at, message, Some(hint), loc));
            }
        }
        out
    }
}

/// The instance patterns a schema marks `x-strata-secret: true`.
///
/// Used where a whole schema is not compiled, e.g. by the store refusing plaintext secrets.
pub fn secret_patterns(schema: &Node) -> Vec<Vec<Pat>> {
    let mut out = Vec::new();
    walk_schema(schema, &mut |pats, node| {
        let secret = node
            .value
            .as_map()
            .and_then(|m| m.get("x-strata-secret"))
            .is_some_and(|s| matches!(s.value, Value::Bool(true)));
        if secret {
            out.push(pats.to_vec());
        }
    });
    out
}

/// Whether `path` lies at or under a node one of `patterns` selects (see [`secret_patterns`]).
pub fn path_is_secret(patterns: &[Vec<Pat>], path: &[Segment]) -> bool {
    patterns.iter().any(|pats| {
        pats.len() <= path.len()
            && pats.iter().zip(path).all(|(pat, seg)| match (pat, seg) {
                (Pat::Key(k), Segment::Key(s)) => **k == **s,
                (Pat::AnyIndex, Segment::Index(_)) => true,
                (Pat::AnyKey, Segment::Key(_)) => true,
                (Pat::KeyMatching(re), Segment::Key(s)) => re.is_match(s),
                (Pat::OtherKeys { named, patterns }, Segment::Key(s)) => {
                    !named.iter().any(|n| **n == **s) && !patterns.iter().any(|re| re.is_match(s))
                }
                _ => false,
            })
    })
}

/// Whether a value is an `ENC[…]` ciphertext.
pub fn is_encrypted(v: &Value) -> bool {
    matches!(v, Value::Str(s) if s.starts_with("ENC[") && s.ends_with(']'))
}

/// Reads one `{rule, message, fieldPath}` entry.
pub(crate) fn parse_rule(item: &Node) -> Result<CelRule, (Loc, String)> {
    let Some(m) = item.value.as_map() else {
        return Err((item.loc, "a validation must be a map with a `rule`".into()));
    };
    for k in m.keys() {
        if !matches!(&**k, "rule" | "message" | "fieldPath" | "reason") {
            return Err((
                m[k].loc,
                format!(
                    "unknown key `{k}` in a validation; known: rule, message, fieldPath, reason"
                ),
            ));
        }
    }
    let text = |key: &str| -> Result<Option<String>, (Loc, String)> {
        match m.get(key) {
            None => Ok(None),
            Some(Node {
                value: Value::Str(s),
                ..
            }) => Ok(Some(s.to_string())),
            Some(n) => Err((n.loc, format!("`{key}` must be a string"))),
        }
    };
    let source = text("rule")?.ok_or((item.loc, "a validation needs a `rule`".to_string()))?;
    let loc = m.get("rule").map_or(item.loc, |n| n.loc);
    CelRule::compile(&source, text("message")?, text("fieldPath")?, loc)
        .map_err(|e| (loc, format!("CEL rule `{source}` does not compile: {e}")))
}

/// Turns a JSON pointer into our path segments.
fn instance_segments(location: &jsonschema::paths::Location) -> Vec<Segment> {
    location
        .iter()
        .map(|seg| match seg {
            jsonschema::paths::LocationSegment::Property(p) => Segment::Key(p.as_ref().into()),
            jsonschema::paths::LocationSegment::Index(i) => Segment::Index(i),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compiles with no provider catalogs (these tests are about the schema itself).
    fn compile(service: &str, path: Arc<str>, root: Node) -> Result<ServiceSchema, Vec<Finding>> {
        ServiceSchema::compile(service, path, root, &crate::providers::Catalogs::default())
    }
    use crate::parse::{Format, ParseOptions, parse_document};
    use crate::test_support::doc;
    use crate::value::FileId;

    const SCHEMA: &str = r#"type: object
additionalProperties: false
required: [db, replicas]
properties:
  replicas: {type: integer, minimum: 1, maximum: 50}
  level: {enum: [debug, info, warn]}
  db:
    type: object
    x-strata-validations:
      - rule: "self.pool.min <= self.pool.max"
        message: "pool.min must not exceed pool.max"
        fieldPath: ".pool.min"
    properties:
      password: {type: string, x-strata-secret: true, minLength: 40}
      pool:
        type: object
        properties:
          min: {type: integer}
          max: {type: integer}
  sidecars:
    type: array
    items:
      type: object
      x-strata-validations:
        - rule: "env != 'prod' || self.image.endsWith(':pinned')"
          message: "prod sidecars use pinned images"
"#;

    use crate::test_support::UNIT;

    fn check(config: &str) -> Vec<Finding> {
        let files = FileTable::new();
        let schema = compile(
            "svc",
            Arc::from("schemas/svc.yaml"),
            doc(&files, "schemas/svc.yaml", SCHEMA),
        )
        .unwrap();
        let eff = doc(&files, "layers/base/svc.yaml", config);
        schema.check(&eff, None, UNIT, &files)
    }

    fn rules(f: &[Finding]) -> Vec<(String, String)> {
        f.iter()
            .map(|f| (f.rule.clone(), f.param.clone().unwrap_or_default()))
            .collect()
    }

    #[test]
    fn a_valid_configuration_has_no_findings() {
        let f = check(
            "replicas: 3\ndb: {password: \"ENC[AGE,x]\", pool: {min: 1, max: 2}}\nsidecars: [{image: \"e:pinned\"}]\n",
        );
        assert!(f.is_empty(), "{f:#?}");
    }

    #[test]
    fn each_rule_kind_is_reported_at_the_value() {
        let f = check(
            "replicas: 99\nlevel: trace\nextra: 1\ndb: {password: \"ENC[AGE,x]\", pool: {min: 5, max: 2}}\nsidecars: [{image: \"e:latest\"}]\n",
        );
        let mut got = rules(&f);
        got.sort();
        assert_eq!(
            got,
            vec![
                ("cel".into(), "db.pool.min".into()),
                ("cel".into(), "sidecars[0]".into()),
                ("schema/additionalProperties".into(), "extra".into()),
                ("schema/enum".into(), "level".into()),
                ("schema/maximum".into(), "replicas".into()),
            ]
        );
        let max = f.iter().find(|x| x.rule == "schema/maximum").unwrap();
        assert_eq!(
            max.location.as_ref().unwrap().to_string(),
            "layers/base/svc.yaml:1:11"
        );
        assert!(
            max.hint.as_ref().unwrap().contains("schemas/svc.yaml:5"),
            "{max:?}"
        );
        let cel = f
            .iter()
            .find(|x| x.param.as_deref() == Some("db.pool.min"))
            .unwrap();
        assert_eq!(cel.message, "pool.min must not exceed pool.max");
        assert_eq!(cel.location.as_ref().unwrap().line, 4);
        let extra = f
            .iter()
            .find(|x| x.rule == "schema/additionalProperties")
            .unwrap();
        assert_eq!(extra.location.as_ref().unwrap().line, 3);
    }

    #[test]
    fn required_points_at_the_missing_key() {
        let f = check("replicas: 1\n");
        assert_eq!(rules(&f), vec![("schema/required".into(), "db".into())]);
    }

    #[test]
    fn secrets_in_plaintext_are_reported_without_their_value() {
        let f =
            check("replicas: 3\ndb: {password: hunter2-is-my-password, pool: {min: 1, max: 2}}\n");
        let got = rules(&f);
        assert!(
            got.contains(&("secret/plaintext".into(), "db.password".into())),
            "{got:?}"
        );
        assert!(
            got.contains(&("schema/minLength".into(), "db.password".into())),
            "{got:?}"
        );
        for finding in &f {
            assert!(!finding.message.contains("hunter2"), "{}", finding.message);
        }
    }

    #[test]
    fn broken_schemas_are_located() {
        let files = FileTable::new();
        let bad = "type: object\nproperties:\n  a:\n    x-strata-validations:\n      - rule: \"self.a <\"\n";
        let e = compile("svc", Arc::from("s.yaml"), doc(&files, "s.yaml", bad)).unwrap_err();
        assert_eq!(e[0].location.as_ref().unwrap().line, 5);
        assert!(
            e[0].message.contains("does not compile"),
            "{}",
            e[0].message
        );
        let bad = "type: object\nproperties:\n  a: {type: 12}\n";
        let e = compile("svc", Arc::from("s.yaml"), doc(&files, "s.yaml", bad)).unwrap_err();
        assert!(
            e[0].message.contains("not a valid JSON Schema"),
            "{}",
            e[0].message
        );
        let bad = "x-strata-validations: {rule: x}\n";
        assert!(compile("svc", Arc::from("s.yaml"), doc(&files, "s.yaml", bad)).is_err());
        let bad = "x-strata-validations: [{rule: \"true\", bogus: 1}]\n";
        assert!(compile("svc", Arc::from("s.yaml"), doc(&files, "s.yaml", bad)).is_err());
        let bad = "x-strata-secret: yes\n";
        assert!(compile("svc", Arc::from("s.yaml"), doc(&files, "s.yaml", bad)).is_err());
    }

    #[test]
    fn transition_rules_need_a_base() {
        let files = FileTable::new();
        let schema_text = "type: object\nx-strata-validations:\n  - rule: \"self.max >= oldSelf.max / 2\"\n    message: halved\n";
        let schema = compile(
            "svc",
            Arc::from("s.yaml"),
            doc(&files, "s.yaml", schema_text),
        )
        .unwrap();
        let new = doc(&files, "n.yaml", "max: 10\n");
        let old = doc(&files, "o.yaml", "max: 30\n");
        assert!(schema.check(&new, None, UNIT, &files).is_empty());
        let f = schema.check(&new, Some(&old), UNIT, &files);
        assert_eq!(rules(&f), vec![("cel/transition".into(), "".into())]);
    }

    #[test]
    fn every_schema_shape_is_walked() {
        let files = FileTable::new();
        let text = r#"type: object
patternProperties:
  "^x-": {type: string, x-strata-secret: true}
properties:
  list: {type: array, items: {type: integer, minimum: 0}}
  both:
    allOf:
      - {type: object, x-strata-validations: [{rule: "self.a > 0"}]}
      - {required: [a]}
  broken:
    x-strata-validations: [{rule: "self.nope > 1", message: m}]
"#;
        let schema = compile("svc", Arc::from("s.yaml"), doc(&files, "s.yaml", text)).unwrap();
        assert!(format!("{schema:?}").contains("s.yaml"));
        let eff = doc(
            &files,
            "l.yaml",
            "x-key: plain\nlist: [1, -2]\nboth: {a: 0}\nbroken: {}\n",
        );
        let other = Pat::OtherKeys {
            named: vec!["a".into()],
            patterns: vec![Arc::new(regex::Regex::new("^x-").unwrap())],
        };
        assert!(other.takes_key("b") && !other.takes_key("a") && !other.takes_key("x-y"));
        assert_eq!(other, other.clone());
        assert_ne!(other, Pat::AnyKey);
        assert!(!Pat::AnyIndex.takes_key("a"));
        let f = schema.check(&eff, None, UNIT, &files);
        let mut got = rules(&f);
        got.sort();
        assert_eq!(
            got,
            vec![
                ("cel".into(), "both".into()),
                ("cel".into(), "broken".into()),
                ("schema/minimum".into(), "list[1]".into()),
                ("secret/plaintext".into(), "x-key".into()),
            ]
        );
        let broken = f
            .iter()
            .find(|x| x.param.as_deref() == Some("broken"))
            .unwrap();
        assert!(
            broken.message.contains("could not be evaluated"),
            "{}",
            broken.message
        );
    }

    #[test]
    fn recursive_refs_and_key_patterns() {
        let files = FileTable::new();
        // A schema that refers to itself is walked to a bounded depth, not forever.
        let text = "$defs:\n  node: {type: object, properties: {next: {$ref: \"#/$defs/node\"}}}\nproperties:\n  head: {$ref: \"#/$defs/node\"}\n";
        let mut visited = 0;
        walk_schema(&doc(&files, "s.yaml", text), &mut |_, _| visited += 1);
        assert!(visited > 10 && visited < 200, "{visited}");
        // Bad regexes select nothing; additionalProperties alone covers every key.
        let text = "patternProperties: {\"(\": {x-strata-secret: true}, \"^k\": {x-strata-secret: true}}\nadditionalProperties: {x-strata-validations: [{rule: \"self > 0\"}]}\n";
        let schema = compile("svc", Arc::from("s.yaml"), doc(&files, "s.yaml", text));
        assert!(schema.is_err(), "jsonschema refuses the bad regex");
        let text = "patternProperties: {\"^k\": {x-strata-secret: true}}\nadditionalProperties: {x-strata-validations: [{rule: \"self > 0\"}]}\n";
        let schema = compile("svc", Arc::from("s.yaml"), doc(&files, "s.yaml", text)).unwrap();
        let f = schema.check(
            &doc(&files, "l.yaml", "k1: plain\nz: 0\n"),
            None,
            UNIT,
            &files,
        );
        let mut got = rules(&f);
        got.sort();
        assert_eq!(
            got,
            vec![
                ("cel".into(), "z".into()),
                ("secret/plaintext".into(), "k1".into())
            ]
        );
        let text = "additionalProperties: {x-strata-validations: [{rule: \"self > 0\"}]}\n";
        let schema = compile("svc", Arc::from("s.yaml"), doc(&files, "s.yaml", text)).unwrap();
        assert_eq!(
            schema
                .check(&doc(&files, "l.yaml", "a: 0\nb: 1\n"), None, UNIT, &files)
                .len(),
            1
        );
        let mut pats = Vec::new();
        walk_schema(
            &doc(&files, "s.yaml", "patternProperties: {\"(\": {}}\n"),
            &mut |p, _| pats.push(p.to_vec()),
        );
        assert_eq!(pats.len(), 1, "the invalid pattern's subschema is skipped");
    }

    #[test]
    fn pattern_steps_compare_and_match() {
        assert_eq!(Pat::AnyIndex, Pat::AnyIndex);
        assert_eq!(Pat::AnyKey, Pat::AnyKey);
        let r = |s: &str| Pat::KeyMatching(Arc::new(regex::Regex::new(s).unwrap()));
        assert_eq!(r("^a"), r("^a"));
        assert_ne!(r("^a"), r("^b"));
        assert!(Pat::Key("a".into()).takes_key("a"));
        assert!(r("^a").takes_key("ab"));
        let files = FileTable::new();
        let n = doc(&files, "x", "a: 1\nl: [1]\n");
        assert!(
            select(&n, &[Pat::Key("a".into()), Pat::Key("b".into())]).is_empty(),
            "a scalar has no keys"
        );
        assert!(
            select(&n, &[Pat::Key("l".into()), Pat::Key("b".into())]).is_empty(),
            "a list has no keys"
        );
        assert!(schema_node_at(&n, "/a/b").is_none());
        assert!(schema_node_at(&n, "/l/0").is_some());
    }

    const CLOUD: &str = r#"type: object
properties:
  region: {type: string, format: cloud-region}
  size: {format: instance-size}
  count: {format: cloud-region}
  token: {type: string, format: aws-s3-bucket-name, x-strata-secret: true}
  tags: {type: object, x-strata-tags: true}
  flat: {x-strata-tags: true}
x-strata-provider:
  aws:
    properties:
      bucket: {format: aws-s3-bucket-name}
  gcp:
    properties:
      labels: {maxProperties: 1, x-strata-tags: true}
"#;

    fn cloud_check(
        provider: &'static str,
        region: &'static str,
        config: &str,
    ) -> Vec<(String, String)> {
        let files = FileTable::new();
        let catalogs = crate::providers::Catalogs::builtin().unwrap();
        let schema = ServiceSchema::compile(
            "svc",
            Arc::from("s.yaml"),
            doc(&files, "s.yaml", CLOUD),
            catalogs,
        )
        .unwrap();
        let unit = UnitInfo {
            target: "prod/x/y",
            vars: RuleEnv {
                env: "prod",
                provider,
                region,
                service: "svc",
            },
        };
        let mut got = rules(&schema.check(&doc(&files, "l.yaml", config), None, unit, &files));
        got.sort();
        got
    }

    #[test]
    fn provider_formats_tags_and_overlays() {
        let config = "region: eastus\nsize: t3.medium\ncount: 3\ntoken: plain-NOT-a-bucket\nbucket: Bad_Bucket\ntags: {\"aws:x\": v}\nflat: 1\nlabels: {Team: a, b: c}\n";
        assert_eq!(
            cloud_check("aws", "us-east-1", config),
            vec![
                ("provider/aws-s3-bucket-name".into(), "bucket".into()),
                ("provider/cloud-region".into(), "region".into()),
                ("provider/tags".into(), "tags[\"aws:x\"]".into()),
                ("secret/plaintext".into(), "token".into()),
            ]
        );
        assert_eq!(
            cloud_check("gcp", "europe-west1", config),
            vec![
                ("provider/cloud-region".into(), "region".into()),
                ("provider/instance-size".into(), "size".into()),
                ("provider/maxProperties".into(), "labels".into()),
                ("provider/tags".into(), "labels.Team".into()),
                // The same tags map, now under GCP's label rules (no `:` in keys).
                ("provider/tags".into(), "tags[\"aws:x\"]".into()),
                ("secret/plaintext".into(), "token".into()),
            ]
        );
    }

    #[test]
    fn broken_provider_overlays_are_schema_findings() {
        let files = FileTable::new();
        let catalogs = crate::providers::Catalogs::builtin().unwrap();
        for text in [
            "x-strata-provider: [aws]\n",
            "x-strata-provider: {nope: {}}\n",
            "x-strata-provider: {aws: {type: 12}}\n",
        ] {
            let e = ServiceSchema::compile(
                "svc",
                Arc::from("s.yaml"),
                doc(&files, "s.yaml", text),
                catalogs,
            )
            .unwrap_err();
            assert_eq!(e[0].rule, "schema/invalid", "{text}");
        }
    }

    #[test]
    fn keywords_inside_all_of_are_located_in_the_schema() {
        let files = FileTable::new();
        let text = "allOf:\n  - {properties: {n: {maximum: 3}}}\n";
        let schema = compile("svc", Arc::from("s.yaml"), doc(&files, "s.yaml", text)).unwrap();
        let f = schema.check(&doc(&files, "l.yaml", "n: 9\n"), None, UNIT, &files);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].hint.as_ref().unwrap().contains("s.yaml:2"),
            "{:?}",
            f[0].hint
        );
    }

    #[test]
    fn very_deep_schemas_stop_walking() {
        let mut text = String::from("type: object\n");
        for depth in 0..70 {
            let pad = "  ".repeat(depth * 2);
            text.push_str(&format!("{pad}properties:\n{pad}  a:\n"));
        }
        text.push_str(&format!("{}type: object\n", "  ".repeat(140)));
        let files = FileTable::new();
        let node = parse_document(
            &Arc::from("d.yaml"),
            FileId(0),
            text.as_bytes(),
            Format::Yaml,
            ParseOptions { templates: false },
        );
        // Deeper than documents may nest at all: refused when read, never walked.
        assert!(node.is_err());
        let mut visited = 0;
        let shallow = doc(&files, "s.yaml", "properties: {a: {properties: {b: {}}}}\n");
        walk_schema(&shallow, &mut |_, _| visited += 1);
        assert_eq!(visited, 3);
    }

    #[test]
    fn malformed_validations_are_refused() {
        let files = FileTable::new();
        for text in [
            "x-strata-validations: [1]\n",
            "x-strata-validations: [{rule: \"true\", message: 5}]\n",
            "x-strata-validations: [{message: m}]\n",
        ] {
            let e = compile("svc", Arc::from("s.yaml"), doc(&files, "s.yaml", text)).unwrap_err();
            assert_eq!(e[0].rule, "schema/invalid", "{text}");
        }
    }

    #[test]
    fn patterns_select_and_print() {
        let files = FileTable::new();
        let n = doc(&files, "x", "a: {x: [1, 2], y: [3]}\n");
        let sel = select(&n, &[Pat::Key("a".into()), Pat::AnyKey, Pat::AnyIndex]);
        assert_eq!(sel.len(), 3);
        assert!(
            select(&n, &[Pat::AnyIndex]).is_empty(),
            "a map is not a list"
        );
        assert!(select(&n, &[Pat::Key("zz".into())]).is_empty());
        assert_eq!(segments_to_string(&sel[2].0), "a.y[0]");
        assert_eq!(
            pattern_glob(
                "s",
                &[
                    Pat::Key("a".into()),
                    Pat::AnyIndex,
                    Pat::AnyKey,
                    Pat::Key("b.c".into())
                ]
            ),
            "s:a[*].*[\"b.c\"]"
        );
    }
}
