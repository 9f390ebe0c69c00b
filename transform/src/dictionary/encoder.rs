//! The `dcb` encoder: Brotli compressed against a dictionary, framed as RFC 9842 says.

use std::io::{self, Write};

use brotli::enc::encode::{
    BrotliEncoderDestroyInstance, BrotliEncoderOperation, BrotliEncoderParameter,
    BrotliEncoderStateStruct,
};
use brotli::enc::interface::{InputReferenceMut, PredictionModeContextMap, StaticCommand};
use brotli::enc::{InputPair, StandardAlloc};
use bytes::Bytes;

use super::dcb::header;
use super::hash::Dictionary;
use crate::codec::encoder::write_flushing_every;
use crate::codec::Encoder;
use crate::{Sink, Transform, TransformError};

const NAME: &str = "dcb-encode";

/// Compresses a body against a [`Dictionary`] (stage name `dcb-encode`).
///
/// The output is the `dcb` frame: [`DCB_MAGIC`](super::DCB_MAGIC), the dictionary's
/// SHA-256, then a standard Brotli stream (not large-window) whose window starts out holding
/// the dictionary, as a raw (LZ77 prefix) dictionary: what Google's decoder attaches with
/// `BrotliDecoderAttachDictionary(BROTLI_SHARED_DICTIONARY_RAW)` and Chrome uses for `dcb`.
///
/// It behaves as the `br` [`Encoder`] does: `push` emits what the encoder has produced,
/// `flush` makes every byte so far decodable (a Brotli flush), and it flushes by itself
/// every [`Encoder::BROTLI_FLUSH_EVERY`] input bytes so its memory stays bounded. The header
/// goes out with the first output. The round trip is what does not depend on the chunking.
///
/// The window ([`DcbEncoder::lgwin`]) is sized to hold the dictionary and half as much
/// again: a byte of the new version lies about one dictionary length after its counterpart
/// in the old one, so that keeps the whole old version in reach of a new one up to 1.5
/// times its size. RFC 9842 caps a `dcb` window at 16 MiB (lgwin 24), so a dictionary over
/// [`DcbEncoder::MAX_DICTIONARY`] is refused.
///
/// Memory: brotli's encoder keeps a ring buffer of about twice the window, plus the quality's
/// hasher (see `tests/codec_memory.rs` for the measured figures); the dictionary's own bytes
/// are copied into that ring buffer, so the caller's copy can be dropped once this is built.
pub struct DcbEncoder {
    /// `None` once finished.
    state: Option<Box<BrotliEncoderStateStruct<StandardAlloc>>>,
    /// Compressed bytes not yet handed to the sink; starts with the frame header.
    pending: Vec<u8>,
    unflushed: usize,
}

impl DcbEncoder {
    /// The largest window RFC 9842 lets a `dcb` stream use: 2^24 bytes.
    pub const MAX_LGWIN: u32 = 24;

    /// The largest dictionary whose every byte the largest window can reach (brotli keeps 16
    /// bytes of a window back).
    pub const MAX_DICTIONARY: usize = (1 << Self::MAX_LGWIN) - 16;

    /// The window for a dictionary of `len` bytes: the smallest, from the `br` encoder's
    /// 2^16 up to 2^24, that holds the dictionary and half as much again (see the type).
    pub fn lgwin(len: usize) -> u32 {
        let want = len.saturating_add(len / 2).saturating_add(16);
        (Encoder::BROTLI_LGWIN..Self::MAX_LGWIN)
            .find(|&lgwin| (1usize << lgwin) >= want)
            .unwrap_or(Self::MAX_LGWIN)
    }

    /// An encoder against `dictionary` at brotli `quality` 0–4 (`None`: the `br` default).
    /// An empty dictionary is allowed (the stream is then plain Brotli in a dcb frame); one
    /// larger than [`DcbEncoder::MAX_DICTIONARY`] is an error.
    pub fn new(
        dictionary: &Dictionary,
        quality: Option<u32>,
    ) -> Result<DcbEncoder, TransformError> {
        let quality = quality.unwrap_or(Encoder::DEFAULT_BROTLI_QUALITY);
        if quality > Encoder::MAX_BROTLI_QUALITY {
            return Err(TransformError::new(
                NAME,
                format!(
                    "level {quality} is out of range: 0 to {}",
                    Encoder::MAX_BROTLI_QUALITY
                ),
            ));
        }
        if dictionary.len() > Self::MAX_DICTIONARY {
            return Err(TransformError::new(
                NAME,
                format!(
                    "a dictionary of {} bytes does not fit the largest dcb window ({} bytes)",
                    dictionary.len(),
                    Self::MAX_DICTIONARY
                ),
            ));
        }
        let mut state = Box::new(BrotliEncoderStateStruct::new(StandardAlloc::default()));
        let lgwin = Self::lgwin(dictionary.len());
        let set = state.set_parameter(BrotliEncoderParameter::BROTLI_PARAM_QUALITY, quality)
            && state.set_parameter(BrotliEncoderParameter::BROTLI_PARAM_LGWIN, lgwin);
        if !set {
            return Err(TransformError::new(NAME, "brotli refused the parameters"));
        }
        // Parameters first: the dictionary is loaded into a window of the size set above.
        state.set_custom_dictionary(dictionary.len(), dictionary.bytes());
        Ok(DcbEncoder {
            state: Some(state),
            pending: header(dictionary.hash()).to_vec(),
            unflushed: 0,
        })
    }

