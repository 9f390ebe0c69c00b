//! The freshness rules' unit tests: each rule against the header values and clock it reads.

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
        include_ttl: None,
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
    let f = |cc: &str| match judge_with(200, &[("cache-control", cc), ("etag", "\"v\"")], &swr) {
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

#[test]
fn an_include_ttl_replaces_the_lifetime_within_max_ttl() {
    let ttl = |n: u32| Rules {
        include_ttl: Some(n),
        default_ttl: 0,
        ..rules()
    };
    let status_with = |status: u16, rules: &Rules, headers: &[(&str, &str)]| match judge_with(
        status, headers, rules,
    ) {
        Verdict::Store(f) => Some(f.lifetime.as_secs()),
        Verdict::Refuse(_) => None,
    };
    let lifetime_with = |rules: &Rules, headers: &[(&str, &str)]| status_with(200, rules, headers);
    // Whatever the origin said of freshness, or nothing at all (no default, no validator).
    for headers in [
        &[][..],
        &[("cache-control", "max-age=0")],
        &[("cache-control", "max-age=99999")],
        &[("surrogate-control", "max-age=5")],
        &[("expires", "0")],
    ] {
        assert_eq!(lifetime_with(&ttl(300), headers), Some(300), "{headers:?}");
    }
    // How long, never whether: `no-cache` is still stored to be revalidated before every
    // use, and a status stored only with the origin's own freshness keeps it (a 500 marked
    // `public` without a lifetime stays unstored, as it is without a ttl).
    let no_cache = [("cache-control", "no-cache"), ("etag", "\"n\"")];
    assert_eq!(lifetime_with(&ttl(300), &no_cache), Some(0));
    assert_eq!(lifetime_with(&rules(), &no_cache), Some(0));
    assert_eq!(
        status_with(500, &ttl(300), &[("cache-control", "public")]),
        None
    );
    assert_eq!(
        status_with(500, &ttl(300), &[("cache-control", "public, max-age=7")]),
        Some(300)
    );
    assert_eq!(status_with(404, &ttl(300), &[]), Some(300));
    // Counted from arrival: an upstream Age does not eat it, as it does not eat max_ttl.
    assert_eq!(lifetime_with(&ttl(300), &[("age", "100")]), Some(400));
    // Bounded by the route's cache_max_ttl.
    let bounded = Rules {
        max_ttl: Some(2),
        ..ttl(3600)
    };
    assert_eq!(
        lifetime_with(&bounded, &[("cache-control", "max-age=0")]),
        Some(2)
    );
    // 0 stores nothing, even what the origin would have let live an hour.
    assert!(matches!(
        judge_with(200, &[("cache-control", "max-age=3600")], &ttl(0)),
        Verdict::Refuse(why) if why.contains("ttl is 0")
    ));
    // Never storable what the cache refuses: the ttl changes how long, never whether.
    for (headers, why) in [
        (&[("cache-control", "private")][..], "private"),
        (&[("cache-control", "no-store")], "no-store"),
        (&[("set-cookie", "a=b")], "set-cookie"),
        (&[("vary", "*")], "vary *"),
        (&[("cdn-cache-control", "no-store")], "no-store"),
    ] {
        assert_eq!(
            judge_with(200, headers, &ttl(3600)),
            Verdict::Refuse(why.into()),
            "{headers:?}"
        );
    }
    // Nor a status that only explicit freshness from the origin could store.
    assert!(matches!(
        judge_with(500, &[], &ttl(3600)),
        Verdict::Refuse(_)
    ));
    assert_eq!(
        match judge_with(500, &[("cache-control", "max-age=1")], &ttl(60)) {
            Verdict::Store(f) => Some(f.lifetime.as_secs()),
            Verdict::Refuse(_) => None,
        },
        Some(60)
    );
}
