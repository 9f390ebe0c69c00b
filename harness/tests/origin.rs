//! The dev origin over real HTTP on 127.0.0.1: hyper's client where only content matters,
//! a raw TcpStream where the framing itself is under test.

use std::io::{BufRead, BufReader, Read as _, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use firstbyte_harness::origin::{self, html_page, pattern_bytes, sample_document, text_bytes};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn start() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(origin::serve(listener));
    addr
}

async fn connect(addr: SocketAddr) -> SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    sender
}

async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    method: Method,
    path: &str,
    body: &'static [u8],
) -> Response<Incoming> {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "origin.test")
        .body(Full::new(Bytes::from_static(body)))
        .unwrap();
    sender.send_request(req).await.unwrap()
}

async fn get(addr: SocketAddr, path: &str) -> Response<Incoming> {
    send(&mut connect(addr).await, Method::GET, path, b"").await
}

async fn body_of(resp: Response<Incoming>) -> Bytes {
    resp.into_body().collect().await.unwrap().to_bytes()
}

fn header<'a>(resp: &'a Response<Incoming>, name: &str) -> Option<&'a str> {
    resp.headers().get(name).map(|v| v.to_str().unwrap())
}

fn pattern(offset: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0; len];
    pattern_bytes(offset, &mut buf);
    buf
}

/// Sends `request` verbatim and returns everything the server wrote until it closed,
/// whether cleanly or with a reset.
async fn raw(addr: SocketAddr, request: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

fn raw_get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: origin.test\r\nConnection: close\r\n\r\n")
}

/// Splits a raw response into its lower-cased head and its body bytes.
fn split_head(raw: &[u8]) -> (String, &[u8]) {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no end of headers");
    let head = String::from_utf8(raw[..end].to_vec()).unwrap();
    (head.to_ascii_lowercase(), &raw[end + 4..])
}

struct Dechunked {
    data: Vec<u8>,
    sizes: Vec<usize>,
    /// Whether the terminating zero-length chunk arrived.
    complete: bool,
}

