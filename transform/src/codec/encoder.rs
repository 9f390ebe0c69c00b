//! Streaming encoders for `gzip`, `deflate` (zlib-wrapped) and `br` responses.

use std::io::{self, Write};

use brotli::CompressorWriter;
use bytes::Bytes;
use flate2::write::{GzEncoder, ZlibEncoder};
use flate2::Compression;

use super::Encoding;
use crate::{Sink, Transform, TransformError};

/// Compresses a body (stage names `gzip-encode`, `deflate-encode`, `br-encode`).
///
/// - `push` emits whatever compressed output the encoder has already produced.
/// - `flush` makes every byte pushed so far decodable by the client: a zlib sync flush for
///   gzip/deflate (the stream ends on a byte boundary after an empty stored block), a brotli
///   `BROTLI_OPERATION_FLUSH`. A flush with nothing new pushed since the last one emits
///   nothing (no empty blocks on an idle stream).
/// - `finish` ends the stream and writes its trailer (gzip CRC-32 and length, zlib Adler-32,
///   brotli's last meta-block).
///
/// The output depends on where `flush` is called; what does not is the round trip: decoding
/// the output gives back exactly the input, however it was split and flushed.
///
/// Memory, measured with a counting allocator (the same on wasm32 and natively): gzip/deflate
/// about 350 KiB at every level (miniz_oxide's fixed-size tables), brotli about 0.95 MiB with
/// the defaults. Brotli's
/// encoder keeps a command buffer proportional to the input compressed at once, so this
/// encoder also flushes brotli by itself after every [`Encoder::BROTLI_FLUSH_EVERY`] bytes of
/// input: memory stays bounded however large the pushes and however rare the flushes, for
/// about 1 % of compression.
pub struct Encoder {
    name: &'static str,
    /// `None` once finished.
    inner: Option<Inner>,
    /// Input bytes since the last flush (sync flush or brotli flush).
    unflushed: usize,
}

enum Inner {
    Gzip(GzEncoder<Vec<u8>>),
    Zlib(ZlibEncoder<Vec<u8>>),
    Brotli(Box<CompressorWriter<Vec<u8>>>),
}

impl Encoder {
    /// gzip/deflate level when none is given: zlib's default, the usual trade-off (level 4
    /// is twice as fast for about 4 % larger output; 9 is slower for almost nothing).
    pub const DEFAULT_GZIP_LEVEL: u32 = 6;

    /// Brotli quality when none is given. With brotli 8's encoder, quality 4 is the lowest
    /// that beats gzip-6 on small documents (its H4 hasher is 512 KiB); qualities 2–3 save
    /// 0.3 MiB but compress worse than gzip-6.
    pub const DEFAULT_BROTLI_QUALITY: u32 = 4;

    /// The highest brotli quality accepted. Measured: with the 64 KiB window, qualities 5–9
    /// switch to brotli's forgetful-chain hasher and peak at 33 MiB (with larger windows,
    /// from 1.6 MiB at quality 5 to 17 MiB at 8); 10–11 need 2–2.5 MiB and compress at
    /// 1–2 MB/s. None of them fits an app that must stream in a 4 MiB heap.
    pub const MAX_BROTLI_QUALITY: u32 = 4;

    /// Brotli window: 2^16 = 64 KiB, so the input ring buffer is about 192 KiB, and a client
    /// needs only a 64 KiB window to decode. A 256 KiB window (18) costs another 0.4 MiB
    /// for about 2 % of compression.
    pub const BROTLI_LGWIN: u32 = 16;

    /// Input bytes after which the brotli encoder flushes by itself (see the type's docs).
    pub const BROTLI_FLUSH_EVERY: usize = 16 * 1024;

