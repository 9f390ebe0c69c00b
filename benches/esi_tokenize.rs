//! Throughput of the ESI tokenizer in 64 KiB reads, as a template's body comes: plain HTML
//! (no ESI at all, so every `<` is a candidate that fails at once), a template with an
//! include every 2 KiB, and each adversarial shape of
//! `firstbyte_transform::fuzzing::esi::adversarial_shapes` (openers that never finish, tags
//! without a `>`, unterminated comments). The work is linear, so the worst shape should stay
//! within a small factor of plain HTML; the figure to read is that factor.
//!
//!   cargo bench -p firstbyte-transform --bench esi_tokenize --target <host>
//!
//! Criterion reports each input's throughput in MiB/s.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use firstbyte_transform::esi::Tokenizer;
use firstbyte_transform::fuzzing::esi::adversarial_shapes;
use firstbyte_transform::testing::sample_html;

const INPUT_LEN: usize = 1 << 20;
const CHUNK_LEN: usize = 64 << 10;

/// Tokenizes `input` in reads of `CHUNK_LEN`; returns the events made.
fn tokenize(input: &[u8]) -> usize {
    let mut tokenizer = Tokenizer::new();
    let mut events = Vec::with_capacity(256);
    let mut made = 0;
    for chunk in input.chunks(CHUNK_LEN) {
        let pushed = tokenizer.push(chunk, &mut events);
        made += events.drain(..).map(black_box).count();
        // A tag too long breaks the template: nothing more is read, as when composing.
        if pushed.is_err() {
            break;
        }
    }
    let _ = black_box(tokenizer.finish(&mut events));
    made + events.len()
}

/// Sample HTML with an include every 2 KiB: a template as pages have them.
fn template(len: usize) -> Vec<u8> {
    let html = sample_html(len);
    let mut out = Vec::with_capacity(len + len / 64);
    for (i, part) in html.chunks(2048).enumerate() {
        out.extend_from_slice(part);
        out.extend_from_slice(format!("<esi:include src=\"/fragment?i={i}\"/>").as_bytes());
    }
    out.truncate(len);
    out
}

fn bench(c: &mut Criterion) {
    let mut inputs: Vec<(String, Vec<u8>)> = vec![
        ("plain HTML".into(), sample_html(INPUT_LEN)),
        (
            "template, an include every 2 KiB".into(),
            template(INPUT_LEN),
        ),
    ];
    for (name, shape) in adversarial_shapes() {
        inputs.push((name.to_string(), shape(INPUT_LEN)));
    }
    let mut group = c.benchmark_group("esi_tokenize");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for (name, input) in &inputs {
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_function(name.as_str(), |b| b.iter(|| tokenize(black_box(input))));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
