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

// Markers, stored heads, 304s, Host, only-if-cached and the fields the cache reads: each
// case below failed on a cache that let one variant, one origin header, one 304 or one
// spelling of a host decide for the others.

/// RFC 9111 §4.1: a marker (hit-for-miss) stands for the variant whose response made it,
/// and for no other. A response too large to store, or `private`, for one value of a
/// `cache_request_headers` header leaves every other variant's object a HIT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc9111_4_1_a_marker_hides_no_other_variant() {
    let c = Cached::start(
        &[
            ("cache_request_headers", "x-v"),
            ("cache_max_bytes", "1000"),
        ],
        &[],
    );
    let big = vec![b'x'; 4000];
    for kind in KINDS {
        let path = format!("/marked?{kind:?}");
        c.origin
            .script(&path, script(&[("cache-control", "max-age=60")]));
        let mut logged = 0;
        for v in ["a", "c"] {
            let r = c.get(kind, &path, &[("x-v", v)]).await;
            assert_eq!(label(&r), "MISS", "{kind:?} {v}");
            logged += 1;
            c.settled(kind, "/marked", logged);
        }
        // The chain's output has no declared length: one that outgrows the limit is cut as
        // it is written, whose marker always had its variant's rule.
        if kind == Kind::Passthrough {
            c.origin.script(
                &path,
                Script::ok(
                    &[("content-type", TEXT), ("cache-control", "max-age=60")],
                    &big,
                ),
            );
            let r = c.get(kind, &path, &[("x-v", "big")]).await;
            assert_eq!(label(&r), "PASS", "too large");
            logged += 1;
            c.settled(kind, "/marked", logged);
            for v in ["a", "c"] {
                let r = c.get(kind, &path, &[("x-v", v)]).await;
                assert_eq!(label(&r), "HIT", "{kind:?} {v} after a too-large variant");
                assert_eq!(r.text(), kind.output(BODY));
                logged += 1;
                c.settled(kind, "/marked", logged);
            }
        }
        c.origin
            .script(&path, script(&[("cache-control", "private")]));
        let r = c.get(kind, &path, &[("x-v", "p")]).await;
        assert_eq!(label(&r), "PASS", "{kind:?} private");
        logged += 1;
        c.settled(kind, "/marked", logged);
        let before = c.fetches("/marked");
        for v in ["a", "c"] {
            let r = c.get(kind, &path, &[("x-v", v)]).await;
            assert_eq!(label(&r), "HIT", "{kind:?} {v} after a private variant");
            assert_eq!(r.text(), kind.output(BODY));
        }
        assert_eq!(
            c.fetches("/marked"),
            before,
            "{kind:?}: the origin was not asked"
        );
    }
    c.assert_no_app_panic();
}

/// RFC 9110 §5.1: a field name is a token, and `#` is a token character, as `:` and `,` are
/// characters of a value. An object whose origin sends such names and values is stored and
/// served with them, not made unreadable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc9110_5_any_field_an_origin_sends_is_stored() {
    let c = Cached::start(&[], &[]);
    c.origin.script(
        "/odd-fields",
        script(&[
            ("cache-control", "max-age=60"),
            ("#note", "1"),
            ("#swr", "x"),
            ("x-colons", "3:abc, d: e"),
        ]),
    );
    for kind in KINDS {
        let path = format!("/odd-fields?{kind:?}");
        assert_eq!(label(&c.get(kind, &path, &[]).await), "MISS", "{kind:?}");
        c.settled(kind, "/odd-fields", 1);
        let r = c.get(kind, &path, &[]).await;
        assert_eq!(label(&r), "HIT", "{kind:?}");
        assert_eq!(r.header("#note"), Some("1"));
        assert_eq!(r.header("#swr"), Some("x"));
        assert_eq!(r.header("x-colons"), Some("3:abc, d: e"));
        assert_eq!(r.text(), kind.output(BODY));
    }
    assert_eq!(c.fetches("/odd-fields"), 2);
}

