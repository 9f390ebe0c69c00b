//! Fixed documents and their compressed forms, built once and shared by every request, and
//! the streaming compressor behind `/text`.

use std::io::{self, Write};
use std::sync::OnceLock;

use serde::Serialize;

use super::html;

/// Which `Content-Encoding` a compressed body uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoding {
    Gzip,
    /// zlib-wrapped deflate, which is what `Content-Encoding: deflate` means (RFC 9110).
    Deflate,
    Brotli,
}

impl Encoding {
    pub(crate) fn token(self) -> &'static str {
        match self {
            Encoding::Gzip => "gzip",
            Encoding::Deflate => "deflate",
            Encoding::Brotli => "br",
        }
    }
}

/// The plain text behind `/gzip` and `/brotli`: a few KB of JSON, identical on every call.
pub fn sample_document() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(build_sample_document)
}

fn build_sample_document() -> String {
    #[derive(Serialize)]
    struct Sample {
        source: &'static str,
        description: &'static str,
        items: Vec<Item>,
    }
    #[derive(Serialize)]
    struct Item {
        id: u32,
        name: String,
        price_cents: u32,
        tags: [String; 3],
        note: &'static str,
    }
    let sample = Sample {
        source: "firstbyte-dev-origin",
        description: "Deterministic sample served compressed by /gzip and /brotli.",
        items: (0..40u32)
            .map(|i| Item {
                id: i,
                name: format!("item-{i:03}"),
                price_cents: (i * 7919) % 10_000,
                tags: ["edge".into(), "cache".into(), format!("tier-{}", i % 4)],
                note: "café – naïve ✓",
            })
            .collect(),
    };
    // Plain structs of strings and numbers: writing them cannot fail.
    serde_json::to_string_pretty(&sample).unwrap_or_default() + "\n"
}

/// Compressed bytes are cached as `Result` so a (theoretical) encoder failure becomes a 500
/// for that request rather than a panic in the server.
type Cached = Result<Vec<u8>, String>;

/// One cache slot per `Encoding`, indexed by its discriminant.
type Slots = [OnceLock<Cached>; 3];

pub(crate) fn compressed_sample(encoding: Encoding) -> Result<&'static [u8], &'static str> {
    static SLOTS: Slots = [const { OnceLock::new() }; 3];
    cached(&SLOTS, encoding, sample_document().as_bytes())
}

pub(crate) fn compressed_html(encoding: Encoding) -> Result<&'static [u8], &'static str> {
    static SLOTS: Slots = [const { OnceLock::new() }; 3];
    cached(&SLOTS, encoding, html::html_page().as_bytes())
}

fn cached(
    slots: &'static Slots,
    encoding: Encoding,
    plain: &[u8],
) -> Result<&'static [u8], &'static str> {
    let slot = &slots[encoding as usize];
    match slot.get_or_init(|| compress(encoding, plain).map_err(|e| e.to_string())) {
        Ok(bytes) => Ok(bytes.as_slice()),
        Err(msg) => Err(msg.as_str()),
    }
}

pub(crate) fn compress(encoding: Encoding, plain: &[u8]) -> io::Result<Vec<u8>> {
    match encoding {
        Encoding::Gzip => {
            // flate2 writes mtime 0 and a fixed OS byte, so the output is byte-for-byte stable.
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
            enc.write_all(plain)?;
            enc.finish()
        }
        Encoding::Deflate => {
            let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
            enc.write_all(plain)?;
            enc.finish()
        }
        Encoding::Brotli => {
            // Quality 5 / window 22 is what servers typically use for on-the-fly brotli.
            let params = brotli::enc::BrotliEncoderParams {
                quality: 5,
                lgwin: 22,
                ..Default::default()
            };
            let mut out = Vec::new();
            brotli::BrotliCompress(&mut &plain[..], &mut out, &params)?;
            Ok(out)
        }
    }
}

