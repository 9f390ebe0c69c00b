//! Settings from the Config Store `firstbyte`: the text of `/`, the log level, how long an
//! instance waits for another request, and the routes.
//!
//! A Config Store cannot list its keys, so the schema is flat and named from the top:
//! `routes` lists route names in match order, and each route reads `route.<name>.<field>`.
//! Parsing is separated from the store (the [`Source`] trait) so every rule is unit-tested
//! without a host, and every error names the key it is about.
//!
//! A request pays only for what it uses: [`Settings`] (the global keys and the route
//! list), then each listed route's `prefix` (and `host`, once the prefix matches) until
//! one matches, then that one [`Route`]. Checking every key of every route is a deploy-time
//! job: [`Config::check`], which `make check-config` runs natively over fastly.toml.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use log::LevelFilter;

pub mod chain;

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

/// Every setting at once: what [`Config::check`] and the tests read.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub settings: Settings,
    pub routes: Vec<Route>,
}

/// The global settings and the route list: what every request reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub log_level: LevelFilter,
    /// Whether error bodies say what went wrong in detail (the key, the value, the backend's
    /// error); otherwise a 5xx says only its status and the detail goes to the app log.
    pub debug_errors: bool,
    /// The largest body `/_fb/gen` may make; `None`: the generator is off (404).
    pub generator: Option<u64>,
    /// How long an instance that has served a request waits for the next one; zero serves
    /// one request per instance.
    pub reuse_wait: Duration,
    /// Route names, in match order.
    pub routes: Vec<String>,
    /// Beside each route, the match the list itself gives (a `name prefix [host]` entry),
    /// standing in for the route's `prefix` and `host` keys: see [`Listed`].
    pub matches: Vec<Option<Match>>,
}

/// A route's match as the `routes` list can give it: with many routes, matching then reads
/// one key instead of each route's `prefix` (a lookup a route, at the edge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub prefix: String,
    /// Lowercase.
    pub host: Option<String>,
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
    /// This app's own cache of its output (`cache_ttl`); `None`: every request is fetched and
    /// transformed anew. Unlike `ttl` (the read-through cache, which stores what the backend
    /// sent), this stores what the client receives, after the chain.
    pub cache: Option<CacheSettings>,
}

/// How a route keeps its output in the edge cache (`cache_*` keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSettings {
    /// Seconds an object is fresh.
    pub ttl: u32,
    /// Seconds after that in which the stale object is still served while one request
    /// refreshes it.
    pub stale_while_revalidate: u32,
    /// The largest object stored; a larger body streams through uncached.
    pub max_bytes: u64,
}

/// An object larger than this is not stored unless `cache_max_bytes` says otherwise.
pub const DEFAULT_CACHE_MAX_BYTES: u64 = 1 << 30;
/// A year: longer freshness is a configuration mistake (and beyond what a cache keeps).
const MAX_CACHE_SECONDS: u64 = 365 * 24 * 60 * 60;

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

impl Settings {
    /// Reads the global keys and the route list; the first unusable one is the error.
    pub fn parse(source: &impl Source) -> Result<Settings, ConfigError> {
        let get = |key: &str| read(source, key);
        let log_level = log_level(&get("log_level")?)?;
        let debug_errors = debug_errors(&get("debug_errors")?)?;
        // The ceiling is read only when the generator is on ([`Config::check`] reads it
        // always).
        let generator = match switch("generator", &get("generator")?)? {
            true => Some(generator_max(&get("generator_max_bytes")?)?),
            false => None,
        };
        let reuse_wait = reuse_wait(&get("reuse_ms")?)?;
        let entries = route_list(&get("routes")?)?;
        Ok(Settings {
            log_level,
            debug_errors,
            generator,
            reuse_wait,
            routes: entries.iter().map(|(name, _)| name.clone()).collect(),
            matches: entries.into_iter().map(|(_, m)| m).collect(),
        })
    }
}

