//! The codec stages: negotiation, and decoders and encoders checked against independent
//! implementations (flate2's read-side coders, brotli's `Decompressor`/`CompressorReader`),
//! never against each other alone.

use std::io::{Read, Write};

use bytes::Bytes;
use firstbyte_transform::codec::{negotiate, Decoder, Encoder, Encoding, Limits};
use firstbyte_transform::testing::{concat, every_byte, run};
use firstbyte_transform::{Sink, Transform};
use flate2::Compression;
use proptest::prelude::*;
use proptest::sample::Index;

use Encoding::{Brotli, Deflate, Gzip, Identity};

// ---------------------------------------------------------------------------------------
// Independent coders

fn gzip(data: &[u8], level: u32) -> Vec<u8> {
    read_all(flate2::read::GzEncoder::new(data, Compression::new(level)))
}

fn zlib(data: &[u8], level: u32) -> Vec<u8> {
    read_all(flate2::read::ZlibEncoder::new(
        data,
        Compression::new(level),
    ))
}

fn raw_deflate(data: &[u8], level: u32) -> Vec<u8> {
    read_all(flate2::read::DeflateEncoder::new(
        data,
        Compression::new(level),
    ))
}

fn brotli(data: &[u8], quality: u32, lgwin: u32) -> Vec<u8> {
    read_all(brotli::CompressorReader::new(data, 4096, quality, lgwin))
}

fn read_all(mut reader: impl Read) -> Vec<u8> {
    let mut out = Vec::new();
    reader.read_to_end(&mut out).expect("independent coder");
    out
}

/// Decodes with an independent decoder; also checks the stream ends exactly at its end.
fn independent_decode(encoding: Encoding, data: &[u8]) -> Vec<u8> {
    match encoding {
        Gzip => {
            let mut decoder = flate2::bufread::GzDecoder::new(data);
            let out = read_all(&mut decoder);
            assert!(
                decoder.into_inner().is_empty(),
                "bytes after the gzip stream"
            );
            out
        }
        Deflate => {
            let mut decoder = flate2::bufread::ZlibDecoder::new(data);
            let out = read_all(&mut decoder);
            assert!(
                decoder.into_inner().is_empty(),
                "bytes after the zlib stream"
            );
            out
        }
        Brotli => read_all(brotli::Decompressor::new(data, 4096)),
        Identity => data.to_vec(),
    }
}

/// An independent decoder fed the stream piece by piece, for what it can decode so far.
enum Streaming {
    Gzip(flate2::write::GzDecoder<Vec<u8>>),
    Zlib(flate2::write::ZlibDecoder<Vec<u8>>),
    Brotli(Box<brotli::DecompressorWriter<Vec<u8>>>),
}

impl Streaming {
    fn new(encoding: Encoding) -> Streaming {
        match encoding {
            Gzip => Streaming::Gzip(flate2::write::GzDecoder::new(Vec::new())),
            Deflate => Streaming::Zlib(flate2::write::ZlibDecoder::new(Vec::new())),
            // brotli's writer stops draining when its buffer fills and the decoder asks for
            // input, leaving decoded bytes behind until the next write: a buffer larger than
            // the ring buffer (our 64 KiB window) makes it hand out everything.
            _ => Streaming::Brotli(Box::new(brotli::DecompressorWriter::new(
                Vec::new(),
                1 << 20,
            ))),
        }
    }

    /// Feeds more of the stream; returns everything decoded so far.
    fn feed(&mut self, data: &[u8]) -> Vec<u8> {
        match self {
            Streaming::Gzip(d) => {
                d.write_all(data).unwrap();
                d.flush().unwrap();
                d.get_ref().clone()
            }
            Streaming::Zlib(d) => {
                d.write_all(data).unwrap();
                d.flush().unwrap();
                d.get_ref().clone()
            }
            Streaming::Brotli(d) => {
                d.write_all(data).unwrap();
                d.flush().unwrap();
                d.get_ref().clone()
            }
        }
    }
}

fn decoder(encoding: Encoding) -> Decoder {
    Decoder::new(encoding, Limits::default()).unwrap()
}

fn encoder(encoding: Encoding) -> Encoder {
    Encoder::new(encoding, None).unwrap()
}

