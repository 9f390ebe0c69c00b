//! The `replace` stage's invariants on arbitrary bytes, and [`reference()`]: the stage's
//! semantics as a naive whole-input implementation to compare it with.
//!
//! Input layout (every byte string decodes to something):
//! - byte 0: flags: bit 0 case-insensitive, bit 1 once, bit 2 flush after each piece;
//! - byte 1: the cuts: 0 feeds the input one byte at a time, any other value seeds pseudo-
//!   random cuts 1 to 8 bytes apart;
//! - byte 2: the number of rules, `1 + b % 4`;
//! - per rule: a length byte (`b % 5`, so 0 to 4) and that many pattern bytes, then a length
//!   byte (`b % 5`) and that many replacement bytes;
//! - the rest (at most [`MAX_INPUT`] bytes): the input.
//!
//! Pattern and input bytes outside a small alphabet (`a`–`d`, `A`–`D`, `<`, `>`, `0xc3`,
//! `0xff`) are mapped into it, so random bytes match often; seeds written in the alphabet
//! read as they are. Replacement bytes are taken as they are.

use crate::replace::{Replace, ReplaceOptions};
use crate::testing::{pieces, run};
use crate::Transform;
use bytes::Bytes;

/// Input past this many bytes is ignored, so that a check stays within milliseconds.
pub const MAX_INPUT: usize = 1024;

const ALPHABET: [u8; 8] = [b'a', b'b', b'A', b'B', b'<', 0xff, 0xc3, b'c'];

/// Split invariance, the hold-back bound and agreement with [`reference()`]; panics when one
/// breaks. Rules the stage refuses (an empty or duplicate pattern) are not a failure.
pub fn check(data: &[u8]) {
    let Some((rules, options, flush_each, cuts_seed, input)) = decode(data) else {
        return;
    };
    let Ok(mut whole_stage) = Replace::new(rules.clone(), options) else {
        return;
    };
    let cuts = cuts(cuts_seed, input.len());
    let whole = run(&mut whole_stage, &input, &[], false).expect("replace never fails");
    let expected = reference(&rules, options, &input);
    assert!(whole == expected, "whole input differs from the reference");

    let mut stage = Replace::new(rules.clone(), options).expect("same rules");
    let split = run(&mut stage, &input, &cuts, flush_each).expect("replace never fails");
    assert!(split == whole, "output depends on the split");

    // Again step by step, checking the hold-back after every call.
    let mut stage = Replace::new(rules, options).expect("same rules");
    let mut out = Vec::new();
    for piece in pieces(&input, &cuts) {
        stage
            .push(Bytes::copy_from_slice(piece), &mut out)
            .expect("replace never fails");
        assert!(stage.held() <= stage.max_hold_back(), "hold-back exceeded");
        if flush_each {
            stage.flush(&mut out).expect("replace never fails");
            assert!(stage.held() <= stage.max_hold_back(), "hold-back exceeded");
        }
    }
    stage.finish(&mut out).expect("replace never fails");
    assert_eq!(stage.held(), 0, "finish left bytes held");
}

type Decoded = (Vec<(Vec<u8>, Vec<u8>)>, ReplaceOptions, bool, u8, Vec<u8>);

fn decode(data: &[u8]) -> Option<Decoded> {
    let (&flags, rest) = data.split_first()?;
    let (&cuts_seed, rest) = rest.split_first()?;
    let (&count, mut rest) = rest.split_first()?;
    let options = ReplaceOptions {
        case_insensitive: flags & 1 != 0,
        once: flags & 2 != 0,
    };
    let mut rules = Vec::new();
    for _ in 0..1 + count % 4 {
        let (pattern, after) = field(rest)?;
        let (replacement, after) = field(after)?;
        rest = after;
        rules.push((
            pattern.iter().map(|&b| symbol(b)).collect(),
            replacement.to_vec(),
        ));
    }
    let input = rest[..rest.len().min(MAX_INPUT)]
        .iter()
        .map(|&b| symbol(b))
        .collect();
    Some((rules, options, flags & 4 != 0, cuts_seed, input))
}

/// A length byte (`b % 5`) and that many bytes.
fn field(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&len, rest) = data.split_first()?;
    let len = usize::from(len % 5);
    (rest.len() >= len).then(|| rest.split_at(len))
}

fn symbol(b: u8) -> u8 {
    match b {
        b'a'..=b'd' | b'A'..=b'D' | b'<' | b'>' | 0xc3 | 0xff => b,
        _ => ALPHABET[usize::from(b) % ALPHABET.len()],
    }
}

fn cuts(seed: u8, len: usize) -> Vec<usize> {
    if seed == 0 {
        return (1..len).collect();
    }
    let mut state = u32::from(seed);
    let mut at = 0;
    let mut cuts = Vec::new();
    while at < len {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        at += 1 + (state >> 16) as usize % 8;
        cuts.push(at);
    }
    cuts
}

/// The stage's semantics, naively, on the whole input: at each position, the longest
/// pattern in play that matches there is replaced and the scan resumes after it; with
/// `once`, a pattern leaves play after its first match. Rules must be valid for
/// [`Replace::new`].
pub fn reference(rules: &[(Vec<u8>, Vec<u8>)], options: ReplaceOptions, input: &[u8]) -> Vec<u8> {
    let matches_at = |pattern: &[u8], at: usize| {
        input.len() - at >= pattern.len()
            && pattern
                .iter()
                .zip(&input[at..])
                .all(|(&p, &b)| p == b || (options.case_insensitive && p.eq_ignore_ascii_case(&b)))
    };
    let mut used = vec![false; rules.len()];
    let mut out = Vec::new();
    let mut at = 0;
    while at < input.len() {
        let best = (0..rules.len())
            .filter(|&i| !used[i] && matches_at(&rules[i].0, at))
            .max_by_key(|&i| rules[i].0.len());
        match best {
            Some(i) => {
                out.extend_from_slice(&rules[i].1);
                at += rules[i].0.len();
                if options.once {
                    used[i] = true;
                }
            }
            None => {
                out.push(input[at]);
                at += 1;
            }
        }
    }
    out
}