/// RFC 9111 §4.3.4: a 304 whose strong validator is not the stored one's is about another
/// representation, and must not update the stored response. The response is fetched again
/// whole and replaces the object: a MISS with the origin's current body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc9111_4_3_4_a_304_for_another_representation_updates_nothing() {
    let c = Cached::start(&[], &[]);
    let new = "new at origin.example\n";
    for kind in KINDS {
        let path = format!("/other-304?{kind:?}");
        c.origin.script(
            &path,
            script(&[("cache-control", "max-age=1"), ("etag", "\"r1\"")]).revalidating(),
        );
        assert_eq!(label(&c.get(kind, &path, &[]).await), "MISS");
        c.settled(kind, "/other-304", 1);
        tokio::time::sleep(PAST_ONE_SECOND).await;
        // It answers the stored "r1" with a 304 that says "r2", and a GET with its body.
        c.origin.script(
            &path,
            Script::ok(
                &[
                    ("content-type", TEXT),
                    ("cache-control", "max-age=60"),
                    ("etag", "\"r1\""),
                ],
                new.as_bytes(),
            )
            .revalidating()
            .with_304_headers(&[("cache-control", "max-age=60"), ("etag", "\"r2\"")]),
        );
        let r = c.get(kind, &path, &[]).await;
        assert_eq!(label(&r), "MISS", "{kind:?}: refetched whole");
        assert_eq!(r.text(), kind.output(new), "{kind:?}");
        let seen: Vec<_> = c
            .origin
            .seen("/other-304")
            .into_iter()
            .filter(|s| s.target == path)
            .collect();
        assert_eq!(seen.len(), 3, "{kind:?}: fill, revalidation, whole fetch");
        assert!(seen[1].not_modified);
        assert_eq!(seen[2].header("if-none-match"), None, "{kind:?}");
        c.settled(kind, "/other-304", 2);
        let hit = c.get(kind, &path, &[]).await;
        assert_eq!(label(&hit), "HIT", "{kind:?}");
        assert_eq!(hit.text(), kind.output(new));
    }
}

/// `GET` over a connection of its own with `Host: host` (the client sets its own), and the
/// response's `X-Cache`.
async fn with_host(c: &Cached, kind: Kind, path: &str, host: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(c.stack.edge.addr)
        .await
        .expect("connect");
    let request = format!(
        "GET {}{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n",
        kind.prefix()
    );
    stream.write_all(request.as_bytes()).await.expect("request");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("response");
    let text = String::from_utf8_lossy(&response);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    assert!(head.starts_with("HTTP/1.1 200"), "{host}: {head}");
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.eq_ignore_ascii_case("x-cache"))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default()
}

/// RFC 9110 §4.2.3: the host's case, a trailing dot, and an empty or default port name the
/// same origin, so they name the same object; another port is another origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc9110_4_2_3_one_origin_one_object_however_its_host_is_spelled() {
    let c = Cached::start(&[], &[]);
    c.origin
        .script("/host", script(&[("cache-control", "max-age=60")]));
    for kind in KINDS {
        let mut logged = 0;
        for (hosts, other) in [
            (
                ["127.0.0.1.:7800", "127.0.0.1:7800", "127.0.0.1.:7800"],
                "127.0.0.1:7801",
            ),
            (
                ["Example.TEST.", "example.test:80", "EXAMPLE.test:"],
                "example.test:8080",
            ),
        ] {
            let path = format!("/host?{kind:?}-{}", hosts[1]);
            let mut labels = Vec::new();
            for host in hosts.iter().chain([&other]) {
                labels.push(with_host(&c, kind, &path, host).await);
                logged += 1;
                c.settled(kind, "/host", logged);
            }
            assert_eq!(
                labels,
                ["MISS", "HIT", "HIT", "MISS"],
                "{kind:?} {hosts:?} {other}"
            );
        }
    }
}

/// The cached routes beside `/sp/`, which composes the scripted origin's `/page`: `a`, the
/// fragment `/sc/frag` (through the passthrough route's cache), `b`.
fn composing() -> Cached {
    let c = Cached::start(
        &[],
        &[
            ("routes", Some("sc,scc,origin,cached,sp")),
            ("route.sp.prefix", Some("/sp/")),
            ("route.sp.backend", Some("scripted")),
            ("route.sp.strip_prefix", Some("true")),
            ("route.sp.esi", Some("surrogate")),
        ],
    );
    c.origin.script(
        "/page",
        Script::ok(
            &[
                ("content-type", "text/html"),
                ("surrogate-control", "content=\"ESI/1.0\""),
            ],
            b"a<esi:include src=\"/sc/frag\"/>b",
        ),
    );
    c
}