/// Some text that compresses like a web page.
fn page(len: usize) -> Vec<u8> {
    let words = [
        "<p class=\"lead\">",
        "first",
        "byte",
        "streams",
        "</p>\n",
        "the",
        "body",
        "<a href=\"/docs/",
        "\">",
        "</a>",
        "chunk",
        "ünïcödé",
    ];
    let mut out = Vec::with_capacity(len + 32);
    let mut x: u32 = 2463534242;
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out.extend_from_slice(words[x as usize % words.len()].as_bytes());
        if x.is_multiple_of(7) {
            out.extend_from_slice(format!("{}", x % 10_000).as_bytes());
        }
        out.push(b' ');
    }
    out.truncate(len);
    out
}

// ---------------------------------------------------------------------------------------
// Negotiation

#[test]
fn negotiation_honours_q_values() {
    let both = [Brotli, Gzip];
    assert_eq!(negotiate(Some("gzip, deflate, br"), &both), Brotli);
    assert_eq!(negotiate(Some("gzip, deflate, br"), &[Gzip, Brotli]), Gzip);
    assert_eq!(negotiate(Some("gzip;q=1.0, br;q=0.5"), &both), Gzip);
    assert_eq!(negotiate(Some("br;q=0.5, gzip;q=0.8"), &both), Gzip);
    assert_eq!(negotiate(Some("br;q=0.8, gzip;q=0.5"), &both), Brotli);
    assert_eq!(negotiate(Some("gzip;q=0.001"), &both), Gzip);
    assert_eq!(negotiate(Some("deflate"), &both), Identity);
    assert_eq!(
        negotiate(Some("deflate"), &[Brotli, Gzip, Deflate]),
        Deflate
    );
    assert_eq!(negotiate(Some("x-gzip"), &both), Gzip);
    assert_eq!(negotiate(Some("compress, zstd"), &both), Identity);
}

#[test]
fn negotiation_q_zero_excludes() {
    let both = [Brotli, Gzip];
    assert_eq!(negotiate(Some("br;q=0, gzip"), &both), Gzip);
    assert_eq!(negotiate(Some("br;q=0.000, gzip;q=0"), &both), Identity);
    assert_eq!(negotiate(Some("*;q=0, gzip"), &both), Gzip);
    assert_eq!(negotiate(Some("gzip;q=0, *"), &both), Brotli);
    assert_eq!(negotiate(Some("br;q=0, *;q=0.5"), &both), Gzip);
    // Identity excluded and nothing offered acceptable: identity anyway (documented).
    assert_eq!(negotiate(Some("identity;q=0"), &both), Identity);
    assert_eq!(negotiate(Some("*;q=0"), &both), Identity);
    assert_eq!(negotiate(Some("identity;q=0, gzip"), &both), Gzip);
}

#[test]
fn negotiation_wildcard_and_identity() {
    let both = [Brotli, Gzip];
    assert_eq!(negotiate(Some("*"), &both), Brotli);
    assert_eq!(negotiate(Some("*"), &[Gzip, Brotli]), Gzip);
    assert_eq!(negotiate(Some("identity, *;q=0.5"), &both), Identity);
    assert_eq!(negotiate(Some("gzip;q=0.5, identity"), &both), Identity);
    assert_eq!(
        negotiate(Some("gzip, identity"), &both),
        Gzip,
        "ties go to coding"
    );
    assert_eq!(
        negotiate(Some("gzip;q=0.5"), &both),
        Gzip,
        "silent identity ranks last"
    );
    assert_eq!(negotiate(Some("identity"), &both), Identity);
    assert_eq!(negotiate(Some("gzip"), &[]), Identity);
    assert_eq!(negotiate(Some("gzip"), &[Identity, Gzip]), Gzip);
    assert_eq!(
        negotiate(Some("gzip, identity"), &[Identity, Gzip]),
        Identity
    );
}

#[test]
fn negotiation_ignores_case_whitespace_and_duplicates() {
    let both = [Brotli, Gzip];
    assert_eq!(negotiate(Some("  GZIP ;  Q=0.9 ,\tBr;q=0.1 "), &both), Gzip);
    assert_eq!(negotiate(Some("BR"), &both), Brotli);
    assert_eq!(
        negotiate(Some("gzip;q=0.1, br;q=0.5, gzip;q=0.9"), &both),
        Gzip
    );
    assert_eq!(negotiate(Some(",,gzip,,"), &both), Gzip);
}

