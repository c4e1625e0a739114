//! Application-compatibility contracts: `contracts/<service>.yaml` says, for semver ranges of
//! the application, which parameters it requires, which it no longer reads, extra CEL rules,
//! and pre-deploy hook commands.
//!
//! ```yaml
//! contracts:
//!   - versions: ">=4.18.0, <5.0.0"
//!     requires: [db.host, db.pool.max_size]
//!     unused: [legacy.retry_budget]
//!     rules:
//!       - rule: "self.db.pool.max_size >= 10"
//!         message: "checkout 4.18 needs a pool of at least 10"
//!     hooks:
//!       - command: ["python3", "hooks/check.py"]
//!         timeout: 10s
//! ```
//!
//! Hooks are only described here; running them is I/O, done by the caller.

use std::sync::Arc;
use std::time::Duration;

use super::cel::{CelRule, Outcome};
use super::report::{Finding, Severity, SourceLoc};
use super::schema::{UnitInfo, parse_rule};
use crate::files::FileTable;
use crate::path::{Segment, parse_segments, segments_to_string};
use crate::value::{Loc, Node, Value};

/// A pre-deploy hook: a command that receives the effective configuration as JSON on stdin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// Program and arguments, run from the project directory.
    pub command: Vec<String>,
    /// How long it may run.
    pub timeout: Duration,
    /// Where it is declared.
    pub loc: SourceLoc,
}

/// The contract of one range of application versions.
#[derive(Debug, Clone)]
pub struct Contract {
    /// Which versions it covers.
    pub versions: semver::VersionReq,
    /// Parameters the application reads (missing → error).
    pub requires: Vec<(Vec<Segment>, Loc)>,
    /// Parameters it no longer reads (set → warning).
    pub unused: Vec<(Vec<Segment>, Loc)>,
    /// Extra rules, `self` = the whole configuration.
    pub rules: Vec<CelRule>,
    /// Pre-deploy hooks.
    pub hooks: Vec<Hook>,
}

/// All contracts of one service.
#[derive(Debug, Clone)]
pub struct Contracts {
    /// The service.
    pub service: String,
    /// Project-relative path of the file.
    pub path: Arc<str>,
    /// In file order; the first whose range matches applies.
    pub contracts: Vec<Contract>,
    /// Where the `contracts:` list is (for "no contract covers this version").
    pub loc: Loc,
}

fn err(path: &Arc<str>, loc: Loc, message: impl Into<String>, hint: &str) -> Box<Finding> {
    let location = Some(SourceLoc {
        path: path.to_string(),
        line: loc.line,
        col: loc.col,
    });
    let finding = Finding {
        severity: Severity::Error,
        rule: "contract/invalid".into(),
        service: String::new(),
        target: None,
        param: None,
        message: message.into(),
        hint: Some(hint.into()),
        location,
    };
    Box::new(finding)
}

/// Parses `30s`, `500ms`, `2m` or a number of seconds.
pub fn parse_duration(v: &Value) -> Option<Duration> {
    match v {
        Value::Int(i) if *i > 0 => Some(Duration::from_secs(*i as u64)),
        Value::Str(s) => {
            let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
            let n: u64 = num.parse().ok()?;
            match unit {
                "ms" => Some(Duration::from_millis(n)),
                "s" => Some(Duration::from_secs(n)),
                "m" => Some(Duration::from_secs(n * 60)),
                _ => None,
            }
        }
        _ => None,
    }
}

impl Contracts {
    /// Reads a contracts document; every problem is a located finding.
    pub fn parse(service: &str, path: Arc<str>, root: &Node) -> Result<Contracts, Vec<Finding>> {
        let mut problems = Vec::new();
        let mut contracts = Vec::new();
        let list = root.value.as_map().and_then(|m| m.get("contracts"));
        let Some(Node {
            value: Value::List(items),
            ..
        }) = list
        else {
            return Err(vec![*err(
                &path,
                root.loc,
                "a contracts file needs a `contracts:` list",
                "see docs/validation.md",
            )]);
        };
        for item in items {
            match Self::one(&path, item) {
                Ok(c) => contracts.push(c),
                Err(f) => problems.push(*f),
            }
        }
        for p in &mut problems {
            p.service = service.to_string();
        }
        if problems.is_empty() {
            let loc = list.map_or(root.loc, |n| n.loc);
            Ok(Contracts {
                service: service.to_string(),
                path,
                contracts,
                loc,
            })
        } else {
            Err(problems)
        }
    }