impl Config {
    /// Reads and checks every setting of every route, stages built; the first unusable
    /// one is the error.
    pub fn parse(source: &impl Source) -> Result<Config, ConfigError> {
        let settings = Settings::parse(source)?;
        let listed = Listed::new(source, &settings);
        let mut routes = Vec::new();
        for name in &settings.routes {
            let route = Route::check(name, &listed).map_err(|mut errors| errors.remove(0))?;
            routes.push(route);
        }
        Ok(Config { settings, routes })
    }

    /// Every unusable setting, global or of any route, each naming its key: the deploy-time
    /// check. Empty when the configuration is sound.
    pub fn check(source: &impl Source) -> Vec<ConfigError> {
        let settings = match Settings::parse(source) {
            Ok(settings) => settings,
            Err(e) => return vec![e],
        };
        let mut errors = Vec::new();
        // Read by requests only while the generator is on; checked whatever it is.
        if let Err(e) = read(source, "generator_max_bytes").and_then(|v| generator_max(&v)) {
            errors.push(e);
        }
        // A match given twice, in the list and in the route's own keys, is one too many.
        let listed = settings.routes.iter().zip(&settings.matches);
        for (name, m) in listed.filter_map(|(n, m)| Some((n, m.as_ref()?))) {
            for field in ["prefix", "host"] {
                let key = route_key(name, field);
                if matches!(read(source, &key), Ok(Some(_))) {
                    errors.push(ConfigError::new(
                        key,
                        format!(
                            "the routes list gives this route's match ('{name} {}'); remove one",
                            m.prefix
                        ),
                    ));
                }
            }
        }
        let listed = Listed::new(source, &settings);
        for name in &settings.routes {
            if let Err(mut e) = Route::check(name, &listed) {
                errors.append(&mut e);
            }
        }
        errors
    }
}

fn read(source: &impl Source, key: &str) -> Result<Option<String>, ConfigError> {
    source
        .get(key)
        .map_err(|reason| ConfigError::new(key, reason))
}

/// `route.<name>.<field>`
pub fn route_key(name: &str, field: &str) -> String {
    format!("route.{name}.{field}")
}

/// A route's field, trimmed; `None` when absent or blank, with the key it came from.
fn optional(
    source: &impl Source,
    name: &str,
    field: &str,
) -> Result<Option<(String, String)>, ConfigError> {
    let key = route_key(name, field);
    Ok(read(source, &key)?
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .map(|v| (key, v)))
}

/// A route's `prefix`: what matching reads first.
pub fn route_prefix(source: &impl Source, name: &str) -> Result<String, ConfigError> {
    let Some((key, prefix)) = optional(source, name, "prefix")? else {
        return Err(ConfigError::new(route_key(name, "prefix"), "is required"));
    };
    if !prefix.starts_with('/') {
        return Err(ConfigError::new(key, "must start with '/'"));
    }
    Ok(prefix)
}

/// A route's `host`, lowercase: read only once its prefix matched.
pub fn route_host(source: &impl Source, name: &str) -> Result<Option<String>, ConfigError> {
    Ok(optional(source, name, "host")?.map(|(_, h)| h.to_ascii_lowercase()))
}

/// Settings held in memory: the tests' store, and fastly.toml's stores for the native
/// deploy-time check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MapSource {
    pub values: HashMap<String, String>,
    /// The backend names that exist.
    pub backends: Vec<String>,
}

impl MapSource {
    pub fn new<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
        backends: impl IntoIterator<Item = impl Into<String>>,
    ) -> MapSource {
        MapSource {
            values: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            backends: backends.into_iter().map(Into::into).collect(),
        }
    }
}