fn dechunk(mut body: &[u8]) -> Dechunked {
    let mut out = Dechunked {
        data: Vec::new(),
        sizes: Vec::new(),
        complete: false,
    };
    loop {
        let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = std::str::from_utf8(&body[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap(), 16).unwrap();
        body = &body[line_end + 2..];
        if size == 0 {
            out.complete = body.starts_with(b"\r\n");
            return out;
        }
        if body.len() < size + 2 {
            out.data.extend_from_slice(&body[..size.min(body.len())]);
            return out;
        }
        out.data.extend_from_slice(&body[..size]);
        out.sizes.push(size);
        body = &body[size + 2..];
    }
}

/// HEAD of a 16 GiB body: the full Content-Length, no body bytes.
async fn assert_head_declares_16_gib(addr: SocketAddr, path: &str) {
    let request = format!("HEAD {path} HTTP/1.1\r\nHost: o\r\nConnection: close\r\n\r\n");
    let raw = raw(addr, &request).await;
    let (head, body) = split_head(&raw);
    assert!(
        head.contains("content-length: 17179869184"),
        "{path}: {head}"
    );
    assert!(body.is_empty(), "{path}");
}

#[tokio::test]
async fn bytes_are_sized_deterministic_and_follow_the_pattern() {
    let addr = start().await;
    let n = 200_000;
    let first = get(addr, &format!("/bytes/{n}")).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(header(&first, "content-length"), Some("200000"));
    assert_eq!(
        header(&first, "content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(header(&first, "server"), Some(origin::SERVER_NAME));
    let first = body_of(first).await;
    let second = body_of(get(addr, &format!("/bytes/{n}")).await).await;
    assert_eq!(first.len(), n);
    assert_eq!(first, second);
    assert_eq!(first[..], pattern(0, n)[..]);
    // Any window can be computed on its own, unaligned offsets included.
    assert_eq!(
        first[123_457..130_000],
        pattern(123_457, 130_000 - 123_457)[..]
    );
}

#[tokio::test]
async fn big_bodies_stream_and_head_reports_the_full_16_gib() {
    let addr = start().await;
    let n: u64 = 32 << 20;
    let resp = get(addr, &format!("/bytes/{n}")).await;
    let mut body = resp.into_body();
    let mut pos = 0u64;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            assert_eq!(data[..], pattern(pos, data.len())[..], "at offset {pos}");
            pos += data.len() as u64;
        }
    }
    assert_eq!(pos, n);

    assert_head_declares_16_gib(addr, "/bytes/17179869184").await;
}

#[tokio::test]
async fn stream_bytes_is_chunked_in_the_requested_frames() {
    let addr = start().await;
    let raw = raw(addr, &raw_get("/stream-bytes/25000?chunk_size=1000")).await;
    let (head, body) = split_head(&raw);
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    assert!(!head.contains("content-length"), "{head}");
    let chunks = dechunk(body);
    assert!(chunks.complete);
    assert_eq!(chunks.data, pattern(0, 25_000));
    assert!(
        chunks.sizes.iter().all(|&s| s <= 1000),
        "{:?}",
        chunks.sizes
    );

    // Default chunk size, and the same bytes as /bytes.
    let resp = get(addr, "/stream-bytes/30000").await;
    assert_eq!(header(&resp, "content-length"), None);
    assert_eq!(body_of(resp).await[..], pattern(0, 30_000)[..]);
}

#[tokio::test]
async fn reset_sends_n_bytes_then_cuts_the_chunked_body() {
    let addr = start().await;
    // Several 64 KiB frames, so bytes still in hyper's buffer at the cut would show.
    let n = 300_000;
    let raw = raw(addr, &raw_get(&format!("/reset/{n}"))).await;
    let (head, body) = split_head(&raw);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    let chunks = dechunk(body);
    assert!(!chunks.complete, "the body must not end cleanly");
    assert_eq!(chunks.data.len(), n);
    assert_eq!(chunks.data, pattern(0, n));

    // A reader that stalls lets socket buffers fill, so the cut has to wait for hyper.
    let n = 4 << 20;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = raw_get(&format!("/reset/{n}"));
    stream.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    let chunks = dechunk(split_head(&raw).1);
    assert!(!chunks.complete);
    assert_eq!(chunks.data.len(), n);

    let resp = get(addr, "/reset/1000").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let err = resp.into_body().collect().await.err();
    assert!(err.is_some(), "hyper's client must see a broken body");

    // pause_ms holds the connection open after the bytes, before the cut.
    let resp = get(addr, "/reset/1000?pause_ms=300").await;
    let mut body = resp.into_body();
    let mut got = 0;
    let mut last_data = Instant::now();
    let broken = loop {
        match body.frame().await {
            Some(Ok(frame)) => {
                got += frame.into_data().map_or(0, |d| d.len());
                last_data = Instant::now();
            }
            Some(Err(_)) => break Instant::now(),
            None => panic!("the body ended cleanly"),
        }
    };
    assert_eq!(got, 1000);
    let held = broken - last_data;
    assert!(held >= Duration::from_millis(250), "{held:?}");
}

#[tokio::test]
async fn drip_waits_then_sends_bytes_one_by_one() {
    let addr = start().await;
    let asked = Instant::now();
    let resp = get(addr, "/drip?numbytes=4&duration=1.2&delay=0.3").await;
    let headers_at = asked.elapsed();
    assert!(headers_at >= Duration::from_millis(280), "{headers_at:?}");
    assert_eq!(header(&resp, "content-length"), None);
    let mut body = resp.into_body();
    let mut arrivals = Vec::new();
    let mut data = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(chunk) = frame.unwrap().into_data() {
            arrivals.push(Instant::now());
            data.extend_from_slice(&chunk);
        }
    }
    assert_eq!(data, b"****");
    assert_eq!(arrivals.len(), 4, "one frame per byte");
    let declared = get(addr, "/drip?numbytes=4&duration=0.1&declared=true").await;
    assert_eq!(
        header(&declared, "content-length"),
        Some("4"),
        "as httpbin's"
    );
    // Bytes are 300 ms apart, so first-to-last is about 900 ms if nothing is buffered.
    let spread = arrivals[3] - arrivals[0];
    assert!(spread >= Duration::from_millis(500), "{spread:?}");
}

