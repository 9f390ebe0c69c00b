//! One route: which requests it takes (`prefix`, `host`), the backend it sends them to and
//! how that request is shaped, each read from its `route.<name>.<field>` key. Its transform
//! chain is [`crate::chain`]'s, its output cache [`crate::cache`]'s.

use std::time::Duration;

use crate::cache::{parse_cache, CacheSettings};
use crate::chain::{parse_chain, Chain};
use crate::dictionary::parse_dictionary;
use crate::error::{take, ConfigError};
use crate::esi::{parse_credentials, parse_esi, EsiSettings};
use crate::route_keys::RouteKeys;
use crate::store::Source;
use crate::value::{millis, parse_bool};

/// Upper bound for any timeout a route may set: longer waits are configuration mistakes.
const MAX_TIMEOUT_MS: u64 = 10 * 60 * 1000;

/// Where a family of paths goes, and how the backend request is shaped.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub name: String,
    /// Path prefix; see the app's routing for how it matches.
    pub prefix: String,
    /// When set, the route only applies to requests for this host (case-insensitive, no port).
    pub host: Option<String>,
    /// A backend declared in fastly.toml.
    pub backend: String,
    pub strip_prefix: bool,
    /// Cache the response for this many seconds; without it the request passes the cache.
    pub ttl: Option<u32>,
    pub host_override: Option<String>,
    pub first_byte_timeout: Option<Duration>,
    pub between_bytes_timeout: Option<Duration>,
    /// Forward paths a backend could read differently than the router did (`%2F`, `..;`);
    /// off: such a path is refused with 400.
    pub raw_paths: bool,
    /// Copy the body through the app instead of handing it to the host: the access log then
    /// counts every byte and sees a backend that breaks off, at some cost in throughput.
    pub pump: bool,
    /// Transforms applied to matching responses; `None`: bodies pass through untouched.
    pub chain: Option<Chain>,
    /// This app's own cache of its output (`cache_ttl`); `None`: every request is fetched and
    /// transformed anew. Unlike `ttl` (the read-through cache, which stores what the backend
    /// sent), this stores what the client receives, after the chain.
    pub cache: Option<CacheSettings>,
    /// Whether the route composes its responses from fragments (`esi`); `None`: it does not.
    pub esi: Option<EsiSettings>,
    /// Whether a fragment request to this route carries the client's `Cookie` and
    /// `Authorization` (`esi_credentials`); off: neither reaches it.
    pub esi_credentials: bool,
}

/// A route's `prefix`: what matching reads first.
pub fn route_prefix(source: &impl Source, name: &str) -> Result<String, ConfigError> {
    let keys = RouteKeys::new(source, name);
    let Some((key, prefix)) = keys.optional("prefix")? else {
        return Err(ConfigError::new(keys.key("prefix"), "is required"));
    };
    if !prefix.starts_with('/') {
        return Err(ConfigError::new(key, "must start with '/'"));
    }
    Ok(prefix)
}

/// A route's `host`, lowercase: read only once its prefix matched.
pub fn route_host(source: &impl Source, name: &str) -> Result<Option<String>, ConfigError> {
    Ok(RouteKeys::new(source, name)
        .optional("host")?
        .map(|(_, h)| h.to_ascii_lowercase()))
}

impl Route {
    /// Reads and checks one route's every key; every unusable one is reported. Stages are
    /// parsed, not built (see [`crate::chain::Stage::parse`]).
    pub fn parse(name: &str, source: &impl Source) -> Result<Route, Vec<ConfigError>> {
        Route::read(name, source, false)
    }

    /// [`Route::parse`], with every stage built once and every key read, even those the
    /// route's other settings make irrelevant: what a deploy-time check adds.
    pub fn check(name: &str, source: &impl Source) -> Result<Route, Vec<ConfigError>> {
        Route::read(name, source, true)
    }

