//! Rendering values for people and programs: JSON, YAML, TOML, env files, and the
//! `--explain` provenance listing.

use std::fmt::Write as _;
use std::path::Path;

use strata_core::path::{Segment, segments_to_string};
use strata_core::resolve::Project;
use strata_core::value::{Loc, Node, Value};

use crate::error::{CliError, display_path};

/// Writes `text` to stdout. A reader that stops early (`| head`) ends the command quietly
/// instead of panicking.
pub fn emit(text: &str) -> Result<(), CliError> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(CliError::BrokenPipe),
        Err(e) => Err(CliError::Io(format!("cannot write to stdout: {e}"))),
    }
}

/// Output formats of `strata resolve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Pretty-printed JSON.
    Json,
    /// Block-style YAML.
    Yaml,
    /// TOML (has no null: a null parameter is an error).
    Toml,
    /// `KEY=value` lines for a shell or a container's env file.
    Env,
}

impl OutputFormat {
    /// The file extension for `--out`.
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Json => "json",
            OutputFormat::Yaml => "yaml",
            OutputFormat::Toml => "toml",
            OutputFormat::Env => "env",
        }
    }
}

/// Renders `value` in `format` (ends with a newline).
pub fn render(value: &Value, format: OutputFormat) -> Result<String, CliError> {
    match format {
        OutputFormat::Json => {
            let mut s = strict_json(value).map_err(|_| {
                let (path, f) = non_finite_float(value, &mut Vec::new()).unwrap_or_default();
                CliError::Invalid(format!(
                    "JSON cannot represent the number {} at `{}`; use --format yaml or toml",
                    format_float(f),
                    segments_to_string(&path)
                ))
            })?;
            s.push('\n');
            Ok(s)
        }
        OutputFormat::Yaml => {
            let mut s = String::new();
            yaml(value, 0, &mut s);
            if !s.ends_with('\n') {
                s.push('\n');
            }
            Ok(s)
        }
        OutputFormat::Toml => {
            let v = to_toml(value, &mut Vec::new())?;
            match v {
                toml::Value::Table(t) => toml::to_string_pretty(&t)
                    .map_err(|e| CliError::Invalid(format!("cannot render TOML: {e}"))),
                other => Ok(format!("{other}\n")),
            }
        }
        OutputFormat::Env => {
            let mut s = String::new();
            let node = Node::new(value.clone(), Default::default());
            node.for_each_leaf(&mut Vec::new(), &mut |path, n| {
                let key = env_key(path);
                let _ = writeln!(
                    s,
                    "{}={}",
                    if key.is_empty() { "VALUE" } else { &key },
                    shell_quote(&scalar_text(&n.value))
                );
            });
            Ok(s)
        }
    }
}

/// Pretty JSON of `value`, failing (instead of printing `null`, as serde_json would) on
/// `.inf`, `-.inf` and `.nan`, which JSON cannot represent.
fn strict_json(value: &Value) -> Result<String, serde_json::Error> {
    struct Strict<'a>(&'a Value);
    impl serde::Serialize for Strict<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::{Error, SerializeMap, SerializeSeq};
            match self.0 {
                Value::Float(f) if !f.is_finite() => Err(S::Error::custom("non-finite number")),
                Value::List(items) => {
                    let mut seq = s.serialize_seq(Some(items.len()))?;
                    for item in items {
                        seq.serialize_element(&Strict(&item.value))?;
                    }
                    seq.end()
                }
                Value::Map(m) => {
                    let mut map = s.serialize_map(Some(m.len()))?;
                    for (k, v) in m.iter() {
                        map.serialize_entry(&**k, &Strict(&v.value))?;
                    }
                    map.end()
                }
                scalar => scalar.serialize(s),
            }
        }
    }
    serde_json::to_string_pretty(&Strict(value))
}

fn non_finite_error(eff: &strata_core::resolve::Effective) -> CliError {
    let (path, f) = non_finite_float(&eff.root.value, &mut Vec::new()).unwrap_or_default();
    CliError::Invalid(format!(
        "JSON cannot represent the number {} at `{}:{}`; use --format yaml or toml",
        format_float(f),
        eff.service,
        segments_to_string(&path)
    ))
}

