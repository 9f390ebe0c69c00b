//! Whether a route composes pages from fragments (Edge Side Includes), and the bounds of a
//! composition: the `esi` and `esi_*` keys.

use std::time::Duration;

use crate::error::{take, ConfigError};
use crate::route_keys::RouteKeys;
use crate::store::Source;
use crate::value::{keyword, millis, positive, switch};

/// How a route composes its responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EsiSettings {
    pub mode: EsiMode,
    /// How deep includes may nest: a fragment whose own route composes is processed too,
    /// down to this many levels below the page (`esi_max_depth`).
    pub max_depth: u32,
    /// Requests one page may make in all, its template included (`esi_max_fragments`);
    /// includes past it follow their `onerror`.
    pub max_requests: u32,
    /// Bytes of fragments that finished early (and of template read ahead) held in memory
    /// in all before their reads pause (`esi_buffer_bytes`).
    pub buffer_bytes: u64,
    /// How long a fragment may take, from its request to its last byte, less any time the
    /// page held its reads to stay within `esi_buffer_bytes` (`esi_fragment_timeout_ms`).
    pub fragment_timeout: Duration,
    /// The cookies `$(HTTP_COOKIE{name})` may read in this route's templates
    /// (`esi_cookies`); any other name is empty. None by default: a template that reflects a
    /// client's input must not be able to copy its cookies into a URL.
    pub cookies: Vec<String>,
}

/// `esi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EsiMode {
    /// Only responses that ask for it with `Surrogate-Control: content="ESI/1.0"`.
    Surrogate,
    /// Every HTML response.
    On,
}

pub const DEFAULT_ESI_MAX_DEPTH: u32 = 5;
/// Fastly allows 32 backend requests per execution.
pub const DEFAULT_ESI_MAX_REQUESTS: u32 = 32;
pub const DEFAULT_ESI_BUFFER_BYTES: u64 = 1 << 20;
pub const DEFAULT_ESI_FRAGMENT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_DEPTH: u64 = 10;
const MAX_REQUESTS: u64 = 1000;
const MAX_FRAGMENT_TIMEOUT_MS: u64 = 10 * 60 * 1000;

const REFINEMENTS: [&str; 5] = [
    "esi_max_depth",
    "esi_max_fragments",
    "esi_buffer_bytes",
    "esi_fragment_timeout_ms",
    "esi_cookies",
];

/// The `esi` keys. Without `esi` a request reads no other; the deploy-time check (`check`)
/// reads them all, to report those that would have no effect. Every unusable key lands in
/// `errors`.
pub(crate) fn parse_esi(
    keys: &RouteKeys<'_, impl Source>,
    check: bool,
    errors: &mut Vec<ConfigError>,
) -> Option<EsiSettings> {
    let mode = take(errors, keys.optional("esi")).flatten();
    if mode.is_none() && !check {
        return None;
    }
    let mut field = |f: &str| take(errors, keys.optional(f)).flatten();
    let refinements: Vec<Option<(String, String)>> = REFINEMENTS.iter().map(|f| field(f)).collect();
    let Some((mode_key, mode)) = mode else {
        for (key, _) in refinements.into_iter().flatten() {
            errors.push(ConfigError::new(key, "has no effect without esi"));
        }
        return None;
    };
    let before = errors.len();
    let mode = keyword(
        &mode_key,
        &mode,
        &[("surrogate", EsiMode::Surrogate), ("on", EsiMode::On)],
    )
    .unwrap_or_else(|e| {
        errors.push(e);
        EsiMode::On
    });
    let mut settings = EsiSettings {
        mode,
        max_depth: DEFAULT_ESI_MAX_DEPTH,
        max_requests: DEFAULT_ESI_MAX_REQUESTS,
        buffer_bytes: DEFAULT_ESI_BUFFER_BYTES,
        fragment_timeout: DEFAULT_ESI_FRAGMENT_TIMEOUT,
        cookies: Vec::new(),
    };
    let mut apply = |result: Result<(), ConfigError>| {
        if let Err(e) = result {
            errors.push(e);
        }
    };
    let [depth, requests, buffer, timeout, cookies] =
        [0, 1, 2, 3, 4].map(|i| refinements[i].clone());
    if let Some((k, v)) = depth {
        apply(bounded(&k, &v, MAX_DEPTH).map(|n| settings.max_depth = n as u32));
    }
    if let Some((k, v)) = requests {
        apply(bounded(&k, &v, MAX_REQUESTS).map(|n| settings.max_requests = n as u32));
    }
    if let Some((k, v)) = buffer {
        apply(positive(&k, &v).map(|n| settings.buffer_bytes = n));
    }
    if let Some((k, v)) = timeout {
        apply(millis(&k, &v, 1..=MAX_FRAGMENT_TIMEOUT_MS).map(|d| settings.fragment_timeout = d));
    }
    if let Some((k, v)) = cookies {
        apply(cookie_names(&k, &v).map(|names| settings.cookies = names));
    }
    (errors.len() == before).then_some(settings)
}