    fn open(&mut self) -> Result<Stream<'_>, TransformError> {
        match self.state.as_deref_mut() {
            Some(state) => Ok(Stream {
                state,
                out: &mut self.pending,
            }),
            None => Err(TransformError::new(NAME, "input pushed after finish")),
        }
    }

    /// Moves the pending output to `out`.
    fn drain(&mut self, out: &mut Sink) {
        if !self.pending.is_empty() {
            out.push(Bytes::from(std::mem::take(&mut self.pending)));
        }
    }
}

impl Drop for DcbEncoder {
    fn drop(&mut self) {
        if let Some(state) = self.state.as_deref_mut() {
            BrotliEncoderDestroyInstance(state);
        }
    }
}

fn error(err: io::Error) -> TransformError {
    TransformError::new(NAME, format!("compression failed: {err}"))
}

impl Transform for DcbEncoder {
    fn name(&self) -> &'static str {
        NAME
    }

    fn push(&mut self, chunk: Bytes, out: &mut Sink) -> Result<(), TransformError> {
        let mut unflushed = self.unflushed;
        let result = write_flushing_every(&mut self.open()?, &chunk, &mut unflushed);
        self.unflushed = unflushed;
        self.drain(out);
        result.map_err(error)
    }

    fn flush(&mut self, out: &mut Sink) -> Result<(), TransformError> {
        if self.unflushed > 0 {
            let result = self.open()?.flush();
            self.unflushed = 0;
            result.map_err(error)?;
        }
        self.drain(out);
        Ok(())
    }

    fn finish(&mut self, out: &mut Sink) -> Result<(), TransformError> {
        let Some(mut state) = self.state.take() else {
            return Ok(());
        };
        let result = Stream {
            state: &mut state,
            out: &mut self.pending,
        }
        .run(BrotliEncoderOperation::BROTLI_OPERATION_FINISH, &[]);
        BrotliEncoderDestroyInstance(&mut state);
        self.drain(out);
        result.map_err(error)
    }
}

/// The brotli state machine as an `io::Write` appending to the pending output, so the `br`
/// encoder's flushing policy drives it unchanged.
struct Stream<'a> {
    state: &'a mut BrotliEncoderStateStruct<StandardAlloc>,
    out: &'a mut Vec<u8>,
}

impl Stream<'_> {
    /// Runs `op` until brotli has taken all of `input` and, for a flush or finish, given
    /// back everything it owes.
    fn run(&mut self, op: BrotliEncoderOperation, input: &[u8]) -> io::Result<()> {
        let mut scratch = [0u8; 4096];
        let mut available_in = input.len();
        let mut in_offset = 0;
        loop {
            let mut available_out = scratch.len();
            let mut out_offset = 0;
            let mut total_out = None;
            let ok = self.state.compress_stream(
                op,
                &mut available_in,
                input,
                &mut in_offset,
                &mut available_out,
                &mut scratch,
                &mut out_offset,
                &mut total_out,
                &mut |_: &mut PredictionModeContextMap<InputReferenceMut>,
                      _: &mut [StaticCommand],
                      _: InputPair,
                      _: &mut StandardAlloc| {},
            );
            self.out.extend_from_slice(&scratch[..out_offset]);
            if !ok {
                return Err(io::Error::other("brotli encoder failed"));
            }
            let owes = match op {
                BrotliEncoderOperation::BROTLI_OPERATION_FINISH => !self.state.is_finished(),
                BrotliEncoderOperation::BROTLI_OPERATION_FLUSH => self.state.has_more_output(),
                _ => false,
            };
            if available_in == 0 && !owes {
                return Ok(());
            }
        }
    }
}

impl Write for Stream<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.run(BrotliEncoderOperation::BROTLI_OPERATION_PROCESS, buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.run(BrotliEncoderOperation::BROTLI_OPERATION_FLUSH, &[])
    }
}
