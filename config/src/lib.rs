//! Settings from the Config Store `firstbyte`: the text of `/`, the log level, how long an
//! instance waits for another request, and the routes.
//!
//! A Config Store cannot list its keys, so the schema is flat and named from the top:
//! `routes` lists route names in match order, and each route reads `route.<name>.<field>`.
//! Parsing is separated from the store (the [`Source`] trait) so every rule is unit-tested
//! without a host, and every error names the key it is about.

use std::fmt;
use std::time::Duration;

use log::LevelFilter;

use crate::chain::{default_content_types, parse_compress, Chain, Stage, Statuses};
use firstbyte_transform::codec::Limits;

/// The Config Store this app reads; fastly.toml links it locally and for deployment.
pub const STORE: &str = "firstbyte";

/// What `GET /` says when the store has no `response_text`.
pub const DEFAULT_RESPONSE_TEXT: &str =
    "Welcome to firstbyte: large and progressive responses, first byte first.";

/// Upper bound for any timeout a route may set: longer waits are configuration mistakes.
const MAX_TIMEOUT_MS: u64 = 10 * 60 * 1000;

/// Reuse is opt-in: a waiting instance holds (and is billed for) its memory, and on this
/// project's benchmark it lowered every mode's TTFB without closing the gap it was built
/// for (README, "Instance reuse"), so whether the wait pays is the operator's call.
pub const DEFAULT_REUSE_MS: u64 = 0;
/// The platform bounds the wait itself (Viceroy at 10 s); longer settings are mistakes.
const MAX_REUSE_MS: u64 = 60 * 1000;

/// The largest body `/_fb/gen` makes unless `generator_max_bytes` says otherwise.
pub const DEFAULT_GENERATOR_MAX_BYTES: u64 = 1 << 30;
/// The generator's own ceiling (a deliberately absurd 1 TiB for benchmarks).
const MAX_GENERATOR_BYTES: u64 = 1 << 40;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub response_text: String,
    pub log_level: LevelFilter,
    /// Whether error bodies say what went wrong in detail (the key, the value, the backend's
    /// error); otherwise a 5xx says only its status and the detail goes to the app log.
    pub debug_errors: bool,
    /// The largest body `/_fb/gen` may make; `None`: the generator is off (404).
    pub generator: Option<u64>,
    /// How long an instance that has served a request waits for the next one; zero serves
    /// one request per instance.
    pub reuse_wait: Duration,
    pub routes: Vec<Route>,
}

/// Where a family of paths goes, and how the backend request is shaped.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub name: String,
    /// Path prefix; see [`crate::routing`] for how it matches.
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
}

/// A setting that cannot be used, with the key that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub key: String,
    pub reason: String,
}

impl ConfigError {
    fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

impl std::error::Error for ConfigError {}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config key '{}': {}", self.key, self.reason)
    }
}

/// Where settings come from: the Config Store at the edge, a map in tests.
pub trait Source {
    /// The value of `key`, `None` when it is absent, `Err` when the store cannot answer.
    fn get(&self, key: &str) -> Result<Option<String>, String>;
    /// Whether fastly.toml (or the service) declares a backend of this name.
    fn backend_exists(&self, name: &str) -> bool;
}

impl Config {
    /// Reads and checks every setting; the first unusable one is the error.
    pub fn parse(source: &impl Source) -> Result<Config, ConfigError> {
        let get = |key: &str| -> Result<Option<String>, ConfigError> {
            source
                .get(key)
                .map_err(|reason| ConfigError::new(key, reason))
        };
        let response_text = get("response_text")?.unwrap_or_else(|| DEFAULT_RESPONSE_TEXT.into());
        let log_level = log_level(&get("log_level")?)?;
        let debug_errors = debug_errors(&get("debug_errors")?)?;
        let generator = generator(&get("generator")?, &get("generator_max_bytes")?)?;
        let reuse_wait = reuse_wait(&get("reuse_ms")?)?;
        let mut routes = Vec::new();
        for name in route_names(&get("routes")?)? {
            let route = parse_route(name, source, &get)?;
            routes.push(route);
        }
        Ok(Config {
            response_text,
            log_level,
            debug_errors,
            generator,
            reuse_wait,
            routes,
        })
    }
}

