//! The `match` of a `Use-As-Dictionary` (RFC 9842 §2.1.1): which later requests a
//! dictionary may be used for.
//!
//! RFC 9842 makes it a WHATWG URL Pattern, resolved against the dictionary's URL. This crate
//! supports the subset that covers versioned assets, and refuses the rest as unsupported
//! rather than guess at it:
//! - a path, absolute (`/static/app.*.js`) or relative to the dictionary's directory
//!   (`app.*.js` for a dictionary at `/static/app.v1.js`); never a URL with a scheme or a
//!   host, so a dictionary only ever covers its own origin;
//! - `*` matches any run of characters, `/` included, as the URL Pattern wildcard does;
//!   every other character matches itself, case-sensitively;
//! - refused: URL Pattern syntax with another meaning (`:name` groups, `(regexp)` groups,
//!   `{}` groups, the `?` and `+` modifiers, `\` escapes), a `#` or `?` part, `.` and `..`
//!   segments, spaces and non-ASCII characters (write them percent-encoded, as they appear
//!   in a request's path), and patterns over [`Pattern::MAX_LEN`] bytes.
//!
//! A request matches on its path alone: the query, if any, is ignored (URL Pattern treats
//! components a relative pattern leaves unsaid as wildcards).

use std::fmt;

/// A checked `match` pattern, resolved to an absolute path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(String);

/// Why a `match` pattern is not one this crate supports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError(pub String);

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PatternError {}

impl Pattern {
    /// The longest pattern accepted: matching costs up to its length times the path's.
    pub const MAX_LEN: usize = 1024;

    /// Checks a pattern's syntax without resolving it: what a configuration check runs.
    pub fn validate(text: &str) -> Result<(), PatternError> {
        let fail = |reason: String| Err(PatternError(format!("'{text}': {reason}")));
        if text.is_empty() {
            return fail("is empty".into());
        }
        if text.len() > Pattern::MAX_LEN {
            return fail(format!("is over {} bytes", Pattern::MAX_LEN));
        }
        if text.contains("://") || text.starts_with("//") {
            return fail(
                "is a URL with a host: give a path, so the dictionary stays on its own origin"
                    .into(),
            );
        }
        if let Some(c) = text.chars().find(|c| !c.is_ascii_graphic()) {
            return fail(format!(
                "has {c:?}: spaces and non-ASCII characters must be percent-encoded"
            ));
        }
        // The URL standard percent-encodes these in a path, so no request path holds them,
        // and a `"` would end the `match="…"` string of the header the route writes.
        if let Some(c) = text.chars().find(|c| "\"<>`".contains(*c)) {
            return fail(format!(
                "has '{c}': percent-encode it, as it appears in a request path"
            ));
        }
        if let Some(c) = text.chars().find(|c| "(){}:?+\\#".contains(*c)) {
            return fail(format!(
                "has '{c}': URL Pattern groups, modifiers, escapes, queries and fragments are \
                 not supported, only a path with * wildcards"
            ));
        }
        let dot_segment = text
            .split('/')
            .any(|segment| segment == "." || segment == "..");
        if dot_segment {
            return fail("has a '.' or '..' segment: give the path it stands for".into());
        }
        Ok(())
    }

    /// A pattern from a `Use-As-Dictionary` `match` or a route's `dictionary_match`,
    /// resolved against the path of the dictionary's own URL (its query ignored).
    pub fn parse(text: &str, dictionary_path: &str) -> Result<Pattern, PatternError> {
        Pattern::validate(text)?;
        if text.starts_with('/') {
            return Ok(Pattern(text.to_string()));
        }
        let base = path_only(dictionary_path);
        let directory = match base.rfind('/') {
            Some(slash) => &base[..=slash],
            None => "/",
        };
        let resolved = format!("{directory}{text}");
        if resolved.len() > Pattern::MAX_LEN {
            return Err(PatternError(format!(
                "'{text}' resolved against '{base}' is over {} bytes",
                Pattern::MAX_LEN
            )));
        }
        Ok(Pattern(resolved))
    }

