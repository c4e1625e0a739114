//! Parameter addresses (`checkout:db.pool.max_size`, `checkout:hosts[0]`) and globs over
//! them (`checkout:db.**`, `*:**.password`, `*:feature.*`).
//!
//! Globs are used by merge strategies now and by access rules, drift policies and bundles
//! later, so their meaning is fixed here once:
//! - the service part is a name or a wildcard pattern (`*`, `pay*`);
//! - `*` is exactly one path segment (a key or a list index), and may be part of a key
//!   pattern (`db_*`); `[*]` is any one list index;
//! - `**` is any number of segments, including none.

use std::fmt;

/// One step of a path: a map key or a list index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    /// A map key.
    Key(Box<str>),
    /// A list index.
    Index(usize),
}

/// Why a path or glob does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid parameter {what} `{input}`: {reason}")]
pub struct PathError {
    /// "path" or "glob".
    pub what: &'static str,
    /// The text that was given.
    pub input: String,
    /// What is wrong and how it should look.
    pub reason: String,
}

fn key_needs_quotes(k: &str) -> bool {
    k.is_empty()
        || k.chars()
            .any(|c| matches!(c, '.' | '[' | ']' | '"' | ':' | '*') || c.is_whitespace())
}

/// Writes segments as `a.b[0]["odd.key"]`.
pub fn write_segments(f: &mut impl fmt::Write, segs: &[Segment]) -> fmt::Result {
    for (i, seg) in segs.iter().enumerate() {
        match seg {
            Segment::Index(n) => write!(f, "[{n}]")?,
            Segment::Key(k) if key_needs_quotes(k) => write!(f, "[{k:?}]")?,
            Segment::Key(k) => {
                if i > 0 {
                    f.write_char('.')?;
                }
                f.write_str(k)?;
            }
        }
    }
    Ok(())
}

/// Formats a segment list as a dotted path (`db.hosts[0]`).
pub fn segments_to_string(segs: &[Segment]) -> String {
    let mut s = String::new();
    let _ = write_segments(&mut s, segs);
    s
}

/// Parses a dotted path without a service (`db.hosts[0].name`, `a["x.y"]`).
pub fn parse_segments(input: &str) -> Result<Vec<Segment>, PathError> {
    parse_segs(input, "path", false).map(|v| {
        v.into_iter()
            .map(|s| match s {
                GlobSeg::Key(k) => Segment::Key(k),
                GlobSeg::Index(i) => Segment::Index(i),
                _ => unreachable!("wildcards are rejected when not allowed"),
            })
            .collect()
    })
}

/// A parameter address: service and path inside its configuration.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamPath {
    /// The service name.
    pub service: String,
    /// The path inside the service's configuration (empty = the whole configuration).
    pub segments: Vec<Segment>,
}

impl ParamPath {
    /// Parses `service:dotted.path` (the path may be empty: `service:`).
    pub fn parse(input: &str) -> Result<Self, PathError> {
        let err = |reason: &str| PathError {
            what: "path",
            input: input.to_string(),
            reason: reason.to_string(),
        };
        let (service, rest) = input
            .split_once(':')
            .ok_or_else(|| err("expected SERVICE:PATH, e.g. `checkout:db.pool.max_size`"))?;
        if service.is_empty() || !service.chars().all(is_name_char) {
            return Err(err(
                "the service name must be non-empty and use letters, digits, `-`, `_` or `.`",
            ));
        }
        let segments = parse_segments(rest).map_err(|e| PathError {
            input: input.to_string(),
            ..e
        })?;
        Ok(ParamPath {
            service: service.to_string(),
            segments,
        })
    }
}

impl fmt::Display for ParamPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.service)?;
        write_segments(f, &self.segments)
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum GlobSeg {
    Key(Box<str>),
    Index(usize),
    /// A key pattern with `*` wildcards, or a lone `*` (matches any one segment).
    Pattern(Box<str>),
    /// `[*]`: any one index.
    AnyIndex,
    /// `**`: any number of segments.
    Any,
}

