//! ESI variables from the client's request: their values for expressions and `esi:vars`
//! (unescaped, through [`Lookup`]) and their substitution into an include's `src` (escaped
//! for the URL). A value substituted into a URL is escaped so that it can never add a path
//! segment, a query parameter or a host to it, except where ESI 1.0 gives the raw text:
//! `$(QUERY_STRING)` whole is the query as the client sent it. An unknown variable, one the
//! request does not have, and a cookie the template's route does not list in `esi_cookies`
//! are absent: empty, or their `|'default'`. The syntax of a reference is read by
//! [`firstbyte_transform::esi::variable`], the same for `src`, expressions and `esi:vars`;
//! values placed in HTML are escaped there ([`firstbyte_transform::esi::escape`]).

use firstbyte_transform::esi::client;
use firstbyte_transform::esi::variable::{self, Lookup, Parsed, Value};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// What the variables of an include's `src` are read from: the client's request.
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

/// The rest of the request's variables, for the whole language: what [`Variables`] does
/// not carry. The page builds [`AllVariables`] from both ([`super::Client::variables`]).
#[derive(Default)]
pub struct Request<'a> {
    /// `REQUEST_METHOD`.
    pub method: Option<&'a str>,
    /// `REQUEST_PATH`: the client's URL path, as sent (percent-encoded).
    pub path: Option<&'a str>,
    /// `HTTP_USER_AGENT`, and its `{browser}`, `{os}` and `{version}`.
    pub user_agent: Option<&'a str>,
    /// `HTTP_REFERER`.
    pub referer: Option<&'a str>,
}

/// Every variable this processor knows: ESI 1.0's and the request's.
pub struct AllVariables<'a> {
    pub common: Variables<'a>,
    pub request: Request<'a>,
}

impl Lookup for Variables<'_> {
    fn value(&self, name: &str, key: Option<&str>) -> Option<Value> {
        let text = |v: Option<&str>| v.map(|v| Value::Text(v.to_string()));
        match (name, key) {
            ("HTTP_HOST", None) => text(self.host),
            // A list, for `has`; in a URL it is the header as sent (see `url_value`).
            ("HTTP_ACCEPT_LANGUAGE", None) => self
                .accept_language
                .map(|h| Value::List(client::languages(h))),
            ("HTTP_ACCEPT_LANGUAGE", Some(lang)) => Some(Value::Bool(client::accepts_language(
                self.accept_language.unwrap_or_default(),
                lang,
            ))),
            ("QUERY_STRING", None) => text(self.query),
            ("QUERY_STRING", Some(key)) => self.query.and_then(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| Value::Text(v.into_owned()))
            }),
            // The dictionary's names, for `has`: only those the route lets a template read.
            ("HTTP_COOKIE", None) => Some(Value::List(
                self.readable_cookies
                    .iter()
                    .filter(|name| self.cookie(name).is_some())
                    .cloned()
                    .collect(),
            )),
            ("HTTP_COOKIE", Some(key)) => text(self.cookie(key)),
            _ => None,
        }
    }
}

impl Lookup for AllVariables<'_> {
    fn value(&self, name: &str, key: Option<&str>) -> Option<Value> {
        let text = |v: Option<&str>| v.map(|v| Value::Text(v.to_string()));
        let r = &self.request;
        match (name, key) {
            ("REQUEST_METHOD", None) => text(r.method),
            ("REQUEST_PATH", None) => text(r.path),
            ("HTTP_REFERER", None) => text(r.referer),
            ("HTTP_USER_AGENT", None) => text(r.user_agent),
            ("HTTP_USER_AGENT", Some(key)) => {
                client::user_agent(r.user_agent, key).map(Value::Text)
            }
            _ => self.common.value(name, key),
        }
    }
}

impl Variables<'_> {
    /// The cookie `name`, from every `Cookie` line, if the route lists it.
    fn cookie(&self, name: &str) -> Option<&str> {
        if !self.readable_cookies.iter().any(|c| c == name) {
            return None;
        }
        self.cookies
            .iter()
            .flat_map(|line| line.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.trim_matches('"'))
    }

    /// `src` with every `$(…)` replaced.
    #[cfg(test)]
    pub fn substitute(&self, src: &str) -> String {
        expand(self, self.accept_language, src).0
    }

    /// `src` with every `$(…)` replaced, or `None` where a value made a dot-segment of the
    /// path; see [`substitute_in_path`].
    #[cfg(test)]
    pub fn substitute_in_path(&self, src: &str) -> Option<String> {
        substitute_in_path(self, self.accept_language, src)
    }
}

