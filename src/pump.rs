//! Copying a backend body through this app, chunk by chunk, when the host cannot simply be
//! handed the body: to transform it, to count every byte, or to notice a stalled backend.

use std::io::Write;
use std::time::Duration;

use bytes::BytesMut;
use fastly::handle::BodyHandle;
use fastly::http::body::StreamingBody;
use fastly::{Body, Response};
use fastly_shared::FastlyStatus;
use fastly_sys::fastly_http_body;
use firstbyte_transform::{Pipeline, Sink};

use crate::deadline::body_within;

/// How the body is read and what it goes through.
pub struct PumpOptions {
    /// Largest read from the backend: with a decoder in the pipeline, what one read may
    /// inflate to is what bounds memory, so callers pass a smaller size then. Reads start
    /// smaller ([`ReadSizes`]).
    pub read_size: usize,
    pub between_bytes: Option<Duration>,
    /// The backend's Content-Length, to tell a quiet early end from a complete body.
    pub declared_length: Option<u64>,
    pub pipeline: Option<Pipeline>,
}

/// Copies `body` to `out` through the pipeline, flushing both after every chunk so
/// progressive streams stay progressive. Returns the bytes sent; `Err` carries the bytes
/// already sent and why the copy stopped.
pub fn pump(
    body: Body,
    // Any writer: the client's streaming body, or a cache object's.
    out: &mut impl Write,
    opts: PumpOptions,
) -> Result<u64, (u64, String)> {
    let mut pumping = Pumping::new(body, opts);
    loop {
        if let Some(limit) = pumping.opts.between_bytes {
            match body_within(&pumping.handle, limit) {
                Ok(true) => {}
                Ok(false) => {
                    return Err((
                        pumping.sent,
                        format!("backend sent nothing for {} ms", limit.as_millis()),
                    ))
                }
                Err(e) => return Err((pumping.sent, e)),
            }
        }
        if let Some(sent) = pumping.step(out)? {
            return Ok(sent);
        }
    }
}

/// A copy in progress, one read at a time: what [`pump`] runs to the end, and what a loop
/// that waits on many bodies at once steps whenever this one has something.
pub struct Pumping {
    handle: BodyHandle,
    buf: BytesMut,
    sent: u64,
    received: u64,
    sink: Sink,
    gather: Vec<u8>,
    read_sizes: ReadSizes,
    opts: PumpOptions,
}

impl Pumping {
    pub fn new(body: Body, opts: PumpOptions) -> Pumping {
        Pumping {
            handle: body.into_handle(),
            buf: BytesMut::new(),
            sent: 0,
            received: 0,
            sink: Sink::new(),
            gather: Vec::with_capacity(GATHER),
            read_sizes: ReadSizes::up_to(opts.read_size),
            opts,
        }
    }

    /// The body read, to wait on.
    pub fn body(&self) -> &BodyHandle {
        &self.handle
    }

    /// Reads once (what the body has, or its end) and writes what the pipeline makes of it.
    /// `Some` with the bytes sent once the body ended and everything is out.
    pub fn step(&mut self, out: &mut impl Write) -> Result<Option<u64>, (u64, String)> {
        let sent = self.sent;
        let n = read_into(&self.handle, &mut self.buf, self.read_sizes.next())
            .map_err(|e| (sent, e))?;
        if n == 0 {
            complete(self.received, self.opts.declared_length).map_err(|reason| (sent, reason))?;
            if let Some(pipeline) = self.opts.pipeline.as_mut() {
                pipeline
                    .finish(&mut self.sink)
                    .map_err(|e| (sent, e.to_string()))?;
                self.sent += write(out, &mut self.sink, &mut self.gather).map_err(|e| (sent, e))?;
            }
            return Ok(Some(self.sent));
        }
        self.received += n as u64;
        not_over(self.received, self.opts.declared_length).map_err(|reason| (sent, reason))?;
        // The chunk takes the buffer whole, not a split of it: a split would share its
        // memory with `buf`, and a stage can rewrite in place only a chunk that is its
        // alone (the replace stage does, instead of copying its output out).
        let chunk = std::mem::take(&mut self.buf).freeze();
        match self.opts.pipeline.as_mut() {
            Some(pipeline) => {
                pipeline
                    .push(chunk, &mut self.sink)
                    .and_then(|()| pipeline.flush(&mut self.sink))
                    .map_err(|e| (sent, e.to_string()))?;
            }
            None => self.sink.push(chunk),
        }
        self.sent += write(out, &mut self.sink, &mut self.gather).map_err(|e| (sent, e))?;
        Ok(None)
    }
}

