//! Compression dictionaries (RFC 9842, Compression Dictionary Transport): a response the
//! client keeps becomes the dictionary against which a later response is compressed, so a
//! new version of a file crosses the wire as its difference from the old one.
//!
//! - [`Dictionary`] holds a dictionary's bytes with the SHA-256 that names it, computed from
//!   the bytes (never trusted from a key name); [`Hasher`] computes that hash over a stream,
//!   in constant memory, as the dictionary's response goes out.
//! - [`DcbEncoder`] (`dcb-encode`) and [`DcbDecoder`] (`dcb-decode`) are the `dcb` content
//!   coding as streaming [`Transform`](crate::Transform) stages: the 4-byte magic, the
//!   dictionary's hash, then Brotli compressed against the dictionary.
//! - [`DictionaryCoding`] is what differs between `dcb` and `dcz` (token, header, encoder).
//! - [`DictionaryRequest`] and [`DictionaryUse`] decide whether a held dictionary may
//!   encode a response: the request accepts `dcb` or `dcz` and names its hash, the origin is the
//!   same, its `match` covers the path, its `id` is echoed.
//! - [`headers`] parses `Available-Dictionary`, `Use-As-Dictionary` and `Dictionary-ID`, and
//!   writes the `Use-As-Dictionary` a route adds; [`Pattern`] is the subset of the `match`
//!   URL pattern this crate supports.
//!
//! - [`DczEncoder`] (`dcz-encode`) is the `dcz` content coding: a zstd skippable frame
//!   holding the dictionary's hash, then Zstandard with the dictionary as raw content.

mod coding;
mod dcb;
mod dcz;
mod decoder;
mod encoder;
mod hash;
pub mod headers;
mod negotiate;
mod pattern;

pub use coding::DictionaryCoding;
pub use dcb::{header as dcb_header, DCB_HEADER_LEN, DCB_MAGIC};
pub use dcz::{header as dcz_header, DczEncoder, DCZ_HEADER_LEN, DCZ_MAGIC};
pub use decoder::DcbDecoder;
pub use encoder::DcbEncoder;
pub use hash::{Dictionary, DictionaryHash, Hasher};
pub use negotiate::{DictionaryRequest, DictionaryUse, Refusal, DCB, DCZ, VARY};
pub use pattern::{Pattern, PatternError};
