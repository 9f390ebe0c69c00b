//! The codec stages' memory with the default settings, measured with a counting global
//! allocator (its own test binary, so that nothing else allocates meanwhile): bounded, and
//! not growing with the length of the body.

use std::io::Read;

use bytes::Bytes;
use firstbyte_transform::codec::{Decoder, Encoder, Encoding, Limits};
use firstbyte_transform::dictionary::{DcbDecoder, DcbEncoder, DczEncoder, Dictionary};
use firstbyte_transform::testing::{peak_during, Counting};
use firstbyte_transform::{Pipeline, Sink, Transform};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Some text that compresses like a web page (about 4×).
fn page(len: usize) -> Vec<u8> {
    let words = [
        "<li><a href=\"/items/",
        "\">",
        "</a></li>\n",
        "streaming",
        "edge",
        "first",
        "byte",
        "compressed",
        "response",
        "body",
    ];
    let mut out = Vec::with_capacity(len + 32);
    let mut x: u32 = 0x9e37_79b9;
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out.extend_from_slice(words[x as usize % words.len()].as_bytes());
        out.extend_from_slice(format!("{} ", x % 1000).as_bytes());
    }
    out.truncate(len);
    out
}

/// Pushes `input` through `stage` in `piece`-byte chunks, flushing after each as the proxy
/// does, and drops the output as the proxy hands it on.
fn pump(stage: &mut dyn Transform, input: &[u8], piece: usize) {
    let mut out = Sink::new();
    for chunk in input.chunks(piece) {
        stage.push(Bytes::copy_from_slice(chunk), &mut out).unwrap();
        stage.flush(&mut out).unwrap();
        out.clear();
    }
    stage.finish(&mut out).unwrap();
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzEncoder::new(data, flate2::Compression::default())
        .read_to_end(&mut out)
        .unwrap();
    out
}

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