impl AllVariables<'_> {
    /// `src` with every `$(…)` replaced (every variable, escaped for the URL), or `None`
    /// where a value made a dot-segment of the path; see [`substitute_in_path`].
    pub fn substitute_in_path(&self, src: &str) -> Option<String> {
        substitute_in_path(self, self.common.accept_language, src)
    }
}

/// `src` with every `$(…)` replaced, or `None` where a value made a dot-segment of the
/// path (`.` or `..`, also spelled `%2e`): URL parsing would remove it, and a value
/// would climb out of the path its template wrote, even onto another route.
fn substitute_in_path(
    lookup: &dyn Lookup,
    accept_language: Option<&str>,
    src: &str,
) -> Option<String> {
    let (url, values) = expand(lookup, accept_language, src);
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

/// `src` with every `$(…)` replaced, and where the values went (byte ranges). What is no
/// reference (`$(` without its `)`) stays as written.
fn expand(
    lookup: &dyn Lookup,
    accept_language: Option<&str>,
    src: &str,
) -> (String, Vec<(usize, usize)>) {
    let mut out = String::with_capacity(src.len());
    let mut values = Vec::new();
    let mut rest = src;
    while let Some(start) = rest.find("$(") {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let Parsed::Reference(reference, len) = variable::parse(rest) else {
            out.push('$');
            rest = &rest[1..];
            continue;
        };
        let at = out.len();
        out.push_str(&url_value(&reference, lookup, accept_language));
        // An empty value still joins what is around it into one segment.
        values.push((at, out.len().max(at + 1)));
        rest = &rest[len..];
    }
    out.push_str(rest);
    (out, values)
}

/// One reference's value (or its default), escaped for a URL.
fn url_value(
    reference: &variable::Reference,
    lookup: &dyn Lookup,
    accept_language: Option<&str>,
) -> String {
    let value = match (reference.name, reference.key, accept_language) {
        // In a URL the header as sent, as before the language had lists.
        ("HTTP_ACCEPT_LANGUAGE", None, Some(header)) if !header.is_empty() => {
            Value::Text(header.to_string())
        }
        _ => match reference.resolve(lookup) {
            Some(value) => value,
            None => return String::new(),
        },
    };
    let text = value.as_text();
    match (reference.name, reference.key) {
        // A port stays a port: `http://$(HTTP_HOST)/x` must name the page's own origin.
        ("HTTP_HOST", None) => escape(&text, HOST),
        // ESI 1.0: the query as sent, to pass it on (`/f?$(QUERY_STRING)`). It is already
        // a URL's query, percent-encoded by the client or by URL parsing.
        ("QUERY_STRING", None) => text.into_owned(),
        ("HTTP_COOKIE", Some(_)) => escape_keeping_escapes(&text),
        _ => escape(&text, RESERVED),
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

    fn all<'a>(common: Variables<'a>) -> AllVariables<'a> {
        AllVariables {
            common,
            request: Request {
                method: Some("GET"),
                path: Some("/page/a b/x"),
                user_agent: Some("Mozilla/5.0 (Windows NT 6.1; Trident/7.0; rv:11.0) like Gecko"),
                referer: Some("https://example.org/from?x=1"),
            },
        }
    }

    /// `|'default'` stands in for a variable that is absent, empty or not readable, and is
    /// escaped as the value would be.
    #[test]
    fn defaults_in_src() {
        let cookies = strings(&["lang=fr; session=s"]);
        let readable = strings(&["lang"]);
        let v = with(&cookies, &readable);
        assert_eq!(v.substitute("/l/$(HTTP_COOKIE{lang}|'en')"), "/l/fr");
        assert_eq!(v.substitute("/l/$(HTTP_COOKIE{session}|'none')"), "/l/none");
        assert_eq!(v.substitute("/l/$(HTTP_COOKIE{x}|'a b/c')"), "/l/a%20b%2Fc");
        assert_eq!(v.substitute("/q/$(QUERY_STRING{none}|'1')"), "/q/1");
        assert_eq!(
            v.substitute("/q/$(QUERY_STRING{flag}|x)"),
            "/q/x",
            "empty: the default"
        );
        assert_eq!(
            v.substitute("/a$(A B)b$(X"),
            "/a$(A B)b$(X",
            "no reference: as written"
        );
    }

    #[test]
    fn the_request_variables() {
        let cookies = strings(&["lang=fr; session=s"]);
        let readable = strings(&["lang", "absent"]);
        let v = all(with(&cookies, &readable));
        let text = |s: &str| Some(Value::Text(s.into()));
        assert_eq!(v.value("REQUEST_METHOD", None), text("GET"));
        assert_eq!(v.value("REQUEST_PATH", None), text("/page/a b/x"));
        assert_eq!(
            v.value("HTTP_REFERER", None),
            text("https://example.org/from?x=1")
        );
        assert_eq!(v.value("HTTP_USER_AGENT", Some("browser")), text("MSIE"));
        assert_eq!(v.value("HTTP_USER_AGENT", Some("os")), text("WIN"));
        assert_eq!(v.value("HTTP_USER_AGENT", Some("version")), text("11.0"));
        assert_eq!(v.value("HTTP_USER_AGENT", Some("nope")), None);
        assert_eq!(
            v.value("QUERY_STRING", None),
            text("id=7&q=a%20b%2Fc&flag&plus=x+y")
        );
        assert_eq!(v.value("QUERY_STRING", Some("q")), text("a b/c"));
        assert_eq!(
            v.value("HTTP_ACCEPT_LANGUAGE", Some("fr")),
            Some(Value::Bool(true))
        );
        assert_eq!(
            v.value("HTTP_ACCEPT_LANGUAGE", Some("en")),
            Some(Value::Bool(false))
        );
        assert_eq!(
            v.value("HTTP_ACCEPT_LANGUAGE", None),
            Some(Value::List(strings(&["fr-ch", "fr"])))
        );
        assert_eq!(
            v.value("HTTP_COOKIE", None),
            Some(Value::List(strings(&["lang"]))),
            "only readable cookies the request has"
        );
        assert_eq!(v.value("HTTP_COOKIE", Some("session")), None, "not listed");
        assert_eq!(
            v.substitute_in_path(
                "/r?m=$(REQUEST_METHOD)&p=$(REQUEST_PATH)&b=$(HTTP_USER_AGENT{browser})"
            ),
            Some("/r?m=GET&p=%2Fpage%2Fa%20b%2Fx&b=MSIE".into()),
            "escaped for the URL"
        );
        assert_eq!(
            v.substitute_in_path("/l?$(HTTP_ACCEPT_LANGUAGE)"),
            Some("/l?fr-CH%2C%20fr%3Bq%3D0.9".into()),
            "in a URL, the header as sent"
        );
    }

    /// Expressions read the same values, the cookie allow list included.
    #[test]
    fn expressions_read_the_same_variables() {
        use firstbyte_transform::esi::branches::evaluate;
        let cookies = strings(&["group=beta; session=secret"]);
        let readable = strings(&["group"]);
        let v = all(with(&cookies, &readable));
        for (test, expected) in [
            ("$(HTTP_COOKIE{group}) == 'beta'", true),
            ("$(HTTP_COOKIE{session}) == 'secret'", false),
            ("$(HTTP_COOKIE{session}|'anon') == 'anon'", true),
            (
                "$(HTTP_COOKIE) has 'group' & !($(HTTP_COOKIE) has 'session')",
                true,
            ),
            (
                "$(HTTP_ACCEPT_LANGUAGE{fr}) & $(HTTP_ACCEPT_LANGUAGE) has 'fr-ch'",
                true,
            ),
            ("$(QUERY_STRING{id}) > 6 & $(REQUEST_METHOD) == 'GET'", true),
            ("$(HTTP_USER_AGENT{browser}) == 'MSIE'", true),
        ] {
            assert_eq!(evaluate(test, &v), Ok(expected), "{test}");
        }
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
