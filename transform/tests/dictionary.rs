//! The `dcb` stages (RFC 9842): the encoder's output checked against the brotli crate's own
//! decoder given the same dictionary (never against our decoder alone), the frame header,
//! that a dictionary actually shrinks a new version, and the decoder's refusals.

use std::io::Read;

use bytes::Bytes;
use firstbyte_transform::codec::{Encoder, Encoding, Limits};
use firstbyte_transform::dictionary::{
    DcbDecoder, DcbEncoder, Dictionary, DictionaryHash, DCB_HEADER_LEN, DCB_MAGIC,
};
use firstbyte_transform::testing::{every_byte, run};
use firstbyte_transform::Transform;
use proptest::prelude::*;

/// Decodes the Brotli stream after a dcb header with the brotli crate's `Decompressor`,
/// the dictionary attached as its custom (prefix) dictionary.
fn independent_decode(dictionary: &[u8], frame: &[u8]) -> Vec<u8> {
    assert!(
        frame.len() >= DCB_HEADER_LEN,
        "frame shorter than its header"
    );
    let mut out = Vec::new();
    brotli::Decompressor::new_with_custom_dict(
        &frame[DCB_HEADER_LEN..],
        4096,
        dictionary.to_vec().into(),
    )
    .read_to_end(&mut out)
    .expect("the brotli crate decodes the dcb stream");
    out
}

fn encode(dictionary: &Dictionary, body: &[u8], cuts: &[usize], flush_each: bool) -> Vec<u8> {
    let mut encoder = DcbEncoder::new(dictionary, None).expect("encoder");
    run(&mut encoder, body, cuts, flush_each).expect("dcb encoding")
}

/// Text that compresses like source code: words from a small vocabulary, so a dictionary
/// made of an earlier version has long matches to offer.
fn bundle(seed: u64, len: usize) -> Vec<u8> {
    const WORDS: [&str; 12] = [
        "function", "return", "const", "this.", "=>", "{", "}", "(", ")", ";\n", "value", "render",
    ];
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let word = WORDS[(state >> 33) as usize % WORDS.len()];
        out.extend_from_slice(word.as_bytes());
        if state & 0x100 != 0 {
            out.extend_from_slice(format!("{}", (state >> 40) % 1000).as_bytes());
        }
        out.push(b' ');
    }
    out.truncate(len);
    out
}

/// `v1` with a few small edits: the next release of the same file.
fn next_release(v1: &[u8], edits: &[(usize, u8)]) -> Vec<u8> {
    let mut v2 = v1.to_vec();
    for &(at, byte) in edits {
        if !v2.is_empty() {
            let at = at % v2.len();
            v2.insert(at, byte);
        }
    }
    v2
}

#[test]
fn the_frame_is_magic_hash_then_brotli() {
    let dictionary = Dictionary::new(Bytes::from(bundle(1, 10_000)));
    let frame = encode(&dictionary, b"hello", &[], false);
    assert_eq!(frame[..4], DCB_MAGIC);
    assert_eq!(frame[4..DCB_HEADER_LEN], dictionary.hash().as_bytes()[..]);
    assert_eq!(independent_decode(dictionary.bytes(), &frame), b"hello");
    // An empty body is still a whole frame: header and an empty Brotli stream.
    let empty = encode(&dictionary, b"", &[], false);
    assert!(empty.len() > DCB_HEADER_LEN);
    assert_eq!(independent_decode(dictionary.bytes(), &empty), b"");
}

#[test]
fn a_new_release_crosses_the_wire_as_a_small_delta() {
    // Large enough that the window must grow past the br encoder's 64 KiB.
    for len in [50_000, 300_000, 2_500_000] {
        let v1 = bundle(7, len);
        let v2 = next_release(&v1, &[(len / 3, b'x'), (len / 2, b'y'), (len - 10, b'z')]);
        let dictionary = Dictionary::new(Bytes::from(v1));
        let cuts: Vec<usize> = (1..v2.len() / 8192).map(|i| i * 8192).collect();
        let dcb = encode(&dictionary, &v2, &cuts, true);
        let mut br = Encoder::new(Encoding::Brotli, None).expect("br");
        let br = run(&mut br, &v2, &cuts, true).expect("br encoding");
        assert_eq!(independent_decode(dictionary.bytes(), &dcb), v2);
        assert!(
            dcb.len() * 20 < br.len(),
            "{len} bytes: dcb {} is not a small fraction of br {}",
            dcb.len(),
            br.len()
        );
    }
}

