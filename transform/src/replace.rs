//! The `replace` stage: literal multi-pattern find and replace over bytes, across chunk
//! boundaries, with [aho-corasick](aho_corasick) (or, for a single case-sensitive pattern,
//! memchr's [`memmem`], which finds the same matches faster).
//!
//! Each rule is a pattern and its replacement, both arbitrary bytes. Bytes that no pattern
//! matches pass through byte-exact, whether or not they are valid UTF-8.
//!
//! # Match semantics
//!
//! - **Leftmost-longest**: of the matches starting at the leftmost position, the longest
//!   one wins, so the result never depends on the order of the rules (and duplicate
//!   patterns are refused, which leaves no tie to break). nginx's `sub_filter`, the point of
//!   reference, also takes the leftmost match but, among patterns matching at the same
//!   position, whichever its internal table (sorted on a single byte) tries first; the
//!   longest is the deterministic version of that. It also makes the most specific rule win:
//!   with `foo` and `foobar`, `foobar` is replaced as a whole.
//! - **Non-overlapping, no re-scan**: after a replacement, scanning resumes at the first
//!   byte after the matched text. The replacement is never scanned, so a replacement that
//!   contains its own pattern does not loop.
//! - **ASCII case-insensitive** with [`ReplaceOptions::case_insensitive`] (as `sub_filter`):
//!   `a`–`z` match `A`–`Z`; other bytes, UTF-8 included, match only themselves.
//! - **Once** with [`ReplaceOptions::once`] (as `sub_filter_once on`): each pattern is
//!   replaced at its first match only. From the first byte after that match on, the search
//!   goes on as if the pattern had never been in the rules: where it would match again, its
//!   text passes through untouched, and the other patterns may still match inside or across
//!   that text. Once every pattern has been used, the stage passes its input straight
//!   through and holds nothing.
//!
//! The output is exactly what the rules above give on the whole input at once, however the
//! input is split into chunks and whether or not [`Transform::flush`] is called between
//! them: a match is committed only when no later byte can change it.
//!
//! # Hold-back
//!
//! A match is certain once no pattern can still be completed by later bytes from the match's
//! start or from before it. So the stage holds back exactly the tail of the input so far
//! that starts with the earliest partial pattern, i.e. the longest suffix that is a proper
//! prefix of a pattern still in play (compared ASCII case-insensitively when configured),
//! and emits everything before it at once: from [`Transform::push`] already, so
//! [`Transform::flush`] has nothing left to do. A partial pattern at the end must be held,
//! since the next byte may complete it; at most the longest pattern − 1 bytes, which is
//! [`Replace::max_hold_back`]. [`Transform::finish`] emits the rest.
//!
//! # Copies
//!
//! A call that replaces nothing emits its input as a slice of the chunk ([`Bytes::slice`]),
//! without copying. A call that replaces something emits one piece with the runs between
//! matches and the replacements in it: at one match every few hundred bytes, a slice per
//! run would hand every consumer hundreds of pieces per chunk, and each piece costs the
//! proxy more than copying it does. When no replacement is longer than its pattern and the
//! chunk is this stage's alone ([`Bytes::try_into_mut`]: the proxy hands over each chunk it
//! read that way), that piece is the chunk itself, rewritten in place: the output never
//! runs ahead of the input, so runs stay where they are (equal lengths) or move down within
//! the same memory, and only the replacements are written. Otherwise the runs and
//! replacements are copied into a new buffer. The held tail is copied too (it is kept
//! across calls).

use std::cmp::Ordering;
use std::ops::Range;

use aho_corasick::{AhoCorasick, Input, MatchKind};
use bytes::{Bytes, BytesMut};
use memchr::memmem;

use crate::{Sink, Transform, TransformError};

/// The stage name, in errors and logs.
pub const NAME: &str = "replace";

/// How the patterns of a [`Replace`] match.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplaceOptions {
    /// ASCII case-insensitive matching (`a`–`z` match `A`–`Z`), like nginx `sub_filter`.
    pub case_insensitive: bool,
    /// Replace only the first occurrence of each pattern; later occurrences pass through.
    pub once: bool,
}

