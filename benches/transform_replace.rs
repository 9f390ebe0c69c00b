//! Throughput of the replace stage on 64 MiB of HTML-like text in 64 KiB chunks, beside
//! aho-corasick's own `try_stream_replace_all` over the same bytes as a reference.
//!
//! `cargo bench -p firstbyte-transform --target x86_64-unknown-linux-gnu --bench replace`

use std::hint::black_box;
use std::time::Duration;

use aho_corasick::AhoCorasick;
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use firstbyte_transform::replace::{Replace, ReplaceOptions};
use firstbyte_transform::testing::concat;
use firstbyte_transform::{Sink, Transform};

const INPUT_LEN: usize = 64 << 20;
const CHUNK_LEN: usize = 64 << 10;

use firstbyte_transform::testing::{sample_html, SAMPLE_EDGE as EDGE, SAMPLE_ORIGIN as ORIGIN};

fn ten_rules() -> Vec<(Vec<u8>, Vec<u8>)> {
    [
        (ORIGIN, EDGE),
        ("http://origin.example.com", EDGE),
        ("</head>", "<script src=\"/rum.js\"></script></head>"),
        ("</body>", "<footer>served at the edge</footer></body>"),
        ("class=\"nav-item\"", "class=\"nav-item edge\""),
        ("Copyright 2024", "Copyright 2025"),
        ("data-origin-id", "data-edge-id"),
        ("cdn.example.org", "static.example.net"),
        ("incididunt ut labore", "INCIDIDUNT UT LABORE"),
        ("X-Debug-Token", "X-Edge-Token"),
    ]
    .iter()
    .map(|(p, r)| (p.as_bytes().to_vec(), r.as_bytes().to_vec()))
    .collect()
}

/// Pushes every chunk (flushing after each, as the proxy does) and finishes; returns the
/// output length. The output chunks are dropped as they come, as a stream would send them.
fn replace_stream(rules: &[(Vec<u8>, Vec<u8>)], chunks: &[Bytes]) -> usize {
    let mut stage = Replace::new(rules.to_vec(), ReplaceOptions::default()).unwrap();
    let mut out = Sink::with_capacity(64);
    let mut total = 0;
    for chunk in chunks {
        stage.push(chunk.clone(), &mut out).unwrap();
        stage.flush(&mut out).unwrap();
        total += out.drain(..).map(|b| black_box(b).len()).sum::<usize>();
    }
    stage.finish(&mut out).unwrap();
    total + out.iter().map(Bytes::len).sum::<usize>()
}

fn bench(c: &mut Criterion) {
    let input = Bytes::from(sample_html(INPUT_LEN));
    let chunks: Vec<Bytes> = (0..input.len())
        .step_by(CHUNK_LEN)
        .map(|at| input.slice(at..(at + CHUNK_LEN).min(input.len())))
        .collect();
    let one = vec![(ORIGIN.as_bytes().to_vec(), EDGE.as_bytes().to_vec())];
    let ten = ten_rules();
    let ac = AhoCorasick::new([ORIGIN]).unwrap();

    // The two agree before either is timed.
    let mut stage = Replace::new(one.clone(), ReplaceOptions::default()).unwrap();
    let mut ours = Sink::new();
    for chunk in &chunks {
        stage.push(chunk.clone(), &mut ours).unwrap();
    }
    stage.finish(&mut ours).unwrap();
    let mut theirs = Vec::with_capacity(INPUT_LEN);
    ac.try_stream_replace_all(&input[..], &mut theirs, &[EDGE])
        .unwrap();
    assert_eq!(concat(&ours), theirs);
    let matches = ac.find_iter(&input[..]).count();
    println!(
        "input: {} MiB in {} chunks of {} KiB, {matches} matches of the one pattern",
        INPUT_LEN >> 20,
        chunks.len(),
        CHUNK_LEN >> 10
    );
    drop((ours, theirs));

    let mut group = c.benchmark_group("replace-64MiB");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Bytes(INPUT_LEN as u64));
    group.bench_function("Replace, 1 pattern", |b| {
        b.iter(|| replace_stream(&one, &chunks))
    });
    group.bench_function("aho-corasick try_stream_replace_all, 1 pattern", |b| {
        b.iter(|| {
            ac.try_stream_replace_all(black_box(&input[..]), std::io::sink(), &[EDGE])
                .unwrap()
        })
    });
    group.bench_function("Replace, 10 patterns", |b| {
        b.iter(|| replace_stream(&ten, &chunks))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