#[test]
fn negotiation_ignores_malformed_parts() {
    let both = [Brotli, Gzip];
    assert_eq!(negotiate(Some("br;q=2, gzip"), &both), Gzip);
    assert_eq!(negotiate(Some("br;q=0.5555, gzip;q=0.1"), &both), Gzip);
    assert_eq!(negotiate(Some("br;q, gzip"), &both), Gzip);
    assert_eq!(negotiate(Some("br;q=abc, gzip"), &both), Gzip);
    assert_eq!(negotiate(Some("b r, gzip"), &both), Gzip);
    assert_eq!(
        negotiate(Some("br;level=5"), &both),
        Brotli,
        "other params ignored"
    );
    assert_eq!(negotiate(Some(";;;"), &both), Identity);
    assert_eq!(negotiate(Some("\u{fe0f}br, ===, ;q=1"), &both), Identity);
}

#[test]
fn negotiation_without_a_header_is_identity() {
    assert_eq!(negotiate(None, &[Brotli, Gzip]), Identity);
    assert_eq!(negotiate(Some(""), &[Brotli, Gzip]), Identity);
    assert_eq!(negotiate(Some("   "), &[Brotli, Gzip]), Identity);
}

proptest! {
    #[test]
    fn negotiation_never_panics_and_picks_an_offered_or_identity(header in ".{0,60}") {
        let chosen = negotiate(Some(&header), &[Brotli, Gzip]);
        prop_assert!(matches!(chosen, Brotli | Gzip | Identity));
    }
}

#[test]
fn content_encoding_tokens() {
    for (value, expected) in [
        ("gzip", Some(Gzip)),
        ("X-GZIP", Some(Gzip)),
        (" Deflate ", Some(Deflate)),
        ("br", Some(Brotli)),
        ("identity", Some(Identity)),
        ("gzip, br", None),
        ("zstd", None),
        ("", None),
    ] {
        assert_eq!(
            Encoding::from_content_encoding(value),
            expected,
            "{value:?}"
        );
    }
    for encoding in [Identity, Gzip, Deflate, Brotli] {
        assert_eq!(
            Encoding::from_content_encoding(encoding.token()),
            Some(encoding)
        );
    }
}

// ---------------------------------------------------------------------------------------
// Construction

#[test]
fn stage_names_and_bad_arguments() {
    assert_eq!(decoder(Gzip).name(), "gzip-decode");
    assert_eq!(decoder(Deflate).name(), "deflate-decode");
    assert_eq!(decoder(Brotli).name(), "br-decode");
    assert_eq!(encoder(Gzip).name(), "gzip-encode");
    assert_eq!(encoder(Deflate).name(), "deflate-encode");
    assert_eq!(encoder(Brotli).name(), "br-encode");
    assert!(Decoder::new(Identity, Limits::default()).is_err());
    assert!(Encoder::new(Identity, None).is_err());
    assert!(Encoder::new(Gzip, Some(10)).is_err());
    assert!(Encoder::new(Brotli, Some(Encoder::MAX_BROTLI_QUALITY + 1)).is_err());
    assert!(Encoder::new(Gzip, Some(0)).is_ok());
    assert!(Encoder::new(Brotli, Some(0)).is_ok());
}

// ---------------------------------------------------------------------------------------
// Round trips

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..2000),
        (proptest::collection::vec(any::<u8>(), 1..40), 0usize..200)
            .prop_map(|(unit, n)| unit.repeat(n)),
        (0usize..6000).prop_map(page),
    ]
}

fn positions(len: usize, cuts: &[Index]) -> Vec<usize> {
    cuts.iter().map(|i| i.index(len.max(1))).collect()
}

