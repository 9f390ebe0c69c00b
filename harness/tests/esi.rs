//! Pages composed at the edge (ESI, `route.<name>.esi`), end to end over HTTP on Viceroy:
//! every fragment requested at once, output in document order as each fragment's turn
//! comes, the text before a slow fragment never waiting for it, failures (deadline, `alt`,
//! `onerror`, `esi:try`), nesting and its limit, the request budget, codings, a page of
//! 128 MiB in a small heap, and no host that no route serves.
//!
//! The demo route `page` fronts the dev origin's templates (`/esi/template`, see
//! `harness/src/origin/esi.rs`); `/se/` fronts an origin each test programs.

use std::time::{Duration, Instant};

use firstbyte_harness::client::{self, Reply};
use firstbyte_harness::independent::{gunzip, unbrotli};
use firstbyte_harness::origin::esi::{composed_page, most_in_flight, TemplateSpec};
use firstbyte_harness::peers::{Script, Scripted};
use firstbyte_harness::stack::LocalStack;
use sha2::{Digest, Sha256};

const LOG_WAIT: Duration = Duration::from_secs(30);

/// The demo config, the scripted origin behind `/se/` (composing what asks for it), and
/// `extra` store entries.
fn stack(extra: &[(&str, Option<&str>)]) -> (LocalStack, Scripted) {
    let origin = Scripted::start().expect("scripted origin");
    let mut overrides: Vec<(&str, Option<&str>)> = vec![
        ("routes", Some("origin,cached,page,se,pass")),
        ("route.se.prefix", Some("/se/")),
        ("route.se.backend", Some("scripted")),
        ("route.se.strip_prefix", Some("true")),
        ("route.se.esi", Some("surrogate")),
        ("route.pass.prefix", Some("/pass/")),
        ("route.pass.backend", Some("scripted")),
        ("route.pass.strip_prefix", Some("true")),
    ];
    overrides.extend_from_slice(extra);
    let stack = LocalStack::start_with_backends(&[("scripted", origin.addr)], &overrides)
        .expect("origin and viceroy start");
    (stack, origin)
}

async fn get(s: &LocalStack, path: &str, headers: &[(&str, &str)]) -> Reply {
    client::request(s.edge.addr, "GET", path, headers)
        .await
        .expect("reply")
}

fn spec(query: &str) -> TemplateSpec {
    // The same defaults as the dev origin's.
    let mut spec = TemplateSpec {
        includes: 8,
        bytes: 64 << 10,
        fragment_bytes: 16 << 10,
        delay_ms: 300,
        slow: None,
        encoding: None,
        continue_on_error: false,
        tag: None,
        base: None,
        language: false,
    };
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let n = || v.parse().unwrap_or(0);
        match k {
            "includes" => spec.includes = n(),
            "bytes" => spec.bytes = n(),
            "fragment_bytes" => spec.fragment_bytes = n(),
            "delay_ms" => spec.delay_ms = n(),
            "slow" => {
                let (a, b) = v.split_once(':').unwrap_or(("0", "0"));
                spec.slow = Some((a.parse().unwrap_or(0), b.parse().unwrap_or(0)));
            }
            "onerror" => spec.continue_on_error = v == "continue",
            "tag" => spec.tag = Some(v.to_string()),
            "base" => spec.base = Some(v.to_string()),
            "language" => spec.language = v == "on",
            _ => {}
        }
    }
    spec
}

/// Eight includes of 300 ms: all requested at once, the page complete within 1.1 × (the
/// template's own time + 300 ms), byte for byte in document order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fragment_is_requested_at_once() {
    let (s, _) = stack(&[]);
    let query = "includes=8&delay_ms=300&tag=at-once";
    // The template alone, through the edge: what composing adds 300 ms to.
    let started = Instant::now();
    let alone = get(&s, &format!("/origin/esi/template?{query}"), &[]).await;
    let template_time = started.elapsed();
    assert_eq!(alone.status, 200);
    let started = Instant::now();
    let page = get(&s, &format!("/page/esi/template?{query}"), &[]).await;
    let took = started.elapsed();
    assert!(page.body_error.is_none());
    assert_eq!(page.body, composed_page(&spec(query)));
    let bound = (template_time + Duration::from_millis(300)).mul_f64(1.1);
    assert!(took <= bound, "the page took {took:?}, over {bound:?}");
    assert_eq!(most_in_flight("at-once"), 8, "all eight at once");
    let record = s
        .edge
        .access_record("/page/esi/template", LOG_WAIT)
        .expect("record");
    assert_eq!(record["fragments"]["count"], 8);
    assert_eq!(record["fragments"]["failed"], 0);
    assert!(page.header("content-length").is_none());
    assert!(page.header("surrogate-control").is_none());
}

