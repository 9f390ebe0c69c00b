//! One measured request over a fresh blocking TCP connection: the clock starts when the
//! request has been written and stops at the first response byte (TTFB) and at the last.
//! The app's own account of the same request comes from its `Server-Timing` header.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub ttfb: Duration,
    /// `None` when the body was not read (a TTFB-only sample).
    pub total: Option<Duration>,
    pub body_bytes: u64,
    pub status: u16,
    /// The app's time from the request to `stream_to_client()`, in ms: `origin` + `edge` of
    /// its `Server-Timing` header (firstbyte sends it; other servers do not).
    pub app_ms: Option<f64>,
    /// The response's `X-Cache`, when it has one.
    pub x_cache: Option<&'static str>,
    /// The response's `Content-Encoding`, when it is one coding of [`CODINGS`]: a sample
    /// that reads only the head still shows which coding it was answered in.
    pub coding: Option<&'static str>,
}

/// The codings [`Sample::coding`] tells apart.
pub const CODINGS: [&str; 6] = ["br", "gzip", "dcb", "deflate", "zstd", "dcz"];

/// Sends `GET path` and waits for the first response byte; with `read_body`, reads the
/// response to the end (the connection is `close`, so the end is EOF).
pub fn request(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    read_body: bool,
    timeout: Duration,
) -> std::io::Result<Sample> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(timeout))?;
    let mut head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    let mut buf = vec![0u8; 256 * 1024];
    let start = Instant::now();
    // A small first read: the clock stops when the first bytes are there, not after the
    // kernel has copied out however much of a large body arrived with them.
    let n = stream.read(&mut buf[..64])?;
    let ttfb = start.elapsed();
    if n == 0 {
        return Err(std::io::Error::other(
            "connection closed without a response",
        ));
    }
    let status = parse_status(&buf[..n]).unwrap_or(0);
    // The rest of the head, for its Server-Timing: read after the TTFB clock has stopped.
    let mut seen = buf[..n].to_vec();
    let mut head_len = find_head_end(&seen);
    let mut total_bytes = n as u64;
    while head_len.is_none() && seen.len() < MAX_HEAD {
        let m = stream.read(&mut buf)?;
        if m == 0 {
            break;
        }
        total_bytes += m as u64;
        seen.extend_from_slice(&buf[..m]);
        head_len = find_head_end(&seen);
    }
    let app_ms = head_len.and_then(|end| app_ms(&seen[..end]));
    let x_cache = head_len.and_then(|end| x_cache(&seen[..end]));
    let coding = head_len.and_then(|end| coding(&seen[..end]));
    if !read_body {
        return Ok(Sample {
            ttfb,
            total: None,
            body_bytes: 0,
            status,
            app_ms,
            x_cache,
            coding,
        });
    }
    // Count what follows the response head; chunked framing adds a few bytes per chunk,
    // negligible for throughput on the sizes measured.
    loop {
        let m = stream.read(&mut buf)?;
        if m == 0 {
            break;
        }
        total_bytes += m as u64;
    }
    let total = start.elapsed();
    Ok(Sample {
        ttfb,
        total: Some(total),
        body_bytes: total_bytes.saturating_sub(head_len.unwrap_or(0) as u64),
        status,
        app_ms,
        x_cache,
        coding,
    })
}

/// A head longer than this is not looked into any further.
const MAX_HEAD: usize = 64 * 1024;

/// The app's time to `stream_to_client()` from a response head: the sum of the `origin`
/// and `edge` durations of its `Server-Timing` header(s), in ms. firstbyte reports the
/// origin's wait and its own time apart (src/timing.rs); together they run from the request
/// reaching the app to the response starting to stream.
pub fn app_ms(head: &[u8]) -> Option<f64> {
    let head = String::from_utf8_lossy(head);
    let (mut origin, mut edge) = (None, None);
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if !name.trim().eq_ignore_ascii_case("server-timing") {
            continue;
        }
        for metric in value.split(',') {
            let mut params = metric.split(';').map(str::trim);
            let slot = match params.next() {
                Some("origin") => &mut origin,
                Some("edge") => &mut edge,
                _ => continue,
            };
            *slot = params
                .find_map(|p| p.strip_prefix("dur="))
                .and_then(|d| d.parse::<f64>().ok());
        }
    }
    Some(origin? + edge?)
}

/// The labels an `X-Cache` header of firstbyte, nginx or Varnish may carry, as one of
/// firstbyte's (nginx's `$upstream_cache_status` says `HIT` and `MISS` too).
pub fn x_cache(head: &[u8]) -> Option<&'static str> {
    const LABELS: [&str; 7] = [
        "HIT",
        "MISS COLLAPSED",
        "MISS",
        "STALE",
        "REVALIDATED",
        "PASS",
        "BYPASS",
    ];
    let value = header(head, "x-cache")?;
    LABELS.into_iter().find(|l| *l == value)
}

/// The head's `Content-Encoding`, as one of [`CODINGS`].
pub fn coding(head: &[u8]) -> Option<&'static str> {
    let value = header(head, "content-encoding")?.to_ascii_lowercase();
    CODINGS.into_iter().find(|c| *c == value)
}

/// The value of the head's first `name` field, trimmed.
fn header(head: &[u8], name: &str) -> Option<String> {
    String::from_utf8_lossy(head).lines().find_map(|line| {
        let (field, value) = line.split_once(':')?;
        field
            .trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().to_string())
    })
}

fn find_head_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
}

fn parse_status(bytes: &[u8]) -> Option<u16> {
    let line = std::str::from_utf8(bytes.get(..12)?).ok()?;
    line.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_head_end_are_found() {
        let response = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
        assert_eq!(parse_status(response), Some(200));
        assert_eq!(find_head_end(response), Some(response.len() - 2));
        assert_eq!(parse_status(b"HTTP/1."), None);
        assert_eq!(
            coding(b"HTTP/1.1 200 OK\r\nContent-Encoding: DCB\r\n\r\n"),
            Some("dcb")
        );
        assert_eq!(
            coding(b"HTTP/1.1 200 OK\r\ncontent-encoding: dcb, br\r\n\r\n"),
            None
        );
        assert_eq!(coding(b"HTTP/1.1 200 OK\r\n\r\n"), None);
    }

    #[test]
    fn the_apps_time_is_origin_plus_edge_from_server_timing() {
        let head = b"HTTP/1.1 200 OK\r\nserver-timing: cache;dur=9\r\nServer-Timing: origin;dur=0.25, edge;dur=0.5\r\n\r\n";
        assert_eq!(app_ms(head), Some(0.75));
        assert_eq!(
            app_ms(b"HTTP/1.1 200 OK\r\nServer-Timing: origin;dur=1\r\n\r\n"),
            None
        );
        assert_eq!(app_ms(b"HTTP/1.1 200 OK\r\n\r\n"), None);
        assert_eq!(
            app_ms(b"HTTP/1.1 200 OK\r\nServer-Timing: origin;dur=x, edge;dur=1\r\n\r\n"),
            None
        );
    }
}
