//! Cloud provider catalogs: regions, default variables, naming rules, tag/label rules and
//! the portable vocabulary (`${size:medium}` → `t3.medium` / `Standard_D2s_v5` /
//! `e2-standard-2`). Built-in catalogs for `aws`, `azure`, `gcp` and `mock` are data files
//! compiled into the crate (`catalogs/*.yaml`); a project adds or extends providers with
//! `providers/<name>.yaml` of the same shape. No SDK, no network.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock, OnceLock};

use crate::error::{DiagKind, Diagnostic};
use crate::parse::{Format, ParseOptions, parse_document};
use crate::value::{FileId, Loc, Map, Node, Value, new_map};

/// A region of a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// `us-east-1`, `westeurope`, `europe-west1`, …
    pub name: String,
    /// Human name.
    pub display: String,
    /// Availability zones.
    pub zones: Vec<String>,
}

/// A regex checked when read but compiled on first use: the catalogs hold dozens of
/// naming patterns that most commands never run, and compiling them all cost every
/// command about a millisecond.
#[derive(Debug, Clone)]
pub struct LazyRegex {
    source: String,
    compiled: OnceLock<Option<regex::Regex>>,
}

impl LazyRegex {
    /// Checks the syntax of `source` (the error says what is wrong).
    pub fn new(source: &str) -> Result<LazyRegex, String> {
        regex_syntax::Parser::new()
            .parse(source)
            .map_err(|e| e.to_string())?;
        Ok(LazyRegex {
            source: source.to_string(),
            compiled: OnceLock::new(),
        })
    }

    /// The regex as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether `text` matches. A pattern too large to compile (past the `regex` crate's
    /// size limit; the syntax was checked) matches nothing.
    pub fn is_match(&self, text: &str) -> bool {
        self.compiled
            .get_or_init(|| regex::Regex::new(&self.source).ok())
            .as_ref()
            .is_some_and(|r| r.is_match(text))
    }
}

/// A pattern a name must not match, with the reason shown to users.
#[derive(Debug, Clone)]
pub struct Forbid {
    /// The regex.
    pub pattern: LazyRegex,
    /// Why.
    pub reason: String,
}

/// A naming rule: length, shape and forbidden patterns.
#[derive(Debug, Clone)]
pub struct NameRule {
    /// What is named, e.g. "S3 bucket name".
    pub description: String,
    /// Shortest allowed length (characters).
    pub min: usize,
    /// Longest allowed length (characters).
    pub max: usize,
    /// The whole-name shape, when there is one.
    pub pattern: Option<LazyRegex>,
    /// Extra forbidden patterns.
    pub rules: Vec<Forbid>,
}

impl NameRule {
    /// Checks `name`; the error names the rule that failed.
    pub fn check(&self, name: &str) -> Result<(), String> {
        let len = name.chars().count();
        if len < self.min {
            return Err(format!(
                "{} must be at least {} characters long (it has {len})",
                self.description, self.min
            ));
        }
        if len > self.max {
            return Err(format!(
                "{} must be at most {} characters long (it has {len})",
                self.description, self.max
            ));
        }
        if let Some(p) = &self.pattern
            && !p.is_match(name)
        {
            return Err(format!("{} must match `{}`", self.description, p.as_str()));
        }
        if let Some(f) = self.rules.iter().find(|f| f.pattern.is_match(name)) {
            return Err(format!("{}: {}", self.description, f.reason));
        }
        Ok(())
    }
}

/// Tag (AWS, Azure) or label (GCP) rules.
#[derive(Debug, Clone)]
pub struct TagRules {
    /// `tag` or `label`.
    pub word: String,
    /// Most tags on one resource.
    pub max_count: Option<usize>,
    /// Rules for keys.
    pub key: NameRule,
    /// Rules for values.
    pub value: NameRule,
}

/// One provider's catalog.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Provider id.
    pub name: String,
    /// Human name.
    pub display: String,
    /// Regions.
    pub regions: Vec<Region>,
    /// Default variables for targets on this provider (lowest precedence).
    pub vars: Map,
    /// Naming rules by kind; the format name is `<provider>-<kind>`.
    pub names: BTreeMap<String, NameRule>,
    /// Tag or label rules.
    pub tags: Option<TagRules>,
    /// Portable name → value, by kind (`size`, `storage`, `region`, …).
    pub vocabulary: BTreeMap<String, BTreeMap<String, Value>>,
    /// Further valid instance types (format `instance-size`).
    pub instance_sizes: Vec<String>,
    /// Where it came from: `built-in` or a project file.
    pub source: String,
}

