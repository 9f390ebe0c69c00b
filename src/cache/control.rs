//! Cache directives as origins write them: `Cache-Control` (RFC 9111 §5.2), `CDN-Cache-Control`
//! (RFC 9213) and Fastly's `Surrogate-Control`, all lists of `name` or `name=value`
//! elements. Parsing never fails: what cannot be read is kept as such, so the freshness rules
//! ([`super::policy`]) can treat it as RFC 9111 §4.2.1 encourages (as stale), not as absent.

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

/// `delta-seconds = 1*DIGIT`, saturating at [`MAX_DELTA`]; anything else is unusable.
fn delta_seconds(value: &str) -> Option<u32> {
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

/// A quoted string's content (escapes undone); a token as it is.
fn unquote(value: &str) -> String {
    let Some(inner) = value
        .strip_prefix('"')
        .map(|v| v.strip_suffix('"').unwrap_or(v))
    else {
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
        }
    }
}