/// Document order with a slow first fragment and fast later ones: the later ones wait in
/// memory, and each part of the page arrives in its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_is_in_document_order_whoever_is_fast() {
    let (s, _) = stack(&[]);
    let query = "includes=4&bytes=4000&fragment_bytes=2000&delay_ms=10&slow=0:800";
    let (_, arrivals) = client::arrivals(s.edge.addr, &format!("/page/esi/template?{query}"), &[])
        .await
        .expect("arrivals");
    let page: Vec<u8> = arrivals.iter().flat_map(|a| a.data.to_vec()).collect();
    assert_eq!(page, composed_page(&spec(query)));
    let first_fragment_at = arrivals
        .iter()
        .find(|a| a.data.windows(12).any(|w| w == b"data-i=\"0\">a"))
        .map(|a| a.after_head)
        .expect("fragment 0");
    let text_at = arrivals
        .first()
        .map(|a| a.after_head)
        .expect("a first chunk");
    assert!(
        first_fragment_at - text_at >= Duration::from_millis(700),
        "the text before the slow fragment came {:?} before it",
        first_fragment_at - text_at
    );
}

/// A fragment of 2 s does not delay the text before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_fragment_never_delays_the_text_before_it() {
    let (s, _) = stack(&[]);
    let query = "includes=3&bytes=30000&fragment_bytes=100&delay_ms=0&slow=1:2000";
    let started = Instant::now();
    let (_, arrivals) = client::arrivals(s.edge.addr, &format!("/page/esi/template?{query}"), &[])
        .await
        .expect("arrivals");
    let expected = composed_page(&spec(query));
    // The text just before fragment 1: the end of the second gap.
    let marker = b"data-i=\"1\"";
    let before = expected
        .windows(marker.len())
        .position(|w| w == marker)
        .expect("fragment 1 in the page");
    let mut seen = 0usize;
    let mut text_done_at = None;
    for a in &arrivals {
        seen += a.data.len();
        if seen >= before - 30 && text_done_at.is_none() {
            text_done_at = Some(a.after_head);
        }
    }
    let text_done_at = text_done_at.expect("the text came");
    assert!(
        text_done_at < Duration::from_secs(1),
        "the text before it took {text_done_at:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(1900));
    let page: Vec<u8> = arrivals.into_iter().flat_map(|a| a.data.to_vec()).collect();
    assert_eq!(page, expected);
}

/// A fragment that hangs ends at its deadline: with `onerror="continue"` the page completes
/// without it; without, the page fails as ESI 1.0 says, and since its head is out it is
/// abandoned: it never ends cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_fragment_ends_at_its_deadline() {
    let (s, _) = stack(&[("route.page.esi_fragment_timeout_ms", Some("500"))]);
    let base = "includes=2&bytes=200&fragment_bytes=50&delay_ms=0&slow=1:10000";
    let started = Instant::now();
    let kept = get(
        &s,
        &format!("/page/esi/template?{base}&onerror=continue"),
        &[],
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(
        kept.body_error.is_none(),
        "completes without the hung fragment"
    );
    let text = kept.text();
    assert!(text.contains("data-i=\"0\"") && !text.contains("data-i=\"1\""));
    let started = Instant::now();
    let failed = get(&s, &format!("/page/esi/template?{base}"), &[]).await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        failed.body_error.is_some(),
        "a failed page never ends cleanly"
    );
    let records = s
        .edge
        .access_records("/page/esi/template", 2, LOG_WAIT)
        .expect("records");
    assert_eq!(records[0]["fragments"]["failed"], 1);
    assert_eq!(records[1]["outcome"], "aborted");
}

