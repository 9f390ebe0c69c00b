//! What the soak sends and what it accepts back: one table, one row per kind of request,
//! and the judge that holds a response against its row.

use std::io::Read;

use crate::origin::pattern_bytes;

/// In a row's statuses: a connection that closed without any response is acceptable.
pub const NO_RESPONSE: u16 = 0;

/// One kind of request and what it must get back.
#[derive(Debug)]
pub struct Case {
    pub name: &'static str,
    pub send: Sending,
    /// Statuses that pass ([`NO_RESPONSE`] where Viceroy may just close the connection).
    pub statuses: &'static [u16],
    /// What a 2xx body must be; other statuses need only a body that ends cleanly.
    pub body: Body,
    /// Times it appears in each round of the deck the clients deal from.
    pub weight: u32,
}

#[derive(Debug)]
pub enum Sending {
    /// An ordinary request on a kept-alive connection.
    Http {
        method: &'static str,
        path: &'static str,
        headers: Headers,
        read: Reading,
    },
    /// Bytes written as they are on a fresh TCP connection: requests hyper would never send.
    Raw(Raw),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// As fast as it arrives.
    Whole,
    /// Frame by frame with a pause after each, so the server meets back-pressure.
    Slowly,
    /// Until this many bytes have arrived, then the connection is dropped.
    HangUpAfter(usize),
}

#[derive(Debug)]
pub enum Raw {
    Bytes(&'static [u8]),
    /// A request whose one header value is this many bytes long.
    LongHeader(usize),
}

impl Raw {
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Raw::Bytes(bytes) => bytes.to_vec(),
            Raw::LongHeader(len) => {
                let mut request = b"GET / HTTP/1.1\r\nHost: soak\r\nX-Long: ".to_vec();
                request.resize(request.len() + len, b'a');
                request.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
                request
            }
        }
    }
}

/// Who made the bytes of a body, so every byte of it can be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The dev origin's `/bytes`, `/stream-bytes` and `/reset` pattern.
    Origin,
    /// firstbyte's generator, `type=bin`: byte `i` is `i % 256`.
    Generator,
}

impl Source {
    /// Whether `data` is what the source has at `offset..`.
    pub fn matches(self, offset: u64, data: &[u8]) -> bool {
        match self {
            Source::Origin => {
                let mut expected = vec![0u8; data.len()];
                pattern_bytes(offset, &mut expected);
                expected == data
            }
            Source::Generator => data.iter().zip(offset..).all(|(&byte, i)| byte == i as u8),
        }
    }
}