/// The first `.inf`, `-.inf` or `.nan` in `value`, with its path (for the error message).
fn non_finite_float(value: &Value, path: &mut Vec<Segment>) -> Option<(Vec<Segment>, f64)> {
    match value {
        Value::Float(f) if !f.is_finite() => Some((path.clone(), *f)),
        Value::List(items) => items.iter().enumerate().find_map(|(i, item)| {
            path.push(Segment::Index(i));
            let found = non_finite_float(&item.value, path);
            path.pop();
            found
        }),
        Value::Map(m) => m.iter().find_map(|(k, child)| {
            path.push(Segment::Key(k.clone()));
            let found = non_finite_float(&child.value, path);
            path.pop();
            found
        }),
        _ => None,
    }
}

/// A scalar as plain text (strings unquoted), for `--get` and env files.
pub fn scalar_text(v: &Value) -> String {
    match v {
        Value::Str(s) => s.to_string(),
        Value::Null => String::new(),
        Value::List(items) if items.is_empty() => String::new(),
        Value::Map(m) if m.is_empty() => String::new(),
        Value::Float(f) => format_float(*f),
        other => other.to_string(),
    }
}

fn format_float(f: f64) -> String {
    if f.is_nan() {
        "nan".into()
    } else if f.is_infinite() {
        if f > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        format!("{f:?}")
    }
}

fn env_key(path: &[Segment]) -> String {
    let mut out = String::new();
    for seg in path {
        if !out.is_empty() {
            out.push('_');
        }
        match seg {
            Segment::Key(k) => out.extend(k.chars().map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })),
            Segment::Index(i) => out.push_str(&i.to_string()),
        }
    }
    out
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:@%+,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn yaml_key(k: &str) -> String {
    let plain = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c))
        && !k.starts_with(['-', '.'])
        && !matches!(
            k.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n" | "~"
        )
        && k.parse::<f64>().is_err();
    if plain {
        k.to_string()
    } else {
        serde_json::to_string(k).unwrap_or_else(|_| format!("{k:?}"))
    }
}

fn yaml_scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) if f.is_nan() => ".nan".into(),
        Value::Float(f) if f.is_infinite() => {
            if *f > 0.0 {
                ".inf".into()
            } else {
                "-.inf".into()
            }
        }
        Value::Float(f) => format!("{f:?}"),
        Value::Str(s) => serde_json::to_string(&**s).unwrap_or_default(),
        Value::Template(t) => serde_json::to_string(&*t.source).unwrap_or_default(),
        Value::List(_) => "[]".into(),
        Value::Map(_) => "{}".into(),
    }
}

fn yaml(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Map(m) if !m.is_empty() => {
            for (k, child) in m.iter() {
                let _ = write!(out, "{pad}{}:", yaml_key(k));
                match &child.value {
                    Value::Map(cm) if !cm.is_empty() => {
                        out.push('\n');
                        yaml(&child.value, indent + 2, out);
                    }
                    Value::List(items) if !items.is_empty() => {
                        out.push('\n');
                        yaml(&child.value, indent, out);
                    }
                    other => {
                        let _ = writeln!(out, " {}", yaml_scalar(other));
                    }
                }
            }
        }
        Value::List(items) if !items.is_empty() => {
            for item in items {
                match &item.value {
                    Value::Map(cm) if !cm.is_empty() => {
                        // First key on the dash line, the rest indented under it.
                        let mut inner = String::new();
                        yaml(&item.value, indent + 2, &mut inner);
                        let trimmed = inner.trim_start_matches(' ');
                        let _ = write!(out, "{pad}- {trimmed}");
                    }
                    Value::List(ci) if !ci.is_empty() => {
                        let _ = writeln!(out, "{pad}-");
                        yaml(&item.value, indent + 2, out);
                    }
                    other => {
                        let _ = writeln!(out, "{pad}- {}", yaml_scalar(other));
                    }
                }
            }
        }
        other => {
            let _ = writeln!(out, "{pad}{}", yaml_scalar(other));
        }
    }
}

fn to_toml(v: &Value, path: &mut Vec<Segment>) -> Result<toml::Value, CliError> {
    Ok(match v {
        Value::Null => {
            return Err(CliError::Invalid(format!(
                "TOML cannot represent the null at `{}`; use --format json or yaml",
                segments_to_string(path)
            )));
        }
        Value::Bool(b) => toml::Value::Boolean(*b),
        Value::Int(i) => toml::Value::Integer(*i),
        Value::Float(f) => toml::Value::Float(*f),
        Value::Str(s) => toml::Value::String(s.to_string()),
        Value::Template(t) => toml::Value::String(t.source.to_string()),
        Value::List(items) => {
            let mut arr = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                path.push(Segment::Index(i));
                arr.push(to_toml(&item.value, path)?);
                path.pop();
            }
            toml::Value::Array(arr)
        }
        Value::Map(m) => {
            let mut t = toml::map::Map::new();
            for (k, child) in m.iter() {
                path.push(Segment::Key(k.clone()));
                t.insert(k.to_string(), to_toml(&child.value, path)?);
                path.pop();
            }
            toml::Value::Table(t)
        }
    })
}