fn encoding() -> impl Strategy<Value = Encoding> {
    prop_oneof![Just(Gzip), Just(Deflate), Just(Brotli)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// decode(encode(input split anyhow, flushed or not)) == input, decoded independently.
    #[test]
    fn encoder_round_trips_through_an_independent_decoder(
        input in body(),
        cuts in proptest::collection::vec(any::<Index>(), 0..24),
        flush_each in any::<bool>(),
        encoding in encoding(),
        level in 0u32..10,
    ) {
        let level = if encoding == Brotli { level % (Encoder::MAX_BROTLI_QUALITY + 1) } else { level };
        let mut stage = Encoder::new(encoding, Some(level)).unwrap();
        let encoded = run(&mut stage, &input, &positions(input.len(), &cuts), flush_each).unwrap();
        prop_assert_eq!(independent_decode(encoding, &encoded), input);
    }

    /// Independently compressed input, split anyhow, decodes to the original.
    #[test]
    fn decoder_decodes_independent_streams_split_anyhow(
        input in body(),
        cuts in proptest::collection::vec(any::<Index>(), 0..24),
        flush_each in any::<bool>(),
        format in 0usize..4,
        level in 0u32..10,
    ) {
        let (encoding, compressed) = match format {
            0 => (Gzip, gzip(&input, level)),
            1 => (Deflate, zlib(&input, level)),
            2 => (Deflate, raw_deflate(&input, level)),
            _ => (Brotli, brotli(&input, level + 2, 10 + level)),
        };
        let cuts = positions(compressed.len(), &cuts);
        let decoded = run(&mut decoder(encoding), &compressed, &cuts, flush_each).unwrap();
        prop_assert_eq!(decoded, input);
    }

    /// gzip members in a row decode to the concatenation of their contents.
    #[test]
    fn gzip_members_concatenate(
        a in body(),
        b in body(),
        cuts in proptest::collection::vec(any::<Index>(), 0..24),
    ) {
        let stream = [gzip(&a, 6), gzip(&b, 1)].concat();
        let decoded = run(&mut decoder(Gzip), &stream, &positions(stream.len(), &cuts), false).unwrap();
        prop_assert_eq!(decoded, [a, b].concat());
    }

    /// Every strict prefix of a valid stream pushes fine and fails at finish.
    #[test]
    fn truncated_streams_fail_at_finish(
        input in body(),
        format in 0usize..4,
        cut in any::<Index>(),
    ) {
        let (encoding, compressed) = match format {
            0 => (Gzip, gzip(&input, 6)),
            1 => (Deflate, zlib(&input, 6)),
            2 => (Deflate, raw_deflate(&input, 6)),
            _ => (Brotli, brotli(&input, 5, 18)),
        };
        prop_assume!(compressed.len() >= 2);
        let len = 1 + cut.index(compressed.len() - 1);
        let mut stage = decoder(encoding);
        let mut out = Sink::new();
        stage.push(Bytes::copy_from_slice(&compressed[..len]), &mut out).unwrap();
        stage.flush(&mut out).unwrap();
        let err = stage.finish(&mut out).unwrap_err();
        prop_assert!(err.reason.contains("truncated"), "{}", err);
        prop_assert!(input.starts_with(&concat(&out)));
    }
}

#[test]
fn one_byte_chunks_both_ways() {
    let input = page(20_000);
    for encoding in [Gzip, Deflate, Brotli] {
        for flush_each in [false, true] {
            let encoded = run(
                &mut encoder(encoding),
                &input,
                &every_byte(&input),
                flush_each,
            )
            .unwrap();
            assert_eq!(
                independent_decode(encoding, &encoded),
                input,
                "{encoding:?}"
            );
        }
        let compressed = match encoding {
            Gzip => gzip(&input, 9),
            Deflate => zlib(&input, 9),
            _ => brotli(&input, 11, 22),
        };
        let decoded = run(
            &mut decoder(encoding),
            &compressed,
            &every_byte(&compressed),
            true,
        );
        assert_eq!(decoded.unwrap(), input, "{encoding:?}");
    }
    let compressed = raw_deflate(&input, 6);
    let decoded = run(
        &mut decoder(Deflate),
        &compressed,
        &every_byte(&compressed),
        false,
    );
    assert_eq!(decoded.unwrap(), input, "raw deflate");
}

#[test]
fn gzip_headers_with_optional_fields_decode_split_anywhere() {
    let input = page(3000);
    let mut encoder = flate2::GzBuilder::new()
        .filename("page.html")
        .comment("a comment")
        .extra(vec![1, 2, 3, 4])
        .mtime(1_700_000_000)
        .write(Vec::new(), Compression::default());
    encoder.write_all(&input).unwrap();
    let compressed = encoder.finish().unwrap();
    for cut in 0..60 {
        let decoded = run(&mut decoder(Gzip), &compressed, &[cut], false).unwrap();
        assert_eq!(decoded, input);
    }
}

// ---------------------------------------------------------------------------------------
// Progressive output

/// After push + flush of a piece, an independent streaming decoder fed only the output so
/// far yields exactly the input so far.
#[test]
fn encoder_flush_makes_everything_pushed_decodable() {
    let pieces: Vec<Vec<u8>> = (0..12).map(|i| page(10 + i * 997)).collect();
    for encoding in [Gzip, Deflate, Brotli] {
        let mut stage = encoder(encoding);
        let mut client = Streaming::new(encoding);
        let mut expected = Vec::new();
        for piece in &pieces {
            let mut out = Sink::new();
            stage.push(Bytes::copy_from_slice(piece), &mut out).unwrap();
            stage.flush(&mut out).unwrap();
            expected.extend_from_slice(piece);
            assert_eq!(client.feed(&concat(&out)), expected, "{encoding:?}");
        }
        let mut out = Sink::new();
        stage.finish(&mut out).unwrap();
        assert_eq!(client.feed(&concat(&out)), expected);
    }
}

/// An independent write-side encoder, as an origin that flushes after each piece.
enum Origin {
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Zlib(flate2::write::ZlibEncoder<Vec<u8>>),
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
}

impl Origin {
    fn new(encoding: Encoding) -> Origin {
        match encoding {
            Gzip => Origin::Gzip(flate2::write::GzEncoder::new(
                Vec::new(),
                Compression::default(),
            )),
            Deflate => Origin::Zlib(flate2::write::ZlibEncoder::new(
                Vec::new(),
                Compression::default(),
            )),
            _ => Origin::Brotli(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                4096,
                9,
                22,
            ))),
        }
    }

    /// Writes and flushes `piece`; returns the compressed bytes produced for it.
    fn send(&mut self, piece: &[u8]) -> Vec<u8> {
        match self {
            Origin::Gzip(e) => {
                e.write_all(piece).unwrap();
                e.flush().unwrap();
                std::mem::take(e.get_mut())
            }
            Origin::Zlib(e) => {
                e.write_all(piece).unwrap();
                e.flush().unwrap();
                std::mem::take(e.get_mut())
            }
            Origin::Brotli(e) => {
                e.write_all(piece).unwrap();
                e.flush().unwrap();
                std::mem::take(e.get_mut())
            }
        }
    }
}

