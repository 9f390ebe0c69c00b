//! The `dcb` frame (RFC 9842 §4): a fixed header, then a Brotli stream compressed against
//! the dictionary the header names.
//!
//! ```text
//! ff 44 43 42 | SHA-256 of the dictionary (32 bytes) | Brotli stream
//! ```

use super::hash::DictionaryHash;

/// The 4 bytes every `dcb` body starts with.
pub const DCB_MAGIC: [u8; 4] = [0xff, 0x44, 0x43, 0x42];

/// Magic and hash: the bytes before the Brotli stream.
pub const DCB_HEADER_LEN: usize = DCB_MAGIC.len() + DictionaryHash::LEN;

/// The header of a body compressed against `hash`.
pub fn header(hash: &DictionaryHash) -> [u8; DCB_HEADER_LEN] {
    let mut out = [0; DCB_HEADER_LEN];
    out[..DCB_MAGIC.len()].copy_from_slice(&DCB_MAGIC);
    out[DCB_MAGIC.len()..].copy_from_slice(hash.as_bytes());
    out
}

/// Collects the header across however many chunks it arrives in.
pub(super) struct HeaderReader {
    buf: [u8; DCB_HEADER_LEN],
    len: usize,
}

impl Default for HeaderReader {
    fn default() -> HeaderReader {
        HeaderReader {
            buf: [0; DCB_HEADER_LEN],
            len: 0,
        }
    }
}

impl HeaderReader {
    /// Takes header bytes from the front of `input`; returns how many it took, and the
    /// header's hash once all of it is here. A wrong magic is an error as soon as it shows.
    pub(super) fn feed(
        &mut self,
        input: &[u8],
    ) -> Result<(usize, Option<DictionaryHash>), &'static str> {
        let take = (DCB_HEADER_LEN - self.len).min(input.len());
        self.buf[self.len..self.len + take].copy_from_slice(&input[..take]);
        self.len += take;
        let magic = self.len.min(DCB_MAGIC.len());
        if self.buf[..magic] != DCB_MAGIC[..magic] {
            return Err("not a dcb stream: it does not start with the dcb magic ff 44 43 42");
        }
        if self.len < DCB_HEADER_LEN {
            return Ok((take, None));
        }
        let mut hash = [0; DictionaryHash::LEN];
        hash.copy_from_slice(&self.buf[DCB_MAGIC.len()..]);
        Ok((take, Some(DictionaryHash(hash))))
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_read_across_any_split() -> Result<(), &'static str> {
        let hash = DictionaryHash::of(b"dictionary");
        let bytes = header(&hash);
        for cut in 0..=DCB_HEADER_LEN {
            let mut reader = HeaderReader::default();
            let (used, done) = reader.feed(&bytes[..cut])?;
            assert_eq!((used, done.is_some()), (cut, cut == DCB_HEADER_LEN));
            let mut rest = bytes[cut..].to_vec();
            rest.extend_from_slice(b"brotli");
            let (used, done) = reader.feed(&rest)?;
            assert_eq!((used, done), (DCB_HEADER_LEN - cut, Some(hash)));
        }
        Ok(())
    }

    #[test]
    fn a_wrong_magic_fails_at_its_first_byte() {
        let mut reader = HeaderReader::default();
        assert!(reader.feed(&[0xff, 0x44]).is_ok());
        assert!(reader.feed(&[0x00]).is_err());
        assert!(HeaderReader::default().feed(b"\x1f\x8b").is_err());
    }
}
