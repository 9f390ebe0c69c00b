//! A route's edge cache (the `cache_*` keys): `cache_ttl` turns it on and is the freshness of
//! responses that state none of their own; the other keys bound and refine what the origin
//! says, and decide which requests the cache answers. Which request headers a fill may
//! carry is `forwarding`'s.

use std::time::Duration;

use crate::error::{take, ConfigError};
use crate::route_keys::RouteKeys;
use crate::store::Source;
use crate::value::{keyword, millis, positive, seconds, switch};

mod forwarding;

use forwarding::{forward_headers, request_headers};
pub use forwarding::{ForwardHeaders, NOT_FORWARDABLE, POISONING, POISONING_FAMILIES};

/// How a route keeps its output in the edge cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSettings {
    /// Seconds fresh for a response that states no freshness of its own (`cache_ttl`); 0
    /// keeps the cache on but stores only responses that give freshness or a validator.
    pub ttl: u32,
    /// The longest any response stays fresh, whatever the origin says (`cache_max_ttl`).
    pub max_ttl: Option<u32>,
    /// Seconds a stale object is still served while one request refreshes it, when the
    /// origin does not say (`cache_stale_while_revalidate`).
    pub stale_while_revalidate: u32,
    /// Seconds a stale object is still served when the origin fails, when the origin does not
    /// say (`cache_stale_if_error`).
    pub stale_if_error: u32,
    /// Seconds a stale object with a validator is kept to be revalidated (`cache_keep`).
    pub keep: u32,
    /// The largest object stored; a larger body streams through uncached.
    pub max_bytes: u64,
    /// Whose freshness counts (`cache_freshness`).
    pub freshness: Freshness,
    /// Heuristic freshness: this percentage of the time since `Last-Modified`, for responses
    /// without explicit freshness (`cache_heuristic_percent`); `None`: off.
    pub heuristic_percent: Option<u8>,
    /// What a request with a `Cookie` does (`cache_cookies`).
    pub cookies: Cookies,
    /// Request headers a fill forwards to the origin, lowercase; the object varies on each
    /// (`cache_request_headers`). No other header of a client ever reaches a fill.
    pub request_headers: Vec<String>,
    /// How long a request waits for another to start filling the object it wants before it
    /// fetches for itself (`cache_wait_ms`).
    pub wait: Duration,
    /// What else of the client's request a fill forwards, unkeyed (`cache_forward_headers`).
    pub forward: ForwardHeaders,
    /// Whether a successful unsafe request marks its URL's objects stale
    /// (`cache_invalidate`).
    pub invalidate: bool,
}

/// `cache_freshness`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// The origin's `Surrogate-Control`, `CDN-Cache-Control`, `Cache-Control` and `Expires`
    /// say how long a response is fresh; `cache_ttl` is the default.
    Origin,
    /// Every storable response is fresh for `cache_ttl`, whatever the origin says (nginx's
    /// `proxy_ignore_headers`); `no-store`, `private` and `Set-Cookie` still keep it out.
    Route,
}

/// `cache_cookies`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cookies {
    /// A request with a `Cookie` goes to the origin, uncached (Varnish's built-in policy).
    Pass,
    /// A request with a `Cookie` uses the cache like any other; fills never carry it.
    Ignore,
}

/// An object larger than this is not stored unless `cache_max_bytes` says otherwise.
pub const DEFAULT_CACHE_MAX_BYTES: u64 = 1 << 30;
/// How long a stale object with a validator is kept for revalidation by default: an hour.
pub const DEFAULT_CACHE_KEEP: u32 = 3600;
/// How long a request waits for another's fill to start, by default (nginx's
/// `proxy_cache_lock_timeout` default).
pub const DEFAULT_CACHE_WAIT: Duration = Duration::from_secs(5);
const MAX_WAIT_MS: u64 = 10 * 60 * 1000;