/// Sends `resp`'s head to the client at once and appends `body` after it, host-side: no byte
/// of it is copied through the app.
///
/// Through the fastly crate's `StreamingBody::append`, a host that refuses the append (the
/// client gone before the body went out) would panic the app; here it is an error, and the
/// response is abandoned.
pub fn append_to_client(resp: Response, body: Body) -> Result<(), String> {
    let (resp_handle, head_body) = resp.into_handles();
    let out = resp_handle.stream_to_client(head_body);
    let source = body.into_handle().into_u32();
    // SAFETY: both numbers are live handles of this request: the streaming body just made,
    // and the body given up by `into_u32` (the host takes it over, as the crate's append does).
    let status = unsafe { fastly_http_body::append(out.as_u32(), source) };
    let out = StreamingBody::from(out);
    if status.is_err() {
        out.abandon().ok();
        return Err(format!("client write failed (host append: {status:?})"));
    }
    out.finish()
        .map_err(|e| format!("finishing the response failed: {e}"))
}

/// Reads up to `max` bytes of the body onto the end of `buf`, straight into its spare room.
///
/// `Read::read` wants initialised memory, and zeroing 64 KiB before every read cost the
/// replace route about a tenth of its throughput. Each chunk leaves with its buffer and is
/// freed once written, so the allocator hands the same memory to the next read.
pub(crate) fn read_into(
    body: &BodyHandle,
    buf: &mut BytesMut,
    max: usize,
) -> Result<usize, String> {
    buf.reserve(max);
    let room = buf.spare_capacity_mut();
    let len = room.len().min(max);
    let mut n = 0usize;
    // SAFETY: the host writes at most `len` bytes from the pointer, all within `buf`'s spare
    // capacity, and reports how many in `n`; the handle number is used for this call only.
    let status =
        unsafe { fastly_http_body::read(body.as_u32(), room.as_mut_ptr().cast(), len, &mut n) };
    match status {
        FastlyStatus::OK => {}
        FastlyStatus::HTTPINCOMPLETE => {
            return Err("backend body broke off (incomplete HTTP body)".into())
        }
        other => {
            return Err(format!(
                "backend body broke off (host read error {other:?})"
            ))
        }
    }
    let n = n.min(len);
    // SAFETY: the host initialised the first `n` bytes of the spare capacity.
    unsafe { buf.set_len(buf.len() + n) };
    Ok(n)
}

/// Read sizes that start at 1 KiB and double up to the largest.
///
/// A chain's first output costs whatever its first input costs, and on a fresh instance the
/// first bytes through each stage are the dearest: their memory (brotli's hash table, the
/// decoder's window) is touched for the first time. A small first read gets the first bytes
/// out sooner (and on Viceroy, where a busy app's response head leaves with its first body
/// bytes, the head with them); within a few reads they are large enough for throughput.
struct ReadSizes {
    next: usize,
    max: usize,
}

impl ReadSizes {
    const FIRST: usize = 1024;

    fn up_to(max: usize) -> ReadSizes {
        ReadSizes {
            next: Self::FIRST.min(max),
            max,
        }
    }

    fn next(&mut self) -> usize {
        let size = self.next;
        self.next = size.saturating_mul(2).min(self.max);
        size
    }
}

/// Writes of at least this size leave the app as they are; smaller pieces are gathered up to
/// it first.
const GATHER: usize = 64 * 1024;

