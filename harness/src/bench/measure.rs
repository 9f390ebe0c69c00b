//! One measured request over a fresh blocking TCP connection: the clock starts when the
//! request has been written and stops at the first response byte (TTFB) and at the last.

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
}

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
    if !read_body {
        return Ok(Sample {
            ttfb,
            total: None,
            body_bytes: 0,
            status,
        });
    }
    // Count what follows the response head; chunked framing adds a few bytes per chunk,
    // negligible for throughput on the sizes measured.
    let mut seen = buf[..n].to_vec();
    let mut head_len = find_head_end(&seen);
    let mut total_bytes = n as u64;
    loop {
        let m = stream.read(&mut buf)?;
        if m == 0 {
            break;
        }
        total_bytes += m as u64;
        if head_len.is_none() && seen.len() < 64 * 1024 {
            seen.extend_from_slice(&buf[..m]);
            head_len = find_head_end(&seen);
        }
    }
    let total = start.elapsed();
    Ok(Sample {
        ttfb,
        total: Some(total),
        body_bytes: total_bytes.saturating_sub(head_len.unwrap_or(0) as u64),
        status,
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
    }
}