/// The page, composed.
async fn page(c: &Cached) -> String {
    firstbyte_harness::client::request(c.stack.edge.addr, "GET", "/sp/page", &[])
        .await
        .expect("page")
        .text()
}

/// The fragment as a client of its URL gets it: the codings a page reads, so the same object.
async fn fragment(c: &Cached) -> Reply {
    c.get(
        Kind::Passthrough,
        "/frag",
        &[("accept-encoding", "gzip, deflate, br")],
    )
    .await
}

/// RFC 9111 §4.3.4 on a composed page's fragment: a 304 about another representation
/// updates nothing; the page gets the fragment fetched again whole, which replaces the
/// object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fragments_304_for_another_representation_updates_nothing() {
    let c = composing();
    c.origin.script(
        "/frag",
        Script::ok(
            &[
                ("content-type", "text/html"),
                ("cache-control", "max-age=1"),
                ("etag", "\"f1\""),
            ],
            b"[old]",
        )
        .revalidating(),
    );
    assert_eq!(page(&c).await, "a[old]b");
    assert!(c.stack.edge.wait_until_idle(support::LOG_WAIT));
    tokio::time::sleep(PAST_ONE_SECOND).await;
    c.origin.script(
        "/frag",
        Script::ok(
            &[
                ("content-type", "text/html"),
                ("cache-control", "max-age=60"),
                ("etag", "\"f1\""),
            ],
            b"[new]",
        )
        .revalidating()
        .with_304_headers(&[("cache-control", "max-age=60"), ("etag", "\"f2\"")]),
    );
    assert_eq!(page(&c).await, "a[new]b", "fetched whole");
    assert!(c.stack.edge.wait_until_idle(support::LOG_WAIT));
    let seen = c.origin.seen("/frag");
    assert_eq!(seen.len(), 3, "fill, revalidation, whole fetch");
    assert!(seen[1].not_modified);
    assert_eq!(seen[2].header("if-none-match"), None);
    let r = fragment(&c).await;
    assert_eq!((label(&r), r.text().as_str()), ("HIT", "[new]"));
}

/// A composed page's fragment through its route's cache: a revalidation whose answer may
/// not be stored (here `private`) keeps the stale copy for what is left of its windows, as
/// a client's does; it never leaves a marker in its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fragments_failed_revalidation_keeps_the_stale_copy() {
    let c = composing();
    c.origin.script(
        "/frag",
        Script::ok(
            &[
                ("content-type", "text/html"),
                ("cache-control", "max-age=1, stale-while-revalidate=60"),
                ("etag", "\"f1\""),
            ],
            b"[old]",
        ),
    );
    assert_eq!(page(&c).await, "a[old]b");
    assert!(c.stack.edge.wait_until_idle(support::LOG_WAIT));
    tokio::time::sleep(PAST_ONE_SECOND).await;
    c.origin.script(
        "/frag",
        Script::ok(
            &[("content-type", "text/html"), ("cache-control", "private")],
            b"[mine]",
        ),
    );
    assert_eq!(
        page(&c).await,
        "a[mine]b",
        "the page read the origin's answer"
    );
    assert!(c.stack.edge.wait_until_idle(support::LOG_WAIT));
    let fetched = c.fetches("/frag");
    let r = fragment(&c).await;
    assert_eq!(label(&r), "STALE", "the stale copy is still there");
    assert_eq!(r.text(), "[old]");
    c.settled(Kind::Passthrough, "/frag", 1);
    assert_eq!(
        c.fetches("/frag"),
        fetched + 1,
        "refreshed after it answered"
    );
}