/// Writes and empties `sink`, then flushes so the client has every byte now.
///
/// Each write to a streaming body is a host call and becomes a chunk of its own on the way
/// out (on Viceroy: a channel message, a chunked-encoding frame, a socket write). A chain
/// can emit several pieces for one input chunk (what an encoder's push and its flush each
/// make; a stage's output before and after a held tail), so small pieces are gathered into
/// writes of up to `GATHER` bytes: a copy is far cheaper than a write. A lone piece goes out
/// as it is.
fn write(out: &mut impl Write, sink: &mut Sink, gather: &mut Vec<u8>) -> Result<u64, String> {
    let mut n = 0u64;
    let mut send = |bytes: &[u8]| {
        n += bytes.len() as u64;
        out.write_all(bytes)
            .map_err(|e| format!("client write failed: {e}"))
    };
    let count = sink.len();
    for (i, piece) in sink.drain(..).enumerate() {
        if gather.len() + piece.len() > GATHER && !gather.is_empty() {
            send(gather)?;
            gather.clear();
        }
        // Copying gains nothing for a piece that would leave alone anyway.
        if gather.is_empty() && (piece.len() >= GATHER || i + 1 == count) {
            send(&piece)?;
        } else {
            gather.extend_from_slice(&piece);
        }
    }
    if !gather.is_empty() {
        send(gather)?;
        gather.clear();
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

/// A body longer than its Content-Length is as wrong as a short one: the length that went
/// out (or that a transform trusted) would no longer describe it.
fn not_over(received: u64, declared_length: Option<u64>) -> Result<(), String> {
    match declared_length {
        Some(declared) if received > declared => Err(format!(
            "backend body ran past its Content-Length ({received} of {declared} bytes)"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    /// Records each write it is handed.
    #[derive(Default)]
    struct Writes(Vec<Vec<u8>>);

    impl Write for Writes {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn small_pieces_leave_in_few_large_writes_and_in_order() -> std::io::Result<()> {
        let pieces: Vec<Vec<u8>> = (0..3000u32).map(|i| i.to_le_bytes().repeat(20)).collect();
        let expected: Vec<u8> = pieces.concat();
        let mut sink: Sink = pieces.into_iter().map(Bytes::from).collect();
        let mut out = Writes::default();
        let mut gather = Vec::new();
        let n = write(&mut out, &mut sink, &mut gather).map_err(std::io::Error::other)?;
        assert_eq!(n, expected.len() as u64);
        assert!(sink.is_empty() && gather.is_empty());
        assert_eq!(out.0.concat(), expected);
        // 240,000 bytes in 80-byte pieces: four writes, each as full as a piece boundary allows.
        assert_eq!(out.0.len(), expected.len().div_ceil(GATHER));
        assert!(out.0.iter().all(|w| w.len() <= GATHER));
        Ok(())
    }

    #[test]
    fn a_large_piece_is_written_as_it_is() -> std::io::Result<()> {
        let big = Bytes::from(vec![7u8; GATHER + 1]);
        let mut sink: Sink = vec![
            Bytes::from_static(b"head"),
            big.clone(),
            Bytes::from_static(b"tail"),
        ];
        let mut out = Writes::default();
        write(&mut out, &mut sink, &mut Vec::new()).map_err(std::io::Error::other)?;
        assert_eq!(
            out.0,
            vec![b"head".to_vec(), big.to_vec(), b"tail".to_vec()]
        );
        Ok(())
    }

    #[test]
    fn reads_start_small_and_double_up_to_the_largest() {
        let mut sizes = ReadSizes::up_to(8 * 1024);
        let seen: Vec<usize> = (0..6).map(|_| sizes.next()).collect();
        assert_eq!(seen, [1024, 2048, 4096, 8192, 8192, 8192]);
        // A largest size below the first, or not a power of two, is still never exceeded.
        let mut small = ReadSizes::up_to(100);
        assert_eq!([small.next(), small.next()], [100, 100]);
        let mut odd = ReadSizes::up_to(3000);
        assert_eq!([odd.next(), odd.next(), odd.next()], [1024, 2048, 3000]);
    }

    #[test]
    fn a_short_body_is_not_complete() {
        assert_eq!(complete(10, None), Ok(()));
        assert_eq!(complete(10, Some(10)), Ok(()));
        let reason = complete(4, Some(10)).err().unwrap_or_default();
        assert!(reason.contains("4 of 10"), "{reason}");
    }

    #[test]
    fn a_long_body_is_not_complete_either() {
        assert_eq!(not_over(10, Some(10)), Ok(()));
        assert_eq!(not_over(10, None), Ok(()));
        let reason = not_over(11, Some(10)).err().unwrap_or_default();
        assert!(reason.contains("11 of 10"), "{reason}");
    }
}
