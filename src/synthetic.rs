//! Responses made here, without a backend: the home page, and the generator that streams
//! any number of deterministic bytes — the origin-free target for TTFB benchmarks.

use std::io::Write;
use std::thread::sleep;
use std::time::Duration;

use fastly::http::{FramingHeadersMode, Method, StatusCode};
use fastly::{Request, Response};

use crate::access_log::{AccessRecord, BodyPath};
use crate::failure::Failure;
use crate::timing::Clock;

pub fn home(text: &str, req: &Request, record: &mut AccessRecord, clock: &Clock) {
    let page = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>firstbyte</title></head>\n\
         <body><h1>firstbyte</h1><p>{}</p>\n<ul>\n\
         <li><a href=\"/_fb/gen?bytes=1048576\">/_fb/gen?bytes=1048576</a> 1 MiB generated here</li>\n\
         <li><a href=\"/_fb/gen?bytes=320&amp;type=sse&amp;delay_ms=500\">/_fb/gen?type=sse</a> a slow event stream</li>\n\
         </ul></body></html>\n",
        escape_html(text)
    );
    let resp = Response::from_status(StatusCode::OK)
        .with_body_text_html(if req.get_method() == Method::HEAD {
            ""
        } else {
            &page
        })
        .with_header("Cache-Control", "no-store");
    record.body = BodyPath::Synthetic;
    record.bytes_out = Some(if req.get_method() == Method::HEAD {
        0
    } else {
        page.len() as u64
    });
    record.headers_sent(200, clock);
    resp.send_to_client();
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// What the generator streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bin,
    Text,
    Html,
    Sse,
}

impl Kind {
    fn content_type(self) -> &'static str {
        match self {
            Kind::Bin => "application/octet-stream",
            Kind::Text => "text/plain; charset=utf-8",
            Kind::Html => "text/html; charset=utf-8",
            Kind::Sse => "text/event-stream",
        }
    }

    /// The content is `head` then `cycle` repeated, cut at the requested size, so the byte
    /// at any offset is fixed whatever the chunk size.
    fn pattern(self) -> (&'static [u8], &'static [u8]) {
        match self {
            Kind::Bin => (b"", &BIN_CYCLE),
            Kind::Text => (
                b"",
                b"firstbyte synthetic text: the quick brown fox jumps over the lazy dog.\n",
            ),
            Kind::Html => (
                b"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>firstbyte</title></head>\n<body>\n",
                b"<p>The quick brown fox jumps over the lazy dog.</p>\n",
            ),
            Kind::Sse => (b"", b"data: firstbyte synthetic event\n\n"),
        }
    }
}

const BIN_CYCLE: [u8; 256] = {
    let mut cycle = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        cycle[i] = i as u8;
        i += 1;
    }
    cycle
};

pub const MAX_CHUNK: usize = 1 << 20;
pub const MAX_DELAY_MS: u64 = 60_000;
const DEFAULT_CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenParams {
    pub bytes: u64,
    pub chunk: usize,
    pub delay: Duration,
    pub first_delay: Duration,
    pub kind: Kind,
}

impl GenParams {
    /// Reads `bytes` (at most `max_bytes`), `chunk`, `delay_ms`, `first_delay_ms` and
    /// `type`; anything else, or any value out of range, is an error that names the
    /// parameter.
    pub fn parse(pairs: &[(String, String)], max_bytes: u64) -> Result<GenParams, String> {
        let mut bytes = None;
        let mut chunk = None;
        let mut delay = Duration::ZERO;
        let mut first_delay = Duration::ZERO;
        let mut kind = Kind::Bin;
        for (name, value) in pairs {
            match name.as_str() {
                "bytes" => bytes = Some(number(name, value, 0, max_bytes)?),
                "chunk" => chunk = Some(number(name, value, 1, MAX_CHUNK as u64)? as usize),
                "delay_ms" => delay = Duration::from_millis(number(name, value, 0, MAX_DELAY_MS)?),
                "first_delay_ms" => {
                    first_delay = Duration::from_millis(number(name, value, 0, MAX_DELAY_MS)?)
                }
                "type" => {
                    kind = match value.as_str() {
                        "bin" => Kind::Bin,
                        "text" => Kind::Text,
                        "html" => Kind::Html,
                        "sse" => Kind::Sse,
                        _ => return Err(format!("type: '{value}' is not bin, text, html or sse")),
                    }
                }
                _ => return Err(format!("{name}: unknown parameter")),
            }
        }
        let bytes = bytes.ok_or("bytes: required (the body size in bytes)")?;
        // An event stream writes one event at a time unless told otherwise.
        let chunk = chunk.unwrap_or(match kind {
            Kind::Sse => kind.pattern().1.len(),
            _ => DEFAULT_CHUNK,
        });
        Ok(GenParams {
            bytes,
            chunk,
            delay,
            first_delay,
            kind,
        })
    }
}