/// RFC 9111 §5.2.1.7: `only-if-cached` gets a stored response that may answer without the
/// origin (fresh, or stale within its `stale-while-revalidate`), or a 504; the origin is
/// never asked, not for a fill, a revalidation, a refresh or a request that would pass.
/// firstbyte ignores a client's `max-stale` and `min-fresh` (see docs/edge-cache.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc9111_5_2_1_7_only_if_cached_never_reaches_the_origin() {
    let c = Cached::start(&[], &[]);
    let only = [("cache-control", "only-if-cached")];
    c.origin
        .script("/oic-fresh", script(&[("cache-control", "max-age=60")]));
    c.origin.script(
        "/oic-stale",
        script(&[("cache-control", "max-age=1"), ("etag", "\"s\"")]).revalidating(),
    );
    c.origin.script(
        "/oic-swr",
        script(&[("cache-control", "max-age=1, stale-while-revalidate=60")]),
    );
    c.origin
        .script("/oic-none", script(&[("cache-control", "max-age=60")]));
    for kind in KINDS {
        for path in ["/oic-fresh", "/oic-stale", "/oic-swr"] {
            assert_eq!(label(&c.get(kind, path, &[]).await), "MISS", "{kind:?}");
            c.settled(kind, path, 1);
        }
    }
    tokio::time::sleep(PAST_ONE_SECOND).await;
    let fetched = |c: &Cached| {
        ["/oic-fresh", "/oic-stale", "/oic-swr", "/oic-none"]
            .map(|p| c.fetches(p))
            .iter()
            .sum::<usize>()
    };
    let before = fetched(&c);
    for kind in KINDS {
        let r = c.get(kind, "/oic-fresh", &only).await;
        assert_eq!((r.status, label(&r)), (200, "HIT"), "{kind:?}");
        assert_eq!(r.text(), kind.output(BODY));
        let r = c.get(kind, "/oic-swr", &only).await;
        assert_eq!((r.status, label(&r)), (200, "STALE"), "{kind:?}");
        assert_eq!(r.text(), kind.output(BODY));
        for (method, path, headers) in [
            ("GET", "/oic-stale", vec![]),
            ("GET", "/oic-none", vec![]),
            ("GET", "/oic-fresh", vec![("cookie", "a=b")]),
            ("POST", "/oic-fresh", vec![]),
        ] {
            let mut headers = headers;
            headers.extend(only);
            let r = c.ask(method, kind, path, &headers).await;
            assert_eq!(r.status, 504, "{kind:?} {method} {path} {headers:?}");
        }
    }
    assert!(c.stack.edge.wait_until_idle(support::LOG_WAIT));
    assert_eq!(fetched(&c), before, "the origin was never asked");
}

/// RFC 9111 §5.1, RFC 9213 §2.1, RFC 9111 §1.2.2: a list-valued `Age` counts by its first
/// member; a `CDN-Cache-Control` that is no Structured Field Dictionary is ignored whole (so
/// `Cache-Control` governs); a `max-age` that is not delta-seconds is invalid (stale, and
/// without a validator not stored).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc9111_5_1_and_rfc9213_fields_parsed_as_their_rfcs_say() {
    let c = Cached::start(&[], &[]);
    c.origin.script(
        "/age-list",
        script(&[("cache-control", "max-age=60"), ("age", "10, 20")]),
    );
    c.origin.script(
        "/cdn-invalid",
        script(&[
            ("cdn-cache-control", "max-age=60,"),
            ("cache-control", "max-age=1"),
        ]),
    );
    c.origin.script(
        "/max-age-quote",
        script(&[("cache-control", "max-age=\"60")]),
    );
    for kind in KINDS {
        let r = c.get(kind, "/age-list", &[]).await;
        assert!((10..20).contains(&age(&r)), "{kind:?}: {:?}", r.headers);
        for path in ["/cdn-invalid", "/max-age-quote"] {
            c.get(kind, path, &[]).await;
            c.settled(kind, path, 1);
        }
    }
    tokio::time::sleep(PAST_ONE_SECOND).await;
    for kind in KINDS {
        let r = c.get(kind, "/cdn-invalid", &[]).await;
        assert_eq!(
            label(&r),
            "MISS",
            "{kind:?}: max-age=1 of Cache-Control governed"
        );
        let r = c.get(kind, "/max-age-quote", &[]).await;
        assert_eq!(label(&r), "PASS", "{kind:?}: never stored");
    }
}
