//! The edge cache against clients that try to spoil an object for the others, on purpose or
//! by accident: one that reads nothing or hangs up while its request fills the object, one
//! that makes a stale refresh fail, one that announces a body it never sends, one that sends
//! a cookie, a body or a header the key does not see, one that provokes an uncacheable
//! answer. Each case fails against a cache that lets that client decide for others.

mod support;

use std::time::{Duration, Instant};

use firstbyte_harness::client::{self, Timed};
use firstbyte_harness::peers::Script;
use support::{Cached, Kind, KINDS, LOG_WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A client that sends a request and then reads nothing, with a small receive window: the
/// server's writes to it stop once a few KiB are in flight.
async fn reads_nothing(addr: std::net::SocketAddr, path: &str, extra: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("small window");
    let mut stream = socket.connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}\r\n");
    stream.write_all(request.as_bytes()).await.expect("request");
    stream
}

/// 8 MiB, paced over about 1.6 s: 32 pieces of 256 KiB, 50 ms apart.
const BIG: usize = 8 << 20;
const PIECE: usize = 256 << 10;
const EVERY: Duration = Duration::from_millis(50);

fn big_body() -> Vec<u8> {
    let line = b"the origin.example sends this line again and again, 64 bytes.\n";
    line.iter().copied().cycle().take(BIG).collect()
}

fn origin_send_time() -> Duration {
    EVERY * (BIG / PIECE - 1) as u32
}

async fn readers(c: &Cached, kind: Kind, path: &str, n: usize) -> Vec<(Instant, Timed)> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let addr = c.stack.edge.addr;
            let target = format!("{}{path}", kind.prefix());
            tokio::spawn(async move {
                let started = Instant::now();
                let r = client::timed(addr, &target, &[])
                    .await
                    .expect("response head");
                (started, r)
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("reader task"));
    }
    out
}

/// A filler whose client reads nothing, with 8 collapsed readers: the fill runs at the
/// origin's pace, so each reader completes within a small multiple of the origin's send
/// time, and the object is stored. (With the fill written to the filler's client first, the
/// readers got a few MiB in 15 s and never completed.) The bound tells a fill at the
/// origin's pace from a stalled one, not fast from slow: this suite's tests run side by side
/// on two cores, where 8 readers of the chain's object took up to 1.35 × the send time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_filler_that_reads_nothing_holds_up_no_one() {
    let c = Cached::start(&[], &[]);
    let body = big_body();
    c.origin.script(
        "/big",
        Script::ok(&[("content-type", "text/plain")], &body).paced(PIECE, EVERY),
    );
    for kind in KINDS {
        let path = format!("/big?{kind:?}");
        let idle = reads_nothing(c.stack.edge.addr, &format!("{}{path}", kind.prefix()), "").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let limit = origin_send_time() * 3;
        for (started, r) in readers(&c, kind, &path, 8).await {
            assert!(r.complete, "{kind:?}: a reader's body is complete");
            assert_eq!(
                r.body,
                kind.output(&String::from_utf8_lossy(&body)).as_bytes()
            );
            let took = r.done - started;
            assert!(
                took <= limit,
                "{kind:?}: a reader took {took:?}, over 3 × the origin's {:?}: stalled?",
                origin_send_time()
            );
            // The core cache does not say whether an object of declared length (the
            // passthrough's) is complete: a reader finds a hit either way.
            let expected = match kind {
                Kind::Passthrough => "HIT",
                Kind::Chain => "MISS COLLAPSED",
            };
            assert_eq!(r.header("x-cache"), Some(expected), "{kind:?}");
        }
        // The idle client's request still holds its connection; the object is complete.
        c.settled(kind, "/big", 9);
        let later = c.get(kind, &path, &[]).await;
        assert_eq!(later.header("x-cache"), Some("HIT"), "{kind:?}");
        assert_eq!(
            later.body.len(),
            kind.output(&String::from_utf8_lossy(&body)).len()
        );
        drop(idle);
    }
    assert_eq!(c.fetches("/big"), 2, "one fill per route");
    c.assert_no_app_panic();
}

/// A filler that hangs up mid-body: the collapsed readers complete, and the object is
/// stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_filler_that_hangs_up_cuts_no_one() {
    let c = Cached::start(&[], &[]);
    let body = big_body();
    c.origin.script(
        "/big",
        Script::ok(&[("content-type", "text/plain")], &body).paced(PIECE, EVERY),
    );
    for kind in KINDS {
        let path = format!("/big?{kind:?}");
        let mut filler =
            reads_nothing(c.stack.edge.addr, &format!("{}{path}", kind.prefix()), "").await;
        let mut first = [0u8; 1024];
        let _ = filler.read(&mut first).await;
        let readers = {
            let c = &c;
            let path = path.clone();
            async move { readers(c, kind, &path, 4).await }
        };
        let hang_up = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            drop(filler);
        };
        let (got, ()) = tokio::join!(readers, hang_up);
        for (_, r) in got {
            assert!(r.complete, "{kind:?}");
            assert_eq!(
                r.body.len(),
                kind.output(&String::from_utf8_lossy(&body)).len()
            );
        }
        c.settled(kind, "/big", 5);
        let later = c.get(kind, &path, &[]).await;
        assert_eq!(later.header("x-cache"), Some("HIT"), "{kind:?}");
    }
    assert_eq!(c.fetches("/big"), 2);
    c.assert_no_app_panic();
}

