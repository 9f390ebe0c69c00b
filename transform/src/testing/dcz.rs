//! A `dcz` body decoded as a client decodes it, for the tests and the benchmark: the C zstd
//! library (the reference, the one browsers ship), the dictionary as a raw-content prefix.

use zstd_safe::{DCtx, DParameter, InBuffer, OutBuffer};

use crate::dictionary::{DictionaryHash, DCZ_HEADER_LEN, DCZ_MAGIC};

/// A `dcz` body decoded with `dictionary`: its skippable-frame header and the dictionary's
/// hash checked first, then the frame after it ([`decode_dcz_frame`]). Every way it can
/// fail is an error naming it.
pub fn decode_dcz(dictionary: &[u8], body: &[u8]) -> Result<Vec<u8>, String> {
    if body.len() < DCZ_HEADER_LEN {
        return Err(format!("{} bytes: shorter than a dcz header", body.len()));
    }
    if body[..8] != DCZ_MAGIC {
        return Err(format!("no dcz magic: {:02x?}", &body[..8]));
    }
    if body[8..DCZ_HEADER_LEN] != DictionaryHash::of(dictionary).as_bytes()[..] {
        return Err("the header names another dictionary".into());
    }
    decode_dcz_frame(dictionary, &body[DCZ_HEADER_LEN..])
}

/// The Zstandard frame of a `dcz` body decoded with `dictionary` as a raw-content prefix,
/// in a window no larger than RFC 9842 lets a client refuse (the larger of 8 MiB and 1.25
/// times the dictionary, 128 MiB at most): the encoder must stay within it.
pub fn decode_dcz_frame(dictionary: &[u8], frame: &[u8]) -> Result<Vec<u8>, String> {
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