/// `alt` is tried when `src` fails, `onerror="continue"` leaves nothing, and an `esi:try`
/// whose attempt fails gives its except (whose includes are only requested then).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alt_onerror_and_try() {
    let (s, origin) = stack(&[]);
    origin.script("/good", Script::html("[good]"));
    origin.script("/other", Script::html("[other]"));
    origin.script(
        "/broken",
        Script::status(500, &[("content-type", "text/html")], b"no"),
    );
    origin.script(
        "/page",
        Script::esi_template(concat!(
            "a<esi:include src=\"broken\" alt=\"good\"/>",
            "b<esi:include src=\"broken\" onerror=\"continue\"/>",
            "c<esi:try><esi:attempt>x<esi:include src=\"broken\"/>y</esi:attempt>",
            "<esi:except>(<esi:include src=\"other\"/>)</esi:except></esi:try>",
            "d<esi:try><esi:attempt>[<esi:include src=\"good\"/>]</esi:attempt>",
            "<esi:except><esi:include src=\"other\"/></esi:except></esi:try>e",
        )),
    );
    let page = get(&s, "/se/page", &[]).await;
    assert!(page.body_error.is_none(), "{page:?}");
    assert_eq!(page.text(), "a[good]bc([other])d[[good]]e");
    // `other` was requested once: for the failed attempt's except, not for the good one's.
    assert_eq!(origin.count("/other"), 1);
}

/// A cached template's includes are requested before its text is read, but a failure
/// still follows the tag's own attributes, read only later: here a hung fragment passes
/// its deadline while the template waits (past its buffer) on a chain of slow fragments,
/// before its `onerror="continue"` is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_template_fails_as_its_tags_say() {
    let (s, origin) = stack(&[
        ("route.se.cache_ttl", Some("60")),
        ("route.se.esi_buffer_bytes", Some("1024")),
        ("route.se.esi_fragment_timeout_ms", Some("1000")),
    ]);
    let uncached = |body: &str, esi: bool| {
        let mut headers = vec![("content-type", "text/html"), ("cache-control", "no-store")];
        if esi {
            headers.push(("surrogate-control", "content=\"ESI/1.0\""));
        }
        Script::ok(&headers, body.as_bytes()).delayed(Duration::from_millis(700))
    };
    origin.script("/outer", uncached("[1<esi:include src=\"inner\"/>]", true));
    origin.script("/inner", uncached("[2]", false));
    origin.script(
        "/broken",
        Script::status(500, &[("content-type", "text/html")], b"no")
            .delayed(Duration::from_secs(5)),
    );
    let filler = ".".repeat(8192);
    origin.script(
        "/page",
        Script::esi_template(&format!(
            "a<esi:include src=\"outer\"/>{filler}<esi:include src=\"broken\" onerror=\"continue\"/>b"
        )),
    );
    for round in ["MISS", "HIT", "HIT"] {
        let page = get(&s, "/se/page", &[]).await;
        if page.body_error.is_some() {
            for l in s.edge.lines().iter().filter(|l| l.contains("::")) {
                eprintln!("{l}");
            }
        }
        assert!(page.body_error.is_none(), "{round}: {:?}", page.body_error);
        assert_eq!(page.header("x-cache"), Some(round));
        assert_eq!(page.text(), format!("a[1[2]]{filler}b"), "{round}");
        if round == "HIT" {
            let timing = page.header_list("server-timing");
            assert!(timing.contains("first request sent"), "{timing}");
        }
        assert!(s.edge.wait_until_idle(LOG_WAIT));
    }
}

/// The demo stack plus `/frag/`, a route of the scripted origin that keeps its responses
/// in the edge cache: fragments under it are cached by their own route.
fn with_cached_fragments(extra: &[(&'static str, Option<&'static str>)]) -> (LocalStack, Scripted) {
    let mut settings = vec![
        ("routes", Some("origin,cached,page,se,pass,frag")),
        ("route.frag.prefix", Some("/frag/")),
        ("route.frag.backend", Some("scripted")),
        ("route.frag.strip_prefix", Some("true")),
        ("route.frag.cache_ttl", Some("60")),
    ];
    settings.extend_from_slice(extra);
    stack(&settings)
}

