//! Content codings: decoding an origin's compressed body so later stages can rewrite it, and
//! encoding the result for the client, both as streaming [`Transform`](crate::Transform)
//! stages.
//!
//! - [`negotiate`] picks the coding for the client from its `Accept-Encoding`.
//! - [`Decoder`] (`gzip-decode`, `deflate-decode`, `br-decode`) inflates, guarded against
//!   decompression bombs by [`Limits`].
//! - [`Encoder`] (`gzip-encode`, `deflate-encode`, `br-encode`) compresses; its `flush` makes
//!   every byte pushed so far decodable by the client, so a compressed response still
//!   streams progressively.
//!
//! Split invariance: a decoder's output does not depend on how the compressed input is split
//! (the inflate and brotli state machines are streaming). An encoder's output does depend on
//! where `flush` is called (a flush ends a deflate block or a brotli meta-block), so the
//! invariant for encoders is the round trip: `decode(encode(input split any way, flushed or
//! not)) == input`.
//!
//! Memory (measured with a counting allocator, the same on wasm32 and natively; see
//! `tests/codec_memory.rs`): a gzip/deflate encoder holds about 350 KiB whatever the level, a
//! brotli encoder with the defaults about 1 MiB, a gzip/deflate decoder under 150 KiB with
//! the chunk in flight, a brotli decoder of our own 64 KiB-window output about 200 KiB. But a
//! brotli decoder in general holds a ring buffer the size of the window the *stream*
//! declares: 2^WBITS bytes, up to 16 MiB, 4 MiB for the common `lgwin` 22. That is outside
//! our control, so when memory matters ask the origin for `gzip` (32 KiB window), not `br`.
//!
//! Each decoder call emits at most a 16 KiB piece at a time but must consume its whole input
//! chunk, so one push can emit up to `max_ratio` × the chunk size (after the floor): feed a
//! decoder compressed chunks of a few KiB to keep the output held in a sink small.

pub(crate) mod decoder;
pub(crate) mod encoder;
mod gzip;
mod negotiate;

pub use decoder::Decoder;
pub use encoder::Encoder;
pub use negotiate::{accepts, coding_class, negotiate};

/// A content coding (RFC 9110 §8.4.1) this crate can decode or encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    Identity,
    Gzip,
    /// HTTP `deflate`: zlib-wrapped (RFC 1950). Decoding also accepts raw deflate, which
    /// some servers send by mistake.
    Deflate,
    Brotli,
}

impl Encoding {
    /// The coding a `Content-Encoding` value names: `gzip` (or `x-gzip`), `deflate`, `br` or
    /// `identity`, ASCII case-insensitive, surrounding whitespace ignored. `None` for any other
    /// value, including an empty one and a list of several codings (`gzip, br`), which this
    /// crate does not unwrap: pass such a body through untouched.
    pub fn from_content_encoding(value: &str) -> Option<Encoding> {
        let value = value.trim_matches([' ', '\t']);
        [
            ("gzip", Encoding::Gzip),
            ("x-gzip", Encoding::Gzip),
            ("deflate", Encoding::Deflate),
            ("br", Encoding::Brotli),
            ("identity", Encoding::Identity),
        ]
        .into_iter()
        .find(|(token, _)| value.eq_ignore_ascii_case(token))
        .map(|(_, encoding)| encoding)
    }

    /// The token for `Content-Encoding` (`identity`, `gzip`, `deflate`, `br`).
    pub fn token(self) -> &'static str {
        match self {
            Encoding::Identity => "identity",
            Encoding::Gzip => "gzip",
            Encoding::Deflate => "deflate",
            Encoding::Brotli => "br",
        }
    }
}

/// The decompression bomb guard of a [`Decoder`]: decoding stops with an error, before the
/// offending output is emitted, once
/// - the output would exceed `max_output` bytes, or
/// - the output would exceed both [`Limits::RATIO_FLOOR`] and `max_ratio` × the compressed
///   bytes received so far.
///
/// The ratio is checked on the running totals, so a single push of a few compressed bytes
/// cannot inflate far: the decoder stops within one 16 KiB output step of the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_ratio: u64,
    pub max_output: u64,
}

impl Limits {
    /// Output below this size is never refused for its ratio: small, highly compressible
    /// bodies (a page of whitespace, a JSON array of zeros) are legitimate, and a bomb gains
    /// nothing from 1 MiB. Above it, the ratio applies.
    pub const RATIO_FLOOR: u64 = 1 << 20;

    /// No limits at all: for trusted input only (tests, our own encoder's output).
    pub fn unlimited() -> Limits {
        Limits {
            max_ratio: u64::MAX,
            max_output: u64::MAX,
        }
    }
}

impl Default for Limits {
    /// `max_ratio` 100, `max_output` unlimited.
    ///
    /// Real content compresses 3–10× (HTML, JS), 20–30× for repetitive JSON or logs; deflate
    /// cannot exceed about 1032×, brotli can reach millions. 100× leaves legitimate bodies a
    /// wide margin and stops a bomb after about 100 × its compressed size.
    ///
    /// `max_output` is `u64::MAX` because the proxy streams bodies of many GiB: the output is
    /// never held whole, so its total size costs no memory, and a legitimate large download
    /// must not be cut off at an arbitrary size. Amplification is what a bomb exploits, and
    /// the ratio guard bounds it. Set `max_output` where a route knows its bodies are small.
    fn default() -> Limits {
        Limits {
            max_ratio: 100,
            max_output: u64::MAX,
        }
    }
}
