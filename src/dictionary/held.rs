//! Dictionaries in the edge cache (Fastly Core Cache): one object per dictionary, keyed by
//! the origin it came from and its SHA-256, with what a request is checked against (its
//! host, resolved `match`, `id`) in the object's metadata. Read back, the bytes are hashed
//! again ([`Dictionary::verified`]): a key name is never trusted for the hash an encoder
//! announces.

use std::io::{Read, Write};
use std::time::Duration;

use bytes::Bytes;
use fastly::cache::core;
use firstbyte_transform::dictionary::{Dictionary, DictionaryHash, DictionaryUse, Pattern};

/// The cache key of the dictionary `hash` from `host`. The host is part of it so that a
/// dictionary is only ever found for requests to its own origin (RFC 9842 §8, same-origin).
fn key(host: &str, hash: &DictionaryHash) -> Bytes {
    Bytes::from(format!("firstbyte-dictionary\n{host}\n{}", hash.to_hex()))
}

/// The metadata's format: a version line, the host, then a resolved pattern and an id for
/// each use the bytes were kept with, one a line (none of them can hold a line break: they
/// come from header values and a checked pattern). `dict1` held one use: the same lines.
const FORMAT: &str = "dict2";

/// The most uses one dictionary keeps. The same bytes marked under several routes' (or
/// directories') `match` keep each, so that no request for them elsewhere takes the
/// dictionary from the clients of a route that marked it; the most recent are kept.
const MAX_USES: usize = 8;

fn encode(uses: &[DictionaryUse]) -> Bytes {
    let mut text = String::from(FORMAT);
    if let Some(first) = uses.first() {
        text.push('\n');
        text.push_str(&first.host);
    }
    for usage in uses.iter().take(MAX_USES) {
        text.push('\n');
        text.push_str(usage.pattern.as_str());
        text.push('\n');
        text.push_str(&usage.id);
    }
    Bytes::from(text)
}

/// The uses `metadata` holds; None when it is not this format or holds none.
fn decode(metadata: &[u8], hash: &DictionaryHash) -> Option<Vec<DictionaryUse>> {
    let text = std::str::from_utf8(metadata).ok()?;
    let mut lines = text.split('\n');
    if !matches!(lines.next()?, "dict1" | FORMAT) {
        return None;
    }
    let host = lines.next()?;
    let mut uses = Vec::new();
    while let Some(pattern) = lines.next() {
        // Stored resolved, so it is absolute and resolves to itself.
        let pattern = Pattern::parse(pattern, "/").ok()?;
        let id = lines.next()?.to_string();
        uses.push(DictionaryUse {
            hash: *hash,
            host: host.to_string(),
            pattern,
            id,
        });
    }
    (!uses.is_empty()).then_some(uses)
}

/// The uses to keep `dictionary` with: its own first, then those the edge already holds for
/// the same bytes (one lookup; any failure keeps its own alone).
fn uses_with(dictionary: &DictionaryUse) -> Vec<DictionaryUse> {
    let held = core::lookup(key(&dictionary.host, &dictionary.hash))
        .execute()
        .ok()
        .flatten()
        .and_then(|found| decode(&found.user_metadata(), &dictionary.hash))
        .unwrap_or_default();
    let same = |a: &DictionaryUse, b: &DictionaryUse| a.pattern == b.pattern && a.id == b.id;
    let mut uses = vec![dictionary.clone()];
    for usage in held {
        if usage.host == dictionary.host && !uses.iter().any(|u| same(u, &usage)) {
            uses.push(usage);
        }
    }
    uses.truncate(MAX_USES);
    uses
}

/// The cache key of the note that the response `response` names (its URL and strong
/// `ETag`, [`super::keep::KeepFor::response`]) was kept as a dictionary: hashed, so a long
/// URL cannot make it too long.
fn note_key(host: &str, response: &str) -> Bytes {
    let named = DictionaryHash::of(response.as_bytes()).to_hex();
    Bytes::from(format!("firstbyte-dictionary-of\n{host}\n{named}"))
}

/// Notes, for as long as the dictionary is kept, that `response` was kept as the dictionary
/// `hash`: the next such response that would pass untouched need not be re-made to be kept
/// ([`kept_as`]). Failures only cost that re-making.
fn note(host: &str, response: &str, hash: &DictionaryHash, ttl: Duration) {
    let noted = core::insert(note_key(host, response), ttl)
        .user_metadata(Bytes::copy_from_slice(hash.as_bytes()))
        .known_length(0)
        .execute()
        .map_err(|e| e.to_string())
        .and_then(|writer| writer.finish().map_err(|e| e.to_string()));
    if let Err(e) = noted {
        log::warn!("noting dictionary {} failed: {e}", hash.to_hex());
    }
}

/// The dictionary `response` was noted as kept as, if the note is still there (one lookup;
/// the dictionary itself is then looked up with [`held`], which checks its metadata).
pub fn kept_as(host: &str, response: &str) -> Option<DictionaryHash> {
    let found = core::lookup(note_key(host, response)).execute().ok()??;
    let bytes: [u8; 32] = found.user_metadata().as_ref().try_into().ok()?;
    Some(DictionaryHash(bytes))
}

