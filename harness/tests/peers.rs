//! The peer origins send what they claim, read off the socket with a raw TCP client (no
//! HTTP library in between to fix or hide anything). nginx and httpbin are skipped, with a
//! `SKIP:` line, where they are not installed; `FIRSTBYTE_REQUIRE_PEERS=1` fails instead.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use firstbyte_harness::peers::{
    misbehaving_dictionary, misbehaving_document, misbehaving_response, misbehaving_text,
    static_file, static_files, Httpbin, Misbehaving, NginxStatic, BIG_TXT_LEN, GZIP_TYPES,
    MISBEHAVING_SERVER,
};

/// What a raw exchange got: every byte read, and how reading ended if not by a clean EOF.
struct Raw {
    bytes: Vec<u8>,
    error: Option<ErrorKind>,
}

impl Raw {
    fn head_len(&self) -> usize {
        self.bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(self.bytes.len(), |i| i + 4)
    }

    fn head(&self) -> String {
        String::from_utf8_lossy(&self.bytes[..self.head_len()]).into_owned()
    }

    fn body(&self) -> &[u8] {
        &self.bytes[self.head_len()..]
    }

    fn status(&self) -> u16 {
        self.head()
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// The first header `name`'s value, case-insensitively.
    fn header(&self, name: &str) -> Option<String> {
        self.head().lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    /// The body, de-chunked when the response says chunked.
    fn payload(&self) -> Vec<u8> {
        if self.header("Transfer-Encoding").as_deref() == Some("chunked") {
            dechunk(self.body()).0
        } else {
            self.body().to_vec()
        }
    }
}

/// Sends `request` as it is and reads until EOF, an error or 10 s of silence.
fn exchange(addr: SocketAddr, request: &[u8]) -> Raw {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(request).expect("send request");
    let mut bytes = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Raw { bytes, error: None },
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) => {
                return Raw {
                    bytes,
                    error: Some(e.kind()),
                }
            }
        }
    }
}

