//! Transform chains end to end: what the client receives is decoded by implementations that
//! share no code with firstbyte (Python's zlib and brotli), progressive streams stay
//! progressive through replace and gzip, gigabytes pass in a small heap, and broken input
//! abandons the stream instead of ending it cleanly.

use std::io::Write;
use std::time::Duration;

use bytes::Bytes;
use firstbyte_harness::client::{self, Reply};
use firstbyte_harness::events::Receipts;
use firstbyte_harness::independent::{gunzip, unbrotli};
use firstbyte_harness::origin::{html_page, text_bytes};
use firstbyte_harness::stack::{LocalStack as Stack, StoreOverrides};
use firstbyte_transform::replace::{Replace, ReplaceOptions};
use firstbyte_transform::{Sink, Transform};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};

const LOG_WAIT: Duration = Duration::from_secs(30);
const GIB: u64 = 1 << 30;

fn stack_with(overrides: StoreOverrides) -> Stack {
    Stack::start(overrides).expect("origin and viceroy start")
}

async fn get(s: &Stack, path: &str, headers: &[(&str, &str)]) -> Reply {
    client::request(s.edge.addr, "GET", path, headers)
        .await
        .expect("request")
}

const BANNER: &str = "<div class='fb-banner'>Rewritten at the edge by firstbyte</div>";
const SCRIPT: &str = "<script>window.firstbyte = true;</script>";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_html_is_rewritten_and_encoded_for_each_client() {
    let s = stack_with(&[]);
    for (accept, coding) in [
        ("br, gzip", Some("br")),
        ("gzip", Some("gzip")),
        ("identity", None),
    ] {
        let r = get(
            &s,
            "/demo/html?encoding=gzip",
            &[("accept-encoding", accept)],
        )
        .await;
        assert_eq!(r.status, 200, "{accept}");
        assert!(r.body_error.is_none());
        assert_eq!(r.header("content-encoding"), coding, "{accept}");
        assert_eq!(
            r.header("content-length"),
            None,
            "a re-made body has no known length"
        );
        assert!(
            r.header("vary")
                .unwrap_or("")
                .to_ascii_lowercase()
                .contains("accept-encoding"),
            "{accept}"
        );
        let plain = match coding {
            Some("br") => unbrotli(&r.body).expect("Python's brotli decodes it"),
            Some(_) => gunzip(&r.body).expect("Python's zlib decodes it"),
            None => r.body.clone(),
        };
        let html = String::from_utf8(plain).expect("UTF-8 kept");
        let body_at = html.find("<body").expect("body");
        let banner_at = html.find(BANNER).expect("banner inserted");
        assert!(banner_at > body_at, "banner goes inside body");
        assert!(
            html.contains(&format!("{SCRIPT}</head>")),
            "script ends the head"
        );
        assert!(
            !html.contains("href=\"http://origin.example"),
            "links point at the edge"
        );
        // Lines the rules did not touch are byte-exact and in order (a tag whose URL was
        // rewritten is re-serialised by lol_html, quotes normalised, so those lines differ).
        let undone = html.replace(BANNER, "").replace(SCRIPT, "");
        let mut rest = undone.as_str();
        for line in html_page()
            .lines()
            .filter(|l| !l.contains("origin.example"))
        {
            let at = rest
                .find(line)
                .unwrap_or_else(|| panic!("{accept}: untouched line changed or moved: {line}"));
            rest = &rest[at + line.len()..];
        }
    }
    let records = s
        .edge
        .access_records("/demo/html", 3, LOG_WAIT)
        .expect("one access-log record per request");
    assert!(records.iter().all(|r| r["outcome"] == "ok"), "{records:?}");
    // Records are written as requests end, which need not be the order they were sent.
    let mut chains: Vec<_> = records
        .iter()
        .map(|r| r["transforms"].as_str().unwrap_or(""))
        .collect();
    chains.sort_unstable();
    assert_eq!(
        chains,
        [
            "gzip-decode>html",
            "gzip-decode>html>br-encode",
            "gzip-decode>html>gzip-encode",
        ]
    );
    assert!(
        html_page()
            .lines()
            .filter(|l| !l.contains("origin.example"))
            .count()
            > 50
    );
}

/// Writes everything into a gzip decoder and returns what it has decoded so far.
struct IncrementalGunzip(flate2::write::GzDecoder<Vec<u8>>);

