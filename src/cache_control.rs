//! Cache directives as origins write them: `Cache-Control` (RFC 9111 §5.2), `CDN-Cache-Control`
//! (RFC 9213) and Fastly's `Surrogate-Control`, all lists of `name` or `name=value`
//! elements. Parsing never fails: what cannot be read is kept as such, so the freshness rules
//! (the cache's policy) can treat it as RFC 9111 §4.2.1 encourages (as stale), not as absent.

/// One response's directives from one header (all its field lines).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Directives {
    /// Lowercase names, each with its value (unquoted) when it has one, in order.
    entries: Vec<(String, Option<String>)>,
}

/// A `delta-seconds` directive's reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seconds {
    /// Absent.
    None,
    /// One value, or several that agree.
    Valid(u32),
    /// Without a number, not a number, or given twice with different values: the response
    /// is treated as stale (RFC 9111 §4.2.1).
    Invalid,
}

/// `delta-seconds` past this are read as it (RFC 9111 §1.2.2).
pub const MAX_DELTA: u32 = 1 << 31;

impl Directives {
    /// Parses every field line of one header. Commas inside quoted strings do not split
    /// (`private="set-cookie, x"`); a backslash escapes the next character there.
    pub fn parse<'a>(lines: impl IntoIterator<Item = &'a str>) -> Directives {
        let mut entries = Vec::new();
        for line in lines {
            for element in split_list(line) {
                let (name, value) = match element.split_once('=') {
                    Some((n, v)) => (n, Some(unquote(v.trim_matches([' ', '\t'])))),
                    None => (element, None),
                };
                let name = name.trim_matches([' ', '\t']).to_ascii_lowercase();
                if !name.is_empty() {
                    entries.push((name, value));
                }
            }
        }
        Directives { entries }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether the directive is present, with or without a value.
    pub fn has(&self, name: &str) -> bool {
        self.entries.iter().any(|(n, _)| n == name)
    }

    /// A directive's value (`content="ESI/1.0"` of Surrogate-Control), unquoted.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    /// Whether any directive is present but `name`.
    pub fn has_other_than(&self, name: &str) -> bool {
        self.entries.iter().any(|(n, _)| n != name)
    }

    /// A `delta-seconds` directive (`max-age`, `s-maxage`, `stale-while-revalidate`, …).
    pub fn seconds(&self, name: &str) -> Seconds {
        let mut found = Seconds::None;
        for (_, value) in self.entries.iter().filter(|(n, _)| n == name) {
            let this = value.as_deref().and_then(delta_seconds);
            found = match (found, this) {
                (_, None) | (Seconds::Invalid, _) => Seconds::Invalid,
                (Seconds::None, Some(v)) => Seconds::Valid(v),
                (Seconds::Valid(old), Some(v)) if old == v => Seconds::Valid(v),
                (Seconds::Valid(_), Some(_)) => Seconds::Invalid,
            };
        }
        found
    }
}

impl Directives {
    /// A Dictionary Structured Field (RFC 8941 §3.2), as `CDN-Cache-Control` is (RFC 9213
    /// §2.1): `None` when its field lines together are not one, for RFC 9213 then has the
    /// cache ignore the whole field, as if absent. Parameters are ignored, a directive whose
    /// value is the Boolean false is absent, and a key given twice keeps its last value (RFC
    /// 8941 §4.2.2).
    pub fn parse_dictionary<'a>(lines: impl IntoIterator<Item = &'a str>) -> Option<Directives> {
        let lines: Vec<&str> = lines.into_iter().filter(|l| !l.trim().is_empty()).collect();
        let combined = lines.join(", ");
        let mut entries: Vec<(String, Option<String>)> = Vec::new();
        for (key, item) in structured::dictionary(&combined)? {
            entries.retain(|(k, _)| *k != key);
            match item {
                structured::Item::True => entries.push((key, None)),
                structured::Item::False => {}
                structured::Item::Value(value) => entries.push((key, Some(value))),
            }
        }
        Some(Directives { entries })
    }
}

/// RFC 8941's Dictionary, read only as far as a cache directive needs: each member's key and
/// its value as text; `None` for anything that is not a Dictionary.
mod structured {
    /// A member's value.
    pub enum Item {
        True,
        False,
        /// An Integer, Decimal, Token, Byte Sequence or Inner List as written; a String's
        /// content.
        Value(String),
    }

    pub fn dictionary(input: &str) -> Option<Vec<(String, Item)>> {
        let mut p = Parser {
            bytes: input.as_bytes(),
            at: 0,
        };
        let mut members = Vec::new();
        p.skip(|b| b == b' ');
        if p.peek().is_none() {
            return Some(members);
        }
        loop {
            let key = p.key()?;
            let item = if p.eat(b'=') {
                if p.peek() == Some(b'(') {
                    let start = p.at;
                    p.inner_list()?;
                    Item::Value(input[start..p.at].to_string())
                } else {
                    p.bare_item()?
                }
            } else {
                Item::True
            };
            p.parameters()?;
            members.push((key, item));
            p.skip(|b| b == b' ' || b == b'\t');
            if p.peek().is_none() {
                return Some(members);
            }
            if !p.eat(b',') {
                return None;
            }
            p.skip(|b| b == b' ' || b == b'\t');
            p.peek()?;
        }
    }