#[tokio::test]
async fn sse_events_arrive_before_the_next_is_sent() {
    let addr = start().await;
    let resp = get(addr, "/sse?events=3&interval_ms=400").await;
    assert_eq!(header(&resp, "content-type"), Some("text/event-stream"));
    assert_eq!(header(&resp, "cache-control"), Some("no-cache"));
    let mut body = resp.into_body();
    let mut text = String::new();
    // (id, received at unix ms, sent_at_ms)
    let mut events: Vec<(u64, u128, u128)> = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(chunk) = frame.unwrap().into_data() else {
            continue;
        };
        let received = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis();
        text.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = text.find("\n\n") {
            let event: String = text.drain(..end + 2).collect();
            let id = event
                .strip_prefix("id: ")
                .and_then(|rest| rest.split('\n').next())
                .unwrap()
                .parse()
                .unwrap();
            let sent = event
                .split("sent_at_ms=")
                .nth(1)
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            assert!(event.contains(&format!("data: event {id} sent_at_ms=")));
            events.push((id, received, sent));
        }
    }
    assert!(text.is_empty(), "partial event left: {text:?}");
    assert_eq!(
        events.iter().map(|e| e.0).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    // The first event was in our hands before the last one was even written.
    assert!(events[0].1 < events[2].2, "{events:?}");
}

#[tokio::test]
async fn gzip_and_brotli_decode_to_the_sample_document() {
    let addr = start().await;
    let resp = get(addr, "/gzip").await;
    assert_eq!(header(&resp, "content-encoding"), Some("gzip"));
    assert_eq!(gunzip(&body_of(resp).await), sample_document());

    let resp = get(addr, "/brotli").await;
    assert_eq!(header(&resp, "content-encoding"), Some("br"));
    assert_eq!(unbrotli(&body_of(resp).await), sample_document());
    assert!(sample_document().len() > 2000);
}

fn gunzip(data: &[u8]) -> String {
    let mut out = String::new();
    flate2::read::GzDecoder::new(data)
        .read_to_string(&mut out)
        .unwrap();
    out
}

fn unbrotli(data: &[u8]) -> String {
    let mut out = String::new();
    brotli::Decompressor::new(data, 4096)
        .read_to_string(&mut out)
        .unwrap();
    out
}

#[tokio::test]
async fn html_comes_plain_compressed_or_dribbled() {
    let page = html_page();
    assert!((20_000..=40_000).contains(&page.len()), "{}", page.len());
    for needle in [
        "<!DOCTYPE html>",
        "srcset=\"http://origin.example/",
        "action=\"http://origin.example/search\"",
        "café – naïve ✓",
    ] {
        assert!(page.contains(needle), "{needle}");
    }

    let addr = start().await;
    let resp = get(addr, "/html").await;
    assert_eq!(
        header(&resp, "content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(
        header(&resp, "content-length"),
        Some(page.len().to_string().as_str())
    );
    assert_eq!(body_of(resp).await, page.as_bytes());

    let resp = get(addr, "/html?encoding=gzip").await;
    assert_eq!(header(&resp, "content-encoding"), Some("gzip"));
    assert_eq!(gunzip(&body_of(resp).await), page);

    let resp = get(addr, "/html?encoding=br&chunk_size=500").await;
    assert_eq!(header(&resp, "content-encoding"), Some("br"));
    assert_eq!(header(&resp, "content-length"), None);
    assert_eq!(unbrotli(&body_of(resp).await), page);

    let raw = raw(addr, &raw_get("/html?chunk_size=4096&interval_ms=5")).await;
    let (head, body) = split_head(&raw);
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    let chunks = dechunk(body);
    assert!(chunks.complete);
    assert_eq!(chunks.data, page.as_bytes());
    assert_eq!(chunks.sizes.len(), page.len().div_ceil(4096));
}

fn text(offset: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0; len];
    text_bytes(offset, &mut buf);
    buf
}