/// Literal find and replace over a byte stream; see the [module documentation](self).
pub struct Replace {
    rules: Vec<Rule>,
    options: ReplaceOptions,
    /// The matcher over the rules still in play; `None` once `once` has used them all.
    active: Option<Active>,
    /// The input tail that may still begin a match (a partial pattern).
    held: Vec<u8>,
    /// What the scan in progress emits, in order (kept to reuse its allocation).
    pieces: Vec<Piece>,
    /// No replacement is longer than its pattern, so a chunk's output fits in the chunk.
    fits_in_place: bool,
}

/// A piece of output, noted while scanning and copied out once the scan is done.
enum Piece {
    /// Untouched bytes of the data scanned.
    Run(Range<usize>),
    /// The replacement of this rule.
    Replacement(usize),
}

struct Rule {
    pattern: Vec<u8>,
    replacement: Bytes,
    used: bool,
}

/// A matcher over a set of rules, rebuilt (with `once`) when a rule is used up.
struct Active {
    search: Search,
    /// The rule index of each pattern id.
    rules: Vec<usize>,
    /// The longest pattern's length.
    longest: usize,
    /// The patterns, case-folded when matching is case-insensitive, sorted: a suffix of the
    /// input is a proper prefix of a pattern iff the first pattern not below it extends it
    /// (or, when equal to it, the next one does).
    sorted: Vec<Vec<u8>>,
    /// Whether a byte can start a pattern.
    first: [bool; 256],
    fold: bool,
}

