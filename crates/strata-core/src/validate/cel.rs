//! CEL rules (`x-strata-validations`, contract rules), compiled once and evaluated with
//! `self` bound to a configuration node, like Kubernetes' `x-kubernetes-validations`.

use std::sync::{Arc, LazyLock};

use crate::value::{Loc, Value};

/// Longest accepted rule, in characters. The `cel` parser panics on some errors past
/// column 65,535; real rules are a line or two.
pub const MAX_RULE_LEN: usize = 4096;

/// The standard CEL environment, built once: building it costs more than evaluating a rule.
static STDLIB: LazyLock<Arc<cel::Env>> = LazyLock::new(|| Arc::new(cel::Env::stdlib()));

/// A compiled rule.
#[derive(Clone)]
pub struct CelRule {
    /// The expression as written.
    pub source: String,
    /// The message to show when the rule fails (defaults to the expression).
    pub message: Option<String>,
    /// The field the finding points at, relative to `self` (`.pool.min`).
    pub field_path: Option<String>,
    /// Whether the rule reads `oldSelf` (a transition rule: evaluated only with a base).
    pub transition: bool,
    /// Where the rule is written (schema or contract file).
    pub loc: Loc,
    program: Arc<cel::Program>,
}

impl std::fmt::Debug for CelRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CelRule")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// The variables a rule sees besides `self` and `oldSelf`.
#[derive(Debug, Clone, Copy)]
pub struct RuleEnv<'a> {
    /// Environment name.
    pub env: &'a str,
    /// Provider name.
    pub provider: &'a str,
    /// Region name.
    pub region: &'a str,
    /// Service name.
    pub service: &'a str,
}

/// How a rule evaluated.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `true`.
    Pass,
    /// `false`.
    Fail,
    /// It could not be evaluated (missing field, wrong type, non-boolean result).
    Error(String),
}

impl CelRule {
    /// Compiles `source`; the error text says what is wrong with the expression.
    pub fn compile(
        source: &str,
        message: Option<String>,
        field_path: Option<String>,
        loc: Loc,
    ) -> Result<CelRule, String> {
        if source.chars().count() > MAX_RULE_LEN {
            return Err(format!(
                "the rule is {} characters long; the limit is {MAX_RULE_LEN}",
                source.chars().count()
            ));
        }
        if source.trim().is_empty() {
            return Err("the rule is empty".into());
        }
        let program = cel::Program::compile(source).map_err(|e| {
            let text = e.to_string();
            text.lines().next().unwrap_or("syntax error").to_string()
        })?;
        let transition = program.references().has_variable("oldSelf");
        Ok(CelRule {
            source: source.to_string(),
            message,
            field_path,
            transition,
            loc,
            program: Arc::new(program),
        })
    }

    /// Evaluates the rule on `value` (and `old` for transition rules).
    pub fn eval(&self, value: &Value, old: Option<&Value>, vars: RuleEnv<'_>) -> Outcome {
        let mut ctx = cel::Context::with_env(STDLIB.clone());
        ctx.add_variable_from_value("self", to_cel(value));
        if let Some(old) = old {
            ctx.add_variable_from_value("oldSelf", to_cel(old));
        }
        ctx.add_variable_from_value("env", vars.env.to_string());
        ctx.add_variable_from_value("provider", vars.provider.to_string());
        ctx.add_variable_from_value("region", vars.region.to_string());
        ctx.add_variable_from_value("service", vars.service.to_string());
        match self.program.execute(&ctx) {
            Ok(cel::Value::Bool(true)) => Outcome::Pass,
            Ok(cel::Value::Bool(false)) => Outcome::Fail,
            Ok(other) => Outcome::Error(format!(
                "the rule returned {:?}, not true or false",
                other.type_of()
            )),
            Err(e) => Outcome::Error(e.to_string()),
        }
    }

    /// The text of a failure: the rule's message, or the rule itself.
    pub fn failure_message(&self) -> String {
        self.message
            .clone()
            .unwrap_or_else(|| format!("rule `{}` is not satisfied", self.source))
    }
}

