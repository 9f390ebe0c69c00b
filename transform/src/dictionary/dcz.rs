//! The `dcz` encoder (RFC 9842 §4): Zstandard compressed against a dictionary, after a
//! header that names the dictionary.
//!
//! ```text
//! 5e 2a 4d 18 20 00 00 00 | SHA-256 of the dictionary (32 bytes) | Zstandard frame
//! ```
//!
//! The header is a Zstandard skippable frame (magic 0x184D2A5E, length 32, both
//! little-endian) whose content is the hash, so any zstd decoder skips it.

use bytes::Bytes;
use zstd_safe::zstd_sys::ZSTD_EndDirective;
use zstd_safe::{CCtx, CParameter, InBuffer, OutBuffer};

use super::hash::{Dictionary, DictionaryHash};
use crate::{Sink, Transform, TransformError};

const NAME: &str = "dcz-encode";

/// The skippable-frame header every `dcz` body starts with: the magic 0x184D2A5E and the
/// frame's length, 32, both little-endian.
pub const DCZ_MAGIC: [u8; 8] = [0x5e, 0x2a, 0x4d, 0x18, 0x20, 0x00, 0x00, 0x00];

/// Magic and hash: the bytes before the Zstandard frame.
pub const DCZ_HEADER_LEN: usize = DCZ_MAGIC.len() + DictionaryHash::LEN;

/// The header of a `dcz` body compressed against `hash`.
pub fn header(hash: &DictionaryHash) -> [u8; DCZ_HEADER_LEN] {
    let mut out = [0; DCZ_HEADER_LEN];
    out[..DCZ_MAGIC.len()].copy_from_slice(&DCZ_MAGIC);
    out[DCZ_MAGIC.len()..].copy_from_slice(hash.as_bytes());
    out
}

/// Compresses a body against a [`Dictionary`] (stage name `dcz-encode`), with the C
/// reference library (zstd 1.6.0, through `zstd-safe` 7.4).
///
/// The output is the `dcz` frame: [`DCZ_MAGIC`], the dictionary's SHA-256, then one
/// Zstandard frame whose history starts with the dictionary as raw content
/// (`ZSTD_CCtx_refPrefix`): the dictionary is never parsed as a zstd dictionary, even when
/// it starts with the zstd dictionary magic, which is what RFC 9842 asks and what a browser
/// decodes with.
///
/// It behaves as the `dcb` encoder does: `push` emits what zstd has produced, `flush` ends
/// the current block so every byte pushed so far is decodable (a flush with nothing new
/// emits nothing), `finish` ends the frame (with its content checksum). The header goes out
/// with the first output. zstd buffers at most one block (128 KiB) of input, so memory is
/// its window, its match tables and that block, whatever the body's size and the pushes'.
///
/// The window ([`DczEncoder::window_log`]) holds the dictionary and half as much again, as
/// `dcb`'s does: zstd can reach the whole dictionary only while the data so far fits the
/// window. RFC 9842 lets a client refuse a window over the larger of 8 MiB and 1.25 times
/// the dictionary (128 MiB at most), so the window never exceeds that; past it, a longer
/// body is still correct, compressed without the dictionary.
///
/// Memory: the dictionary is referenced, not copied (the encoder keeps a clone of its
/// `Bytes`); zstd adds its window, its level-3 tables (and long-distance matching's past
/// 1 MiB) and two blocks: 2.0, 3.5 and 10.0 MiB for dictionaries of 256 KiB, 1 MiB and
/// 4 MiB (windows 2^19, 2^21, 2^23; `tests/codec_memory.rs`).
pub struct DczEncoder {
    /// `None` once finished. Declared before `prefix`, so it is dropped first: zstd reads
    /// the prefix's bytes until the frame ends.
    cctx: Option<CCtx<'static>>,
    /// Owns the dictionary's bytes that `cctx` reads (see [`DczEncoder::new`]).
    #[allow(dead_code)]
    prefix: Bytes,
    /// Compressed bytes not yet handed to the sink; starts with the frame header.
    pending: Vec<u8>,
    /// Input bytes since the last flush.
    unflushed: usize,
    /// The most zstd's context has held (`ZSTD_sizeof_CCtx`). Natively its allocations go
    /// through the system's malloc, which a counting Rust allocator does not see, so this is
    /// how they are measured there (`tests/codec_memory.rs`); on wasm32 zstd-sys's shim
    /// sends them to Rust's allocator.
    zstd_peak: usize,
}

impl DczEncoder {
    /// zstd's default level, with 0.75 MiB of tables: on the bench's real bundles it
    /// encoded faster than `dcb`'s Brotli quality 4, in fewer bytes on three.js
    /// (docs/dictionaries.md); higher levels grow the tables and slow down.
    pub const LEVEL: i32 = 3;

    /// The dictionary size past which long-distance matching is on (see `new`).
    pub const LONG_DISTANCE_FROM: usize = 1 << 20;

    /// The smallest window used: 2^19, so a small dictionary still leaves a useful window.
    pub const MIN_WINDOW_LOG: u32 = 19;

    /// The largest window RFC 9842 lets a client refuse for any dictionary: 128 MiB.
    pub const MAX_WINDOW_LOG: u32 = 27;