#[derive(Debug)]
pub enum Body {
    /// Anything, as long as it ends cleanly.
    Any,
    /// HEAD: no body, and, where given, the length a GET would have had.
    Head {
        len: Option<u64>,
    },
    /// `len` bytes of `from`; with a range, a 206 carries just `first..=last` of them.
    Bytes {
        from: Source,
        len: u64,
        range: Option<(u64, u64)>,
    },
    Contains(&'static str),
    /// The demo route's rewritten page, in the coding asked for (`None`: identity).
    DemoHtml {
        coding: Option<&'static str>,
    },
    /// An event stream of `count` events, rewritten by the events route.
    Events {
        count: usize,
    },
    /// Must break off before its end (the origin cuts or stalls it): a clean end would tell
    /// the client it has everything. What arrived must be `from`'s first bytes.
    Cut {
        from: Option<Source>,
        at_most: u64,
    },
}

/// What the demo route puts into every page (fastly.toml, route.demo.html).
pub const DEMO_BANNER: &str = "Rewritten at the edge by firstbyte";

const BIG: u64 = 8 << 20;
const CUT_BY_ORIGIN: &[u16] = &[200, NO_RESPONSE];
const HANG_UP: Reading = Reading::HangUpAfter(128 << 10);
type Headers = &'static [(&'static str, &'static str)];
const GZIP: Headers = &[("accept-encoding", "gzip")];
const BR: Headers = &[("accept-encoding", "br")];
const RANGE_100_199: Headers = &[("range", "bytes=100-199")];
const RANGE_0_9: Headers = &[("range", "bytes=0-9")];

/// Every request the soak makes. Weights are per round of the deck, so the first round,
/// which is among the first 100 requests Viceroy sees, holds every row once: the heap
/// baseline then covers every kind of request.
pub const CASES: &[Case] = &[
    // Made by the app itself.
    get(
        "home",
        "/",
        &[200],
        Body::Contains("firstbyte is running"),
        2,
    ),
    // The home page's HEAD declares no length (a server may leave it out); only no body.
    head("home HEAD", "/", None, 1),
    get(
        "gen",
        "/_fb/gen?bytes=100000",
        &[200],
        generated(100_000),
        3,
    ),
    get("gen bad query", "/_fb/gen?bytes=ten", &[400], Body::Any, 1),
    // Proxied untouched (the host appends the body).
    get(
        "origin bytes",
        "/origin/bytes/65536",
        &[200],
        origin(65_536),
        4,
    ),
    get(
        "origin 1 MiB",
        "/origin/bytes/1048576",
        &[200],
        origin(1 << 20),
        1,
    ),
    get(
        "origin stream-bytes",
        "/origin/stream-bytes/300000",
        &[200],
        origin(300_000),
        3,
    ),
    head("origin HEAD", "/origin/bytes/100000", Some(100_000), 1),
    Case {
        name: "origin Range",
        send: http("GET", "/origin/bytes/100000", RANGE_100_199, Reading::Whole),
        statuses: &[200, 206],
        body: Body::Bytes {
            from: Source::Origin,
            len: 100_000,
            range: Some((100, 199)),
        },
        weight: 1,
    },
    Case {
        name: "gen Range",
        send: http("GET", "/_fb/gen?bytes=100000", RANGE_0_9, Reading::Whole),
        statuses: &[200, 206],
        body: Body::Bytes {
            from: Source::Generator,
            len: 100_000,
            range: Some((0, 9)),
        },
        weight: 1,
    },
    Case {
        name: "origin gzip",
        send: http("GET", "/origin/gzip", GZIP, Reading::Whole),
        statuses: &[200],
        body: Body::Any,
        weight: 1,
    },
    // Transformed: HTML rewritten and re-encoded, events rewritten.
    demo("demo identity", &[], None, Reading::Whole, 2),
    demo("demo gzip", GZIP, Some("gzip"), Reading::Whole, 2),
    demo("demo br", BR, Some("br"), Reading::Whole, 2),
    get(
        "events",
        "/events/sse?events=3&interval_ms=20",
        &[200],
        events(3),
        2,
    ),
    // The edge cache: a miss fills, concurrent clients collapse onto it, then hits.
    get(
        "cached bytes",
        "/cached/bytes/65536",
        &[200],
        origin(65_536),
        2,
    ),
    get("cached html", "/cached/html", &[200], Body::Any, 2),
    // Pumped through the app byte by byte.
    get(
        "watched bytes",
        "/watched/bytes/65536",
        &[200],
        origin(65_536),
        3,
    ),
    // Backends that fail, are slow, or stall.
    get(
        "slow in time",
        "/slow/delay/0",
        &[200],
        Body::Contains("\"delay\""),
        2,
    ),
    get("slow 504", "/slow/delay/3", &[504], Body::Any, 1),
    // Two seconds between bytes against the route's 1.5 s between-bytes timeout (with
    // duration=3 they would come 1 s apart, inside the timeout, and never stall).
    get(
        "stall",
        "/stall/drip?numbytes=3&duration=6",
        &[200],
        cut(None, 3),
        1,
    ),
    get("dead 502", "/dead/x", &[502], Body::Any, 2),
    get("unknown 404", "/nowhere", &[404], Body::Any, 1),
    get("reserved 404", "/_fb/nothing", &[404], Body::Any, 1),
    // The origin cuts the body mid-way. When the whole body and the cut reach Viceroy before
    // its HTTP server has written anything, that server (hyper 0.14) drops the connection
    // with the response head still in its write buffer: the client gets no response at all
    // (about 3% of fresh /watched/reset requests, though the app had sent all 100000 bytes
    // and logged the abort). That is not a clean end either, so it passes.
    get(
        "origin reset",
        "/origin/reset/100000",
        CUT_BY_ORIGIN,
        reset(),
        2,
    ),
    get(
        "watched reset",
        "/watched/reset/100000",
        CUT_BY_ORIGIN,
        reset(),
        2,
    ),
    // Clients that read slowly, or hang up mid-body.
    reading(
        "slow reader origin",
        "/origin/bytes/262144",
        origin(262_144),
        Reading::Slowly,
    ),
    reading(
        "slow reader watched",
        "/watched/bytes/262144",
        origin(262_144),
        Reading::Slowly,
    ),
    demo("slow reader demo br", BR, Some("br"), Reading::Slowly, 1),
    reading(
        "hang-up origin",
        "/origin/bytes/8388608",
        origin(BIG),
        HANG_UP,
    ),
    reading(
        "hang-up watched",
        "/watched/bytes/8388608",
        origin(BIG),
        HANG_UP,
    ),
    reading(
        "hang-up gen",
        "/_fb/gen?bytes=8388608",
        generated(BIG),
        HANG_UP,
    ),
    // Malformed requests. hyper (inside Viceroy) refuses what it cannot parse with a 4xx
    // and closes; what it does parse reaches the app, which may refuse it with a 400.
    raw(
        "raw garbage request line",
        b"\x16\x03\x01\x00 NOT HTTP \xc0\r\n\r\n",
        &[400],
    ),
    // A header value that is not UTF-8: served as if the coding were unknown (200), or
    // refused (400); never a panic.
    raw(
        "raw Accept-Encoding 0xff",
        b"GET /demo/html?encoding=gzip HTTP/1.1\r\nHost: soak\r\n\
          Accept-Encoding: \xff\xfe\r\nConnection: close\r\n\r\n",
        &[200, 400],
    ),
    raw(
        "raw header without colon",
        b"GET / HTTP/1.1\r\nHost: soak\r\nNoColonHere\r\nConnection: close\r\n\r\n",
        &[400],
    ),
    Case {
        name: "raw over-long header",
        // Past hyper's 400 KiB read buffer: refused before the app (431 or 400).
        send: Sending::Raw(Raw::LongHeader(600 << 10)),
        statuses: &[400, 431],
        body: Body::Any,
        weight: 1,
    },
    // The head parses, so the app forwards the request; reading its body fails inside
    // Viceroy, which fails the backend request (502), unless it is refused first (400).
    raw(
        "raw bad chunk framing",
        b"POST /origin/anything HTTP/1.1\r\nHost: soak\r\nTransfer-Encoding: chunked\r\n\
          Connection: close\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        &[400, 502],
    ),
    // RFC 9112 6.3: Transfer-Encoding overrides Content-Length; a server may refuse the
    // request (400) or read it as chunked (here an empty body: the home page, 200).
    raw(
        "raw Content-Length + chunked",
        b"POST / HTTP/1.1\r\nHost: soak\r\nContent-Length: 5\r\n\
          Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n",
        &[200, 400],
    ),
];

const fn http(
    method: &'static str,
    path: &'static str,
    headers: Headers,
    read: Reading,
) -> Sending {
    Sending::Http {
        method,
        path,
        headers,
        read,
    }
}

const fn get(
    name: &'static str,
    path: &'static str,
    statuses: &'static [u16],
    body: Body,
    weight: u32,
) -> Case {
    Case {
        name,
        send: http("GET", path, &[], Reading::Whole),
        statuses,
        body,
        weight,
    }
}

const fn head(name: &'static str, path: &'static str, len: Option<u64>, weight: u32) -> Case {
    Case {
        name,
        send: http("HEAD", path, &[], Reading::Whole),
        statuses: &[200],
        body: Body::Head { len },
        weight,
    }
}

const fn reading(name: &'static str, path: &'static str, body: Body, read: Reading) -> Case {
    Case {
        name,
        send: http("GET", path, &[], read),
        statuses: &[200],
        body,
        weight: 1,
    }
}

const fn demo(
    name: &'static str,
    headers: Headers,
    coding: Option<&'static str>,
    read: Reading,
    weight: u32,
) -> Case {
    Case {
        name,
        send: http("GET", "/demo/html?encoding=gzip", headers, read),
        statuses: &[200],
        body: Body::DemoHtml { coding },
        weight,
    }
}

const fn raw(name: &'static str, bytes: &'static [u8], statuses: &'static [u16]) -> Case {
    Case {
        name,
        send: Sending::Raw(Raw::Bytes(bytes)),
        statuses,
        body: Body::Any,
        weight: 1,
    }
}

const fn origin(len: u64) -> Body {
    Body::Bytes {
        from: Source::Origin,
        len,
        range: None,
    }
}

const fn generated(len: u64) -> Body {
    Body::Bytes {
        from: Source::Generator,
        len,
        range: None,
    }
}

const fn reset() -> Body {
    cut(Some(Source::Origin), 100_000)
}

const fn events(count: usize) -> Body {
    Body::Events { count }
}

const fn cut(from: Option<Source>, at_most: u64) -> Body {
    Body::Cut { from, at_most }
}

/// The order the clients take requests in: round after round, each row as many times as
/// its weight, heavier rows spread over the round.
pub fn deck(cases: &[Case]) -> Vec<usize> {
    let rounds = cases.iter().map(|c| c.weight).max().unwrap_or(0);
    (0..rounds)
        .flat_map(|round| {
            cases
                .iter()
                .enumerate()
                .filter(move |(_, c)| c.weight > round)
                .map(|(i, _)| i)
        })
        .collect()
}

/// How a response's body ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The body's framing said it was complete (or a raw connection reached EOF).
    Clean,
    /// It broke off: cut connection, missing last chunk, or the client's own time limit.
    Cut(String),
    /// The client dropped the connection on purpose.
    HungUp,
}