/// A sink for a streaming decoder that checks every decoded byte against `text_bytes`,
/// so a multi-gigabyte body is verified without being kept.
struct TextChecker {
    pos: u64,
    expected: Vec<u8>,
}

impl TextChecker {
    fn new() -> Self {
        TextChecker {
            pos: 0,
            expected: Vec::new(),
        }
    }
}

impl Write for TextChecker {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.expected.resize(buf.len(), 0);
        text_bytes(self.pos, &mut self.expected);
        assert!(
            buf == self.expected,
            "decoded text differs from text_bytes in the {} bytes at offset {}",
            buf.len(),
            self.pos
        );
        self.pos += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A streaming decoder for one `Content-Encoding`, writing into a `TextChecker`.
enum Decoder {
    Gzip(flate2::write::GzDecoder<TextChecker>),
    Deflate(flate2::write::ZlibDecoder<TextChecker>),
    Brotli(Box<brotli::DecompressorWriter<TextChecker>>),
}

impl Decoder {
    fn new(encoding: &str) -> Self {
        let sink = TextChecker::new();
        match encoding {
            "gzip" => Decoder::Gzip(flate2::write::GzDecoder::new(sink)),
            "deflate" => Decoder::Deflate(flate2::write::ZlibDecoder::new(sink)),
            "br" => Decoder::Brotli(Box::new(brotli::DecompressorWriter::new(sink, 64 * 1024))),
            other => panic!("no decoder for {other}"),
        }
    }

    fn write(&mut self, data: &[u8]) {
        match self {
            Decoder::Gzip(d) => d.write_all(data),
            Decoder::Deflate(d) => d.write_all(data),
            Decoder::Brotli(d) => d.write_all(data),
        }
        .unwrap();
    }

    /// Plain bytes checked so far.
    fn decoded(&mut self) -> u64 {
        // The flate2 decoders keep some output in a buffer until flushed.
        match self {
            Decoder::Gzip(d) => {
                d.flush().unwrap();
                d.get_ref().pos
            }
            Decoder::Deflate(d) => {
                d.flush().unwrap();
                d.get_ref().pos
            }
            Decoder::Brotli(d) => d.get_ref().pos,
        }
    }

