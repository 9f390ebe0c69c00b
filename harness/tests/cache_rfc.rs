//! The edge cache's conformance suite, written from RFC 9110 (HTTP semantics) and RFC 9111
//! (caching), with RFC 9213 (`CDN-Cache-Control`), RFC 5861 (`stale-while-revalidate`,
//! `stale-if-error`) and Fastly's `Surrogate-Control` and `Surrogate-Key`. Each case names the
//! section it comes from; where the RFCs allow several behaviours, the case says which one
//! firstbyte chooses.
//!
//! Every case runs on two cached routes in front of an origin the test programs per request
//! (`peers::Scripted`): one passing bodies through, one running a chain (replace, br/gzip),
//! whose stored object is the chain's output. The origin counts its requests and records the
//! conditional headers a revalidation sends.

mod support;

use std::time::{Duration, SystemTime};

use firstbyte_harness::client::Reply;
use firstbyte_harness::peers::Script;
use support::{age, Cached, Kind, KINDS};

const TEXT: &str = "text/plain";
const BODY: &str = "a stored response from origin.example\n";
/// Long enough for a one-second lifetime to run out.
const PAST_ONE_SECOND: Duration = Duration::from_millis(1600);
const LM: &str = "Sat, 05 Dec 2026 10:00:00 GMT";

/// Header fields, as a script takes them.
type Head<'a> = Vec<(&'a str, &'a str)>;

fn label(r: &Reply) -> &str {
    r.header("x-cache").unwrap_or("none")
}

fn http_date(offset_secs: i64) -> String {
    let now = SystemTime::now();
    let at = if offset_secs >= 0 {
        now + Duration::from_secs(offset_secs as u64)
    } else {
        now - Duration::from_secs(offset_secs.unsigned_abs())
    };
    httpdate::fmt_http_date(at)
}

fn script(headers: &[(&str, &str)]) -> Script {
    let mut all = vec![("content-type", TEXT)];
    all.extend_from_slice(headers);
    Script::ok(&all, BODY.as_bytes())
}

/// Asks twice, `pause` apart, and returns the two labels.
async fn twice(c: &Cached, kind: Kind, path: &str, pause: Duration) -> (String, String) {
    let first = c.get(kind, path, &[]).await;
    c.settled(kind, path, count_before(c, kind, path));
    tokio::time::sleep(pause).await;
    let second = c.get(kind, path, &[]).await;
    (label(&first).to_string(), label(&second).to_string())
}

fn count_before(c: &Cached, kind: Kind, path: &str) -> usize {
    let logged = format!(
        "{}{}",
        kind.prefix(),
        path.split('?').next().unwrap_or(path)
    );
    c.stack
        .edge
        .access_log()
        .iter()
        .filter(|r| r["path"] == logged)
        .count()
        .max(1)
}

