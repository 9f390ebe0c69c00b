//! The ESI tokenizer's invariants on arbitrary bytes.
//!
//! Input layout: byte 0 seeds the cuts (0: one byte at a time; any other value: pseudo-random
//! cuts 1 to 16 bytes apart); the rest (at most [`MAX_INPUT`] bytes) is the template.

use bytes::Bytes;

use crate::esi::{Event, Tokenizer, MAX_TAG};

/// Input past this many bytes is ignored, so that a check stays within milliseconds.
pub const MAX_INPUT: usize = 4096;

/// Split invariance (against the whole input, and against one byte at a time), the hold-back
/// bound, and that input holding no ESI passes as one text, byte for byte. Panics when one
/// breaks.
pub fn check(data: &[u8]) {
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    let input = &input[..input.len().min(MAX_INPUT)];
    let whole = run(input, &[input.len()]);
    let cuts = cuts(seed, input.len());
    let mut tokenizer = Tokenizer::new();
    let mut events = Vec::new();
    let mut from = 0;
    for &cut in &cuts {
        tokenizer.push(&input[from..cut], &mut events);
        assert!(tokenizer.held() <= MAX_TAG + 16, "hold-back exceeded");
        from = cut;
    }
    tokenizer.finish(&mut events);
    assert_eq!(tokenizer.held(), 0, "finish left bytes held");
    assert!(merged(events) == whole, "events depend on the split");
    let esi_free = !input.windows(5).any(|w| w == b"<esi:")
        && !input.windows(6).any(|w| w == b"</esi:")
        && !input.windows(7).any(|w| w == b"<!--esi");
    if esi_free && !input.is_empty() {
        assert!(
            whole == [Event::Text(Bytes::copy_from_slice(input))],
            "text without ESI was changed"
        );
    }
}

/// The events of `input` fed in pieces ending at `cuts`, adjacent texts merged.
fn run(input: &[u8], cuts: &[usize]) -> Vec<Event> {
    let mut tokenizer = Tokenizer::new();
    let mut events = Vec::new();
    let mut from = 0;
    for &cut in cuts {
        tokenizer.push(&input[from..cut], &mut events);
        from = cut;
    }
    tokenizer.finish(&mut events);
    merged(events)
}

/// Concatenates adjacent texts: two runs of one input are compared in this form.
pub fn merged(events: Vec<Event>) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::new();
    for event in events {
        match (out.last_mut(), event) {
            (Some(Event::Text(a)), Event::Text(b)) => {
                let mut joined = a.to_vec();
                joined.extend_from_slice(&b);
                *a = Bytes::from(joined);
            }
            (_, event) => out.push(event),
        }
    }
    out
}

/// Cut positions, ascending, ending with `len`.
fn cuts(seed: u8, len: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut state = u32::from(seed).wrapping_mul(2_654_435_761) | 1;
    let mut at = 0;
    while at < len {
        let step = if seed == 0 {
            1
        } else {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            1 + (state % 16) as usize
        };
        at = (at + step).min(len);
        out.push(at);
    }
    out.push(len);
    out
}