/// A stale object whose refresh gets a 503, a `Set-Cookie`, or a body cut short: the client
/// that triggered it had the stale copy, whole; the app neither panics nor answers twice;
/// every request writes one access-log line; the stale copy stays for the next client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_stale_refresh_keeps_the_stale_copy() {
    let c = Cached::start(&[], &[]);
    let first = "version one of origin.example\n";
    let fresh = [
        ("content-type", "text/plain"),
        ("cache-control", "max-age=1, stale-while-revalidate=60"),
    ];
    let failures = [
        (
            "/fail-503",
            Script::status(503, &[("content-type", "text/plain")], b"down\n"),
        ),
        (
            "/fail-cookie",
            Script::ok(
                &[
                    ("content-type", "text/plain"),
                    ("cache-control", "max-age=60"),
                    ("set-cookie", "session=someone-else"),
                ],
                b"version two of origin.example, personal\n",
            ),
        ),
        (
            "/fail-cut",
            Script::ok(
                &[
                    ("content-type", "text/plain"),
                    ("cache-control", "max-age=60"),
                ],
                b"version two of origin.example, cut short on its way\n",
            )
            .cut_after(10),
        ),
    ];
    let mut requests = 0;
    for kind in KINDS {
        for (path, _) in &failures {
            c.origin.script(path, Script::ok(&fresh, first.as_bytes()));
            let filled = c.get(kind, path, &[]).await;
            assert_eq!(filled.header("x-cache"), Some("MISS"));
            requests += 1;
        }
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for (path, failure) in &failures {
        c.origin.script(path, failure.clone());
    }
    for kind in KINDS {
        for (path, _) in &failures {
            let before = c.fetches(path);
            for round in 0..2 {
                let stale = c.get(kind, path, &[]).await;
                requests += 1;
                assert_eq!(stale.status, 200, "{kind:?} {path} #{round}");
                assert_eq!(
                    stale.header("x-cache"),
                    Some("STALE"),
                    "{kind:?} {path} #{round}"
                );
                assert!(stale.body_error.is_none());
                assert_eq!(stale.text(), kind.output(first), "{kind:?} {path} #{round}");
                let records = c.settled(kind, path, 2 + round);
                let last = records.last().expect("a record");
                assert_eq!(last["cache"], "stale");
                let reason = last["cache_reason"].as_str().unwrap_or("");
                assert!(reason.starts_with("refresh"), "{kind:?} {path}: {reason}");
                assert_ne!(reason, "refreshed", "{kind:?} {path}");
            }
            assert_eq!(
                c.fetches(path),
                before + 2,
                "each stale answer tried a refresh"
            );
        }
    }
    let logged = c.stack.edge.access_log().len();
    assert_eq!(logged, requests, "one access-log line per request");
    c.assert_no_app_panic();
}