/// What a request needs before anything of it can log or fail: the log level and how much
/// an error may say. Read leniently (a bad or unreadable value means the default here), so
/// that the full parse can still report it, at the right level, in the right words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preamble {
    pub log_level: LevelFilter,
    pub debug_errors: bool,
}

impl Default for Preamble {
    fn default() -> Self {
        Preamble {
            log_level: LevelFilter::Info,
            debug_errors: false,
        }
    }
}

impl Preamble {
    pub fn read(source: &impl Source) -> Preamble {
        let defaults = Preamble::default();
        Preamble {
            log_level: source
                .get("log_level")
                .ok()
                .and_then(|v| log_level(&v).ok())
                .unwrap_or(defaults.log_level),
            debug_errors: source
                .get("debug_errors")
                .ok()
                .and_then(|v| debug_errors(&v).ok())
                .unwrap_or(defaults.debug_errors),
        }
    }
}

/// The log level alone, read before anything else so that the logger can start first.
pub fn log_level(value: &Option<String>) -> Result<LevelFilter, ConfigError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(LevelFilter::Info),
        Some(text) => text.parse().map_err(|_| {
            ConfigError::new(
                "log_level",
                format!("'{text}' is not one of off, error, warn, info, debug, trace"),
            )
        }),
    }
}

/// `debug_errors`, read on its own too: a failure must know how much to say even when the
/// rest of the config cannot be read.
pub fn debug_errors(value: &Option<String>) -> Result<bool, ConfigError> {
    switch("debug_errors", value)
}

/// The generator's ceiling when `generator` is on.
fn generator(
    switched: &Option<String>,
    max_bytes: &Option<String>,
) -> Result<Option<u64>, ConfigError> {
    if !switch("generator", switched)? {
        return Ok(None);
    }
    let Some(text) = max_bytes.as_deref().map(str::trim) else {
        return Ok(Some(DEFAULT_GENERATOR_MAX_BYTES));
    };
    match text.parse::<u64>() {
        Ok(n) if n <= MAX_GENERATOR_BYTES => Ok(Some(n)),
        _ => Err(ConfigError::new(
            "generator_max_bytes",
            format!("'{text}' is not a whole number of bytes up to {MAX_GENERATOR_BYTES}"),
        )),
    }
}

/// `on` or `off` (absent: off, the safe setting for a deployed service).
fn switch(key: &str, value: &Option<String>) -> Result<bool, ConfigError> {
    match value.as_deref().map(str::trim) {
        None | Some("") | Some("off") => Ok(false),
        Some("on") => Ok(true),
        Some(other) => Err(ConfigError::new(key, format!("'{other}' is not on or off"))),
    }
}

fn reuse_wait(value: &Option<String>) -> Result<Duration, ConfigError> {
    match value.as_deref().map(str::trim) {
        None => Ok(Duration::from_millis(DEFAULT_REUSE_MS)),
        Some(text) => millis("reuse_ms", text, 0..=MAX_REUSE_MS),
    }
}

fn route_names(value: &Option<String>) -> Result<Vec<&str>, ConfigError> {
    let Some(list) = value else {
        return Ok(Vec::new());
    };
    let mut names: Vec<&str> = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let valid = name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Err(ConfigError::new(
                "routes",
                format!("route name '{name}' may only hold letters, digits, '_' and '-'"),
            ));
        }
        if names.contains(&name) {
            return Err(ConfigError::new(
                "routes",
                format!("route '{name}' is listed twice"),
            ));
        }
        names.push(name);
    }
    Ok(names)
}