/// Our decoder emits everything an independently flushed stream makes decodable as soon as
/// it is pushed, without waiting for a flush.
#[test]
fn decoder_emits_flushed_data_at_once() {
    // Pieces larger than the decoder's 16 KiB step too: a full output buffer must not leave
    // decoded bytes behind.
    let pieces: Vec<Vec<u8>> = (0..8).map(|i| page(5 + i * 6000)).collect();
    for encoding in [Gzip, Deflate, Brotli] {
        let mut origin = Origin::new(encoding);
        let mut stage = decoder(encoding);
        let mut expected = Vec::new();
        let mut out = Sink::new();
        for piece in &pieces {
            stage
                .push(Bytes::from(origin.send(piece)), &mut out)
                .unwrap();
            expected.extend_from_slice(piece);
            assert_eq!(concat(&out), expected, "{encoding:?}");
        }
    }
}

#[test]
fn a_flush_with_nothing_new_emits_nothing() {
    for encoding in [Gzip, Deflate, Brotli] {
        let mut stage = encoder(encoding);
        let mut out = Sink::new();
        stage.flush(&mut out).unwrap();
        assert!(out.is_empty(), "{encoding:?}: nothing pushed yet");
        stage.push(Bytes::from_static(b"hello"), &mut out).unwrap();
        stage.flush(&mut out).unwrap();
        let after_first = out.len();
        stage.flush(&mut out).unwrap();
        stage.push(Bytes::new(), &mut out).unwrap();
        stage.flush(&mut out).unwrap();
        assert_eq!(
            out.len(),
            after_first,
            "{encoding:?}: idle flushes add no blocks"
        );
        stage.finish(&mut out).unwrap();
        assert_eq!(independent_decode(encoding, &concat(&out)), b"hello");
    }
}

