//! ESI variables in an include's `src`: `$(HTTP_HOST)`, `$(QUERY_STRING)` and
//! `$(QUERY_STRING{name})`, `$(HTTP_COOKIE{name})`, `$(HTTP_ACCEPT_LANGUAGE)`. A value is
//! escaped as it is substituted so that it can never add a path segment, a query parameter
//! or a host to the URL, except where ESI 1.0 gives the raw text: `$(QUERY_STRING)` whole is
//! the query as the client sent it. An unknown variable, one the request does not have, and
//! a cookie the template's route does not list in `esi_cookies` are empty.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// What the variables are read from: the client's request.
pub struct Variables<'a> {
    pub host: Option<&'a str>,
    pub query: Option<&'a str>,
    /// Every `Cookie` line of the request, in order.
    pub cookies: &'a [String],
    pub accept_language: Option<&'a str>,
    /// The cookie names `$(HTTP_COOKIE{name})` may read (the template's route's
    /// `esi_cookies`).
    pub readable_cookies: &'a [String],
}

impl Variables<'_> {
    /// `src` with every `$(…)` replaced.
    #[cfg(test)]
    pub fn substitute(&self, src: &str) -> String {
        self.expand(src).0
    }

    /// `src` with every `$(…)` replaced, or `None` where a value made a dot-segment of the
    /// path (`.` or `..`, also spelled `%2e`): URL parsing would remove it, and a value
    /// would climb out of the path its template wrote, even onto another route.
    pub fn substitute_in_path(&self, src: &str) -> Option<String> {
        let (url, values) = self.expand(src);
        let path_end = url.find(['?', '#']).unwrap_or(url.len());
        let mut from = 0;
        // WHATWG URL parsing takes `\` for `/` in http(s) URLs.
        for segment in url[..path_end].split(['/', '\\']) {
            let to = from + segment.len();
            let substituted = values.iter().any(|&(s, e)| s < to && e > from);
            if substituted && is_dot_segment(segment) {
                return None;
            }
            from = to + 1;
        }
        Some(url)
    }

    /// `src` with every `$(…)` replaced, and where the values went (byte ranges).
    fn expand(&self, src: &str) -> (String, Vec<(usize, usize)>) {
        let mut out = String::with_capacity(src.len());
        let mut values = Vec::new();
        let mut rest = src;
        while let Some(start) = rest.find("$(") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find(')') else {
                out.push_str(&rest[start..]);
                return (out, values);
            };
            let at = out.len();
            out.push_str(&self.value(&after[..end]));
            // An empty value still joins what is around it into one segment.
            values.push((at, out.len().max(at + 1)));
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        (out, values)
    }

    /// The value of one expression, escaped for a URL.
    fn value(&self, expression: &str) -> String {
        let (name, key) = match expression.split_once('{') {
            Some((name, key)) => (name, Some(key.trim_end_matches('}'))),
            None => (expression, None),
        };
        match (name, key) {
            // A port stays a port: `http://$(HTTP_HOST)/x` must name the page's own origin.
            ("HTTP_HOST", None) => escape(self.host.unwrap_or_default(), HOST),
            ("HTTP_ACCEPT_LANGUAGE", None) => {
                escape(self.accept_language.unwrap_or_default(), RESERVED)
            }
            // ESI 1.0: the query as sent, to pass it on (`/f?$(QUERY_STRING)`). It is already
            // a URL's query, percent-encoded by the client or by URL parsing.
            ("QUERY_STRING", None) => self.query.unwrap_or_default().to_string(),
            ("QUERY_STRING", Some(key)) => self
                .query
                .and_then(|q| {
                    form_urlencoded::parse(q.as_bytes())
                        .find(|(k, _)| k == key)
                        .map(|(_, v)| escape(&v, RESERVED))
                })
                .unwrap_or_default(),
            ("HTTP_COOKIE", Some(key)) if self.readable_cookies.iter().any(|c| c == key) => self
                .cookies
                .iter()
                .flat_map(|line| line.split(';'))
                .filter_map(|pair| pair.trim().split_once('='))
                .find(|(k, _)| *k == key)
                .map(|(_, v)| escape_keeping_escapes(v.trim_matches('"')))
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

/// What a `Host` value may hold as it is (RFC 9110 §7.2: a host, an IP literal, a port).
const HOST: &AsciiSet = &RESERVED.remove(b':').remove(b'[').remove(b']');

/// `.` or `..`, any dot also spelled `%2e` or `%2E` (the WHATWG URL standard's
/// single- and double-dot segments).
fn is_dot_segment(segment: &str) -> bool {
    let lower = segment.to_ascii_lowercase();
    let dots = lower.replace("%2e", ".");
    dots == "." || dots == ".."
}

fn escape(value: &str, set: &'static AsciiSet) -> String {
    utf8_percent_encode(value, set).to_string()
}

/// A cookie value escaped for a URL, its own valid `%XX` escapes kept: a cookie its origin
/// percent-encoded reaches the fragment as that origin wrote it, never encoded twice.
fn escape_keeping_escapes(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('%') {
        out.push_str(&escape(&rest[..at], RESERVED));
        let hex = rest.as_bytes().get(at + 1..at + 3);
        if hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
            out.push_str(&rest[at..at + 3]);
            rest = &rest[at + 3..];
        } else {
            out.push_str("%25");
            rest = &rest[at + 1..];
        }
    }
    out.push_str(&escape(rest, RESERVED));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn with<'a>(cookies: &'a [String], readable: &'a [String]) -> Variables<'a> {
        Variables {
            host: Some("www.example.com:8080"),
            query: Some("id=7&q=a%20b%2Fc&flag&plus=x+y"),
            cookies,
            accept_language: Some("fr-CH, fr;q=0.9"),
            readable_cookies: readable,
        }
    }

    #[test]
    fn each_variable_is_substituted_escaped() {
        let cookies = strings(&["session=abc; theme=dark/../x", "enc=a%20b%2x%"]);
        let readable = strings(&["theme", "session", "enc"]);
        let v = with(&cookies, &readable);
        assert_eq!(
            v.substitute("http://$(HTTP_HOST)/f"),
            "http://www.example.com:8080/f",
            "the port stays"
        );
        assert_eq!(v.substitute("/p/$(QUERY_STRING{id})"), "/p/7");
        assert_eq!(v.substitute("/s?q=$(QUERY_STRING{q})"), "/s?q=a%20b%2Fc");
        assert_eq!(v.substitute("/s?$(QUERY_STRING{plus})"), "/s?x%20y");
        assert_eq!(v.substitute("/t/$(HTTP_COOKIE{theme})"), "/t/dark%2F..%2Fx");
        assert_eq!(
            v.substitute("/e/$(HTTP_COOKIE{enc})"),
            "/e/a%20b%252x%25",
            "valid escapes kept, the rest escaped"
        );
        assert_eq!(
            v.substitute("/l?$(HTTP_ACCEPT_LANGUAGE)"),
            "/l?fr-CH%2C%20fr%3Bq%3D0.9"
        );
        assert_eq!(
            v.substitute("/all?$(QUERY_STRING)"),
            "/all?id=7&q=a%20b%2Fc&flag&plus=x+y",
            "the raw query (ESI 1.0)"
        );
    }

    #[test]
    fn every_cookie_line_is_read() {
        let cookies = strings(&["a=1", "b=2; c=3"]);
        let readable = strings(&["a", "b", "c"]);
        let v = with(&cookies, &readable);
        assert_eq!(
            v.substitute("/$(HTTP_COOKIE{a})$(HTTP_COOKIE{b})$(HTTP_COOKIE{c})"),
            "/123"
        );
    }

    #[test]
    fn only_listed_cookies_are_read() {
        let cookies = strings(&["session=secret; theme=dark"]);
        let readable = strings(&["theme"]);
        let v = with(&cookies, &readable);
        assert_eq!(
            v.substitute("/x?s=$(HTTP_COOKIE{session})&t=$(HTTP_COOKIE{theme})"),
            "/x?s=&t=dark"
        );
        let v = with(&cookies, &[]);
        assert_eq!(v.substitute("/x/$(HTTP_COOKIE{theme})"), "/x/");
    }

    #[test]
    fn what_is_missing_or_unknown_is_empty() {
        let cookies = strings(&["session=abc"]);
        let readable = strings(&["session", "none"]);
        let v = with(&cookies, &readable);
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
            cookies: &[],
            accept_language: None,
            readable_cookies: &readable,
        };
        assert_eq!(
            none.substitute("/x/$(HTTP_COOKIE{a})$(QUERY_STRING{b})"),
            "/x/"
        );
    }

    /// A value that is `.` or `..` (in any spelling URL parsing takes for one), or that
    /// makes one with the template's text, would be removed with the segment before it.
    #[test]
    fn no_value_makes_a_dot_segment() {
        for query in ["id=..", "id=.", "id=%2e%2E", "id=.%2e", "id=%2E."] {
            let v = Variables {
                query: Some(query),
                ..with(&[], &[])
            };
            assert_eq!(
                v.substitute_in_path("/f/$(QUERY_STRING{id})/d"),
                None,
                "{query}"
            );
            assert_eq!(
                v.substitute_in_path("/f/x$(QUERY_STRING{id})/d")
                    .map(|_| ()),
                Some(())
            );
            assert_eq!(
                v.substitute_in_path("/f?to=$(QUERY_STRING{id})")
                    .map(|_| ()),
                Some(()),
                "{query}: in the query it is no segment"
            );
        }
        let cookies = strings(&["a=%2e%2e; b=."]);
        let readable = strings(&["a", "b"]);
        let v = with(&cookies, &readable);
        assert_eq!(v.substitute_in_path("/f/$(HTTP_COOKIE{a})/fc/d"), None);
        assert_eq!(v.substitute_in_path("/f/.$(HTTP_COOKIE{b})/d"), None);
        assert_eq!(
            v.substitute_in_path("/f/$(HTTP_COOKIE{b})x/d"),
            Some("/f/.x/d".into())
        );
        let raw = Variables {
            query: Some("x/../fc"),
            ..with(&[], &[])
        };
        assert_eq!(
            raw.substitute_in_path("/f/$(QUERY_STRING)"),
            None,
            "the raw query"
        );
        let raw = Variables {
            query: Some("x\\..\\fc"),
            ..with(&[], &[])
        };
        assert_eq!(
            raw.substitute_in_path("/f/$(QUERY_STRING)"),
            None,
            "a backslash"
        );
        assert_eq!(
            v.substitute_in_path("/f/../d").as_deref(),
            Some("/f/../d"),
            "the template's own text is its own"
        );
    }

    proptest::proptest! {
        /// No value but the raw query can add a separator to the URL; a Host keeps at most
        /// its port's colon and an IP literal's brackets.
        #[test]
        fn values_never_add_url_structure(cookie in ".{0,30}", query in ".{0,30}") {
            let cookies = vec![format!("a={cookie}")];
            let readable = vec!["a".to_string()];
            let v = Variables {
                host: Some(&cookie),
                query: Some(&query),
                cookies: &cookies,
                accept_language: Some(&query),
                readable_cookies: &readable,
            };
            let out = v.substitute("$(HTTP_COOKIE{a})$(QUERY_STRING{a})$(HTTP_ACCEPT_LANGUAGE)");
            proptest::prop_assert!(out.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)), "{}", out);
            let host = v.substitute("$(HTTP_HOST)");
            proptest::prop_assert!(host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%:[]".contains(&b)), "{}", host);
        }
    }
}
