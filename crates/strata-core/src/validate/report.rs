//! What a check finds: [`Finding`]s grouped per checked unit (target × service), the shape
//! every report format (text, JSON, JUnit, SARIF, Markdown, GitHub) is rendered from.

use std::fmt;

use serde::Serialize;

/// How serious a finding is. Ordered: `Info < Warning < Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; never fails a check.
    Info,
    /// Fails a check run with `--fail-on warning`.
    Warning,
    /// Fails a check.
    Error,
}

impl Severity {
    /// Lower-case name, as in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A place in a project file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct SourceLoc {
    /// Project-relative path, `/`-separated. A file of the base project (`--schema-base`)
    /// starts with `(base) `.
    pub path: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub col: u32,
}

impl fmt::Display for SourceLoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.path, self.line, self.col)
    }
}

/// One problem found by a check. Messages never contain secret values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// How serious it is.
    pub severity: Severity,
    /// The rule that found it, e.g. `schema/maximum`, `cel`, `secret/plaintext`,
    /// `contract/required`, `contract/unused`, `hook`, `schema-evolution/type-narrowed`.
    pub rule: String,
    /// The service concerned (empty for project-wide findings).
    pub service: String,
    /// `ENV/PROVIDER/REGION`, when the finding is about one target's configuration.
    pub target: Option<String>,
    /// The parameter path inside the service (`db.pool.max`), when there is one.
    pub param: Option<String>,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
    /// The layer file and line that set the offending value (or the schema line).
    pub location: Option<SourceLoc>,
}

impl Finding {
    /// `service:param` when both are known, else whichever is.
    pub fn address(&self) -> String {
        match &self.param {
            Some(p) if !self.service.is_empty() => format!("{}:{p}", self.service),
            Some(p) => p.clone(),
            None => self.service.clone(),
        }
    }
}

/// The configuration of one service for one target, as checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unit {
    /// `ENV/PROVIDER/REGION`.
    pub target: String,
    /// Environment of the target.
    pub env: String,
    /// Provider of the target.
    pub provider: String,
    /// The service.
    pub service: String,
    /// Whether the target's environment is protected (e.g. prod).
    pub protected: bool,
    /// What was found (empty when the unit passed).
    pub findings: Vec<Finding>,
}

/// Everything one `strata check` run found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// One entry per checked target × service, in target then service order.
    pub units: Vec<Unit>,
    /// Findings not tied to one target (schema compatibility, schema files).
    pub project: Vec<Finding>,
}

impl Report {
    /// Every finding, project-wide first.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.project
            .iter()
            .chain(self.units.iter().flat_map(|u| u.findings.iter()))
    }

    /// Number of findings at `severity` exactly.
    pub fn count(&self, severity: Severity) -> usize {
        self.findings().filter(|f| f.severity == severity).count()
    }

    /// Whether any finding is at or above `threshold` (the check's exit status).
    pub fn fails(&self, threshold: Severity) -> bool {
        self.findings().any(|f| f.severity >= threshold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(severity: Severity) -> Finding {
        Finding {
            severity,
            rule: "schema/maximum".into(),
            service: "checkout".into(),
            target: Some("prod/aws/us-east-1".into()),
            param: Some("db.pool.max".into()),
            message: "too big".into(),
            hint: None,
            location: Some(SourceLoc {
                path: "layers/base/checkout.yaml".into(),
                line: 3,
                col: 5,
            }),
        }
    }

    #[test]
    fn thresholds_and_counts() {
        let mut r = Report::default();
        assert!(!r.fails(Severity::Warning));
        r.project.push(finding(Severity::Warning));
        r.units.push(Unit {
            target: "prod/aws/us-east-1".into(),
            env: "prod".into(),
            provider: "aws".into(),
            service: "checkout".into(),
            protected: true,
            findings: vec![finding(Severity::Info)],
        });
        assert!(r.fails(Severity::Warning));
        assert!(!r.fails(Severity::Error));
        assert_eq!(r.count(Severity::Info), 1);
        assert_eq!(r.findings().count(), 2);
        assert_eq!(finding(Severity::Error).address(), "checkout:db.pool.max");
        assert_eq!(
            finding(Severity::Error).location.unwrap().to_string(),
            "layers/base/checkout.yaml:3:5"
        );
        assert!(Severity::Error > Severity::Warning);
        let names: Vec<String> = [Severity::Info, Severity::Warning, Severity::Error]
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(names, ["info", "warning", "error"]);
        let mut f = finding(Severity::Error);
        f.service = String::new();
        assert_eq!(f.address(), "db.pool.max");
        f.param = None;
        f.service = "checkout".into();
        assert_eq!(f.address(), "checkout");
    }
}