    /// An encoder for `encoding` at `level` (gzip/deflate level 0–9, brotli quality 0–4), or
    /// the default level. [`Encoding::Identity`] and an out-of-range level are errors.
    pub fn new(encoding: Encoding, level: Option<u32>) -> Result<Encoder, TransformError> {
        let (name, max, default) = match encoding {
            Encoding::Identity => {
                return Err(TransformError::new(
                    "encode",
                    "identity is not a compression: there is nothing to encode",
                ))
            }
            Encoding::Gzip => ("gzip-encode", 9, Self::DEFAULT_GZIP_LEVEL),
            Encoding::Deflate => ("deflate-encode", 9, Self::DEFAULT_GZIP_LEVEL),
            Encoding::Brotli => (
                "br-encode",
                Self::MAX_BROTLI_QUALITY,
                Self::DEFAULT_BROTLI_QUALITY,
            ),
        };
        let level = level.unwrap_or(default);
        if level > max {
            return Err(TransformError::new(
                name,
                format!("level {level} is out of range: 0 to {max}"),
            ));
        }
        let inner = match encoding {
            Encoding::Gzip => Inner::Gzip(GzEncoder::new(Vec::new(), Compression::new(level))),
            Encoding::Deflate => Inner::Zlib(ZlibEncoder::new(Vec::new(), Compression::new(level))),
            _ => Inner::Brotli(Box::new(CompressorWriter::new(
                Vec::new(),
                4096,
                level,
                Self::BROTLI_LGWIN,
            ))),
        };
        Ok(Encoder {
            name,
            inner: Some(inner),
            unflushed: 0,
        })
    }

    fn error(&self, err: io::Error) -> TransformError {
        TransformError::new(self.name, format!("compression failed: {err}"))
    }

    fn open(&mut self) -> Result<&mut Inner, TransformError> {
        let name = self.name;
        self.inner
            .as_mut()
            .ok_or_else(|| TransformError::new(name, "input pushed after finish"))
    }
}

impl Write for Inner {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Inner::Gzip(e) => e.write(data),
            Inner::Zlib(e) => e.write(data),
            Inner::Brotli(e) => e.write(data),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Inner::Gzip(e) => e.flush(),
            Inner::Zlib(e) => e.flush(),
            Inner::Brotli(e) => e.flush(),
        }
    }
}

impl Inner {
    fn finish(self) -> io::Result<Vec<u8>> {
        match self {
            Inner::Gzip(e) => e.finish(),
            Inner::Zlib(e) => e.finish(),
            Inner::Brotli(e) => Ok(e.into_inner()),
        }
    }

    /// Moves the compressed output produced so far to `out`, keeping the buffer for reuse
    /// unless a large push grew it.
    fn drain(&mut self, out: &mut Sink) {
        let buf = match self {
            Inner::Gzip(e) => e.get_mut(),
            Inner::Zlib(e) => e.get_mut(),
            Inner::Brotli(e) => e.get_mut(),
        };
        if !buf.is_empty() {
            out.push(Bytes::copy_from_slice(buf));
            buf.clear();
        }
        if buf.capacity() > 64 * 1024 {
            *buf = Vec::new();
        }
    }
}

impl Transform for Encoder {
    fn name(&self) -> &'static str {
        self.name
    }

    fn push(&mut self, chunk: Bytes, out: &mut Sink) -> Result<(), TransformError> {
        let mut unflushed = self.unflushed;
        let inner = self.open()?;
        let result = match inner {
            Inner::Brotli(_) => write_flushing_every(inner, &chunk, &mut unflushed),
            _ => {
                unflushed += chunk.len();
                inner.write_all(&chunk)
            }
        };
        inner.drain(out);
        self.unflushed = unflushed;
        result.map_err(|err| self.error(err))
    }

    fn flush(&mut self, out: &mut Sink) -> Result<(), TransformError> {
        if self.unflushed == 0 {
            return Ok(());
        }
        let inner = self.open()?;
        let result = inner.flush();
        inner.drain(out);
        self.unflushed = 0;
        result.map_err(|err| self.error(err))
    }

    fn finish(&mut self, out: &mut Sink) -> Result<(), TransformError> {
        let Some(inner) = self.inner.take() else {
            return Ok(());
        };
        let rest = inner.finish().map_err(|err| self.error(err))?;
        if !rest.is_empty() {
            out.push(Bytes::from(rest));
        }
        Ok(())
    }
}

/// Writes `data`, flushing whenever [`Encoder::BROTLI_FLUSH_EVERY`] input bytes have gone in
/// since the last flush: a brotli encoder's memory is bounded only if it flushes (the `br`
/// and `dcb` encoders share this).
pub(crate) fn write_flushing_every(
    inner: &mut impl Write,
    mut data: &[u8],
    unflushed: &mut usize,
) -> io::Result<()> {
    while !data.is_empty() {
        let take = (Encoder::BROTLI_FLUSH_EVERY - *unflushed).min(data.len());
        inner.write_all(&data[..take])?;
        *unflushed += take;
        data = &data[take..];
        if *unflushed == Encoder::BROTLI_FLUSH_EVERY {
            inner.flush()?;
            *unflushed = 0;
        }
    }
    Ok(())
}