fn parse_segs(input: &str, what: &'static str, globs: bool) -> Result<Vec<GlobSeg>, PathError> {
    let err = |reason: String| PathError {
        what,
        input: input.to_string(),
        reason,
    };
    let mut out = Vec::new();
    let chars: Vec<char> = input.chars().collect();
    let mut i = 0;
    let mut expect_key = true; // at start or after '.'
    while i < chars.len() {
        match chars[i] {
            '[' => {
                let close = chars[i..]
                    .iter()
                    .position(|&c| c == ']')
                    .map(|p| p + i)
                    .ok_or_else(|| err(format!("`[` at column {} is never closed", i + 1)))?;
                let inner: String = chars[i + 1..close].iter().collect();
                if inner.starts_with('"') {
                    // A quoted key: find the closing quote, allowing `]` inside.
                    let mut j = i + 2;
                    let mut key = String::new();
                    while j < chars.len() && chars[j] != '"' {
                        if chars[j] == '\\' && j + 1 < chars.len() {
                            j += 1;
                        }
                        key.push(chars[j]);
                        j += 1;
                    }
                    if j + 1 >= chars.len() || chars[j + 1] != ']' {
                        return Err(err(format!(
                            "quoted key at column {} must end with `\"]`",
                            i + 1
                        )));
                    }
                    out.push(GlobSeg::Key(key.into()));
                    i = j + 2;
                } else if inner == "*" && globs {
                    out.push(GlobSeg::AnyIndex);
                    i = close + 1;
                } else {
                    let n: usize = inner.trim().parse().map_err(|_| {
                        err(format!(
                            "`[{inner}]` is not a list index; use a number like `[0]`{}",
                            if globs { " or `[*]`" } else { "" }
                        ))
                    })?;
                    out.push(GlobSeg::Index(n));
                    i = close + 1;
                }
                expect_key = false;
            }
            '.' => {
                if expect_key {
                    return Err(err(format!("empty segment at column {}", i + 1)));
                }
                expect_key = true;
                i += 1;
            }
            _ => {
                if !expect_key {
                    return Err(err(format!(
                        "expected `.` or `[` at column {}, found `{}`",
                        i + 1,
                        chars[i]
                    )));
                }
                let start = i;
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    i += 1;
                }
                let key: String = chars[start..i].iter().collect();
                if key.contains(char::is_whitespace) || key.contains(']') || key.contains('"') {
                    return Err(err(format!(
                        "key `{key}` holds a space, `]` or `\"`; write it as [\"{key}\"]"
                    )));
                }
                if key == "**" && globs {
                    out.push(GlobSeg::Any);
                } else if key.contains('*') {
                    if !globs {
                        return Err(err(
                            "`*` is only allowed in globs; a path names one parameter".into(),
                        ));
                    }
                    if key.contains("**") {
                        return Err(err(format!(
                            "`**` must be a whole segment, not part of `{key}`"
                        )));
                    }
                    out.push(GlobSeg::Pattern(key.into()));
                } else {
                    out.push(GlobSeg::Key(key.into()));
                }
                expect_key = false;
            }
        }
    }
    if expect_key && !out.is_empty() {
        return Err(err("the path ends with `.`".into()));
    }
    Ok(out)
}

/// Matches `text` against a pattern where `*` matches any run of characters.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p = pattern.as_bytes();
    let t = text.as_bytes();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] != b'*' && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

/// A glob over parameter paths: `checkout:db.**`, `*:**.password`, `*:sidecars[*].env`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamGlob {
    source: String,
    service: Box<str>,
    segs: Vec<GlobSeg>,
}