/// RFC 9111 §4.2.1 and Fastly's order: the lifetime comes from the first of
/// `Surrogate-Control: max-age`, `CDN-Cache-Control` (RFC 9213), `s-maxage`, `max-age`,
/// `Expires` − `Date`; then the route's `cache_ttl`. `Surrogate-Control` never reaches a
/// client; `cache_max_ttl` bounds them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc9111_4_2_1_freshness_comes_from_the_origin() {
    let c = Cached::start(&[], &[]);
    let expires = http_date(60);
    let date = http_date(0);
    let past = http_date(-60);
    let cases: Vec<(&str, Head, &str)> = vec![
        // (path, head, the second request's label after a lifetime of one second ran out)
        (
            "/surrogate",
            vec![
                ("surrogate-control", "max-age=60"),
                ("cache-control", "max-age=1"),
            ],
            "HIT",
        ),
        (
            "/cdn",
            vec![
                ("cdn-cache-control", "max-age=60"),
                ("cache-control", "max-age=1"),
            ],
            "HIT",
        ),
        (
            "/s-maxage",
            vec![("cache-control", "s-maxage=60, max-age=1")],
            "HIT",
        ),
        ("/max-age", vec![("cache-control", "max-age=60")], "HIT"),
        (
            "/max-age-short",
            vec![("cache-control", "max-age=1")],
            "MISS",
        ),
        (
            "/expires",
            vec![("expires", &expires), ("date", &date)],
            "HIT",
        ),
        // Already expired, nothing to revalidate with: never stored.
        (
            "/expired",
            vec![("expires", &past), ("date", &date)],
            "PASS",
        ),
        ("/route-default", vec![], "HIT"),
        // RFC 9213 §2.2: a targeted field present, Cache-Control no longer counts.
        (
            "/cdn-over-cc",
            vec![
                ("cdn-cache-control", "max-age=60"),
                ("cache-control", "no-store"),
            ],
            "HIT",
        ),
    ];
    for kind in KINDS {
        for (path, head, _) in &cases {
            c.origin.script(path, script(head));
            let first = c.get(kind, path, &[]).await;
            assert!(
                first.header("surrogate-control").is_none(),
                "{kind:?} {path}"
            );
            assert!(first.status == 200, "{kind:?} {path}");
        }
    }
    tokio::time::sleep(PAST_ONE_SECOND).await;
    for kind in KINDS {
        for (path, _, expected) in &cases {
            let second = c.get(kind, path, &[]).await;
            assert_eq!(label(&second), *expected, "{kind:?} {path}");
            assert_eq!(second.text(), kind.output(BODY), "{kind:?} {path}");
        }
    }

    let bounded = Cached::start(&[("cache_ttl", "1"), ("cache_max_ttl", "1")], &[]);
    bounded
        .origin
        .script("/long", script(&[("cache-control", "max-age=86400")]));
    for kind in KINDS {
        let (first, second) = twice(&bounded, kind, "/long", PAST_ONE_SECOND).await;
        assert_eq!(
            (first.as_str(), second.as_str()),
            ("MISS", "MISS"),
            "{kind:?}: cache_max_ttl"
        );
    }
}

/// RFC 9111 §4.2.1, §1.2.2, §5.3: freshness that cannot be read. firstbyte chooses, as
/// §4.2.1 encourages, to treat a response with an invalid or conflicting lifetime as stale
/// (rather than use the first value): it is stored only to be revalidated, and not at all
/// without a validator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc9111_4_2_1_unreadable_freshness_is_stale() {
    let c = Cached::start(&[], &[]);
    let revalidated = [
        (
            "/bad-number",
            vec![("cache-control", "max-age=abc"), ("etag", "\"b1\"")],
        ),
        (
            "/twice",
            vec![
                ("cache-control", "max-age=60, max-age=1"),
                ("etag", "\"b2\""),
            ],
        ),
        (
            "/expires-zero",
            vec![("expires", "0"), ("last-modified", LM)],
        ),
    ];
    let never = [
        ("/bad-date", vec![("expires", "soon")]),
        (
            "/bad-twice",
            vec![
                ("cache-control", "max-age=60"),
                ("cache-control", "max-age=30"),
            ],
        ),
    ];
    for kind in KINDS {
        for (path, head) in &revalidated {
            c.origin.script(path, script(head).revalidating());
            let (first, second) = twice(&c, kind, path, Duration::ZERO).await;
            assert_eq!(
                (first.as_str(), second.as_str()),
                ("MISS", "REVALIDATED"),
                "{kind:?} {path}"
            );
            let seen = c.origin.seen(path);
            let last = seen.last().expect("a request");
            assert!(
                last.not_modified,
                "{kind:?} {path}: conditional, answered 304"
            );
        }
        for (path, head) in &never {
            c.origin.script(path, script(head));
            let (first, second) = twice(&c, kind, path, Duration::ZERO).await;
            assert_eq!(
                (first.as_str(), second.as_str()),
                ("PASS", "PASS"),
                "{kind:?} {path}"
            );
        }
    }
}