/// Stores a dictionary's bytes under its hash for `ttl`, and notes the response it was
/// (`response`: its URL and strong `ETag`) as kept. Failures are logged and dropped: a
/// dictionary not kept only means a later request falls back to br or gzip.
pub fn keep(dictionary: &DictionaryUse, bytes: &[u8], ttl: Duration, response: Option<&str>) {
    let stored = (|| -> Result<(), String> {
        let mut writer = core::insert(key(&dictionary.host, &dictionary.hash), ttl)
            .user_metadata(encode(&uses_with(dictionary)))
            .known_length(bytes.len() as u64)
            .execute()
            .map_err(|e| e.to_string())?;
        if let Err(e) = writer.write_all(bytes) {
            writer.abandon().ok();
            return Err(e.to_string());
        }
        writer.finish().map_err(|e| e.to_string())
    })();
    match stored {
        Ok(()) => {
            log::debug!(
                "kept dictionary {} ({} bytes) for {} s",
                dictionary.hash.to_hex(),
                bytes.len(),
                ttl.as_secs()
            );
            if let Some(response) = response {
                note(&dictionary.host, response, &dictionary.hash, ttl);
            }
        }
        Err(e) => log::warn!(
            "keeping dictionary {} failed: {e}",
            dictionary.hash.to_hex()
        ),
    }
}

/// Why a held dictionary was not found usable (the response then falls back).
pub type Missing = String;

/// The dictionary `hash` of `host`, if the edge holds it and its metadata and length say it
/// applies, ready to be read ([`Pending::read`]). `check` runs on the metadata before any
/// byte is read, so a dictionary that does not apply costs one lookup, and one that does
/// costs nothing more until its bytes are needed: what a cached route keys its `dcb`
/// variant by ([`super::Dictionaries::variant`]), so a hash the edge does not hold never
/// names an object.
pub fn held(
    host: &str,
    hash: &DictionaryHash,
    max_bytes: u64,
    check: impl Fn(&DictionaryUse) -> Result<(), Missing>,
) -> Result<Pending, Missing> {
    let found = core::lookup(key(host, hash))
        .execute()
        .map_err(|e| format!("lookup failed: {e}"))?
        .ok_or("unknown or evicted")?;
    let uses = decode(&found.user_metadata(), hash).ok_or("unreadable metadata")?;
    // Any use it was kept with that applies to this request: the bytes are the same.
    let mut why = Missing::new();
    if !uses.iter().any(|usage| match check(usage) {
        Ok(()) => true,
        Err(e) => {
            why = e;
            false
        }
    }) {
        return Err(why);
    }
    if found.known_length().is_some_and(|n| n > max_bytes) {
        return Err("larger than dictionary_max_bytes".into());
    }
    Ok(Pending {
        found,
        hash: *hash,
        max_bytes,
    })
}

/// A held dictionary found and found to apply, its bytes not read yet.
pub struct Pending {
    found: core::Found,
    hash: DictionaryHash,
    max_bytes: u64,
}

impl Pending {
    /// The hash it was found under, not yet checked against its bytes.
    pub fn hash(&self) -> DictionaryHash {
        self.hash
    }

    /// The dictionary's bytes, if there are at most `max_bytes` of them and they hash to the
    /// name they were found under.
    pub fn read(self) -> Result<Dictionary, Missing> {
        let body = self
            .found
            .to_stream()
            .map_err(|e| format!("read failed: {e}"))?;
        let mut bytes = Vec::new();
        body.take(self.max_bytes.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| format!("read failed: {e}"))?;
        if bytes.len() as u64 > self.max_bytes {
            return Err("larger than dictionary_max_bytes".into());
        }
        Dictionary::verified(Bytes::from(bytes), &self.hash)
            .ok_or_else(|| "held bytes do not hash to the advertised dictionary".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_reads_back_and_refuses_other_formats() -> Result<(), String> {
        let hash = DictionaryHash::of(b"v1");
        let usage = DictionaryUse {
            hash,
            host: "www.example.com".into(),
            pattern: Pattern::parse("app.*.js", "/js/app.v1.js").map_err(|e| e.0)?,
            id: "bundle".into(),
        };
        let other = DictionaryUse {
            pattern: Pattern::parse("/other/*", "/").map_err(|e| e.0)?,
            id: String::new(),
            ..usage.clone()
        };
        let both = vec![usage.clone(), other];
        assert_eq!(decode(&encode(&both), &hash), Some(both));
        // The earlier format, one use, still reads.
        let one = format!("dict1\nwww.example.com\n{}\nbundle", usage.pattern.as_str());
        assert_eq!(decode(one.as_bytes(), &hash), Some(vec![usage]));
        assert_eq!(decode(b"dict0\nh\n/x\n", &hash), None);
        assert_eq!(decode(b"dict1\nh", &hash), None);
        assert_eq!(decode(b"dict2\nh\n/x", &hash), None);
        Ok(())
    }
}
