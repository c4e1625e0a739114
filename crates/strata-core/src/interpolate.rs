//! `${…}` placeholders in strings: parsing them when a layer is read.
//!
//! Forms: `${env}`, `${provider}`, `${region}`, `${service}`, `${vars.NAME}` (dotted into
//! nested variables), `${ref:SERVICE:PATH}`; `$${` is a literal `${`. Evaluation happens in
//! [`crate::resolve`], which knows the target, the variables and the other services.

use crate::path::{ParamPath, Segment, parse_segments};

/// One piece of a template string.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Literal text (escapes already applied).
    Lit(Box<str>),
    /// `${env}`
    Env,
    /// `${provider}`
    Provider,
    /// `${region}`
    Region,
    /// `${service}`
    Service,
    /// `${vars.NAME}` with the path below `vars`.
    Var(Vec<Segment>),
    /// `${ref:SERVICE:PATH}`
    Ref(ParamPath),
    /// `${KIND:NAME}`: a portable name from the provider catalogs' vocabulary
    /// (`${size:medium}`, `${storage:infrequent}`, `${region:us-east}`).
    Vocab {
        /// `size`, `storage`, `region`, …
        kind: Box<str>,
        /// `medium`, `infrequent`, …
        name: Box<str>,
    },
}

/// A string with placeholders.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// The string as written, for messages.
    pub source: Box<str>,
    /// The pieces in order.
    pub parts: Vec<Part>,
}

/// Why a template does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// What is wrong.
    pub message: String,
    /// What to write instead.
    pub hint: String,
}

const KNOWN: &str = "known placeholders: ${env}, ${provider}, ${region}, ${service}, ${vars.NAME}, ${ref:SERVICE:PATH}; write $${ for a literal ${";

impl Template {
    /// Parses `s`; `Ok(None)` when it has neither placeholders nor escapes.
    pub fn parse(s: &str) -> Result<Option<Template>, TemplateError> {
        if !s.contains("${") {
            return Ok(None);
        }
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = s;
        while let Some(pos) = rest.find('$') {
            lit.push_str(&rest[..pos]);
            let after = &rest[pos..];
            if let Some(after_escape) = after.strip_prefix("$${") {
                lit.push_str("${");
                rest = after_escape;
            } else if let Some(body) = after.strip_prefix("${") {
                let end = body.find('}').ok_or_else(|| TemplateError {
                    message: format!("unterminated placeholder in `{s}`"),
                    hint: "close it with `}`, or write $${ for a literal ${".into(),
                })?;
                let name = body[..end].trim();
                if !lit.is_empty() {
                    parts.push(Part::Lit(std::mem::take(&mut lit).into()));
                }
                parts.push(parse_placeholder(name, s)?);
                rest = &body[end + 1..];
            } else {
                lit.push('$');
                rest = &after[1..];
            }
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            parts.push(Part::Lit(lit.into()));
        }
        Ok(Some(Template {
            source: s.into(),
            parts,
        }))
    }

    /// The only part, when the template is exactly one placeholder (so it keeps the
    /// referenced value's type).
    pub fn single(&self) -> Option<&Part> {
        match self.parts.as_slice() {
            [p] if !matches!(p, Part::Lit(_)) => Some(p),
            _ => None,
        }
    }

    /// The parameters this template references.
    pub fn refs(&self) -> impl Iterator<Item = &ParamPath> {
        self.parts.iter().filter_map(|p| match p {
            Part::Ref(r) => Some(r),
            _ => None,
        })
    }
}

