//! Streaming decoders for `gzip`, `deflate` and `br` bodies.
//!
//! They drive the low-level state machines directly (`flate2::Decompress`, brotli's
//! `BrotliDecompressStream`) rather than the `io::Write` adapters, so that each step's output
//! is bounded (16 KiB) and checked against the [`Limits`] before it is emitted, and so that
//! framing decisions (gzip members, trailing bytes, truncation) are ours and explicit.

use brotli::enc::StandardAlloc;
use brotli::{BrotliDecompressStream, BrotliResult, BrotliState};
use bytes::Bytes;
use flate2::{Crc, Decompress, FlushDecompress, Status};

use super::gzip::{Header, Trailer};
use super::{Encoding, Limits};
use crate::{Sink, Transform, TransformError};

/// The most output one decoding step produces before the limits are checked and the piece
/// is emitted; also the size of the decoder's scratch buffer.
const STEP: usize = 16 * 1024;

/// Decodes a `gzip`, `deflate` or `br` body (stage names `gzip-decode`, `deflate-decode`,
/// `br-decode`).
///
/// - Output is emitted as soon as the decompressor produces it: every push drains the state
///   machine until it has nothing more to give without more input, so `flush` has nothing
///   left to emit.
/// - Corrupt input is an error at the push that reveals it; a stream that stops early (a
///   gzip member without its trailer, a deflate or brotli stream without its last block) is
///   an error at `finish`. A body of zero bytes decodes to nothing without error: servers
///   label empty bodies with `Content-Encoding` too.
/// - gzip: several members in a row (RFC 1952 §2.2, what `cat a.gz b.gz` produces) decode to
///   the concatenation of their contents, as gunzip does; each member's CRC-32 and length
///   are verified. Any other byte after a complete member is an error (trailing garbage is
///   indistinguishable from a damaged next member).
/// - deflate: zlib-wrapped as RFC 9110 says (Adler-32 verified), or raw deflate, which some
///   servers send: the first two bytes decide, as browsers do (a zlib header has compression
///   method 8, a window of at most 32 KiB and `(CMF × 256 + FLG) % 31 == 0`; a raw stream
///   starting with such bytes is practically unheard of). A preset dictionary (FDICT) is an
///   error. Bytes after the end of the stream are an error.
/// - br: bytes after the end of the stream are an error. Large-window brotli (not valid for
///   `Content-Encoding: br`) is refused. Memory: the stream's window, up to 16 MiB.
/// - After an error, every later call returns the same error.
///
/// The guard counts output against the compressed bytes *received* so far. Whether a stream
/// whose running ratio hovers at `max_ratio` trips it can depend on how its input was chunked
/// (the totals are checked after each step); `max_output` and everything else do not.
///
/// Known limit: brotli-decompressor counts its output in a `usize`; on wasm32 that counter
/// wraps after 4 GiB, harmlessly in release builds (the arithmetic is modular), but a debug
/// build could panic on overflow while decoding a brotli body over 4 GiB.
pub struct Decoder {
    format: Format,
    guard: Guard,
    scratch: Box<[u8]>,
    state: Lifecycle,
    /// Compressed bytes received (the guard's total may start above zero).
    received: u64,
}

enum Lifecycle {
    Open,
    Finished,
    Failed(TransformError),
}

enum Format {
    Gzip(Box<Gzip>),
    Deflate(Box<Deflate>),
    Brotli(Box<Brotli>),
}

impl Decoder {
    /// A decoder for `encoding`; [`Encoding::Identity`] has none and is an error.
    pub fn new(encoding: Encoding, limits: Limits) -> Result<Decoder, TransformError> {
        let (name, format) = match encoding {
            Encoding::Identity => {
                return Err(TransformError::new(
                    "decode",
                    "identity is not a compression: there is nothing to decode",
                ))
            }
            Encoding::Gzip => ("gzip-decode", Format::Gzip(Box::new(Gzip::new()))),
            Encoding::Deflate => ("deflate-decode", Format::Deflate(Box::default())),
            Encoding::Brotli => ("br-decode", Format::Brotli(Box::new(Brotli::new()))),
        };
        Ok(Decoder {
            format,
            guard: Guard {
                name,
                limits,
                total_in: 0,
                total_out: 0,
            },
            scratch: vec![0; STEP].into_boxed_slice(),
            state: Lifecycle::Open,
            received: 0,
        })
    }

