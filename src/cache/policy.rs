//! Whether a response may be stored, and for how long it is fresh, from its head alone:
//! RFC 9111 §3 and §4.2, RFC 9213 (`CDN-Cache-Control`), RFC 5861 (`stale-while-revalidate`,
//! `stale-if-error`) and Fastly's `Surrogate-Control`, with the route's settings as the
//! defaults and bounds around what the origin says.
//!
//! Pure: the header values come through a closure and the clock is an argument, so every
//! rule is unit-tested without a host.

use std::time::{Duration, SystemTime};

use crate::cache_control::{delta_seconds, Directives, Seconds, MAX_DELTA};

/// A route's cache settings, as the freshness rules use them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// Seconds fresh for a response that states no freshness of its own (`cache_ttl`); 0
    /// stores such a response only when it has a validator, to be revalidated on each use.
    pub default_ttl: u32,
    /// Upper bound on any freshness (`cache_max_ttl`).
    pub max_ttl: Option<u32>,
    /// Defaults for responses that do not say (`cache_stale_while_revalidate`,
    /// `cache_stale_if_error`).
    pub stale_while_revalidate: u32,
    pub stale_if_error: u32,
    /// How long a stale object with a validator is kept to be revalidated (`cache_keep`).
    pub keep: u32,
    /// Heuristic freshness (RFC 9111 §4.2.2) as a percentage of the time since
    /// `Last-Modified`, for responses without explicit freshness (`cache_heuristic_percent`).
    pub heuristic_percent: Option<u8>,
    /// `false` (`cache_freshness = route`): the origin's freshness headers are ignored, as
    /// with nginx's `proxy_ignore_headers`; `no-store`, `private`, `Set-Cookie` and `Vary: *`
    /// still keep a response out.
    pub origin_freshness: bool,
    /// A composed page's include asked for this lifetime (its `ttl`, in seconds) for the
    /// object it stores: it stands for whatever the origin or the route would give, counted
    /// from when the answer arrives, and is still bounded by `max_ttl`. It changes only how
    /// long a storable answer is fresh, never whether one is storable; 0 stores nothing.
    pub include_ttl: Option<u32>,
}

/// How long a stored response is fresh and what may be done with it once stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    /// Freshness lifetime, from the response's generation (bounded by `max_ttl`).
    pub lifetime: Duration,
    /// Age when received: the upstream `Age` plus the time the origin took to answer.
    pub age: Duration,
    /// While stale by less than this, the object is served as it is refreshed.
    pub stale_while_revalidate: Duration,
    /// While stale by less than this, the object is served when the origin fails.
    pub stale_if_error: Duration,
    /// Never served stale, or without revalidation when `lifetime` is zero (`no-cache`,
    /// `must-revalidate`, `proxy-revalidate`, `s-maxage`).
    pub must_revalidate: bool,
}

impl Freshness {
    /// How long past its lifetime the object stays in the cache (the core cache's
    /// stale-while-revalidate period): as long as it may be served stale, and with a
    /// validator as long as the route keeps stale objects to revalidate them.
    pub fn kept_stale(&self, has_validator: bool, keep: u32) -> Duration {
        let keep = if has_validator {
            Duration::from_secs(u64::from(keep))
        } else {
            Duration::ZERO
        };
        self.stale_while_revalidate
            .max(self.stale_if_error)
            .max(keep)
    }
}

/// Whether a response may become an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Store(Freshness),
    /// Why not, for the access log.
    Refuse(String),
}

/// RFC 9110 §15.1: statuses a cache may store with heuristic (or the route's default)
/// freshness. 206 is left out: fills ask for whole objects.
const HEURISTIC_STATUSES: [u16; 11] = [200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501];

