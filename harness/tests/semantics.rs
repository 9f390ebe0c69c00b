//! One test for each way a response went wrong before the README's "HTTP semantics" held,
//! found by a table of responses and by reading the code. Each drives the app over
//! real HTTP, most of them against the harness's misbehaving origin, which does what no
//! well-behaved server does.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use firstbyte_harness::client::{self, Reply};
use firstbyte_harness::peers::Misbehaving;
use firstbyte_harness::stack::{LocalStack, StoreOverrides};

const LOG_WAIT: Duration = Duration::from_secs(10);

/// The demo config plus routes in front of the misbehaving origin: `/bad/` passes bodies
/// through, `/badhtml/` runs an html stage (no compression) on them.
const BAD_ROUTES: &[(&str, Option<&str>)] = &[
    ("routes", Some("bad,badhtml,origin,demo,dead")),
    ("route.bad.prefix", Some("/bad/")),
    ("route.bad.backend", Some("misbehaving")),
    ("route.bad.strip_prefix", Some("true")),
    ("route.badhtml.prefix", Some("/badhtml/")),
    ("route.badhtml.backend", Some("misbehaving")),
    ("route.badhtml.strip_prefix", Some("true")),
    ("route.badhtml.transforms", Some("html")),
    (
        "route.badhtml.html",
        Some(r#"{"insert": [{"selector": "body", "position": "prepend", "html": "<p>fb</p>"}]}"#),
    ),
];

fn start(bad: &Misbehaving, extra: StoreOverrides) -> LocalStack {
    let mut overrides = BAD_ROUTES.to_vec();
    overrides.extend_from_slice(extra);
    LocalStack::start_with_backends(&[("misbehaving", bad.addr)], &overrides)
        .expect("origin and viceroy start")
}

async fn request(s: &LocalStack, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    client::request(s.edge.addr, method, path, headers)
        .await
        .expect("request")
}

/// Sends raw request bytes and reads the whole answer (the request says `close`).
fn raw(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    stream.write_all(request).expect("write");
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_length_beside_a_transfer_coding_never_truncates_cleanly() {
    let bad = Misbehaving::start().expect("misbehaving origin");
    let s = start(&bad, &[]);
    for route in ["/bad", "/badhtml"] {
        let r = request(
            &s,
            "GET",
            &format!("{route}/conflict?bytes=1048576&type=text/plain"),
            &[],
        )
        .await;
        assert_eq!(r.status, 200, "{route}");
        assert!(r.body_error.is_none(), "{route}: {:?}", r.body_error);
        assert_eq!(r.body.len(), 1_048_576, "{route}: the whole chunked body");
        assert_eq!(
            r.header("content-length"),
            None,
            "{route}: the conflicting length is not forwarded"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codings_the_client_did_not_ask_for_are_decoded_with_vary() {
    let bad = Misbehaving::start().expect("misbehaving origin");
    let s = start(&bad, &[]);
    // A 404 page and a stylesheet the html stage leaves alone, gzipped regardless.
    for path in [
        "/badhtml/status/404?type=text/html&encoding=gzip",
        "/badhtml/forced/gzip?type=text/css",
        "/bad/forced/br?type=text/plain",
    ] {
        let r = request(&s, "GET", path, &[]).await;
        assert_eq!(r.header("content-encoding"), None, "{path}");
        assert!(
            r.header("vary")
                .is_some_and(|v| v.to_ascii_lowercase().contains("accept-encoding")),
            "{path}: {:?}",
            r.headers
        );
        assert!(r.body_error.is_none(), "{path}");
        assert!(
            r.text().contains("origin.example"),
            "{path}: decoded text: {}",
            r.text()
        );
        let gzip = request(&s, "GET", path, &[("accept-encoding", "gzip, br")]).await;
        assert!(gzip.header("content-encoding").is_some(), "{path}");
        assert!(
            gzip.header("vary").is_some(),
            "{path}: a coded answer varies"
        );
    }
    // A coding nobody here can decode reaches only clients that asked for it.
    let zstd = request(&s, "GET", "/bad/forced/zstd?type=text/html", &[]).await;
    assert_eq!(zstd.status, 502, "{}", zstd.text());
    let asked = request(
        &s,
        "GET",
        "/bad/forced/zstd?type=text/html",
        &[("accept-encoding", "zstd")],
    )
    .await;
    assert_eq!(asked.status, 200);
    assert_eq!(asked.header("content-encoding"), Some("zstd"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_are_not_forwarded_where_content_changes() {
    let bad = Misbehaving::start().expect("misbehaving origin");
    let s = start(&bad, &[]);
    let r = request(&s, "GET", "/demo/html", &[("range", "bytes=100-200")]).await;
    assert_eq!(r.status, 200, "the whole transformed page");
    assert_eq!(r.header("content-range"), None);
    assert!(r.text().contains("fb-banner"), "rewritten");
    assert!(r.text().ends_with("</html>\n") || r.text().trim_end().ends_with("</html>"));

    // On a passthrough route the origin's 206 passes with its Content-Range.
    let plain = request(
        &s,
        "GET",
        "/origin/bytes/1000",
        &[("range", "bytes=100-199")],
    )
    .await;
    if plain.status == 206 {
        assert!(plain.header("content-range").is_some());
        assert_eq!(plain.body.len(), 100);
    }

    // An origin that answers 206 to anything: never rewritten, Content-Range kept.
    let forced = request(&s, "GET", "/badhtml/always-206?type=text/html", &[]).await;
    assert_eq!(forced.status, 206);
    assert_eq!(forced.header("content-range"), Some("bytes 100-199/1000"));
    assert_eq!(forced.body.len(), 100);
    assert!(!forced.text().contains("<p>fb</p>"));
    let seen = bad.requests();
    assert!(
        !seen
            .iter()
            .any(|head| head.to_ascii_lowercase().contains("\nrange:")),
        "Range reached the origin through a transforming route: {seen:?}"
    );
}

/// On Viceroy a request's URL is built from its `Host`, and the fastly crate panics on a URL
/// it cannot parse: such a request must get a 400 and its access-log line, not a trap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_makes_no_url_is_a_bad_request() {
    let bad = Misbehaving::start().expect("misbehaving origin");
    let s = start(&bad, &[]);
    for host in ["[zz]", "[::1].", "[::1]:x"] {
        let request =
            format!("GET /origin/bytes/10 HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        let answer = raw(s.edge.addr, request.as_bytes());
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 400"), "{host}: {text:.300}");
    }
    let records = s.edge.access_records("-", 3, LOG_WAIT).expect("logged");
    assert_eq!(records.len(), 3, "one access-log line each");
    let panics = s.edge.panics();
    assert!(panics.is_empty(), "{panics:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_bytes_that_are_not_utf8_never_panic_the_app() {
    let bad = Misbehaving::start().expect("misbehaving origin");
    let s = start(&bad, &[]);
    let answer = raw(
        s.edge.addr,
        b"GET /demo/html HTTP/1.1\r\nHost: x\r\nAccept-Encoding: \xff\r\nConnection: close\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 200"), "{text:.300}");
    let host = raw(
        s.edge.addr,
        b"GET /origin/bytes/10 HTTP/1.1\r\nHost: caf\xe9\r\nConnection: close\r\n\r\n",
    );
    let host = String::from_utf8_lossy(&host);
    assert!(!host.starts_with("HTTP/1.1 500"), "{host:.300}");

    // Response header values from the origin with such bytes, through a transforming route.
    let odd = request(&s, "GET", "/badhtml/odd-headers", &[]).await;
    assert_eq!(odd.status, 200);
    assert!(odd.body_error.is_none());
    assert!(odd.text().contains("<p>fb</p>"));

    for path in ["/demo/html", "/badhtml/odd-headers"] {
        let records = s.edge.access_records(path, 1, LOG_WAIT).expect("logged");
        assert_eq!(records.len(), 1, "{path}: one access-log line");
    }
    let panics = s.edge.panics();
    assert!(panics.is_empty(), "{panics:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_transform_is_honoured() {
    let bad = Misbehaving::start().expect("misbehaving origin");
    let s = start(&bad, &[]);
    let through = request(&s, "GET", "/badhtml/no-transform?type=text/html", &[]).await;
    let direct = client::get(bad.addr, "/no-transform?type=text/html")
        .await
        .expect("direct");
    assert_eq!(through.status, 200);
    assert_eq!(through.body, direct.body, "content untouched");
    assert!(!through.text().contains("<p>fb</p>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_gets_the_headers_get_gets() {
    let bad = Misbehaving::start().expect("misbehaving origin");
    let s = start(&bad, &[]);
    for (path, accept) in [
        ("/demo/html?encoding=gzip", "gzip"),
        ("/demo/html?encoding=gzip", "br"),
        ("/demo/html", ""),
        ("/badhtml/forced/gzip?type=text/css", ""),
        ("/origin/bytes/100", ""),
    ] {
        let headers: Vec<(&str, &str)> = if accept.is_empty() {
            vec![]
        } else {
            vec![("accept-encoding", accept)]
        };
        let get = request(&s, "GET", path, &headers).await;
        let head = request(&s, "HEAD", path, &headers).await;
        assert_eq!(head.status, get.status, "{path}");
        assert!(head.body.is_empty());
        for name in [
            "content-encoding",
            "content-length",
            "content-type",
            "etag",
            "vary",
        ] {
            assert_eq!(
                head.header(name),
                get.header(name),
                "{path} ({accept}): {name}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generator_can_be_switched_off_and_capped() {
    let bad = Misbehaving::start().expect("misbehaving origin");
    let off = start(&bad, &[("generator", Some("off"))]);
    assert_eq!(
        request(&off, "GET", "/_fb/gen?bytes=10", &[]).await.status,
        404
    );
    drop(off);
    let removed = start(&bad, &[("generator", None)]);
    assert_eq!(
        request(&removed, "GET", "/_fb/gen?bytes=10", &[])
            .await
            .status,
        404,
        "off unless switched on"
    );
    drop(removed);
    let capped = start(&bad, &[("generator_max_bytes", Some("1000"))]);
    let over = request(&capped, "GET", "/_fb/gen?bytes=1001", &[]).await;
    assert_eq!(over.status, 400);
    assert!(over.text().contains("0 to 1000"), "{}", over.text());
    let ok = request(&capped, "GET", "/_fb/gen?bytes=1000", &[]).await;
    assert_eq!((ok.status, ok.body.len()), (200, 1000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployed_errors_say_only_their_status() {
    let bad = Misbehaving::start().expect("misbehaving origin");
    let s = start(&bad, &[("debug_errors", None)]);
    let dead = request(&s, "GET", "/dead/x", &[]).await;
    assert_eq!(dead.status, 502);
    assert_eq!(dead.text(), "502 Bad Gateway\n");
    let record = s.edge.access_record("/dead/x", LOG_WAIT).expect("logged");
    assert!(
        record["reason"]
            .as_str()
            .is_some_and(|r| r.contains("'dead'")),
        "the detail stays in the log: {record}"
    );
    drop(s);

    let s = start(
        &bad,
        &[
            ("debug_errors", Some("off")),
            ("route.demo.replace", Some("{not json")),
            ("route.demo.transforms", Some("replace")),
        ],
    );
    let config = request(&s, "GET", "/demo/html", &[]).await;
    assert_eq!(config.status, 500);
    assert_eq!(config.text(), "500 Internal Server Error\n");
    let logged = s.edge.wait_for_line(
        |l| l.contains("firstbyte_app") && l.contains("route.demo"),
        LOG_WAIT,
    );
    assert!(logged.is_some(), "the config error is in the app log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_level_holds_for_config_errors_too() {
    let bad = Misbehaving::start().expect("misbehaving origin");
    let s = start(
        &bad,
        &[
            ("log_level", Some("off")),
            ("route.demo.pump", Some("maybe")),
        ],
    );
    let r = request(&s, "GET", "/demo/html", &[]).await;
    assert_eq!(r.status, 500);
    s.edge
        .access_record("/demo/html", LOG_WAIT)
        .expect("logged");
    let app_lines: Vec<String> = s.edge.lines_containing("firstbyte_app ::");
    assert!(app_lines.is_empty(), "log_level off: {app_lines:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_routes_match_a_trailing_dot_and_paths_mean_one_thing() {
    let bad = Misbehaving::start().expect("misbehaving origin");
    let s = start(
        &bad,
        &[
            ("routes", Some("site,raw,origin")),
            ("route.site.prefix", Some("/")),
            ("route.site.host", Some("example.com")),
            ("route.site.backend", Some("misbehaving")),
            ("route.raw.prefix", Some("/raw/")),
            ("route.raw.backend", Some("misbehaving")),
            ("route.raw.strip_prefix", Some("true")),
            ("route.raw.raw_paths", Some("true")),
        ],
    );
    for host in ["example.com", "Example.COM.", "example.com.:7676"] {
        let answer = raw(
            s.edge.addr,
            format!(
                "GET /status/200?type=text/plain HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        );
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 200"), "{host}: {text:.200}");
    }
    for path in [
        "/origin/..%2fstatus/200",
        "/origin/%2e%2e;/status/200",
        "/origin/..;/status/200",
        "/origin/a%5c..%5cstatus",
    ] {
        let r = request(&s, "GET", path, &[]).await;
        assert_eq!(r.status, 400, "{path}: {}", r.text());
    }
    let before = bad.requests().len();
    let raw_route = request(&s, "GET", "/raw/..;/status/200?type=text/plain", &[]).await;
    assert_ne!(raw_route.status, 400, "raw_paths forwards as sent");
    let seen = bad.requests();
    assert!(
        seen[before..].iter().any(|h| h.contains("/..;/status/200")),
        "{seen:?}"
    );
}

/// An untouched (appended) body the host can no longer send: an empty one under
/// `Content-Length: 0` (the client's response is complete with its head), or one whose client
/// hung up at the head. The host then refuses the append, which the fastly crate's
/// `StreamingBody::append` turns into a panic of the app (its access-log line lost). It must
/// be one log line and no panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_the_host_refuses_panics_nothing() {
    let s = LocalStack::start(&[]).expect("origin and viceroy start");
    let rounds = 40;
    for _ in 0..rounds {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(s.edge.addr)
            .await
            .expect("connect");
        let request = format!(
            "GET /origin/bytes/0 HTTP/1.1\r\nHost: {}\r\n\r\n",
            s.edge.addr
        );
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut head = [0u8; 256];
        let _ = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut head)).await;
        // SO_LINGER 0: the close is a reset, and nothing more is read.
        let _ = stream.set_zero_linger();
        drop(stream);
    }
    let records = s
        .edge
        .access_records("/origin/bytes/0", rounds, LOG_WAIT)
        .expect("one access-log line a request");
    assert_eq!(records.len(), rounds);
    let panics: Vec<String> = s.edge.lines_containing("firstbyte_panic");
    assert!(panics.is_empty(), "{panics:?}");
}