    /// A brotli decoder whose window starts out holding `dictionary` (a raw, LZ77 prefix
    /// dictionary, as `dcb` uses), named `name`. The dictionary counts as compressed input
    /// for the ratio guard: a delta against it legitimately inflates far beyond `max_ratio`
    /// times its own size, but not beyond that times the dictionary and the delta together.
    pub(crate) fn brotli_with_dictionary(
        name: &'static str,
        dictionary: &[u8],
        limits: Limits,
    ) -> Decoder {
        Decoder {
            format: Format::Brotli(Box::new(Brotli::with_dictionary(dictionary))),
            guard: Guard {
                name,
                limits,
                total_in: dictionary.len() as u64,
                total_out: 0,
            },
            scratch: vec![0; STEP].into_boxed_slice(),
            state: Lifecycle::Open,
            received: 0,
        }
    }

    /// Runs one call against the decoder, keeping the first error for every later call.
    fn call(
        &mut self,
        input: &[u8],
        finishing: bool,
        out: &mut Sink,
    ) -> Result<(), TransformError> {
        match &self.state {
            Lifecycle::Failed(err) => return Err(err.clone()),
            Lifecycle::Finished if input.is_empty() => return Ok(()),
            Lifecycle::Finished => return Err(self.guard.error("input pushed after finish")),
            Lifecycle::Open => {}
        }
        self.guard.total_in += input.len() as u64;
        self.received += input.len() as u64;
        let mut io = Io {
            scratch: &mut self.scratch,
            guard: &mut self.guard,
            out,
        };
        let mut result = match &mut self.format {
            Format::Gzip(gzip) => gzip.push(input, &mut io),
            Format::Deflate(deflate) => deflate.push(input, &mut io),
            Format::Brotli(brotli) => brotli.push(input, &mut io),
        };
        if finishing && result.is_ok() {
            let empty = self.received == 0;
            result = match &self.format {
                Format::Gzip(gzip) => gzip.finish(empty),
                Format::Deflate(deflate) => deflate.finish(empty),
                Format::Brotli(brotli) => brotli.finish(empty),
            }
            .map_err(|reason| self.guard.error(reason));
            if result.is_ok() {
                self.state = Lifecycle::Finished;
            }
        }
        if let Err(err) = &result {
            self.state = Lifecycle::Failed(err.clone());
        }
        result
    }
}

impl Transform for Decoder {
    fn name(&self) -> &'static str {
        self.guard.name
    }

    fn push(&mut self, chunk: Bytes, out: &mut Sink) -> Result<(), TransformError> {
        self.call(&chunk, false, out)
    }

    fn flush(&mut self, out: &mut Sink) -> Result<(), TransformError> {
        // Every push already drained the decompressor; one more step with no input costs
        // nothing and would emit anything a backend kept back.
        self.call(&[], false, out)
    }

    fn finish(&mut self, out: &mut Sink) -> Result<(), TransformError> {
        self.call(&[], true, out)
    }
}

/// The bomb guard and the running totals it checks.
struct Guard {
    name: &'static str,
    limits: Limits,
    total_in: u64,
    total_out: u64,
}

impl Guard {
    fn error(&self, reason: impl Into<String>) -> TransformError {
        TransformError::new(self.name, reason)
    }

    /// Emits one step's output, unless it would take the totals past the limits.
    fn emit(&mut self, bytes: &[u8], out: &mut Sink) -> Result<(), TransformError> {
        if bytes.is_empty() {
            return Ok(());
        }
        let total = self.total_out.saturating_add(bytes.len() as u64);
        let Limits {
            max_ratio,
            max_output,
        } = self.limits;
        if total > max_output {
            return Err(self.error(format!(
                "decompressed output exceeds the max_output limit of {max_output} bytes"
            )));
        }
        if total > Limits::RATIO_FLOOR && total > max_ratio.saturating_mul(self.total_in) {
            return Err(self.error(format!(
                "decompressed output ({total} bytes) exceeds the max_ratio limit of {max_ratio} \
                 times the {} compressed bytes received: refusing a likely decompression bomb",
                self.total_in
            )));
        }
        self.total_out = total;
        out.push(Bytes::copy_from_slice(bytes));
        Ok(())
    }
}

/// What every format's step needs besides its own state.
struct Io<'a> {
    scratch: &'a mut [u8],
    guard: &'a mut Guard,
    out: &'a mut Sink,
}

impl Io<'_> {
    fn error(&self, reason: impl Into<String>) -> TransformError {
        self.guard.error(reason)
    }
}

