//! Drivers that feed a stage its input in given pieces, for the invariant tests of every
//! stage (unit, property and corpus replay) and for the fuzz targets.

use bytes::Bytes;

use crate::{Sink, Transform, TransformError};

mod counting;
mod dcz;
pub use counting::{allocations_during, peak_during, Counting};
pub use dcz::{decode_dcz, decode_dcz_frame};

/// The bytes of a sink, in order.
pub fn concat(sink: &Sink) -> Vec<u8> {
    sink.iter().flat_map(|b| b.iter().copied()).collect()
}

/// Splits `input` at the sorted, deduplicated `cuts` (positions past the end are ignored).
pub fn pieces<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = cuts
        .iter()
        .copied()
        .filter(|&c| c > 0 && c < input.len())
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut out = Vec::new();
    let mut start = 0;
    for cut in cuts {
        out.push(&input[start..cut]);
        start = cut;
    }
    if start < input.len() || input.is_empty() {
        out.push(&input[start..]);
    }
    out
}

/// Feeds `input` in the pieces given by `cuts`, flushing after each piece when asked (as
/// the proxy does), then finishes. Returns the whole output.
pub fn run(
    stage: &mut dyn Transform,
    input: &[u8],
    cuts: &[usize],
    flush_each: bool,
) -> Result<Vec<u8>, TransformError> {
    let mut out = Sink::new();
    for piece in pieces(input, cuts) {
        stage.push(Bytes::copy_from_slice(piece), &mut out)?;
        if flush_each {
            stage.flush(&mut out)?;
        }
    }
    stage.finish(&mut out)?;
    Ok(concat(&out))
}

/// Every cut position: the input fed one byte at a time.
pub fn every_byte(input: &[u8]) -> Vec<usize> {
    (1..input.len()).collect()
}

/// The origin URL that [`sample_html`] links to, for rewriting benchmarks.
pub const SAMPLE_ORIGIN: &str = "https://origin.example.com";
/// What benchmarks rewrite [`SAMPLE_ORIGIN`] to.
pub const SAMPLE_EDGE: &str = "https://www.example.net";

/// Deterministic HTML-like text: list items, links and paragraphs of words, with a link to
/// the origin every few KiB.
pub fn sample_html(len: usize) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "lorem",
        "ipsum",
        "dolor",
        "sit",
        "amet",
        "consectetur",
        "adipiscing",
        "elit",
        "sed",
        "do",
        "eiusmod",
        "tempor",
        "incididunt",
        "ut",
        "labore",
        "magna",
    ];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut out = String::with_capacity(len + 4096);
    out.push_str("<!doctype html><html><head><title>Bench</title></head><body>\n");
    while out.len() < len {
        let r = next();
        match r % 40 {
            0 => out.push_str(&format!(
                "<a href=\"{SAMPLE_ORIGIN}/articles/{}\">Read more</a>\n",
                r % 100_000
            )),
            1..=9 => out.push_str(&format!(
                "<li><a href=\"/page/{}\" class=\"nav-item\">{}</a></li>\n",
                r % 10_000,
                WORDS[(r >> 8) as usize % WORDS.len()]
            )),
            _ => {
                out.push_str("<p>");
                for i in 0..8 + (r >> 16) % 24 {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(WORDS[(next() % WORDS.len() as u64) as usize]);
                }
                out.push_str(".</p>\n");
            }
        }
    }
    out.truncate(len);
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_the_input_exactly() {
        let input = b"abcdef";
        assert_eq!(
            pieces(input, &[4, 2, 2, 99, 0]),
            vec![&b"ab"[..], b"cd", b"ef"]
        );
        assert_eq!(pieces(b"", &[]), vec![&b""[..]]);
        assert_eq!(pieces(input, &every_byte(input)).len(), 6);
    }
}