/// Judges a response head. `fields` gives every value of a header (lowercase name),
/// `received` is when its head arrived, `response_delay` how long the request took.
pub fn judge(
    status: u16,
    fields: &dyn Fn(&str) -> Vec<String>,
    rules: &Rules,
    received: SystemTime,
    response_delay: Duration,
) -> Verdict {
    if status < 200 || status == 206 || status == 304 {
        return Verdict::Refuse(format!("status {status}"));
    }
    let lines = |name: &str| fields(name);
    let parse = |name: &str| {
        let values = lines(name);
        Directives::parse(values.iter().map(String::as_str))
    };
    let cc = parse("cache-control");
    let surrogate = parse("surrogate-control");
    // Unlike the others, a Structured Field: one that does not parse counts as absent.
    let cdn = {
        let values = lines("cdn-cache-control");
        Directives::parse_dictionary(values.iter().map(String::as_str)).unwrap_or_default()
    };
    // The first targeted field present governs this cache, and Cache-Control (with Expires)
    // then does not (RFC 9213 §2.2): `CDN-Cache-Control: max-age=60` beside
    // `Cache-Control: no-store` is how an origin says "the CDN may keep it, browsers not".
    // Surrogate-Control governs only with a directive about caching: it also carries other
    // instructions (`content="ESI/1.0"`).
    let (governing, targeted) = if surrogate.has_other_than("content") {
        (&surrogate, true)
    } else if !cdn.is_empty() {
        (&cdn, true)
    } else {
        (&cc, false)
    };
    for refused in ["no-store", "private"] {
        if governing.has(refused) {
            return Verdict::Refuse(refused.into());
        }
    }
    if !lines("set-cookie").is_empty() {
        return Verdict::Refuse("set-cookie".into());
    }
    let vary = lines("vary");
    if vary
        .iter()
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == "*")
    {
        return Verdict::Refuse("vary *".into());
    }
    let age = upstream_age(&lines("age")) + Duration::from_secs(response_delay.as_secs());
    let has_validator = !lines("etag").is_empty() || !lines("last-modified").is_empty();
    let heuristic_status = HEURISTIC_STATUSES.contains(&status) || cc.has("public");

    let mut freshness = Freshness {
        lifetime: Duration::ZERO,
        age,
        stale_while_revalidate: secs(rules.stale_while_revalidate),
        stale_if_error: secs(rules.stale_if_error),
        must_revalidate: false,
    };
    let explicit = if rules.origin_freshness {
        let lifetime = match (governing.seconds("s-maxage"), governing.seconds("max-age")) {
            (Seconds::Valid(n), _) => Some(secs(n)),
            (Seconds::Invalid, _) => Some(Duration::ZERO),
            (Seconds::None, Seconds::Valid(n)) => Some(secs(n)),
            (Seconds::None, Seconds::Invalid) => Some(Duration::ZERO),
            (Seconds::None, Seconds::None) if !targeted => expires(&lines, received),
            (Seconds::None, Seconds::None) => None,
        };
        for (name, slot) in [
            (
                "stale-while-revalidate",
                &mut freshness.stale_while_revalidate,
            ),
            ("stale-if-error", &mut freshness.stale_if_error),
        ] {
            match governing.seconds(name) {
                Seconds::Valid(n) => *slot = secs(n),
                Seconds::Invalid => *slot = Duration::ZERO,
                Seconds::None => {}
            }
        }
        freshness.must_revalidate = governing.has("must-revalidate")
            || governing.has("proxy-revalidate")
            || governing.has("s-maxage")
            || governing.has("no-cache");
        if governing.has("no-cache") {
            // Stored, but revalidated before every use (RFC 9111 §5.2.2.4).
            Some(Duration::ZERO)
        } else {
            lifetime
        }
    } else {
        None
    };
    if explicit.is_none() && !heuristic_status {
        return Verdict::Refuse(format!("status {status} without explicit freshness"));
    }
    // An include's ttl says how long, never whether: not for an answer the origin wants
    // revalidated before every use (`no-cache`), and not for a status the cache stores only
    // with the origin's own freshness when the origin gave none (a 500 marked `public`).
    let no_cache = rules.origin_freshness && governing.has("no-cache");
    let ttl_applies = !no_cache && (HEURISTIC_STATUSES.contains(&status) || explicit.is_some());
    freshness.lifetime = match (rules.include_ttl, explicit) {
        (Some(0), _) => return Verdict::Refuse("the include's ttl is 0".into()),
        // From when the answer arrived, whatever `Age` it brought: the page asked for the
        // object to be kept this long, as `max_ttl` counts its bound.
        (Some(ttl), _) if ttl_applies => age + secs(ttl),
        (_, Some(lifetime)) => lifetime,
        (_, None) => match heuristic(&lines, rules, received) {
            Some(lifetime) => lifetime,
            None if rules.default_ttl > 0 => secs(rules.default_ttl),
            None if has_validator => Duration::ZERO,
            None => return Verdict::Refuse("no freshness and no validator".into()),
        },
    };
    if freshness.must_revalidate {
        freshness.stale_while_revalidate = Duration::ZERO;
        freshness.stale_if_error = Duration::ZERO;
    }
    if let Some(max) = rules.max_ttl {
        freshness.lifetime = freshness.lifetime.min(age + secs(max));
    }
    let usable_stale = has_validator
        || !freshness.stale_while_revalidate.is_zero()
        || !freshness.stale_if_error.is_zero();
    if freshness.lifetime <= age && !usable_stale {
        return Verdict::Refuse("stale on arrival, without a validator".into());
    }
    Verdict::Store(freshness)
}

