//! Which handler answers a request: the built-in pages first, then the configured routes in
//! their listed order. Nothing in a request can name a backend; it can only match a route.
//!
//! Matching reads each listed route's `prefix`, and its `host` once the prefix matches,
//! until one matches, unless the `routes` list gives them; only that route is read whole
//! and built ([`RouteCache`]). A route
//! whose prefix or host cannot be read (absent, or its `route.<name>` object unreadable) never
//! matches, with a warning in the log: `make check-config` names it before deploy, and it
//! costs other requests nothing.

use std::cell::LazyCell;
use std::rc::Rc;

use fastly::Request;
use firstbyte_config::{
    route_host, route_prefix, ConfigError, ListedMatches, Route, Settings, Source,
};

use crate::route_cache::RouteCache;

/// Paths below this prefix belong to firstbyte itself and are never proxied.
pub const RESERVED_PREFIX: &str = "/_fb/";
pub const GENERATOR_PATH: &str = "/_fb/gen";

#[derive(Debug, PartialEq)]
pub enum Target {
    Home,
    /// The generator, with the largest body it may make.
    Generator(u64),
    Proxy(Rc<Route>),
    NotFound,
}

/// Matches a request; `host` gives its host as [`host`] does (no port, no trailing dot,
/// lowercase), asked only once a route with a host has matched on its prefix. An error is
/// the matched route's: every unusable key of it.
pub fn resolve(
    settings: &Settings,
    source: &impl Source,
    routes: &mut RouteCache,
    host: impl FnOnce() -> Option<String>,
    path: &str,
) -> Result<Target, Vec<ConfigError>> {
    if path == "/" {
        return Ok(Target::Home);
    }
    if path == GENERATOR_PATH {
        return Ok(settings
            .generator
            .map_or(Target::NotFound, Target::Generator));
    }
    if path.starts_with(RESERVED_PREFIX) {
        return Ok(Target::NotFound);
    }
    // Worked out (a URL parse) only the first time a route asks.
    let host = LazyCell::new(host);
    let host_ok =
        |wanted: Option<&str>| wanted.is_none_or(|wanted| host_matches(wanted, host.as_deref()));
    for (name, listed) in settings.routes.iter().zip(&settings.matches) {
        let matches = match listed {
            // The list gives the match: no key to read.
            Some(m) => prefix_matches(&m.prefix, path) && host_ok(m.host.as_deref()),
            None => {
                readable(route_prefix(source, name)).is_some_and(|p| prefix_matches(&p, path))
                    && readable(route_host(source, name)).is_some_and(|h| host_ok(h.as_deref()))
            }
        };
        if matches {
            let source = ListedMatches::new(source, settings);
            return routes.get(name, &source, settings).map(Target::Proxy);
        }
    }
    Ok(Target::NotFound)
}

/// A route's match, or `None` with a warning naming the key when it cannot be read: the
/// route then never matches (see the module's comment), and the log says why.
fn readable<T>(read: Result<T, ConfigError>) -> Option<T> {
    read.map_err(|e| log::warn!("route skipped in matching: {e}"))
        .ok()
}

/// The route table as one request reads it, for the requests it makes of its own routes
/// (the fragments of a composed page).
pub struct Resolver<'a> {
    pub settings: &'a Settings,
    pub source: &'a dyn Source,
    pub routes: &'a mut RouteCache,
}

impl Resolver<'_> {
    /// The route a request for `host` (as [`host`] gives it) and `path` goes to. Any other
    /// target (the home page, the generator, no route) is an error: only routes reach
    /// backends.
    pub fn route(&mut self, host: Option<String>, path: &str) -> Result<Rc<Route>, String> {
        let source = self.source;
        match resolve(self.settings, &source, self.routes, || host, path) {
            Ok(Target::Proxy(route)) => Ok(route),
            Ok(_) => Err("no route serves it".to_string()),
            Err(errors) => Err(errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")),
        }
    }

    /// Whether some route matches requests for `host` by name.
    pub fn names_host(&self, host: &str) -> bool {
        let listed = self
            .settings
            .matches
            .iter()
            .flatten()
            .any(|m| m.host.as_deref() == Some(host));
        listed
            || self.settings.routes.iter().any(|name| {
                route_host(&self.source, name)
                    .is_ok_and(|h| h.is_some_and(|h| h.eq_ignore_ascii_case(host)))
            })
    }
}

/// A prefix ending in '/' matches anything below it; any other prefix matches whole path
/// segments only, so `/api` takes `/api` and `/api/x` but not `/apis`.
pub fn prefix_matches(prefix: &str, path: &str) -> bool {
    match path.strip_prefix(prefix) {
        None => false,
        Some(rest) => prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
    }
}