/// What one request got back.
#[derive(Debug, Clone)]
pub struct Got {
    /// `None`: no response at all.
    pub status: Option<u16>,
    pub content_length: Option<u64>,
    pub content_encoding: Option<String>,
    pub body: Vec<u8>,
    pub end: End,
    /// Why there was no response, or other detail worth printing.
    pub note: Option<String>,
}

impl Got {
    pub fn no_response(why: impl Into<String>) -> Got {
        Got {
            status: None,
            content_length: None,
            content_encoding: None,
            body: Vec::new(),
            end: End::Cut("no response".into()),
            note: Some(why.into()),
        }
    }
}

/// The judge's findings on one response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// The status is not in the row.
    UnexpectedStatus,
    /// The body ended cleanly but is incomplete or wrong (or should have broken off).
    WrongClean(String),
    /// The body broke off where a complete one was due.
    UnexpectedCut(String),
}

pub fn judge(case: &Case, got: &Got) -> Verdict {
    let status = got.status.unwrap_or(NO_RESPONSE);
    if !case.statuses.contains(&status) {
        return Verdict::UnexpectedStatus;
    }
    if got.status.is_none() {
        return Verdict::Ok;
    }
    if !(200..300).contains(&status) {
        return match &got.end {
            End::Cut(why) => Verdict::UnexpectedCut(why.clone()),
            End::Clean | End::HungUp => Verdict::Ok,
        };
    }
    if let Body::Cut { from, at_most } = case.body {
        return match got.end {
            End::Clean => Verdict::WrongClean(format!(
                "ended cleanly after {} bytes though the origin broke it off",
                got.body.len()
            )),
            _ if got.body.len() as u64 > at_most => Verdict::WrongClean(format!(
                "{} bytes, more than the {at_most} sent",
                got.body.len()
            )),
            _ if from.is_some_and(|from| !from.matches(0, &got.body)) => {
                Verdict::WrongClean("the bytes before the cut are not the origin's".into())
            }
            _ => Verdict::Ok,
        };
    }
    match &got.end {
        End::Cut(why) => return Verdict::UnexpectedCut(why.clone()),
        End::HungUp => {
            // Only what arrived before the hang-up can be checked.
            return match case.body {
                Body::Bytes { from, .. } if !from.matches(0, &got.body) => {
                    Verdict::WrongClean("the bytes before the hang-up are wrong".into())
                }
                _ => Verdict::Ok,
            };
        }
        End::Clean => {}
    }
    match check_body(&case.body, status, got) {
        Ok(()) => Verdict::Ok,
        Err(why) => Verdict::WrongClean(why),
    }
}