fn number(name: &str, value: &str, min: u64, max: u64) -> Result<u64, String> {
    match value.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "{name}: '{value}' is not a whole number from {min} to {max}"
        )),
    }
}

/// Fills `buf` with the content that starts at `offset`.
pub fn fill(kind: Kind, offset: u64, buf: &mut [u8]) {
    let (head, cycle) = kind.pattern();
    let mut pos = offset;
    let mut filled = 0;
    while filled < buf.len() {
        let (source, at) = if pos < head.len() as u64 {
            (head, pos as usize)
        } else {
            (
                cycle,
                ((pos - head.len() as u64) % cycle.len() as u64) as usize,
            )
        };
        let n = (source.len() - at).min(buf.len() - filled);
        buf[filled..filled + n].copy_from_slice(&source[at..at + n]);
        filled += n;
        pos += n as u64;
    }
}

/// Streams the generated body; the headers go out at once, before any delay.
pub fn generate(
    req: &Request,
    max_bytes: u64,
    record: &mut AccessRecord,
    clock: &Clock,
) -> Result<(), Failure> {
    let pairs: Vec<(String, String)> = req
        .get_query()
        .map_err(|e| Failure::bad_request(format!("query string: {e}")))?;
    let params = GenParams::parse(&pairs, max_bytes).map_err(Failure::bad_request)?;

    let mut resp = Response::from_status(StatusCode::OK)
        .with_header("Content-Type", params.kind.content_type())
        .with_header("Content-Length", params.bytes.to_string())
        .with_header("Cache-Control", "no-store");
    // Keep the Content-Length above: clients then see the size and their progress.
    resp.set_framing_headers_mode(FramingHeadersMode::ManuallyFromHeaders);
    record.body = BodyPath::Synthetic;
    if req.get_method() == Method::HEAD {
        record.headers_sent(200, clock);
        record.bytes_out = Some(0);
        resp.send_to_client();
        return Ok(());
    }

    let mut out = resp.stream_to_client();
    record.headers_sent(200, clock);
    let mut buf = vec![0u8; write_size(params.chunk, params.bytes)];
    let mut sent = 0u64;
    let mut pause = params.first_delay;
    while sent < params.bytes {
        if !pause.is_zero() {
            sleep(pause);
        }
        pause = params.delay;
        let n = (params.bytes - sent).min(buf.len() as u64) as usize;
        fill(params.kind, sent, &mut buf[..n]);
        if let Err(e) = out.write_all(&buf[..n]).and_then(|()| out.flush()) {
            record.bytes_out = Some(sent);
            record.aborted(format!("client write failed: {e}"));
            log::warn!("{} {}: generator stopped: {e}", record.method, record.path);
            out.abandon().ok();
            return Ok(());
        }
        sent += n as u64;
    }
    record.bytes_out = Some(sent);
    if let Err(e) = out.finish() {
        record.aborted(format!("finishing the response failed: {e}"));
        log::warn!("{} {}: finish failed: {e}", record.method, record.path);
    }
    Ok(())
}