    /// Checks the stream is complete (trailer included) and returns its plain length.
    fn finish(self) -> u64 {
        match self {
            Decoder::Gzip(d) => d.finish().unwrap().pos,
            Decoder::Deflate(d) => d.finish().unwrap().pos,
            Decoder::Brotli(d) => {
                d.into_inner()
                    .unwrap_or_else(|_| panic!("truncated br"))
                    .pos
            }
        }
    }
}

#[test]
fn text_bytes_at_any_offset_match_the_whole_buffer() {
    let whole = text(0, 5 * 4096 + 123);
    for start in (0..whole.len() - 1)
        .step_by(97)
        .chain([4095, 4096, 8191, 8192])
    {
        for len in [1, 2, 37, 4096, 5000] {
            let len = len.min(whole.len() - start);
            assert_eq!(
                text(start as u64, len)[..],
                whole[start..start + len],
                "{len} bytes at {start}"
            );
        }
    }
    // Far offsets too: a window near the 16 GiB limit, piecewise and whole.
    let far = origin::MAX_BYTES - 10_000;
    let window = text(far, 10_000);
    assert_eq!(window[..3000], text(far, 3000)[..]);
    assert_eq!(window[3000..], text(far + 3000, 7000)[..]);
    assert!(window.is_ascii());
    assert_ne!(window, text(0, 10_000), "blocks must differ");
}

#[tokio::test]
async fn text_is_sized_readable_and_follows_text_bytes() {
    let addr = start().await;
    let n = 300_001;
    let resp = get(addr, &format!("/text/{n}")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        header(&resp, "content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(header(&resp, "content-length"), Some("300001"));
    assert_eq!(header(&resp, "content-encoding"), None);
    let body = body_of(resp).await;
    assert_eq!(body[..], text(0, n)[..]);
    let body = std::str::from_utf8(&body).unwrap();
    assert!(body.is_ascii());
    let markers = body.matches("origin.example").count();
    assert!((300..=1500).contains(&markers), "{markers} markers");
    let lines: Vec<&str> = body.split('\n').collect();
    for line in &lines[..lines.len() - 1] {
        assert!((39..=79).contains(&line.len()), "{line:?}");
        assert!(!line.starts_with(' ') && !line.ends_with(' ') && !line.contains("  "));
    }

    // encoding=identity is the default spelled out; chunk_size only changes the frames.
    let resp = get(addr, "/text/70000?encoding=identity&chunk_size=1000").await;
    assert_eq!(header(&resp, "content-length"), Some("70000"));
    assert_eq!(body_of(resp).await[..], text(0, 70_000)[..]);

    let resp = get(addr, "/text/0").await;
    assert_eq!(header(&resp, "content-length"), Some("0"));
    assert!(body_of(resp).await.is_empty());

    assert_head_declares_16_gib(addr, "/text/17179869184").await;
}

#[tokio::test]
async fn compressed_text_decodes_to_text_bytes() {
    let addr = start().await;
    let n = 1 << 20;
    for encoding in ["gzip", "deflate", "br"] {
        let resp = get(addr, &format!("/text/{n}?encoding={encoding}")).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(header(&resp, "content-encoding"), Some(encoding));
        assert_eq!(header(&resp, "content-length"), None, "{encoding}");
        assert_eq!(
            header(&resp, "content-type"),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(header(&resp, "vary"), Some("Accept-Encoding"));
        let body = body_of(resp).await;
        // Whole-body decoders, independent of the streaming ones used below.
        let mut plain = Vec::new();
        match encoding {
            "gzip" => flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut plain)
                .unwrap(),
            "deflate" => flate2::read::ZlibDecoder::new(&body[..])
                .read_to_end(&mut plain)
                .unwrap(),
            _ => brotli::Decompressor::new(&body[..], 4096)
                .read_to_end(&mut plain)
                .unwrap(),
        };
        assert_eq!(plain.len(), n, "{encoding}");
        assert!(plain == text(0, n), "{encoding}: content differs");
        // It is really compressed, yet fast settings: English-like text shrinks 2-5x.
        assert!(body.len() < n / 2, "{encoding}: {} bytes", body.len());

        // An empty body is still a complete stream.
        let resp = get(addr, &format!("/text/0?encoding={encoding}")).await;
        let mut decoder = Decoder::new(encoding);
        decoder.write(&body_of(resp).await);
        assert_eq!(decoder.finish(), 0, "{encoding}");
    }

    // Small frames: chunked framing, every chunk at most what K plain bytes compress to,
    // and a clean end.
    let raw = raw(addr, &raw_get("/text/200000?encoding=gzip&chunk_size=1000")).await;
    let (head, body) = split_head(&raw);
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    assert!(head.contains("content-encoding: gzip"), "{head}");
    let chunks = dechunk(body);
    assert!(chunks.complete);
    assert!(chunks.sizes.len() > 1, "{:?}", chunks.sizes);
    assert_eq!(gunzip(&chunks.data).as_bytes(), text(0, 200_000));
}

/// Sends a GET over a raw socket and returns the response head and the first chunk of a
/// chunked body, then hangs up, so the origin stops producing the rest.
async fn first_chunk(addr: SocketAddr, path: &str) -> (String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(raw_get(path).as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before the first chunk");
        got.extend_from_slice(&buf[..n]);
        let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let body = &got[end + 4..];
        let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") else {
            continue;
        };
        let size = std::str::from_utf8(&body[..line_end]).unwrap();
        let size = usize::from_str_radix(size, 16).unwrap();
        if body.len() >= line_end + 2 + size {
            let (head, _) = split_head(&got);
            return (head, body[line_end + 2..line_end + 2 + size].to_vec());
        }
    }
}

// Multi-threaded so the client is not starved while the origin compresses on the same
// thread into the socket buffer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_text_starts_promptly_with_a_decodable_frame() {
    let addr = start().await;
    for encoding in ["gzip", "deflate", "br"] {
        // 16 GiB: producing anything like all of it first would take minutes.
        let asked = Instant::now();
        let (head, first) =
            first_chunk(addr, &format!("/text/17179869184?encoding={encoding}")).await;
        let took = asked.elapsed();
        assert!(
            head.contains(&format!("content-encoding: {encoding}")),
            "{head}"
        );
        // Seconds, not minutes: a generous bound, since the helpers and builds that share
        // this machine's two cores have delayed a first frame past half a second.
        assert!(took < Duration::from_secs(5), "{encoding}: {took:?}");
        // The first frame is the first 4 KiB of text, compressed and flushed, so it decodes
        // to exactly that on its own.
        assert!(
            first.len() < 4096,
            "{encoding}: first frame {}",
            first.len()
        );
        let mut decoder = Decoder::new(encoding);
        decoder.write(&first);
        assert_eq!(decoder.decoded(), 4096, "{encoding}");
    }
}

/// The origin binary on a free port, killed when dropped so a failing test leaves no
/// process behind.
struct OriginProcess {
    child: std::process::Child,
    addr: SocketAddr,
}

impl OriginProcess {
    fn spawn() -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_origin"))
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim_end()
            .strip_prefix("origin listening on http://")
            .unwrap_or_else(|| panic!("unexpected line {line:?}"))
            .parse()
            .unwrap();
        OriginProcess { child, addr }
    }