impl ParamGlob {
    /// Parses `SERVICE_PATTERN:PATH_GLOB`.
    pub fn parse(input: &str) -> Result<Self, PathError> {
        let err = |reason: &str| PathError {
            what: "glob",
            input: input.to_string(),
            reason: reason.to_string(),
        };
        let (service, rest) = input.split_once(':').ok_or_else(|| {
            err("expected SERVICE:GLOB, e.g. `checkout:db.**` or `*:**.password`")
        })?;
        if service.is_empty() || !service.chars().all(|c| is_name_char(c) || c == '*') {
            return Err(err(
                "the service part must be a name or a pattern like `*` or `pay*`",
            ));
        }
        let segs = parse_segs(rest, "glob", true).map_err(|e| PathError {
            input: input.to_string(),
            ..e
        })?;
        Ok(ParamGlob {
            source: input.to_string(),
            service: service.into(),
            segs,
        })
    }

    /// The glob as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the glob can match parameters of `service`.
    pub fn matches_service(&self, service: &str) -> bool {
        wildcard_match(&self.service, service)
    }

    /// Whether the glob matches `service` and `segments`.
    pub fn matches(&self, service: &str, segments: &[Segment]) -> bool {
        self.matches_service(service) && self.matches_segments(segments)
    }

    /// Whether the path part matches (ignoring the service).
    pub fn matches_segments(&self, segments: &[Segment]) -> bool {
        match_segs(&self.segs, segments)
    }

    /// Whether the glob matches a parameter path.
    pub fn matches_path(&self, path: &ParamPath) -> bool {
        self.matches(&path.service, &path.segments)
    }

    /// How specific the glob is (more literal segments = higher), to order competing rules.
    pub fn specificity(&self) -> usize {
        self.segs
            .iter()
            .map(|s| match s {
                GlobSeg::Key(_) | GlobSeg::Index(_) => 3,
                GlobSeg::Pattern(p) if &**p != "*" => 2,
                GlobSeg::Pattern(_) | GlobSeg::AnyIndex => 1,
                GlobSeg::Any => 0,
            })
            .sum::<usize>()
            + if self.service.contains('*') { 0 } else { 1 }
    }
}

impl fmt::Display for ParamGlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

fn match_segs(glob: &[GlobSeg], path: &[Segment]) -> bool {
    match glob.split_first() {
        None => path.is_empty(),
        Some((GlobSeg::Any, rest)) => (0..=path.len()).any(|skip| match_segs(rest, &path[skip..])),
        Some((g, rest)) => match path.split_first() {
            None => false,
            Some((p, prest)) => seg_matches(g, p) && match_segs(rest, prest),
        },
    }
}

