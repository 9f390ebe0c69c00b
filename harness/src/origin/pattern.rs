//! The deterministic byte pattern behind `/bytes`, `/stream-bytes` and `/reset`, and the
//! body that streams it.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::{sleep, Sleep};

use super::flush::FlushSignal;
use super::BoxError;

/// Bytes in the first frame of a pattern body; see `poll_frame`.
const FIRST_FRAME: usize = 4096;

/// Mixed into every word so the pattern does not start with the well-known splitmix64
/// outputs of 0, 1, 2, ...
const SEED: u64 = 0x6669_7273_7462_7974; // "firstbyt"

/// splitmix64's finaliser: every input bit affects every output bit, so consecutive word
/// indexes give unrelated-looking words and a proxy that reorders or repeats frames is caught.
pub(crate) fn mix(index: u64) -> u64 {
    let mut z = (index ^ SEED).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Fills `buf` with the pattern bytes at positions `offset .. offset + buf.len()`.
///
/// Byte `i` depends only on `i` (it is byte `i % 8` of a hash of `i / 8`), so any slice of a
/// multi-gigabyte body can be checked without generating what comes before it.
pub fn pattern_bytes(offset: u64, buf: &mut [u8]) {
    let mut pos = offset;
    let mut out = buf;
    while !out.is_empty() {
        let word = mix(pos / 8).to_le_bytes();
        let start = (pos % 8) as usize;
        let n = (8 - start).min(out.len());
        out[..n].copy_from_slice(&word[start..start + n]);
        out = &mut out[n..];
        pos = pos.wrapping_add(n as u64);
    }
}

/// The error `/reset` bodies end with. Hyper answers a body error by dropping the
/// connection without the terminating zero-length chunk, which is exactly the truncation
/// the endpoint exists to produce.
#[derive(Debug)]
pub(crate) struct DeliberateReset;

impl fmt::Display for DeliberateReset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection cut on purpose by /reset")
    }
}

impl Error for DeliberateReset {}

/// What happens once all pattern bytes have been produced.
enum Ending {
    /// Length known up front: hyper sends `Content-Length`.
    Sized,
    /// Chunked encoding with a clean terminating chunk.
    Chunked,
    /// Chunked, then the connection is cut, optionally after a pause.
    Reset {
        signal: Arc<FlushSignal>,
        phase: ResetPhase,
    },
    /// The reset error has been returned; nothing more to poll.
    Done,
}

enum ResetPhase {
    /// Waiting for hyper to flush the last frame. Holds the flush epoch seen once the last
    /// data frame had been handed to hyper, when known.
    Draining { pause: Duration, armed: Option<u64> },
    /// Everything is in the kernel; holding the connection open before cutting it.
    Pausing(Pin<Box<Sleep>>),
}

/// Streams `len` pattern bytes in frames of `frame` bytes, generating each frame only when
/// hyper asks for it, so memory stays constant however long the body is.
pub(crate) struct PatternBody {
    pos: u64,
    end: u64,
    frame: usize,
    ending: Ending,
    /// Whether the pause after the first frame has happened; see `poll_frame`.
    head_flushed: bool,
}

impl PatternBody {
    pub(crate) fn sized(len: u64, frame: usize) -> Self {
        Self::new(len, frame, Ending::Sized)
    }

    pub(crate) fn chunked(len: u64, frame: usize) -> Self {
        Self::new(len, frame, Ending::Chunked)
    }

    /// `pause` keeps the connection open that long after the last byte, so a test can
    /// tell "the proxy got the bytes" apart from "the proxy saw the cut".
    pub(crate) fn reset(len: u64, frame: usize, pause: Duration, signal: Arc<FlushSignal>) -> Self {
        let phase = ResetPhase::Draining { pause, armed: None };
        Self::new(len, frame, Ending::Reset { signal, phase })
    }

    fn new(len: u64, frame: usize, ending: Ending) -> Self {
        PatternBody {
            pos: 0,
            end: len,
            frame: frame.max(1),
            ending,
            head_flushed: false,
        }
    }
}

/// Hyper keeps polling a ready body and only writes once its buffer is full, so a large
/// body's headers would wait for ~400 KB of frames. One `Pending` (with an immediate wake)
/// after the first frame makes it flush: the origin's time to first byte stays flat
/// whatever the size. Returns whether to pause now.
pub(crate) fn pause_after_first_frame(
    first_sent: bool,
    paused: &mut bool,
    cx: &mut Context<'_>,
) -> bool {
    if first_sent && !*paused {
        *paused = true;
        cx.waker().wake_by_ref();
        return true;
    }
    false
}

impl Body for PatternBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if pause_after_first_frame(this.pos > 0, &mut this.head_flushed, cx) {
            return Poll::Pending;
        }
        if this.pos < this.end {
            // The first frame is small so that generating it does not delay the headers.
            let frame = if this.pos == 0 {
                this.frame.min(FIRST_FRAME)
            } else {
                this.frame
            };
            let n = (this.end - this.pos).min(frame as u64) as usize;
            let mut buf = BytesMut::zeroed(n);
            pattern_bytes(this.pos, &mut buf);
            this.pos += n as u64;
            return Poll::Ready(Some(Ok(Frame::data(buf.freeze()))));
        }
        match &mut this.ending {
            Ending::Sized | Ending::Chunked | Ending::Done => return Poll::Ready(None),
            Ending::Reset { signal, phase } => loop {
                match phase {
                    ResetPhase::Draining { pause, armed } => {
                        // Erroring straight away would make hyper drop frames still in its
                        // write buffer, so the client would get fewer than n bytes. Wait
                        // until hyper has flushed once after our last frame: its buffer is
                        // then empty and the kernel, which still delivers after the close,
                        // holds every byte.
                        signal.register(cx.waker());
                        let now = signal.epoch();
                        match *armed {
                            Some(at) if now > at && pause.is_zero() => break,
                            Some(at) if now > at => {
                                *phase = ResetPhase::Pausing(Box::pin(sleep(*pause)));
                            }
                            Some(_) => return Poll::Pending,
                            None => {
                                *armed = Some(now);
                                return Poll::Pending;
                            }
                        }
                    }
                    ResetPhase::Pausing(timer) => {
                        if timer.as_mut().poll(cx).is_pending() {
                            return Poll::Pending;
                        }
                        break;
                    }
                }
            },
        }
        this.ending = Ending::Done;
        Poll::Ready(Some(Err(Box::new(DeliberateReset))))
    }

    fn is_end_stream(&self) -> bool {
        self.pos >= self.end && matches!(self.ending, Ending::Sized | Ending::Done)
    }

    fn size_hint(&self) -> SizeHint {
        match self.ending {
            // An exact hint is what makes hyper pick Content-Length over chunked.
            Ending::Sized => SizeHint::with_exact(self.end - self.pos),
            _ => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_offset_matches_the_full_sequence() {
        let mut whole = [0u8; 100];
        pattern_bytes(0, &mut whole);
        for start in 0..40 {
            let mut part = [0u8; 37];
            pattern_bytes(start as u64, &mut part);
            assert_eq!(part[..], whole[start..start + 37]);
        }
    }

    #[test]
    fn far_offsets_do_not_overflow() {
        let mut buf = [0u8; 16];
        pattern_bytes(u64::MAX - 7, &mut buf);
        pattern_bytes(16 << 30, &mut buf);
    }
}