/// One write's size: the chunk, or the whole body when smaller. Computed in u64: on wasm32
/// a body of 4 GiB or more does not fit a usize, and truncating it made 1-byte writes.
fn write_size(chunk: usize, bytes: u64) -> usize {
    let size = (chunk as u64).min(bytes).max(1);
    usize::try_from(size).unwrap_or(chunk)
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;
    use proptest::prelude::*;

    fn pairs(query: &[(&str, &str)]) -> Vec<(String, String)> {
        query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_fill_in() -> TestResult {
        let p = GenParams::parse(&pairs(&[("bytes", "10")]), LIMIT)?;
        assert_eq!(
            p,
            GenParams {
                bytes: 10,
                chunk: DEFAULT_CHUNK,
                delay: Duration::ZERO,
                first_delay: Duration::ZERO,
                kind: Kind::Bin
            }
        );
        let sse = GenParams::parse(&pairs(&[("bytes", "10"), ("type", "sse")]), LIMIT)?;
        assert_eq!(sse.chunk, Kind::Sse.pattern().1.len());
        Ok(())
    }

    const LIMIT: u64 = 16 << 30;

    #[test]
    fn the_ceiling_is_the_configured_one() -> TestResult {
        let p = GenParams::parse(&pairs(&[("bytes", "17179869184")]), LIMIT)?;
        assert_eq!(p.bytes, 16 << 30);
        let err = GenParams::parse(&pairs(&[("bytes", "1025")]), 1024)
            .err()
            .unwrap_or_default();
        assert!(err.contains("0 to 1024"), "{err}");
        Ok(())
    }

    #[test]
    fn writes_stay_chunk_sized_for_bodies_past_4_gib() {
        // 4 GiB + 1 truncated to a 32-bit usize is 1: the old 1-byte writes.
        assert_eq!(write_size(DEFAULT_CHUNK, (4 << 30) + 1), DEFAULT_CHUNK);
        assert_eq!(write_size(DEFAULT_CHUNK, 16 << 30), DEFAULT_CHUNK);
        assert_eq!(write_size(DEFAULT_CHUNK, 10), 10);
        assert_eq!(write_size(DEFAULT_CHUNK, 0), 1);
    }

    #[test]
    fn bad_parameters_name_themselves() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], "bytes: required"),
            (&[("bytes", "-1")], "bytes:"),
            (&[("bytes", "1"), ("chunk", "0")], "chunk:"),
            (&[("bytes", "1"), ("chunk", "2000000")], "chunk:"),
            (&[("bytes", "1"), ("delay_ms", "x")], "delay_ms:"),
            (
                &[("bytes", "1"), ("first_delay_ms", "60001")],
                "first_delay_ms:",
            ),
            (&[("bytes", "1"), ("type", "png")], "type:"),
            (&[("bytes", "1"), ("size", "1")], "size: unknown parameter"),
        ];
        for (query, want) in cases {
            let err = GenParams::parse(&pairs(query), LIMIT)
                .err()
                .unwrap_or_default();
            assert!(err.starts_with(want), "{query:?}: {err}");
        }
    }

    #[test]
    fn html_starts_with_a_document() {
        let mut buf = [0u8; 15];
        fill(Kind::Html, 0, &mut buf);
        assert_eq!(&buf, b"<!doctype html>");
    }

    proptest! {
        /// Content depends on the offset alone: any chunking yields the same bytes.
        #[test]
        fn content_is_independent_of_chunking(
            kind in prop_oneof![Just(Kind::Bin), Just(Kind::Text), Just(Kind::Html), Just(Kind::Sse)],
            len in 0usize..2000,
            chunk in 1usize..300,
        ) {
            let mut whole = vec![0u8; len];
            fill(kind, 0, &mut whole);
            let mut pieces = Vec::new();
            let mut offset = 0;
            while offset < len {
                let n = chunk.min(len - offset);
                let mut buf = vec![0u8; n];
                fill(kind, offset as u64, &mut buf);
                pieces.extend_from_slice(&buf);
                offset += n;
            }
            prop_assert_eq!(whole, pieces);
        }
    }
}
