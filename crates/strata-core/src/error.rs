//! Errors that point at a place in a project file.
//!
//! Every user-facing problem with a project's content becomes a [`Diagnostic`]: the file,
//! line and column, what is wrong, and what to do. The [`DiagKind`] makes them matchable.

use std::sync::Arc;

/// What sort of problem a [`Diagnostic`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiagKind {
    /// The file is not valid YAML/JSON/TOML (or not UTF-8, or not a mapping).
    Syntax,
    /// A key appears twice in one mapping.
    DuplicateKey,
    /// `strata.yaml` (or a schema) is well-formed but says something invalid.
    Project,
    /// Two files define the same layer of the same service (`x.yaml` and `x.json`).
    DuplicateLayer,
    /// A `$patch` or `$provider` directive is malformed.
    Directive,
    /// A `${…}` placeholder is unknown or malformed.
    Placeholder,
    /// `${vars.NAME}` names no variable for this target.
    UndefinedVariable,
    /// `${ref:SERVICE:PATH}` names a parameter (or service) that does not exist.
    MissingRef,
    /// References form a cycle.
    RefCycle,
    /// A list or map was referenced inside a longer string.
    NotAScalar,
    /// `${KIND:NAME}` names no vocabulary entry of the target's provider.
    Vocabulary,
}

/// A located problem in a project file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}:{line}:{col}: {message}{}", hint.as_ref().map(|h| format!("\n  hint: {h}")).unwrap_or_default())]
pub struct Diagnostic {
    /// What sort of problem this is.
    pub kind: DiagKind,
    /// Project-relative path of the file.
    pub path: Arc<str>,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub col: u32,
    /// What is wrong.
    pub message: String,
    /// What to do about it, when there is something specific to say.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A diagnostic of `kind` at `path:line:col`.
    pub fn new(
        kind: DiagKind,
        path: Arc<str>,
        line: u32,
        col: u32,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            kind,
            path,
            line,
            col,
            message: message.into(),
            hint: None,
        }
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_location_message_and_hint() {
        let d = Diagnostic::new(DiagKind::Project, Arc::from("strata.yaml"), 3, 5, "bad")
            .with_hint("fix it");
        assert_eq!(d.to_string(), "strata.yaml:3:5: bad\n  hint: fix it");
        let d = Diagnostic::new(DiagKind::Project, Arc::from("x"), 1, 1, "bad");
        assert_eq!(d.to_string(), "x:1:1: bad");
    }
}
