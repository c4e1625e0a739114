//! TOML reader: the `toml` crate's spanned document → [`Node`] tree.
//!
//! TOML itself forbids duplicate keys, so the crate's parser already refuses them; byte
//! spans are turned into lines and columns here. Datetimes become strings (Strata's value
//! model has no date type).

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{Ctx, ParseError};
use crate::value::{Node, Value, map_with_capacity};

pub(super) fn parse(text: &str, cx: &Ctx<'_>) -> Result<Node, ParseError> {
    let lines = LineIndex::new(text);
    let table = DeTable::parse(text).map_err(|e| {
        let (line, col) = e
            .span()
            .map_or((1, 1), |span| lines.line_col(text, span.start));
        let mut message = e.message().trim().to_string();
        if message.contains("duplicate key")
            && let Some(key) = e.span().and_then(|s| text.get(s))
        {
            message = format!("{message} `{}`", key.trim());
        }
        cx.err_hint(
            line,
            col,
            format!("invalid TOML: {message}"),
            "check quotes, brackets and `key = value` syntax here",
        )
    })?;
    let conv = Conv { cx, text, lines };
    let root = table.into_inner();
    Ok(Node::new(conv.table(root, 0)?, cx.loc(1, 1)))
}

struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        );
        LineIndex { starts }
    }

    fn line_col(&self, text: &str, offset: usize) -> (u32, u32) {
        let offset = offset.min(text.len());
        let line = self.starts.partition_point(|&s| s <= offset);
        let start = self.starts[line.saturating_sub(1)];
        let col = text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count())
            + 1;
        (line as u32, col as u32)
    }
}

struct Conv<'a> {
    cx: &'a Ctx<'a>,
    text: &'a str,
    lines: LineIndex,
}

const MAX_DEPTH: usize = super::MAX_DEPTH;

impl Conv<'_> {
    fn table(&self, table: DeTable<'_>, depth: usize) -> Result<Value, ParseError> {
        let mut map = map_with_capacity(table.len());
        for (key, value) in table {
            let (line, col) = self.lines.line_col(self.text, key.span().start);
            let v = self.value(value, depth + 1)?;
            let mut node = v;
            if !node.value.is_scalar() {
                node.loc = self.cx.loc(line, col);
            }
            map.insert(key.into_inner().to_string().into_boxed_str(), node);
        }
        Ok(Value::Map(Box::new(map)))
    }

    fn value(&self, v: Spanned<DeValue<'_>>, depth: usize) -> Result<Node, ParseError> {
        let (line, col) = self.lines.line_col(self.text, v.span().start);
        if depth > MAX_DEPTH {
            return Err(self
                .cx
                .err(line, col, format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        let bad_number = |what: &str| {
            self.cx.err_hint(
                line,
                col,
                format!("TOML {what} out of range"),
                "use a smaller number or a string",
            )
        };
        let value = match v.into_inner() {
            DeValue::String(s) => self.cx.string(&s, line, col)?,
            DeValue::Integer(i) => {
                let digits: String = i.as_str().chars().filter(|c| *c != '_').collect();
                let (neg, body) = match digits.strip_prefix('-') {
                    Some(b) => (true, b.to_string()),
                    None => (false, digits.trim_start_matches('+').to_string()),
                };
                let body = body
                    .strip_prefix("0x")
                    .or_else(|| body.strip_prefix("0o"))
                    .or_else(|| body.strip_prefix("0b"))
                    .unwrap_or(&body);
                let n = i64::from_str_radix(body, i.radix()).map_err(|_| bad_number("integer"))?;
                Value::Int(if neg { -n } else { n })
            }
            DeValue::Float(f) => {
                let s: String = f.as_str().chars().filter(|c| *c != '_').collect();
                let x = match s.as_str() {
                    "inf" | "+inf" => f64::INFINITY,
                    "-inf" => f64::NEG_INFINITY,
                    "nan" | "+nan" | "-nan" => f64::NAN,
                    _ => s.parse().map_err(|_| bad_number("float"))?,
                };
                Value::Float(x)
            }
            DeValue::Boolean(b) => Value::Bool(b),
            DeValue::Datetime(d) => Value::Str(d.to_string().into()),
            DeValue::Array(items) => Value::List(
                items
                    .into_iter()
                    .map(|item| self.value(item, depth + 1))
                    .collect::<Result<_, _>>()?,
            ),
            DeValue::Table(t) => self.table(t, depth)?,
        };
        Ok(Node::new(value, self.cx.loc(line, col)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::Format;
    use super::super::tests::parse as p;
    use super::*;

    fn parse(s: &str) -> Result<Node, ParseError> {
        p(s, Format::Toml)
    }

    #[test]
    fn reads_numbers_and_dates() {
        let n = parse("a = 0xff\nb = -1_000\nc = 1e3\nd = 1979-05-27\ne = inf\n").unwrap();
        let m = n.value.as_map().unwrap();
        assert_eq!(m["a"].value, Value::Int(255));
        assert_eq!(m["b"].value, Value::Int(-1000));
        assert_eq!(m["c"].value, Value::Float(1000.0));
        assert_eq!(m["d"].value, Value::Str("1979-05-27".into()));
        assert_eq!(m["e"].value, Value::Float(f64::INFINITY));
        assert_eq!(m["b"].loc.line, 2);
    }

    #[test]
    fn errors_are_located() {
        let e = parse("a = 1\nb = = 2\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(e.message.starts_with("invalid TOML"), "{e}");
        let e = parse("a = 1\na = 2\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(e.message.contains("duplicate key `a`"), "{e}");
    }

    #[test]
    fn nested_tables_have_locations() {
        let n = parse("[db]\nhost = \"x\"\n[db.pool]\nmax = 5\n").unwrap();
        let db = &n.value.as_map().unwrap()["db"];
        let pool = &db.value.as_map().unwrap()["pool"];
        assert_eq!(pool.value.as_map().unwrap()["max"].loc.line, 4);
    }
}