fn parse_placeholder(name: &str, whole: &str) -> Result<Part, TemplateError> {
    match name {
        "env" => return Ok(Part::Env),
        "provider" => return Ok(Part::Provider),
        "region" => return Ok(Part::Region),
        "service" => return Ok(Part::Service),
        _ => {}
    }
    if let Some(var) = name.strip_prefix("vars.") {
        let segs = parse_segments(var).map_err(|e| TemplateError {
            message: format!("invalid variable `${{{name}}}` in `{whole}`: {}", e.reason),
            hint: "write ${vars.NAME} or ${vars.group.NAME}".into(),
        })?;
        if segs.is_empty() {
            return Err(TemplateError {
                message: format!("empty variable name in `{whole}`"),
                hint: "write ${vars.NAME}".into(),
            });
        }
        return Ok(Part::Var(segs));
    }
    if let Some(r) = name.strip_prefix("ref:") {
        let path = ParamPath::parse(r).map_err(|e| TemplateError {
            message: format!("invalid reference `${{{name}}}` in `{whole}`: {}", e.reason),
            hint: "write ${ref:SERVICE:dotted.path}, e.g. ${ref:ledger:db.port}".into(),
        })?;
        if path.segments.is_empty() {
            return Err(TemplateError {
                message: format!("reference `${{{name}}}` names no parameter"),
                hint: "write ${ref:SERVICE:dotted.path}".into(),
            });
        }
        return Ok(Part::Ref(path));
    }
    if let Some((kind, word)) = name.split_once(':') {
        let ok = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if ok(kind) && ok(word) {
            return Ok(Part::Vocab {
                kind: kind.into(),
                name: word.into(),
            });
        }
    }
    Err(TemplateError {
        message: format!("unknown placeholder `${{{name}}}` in `{whole}`"),
        hint: KNOWN.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(s: &str) -> Vec<Part> {
        Template::parse(s).unwrap().unwrap().parts
    }

    #[test]
    fn plain_strings_are_not_templates() {
        assert_eq!(Template::parse("no placeholders").unwrap(), None);
        assert_eq!(Template::parse("cost $5").unwrap(), None);
    }

    #[test]
    fn parses_every_form() {
        assert_eq!(
            parts("db-${env}-${provider}.${region}/${service}"),
            vec![
                Part::Lit("db-".into()),
                Part::Env,
                Part::Lit("-".into()),
                Part::Provider,
                Part::Lit(".".into()),
                Part::Region,
                Part::Lit("/".into()),
                Part::Service
            ]
        );
        assert_eq!(
            parts("${vars.dns.suffix}"),
            vec![Part::Var(vec![
                Segment::Key("dns".into()),
                Segment::Key("suffix".into())
            ])]
        );
        let t = Template::parse("${ref:ledger:db.port}").unwrap().unwrap();
        assert!(matches!(t.single(), Some(Part::Ref(p)) if p.to_string() == "ledger:db.port"));
        let t = Template::parse("x${ref:ledger:db.port}").unwrap().unwrap();
        assert!(t.single().is_none());
        assert_eq!(t.refs().count(), 1);
    }

    #[test]
    fn vocabulary_placeholders() {
        assert_eq!(
            parts("${size:medium}"),
            vec![Part::Vocab {
                kind: "size".into(),
                name: "medium".into()
            }]
        );
        assert_eq!(
            parts("${region}"),
            vec![Part::Region],
            "the target's region, not vocabulary"
        );
        assert!(matches!(parts("${region:us-east}")[0], Part::Vocab { .. }));
        assert!(Template::parse("${size:}").is_err());
        assert!(Template::parse("${size:a b}").is_err());
    }

    #[test]
    fn escapes_become_literals() {
        assert_eq!(
            parts("$${env} and ${env}"),
            vec![Part::Lit("${env} and ".into()), Part::Env]
        );
        assert_eq!(parts("$${x}"), vec![Part::Lit("${x}".into())]);
        assert_eq!(parts("a$b${env}"), vec![Part::Lit("a$b".into()), Part::Env]);
    }

    #[test]
    fn errors_say_what_to_write() {
        let e = Template::parse("${nope}").unwrap_err();
        assert!(e.message.contains("unknown placeholder `${nope}`"));
        assert!(e.hint.contains("${vars.NAME}"));
        assert!(
            Template::parse("${env")
                .unwrap_err()
                .message
                .contains("unterminated")
        );
        assert!(Template::parse("${vars.}").is_err());
        assert!(Template::parse("${ref:ledger}").is_err());
        assert!(Template::parse("${ref:ledger:}").is_err());
        assert!(Template::parse("${ref:ledger:a..b}").is_err());
    }
}