impl Catalog {
    /// The region called `name`, if the provider has it.
    pub fn region(&self, name: &str) -> Option<&Region> {
        self.regions.iter().find(|r| r.name == name)
    }

    /// Whether `size` is an instance type of this provider (vocabulary or listed).
    pub fn is_instance_size(&self, size: &str) -> bool {
        self.instance_sizes.iter().any(|s| s == size)
            || self
                .vocabulary
                .get("size")
                .is_some_and(|m| m.values().any(|v| v.as_str() == Some(size)))
    }
}

/// The built-in catalog files.
const BUILTIN: [(&str, &str); 4] = [
    ("aws", include_str!("../../catalogs/aws.yaml")),
    ("azure", include_str!("../../catalogs/azure.yaml")),
    ("gcp", include_str!("../../catalogs/gcp.yaml")),
    ("mock", include_str!("../../catalogs/mock.yaml")),
];

static BUILTIN_CATALOGS: LazyLock<Result<Catalogs, Diagnostic>> = LazyLock::new(|| {
    let mut out = Catalogs::default();
    for (name, text) in BUILTIN {
        let path: Arc<str> = Arc::from(format!("(built-in) catalogs/{name}.yaml"));
        let node = parse_document(
            &path,
            FileId(u32::MAX),
            text.as_bytes(),
            Format::Yaml,
            ParseOptions { templates: false },
        )?;
        let cat = parse_catalog(&node, &path, "built-in")?;
        out.by_name.insert(cat.name.clone(), Arc::new(cat));
    }
    Ok(out)
});

/// Every catalog a project can use.
#[derive(Debug, Clone, Default)]
pub struct Catalogs {
    by_name: BTreeMap<String, Arc<Catalog>>,
}