fn parse_route(
    name: &str,
    source: &impl Source,
    get: &impl Fn(&str) -> Result<Option<String>, ConfigError>,
) -> Result<Route, ConfigError> {
    let key = |field: &str| format!("route.{name}.{field}");
    let required = |field: &str| -> Result<String, ConfigError> {
        let k = key(field);
        match get(&k)? {
            Some(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
            _ => Err(ConfigError::new(k, "is required")),
        }
    };
    let optional = |field: &str| -> Result<Option<(String, String)>, ConfigError> {
        let k = key(field);
        Ok(get(&k)?
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .map(|v| (k, v)))
    };

    let prefix = required("prefix")?;
    if !prefix.starts_with('/') {
        return Err(ConfigError::new(key("prefix"), "must start with '/'"));
    }
    let backend = required("backend")?;
    if !source.backend_exists(&backend) {
        return Err(ConfigError::new(
            key("backend"),
            format!("no backend named '{backend}' is declared in fastly.toml"),
        ));
    }
    let host = optional("host")?.map(|(_, h)| h.to_ascii_lowercase());
    let flag = |field: &str| -> Result<bool, ConfigError> {
        match optional(field)? {
            None => Ok(false),
            Some((k, v)) => parse_bool(&k, &v),
        }
    };
    let strip_prefix = flag("strip_prefix")?;
    let pump = flag("pump")?;
    let raw_paths = flag("raw_paths")?;
    let ttl = match optional("ttl")? {
        None => None,
        Some((k, v)) => Some(
            v.parse::<u32>()
                .map_err(|_| ConfigError::new(k, format!("'{v}' is not a number of seconds")))?,
        ),
    };
    let host_override = match optional("host_override")? {
        Some((k, v)) if !v.bytes().all(|b| b.is_ascii_graphic()) => {
            return Err(ConfigError::new(k, "must be a host name without spaces"));
        }
        other => other.map(|(_, v)| v),
    };
    Ok(Route {
        name: name.to_string(),
        prefix,
        host,
        backend,
        strip_prefix,
        ttl,
        host_override,
        first_byte_timeout: timeout(optional("first_byte_timeout_ms")?)?,
        between_bytes_timeout: timeout(optional("between_bytes_timeout_ms")?)?,
        raw_paths,
        pump,
        chain: parse_chain(&optional)?,
    })
}

/// `transforms`, each stage's JSON parameters, `compress`, `content_types`, `statuses` and
/// the decompression limits; a chain exists when stages or compression are configured.
fn parse_chain(
    optional: &impl Fn(&str) -> Result<Option<(String, String)>, ConfigError>,
) -> Result<Option<Chain>, ConfigError> {
    let mut stages = Vec::new();
    if let Some((key, list)) = optional("transforms")? {
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if !matches!(name, "replace" | "html") {
                return Err(ConfigError::new(
                    key,
                    format!("unknown stage '{name}' (known: replace, html; compression is set with compress)"),
                ));
            }
            if stages.iter().any(|s: &Stage| s.name() == name) {
                return Err(ConfigError::new(
                    key,
                    format!("stage '{name}' is listed twice"),
                ));
            }
            let (stage_key, json) = optional(name)?.ok_or_else(|| {
                ConfigError::new(key.replace("transforms", name), "is required by transforms")
            })?;
            stages.push(Stage::parse(name, &json).map_err(|e| ConfigError::new(stage_key, e))?);
        }
    }
    let compress = match optional("compress")? {
        None => Vec::new(),
        Some((k, v)) => parse_compress(&v).map_err(|e| ConfigError::new(k, e))?,
    };
    if stages.is_empty() && compress.is_empty() {
        return Ok(None);
    }
    let content_types = match optional("content_types")? {
        None => default_content_types(&stages),
        Some((_, v)) => v
            .split(',')
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .collect(),
    };
    let statuses = match optional("statuses")? {
        None => Statuses::default(),
        Some((k, v)) => Statuses::parse(&v).map_err(|e| ConfigError::new(k, e))?,
    };
    let mut limits = Limits::default();
    if let Some((k, v)) = optional("max_inflate_ratio")? {
        limits.max_ratio = positive(&k, &v)?;
    }
    if let Some((k, v)) = optional("max_inflated_bytes")? {
        limits.max_output = positive(&k, &v)?;
    }
    Ok(Some(Chain {
        stages,
        compress,
        content_types,
        statuses,
        limits,
    }))
}