/// RFC 9111 §4.2.3 and §5.1: `Age` is the upstream age plus the time in this cache, on every
/// path: the fill's own client, a collapsed reader, a hit, a stale answer, a revalidated one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rfc9111_4_2_3_age_on_every_path() {
    let c = Cached::start(&[], &[]);
    for kind in KINDS {
        let path = format!("/aged?{kind:?}");
        c.origin.script(
            &path,
            Script::ok(
                &[
                    ("content-type", TEXT),
                    ("cache-control", "max-age=600"),
                    ("age", "100"),
                ],
                BODY.repeat(200).as_bytes(),
            )
            // No declared length: a reader meanwhile finds an object still being written.
            .unframed()
            .paced(1000, Duration::from_millis(100)),
        );
        let filler = c.get(kind, &path, &[]);
        let collapsed = async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            c.get(kind, &path, &[]).await
        };
        let (filled, collapsed) = tokio::join!(filler, collapsed);
        assert_eq!(label(&filled), "MISS");
        assert!(age(&filled) >= 100, "{kind:?} MISS");
        assert_eq!(label(&collapsed), "MISS COLLAPSED", "{kind:?}");
        assert!(age(&collapsed) >= 100, "{kind:?} collapsed");
        c.settled(kind, "/aged", 2);
        let hit = c.get(kind, &path, &[]).await;
        assert_eq!(label(&hit), "HIT");
        assert!(age(&hit) >= 100, "{kind:?} HIT");

        let stale_path = format!("/aged-stale?{kind:?}");
        c.origin.script(
            &stale_path,
            script(&[
                ("cache-control", "max-age=101, stale-while-revalidate=60"),
                ("age", "100"),
            ]),
        );
        c.get(kind, &stale_path, &[]).await;
        let reval_path = format!("/aged-revalidated?{kind:?}");
        c.origin.script(
            &reval_path,
            script(&[
                ("cache-control", "max-age=101"),
                ("age", "100"),
                ("etag", "\"a\""),
            ])
            .revalidating()
            .with_304_headers(&[("cache-control", "max-age=600"), ("age", "50")]),
        );
        c.get(kind, &reval_path, &[]).await;
        tokio::time::sleep(PAST_ONE_SECOND).await;
        let stale = c.get(kind, &stale_path, &[]).await;
        assert_eq!(label(&stale), "STALE", "{kind:?}");
        assert!(age(&stale) >= 101, "{kind:?} STALE");
        let revalidated = c.get(kind, &reval_path, &[]).await;
        assert_eq!(label(&revalidated), "REVALIDATED", "{kind:?}");
        let a = age(&revalidated);
        assert!(
            (50..60).contains(&a),
            "{kind:?} REVALIDATED: the 304's age, {a}"
        );
    }
}

/// RFC 9111 §5.2.2: the response directives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc9111_5_2_2_response_directives() {
    let c = Cached::start(
        &[
            ("cache_stale_while_revalidate", "60"),
            ("cache_stale_if_error", "60"),
        ],
        &[],
    );
    for kind in KINDS {
        // §5.2.2.5 no-store and §5.2.2.7 private: never stored, fetched every time.
        for (path, cc) in [
            ("/no-store", "no-store, max-age=60"),
            ("/private", "private, max-age=60"),
        ] {
            c.origin.script(path, script(&[("cache-control", cc)]));
            let before = c.fetches(path);
            let (first, second) = twice(&c, kind, path, Duration::ZERO).await;
            assert_eq!(
                (first.as_str(), second.as_str()),
                ("PASS", "PASS"),
                "{kind:?} {path}"
            );
            assert_eq!(c.fetches(path), before + 2);
        }
        // §5.2.2.4 no-cache: stored, then revalidated before every use.
        c.origin.script(
            "/no-cache",
            script(&[("cache-control", "no-cache"), ("etag", "\"n\"")]).revalidating(),
        );
        let (first, second) = twice(&c, kind, "/no-cache", Duration::ZERO).await;
        assert_eq!(
            (first.as_str(), second.as_str()),
            ("MISS", "REVALIDATED"),
            "{kind:?}"
        );
        assert!(c
            .origin
            .seen("/no-cache")
            .last()
            .is_some_and(|s| s.not_modified));
    }
    // §5.2.2.2 must-revalidate, §5.2.2.8 proxy-revalidate, §5.2.2.10 s-maxage: once stale,
    // never served without a successful revalidation, whatever the route's stale windows.
    let strict = [
        ("/must", "max-age=1, must-revalidate"),
        ("/proxy", "max-age=1, proxy-revalidate"),
        ("/s-maxage", "s-maxage=1"),
    ];
    for kind in KINDS {
        for (path, cc) in strict {
            c.origin.script(path, script(&[("cache-control", cc)]));
            assert_eq!(
                label(&c.get(kind, path, &[]).await),
                "MISS",
                "{kind:?} {path}"
            );
        }
    }
    // RFC 5861 §3: the origin's own stale-while-revalidate.
    c.origin.script(
        "/swr",
        script(&[("cache-control", "max-age=1, stale-while-revalidate=30")]),
    );
    for kind in KINDS {
        assert_eq!(label(&c.get(kind, "/swr", &[]).await), "MISS");
    }
    tokio::time::sleep(PAST_ONE_SECOND).await;
    for (path, _) in strict {
        c.origin.script(
            path,
            Script::status(503, &[("content-type", TEXT)], b"down\n"),
        );
    }
    for kind in KINDS {
        for (path, _) in strict {
            let r = c.get(kind, path, &[]).await;
            assert_eq!(r.status, 503, "{kind:?} {path}: not served stale");
            assert_eq!(label(&r), "PASS", "{kind:?} {path}");
        }
        let stale = c.get(kind, "/swr", &[]).await;
        assert_eq!(label(&stale), "STALE", "{kind:?}");
    }
}

