//! ESI variables in an include's `src`: `$(HTTP_HOST)`, `$(QUERY_STRING)` and
//! `$(QUERY_STRING{name})`, `$(HTTP_COOKIE{name})`, `$(HTTP_ACCEPT_LANGUAGE)`. Each is
//! percent-encoded as it is substituted (RFC 3986's unreserved characters stay), so a value
//! can never add a path segment, a query parameter or a host to the URL. An unknown
//! variable, or one the request does not have, is empty.

/// What the variables are read from: the client's request.
pub struct Variables<'a> {
    pub host: Option<&'a str>,
    pub query: Option<&'a str>,
    pub cookie: Option<&'a str>,
    pub accept_language: Option<&'a str>,
}

impl Variables<'_> {
    /// `src` with every `$(…)` replaced.
    pub fn substitute(&self, src: &str) -> String {
        let mut out = String::with_capacity(src.len());
        let mut rest = src;
        while let Some(start) = rest.find("$(") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find(')') else {
                out.push_str(&rest[start..]);
                return out;
            };
            out.push_str(&escape(&self.value(&after[..end])));
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }

    fn value(&self, expression: &str) -> String {
        let (name, key) = match expression.split_once('{') {
            Some((name, key)) => (name, Some(key.trim_end_matches('}'))),
            None => (expression, None),
        };
        match (name, key) {
            ("HTTP_HOST", None) => self.host.unwrap_or_default().to_string(),
            ("HTTP_ACCEPT_LANGUAGE", None) => self.accept_language.unwrap_or_default().to_string(),
            ("QUERY_STRING", None) => self.query.unwrap_or_default().to_string(),
            ("QUERY_STRING", Some(key)) => self
                .query
                .and_then(|q| {
                    q.split('&')
                        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
                        .find(|(k, _)| *k == key)
                        .map(|(_, v)| unescape(v))
                })
                .unwrap_or_default(),
            ("HTTP_COOKIE", Some(key)) => self
                .cookie
                .and_then(|c| {
                    c.split(';')
                        .filter_map(|pair| pair.trim().split_once('='))
                        .find(|(k, _)| *k == key)
                        .map(|(_, v)| v.to_string())
                })
                .unwrap_or_default(),
            _ => String::new(),
        }
    }
}

/// Percent-encodes all but RFC 3986's unreserved characters.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Undoes a query value's percent-encoding (and `+` for a space), lossily.
fn unescape(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Variables<'static> {
        Variables {
            host: Some("www.example.com:8080"),
            query: Some("id=7&q=a%20b%2Fc&flag&plus=x+y"),
            cookie: Some("session=abc; theme=dark/../x"),
            accept_language: Some("fr-CH, fr;q=0.9"),
        }
    }

    #[test]
    fn each_variable_is_substituted_escaped() {
        let v = vars();
        assert_eq!(
            v.substitute("/f?h=$(HTTP_HOST)"),
            "/f?h=www.example.com%3A8080"
        );
        assert_eq!(v.substitute("/p/$(QUERY_STRING{id})"), "/p/7");
        assert_eq!(v.substitute("/s?q=$(QUERY_STRING{q})"), "/s?q=a%20b%2Fc");
        assert_eq!(v.substitute("/s?$(QUERY_STRING{plus})"), "/s?x%20y");
        assert_eq!(v.substitute("/t/$(HTTP_COOKIE{theme})"), "/t/dark%2F..%2Fx");
        assert_eq!(
            v.substitute("/l?$(HTTP_ACCEPT_LANGUAGE)"),
            "/l?fr-CH%2C%20fr%3Bq%3D0.9"
        );
        assert_eq!(
            v.substitute("/all?$(QUERY_STRING)"),
            "/all?id%3D7%26q%3Da%2520b%252Fc%26flag%26plus%3Dx%2By"
        );
    }

    #[test]
    fn what_is_missing_or_unknown_is_empty() {
        let v = vars();
        assert_eq!(v.substitute("/a$(HTTP_COOKIE{none})b"), "/ab");
        assert_eq!(v.substitute("/a$(QUERY_STRING{flag})b"), "/ab");
        assert_eq!(v.substitute("/a$(NOPE)b"), "/ab");
        assert_eq!(
            v.substitute("/a$(HTTP_HOST"),
            "/a$(HTTP_HOST",
            "unterminated: left"
        );
        let none = Variables {
            host: None,
            query: None,
            cookie: None,
            accept_language: None,
        };
        assert_eq!(
            none.substitute("/x/$(HTTP_COOKIE{a})$(QUERY_STRING{b})"),
            "/x/"
        );
    }

    proptest::proptest! {
        /// No value can add a separator to the URL.
        #[test]
        fn values_never_add_url_structure(cookie in ".{0,30}", query in ".{0,30}") {
            let v = Variables {
                host: Some(&cookie),
                query: Some(&query),
                cookie: Some(&cookie),
                accept_language: Some(&query),
            };
            let out = v.substitute("$(HTTP_HOST)$(HTTP_COOKIE{a})$(QUERY_STRING)$(HTTP_ACCEPT_LANGUAGE)");
            proptest::prop_assert!(out.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)), "{}", out);
        }
    }
}