/// The path the backend sees: the route's prefix removed when the route strips it, always
/// starting with '/'.
pub fn backend_path(route: &Route, path: &str) -> String {
    if !route.strip_prefix {
        return path.to_string();
    }
    let rest = path.strip_prefix(route.prefix.as_str()).unwrap_or(path);
    if rest.starts_with('/') {
        rest.to_string()
    } else {
        format!("/{rest}")
    }
}

fn host_matches(wanted: &str, host: Option<&str>) -> bool {
    host.is_some_and(|host| wanted.eq_ignore_ascii_case(host))
}

/// The host a request is for, as routes match it: the URL's host (what the request line or
/// `Host` named), else the `Host` header read lossily.
pub fn host(req: &Request) -> Option<String> {
    match req.get_url().host_str() {
        Some(host) => Some(normalize_host(host)),
        None => req.get_header_str_lossy("host").map(|h| normalize_host(&h)),
    }
}

/// `Example.COM.:8080` → `example.com`: a fully qualified name's trailing dot names the same
/// host, so it must not slip past a host route.
pub fn normalize_host(host: &str) -> String {
    host_without_port(host)
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// Why a backend could read `path` differently than the router matched it, if it could: an
/// encoded `/` or `\` (a backend that decodes first sees other segments), an encoded NUL,
/// or a dot segment that survived URL normalisation by hiding behind an encoding or a `;`
/// parameter (`..;/`, which Java servers resolve as `..`). Such a path could climb out of
/// the route's prefix on the backend.
pub fn ambiguous_path(path: &str) -> Option<&'static str> {
    for segment in path.split('/') {
        let decoded = percent_decode(segment.as_bytes());
        if decoded.iter().any(|b| matches!(b, b'/' | b'\\')) {
            return Some("the path holds an encoded '/' or '\\'");
        }
        if decoded.contains(&0) {
            return Some("the path holds an encoded NUL");
        }
        let name = decoded.split(|b| *b == b';').next().unwrap_or_default();
        if name == b"." || name == b".." {
            return Some("the path holds a dot segment behind an encoding or ';'");
        }
    }
    None
}

fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let pair = bytes
            .get(i + 1)
            .copied()
            .and_then(hex)
            .zip(bytes.get(i + 2).copied().and_then(hex));
        match (bytes[i], pair) {
            (b'%', Some((hi, lo))) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// One spelling of the authority a request names (RFC 9110 §4.2.3): the host as
/// [`normalize_host`] has it, and the port unless it is empty or `default_port` (the
/// scheme's). `Example.COM.:80` and `example.com` name the same origin; `example.com:8080`
/// does not.
pub fn normalize_authority(authority: &str, default_port: u16) -> String {
    let host = normalize_host(authority);
    let without = host_without_port(authority);
    let port = authority[without.len()..].trim_start_matches(':');
    if port.is_empty() {
        return host;
    }
    let port = match port.trim_start_matches('0') {
        "" => "0",
        digits => digits,
    };
    if port.parse::<u16>() == Ok(default_port) {
        host
    } else {
        format!("{host}:{port}")
    }
}

/// The port a scheme's URLs have when they name none.
pub fn default_port(scheme: &str) -> u16 {
    if scheme.eq_ignore_ascii_case("https") {
        443
    } else {
        80
    }
}

fn host_without_port(host: &str) -> &str {
    // An IPv6 literal keeps its brackets; only a trailing `:port` goes.
    match host.rfind(':') {
        Some(i)
            if !host[i..].contains(']') && host[i + 1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            &host[..i]
        }
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use firstbyte_config::MapSource;
    use proptest::prelude::*;

    fn route(name: &str, prefix: &str, host: Option<&str>, strip: bool) -> Route {
        Route {
            name: name.into(),
            prefix: prefix.into(),
            host: host.map(Into::into),
            backend: "origin".into(),
            strip_prefix: strip,
            ttl: None,
            host_override: None,
            first_byte_timeout: None,
            between_bytes_timeout: None,
            raw_paths: false,
            pump: false,
            chain: None,
            cache: None,
            esi: None,
            esi_credentials: false,
        }
    }

    /// A store listing `routes` (name, prefix, host) in order, all on backend `origin`.
    fn store(routes: &[(&str, &str, Option<&str>)], generator: bool) -> MapSource {
        let mut pairs: Vec<(String, String)> = vec![(
            "routes".into(),
            routes.iter().map(|r| r.0).collect::<Vec<_>>().join(","),
        )];
        if generator {
            pairs.push(("generator".into(), "on".into()));
            pairs.push(("generator_max_bytes".into(), "1024".into()));
        }
        for (name, prefix, host) in routes {
            pairs.push((format!("route.{name}.prefix"), prefix.to_string()));
            pairs.push((format!("route.{name}.backend"), "origin".into()));
            if let Some(host) = host {
                pairs.push((format!("route.{name}.host"), host.to_string()));
            }
        }
        MapSource::new(pairs, ["origin"])
    }

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn resolve_in(source: &MapSource, host: Option<&str>, path: &str) -> Result<Target, String> {
        let settings = Settings::parse(source).map_err(|e| e.to_string())?;
        resolve(
            &settings,
            source,
            &mut RouteCache::default(),
            || host.map(str::to_string),
            path,
        )
        .map_err(|e| format!("{e:?}"))
    }

    fn name(target: &Target) -> Option<String> {
        match target {
            Target::Proxy(r) => Some(r.name.clone()),
            _ => None,
        }
    }

    #[test]
    fn matches_given_in_the_list_route_like_their_keys() -> TestResult {
        // The same routes as `store` makes, their matches in the list instead.
        let listed = MapSource::new(
            [
                ("routes", "api /api/ api.example.com, web /, old"),
                ("route.api.backend", "origin"),
                ("route.web.backend", "origin"),
                ("route.old.prefix", "/old/"),
                ("route.old.backend", "origin"),
            ],
            ["origin"],
        );
        let keyed = store(
            &[
                ("api", "/api/", Some("api.example.com")),
                ("web", "/", None),
                ("old", "/old/", None),
            ],
            false,
        );
        for (host, path, want) in [
            (Some("api.example.com"), "/api/x", "api"),
            (Some("www.example.com"), "/api/x", "web"),
            (None, "/api/x", "web"),
            (None, "/old/x", "web"),
        ] {
            for source in [&listed, &keyed] {
                let got = resolve_in(source, host, path)?;
                assert_eq!(name(&got).as_deref(), Some(want), "{host:?} {path}");
                if let Target::Proxy(route) = got {
                    assert_eq!(route.host.is_some(), want == "api");
                }
            }
        }
        Ok(())
    }

    #[test]
    fn builtins_win_over_routes() -> TestResult {
        let c = store(&[("all", "/", None)], true);
        assert_eq!(resolve_in(&c, None, "/")?, Target::Home);
        assert_eq!(resolve_in(&c, None, "/_fb/gen")?, Target::Generator(1024));
        let off = store(&[("all", "/", None)], false);
        assert_eq!(resolve_in(&off, None, "/_fb/gen")?, Target::NotFound);
        assert_eq!(resolve_in(&c, None, "/_fb/other")?, Target::NotFound);
        assert_eq!(name(&resolve_in(&c, None, "/x")?).as_deref(), Some("all"));
        Ok(())
    }

    #[test]
    fn first_listed_match_wins_and_unknown_is_not_found() -> TestResult {
        let c = store(
            &[
                ("narrow", "/origin/special", None),
                ("wide", "/origin/", None),
            ],
            false,
        );
        let named = |path| resolve_in(&c, None, path).map(|t| name(&t));
        assert_eq!(named("/origin/special/1")?.as_deref(), Some("narrow"));
        assert_eq!(named("/origin/bytes/1")?.as_deref(), Some("wide"));
        assert_eq!(resolve_in(&c, None, "/elsewhere")?, Target::NotFound);
        assert_eq!(resolve_in(&c, None, "/origin")?, Target::NotFound);
        Ok(())
    }

    #[test]
    fn an_unusable_route_costs_only_its_own_requests() -> TestResult {
        let mut c = store(
            &[("broken", "/b/", None), ("origin", "/origin/", None)],
            false,
        );
        c.values.insert("route.broken.pump".into(), "maybe".into());
        c.values.remove("route.origin.host");
        assert_eq!(
            name(&resolve_in(&c, None, "/origin/x")?).as_deref(),
            Some("origin")
        );
        let settings = Settings::parse(&c)?;
        let Err(err) = resolve(&settings, &c, &mut RouteCache::default(), || None, "/b/x") else {
            return Err("the matched route's own key is an error".into());
        };
        assert_eq!(err[0].key, "route.broken.pump");
        // A route without a usable prefix never matches.
        c.values.insert("route.broken.prefix".into(), "b".into());
        assert_eq!(
            name(&resolve_in(&c, None, "/origin/x")?).as_deref(),
            Some("origin")
        );
        Ok(())
    }

    #[test]
    fn prefixes_match_whole_segments() {
        assert!(prefix_matches("/api", "/api"));
        assert!(prefix_matches("/api", "/api/x"));
        assert!(!prefix_matches("/api", "/apis"));
        assert!(prefix_matches("/api/", "/api/x"));
        assert!(!prefix_matches("/api/", "/api"));
    }

    #[test]
    fn host_routes_ignore_case_port_and_trailing_dot() -> TestResult {
        let c = store(
            &[("site", "/", Some("example.com")), ("fallback", "/", None)],
            false,
        );
        let named = |host: Option<&str>| resolve_in(&c, host, "/a").map(|t| name(&t));
        for raw in ["EXAMPLE.com:8080", "example.com.", "Example.Com.:80"] {
            let host = normalize_host(raw);
            assert_eq!(named(Some(&host))?.as_deref(), Some("site"), "{raw}");
        }
        assert_eq!(named(Some("other.com"))?.as_deref(), Some("fallback"));
        assert_eq!(named(None)?.as_deref(), Some("fallback"));
        assert_eq!(host_without_port("[::1]:7676"), "[::1]");
        assert_eq!(host_without_port("[::1]"), "[::1]");
        Ok(())
    }

    #[test]
    fn one_host_has_one_spelling() {
        for (host, scheme, normal) in [
            ("Example.COM", "http", "example.com"),
            ("example.com.", "http", "example.com"),
            ("example.com.:80", "http", "example.com"),
            ("example.com:080", "http", "example.com"),
            ("example.com:443", "https", "example.com"),
            ("example.com:443", "http", "example.com:443"),
            ("example.com:8080", "http", "example.com:8080"),
            ("example.com:", "http", "example.com"),
            ("127.0.0.1:7800", "http", "127.0.0.1:7800"),
            ("127.0.0.1.:7800", "http", "127.0.0.1:7800"),
            ("[::1]", "http", "[::1]"),
            ("[::1]:80", "http", "[::1]"),
            ("[::1]:81", "http", "[::1]:81"),
            ("h:99999", "http", "h:99999"),
        ] {
            assert_eq!(
                normalize_authority(host, default_port(scheme)),
                normal,
                "{host} ({scheme})"
            );
        }
    }

    #[test]
    fn an_authority_has_one_spelling() {
        for same in ["127.0.0.1.:7800", "127.0.0.1:7800", "127.0.0.1:07800"] {
            assert_eq!(normalize_authority(same, 80), "127.0.0.1:7800", "{same}");
        }
        for same in [
            "Example.COM.",
            "example.com:80",
            "example.com:",
            "EXAMPLE.com.:0080",
        ] {
            assert_eq!(normalize_authority(same, 80), "example.com", "{same}");
        }
        assert_eq!(normalize_authority("example.com:443", 443), "example.com");
        assert_eq!(
            normalize_authority("example.com:443", 80),
            "example.com:443"
        );
        assert_eq!(normalize_authority("[::1]:80", 80), "[::1]");
        assert_eq!(normalize_authority("[::1]:7676", 80), "[::1]:7676");
        assert_eq!((default_port("https"), default_port("http")), (443, 80));
    }

    #[test]
    fn stripping_keeps_a_leading_slash() {
        let strip = route("o", "/origin/", None, true);
        assert_eq!(backend_path(&strip, "/origin/bytes/10"), "/bytes/10");
        let strip_segment = route("o", "/origin", None, true);
        assert_eq!(backend_path(&strip_segment, "/origin"), "/");
        assert_eq!(backend_path(&strip_segment, "/origin/x"), "/x");
        let keep = route("o", "/origin/", None, false);
        assert_eq!(backend_path(&keep, "/origin/x"), "/origin/x");
    }

    #[test]
    fn paths_a_backend_could_read_otherwise_are_named() {
        for path in [
            "/origin/..%2fadmin",
            "/origin/%2e%2e%2Fadmin",
            "/origin/a%5cb",
            "/origin/..;/admin",
            "/origin/.;x/a",
            "/origin/%2e%2e;/admin",
            "/origin/a%00b",
        ] {
            assert!(ambiguous_path(path).is_some(), "{path}");
        }
        for path in [
            "/origin/bytes/10",
            "/origin/a;b=c/d",
            "/origin/...",
            "/origin/..a",
            "/origin/100%25",
            "/origin/%zz",
            "/origin/%2",
            "/",
        ] {
            assert_eq!(ambiguous_path(path), None, "{path}");
        }
    }

    proptest! {
        /// Decoding never panics and keeps bytes that are not an escape as they are.
        #[test]
        fn decoding_is_total(raw in proptest::collection::vec(any::<u8>(), 0..40)) {
            let decoded = percent_decode(&raw);
            prop_assert!(decoded.len() <= raw.len());
            if !raw.contains(&b'%') {
                prop_assert_eq!(decoded, raw);
            }
        }

        #[test]
        fn stripped_path_is_the_rest_of_the_path(rest in "[a-z0-9/._-]{0,40}") {
            let r = route("o", "/p/", None, true);
            let path = format!("/p/{rest}");
            let out = backend_path(&r, &path);
            prop_assert!(out.starts_with('/'));
            prop_assert_eq!(out.trim_start_matches('/'), rest.trim_start_matches('/'));
        }
    }
}