/// RFC 9111 §5.2.1: the request directives. `no-store` keeps the exchange out of the cache
/// (§5.2.1.5). firstbyte chooses not to honour a client's `no-cache` or `max-age=0`
/// (§5.2.1.4, §5.2.1.1): a CDN protects its origin from clients that would make every
/// request a fetch, as Fastly, Cloudflare and Varnish do by default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc9111_5_2_1_request_directives() {
    let c = Cached::start(&[], &[]);
    c.origin
        .script("/asked", script(&[("cache-control", "max-age=60")]));
    for kind in KINDS {
        let path = format!("/asked?{kind:?}");
        let no_store = c.get(kind, &path, &[("cache-control", "no-store")]).await;
        assert_eq!(label(&no_store), "PASS", "{kind:?}");
        c.settled(kind, &path, 1);
        assert_eq!(
            label(&c.get(kind, &path, &[]).await),
            "MISS",
            "{kind:?}: nothing stored"
        );
        c.settled(kind, &path, 2);
        for directive in ["no-cache", "max-age=0"] {
            let r = c.get(kind, &path, &[("cache-control", directive)]).await;
            assert_eq!(label(&r), "HIT", "{kind:?} {directive}");
        }
        // A stored response may still answer a no-store request.
        assert_eq!(
            label(&c.get(kind, &path, &[("cache-control", "no-store")]).await),
            "HIT"
        );
    }
}

/// RFC 9111 §3 and RFC 9110 §15.1: any final status with explicit freshness is stored; the
/// heuristically cacheable ones take the route's default; a 206 from the origin never is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc9111_3_which_statuses_are_stored() {
    let c = Cached::start(&[], &[]);
    let cases: [(&str, u16, Head, &str); 8] = [
        ("/moved", 301, vec![("location", "/elsewhere")], "HIT"),
        ("/missing", 404, vec![], "HIT"),
        ("/gone", 410, vec![], "HIT"),
        ("/empty", 204, vec![], "HIT"),
        ("/found", 302, vec![("location", "/elsewhere")], "PASS"),
        (
            "/found-fresh",
            302,
            vec![("location", "/elsewhere"), ("cache-control", "max-age=60")],
            "HIT",
        ),
        ("/error", 500, vec![], "PASS"),
        (
            "/unavailable-fresh",
            503,
            vec![("cache-control", "max-age=60")],
            "HIT",
        ),
    ];
    for kind in KINDS {
        for (path, status, head, expected) in &cases {
            let mut all = vec![("content-type", TEXT)];
            all.extend_from_slice(head);
            let body: &[u8] = if *status == 204 { b"" } else { BODY.as_bytes() };
            c.origin.script(path, Script::status(*status, &all, body));
            let first = c.get(kind, path, &[]).await;
            assert_eq!(first.status, *status);
            c.settled(kind, path, count_before(&c, kind, path));
            let second = c.get(kind, path, &[]).await;
            assert_eq!(second.status, *status, "{kind:?} {path}");
            assert_eq!(label(&second), *expected, "{kind:?} {path}");
        }
        c.origin.script(
            "/partial",
            Script::status(
                206,
                &[
                    ("content-type", TEXT),
                    ("content-range", "bytes 0-9/100"),
                    ("cache-control", "max-age=60"),
                ],
                b"0123456789",
            ),
        );
        let (first, second) = twice(&c, kind, "/partial", Duration::ZERO).await;
        assert_eq!(
            (first.as_str(), second.as_str()),
            ("PASS", "PASS"),
            "{kind:?}: 206"
        );
    }
}

