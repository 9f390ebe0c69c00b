//! The edge cache (`cache_ttl`, src/cache.rs), end to end over
//! HTTP on Viceroy: concurrent cold clients cost one origin fetch and stream the object as
//! it is written; later requests are hits with `Age` and no origin request; each coding has
//! its own object; what may not be stored never is, and a body that fails is never served
//! from the cache.

use std::time::{Duration, Instant};

use firstbyte_harness::client::{self, Reply};
use firstbyte_harness::independent::{gunzip, unbrotli};
use firstbyte_harness::origin::{html_page, pattern_bytes};
use firstbyte_harness::stack::{LocalStack as Stack, StoreOverrides};
use http_body_util::BodyExt;

const LOG_WAIT: Duration = Duration::from_secs(30);

fn stack_with(overrides: StoreOverrides) -> Stack {
    Stack::start(overrides).expect("origin and viceroy start")
}

async fn send(s: &Stack, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    client::request(s.edge.addr, method, path, headers)
        .await
        .expect("request")
}

/// What the demo route `cached` makes of the origin's page.
fn expected_page() -> Vec<u8> {
    html_page()
        .replace("origin.example", "edge.example")
        .into_bytes()
}

/// Waits until `count` requests for `path` have ended: a filler writes its access-log line
/// once the object is complete, which its client may see a moment earlier, and the host
/// may seal the object a moment after that line, so this also waits for every instance
/// to end (a request meanwhile would read the object as a collapsed one).
fn settled(s: &Stack, path: &str, count: usize) {
    s.edge
        .access_records(path, count, LOG_WAIT)
        .expect("access-log records");
    assert!(s.edge.wait_until_idle(LOG_WAIT), "the instances end");
}

/// Origin requests since `base` (Viceroy itself may contact a backend as it starts).
fn origin_requests(s: &Stack, base: u64) -> u64 {
    s.origin.requests() - base
}

/// The dev origin's byte pattern, as `/bytes/<n>` and friends send it.
fn pattern(n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    pattern_bytes(0, &mut buf);
    buf
}