impl Replace {
    /// Builds the stage from `(pattern, replacement)` rules. No rules, an empty pattern, or
    /// two rules with the same pattern (ignoring ASCII case when case-insensitive) are
    /// errors.
    pub fn new(
        rules: Vec<(Vec<u8>, Vec<u8>)>,
        options: ReplaceOptions,
    ) -> Result<Replace, TransformError> {
        if rules.is_empty() {
            return Err(TransformError::new(
                NAME,
                "no rules: at least one is needed",
            ));
        }
        if let Some(i) = rules.iter().position(|(pattern, _)| pattern.is_empty()) {
            return Err(TransformError::new(
                NAME,
                format!("rule {i}: the pattern is empty"),
            ));
        }
        let fold = options.case_insensitive;
        let mut keys: Vec<(Vec<u8>, usize)> = rules
            .iter()
            .enumerate()
            .map(|(i, (pattern, _))| (folded(pattern, fold), i))
            .collect();
        keys.sort();
        if let Some(pair) = keys.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            let how = if fold { " (ignoring ASCII case)" } else { "" };
            return Err(TransformError::new(
                NAME,
                format!(
                    "rules {} and {} have the same pattern{how}",
                    pair[0].1, pair[1].1
                ),
            ));
        }
        let rules: Vec<Rule> = rules
            .into_iter()
            .map(|(pattern, replacement)| Rule {
                pattern,
                replacement: Bytes::from(replacement),
                used: false,
            })
            .collect();
        let active = Active::build(&rules, fold)?;
        let fits_in_place = rules.iter().all(|r| r.replacement.len() <= r.pattern.len());
        Ok(Replace {
            rules,
            options,
            active,
            held: Vec::new(),
            pieces: Vec::new(),
            fits_in_place,
        })
    }

    /// The bytes held back right now: a partial pattern at the end of the input so far.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// The bound on [`held`](Replace::held) after every call: the longest pattern still in
    /// play − 1. With `once`, used patterns no longer count, so it only ever shrinks (to 0
    /// when none is left).
    pub fn max_hold_back(&self) -> usize {
        self.active.as_ref().map_or(0, |a| a.longest - 1)
    }

    /// Scans `data` from `pos`, noting in `pieces` the runs between matches and the
    /// replacement of every match that is certain. Stops at `stop` when given, else at the
    /// first byte that may still be part of a match (at the end of `data` when `at_end`).
    /// Returns where it stopped: the bytes from there on are not emitted. A match that
    /// started before `stop` may end past it.
    fn scan(
        &mut self,
        data: &[u8],
        mut pos: usize,
        stop: Option<usize>,
        at_end: bool,
    ) -> Result<usize, TransformError> {
        let end = data.len();
        let mut sure = self.sure(data, pos, at_end);
        loop {
            let Some(active) = &self.active else {
                // Nothing left to match: everything passes.
                let to = stop.unwrap_or(end);
                if pos < to {
                    self.pieces.push(Piece::Run(pos..to));
                }
                return Ok(to.max(pos));
            };
            let bound = stop.map_or(sure, |s| s.min(sure));
            let found = if pos < bound {
                active.search.find(data, pos)
            } else {
                None
            };
            let Some((id, m)) = found.filter(|(_, m)| m.start < bound) else {
                if pos < bound {
                    self.pieces.push(Piece::Run(pos..bound));
                }
                return Ok(pos.max(bound));
            };
            if pos < m.start {
                self.pieces.push(Piece::Run(pos..m.start));
            }
            let rule = active.rules[id];
            self.pieces.push(Piece::Replacement(rule));
            pos = m.end;
            if self.options.once {
                self.rules[rule].used = true;
                self.active = Active::build(&self.rules, self.options.case_insensitive)?;
                sure = self.sure(data, pos, at_end);
            } else if pos > sure {
                sure = self.sure(data, pos, at_end);
            }
        }
    }

    /// Scans all of `data` as [`Self::scan`] does and copies its output to the end of
    /// `built`: for data that is this stage's own copy (the held tail), where no piece of it
    /// could go on uncopied anyway.
    fn scan_into(
        &mut self,
        data: &[u8],
        stop: Option<usize>,
        at_end: bool,
        built: &mut BytesMut,
    ) -> Result<usize, TransformError> {
        let pos = self.scan(data, 0, stop, at_end)?;
        self.build(data, built);
        Ok(pos)
    }

    /// Copies the pieces noted while scanning `data` to the end of `built`, and forgets them.
    fn build(&mut self, data: &[u8], built: &mut BytesMut) {
        let size = |piece: &Piece| match piece {
            Piece::Run(r) => r.len(),
            Piece::Replacement(rule) => self.rules[*rule].replacement.len(),
        };
        built.reserve(self.pieces.iter().map(size).sum());
        for piece in self.pieces.drain(..) {
            match piece {
                Piece::Run(r) => built.extend_from_slice(&data[r]),
                Piece::Replacement(rule) => built.extend_from_slice(&self.rules[rule].replacement),
            }
        }
    }

    /// Writes the pieces noted while scanning `data` over `data` itself, from its start, and
    /// forgets them; returns the output's length. Only for rules whose replacements are no
    /// longer than their patterns ([`Replace::fits_in_place`]): the pieces cover the input
    /// contiguously, so the write position never passes the start of the piece being
    /// written, and a replacement overwrites only its own match or bytes already written.
    fn build_in_place(&mut self, data: &mut [u8]) -> usize {
        let mut at = 0;
        for piece in self.pieces.drain(..) {
            match piece {
                Piece::Run(r) => {
                    if r.start != at {
                        data.copy_within(r.clone(), at);
                    }
                    at += r.len();
                }
                Piece::Replacement(rule) => {
                    let replacement = &self.rules[rule].replacement;
                    data[at..at + replacement.len()].copy_from_slice(replacement);
                    at += replacement.len();
                }
            }
        }
        at
    }

    /// The first position at or after `from` from which the rest of `data` may still grow
    /// into a match: a match found that starts before it is final.
    fn sure(&self, data: &[u8], from: usize, at_end: bool) -> usize {
        match &self.active {
            Some(active) if !at_end => active.partial_start(data, from),
            _ => data.len(),
        }
    }
}

impl Active {
    fn build(rules: &[Rule], fold: bool) -> Result<Option<Active>, TransformError> {
        let live: Vec<usize> = (0..rules.len()).filter(|&i| !rules[i].used).collect();
        if live.is_empty() {
            return Ok(None);
        }
        let patterns: Vec<&[u8]> = live.iter().map(|&i| rules[i].pattern.as_slice()).collect();
        let search = Search::build(&patterns, fold)?;
        let mut sorted: Vec<Vec<u8>> = live
            .iter()
            .map(|&i| folded(&rules[i].pattern, fold))
            .collect();
        sorted.sort_unstable();
        let mut first = [false; 256];
        for pattern in &sorted {
            first[usize::from(pattern[0])] = true;
            if fold {
                first[usize::from(pattern[0].to_ascii_uppercase())] = true;
            }
        }
        let longest = sorted.iter().map(Vec::len).max().unwrap_or(1);
        Ok(Some(Active {
            search,
            rules: live,
            longest,
            sorted,
            first,
            fold,
        }))
    }