/// Stale-if-error: past its freshness, with no stale-while-revalidate, the object is
/// revalidated before use; an origin 5xx or a dead connection then gets the stale copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_if_error_answers_while_the_origin_fails() {
    let c = Cached::start(&[], &[]);
    let body = "kept for bad days at origin.example\n";
    for kind in KINDS {
        c.origin.script(
            "/sie",
            Script::ok(
                &[
                    ("content-type", "text/plain"),
                    ("cache-control", "max-age=1, stale-if-error=60"),
                ],
                body.as_bytes(),
            ),
        );
        let path = format!("/sie?{kind:?}");
        assert_eq!(
            c.get(kind, &path, &[]).await.header("x-cache"),
            Some("MISS")
        );
        tokio::time::sleep(Duration::from_millis(1500)).await;
        c.origin
            .script("/sie", Script::status(500, &[], b"broken\n"));
        let r = c.get(kind, &path, &[]).await;
        assert_eq!(r.status, 200, "{kind:?}");
        assert_eq!(r.header("x-cache"), Some("STALE"), "{kind:?}");
        assert_eq!(r.text(), kind.output(body));
        let records = c.settled(kind, "/sie", 2);
        assert!(records[1]["cache_reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("stale-if-error")));
    }
    c.assert_no_app_panic();
}

/// A GET that announces a body it never sends: a fill carries no body, so it does not wait
/// for one, and no other request for the key waits past the lookup bound either.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_body_never_sent_holds_up_no_one() {
    let c = Cached::start(&[("cache_wait_ms", "1000")], &[]);
    c.origin.script(
        "/plain",
        Script::ok(&[("content-type", "text/plain")], b"plain origin.example\n"),
    );
    // The origin takes 3 s to answer this one: waiting requests give up at 1 s.
    c.origin.script(
        "/slow",
        Script::ok(&[("content-type", "text/plain")], b"slow\n").delayed(Duration::from_secs(3)),
    );
    for kind in KINDS {
        let target = format!("{}/plain?{kind:?}", kind.prefix());
        let _liar = reads_nothing(c.stack.edge.addr, &target, "Content-Length: 100\r\n").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        let r = client::timed(c.stack.edge.addr, &target, &[])
            .await
            .expect("head");
        assert!(r.complete);
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "{kind:?}: waited {:?} behind a body never sent",
            started.elapsed()
        );

        let target = format!("{}/slow?{kind:?}", kind.prefix());
        let filler = {
            let (addr, target) = (c.stack.edge.addr, target.clone());
            tokio::spawn(async move { client::timed(addr, &target, &[]).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        let waiter = client::timed(c.stack.edge.addr, &target, &[])
            .await
            .expect("head");
        assert!(waiter.complete);
        assert_eq!(waiter.header("x-cache"), Some("BYPASS"), "{kind:?}");
        // It stopped waiting at its bound and fetched for itself (from this slow origin).
        let seen = c.origin.seen("/slow");
        let own = seen.last().expect("the waiter's own fetch");
        let waited = own.at - started;
        assert!(
            waited >= Duration::from_millis(900) && waited < Duration::from_millis(2000),
            "{kind:?}: the waiter's own fetch left {waited:?} after it asked, not at its 1 s bound"
        );
        let filled = filler.await.expect("task").expect("head");
        assert_eq!(filled.header("x-cache"), Some("MISS"));
    }
    c.assert_no_app_panic();
}

/// A request with a cookie passes (Varnish's built-in policy), and nobody else ever sees its
/// answer; with `cache_cookies = ignore` the cookie never reaches a fill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cookie_never_reaches_another_client() {
    let c = Cached::start(&[], &[]);
    let edge = c.stack.edge.addr;
    let path = "/cached/headers?cookie-case";
    let ask = |headers: &'static [(&'static str, &'static str)]| async move {
        client::request(edge, "GET", path, headers)
            .await
            .expect("reply")
    };
    let with = ask(&[("cookie", "session=SECRET")]).await;
    assert_eq!(with.header("x-cache"), Some("PASS"));
    assert!(with.text().contains("SECRET"), "the pass forwards it");
    let without = ask(&[]).await;
    assert_eq!(without.header("x-cache"), Some("MISS"));
    assert!(!without.text().contains("SECRET"));
    assert_eq!(
        ask(&[("cookie", "session=SECRET")]).await.header("x-cache"),
        Some("PASS")
    );
    let hit = ask(&[]).await;
    assert_eq!(hit.header("x-cache"), Some("HIT"));
    assert!(
        !hit.text().to_ascii_lowercase().contains("cookie"),
        "{}",
        hit.text()
    );
    let records = c
        .stack
        .edge
        .access_records("/cached/headers", 4, LOG_WAIT)
        .expect("records");
    assert_eq!(records[0]["cache"], "pass");
    assert_eq!(records[0]["cache_reason"], "cookie");

    let ignoring = Cached::start(&[], &[("route.cached.cache_cookies", Some("ignore"))]);
    let edge = ignoring.stack.edge.addr;
    let first = client::request(edge, "GET", path, &[("cookie", "session=SECRET")])
        .await
        .expect("reply");
    assert_eq!(first.header("x-cache"), Some("MISS"));
    assert!(
        !first.text().contains("SECRET"),
        "never on a fill: {}",
        first.text()
    );
}

/// Nothing outside the key or the object's variant shapes a fill: not an arbitrary header,
/// not a header that `Connection` names, not a body, not the client's `User-Agent`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_outside_the_key_shapes_a_fill() {
    let c = Cached::start(&[], &[]);
    let edge = c.stack.edge.addr;
    let path = "/cached/anything/poison";
    let poisoned = client::request(
        edge,
        "GET",
        path,
        &[
            ("x-forwarded-host", "evil.example"),
            ("x-poison", "1"),
            ("connection", "x-conn"),
            ("x-conn", "1"),
            ("user-agent", "poisoner/1.0"),
        ],
    )
    .await
    .expect("reply");
    assert_eq!(poisoned.header("x-cache"), Some("MISS"));
    let echoed = poisoned.text().to_ascii_lowercase();
    for unkeyed in ["evil.example", "x-poison", "x-conn", "poisoner"] {
        assert!(
            !echoed.contains(unkeyed),
            "{unkeyed} reached the fill: {echoed}"
        );
    }
    // A GET body: sent on a raw connection, since the client here sends none.
    let mut raw = TcpStream::connect(edge).await.expect("connect");
    let request = format!(
        "GET /cached/anything/body HTTP/1.1\r\nHost: {edge}\r\nContent-Length: 11\r\nConnection: close\r\n\r\nPOISON-BODY"
    );
    raw.write_all(request.as_bytes()).await.expect("request");
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(LOG_WAIT, raw.read_to_end(&mut reply)).await;
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.contains("x-cache: MISS"), "{reply}");
    assert!(
        !reply.contains("POISON-BODY"),
        "a fill carries no body: {reply}"
    );
}