    /// `check`: the deploy-time check, which builds every stage and reads every key, even
    /// those the route's other settings make irrelevant to a request.
    fn read(name: &str, source: &impl Source, check: bool) -> Result<Route, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let keys = RouteKeys::new(source, name);
        let prefix = take(&mut errors, route_prefix(source, name));
        let host = take(&mut errors, route_host(source, name)).flatten();
        let backend = take(&mut errors, backend(&keys, source));
        let flag = |field: &str| -> Result<bool, ConfigError> {
            match keys.optional(field)? {
                None => Ok(false),
                Some((k, v)) => parse_bool(&k, &v),
            }
        };
        let strip_prefix = take(&mut errors, flag("strip_prefix"));
        let pump = take(&mut errors, flag("pump"));
        let raw_paths = take(&mut errors, flag("raw_paths"));
        let ttl = take(
            &mut errors,
            keys.optional("ttl").and_then(|entry| {
                entry
                    .map(|(k, v)| {
                        v.parse::<u32>().map_err(|_| {
                            ConfigError::new(k, format!("'{v}' is not a number of seconds"))
                        })
                    })
                    .transpose()
            }),
        )
        .flatten();
        let host_override = take(
            &mut errors,
            keys.optional("host_override")
                .and_then(|entry| match entry {
                    Some((k, v)) if !v.bytes().all(|b| b.is_ascii_graphic()) => {
                        Err(ConfigError::new(k, "must be a host name without spaces"))
                    }
                    other => Ok(other.map(|(_, v)| v)),
                }),
        )
        .flatten();
        let first_byte_timeout = take(
            &mut errors,
            keys.optional("first_byte_timeout_ms").and_then(timeout),
        )
        .flatten();
        let between_bytes_timeout = take(
            &mut errors,
            keys.optional("between_bytes_timeout_ms").and_then(timeout),
        )
        .flatten();
        let chain = parse_chain(&|field| keys.optional(field), check, &mut errors);
        let cache = parse_cache(&keys, check, &mut errors);
        let esi = parse_esi(&keys, check, &mut errors);
        let esi_credentials = parse_credentials(&keys, &mut errors);
        if check {
            // Not part of the route a request reads: see `crate::dictionary`.
            parse_dictionary(&keys, &mut errors);
        }
        match (prefix, backend, strip_prefix, pump, raw_paths) {
            (Some(prefix), Some(backend), Some(strip_prefix), Some(pump), Some(raw_paths))
                if errors.is_empty() =>
            {
                Ok(Route {
                    name: name.to_string(),
                    prefix,
                    host,
                    backend,
                    strip_prefix,
                    ttl,
                    host_override,
                    first_byte_timeout,
                    between_bytes_timeout,
                    raw_paths,
                    pump,
                    chain,
                    cache,
                    esi,
                    esi_credentials,
                })
            }
            _ => Err(errors),
        }
    }
}

fn backend<S: Source>(keys: &RouteKeys<'_, S>, source: &S) -> Result<String, ConfigError> {
    let Some((key, backend)) = keys.optional("backend")? else {
        return Err(ConfigError::new(keys.key("backend"), "is required"));
    };
    if !source.backend_exists(&backend) {
        return Err(ConfigError::new(
            key,
            format!("no backend named '{backend}' is declared in fastly.toml"),
        ));
    }
    Ok(backend)
}