    struct Parser<'a> {
        bytes: &'a [u8],
        at: usize,
    }

    impl Parser<'_> {
        fn peek(&self) -> Option<u8> {
            self.bytes.get(self.at).copied()
        }

        fn eat(&mut self, byte: u8) -> bool {
            let eaten = self.peek() == Some(byte);
            if eaten {
                self.at += 1;
            }
            eaten
        }

        /// Advances past bytes `keep` accepts; how many.
        fn skip(&mut self, keep: impl Fn(u8) -> bool) -> usize {
            let start = self.at;
            while self.peek().is_some_and(&keep) {
                self.at += 1;
            }
            self.at - start
        }

        fn text(&self, start: usize) -> String {
            String::from_utf8_lossy(&self.bytes[start..self.at]).into_owned()
        }

        fn key(&mut self) -> Option<String> {
            let start = self.at;
            if !self
                .peek()
                .is_some_and(|b| b.is_ascii_lowercase() || b == b'*')
            {
                return None;
            }
            self.skip(|b| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || matches!(b, b'_' | b'-' | b'.' | b'*')
            });
            Some(self.text(start))
        }

        fn parameters(&mut self) -> Option<()> {
            while self.eat(b';') {
                self.skip(|b| b == b' ');
                self.key()?;
                if self.eat(b'=') {
                    self.bare_item()?;
                }
            }
            Some(())
        }

        fn inner_list(&mut self) -> Option<()> {
            self.eat(b'(');
            loop {
                self.skip(|b| b == b' ');
                if self.eat(b')') {
                    return self.parameters();
                }
                self.bare_item()?;
                self.parameters()?;
                if !matches!(self.peek(), Some(b' ' | b')')) {
                    return None;
                }
            }
        }

        fn bare_item(&mut self) -> Option<Item> {
            let start = self.at;
            match self.peek()? {
                b'-' | b'0'..=b'9' => {
                    self.eat(b'-');
                    let whole = self.skip(|b| b.is_ascii_digit());
                    if self.eat(b'.') {
                        let fraction = self.skip(|b| b.is_ascii_digit());
                        if !(1..=12).contains(&whole) || !(1..=3).contains(&fraction) {
                            return None;
                        }
                    } else if !(1..=15).contains(&whole) {
                        return None;
                    }
                    Some(Item::Value(self.text(start)))
                }
                b'"' => {
                    self.at += 1;
                    let mut content = String::new();
                    loop {
                        match self.peek()? {
                            b'"' => {
                                self.at += 1;
                                return Some(Item::Value(content));
                            }
                            b'\\' => {
                                self.at += 1;
                                let escaped = self.peek().filter(|b| matches!(b, b'"' | b'\\'))?;
                                content.push(char::from(escaped));
                                self.at += 1;
                            }
                            b @ 0x20..=0x7e => {
                                content.push(char::from(b));
                                self.at += 1;
                            }
                            _ => return None,
                        }
                    }
                }
                b'*' | b'A'..=b'Z' | b'a'..=b'z' => {
                    self.skip(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:/".contains(&b));
                    Some(Item::Value(self.text(start)))
                }
                b':' => {
                    self.at += 1;
                    self.skip(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
                    if !self.eat(b':') {
                        return None;
                    }
                    Some(Item::Value(self.text(start)))
                }
                b'?' => {
                    self.at += 1;
                    let item = match self.peek()? {
                        b'1' => Item::True,
                        b'0' => Item::False,
                        _ => return None,
                    };
                    self.at += 1;
                    Some(item)
                }
                _ => None,
            }
        }
    }
}

/// `delta-seconds = 1*DIGIT`, saturating at [`MAX_DELTA`]; anything else is unusable.
pub fn delta_seconds(value: &str) -> Option<u32> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let trimmed = value.trim_start_matches('0');
    if trimmed.len() > 10 {
        return Some(MAX_DELTA);
    }
    let n: u64 = trimmed.parse().unwrap_or(0);
    Some(n.min(u64::from(MAX_DELTA)) as u32)
}

/// The elements of a comma-separated list, commas in quoted strings kept.
pub(crate) fn split_list(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, b) in line.bytes().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b',' if !quoted => {
                out.push(line[start..i].trim_matches([' ', '\t']));
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(line[start..].trim_matches([' ', '\t']));
    out.retain(|e| !e.is_empty());
    out
}