/// Brotli quality for streamed bodies: 1 is brotli's fast two-pass mode, quick enough for
/// multi-gigabyte bodies in tests; window 20 bits (1 MiB) bounds the memory.
const STREAM_BROTLI_QUALITY: i32 = 1;
const STREAM_BROTLI_LGWIN: i32 = 20;
/// In its fast modes brotli compresses every write as a block of its own, only matching
/// within it, so writes are gathered up to this much: better ratio, less per-block work.
const STREAM_BROTLI_BLOCK: usize = 1 << STREAM_BROTLI_LGWIN;
/// Brotli's output buffer; large enough that a block needs few trips through it.
const STREAM_BROTLI_BUFFER: usize = 64 * 1024;

/// A compressor fed a piece at a time whose output is taken as it appears, so memory
/// stays constant however long the stream. Gzip and deflate use level 1, the fastest.
pub(crate) enum StreamEncoder {
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Deflate(flate2::write::ZlibEncoder<Vec<u8>>),
    Brotli {
        encoder: Box<brotli::CompressorWriter<Vec<u8>>>,
        /// Plain bytes written but not yet given to `encoder`; see `STREAM_BROTLI_BLOCK`.
        staged: Vec<u8>,
    },
}

impl StreamEncoder {
    pub(crate) fn new(encoding: Encoding) -> Self {
        let fast = flate2::Compression::fast();
        match encoding {
            Encoding::Gzip => StreamEncoder::Gzip(flate2::write::GzEncoder::new(Vec::new(), fast)),
            Encoding::Deflate => {
                StreamEncoder::Deflate(flate2::write::ZlibEncoder::new(Vec::new(), fast))
            }
            Encoding::Brotli => {
                let params = brotli::enc::BrotliEncoderParams {
                    quality: STREAM_BROTLI_QUALITY,
                    lgwin: STREAM_BROTLI_LGWIN,
                    ..Default::default()
                };
                StreamEncoder::Brotli {
                    encoder: Box::new(brotli::CompressorWriter::with_params(
                        Vec::new(),
                        STREAM_BROTLI_BUFFER,
                        &params,
                    )),
                    staged: Vec::new(),
                }
            }
        }
    }

    pub(crate) fn write(&mut self, plain: &[u8]) -> io::Result<()> {
        match self {
            StreamEncoder::Gzip(enc) => enc.write_all(plain),
            StreamEncoder::Deflate(enc) => enc.write_all(plain),
            StreamEncoder::Brotli { encoder, staged } => {
                if staged.is_empty() && plain.len() >= STREAM_BROTLI_BLOCK {
                    return encoder.write_all(plain);
                }
                staged.extend_from_slice(plain);
                if staged.len() >= STREAM_BROTLI_BLOCK {
                    encoder.write_all(staged)?;
                    staged.clear();
                }
                Ok(())
            }
        }
    }

    /// A sync flush: everything written so far becomes decodable from the output.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        match self {
            StreamEncoder::Gzip(enc) => enc.flush(),
            StreamEncoder::Deflate(enc) => enc.flush(),
            StreamEncoder::Brotli { encoder, staged } => {
                encoder.write_all(staged)?;
                staged.clear();
                encoder.flush()
            }
        }
    }

    /// The compressed bytes produced since the last call.
    pub(crate) fn take_output(&mut self) -> Vec<u8> {
        let out = match self {
            StreamEncoder::Gzip(enc) => enc.get_mut(),
            StreamEncoder::Deflate(enc) => enc.get_mut(),
            StreamEncoder::Brotli { encoder, .. } => encoder.get_mut(),
        };
        std::mem::take(out)
    }

    /// Ends the stream (deflate's final block and the gzip or zlib trailer, brotli's last
    /// meta-block) and returns the output not taken yet.
    pub(crate) fn finish(self) -> io::Result<Vec<u8>> {
        match self {
            StreamEncoder::Gzip(enc) => enc.finish(),
            StreamEncoder::Deflate(enc) => enc.finish(),
            StreamEncoder::Brotli {
                mut encoder,
                staged,
            } => {
                encoder.write_all(&staged)?;
                // Brotli's writer finishes in `into_inner`, which drops its errors: writing
                // into a Vec cannot fail.
                Ok(encoder.into_inner())
            }
        }
    }
}
