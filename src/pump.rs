//! Copying a backend body through this app, chunk by chunk, when the host cannot simply be
//! handed the body: here every byte is counted and a broken or stalled backend is noticed.

use std::io::{Read, Write};
use std::time::Duration;

use fastly::http::body::StreamingBody;
use fastly::Body;

use crate::deadline::body_within;

/// Large enough for bulk throughput, small enough to keep the heap flat.
const CHUNK: usize = 64 * 1024;

/// Copies `body` to `out`, flushing after every chunk so progressive streams stay
/// progressive. `Err` carries the bytes already sent and why the copy stopped.
pub fn pump(
    body: Body,
    out: &mut StreamingBody,
    between_bytes: Option<Duration>,
    declared_length: Option<u64>,
) -> Result<u64, (u64, String)> {
    let mut handle = body.into_handle();
    let mut buf = vec![0u8; CHUNK];
    let mut sent = 0u64;
    loop {
        if let Some(limit) = between_bytes {
            match body_within(&handle, limit) {
                Ok(true) => {}
                Ok(false) => {
                    return Err((
                        sent,
                        format!("backend sent nothing for {} ms", limit.as_millis()),
                    ))
                }
                Err(e) => return Err((sent, e)),
            }
        }
        let n = match handle.read(&mut buf) {
            Ok(0) => return complete(sent, declared_length),
            Ok(n) => n,
            Err(e) => return Err((sent, format!("backend body broke off: {e}"))),
        };
        if let Err(e) = out.write_all(&buf[..n]).and_then(|()| out.flush()) {
            return Err((sent, format!("client write failed: {e}")));
        }
        sent += n as u64;
    }
}

/// A body shorter than its Content-Length broke off, however quietly it ended: Viceroy, for
/// one, reports a clean end when a backend dies while the app waits with a deadline.
fn complete(sent: u64, declared_length: Option<u64>) -> Result<u64, (u64, String)> {
    match declared_length {
        Some(declared) if sent < declared => Err((
            sent,
            format!("backend body broke off after {sent} of {declared} bytes"),
        )),
        _ => Ok(sent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_body_is_not_complete() {
        assert_eq!(complete(10, None), Ok(10));
        assert_eq!(complete(10, Some(10)), Ok(10));
        let (sent, reason) = complete(4, Some(10)).unwrap_err();
        assert_eq!(sent, 4);
        assert!(reason.contains("4 of 10"), "{reason}");
    }
}
