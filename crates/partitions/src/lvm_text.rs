//! A parser for LVM2's text metadata format (`key = value`, `name { ... }`, `[list]`, `# comments`).

use crate::error::{Error, Result};

/// Deepest nesting of sections and lists accepted (real metadata nests four levels).
const MAX_DEPTH: usize = 32;

/// A value in LVM2 text metadata.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// A quoted string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A number that is not an integer, kept as text.
    Other(String),
    /// `[a, b, ...]`.
    List(Vec<Value>),
    /// `name { ... }`.
    Section(Vec<(String, Value)>),
}

impl Value {
    /// The named child of a section.
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Section(items) => items.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The named child as a string.
    pub(crate) fn str(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The named child as a non-negative integer.
    #[cfg(test)]
    pub(crate) fn uint(&self, key: &str) -> Option<u64> {
        self.count(key).ok()
    }

    /// The named child, a number LVM2 requires, as a non-negative integer; otherwise a reason that
    /// names the field and its value. LVM2 keeps these numbers in an int64, so a value above
    /// `i64::MAX` or below 0 is damage, never a number to clamp or to take as 0.
    pub(crate) fn count(&self, key: &str) -> std::result::Result<u64, String> {
        match self.get(key) {
            None => Err(format!("{key} is missing")),
            Some(v) => v.as_count(key),
        }
    }

    /// This value as a non-negative integer; otherwise a reason naming `key` and the value.
    pub(crate) fn as_count(&self, key: &str) -> std::result::Result<u64, String> {
        let shown = match self {
            Value::Int(i) => match u64::try_from(*i) {
                Ok(n) => return Ok(n),
                Err(_) => i.to_string(),
            },
            Value::Other(text) => text.clone(),
            Value::Str(text) => format!("{text:?}"),
            Value::List(_) => "a list".into(),
            Value::Section(_) => "a section".into(),
        };
        Err(format!(
            "{key} = {shown} is out of range: expected an integer from 0 to {}",
            i64::MAX
        ))
    }

    /// The named child as a list of strings (other items skipped).
    pub(crate) fn strings(&self, key: &str) -> Vec<String> {
        match self.get(key) {
            Some(Value::List(items)) => items
                .iter()
                .filter_map(|v| match v {
                    Value::Str(s) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The sub-sections of a section, with their names.
    pub(crate) fn sections(&self) -> impl Iterator<Item = (&str, &Value)> {
        let items: &[(String, Value)] = match self {
            Value::Section(items) => items,
            _ => &[],
        };
        items
            .iter()
            .filter(|(_, v)| matches!(v, Value::Section(_)))
            .map(|(k, v)| (k.as_str(), v))
    }
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    line: u32,
    base: u64,
}

/// Parses a whole metadata text into its top-level section. `base` is the text's byte offset in
/// the image, for error messages.
pub(crate) fn parse(text: &[u8], base: u64) -> Result<Value> {
    let mut p = Parser {
        s: text,
        pos: 0,
        line: 1,
        base,
    };
    let items = p.items(0, true)?;
    Ok(Value::Section(items))
}

impl Parser<'_> {
    fn err(&self, reason: impl Into<String>) -> Error {
        Error::LvmSyntax {
            at: self.base,
            line: self.line,
            reason: reason.into(),
        }
    }

    fn skip_space(&mut self) {
        while let Some(&c) = self.s.get(self.pos) {
            match c {
                b'\n' => {
                    self.line = self.line.saturating_add(1);
                    self.pos += 1;
                }
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'#' => {
                    while self.s.get(self.pos).is_some_and(|c| *c != b'\n') {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_space();
        self.s.get(self.pos).copied()
    }

    fn ident(&mut self) -> Result<String> {
        let start = self.pos;
        while self
            .s
            .get(self.pos)
            .is_some_and(|c| c.is_ascii_alphanumeric() || b"_.+-".contains(c))
        {
            self.pos += 1;
        }
        if start == self.pos {
            return Err(self.err("expected a name"));
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.pos]).into_owned())
    }

    fn items(&mut self, depth: usize, top: bool) -> Result<Vec<(String, Value)>> {
        if depth > MAX_DEPTH {
            return Err(self.err("sections nest too deeply"));
        }
        let mut items = Vec::new();
        loop {
            match self.peek() {
                None if top => return Ok(items),
                None => return Err(self.err("unexpected end of text, expected `}`")),
                Some(b'}') if !top => {
                    self.pos += 1;
                    return Ok(items);
                }
                Some(_) => {}
            }
            let key = self.ident()?;
            match self.peek() {
                Some(b'{') => {
                    self.pos += 1;
                    let inner = self.items(depth + 1, false)?;
                    items.push((key, Value::Section(inner)));
                }
                Some(b'=') => {
                    self.pos += 1;
                    let v = self.value(depth + 1)?;
                    items.push((key, v));
                }
                _ => return Err(self.err(format!("expected `=` or `{{` after `{key}`"))),
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value> {
        if depth > MAX_DEPTH {
            return Err(self.err("lists nest too deeply"));
        }
        match self.peek() {
            Some(b'"') => {
                self.pos += 1;
                let mut out = Vec::new();
                loop {
                    match self.s.get(self.pos).copied() {
                        None => return Err(self.err("unterminated string")),
                        Some(b'"') => {
                            self.pos += 1;
                            return Ok(Value::Str(String::from_utf8_lossy(&out).into_owned()));
                        }
                        Some(b'\\') => {
                            let c = self.s.get(self.pos + 1).copied();
                            let c = c.ok_or_else(|| self.err("unterminated string"))?;
                            out.push(c);
                            self.pos += 2;
                        }
                        Some(c) => {
                            if c == b'\n' {
                                self.line = self.line.saturating_add(1);
                            }
                            out.push(c);
                            self.pos += 1;
                        }
                    }
                }
            }
            Some(b'[') => {
                self.pos += 1;
                let mut list = Vec::new();
                loop {
                    match self.peek() {
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Value::List(list));
                        }
                        Some(b',') if !list.is_empty() => self.pos += 1,
                        None => return Err(self.err("unterminated list")),
                        _ => list.push(self.value(depth + 1)?),
                    }
                }
            }
            Some(c) if c == b'-' || c.is_ascii_digit() => {
                let start = self.pos;
                self.pos += 1;
                while self
                    .s
                    .get(self.pos)
                    .is_some_and(|c| c.is_ascii_digit() || *c == b'.')
                {
                    self.pos += 1;
                }
                let text = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
                Ok(text.parse::<i64>().map_or(Value::Other(text), Value::Int))
            }
            _ => Err(self.err("expected a string, a number or a list")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sections_lists_and_comments() {
        let text = b"vg {\nid = \"a-b\"\nseqno = 7 # note\nstatus = [\"READ\", \"WRITE\"]\n\
                     pvs { pv0 { pe_start = 2048 } }\n}\ncontents = \"x\\\"y\"\n";
        let top = parse(text, 0).expect("parse");
        let vg = top.get("vg").expect("vg");
        assert_eq!(vg.uint("seqno"), Some(7));
        assert_eq!(vg.strings("status"), ["READ", "WRITE"]);
        let pv = vg.get("pvs").and_then(|p| p.get("pv0")).expect("pv0");
        assert_eq!(pv.uint("pe_start"), Some(2048));
        assert_eq!(top.str("contents"), Some("x\"y"));
    }

    #[test]
    fn errors_carry_line_numbers() {
        let err = parse(b"vg {\n a = \n}", 100).expect_err("bad");
        assert!(
            matches!(
                err,
                Error::LvmSyntax {
                    at: 100,
                    line: 3,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = "a{".repeat(100);
        assert!(parse(text.as_bytes(), 0).is_err());
        let text = format!("a = {}", "[".repeat(100));
        assert!(parse(text.as_bytes(), 0).is_err());
    }
}