    /// A `kB` field of /proc/PID/status, in bytes: VmRSS now, VmHWM at its peak.
    fn memory(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no {field} in {status}"))
            << 10
    }
}

impl OriginProcess {
    /// User plus system CPU time the origin has used so far.
    fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // SAFETY: sysconf only reads a configuration value.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        ticks as f64 / hz as f64
    }
}

impl Drop for OriginProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// 256 MiB of text, brotli-compressed on the fly by the origin binary, decoded on the fly
/// and compared with `text_bytes` as it arrives. The origin runs in its own process so its
/// peak memory can be read on its own: it must stay far below the ~80 MiB the compressed
/// body (let alone the 256 MiB plain one) would take if it were buffered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_256_mib_brotli_text_streams_in_constant_memory() {
    let origin = OriginProcess::spawn();
    let idle = origin.memory("VmRSS");
    let n: u64 = 256 << 20;
    let started = Instant::now();
    let resp = get(origin.addr, &format!("/text/{n}?encoding=br")).await;
    assert_eq!(header(&resp, "content-encoding"), Some("br"));
    let mut body = resp.into_body();
    let mut decoder = Decoder::new("br");
    let mut wire = 0u64;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            wire += data.len() as u64;
            decoder.write(&data);
        }
    }
    assert_eq!(decoder.finish(), n);
    let took = started.elapsed();
    let peak = origin.memory("VmHWM");
    eprintln!(
        "256 MiB of text as br: {wire} bytes on the wire in {took:?}; origin RSS {} MiB idle, {} MiB peak",
        idle >> 20,
        peak >> 20
    );
    assert!(wire < n / 2, "{wire}");
    assert!(
        peak < idle + (32 << 20),
        "origin memory grew from {} to {} MiB",
        idle >> 20,
        peak >> 20
    );
    // About 4 s on an idle 2-core machine; the bound only catches a pathological slowdown.
    assert!(took < Duration::from_secs(30), "{took:?}");
}

/// `cargo test --release --test origin -- --ignored --nocapture text_throughput`: how
/// fast the origin binary serves 1 GiB of /text per encoding. The client only counts the
/// bytes; besides wall-clock speed it reports plain bytes per second of the origin's own
/// CPU time, which a busy machine distorts much less.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn text_throughput() {
    let origin = OriginProcess::spawn();
    let n: u64 = 1 << 30;
    for encoding in ["identity", "gzip", "deflate", "br"] {
        let cpu_before = origin.cpu_seconds();
        let started = Instant::now();
        let resp = get(origin.addr, &format!("/text/{n}?encoding={encoding}")).await;
        let mut body = resp.into_body();
        let mut wire = 0u64;
        while let Some(frame) = body.frame().await {
            wire += frame.unwrap().into_data().map_or(0, |d| d.len() as u64);
        }
        let secs = started.elapsed().as_secs_f64();
        let cpu = origin.cpu_seconds() - cpu_before;
        eprintln!(
            "{encoding:>8}: 1 GiB in {secs:.2} s = {:.0} MB/s wall, {:.0} MB/s per origin CPU second; {wire} bytes on the wire (ratio {:.2})",
            n as f64 / secs / 1e6,
            n as f64 / cpu / 1e6,
            n as f64 / wire as f64
        );
    }
}

