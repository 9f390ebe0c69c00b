//! End to end over real HTTP: the dev origin and Viceroy on free ports, the firstbyte wasm
//! built by `cargo build --release` at the repository root. Timing checks are orderings or
//! generous bounds, never tight absolute times.

use std::time::Duration;

use firstbyte_harness::client::{self, Reply};
use firstbyte_harness::events::Receipts;
use firstbyte_harness::stack::{LocalStack as Stack, StoreOverrides};

fn stack_with(overrides: StoreOverrides) -> Stack {
    Stack::start(overrides).expect("origin and viceroy start")
}

fn stack() -> Stack {
    stack_with(&[])
}

const LOG_WAIT: Duration = Duration::from_secs(10);

async fn get(stack: &Stack, path: &str) -> Reply {
    client::get(stack.edge.addr, path).await.expect("request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_page_and_unknown_paths() {
    let s = stack();
    let home = get(&s, "/").await;
    assert_eq!(home.status, 200);
    assert!(
        home.text().contains("firstbyte is running locally"),
        "{}",
        home.text()
    );
    assert!(home
        .header("content-type")
        .unwrap_or("")
        .starts_with("text/html"));

    for path in ["/nowhere", "/_fb/nothing", "/originals"] {
        let r = get(&s, path).await;
        assert_eq!(r.status, 404, "{path}");
        assert!(r.text().contains("no route"), "{path}: {}", r.text());
    }
    let record = s
        .edge
        .access_record("/nowhere", LOG_WAIT)
        .expect("access log");
    assert_eq!(record["outcome"], "error");
    assert_eq!(record["status"], 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passthrough_keeps_length_timing_and_logs_every_field() {
    let s = stack();
    let r = get(&s, "/origin/bytes/4096").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 4096);
    assert!(r.body_error.is_none());
    let direct = client::get(s.origin.addr, "/bytes/4096")
        .await
        .expect("origin");
    assert_eq!(r.body, direct.body, "body passes through byte-exact");
    assert_eq!(
        r.header("content-length"),
        Some("4096"),
        "untouched body keeps its length"
    );

    let timing = r.header("server-timing").expect("Server-Timing");
    assert!(
        timing.contains("origin;dur=") && timing.contains("edge;dur="),
        "{timing}"
    );

    let record = s
        .edge
        .access_record("/origin/bytes/4096", LOG_WAIT)
        .expect("access log");
    for field in [
        "method",
        "path",
        "route",
        "status",
        "backend",
        "ttfb_ms",
        "origin_ms",
        "bytes_out",
        "duration_ms",
        "outcome",
    ] {
        assert!(
            record.get(field).is_some(),
            "access log lacks {field}: {record}"
        );
    }
    assert_eq!(record["method"], "GET");
    assert_eq!(record["route"], "origin");
    assert_eq!(record["backend"], "origin");
    assert_eq!(record["status"], 200);
    assert_eq!(record["bytes_out"], 4096);
    assert_eq!(record["outcome"], "ok");
    assert_eq!(record["body"], "append");
    assert!(record["ttfb_ms"].as_f64().is_some() && record["origin_ms"].as_f64().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_and_bodiless_statuses_carry_no_body() {
    let s = stack();
    let head = client::request(s.edge.addr, "HEAD", "/origin/bytes/100", &[])
        .await
        .expect("HEAD");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-length"), Some("100"));

    let no_content = get(&s, "/origin/status/204").await;
    assert_eq!(no_content.status, 204);
    assert!(no_content.body.is_empty());

    let teapot = get(&s, "/origin/status/418").await;
    assert_eq!(teapot.status, 418, "origin statuses pass through");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_by_hop_headers_stop_at_the_proxy_both_ways() {
    let s = stack();
    let echoed = client::request(
        s.edge.addr,
        "GET",
        "/origin/headers",
        &[
            ("connection", "x-secret"),
            ("x-secret", "1"),
            ("proxy-authorization", "Basic eA=="),
            ("te", "trailers"),
            ("x-kept", "yes"),
        ],
    )
    .await
    .expect("request");
    let seen: serde_json::Value = serde_json::from_slice(&echoed.body).expect("origin echoes JSON");
    let seen = seen.as_object().expect("object");
    let names: Vec<String> = seen.keys().map(|k| k.to_ascii_lowercase()).collect();
    for dropped in ["x-secret", "proxy-authorization", "te"] {
        assert!(
            !names.contains(&dropped.to_string()),
            "{dropped} reached the origin: {names:?}"
        );
    }
    assert!(names.contains(&"x-kept".to_string()), "{names:?}");

    let r = get(
        &s,
        "/origin/response-headers?Connection=x-origin-private&X-Origin-Private=1&Keep-Alive=timeout%3D5&Proxy-Foo=1&X-Public=1",
    )
    .await;
    assert_eq!(r.status, 200);
    for dropped in ["x-origin-private", "keep-alive", "proxy-foo"] {
        assert!(r.header(dropped).is_none(), "{dropped} reached the client");
    }
    assert_eq!(r.header("x-public"), Some("1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_options_strip_and_override_host() {
    let s = stack_with(&[
        ("routes", Some("kept,origin")),
        ("route.kept.prefix", Some("/anything/")),
        ("route.kept.backend", Some("origin")),
        ("route.kept.host_override", Some("origin.example")),
    ]);
    let kept = get(&s, "/anything/x?y=1").await;
    let seen: serde_json::Value = serde_json::from_slice(&kept.body).expect("JSON");
    let text = seen.to_string();
    assert!(text.contains("/anything/x"), "prefix kept: {text}");
    assert!(text.contains("origin.example"), "host overridden: {text}");

    let stripped = get(&s, "/origin/anything/y").await;
    let text = stripped.text();
    assert!(
        text.contains("/anything/y") && !text.contains("/origin/"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_backends_answer_502_and_504_with_a_reason() {
    let s = stack();
    let dead = get(&s, "/dead/x").await;
    assert_eq!(dead.status, 502);
    assert!(
        dead.text().contains("backend 'dead' could not be reached"),
        "{}",
        dead.text()
    );

    let slow = get(&s, "/slow/delay/3").await;
    assert_eq!(slow.status, 504);
    assert!(slow.text().contains("within 1000 ms"), "{}", slow.text());

    for path in ["/dead/x", "/slow/delay/3"] {
        let record = s.edge.access_record(path, LOG_WAIT).expect("access log");
        assert_eq!(record["outcome"], "error", "{record}");
        assert!(record["reason"].as_str().is_some(), "{record}");
    }
    // The app log says it too, once per failure.
    let errors = s
        .edge
        .lines()
        .iter()
        .filter(|l| l.contains("firstbyte_app ::") && l.contains("/dead/x"))
        .count();
    assert_eq!(errors, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_config_answers_500_naming_the_key() {
    let s = stack_with(&[("route.slow.first_byte_timeout_ms", Some("soon"))]);
    let r = get(&s, "/slow/delay/0").await;
    assert_eq!(r.status, 500);
    assert!(
        r.text().contains("route.slow.first_byte_timeout_ms"),
        "{}",
        r.text()
    );
    // Only the matched route is read: the others still answer.
    assert_eq!(get(&s, "/origin/bytes/10").await.status, 200);
    assert_eq!(get(&s, "/").await.status, 200);

    // A route written as one object that is not JSON never matches, with a warning naming
    // the key; the other routes answer.
    let s = stack_with(&[("route.slow", Some(r#"{"prefix": "/slow/", "backend": "#))]);
    assert_eq!(get(&s, "/slow/delay/0").await.status, 404);
    assert!(s
        .edge
        .wait_for_line(
            |l| l.contains("route skipped in matching")
                && l.contains("route.slow is not a JSON object"),
            LOG_WAIT
        )
        .is_some());
    assert_eq!(get(&s, "/stall/bytes/10").await.status, 200);

    // A bad global key fails every request.
    let s = stack_with(&[("reuse_ms", Some("-1"))]);
    let r = get(&s, "/").await;
    assert_eq!(r.status, 500);
    assert!(r.text().contains("reuse_ms"), "{}", r.text());

    let s = stack_with(&[("route.origin.backend", Some("nowhere"))]);
    let r = get(&s, "/origin/bytes/10").await;
    assert_eq!(r.status, 500);
    assert!(
        r.text().contains("route.origin.backend") && r.text().contains("nowhere"),
        "{}",
        r.text()
    );
    assert!(s
        .edge
        .wait_for_line(
            |l| l.contains("firstbyte_app ::") && l.contains("route.origin.backend"),
            LOG_WAIT
        )
        .is_some());
    assert!(s.edge.panics().is_empty(), "{:?}", s.edge.panics());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_stream_arrives_event_by_event() {
    let s = stack();
    for route in ["/origin", "/watched", "/stall"] {
        let path = format!("{route}/sse?events=4&interval_ms=400");
        let (headers, pieces) = client::arrivals(s.edge.addr, &path, &[])
            .await
            .expect("stream");
        assert_eq!(
            headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("text/event-stream")
        );
        // Each event must be in the client's hands before the origin sends the next one.
        let mut receipts = Receipts::default();
        for piece in &pieces {
            receipts.feed(&String::from_utf8_lossy(&piece.data), piece.unix_ms);
        }
        receipts.assert_each_before_next(4, route);
        let first = pieces.first().map(|p| p.after_head).unwrap_or_default();
        assert!(
            first < Duration::from_millis(300),
            "{route}: first event took {first:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_backend_body_reaches_the_client_incomplete() {
    let s = stack();
    // Appended: the host cuts the client off when the origin does.
    let appended = get(&s, "/origin/reset/100000?pause_ms=200").await;
    assert_eq!(appended.status, 200);
    assert!(
        appended.body_error.is_some(),
        "a cut body must not look complete"
    );
    assert!(appended.body.len() <= 100_000);

    // Pumped: the app sees the break, abandons the stream and logs it.
    let pumped = get(&s, "/watched/reset/100000?pause_ms=200").await;
    assert_eq!(pumped.status, 200);
    assert!(
        pumped.body_error.is_some(),
        "a cut body must not look complete"
    );
    let record = s
        .edge
        .access_record("/watched/reset/100000", LOG_WAIT)
        .expect("access log");
    assert_eq!(record["outcome"], "aborted", "{record}");
    assert_eq!(record["body"], "pump");
    assert!(
        record["reason"]
            .as_str()
            .unwrap_or("")
            .contains("broke off"),
        "{record}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_backend_body_is_abandoned_after_the_between_bytes_timeout() {
    let s = stack_with(&[("route.stall.between_bytes_timeout_ms", Some("300"))]);
    // Two bytes, two seconds apart: the second comes long after the route's 300 ms.
    let r = get(&s, "/stall/drip?numbytes=2&duration=2").await;
    assert_eq!(r.status, 200);
    assert!(
        r.body_error.is_some(),
        "a stalled body must not look complete"
    );
    let record = s
        .edge
        .access_record("/stall/drip", LOG_WAIT)
        .expect("access log");
    assert_eq!(record["outcome"], "aborted", "{record}");
    assert!(
        record["reason"]
            .as_str()
            .unwrap_or("")
            .contains("nothing for 300 ms"),
        "{record}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generator_streams_what_it_is_asked_for() {
    let s = stack();
    let r = get(&s, "/_fb/gen?bytes=100000&chunk=1000&type=text").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 100_000);
    assert_eq!(r.header("content-length"), Some("100000"));
    assert!(r.text().starts_with("firstbyte synthetic text"));
    let again = get(&s, "/_fb/gen?bytes=100000&chunk=777&type=text").await;
    assert_eq!(
        r.body, again.body,
        "content does not depend on the chunk size"
    );

    let bad = get(&s, "/_fb/gen?bytes=10&chunk=0").await;
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("chunk"), "{}", bad.text());

    let (_, pieces) = client::arrivals(s.edge.addr, "/_fb/gen?bytes=99&type=sse&delay_ms=300", &[])
        .await
        .expect("sse");
    assert!(pieces.len() >= 3, "events arrive one by one: {pieces:?}");
    let spread = pieces.last().map(|p| p.after_head).unwrap_or_default() - pieces[0].after_head;
    assert!(spread >= Duration::from_millis(500), "{spread:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_passes_through_exact_in_a_small_heap() {
    const GIB: u64 = 1 << 30;
    let s = stack();
    let path = format!("/bytes/{GIB}");
    let through = client::digest(s.edge.addr, &format!("/origin{path}"))
        .await
        .expect("edge");
    let direct = client::digest(s.origin.addr, &path).await.expect("origin");
    assert!(through.complete && direct.complete);
    assert_eq!(through.len, GIB);
    assert_eq!(through, direct, "length and hash match the origin's");

    let record = s
        .edge
        .access_record(&format!("/origin{path}"), LOG_WAIT)
        .expect("access log");
    assert_eq!(record["outcome"], "ok");
    assert!(s.edge.wait_until_idle(LOG_WAIT), "the instance ends");
    let heaps = s.edge.heaps_mib();
    assert_eq!(heaps.len(), 1, "one request, one instance: {heaps:?}");
    assert!(heaps[0] <= 4.0, "WebAssembly heap {} MiB > 4 MiB", heaps[0]);
}

/// Sequential requests of every kind, each sent once the previous has ended.
async fn mixed_requests(s: &Stack) -> Vec<serde_json::Value> {
    let paths = [
        "/origin/bytes/65536",
        "/demo/html",
        "/origin/text/1048576",
        "/demo/html",
        "/nowhere",
        "/origin/bytes/1024",
    ];
    for (sent, path) in paths.iter().enumerate() {
        let r = get(s, path).await;
        assert!(
            r.status == 200 || *path == "/nowhere",
            "{path}: {}",
            r.status
        );
        let sent_here = paths[..=sent].iter().filter(|p| *p == path).count();
        s.edge
            .access_records(path, sent_here, LOG_WAIT)
            .expect("access log");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(s.edge.wait_until_idle(LOG_WAIT), "instances end");
    s.edge.access_log()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_serves_the_next_requests_in_a_small_heap() {
    let s = stack_with(&[("reuse_ms", Some("250"))]);
    let log = mixed_requests(&s).await;
    let seqs: Vec<_> = log.iter().map(|r| r["instance_seq"].as_u64()).collect();
    assert_eq!(seqs[0], Some(1), "the first request starts an instance");
    assert!(
        seqs.iter().any(|&n| n.is_some_and(|n| n > 1)),
        "later requests are served by a waiting instance: {seqs:?}"
    );
    let heaps = s.edge.heaps_mib();
    assert!(
        heaps.len() < log.len(),
        "fewer instances than requests: {heaps:?}"
    );
    let peak = s.edge.peak_heap_mib(LOG_WAIT).expect("a heap figure");
    assert!(peak <= 4.0, "an instance's peak {peak} MiB > 4 MiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_each_request_gets_its_own_instance() {
    let s = stack_with(&[("reuse_ms", None)]);
    let log = mixed_requests(&s).await;
    for record in &log {
        assert_eq!(record["instance_seq"], 1, "{record}");
    }
    assert_eq!(
        s.edge.heaps_mib().len(),
        log.len(),
        "one instance per request"
    );
}