/// RFC 9111 §4.1: an object varies on the request headers the route forwards on fills
/// (`cache_request_headers`), each variant stored on its own (the core cache's `vary_by`);
/// `Vary: *` is never stored (§4.1); every content coding a client names is part of the key.
/// firstbyte chooses to forward nothing else of a client's on a fill, so an origin's `Vary`
/// on another header describes a header the origin never sees through the cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc9111_4_1_variants() {
    let c = Cached::start(&[("cache_request_headers", "accept-language")], &[]);
    c.origin.script(
        "/lang",
        script(&[("vary", "Accept-Language"), ("cache-control", "max-age=60")]),
    );
    c.origin.script(
        "/star",
        script(&[("vary", "*"), ("cache-control", "max-age=60")]),
    );
    c.origin
        .script("/coded", script(&[("cache-control", "max-age=60")]));
    for kind in KINDS {
        let path = format!("/lang?{kind:?}");
        let before = c.fetches("/lang");
        let mut labels = Vec::new();
        for (i, lang) in ["en", "fr", "en", "fr"].into_iter().enumerate() {
            let r = c
                .get(
                    kind,
                    &path,
                    &[("accept-language", lang), ("user-agent", "tester")],
                )
                .await;
            labels.push(label(&r).to_string());
            assert!(r
                .header("vary")
                .is_some_and(|v| v.to_ascii_lowercase().contains("accept-language")));
            c.settled(kind, "/lang", i + 1);
        }
        assert_eq!(labels, ["MISS", "MISS", "HIT", "HIT"], "{kind:?}");
        assert_eq!(c.fetches("/lang"), before + 2);
        let seen = c.origin.seen("/lang");
        let langs: Vec<&str> = seen[before..]
            .iter()
            .filter_map(|s| s.header("accept-language"))
            .collect();
        assert_eq!(
            langs,
            ["en", "fr"],
            "{kind:?}: each variant's value went to the origin"
        );
        assert!(
            seen.iter().all(|s| s.header("user-agent").is_none()),
            "not forwarded"
        );

        let (first, second) = twice(&c, kind, "/star", Duration::ZERO).await;
        assert_eq!(
            (first.as_str(), second.as_str()),
            ("PASS", "PASS"),
            "{kind:?}: Vary *"
        );

        let coded = format!("/coded?{kind:?}");
        let custom = c
            .get(kind, &coded, &[("accept-encoding", "x-custom")])
            .await;
        assert_eq!(label(&custom), "MISS");
        c.settled(kind, "/coded", 1);
        let plain = c.get(kind, &coded, &[]).await;
        assert_eq!(
            label(&plain),
            "MISS",
            "{kind:?}: a coding of its own is a key of its own"
        );
    }
}