impl Source for MapSource {
    fn get(&self, key: &str) -> Result<Option<String>, String> {
        Ok(self.values.get(key).cloned())
    }
    fn backend_exists(&self, name: &str) -> bool {
        self.backends.iter().any(|b| b == name)
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

impl From<&Settings> for Preamble {
    fn from(settings: &Settings) -> Preamble {
        Preamble {
            log_level: settings.log_level,
            debug_errors: settings.debug_errors,
        }
    }
}

impl Preamble {
    /// The two keys alone, for when [`Settings::parse`] failed.
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

/// The generator's ceiling, `generator_max_bytes`.
fn generator_max(value: &Option<String>) -> Result<u64, ConfigError> {
    let Some(text) = value.as_deref().map(str::trim) else {
        return Ok(DEFAULT_GENERATOR_MAX_BYTES);
    };
    match text.parse::<u64>() {
        Ok(n) if n <= MAX_GENERATOR_BYTES => Ok(n),
        _ => Err(ConfigError::new(
            "generator_max_bytes",
            format!("'{text}' is not a whole number of bytes up to {MAX_GENERATOR_BYTES}"),
        )),
    }
}

/// What `GET /` says: read only by the request that asks for it.
pub fn response_text(source: &impl Source) -> Result<String, ConfigError> {
    Ok(read(source, "response_text")?.unwrap_or_else(|| DEFAULT_RESPONSE_TEXT.into()))
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

/// The `routes` list: `name`, or `name prefix [host]` to give the route's match in the list.
fn route_list(value: &Option<String>) -> Result<Vec<(String, Option<Match>)>, ConfigError> {
    let Some(list) = value else {
        return Ok(Vec::new());
    };
    let bad = |reason: String| ConfigError::new("routes", reason);
    let mut entries: Vec<(String, Option<Match>)> = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let mut fields = entry.split_whitespace();
        let name = fields.next().unwrap_or_default();
        let valid = name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Err(bad(format!(
                "route name '{name}' may only hold letters, digits, '_' and '-'"
            )));
        }
        if entries.iter().any(|(n, _)| n == name) {
            return Err(bad(format!("route '{name}' is listed twice")));
        }
        let m = match (fields.next(), fields.next(), fields.next()) {
            (None, _, _) => None,
            (Some(prefix), host, None) => {
                if !prefix.starts_with('/') {
                    return Err(bad(format!(
                        "route '{name}': prefix '{prefix}' must start with '/'"
                    )));
                }
                Some(Match {
                    prefix: prefix.to_string(),
                    host: host.map(str::to_ascii_lowercase),
                })
            }
            (Some(_), _, Some(extra)) => {
                return Err(bad(format!(
                    "route '{name}': '{extra}' is one field too many (name prefix [host])"
                )))
            }
        };
        entries.push((name.to_string(), m));
    }
    Ok(entries)
}

/// A source in which the matches the `routes` list gives stand for their routes' `prefix`
/// and `host` keys (which are then not read), so the rest of the config reads a route the
/// same whichever way its match is given.
pub struct Listed<'a, S> {
    source: &'a S,
    settings: &'a Settings,
}

impl<'a, S: Source> Listed<'a, S> {
    pub fn new(source: &'a S, settings: &'a Settings) -> Listed<'a, S> {
        Listed { source, settings }
    }

    /// The value the list gives for `key`, when it is a listed match's prefix or host.
    fn listed(&self, key: &str) -> Option<Option<String>> {
        let (name, field) = key.strip_prefix("route.")?.rsplit_once('.')?;
        // Only these two fields can be listed: any other key goes to the store unscanned.
        if field != "prefix" && field != "host" {
            return None;
        }
        let i = self.settings.routes.iter().position(|n| n == name)?;
        let m = self.settings.matches.get(i)?.as_ref()?;
        Some(match field {
            "prefix" => Some(m.prefix.clone()),
            _ => m.host.clone(),
        })
    }
}

impl<S: Source> Source for Listed<'_, S> {
    fn get(&self, key: &str) -> Result<Option<String>, String> {
        match self.listed(key) {
            Some(value) => Ok(value),
            None => self.source.get(key),
        }
    }

    fn backend_exists(&self, name: &str) -> bool {
        self.source.backend_exists(name)
    }
}

/// A source that remembers each key read from it and the value it gave: what a route was
/// built from (so a reused instance can tell when it changed), or what a read touched.
pub struct Recorder<'a, S> {
    source: &'a S,
    reads: RefCell<Vec<(String, Option<String>)>>,
}

