//! Which handler answers a request: the built-in pages first, then the configured routes in
//! their listed order. Nothing in a request can name a backend; it can only match a route.

use crate::config::{Config, Route};

/// Paths below this prefix belong to firstbyte itself and are never proxied.
pub const RESERVED_PREFIX: &str = "/_fb/";
pub const GENERATOR_PATH: &str = "/_fb/gen";

#[derive(Debug, PartialEq)]
pub enum Target<'a> {
    Home,
    Generator,
    Proxy(&'a Route),
    NotFound,
}

pub fn resolve<'a>(config: &'a Config, host: Option<&str>, path: &str) -> Target<'a> {
    if path == "/" {
        return Target::Home;
    }
    if path == GENERATOR_PATH {
        return Target::Generator;
    }
    if path.starts_with(RESERVED_PREFIX) {
        return Target::NotFound;
    }
    let host = host.map(host_without_port);
    config
        .routes
        .iter()
        .find(|route| host_matches(route, host) && prefix_matches(&route.prefix, path))
        .map_or(Target::NotFound, Target::Proxy)
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

fn host_matches(route: &Route, host: Option<&str>) -> bool {
    match (&route.host, host) {
        (None, _) => true,
        (Some(wanted), Some(host)) => wanted.eq_ignore_ascii_case(host),
        (Some(_), None) => false,
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
    use log::LevelFilter;
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
            pump: false,
            chain: None,
        }
    }

    fn config(routes: Vec<Route>) -> Config {
        Config {
            response_text: String::new(),
            log_level: LevelFilter::Info,
            reuse_wait: std::time::Duration::ZERO,
            routes,
        }
    }

    fn name<'a>(target: &Target<'a>) -> Option<&'a str> {
        match target {
            Target::Proxy(r) => Some(r.name.as_str()),
            _ => None,
        }
    }

    #[test]
    fn builtins_win_over_routes() {
        let c = config(vec![route("all", "/", None, false)]);
        assert_eq!(resolve(&c, None, "/"), Target::Home);
        assert_eq!(resolve(&c, None, "/_fb/gen"), Target::Generator);
        assert_eq!(resolve(&c, None, "/_fb/other"), Target::NotFound);
        assert_eq!(name(&resolve(&c, None, "/x")), Some("all"));
    }

    #[test]
    fn first_listed_match_wins_and_unknown_is_not_found() {
        let c = config(vec![
            route("narrow", "/origin/special", None, false),
            route("wide", "/origin/", None, true),
        ]);
        assert_eq!(
            name(&resolve(&c, None, "/origin/special/1")),
            Some("narrow")
        );
        assert_eq!(name(&resolve(&c, None, "/origin/bytes/1")), Some("wide"));
        assert_eq!(resolve(&c, None, "/elsewhere"), Target::NotFound);
        assert_eq!(resolve(&c, None, "/origin"), Target::NotFound);
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
    fn host_routes_ignore_case_and_port() {
        let c = config(vec![
            route("site", "/", Some("example.com"), false),
            route("fallback", "/", None, false),
        ]);
        assert_eq!(
            name(&resolve(&c, Some("EXAMPLE.com:8080"), "/a")),
            Some("site")
        );
        assert_eq!(
            name(&resolve(&c, Some("other.com"), "/a")),
            Some("fallback")
        );
        assert_eq!(name(&resolve(&c, None, "/a")), Some("fallback"));
        assert_eq!(host_without_port("[::1]:7676"), "[::1]");
        assert_eq!(host_without_port("[::1]"), "[::1]");
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

    proptest! {
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