/// A marker left by an uncacheable answer never stops a storable one from being stored
/// (hit-for-miss, not hit-for-pass): a client that provokes one uncacheable answer cannot
/// switch the cache off for others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uncacheable_answer_does_not_switch_the_cache_off() {
    let c = Cached::start(&[], &[]);
    for kind in KINDS {
        c.origin.script(
            "/flip",
            Script::ok(
                &[
                    ("content-type", "text/plain"),
                    ("cache-control", "no-store"),
                ],
                b"not this one\n",
            ),
        );
        let path = format!("/flip?{kind:?}");
        assert_eq!(
            c.get(kind, &path, &[]).await.header("x-cache"),
            Some("PASS")
        );
        c.origin.script(
            "/flip",
            Script::ok(
                &[
                    ("content-type", "text/plain"),
                    ("cache-control", "max-age=60"),
                ],
                b"this one at origin.example\n",
            ),
        );
        let stored = c.get(kind, &path, &[]).await;
        assert_eq!(stored.header("x-cache"), Some("MISS"), "{kind:?}");
        c.settled(kind, "/flip", 2);
        let hit = c.get(kind, &path, &[]).await;
        assert_eq!(hit.header("x-cache"), Some("HIT"), "{kind:?}");
        assert_eq!(hit.text(), kind.output("this one at origin.example\n"));
    }
}

// Revalidation that does not stampede, invalidation that a client cannot turn into an
// eviction, and the headers a fill may forward.

/// A request on a raw connection, with `host` as its only `Host`; returns the whole reply.
async fn raw_request(edge: std::net::SocketAddr, method: &str, target: &str, host: &str) -> String {
    let mut raw = TcpStream::connect(edge).await.expect("connect");
    let request = format!(
        "{method} {target} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    raw.write_all(request.as_bytes()).await.expect("request");
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(LOG_WAIT, raw.read_to_end(&mut reply)).await;
    String::from_utf8_lossy(&reply).into_owned()
}

/// The requests the origin got for `path` that carried `If-None-Match`.
fn conditionals(c: &Cached, path: &str, query: &str) -> usize {
    c.origin
        .seen(path)
        .iter()
        .filter(|s| s.target.ends_with(query) && s.header("if-none-match").is_some())
        .count()
}

fn validated(max_age: &str) -> Script {
    Script::ok(
        &[
            ("content-type", "text/plain"),
            ("cache-control", max_age),
            ("etag", "\"v1\""),
        ],
        b"validated at origin.example\n",
    )
    .revalidating()
}

/// Five concurrent requests for a stale object with an ETag, whose origin takes 1.3 s to
/// answer 304, cost the origin one conditional request: the others wait on that
/// revalidation, as collapsed misses wait on a fill, and get the refreshed object. (The core
/// cache hands a kept stale object to every lookup at once; each request revalidated it for
/// itself: 5 × REVALIDATED.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stale_object_is_revalidated_once_for_everyone() {
    let c = Cached::start(&[], &[]);
    c.origin.script(
        "/etag",
        validated("max-age=3").delayed(Duration::from_millis(1300)),
    );
    for kind in KINDS {
        let path = format!("/etag?{kind:?}");
        assert_eq!(
            c.get(kind, &path, &[]).await.header("x-cache"),
            Some("MISS")
        );
        c.settled(kind, "/etag", 1);
        tokio::time::sleep(Duration::from_millis(3500)).await;
        let tasks: Vec<_> = (0..5)
            .map(|_| {
                let (addr, target) = (c.stack.edge.addr, format!("{}{path}", kind.prefix()));
                tokio::spawn(async move { client::request(addr, "GET", &target, &[]).await })
            })
            .collect();
        let mut statuses = Vec::new();
        for t in tasks {
            let r = t.await.expect("task").expect("reply");
            assert_eq!(r.status, 200);
            assert_eq!(r.text(), kind.output("validated at origin.example\n"));
            statuses.push(r.header("x-cache").unwrap_or_default().to_string());
        }
        assert_eq!(
            conditionals(&c, "/etag", &format!("{kind:?}")),
            1,
            "{kind:?}: one revalidation for all: {statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| *s == "REVALIDATED").count(),
            1,
            "{kind:?}: {statuses:?}"
        );
    }
    assert_eq!(c.fetches("/etag"), 4, "a fill and a revalidation per route");
    c.assert_no_app_panic();
}