/// RFC 9111 §4.3.2 and RFC 9110 §13.1, §13.2: a client's conditionals on a stored object
/// get a 304 from the cache: `If-None-Match` compares weakly, takes lists and `*`, and takes
/// precedence over `If-Modified-Since`. A 304 carries the stored validators and the fields
/// RFC 9110 §15.4.5 asks for, and no body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc9111_4_3_2_client_conditionals() {
    let c = Cached::start(&[], &[]);
    c.origin.script(
        "/validated",
        script(&[
            ("cache-control", "max-age=60"),
            ("etag", "\"v1\""),
            ("last-modified", LM),
        ]),
    );
    c.origin.script(
        "/missing",
        Script::status(404, &[("content-type", TEXT), ("etag", "\"m\"")], b"no\n"),
    );
    let earlier = "Sat, 05 Dec 2026 09:00:00 GMT";
    for kind in KINDS {
        let path = format!("/validated?{kind:?}");
        let first = c.get(kind, &path, &[]).await;
        let etag = first.header("etag").expect("an ETag").to_string();
        if kind == Kind::Chain {
            assert_eq!(etag, "W/\"v1\"", "a transformed body's ETag is weak");
        }
        c.settled(kind, "/validated", 1);
        let cases: [(Vec<(&str, &str)>, u16); 7] = [
            (vec![("if-none-match", "\"v1\"")], 304),
            (vec![("if-none-match", "W/\"v1\"")], 304),
            (vec![("if-none-match", "\"x\", \"v1\"")], 304),
            (vec![("if-none-match", "*")], 304),
            (vec![("if-modified-since", LM)], 304),
            (vec![("if-modified-since", earlier)], 200),
            (
                vec![("if-none-match", "\"x\""), ("if-modified-since", LM)],
                200,
            ),
        ];
        for (headers, status) in &cases {
            let r = c.get(kind, &path, headers).await;
            assert_eq!(r.status, *status, "{kind:?} {headers:?}");
            assert_eq!(label(&r), "HIT");
            if *status == 304 {
                assert!(r.body.is_empty());
                assert_eq!(r.header("etag"), Some(etag.as_str()));
                assert_eq!(r.header("cache-control"), Some("max-age=60"));
                assert_eq!(r.header("last-modified"), Some(LM));
                assert!(r.header("vary").is_some());
                assert!(r.header("content-length").is_none());
            }
        }
        let head = c
            .ask("HEAD", kind, &path, &[("if-none-match", "\"v1\"")])
            .await;
        assert_eq!(head.status, 304);
        assert_eq!(
            c.fetches("/validated"),
            if kind == Kind::Chain { 2 } else { 1 }
        );
        // Preconditions apply to a 2xx representation only (RFC 9110 §13.2.1).
        let missing = format!("/missing?{kind:?}");
        c.get(kind, &missing, &[]).await;
        c.settled(kind, "/missing", 1);
        let r = c.get(kind, &missing, &[("if-none-match", "*")]).await;
        assert_eq!(r.status, 404, "{kind:?}");
    }
}

/// RFC 9111 §4.3.1, §4.3.3, §4.3.4: a stale object with a validator is revalidated with the
/// origin's own validators (even where the client's ETag is the chain's weak form); a 304
/// refreshes the stored head and freshness and keeps the body, which is neither fetched nor
/// transformed again; a 200 replaces the object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc9111_4_3_revalidation() {
    let c = Cached::start(&[], &[]);
    for kind in KINDS {
        let path = format!("/reval?{kind:?}");
        c.origin.script(
            &path,
            script(&[
                ("cache-control", "max-age=1"),
                ("etag", "\"r1\""),
                ("last-modified", LM),
                ("x-version", "1"),
            ])
            .revalidating()
            .with_304_headers(&[("cache-control", "max-age=60"), ("x-version", "2")]),
        );
        let replaced = format!("/replaced?{kind:?}");
        c.origin.script(
            &replaced,
            script(&[("cache-control", "max-age=1"), ("etag", "\"p1\"")]).revalidating(),
        );
        let unvalidated = format!("/unvalidated?{kind:?}");
        c.origin
            .script(&unvalidated, script(&[("cache-control", "max-age=1")]));
        for p in [&path, &replaced, &unvalidated] {
            assert_eq!(label(&c.get(kind, p, &[]).await), "MISS");
        }
        tokio::time::sleep(PAST_ONE_SECOND).await;
        c.origin.script(
            &replaced,
            Script::ok(
                &[
                    ("content-type", TEXT),
                    ("cache-control", "max-age=60"),
                    ("etag", "\"p2\""),
                ],
                b"new at origin.example\n",
            ),
        );

        let r = c.get(kind, &path, &[]).await;
        assert_eq!(label(&r), "REVALIDATED", "{kind:?}");
        assert_eq!(r.text(), kind.output(BODY), "{kind:?}: the stored body");
        assert_eq!(
            r.header("x-version"),
            Some("2"),
            "{kind:?}: the 304 refreshed the head"
        );
        let seen = c.origin.seen("/reval");
        let last = seen.last().expect("the revalidation");
        assert_eq!(
            last.header("if-none-match"),
            Some("\"r1\""),
            "{kind:?}: the origin's ETag"
        );
        assert_eq!(last.header("if-modified-since"), Some(LM));
        assert!(last.not_modified, "the origin sent no body");
        let hit = c.get(kind, &path, &[]).await;
        assert_eq!(label(&hit), "HIT", "{kind:?}: fresh again for max-age=60");
        assert_eq!(hit.header("x-version"), Some("2"));
        assert_eq!(hit.text(), kind.output(BODY));

        let r = c.get(kind, &replaced, &[]).await;
        assert_eq!(label(&r), "MISS", "{kind:?}");
        assert_eq!(r.text(), kind.output("new at origin.example\n"));
        c.settled(kind, "/replaced", 2);
        assert_eq!(
            c.get(kind, &replaced, &[]).await.text(),
            kind.output("new at origin.example\n")
        );

        let r = c.get(kind, &unvalidated, &[]).await;
        assert_eq!(
            label(&r),
            "MISS",
            "{kind:?}: nothing to revalidate with, fetched whole"
        );
    }
}