    /// The earliest position at or after `from` where the rest of `data` is a proper prefix
    /// of a pattern, or `data.len()`. Only the last `longest − 1` positions can be one.
    fn partial_start(&self, data: &[u8], from: usize) -> usize {
        let start = from.max(data.len().saturating_sub(self.longest - 1));
        (start..data.len())
            .find(|&p| self.first[usize::from(data[p])] && self.is_proper_prefix(&data[p..]))
            .unwrap_or(data.len())
    }

    fn is_proper_prefix(&self, s: &[u8]) -> bool {
        let fold = self.fold;
        let key = || {
            s.iter()
                .map(move |&b| if fold { b.to_ascii_lowercase() } else { b })
        };
        let i = self
            .sorted
            .partition_point(|p| p.iter().copied().cmp(key()) == Ordering::Less);
        self.sorted[i..]
            .iter()
            .take(2)
            .any(|p| p.len() > s.len() && p[..s.len()].iter().copied().eq(key()))
    }
}

/// How the patterns in play are found.
enum Search {
    /// One pattern matched byte for byte: memchr's substring search finds it with no
    /// automaton behind it, which made the whole stage about a fifth faster than
    /// aho-corasick on one pattern (measured in wasm, before the build had SIMD).
    One(Box<memmem::Finder<'static>>),
    /// Several patterns, or case-insensitive matching: leftmost-longest aho-corasick.
    Many(AhoCorasick),
}

impl Search {
    fn build(patterns: &[&[u8]], fold: bool) -> Result<Search, TransformError> {
        if let [one] = patterns {
            if !fold {
                return Ok(Search::One(Box::new(memmem::Finder::new(one).into_owned())));
            }
        }
        AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .ascii_case_insensitive(fold)
            .build(patterns)
            .map(Search::Many)
            .map_err(|e| TransformError::new(NAME, format!("cannot build the matcher: {e}")))
    }

    /// The leftmost-longest match in `data[from..]`: its pattern id and where it is.
    fn find(&self, data: &[u8], from: usize) -> Option<(usize, Range<usize>)> {
        match self {
            Search::One(finder) => {
                let start = from + finder.find(&data[from..])?;
                Some((0, start..start + finder.needle().len()))
            }
            Search::Many(ac) => {
                let m = ac.find(Input::new(data).range(from..))?;
                Some((m.pattern().as_usize(), m.range()))
            }
        }
    }
}

fn folded(pattern: &[u8], fold: bool) -> Vec<u8> {
    if fold {
        pattern.to_ascii_lowercase()
    } else {
        pattern.to_vec()
    }
}

impl Transform for Replace {
    fn name(&self) -> &'static str {
        NAME
    }

    fn push(&mut self, chunk: Bytes, out: &mut Sink) -> Result<(), TransformError> {
        if chunk.is_empty() {
            return Ok(());
        }
        let Some(active) = &self.active else {
            out.push(chunk);
            return Ok(());
        };
        let mut start = 0;
        // Output of the held tail, joined with the head of the chunk.
        let mut built = BytesMut::new();
        if !self.held.is_empty() {
            // The held tail and the head of the chunk, joined: every match that starts in
            // the tail ends within `longest - 1` bytes of the chunk.
            let head = active.longest - 1;
            let mut join = std::mem::take(&mut self.held);
            let tail = join.len();
            if chunk.len() <= head {
                join.extend_from_slice(&chunk);
                let pos = self.scan_into(&join, None, false, &mut built)?;
                emit(built, out);
                join.drain(..pos);
                self.held = join;
                return Ok(());
            }
            join.extend_from_slice(&chunk[..head]);
            start = self.scan_into(&join, Some(tail), false, &mut built)? - tail;
            join.clear();
            self.held = join;
        }
        let pos = self.scan(&chunk, start, None, false)?;
        // The tail is kept before the output is made: rewriting in place may overwrite it.
        self.held.extend_from_slice(&chunk[pos..]);
        if let [Piece::Run(r)] = self.pieces.as_slice() {
            if built.is_empty() {
                // Nothing replaced: the chunk goes on as it came.
                out.push(chunk.slice(r.clone()));
                self.pieces.clear();
                return Ok(());
            }
        }
        // With output from a held tail in front, the chunk's own output no longer starts
        // where the chunk does: it is copied after that output instead.
        let chunk = if built.is_empty() && self.fits_in_place {
            match chunk.try_into_mut() {
                Ok(mut own) => {
                    let len = self.build_in_place(&mut own);
                    own.truncate(len);
                    emit(own, out);
                    return Ok(());
                }
                // Someone else still reads this memory: it must not change under them.
                Err(shared) => shared,
            }
        } else {
            chunk
        };
        self.build(&chunk, &mut built);
        emit(built, out);
        Ok(())
    }