/// A fragment is cached, or not, by its own route: the fragment of a caching route is
/// fetched once for many pages, and is the very object a client of its URL gets (a HIT);
/// one of a route without a cache is fetched for every page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragments_are_cached_by_their_own_routes() {
    let (s, origin) = with_cached_fragments(&[]);
    origin.script("/x", Script::html("[x]"));
    origin.script("/y", Script::html("[y]"));
    origin.script(
        "/page",
        Script::esi_template("a<esi:include src=\"/frag/x\"/>b<esi:include src=\"/se/y\"/>c"),
    );
    for round in 0..3 {
        let page = get(&s, "/se/page", &[]).await;
        assert!(page.body_error.is_none(), "round {round}: {page:?}");
        assert_eq!(page.text(), "a[x]b[y]c", "round {round}");
        assert!(s.edge.wait_until_idle(LOG_WAIT));
    }
    assert_eq!(origin.count("/x"), 1, "the cached fragment, fetched once");
    assert_eq!(origin.count("/y"), 3, "the uncached one, for every page");
    // The fill carried only what the key holds: no client header of the page's.
    let direct = get(&s, "/frag/x", &[("accept-encoding", "gzip, deflate, br")]).await;
    assert_eq!(direct.header("x-cache"), Some("HIT"));
    assert_eq!(origin.count("/x"), 1);
}

/// Pages asking at once for a fragment nobody has cached yet cost its origin one request:
/// the later pages' lookups wait, beside the rest of each page, for the first page's fill,
/// then read the object as it grows. A page whose client hangs up mid-fill still completes
/// the object for the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pages_fill_a_fragment_once() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (s, origin) = with_cached_fragments(&[]);
    // 1 MiB over about 1.3 s, long past the hang-up.
    let body = "x".repeat(1 << 20);
    origin.script(
        "/x",
        Script::ok(&[("content-type", "text/html")], body.as_bytes())
            .delayed(Duration::from_millis(300))
            .paced(16 << 10, Duration::from_millis(20)),
    );
    origin.script(
        "/page",
        Script::esi_template("a<esi:include src=\"/frag/x\"/>b"),
    );
    // The first page's client reads its first bytes and hangs up while the fill goes on.
    let mut first = tokio::net::TcpStream::connect(s.edge.addr)
        .await
        .expect("connect");
    // The same Host as the other clients': it is part of the key.
    let request = format!("GET /se/page HTTP/1.1\r\nHost: {}\r\n\r\n", s.edge.addr);
    first.write_all(request.as_bytes()).await.expect("request");
    let mut head = [0u8; 256];
    let _ = first.read(&mut head).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let others = (0..3).map(|_| get(&s, "/se/page", &[]));
    let hang_up = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(first);
    };
    let (pages, ()) = tokio::join!(futures_util::future::join_all(others), hang_up);
    let expected = format!("a{body}b");
    for page in pages {
        assert!(page.body_error.is_none(), "{:?}", page.body_error);
        assert_eq!(page.text(), expected);
    }
    assert!(s.edge.wait_until_idle(LOG_WAIT));
    let records = s
        .edge
        .access_records("/se/page", 4, LOG_WAIT)
        .expect("records");
    assert_eq!(
        records.iter().filter(|r| r["outcome"] == "aborted").count(),
        1,
        "the page whose client hung up, alone"
    );
    assert_eq!(origin.count("/x"), 1, "one origin request for every page");
    let direct = get(&s, "/frag/x", &[("accept-encoding", "gzip, deflate, br")]).await;
    assert_eq!(direct.header("x-cache"), Some("HIT"));
    assert_eq!(direct.text(), body);
}

