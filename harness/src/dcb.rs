//! What a client holding a compression dictionary does (RFC 9842), written here rather than
//! taken from the app's code, so the tests and the benchmark check firstbyte against an
//! independent reading: the `Available-Dictionary` value it sends, the `dcb` body it
//! decodes with the `brotli` crate's own decoder and the dictionary, and the `dcz` body it
//! decodes with the C zstd library and the dictionary as raw content.

use std::io::Read;

use sha2::{Digest, Sha256};

/// The first four bytes of a `dcb` body.
pub const DCB_MAGIC: [u8; 4] = [0xff, 0x44, 0x43, 0x42];

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// `:base64:`, the RFC 8941 byte sequence `Available-Dictionary` carries.
pub fn sf_binary(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::from(":");
    for group in bytes.chunks(3) {
        let n = group
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= group.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out.push(':');
    out
}

/// A `dcb` body decoded with `dictionary`: its magic and the dictionary's hash checked
/// first, then the Brotli stream decoded by the `brotli` crate with the dictionary attached
/// (raw, as Chrome attaches it). Every way it can fail is an error naming it.
pub fn decode(dictionary: &[u8], body: &[u8]) -> Result<Vec<u8>, String> {
    if body.len() < 36 {
        return Err(format!(
            "{} bytes: shorter than a dcb frame header",
            body.len()
        ));
    }
    if body[..4] != DCB_MAGIC {
        return Err(format!("no dcb magic: {:02x?}", &body[..4]));
    }
    if body[4..36] != sha256(dictionary) {
        return Err("the frame names another dictionary".into());
    }
    let mut out = Vec::new();
    brotli::Decompressor::new_with_custom_dict(&body[36..], 4096, dictionary.to_vec().into())
        .read_to_end(&mut out)
        .map_err(|e| format!("the brotli crate cannot decode it with the dictionary: {e}"))?;
    Ok(out)
}

/// A `dcz` body decoded as a client decodes it, and the first eight bytes of one: the
/// transform crate's, which its own tests use too.
pub use firstbyte_transform::dictionary::DCZ_MAGIC;
pub use firstbyte_transform::testing::decode_dcz;

/// A `br` body decoded.
pub fn unbrotli(body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    brotli::Decompressor::new(body, 4096)
        .read_to_end(&mut out)
        .map_err(|e| format!("not a br body: {e}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sequences_are_base64_between_colons() {
        assert_eq!(sf_binary(b""), "::");
        assert_eq!(sf_binary(b"f"), ":Zg==:");
        assert_eq!(sf_binary(b"foobar"), ":Zm9vYmFy:");
    }

    #[test]
    fn a_dcb_body_decodes_only_with_its_dictionary() -> Result<(), String> {
        use firstbyte_transform::dictionary::{DcbEncoder, Dictionary};
        // Made by the app's encoder, read by this independent decoder.
        let dictionary = b"the release before: function a(){return 1}\n".repeat(50);
        let v2 = [&dictionary[..], b"function b(){return 2}"].concat();
        let held = Dictionary::new(bytes::Bytes::from(dictionary.clone()));
        let mut encoder = DcbEncoder::new(&held, None).map_err(|e| e.to_string())?;
        let body = firstbyte_transform::testing::run(&mut encoder, &v2, &[100, 1000], true)
            .map_err(|e| e.to_string())?;
        assert!(body.len() < 200, "a delta: {} bytes", body.len());
        assert_eq!(decode(&dictionary, &body)?, v2);
        assert!(decode(b"another", &body).is_err(), "another dictionary");
        assert!(decode(&dictionary, &body[..20]).is_err(), "a cut header");
        assert!(
            decode(&dictionary, &body[..body.len() - 1]).is_err(),
            "a cut stream"
        );
        let mut bad = body.clone();
        bad[0] = 0;
        assert!(decode(&dictionary, &bad).is_err(), "no magic");
        Ok(())
    }
}