/// The `--explain` listing: every leaf, the `file:line:col` that set it, and what it overrode.
/// File paths are shown as seen from the current directory (`root` joined in front), like
/// the paths in error messages.
pub fn explain(project: &Project, root: &Path, node: &Node, prefix: &[Segment]) -> String {
    let loc_text = |loc: Loc| {
        format!(
            "{}:{}:{}",
            display_path(root, &project.files().path(loc.file)),
            loc.line,
            loc.col
        )
    };
    let mut out = String::new();
    let mut path = prefix.to_vec();
    let mut rows: Vec<(String, &Node)> = Vec::new();
    node.for_each_leaf(&mut path, &mut |p, n| rows.push((segments_to_string(p), n)));
    // Lists and maps that replaced an earlier value are reported too.
    let mut replaced: Vec<(String, &Node)> = Vec::new();
    collect_replaced_containers(node, &mut prefix.to_vec(), &mut replaced);
    let width = rows
        .iter()
        .map(|(p, n)| p.len() + n.value.to_string().len())
        .max()
        .unwrap_or(0)
        .min(60);
    for (p, n) in rows {
        let set = format!("{p} = {}", n.value);
        let _ = writeln!(out, "{set:<w$}  # {}", loc_text(n.loc), w = width + 3);
        for prior in n.priors().iter().rev() {
            let what = prior
                .value
                .as_ref()
                .map_or_else(String::new, |v| format!("{v} "));
            let _ = writeln!(out, "    overrides {what}from {}", loc_text(prior.loc));
        }
    }
    for (p, n) in replaced {
        let _ = writeln!(
            out,
            "{p} (whole {}) set at {}",
            n.value.type_name(),
            loc_text(n.loc)
        );
        for prior in n.priors().iter().rev() {
            let _ = writeln!(out, "    replaces the one from {}", loc_text(prior.loc));
        }
    }
    out
}