fn secs(n: u32) -> Duration {
    Duration::from_secs(u64::from(n))
}

/// The upstream `Age` (RFC 9111 §5.1): delta-seconds; of a list (several members, or field
/// lines), the first member. A first member that is not delta-seconds is ignored.
fn upstream_age(values: &[String]) -> Duration {
    let first = values
        .first()
        .and_then(|line| line.split(',').next())
        .unwrap_or_default();
    delta_seconds(first.trim()).map_or(Duration::ZERO, secs)
}

/// `Expires` − `Date` (RFC 9111 §4.2.1), `Date` being when the head arrived if the origin
/// sent none. An `Expires` that is not a date (`0`, `-1`), or several that differ, means
/// already expired (§5.3).
fn expires(lines: &dyn Fn(&str) -> Vec<String>, received: SystemTime) -> Option<Duration> {
    let values = lines("expires");
    let first = values.first()?;
    if values.iter().any(|v| v.trim() != first.trim()) {
        return Some(Duration::ZERO);
    }
    let Ok(expires) = httpdate::parse_http_date(first.trim()) else {
        return Some(Duration::ZERO);
    };
    let date = origin_date(lines).unwrap_or(received);
    let lifetime = expires.duration_since(date).unwrap_or(Duration::ZERO);
    Some(lifetime.min(secs(MAX_DELTA)))
}

/// The origin's `Date`, when it sent one readable date.
fn origin_date(lines: &dyn Fn(&str) -> Vec<String>) -> Option<SystemTime> {
    match lines("date").as_slice() {
        [one] => httpdate::parse_http_date(one.trim()).ok(),
        _ => None,
    }
}

/// A percentage of the time since `Last-Modified`, when the route asks for heuristic
/// freshness and the origin says when the representation last changed.
fn heuristic(
    lines: &dyn Fn(&str) -> Vec<String>,
    rules: &Rules,
    received: SystemTime,
) -> Option<Duration> {
    let percent = rules.heuristic_percent?;
    let modified = match lines("last-modified").as_slice() {
        [one] => httpdate::parse_http_date(one.trim()).ok()?,
        _ => return None,
    };
    let date = origin_date(lines).unwrap_or(received);
    let since = date.duration_since(modified).ok()?;
    Some((since * u32::from(percent) / 100).min(secs(MAX_DELTA)))
}

#[cfg(test)]
mod tests;