/// A stale fragment a page must replace is revalidated with the origin's validator: the 304
/// keeps the stored body, read by the page and fresh again for a client of its URL. An
/// origin that fails, with a 5xx or past the route's first-byte timeout, within the object's
/// `stale-if-error` leaves the page the stale copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_fragment_is_revalidated_or_kept_on_error() {
    let (s, origin) = with_cached_fragments(&[("route.frag.first_byte_timeout_ms", Some("500"))]);
    let fragment = |body: &str, cache_control: &str| {
        Script::ok(
            &[
                ("content-type", "text/html"),
                ("cache-control", cache_control),
            ],
            body.as_bytes(),
        )
    };
    origin.script(
        "/x",
        Script::ok(
            &[
                ("content-type", "text/html"),
                ("cache-control", "max-age=1"),
                ("etag", "\"x1\""),
            ],
            b"[x]",
        )
        .revalidating()
        .with_304_headers(&[("cache-control", "max-age=60")]),
    );
    let on_error = "max-age=1, stale-if-error=60";
    origin.script("/e", fragment("[e]", on_error));
    origin.script("/t", fragment("[t]", on_error));
    origin.script(
        "/page",
        Script::esi_template("a<esi:include src=\"/frag/x\"/>b<esi:include src=\"/frag/e\"/>c<esi:include src=\"/frag/t\"/>d"),
    );
    let page = get(&s, "/se/page", &[]).await;
    assert_eq!(page.text(), "a[x]b[e]c[t]d");
    assert!(s.edge.wait_until_idle(LOG_WAIT));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    origin.script(
        "/e",
        Script::status(503, &[("content-type", "text/plain")], b"down"),
    );
    origin.script(
        "/t",
        fragment("[late]", "max-age=60").delayed(Duration::from_secs(2)),
    );
    let page = get(&s, "/se/page", &[]).await;
    assert!(page.body_error.is_none(), "{page:?}");
    assert_eq!(
        page.text(),
        "a[x]b[e]c[t]d",
        "revalidated, and stale on error"
    );
    let seen = origin.seen("/x");
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].header("if-none-match"), Some("\"x1\""));
    assert!(
        seen[1].not_modified,
        "the origin sent no body the second time"
    );
    assert_eq!(origin.count("/e"), 2);
    assert_eq!(origin.count("/t"), 2);
    assert!(s.edge.wait_until_idle(LOG_WAIT));
    let direct = get(&s, "/frag/x", &[("accept-encoding", "gzip, deflate, br")]).await;
    assert_eq!(
        direct.header("x-cache"),
        Some("HIT"),
        "fresh again after the 304"
    );
    assert_eq!(direct.text(), "[x]");
    assert_eq!(origin.count("/x"), 2);
}

/// A fragment whose own route composes is composed too, down to `esi_max_depth`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_includes_and_their_limit() {
    let (s, origin) = stack(&[("route.se.esi_max_depth", Some("2"))]);
    origin.script("/n0", Script::esi_template("0<esi:include src=\"n1\"/>0"));
    origin.script("/n1", Script::esi_template("1<esi:include src=\"n2\"/>1"));
    origin.script(
        "/n2",
        Script::esi_template("2<esi:include src=\"n3\" onerror=\"continue\"/>2"),
    );
    origin.script("/n3", Script::html("3"));
    let page = get(&s, "/se/n0", &[]).await;
    assert!(page.body_error.is_none());
    assert_eq!(page.text(), "012210", "n3 is past depth 2: left out");
    assert_eq!(origin.count("/n3"), 0);

    // An except block's include nests below the fragment whose except holds it, not below
    // the page: x2 is at depth 2, so its own include is past the limit too.
    origin.script("/x0", Script::esi_template("<esi:include src=\"x1\"/>"));
    origin.script(
        "/x1",
        Script::esi_template(concat!(
            "<esi:try><esi:attempt><esi:include src=\"gone\"/></esi:attempt>",
            "<esi:except><esi:include src=\"x2\"/></esi:except></esi:try>",
        )),
    );
    origin.script(
        "/x2",
        Script::esi_template("[<esi:include src=\"x3\" onerror=\"continue\"/>]"),
    );
    origin.script("/x3", Script::html("3"));
    let page = get(&s, "/se/x0", &[]).await;
    assert!(page.body_error.is_none(), "{page:?}");
    assert_eq!(page.text(), "[]", "x3 is past depth 2: left out");
    assert_eq!(origin.count("/x3"), 0);
}

/// A page makes at most `esi_max_fragments` requests, its template included; the includes
/// past it follow their `onerror`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_budget() {
    let (s, origin) = stack(&[("route.se.esi_max_fragments", Some("3"))]);
    origin.script("/f", Script::html("f"));
    let includes: String = (0..5)
        .map(|i| format!("<esi:include src=\"f?{i}\" onerror=\"continue\"/>"))
        .collect();
    origin.script("/budget", Script::esi_template(&includes));
    let page = get(&s, "/se/budget", &[]).await;
    assert!(page.body_error.is_none());
    assert_eq!(
        page.text(),
        "ff",
        "the template and two fragments: three requests"
    );
    assert_eq!(origin.count("/f"), 2);
    let record = s
        .edge
        .access_record("/se/budget", LOG_WAIT)
        .expect("record");
    assert_eq!(record["fragments"]["failed"], 3);
}