fn timeout(entry: Option<(String, String)>) -> Result<Option<Duration>, ConfigError> {
    entry
        .map(|(key, value)| millis(&key, &value, 1..=MAX_TIMEOUT_MS))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{err_key, parse, source, with, TestResult};
    use crate::settings::{response_text, Settings, DEFAULT_GENERATOR_MAX_BYTES};
    use crate::store::Recorder;
    use log::LevelFilter;

    #[test]
    fn full_route_is_read() -> TestResult {
        let config = parse(&with(&[
            ("route.origin.host", "Example.COM"),
            ("route.origin.strip_prefix", "true"),
            ("route.origin.ttl", "60"),
            ("route.origin.host_override", "origin.example"),
            ("route.origin.first_byte_timeout_ms", "1500"),
            ("route.origin.between_bytes_timeout_ms", "250"),
            ("route.origin.pump", "true"),
            ("route.origin.raw_paths", "true"),
            ("log_level", "debug"),
            ("debug_errors", "on"),
            ("generator", "on"),
            ("reuse_ms", " 0 "),
            ("response_text", "hi"),
        ]))?;
        assert_eq!(response_text(&source(&[("response_text", "hi")]))?, "hi");
        assert_eq!(config.settings.log_level, LevelFilter::Debug);
        assert!(config.settings.debug_errors);
        assert_eq!(config.settings.generator, Some(DEFAULT_GENERATOR_MAX_BYTES));
        assert_eq!(
            config.settings.reuse_wait,
            Duration::ZERO,
            "0 serves one request per instance"
        );
        assert_eq!(
            config.routes,
            vec![Route {
                name: "origin".into(),
                prefix: "/origin/".into(),
                host: Some("example.com".into()),
                backend: "origin".into(),
                strip_prefix: true,
                ttl: Some(60),
                host_override: Some("origin.example".into()),
                first_byte_timeout: Some(Duration::from_millis(1500)),
                between_bytes_timeout: Some(Duration::from_millis(250)),
                raw_paths: true,
                pump: true,
                chain: None,
                cache: None,
                esi: None,
                esi_credentials: false,
            }]
        );
        Ok(())
    }

    #[test]
    fn a_route_reads_only_its_own_keys() -> TestResult {
        // Another route's unusable keys cost this one nothing.
        let pairs = with(&[
            ("routes", "broken,origin"),
            ("route.broken.prefix", "/b/"),
            ("route.broken.backend", "nowhere"),
            ("route.broken.transforms", "gzip"),
        ]);
        let route = Route::parse("origin", &source(&pairs)).map_err(|e| format!("{e:?}"))?;
        assert_eq!(route.prefix, "/origin/");
        let settings = Settings::parse(&source(&pairs))?;
        assert_eq!(settings.routes, ["broken", "origin"]);
        Ok(())
    }

    #[test]
    fn a_request_skips_keys_its_route_makes_irrelevant_and_the_check_reports_them() {
        // No stages, no compress, no cache_ttl: the chain's and the cache's other keys shape
        // nothing, so a request does not read them.
        let pairs = with(&[
            ("route.origin.statuses", "lots"),
            ("route.origin.content_types", "text/html"),
            ("route.origin.cache_max_bytes", "0"),
        ]);
        let store = source(&pairs);
        let recorder = Recorder::new(&store);
        assert!(Route::parse("origin", &recorder).is_ok());
        let read: Vec<String> = recorder.into_reads().into_iter().map(|(k, _)| k).collect();
        for skipped in ["statuses", "content_types", "cache_max_bytes"] {
            let key = format!("route.origin.{skipped}");
            assert!(!read.contains(&key), "{key} was read: {read:?}");
        }
        let errors = Route::check("origin", &source(&pairs))
            .err()
            .unwrap_or_default();
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            ["route.origin.statuses", "route.origin.cache_max_bytes"]
        );
    }

    #[test]
    fn each_bad_route_setting_names_its_key() {
        assert_eq!(
            err_key(&with(&[("route.origin.raw_paths", "on")])),
            "route.origin.raw_paths"
        );
        assert_eq!(err_key(&[("routes", "x")]), "route.x.prefix");
        assert_eq!(
            err_key(&[("routes", "x"), ("route.x.prefix", "/x")]),
            "route.x.backend"
        );
        assert_eq!(
            err_key(&[
                ("routes", "x"),
                ("route.x.prefix", "x"),
                ("route.x.backend", "origin")
            ]),
            "route.x.prefix"
        );
        assert_eq!(
            err_key(&with(&[("route.origin.backend", "nowhere")])),
            "route.origin.backend"
        );
        assert_eq!(
            err_key(&with(&[("route.origin.strip_prefix", "yes")])),
            "route.origin.strip_prefix"
        );
        assert_eq!(
            err_key(&with(&[("route.origin.ttl", "-1")])),
            "route.origin.ttl"
        );
        assert_eq!(
            err_key(&with(&[("route.origin.pump", "1")])),
            "route.origin.pump"
        );
        assert_eq!(
            err_key(&with(&[("route.origin.first_byte_timeout_ms", "0")])),
            "route.origin.first_byte_timeout_ms"
        );
        assert_eq!(
            err_key(&with(&[("route.origin.between_bytes_timeout_ms", "soon")])),
            "route.origin.between_bytes_timeout_ms"
        );
        assert_eq!(
            err_key(&with(&[("route.origin.host_override", "a b")])),
            "route.origin.host_override"
        );
    }

    #[test]
    fn unknown_backend_reason_says_where_backends_come_from() {
        let err = parse(&with(&[("route.origin.backend", "nowhere")])).unwrap_err();
        assert!(err.reason.contains("fastly.toml"), "{err}");
        assert!(err
            .to_string()
            .starts_with("config key 'route.origin.backend'"));
    }
}