    fn one(path: &Arc<str>, item: &Node) -> Result<Contract, Box<Finding>> {
        let Some(m) = item.value.as_map() else {
            return Err(err(
                path,
                item.loc,
                "a contract must be a map",
                "write `- versions: \">=1.0, <2\"`",
            ));
        };
        for (k, v) in m.iter() {
            if !matches!(&**k, "versions" | "requires" | "unused" | "rules" | "hooks") {
                return Err(err(
                    path,
                    v.loc,
                    format!("unknown key `{k}` in a contract"),
                    "known keys: versions, requires, unused, rules, hooks",
                ));
            }
        }
        let versions_node = m.get("versions").ok_or_else(|| {
            err(
                path,
                item.loc,
                "a contract needs `versions`",
                "e.g. `versions: \">=2.4, <3\"`",
            )
        })?;
        let text = versions_node.value.as_str().unwrap_or_default();
        // Accept the space-separated form (`>=2.4 <3`) as well as semver's comma form.
        let normalized = text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(", ")
            .replace(",,", ",");
        let versions = semver::VersionReq::parse(&normalized).map_err(|e| {
            err(
                path,
                versions_node.loc,
                format!("invalid version range `{text}`: {e}"),
                "write e.g. \">=2.4, <3\"",
            )
        })?;
        let params = |key: &str| -> Result<Vec<(Vec<Segment>, Loc)>, Box<Finding>> {
            let Some(n) = m.get(key) else {
                return Ok(Vec::new());
            };
            let Value::List(items) = &n.value else {
                return Err(err(
                    path,
                    n.loc,
                    format!("`{key}` must be a list of parameter paths"),
                    "e.g. [db.host, db.port]",
                ));
            };
            items
                .iter()
                .map(|i| {
                    let s = i.value.as_str().ok_or_else(|| {
                        err(
                            path,
                            i.loc,
                            "a parameter path must be a string",
                            "e.g. db.pool.max_size",
                        )
                    })?;
                    parse_segments(s)
                        .map(|segs| (segs, i.loc))
                        .map_err(|e| err(path, i.loc, e.to_string(), "e.g. db.pool.max_size"))
                })
                .collect()
        };
        let requires = params("requires")?;
        let unused = params("unused")?;
        let mut rules = Vec::new();
        if let Some(n) = m.get("rules") {
            let Value::List(items) = &n.value else {
                return Err(err(
                    path,
                    n.loc,
                    "`rules` must be a list",
                    "e.g. - rule: \"self.a > 1\"",
                ));
            };
            for i in items {
                rules.push(parse_rule(i).map_err(|(loc, msg)| {
                    err(
                        path,
                        loc,
                        msg,
                        "rules are CEL over `self` (the configuration)",
                    )
                })?);
            }
        }
        let mut hooks = Vec::new();
        if let Some(n) = m.get("hooks") {
            let Value::List(items) = &n.value else {
                return Err(err(
                    path,
                    n.loc,
                    "`hooks` must be a list",
                    "e.g. - command: [\"./check.sh\"]",
                ));
            };
            for i in items {
                let hm = i.value.as_map().ok_or_else(|| {
                    err(
                        path,
                        i.loc,
                        "a hook must be a map with `command`",
                        "e.g. {command: [\"./check.sh\"], timeout: 10s}",
                    )
                })?;
                let command: Vec<String> = match hm.get("command").map(|c| &c.value) {
                    Some(Value::List(args)) => args
                        .iter()
                        .filter_map(|a| a.value.as_str().map(str::to_string))
                        .collect(),
                    Some(Value::Str(s)) => vec!["sh".into(), "-c".into(), s.to_string()],
                    _ => Vec::new(),
                };
                if command.is_empty() {
                    return Err(err(
                        path,
                        i.loc,
                        "a hook needs a `command` (a list of strings, or a shell line)",
                        "e.g. command: [\"python3\", \"hooks/check.py\"]",
                    ));
                }
                let timeout = match hm.get("timeout") {
                    None => Duration::from_secs(30),
                    Some(t) => parse_duration(&t.value).ok_or_else(|| {
                        err(
                            path,
                            t.loc,
                            "invalid hook timeout",
                            "write e.g. 10s, 500ms or 2m",
                        )
                    })?,
                };
                hooks.push(Hook {
                    command,
                    timeout,
                    loc: SourceLoc {
                        path: path.to_string(),
                        line: i.loc.line,
                        col: i.loc.col,
                    },
                });
            }
        }
        Ok(Contract {
            versions,
            requires,
            unused,
            rules,
            hooks,
        })
    }