    /// Nothing to do: `push` already emitted every byte that cannot be part of a match.
    fn flush(&mut self, _out: &mut Sink) -> Result<(), TransformError> {
        Ok(())
    }

    fn finish(&mut self, out: &mut Sink) -> Result<(), TransformError> {
        let held = std::mem::take(&mut self.held);
        let mut built = BytesMut::new();
        self.scan_into(&held, None, true, &mut built)?;
        emit(built, out);
        Ok(())
    }
}

fn emit(built: BytesMut, out: &mut Sink) {
    if !built.is_empty() {
        out.push(built.freeze());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(pattern: &str, replacement: &str) -> Replace {
        let rule = (pattern.as_bytes().to_vec(), replacement.as_bytes().to_vec());
        Replace::new(vec![rule], ReplaceOptions::default()).unwrap()
    }

    #[test]
    fn a_chunk_of_its_own_is_rewritten_in_place_when_the_output_fits() {
        for (pattern, replacement, expected) in [
            ("origin", "edge!!", "an edge!! and edge!!, no more"),
            ("origin", "edge", "an edge and edge, no more"),
            ("origin", "", "an  and , no more"),
        ] {
            let mut s = stage(pattern, replacement);
            let chunk = Bytes::from(b"an origin and origin, no more".to_vec());
            let memory = chunk.as_ptr();
            let mut out = Sink::new();
            s.push(chunk, &mut out).unwrap();
            s.finish(&mut out).unwrap();
            assert_eq!(out.len(), 1, "{replacement:?}");
            assert_eq!(out[0], expected.as_bytes());
            assert_eq!(
                out[0].as_ptr(),
                memory,
                "{replacement:?}: rewritten in place"
            );
        }
    }

    #[test]
    fn a_shared_chunk_or_a_longer_replacement_is_copied_and_the_input_left_alone() {
        let mut s = stage("origin", "edge!!");
        let chunk = Bytes::from(b"an origin here".to_vec());
        let other_reader = chunk.clone();
        let mut out = Sink::new();
        s.push(chunk, &mut out).unwrap();
        assert_eq!(out[0], &b"an edge!! here"[..]);
        assert_ne!(out[0].as_ptr(), other_reader.as_ptr());
        assert_eq!(other_reader, &b"an origin here"[..]);

        let mut s = stage("origin", "a longer edge");
        let mut out = Sink::new();
        s.push(Bytes::from(b"an origin here".to_vec()), &mut out)
            .unwrap();
        assert_eq!(out[0], &b"an a longer edge here"[..]);
    }

    #[test]
    fn a_held_tail_keeps_its_bytes_when_the_chunk_is_rewritten_in_place() {
        let mut s = stage("origin", "edge!!");
        let mut out = Sink::new();
        // The chunk ends in `ori`, which the stage keeps before it rewrites the chunk.
        s.push(Bytes::from(b"origin, ori".to_vec()), &mut out)
            .unwrap();
        assert_eq!(s.held(), 3);
        // The next chunk starts after a held tail: its output is copied behind the tail's.
        s.push(Bytes::from(b"gin; origin".to_vec()), &mut out)
            .unwrap();
        s.finish(&mut out).unwrap();
        let all: Vec<u8> = out.concat();
        assert_eq!(all, b"edge!!, edge!!; edge!!");
    }
}