fn collect_replaced_containers<'a>(
    node: &'a Node,
    path: &mut Vec<Segment>,
    out: &mut Vec<(String, &'a Node)>,
) {
    match &node.value {
        Value::Map(m) => {
            if !m.is_empty() && !node.priors().is_empty() {
                out.push((segments_to_string(path), node));
            }
            for (k, v) in m.iter() {
                path.push(Segment::Key(k.clone()));
                collect_replaced_containers(v, path, out);
                path.pop();
            }
        }
        Value::List(items) => {
            if !items.is_empty() && !node.priors().is_empty() {
                out.push((segments_to_string(path), node));
            }
            for (i, v) in items.iter().enumerate() {
                path.push(Segment::Index(i));
                collect_replaced_containers(v, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Writes every service's configuration as one object keyed by service, streaming one
/// service at a time so the whole document is never held in memory twice.
///
/// The trees are not freed afterwards: this is the last thing the process does, and
/// freeing a million nodes one by one costs more than the exit that reclaims them.
pub fn write_keyed(
    out: &mut impl std::io::Write,
    all: Vec<strata_core::resolve::Effective>,
    format: OutputFormat,
) -> Result<(), CliError> {
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::BrokenPipe => CliError::BrokenPipe,
        _ => CliError::Io(format!("cannot write to stdout: {e}")),
    };
    let json_err = |e: serde_json::Error| match e.io_error_kind() {
        Some(std::io::ErrorKind::BrokenPipe) => CliError::BrokenPipe,
        _ => CliError::Io(format!("cannot write to stdout: {e}")),
    };
    match format {
        OutputFormat::Json => {
            // Render the services in parallel (each as pretty JSON, indented one level),
            // refusing numbers JSON cannot hold before anything is printed.
            use rayon::prelude::*;
            let render_one = |eff: &strata_core::resolve::Effective| -> Result<Vec<u8>, CliError> {
                let text = strict_json(&eff.root.value).map_err(|_| non_finite_error(eff))?;
                let mut part = serde_json::to_vec(&eff.service).map_err(json_err)?;
                part.extend_from_slice(b": ");
                for (i, line) in text.split('\n').enumerate() {
                    if i > 0 {
                        part.extend_from_slice(b"\n  ");
                    }
                    part.extend_from_slice(line.as_bytes());
                }
                Ok(part)
            };
            if all.is_empty() {
                out.write_all(b"{}\n").map_err(io)?;
            } else {
                // Chunks keep the rendered text in memory small while using every core. A
                // chunk is written only once all of it rendered, so an error in the first
                // 64 services (every project of ordinary size) prints nothing on stdout.
                let mut written = 0;
                for chunk in all.chunks(64) {
                    let parts = chunk
                        .par_iter()
                        .map(render_one)
                        .collect::<Result<Vec<_>, _>>()?;
                    if written == 0 {
                        out.write_all(b"{\n").map_err(io)?;
                    }
                    for part in parts {
                        out.write_all(b"  ").map_err(io)?;
                        out.write_all(&part).map_err(io)?;
                        written += 1;
                        out.write_all(if written < all.len() { b",\n" } else { b"\n" })
                            .map_err(io)?;
                    }
                }
                out.write_all(b"}\n").map_err(io)?;
            }
            std::mem::forget(all);
        }
        OutputFormat::Yaml => {
            for eff in all {
                let mut s = format!("{}:\n", yaml_key(&eff.service));
                match &eff.root.value {
                    Value::Map(m) if !m.is_empty() => yaml(&eff.root.value, 2, &mut s),
                    other => {
                        s.pop();
                        s.push_str(&format!(" {}\n", yaml_scalar(other)));
                    }
                }
                out.write_all(s.as_bytes()).map_err(io)?;
                std::mem::forget(eff);
            }
        }
        OutputFormat::Toml | OutputFormat::Env => {
            let mut map = strata_core::value::map_with_capacity(all.len());
            for eff in all {
                map.insert(eff.service.into_boxed_str(), eff.root);
            }
            out.write_all(render(&Value::Map(Box::new(map)), format)?.as_bytes())
                .map_err(io)?;
        }
    }
    out.flush().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::value::{Loc, new_map};

    fn sample() -> Value {
        let mut inner = new_map();
        inner.insert(
            "host".into(),
            Node::new(Value::Str("db.local".into()), Loc::default()),
        );
        inner.insert("port".into(), Node::new(Value::Int(5432), Loc::default()));
        let mut m = new_map();
        m.insert(
            "db".into(),
            Node::new(Value::Map(Box::new(inner)), Loc::default()),
        );
        m.insert(
            "hosts".into(),
            Node::new(
                Value::List(vec![
                    Node::new(Value::Str("a b".into()), Loc::default()),
                    Node::new(Value::Float(1.5), Loc::default()),
                ]),
                Loc::default(),
            ),
        );
        m.insert("yes".into(), Node::new(Value::Null, Loc::default()));
        Value::Map(Box::new(m))
    }

    #[test]
    fn yaml_output() {
        let s = render(&sample(), OutputFormat::Yaml).unwrap();
        assert_eq!(
            s,
            "db:\n  host: \"db.local\"\n  port: 5432\nhosts:\n- \"a b\"\n- 1.5\n\"yes\": null\n"
        );
    }

    #[test]
    fn env_output() {
        let s = render(&sample(), OutputFormat::Env).unwrap();
        assert_eq!(
            s,
            "DB_HOST=db.local\nDB_PORT=5432\nHOSTS_0='a b'\nHOSTS_1=1.5\nYES=''\n"
        );
    }

    #[test]
    fn toml_refuses_null_with_its_path() {
        let e = render(&sample(), OutputFormat::Toml).unwrap_err();
        assert!(e.to_string().contains("`yes`"), "{e}");
    }

    #[test]
    fn json_refuses_non_finite_numbers_with_their_path() {
        let mut m = new_map();
        m.insert(
            "limits".into(),
            Node::new(
                Value::List(vec![Node::new(Value::Float(f64::INFINITY), Loc::default())]),
                Loc::default(),
            ),
        );
        let e = render(&Value::Map(Box::new(m)), OutputFormat::Json).unwrap_err();
        assert_eq!(e.exit_code(), 1);
        assert!(e.to_string().contains("inf at `limits[0]`"), "{e}");
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a/b:c"), "a/b:c");
    }
}