#[tokio::test]
async fn status_answers_the_code_asked_for() {
    let addr = start().await;
    let resp = get(addr, "/status/204").await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(body_of(resp).await.is_empty());

    let resp = get(addr, "/status/418").await;
    assert_eq!(resp.status(), StatusCode::IM_A_TEAPOT);
    assert!(String::from_utf8_lossy(&body_of(resp).await).starts_with("418"));

    for bad in ["/status/600", "/status/150", "/status/abc", "/status/-1"] {
        let resp = get(addr, bad).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert!(String::from_utf8_lossy(&body_of(resp).await).contains("code"));
    }
}

#[tokio::test]
async fn bad_numbers_are_400_naming_the_parameter() {
    let addr = start().await;
    for (path, param) in [
        ("/bytes/abc", "n must"),
        ("/bytes/17179869185", "n must"),
        ("/stream-bytes/10?chunk_size=0", "chunk_size"),
        ("/reset/-5", "n must"),
        ("/drip?duration=nope", "duration"),
        ("/drip?numbytes=1.5", "numbytes"),
        ("/drip?delay=inf", "delay"),
        ("/delay/NaN", "seconds"),
        ("/sse?events=-1", "events"),
        ("/html?interval_ms=x", "interval_ms"),
        ("/html?encoding=zstd", "encoding"),
        ("/text/abc", "n must"),
        ("/text/17179869185", "n must"),
        ("/text/10?chunk_size=0", "chunk_size"),
        ("/text/10?chunk_size=99999999999", "chunk_size"),
        ("/text/10?encoding=zstd", "encoding"),
        ("/text/10?encoding=GZIP", "encoding"),
    ] {
        let resp = get(addr, path).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(header(&resp, "server"), Some(origin::SERVER_NAME));
        let text = String::from_utf8(body_of(resp).await.to_vec()).unwrap();
        assert!(text.contains(param), "{path}: {text}");
    }
}

#[tokio::test]
async fn unknown_paths_are_404_and_other_methods_405() {
    let addr = start().await;
    for path in ["/", "/nope", "/bytes", "/bytes/10/extra", "/html/x"] {
        let resp = get(addr, path).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(header(&resp, "server"), Some(origin::SERVER_NAME));
    }
    let mut conn = connect(addr).await;
    let resp = send(&mut conn, Method::POST, "/bytes/10", b"x").await;
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header(&resp, "allow"), Some("GET, HEAD"));
}

#[tokio::test]
async fn headers_and_anything_echo_the_request() {
    let addr = start().await;
    let raw = raw(
        addr,
        "GET /headers HTTP/1.1\r\nHost: origin.test\r\nX-Dup: a\r\nX-Dup: b\r\nConnection: close\r\n\r\n",
    )
    .await;
    let (_, body) = split_head(&raw);
    let json: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(json["x-dup"], "a, b");
    assert_eq!(json["host"], "origin.test");

    let mut conn = connect(addr).await;
    let resp = send(
        &mut conn,
        Method::PUT,
        "/anything/a/b?x=1&y=caf%C3%A9",
        b"hello",
    )
    .await;
    let json: serde_json::Value = serde_json::from_slice(&body_of(resp).await).unwrap();
    assert_eq!(json["method"], "PUT");
    assert_eq!(json["path"], "/anything/a/b");
    assert_eq!(json["query"], "x=1&y=caf%C3%A9");
    assert_eq!(json["args"]["y"], "café");
    assert_eq!(json["headers"]["host"], "origin.test");
    assert_eq!(json["body_bytes"], 5);
}