impl<'a, S: Source> Recorder<'a, S> {
    pub fn new(source: &'a S) -> Recorder<'a, S> {
        Recorder {
            source,
            reads: RefCell::default(),
        }
    }

    /// The reads so far, in order.
    pub fn into_reads(self) -> Vec<(String, Option<String>)> {
        self.reads.into_inner()
    }
}

impl<S: Source> Source for Recorder<'_, S> {
    fn get(&self, key: &str) -> Result<Option<String>, String> {
        let value = self.source.get(key)?;
        self.reads
            .borrow_mut()
            .push((key.to_string(), value.clone()));
        Ok(value)
    }

    fn backend_exists(&self, name: &str) -> bool {
        self.source.backend_exists(name)
    }
}

impl Route {
    /// Reads and checks one route's every key; every unusable one is reported. Stages are
    /// parsed, not built (see [`Stage::parse`]).
    pub fn parse(name: &str, source: &impl Source) -> Result<Route, Vec<ConfigError>> {
        Route::read(name, source, false)
    }

    /// `check`: the deploy-time check, which builds every stage and reads every key, even
    /// those the route's other settings make irrelevant to a request.
    fn read(name: &str, source: &impl Source, check: bool) -> Result<Route, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let prefix = take(&mut errors, route_prefix(source, name));
        let host = take(&mut errors, route_host(source, name)).flatten();
        let backend = take(&mut errors, backend(source, name));
        let flag = |field: &str| -> Result<bool, ConfigError> {
            match optional(source, name, field)? {
                None => Ok(false),
                Some((k, v)) => parse_bool(&k, &v),
            }
        };
        let strip_prefix = take(&mut errors, flag("strip_prefix"));
        let pump = take(&mut errors, flag("pump"));
        let raw_paths = take(&mut errors, flag("raw_paths"));
        let ttl = take(
            &mut errors,
            optional(source, name, "ttl").and_then(|entry| {
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
            optional(source, name, "host_override").and_then(|entry| match entry {
                Some((k, v)) if !v.bytes().all(|b| b.is_ascii_graphic()) => {
                    Err(ConfigError::new(k, "must be a host name without spaces"))
                }
                other => Ok(other.map(|(_, v)| v)),
            }),
        )
        .flatten();
        let first_byte_timeout = take(
            &mut errors,
            optional(source, name, "first_byte_timeout_ms").and_then(timeout),
        )
        .flatten();
        let between_bytes_timeout = take(
            &mut errors,
            optional(source, name, "between_bytes_timeout_ms").and_then(timeout),
        )
        .flatten();
        let chain = parse_chain(&|field| optional(source, name, field), check, &mut errors);
        let cache = take(&mut errors, parse_cache(source, name, check)).flatten();
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
                })
            }
            _ => Err(errors),
        }
    }
}

impl Route {
    /// [`Route::parse`], with every stage built once and every key read, even those the
    /// route's other settings make irrelevant: what a deploy-time check adds.
    pub fn check(name: &str, source: &impl Source) -> Result<Route, Vec<ConfigError>> {
        Route::read(name, source, true)
    }
}

fn backend(source: &impl Source, name: &str) -> Result<String, ConfigError> {
    let Some((key, backend)) = optional(source, name, "backend")? else {
        return Err(ConfigError::new(route_key(name, "backend"), "is required"));
    };
    if !source.backend_exists(&backend) {
        return Err(ConfigError::new(
            key,
            format!("no backend named '{backend}' is declared in fastly.toml"),
        ));
    }
    Ok(backend)
}