fn seg_matches(g: &GlobSeg, p: &Segment) -> bool {
    match (g, p) {
        (GlobSeg::Key(a), Segment::Key(b)) => a == b,
        (GlobSeg::Index(a), Segment::Index(b)) => a == b,
        (GlobSeg::Pattern(pat), Segment::Key(k)) => wildcard_match(pat, k),
        (GlobSeg::Pattern(pat), Segment::Index(_)) => &**pat == "*",
        (GlobSeg::AnyIndex, Segment::Index(_)) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> ParamPath {
        ParamPath::parse(s).unwrap()
    }

    #[test]
    fn parses_and_prints_paths() {
        let path = p("checkout:db.hosts[0].name");
        assert_eq!(path.service, "checkout");
        assert_eq!(
            path.segments,
            vec![
                Segment::Key("db".into()),
                Segment::Key("hosts".into()),
                Segment::Index(0),
                Segment::Key("name".into())
            ]
        );
        assert_eq!(path.to_string(), "checkout:db.hosts[0].name");
        assert_eq!(p("a:").segments, vec![]);
        let odd = p(r#"a:labels["app.kubernetes.io/name"]"#);
        assert_eq!(
            odd.segments[1],
            Segment::Key("app.kubernetes.io/name".into())
        );
        assert_eq!(odd.to_string(), r#"a:labels["app.kubernetes.io/name"]"#);
    }

    #[test]
    fn rejects_bad_paths_with_reasons() {
        for bad in [
            "nocolon", ":x", "a:b..c", "a:b.", "a:.b", "a:b[x]", "a:b[0", "a:b*", "a:b]c",
        ] {
            let e = ParamPath::parse(bad).unwrap_err();
            assert!(!e.reason.is_empty(), "{bad}");
            assert!(e.to_string().contains(bad), "{e}");
        }
    }

    #[test]
    fn globs_match_as_documented() {
        let cases = [
            ("checkout:db.**", "checkout:db.pool.max", true),
            ("checkout:db.**", "checkout:db", true),
            ("checkout:db.**", "ledger:db.pool", false),
            ("*:**.password", "ledger:db.password", true),
            ("*:**.password", "ledger:password", true),
            ("*:**.password", "ledger:db.password_file", false),
            ("*:feature.*", "a:feature.x", true),
            ("*:feature.*", "a:feature.x.y", false),
            ("*:feature.*", "a:feature", false),
            ("*:sidecars", "a:sidecars", true),
            ("*:sidecars[*].env", "a:sidecars[3].env", true),
            ("*:sidecars.*.env", "a:sidecars[3].env", true),
            ("*:sidecars[*].env", "a:sidecars.x.env", false),
            ("pay*:db_*", "payments:db_host", true),
            ("pay*:db_*", "ledger:db_host", false),
            ("*:**", "x:", true),
            ("a:hosts[1]", "a:hosts[1]", true),
            ("a:hosts[1]", "a:hosts[2]", false),
        ];
        for (g, path, want) in cases {
            let glob = ParamGlob::parse(g).unwrap();
            assert_eq!(glob.matches_path(&p(path)), want, "{g} vs {path}");
        }
    }

    #[test]
    fn glob_errors() {
        assert!(ParamGlob::parse("db.**").is_err());
        assert!(ParamGlob::parse("a:b**").is_err());
        assert!(ParamGlob::parse("a b:c").is_err());
        assert!(ParamGlob::parse("a:b[*x]").is_err());
    }

    #[test]
    fn specificity_orders_rules() {
        let a = ParamGlob::parse("checkout:db.pool").unwrap();
        let b = ParamGlob::parse("*:**.pool").unwrap();
        assert!(a.specificity() > b.specificity());
    }

    #[test]
    fn wildcard() {
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("a*c", "abbc"));
        assert!(!wildcard_match("a*c", "abb"));
        assert!(wildcard_match("*x*", "aaxbb"));
    }

    fn seg_strategy() -> impl Strategy<Value = Segment> {
        prop_oneof![
            "[a-z_][a-z0-9_-]{0,6}".prop_map(|s| Segment::Key(s.into())),
            (0usize..20).prop_map(Segment::Index),
            "[a-z .:\\[\\]/]{1,6}".prop_map(|s| Segment::Key(s.into())),
        ]
    }

    proptest! {
        #[test]
        fn print_then_parse_round_trips(segs in proptest::collection::vec(seg_strategy(), 0..6)) {
            let path = ParamPath { service: "svc".into(), segments: segs };
            let text = path.to_string();
            prop_assert_eq!(ParamPath::parse(&text).unwrap(), path);
        }

        #[test]
        fn a_path_matches_its_own_glob_and_double_star(segs in proptest::collection::vec(seg_strategy(), 0..6)) {
            let path = ParamPath { service: "svc".into(), segments: segs };
            let any = ParamGlob::parse("*:**").unwrap();
            prop_assert!(any.matches_path(&path));
            let text = path.to_string();
            if !text.contains('*') {
                let exact = ParamGlob::parse(&text).unwrap();
                prop_assert!(exact.matches_path(&path));
            }
        }

        #[test]
        fn parsing_never_panics(s in "\\PC{0,40}") {
            let _ = ParamPath::parse(&s);
            let _ = ParamGlob::parse(&s);
        }
    }
}