/// The `cache_*` keys. Without `cache_ttl` a request reads no other; the deploy-time check
/// (`check`) reads them all, to report those that have no effect. Every unusable key lands
/// in `errors`.
pub(crate) fn parse_cache(
    keys: &RouteKeys<'_, impl Source>,
    check: bool,
    errors: &mut Vec<ConfigError>,
) -> Option<CacheSettings> {
    let mut field = |f: &str| take(errors, keys.optional(f)).flatten();
    let ttl_entry = field("cache_ttl");
    if ttl_entry.is_none() && !check {
        return None;
    }
    let entries: Vec<(&str, Option<(String, String)>)> = [
        "cache_max_ttl",
        "cache_stale_while_revalidate",
        "cache_stale_if_error",
        "cache_keep",
        "cache_max_bytes",
        "cache_freshness",
        "cache_heuristic_percent",
        "cache_cookies",
        "cache_request_headers",
        "cache_wait_ms",
        "cache_forward_headers",
        "cache_invalidate",
    ]
    .into_iter()
    .map(|f| (f, field(f)))
    .collect();
    let entry = |f: &str| {
        entries
            .iter()
            .find(|(n, _)| *n == f)
            .and_then(|(_, e)| e.clone())
    };
    let Some((ttl_key, ttl_value)) = ttl_entry else {
        // Refinements without the switch would silently do nothing.
        for (_, e) in &entries {
            if let Some((key, _)) = e {
                errors.push(ConfigError::new(key, "has no effect without cache_ttl"));
            }
        }
        return None;
    };
    let before = errors.len();
    let mut check_value = |result: Result<(), ConfigError>| {
        if let Err(e) = result {
            errors.push(e);
        }
    };
    let mut settings = CacheSettings {
        ttl: 0,
        max_ttl: None,
        stale_while_revalidate: 0,
        stale_if_error: 0,
        keep: DEFAULT_CACHE_KEEP,
        max_bytes: DEFAULT_CACHE_MAX_BYTES,
        freshness: Freshness::Origin,
        heuristic_percent: None,
        cookies: Cookies::Pass,
        request_headers: Vec::new(),
        wait: DEFAULT_CACHE_WAIT,
        forward: ForwardHeaders::None,
        invalidate: true,
    };
    check_value(seconds(&ttl_key, &ttl_value, 0).map(|n| settings.ttl = n));
    if let Some((k, v)) = entry("cache_max_ttl") {
        check_value(seconds(&k, &v, 1).map(|n| settings.max_ttl = Some(n)));
    }
    for (f, slot) in [
        (
            "cache_stale_while_revalidate",
            &mut settings.stale_while_revalidate,
        ),
        ("cache_stale_if_error", &mut settings.stale_if_error),
        ("cache_keep", &mut settings.keep),
    ] {
        if let Some((k, v)) = entry(f) {
            check_value(seconds(&k, &v, 0).map(|n| *slot = n));
        }
    }
    if let Some((k, v)) = entry("cache_max_bytes") {
        check_value(positive(&k, &v).map(|n| settings.max_bytes = n));
    }
    if let Some((k, v)) = entry("cache_freshness") {
        check_value(
            keyword(
                &k,
                &v,
                &[("origin", Freshness::Origin), ("route", Freshness::Route)],
            )
            .map(|f| settings.freshness = f),
        );
    }
    if let Some((k, v)) = entry("cache_heuristic_percent") {
        check_value(match v.parse::<u8>() {
            Ok(n) if (1..=100).contains(&n) => {
                settings.heuristic_percent = Some(n);
                Ok(())
            }
            _ => Err(ConfigError::new(
                k,
                format!("'{v}' is not a whole percentage from 1 to 100"),
            )),
        });
    }
    if let Some((k, v)) = entry("cache_cookies") {
        check_value(
            keyword(
                &k,
                &v,
                &[("pass", Cookies::Pass), ("ignore", Cookies::Ignore)],
            )
            .map(|c| settings.cookies = c),
        );
    }
    if let Some((k, v)) = entry("cache_request_headers") {
        check_value(request_headers(&k, &v).map(|h| settings.request_headers = h));
    }
    if let Some((k, v)) = entry("cache_wait_ms") {
        check_value(millis(&k, &v, 1..=MAX_WAIT_MS).map(|d| settings.wait = d));
    }
    if let Some((k, v)) = entry("cache_forward_headers") {
        check_value(forward_headers(&k, &v).map(|f| settings.forward = f));
    }
    if let Some((k, v)) = entry("cache_invalidate") {
        check_value(switch(&k, &Some(v)).map(|on| settings.invalidate = on));
    }
    if settings.freshness == Freshness::Route && settings.ttl == 0 {
        errors.push(ConfigError::new(
            ttl_key.clone(),
            "must be above 0 with cache_freshness = route (it is then every object's freshness)",
        ));
    }
    if let Some(max) = settings.max_ttl.filter(|max| *max < settings.ttl) {
        errors.push(ConfigError::new(
            keys.key("cache_max_ttl"),
            format!("{max} is below cache_ttl ({})", settings.ttl),
        ));
    }
    (errors.len() == before).then_some(settings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{err_key, parse, with, TestResult};

    fn cache(extra: &[(&'static str, &'static str)]) -> Result<Option<CacheSettings>, ConfigError> {
        Ok(parse(&with(extra))?.routes.remove(0).cache)
    }

    fn defaults(ttl: u32) -> CacheSettings {
        CacheSettings {
            ttl,
            max_ttl: None,
            stale_while_revalidate: 0,
            stale_if_error: 0,
            keep: DEFAULT_CACHE_KEEP,
            max_bytes: DEFAULT_CACHE_MAX_BYTES,
            freshness: Freshness::Origin,
            heuristic_percent: None,
            cookies: Cookies::Pass,
            request_headers: Vec::new(),
            wait: DEFAULT_CACHE_WAIT,
            forward: ForwardHeaders::None,
            invalidate: true,
        }
    }

    #[test]
    fn the_cache_is_off_unless_the_route_has_a_ttl() -> TestResult {
        assert_eq!(cache(&[]).map_err(|e| format!("{e:?}"))?, None);
        assert_eq!(
            cache(&[("route.origin.cache_ttl", "60")]).map_err(|e| format!("{e:?}"))?,
            Some(defaults(60))
        );
        assert_eq!(
            cache(&[("route.origin.cache_ttl", "0")]).map_err(|e| format!("{e:?}"))?,
            Some(defaults(0)),
            "on, storing only what states freshness or has a validator"
        );
        Ok(())
    }

    #[test]
    fn every_key_is_read() -> TestResult {
        let got = cache(&[
            ("route.origin.cache_ttl", " 5 "),
            ("route.origin.cache_max_ttl", "600"),
            ("route.origin.cache_stale_while_revalidate", "30"),
            ("route.origin.cache_stale_if_error", "300"),
            ("route.origin.cache_keep", "0"),
            ("route.origin.cache_max_bytes", "1048576"),
            ("route.origin.cache_freshness", "route"),
            ("route.origin.cache_heuristic_percent", "10"),
            ("route.origin.cache_cookies", "ignore"),
            (
                "route.origin.cache_request_headers",
                "Accept-Language, accept-language, Origin",
            ),
            ("route.origin.cache_wait_ms", "250"),
            (
                "route.origin.cache_forward_headers",
                "X-Request-Id, user-agent",
            ),
            ("route.origin.cache_invalidate", "off"),
        ])
        .map_err(|e| format!("{e:?}"))?;
        assert_eq!(
            got,
            Some(CacheSettings {
                ttl: 5,
                max_ttl: Some(600),
                stale_while_revalidate: 30,
                stale_if_error: 300,
                keep: 0,
                max_bytes: 1 << 20,
                freshness: Freshness::Route,
                heuristic_percent: Some(10),
                cookies: Cookies::Ignore,
                request_headers: vec!["accept-language".into(), "origin".into()],
                wait: Duration::from_millis(250),
                forward: ForwardHeaders::Only(vec!["x-request-id".into(), "user-agent".into()]),
                invalidate: false,
            })
        );
        Ok(())
    }

    #[test]
    fn unusable_values_name_their_key() {
        for (key, value) in [
            ("route.origin.cache_ttl", "soon"),
            ("route.origin.cache_ttl", "31536001"),
            ("route.origin.cache_ttl", "-5"),
        ] {
            assert_eq!(err_key(&with(&[(key, value)])), key, "{key} = {value}");
        }
        for (key, value) in [
            ("route.origin.cache_max_ttl", "0"),
            ("route.origin.cache_max_ttl", "30"),
            ("route.origin.cache_stale_while_revalidate", "-1"),
            ("route.origin.cache_stale_if_error", "x"),
            ("route.origin.cache_keep", "1.5"),
            ("route.origin.cache_max_bytes", "0"),
            ("route.origin.cache_max_bytes", "1 GiB"),
            ("route.origin.cache_freshness", "both"),
            ("route.origin.cache_heuristic_percent", "0"),
            ("route.origin.cache_heuristic_percent", "101"),
            ("route.origin.cache_cookies", "strip"),
            ("route.origin.cache_request_headers", "cookie"),
            ("route.origin.cache_request_headers", "Accept-Encoding"),
            ("route.origin.cache_request_headers", "proxy-x"),
            ("route.origin.cache_request_headers", "bad name"),
            ("route.origin.cache_wait_ms", "0"),
            ("route.origin.cache_request_headers", "X-Forwarded-Host"),
            ("route.origin.cache_forward_headers", "x-forwarded-host"),
            (
                "route.origin.cache_forward_headers",
                "x-request-id, X-Original-URL",
            ),
            ("route.origin.cache_forward_headers", "forwarded"),
            (
                "route.origin.cache_forward_headers",
                "x-http-method-override",
            ),
            ("route.origin.cache_forward_headers", "host"),
            ("route.origin.cache_forward_headers", "if-none-match"),
            ("route.origin.cache_forward_headers", "range"),
            ("route.origin.cache_forward_headers", "cookie"),
            ("route.origin.cache_forward_headers", "connection"),
            ("route.origin.cache_forward_headers", "proxy-authorization"),
            // `_` read as `-` (CGI-style origins read both as one variable).
            ("route.origin.cache_request_headers", "available_dictionary"),
            ("route.origin.cache_request_headers", "dictionary_id"),
            (
                "route.origin.cache_forward_headers",
                "available_dictionary, dictionary_id",
            ),
            ("route.origin.cache_forward_headers", "if_none_match"),
            ("route.origin.cache_forward_headers", "proxy_authorization"),
            ("route.origin.cache_forward_headers", ","),
            ("route.origin.cache_invalidate", "no"),
        ] {
            assert_eq!(
                err_key(&with(&[("route.origin.cache_ttl", "60"), (key, value)])),
                key,
                "{key} = {value}"
            );
            // Without cache_ttl the key is an error of its own: it would do nothing.
            assert_eq!(err_key(&with(&[(key, value)])), key);
        }
        assert_eq!(
            err_key(&with(&[
                ("route.origin.cache_ttl", "0"),
                ("route.origin.cache_freshness", "route")
            ])),
            "route.origin.cache_ttl",
            "route freshness needs a ttl to give"
        );
    }

    #[test]
    fn forward_headers_all_keeps_out_what_must_never_reach_a_fill() -> TestResult {
        let got = cache(&[
            ("route.origin.cache_ttl", "60"),
            ("route.origin.cache_forward_headers", " all "),
        ])
        .map_err(|e| format!("{e:?}"))?
        .ok_or("cache settings")?;
        assert_eq!(got.forward, ForwardHeaders::All);
        for name in [
            "user-agent",
            "x-request-id",
            "traceparent",
            "accept-language",
        ] {
            assert!(got.forward.forwards(name), "{name}");
        }
        for name in NOT_FORWARDABLE.iter().chain(POISONING.iter()) {
            assert!(!got.forward.forwards(name), "{name}");
        }
        for name in [
            "x-forwarded",
            "x-forwarded-host",
            "x-forwarded-anything",
            "x_forwarded_host",
            "x-forwarded_host",
            "x-envoy-original-path",
            "x-original-method",
            "cf-connecting-ip",
            "cf-ipcountry",
            "fastly-ff",
            "fastly-debug",
            "x_anything",
        ] {
            assert!(!got.forward.forwards(name), "{name}");
        }
        assert!(!got.forward.forwards("proxy-authorization"));
        assert!(!ForwardHeaders::None.forwards("user-agent"));
        let only = ForwardHeaders::Only(vec!["x-a".into()]);
        assert!(only.forwards("x-a") && !only.forwards("x-b"));
        Ok(())
    }

    #[test]
    fn a_listed_poisoning_header_is_refused_in_any_spelling() {
        for name in [
            "X_Forwarded_Host",
            "x-forwarded",
            "CF-Connecting-IP",
            "fastly-debug",
            "via",
        ] {
            for key in ["cache_forward_headers", "cache_request_headers"] {
                let full = format!("route.origin.{key}");
                let got = parse(&with(&[
                    ("route.origin.cache_ttl", "60"),
                    (full.clone().leak(), name.to_string().leak()),
                ]));
                assert!(got.is_err(), "{key} = {name}");
            }
        }
    }
}