fn cache_field(s: &Stack, path: &str, count: usize) -> Vec<String> {
    s.edge
        .access_records(path, count, LOG_WAIT)
        .expect("access-log records")
        .iter()
        .map(|r| r["cache"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_cold_clients_cost_one_origin_fetch_and_all_stream() {
    let s = stack_with(&[]);
    let base = s.origin.requests();
    // About twenty paced chunks, 100 ms apart: the origin takes about two seconds.
    let chunk = html_page().len() / 20 + 1;
    let path = format!("/cached/html?chunk_size={chunk}&interval_ms=100");
    let expected = expected_page();

    let started = Instant::now();
    let clients: Vec<_> = (0..16)
        .map(|_| {
            let path = path.clone();
            let addr = s.edge.addr;
            tokio::spawn(
                async move { client::timed(addr, &path, &[("accept-encoding", "br")]).await },
            )
        })
        .collect();
    let mut results = Vec::new();
    for c in clients {
        results.push(c.await.expect("client task").expect("response head"));
    }
    assert_eq!(
        origin_requests(&s, base),
        1,
        "one origin fetch for 16 clients"
    );
    let first_done = results.iter().map(|r| r.done).min().expect("16 results");
    assert!(
        first_done - started >= Duration::from_millis(1500),
        "the origin paces its body over about 2 s, took {:?}",
        first_done - started
    );
    let mut labels: Vec<&str> = results
        .iter()
        .map(|r| r.header("x-cache").unwrap_or("none"))
        .collect();
    labels.sort_unstable();
    labels.dedup();
    assert_eq!(
        labels,
        ["MISS", "MISS COLLAPSED"],
        "one filler, the rest collapsed"
    );
    for (i, r) in results.iter().enumerate() {
        assert!(r.complete, "client {i} got a complete body");
        assert_eq!(r.body, results[0].body, "client {i} got the same bytes");
        let first = r.first_byte.expect("a body byte");
        // Had the collapsed clients waited for the whole object, their first byte would
        // come when the filler's body ends.
        assert!(
            first + Duration::from_millis(700) < first_done,
            "client {i}: first byte {:?} after the start, before the origin finished at {:?}",
            first - started,
            first_done - started
        );
    }
    assert_eq!(unbrotli(&results[0].body).expect("brotli"), expected);
    let mut fields = cache_field(&s, "/cached/html", 16);
    fields.sort_unstable();
    fields.dedup();
    assert_eq!(fields, ["collapsed", "miss"]);

    // Complete now: a hit, with Age, the same bytes, no origin request.
    let hit = send(&s, "GET", &path, &[("accept-encoding", "br")]).await;
    assert_eq!(hit.status, 200);
    assert_eq!(hit.header("x-cache"), Some("HIT"));
    assert!(hit.header("age").is_some_and(|a| a.parse::<u64>().is_ok()));
    assert!(hit
        .header("server-timing")
        .is_some_and(|t| t.contains("cache;desc=HIT")));
    assert_eq!(hit.header("content-encoding"), Some("br"));
    assert!(hit
        .header("vary")
        .is_some_and(|v| v.to_ascii_lowercase().contains("accept-encoding")));
    assert_eq!(hit.body, results[0].body);
    assert!(hit.body_error.is_none());
    assert_eq!(
        origin_requests(&s, base),
        1,
        "a hit does not reach the origin"
    );
    assert_eq!(
        cache_field(&s, "/cached/html", 17)
            .last()
            .map(String::as_str),
        Some("hit")
    );

    // HEAD shares GET's object and head.
    let head = send(&s, "HEAD", &path, &[("accept-encoding", "br")]).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    for name in ["x-cache", "content-type", "content-encoding", "vary"] {
        assert_eq!(head.header(name), hit.header(name), "{name}");
    }
    assert_eq!(origin_requests(&s, base), 1);

    // A gzip client and an identity client each get their own object.
    // 16 collapsed, a hit and a HEAD so far.
    for (accept, fetches, logged) in [("gzip", 2, 19), ("identity", 3, 21)] {
        let miss = send(&s, "GET", &path, &[("accept-encoding", accept)]).await;
        settled(&s, "/cached/html", logged);
        assert_eq!(miss.header("x-cache"), Some("MISS"), "{accept}");
        assert_eq!(origin_requests(&s, base), fetches, "{accept}");
        let again = send(&s, "GET", &path, &[("accept-encoding", accept)]).await;
        assert_eq!(again.header("x-cache"), Some("HIT"), "{accept}");
        assert_eq!(origin_requests(&s, base), fetches, "{accept}");
        assert_eq!(again.body, miss.body, "{accept}");
        let plain = if accept == "gzip" {
            assert_eq!(again.header("content-encoding"), Some("gzip"));
            gunzip(&again.body).expect("gzip")
        } else {
            assert_eq!(again.header("content-encoding"), None);
            again.body.clone()
        };
        assert_eq!(plain, expected, "{accept}");
    }

    let heap = s.edge.peak_heap_mib(LOG_WAIT).expect("heap figures");
    assert!(heap <= 4.0, "heap {heap} MiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_head_fills_the_object_for_get() {
    let s = stack_with(&[]);
    let base = s.origin.requests();
    let path = "/cached/html?for=head";
    let head = send(&s, "HEAD", path, &[("accept-encoding", "gzip")]).await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("x-cache"), Some("MISS"));
    assert_eq!(head.header("content-encoding"), Some("gzip"));
    assert!(head.body.is_empty());
    assert_eq!(origin_requests(&s, base), 1);
    // The HEAD client has its answer before the object is complete.
    settled(&s, "/cached/html", 1);
    let get = send(&s, "GET", path, &[("accept-encoding", "gzip")]).await;
    assert_eq!(get.header("x-cache"), Some("HIT"));
    assert_eq!(gunzip(&get.body).expect("gzip"), expected_page());
    assert_eq!(origin_requests(&s, base), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_may_not_be_stored_is_fetched_every_time() {
    let s = stack_with(&[]);
    let base = s.origin.requests();
    let cases = [
        (
            "/cached/response-headers?cache-control=no-store",
            "no-store",
        ),
        ("/cached/response-headers?cache-control=private", "private"),
        ("/cached/response-headers?set-cookie=session", "set-cookie"),
        ("/cached/response-headers?vary=*", "vary *"),
        (
            "/cached/status/503",
            "status 503 without explicit freshness",
        ),
    ];
    let mut fetches = 0;
    let mut logged = 0;
    for (path, why) in cases {
        for _ in 0..2 {
            let r = send(&s, "GET", path, &[("accept-encoding", "gzip")]).await;
            fetches += 1;
            assert_eq!(r.header("x-cache"), Some("PASS"), "{path}");
            assert!(r.body_error.is_none(), "{path}");
            assert_eq!(
                origin_requests(&s, base),
                fetches,
                "{path}: fetched every time"
            );
        }
        let logged_path = path.split('?').next().unwrap_or(path);
        logged = if logged_path == "/cached/response-headers" {
            logged + 2
        } else {
            2
        };
        let records = s
            .edge
            .access_records(logged_path, logged, LOG_WAIT)
            .expect("access-log records");
        let reasons: Vec<(String, String)> = records[logged - 2..]
            .iter()
            .map(|r| {
                let field = |name: &str| r[name].as_str().unwrap_or("").to_string();
                (field("cache"), field("cache_reason"))
            })
            .collect();
        // The first is refused; it leaves a marker, so the second fetches at once, ready
        // to store what it gets (it may not, still).
        let expected = [
            ("pass".to_string(), why.to_string()),
            (
                "pass".to_string(),
                format!("marked uncacheable, still: {why}"),
            ),
        ];
        assert_eq!(reasons, expected, "{path}");
    }
    // Other methods pass the cache altogether.
    let post = send(&s, "POST", "/cached/anything", &[]).await;
    assert_eq!(post.status, 200);
    assert_eq!(post.header("x-cache"), Some("PASS"));
    assert_eq!(cache_field(&s, "/cached/anything", 1), ["pass"]);
}

/// Requests waiting on a fill whose response may not be stored go to the origin together,
/// and later ones skip the wait: the filler leaves a pass marker. (Viceroy 0.22 releases
/// the waiters of a cancelled insertion together anyway: the build without the marker took
/// the same second here, but logged six fills. Fastly documents only that one caller is
/// told to insert; its SDK's own HTTP cache leaves an "uncacheable" marker for this.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn waiters_on_an_uncacheable_response_fetch_at_once() {
    let s = stack_with(&[]);
    let base = s.origin.requests();
    // A 503 whose body takes about a second: six in a queue would take six.
    let path = "/cached/drip?numbytes=4&duration=1&code=503";
    let started = Instant::now();
    let clients: Vec<_> = (0..6)
        .map(|_| {
            let addr = s.edge.addr;
            tokio::spawn(async move { client::timed(addr, path, &[]).await })
        })
        .collect();
    for c in clients {
        let r = c.await.expect("client task").expect("response head");
        assert_eq!(r.status, 503);
        assert!(r.complete);
        assert_eq!(r.body, b"****");
        assert_eq!(r.header("x-cache"), Some("PASS"));
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(3500),
        "six waiters were released together, not queued: {took:?}"
    );
    assert_eq!(origin_requests(&s, base), 6, "each fetched for itself");
    let mut fields = cache_field(&s, "/cached/drip", 6);
    fields.dedup();
    assert_eq!(fields, ["pass"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_cut_midway_is_never_served_from_the_cache() {
    let s = stack_with(&[]);
    let base = s.origin.requests();
    let n = 300_000;
    let path = format!("/cached/reset/{n}?first_only=cache-cut");
    let cut = send(&s, "GET", &path, &[]).await;
    assert_eq!(cut.header("x-cache"), Some("MISS"));
    assert!(cut.body_error.is_some(), "the client sees the cut");
    assert_eq!(origin_requests(&s, base), 1);

    // The origin now sends the same bytes whole: the next request must fetch them.
    let next = send(&s, "GET", &path, &[]).await;
    assert_eq!(
        next.header("x-cache"),
        Some("MISS"),
        "the cut body was not kept"
    );
    assert!(next.body_error.is_none());
    assert_eq!(next.body, pattern(n));
    assert_eq!(origin_requests(&s, base), 2);

    settled(&s, "/cached/reset/300000", 2);
    let hit = send(&s, "GET", &path, &[]).await;
    assert_eq!(hit.header("x-cache"), Some("HIT"));
    assert_eq!(hit.body, next.body);
    assert_eq!(origin_requests(&s, base), 2);
    let records = s
        .edge
        .access_records("/cached/reset/300000", 3, LOG_WAIT)
        .expect("records");
    assert_eq!(records[0]["outcome"], "aborted");
    assert_eq!(records[1]["cache"], "miss");
    assert_eq!(records[2]["cache"], "hit");
}

/// An object whose length is unknown and turns out larger than `cache_max_bytes` is cut as
/// soon as it passes the limit, so the cache never holds more: every client reading it, the
/// one whose request filled it included (all read the object, never the origin), sees its
/// body end in an error, never complete. A marker then has requests pass the cache, whole.
/// A declared length over the limit says so before the body: that response passes whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_over_cache_max_bytes_is_cut_then_passes() {
    let s = stack_with(&[("route.cached.cache_max_bytes", Some("100000"))]);
    let base = s.origin.requests();
    let path = "/cached/stream-bytes/200000";
    let cut = send(&s, "GET", path, &[]).await;
    assert_eq!(cut.header("x-cache"), Some("MISS"));
    assert!(
        cut.body_error.is_some(),
        "a cut object never looks complete"
    );
    assert!(cut.body.len() < 200_000);
    settled(&s, path, 1);
    let passed = send(&s, "GET", path, &[]).await;
    assert_eq!(passed.header("x-cache"), Some("PASS"));
    assert!(passed.body_error.is_none());
    assert_eq!(passed.body, pattern(200_000));
    assert_eq!(origin_requests(&s, base), 2);
    let records = s.edge.access_records(path, 2, LOG_WAIT).expect("records");
    assert_eq!(records[0]["outcome"], "aborted");
    assert_eq!(
        records[0]["cache_reason"],
        "not stored: larger than cache_max_bytes"
    );
    assert_eq!(records[1]["cache_reason"], "marked too large");
    let r = send(&s, "GET", "/cached/bytes/200000", &[]).await;
    assert_eq!(r.header("x-cache"), Some("PASS"));
    assert_eq!(r.body.len(), 200_000);
}

/// Collapsed readers of an object dropped for its size see it cut with its filler's client
/// (see the test above); the next request passes the cache at once (marker).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn collapsed_readers_of_an_object_dropped_for_its_size_see_it_cut() {
    let s = stack_with(&[("route.cached.cache_max_bytes", Some("50"))]);
    // 100 bytes over a second, no declared length: too large at about half a second.
    let path = "/cached/drip?numbytes=100&duration=1";
    let filler = {
        let addr = s.edge.addr;
        tokio::spawn(async move { client::timed(addr, path, &[]).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let addr = s.edge.addr;
            tokio::spawn(async move { client::timed(addr, path, &[]).await })
        })
        .collect();
    let filled = filler.await.expect("task").expect("response head");
    assert_eq!(filled.header("x-cache"), Some("MISS"));
    assert!(!filled.complete, "a cut object never looks complete");
    for r in readers {
        let r = r.await.expect("task").expect("response head");
        assert_eq!(r.header("x-cache"), Some("MISS COLLAPSED"));
        assert!(!r.complete, "a cut object never looks complete");
        assert!(r.body.len() < 100, "{} bytes", r.body.len());
    }
    settled(&s, "/cached/drip", 4);
    let next = send(&s, "GET", path, &[]).await;
    assert_eq!(next.header("x-cache"), Some("PASS"));
    assert_eq!(next.body, vec![b'*'; 100]);
}

/// A body that goes out untouched with its declared length: requests that read the object
/// while it is being written get that length too, as its filler, a hit and a HEAD do (the
/// conformance matrix once caught a collapsed GET without it, against nginx), and may ask
/// for a range of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn collapsed_readers_of_a_declared_length_get_it() {
    // The passthrough: no stages, no compression.
    let s = stack_with(&[
        ("route.cached.transforms", None),
        ("route.cached.replace", None),
        ("route.cached.compress", None),
    ]);
    let path = "/cached/drip?numbytes=40&duration=1&declared=true";
    let filler = {
        let addr = s.edge.addr;
        tokio::spawn(async move { client::timed(addr, path, &[]).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let addr = s.edge.addr;
            tokio::spawn(async move { client::timed(addr, path, &[]).await })
        })
        .collect();
    let tail = {
        let addr = s.edge.addr;
        tokio::spawn(async move { client::timed(addr, path, &[("range", "bytes=-10")]).await })
    };
    let filled = filler.await.expect("task").expect("response head");
    assert_eq!(filled.header("x-cache"), Some("MISS"));
    assert_eq!(filled.header("content-length"), Some("40"));
    // A range of an object still being written, whose length is declared.
    let tail = tail.await.expect("task").expect("response head");
    assert_eq!(tail.status, 206);
    assert_eq!(tail.header("content-range"), Some("bytes 30-39/40"));
    assert_eq!(tail.body, vec![b'*'; 10]);
    assert!(tail.complete);
    for r in readers {
        let r = r.await.expect("task").expect("response head");
        // The core cache does not say whether an object of declared length is complete:
        // a reader that finds one is a hit, before the object is complete as after.
        assert_eq!(r.header("x-cache"), Some("HIT"));
        assert_eq!(r.header("content-length"), Some("40"));
        assert!(r.complete);
        assert_eq!(r.body, vec![b'*'; 40]);
    }
    settled(&s, "/cached/drip", 4);
    for method in ["GET", "HEAD"] {
        let hit = send(&s, method, path, &[]).await;
        assert_eq!(hit.header("x-cache"), Some("HIT"), "{method}");
        assert_eq!(hit.header("content-length"), Some("40"), "{method}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_object_is_served_while_one_request_refreshes_it() {
    let s = stack_with(&[
        ("route.cached.cache_ttl", Some("1")),
        ("route.cached.cache_stale_while_revalidate", Some("60")),
    ]);
    let base = s.origin.requests();
    let path = "/cached/html?for=swr";
    let br = [("accept-encoding", "br")];
    let first = send(&s, "GET", path, &br).await;
    assert_eq!(first.header("x-cache"), Some("MISS"));
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let stale = send(&s, "GET", path, &br).await;
    assert_eq!(stale.header("x-cache"), Some("STALE"));
    assert!(stale
        .header("age")
        .and_then(|a| a.parse::<u64>().ok())
        .is_some_and(|a| a >= 1));
    assert_eq!(stale.body, first.body);
    // The same request then refreshes the object, once, after its client had the answer.
    let records = s
        .edge
        .access_records("/cached/html", 2, LOG_WAIT)
        .expect("records");
    assert_eq!(records[1]["cache"], "stale");
    assert_eq!(origin_requests(&s, base), 2, "one refresh");

    let fresh = send(&s, "GET", path, &br).await;
    assert_eq!(fresh.header("x-cache"), Some("HIT"));
    assert_eq!(fresh.header("age"), Some("0"));
    assert_eq!(fresh.body, first.body);
    assert_eq!(origin_requests(&s, base), 2);
}

/// The fill belongs to the origin, not to the client whose request started it: that client
/// hanging up mid-body changes nothing for the object, which is stored whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filler_whose_client_leaves_still_stores_the_object() {
    let s = stack_with(&[]);
    let base = s.origin.requests();
    let path = "/cached/drip?numbytes=40&duration=2";
    {
        let resp = client::open(s.edge.addr, "GET", path, &[])
            .await
            .expect("response head");
        assert_eq!(
            resp.headers().get("x-cache").and_then(|v| v.to_str().ok()),
            Some("MISS")
        );
        let mut body = resp.into_body();
        let _ = body.frame().await;
        // Dropping the body closes the connection mid-way.
    }
    let record = s
        .edge
        .access_record("/cached/drip", LOG_WAIT)
        .expect("the filler's record");
    assert_eq!(record["outcome"], "ok", "{record}");
    assert_eq!(record["cache"], "miss", "{record}");
    settled(&s, "/cached/drip", 1);
    let next = send(&s, "GET", path, &[]).await;
    assert!(next.body_error.is_none());
    assert_eq!(next.body, vec![b'*'; 40]);
    assert_eq!(next.header("x-cache"), Some("HIT"));
    assert_eq!(origin_requests(&s, base), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_coding_or_a_bomb_is_never_served_from_the_cache() {
    let s = stack_with(&[("route.cached.max_inflate_ratio", Some("2"))]);
    for (path, logged) in [
        // Claims gzip, sends plain text: the decoder fails.
        (
            "/cached/response-headers?Content-Encoding=gzip&Content-Type=text/plain",
            "/cached/response-headers",
        ),
        // Inflates past the route's ratio of 2: the bomb guard stops it.
        ("/cached/text/8388608?encoding=gzip", "/cached/text/8388608"),
    ] {
        for attempt in 1..=2 {
            if let Ok(r) = client::request(s.edge.addr, "GET", path, &[]).await {
                assert_ne!(r.header("x-cache"), Some("HIT"), "{path} #{attempt}");
                assert!(
                    r.body_error.is_some(),
                    "{path} #{attempt}: never a clean end"
                );
            }
            settled(&s, logged, attempt);
        }
        let fields = cache_field(&s, logged, 2);
        assert!(
            fields.iter().all(|f| f != "hit" && f != "collapsed"),
            "{path}: {fields:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gib_through_the_cache_is_byte_exact_on_miss_and_hit_in_a_small_heap() {
    let s = stack_with(&[("route.origin.cache_ttl", Some("60"))]);
    let n = 1u64 << 30;
    let path = format!("/origin/bytes/{n}");
    let direct = client::digest(s.origin.addr, &format!("/bytes/{n}"))
        .await
        .expect("origin");
    let base = s.origin.requests();
    let miss = client::digest(s.edge.addr, &path).await.expect("miss");
    settled(&s, &path, 1);
    let hit = client::digest(s.edge.addr, &path).await.expect("hit");
    settled(&s, &path, 2);
    for (name, d) in [("miss", &miss), ("hit", &hit)] {
        assert!(d.complete, "{name}");
        assert_eq!((d.len, d.sha256), (direct.len, direct.sha256), "{name}");
    }
    assert_eq!(cache_field(&s, &path, 2), ["miss", "hit"]);
    assert_eq!(origin_requests(&s, base), 1, "the hit fetched nothing");
    let heap = s
        .edge
        .peak_heap_mib(LOG_WAIT)
        .expect("instances end and Viceroy reports a heap");
    assert!(heap <= 4.0, "{heap} MiB of WebAssembly heap");
}