#[test]
fn the_window_holds_the_dictionary_and_half_again() {
    assert_eq!(DcbEncoder::lgwin(0), 16);
    assert_eq!(DcbEncoder::lgwin(40_000), 16);
    assert_eq!(DcbEncoder::lgwin(50_000), 17);
    assert_eq!(DcbEncoder::lgwin(1 << 20), 21);
    assert_eq!(DcbEncoder::lgwin(10 << 20), 24);
    assert_eq!(DcbEncoder::lgwin(DcbEncoder::MAX_DICTIONARY), 24);
    for len in [0, 1, 65_000, 700_000, 3 << 20] {
        assert!((1usize << DcbEncoder::lgwin(len)) >= len + len / 2, "{len}");
    }
}

#[test]
fn out_of_range_settings_are_errors() {
    let small = Dictionary::new(Bytes::from_static(b"dictionary"));
    assert!(DcbEncoder::new(&small, Some(5)).is_err());
    assert!(DcbEncoder::new(&small, Some(4)).is_ok());
    let huge = Dictionary::new(Bytes::from(vec![b'a'; DcbEncoder::MAX_DICTIONARY + 1]));
    assert!(DcbEncoder::new(&huge, None).is_err());
}

#[test]
fn the_decoder_refuses_a_body_made_for_another_dictionary() {
    let v1 = Dictionary::new(Bytes::from(bundle(3, 20_000)));
    let other = Dictionary::new(Bytes::from(bundle(4, 20_000)));
    let frame = encode(&v1, &bundle(3, 25_000), &[], false);
    let mut decoder = DcbDecoder::new(&other, Limits::default());
    let err = run(&mut decoder, &frame, &[5, 20, 40], false).expect_err("wrong dictionary");
    assert!(err.reason.contains(&v1.hash().to_hex()), "{err}");
    assert!(err.reason.contains(&other.hash().to_hex()), "{err}");
    // The error sticks.
    let mut sink = Vec::new();
    assert_eq!(
        decoder.push(Bytes::from_static(b"more"), &mut sink),
        Err(err)
    );
}

#[test]
fn the_decoder_refuses_what_is_not_a_whole_dcb_frame() {
    let dictionary = Dictionary::new(Bytes::from(bundle(5, 20_000)));
    let body = bundle(5, 30_000);
    let frame = encode(&dictionary, &body, &[10_000], true);
    let header_only = [DCB_HEADER_LEN - 1, DCB_HEADER_LEN, DCB_HEADER_LEN + 1];
    for len in (0..frame.len())
        .step_by(7)
        .chain(header_only)
        .chain([frame.len() - 1])
    {
        let mut decoder = DcbDecoder::new(&dictionary, Limits::default());
        assert!(
            run(&mut decoder, &frame[..len], &[], false).is_err(),
            "a frame cut at {len} of {} decoded",
            frame.len()
        );
    }
    let mut gzip_magic = frame.clone();
    gzip_magic[..2].copy_from_slice(&[0x1f, 0x8b]);
    let mut decoder = DcbDecoder::new(&dictionary, Limits::default());
    let err = run(&mut decoder, &gzip_magic, &[], false).expect_err("not dcb");
    assert!(err.reason.contains("magic"), "{err}");
    let mut trailing = frame.clone();
    trailing.push(0);
    let mut decoder = DcbDecoder::new(&dictionary, Limits::default());
    assert!(run(&mut decoder, &trailing, &[], false).is_err());
}

#[test]
fn the_decoder_reads_the_header_one_byte_at_a_time() {
    let dictionary = Dictionary::new(Bytes::from(bundle(6, 5_000)));
    let body = next_release(dictionary.bytes(), &[(100, b'!')]);
    let frame = encode(&dictionary, &body, &[], false);
    let mut decoder = DcbDecoder::new(&dictionary, Limits::default());
    assert_eq!(
        run(&mut decoder, &frame, &every_byte(&frame), true).expect("decodes"),
        body
    );
}