/// The brotli encoder flushes by itself every BROTLI_FLUSH_EVERY input bytes, which bounds
/// its memory; so a large push without flush is already mostly decodable.
#[test]
fn brotli_encoder_flushes_by_itself_on_large_pushes() {
    let input = page(100_000);
    let mut stage = encoder(Brotli);
    let mut out = Sink::new();
    stage.push(Bytes::from(input.clone()), &mut out).unwrap();
    let decodable = Streaming::new(Brotli).feed(&concat(&out));
    let every = Encoder::BROTLI_FLUSH_EVERY;
    assert_eq!(decodable.len(), input.len() / every * every);
    assert!(input.starts_with(&decodable));
}

// ---------------------------------------------------------------------------------------
// Bad input

fn decode_all(encoding: Encoding, data: &[u8]) -> Result<Vec<u8>, String> {
    run(&mut decoder(encoding), data, &[], false).map_err(|e| e.to_string())
}

#[test]
fn corrupt_input_is_an_error() {
    let input = page(5000);
    let not_compressed = b"<html>this is not compressed at all</html>".as_slice();
    for encoding in [Gzip, Deflate, Brotli] {
        let err = decode_all(encoding, not_compressed).unwrap_err();
        assert!(err.starts_with(decoder(encoding).name()), "{err}");
    }

    let good = gzip(&input, 6);
    let mut bad_crc = good.clone();
    let n = bad_crc.len();
    bad_crc[n - 8] ^= 0x55;
    assert!(decode_all(Gzip, &bad_crc).unwrap_err().contains("CRC-32"));
    let mut bad_len = good.clone();
    bad_len[n - 1] ^= 1;
    assert!(decode_all(Gzip, &bad_len).unwrap_err().contains("ISIZE"));
    let mut bad_data = good.clone();
    bad_data[n / 2] ^= 0xff;
    assert!(decode_all(Gzip, &bad_data).is_err());

    let good = zlib(&input, 6);
    let mut bad_adler = good.clone();
    let n = bad_adler.len();
    bad_adler[n - 1] ^= 1;
    assert!(decode_all(Deflate, &bad_adler).is_err());
    // A zlib header asking for a preset dictionary.
    assert!(decode_all(Deflate, &[0x78, 0xbb, 0, 0, 0, 1, 0x03, 0x00]).is_err());

    // Bytes that cannot start any brotli stream (WBITS code 0x11 with bad bits).
    assert!(decode_all(Brotli, &[0xff; 64]).is_err());
    assert!(decode_all(
        Gzip,
        &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff]
    )
    .is_err());
}

#[test]
fn errors_are_sticky_and_push_after_finish_fails() {
    let mut stage = decoder(Gzip);
    let mut out = Sink::new();
    let first = stage
        .push(Bytes::from_static(b"nope"), &mut out)
        .unwrap_err();
    let compressed = gzip(b"fine", 6);
    assert_eq!(
        stage.push(Bytes::from(compressed.clone()), &mut out),
        Err(first.clone())
    );
    assert_eq!(stage.finish(&mut out), Err(first));

    for encoding in [Gzip, Deflate, Brotli] {
        let mut out = Sink::new();
        let mut stage = decoder(encoding);
        stage.finish(&mut out).unwrap();
        assert!(stage.push(Bytes::from_static(b"x"), &mut out).is_err());
        let mut stage = encoder(encoding);
        stage.finish(&mut out).unwrap();
        assert!(stage.push(Bytes::from_static(b"x"), &mut out).is_err());
        stage.flush(&mut out).unwrap();
        stage.finish(&mut out).unwrap();
    }
}

#[test]
fn trailing_bytes_after_the_stream_are_an_error() {
    let input = page(2000);
    for (encoding, stream) in [
        (Gzip, gzip(&input, 6)),
        (Deflate, zlib(&input, 6)),
        (Deflate, raw_deflate(&input, 6)),
        (Brotli, brotli(&input, 5, 18)),
    ] {
        assert_eq!(decode_all(encoding, &stream).unwrap(), input);
        for tail in [&b"x"[..], b"\0\0\0\0", b"\x1f"] {
            let with_tail = [stream.clone(), tail.to_vec()].concat();
            let cuts = every_byte(&with_tail);
            let err = run(&mut decoder(encoding), &with_tail, &cuts, false).unwrap_err();
            assert!(
                err.reason.contains("after the end") || err.reason.contains("truncated"),
                "{encoding:?} + {tail:?}: {err}"
            );
        }
    }
}