/// RFC 9110 §14 and §13.1.5: ranges from a stored object (one whose length is known):
/// `a-b`, `a-` and `-n` get a 206 with `Content-Range`; `If-Range` needs a strong match
/// (the chain's weak ETag never has one) or the exact `Last-Modified`; an unsatisfiable range
/// gets a 416 with `bytes */N`. firstbyte chooses to answer several ranges with the whole
/// 200 (§14.2 allows it) and to ignore a Range on HEAD (only GET defines one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc9110_14_ranges_from_the_cache() {
    let c = Cached::start(&[], &[]);
    let body: String = (0..100)
        .map(|i| format!("line {i:03} of origin.example\n"))
        .collect();
    c.origin.script(
        "/ranged",
        Script::ok(
            &[
                ("content-type", TEXT),
                ("cache-control", "max-age=60"),
                ("etag", "\"g1\""),
                ("last-modified", LM),
            ],
            body.as_bytes(),
        ),
    );
    c.origin.script(
        "/missing",
        Script::status(404, &[("content-type", TEXT)], b"none here\n"),
    );
    for kind in KINDS {
        let path = format!("/ranged?{kind:?}");
        c.get(kind, &path, &[]).await;
        c.settled(kind, "/ranged", 1);
        let whole = c.get(kind, &path, &[]).await;
        assert_eq!(label(&whole), "HIT");
        assert_eq!(whole.header("accept-ranges"), Some("bytes"));
        let full = whole.body.clone();
        let n = full.len();
        for (range, first, last) in [
            ("bytes=0-99".to_string(), 0, 99),
            (format!("bytes={}-", n - 50), n - 50, n - 1),
            ("bytes=-100".to_string(), n - 100, n - 1),
            ("bytes=10-99999".to_string(), 10, n - 1),
        ] {
            let r = c.get(kind, &path, &[("range", &range)]).await;
            assert_eq!(r.status, 206, "{kind:?} {range}");
            assert_eq!(
                r.header("content-range"),
                Some(format!("bytes {first}-{last}/{n}").as_str())
            );
            assert_eq!(r.body, full[first..=last], "{kind:?} {range}");
            assert_eq!(
                r.header("content-length"),
                Some((last - first + 1).to_string().as_str())
            );
        }
        let r = c
            .get(kind, &path, &[("range", &format!("bytes={n}-"))])
            .await;
        assert_eq!(r.status, 416, "{kind:?}");
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes */{n}").as_str())
        );
        for whole_please in [
            vec![("range", "bytes=0-1, 5-6")],
            vec![("range", "bytes=0-9"), ("if-range", "\"other\"")],
        ] {
            let r = c.get(kind, &path, &whole_please).await;
            assert_eq!(r.status, 200, "{kind:?} {whole_please:?}");
            assert_eq!(r.body, full);
        }
        let strong = c
            .get(
                kind,
                &path,
                &[("range", "bytes=0-9"), ("if-range", "\"g1\"")],
            )
            .await;
        assert_eq!(
            strong.status,
            if kind == Kind::Passthrough { 206 } else { 200 },
            "{kind:?}"
        );
        let dated = c
            .get(kind, &path, &[("range", "bytes=0-9"), ("if-range", LM)])
            .await;
        assert_eq!(dated.status, 206, "{kind:?}: If-Range by date");
        let head = c.ask("HEAD", kind, &path, &[("range", "bytes=0-9")]).await;
        assert_eq!(head.status, 200, "{kind:?}: no range for HEAD");
        assert_eq!(head.header("content-length"), Some(n.to_string().as_str()));

        let missing = format!("/missing?{kind:?}");
        c.get(kind, &missing, &[]).await;
        c.settled(kind, "/missing", 1);
        let r = c.get(kind, &missing, &[("range", "bytes=0-1")]).await;
        assert_eq!(r.status, 404, "{kind:?}: a range of a 200 only");
    }
    assert_eq!(c.fetches("/ranged"), 2, "every range came from the cache");
}