/// A cleanly ended 2xx body against the row's expectation.
fn check_body(body: &Body, status: u16, got: &Got) -> Result<(), String> {
    let data = &got.body;
    match *body {
        Body::Any | Body::Cut { .. } => Ok(()),
        Body::Head { len } => {
            if !data.is_empty() {
                return Err(format!("HEAD answered with {} body bytes", data.len()));
            }
            if len.is_some() && got.content_length != len {
                return Err(format!(
                    "HEAD content-length {:?}, not {len:?}",
                    got.content_length
                ));
            }
            Ok(())
        }
        Body::Bytes { from, len, range } => {
            let (offset, want) = match range {
                Some((first, last)) if status == 206 => (first, last - first + 1),
                _ => (0, len),
            };
            if data.len() as u64 != want {
                return Err(format!("{} bytes, not {want}", data.len()));
            }
            if !from.matches(offset, data) {
                return Err(format!("{want} bytes, but not the ones sent"));
            }
            Ok(())
        }
        Body::Contains(text) => {
            if String::from_utf8_lossy(data).contains(text) {
                Ok(())
            } else {
                Err(format!("no {text:?} in {} bytes", data.len()))
            }
        }
        Body::DemoHtml { coding } => {
            let got_coding = got.content_encoding.as_deref();
            if got_coding != coding {
                return Err(format!(
                    "content-encoding {got_coding:?}, asked for {coding:?}"
                ));
            }
            let page = decode(coding, data)?;
            let page = String::from_utf8_lossy(&page);
            if !page.contains(DEMO_BANNER) || !page.trim_end().ends_with("</html>") {
                return Err(format!(
                    "{} bytes of page without banner or end",
                    page.len()
                ));
            }
            Ok(())
        }
        Body::Events { count } => {
            let text = String::from_utf8_lossy(data);
            let events = text.matches("\n\n").count();
            if events != count || text.matches("data: message ").count() != count {
                return Err(format!(
                    "{events} events, not {count} rewritten ones: {text:?}"
                ));
            }
            Ok(())
        }
    }
}