/// `transforms`, each stage's JSON parameters, `compress`, `content_types`, `statuses` and
/// the decompression limits; a chain exists when stages or compression are configured.
/// Each key is checked on its own, and every unusable one lands in `errors`. `check` as in
/// [`Route::read`].
fn parse_chain(
    optional: &impl Fn(&str) -> Result<Option<(String, String)>, ConfigError>,
    check: bool,
    errors: &mut Vec<ConfigError>,
) -> Option<Chain> {
    let stages = take(errors, parse_stages(optional, check)).unwrap_or_default();
    let compress = take(
        errors,
        optional("compress").and_then(|entry| match entry {
            None => Ok(Vec::new()),
            Some((k, v)) => parse_compress(&v).map_err(|e| ConfigError::new(k, e)),
        }),
    )
    .unwrap_or_default();
    // The keys below only shape a chain. A request without one does not read them; the
    // deploy-time check does, to report them.
    if !check && stages.is_empty() && compress.is_empty() {
        return None;
    }
    let content_types = take(errors, optional("content_types"))
        .flatten()
        .map(|(_, v)| {
            v.split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .filter(|t| !t.is_empty())
                .collect()
        });
    let statuses = take(
        errors,
        optional("statuses").and_then(|entry| match entry {
            None => Ok(Statuses::default()),
            Some((k, v)) => Statuses::parse(&v).map_err(|e| ConfigError::new(k, e)),
        }),
    )
    .unwrap_or_default();
    let mut limits = Limits::default();
    if let Some(ratio) = take(errors, limit(optional, "max_inflate_ratio")).flatten() {
        limits.max_ratio = ratio;
    }
    if let Some(bytes) = take(errors, limit(optional, "max_inflated_bytes")).flatten() {
        limits.max_output = bytes;
    }
    if stages.is_empty() && compress.is_empty() {
        return None;
    }
    Some(Chain {
        content_types: content_types.unwrap_or_else(|| default_content_types(&stages)),
        stages,
        compress,
        statuses,
        limits,
    })
}

/// `transforms` and each listed stage's JSON, parsed, and built once when `build` asks
/// (a request builds a stage once per response that needs it; `make check-config` builds
/// each one before deploy).
fn parse_stages(
    optional: &impl Fn(&str) -> Result<Option<(String, String)>, ConfigError>,
    build: bool,
) -> Result<Vec<Stage>, ConfigError> {
    let mut stages = Vec::new();
    let Some((key, list)) = optional("transforms")? else {
        return Ok(stages);
    };
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
        let stage = Stage::parse(name, &json)
            .and_then(|stage| match build {
                true => stage.check().map(|()| stage),
                false => Ok(stage),
            })
            .map_err(|e| ConfigError::new(stage_key, e))?;
        stages.push(stage);
    }
    Ok(stages)
}

/// `cache_ttl` turns the cache on; the other `cache_*` keys only refine it, so setting them
/// alone is a mistake worth naming.
/// The `cache_*` keys. Without `cache_ttl` a request reads no other; the deploy-time check
/// (`check`) reads them all, to report those that have no effect.
fn parse_cache(
    source: &impl Source,
    name: &str,
    check: bool,
) -> Result<Option<CacheSettings>, ConfigError> {
    let seconds = |field: &str, min: u64| -> Result<Option<u32>, ConfigError> {
        optional(source, name, field)?
            .map(|(key, value)| match value.parse::<u64>() {
                Ok(n) if (min..=MAX_CACHE_SECONDS).contains(&n) => {
                    u32::try_from(n).map_err(|_| ConfigError::new(&key, "is too large"))
                }
                _ => Err(ConfigError::new(
                    &key,
                    format!("'{value}' is not a whole number of seconds from {min} to {MAX_CACHE_SECONDS}"),
                )),
            })
            .transpose()
    };
    let ttl = seconds("cache_ttl", 1)?;
    if ttl.is_none() && !check {
        return Ok(None);
    }
    let stale_while_revalidate = seconds("cache_stale_while_revalidate", 0)?;
    let max_bytes = optional(source, name, "cache_max_bytes")?
        .map(|(k, v)| positive(&k, &v).map(|n| (k, n)))
        .transpose()?;
    let Some(ttl) = ttl else {
        if let Some(key) = stale_while_revalidate
            .map(|_| route_key(name, "cache_stale_while_revalidate"))
            .or(max_bytes.map(|(k, _)| k))
        {
            return Err(ConfigError::new(key, "has no effect without cache_ttl"));
        }
        return Ok(None);
    };
    Ok(Some(CacheSettings {
        ttl,
        stale_while_revalidate: stale_while_revalidate.unwrap_or(0),
        max_bytes: max_bytes.map_or(DEFAULT_CACHE_MAX_BYTES, |(_, n)| n),
    }))
}