/// Converts a configuration value to a CEL value (maps keep string keys).
pub fn to_cel(v: &Value) -> cel::Value {
    match v {
        Value::Null => cel::Value::Null,
        Value::Bool(b) => cel::Value::Bool(*b),
        Value::Int(i) => cel::Value::Int(*i),
        Value::Float(f) => cel::Value::Float(*f),
        Value::Str(s) => cel::Value::String(Arc::new(s.to_string())),
        Value::Template(t) => cel::Value::String(Arc::new(t.source.to_string())),
        Value::List(items) => {
            cel::Value::List(Arc::new(items.iter().map(|n| to_cel(&n.value)).collect()))
        }
        Value::Map(m) => {
            let map: std::collections::HashMap<String, cel::Value> = m
                .iter()
                .map(|(k, n)| (k.to_string(), to_cel(&n.value)))
                .collect();
            cel::Value::Map(map.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{Format, ParseOptions, parse_document};
    use crate::value::FileId;

    fn value(yaml: &str) -> Value {
        parse_document(
            &Arc::from("v"),
            FileId(0),
            yaml.as_bytes(),
            Format::Yaml,
            ParseOptions { templates: false },
        )
        .unwrap()
        .value
    }

    const VARS: RuleEnv<'static> = RuleEnv {
        env: "prod",
        provider: "aws",
        region: "us-east-1",
        service: "checkout",
    };

    fn rule(src: &str) -> CelRule {
        CelRule::compile(src, None, None, Loc::default()).unwrap()
    }

    #[test]
    fn evaluates_against_self_and_variables() {
        let v = value("pool: {min: 2, max: 10}\nreplicas: 2\n");
        assert_eq!(
            rule("self.pool.min <= self.pool.max").eval(&v, None, VARS),
            Outcome::Pass
        );
        assert_eq!(
            rule("env != 'prod' || self.replicas >= 3").eval(&v, None, VARS),
            Outcome::Fail
        );
        assert_eq!(
            rule("provider == 'aws' && region.startsWith('us-') && service == 'checkout'")
                .eval(&v, None, VARS),
            Outcome::Pass
        );
        assert!(matches!(
            rule("self.nope > 1").eval(&v, None, VARS),
            Outcome::Error(_)
        ));
        assert!(
            matches!(rule("self.replicas + 1").eval(&v, None, VARS), Outcome::Error(m) if m.contains("not true or false"))
        );
    }

    #[test]
    fn transition_rules_read_old_self() {
        let r = rule("self.max >= oldSelf.max / 2");
        assert!(r.transition);
        assert!(!rule("self.max > 1").transition);
        let new = value("max: 10\n");
        let old = value("max: 30\n");
        assert_eq!(r.eval(&new, Some(&old), VARS), Outcome::Fail);
        assert_eq!(r.eval(&new, Some(&value("max: 20\n")), VARS), Outcome::Pass);
    }

    #[test]
    fn bad_rules_do_not_compile() {
        assert!(CelRule::compile("self.a <", None, None, Loc::default()).is_err());
        assert!(CelRule::compile("   ", None, None, Loc::default()).is_err());
        let long = format!("{} == 1", "1 + ".repeat(MAX_RULE_LEN));
        assert!(
            CelRule::compile(&long, None, None, Loc::default())
                .unwrap_err()
                .contains("limit")
        );
    }

    #[test]
    fn converts_every_value_kind() {
        let v = value("n: null\nb: true\ni: 1\nf: 1.5\ns: x\nl: [1]\nm: {k: v}\n");
        let r = rule(
            "self.n == null && self.b && self.i == 1 && self.f == 1.5 && self.s == 'x' && self.l[0] == 1 && self.m.k == 'v'",
        );
        assert_eq!(r.eval(&v, None, VARS), Outcome::Pass);
        let t = crate::interpolate::Template::parse("${env}")
            .unwrap()
            .unwrap();
        assert_eq!(
            to_cel(&Value::Template(Box::new(t))),
            cel::Value::String(Arc::new("${env}".into()))
        );
        assert!(format!("{r:?}").contains("self.n == null"));
    }

    #[test]
    fn messages() {
        let r =
            CelRule::compile("self.a", Some("a must hold".into()), None, Loc::default()).unwrap();
        assert_eq!(r.failure_message(), "a must hold");
        assert_eq!(
            rule("self.a").failure_message(),
            "rule `self.a` is not satisfied"
        );
    }
}
