//! The codec stages' invariants on arbitrary bytes.
//!
//! The whole input (at most [`MAX_INPUT`] bytes) is used twice, so seed files are plain
//! compressed streams (`.gz`, `.br`, zlib) or plain text, with no header of their own:
//! 1. as a compressed body, fed to each decoder (gzip, deflate, brotli) whole and split:
//!    neither may panic, and both must agree: the same output, or both an error;
//! 2. as a plain body, encoded by each encoder (split, flushed or not, at some level) and
//!    decoded again by our decoder: the round trip must give the input back.
//!
//! The cuts, the flushing and the levels derive from a hash of the input: pieces 1 to 64
//! bytes long, or one byte at a time for inputs up to 256 bytes.

use crate::codec::{Decoder, Encoder, Encoding, Limits};
use crate::testing::run;

/// Input past this many bytes is ignored, so that a check stays within milliseconds.
pub const MAX_INPUT: usize = 16 * 1024;

/// Limits for the split-invariance comparison. The ratio guard is left out: it is checked on
/// running totals after each step, so whether a stream hovering at the ratio trips it can
/// depend on the split (documented on [`Decoder`]; the guard has its own tests). The output
/// cap does not depend on the split, and keeps a tiny brotli bomb from costing much time.
const COMPARE_LIMITS: Limits = Limits {
    max_ratio: u64::MAX,
    max_output: 256 * 1024,
};

const CODECS: [Encoding; 3] = [Encoding::Gzip, Encoding::Deflate, Encoding::Brotli];

/// Panics when an invariant breaks; a decoder's error on bad input is not a failure.
pub fn check(data: &[u8]) {
    let data = &data[..data.len().min(MAX_INPUT)];
    let seed = fnv1a(data);
    let cuts = cuts(seed, data.len());
    let flush_each = seed & 1 != 0;

    for encoding in CODECS {
        decode_agrees_whole_and_split(encoding, data, &cuts, flush_each);
        encode_round_trips(encoding, data, &cuts, flush_each, (seed >> 8) as u32);
    }
}

fn decode_agrees_whole_and_split(encoding: Encoding, data: &[u8], cuts: &[usize], flush: bool) {
    let decoder = || Decoder::new(encoding, COMPARE_LIMITS).expect("a decoder for a compression");
    let whole = run(&mut decoder(), data, &[], false);
    let split = run(&mut decoder(), data, cuts, flush);
    match (&whole, &split) {
        (Ok(a), Ok(b)) => {
            assert!(a == b, "{encoding:?}: decoded output depends on the split");
            assert!(
                a.len() as u64 <= COMPARE_LIMITS.max_output,
                "max_output exceeded"
            );
        }
        (Err(_), Err(_)) => {}
        _ => panic!("{encoding:?}: whole {whole:?} but split {split:?}"),
    }
}

fn encode_round_trips(encoding: Encoding, data: &[u8], cuts: &[usize], flush: bool, seed: u32) {
    let level = match encoding {
        Encoding::Brotli => seed % (Encoder::MAX_BROTLI_QUALITY + 1),
        _ => seed % 10,
    };
    let mut encoder = Encoder::new(encoding, Some(level)).expect("a valid level");
    let encoded = run(&mut encoder, data, cuts, flush).expect("encoding never fails");
    let mut decoder = Decoder::new(encoding, Limits::unlimited()).expect("a decoder");
    let decode_cuts: Vec<usize> = (1..encoded.len()).step_by(7).collect();
    let decoded = run(&mut decoder, &encoded, &decode_cuts, false);
    assert!(
        decoded.as_deref() == Ok(data),
        "{encoding:?} level {level}: the round trip changed the input: {decoded:?}"
    );
}

/// Cut positions: every byte for short inputs, else pieces 1 to 64 bytes long.
fn cuts(seed: u64, len: usize) -> Vec<usize> {
    if len <= 256 {
        return (1..len).collect();
    }
    let mut state = seed | 1;
    let mut at = 0;
    let mut cuts = Vec::new();
    while at < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        at += 1 + (state % 64) as usize;
        cuts.push(at);
    }
    cuts
}

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The check on a few inputs, for the targets (wasm) where the corpus is not replayed.
    #[test]
    fn check_accepts_valid_and_invalid_streams() {
        let text = b"<p>firstbyte streams compressed bodies</p>\n".repeat(40);
        check(b"");
        check(&text);
        for encoding in CODECS {
            let mut encoder = Encoder::new(encoding, None).unwrap();
            let stream = run(&mut encoder, &text, &[100, 900], true).unwrap();
            check(&stream);
            check(&stream[..stream.len() / 2]);
        }
    }
}