/// gzip and br fragments inside a br page: each decoded, the page encoded once; what the
/// client gets decodes with Python's brotli (and a gzip page with Python's zlib).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coded_fragments_in_a_coded_page() {
    let (s, _) = stack(&[]);
    for (fragments, page_coding) in [("gzip", "br"), ("br", "br"), ("br", "gzip")] {
        let query =
            format!("includes=3&bytes=3000&fragment_bytes=5000&delay_ms=0&encoding={fragments}");
        let page = get(
            &s,
            &format!("/page/esi/template?{query}"),
            &[("accept-encoding", page_coding)],
        )
        .await;
        assert_eq!(page.header("content-encoding"), Some(page_coding));
        let plain = match page_coding {
            "br" => unbrotli(&page.body).expect("brotli"),
            _ => gunzip(&page.body).expect("gzip"),
        };
        assert_eq!(
            plain,
            composed_page(&spec(&query)),
            "{fragments} in {page_coding}"
        );
    }
}

/// 64 MiB of template and 8 fragments of 8 MiB, byte for byte, in at most 4 MiB of heap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_page_in_a_small_heap() {
    let (s, _) = stack(&[]);
    let query = format!(
        "includes=8&bytes={}&fragment_bytes={}&delay_ms=0",
        64u64 << 20,
        8u64 << 20
    );
    let page = client::digest(s.edge.addr, &format!("/page/esi/template?{query}"))
        .await
        .expect("page");
    let expected = composed_page(&spec(&query));
    assert!(page.complete);
    assert_eq!(page.len, expected.len() as u64);
    assert_eq!(page.sha256, <[u8; 32]>::from(Sha256::digest(&expected)));
    let heap = s.edge.peak_heap_mib(LOG_WAIT).expect("a heap figure");
    assert!(heap <= 4.0, "{heap} MiB");
}

/// An absolute URL is only fetched for a host a route serves: any other is refused, never
/// requested (no SSRF), and the include follows its `onerror`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_no_route_serves_is_refused() {
    let (s, origin) = stack(&[]);
    origin.script("/ok", Script::html("[ok]"));
    origin.script(
        "/hosts",
        Script::esi_template(&format!(
            "<esi:include src=\"http://evil.example/steal\" onerror=\"continue\"/>\
             <esi:include src=\"http://{}/se/ok\"/>",
            s.edge.addr
        )),
    );
    let page = get(&s, "/se/hosts", &[]).await;
    assert!(page.body_error.is_none());
    assert_eq!(page.text(), "[ok]");
    assert_eq!(origin.count("/steal"), 0);
    let record = s.edge.access_record("/se/hosts", LOG_WAIT).expect("record");
    assert_eq!(record["fragments"]["failed"], 1);
}

/// Only what asks for it is composed (`esi = surrogate`), and only the origin's template:
/// ESI a client sends, or a fragment's response that does not ask, passes as text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_origins_template_is_composed() {
    let (s, origin) = stack(&[]);
    origin.script("/plain", Script::html("<esi:include src=\"/se/x\"/>"));
    origin.script("/inner", Script::html("<esi:include src=\"/se/x\"/>"));
    origin.script(
        "/outer",
        Script::esi_template("<esi:include src=\"inner\"/>"),
    );
    let plain = get(&s, "/se/plain", &[]).await;
    assert_eq!(plain.text(), "<esi:include src=\"/se/x\"/>");
    let outer = get(&s, "/se/outer", &[]).await;
    assert_eq!(
        outer.text(),
        "<esi:include src=\"/se/x\"/>",
        "not a template: not composed"
    );
    assert_eq!(origin.count("/x"), 0);
}

/// A client's `Range` never reaches the origin of a template: a part of one would reach the
/// client uncomposed, its tags raw. The whole page is the answer (RFC 9110 §14.2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_gets_the_whole_page_never_a_raw_part() {
    let (s, origin) = stack(&[]);
    origin.script("/x", Script::html("[x]"));
    origin.script("/page", Script::esi_template("a<esi:include src=\"x\"/>b"));
    let page = get(
        &s,
        "/se/page",
        &[("range", "bytes=0-3"), ("if-range", "\"v1\"")],
    )
    .await;
    assert_eq!((page.status, page.text().as_str()), (200, "a[x]b"));
    let seen = origin.seen("/page");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("range"), None);
    assert_eq!(seen[0].header("if-range"), None);
}

