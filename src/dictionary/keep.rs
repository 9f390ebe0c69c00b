//! Keeping a response as a dictionary: a pass-through stage placed where the body is what
//! the client decodes (after the route's content stages, before any encoder), which hashes
//! every byte as it goes by and, once the body ended complete, stores it in the edge cache
//! under that hash.

use std::time::Duration;

use bytes::Bytes;
use firstbyte_transform::dictionary::{DictionaryHash, DictionaryUse, Hasher, Pattern};
use firstbyte_transform::{Sink, Transform, TransformError};

use super::held;

/// What a kept dictionary is recorded with, besides its hash (known only at the end).
pub struct KeepFor {
    pub host: String,
    pub pattern: Pattern,
    pub id: String,
    pub ttl: Duration,
    pub max_bytes: u64,
    /// The response, when the origin names its bytes (its URL, and its strong `ETag`, which
    /// changes whenever they do): noted with the dictionary, so that while it is held the
    /// same response is not re-made only to be kept again.
    pub response: Option<String>,
}

/// The tap stage. The hash is computed over the stream in constant memory; the bytes
/// themselves must be held until the end, because the cache key is their hash: at most
/// `max_bytes` of them (a body that grows past that is dropped from memory at once and not
/// kept).
pub struct Keeper {
    hasher: Option<Hasher>,
    held: Option<Vec<u8>>,
    keep: KeepFor,
}

impl Keeper {
    pub fn new(keep: KeepFor) -> Keeper {
        Keeper {
            hasher: Some(Hasher::new()),
            held: Some(Vec::new()),
            keep,
        }
    }
}

impl Transform for Keeper {
    fn name(&self) -> &'static str {
        "dictionary-keep"
    }

    fn push(&mut self, chunk: Bytes, out: &mut Sink) -> Result<(), TransformError> {
        if let Some(hasher) = self.hasher.as_mut() {
            hasher.update(&chunk);
        }
        if let Some(held) = self.held.as_mut() {
            if (held.len() + chunk.len()) as u64 > self.keep.max_bytes {
                // Too large to be a dictionary: no need to hash the rest either.
                self.held = None;
                self.hasher = None;
            } else {
                held.extend_from_slice(&chunk);
            }
        }
        out.push(chunk);
        Ok(())
    }

    fn flush(&mut self, _out: &mut Sink) -> Result<(), TransformError> {
        Ok(())
    }

    fn finish(&mut self, _out: &mut Sink) -> Result<(), TransformError> {
        // Only reached once the body ended complete (the pump checks that first), so a
        // truncated body is never kept.
        if let (Some(hasher), Some(bytes)) = (self.hasher.take(), self.held.take()) {
            let hash: DictionaryHash = hasher.finish();
            let usage = DictionaryUse {
                hash,
                host: self.keep.host.clone(),
                pattern: self.keep.pattern.clone(),
                id: self.keep.id.clone(),
            };
            held::keep(&usage, &bytes, self.keep.ttl, self.keep.response.as_deref());
        }
        Ok(())
    }
}
