//! The SHA-256 that names a dictionary (RFC 9842 §2.2): what a client advertises in
//! `Available-Dictionary`, what a `dcb` frame carries, and what the edge keys it by.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use sha2::{Digest, Sha256};

/// A dictionary's SHA-256.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DictionaryHash(pub [u8; 32]);

impl DictionaryHash {
    /// The length of a SHA-256, in bytes.
    pub const LEN: usize = 32;

    pub fn of(bytes: &[u8]) -> DictionaryHash {
        let mut hasher = Hasher::new();
        hasher.update(bytes);
        hasher.finish()
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// As an RFC 8941 byte sequence, `:<base64>:`, the form of `Available-Dictionary`.
    pub fn to_header(&self) -> String {
        format!(":{}:", STANDARD.encode(self.0))
    }

    /// Lowercase hex: a name safe in any cache key or log line.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for DictionaryHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DictionaryHash({})", self.to_hex())
    }
}

/// SHA-256 over a body that streams past in chunks: 32 bytes of state and a 64-byte block,
/// whatever the body's length, so a response can be hashed as it goes out.
#[derive(Clone, Default)]
pub struct Hasher(Sha256);

impl Hasher {
    pub fn new() -> Hasher {
        Hasher::default()
    }

    pub fn update(&mut self, chunk: &[u8]) {
        self.0.update(chunk);
    }

    pub fn finish(self) -> DictionaryHash {
        DictionaryHash(self.0.finalize().into())
    }
}

/// A dictionary's bytes and their hash. The hash is always computed from the bytes here,
/// never taken from a caller: a dictionary read back from a cache under a hash-named key is
/// checked with [`Dictionary::verified`], so a corrupt or mislabelled entry cannot make an
/// encoder announce a hash its bytes do not have.
#[derive(Clone, PartialEq, Eq)]
pub struct Dictionary {
    bytes: Bytes,
    hash: DictionaryHash,
}

impl Dictionary {
    pub fn new(bytes: Bytes) -> Dictionary {
        let hash = DictionaryHash::of(&bytes);
        Dictionary { bytes, hash }
    }

    /// The dictionary, if `bytes` hash to `expected`; `None` otherwise.
    pub fn verified(bytes: Bytes, expected: &DictionaryHash) -> Option<Dictionary> {
        let dictionary = Dictionary::new(bytes);
        (dictionary.hash == *expected).then_some(dictionary)
    }

    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    pub fn hash(&self) -> &DictionaryHash {
        &self.hash
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

impl fmt::Debug for Dictionary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Dictionary({} bytes, {})",
            self.len(),
            self.hash.to_hex()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_digests() {
        // FIPS 180-2 test vectors.
        assert_eq!(
            DictionaryHash::of(b"").to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            DictionaryHash::of(b"abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            DictionaryHash::of(b"").to_header(),
            ":47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"
        );
    }

    #[test]
    fn verified_checks_the_bytes_not_the_label() {
        let bytes = Bytes::from_static(b"v1 of the bundle");
        let right = DictionaryHash::of(&bytes);
        let wrong = DictionaryHash::of(b"v2 of the bundle");
        assert!(Dictionary::verified(bytes.clone(), &right).is_some());
        assert!(Dictionary::verified(bytes, &wrong).is_none());
    }

    proptest! {
        #[test]
        fn streaming_hash_is_split_invariant(
            body in proptest::collection::vec(any::<u8>(), 0..4096),
            cuts in proptest::collection::vec(0usize..4096, 0..16),
        ) {
            let mut hasher = Hasher::new();
            for piece in crate::testing::pieces(&body, &cuts) {
                hasher.update(piece);
            }
            prop_assert_eq!(hasher.finish(), DictionaryHash::of(&body));
        }
    }
}