/// A POST marks the URL's object stale (a soft purge) instead of evicting it: the next GET
/// revalidates it with a conditional request, and the origin's 304 keeps the stored body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsafe_request_marks_stale_and_never_evicts() {
    let c = Cached::start(&[], &[]);
    let kind = Kind::Passthrough;
    c.origin.script("/soft", validated("max-age=600"));
    assert_eq!(
        c.get(kind, "/soft", &[]).await.header("x-cache"),
        Some("MISS")
    );
    c.settled(kind, "/soft", 1);
    let posted = c.ask("POST", kind, "/soft", &[]).await;
    assert_eq!(posted.header("x-cache"), Some("PASS"));
    c.settled(kind, "/soft", 2);
    let after = c.get(kind, "/soft", &[]).await;
    assert_eq!(after.header("x-cache"), Some("REVALIDATED"));
    assert_eq!(after.text(), "validated at origin.example\n");
    let seen = c.origin.seen("/soft");
    assert_eq!(seen.len(), 3, "fill, POST, revalidation");
    assert_eq!(seen[2].header("if-none-match"), Some("\"v1\""));
    assert!(seen[2].not_modified, "a 304, not a whole refetch");
    c.settled(kind, "/soft", 3);
    assert_eq!(
        c.get(kind, "/soft", &[]).await.header("x-cache"),
        Some("HIT")
    );
}

/// An unsafe request acts on its own host as the key spells it: a POST naming another port
/// reaches nothing stored for this one, while another spelling of the same host (case, a
/// trailing dot, the default port) does. A same-origin `Location` is marked stale too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidation_reaches_its_own_origin_only() {
    let c = Cached::start(&[], &[]);
    let kind = Kind::Passthrough;
    let edge = c.stack.edge.addr;
    let host = format!("localhost:{}", edge.port());
    c.origin.script("/own", validated("max-age=600"));
    let get = || raw_request(edge, "GET", "/sc/own", &host);
    assert!(get().await.contains("x-cache: MISS"));
    c.settled(kind, "/own", 1);
    let other_port = raw_request(edge, "POST", "/sc/own", "localhost:1").await;
    assert!(other_port.contains("x-cache: PASS"), "{other_port}");
    c.settled(kind, "/own", 2);
    let kept = get().await;
    assert!(
        kept.contains("x-cache: HIT"),
        "another port purged it: {kept}"
    );
    let spelled = format!("LocalHost.:{}", edge.port());
    raw_request(edge, "POST", "/sc/own", &spelled).await;
    c.settled(kind, "/own", 4);
    let marked = get().await;
    assert!(marked.contains("x-cache: REVALIDATED"), "{marked}");

    // A POST elsewhere whose answer names this URL in `Location`.
    c.settled(kind, "/own", 5);
    c.origin.script(
        "/create",
        Script::status(201, &[("location", "/sc/own")], b"created\n"),
    );
    raw_request(edge, "POST", "/sc/create", &host).await;
    c.settled(kind, "/create", 1);
    let located = get().await;
    assert!(located.contains("x-cache: REVALIDATED"), "{located}");
    c.assert_no_app_panic();
}

/// A method the cache does not know may change the resource (RFC 9111 §4.4 counts every
/// method but the safe ones), so `FOO` marks the URL stale; with `cache_invalidate = off` no
/// method does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_methods_invalidate_unless_the_route_says_off() {
    let kind = Kind::Passthrough;
    for (setting, expected) in [("on", "REVALIDATED"), ("off", "HIT")] {
        let c = Cached::start(&[("cache_invalidate", setting)], &[]);
        c.origin.script("/foo", validated("max-age=600"));
        c.get(kind, "/foo", &[]).await;
        c.settled(kind, "/foo", 1);
        for (n, method) in ["FOO", "PROPPATCH", "POST"].into_iter().enumerate() {
            c.ask(method, kind, "/foo", &[]).await;
            c.settled(kind, "/foo", 2 + 2 * n);
            let after = c.get(kind, "/foo", &[]).await;
            assert_eq!(
                after.header("x-cache"),
                Some(expected),
                "{method} with cache_invalidate = {setting}"
            );
            c.settled(kind, "/foo", 3 + 2 * n);
        }
    }
}

