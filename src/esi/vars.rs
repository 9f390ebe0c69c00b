//! ESI variables in an include's `src`: `$(HTTP_HOST)`, `$(QUERY_STRING)` and
//! `$(QUERY_STRING{name})`, `$(HTTP_COOKIE{name})`, `$(HTTP_ACCEPT_LANGUAGE)`. Each is
//! percent-encoded as it is substituted (RFC 3986's unreserved characters stay), so a value
//! can never add a path segment, a query parameter or a host to the URL. An unknown
//! variable, or one the request does not have, is empty.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

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
                    form_urlencoded::parse(q.as_bytes())
                        .find(|(k, _)| k == key)
                        .map(|(_, v)| v.into_owned())
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

/// All but RFC 3986's unreserved characters.
const RESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes all but RFC 3986's unreserved characters.
fn escape(value: &str) -> String {
    utf8_percent_encode(value, RESERVED).to_string()
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