/// `GET target` with `Connection: close` and the extra header lines given.
fn get(addr: SocketAddr, target: &str, headers: &[&str]) -> Raw {
    let mut request = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for h in headers {
        request.push_str(h);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    exchange(addr, request.as_bytes())
}

/// A chunked body's data, and whether it ended with the zero-size chunk.
fn dechunk(mut body: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    loop {
        let Some(eol) = body.windows(2).position(|w| w == b"\r\n") else {
            return (out, false);
        };
        let size_text = String::from_utf8_lossy(&body[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .expect("chunk size");
        body = &body[eol + 2..];
        if size == 0 {
            return (out, true);
        }
        let take = size.min(body.len());
        out.extend_from_slice(&body[..take]);
        if body.len() < size + 2 {
            return (out, false);
        }
        body = &body[size + 2..];
    }
}

fn decode(coding: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match coding {
        "gzip" => flate2::read::GzDecoder::new(body).read_to_end(&mut out),
        "deflate" => flate2::read::ZlibDecoder::new(body).read_to_end(&mut out),
        "br" => brotli::Decompressor::new(body, 4096).read_to_end(&mut out),
        other => panic!("no decoder for {other}"),
    }
    .unwrap_or_else(|e| panic!("{coding} body does not decode: {e}"));
    out
}

fn skip(what: &str, test: &str) {
    if std::env::var_os("FIRSTBYTE_REQUIRE_PEERS").is_some_and(|v| v == "1") {
        panic!("{what} is not installed and FIRSTBYTE_REQUIRE_PEERS=1 ({test})");
    }
    eprintln!("SKIP: {what} is not installed (make tools installs it): {test} did not run");
}

fn closes_soon(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(addr).is_ok() {
        assert!(Instant::now() < deadline, "{addr} still accepts after drop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---- nginx ----

fn nginx(test: &str) -> Option<NginxStatic> {
    let nginx = NginxStatic::start().expect("nginx starts");
    if nginx.is_none() {
        skip("nginx", test);
    }
    nginx
}

#[test]
fn nginx_serves_every_file_byte_for_byte_with_validators() {
    let Some(nginx) = nginx("nginx_serves_every_file_byte_for_byte_with_validators") else {
        return;
    };
    for file in static_files() {
        let raw = get(nginx.addr, file.path, &[]);
        assert_eq!(raw.status(), 200, "{}: {}", file.path, nginx.logs());
        assert_eq!(
            raw.header("Content-Type").as_deref(),
            Some(file.content_type)
        );
        assert_eq!(raw.header("Content-Encoding"), None, "{}", file.path);
        assert_eq!(raw.payload(), file.bytes, "{}", file.path);
        assert!(raw.header("ETag").is_some(), "{}", raw.head());
        assert_eq!(
            raw.header("Last-Modified").as_deref(),
            Some("Mon, 01 Jan 2024 00:00:00 GMT")
        );
        assert_eq!(raw.header("Accept-Ranges").as_deref(), Some("bytes"));
    }
    // `/` is the index page.
    let index = static_file("/index.html").expect("index");
    assert_eq!(get(nginx.addr, "/", &[]).payload(), index.bytes);
}

#[test]
fn nginx_gzips_text_types_with_vary_only_when_asked() {
    let Some(nginx) = nginx("nginx_gzips_text_types_with_vary_only_when_asked") else {
        return;
    };
    for file in static_files().iter().filter(|f| f.path != "/404.html") {
        let gzippable = file.content_type == "text/html" || GZIP_TYPES.contains(&file.content_type);
        // Via: the request came through a proxy, which `gzip_proxied any` still serves.
        let asked = get(
            nginx.addr,
            file.path,
            &["Accept-Encoding: gzip, br", "Via: 1.1 edge"],
        );
        assert_eq!(asked.status(), 200, "{}", file.path);
        if gzippable {
            assert_eq!(asked.header("Content-Encoding").as_deref(), Some("gzip"));
            assert_eq!(
                asked.header("Vary").as_deref(),
                Some("Accept-Encoding"),
                "{}",
                file.path
            );
            assert_eq!(
                decode("gzip", &asked.payload()),
                file.bytes,
                "{}",
                file.path
            );
            assert!(asked.payload().len() < file.bytes.len(), "{}", file.path);
        } else {
            assert_eq!(asked.header("Content-Encoding"), None, "{}", file.path);
            assert_eq!(asked.payload(), file.bytes);
        }
        let not_asked = get(nginx.addr, file.path, &["Accept-Encoding: identity"]);
        assert_eq!(not_asked.header("Content-Encoding"), None, "{}", file.path);
        assert_eq!(not_asked.payload(), file.bytes, "{}", file.path);
    }
}

#[test]
fn nginx_answers_ranges_conditionals_204_and_its_404_page() {
    let Some(nginx) = nginx("nginx_answers_ranges_conditionals_204_and_its_404_page") else {
        return;
    };
    let big = &static_file("/big.txt").expect("big").bytes;
    let range = get(nginx.addr, "/big.txt", &["Range: bytes=1000-1099"]);
    assert_eq!(range.status(), 206, "{}", range.head());
    assert_eq!(
        range.header("Content-Range"),
        Some(format!("bytes 1000-1099/{BIG_TXT_LEN}"))
    );
    assert_eq!(range.payload(), big[1000..1100]);
    let suffix = get(nginx.addr, "/big.txt", &["Range: bytes=-10"]);
    assert_eq!(suffix.status(), 206);
    assert_eq!(suffix.payload(), big[BIG_TXT_LEN - 10..]);

    let etag = get(nginx.addr, "/style.css", &[])
        .header("ETag")
        .expect("ETag");
    let not_modified = get(
        nginx.addr,
        "/style.css",
        &[&format!("If-None-Match: {etag}")],
    );
    assert_eq!(not_modified.status(), 304, "{}", not_modified.head());
    assert!(not_modified.body().is_empty());
    let stale = get(nginx.addr, "/style.css", &["If-None-Match: \"other\""]);
    assert_eq!(stale.status(), 200);

    let no_content = get(nginx.addr, "/no-content", &[]);
    assert_eq!(no_content.status(), 204, "{}", no_content.head());
    assert!(no_content.body().is_empty());

    let missing = get(nginx.addr, "/nowhere.html", &[]);
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.header("Content-Type").as_deref(), Some("text/html"));
    assert_eq!(
        missing.payload(),
        static_file("/404.html").expect("404 page").bytes
    );
}

#[test]
fn nginx_static_stops_and_cleans_up_on_drop() {
    let Some(nginx) = nginx("nginx_static_stops_and_cleans_up_on_drop") else {
        return;
    };
    let (addr, docroot) = (nginx.addr, nginx.docroot());
    assert!(docroot.join("image.png").exists());
    // The generated config is clean: no "duplicate MIME type" or similar warnings.
    assert_eq!(nginx.logs(), "(nginx wrote nothing)");
    drop(nginx);
    assert!(!docroot.exists(), "{} is removed", docroot.display());
    closes_soon(addr);
}

// ---- httpbin ----

#[test]
fn httpbin_answers_get_gzip_and_bytes() {
    let Some(httpbin) = Httpbin::start().expect("httpbin starts") else {
        skip("httpbin", "httpbin_answers_get_gzip_and_bytes");
        return;
    };
    let got = get(httpbin.addr, "/get?x=1", &["X-Probe: peers"]);
    assert_eq!(got.status(), 200, "{}", httpbin.logs());
    let json: serde_json::Value = serde_json::from_slice(&got.payload()).expect("JSON");
    assert_eq!(json["args"]["x"], "1");
    assert_eq!(json["headers"]["X-Probe"], "peers");

    let gzip = get(httpbin.addr, "/gzip", &[]);
    assert_eq!(gzip.status(), 200);
    assert_eq!(gzip.header("Content-Encoding").as_deref(), Some("gzip"));
    let json: serde_json::Value =
        serde_json::from_slice(&decode("gzip", &gzip.payload())).expect("gzipped JSON");
    assert_eq!(json["gzipped"], true);

    let bytes = get(httpbin.addr, "/bytes/10", &[]);
    assert_eq!(bytes.status(), 200);
    assert_eq!(bytes.header("Content-Length").as_deref(), Some("10"));
    assert_eq!(bytes.payload().len(), 10);

    let addr = httpbin.addr;
    drop(httpbin);
    closes_soon(addr);
}

// ---- the misbehaving origin ----

/// Every deterministic case arrives exactly as `misbehaving_response` builds it.
#[test]
fn misbehaving_writes_exactly_its_canned_bytes() {
    let origin = Misbehaving::start().expect("misbehaving origin");
    for target in [
        "/conflict",
        "/conflict?bytes=1000&type=text/html",
        "/forced/gzip?type=text/html",
        "/forced/deflate",
        "/forced/br?type=application/json",
        "/forced/zstd",
        "/forced/dcb?type=text/html",
        "/odd-headers",
        "/no-transform?type=text/html",
        "/no-transform?type=text/html&encoding=gzip",
        "/always-206",
        "/cut/head",
        "/cut/after-head",
        "/cut/length",
        "/cut/chunked",
        "/cut/chunk-mid",
        "/long",
        "/status/503?type=application/json&encoding=br",
        "/status/204",
        "/nowhere",
        "/status/9000",
    ] {
        let raw = get(origin.addr, target, &["Accept-Encoding: identity"]);
        let canned = misbehaving_response(target);
        assert_eq!(raw.error, None, "{target}");
        assert!(raw.bytes == canned.wire, "{target}: {}", raw.head());
    }
}

#[test]
fn conflict_sends_both_framings_and_a_correct_chunked_body() {
    let origin = Misbehaving::start().expect("misbehaving origin");
    let raw = get(origin.addr, "/conflict", &[]);
    let head = raw.head();
    assert!(head.contains("\r\nContent-Length: 100\r\n"), "{head}");
    assert!(
        head.contains("\r\nTransfer-Encoding: chunked\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\nContent-Type: text/plain\r\n"), "{head}");
    let (data, terminated) = dechunk(raw.body());
    assert!(terminated);
    assert_eq!(data, misbehaving_text(1 << 20));
}

#[test]
fn forced_codings_ignore_accept_encoding_and_send_no_vary() {
    let origin = Misbehaving::start().expect("misbehaving origin");
    for coding in ["gzip", "deflate", "br"] {
        let raw = get(
            origin.addr,
            &format!("/forced/{coding}?type=text%2Fhtml"),
            &["Accept-Encoding: identity"],
        );
        assert_eq!(raw.header("Content-Encoding").as_deref(), Some(coding));
        assert_eq!(raw.header("Vary"), None);
        assert_eq!(raw.header("Content-Type").as_deref(), Some("text/html"));
        assert_eq!(
            raw.header("Content-Length"),
            Some(raw.body().len().to_string())
        );
        let html = decode(coding, raw.body());
        assert_eq!(html, misbehaving_document("text/html"));
        let text = String::from_utf8_lossy(&html);
        assert!(
            text.contains("<head>") && text.contains("<body>") && text.contains("origin.example")
        );
    }
    let zstd = get(origin.addr, "/forced/zstd", &["Accept-Encoding: gzip"]);
    assert_eq!(zstd.header("Content-Encoding").as_deref(), Some("zstd"));
    assert!(zstd.body().starts_with(&[0x28, 0xb5, 0x2f, 0xfd]));
    let dcb = get(
        origin.addr,
        "/forced/dcb?type=text/html",
        &["Accept-Encoding: gzip"],
    );
    assert_eq!(dcb.header("Content-Encoding").as_deref(), Some("dcb"));
    assert_eq!(
        firstbyte_harness::dcb::decode(&misbehaving_dictionary(), dcb.body()),
        Ok(misbehaving_document("text/html")),
        "a dcb body made for the origin's own dictionary"
    );
}

#[test]
fn odd_headers_carry_bytes_that_are_not_utf8() {
    let origin = Misbehaving::start().expect("misbehaving origin");
    let raw = get(origin.addr, "/odd-headers", &[]);
    let head = &raw.bytes[..raw.head_len()];
    assert!(std::str::from_utf8(head).is_err());
    for line in [
        &b"\r\nX-Odd: caf\xe9\r\n"[..],
        b"\r\nContent-Type: text/html; charset=\xff\r\n",
        b"\r\nETag: \"\xfe\"\r\n",
        b"\r\nVary: Accept-Encoding, X-\xff\r\n",
    ] {
        assert!(head.windows(line.len()).any(|w| w == line), "{line:?}");
    }
    assert_eq!(raw.body(), misbehaving_document("text/html"));
}

#[test]
fn no_transform_and_always_206() {
    let origin = Misbehaving::start().expect("misbehaving origin");
    let raw = get(
        origin.addr,
        "/no-transform?type=text/html&encoding=gzip",
        &[],
    );
    assert_eq!(raw.header("Cache-Control").as_deref(), Some("no-transform"));
    assert_eq!(raw.header("Content-Encoding").as_deref(), Some("gzip"));
    assert_eq!(
        decode("gzip", raw.body()),
        misbehaving_document("text/html")
    );

    for range in [None, Some("Range: bytes=0-9"), Some("Range: bytes=500-")] {
        let raw = get(origin.addr, "/always-206", range.as_slice());
        assert_eq!(raw.status(), 206);
        assert_eq!(
            raw.header("Content-Range").as_deref(),
            Some("bytes 100-199/1000")
        );
        assert_eq!(raw.body(), &misbehaving_text(1000)[100..200]);
    }
}

#[test]
fn cuts_end_the_connection_where_they_say() {
    let origin = Misbehaving::start().expect("misbehaving origin");
    let text = misbehaving_text(10_000);

    let head = get(origin.addr, "/cut/head", &[]);
    assert!(!head.bytes.windows(4).any(|w| w == b"\r\n\r\n"));
    assert!(head.bytes.ends_with(b"\r\nContent-Le"));

    let after_head = get(origin.addr, "/cut/after-head", &[]);
    assert_eq!(
        after_head.header("Content-Length").as_deref(),
        Some("10000")
    );
    assert!(after_head.body().is_empty());

    let length = get(origin.addr, "/cut/length", &[]);
    assert_eq!(length.header("Content-Length").as_deref(), Some("10000"));
    assert_eq!(length.body(), &text[..4000]);
    assert_eq!(length.error, None, "closed cleanly");

    let chunked = get(origin.addr, "/cut/chunked", &[]);
    let (data, terminated) = dechunk(chunked.body());
    assert!(!terminated, "no zero-size chunk");
    assert!(!chunked.bytes.ends_with(b"0\r\n\r\n"));
    assert_eq!(data, text[..4000]);

    let mid = get(origin.addr, "/cut/chunk-mid", &[]);
    assert!(mid.body().ends_with(&text[2000..2500]));
    let (data, terminated) = dechunk(mid.body());
    assert!(!terminated);
    assert_eq!(data, text[..2500]);

    let reset = get(origin.addr, "/cut/reset", &[]);
    assert_eq!(reset.error, Some(ErrorKind::ConnectionReset));
    let wire = misbehaving_response("/cut/reset").wire;
    assert!(
        wire.starts_with(&reset.bytes),
        "a prefix of what was written"
    );
    assert_eq!(
        reset.body(),
        &text[..4000],
        "the bytes before the RST arrive"
    );

    let long = get(origin.addr, "/long", &[]);
    assert_eq!(long.header("Content-Length").as_deref(), Some("100"));
    assert_eq!(long.body(), misbehaving_text(200));
}

#[test]
fn stall_goes_silent_after_ten_bytes() {
    let origin = Misbehaving::start().expect("misbehaving origin");
    let mut stream = TcpStream::connect(origin.addr).expect("connect");
    stream
        .write_all(b"GET /stall HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    let canned = misbehaving_response("/stall");
    let mut got = vec![0u8; canned.wire.len()];
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    stream.read_exact(&mut got).expect("head and 10 bytes");
    assert_eq!(got, canned.wire);
    assert!(String::from_utf8_lossy(&got).contains("\r\nContent-Length: 1000\r\n"));
    stream
        .set_read_timeout(Some(Duration::from_millis(700)))
        .expect("timeout");
    let mut more = [0u8; 16];
    let silent = stream.read(&mut more).map_err(|e| e.kind());
    assert!(
        matches!(silent, Err(ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "{silent:?}"
    );
}

#[test]
fn misbehaving_records_what_it_was_sent() {
    let origin = Misbehaving::start().expect("misbehaving origin");
    let raw = get(
        origin.addr,
        "/status/418?type=text/html&encoding=gzip",
        &["Range: bytes=0-9", "Accept-Encoding: br"],
    );
    assert_eq!(raw.status(), 418);
    assert_eq!(raw.header("Server").as_deref(), Some(MISBEHAVING_SERVER));
    assert_eq!(raw.header("Content-Encoding").as_deref(), Some("gzip"));
    assert_eq!(
        decode("gzip", raw.body()),
        misbehaving_document("text/html")
    );
    // An absolute-form target routes like its path.
    let absolute = get(origin.addr, "http://origin.example/status/201", &[]);
    assert_eq!(absolute.status(), 201);

    let requests = origin.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(requests[0].starts_with("GET /status/418?type=text/html&encoding=gzip HTTP/1.1\r\n"));
    assert!(requests[0].contains("\r\nRange: bytes=0-9"));
    assert!(
        requests[0].ends_with("\r\nAccept-Encoding: br"),
        "{}",
        requests[0]
    );
    assert!(requests[1].starts_with("GET http://origin.example/status/201 "));

    let addr = origin.addr;
    drop(origin);
    closes_soon(addr);
}