/// Inflates from the front of `input` until it is used up or the deflate stream ends,
/// showing each piece of output to `seen` before it is emitted. Returns the bytes consumed
/// and whether the stream ended (then the rest of `input` follows the stream).
fn inflate(
    inflater: &mut Decompress,
    input: &[u8],
    io: &mut Io<'_>,
    mut seen: impl FnMut(&[u8]),
) -> Result<(usize, bool), TransformError> {
    let mut used = 0;
    loop {
        let (in_before, out_before) = (inflater.total_in(), inflater.total_out());
        let status = inflater
            .decompress(&input[used..], io.scratch, FlushDecompress::None)
            .map_err(|err| io.error(format!("corrupt deflate data: {err}")))?;
        let consumed = (inflater.total_in() - in_before) as usize;
        let produced = (inflater.total_out() - out_before) as usize;
        used += consumed;
        seen(&io.scratch[..produced]);
        io.guard.emit(&io.scratch[..produced], io.out)?;
        if status == Status::StreamEnd {
            return Ok((used, true));
        }
        // Keep going while anything moves: a call may only hand out output left in the
        // window from the previous one, or stop because the scratch buffer is full.
        if consumed == 0 && produced == 0 {
            if used < input.len() {
                return Err(io.error("deflate decoder stalled on its input"));
            }
            return Ok((used, false));
        }
    }
}

struct Gzip {
    phase: Phase,
    inflater: Decompress,
    crc: Crc,
}

enum Phase {
    Header(Header),
    Body,
    Trailer(Trailer),
    /// After a complete member: the end of the body, or another member.
    Between,
}

impl Gzip {
    fn new() -> Gzip {
        Gzip {
            phase: Phase::Header(Header::new(false)),
            inflater: Decompress::new(false),
            crc: Crc::new(),
        }
    }

    fn push(&mut self, mut input: &[u8], io: &mut Io<'_>) -> Result<(), TransformError> {
        if input.is_empty() {
            if let Phase::Body = self.phase {
                let crc = &mut self.crc;
                inflate(&mut self.inflater, input, io, |bytes| crc.update(bytes))?;
            }
            return Ok(());
        }
        while !input.is_empty() {
            match &mut self.phase {
                Phase::Between => self.phase = Phase::Header(Header::new(true)),
                Phase::Header(header) => {
                    let (used, done) = header.feed(input).map_err(|r| io.error(r))?;
                    input = &input[used..];
                    if done {
                        self.inflater.reset(false);
                        self.crc.reset();
                        self.phase = Phase::Body;
                    }
                }
                Phase::Body => {
                    let crc = &mut self.crc;
                    let (used, ended) =
                        inflate(&mut self.inflater, input, io, |bytes| crc.update(bytes))?;
                    input = &input[used..];
                    if ended {
                        self.phase = Phase::Trailer(Trailer::default());
                    }
                }
                Phase::Trailer(trailer) => {
                    let (used, done) = trailer.feed(input);
                    input = &input[used..];
                    if done {
                        trailer.check(&self.crc).map_err(|r| io.error(r))?;
                        self.phase = Phase::Between;
                    }
                }
            }
        }
        Ok(())
    }

    fn finish(&self, empty: bool) -> Result<(), &'static str> {
        match &self.phase {
            Phase::Between => Ok(()),
            Phase::Header(_) if empty => Ok(()),
            Phase::Header(_) => Err("truncated gzip stream: it ends inside a member header"),
            Phase::Body => Err("truncated gzip stream: the compressed data is incomplete"),
            Phase::Trailer(_) => {
                Err("truncated gzip stream: the CRC-32/length trailer is incomplete")
            }
        }
    }
}

#[derive(Default)]
struct Deflate {
    /// The first two bytes, kept until both are here to tell zlib from raw deflate.
    head: [u8; 2],
    head_len: usize,
    inflater: Option<Decompress>,
    ended: bool,
}

impl Deflate {
    fn push(&mut self, mut input: &[u8], io: &mut Io<'_>) -> Result<(), TransformError> {
        if self.inflater.is_none() {
            let take = (2 - self.head_len).min(input.len());
            self.head[self.head_len..self.head_len + take].copy_from_slice(&input[..take]);
            self.head_len += take;
            input = &input[take..];
            if self.head_len < 2 {
                return Ok(());
            }
            self.inflater = Some(Decompress::new(is_zlib_header(self.head)));
            let head = self.head;
            self.feed(&head, io)?;
        }
        self.feed(input, io)
    }

    fn feed(&mut self, input: &[u8], io: &mut Io<'_>) -> Result<(), TransformError> {
        let Some(inflater) = self.inflater.as_mut() else {
            return Ok(());
        };
        if self.ended {
            return match input.is_empty() {
                true => Ok(()),
                false => Err(io.error("unexpected bytes after the end of the deflate stream")),
            };
        }
        let (used, ended) = inflate(inflater, input, io, |_| {})?;
        self.ended = ended;
        if used < input.len() {
            return Err(io.error("unexpected bytes after the end of the deflate stream"));
        }
        Ok(())
    }