impl Catalogs {
    /// The built-in catalogs (`aws`, `azure`, `gcp`, `mock`).
    pub fn builtin() -> Result<&'static Catalogs, Diagnostic> {
        BUILTIN_CATALOGS.as_ref().map_err(Clone::clone)
    }

    /// The built-in catalogs extended by a project's `providers/<name>.yaml` documents:
    /// a file for a built-in provider adds to it (regions, names, vocabulary, vars; its
    /// entries win), a file for a new name adds a provider.
    pub fn with_project(docs: &[(Arc<str>, Node)]) -> Result<Catalogs, Diagnostic> {
        let mut out = Self::builtin()?.clone();
        for (path, node) in docs {
            let cat = parse_catalog(node, path, path)?;
            match out.by_name.get(&cat.name) {
                Some(base) => {
                    let mut merged = (**base).clone();
                    for r in cat.regions {
                        merged.regions.retain(|x| x.name != r.name);
                        merged.regions.push(r);
                    }
                    for (k, v) in cat.vars.iter() {
                        merged.vars.insert(k.clone(), v.clone());
                    }
                    merged.names.extend(cat.names);
                    if cat.tags.is_some() {
                        merged.tags = cat.tags;
                    }
                    for (kind, words) in cat.vocabulary {
                        merged.vocabulary.entry(kind).or_default().extend(words);
                    }
                    merged.instance_sizes.extend(cat.instance_sizes);
                    merged.source = format!("built-in + {path}");
                    out.by_name.insert(merged.name.clone(), Arc::new(merged));
                }
                None => {
                    out.by_name.insert(cat.name.clone(), Arc::new(cat));
                }
            }
        }
        Ok(out)
    }

    /// The catalog of `provider`.
    pub fn get(&self, provider: &str) -> Option<&Catalog> {
        self.by_name.get(provider).map(|c| &**c)
    }

    /// Every catalog, by name.
    pub fn all(&self) -> impl Iterator<Item = &Catalog> {
        self.by_name.values().map(|c| &**c)
    }

    /// The providers whose catalogs list `region`.
    pub fn owners_of_region(&self, region: &str) -> Vec<&str> {
        self.all()
            .filter(|c| c.region(region).is_some())
            .map(|c| c.name.as_str())
            .collect()
    }

    /// Whether `format` is a Strata provider format (checked by [`Catalogs::check_format`]).
    pub fn knows_format(&self, format: &str) -> bool {
        if matches!(format, "cloud-region" | "instance-size") {
            return true;
        }
        self.all().any(|c| {
            format
                .strip_prefix(c.name.as_str())
                .and_then(|r| r.strip_prefix('-'))
                .is_some_and(|rest| {
                    rest == "region"
                        || c.names.contains_key(rest)
                        || c.tags.as_ref().is_some_and(|t| {
                            rest == format!("{}-key", t.word) || rest == format!("{}-value", t.word)
                        })
                })
        })
    }

    /// Checks `value` against a Strata format. `provider` is the target's provider (for
    /// `cloud-region` and `instance-size`). `None` when `format` is not a Strata format.
    pub fn check_format(
        &self,
        format: &str,
        value: &str,
        provider: &str,
    ) -> Option<Result<(), String>> {
        match format {
            "cloud-region" => return Some(self.check_region(provider, value)),
            "instance-size" => {
                let cat = self.get(provider)?;
                return Some(if cat.is_instance_size(value) {
                    Ok(())
                } else {
                    Err(format!("`{value}` is not a {} instance size", cat.display))
                });
            }
            _ => {}
        }
        for cat in self.all() {
            let Some(rest) = format
                .strip_prefix(cat.name.as_str())
                .and_then(|r| r.strip_prefix('-'))
            else {
                continue;
            };
            if rest == "region" {
                return Some(self.check_region(&cat.name, value));
            }
            if let Some(rule) = cat.names.get(rest) {
                return Some(rule.check(value));
            }
            if let Some(tags) = &cat.tags {
                if rest == format!("{}-key", tags.word) {
                    return Some(tags.key.check(value));
                }
                if rest == format!("{}-value", tags.word) {
                    return Some(tags.value.check(value));
                }
            }
        }
        None
    }

    fn check_region(&self, provider: &str, region: &str) -> Result<(), String> {
        let Some(cat) = self.get(provider) else {
            return Err(format!(
                "provider `{provider}` has no catalog to check regions against"
            ));
        };
        if cat.region(region).is_some() {
            return Ok(());
        }
        let owners = self.owners_of_region(region);
        Err(if owners.is_empty() {
            format!("`{region}` is not a {} region", cat.display)
        } else {
            format!(
                "`{region}` is a region of {}, not of {}",
                owners.join(", "),
                cat.name
            )
        })
    }

    /// Checks a tag/label map against `provider`'s rules; one message per problem.
    pub fn check_tags(&self, provider: &str, tags: &Map) -> Vec<(Option<String>, String)> {
        let Some(rules) = self.get(provider).and_then(|c| c.tags.as_ref()) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if let Some(max) = rules.max_count
            && tags.len() > max
        {
            out.push((
                None,
                format!(
                    "{} {}s, more than the {max} {provider} allows",
                    tags.len(),
                    rules.word
                ),
            ));
        }
        for (k, v) in tags.iter() {
            if let Err(e) = rules.key.check(k) {
                out.push((
                    Some(k.to_string()),
                    format!("{} key `{k}`: {e}", rules.word),
                ));
            }
            let text = match &v.value {
                Value::Str(s) => s.to_string(),
                Value::Int(_) | Value::Float(_) | Value::Bool(_) => v.value.to_string(),
                other => {
                    out.push((
                        Some(k.to_string()),
                        format!(
                            "{} `{k}` must be a string, not {}",
                            rules.word,
                            other.a_type_name()
                        ),
                    ));
                    continue;
                }
            };
            if let Err(e) = rules.value.check(&text) {
                out.push((Some(k.to_string()), format!("{} `{k}`: {e}", rules.word)));
            }
        }
        out
    }

    /// The value of `${KIND:NAME}` for `provider`; the error lists what exists.
    pub fn vocabulary(&self, provider: &str, kind: &str, name: &str) -> Result<Value, String> {
        let cat = self.get(provider).ok_or_else(|| {
            format!("provider `{provider}` has no catalog, so `${{{kind}:{name}}}` has no value")
        })?;
        let words = cat.vocabulary.get(kind).ok_or_else(|| {
            format!(
                "unknown vocabulary `{kind}`; {} knows: {}",
                cat.name,
                cat.vocabulary
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        words.get(name).cloned().ok_or_else(|| {
            format!(
                "unknown {kind} `{name}`; known: {}",
                words.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })
    }
}

fn parse_catalog(node: &Node, path: &Arc<str>, source: &str) -> Result<Catalog, Diagnostic> {
    let err = |loc: Loc, msg: String| {
        Diagnostic::new(DiagKind::Project, path.clone(), loc.line, loc.col, msg)
    };
    let m = node
        .value
        .as_map()
        .ok_or_else(|| err(node.loc, "a provider catalog must be a mapping".into()))?;
    for (k, v) in m.iter() {
        if !matches!(
            &**k,
            "name"
                | "display"
                | "regions"
                | "vars"
                | "names"
                | "tags"
                | "vocabulary"
                | "instance_sizes"
        ) {
            return Err(err(
                v.loc,
                format!(
                    "unknown key `{k}` in a provider catalog; known: name, display, regions, vars, names, tags, vocabulary, instance_sizes"
                ),
            ));
        }
    }
    let string = |n: Option<&Node>, what: &str, at: Loc| -> Result<String, Diagnostic> {
        match n.map(|n| &n.value) {
            Some(Value::Str(s)) => Ok(s.to_string()),
            _ => Err(err(
                n.map_or(at, |n| n.loc),
                format!("`{what}` must be a string"),
            )),
        }
    };
    let name = string(m.get("name"), "name", node.loc)?;
    let display = m
        .get("display")
        .map_or(Ok(name.clone()), |n| string(Some(n), "display", n.loc))?;
    let mut regions = Vec::new();
    if let Some(Node {
        value: Value::List(items),
        ..
    }) = m.get("regions")
    {
        for item in items {
            let rm = item
                .value
                .as_map()
                .ok_or_else(|| err(item.loc, "a region must be a mapping with a name".into()))?;
            let rname = string(rm.get("name"), "regions[].name", item.loc)?;
            let zones = match rm.get("zones").map(|n| &n.value) {
                Some(Value::List(z)) => z
                    .iter()
                    .map(|n| match &n.value {
                        Value::Str(s) => s.to_string(),
                        other => other.to_string(),
                    })
                    .collect(),
                _ => Vec::new(),
            };
            regions.push(Region {
                display: rm
                    .get("display")
                    .map_or(Ok(rname.clone()), |n| string(Some(n), "display", n.loc))?,
                name: rname,
                zones,
            });
        }
    }
    let vars = match m.get("vars") {
        Some(Node {
            value: Value::Map(v),
            ..
        }) => (**v).clone(),
        Some(n) => return Err(err(n.loc, "`vars` must be a mapping".into())),
        None => new_map(),
    };
    let mut names = BTreeMap::new();
    if let Some(n) = m.get("names") {
        let nm = n
            .value
            .as_map()
            .ok_or_else(|| err(n.loc, "`names` must be a mapping of kind → rule".into()))?;
        for (kind, rule) in nm.iter() {
            names.insert(kind.to_string(), name_rule(rule, kind, &err)?);
        }
    }
    let tags = match m.get("tags") {
        None => None,
        Some(t) => {
            let tm = t
                .value
                .as_map()
                .ok_or_else(|| err(t.loc, "`tags` must be a mapping".into()))?;
            let word = tm
                .get("word")
                .and_then(|w| w.value.as_str())
                .unwrap_or("tag")
                .to_string();
            let max_count = match tm.get("max_count").map(|n| &n.value) {
                Some(Value::Int(i)) if *i > 0 => Some(*i as usize),
                None => None,
                _ => {
                    return Err(err(
                        t.loc,
                        "`tags.max_count` must be a positive integer".into(),
                    ));
                }
            };
            let key = tm
                .get("key")
                .ok_or_else(|| err(t.loc, "`tags` needs `key` rules".into()))?;
            let value = tm
                .get("value")
                .ok_or_else(|| err(t.loc, "`tags` needs `value` rules".into()))?;
            Some(TagRules {
                key: name_rule(key, &format!("{word} key"), &err)?,
                value: name_rule(value, &format!("{word} value"), &err)?,
                word,
                max_count,
            })
        }
    };
    let mut vocabulary = BTreeMap::new();
    if let Some(n) = m.get("vocabulary") {
        let vm = n.value.as_map().ok_or_else(|| {
            err(
                n.loc,
                "`vocabulary` must be a mapping of kind → names".into(),
            )
        })?;
        for (kind, words) in vm.iter() {
            let wm = words.value.as_map().ok_or_else(|| {
                err(
                    words.loc,
                    format!("vocabulary `{kind}` must be a mapping of name → value"),
                )
            })?;
            vocabulary.insert(
                kind.to_string(),
                wm.iter()
                    .map(|(k, v)| (k.to_string(), v.value.clone()))
                    .collect(),
            );
        }
    }
    let instance_sizes = match m.get("instance_sizes").map(|n| &n.value) {
        Some(Value::List(items)) => items
            .iter()
            .filter_map(|i| i.value.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    Ok(Catalog {
        name,
        display,
        regions,
        vars,
        names,
        tags,
        vocabulary,
        instance_sizes,
        source: source.to_string(),
    })
}

fn name_rule(
    node: &Node,
    kind: &str,
    err: &dyn Fn(Loc, String) -> Diagnostic,
) -> Result<NameRule, Diagnostic> {
    let m = node
        .value
        .as_map()
        .ok_or_else(|| err(node.loc, format!("the rule for `{kind}` must be a mapping")))?;
    let int = |key: &str, default: usize| -> Result<usize, Diagnostic> {
        match m.get(key).map(|n| &n.value) {
            None => Ok(default),
            Some(Value::Int(i)) if *i >= 0 => Ok(*i as usize),
            Some(_) => Err(err(
                m[key].loc,
                format!("`{key}` of `{kind}` must be a non-negative integer"),
            )),
        }
    };
    let regex = |n: &Node, what: &str| -> Result<LazyRegex, Diagnostic> {
        let s = n
            .value
            .as_str()
            .ok_or_else(|| err(n.loc, format!("the {what} of `{kind}` must be a string")))?;
        LazyRegex::new(s).map_err(|e| err(n.loc, format!("invalid regex in `{kind}`: {e}")))
    };
    let pattern = m.get("pattern").map(|n| regex(n, "pattern")).transpose()?;
    let mut rules = Vec::new();
    if let Some(Node {
        value: Value::List(items),
        ..
    }) = m.get("rules")
    {
        for item in items {
            let im = item.value.as_map().ok_or_else(|| {
                err(
                    item.loc,
                    "a rule must be {forbid: REGEX, reason: TEXT}".into(),
                )
            })?;
            let forbid = im
                .get("forbid")
                .ok_or_else(|| err(item.loc, "a rule needs `forbid`".into()))?;
            rules.push(Forbid {
                pattern: regex(forbid, "forbid")?,
                reason: im
                    .get("reason")
                    .and_then(|r| r.value.as_str())
                    .unwrap_or("a forbidden pattern")
                    .to_string(),
            });
        }
    }
    Ok(NameRule {
        description: m
            .get("description")
            .and_then(|d| d.value.as_str())
            .unwrap_or(kind)
            .to_string(),
        min: int("min", 1)?,
        max: int("max", usize::MAX)?,
        pattern,
        rules,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cats() -> &'static Catalogs {
        Catalogs::builtin().expect("the built-in catalogs parse")
    }

    #[test]
    fn builtin_catalogs_have_real_data() {
        for p in ["aws", "azure", "gcp", "mock"] {
            let c = cats().get(p).unwrap();
            assert!(!c.regions.is_empty(), "{p}");
            assert!(c.tags.is_some(), "{p}");
        }
        assert!(cats().get("aws").unwrap().region("us-east-1").is_some());
        assert!(cats().get("azure").unwrap().region("westeurope").is_some());
        assert!(cats().get("gcp").unwrap().region("europe-west1").is_some());
        assert_eq!(cats().owners_of_region("eastus"), vec!["azure"]);
    }

    #[test]
    fn the_same_vocabulary_in_every_cloud() {
        let kinds = |p: &str| -> Vec<(String, Vec<String>)> {
            cats()
                .get(p)
                .unwrap()
                .vocabulary
                .iter()
                .map(|(k, w)| (k.clone(), w.keys().cloned().collect()))
                .collect()
        };
        assert_eq!(kinds("aws"), kinds("azure"));
        assert_eq!(kinds("aws"), kinds("gcp"));
        let v = |p: &str| cats().vocabulary(p, "size", "medium").unwrap();
        assert_eq!(v("aws"), Value::Str("t3.medium".into()));
        assert_eq!(v("azure"), Value::Str("Standard_D2s_v5".into()));
        assert_eq!(v("gcp"), Value::Str("e2-standard-2".into()));
        let e = cats().vocabulary("aws", "size", "huge").unwrap_err();
        assert!(
            e.contains("unknown size `huge`") && e.contains("medium"),
            "{e}"
        );
        assert!(
            cats()
                .vocabulary("aws", "flavour", "x")
                .unwrap_err()
                .contains("unknown vocabulary")
        );
        assert!(cats().vocabulary("nope", "size", "x").is_err());
    }

    #[test]
    fn formats_check_names_and_regions() {
        let ok = |f: &str, v: &str, p: &str| cats().check_format(f, v, p).unwrap().is_ok();
        assert!(ok("aws-s3-bucket-name", "my-bucket.logs", "aws"));
        assert!(!ok("aws-s3-bucket-name", "My_Bucket", "aws"));
        assert!(!ok("aws-s3-bucket-name", "a..b", "aws"));
        assert!(ok("azure-storage-account-name", "acmeprodlogs01", "azure"));
        assert!(!ok("azure-storage-account-name", "acme-prod", "azure"));
        assert!(ok("gcp-project-id", "acme-prod-123", "gcp"));
        assert!(!ok("gcp-label-value", "Has-Upper", "gcp"));
        assert!(ok("cloud-region", "us-east-1", "aws"));
        let e = cats()
            .check_format("cloud-region", "eastus", "aws")
            .unwrap()
            .unwrap_err();
        assert!(e.contains("azure"), "names the provider it belongs to: {e}");
        assert!(ok("instance-size", "t3.medium", "aws"));
        assert!(!ok("instance-size", "t3.medium", "gcp"));
        assert!(ok("aws-tag-key", "team", "aws"));
        assert!(!ok("aws-tag-key", "aws:reserved", "aws"));
        assert!(
            cats().check_format("email", "x", "aws").is_none(),
            "standard formats are jsonschema's"
        );
        assert!(cats().knows_format("gcp-label-key") && cats().knows_format("cloud-region"));
        assert!(!cats().knows_format("hostname"));
    }

    #[test]
    fn tag_maps_follow_the_provider_rules() {
        let mut m = new_map();
        m.insert(
            "aws:secret".into(),
            Node::new(Value::Str("x".into()), Loc::default()),
        );
        m.insert(
            "team".into(),
            Node::new(Value::Str("x".repeat(300).into()), Loc::default()),
        );
        m.insert(
            "list".into(),
            Node::new(Value::List(vec![]), Loc::default()),
        );
        let found = cats().check_tags("aws", &m);
        assert_eq!(found.len(), 3, "{found:?}");
        let mut m = new_map();
        m.insert(
            "Team".into(),
            Node::new(Value::Str("payments".into()), Loc::default()),
        );
        let found = cats().check_tags("gcp", &m);
        assert_eq!(found.len(), 1, "GCP label keys are lower case: {found:?}");
        assert!(cats().check_tags("nope", &m).is_empty());
    }

    #[test]
    fn project_files_extend_and_add_providers() {
        let parse = |t: &str| {
            let path: Arc<str> = Arc::from("providers/x.yaml");
            (
                path.clone(),
                parse_document(
                    &path,
                    FileId(0),
                    t.as_bytes(),
                    Format::Yaml,
                    ParseOptions { templates: false },
                )
                .unwrap(),
            )
        };
        let c = Catalogs::with_project(&[
            parse("name: onprem\ndisplay: On-prem\nregions: [{name: dc-1, zones: [a]}]\nvocabulary: {size: {medium: vm.m}}\n"),
            parse("name: aws\nregions: [{name: us-iso-east-1}]\nvocabulary: {size: {mega: t3.mega}}\n"),
        ])
        .unwrap();
        assert!(c.get("onprem").unwrap().region("dc-1").is_some());
        assert_eq!(
            c.vocabulary("onprem", "size", "medium").unwrap(),
            Value::Str("vm.m".into())
        );
        let aws = c.get("aws").unwrap();
        assert!(aws.region("us-iso-east-1").is_some() && aws.region("us-east-1").is_some());
        assert!(aws.source.contains("providers/x.yaml"));
        assert_eq!(
            c.vocabulary("aws", "size", "mega").unwrap(),
            Value::Str("t3.mega".into())
        );
        assert_eq!(
            c.vocabulary("aws", "size", "medium").unwrap(),
            Value::Str("t3.medium".into())
        );
        let bad = Catalogs::with_project(&[parse("name: x\nbogus: 1\n")]).unwrap_err();
        assert!(bad.message.contains("unknown key `bogus`"));
        let bad = Catalogs::with_project(&[parse("name: x\nnames: {k: {pattern: \"(\"}}\n")])
            .unwrap_err();
        assert!(bad.message.contains("invalid regex"));
    }

    proptest! {
        #[test]
        fn every_catalog_name_round_trips_through_its_format(seed in 0usize..10_000) {
            for c in cats().all() {
                let r = &c.regions[seed % c.regions.len()];
                let format = format!("{}-region", c.name);
                prop_assert_eq!(cats().check_format(&format, &r.name, "aws"), Some(Ok(())));
                prop_assert_eq!(cats().check_format("cloud-region", &r.name, &c.name), Some(Ok(())));
                for (name, v) in cats().get(&c.name).unwrap().vocabulary.get("size").into_iter().flatten() {
                    let size = v.as_str().unwrap_or_default();
                    prop_assert!(c.is_instance_size(size), "{} {} {}", c.name, name, size);
                }
            }
        }

        #[test]
        fn reserved_prefixes_are_refused_naming_the_rule(body in "[a-z][a-z0-9]{4,8}") {
            for (format, provider, prefix) in [
                ("aws-s3-bucket-name", "aws", "xn--"),
                ("aws-tag-key", "aws", "aws:"),
                ("gcp-bucket-name", "gcp", "goog"),
                ("mock-tag-key", "mock", "mock:"),
            ] {
                let name = format!("{prefix}{body}");
                let message = cats().check_format(format, &name, provider).unwrap().unwrap_err();
                prop_assert!(
                    message.contains("prefix") || message.contains(prefix.trim_end_matches(':')) || message.contains("must not"),
                    "{format} {name}: {message}"
                );
                // Without the prefix the same body passes.
                prop_assert_eq!(cats().check_format(format, &format!("ab{body}"), provider), Some(Ok(())));
            }
        }

        #[test]
        fn invalid_names_are_refused_naming_the_rule(
            provider in prop::sample::select(vec!["aws", "azure", "gcp", "mock"]),
            pick in 0usize..100,
            how in 0u8..3,
        ) {
            let c = cats().get(provider).unwrap();
            let (kind, rule) = c.names.iter().nth(pick % c.names.len()).unwrap();
            let (bad, words) = match how {
                // Too long or too short.
                0 if rule.max < 1000 => ("a".repeat(rule.max + 1), "at most"),
                0 => (String::new(), "at least"),
                // Characters outside the shape (or a forbidden pattern).
                1 => ("#".repeat(rule.min.max(1)), if rule.pattern.is_some() { "must match" } else { "" }),
                // Too short where a minimum exists above one; else empty.
                _ => (String::new(), "at least"),
            };
            let format = format!("{provider}-{kind}");
            let result = cats().check_format(&format, &bad, provider).unwrap();
            if rule.min == 0 && bad.is_empty() {
                return Ok(());
            }
            let message = result.unwrap_err();
            prop_assert!(message.contains(&rule.description), "{message}");
            prop_assert!(message.contains(words) || rule.rules.iter().any(|f| message.contains(&f.reason)), "{message}");
        }
    }
}