impl IncrementalGunzip {
    fn feed(&mut self, data: &[u8]) -> Vec<u8> {
        self.0.write_all(data).expect("valid gzip so far");
        self.0.flush().expect("flush");
        std::mem::take(self.0.get_mut())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_rewritten_and_compressed_one_by_one() {
    let s = stack_with(&[]);
    let (headers, pieces) = client::arrivals(
        s.edge.addr,
        "/events/sse?events=4&interval_ms=400",
        &[("accept-encoding", "gzip")],
    )
    .await
    .expect("stream");
    assert_eq!(
        headers
            .get("content-encoding")
            .and_then(|v| v.to_str().ok()),
        Some("gzip")
    );
    let mut decoder = IncrementalGunzip(flate2::write::GzDecoder::new(Vec::new()));
    let mut receipts = Receipts::default();
    let mut whole = Vec::new();
    for piece in &pieces {
        whole.extend_from_slice(&piece.data);
        receipts.feed(
            &String::from_utf8_lossy(&decoder.feed(&piece.data)),
            piece.unix_ms,
        );
    }
    let text = receipts.text().to_string();
    assert!(!text.contains("event"), "every 'event' replaced: {text}");
    receipts.assert_each_before_next(4, "rewritten, gzip'd events");
    assert_eq!(
        gunzip(&whole).expect("C zlib decodes the whole stream"),
        text.as_bytes()
    );
}

/// What firstbyte should send for `n` bytes of the origin's text under `rules`, computed
/// natively by the same stage the app runs (whose semantics the property tests pin down).
fn expected_digest(n: u64, rules: &[(&str, &str)]) -> (u64, [u8; 32]) {
    let mut stage = Replace::new(
        rules
            .iter()
            .map(|(a, b)| (a.as_bytes().to_vec(), b.as_bytes().to_vec()))
            .collect(),
        ReplaceOptions::default(),
    )
    .expect("rules");
    let mut hasher = Sha256::new();
    let mut len = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    let mut out = Sink::new();
    let mut offset = 0u64;
    while offset < n {
        let k = (n - offset).min(buf.len() as u64) as usize;
        text_bytes(offset, &mut buf[..k]);
        offset += k as u64;
        stage
            .push(Bytes::copy_from_slice(&buf[..k]), &mut out)
            .expect("push");
        if offset == n {
            stage.finish(&mut out).expect("finish");
        }
        for piece in out.drain(..) {
            hasher.update(&piece);
            len += piece.len() as u64;
        }
    }
    (len, hasher.finalize().into())
}

/// Hashes what it is given.
struct HashWriter {
    hasher: Sha256,
    len: u64,
}

impl Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.hasher.update(buf);
        self.len += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const BULK: &[(&str, Option<&str>)] = &[
    ("routes", Some("bulk")),
    ("route.bulk.prefix", Some("/bulk/")),
    ("route.bulk.backend", Some("origin")),
    ("route.bulk.strip_prefix", Some("true")),
    ("route.bulk.transforms", Some("replace")),
    (
        "route.bulk.replace",
        Some(r#"{"rules": [["origin.example", "edge.example!!"]]}"#),
    ),
    ("route.bulk.compress", Some("br")),
];

/// The client's decoder for a response body, hashing what comes out.
enum Decoding {
    Plain(HashWriter),
    Brotli(Box<brotli::DecompressorWriter<HashWriter>>),
}

impl Decoding {
    fn write(&mut self, data: &[u8]) {
        match self {
            Decoding::Plain(w) => w.write_all(data),
            Decoding::Brotli(w) => w.write_all(data),
        }
        .expect("the body decodes");
    }

    fn finish(self) -> (u64, [u8; 32]) {
        let sink = match self {
            Decoding::Plain(w) => w,
            Decoding::Brotli(w) => w
                .into_inner()
                .unwrap_or_else(|w| panic!("brotli stream ended early after {} bytes", w.len)),
        };
        (sink.len, sink.hasher.finalize().into())
    }
}

/// Streams `path` with `accept` and returns (length, sha256) of the decoded body.
async fn decoded_digest(s: &Stack, path: &str, accept: &str) -> (u64, [u8; 32]) {
    let resp = client::open(s.edge.addr, "GET", path, &[("accept-encoding", accept)])
        .await
        .expect("response");
    assert_eq!(resp.status(), 200);
    let sink = HashWriter {
        hasher: Sha256::new(),
        len: 0,
    };
    let coding = resp
        .headers()
        .get("content-encoding")
        .and_then(|v| v.to_str().ok());
    let mut decoding = match coding {
        Some("br") => Decoding::Brotli(Box::new(brotli::DecompressorWriter::new(sink, 64 * 1024))),
        None => Decoding::Plain(sink),
        Some(other) => panic!("unexpected coding {other}"),
    };
    let mut body = resp.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.expect("complete body");
        if let Some(data) = frame.data_ref() {
            decoding.write(data);
        }
    }
    decoding.finish()
}

/// The largest heap of any instance this stack ran, once all have ended: an instance that
/// served several requests reports the peak over them.
fn peak_heap(s: &Stack) -> f64 {
    s.edge
        .peak_heap_mib(LOG_WAIT)
        .expect("instances end and Viceroy reports a heap")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gib_through_replace_stays_correct_in_a_small_heap() {
    let s = stack_with(BULK);
    let want = expected_digest(GIB, &[("origin.example", "edge.example!!")]);
    let got = decoded_digest(&s, &format!("/bulk/text/{GIB}"), "identity").await;
    assert_eq!(got, want, "length and hash of the replaced text");
    let heap = peak_heap(&s);
    assert!(heap <= 4.0, "WebAssembly heap {heap} MiB > 4 MiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gib_of_gzip_decoded_replaced_and_brotli_encoded_in_a_small_heap() {
    let s = stack_with(BULK);
    let want = expected_digest(GIB, &[("origin.example", "edge.example!!")]);
    let got = decoded_digest(&s, &format!("/bulk/text/{GIB}?encoding=gzip"), "br").await;
    assert_eq!(got, want, "length and hash of the replaced text");
    let record = s
        .edge
        .access_record(&format!("/bulk/text/{GIB}"), LOG_WAIT)
        .expect("log");
    assert_eq!(record["transforms"], "gzip-decode>replace>br-encode");
    let heap = peak_heap(&s);
    assert!(heap <= 4.0, "WebAssembly heap {heap} MiB > 4 MiB");
}

const BROKEN: &[(&str, Option<&str>)] = &[
    ("routes", Some("broken,bomb,tiny")),
    ("route.broken.prefix", Some("/broken/")),
    ("route.broken.backend", Some("origin")),
    ("route.broken.strip_prefix", Some("true")),
    ("route.broken.transforms", Some("replace")),
    ("route.broken.replace", Some(r#"{"rules": [["a", "b"]]}"#)),
    ("route.bomb.prefix", Some("/bomb/")),
    ("route.bomb.backend", Some("origin")),
    ("route.bomb.strip_prefix", Some("true")),
    ("route.bomb.transforms", Some("replace")),
    ("route.bomb.replace", Some(r#"{"rules": [["a", "b"]]}"#)),
    ("route.bomb.max_inflate_ratio", Some("2")),
    ("route.tiny.prefix", Some("/tiny/")),
    ("route.tiny.backend", Some("origin")),
    ("route.tiny.strip_prefix", Some("true")),
    ("route.tiny.transforms", Some("html")),
    (
        "route.tiny.html",
        Some(r#"{"remove": ["script"], "memory_limit": 64}"#),
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_input_abandons_the_stream_and_logs_why() {
    let s = stack_with(BROKEN);
    let cases = [
        // Claims gzip, sends plain text.
        (
            "/broken/response-headers?Content-Encoding=gzip&Content-Type=text/plain",
            "/broken/response-headers",
            "gzip",
        ),
        // Inflates past the route's ratio of 2.
        (
            "/bomb/text/8388608?encoding=gzip",
            "/bomb/text/8388608",
            "ratio",
        ),
        // Tags longer than the HTML stage's 64-byte memory limit, split across reads.
        ("/tiny/html?chunk_size=7", "/tiny/html", "memory"),
    ];
    for (path, logged, why) in cases {
        // The headers were handed over before the failure; whether they reach the client
        // before the cut is a race, but a clean end never does.
        match client::request(s.edge.addr, "GET", path, &[]).await {
            Ok(r) => {
                assert_eq!(r.status, 200, "{path}");
                assert!(
                    r.body_error.is_some(),
                    "{path}: a broken stream must not end cleanly"
                );
            }
            Err(e) => assert!(
                e.to_string().contains("closed before message completed"),
                "{path}: {e}"
            ),
        }
        let record = s.edge.access_record(logged, LOG_WAIT).expect("access log");
        assert_eq!(record["outcome"], "aborted", "{path}: {record}");
        let reason = record["reason"].as_str().unwrap_or("").to_ascii_lowercase();
        assert!(
            reason.contains(why),
            "{path}: reason {reason:?} lacks {why:?}"
        );
    }
    assert!(s.edge.panics().is_empty(), "{:?}", s.edge.panics());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_transform_config_answers_500_naming_the_key() {
    for (overrides, key, path) in [
        (
            &[("route.demo.transforms", Some("gzip"))][..],
            "route.demo.transforms",
            "/demo/html",
        ),
        (
            &[("route.demo.html", Some(r#"{"remove": ["p[["]}"#))][..],
            "route.demo.html",
            "/demo/html",
        ),
        (
            &[("route.events.replace", Some(r#"{"rules": [["", "x"]]}"#))][..],
            "route.events.replace",
            "/events/sse?events=1&interval_ms=1",
        ),
    ] {
        let s = stack_with(overrides);
        let r = get(&s, path, &[]).await;
        assert_eq!(r.status, 500, "{key}");
        assert!(r.text().contains(key), "{key}: {}", r.text());
        // A request reads only the route it matches: another route's bad key costs it
        // nothing.
        let other = if path.starts_with("/demo") {
            "/origin/bytes/10"
        } else {
            "/demo/html"
        };
        assert_eq!(get(&s, other, &[]).await.status, 200, "{key}: {other}");
    }
}
