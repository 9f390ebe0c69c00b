//! The parts of RFC 8941 (Structured Field Values) that RFC 9842's fields use: a
//! dictionary whose members are bare items or inner lists, and a single item. Parameters
//! are parsed (so a value carrying them is read correctly) and dropped: no field here
//! defines any. Decimals and byte sequences are recognised and kept opaque.
//! A value that breaks the grammar is `None`, as RFC 8941 has parsers fail the whole field.

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Value {
    String(String),
    Token(String),
    Integer(i64),
    Boolean(bool),
    /// A decimal or a byte sequence: valid, but no field here wants one.
    Other,
    InnerList(Vec<Value>),
}

/// A dictionary's members in order (duplicates kept; a later one overrides).
pub(super) fn parse_dictionary(text: &str) -> Option<Vec<(String, Value)>> {
    let mut p = Parser::new(text);
    let mut members = Vec::new();
    p.skip_sp();
    if p.at_end() {
        return Some(members);
    }
    loop {
        let key = p.key()?;
        let value = if p.eat(b'=') {
            p.item_or_inner_list()?
        } else {
            p.parameters()?;
            Value::Boolean(true)
        };
        members.push((key, value));
        p.skip_ows();
        if p.at_end() {
            return Some(members);
        }
        if !p.eat(b',') {
            return None;
        }
        p.skip_ows();
        if p.at_end() {
            return None;
        }
    }
}

/// A single item, parameters dropped.
pub(super) fn parse_item(text: &str) -> Option<Value> {
    let mut p = Parser::new(text);
    p.skip_sp();
    let item = p.bare_item()?;
    p.parameters()?;
    p.skip_sp();
    p.at_end().then_some(item)
}

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Parser<'a> {
        // Surrounding whitespace is the field's, not the value's (RFC 9110 §5.5).
        Parser {
            bytes: text.trim_end_matches([' ', '\t']).as_bytes(),
            at: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn at_end(&self) -> bool {
        self.at >= self.bytes.len()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let hit = self.peek() == Some(byte);
        self.at += usize::from(hit);
        hit
    }

    fn skip_sp(&mut self) {
        while self.peek() == Some(b' ') {
            self.at += 1;
        }
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.at += 1;
        }
    }

    fn take_while(&mut self, ok: impl Fn(u8) -> bool) -> &'a str {
        let start = self.at;
        while self.peek().is_some_and(&ok) {
            self.at += 1;
        }
        // Only ASCII bytes pass any `ok` used here, so the slice is whole characters.
        std::str::from_utf8(&self.bytes[start..self.at]).unwrap_or("")
    }

    fn key(&mut self) -> Option<String> {
        let first = self.peek()?;
        if !(first.is_ascii_lowercase() || first == b'*') {
            return None;
        }
        let key = self
            .take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.*".contains(&b));
        Some(key.to_string())
    }

    fn parameters(&mut self) -> Option<()> {
        while self.eat(b';') {
            self.skip_sp();
            self.key()?;
            if self.eat(b'=') {
                self.bare_item()?;
            }
        }
        Some(())
    }

    fn item_or_inner_list(&mut self) -> Option<Value> {
        if !self.eat(b'(') {
            let item = self.bare_item()?;
            self.parameters()?;
            return Some(item);
        }
        let mut items = Vec::new();
        loop {
            self.skip_sp();
            if self.eat(b')') {
                self.parameters()?;
                return Some(Value::InnerList(items));
            }
            items.push(self.bare_item()?);
            self.parameters()?;
            if !matches!(self.peek(), Some(b' ' | b')')) {
                return None;
            }
        }
    }

    fn bare_item(&mut self) -> Option<Value> {
        match self.peek()? {
            b'"' => self.string(),
            b'-' | b'0'..=b'9' => self.number(),
            b':' => self.byte_sequence(),
            b'?' => self.boolean(),
            b if b.is_ascii_alphabetic() || b == b'*' => {
                let token = self
                    .take_while(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:/".contains(&b));
                Some(Value::Token(token.to_string()))
            }
            _ => None,
        }
    }

    fn string(&mut self) -> Option<Value> {
        self.at += 1;
        let mut out = String::new();
        loop {
            match self.peek()? {
                b'"' => {
                    self.at += 1;
                    return Some(Value::String(out));
                }
                b'\\' => {
                    self.at += 1;
                    let escaped = self.peek().filter(|b| matches!(b, b'"' | b'\\'))?;
                    out.push(char::from(escaped));
                    self.at += 1;
                }
                b @ 0x20..=0x7e => {
                    out.push(char::from(b));
                    self.at += 1;
                }
                _ => return None,
            }
        }
    }

    fn number(&mut self) -> Option<Value> {
        let negative = self.eat(b'-');
        let digits = self.take_while(|b| b.is_ascii_digit());
        if digits.is_empty() || digits.len() > 15 {
            return None;
        }
        if self.eat(b'.') {
            let fraction = self.take_while(|b| b.is_ascii_digit());
            return (!fraction.is_empty() && fraction.len() <= 3 && digits.len() <= 12)
                .then_some(Value::Other);
        }
        let value: i64 = digits.parse().ok()?;
        Some(Value::Integer(if negative { -value } else { value }))
    }

    fn byte_sequence(&mut self) -> Option<Value> {
        self.at += 1;
        self.take_while(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b));
        self.eat(b':').then_some(Value::Other)
    }

    fn boolean(&mut self) -> Option<Value> {
        self.at += 1;
        let value = match self.peek()? {
            b'1' => true,
            b'0' => false,
            _ => return None,
        };
        self.at += 1;
        Some(Value::Boolean(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictionaries_parse_per_rfc_8941() {
        assert_eq!(
            parse_dictionary(
                r#"a=1, b="x\"y", c=tok/en, d, e=?0;p=2, f=(1 "2");q, g=1.5, h=:AA==:"#
            ),
            Some(vec![
                ("a".into(), Value::Integer(1)),
                ("b".into(), Value::String("x\"y".into())),
                ("c".into(), Value::Token("tok/en".into())),
                ("d".into(), Value::Boolean(true)),
                ("e".into(), Value::Boolean(false)),
                (
                    "f".into(),
                    Value::InnerList(vec![Value::Integer(1), Value::String("2".into())])
                ),
                ("g".into(), Value::Other),
                ("h".into(), Value::Other),
            ])
        );
        assert_eq!(parse_dictionary("  "), Some(Vec::new()));
        for bad in [
            "A=1",
            "a=1,",
            "a=1 b=2",
            "a=\"x",
            "a=(1",
            "a=\"\\n\"",
            "a=é",
            "a=?2",
            "a=1.1234",
        ] {
            assert_eq!(parse_dictionary(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn items_parse_alone() {
        assert_eq!(parse_item(" \"v\";a=1 "), Some(Value::String("v".into())));
        assert_eq!(parse_item("\"v\" x"), None);
    }
}