/// `no-transform` keeps HTML that a route composes only because it is HTML (`esi = on`) as
/// the origin sent it; a template that asks for composing (`Surrogate-Control`, addressed to
/// this surrogate) is composed all the same, since its tags must never reach a client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_transform_and_composing() {
    let (s, origin) = stack(&[
        ("routes", Some("origin,cached,page,se,pass,on")),
        ("route.on.prefix", Some("/on/")),
        ("route.on.backend", Some("scripted")),
        ("route.on.strip_prefix", Some("true")),
        ("route.on.esi", Some("on")),
    ]);
    origin.script("/x", Script::html("[x]"));
    let body = "a<esi:include src=\"x\"/>b";
    let kept = |cc: &str, surrogate: bool| {
        let mut headers = vec![("content-type", "text/html"), ("cache-control", cc)];
        if surrogate {
            headers.push(("surrogate-control", "content=\"ESI/1.0\""));
        }
        Script::ok(&headers, body.as_bytes())
    };
    origin.script("/html", kept("max-age=60", false));
    origin.script("/nt", kept("no-transform", false));
    origin.script("/asks", kept("no-transform", true));
    assert_eq!(get(&s, "/on/html", &[]).await.text(), "a[x]b");
    assert_eq!(get(&s, "/on/nt", &[]).await.text(), body);
    assert_eq!(get(&s, "/se/asks", &[]).await.text(), "a[x]b");
}

/// A fragment's own route's `first_byte_timeout_ms` bounds its wait for a response head,
/// well inside `esi_fragment_timeout_ms`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fragment_keeps_its_routes_first_byte_timeout() {
    let (s, origin) = stack(&[("route.se.first_byte_timeout_ms", Some("300"))]);
    origin.script("/x", Script::html("[x]").delayed(Duration::from_secs(5)));
    origin.script("/y", Script::html("[y]"));
    origin.script(
        "/page",
        Script::esi_template(
            "a<esi:include src=\"x\" onerror=\"continue\"/>b<esi:include src=\"y\"/>c",
        ),
    );
    let started = Instant::now();
    let page = get(&s, "/se/page", &[]).await;
    let took = started.elapsed();
    assert!(page.body_error.is_none(), "{page:?}");
    assert_eq!(page.text(), "ab[y]c");
    assert!(took < Duration::from_secs(3), "the page took {took:?}");
    let record = s.edge.access_record("/se/page", LOG_WAIT).expect("record");
    assert_eq!(record["fragments"]["failed"], 1);
}

/// Viceroy differs from Fastly here, pinned so a change shows: a composed page announces
/// `Trailer: Server-Timing` and ends with the per-fragment timings as a trailer
/// (`finish_with_trailers`), but Viceroy 0.22's server sends no trailer fields, even to a
/// client that asks for them with `TE: trailers`: the last chunk arrives bare.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viceroy_sends_no_trailers() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (s, _) = stack(&[]);
    let mut conn = tokio::net::TcpStream::connect(s.edge.addr)
        .await
        .expect("connect");
    let head =
        "GET /page/esi/template?includes=2&bytes=200&fragment_bytes=40&delay_ms=10 HTTP/1.1\r\n\
                Host: edge\r\nTE: trailers\r\nConnection: close\r\n\r\n";
    conn.write_all(head.as_bytes()).await.expect("request");
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).await.expect("response");
    let text = String::from_utf8_lossy(&raw);
    let (head, _) = text.split_once("\r\n\r\n").expect("a head");
    assert!(
        head.to_ascii_lowercase()
            .contains("\r\ntrailer: server-timing"),
        "{head}"
    );
    assert!(text.ends_with("\r\n0\r\n\r\n"), "a bare last chunk: {text}");
}