/// A quoted string's content (escapes undone); a token, or a quote left open, as it is
/// (`"60` is no delta-seconds).
fn unquote(value: &str) -> String {
    let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return value.to_string();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(lines: &[&str]) -> Directives {
        Directives::parse(lines.iter().copied())
    }

    #[test]
    fn names_and_values_in_any_case_over_several_lines() {
        let d = parse(&["Public, MAX-AGE=60", "s-maxage=\"30\", no-cache"]);
        assert!(d.has("public") && d.has("no-cache"));
        assert_eq!(d.seconds("max-age"), Seconds::Valid(60));
        assert_eq!(d.seconds("s-maxage"), Seconds::Valid(30), "quoted digits");
        assert_eq!(d.seconds("stale-if-error"), Seconds::None);
    }

    #[test]
    fn commas_inside_quotes_do_not_split() {
        let d = parse(&[r#"private="set-cookie, max-age=9", max-age=5"#]);
        assert!(d.has("private"));
        assert_eq!(d.seconds("max-age"), Seconds::Valid(5));
        let d = parse(&[r#"no-cache="a\", max-age=7", max-age=1"#]);
        assert_eq!(d.seconds("max-age"), Seconds::Valid(1));
    }

    #[test]
    fn unusable_and_conflicting_seconds_are_invalid_not_absent() {
        for bad in [
            "max-age",
            "max-age=",
            "max-age=-1",
            "max-age=1.5",
            "max-age=abc",
            "max-age=60, max-age=0",
            "max-age=60, max-age=x",
        ] {
            assert_eq!(parse(&[bad]).seconds("max-age"), Seconds::Invalid, "{bad}");
        }
        assert_eq!(
            parse(&["max-age=60", "max-age=060"]).seconds("max-age"),
            Seconds::Valid(60),
            "values that agree are one value"
        );
        assert_eq!(
            parse(&["max-age=99999999999999999999"]).seconds("max-age"),
            Seconds::Valid(MAX_DELTA)
        );
    }

    #[test]
    fn a_quote_left_open_is_no_number() {
        for bad in [
            "max-age=\"60",
            "max-age=\"",
            "max-age=60\"",
            "max-age=\"6\"0",
        ] {
            assert_eq!(parse(&[bad]).seconds("max-age"), Seconds::Invalid, "{bad}");
        }
    }

    fn dictionary(lines: &[&str]) -> Option<Directives> {
        Directives::parse_dictionary(lines.iter().copied())
    }

    #[test]
    fn a_structured_dictionary_is_read_as_rfc_8941_says() -> Result<(), String> {
        let d = dictionary(&[
            "max-age=60, no-store=?0",
            "private;x=1, s-maxage=30;a;b=\"c\"",
        ])
        .ok_or("a valid dictionary")?;
        assert_eq!(d.seconds("max-age"), Seconds::Valid(60));
        assert!(!d.has("no-store"), "false is absent");
        assert!(d.has("private"), "parameters are ignored");
        assert_eq!(d.seconds("s-maxage"), Seconds::Valid(30));
        let d = dictionary(&["max-age=60", "max-age=5"]).ok_or("valid")?;
        assert_eq!(
            d.seconds("max-age"),
            Seconds::Valid(5),
            "the last value of a key"
        );
        for ok in [
            "a=1.5",
            "a=-3",
            "a=tok/en:x",
            "a=:cGFn:",
            "a=(1 \"b\" c);p",
            "a=?1",
            " a ",
        ] {
            assert!(dictionary(&[ok]).is_some(), "{ok}");
        }
        assert_eq!(dictionary(&["", " "]).map(|d| d.is_empty()), Some(true));
        Ok(())
    }

    #[test]
    fn anything_else_is_no_dictionary() {
        for bad in [
            "Max-Age=60",
            "max-age=60,",
            "max-age=60,,private",
            "max-age=60 private",
            "max-age=",
            "max-age=\"60",
            "max-age=1.2345",
            "max-age=1234567890123456",
            "a=\"\\x\"",
            "a=(1,2)",
            "a=?2",
            "a=:abc",
            "1a",
            "a=\u{e9}",
        ] {
            assert!(dictionary(&[bad]).is_none(), "{bad}");
        }
    }

    #[test]
    fn empty_elements_and_garbage_are_harmless() {
        let d = parse(&[",, ,", "=5", "\"unterminated, max-age=3"]);
        assert!(!d.has(""));
        assert_eq!(d.seconds("max-age"), Seconds::None, "inside a quote");
        assert!(parse(&[]).is_empty());
    }

    proptest::proptest! {
        #[test]
        fn any_header_parses_without_panicking(line in ".{0,80}") {
            let d = Directives::parse([line.as_str()]);
            let _ = d.seconds("max-age");
            let _ = d.has("no-store");
            let _ = Directives::parse_dictionary([line.as_str()]);
        }
    }
}