/// RFC 9111 §4.4: a successful unsafe request invalidates what is stored for its URL and for
/// a same-host `Location` or `Content-Location`; an error does not, nor does another host's
/// URL. `Surrogate-Key` becomes the object's surrogate keys and, with `Surrogate-Control`,
/// never reaches a client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc9111_4_4_invalidation() {
    let c = Cached::start(&[], &[]);
    let edge = c.stack.edge.addr;
    for path in [
        "/inv",
        "/inv-location",
        "/inv-content-location",
        "/inv-elsewhere",
        "/inv-kept",
    ] {
        c.origin.script(
            path,
            script(&[
                ("cache-control", "max-age=60"),
                ("surrogate-key", "page all"),
                ("surrogate-control", "max-age=60"),
            ]),
        );
    }
    for kind in KINDS {
        let p = kind.prefix();
        for path in [
            "/inv",
            "/inv-location",
            "/inv-content-location",
            "/inv-elsewhere",
            "/inv-kept",
        ] {
            let r = c.get(kind, path, &[]).await;
            assert!(r.header("surrogate-key").is_none() && r.header("surrogate-control").is_none());
            c.settled(kind, path, 1);
            assert_eq!(
                label(&c.get(kind, path, &[]).await),
                "HIT",
                "{kind:?} {path}"
            );
        }
        let location = format!("{p}/inv-location");
        let content_location = format!("http://{edge}{p}/inv-content-location");
        let elsewhere = format!("http://other.example{p}/inv-elsewhere");
        c.origin.script(
            "/unsafe",
            Script::status(
                201,
                &[
                    ("content-type", TEXT),
                    ("location", &location),
                    ("content-location", &content_location),
                ],
                b"made\n",
            ),
        );
        c.origin.script(
            "/unsafe-elsewhere",
            Script::status(303, &[("location", &elsewhere)], b""),
        );
        c.origin.script(
            "/inv-kept",
            Script::status(404, &[("content-type", TEXT)], b"no\n"),
        );
        let post = c.ask("POST", kind, "/inv", &[]).await;
        assert_eq!(label(&post), "PASS");
        c.ask("PUT", kind, "/unsafe", &[]).await;
        c.ask("DELETE", kind, "/unsafe-elsewhere", &[]).await;
        c.ask("DELETE", kind, "/inv-kept", &[]).await;
        for (path, expected) in [
            ("/inv", "MISS"),
            ("/inv-location", "MISS"),
            ("/inv-content-location", "MISS"),
            ("/inv-elsewhere", "HIT"),
        ] {
            c.origin
                .script(path, script(&[("cache-control", "max-age=60")]));
            assert_eq!(
                label(&c.get(kind, path, &[]).await),
                expected,
                "{kind:?} {path}"
            );
        }
        c.origin
            .script("/inv-kept", script(&[("cache-control", "max-age=60")]));
        assert_eq!(
            label(&c.get(kind, "/inv-kept", &[]).await),
            "HIT",
            "{kind:?}: a 404 invalidates nothing"
        );
    }
    c.assert_no_app_panic();
}