#[tokio::test]
async fn response_headers_sends_hop_by_hop_headers_verbatim() {
    let addr = start().await;
    let raw = raw(
        addr,
        &raw_get("/response-headers?Connection=x-foo&X-Foo=1&Keep-Alive=timeout%3D5&Upgrade=h2c&Proxy-Foo=1&Trailer=X"),
    )
    .await;
    let (head, body) = split_head(&raw);
    for line in [
        "connection: x-foo",
        "x-foo: 1",
        "keep-alive: timeout=5",
        "upgrade: h2c",
        "proxy-foo: 1",
        "trailer: x",
    ] {
        assert!(head.contains(line), "{line} missing from {head}");
    }
    assert_eq!(body, b"ok");

    let resp = get(addr, "/response-headers?Content-Length=5").await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn keep_alive_and_delay() {
    let addr = start().await;
    let mut conn = connect(addr).await;
    // Several requests, each waiting for the previous body, on one connection.
    for n in [10, 70_000, 0] {
        let resp = send(&mut conn, Method::GET, &format!("/bytes/{n}"), b"").await;
        assert_eq!(body_of(resp).await.len(), n);
    }
    let asked = Instant::now();
    let resp = send(&mut conn, Method::GET, "/delay/0.3", b"").await;
    assert!(asked.elapsed() >= Duration::from_millis(280));
    let json: serde_json::Value = serde_json::from_slice(&body_of(resp).await).unwrap();
    assert_eq!(json["delay"], 0.3);

    let req = Request::head("/bytes/5")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(header(&resp, "content-length"), Some("5"));
    assert!(body_of(resp).await.is_empty());
}

#[test]
fn binary_announces_its_address_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_origin"))
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim_end()
        .strip_prefix("origin listening on http://")
        .unwrap_or_else(|| panic!("unexpected line {line:?}"));
    let addr: SocketAddr = addr.parse().unwrap();
    assert_ne!(addr.port(), 0);

    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    std::io::Write::write_all(&mut stream, raw_get("/bytes/3").as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let (head, body) = split_head(&response);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(body, pattern(0, 3));

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn binary_explains_an_address_it_cannot_bind() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_origin"))
        .args(["--listen", &addr])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot listen on"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.stdout.is_empty());
}

/// The deterministic resources carry validators and answer 304 to a conditional request
/// that matches, so a cache in front can revalidate them without their body.
#[tokio::test]
async fn deterministic_resources_revalidate() {
    let addr = start().await;
    for path in [
        "/bytes/1000",
        "/text/1000?encoding=gzip",
        "/html",
        "/stream-bytes/100",
    ] {
        let resp = get(addr, path).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let etag = header(&resp, "etag").expect("an ETag").to_string();
        assert_eq!(
            header(&resp, "last-modified"),
            Some("Sat, 05 Dec 2026 00:00:00 GMT")
        );
        let conditional = |name: &'static str, value: String| {
            let path = path.to_string();
            async move {
                let req = Request::builder()
                    .uri(path)
                    .header("host", "origin.test")
                    .header(name, value)
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                connect(addr).await.send_request(req).await.unwrap()
            }
        };
        let nm = conditional("if-none-match", format!("W/{etag}")).await;
        assert_eq!(nm.status(), StatusCode::NOT_MODIFIED, "{path}");
        assert_eq!(header(&nm, "etag"), Some(etag.as_str()));
        assert!(body_of(nm).await.is_empty());
        let since = conditional("if-modified-since", "Sun, 06 Dec 2026 00:00:00 GMT".into()).await;
        assert_eq!(since.status(), StatusCode::NOT_MODIFIED, "{path}");
        let other = conditional("if-none-match", "\"other\"".into()).await;
        assert_eq!(other.status(), StatusCode::OK, "{path}");
    }
    assert_ne!(
        header(&get(addr, "/text/10").await, "etag"),
        header(&get(addr, "/text/10?encoding=gzip").await, "etag"),
        "each representation its own tag"
    );
    let no_cache = get(addr, "/bytes/10?cache_control=no-cache").await;
    assert_eq!(header(&no_cache, "cache-control"), Some("no-cache"));
    assert!(header(&get(addr, "/drip?numbytes=1&duration=0").await, "etag").is_none());
}