fn positive(key: &str, value: &str) -> Result<u64, ConfigError> {
    match value.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ConfigError::new(
            key,
            format!("'{value}' is not a positive whole number"),
        )),
    }
}

fn parse_bool(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ConfigError::new(
            key,
            format!("'{value}' is not true or false"),
        )),
    }
}

fn timeout(entry: Option<(String, String)>) -> Result<Option<Duration>, ConfigError> {
    entry
        .map(|(key, value)| millis(&key, &value, 1..=MAX_TIMEOUT_MS))
        .transpose()
}

/// A whole number of milliseconds within `range`.
fn millis(
    key: &str,
    value: &str,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Duration, ConfigError> {
    match value.parse::<u64>() {
        Ok(ms) if range.contains(&ms) => Ok(Duration::from_millis(ms)),
        _ => Err(ConfigError::new(
            key,
            format!(
                "'{value}' is not a whole number of milliseconds from {} to {}",
                range.start(),
                range.end()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;
    use std::collections::HashMap;

    struct Map(HashMap<&'static str, &'static str>);

    impl Source for Map {
        fn get(&self, key: &str) -> Result<Option<String>, String> {
            Ok(self.0.get(key).map(|v| v.to_string()))
        }
        fn backend_exists(&self, name: &str) -> bool {
            name == "origin"
        }
    }

    fn parse(pairs: &[(&'static str, &'static str)]) -> Result<Config, ConfigError> {
        Config::parse(&Map(pairs.iter().copied().collect()))
    }

    fn err_key(pairs: &[(&'static str, &'static str)]) -> String {
        match parse(pairs) {
            Err(e) => e.key,
            Ok(c) => panic!("expected an error, parsed {c:?}"),
        }
    }

    const ORIGIN: &[(&str, &str)] = &[
        ("routes", "origin"),
        ("route.origin.prefix", "/origin/"),
        ("route.origin.backend", "origin"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut pairs = ORIGIN.to_vec();
        pairs.extend_from_slice(extra);
        pairs
    }

    #[test]
    fn empty_store_gives_defaults_and_no_routes() -> TestResult {
        let config = parse(&[])?;
        assert_eq!(config.response_text, DEFAULT_RESPONSE_TEXT);
        assert_eq!(config.log_level, LevelFilter::Info);
        assert_eq!(config.reuse_wait, Duration::from_millis(DEFAULT_REUSE_MS));
        assert!(!config.debug_errors, "errors are terse unless asked");
        assert_eq!(config.generator, None, "the generator is off unless asked");
        assert!(config.routes.is_empty());
        Ok(())
    }

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
        assert_eq!(config.response_text, "hi");
        assert_eq!(config.log_level, LevelFilter::Debug);
        assert!(config.debug_errors);
        assert_eq!(config.generator, Some(DEFAULT_GENERATOR_MAX_BYTES));
        assert_eq!(
            config.reuse_wait,
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
            }]
        );
        Ok(())
    }

    #[test]
    fn the_preamble_reads_what_it_can_and_defaults_the_rest() {
        let map = |pairs: &[(&'static str, &'static str)]| Map(pairs.iter().copied().collect());
        let p = Preamble::read(&map(&[("log_level", "error"), ("debug_errors", "on")]));
        assert_eq!(
            p,
            Preamble {
                log_level: LevelFilter::Error,
                debug_errors: true
            }
        );
        let bad = Preamble::read(&map(&[("log_level", "loud"), ("debug_errors", "maybe")]));
        assert_eq!(bad, Preamble::default());
    }

    #[test]
    fn the_generator_takes_a_ceiling() -> TestResult {
        let config = parse(&[("generator", "on"), ("generator_max_bytes", "4096")])?;
        assert_eq!(config.generator, Some(4096));
        let off = parse(&[("generator", "off"), ("generator_max_bytes", "4096")])?;
        assert_eq!(off.generator, None);
        Ok(())
    }

    #[test]
    fn routes_keep_their_listed_order() -> TestResult {
        let config = parse(&[
            ("routes", " b , a "),
            ("route.a.prefix", "/a"),
            ("route.a.backend", "origin"),
            ("route.b.prefix", "/b"),
            ("route.b.backend", "origin"),
        ])?;
        let names: Vec<_> = config.routes.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
        Ok(())
    }

    #[test]
    fn each_bad_setting_names_its_key() {
        assert_eq!(err_key(&[("log_level", "loud")]), "log_level");
        assert_eq!(err_key(&[("reuse_ms", "-1")]), "reuse_ms");
        assert_eq!(err_key(&[("debug_errors", "yes")]), "debug_errors");
        assert_eq!(err_key(&[("generator", "true")]), "generator");
        assert_eq!(
            err_key(&[
                ("generator", "on"),
                ("generator_max_bytes", "1099511627777")
            ]),
            "generator_max_bytes"
        );
        assert_eq!(
            err_key(&with(&[("route.origin.raw_paths", "on")])),
            "route.origin.raw_paths"
        );
        assert_eq!(err_key(&[("reuse_ms", "60001")]), "reuse_ms");
        assert_eq!(err_key(&[("routes", "a b")]), "routes");
        assert_eq!(err_key(&[("routes", "a,a")]), "routes");
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
    fn transform_chain_is_read_and_checked() -> TestResult {
        let config = parse(&with(&[
            ("route.origin.transforms", "replace, html"),
            ("route.origin.replace", r#"{"rules": [["origin", "edge"]]}"#),
            ("route.origin.html", r#"{"remove": ["script"]}"#),
            ("route.origin.compress", "br,gzip"),
            ("route.origin.statuses", "200"),
            ("route.origin.max_inflate_ratio", "50"),
        ]))?;
        let chain = config.routes[0].chain.as_ref().ok_or("chain")?;
        let names: Vec<_> = chain.stages.iter().map(Stage::name).collect();
        assert_eq!(names, ["replace", "html"]);
        assert_eq!(chain.content_types, ["text/html"]);
        assert_eq!(chain.limits.max_ratio, 50);

        assert_eq!(
            err_key(&with(&[("route.origin.transforms", "gzip")])),
            "route.origin.transforms"
        );
        assert_eq!(
            err_key(&with(&[("route.origin.transforms", "replace")])),
            "route.origin.replace"
        );
        assert_eq!(
            err_key(&with(&[
                ("route.origin.transforms", "replace"),
                ("route.origin.replace", r#"{"rules": [["", "x"]]}"#)
            ])),
            "route.origin.replace"
        );
        assert_eq!(
            err_key(&with(&[
                ("route.origin.transforms", "html"),
                ("route.origin.html", r#"{"remove": ["div[["]}"#)
            ])),
            "route.origin.html"
        );
        assert_eq!(
            err_key(&with(&[("route.origin.compress", "zstd")])),
            "route.origin.compress"
        );
        assert_eq!(
            err_key(&with(&[
                ("route.origin.compress", "gzip"),
                ("route.origin.statuses", "2x")
            ])),
            "route.origin.statuses"
        );
        assert!(parse(ORIGIN)?.routes[0].chain.is_none());
        Ok(())
    }

    #[test]
    fn unknown_backend_reason_says_where_backends_come_from() {
        let err = parse(&with(&[("route.origin.backend", "nowhere")])).unwrap_err();
        assert!(err.reason.contains("fastly.toml"), "{err}");
        assert!(err
            .to_string()
            .starts_with("config key 'route.origin.backend'"));
    }

    #[test]
    fn store_failure_names_the_key_it_was_reading() {
        struct Broken;
        impl Source for Broken {
            fn get(&self, key: &str) -> Result<Option<String>, String> {
                if key == "routes" {
                    Err("value too long".into())
                } else {
                    Ok(None)
                }
            }
            fn backend_exists(&self, _: &str) -> bool {
                true
            }
        }
        let err = Config::parse(&Broken).unwrap_err();
        assert_eq!(
            (err.key.as_str(), err.reason.as_str()),
            ("routes", "value too long")
        );
    }
}
