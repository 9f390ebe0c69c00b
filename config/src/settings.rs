//! The global settings, which every request reads: the log level, how much an error may
//! say, the generator, instance reuse and the route list ([`Settings`]); the two of them a
//! request needs before anything of it can log ([`ErrorReporting`]); and every setting at
//! once, global and of every route ([`Config`]), for the deploy-time check; and the source
//! through which the route list's matches answer for their routes' keys ([`ListedMatches`]).

use std::time::Duration;

use log::LevelFilter;

use crate::error::ConfigError;
use crate::route::Route;
use crate::route_keys::route_key;
use crate::route_table::{check_table, keys_read, RouteTables};
use crate::store::{read, Source};
use crate::value::{millis, switch};

/// What `GET /` says when the store has no `response_text`.
pub const DEFAULT_RESPONSE_TEXT: &str =
    "Welcome to firstbyte: large and progressive responses, first byte first.";

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
    /// standing in for the route's `prefix` and `host` keys: see [`ListedMatches`].
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
        let source = RouteTables::new(source);
        let settings = Settings::parse(&source)?;
        let listed = ListedMatches::new(&source, &settings);
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
        let tables = RouteTables::new(source);
        let source = &tables;
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
        let listed = ListedMatches::new(source, &settings);
        for name in &settings.routes {
            let (checked, keys) = keys_read(&listed, |r| Route::check(name, r));
            if let Err(mut e) = checked {
                errors.append(&mut e);
            }
            errors.append(&mut check_table(&tables, name, &keys));
        }
        errors
    }
}

/// How a request reports what goes wrong: the log level and how much an error may say.
/// It is read before anything of the request can log or fail, and leniently when
/// [`Settings::parse`] failed (a bad or unreadable value then means the default), so that
/// the full parse can still report it, at the right level, in the right words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorReporting {
    pub log_level: LevelFilter,
    pub debug_errors: bool,
}

impl Default for ErrorReporting {
    fn default() -> Self {
        ErrorReporting {
            log_level: LevelFilter::Info,
            debug_errors: false,
        }
    }
}

impl From<&Settings> for ErrorReporting {
    fn from(settings: &Settings) -> ErrorReporting {
        ErrorReporting {
            log_level: settings.log_level,
            debug_errors: settings.debug_errors,
        }
    }
}

impl ErrorReporting {
    /// The two keys alone, for when [`Settings::parse`] failed.
    pub fn read(source: &impl Source) -> ErrorReporting {
        let defaults = ErrorReporting::default();
        ErrorReporting {
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

/// A source in which the matches the `routes` list gives (`name prefix [host]` entries,
/// [`Settings::matches`]) answer for their routes' `prefix` and `host` keys, which are then
/// not read from the store; every other key is the wrapped source's. So the rest of the
/// config reads a route the same whichever way its match is given.
pub struct ListedMatches<'a, S> {
    source: &'a S,
    settings: &'a Settings,
}

impl<'a, S: Source> ListedMatches<'a, S> {
    pub fn new(source: &'a S, settings: &'a Settings) -> ListedMatches<'a, S> {
        ListedMatches { source, settings }
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

impl<S: Source> Source for ListedMatches<'_, S> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{err_key, parse, source, TestResult, ORIGIN};
    use crate::store::Recorder;

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
    fn error_reporting_reads_what_it_can_and_defaults_the_rest() {
        let p = ErrorReporting::read(&source(&[("log_level", "error"), ("debug_errors", "on")]));
        assert_eq!(
            p,
            ErrorReporting {
                log_level: LevelFilter::Error,
                debug_errors: true
            }
        );
        let bad =
            ErrorReporting::read(&source(&[("log_level", "loud"), ("debug_errors", "maybe")]));
        assert_eq!(bad, ErrorReporting::default());
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
        let route = Route::parse("b", &ListedMatches::new(&recorder, &settings))
            .map_err(|e| format!("{e:?}"))?;
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
    fn each_bad_global_setting_names_its_key() {
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
        assert_eq!(err_key(&[("reuse_ms", "60001")]), "reuse_ms");
        assert_eq!(err_key(&[("routes", "a b")]), "routes");
        assert_eq!(err_key(&[("routes", "a,a")]), "routes");
    }
}