#[test]
fn codec_memory_is_bounded_and_independent_of_body_length() {
    let big = page(2 * MIB);
    let small = &big[..MIB / 2];
    let mut report = Vec::new();

    for encoding in [Encoding::Gzip, Encoding::Brotli] {
        for (label, piece) in [("16 KiB pushes", 16 * KIB), ("256 KiB pushes", 256 * KIB)] {
            let measure = |input: &[u8]| {
                peak_during(|| pump(&mut Encoder::new(encoding, None).unwrap(), input, piece))
            };
            let (peak_small, peak_big) = (measure(small), measure(&big));
            report.push(format!(
                "{encoding:?} encoder, {label}: {} KiB (512 KiB body), {} KiB (2 MiB body)",
                peak_small / KIB,
                peak_big / KIB
            ));
            // The pushed chunk itself and the compressed output of one push count too.
            assert!(peak_big < 3 * MIB / 2 + 2 * piece, "{}", report.join("\n"));
            assert!(peak_big <= peak_small + 64 * KIB, "{}", report.join("\n"));
        }
    }

    let gz_big = gzip(&big);
    let gz_small = gzip(small);
    let mut br = Encoder::new(Encoding::Brotli, None).unwrap();
    let br_big = firstbyte_transform::testing::run(&mut br, &big, &[], false).unwrap();
    let mut br = Encoder::new(Encoding::Brotli, None).unwrap();
    let br_small = firstbyte_transform::testing::run(&mut br, small, &[], false).unwrap();
    for (encoding, small, big) in [
        (Encoding::Gzip, &gz_small, &gz_big),
        (Encoding::Brotli, &br_small, &br_big),
    ] {
        let measure = |input: &[u8]| {
            peak_during(|| {
                pump(
                    &mut Decoder::new(encoding, Limits::default()).unwrap(),
                    input,
                    16 * KIB,
                )
            })
        };
        let (peak_small, peak_big) = (measure(small), measure(big));
        report.push(format!(
            "{encoding:?} decoder, 16 KiB pushes: {} KiB (512 KiB body), {} KiB (2 MiB body)",
            peak_small / KIB,
            peak_big / KIB
        ));
        // The decoder, plus up to ratio × 16 KiB of output from one push.
        assert!(peak_big < 512 * KIB, "{}", report.join("\n"));
        assert!(peak_big <= peak_small + 64 * KIB, "{}", report.join("\n"));
    }

    // The proxy's recompressing path: gzip from the origin, brotli to the client.
    let peak = peak_during(|| {
        let mut pipeline = Pipeline::new(vec![
            Box::new(Decoder::new(Encoding::Gzip, Limits::default()).unwrap()),
            Box::new(Encoder::new(Encoding::Brotli, None).unwrap()),
        ]);
        let mut out = Sink::new();
        for chunk in gz_big.chunks(16 * KIB) {
            pipeline
                .push(Bytes::copy_from_slice(chunk), &mut out)
                .unwrap();
            pipeline.flush(&mut out).unwrap();
            out.clear();
        }
        pipeline.finish(&mut out).unwrap();
    });
    report.push(format!(
        "gzip-decode → br-encode pipeline: {} KiB",
        peak / KIB
    ));
    assert!(peak < 3 * MIB / 2, "{}", report.join("\n"));

    // dcb: the encoder's window holds the dictionary, so its memory grows with the
    // dictionary (not the body): about twice the window plus the hasher. The dictionary's
    // own bytes are allocated before and not counted.
    for dictionary_len in [256 * KIB, MIB, 4 * MIB] {
        let v1 = page(dictionary_len);
        let mut v2 = v1.clone();
        v2.insert(dictionary_len / 2, b'!');
        let dictionary = Dictionary::new(Bytes::from(v1));
        let lgwin = DcbEncoder::lgwin(dictionary_len);
        let encoder = peak_during(|| {
            pump(
                &mut DcbEncoder::new(&dictionary, None).unwrap(),
                &v2,
                16 * KIB,
            )
        });
        let mut frame = Sink::new();
        let mut dcb = DcbEncoder::new(&dictionary, None).unwrap();
        dcb.push(Bytes::from(v2.clone()), &mut frame).unwrap();
        dcb.finish(&mut frame).unwrap();
        let frame = firstbyte_transform::testing::concat(&frame);
        let decoder = peak_during(|| {
            pump(
                &mut DcbDecoder::new(&dictionary, Limits::default()),
                &frame,
                16 * KIB,
            )
        });
        report.push(format!(
            "dcb, {} KiB dictionary (window 2^{lgwin}): encoder {} KiB, decoder {} KiB, \
             {} bytes on the wire for a {} KiB body",
            dictionary_len / KIB,
            encoder / KIB,
            decoder / KIB,
            frame.len(),
            v2.len() / KIB
        ));
        let window = 1usize << lgwin;
        assert!(encoder < 2 * window + 2 * MIB, "{}", report.join("\n"));
        assert!(
            decoder < window + 2 * dictionary_len + MIB,
            "{}",
            report.join("\n")
        );
    }

    // dcz: zstd references the dictionary (no copy) and allocates its window, its tables
    // and two blocks. On wasm32 the C library's malloc is zstd-sys's shim over Rust's
    // allocator, so this counting allocator sees it; natively it is the system's malloc,
    // which it does not see, and zstd's own account of its context is added.
    for dictionary_len in [256 * KIB, MIB, 4 * MIB] {
        let v1 = page(dictionary_len);
        let mut v2 = v1.clone();
        v2.insert(dictionary_len / 2, b'!');
        let dictionary = Dictionary::new(Bytes::from(v1));
        let window_log = DczEncoder::window_log(dictionary_len);
        let mut encoder = DczEncoder::new(&dictionary).unwrap();
        let rust = peak_during(|| pump(&mut encoder, &v2, 16 * KIB));
        let zstd = encoder.zstd_peak();
        let mut frame = Sink::new();
        let mut dcz = DczEncoder::new(&dictionary).unwrap();
        dcz.push(Bytes::from(v2.clone()), &mut frame).unwrap();
        dcz.finish(&mut frame).unwrap();
        let frame_len: usize = frame.iter().map(Bytes::len).sum();
        let total = match cfg!(target_family = "wasm") {
            true => rust,
            false => rust + zstd,
        };
        report.push(format!(
            "dcz, {} KiB dictionary (window 2^{window_log}): encoder {} KiB (zstd's context \
             {} KiB), {} bytes on the wire for a {} KiB body",
            dictionary_len / KIB,
            total / KIB,
            zstd / KIB,
            frame_len,
            v2.len() / KIB
        ));
        let window = 1usize << window_log;
        assert!(zstd > window, "zstd's account includes its window");
        assert!(total < window + 5 * MIB / 2, "{}", report.join("\n"));
        // Long-distance matching (past 1 MiB) reaches the whole dictionary: without it,
        // zstd's level-3 tables lose most of a 4 MiB dictionary and the delta was 739 KiB.
        assert!(frame_len < 4 * KIB, "{}", report.join("\n"));
    }
    println!("{}", report.join("\n"));
}