/// Viceroy differs from Fastly here, pinned so a change shows: Viceroy 0.22 loses a body's
/// error when a select waits on it (its `await_ready` drops an `Err` chunk), so a fragment
/// served chunked and cut short, read while the page waits on other things too, seems to end
/// cleanly and the page completes with what came of it. A fragment whose length was declared
/// is still caught (it ran short), and a template read alone is read without a select. On
/// Fastly the page is abandoned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viceroy_loses_a_selected_bodys_error() {
    let bad = firstbyte_harness::peers::Misbehaving::start().expect("misbehaving origin");
    let origin = Scripted::start().expect("scripted origin");
    let overrides: Vec<(&str, Option<&str>)> = vec![
        ("routes", Some("origin,se,mb")),
        ("route.se.prefix", Some("/se/")),
        ("route.se.backend", Some("scripted")),
        ("route.se.strip_prefix", Some("true")),
        ("route.se.esi", Some("surrogate")),
        ("route.mb.prefix", Some("/mb/")),
        ("route.mb.backend", Some("misbehaving")),
        ("route.mb.strip_prefix", Some("true")),
    ];
    let s = LocalStack::start_with_backends(
        &[("scripted", origin.addr), ("misbehaving", bad.addr)],
        &overrides,
    )
    .expect("stack");
    origin.script(
        "/chunked",
        Script::esi_template("[<esi:include src=\"/mb/cut/chunked?type=text/html\"/>]"),
    );
    origin.script(
        "/declared",
        Script::esi_template("[<esi:include src=\"/mb/cut/length?type=text/html\"/>]"),
    );
    let chunked = get(&s, "/se/chunked", &[]).await;
    assert!(
        chunked.body_error.is_none(),
        "Viceroy reported the cut: the select bug is fixed, and this page is now abandoned"
    );
    assert_eq!(
        chunked.body.len(),
        2 + 4000,
        "the 4000 bytes sent before the cut"
    );
    let declared = get(&s, "/se/declared", &[]).await;
    assert!(
        declared.body_error.is_some(),
        "a declared length that runs short is caught"
    );
}

/// Viceroy differs from Fastly here, pinned: it lets one execution make more than Fastly's
/// 32 backend requests. `esi_max_fragments` (default 32, the template included) keeps a page
/// within Fastly's limit; set above it, a page of 40 fragments composes on Viceroy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viceroy_allows_more_than_32_backend_requests() {
    let (s, origin) = stack(&[("route.se.esi_max_fragments", Some("64"))]);
    origin.script("/f", Script::html("f"));
    let includes: String = (0..40)
        .map(|i| format!("<esi:include src=\"f?{i}\"/>"))
        .collect();
    origin.script("/many", Script::esi_template(&includes));
    let page = get(&s, "/se/many", &[]).await;
    assert!(page.body_error.is_none());
    assert_eq!(page.text(), "f".repeat(40));
    let (s, origin) = stack(&[]);
    origin.script("/f", Script::html("f"));
    origin.script(
        "/many",
        Script::esi_template(&includes.replace("/>", " onerror=\"continue\"/>")),
    );
    let page = get(&s, "/se/many", &[]).await;
    assert_eq!(
        page.text(),
        "f".repeat(31),
        "the default: 32 requests with the template"
    );
}

/// A composing route with an edge cache stores the template (with the list of its includes
/// beside it) and composes every hit: on a hit, every include is requested before the first
/// byte of the template is read, as the page's `Server-Timing` says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_template_sends_its_includes_before_it_is_read() {
    let (s, _) = stack(&[("route.page.cache_ttl", Some("60"))]);
    let query = "includes=4&bytes=8000&fragment_bytes=1000&delay_ms=100&tag=cached-template";
    let path = format!("/page/esi/template?{query}");
    let expected = composed_page(&spec(query));
    // Objects are keyed by the class of codings the client reads, so every request here
    // reads gzip.
    let miss = get(&s, &path, &[("accept-encoding", "gzip")]).await;
    assert_eq!(miss.header("x-cache"), Some("MISS"));
    assert_eq!(gunzip(&miss.body).expect("gzip"), expected);
    s.edge
        .access_records("/page/esi/template", 1, LOG_WAIT)
        .expect("the miss's record");
    assert!(s.edge.wait_until_idle(LOG_WAIT));
    for round in 0..2 {
        let hit = get(&s, &path, &[("accept-encoding", "gzip")]).await;
        assert_eq!(hit.header("x-cache"), Some("HIT"), "round {round}");
        assert_eq!(gunzip(&hit.body).expect("gzip"), expected, "round {round}");
        let timing = hit.header_list("server-timing");
        let first = timing
            .split(',')
            .find(|m| m.contains("first request sent"))
            .and_then(|m| m.split("dur=").nth(1))
            .and_then(|d| d.trim().parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no first-request timing: {timing}"));
        assert!(
            first < 50.0,
            "the first fragment request left {first} ms in"
        );
    }
    let records = s
        .edge
        .access_records("/page/esi/template", 3, LOG_WAIT)
        .expect("records");
    assert_eq!(records[2]["cache"], "hit");
    assert_eq!(records[2]["fragments"]["count"], 4);
}