/// `cache_forward_headers` names headers a fill forwards without keying them: the origin gets
/// the filling client's value, and a client with another value still hits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_header_reaches_the_fill_unkeyed() {
    let c = Cached::start(
        &[("cache_forward_headers", "X-Request-Id, user-agent")],
        &[],
    );
    let kind = Kind::Passthrough;
    c.origin.script("/fwd", validated("max-age=600"));
    let first = c
        .get(
            kind,
            "/fwd",
            &[
                ("x-request-id", "req-1"),
                ("user-agent", "tester/1"),
                ("x-other", "no"),
            ],
        )
        .await;
    assert_eq!(first.header("x-cache"), Some("MISS"));
    let seen = c.origin.seen("/fwd");
    assert_eq!(seen[0].header("x-request-id"), Some("req-1"));
    assert_eq!(seen[0].header("user-agent"), Some("tester/1"));
    assert_eq!(seen[0].header("x-other"), None, "not listed");
    c.settled(kind, "/fwd", 1);
    let other = c.get(kind, "/fwd", &[("x-request-id", "req-2")]).await;
    assert_eq!(other.header("x-cache"), Some("HIT"), "not keyed");
}

/// `cache_forward_headers = all` forwards the client's end-to-end headers, never one that
/// poisons caches, a hop-by-hop one, a conditional or a range.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_all_never_forwards_a_poisoning_header() {
    let c = Cached::start(&[("cache_forward_headers", "all")], &[]);
    let kind = Kind::Passthrough;
    c.origin.script("/all", validated("max-age=600"));
    let denied = [
        ("x-forwarded-host", "evil.example"),
        ("x-original-url", "/admin"),
        ("x-rewrite-url", "/admin"),
        ("x-http-method-override", "DELETE"),
        ("x-method-override", "DELETE"),
        ("forwarded", "host=evil.example"),
        ("x-forwarded-proto", "gopher"),
        ("if-none-match", "\"nope\""),
        ("range", "bytes=0-1"),
        ("connection", "x-hop"),
        ("x-hop", "1"),
    ];
    let mut headers = vec![("x-trace", "t-1"), ("accept-language", "fr")];
    headers.extend(denied);
    let first = c.get(kind, "/all", &headers).await;
    assert_eq!(first.header("x-cache"), Some("MISS"));
    let seen = c.origin.seen("/all");
    assert_eq!(seen[0].header("x-trace"), Some("t-1"));
    assert_eq!(seen[0].header("accept-language"), Some("fr"));
    for (name, _) in denied {
        if name == "connection" {
            continue;
        }
        assert_eq!(seen[0].header(name), None, "{name} reached the fill");
    }
}

/// Whatever a fill forwards, the origin's `Vary` on it is honoured: one object per value, and
/// a request with another value never gets another's object. `Vary: *` is never stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vary_on_a_forwarded_header_keeps_variants_apart() {
    let c = Cached::start(&[("cache_forward_headers", "x-variant")], &[]);
    let kind = Kind::Passthrough;
    c.origin.script(
        "/vary",
        Script::ok(
            &[
                ("content-type", "text/plain"),
                ("cache-control", "max-age=600"),
                ("vary", "X-Variant"),
            ],
            b"one body per variant\n",
        ),
    );
    let ask = |value: &'static str| {
        let c = &c;
        async move {
            c.get(kind, "/vary", &[("x-variant", value)])
                .await
                .header("x-cache")
                .map(str::to_string)
        }
    };
    assert_eq!(ask("a").await.as_deref(), Some("MISS"));
    c.settled(kind, "/vary", 1);
    assert_eq!(ask("b").await.as_deref(), Some("MISS"), "another variant");
    c.settled(kind, "/vary", 2);
    assert_eq!(ask("a").await.as_deref(), Some("HIT"));
    assert_eq!(ask("b").await.as_deref(), Some("HIT"));
    let seen = c.origin.seen("/vary");
    let values: Vec<_> = seen.iter().map(|s| s.header("x-variant")).collect();
    assert_eq!(values, [Some("a"), Some("b")]);

    c.origin.script(
        "/star",
        Script::ok(
            &[("cache-control", "max-age=600"), ("vary", "*")],
            b"never stored\n",
        ),
    );
    assert_eq!(
        c.get(kind, "/star", &[]).await.header("x-cache"),
        Some("PASS")
    );
    c.settled(kind, "/star", 1);
    assert_ne!(
        c.get(kind, "/star", &[]).await.header("x-cache"),
        Some("HIT")
    );
}

// What the hostile review of the merged cache found: a variant the filling client shaped by
// leaving a header out, spellings and families of poisoning headers, a revalidation whose
// answer is stale at once, and invalidation across routes and schemes.