    /// The resolved pattern, an absolute path with `*` wildcards.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a request for `path` (a path, with or without its query) is covered.
    pub fn matches(&self, path: &str) -> bool {
        glob(self.0.as_bytes(), path_only(path).as_bytes())
    }
}

fn path_only(path: &str) -> &str {
    path.split(['?', '#']).next().unwrap_or("")
}

/// `*` matches any run of bytes. Backtracks only to the last `*` seen, so it takes at most
/// pattern length × text length steps.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut last_star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                last_star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match last_star {
                Some((star, from)) => {
                    p = star + 1;
                    t = from + 1;
                    last_star = Some((star, from + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pattern(text: &str, base: &str) -> Pattern {
        match Pattern::parse(text, base) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn wildcards_match_any_run_of_characters() {
        let p = pattern("/static/app.*.js", "/static/app.v1.js");
        assert!(p.matches("/static/app.v2.js"));
        assert!(p.matches("/static/app..js"));
        assert!(p.matches("/static/app.v2/extra.js"), "* crosses '/'");
        assert!(
            p.matches("/static/app.v2.js?cache=1"),
            "the query is ignored"
        );
        assert!(!p.matches("/static/app.v2.css"));
        assert!(!p.matches("/static/App.v2.js"), "case-sensitive");
        assert!(!p.matches("/other/static/app.v2.js"));
        assert!(pattern("*", "/a").matches("/anything/at/all"));
        assert!(pattern("/a*b*c", "/").matches("/axxbyyc"));
        assert!(!pattern("/a*b*c", "/").matches("/axxbyy"));
        assert!(pattern("/exact.js", "/").matches("/exact.js"));
        assert!(!pattern("/exact.js", "/").matches("/exact.jsx"));
    }

    #[test]
    fn relative_patterns_resolve_against_the_dictionary_directory() {
        assert_eq!(
            pattern("app.*.js", "/js/app.v1.js?x=1").as_str(),
            "/js/app.*.js"
        );
        assert_eq!(pattern("*", "/js/").as_str(), "/js/*");
        assert_eq!(pattern("a*", "").as_str(), "/a*");
    }

    #[test]
    fn unsupported_syntax_is_refused_with_a_reason() {
        for (text, says) in [
            ("", "empty"),
            ("https://cdn.example/app.*.js", "host"),
            ("//cdn.example/app.js", "host"),
            ("/app/:version.js", "':'"),
            ("/app/(\\d+).js", "'('"),
            ("/app/{v1}?.js", "'{'"),
            ("/app.js?v=*", "'?'"),
            ("/app*+.js", "'+'"),
            ("/app.js#top", "'#'"),
            ("/a b.js", "percent-encoded"),
            ("/é.js", "percent-encoded"),
            ("/js/../app.js", "'..'"),
            ("./app.js", "'.'"),
            ("[\"/nested/*\"]", "'\"': percent-encode"),
            ("/app\".js", "'\"'"),
            ("/<app>.js", "'<'"),
            ("/app`.js", "'`'"),
        ] {
            match Pattern::validate(text) {
                Ok(()) => panic!("{text:?} was accepted"),
                Err(e) => assert!(e.0.contains(says), "{text:?}: {e}"),
            }
        }
        assert!(Pattern::validate(&format!("/{}", "a".repeat(Pattern::MAX_LEN))).is_err());
        assert!(Pattern::validate("/static/app.*.js").is_ok());
    }

    proptest! {
        /// The matcher agrees with a plain recursive definition of the wildcard.
        #[test]
        fn glob_agrees_with_its_definition(
            p in "[ab*/]{0,8}",
            t in "[ab/]{0,10}",
        ) {
            fn reference(p: &[u8], t: &[u8]) -> bool {
                match p.split_first() {
                    None => t.is_empty(),
                    Some((b'*', rest)) => (0..=t.len()).any(|i| reference(rest, &t[i..])),
                    Some((c, rest)) => t.first() == Some(c) && reference(rest, &t[1..]),
                }
            }
            prop_assert_eq!(glob(p.as_bytes(), t.as_bytes()), reference(p.as_bytes(), t.as_bytes()));
        }
    }
}