    /// The window for a dictionary of `len` bytes: the smallest power of two from 2^19
    /// that holds the dictionary and half as much again, but never over RFC 9842's bound
    /// for that dictionary (the larger of 8 MiB and 1.25 × `len`, at most 128 MiB; a window
    /// is a power of two, so the largest power of two within it).
    pub fn window_log(len: usize) -> u32 {
        let bound = (8usize << 20)
            .max(len.saturating_add(len / 4))
            .min(1 << Self::MAX_WINDOW_LOG);
        let max = usize::BITS - 1 - bound.leading_zeros();
        let want = len.saturating_add(len / 2);
        (Self::MIN_WINDOW_LOG..max)
            .find(|&log| (1usize << log) >= want)
            .unwrap_or(max)
    }

    /// An encoder against `dictionary` (an empty one gives a plain zstd frame after the
    /// header).
    pub fn new(dictionary: &Dictionary) -> Result<DczEncoder, TransformError> {
        let prefix = dictionary.bytes().clone();
        let mut cctx = CCtx::try_create()
            .ok_or_else(|| TransformError::new(NAME, "zstd could not allocate its context"))?;
        let window_log = Self::window_log(prefix.len());
        cctx.set_parameter(CParameter::CompressionLevel(Self::LEVEL))
            .and_then(|_| cctx.set_parameter(CParameter::WindowLog(window_log)))
            .and_then(|_| cctx.set_parameter(CParameter::ChecksumFlag(true)))
            // Long-distance matching past 1 MiB of dictionary: level 3's hash tables (2^17
            // entries) keep few of a large dictionary's positions, so without it a 4 MiB
            // dictionary with one byte changed came to 739 KiB; with it, 471 bytes, for
            // about 0.5 MiB more (tests/codec_memory.rs). On real bundles under 1 MiB it
            // cost 2.7 times the time for 4 % more bytes (docs/dictionaries.md).
            .and_then(|_| {
                let ldm = prefix.len() > Self::LONG_DISTANCE_FROM;
                cctx.set_parameter(CParameter::EnableLongDistanceMatching(ldm))
            })
            .map_err(zstd_error)?;
        // SAFETY: `Bytes` keeps its bytes at one address, unchanged, until its last clone is
        // dropped; `prefix` is that clone, owned by this encoder and dropped after `cctx`
        // (field order), so the slice outlives every use zstd makes of it. The 'static only
        // stands for "as long as this encoder", which the borrow checker cannot express for
        // a field borrowing a sibling.
        let bytes: &'static [u8] =
            unsafe { std::slice::from_raw_parts(prefix.as_ptr(), prefix.len()) };
        // refPrefix, not loadDictionary: a prefix is always raw content (ZSTD_dct_rawContent),
        // where loadDictionary would parse bytes starting with the zstd dictionary magic.
        if !bytes.is_empty() {
            cctx.ref_prefix(bytes).map_err(zstd_error)?;
        }
        Ok(DczEncoder {
            cctx: Some(cctx),
            prefix,
            pending: header(dictionary.hash()).to_vec(),
            unflushed: 0,
            zstd_peak: 0,
        })
    }

    /// The most memory zstd's context has held so far, in bytes (see the field).
    pub fn zstd_peak(&self) -> usize {
        self.zstd_peak
    }

    /// Runs zstd over `input` with `op` until it has taken all of the input and, for a
    /// flush or the end, given back everything it owes; output goes to `pending`.
    fn run(&mut self, input: &[u8], op: ZSTD_EndDirective) -> Result<(), TransformError> {
        let Some(cctx) = self.cctx.as_mut() else {
            return Err(TransformError::new(NAME, "input pushed after finish"));
        };
        let mut scratch = [0u8; 16 * 1024];
        let mut input = InBuffer::around(input);
        loop {
            let mut output = OutBuffer::around(&mut scratch[..]);
            let owed = cctx
                .compress_stream2(&mut output, &mut input, op)
                .map_err(zstd_error)?;
            let produced = output.pos();
            self.pending.extend_from_slice(&scratch[..produced]);
            self.zstd_peak = self.zstd_peak.max(cctx.sizeof());
            let done = match op {
                ZSTD_EndDirective::ZSTD_e_continue => input.pos() == input.src.len(),
                _ => owed == 0,
            };
            if done {
                return Ok(());
            }
        }
    }

    /// Moves the pending output to `out`.
    fn drain(&mut self, out: &mut Sink) {
        if !self.pending.is_empty() {
            out.push(Bytes::from(std::mem::take(&mut self.pending)));
        }
    }
}

fn zstd_error(code: usize) -> TransformError {
    TransformError::new(
        NAME,
        format!("compression failed: {}", zstd_safe::get_error_name(code)),
    )
}

impl Transform for DczEncoder {
    fn name(&self) -> &'static str {
        NAME
    }

    fn push(&mut self, chunk: Bytes, out: &mut Sink) -> Result<(), TransformError> {
        let result = self.run(&chunk, ZSTD_EndDirective::ZSTD_e_continue);
        self.unflushed += chunk.len();
        self.drain(out);
        result
    }

    fn flush(&mut self, out: &mut Sink) -> Result<(), TransformError> {
        if self.unflushed > 0 {
            self.unflushed = 0;
            self.run(&[], ZSTD_EndDirective::ZSTD_e_flush)?;
        }
        self.drain(out);
        Ok(())
    }

    fn finish(&mut self, out: &mut Sink) -> Result<(), TransformError> {
        if self.cctx.is_none() {
            return Ok(());
        }
        let result = self.run(&[], ZSTD_EndDirective::ZSTD_e_end);
        self.cctx = None;
        self.drain(out);
        result
    }
}