    fn finish(&self, empty: bool) -> Result<(), &'static str> {
        if self.ended || empty {
            Ok(())
        } else {
            Err("truncated deflate stream: the last block never came")
        }
    }
}

/// RFC 1950 §2.2: compression method 8, window at most 2^15, FCHECK makes the pair a
/// multiple of 31.
fn is_zlib_header([cmf, flg]: [u8; 2]) -> bool {
    cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0
}

type BrotliDecoderState = BrotliState<StandardAlloc, StandardAlloc, StandardAlloc>;

struct Brotli {
    state: BrotliDecoderState,
    ended: bool,
}

impl Brotli {
    fn new() -> Brotli {
        Brotli {
            // Strict: standard windows only (up to 16 MiB), not large-window brotli, whose
            // window could ask for a GiB.
            state: BrotliDecoderState::new_strict(
                StandardAlloc::default(),
                StandardAlloc::default(),
                StandardAlloc::default(),
            ),
            ended: false,
        }
    }

    fn with_dictionary(dictionary: &[u8]) -> Brotli {
        let mut state = BrotliDecoderState::new_with_custom_dictionary(
            StandardAlloc::default(),
            StandardAlloc::default(),
            StandardAlloc::default(),
            dictionary.to_vec().into(),
        );
        // The constructor allows large windows; a dictionary does not need them (RFC 9842
        // caps dcb at 16 MiB), and refusing them keeps the window bounded as `new` does.
        state.large_window = false;
        Brotli {
            state,
            ended: false,
        }
    }

    fn push(&mut self, input: &[u8], io: &mut Io<'_>) -> Result<(), TransformError> {
        if self.ended {
            return match input.is_empty() {
                true => Ok(()),
                false => Err(io.error("unexpected bytes after the end of the brotli stream")),
            };
        }
        let mut used = 0;
        loop {
            let mut available_in = input.len() - used;
            let mut input_offset = used;
            let mut available_out = io.scratch.len();
            let mut output_offset = 0;
            // The decoder also reports its running output total here; ours is in the guard.
            let mut total_out = 0;
            let result = BrotliDecompressStream(
                &mut available_in,
                &mut input_offset,
                input,
                &mut available_out,
                &mut output_offset,
                io.scratch,
                &mut total_out,
                &mut self.state,
            );
            let progressed = input_offset > used || output_offset > 0;
            used = input_offset;
            io.guard.emit(&io.scratch[..output_offset], io.out)?;
            match result {
                // A full buffer may hide more output: the decoder asks for input even when
                // decoded bytes are still waiting in its ring buffer (the C API's
                // `BrotliDecoderHasMoreOutput`, which the brotli crate does not export).
                BrotliResult::NeedsMoreOutput | BrotliResult::NeedsMoreInput
                    if available_out == 0 => {}
                BrotliResult::NeedsMoreInput if used == input.len() => return Ok(()),
                BrotliResult::NeedsMoreOutput | BrotliResult::NeedsMoreInput if progressed => {}
                BrotliResult::NeedsMoreOutput | BrotliResult::NeedsMoreInput => {
                    return Err(io.error("brotli decoder stalled on its input"))
                }
                BrotliResult::ResultSuccess => {
                    self.ended = true;
                    if used < input.len() {
                        return Err(io.error("unexpected bytes after the end of the brotli stream"));
                    }
                    return Ok(());
                }
                BrotliResult::ResultFailure => {
                    return Err(
                        io.error(format!("corrupt brotli data ({:?})", self.state.error_code))
                    )
                }
            }
        }
    }

    fn finish(&self, empty: bool) -> Result<(), &'static str> {
        if self.ended || empty {
            Ok(())
        } else {
            Err("truncated brotli stream: it ends before its last meta-block")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zlib_headers_are_told_from_raw_deflate() {
        for head in [
            [0x78, 0x9c],
            [0x78, 0x01],
            [0x78, 0xda],
            [0x58, 0x85],
            [0x08, 0x1d],
        ] {
            assert!(is_zlib_header(head), "{head:02x?}");
        }
        // Raw deflate starts: a fixed-Huffman final block, a stored block, dynamic blocks.
        for head in [
            [0x03, 0x00],
            [0x01, 0x05],
            [0xed, 0xbd],
            [0x4b, 0x4c],
            [0x88, 0x1d],
        ] {
            assert!(!is_zlib_header(head), "{head:02x?}");
        }
    }
}
