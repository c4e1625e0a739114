//! JSON reader (RFC 8259) that keeps the line and column of every value.
//!
//! No maintained JSON crate reports positions per value or refuses duplicate keys, both of
//! which provenance needs, so this small recursive-descent reader does it. It works on
//! bytes and counts lines as it goes, which keeps it fast on million-parameter layers.

use super::{Ctx, ParseError, require_map_root};
use crate::value::{Map, Node, Value, map_with_capacity};

const MAX_DEPTH: usize = super::MAX_DEPTH;

pub(super) fn parse(text: &str, cx: &Ctx<'_>) -> Result<Node, ParseError> {
    let mut r = Reader {
        cx,
        text,
        b: text.as_bytes(),
        i: 0,
        line: 1,
        line_start: 0,
        depth: 0,
    };
    r.ws();
    if r.i == r.b.len() {
        return Ok(Node::new(
            Value::Map(Box::new(map_with_capacity(0))),
            cx.loc(1, 1),
        ));
    }
    let root = r.value()?;
    r.ws();
    if r.i != r.b.len() {
        return Err(r.error("unexpected text after the JSON value", "remove it"));
    }
    require_map_root(&root, cx)?;
    Ok(root)
}

struct Reader<'a> {
    cx: &'a Ctx<'a>,
    text: &'a str,
    b: &'a [u8],
    i: usize,
    line: u32,
    line_start: usize,
    depth: usize,
}