/// The origin's `Vary` on a forwarded header splits variants even when the filling client
/// did not send it: the core cache matches an absent header only to an absent one (pinned
/// here on Viceroy), so a fill without `User-Agent` never answers a client with one, nor the
/// other way round. (The object varied only on what the fill sent, so `User-Agent: A` and
/// `B` both got the fill without one.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vary_on_a_forwarded_header_the_filler_left_out_still_splits() {
    for forward in ["all", "x-trace, user-agent"] {
        let c = Cached::start(&[("cache_forward_headers", forward)], &[]);
        let kind = Kind::Passthrough;
        c.origin.script(
            "/ua",
            Script::ok(
                &[
                    ("content-type", "text/plain"),
                    ("cache-control", "max-age=600"),
                    ("vary", "User-Agent, X-Trace"),
                ],
                b"one body per user agent\n",
            ),
        );
        let mut n = 0;
        let mut ask = |headers: &'static [(&'static str, &'static str)], expected: &str| {
            n += 1;
            let (c, n) = (&c, n);
            let expected = expected.to_string();
            async move {
                let got = c.get(kind, "/ua", headers).await;
                assert_eq!(
                    got.header("x-cache"),
                    Some(expected.as_str()),
                    "{forward}: request {n} with {headers:?}"
                );
                c.settled(kind, "/ua", n);
            }
        };
        ask(&[], "MISS").await;
        ask(&[("user-agent", "A")], "MISS").await;
        ask(&[("user-agent", "B")], "MISS").await;
        ask(&[], "HIT").await;
        ask(&[("user-agent", "A")], "HIT").await;
        ask(&[("x-trace", "1")], "MISS").await;
        ask(&[("x-trace", "1"), ("user-agent", "A")], "MISS").await;
        ask(&[("x-trace", "1")], "HIT").await;
        let seen: Vec<_> = c
            .origin
            .seen("/ua")
            .iter()
            .map(|s| s.header("user-agent").map(str::to_string))
            .collect();
        assert_eq!(
            seen,
            [
                None,
                Some("A".into()),
                Some("B".into()),
                None,
                Some("A".into())
            ],
            "{forward}"
        );
        c.assert_no_app_panic();
    }
}

/// `cache_forward_headers = all` forwards no header with `_` (CGI and PHP read
/// `X_Forwarded_Host` as `X-Forwarded-Host`) and none of the known poisoning families:
/// `X-Forwarded*`, `X-Original-*`, `X-Envoy-*`, `CF-*`, `Fastly-*`, nor the client-address,
/// `Via`, `Max-Forwards` and `Surrogate-Capability` headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_all_keeps_out_every_spelling_and_family_of_poison() {
    let c = Cached::start(&[("cache_forward_headers", "all")], &[]);
    let kind = Kind::Passthrough;
    c.origin.script("/fam", validated("max-age=600"));
    let denied = [
        ("x_forwarded_host", "evil.example"),
        ("x-forwarded", "for=1.2.3.4"),
        ("x-forwarded-anything", "1"),
        ("x-envoy-original-path", "/admin"),
        ("x-original-method", "DELETE"),
        ("x-client-ip", "1.2.3.4"),
        ("client-ip", "1.2.3.4"),
        ("x-cluster-client-ip", "1.2.3.4"),
        ("cf-connecting-ip", "1.2.3.4"),
        ("surrogate-capability", "edge=\"ESI/1.0\""),
        ("fastly-debug", "1"),
        ("fastly-ff", "x"),
        ("max-forwards", "0"),
        ("via", "1.1 evil"),
        ("x_trace", "underscored"),
    ];
    let mut headers = vec![("x-trace", "t-1")];
    headers.extend(denied);
    let first = c.get(kind, "/fam", &headers).await;
    assert_eq!(first.header("x-cache"), Some("MISS"));
    let seen = c.origin.seen("/fam");
    assert_eq!(seen[0].header("x-trace"), Some("t-1"));
    for (name, _) in denied {
        assert_eq!(seen[0].header(name), None, "{name} reached the fill");
    }
    c.assert_no_app_panic();
}