fn limit(
    optional: &impl Fn(&str) -> Result<Option<(String, String)>, ConfigError>,
    field: &str,
) -> Result<Option<u64>, ConfigError> {
    optional(field)?.map(|(k, v)| positive(&k, &v)).transpose()
}

/// The value of a check that passed; a failed one lands in `errors`, so that parsing goes on
/// and every unusable key is reported.
fn take<T>(errors: &mut Vec<ConfigError>, result: Result<T, ConfigError>) -> Option<T> {
    result.map_err(|e| errors.push(e)).ok()
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

    fn source(pairs: &[(&'static str, &'static str)]) -> MapSource {
        MapSource::new(pairs.iter().copied(), ["origin"])
    }

    fn parse(pairs: &[(&'static str, &'static str)]) -> Result<Config, ConfigError> {
        Config::parse(&source(pairs))
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
        assert_eq!(response_text(&source(&[]))?, DEFAULT_RESPONSE_TEXT);
        assert_eq!(config.settings.log_level, LevelFilter::Info);
        assert_eq!(
            config.settings.reuse_wait,
            Duration::from_millis(DEFAULT_REUSE_MS)
        );
        assert!(
            !config.settings.debug_errors,
            "errors are terse unless asked"
        );
        assert_eq!(
            config.settings.generator, None,
            "the generator is off unless asked"
        );
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
            }]
        );
        Ok(())
    }

    #[test]
    fn the_preamble_reads_what_it_can_and_defaults_the_rest() {
        let p = Preamble::read(&source(&[("log_level", "error"), ("debug_errors", "on")]));
        assert_eq!(
            p,
            Preamble {
                log_level: LevelFilter::Error,
                debug_errors: true
            }
        );
        let bad = Preamble::read(&source(&[("log_level", "loud"), ("debug_errors", "maybe")]));
        assert_eq!(bad, Preamble::default());
    }

    #[test]
    fn the_generator_takes_a_ceiling() -> TestResult {
        let config = parse(&[("generator", "on"), ("generator_max_bytes", "4096")])?;
        assert_eq!(config.settings.generator, Some(4096));
        let off = parse(&[("generator", "off"), ("generator_max_bytes", "4096")])?;
        assert_eq!(off.settings.generator, None);
        Ok(())
    }

    #[test]
    fn the_check_reports_every_bad_key_of_every_route_at_once() {
        let errors = Config::check(&source(&[
            ("routes", "a,b,c"),
            ("route.a.prefix", "/a/"),
            ("route.a.backend", "nowhere"),
            ("route.a.pump", "yes"),
            ("route.b.prefix", "b"),
            ("route.b.backend", "origin"),
            ("route.b.transforms", "html"),
            ("route.b.html", r#"{"remove": ["p[["]}"#),
            ("route.b.compress", "zstd"),
            ("route.c.prefix", "/c/"),
            ("route.c.backend", "origin"),
            ("route.c.transforms", "replace"),
            ("route.c.replace", r#"{"rules": [["", "x"]]}"#),
        ]));
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "route.a.backend",
                "route.a.pump",
                "route.b.prefix",
                "route.b.html",
                "route.b.compress",
                "route.c.replace"
            ],
            "{errors:?}"
        );
        assert!(Config::check(&source(ORIGIN)).is_empty());
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
    fn the_generator_ceiling_is_read_while_on_and_checked_always() -> TestResult {
        let off = [("generator_max_bytes", "lots")];
        assert_eq!(Settings::parse(&source(&off))?.generator, None);
        let errors = Config::check(&source(&off));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].key, "generator_max_bytes");
        assert_eq!(
            err_key(&[("generator", "on"), ("generator_max_bytes", "lots")]),
            "generator_max_bytes"
        );
        Ok(())
    }

    #[test]
    fn the_routes_list_may_give_each_match() -> TestResult {
        let pairs = [
            ("routes", "a /a/, b /b Example.COM ,c"),
            ("route.a.backend", "origin"),
            ("route.b.backend", "origin"),
            ("route.c.prefix", "/c/"),
            ("route.c.backend", "origin"),
        ];
        let settings = Settings::parse(&source(&pairs))?;
        assert_eq!(settings.routes, ["a", "b", "c"]);
        let m = |prefix: &str, host: Option<&str>| {
            Some(Match {
                prefix: prefix.into(),
                host: host.map(Into::into),
            })
        };
        assert_eq!(
            settings.matches,
            [m("/a/", None), m("/b", Some("example.com")), None]
        );
        // The listed match stands for the keys, which are never read.
        let store = source(&pairs);
        let recorder = Recorder::new(&store);
        let route =
            Route::parse("b", &Listed::new(&recorder, &settings)).map_err(|e| format!("{e:?}"))?;
        assert_eq!(route.prefix, "/b");
        assert_eq!(route.host.as_deref(), Some("example.com"));
        assert!(!recorder
            .into_reads()
            .iter()
            .any(|(k, _)| k.ends_with(".prefix") || k.ends_with(".host")));
        assert_eq!(parse(&pairs)?.routes.len(), 3);
        assert!(Config::check(&source(&pairs)).is_empty());
        Ok(())
    }

    #[test]
    fn a_listed_match_is_checked_and_never_given_twice() {
        for (list, why) in [
            ("a a/", "must start with '/'"),
            ("a /a/ example.com extra", "one field too many"),
            ("a /a/, a /b/", "listed twice"),
        ] {
            let errors = Config::check(&source(&[("routes", list)]));
            assert_eq!(errors.len(), 1, "{list}: {errors:?}");
            assert_eq!(errors[0].key, "routes");
            assert!(errors[0].reason.contains(why), "{list}: {errors:?}");
        }
        let twice = [
            ("routes", "a /a/"),
            ("route.a.prefix", "/a/"),
            ("route.a.backend", "origin"),
        ];
        let errors = Config::check(&source(&twice));
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["route.a.prefix"], "{errors:?}");
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
    fn the_output_cache_is_off_unless_it_has_a_ttl() -> TestResult {
        let route =
            |extra: &[(&'static str, &'static str)]| -> Result<Option<CacheSettings>, ConfigError> {
                Ok(parse(&with(extra))?.routes.remove(0).cache)
            };
        assert_eq!(route(&[])?, None);
        assert_eq!(
            route(&[("route.origin.cache_ttl", "60")])?,
            Some(CacheSettings {
                ttl: 60,
                stale_while_revalidate: 0,
                max_bytes: DEFAULT_CACHE_MAX_BYTES,
            })
        );
        assert_eq!(
            route(&[
                ("route.origin.cache_ttl", " 5 "),
                ("route.origin.cache_stale_while_revalidate", "30"),
                ("route.origin.cache_max_bytes", "1048576"),
            ])?,
            Some(CacheSettings {
                ttl: 5,
                stale_while_revalidate: 30,
                max_bytes: 1 << 20,
            })
        );
        for (key, value) in [
            ("route.origin.cache_ttl", "0"),
            ("route.origin.cache_ttl", "soon"),
            ("route.origin.cache_ttl", "31536001"),
            ("route.origin.cache_ttl", "-5"),
        ] {
            assert_eq!(err_key(&with(&[(key, value)])), key, "{key} = {value}");
        }
        for (key, value) in [
            ("route.origin.cache_stale_while_revalidate", "-1"),
            ("route.origin.cache_max_bytes", "0"),
            ("route.origin.cache_max_bytes", "1 GiB"),
        ] {
            assert_eq!(
                err_key(&with(&[("route.origin.cache_ttl", "60"), (key, value)])),
                key,
                "{key} = {value}"
            );
            assert_eq!(err_key(&with(&[(key, value)])), key);
        }
        // Refinements without the switch would silently do nothing.
        assert_eq!(
            err_key(&with(&[("route.origin.cache_max_bytes", "10")])),
            "route.origin.cache_max_bytes"
        );
        assert_eq!(
            err_key(&with(&[(
                "route.origin.cache_stale_while_revalidate",
                "10"
            )])),
            "route.origin.cache_stale_while_revalidate"
        );
        Ok(())
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