#[test]
fn empty_bodies_decode_to_nothing_but_one_byte_is_truncated() {
    for encoding in [Gzip, Deflate, Brotli] {
        assert_eq!(decode_all(encoding, b"").unwrap(), b"");
        let one = match encoding {
            Gzip => 0x1f,
            Deflate => 0x78,
            _ => 0x0b,
        };
        assert!(decode_all(encoding, &[one])
            .unwrap_err()
            .contains("truncated"));
    }
}

// ---------------------------------------------------------------------------------------
// Decompression bombs

/// `len` zeros, gzip'd by streaming them through an encoder.
fn gzip_zeros(len: usize) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), Compression::fast());
    let zeros = vec![0u8; 64 * 1024];
    for _ in 0..len / zeros.len() {
        encoder.write_all(&zeros).unwrap();
    }
    encoder.finish().unwrap()
}

#[test]
fn a_gzip_bomb_stops_at_the_ratio_limit() {
    let bomb = gzip_zeros(20 << 20);
    let limits = Limits::default();
    assert!(bomb.len() < 100 << 10, "{}", bomb.len());

    // All at once: the limit is 100 × the whole compressed size.
    let mut stage = Decoder::new(Gzip, limits).unwrap();
    let mut out = Sink::new();
    let err = stage.push(Bytes::from(bomb.clone()), &mut out).unwrap_err();
    assert!(err.reason.contains("max_ratio limit of 100"), "{err}");
    let emitted = concat(&out).len() as u64;
    let bound = (limits.max_ratio * bomb.len() as u64).max(Limits::RATIO_FLOOR);
    assert!(
        emitted <= bound,
        "{emitted} > {bound}: the guard let output past the limit"
    );
    assert!(
        emitted + 16 * 1024 > bound,
        "stopped at the limit, not before"
    );

    // In small pieces: it stops as soon as the running ratio passes, long before the end.
    let mut stage = Decoder::new(Gzip, limits).unwrap();
    let mut out = Sink::new();
    let mut pushed = 0u64;
    let err = bomb
        .chunks(512)
        .find_map(|piece| {
            pushed += piece.len() as u64;
            stage.push(Bytes::copy_from_slice(piece), &mut out).err()
        })
        .expect("the bomb trips the guard");
    assert!(err.reason.contains("max_ratio"), "{err}");
    assert!(
        pushed < bomb.len() as u64 / 2,
        "stopped early: {pushed} of {}",
        bomb.len()
    );
    let emitted = concat(&out).len() as u64;
    assert!(emitted <= (100 * pushed).max(Limits::RATIO_FLOOR));
    assert!(emitted < 20 << 20);
}

#[test]
fn a_brotli_bomb_stops_at_the_floor() {
    // A few MiB of zeros brotli to a few dozen bytes: 100 × that is below the floor.
    let mut encoder = brotli::CompressorWriter::new(Vec::new(), 4096, 1, 22);
    let zeros = vec![0u8; 64 * 1024];
    for _ in 0..64 {
        encoder.write_all(&zeros).unwrap();
    }
    let bomb = encoder.into_inner();
    assert!(bomb.len() < 2000, "{}", bomb.len());
    let mut stage = decoder(Brotli);
    let mut out = Sink::new();
    let err = stage.push(Bytes::from(bomb), &mut out).unwrap_err();
    assert!(err.reason.contains("max_ratio"), "{err}");
    assert!(concat(&out).len() as u64 <= Limits::RATIO_FLOOR);
}

#[test]
fn max_output_is_a_hard_cap_and_small_bodies_pass_the_floor() {
    let input = page(50_000);
    let limits = Limits {
        max_ratio: u64::MAX,
        max_output: 10_000,
    };
    for (encoding, stream) in [(Gzip, gzip(&input, 6)), (Brotli, brotli(&input, 5, 18))] {
        let mut stage = Decoder::new(encoding, limits).unwrap();
        let mut out = Sink::new();
        let err = stage.push(Bytes::from(stream), &mut out).unwrap_err();
        assert!(err.reason.contains("max_output limit of 10000"), "{err}");
        assert!(concat(&out).len() <= 10_000);
    }
    // 512 KiB of zeros compress a thousandfold, but stay under the 1 MiB floor.
    let zeros = gzip_zeros(512 << 10);
    assert_eq!(decode_all(Gzip, &zeros).unwrap().len(), 512 << 10);
}
