//! Whether a response may be stored, and for how long it is fresh, from its head alone:
//! RFC 9111 §3 and §4.2, RFC 9213 (`CDN-Cache-Control`), RFC 5861 (`stale-while-revalidate`,
//! `stale-if-error`) and Fastly's `Surrogate-Control`, with the route's settings as the
//! defaults and bounds around what the origin says.
//!
//! Pure: the header values come through a closure and the clock is an argument, so every
//! rule is unit-tested without a host.

use std::time::{Duration, SystemTime};

use super::control::{delta_seconds, Directives, Seconds, MAX_DELTA};

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
    freshness.lifetime = match explicit {
        Some(lifetime) => lifetime,
        None if !heuristic_status => {
            return Verdict::Refuse(format!("status {status} without explicit freshness"));
        }
        None => match heuristic(&lines, rules, received) {
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
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules {
            default_ttl: 60,
            max_ttl: None,
            stale_while_revalidate: 0,
            stale_if_error: 0,
            keep: 3600,
            heuristic_percent: None,
            origin_freshness: true,
        }
    }

    const NOW: &str = "Sat, 05 Dec 2026 12:00:00 GMT";

    fn now() -> SystemTime {
        httpdate::parse_http_date(NOW).unwrap_or(SystemTime::UNIX_EPOCH)
    }

    fn judge_with(status: u16, headers: &[(&str, &str)], rules: &Rules) -> Verdict {
        let fields = |name: &str| {
            headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.to_string())
                .collect()
        };
        judge(status, &fields, rules, now(), Duration::ZERO)
    }

    fn lifetime(headers: &[(&str, &str)]) -> Option<u64> {
        match judge_with(200, headers, &rules()) {
            Verdict::Store(f) => Some(f.lifetime.as_secs()),
            Verdict::Refuse(_) => None,
        }
    }

    fn stored(status: u16, headers: &[(&str, &str)]) -> Freshness {
        match judge_with(status, headers, &rules()) {
            Verdict::Store(f) => f,
            Verdict::Refuse(why) => panic!("refused: {why}"),
        }
    }

    #[test]
    fn the_first_source_of_freshness_present_wins() {
        // RFC 9111 §4.2.1 and Fastly's order: Surrogate-Control, CDN-Cache-Control,
        // s-maxage, max-age, Expires − Date, then the route's default.
        let all = [
            ("surrogate-control", "max-age=10"),
            ("cdn-cache-control", "max-age=20"),
            ("cache-control", "s-maxage=30, max-age=40"),
            ("expires", "Sat, 05 Dec 2026 12:00:50 GMT"),
            ("date", NOW),
        ];
        for skip in 0..all.len() {
            // max-age=40 shares its line with s-maxage; a Date alone gives nothing.
            let expected = [10, 20, 30, 50, 60][skip];
            assert_eq!(
                lifetime(&all[skip..]),
                Some(expected),
                "from {:?}",
                all[skip]
            );
        }
        assert_eq!(lifetime(&[("cache-control", "max-age=40")]), Some(40));
        assert_eq!(lifetime(&[]), Some(60), "the route's cache_ttl");
    }

    #[test]
    fn a_targeted_field_replaces_cache_control_for_this_cache() {
        // RFC 9213 §2.2: Cache-Control and Expires no longer count.
        assert_eq!(
            lifetime(&[
                ("cdn-cache-control", "public"),
                ("cache-control", "max-age=40")
            ]),
            Some(60)
        );
        assert_eq!(
            lifetime(&[
                ("cdn-cache-control", "max-age=5"),
                ("cache-control", "no-cache")
            ]),
            Some(5)
        );
        // Targeted at this cache, they also lift Cache-Control's no-store and private.
        assert_eq!(
            lifetime(&[
                ("cdn-cache-control", "max-age=5"),
                ("cache-control", "no-store")
            ]),
            Some(5)
        );
        assert_eq!(
            lifetime(&[
                ("surrogate-control", "max-age=5"),
                ("cache-control", "private")
            ]),
            Some(5)
        );
        // RFC 9213 §2.1: a CDN-Cache-Control that is no Structured Field Dictionary is
        // ignored whole, as if absent: Cache-Control governs again.
        for invalid in [
            "max-age=60, Private",
            "max-age=60,",
            "max-age=\"60",
            "max-age=60 x",
        ] {
            assert_eq!(
                lifetime(&[
                    ("cdn-cache-control", invalid),
                    ("cache-control", "max-age=40")
                ]),
                Some(40),
                "{invalid}"
            );
        }
        assert_eq!(
            lifetime(&[
                ("cdn-cache-control", "max-age=5;p=1, no-store=?0"),
                ("cache-control", "max-age=40")
            ]),
            Some(5),
            "parameters and false directives are nothing"
        );
        // Surrogate-Control without max-age (only ESI's content=) governs nothing.
        assert_eq!(
            lifetime(&[
                ("surrogate-control", "content=\"ESI/1.0\""),
                ("cache-control", "max-age=7")
            ]),
            Some(7)
        );
    }

    #[test]
    fn what_is_never_stored_says_why() {
        for (headers, why) in [
            (vec![("cache-control", "max-age=60, no-store")], "no-store"),
            (vec![("surrogate-control", "no-store")], "no-store"),
            (
                vec![
                    ("surrogate-control", "content=\"ESI/1.0\""),
                    ("cache-control", "no-store"),
                ],
                "no-store",
            ),
            (vec![("cdn-cache-control", "private")], "private"),
            (vec![("cache-control", "private=\"x\"")], "private"),
            (vec![("set-cookie", "a=b")], "set-cookie"),
            (vec![("vary", "accept-encoding, *")], "vary *"),
        ] {
            assert_eq!(
                judge_with(200, &headers, &rules()),
                Verdict::Refuse(why.into()),
                "{headers:?}"
            );
        }
        for status in [100, 206, 304] {
            assert!(matches!(
                judge_with(status, &[("cache-control", "max-age=60")], &rules()),
                Verdict::Refuse(_)
            ));
        }
    }

    #[test]
    fn statuses_store_with_explicit_freshness_or_when_heuristically_cacheable() {
        // RFC 9110 §15.1's list takes the route's default; others need explicit freshness.
        for status in [200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501] {
            assert_eq!(stored(status, &[]).lifetime.as_secs(), 60, "{status}");
        }
        for status in [302, 307, 400, 403, 500, 503] {
            assert!(
                matches!(judge_with(status, &[], &rules()), Verdict::Refuse(_)),
                "{status}"
            );
            assert_eq!(
                stored(status, &[("cache-control", "max-age=5")])
                    .lifetime
                    .as_secs(),
                5
            );
        }
        assert_eq!(
            stored(302, &[("cache-control", "public")])
                .lifetime
                .as_secs(),
            60
        );
    }

    #[test]
    fn a_zero_default_stores_only_what_gives_freshness_or_a_validator() {
        let zero = Rules {
            default_ttl: 0,
            ..rules()
        };
        assert!(matches!(judge_with(200, &[], &zero), Verdict::Refuse(_)));
        match judge_with(200, &[("etag", "\"a\"")], &zero) {
            Verdict::Store(f) => assert_eq!(f.lifetime, Duration::ZERO, "revalidated on use"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            judge_with(200, &[("cache-control", "max-age=9")], &zero),
            Verdict::Store(_)
        ));
    }

    #[test]
    fn bad_or_duplicate_freshness_means_stale() {
        // RFC 9111 §4.2.1 encourages it; without a validator it is then not stored at all.
        for bad in [
            "max-age=abc",
            "max-age=10, max-age=20",
            "max-age",
            "max-age=\"10",
            "max-age=1e3",
            "max-age=+10",
        ] {
            assert_eq!(
                lifetime(&[("cache-control", bad), ("etag", "\"v\"")]),
                Some(0)
            );
            assert_eq!(lifetime(&[("cache-control", bad)]), None, "{bad}");
        }
        for bad_expires in ["0", "-1", "yesterday"] {
            assert_eq!(
                lifetime(&[("expires", bad_expires), ("last-modified", NOW)]),
                Some(0),
                "{bad_expires}"
            );
        }
        assert_eq!(
            lifetime(&[
                ("expires", "Sat, 05 Dec 2026 12:01:00 GMT"),
                ("expires", "Sat, 05 Dec 2026 12:02:00 GMT"),
                ("etag", "\"v\"")
            ]),
            Some(0)
        );
        // Every date format RFC 9110 §5.6.7 asks a recipient to read.
        for past in [
            "Sat, 05 Dec 2026 11:00:00 GMT",
            "Saturday, 05-Dec-26 11:00:00 GMT",
            "Sat Dec  5 11:00:00 2026",
        ] {
            assert_eq!(lifetime(&[("expires", past), ("etag", "\"v\"")]), Some(0));
        }
        assert_eq!(
            lifetime(&[("expires", "Sat, 05 Dec 2026 12:00:30 GMT")]),
            Some(30),
            "no Date: from when the head arrived"
        );
    }

    #[test]
    fn age_is_the_upstream_age_plus_the_response_delay() {
        let fields = |name: &str| match name {
            "age" => vec!["20".to_string()],
            "cache-control" => vec!["max-age=60".to_string()],
            _ => vec![],
        };
        match judge(200, &fields, &rules(), now(), Duration::from_millis(2500)) {
            Verdict::Store(f) => assert_eq!(f.age, Duration::from_secs(22)),
            other => panic!("{other:?}"),
        }
        assert_eq!(stored(200, &[("age", "x")]).age, Duration::ZERO);
        // A list-valued Age: its first member (RFC 9111 §5.1).
        for list in [
            &[("age", "1"), ("age", "2")][..],
            &[("age", "1, 2")],
            &[("age", "1,x")],
        ] {
            assert_eq!(stored(200, list).age, Duration::from_secs(1), "{list:?}");
        }
        assert_eq!(stored(200, &[("age", "x, 1")]).age, Duration::ZERO);
        assert_eq!(stored(200, &[("age", "-1")]).age, Duration::ZERO);
        assert_eq!(
            stored(200, &[("age", "99999999999999"), ("etag", "\"v\"")]).age,
            Duration::from_secs(u64::from(MAX_DELTA))
        );
        // Older than its lifetime and nothing to revalidate with: never usable.
        assert!(matches!(
            judge_with(
                200,
                &[("age", "100"), ("cache-control", "max-age=60")],
                &rules()
            ),
            Verdict::Refuse(_)
        ));
    }

    #[test]
    fn revalidation_directives_forbid_serving_stale() {
        let swr = Rules {
            stale_while_revalidate: 30,
            stale_if_error: 300,
            ..rules()
        };
        let f = |cc: &str| match judge_with(200, &[("cache-control", cc), ("etag", "\"v\"")], &swr)
        {
            Verdict::Store(f) => f,
            other => panic!("{other:?}"),
        };
        let relaxed = f("max-age=5");
        assert_eq!(relaxed.stale_while_revalidate, Duration::from_secs(30));
        assert_eq!(relaxed.stale_if_error, Duration::from_secs(300));
        assert!(!relaxed.must_revalidate);
        for strict in [
            "max-age=5, must-revalidate",
            "max-age=5, proxy-revalidate",
            "s-maxage=5",
            "no-cache",
        ] {
            let s = f(strict);
            assert!(s.must_revalidate, "{strict}");
            assert_eq!(s.stale_while_revalidate, Duration::ZERO, "{strict}");
            assert_eq!(s.stale_if_error, Duration::ZERO, "{strict}");
        }
        assert_eq!(
            f("no-cache").lifetime,
            Duration::ZERO,
            "stored, revalidated"
        );
        // The origin's RFC 5861 directives replace the route's defaults.
        let own = f("max-age=5, stale-while-revalidate=7, stale-if-error=9");
        assert_eq!(own.stale_while_revalidate, Duration::from_secs(7));
        assert_eq!(own.stale_if_error, Duration::from_secs(9));
        assert_eq!(
            own.kept_stale(false, 3600),
            Duration::from_secs(9),
            "kept as long as it may be served"
        );
        assert_eq!(own.kept_stale(true, 3600), Duration::from_secs(3600));
    }

    #[test]
    fn the_route_bounds_and_may_replace_the_origin() {
        let capped = Rules {
            max_ttl: Some(100),
            ..rules()
        };
        match judge_with(
            200,
            &[("cache-control", "max-age=86400"), ("age", "10")],
            &capped,
        ) {
            Verdict::Store(f) => assert_eq!(f.lifetime, Duration::from_secs(110)),
            other => panic!("{other:?}"),
        }
        let route = Rules {
            origin_freshness: false,
            ..rules()
        };
        match judge_with(
            200,
            &[("cache-control", "max-age=0, must-revalidate")],
            &route,
        ) {
            Verdict::Store(f) => {
                assert_eq!(f.lifetime, Duration::from_secs(60));
                assert!(!f.must_revalidate);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            judge_with(200, &[("cache-control", "private")], &route),
            Verdict::Refuse(_)
        ));
    }

    #[test]
    fn heuristic_freshness_only_when_the_route_asks() {
        let headers = [
            ("date", NOW),
            ("last-modified", "Sat, 05 Dec 2026 02:00:00 GMT"),
        ];
        assert_eq!(lifetime(&headers), Some(60));
        let heuristic = Rules {
            heuristic_percent: Some(10),
            ..rules()
        };
        match judge_with(200, &headers, &heuristic) {
            Verdict::Store(f) => assert_eq!(f.lifetime, Duration::from_secs(3600)),
            other => panic!("{other:?}"),
        }
    }

    proptest::proptest! {
        #[test]
        fn any_head_is_judged_without_panicking(
            status in 0u16..1000,
            cc in ".{0,40}",
            age in ".{0,12}",
            expires in ".{0,30}",
        ) {
            let fields = |name: &str| match name {
                "cache-control" => vec![cc.clone()],
                "age" => vec![age.clone()],
                "expires" => vec![expires.clone()],
                _ => vec![],
            };
            let _ = judge(status, &fields, &rules(), now(), Duration::from_secs(3));
        }
    }
}