/// A revalidation whose answer is stale at once (`no-cache`) is still one for everyone:
/// five concurrent requests cost the origin one conditional request and are all answered
/// within about its round trip, the waiters served the object it refreshed after they
/// arrived. (Each waiter saw a stale object again and revalidated in turn: 5 conditionals,
/// the last client after 5 round trips.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revalidation_stale_at_once_is_still_one_for_everyone() {
    let c = Cached::start(&[], &[]);
    let delay = Duration::from_millis(1300);
    c.origin.script("/nc", validated("no-cache").delayed(delay));
    for kind in KINDS {
        let path = format!("/nc?{kind:?}");
        assert_eq!(
            c.get(kind, &path, &[]).await.header("x-cache"),
            Some("MISS")
        );
        c.settled(kind, "/nc", 1);
        let tasks: Vec<_> = (0..5)
            .map(|_| {
                let (addr, target) = (c.stack.edge.addr, format!("{}{path}", kind.prefix()));
                tokio::spawn(async move {
                    let started = Instant::now();
                    let r = client::request(addr, "GET", &target, &[]).await;
                    (started.elapsed(), r)
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for t in tasks {
            let (took, r) = t.await.expect("task");
            let r = r.expect("reply");
            assert_eq!(r.status, 200);
            assert_eq!(r.text(), kind.output("validated at origin.example\n"));
            let status = r.header("x-cache").unwrap_or_default().to_string();
            assert!(
                took < delay * 2,
                "{kind:?}: answered after {took:?}, more than one round trip ({status})"
            );
            statuses.push(status);
        }
        assert_eq!(
            conditionals(&c, "/nc", &format!("{kind:?}")),
            1,
            "{kind:?}: one revalidation for all: {statuses:?}"
        );
        assert!(
            statuses.iter().all(|s| s == "REVALIDATED"),
            "{kind:?}: {statuses:?}"
        );
    }
    c.assert_no_app_panic();
}

/// `cache_invalidate = off` protects a route's objects from every invalidation, also one
/// that another route's unsafe request names in `Location`; and an `https` `Location` never
/// reaches the `http` object of the same host (another origin by its scheme). (Both marked
/// the object stale: the next GET was REVALIDATED.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidation_never_crosses_into_a_route_that_is_off_or_another_scheme() {
    let c = Cached::start(&[], &[("route.scc.cache_invalidate", Some("off"))]);
    let edge = c.stack.edge.addr;
    let host = format!("localhost:{}", edge.port());
    c.origin.script("/kept", validated("max-age=600"));
    c.origin.script("/own", validated("max-age=600"));
    assert!(raw_request(edge, "GET", "/scc/kept", &host)
        .await
        .contains("x-cache: MISS"));
    c.settled(Kind::Chain, "/kept", 1);
    assert!(raw_request(edge, "GET", "/sc/own", &host)
        .await
        .contains("x-cache: MISS"));
    c.settled(Kind::Passthrough, "/own", 1);
    let https = format!("https://{host}/sc/own");
    c.origin.script(
        "/create",
        Script::status(201, &[("location", "/scc/kept")], b"created\n"),
    );
    c.origin.script(
        "/move",
        Script::status(
            303,
            &[
                ("location", https.as_str()),
                ("content-location", https.as_str()),
            ],
            b"moved\n",
        ),
    );
    raw_request(edge, "POST", "/sc/create", &host).await;
    c.settled(Kind::Passthrough, "/create", 1);
    raw_request(edge, "POST", "/sc/move", &host).await;
    c.settled(Kind::Passthrough, "/move", 1);
    let kept = raw_request(edge, "GET", "/scc/kept", &host).await;
    let own = raw_request(edge, "GET", "/sc/own", &host).await;
    let (kept, own) = (kept.contains("x-cache: HIT"), own.contains("x-cache: HIT"));
    assert!(
        kept && own,
        "kept by the route with invalidation off: {kept}; kept from an https Location: {own}"
    );
    c.assert_no_app_panic();
}

/// An object whose upstream `Age` already puts it past its freshness and every stale window
/// is not stored: it would be unusable at once, and each request collapsed on the fill would
/// then fetch again in turn (5 clients of a 1.3 s origin finished at 1.3, 2.6, 3.9, 5.2 and
/// 6.3 s). A marker lets them all go to the origin together, as an uncacheable answer does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_stale_on_arrival_holds_up_no_one() {
    let c = Cached::start(&[], &[]);
    let delay = Duration::from_millis(1300);
    c.origin.script(
        "/old",
        Script::ok(
            &[
                ("content-type", "text/plain"),
                ("cache-control", "max-age=60"),
                ("age", "3700"),
                ("etag", "\"v1\""),
            ],
            b"old at origin.example\n",
        )
        .delayed(delay),
    );
    for kind in KINDS {
        let path = format!("/old?{kind:?}");
        let first = c.get(kind, &path, &[]).await;
        assert_eq!(first.status, 200);
        assert_ne!(first.header("x-cache"), Some("HIT"));
        let tasks: Vec<_> = (0..5)
            .map(|_| {
                let (addr, target) = (c.stack.edge.addr, format!("{}{path}", kind.prefix()));
                tokio::spawn(async move {
                    let started = Instant::now();
                    let r = client::request(addr, "GET", &target, &[]).await;
                    (started.elapsed(), r)
                })
            })
            .collect();
        for t in tasks {
            let (took, r) = t.await.expect("task");
            let r = r.expect("reply");
            assert_eq!(r.status, 200);
            assert_eq!(r.text(), kind.output("old at origin.example\n"));
            assert!(
                took < delay * 2,
                "{kind:?}: answered after {took:?}: the requests went one after another ({:?})",
                r.header("x-cache")
            );
        }
    }
    c.assert_no_app_panic();
}