    /// The contract covering `version`, if any.
    pub fn for_version(&self, version: &semver::Version) -> Option<&Contract> {
        self.contracts.iter().find(|c| c.versions.matches(version))
    }

    /// Checks one configuration against the contract for `version`.
    pub fn check(
        &self,
        version: &semver::Version,
        eff: &Node,
        unit: UnitInfo<'_>,
        files: &FileTable,
    ) -> Vec<Finding> {
        let here = |loc: Loc, path: &str| SourceLoc {
            path: path.to_string(),
            line: loc.line,
            col: loc.col,
        };
        let finding = |severity,
                       rule: &str,
                       param: Option<String>,
                       message: String,
                       hint: String,
                       location| Finding {
            severity,
            rule: rule.into(),
            service: self.service.clone(),
            target: Some(unit.target.to_string()),
            param,
            message,
            hint: Some(hint),
            location,
        };
        let Some(contract) = self.for_version(version) else {
            return vec![finding(
                Severity::Error,
                "contract/version",
                None,
                format!(
                    "no contract in {} covers {} {version}",
                    self.path, self.service
                ),
                "add a contract whose `versions` range includes this version".into(),
                Some(here(self.loc, &self.path)),
            )];
        };
        let mut out = Vec::new();
        for (p, loc) in &contract.requires {
            if eff.get(p).is_none() {
                out.push(finding(
                    Severity::Error,
                    "contract/required",
                    Some(segments_to_string(p)),
                    format!(
                        "{} {version} requires `{}`, which is not set",
                        self.service,
                        segments_to_string(p)
                    ),
                    "set it in a layer, or deploy a version that does not need it".into(),
                    Some(here(*loc, &self.path)),
                ));
            }
        }
        for (p, _) in &contract.unused {
            if let Some(node) = eff.get(p) {
                out.push(finding(
                    Severity::Warning,
                    "contract/unused",
                    Some(segments_to_string(p)),
                    format!(
                        "{} {version} no longer reads `{}`",
                        self.service,
                        segments_to_string(p)
                    ),
                    "remove it from the layer that sets it".into(),
                    (node.loc.line > 0).then(|| here(node.loc, &files.path(node.loc.file))),
                ));
            }
        }
        for rule in &contract.rules {
            let outcome = rule.eval(&eff.value, None, unit.vars);
            let message = match outcome {
                Outcome::Pass => continue,
                Outcome::Fail => rule.failure_message(),
                Outcome::Error(e) => format!("rule `{}` could not be evaluated: {e}", rule.source),
            };
            out.push(finding(
                Severity::Error,
                "contract/rule",
                rule.field_path
                    .clone()
                    .map(|f| f.trim_start_matches('.').to_string()),
                message,
                format!(
                    "rule `{}` for {} {}",
                    rule.source, self.service, contract.versions
                ),
                Some(here(rule.loc, &self.path)),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::doc;

    const CONTRACTS: &str = r#"contracts:
  - versions: ">=2.4 <3"
    requires: [db.host, db.pool.max]
    unused: [legacy.retries]
    rules:
      - rule: "self.db.pool.max >= 10"
        message: "2.4 needs a pool of at least 10"
    hooks:
      - command: ["python3", "hooks/check.py"]
        timeout: 5s
      - command: "exit 0"
  - versions: "<2.4"
    requires: [db.host]
"#;

    use crate::test_support::UNIT;

    fn v(s: &str) -> semver::Version {
        semver::Version::parse(s).unwrap()
    }

    #[test]
    fn picks_the_contract_for_the_version_and_checks_it() {
        let files = FileTable::new();
        let c = Contracts::parse(
            "svc",
            Arc::from("contracts/svc.yaml"),
            &doc(&files, "contracts/svc.yaml", CONTRACTS),
        )
        .unwrap();
        assert_eq!(c.for_version(&v("2.4.1")).unwrap().hooks.len(), 2);
        assert_eq!(
            c.for_version(&v("2.4.1")).unwrap().hooks[0].timeout,
            Duration::from_secs(5)
        );
        assert_eq!(
            c.for_version(&v("2.4.1")).unwrap().hooks[1].command,
            ["sh", "-c", "exit 0"]
        );
        assert!(c.for_version(&v("3.0.0")).is_none());

        let eff = doc(
            &files,
            "layers/base/svc.yaml",
            "db: {pool: {max: 5}}\nlegacy: {retries: 3}\n",
        );
        let f = c.check(&v("2.4.1"), &eff, UNIT, &files);
        let got: Vec<_> = f.iter().map(|f| (f.rule.as_str(), f.severity)).collect();
        assert_eq!(
            got,
            vec![
                ("contract/required", Severity::Error),
                ("contract/unused", Severity::Warning),
                ("contract/rule", Severity::Error)
            ]
        );
        assert_eq!(
            f[0].location.as_ref().unwrap().to_string(),
            "contracts/svc.yaml:3:16"
        );
        assert_eq!(
            f[1].location.as_ref().unwrap().to_string(),
            "layers/base/svc.yaml:2:19"
        );
        assert_eq!(f[2].message, "2.4 needs a pool of at least 10");

        let old = c.check(&v("2.3.0"), &eff, UNIT, &files);
        assert_eq!(old.len(), 1, "only db.host is required before 2.4: {old:?}");
        let none = c.check(&v("3.1.0"), &eff, UNIT, &files);
        assert_eq!(none[0].rule, "contract/version");
    }

    #[test]
    fn malformed_contracts_are_located() {
        let files = FileTable::new();
        for (text, line) in [
            ("contracts:\n  - versions: \"not a range\"\n", 2),
            ("contracts:\n  - requires: [a]\n", 2),
            ("contracts:\n  - versions: \"1\"\n    bogus: 1\n", 3),
            (
                "contracts:\n  - versions: \"1\"\n    requires: [\"a..b\"]\n",
                3,
            ),
            (
                "contracts:\n  - versions: \"1\"\n    rules: [{rule: \"self.a <\"}]\n",
                3,
            ),
            (
                "contracts:\n  - versions: \"1\"\n    hooks: [{timeout: 5s}]\n",
                3,
            ),
            (
                "contracts:\n  - versions: \"1\"\n    hooks: [{command: [x], timeout: soon}]\n",
                3,
            ),
            ("nothing: here\n", 1),
            ("contracts: [1]\n", 1),
            ("contracts:\n  - versions: \"1\"\n    requires: a\n", 3),
            ("contracts:\n  - versions: \"1\"\n    requires: [1]\n", 3),
            ("contracts:\n  - versions: \"1\"\n    rules: x\n", 3),
            ("contracts:\n  - versions: \"1\"\n    hooks: x\n", 3),
            ("contracts:\n  - versions: \"1\"\n    hooks: [1]\n", 3),
        ] {
            let e = Contracts::parse("svc", Arc::from("c.yaml"), &doc(&files, "c.yaml", text))
                .unwrap_err();
            assert_eq!(
                e[0].location.as_ref().unwrap().line,
                line,
                "{text}: {:?}",
                e[0]
            );
        }
    }

    #[test]
    fn a_rule_that_cannot_be_evaluated_is_a_finding() {
        let files = FileTable::new();
        let text = "contracts:\n  - versions: \">=1\"\n    rules: [{rule: \"self.nope > 1\", fieldPath: .nope}]\n";
        let c = Contracts::parse("svc", Arc::from("c.yaml"), &doc(&files, "c.yaml", text)).unwrap();
        let f = c.check(&v("1.0.0"), &doc(&files, "l.yaml", "a: 1\n"), UNIT, &files);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].message.contains("could not be evaluated"),
            "{}",
            f[0].message
        );
        assert_eq!(f[0].param.as_deref(), Some("nope"));
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration(&Value::Str("500ms".into())),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            parse_duration(&Value::Str("2m".into())),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_duration(&Value::Int(3)), Some(Duration::from_secs(3)));
        assert_eq!(parse_duration(&Value::Str("3h".into())), None);
        assert_eq!(parse_duration(&Value::Str("s".into())), None);
        assert_eq!(parse_duration(&Value::Int(0)), None);
    }
}
