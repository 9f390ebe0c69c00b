//! Copying a backend body through this app, chunk by chunk, when the host cannot simply be
//! handed the body: to transform it, to count every byte, or to notice a stalled backend.

use std::io::{Read, Write};
use std::time::Duration;

use bytes::BytesMut;
use fastly::http::body::StreamingBody;
use fastly::Body;
use firstbyte_transform::{Pipeline, Sink};

use crate::deadline::body_within;

/// How the body is read and what it goes through.
pub struct PumpOptions<'a> {
    /// Largest read from the backend: with a decoder in the pipeline, what one read may
    /// inflate to is what bounds memory, so callers pass a smaller size then.
    pub read_size: usize,
    pub between_bytes: Option<Duration>,
    /// The backend's Content-Length, to tell a quiet early end from a complete body.
    pub declared_length: Option<u64>,
    pub pipeline: Option<&'a mut Pipeline>,
}

/// Copies `body` to `out` through the pipeline, flushing both after every chunk so
/// progressive streams stay progressive. Returns the bytes sent; `Err` carries the bytes
/// already sent and why the copy stopped.
pub fn pump(
    body: Body,
    out: &mut StreamingBody,
    mut opts: PumpOptions,
) -> Result<u64, (u64, String)> {
    let mut handle = body.into_handle();
    let mut sent = 0u64;
    let mut received = 0u64;
    let mut sink = Sink::new();
    loop {
        if let Some(limit) = opts.between_bytes {
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
        let mut chunk = BytesMut::zeroed(opts.read_size);
        let n = match handle.read(&mut chunk) {
            Ok(n) => n,
            Err(e) => return Err((sent, format!("backend body broke off: {e}"))),
        };
        if n == 0 {
            complete(received, opts.declared_length).map_err(|reason| (sent, reason))?;
            if let Some(pipeline) = opts.pipeline.as_deref_mut() {
                pipeline
                    .finish(&mut sink)
                    .map_err(|e| (sent, e.to_string()))?;
                sent += write(out, &mut sink).map_err(|e| (sent, e))?;
            }
            return Ok(sent);
        }
        received += n as u64;
        chunk.truncate(n);
        match opts.pipeline.as_deref_mut() {
            Some(pipeline) => {
                pipeline
                    .push(chunk.freeze(), &mut sink)
                    .and_then(|()| pipeline.flush(&mut sink))
                    .map_err(|e| (sent, e.to_string()))?;
            }
            None => sink.push(chunk.freeze()),
        }
        sent += write(out, &mut sink).map_err(|e| (sent, e))?;
    }
}

/// Writes and empties `sink`, then flushes so the client has every byte now.
fn write(out: &mut StreamingBody, sink: &mut Sink) -> Result<u64, String> {
    let mut n = 0u64;
    for piece in sink.drain(..) {
        out.write_all(&piece)
            .map_err(|e| format!("client write failed: {e}"))?;
        n += piece.len() as u64;
    }
    out.flush()
        .map_err(|e| format!("client write failed: {e}"))?;
    Ok(n)
}

/// A body shorter than its Content-Length broke off, however quietly it ended: Viceroy, for
/// one, reports a clean end when a backend dies while the app waits with a deadline.
fn complete(received: u64, declared_length: Option<u64>) -> Result<(), String> {
    match declared_length {
        Some(declared) if received < declared => Err(format!(
            "backend body broke off after {received} of {declared} bytes"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_body_is_not_complete() {
        assert_eq!(complete(10, None), Ok(()));
        assert_eq!(complete(10, Some(10)), Ok(()));
        let reason = complete(4, Some(10)).unwrap_err();
        assert!(reason.contains("4 of 10"), "{reason}");
    }
}