impl Reader<'_> {
    fn col(&self) -> u32 {
        // Columns count characters, not bytes; most lines are ASCII, where they are equal.
        let start = self.line_start.min(self.i);
        let line = &self.b[start..self.i];
        if line.is_ascii() {
            return (self.i - start) as u32 + 1;
        }
        self.text
            .get(start..self.i)
            .map_or(self.i - start, |s| s.chars().count()) as u32
            + 1
    }

    fn error(&self, message: &str, hint: &str) -> ParseError {
        self.cx.err_hint(self.line, self.col(), message, hint)
    }

    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            match c {
                b' ' | b'\t' | b'\r' => self.i += 1,
                b'\n' => {
                    self.i += 1;
                    self.line += 1;
                    self.line_start = self.i;
                }
                _ => break,
            }
        }
    }

    fn expect(&mut self, c: u8, what: &str) -> Result<(), ParseError> {
        self.ws();
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.error(
                &format!("invalid JSON: expected {what}"),
                "check commas, colons and brackets",
            ))
        }
    }

    fn value(&mut self) -> Result<Node, ParseError> {
        self.ws();
        let (line, col) = (self.line, self.col());
        let loc = self.cx.loc(line, col);
        let Some(&c) = self.b.get(self.i) else {
            return Err(self.error(
                "invalid JSON: unexpected end of file",
                "the document is cut short",
            ));
        };
        let value = match c {
            b'{' => {
                self.enter()?;
                self.i += 1;
                let mut map: Map = map_with_capacity(4);
                self.ws();
                if self.b.get(self.i) == Some(&b'}') {
                    self.i += 1;
                } else {
                    loop {
                        self.ws();
                        let (kl, kc) = (self.line, self.col());
                        if self.b.get(self.i) != Some(&b'"') {
                            return Err(self.error(
                                "invalid JSON: expected a string key",
                                "object keys must be double-quoted strings",
                            ));
                        }
                        let key = self.string()?;
                        self.expect(b':', "`:` after the key")?;
                        let mut v = self.value()?;
                        if !v.value.is_scalar() {
                            v.loc = self.cx.loc(kl, kc);
                        }
                        self.cx
                            .insert_unique(&mut map, key.into_boxed_str(), v, kl, kc)?;
                        self.ws();
                        match self.b.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b'}') => {
                                self.i += 1;
                                break;
                            }
                            _ => {
                                return Err(self.error(
                                    "invalid JSON: expected `,` or `}`",
                                    "separate members with commas; no trailing comma",
                                ));
                            }
                        }
                    }
                }
                self.depth -= 1;
                Value::Map(Box::new(map))
            }
            b'[' => {
                self.enter()?;
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b']') {
                    self.i += 1;
                } else {
                    loop {
                        items.push(self.value()?);
                        self.ws();
                        match self.b.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b']') => {
                                self.i += 1;
                                break;
                            }
                            _ => {
                                return Err(self.error(
                                    "invalid JSON: expected `,` or `]`",
                                    "separate items with commas; no trailing comma",
                                ));
                            }
                        }
                    }
                }
                self.depth -= 1;
                Value::List(items)
            }
            b'"' => {
                let s = self.string()?;
                self.cx.string(&s, line, col)?
            }
            b't' => self.literal("true", Value::Bool(true))?,
            b'f' => self.literal("false", Value::Bool(false))?,
            b'n' => self.literal("null", Value::Null)?,
            b'-' | b'0'..=b'9' => self.number()?,
            _ => {
                return Err(self.error(
                    "invalid JSON: expected a value",
                    "values are objects, arrays, double-quoted strings, numbers, true, false or null",
                ));
            }
        };
        Ok(Node::new(value, loc))
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(
                &format!("nesting deeper than {MAX_DEPTH} levels"),
                "flatten the document",
            ));
        }
        Ok(())
    }

    fn literal(&mut self, word: &str, v: Value) -> Result<Value, ParseError> {
        if self.b[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(self.error(
                "invalid JSON: unknown literal",
                "use true, false or null (lower case), or quote the string",
            ))
        }
    }

    fn number(&mut self) -> Result<Value, ParseError> {
        let start = self.i;
        let start_col = self.col();
        let mut is_float = false;
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        let digits = |r: &mut Self| {
            let s = r.i;
            while r.b.get(r.i).is_some_and(u8::is_ascii_digit) {
                r.i += 1;
            }
            r.i - s
        };
        let int_start = self.i;
        let n = digits(self);
        if n == 0 || (n > 1 && self.b[int_start] == b'0') {
            self.i = start;
            return Err(self.error(
                "invalid JSON number",
                "numbers have no leading zeros and need a digit after `-`",
            ));
        }
        if self.b.get(self.i) == Some(&b'.') {
            is_float = true;
            self.i += 1;
            if digits(self) == 0 {
                return Err(self.error(
                    "invalid JSON number: digits expected after `.`",
                    "write e.g. 1.0",
                ));
            }
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            is_float = true;
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if digits(self) == 0 {
                return Err(self.error(
                    "invalid JSON number: digits expected in the exponent",
                    "write e.g. 1e3",
                ));
            }
        }
        let text = &self.text[start..self.i];
        if !is_float {
            return text.parse::<i64>().map(Value::Int).map_err(|_| {
                self.cx.err_hint(
                    self.line,
                    start_col,
                    format!("integer {text} does not fit in 64 bits"),
                    "quote it to keep it as a string",
                )
            });
        }
        text.parse::<f64>()
            .map(Value::Float)
            .map_err(|_| self.error("invalid JSON number", "check the number"))
    }

    fn string(&mut self) -> Result<String, ParseError> {
        // At the opening quote.
        self.i += 1;
        let start = self.i;
        // Fast path: no escapes.
        while let Some(&c) = self.b.get(self.i) {
            match c {
                b'"' => {
                    let s = self.text[start..self.i].to_string();
                    self.i += 1;
                    return Ok(s);
                }
                b'\\' => break,
                0..=0x1f => {
                    return Err(self.error(
                        "invalid JSON string: raw control character",
                        "escape newlines and tabs as \\n and \\t",
                    ));
                }
                _ => self.i += 1,
            }
        }
        let mut out = self.text[start..self.i].to_string();
        loop {
            let Some(&c) = self.b.get(self.i) else {
                return Err(self.error(
                    "invalid JSON: unterminated string",
                    "close the string with `\"`",
                ));
            };
            match c {
                b'"' => {
                    self.i += 1;
                    return Ok(out);
                }
                b'\\' => {
                    self.i += 1;
                    let Some(&e) = self.b.get(self.i) else {
                        return Err(self.error(
                            "invalid JSON: unterminated string",
                            "close the string with `\"`",
                        ));
                    };
                    self.i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let ch = if (0xD800..0xDC00).contains(&hi) {
                                if self.b.get(self.i..self.i + 2) != Some(b"\\u") {
                                    return Err(self.error(
                                        "invalid JSON: lone surrogate in \\u escape",
                                        "pair high and low surrogates",
                                    ));
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.error(
                                        "invalid JSON: bad low surrogate",
                                        "pair high and low surrogates",
                                    ));
                                }
                                char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                            } else {
                                char::from_u32(hi)
                            };
                            match ch {
                                Some(ch) => out.push(ch),
                                None => {
                                    return Err(self.error(
                                        "invalid JSON: bad \\u escape",
                                        "use a valid code point",
                                    ));
                                }
                            }
                        }
                        _ => {
                            return Err(self.error(
                                "invalid JSON escape",
                                "valid escapes are \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX",
                            ));
                        }
                    }
                }
                0..=0x1f => {
                    return Err(self.error(
                        "invalid JSON string: raw control character",
                        "escape newlines and tabs as \\n and \\t",
                    ));
                }
                _ => {
                    // Copy one UTF-8 character.
                    let ch_len = utf8_len(c);
                    let end = (self.i + ch_len).min(self.b.len());
                    out.push_str(self.text.get(self.i..end).unwrap_or("\u{fffd}"));
                    self.i = end;
                }
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, ParseError> {
        let h = self
            .text
            .get(self.i..self.i + 4)
            .and_then(|h| u32::from_str_radix(h, 16).ok());
        match h {
            Some(v) => {
                self.i += 4;
                Ok(v)
            }
            None => Err(self.error(
                "invalid JSON: \\u needs four hex digits",
                "write e.g. \\u00e9",
            )),
        }
    }
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::super::Format;
    use super::super::tests::parse as p;
    use super::*;

    fn parse(s: &str) -> Result<Node, ParseError> {
        p(s, Format::Json)
    }

    #[test]
    fn reads_values_and_escapes() {
        let n = parse(r#"{"a": "x\"y\u00e9\ud83d\ude00", "b": -1.5e2, "c": [], "d": {}, "e": 0}"#)
            .unwrap();
        let m = n.value.as_map().unwrap();
        assert_eq!(m["a"].value, Value::Str("x\"yé😀".into()));
        assert_eq!(m["b"].value, Value::Float(-150.0));
        assert_eq!(m["e"].value, Value::Int(0));
        assert_eq!(m["c"].value, Value::List(vec![]));
    }

    #[test]
    fn errors_are_located() {
        let e = parse("{\n  \"a\": 1,\n  \"b\": tru\n}").unwrap_err();
        assert_eq!((e.line, e.col), (3, 8));
        let e = parse("{\"a\": 1,}").unwrap_err();
        assert_eq!(e.line, 1);
        let e = parse("{\"a\": 01}").unwrap_err();
        assert!(e.message.contains("number"), "{e}");
        let e = parse("{\"a\": 1} x").unwrap_err();
        assert!(e.message.contains("after the JSON value"));
        let e = parse("{\"a\": \"é\", \"b\": x}").unwrap_err();
        assert_eq!(e.col, 17, "columns count characters");
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let e = parse("{\"a\": 1,\n \"a\": 2}").unwrap_err();
        assert_eq!((e.line, e.col), (2, 2));
        assert!(e.message.contains("duplicate key `a`"));
    }

    #[test]
    fn root_must_be_object() {
        assert!(parse("[1]").unwrap_err().message.contains("not a mapping"));
        assert!(parse("  ").unwrap().value.as_map().unwrap().is_empty());
    }

    #[test]
    fn integers_beyond_64_bits_are_refused() {
        let e = parse(r#"{"a": 123456789012345678901234}"#).unwrap_err();
        assert!(e.message.contains("64 bits"), "{e}");
        assert_eq!(e.col, 7, "points at the number");
        let n = parse(r#"{"a": 1.5e300}"#).unwrap();
        assert!(matches!(
            n.value.as_map().unwrap()["a"].value,
            Value::Float(_)
        ));
    }

    #[test]
    fn strings_with_errors() {
        assert!(parse("{\"a\": \"x\ny\"}").is_err());
        assert!(parse("{\"a\": \"\\q\"}").is_err());
        assert!(parse("{\"a\": \"\\u12\"}").is_err());
        assert!(parse("{\"a\": \"\\ud800\"}").is_err());
        assert!(parse("{\"a\": \"abc").is_err());
        assert!(parse("{\"a\": \"a\\").is_err());
    }
}
