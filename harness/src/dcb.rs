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

/// The first eight bytes of a `dcz` body: a zstd skippable frame (magic 0x184D2A5E) of
/// length 32, little-endian.
pub const DCZ_MAGIC: [u8; 8] = [0x5e, 0x2a, 0x4d, 0x18, 0x20, 0x00, 0x00, 0x00];

/// A `dcz` body decoded with `dictionary`: its skippable-frame header and the dictionary's
/// hash checked first, then the zstd frame decoded by the C library with the dictionary as
/// a raw-content prefix, and a window no larger than RFC 9842 lets a client refuse (the
/// larger of 8 MiB and 1.25 times the dictionary, 128 MiB at most). Every way it can fail
/// is an error naming it.
pub fn decode_dcz(dictionary: &[u8], body: &[u8]) -> Result<Vec<u8>, String> {
    use zstd_safe::{DCtx, DParameter, InBuffer, OutBuffer};
    if body.len() < 40 {
        return Err(format!("{} bytes: shorter than a dcz header", body.len()));
    }
    if body[..8] != DCZ_MAGIC {
        return Err(format!("no dcz magic: {:02x?}", &body[..8]));
    }
    if body[8..40] != sha256(dictionary) {
        return Err("the header names another dictionary".into());
    }
    let zstd = |code: usize| format!("zstd: {}", zstd_safe::get_error_name(code));
    let bound = (8usize << 20)
        .max(dictionary.len() + dictionary.len() / 4)
        .min(1 << 27);
    let mut dctx = DCtx::create();
    dctx.set_parameter(DParameter::WindowLogMax(
        usize::BITS - 1 - bound.leading_zeros(),
    ))
    .map_err(zstd)?;
    dctx.ref_prefix(dictionary).map_err(zstd)?;
    let frame = &body[40..];
    let mut input = InBuffer::around(frame);
    let mut out = Vec::new();
    let mut scratch = vec![0u8; 64 * 1024];
    loop {
        let mut output = OutBuffer::around(&mut scratch[..]);
        let hint = dctx
            .decompress_stream(&mut output, &mut input)
            .map_err(zstd)?;
        let produced = output.pos();
        out.extend_from_slice(&scratch[..produced]);
        if hint == 0 {
            return match input.pos() == frame.len() {
                true => Ok(out),
                false => Err("bytes after the zstd frame".into()),
            };
        }
        if produced == 0 && input.pos() == frame.len() {
            return Err("the zstd frame stops early".into());
        }
    }
}

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