#[test]
fn the_bomb_guard_counts_the_dictionary_as_input() {
    // A 2 MiB body that is all dictionary compresses to a few hundred bytes: far past a
    // 100x ratio of the delta alone, well within it of dictionary and delta together.
    let v1 = bundle(8, 2 << 20);
    let dictionary = Dictionary::new(Bytes::from(v1.clone()));
    let frame = encode(&dictionary, &v1, &[], false);
    let mut decoder = DcbDecoder::new(&dictionary, Limits::default());
    assert_eq!(run(&mut decoder, &frame, &[], false).expect("decodes"), v1);
    let strict = Limits {
        max_ratio: 1,
        max_output: u64::MAX,
    };
    let mut decoder = DcbDecoder::new(&dictionary, strict);
    let doubled = [v1.as_slice(), v1.as_slice()].concat();
    let frame = encode(&dictionary, &doubled, &[], false);
    assert!(run(&mut decoder, &frame, &[], false).is_err());
}

fn hash_of(frame: &[u8]) -> DictionaryHash {
    let mut hash = [0; 32];
    hash.copy_from_slice(&frame[4..DCB_HEADER_LEN]);
    DictionaryHash(hash)
}

/// A dictionary of `dictionary_len` bytes and a body against it: its next release (with
/// `edits`) when `related`, else unrelated bytes of `body_len`.
fn releases(
    seed: u64,
    dictionary_len: usize,
    body_len: usize,
    related: bool,
    edits: &[(usize, u8)],
) -> (Vec<u8>, Vec<u8>) {
    let v1 = bundle(seed, dictionary_len);
    let body = if related {
        let mut v2 = next_release(&v1, edits);
        v2.truncate(body_len.max(v1.len()));
        v2
    } else {
        bundle(seed ^ 1, body_len)
    };
    (v1, body)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Any dictionary, any body, any chunking, flushed or not: the brotli crate's decoder
    /// with the dictionary gives the body back, and so does ours, however the frame is cut.
    #[test]
    fn dcb_round_trips_under_every_chunking(
        seed in any::<u64>(),
        dictionary_len in prop_oneof![0usize..64, 64usize..5_000, 5_000usize..200_000],
        body_len in prop_oneof![0usize..64, 64usize..5_000, 5_000usize..120_000],
        related in any::<bool>(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        cuts in proptest::collection::vec(0usize..120_000, 0..12),
        frame_cuts in proptest::collection::vec(0usize..60_000, 0..12),
        flush_each in any::<bool>(),
    ) {
        let (v1, body) = releases(seed, dictionary_len, body_len, related, &edits);
        let dictionary = Dictionary::new(Bytes::from(v1));
        let frame = encode(&dictionary, &body, &cuts, flush_each);
        prop_assert_eq!(&frame[..4], &DCB_MAGIC[..]);
        prop_assert_eq!(hash_of(&frame), *dictionary.hash());
        prop_assert_eq!(independent_decode(dictionary.bytes(), &frame), body.clone());
        let mut decoder = DcbDecoder::new(&dictionary, Limits::default());
        prop_assert_eq!(run(&mut decoder, &frame, &frame_cuts, flush_each).ok(), Some(body));
    }

    /// Flushed after every chunk, the client can decode every byte pushed so far before
    /// the stream ends, which is what lets a dcb response stream.
    #[test]
    fn each_flush_makes_the_body_so_far_decodable(
        seed in any::<u64>(),
        cuts in proptest::collection::vec(1usize..40_000, 1..6),
    ) {
        let v1 = bundle(seed, 30_000);
        let body = next_release(&v1, &[(seed as usize, b'#')]);
        let dictionary = Dictionary::new(Bytes::from(v1));
        let mut encoder = DcbEncoder::new(&dictionary, None).expect("encoder");
        let mut decoder = DcbDecoder::new(&dictionary, Limits::default());
        let mut sent = 0;
        let mut decoded = Vec::new();
        for piece in firstbyte_transform::testing::pieces(&body, &cuts) {
            let mut frame = Vec::new();
            encoder.push(Bytes::copy_from_slice(piece), &mut frame).expect("push");
            encoder.flush(&mut frame).expect("flush");
            for chunk in frame {
                decoder.push(chunk, &mut decoded).expect("decode");
            }
            sent += piece.len();
            prop_assert_eq!(firstbyte_transform::testing::concat(&decoded), body[..sent].to_vec());
        }
    }
}

/// The `dcz` encoder, checked against the C zstd decoder (the reference library, the one
/// browsers ship) given the dictionary as a raw-content prefix, as a client decodes `dcz`:
/// the 40-byte header read and checked, the Zstandard frame after it decoded with the
/// dictionary the header names.
mod dcz {
    use super::*;
    use firstbyte_transform::dictionary::{DczEncoder, DCZ_HEADER_LEN, DCZ_MAGIC};
    use zstd_safe::{DCtx, InBuffer, OutBuffer};

    use firstbyte_transform::testing::{decode_dcz, decode_dcz_frame as zstd_decode};

    /// Checks the header, then decodes what follows it.
    fn client_decode(dictionary: &Dictionary, body: &[u8]) -> Result<Vec<u8>, String> {
        decode_dcz(dictionary.bytes(), body)
    }

    fn encode(dictionary: &Dictionary, body: &[u8], cuts: &[usize], flush_each: bool) -> Vec<u8> {
        let mut encoder = DczEncoder::new(dictionary).expect("encoder");
        run(&mut encoder, body, cuts, flush_each).expect("dcz encoding")
    }

    #[test]
    fn the_frame_is_a_skippable_frame_with_the_hash_then_zstd() {
        let dictionary = Dictionary::new(Bytes::from(bundle(1, 10_000)));
        let frame = encode(&dictionary, b"hello", &[], false);
        assert_eq!(
            frame[..8],
            [0x5e, 0x2a, 0x4d, 0x18, 0x20, 0x00, 0x00, 0x00],
            "skippable-frame magic 0x184D2A5E, then length 32, little-endian"
        );
        assert_eq!(frame[8..DCZ_HEADER_LEN], dictionary.hash().as_bytes()[..]);
        // The zstd frame magic 0xFD2FB528 follows the header.
        assert_eq!(frame[40..44], [0x28, 0xb5, 0x2f, 0xfd]);
        assert_eq!(client_decode(&dictionary, &frame), Ok(b"hello".to_vec()));
        let empty = encode(&dictionary, b"", &[], false);
        assert_eq!(client_decode(&dictionary, &empty), Ok(Vec::new()));
        // Made for this dictionary: another one does not decode it to the body.
        let other = Dictionary::new(Bytes::from(bundle(2, 10_000)));
        let v2 = next_release(dictionary.bytes(), &[(5_000, b'#')]);
        let delta = encode(&dictionary, &v2, &[], false);
        assert_ne!(zstd_decode(other.bytes(), &delta[40..]), Ok(v2.clone()));
        assert_eq!(client_decode(&dictionary, &delta), Ok(v2));
    }

    /// A dictionary that begins with the zstd dictionary magic (0xEC30A437) is still raw
    /// content: with zstd's automatic mode it would be parsed as a trained dictionary (and
    /// refused as corrupt, or its ID written into the frame).
    #[test]
    fn a_dictionary_with_the_zstd_dictionary_magic_is_raw_content() {
        let mut v1 = vec![0x37, 0xa4, 0x30, 0xec];
        v1.extend_from_slice(&bundle(3, 50_000));
        let v2 = next_release(&v1, &[(20_000, b'!')]);
        let dictionary = Dictionary::new(Bytes::from(v1));
        let frame = encode(&dictionary, &v2, &[7_000, 30_000], true);
        assert_eq!(client_decode(&dictionary, &frame), Ok(v2.clone()));
        // Frame_Header_Descriptor: its Dictionary_ID_Flag (the low 2 bits) is 0: no ID.
        assert_eq!(frame[44] & 0b11, 0, "the frame names no zstd dictionary ID");
        assert!(
            frame.len() < 200,
            "{} bytes: the dictionary was used",
            frame.len()
        );
    }

    #[test]
    fn the_window_holds_the_dictionary_within_the_rfc_bound() {
        assert_eq!(DczEncoder::window_log(0), 19);
        assert_eq!(DczEncoder::window_log(300_000), 19);
        assert_eq!(DczEncoder::window_log(400_000), 20);
        assert_eq!(DczEncoder::window_log(1 << 20), 21);
        // 8 MiB: 12 MiB wanted, but RFC 9842 lets a client refuse more than 10 MiB.
        assert_eq!(DczEncoder::window_log(8 << 20), 23);
        assert_eq!(DczEncoder::window_log(16 << 20), 24);
        assert_eq!(DczEncoder::window_log(usize::MAX / 2), 27);
        for len in [1usize, 5_000, 700_000, 3 << 20, 6 << 20, 40 << 20] {
            let window = 1usize << DczEncoder::window_log(len);
            let bound = (8usize << 20).max(len + len / 4).min(1 << 27);
            assert!(window <= bound, "{len}");
            assert!(window >= len + len / 2 || window * 2 > bound, "{len}");
        }
    }

    #[test]
    fn a_delta_is_far_smaller_than_zstd_without_the_dictionary() {
        let v1 = bundle(9, 200_000);
        let v2 = next_release(&v1, &[(1_000, b'x'), (150_000, b'y')]);
        let with = encode(&Dictionary::new(Bytes::from(v1)), &v2, &[], false);
        let without = encode(&Dictionary::new(Bytes::new()), &v2, &[], false);
        assert!(
            with.len() * 20 < without.len(),
            "{} vs {}",
            with.len(),
            without.len()
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Any dictionary, any body, any chunking, flushed or not: the C decoder with the
        /// dictionary gives the body back.
        #[test]
        fn dcz_round_trips_under_every_chunking(
            seed in any::<u64>(),
            dictionary_len in prop_oneof![0usize..64, 64usize..5_000, 5_000usize..200_000],
            body_len in prop_oneof![0usize..64, 64usize..5_000, 5_000usize..300_000],
            related in any::<bool>(),
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
            cuts in proptest::collection::vec(0usize..300_000, 0..12),
            flush_each in any::<bool>(),
        ) {
            let (v1, body) = releases(seed, dictionary_len, body_len, related, &edits);
            let dictionary = Dictionary::new(Bytes::from(v1));
            let frame = encode(&dictionary, &body, &cuts, flush_each);
            prop_assert_eq!(&frame[..8], &DCZ_MAGIC[..]);
            prop_assert_eq!(client_decode(&dictionary, &frame), Ok(body));
        }

        /// Flushed after every chunk, the client can decode every byte pushed so far before
        /// the frame ends, which is what lets a dcz response stream.
        #[test]
        fn each_dcz_flush_makes_the_body_so_far_decodable(
            seed in any::<u64>(),
            cuts in proptest::collection::vec(1usize..40_000, 1..6),
        ) {
            let v1 = bundle(seed, 30_000);
            let body = next_release(&v1, &[(seed as usize, b'#')]);
            let dictionary = Dictionary::new(Bytes::from(v1));
            let mut encoder = DczEncoder::new(&dictionary).expect("encoder");
            let mut frame = Vec::new();
            let mut sent = 0;
            for piece in firstbyte_transform::testing::pieces(&body, &cuts) {
                encoder.push(Bytes::copy_from_slice(piece), &mut frame).expect("push");
                encoder.flush(&mut frame).expect("flush");
                sent += piece.len();
                let so_far = firstbyte_transform::testing::concat(&frame);
                prop_assert_eq!(
                    partial_decode(dictionary.bytes(), &so_far[DCZ_HEADER_LEN..]),
                    body[..sent].to_vec()
                );
            }
        }
    }

    /// Everything a streaming decoder outputs from an unfinished frame.
    fn partial_decode(dictionary: &[u8], frame: &[u8]) -> Vec<u8> {
        let mut dctx = DCtx::create();
        dctx.ref_prefix(dictionary).expect("prefix");
        let mut input = InBuffer::around(frame);
        let mut out = Vec::new();
        let mut scratch = vec![0u8; 64 * 1024];
        loop {
            let mut output = OutBuffer::around(&mut scratch[..]);
            dctx.decompress_stream(&mut output, &mut input)
                .expect("decodes");
            let produced = output.pos();
            out.extend_from_slice(&scratch[..produced]);
            if produced < scratch.len() && input.pos() == frame.len() {
                return out;
            }
        }
    }
}
