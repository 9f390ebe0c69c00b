//! A route's output cache: whether the app keeps what it sends in the edge cache, for how
//! long, and up to what size (the `cache_*` keys).

use crate::error::ConfigError;
use crate::route::{optional, route_key};
use crate::store::Source;
use crate::value::positive;

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

/// The `cache_*` keys. `cache_ttl` turns the cache on; the other `cache_*` keys only refine
/// it, so setting them alone is a mistake worth naming. Without `cache_ttl` a request reads
/// no other; the deploy-time check (`check`) reads them all, to report those that have no
/// effect.
pub(crate) fn parse_cache(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{err_key, parse, with, TestResult};

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
}