/// `esi_credentials`: whether a fragment request to this route carries the client's
/// `Cookie` and `Authorization`. A key of the fragment's own route, which need not compose.
pub(crate) fn parse_credentials(
    keys: &RouteKeys<'_, impl Source>,
    errors: &mut Vec<ConfigError>,
) -> bool {
    match take(errors, keys.optional("esi_credentials")).flatten() {
        None => false,
        Some((k, v)) => take(errors, switch(&k, &Some(v))).unwrap_or(false),
    }
}

/// A comma-separated list of cookie names (RFC 6265 tokens), case-sensitive as cookies are.
fn cookie_names(key: &str, value: &str) -> Result<Vec<String>, ConfigError> {
    let mut names: Vec<String> = Vec::new();
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let token = name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token {
            return Err(ConfigError::new(
                key,
                format!("'{name}' is not a cookie name"),
            ));
        }
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    Ok(names)
}

fn bounded(key: &str, value: &str, max: u64) -> Result<u64, ConfigError> {
    match value.parse::<u64>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(ConfigError::new(
            key,
            format!("'{value}' is not a whole number from 1 to {max}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{err_key, parse, with, TestResult};

    fn esi(extra: &[(&'static str, &'static str)]) -> Result<Option<EsiSettings>, ConfigError> {
        Ok(parse(&with(extra))?.routes.remove(0).esi)
    }

    #[test]
    fn a_route_composes_when_it_says_so() -> TestResult {
        assert_eq!(esi(&[])?, None);
        assert_eq!(
            esi(&[("route.origin.esi", "surrogate")])?,
            Some(EsiSettings {
                mode: EsiMode::Surrogate,
                max_depth: 5,
                max_requests: 32,
                buffer_bytes: 1 << 20,
                fragment_timeout: Duration::from_secs(10),
                cookies: Vec::new(),
            })
        );
        assert_eq!(
            esi(&[
                ("route.origin.esi", "on"),
                ("route.origin.esi_max_depth", "2"),
                ("route.origin.esi_max_fragments", "8"),
                ("route.origin.esi_buffer_bytes", "65536"),
                ("route.origin.esi_fragment_timeout_ms", "300"),
                ("route.origin.esi_cookies", "session, theme,session"),
            ])?,
            Some(EsiSettings {
                mode: EsiMode::On,
                max_depth: 2,
                max_requests: 8,
                buffer_bytes: 65536,
                fragment_timeout: Duration::from_millis(300),
                cookies: vec!["session".into(), "theme".into()],
            })
        );
        Ok(())
    }

    #[test]
    fn unusable_values_name_their_key() {
        for (key, value) in [
            ("route.origin.esi", "yes"),
            ("route.origin.esi_max_depth", "0"),
            ("route.origin.esi_max_depth", "11"),
            ("route.origin.esi_max_fragments", "none"),
            ("route.origin.esi_buffer_bytes", "0"),
            ("route.origin.esi_fragment_timeout_ms", "0"),
            ("route.origin.esi_cookies", "a;b"),
            ("route.origin.esi_cookies", "se ssion"),
            ("route.origin.esi_credentials", "yes"),
        ] {
            let mut entries = vec![(key, value)];
            if key != "route.origin.esi" && key != "route.origin.esi_credentials" {
                entries.push(("route.origin.esi", "on"));
            }
            assert_eq!(err_key(&with(&entries)), key, "{key} = {value}");
        }
        assert_eq!(
            err_key(&with(&[("route.origin.esi_max_depth", "3")])),
            "route.origin.esi_max_depth",
            "has no effect without esi"
        );
        assert_eq!(
            err_key(&with(&[("route.origin.esi_cookies", "session")])),
            "route.origin.esi_cookies",
            "has no effect without esi"
        );
    }

    /// A fragment's route opts in to the client's credentials whether or not it composes.
    #[test]
    fn credentials_are_a_fragment_routes_own_choice() -> TestResult {
        let route = |extra| -> Result<bool, ConfigError> {
            Ok(parse(&with(extra))?.routes.remove(0).esi_credentials)
        };
        assert!(!route(&[])?);
        assert!(route(&[("route.origin.esi_credentials", "on")])?);
        assert!(!route(&[("route.origin.esi_credentials", "off")])?);
        assert!(route(&[
            ("route.origin.esi_credentials", "on"),
            ("route.origin.esi", "surrogate")
        ])?);
        Ok(())
    }
}