/// A whole body in `coding`; an error when it is truncated or corrupt.
fn decode(coding: Option<&str>, data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let result = match coding {
        None => return Ok(data.to_vec()),
        Some("gzip") => flate2::read::GzDecoder::new(data).read_to_end(&mut out),
        Some("br") => brotli::Decompressor::new(data, 4096).read_to_end(&mut out),
        Some(other) => return Err(format!("unknown coding {other}")),
    };
    result
        .map(|_| out)
        .map_err(|e| format!("body does not decode: {e}"))
}

/// The status line's code, from the first bytes of a raw response.
pub fn raw_status(response: &[u8]) -> Option<u16> {
    let line = response.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut words = line.split_whitespace();
    words.next().filter(|v| v.starts_with("HTTP/"))?;
    words.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn case(name: &str) -> &'static Case {
        CASES.iter().find(|c| c.name == name).expect("row")
    }

    fn got(status: u16, body: Vec<u8>, end: End) -> Got {
        Got {
            status: Some(status),
            content_length: None,
            content_encoding: None,
            body,
            end,
            note: None,
        }
    }

    fn pattern(offset: u64, len: usize) -> Vec<u8> {
        let mut bytes = vec![0; len];
        pattern_bytes(offset, &mut bytes);
        bytes
    }

    #[test]
    fn the_table_covers_every_demo_route_and_fault() {
        let paths: Vec<&str> = CASES
            .iter()
            .filter_map(|c| match c.send {
                Sending::Http { path, .. } => Some(path),
                Sending::Raw(_) => None,
            })
            .collect();
        for prefix in [
            "/origin/",
            "/demo/",
            "/events/",
            "/watched/",
            "/slow/",
            "/stall/",
            "/dead/",
            "/_fb/gen",
        ] {
            assert!(paths.iter().any(|p| p.starts_with(prefix)), "{prefix}");
        }
        let names: std::collections::HashSet<_> = CASES.iter().map(|c| c.name).collect();
        assert_eq!(names.len(), CASES.len(), "row names are unique");
        assert!(CASES.iter().all(|c| c.weight > 0 && !c.statuses.is_empty()));
    }

    #[test]
    fn the_first_round_of_the_deck_holds_every_row_once() {
        let deck = deck(CASES);
        let total: u32 = CASES.iter().map(|c| c.weight).sum();
        assert_eq!(deck.len(), total as usize);
        let mut first: Vec<usize> = deck[..CASES.len()].to_vec();
        first.sort_unstable();
        assert_eq!(first, (0..CASES.len()).collect::<Vec<_>>());
        assert!(deck.len() < 100, "one round fits in the heap baseline");
    }

    #[test]
    fn statuses_outside_the_row_are_unexpected() {
        let dead = case("dead 502");
        assert_eq!(
            judge(dead, &got(502, b"502 x\n".to_vec(), End::Clean)),
            Verdict::Ok
        );
        assert_eq!(
            judge(dead, &got(500, vec![], End::Clean)),
            Verdict::UnexpectedStatus
        );
        assert_eq!(
            judge(dead, &Got::no_response("reset")),
            Verdict::UnexpectedStatus
        );
        let malformed = case("raw Accept-Encoding 0xff");
        assert_eq!(judge(malformed, &got(400, vec![], End::Clean)), Verdict::Ok);
        assert_eq!(
            judge(malformed, &got(500, vec![], End::Clean)),
            Verdict::UnexpectedStatus
        );
    }

    #[test]
    fn bodies_are_checked_byte_for_byte() {
        let bytes = case("origin bytes");
        assert_eq!(
            judge(bytes, &got(200, pattern(0, 65_536), End::Clean)),
            Verdict::Ok
        );
        let short = judge(bytes, &got(200, pattern(0, 65_535), End::Clean));
        assert!(matches!(short, Verdict::WrongClean(_)), "{short:?}");
        let mut wrong = pattern(0, 65_536);
        wrong[1000] ^= 1;
        assert!(matches!(
            judge(bytes, &got(200, wrong, End::Clean)),
            Verdict::WrongClean(_)
        ));
        let cut = judge(bytes, &got(200, pattern(0, 10), End::Cut("eof".into())));
        assert_eq!(cut, Verdict::UnexpectedCut("eof".into()));

        let range = case("origin Range");
        assert_eq!(
            judge(range, &got(206, pattern(100, 100), End::Clean)),
            Verdict::Ok
        );
        assert_eq!(
            judge(range, &got(200, pattern(0, 100_000), End::Clean)),
            Verdict::Ok
        );
        assert!(matches!(
            judge(range, &got(206, pattern(0, 100), End::Clean)),
            Verdict::WrongClean(_)
        ));
        let gen: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        assert_eq!(judge(case("gen"), &got(200, gen, End::Clean)), Verdict::Ok);
    }

    #[test]
    fn a_cut_body_must_not_end_cleanly() {
        let reset = case("origin reset");
        assert_eq!(
            judge(reset, &got(200, pattern(0, 4096), End::Cut("x".into()))),
            Verdict::Ok
        );
        assert!(matches!(
            judge(reset, &got(200, pattern(0, 4096), End::Clean)),
            Verdict::WrongClean(_)
        ));
        assert!(matches!(
            judge(reset, &got(200, vec![7; 4096], End::Cut("x".into()))),
            Verdict::WrongClean(_)
        ));
        let hung = judge(
            case("hang-up origin"),
            &got(200, pattern(0, 131_072), End::HungUp),
        );
        assert_eq!(hung, Verdict::Ok);
    }

    #[test]
    fn demo_pages_must_decode_in_the_coding_asked_for() {
        let page = format!("<html><body>{DEMO_BANNER}</body></html>\n");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(page.as_bytes()).expect("gzip");
        let gz = gz.finish().expect("gzip");
        let mut reply = got(200, gz.clone(), End::Clean);
        reply.content_encoding = Some("gzip".into());
        assert_eq!(judge(case("demo gzip"), &reply), Verdict::Ok);
        assert!(matches!(
            judge(case("demo br"), &reply),
            Verdict::WrongClean(_)
        ));
        reply.body.truncate(gz.len() - 9);
        assert!(matches!(
            judge(case("demo gzip"), &reply),
            Verdict::WrongClean(_)
        ));
        let plain = got(200, page.into_bytes(), End::Clean);
        assert_eq!(judge(case("demo identity"), &plain), Verdict::Ok);
    }

    #[test]
    fn head_and_raw_responses() {
        let mut reply = got(200, vec![], End::Clean);
        reply.content_length = Some(100_000);
        assert_eq!(judge(case("origin HEAD"), &reply), Verdict::Ok);
        reply.content_length = Some(0);
        assert!(matches!(
            judge(case("origin HEAD"), &reply),
            Verdict::WrongClean(_)
        ));
        assert_eq!(raw_status(b"HTTP/1.1 400 Bad Request\r\n\r\n"), Some(400));
        assert_eq!(raw_status(b"garbage"), None);
        assert_eq!(raw_status(b""), None);
        let long = Raw::LongHeader(10).bytes();
        assert!(long.windows(14).any(|w| w == b"X-Long: aaaaaa"));
    }
}
