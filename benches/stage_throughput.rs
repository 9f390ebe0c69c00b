//! Each stage's throughput, measured the way the proxy drives it: 64 KiB chunks, a flush
//! after every chunk. The same program runs natively and inside wasm under Viceroy, so the
//! two figures compare the same code:
//!
//!   cargo bench -p firstbyte-transform --bench stage_throughput --target <host>
//!   cargo bench -p firstbyte-transform --bench stage_throughput      (wasm, in Viceroy)
//!
//! Prints one `stage<TAB>MB/s` line per stage, MB/s of plain (uncompressed) bytes, and the
//! same for aho-corasick's own `stream_replace_all` on the same input and pattern, the
//! yardstick for `replace`.

use std::time::Instant;

use bytes::Bytes;
use firstbyte_transform::codec::{Decoder, Encoder, Encoding, Limits};
use firstbyte_transform::html::{HtmlRewrite, HtmlRules, Insert, Position, UrlRewrite};
use firstbyte_transform::replace::{Replace, ReplaceOptions};
use firstbyte_transform::testing::{sample_html, SAMPLE_EDGE, SAMPLE_ORIGIN};
use firstbyte_transform::{Pipeline, Sink, Transform};

const INPUT: usize = 16 << 20;
const CHUNK: usize = 64 << 10;

fn replace() -> Box<dyn Transform> {
    let rule = (
        SAMPLE_ORIGIN.as_bytes().to_vec(),
        SAMPLE_EDGE.as_bytes().to_vec(),
    );
    Box::new(Replace::new(vec![rule], ReplaceOptions::default()).expect("rule"))
}

fn html() -> Box<dyn Transform> {
    let rules = HtmlRules {
        inserts: vec![Insert {
            selector: "head".into(),
            position: Position::Append,
            html: "<script>1</script>".into(),
        }],
        rewrite_urls: Some(UrlRewrite {
            from: SAMPLE_ORIGIN.into(),
            to: SAMPLE_EDGE.into(),
        }),
        ..HtmlRules::default()
    };
    Box::new(HtmlRewrite::new(rules).expect("rules"))
}

fn encoder(e: Encoding) -> Box<dyn Transform> {
    Box::new(Encoder::new(e, None).expect("encoder"))
}

fn decoder(e: Encoding) -> Box<dyn Transform> {
    Box::new(Decoder::new(e, Limits::default()).expect("decoder"))
}

/// A stage chain to measure: its name, its stages, and the input it reads.
type Case<'a> = (&'static str, Vec<Box<dyn Transform>>, &'a Bytes);

/// Runs `stages` over `input` in proxy-sized chunks; returns seconds and, when asked, the
/// output (wasm memory would not hold every output at once).
fn run(stages: Vec<Box<dyn Transform>>, input: &Bytes, keep: bool) -> (f64, Vec<u8>) {
    let mut pipeline = Pipeline::new(stages);
    let mut sink = Sink::new();
    let mut output = Vec::new();
    let start = Instant::now();
    for offset in (0..input.len()).step_by(CHUNK) {
        let chunk = input.slice(offset..(offset + CHUNK).min(input.len()));
        pipeline.push(chunk, &mut sink).expect("push");
        pipeline.flush(&mut sink).expect("flush");
        for piece in sink.drain(..) {
            if keep {
                output.extend_from_slice(&piece);
            }
        }
    }
    pipeline.finish(&mut sink).expect("finish");
    for piece in sink.drain(..) {
        if keep {
            output.extend_from_slice(&piece);
        }
    }
    (start.elapsed().as_secs_f64(), output)
}

fn main() {
    let plain = Bytes::from(sample_html(INPUT));
    let mbps = |secs: f64| plain.len() as f64 / secs / 1e6;
    let (_, gzip) = run(vec![encoder(Encoding::Gzip)], &plain, true);
    let (_, br) = run(vec![encoder(Encoding::Brotli)], &plain, true);
    let gzip = Bytes::from(gzip);
    let br = Bytes::from(br);

    let cases: Vec<Case> = vec![
        ("replace", vec![replace()], &plain),
        ("html", vec![html()], &plain),
        ("gzip-decode", vec![decoder(Encoding::Gzip)], &gzip),
        ("gzip-encode", vec![encoder(Encoding::Gzip)], &plain),
        ("br-decode", vec![decoder(Encoding::Brotli)], &br),
        ("br-encode", vec![encoder(Encoding::Brotli)], &plain),
        (
            "gzip-decode>replace>br-encode",
            vec![
                decoder(Encoding::Gzip),
                replace(),
                encoder(Encoding::Brotli),
            ],
            &gzip,
        ),
    ];
    for (name, stages, input) in cases {
        let (secs, _) = run(stages, input, false);
        println!("{name}\t{:.0}", mbps(secs));
    }
    let ac = aho_corasick::AhoCorasick::new([SAMPLE_ORIGIN]).expect("pattern");
    let start = Instant::now();
    ac.try_stream_replace_all(&plain[..], std::io::sink(), &[SAMPLE_EDGE])
        .expect("stream replace");
    println!(
        "aho-corasick stream_replace_all\t{:.0}",
        mbps(start.elapsed().as_secs_f64())
    );
}
