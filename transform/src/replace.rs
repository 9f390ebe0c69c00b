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
//! without copying. A call that replaces something emits one buffer with the runs between
//! matches and the replacements copied in: at one match every few hundred bytes, a slice
//! per run would hand every consumer hundreds of pieces per chunk, and each piece costs
//! the proxy more than copying it does. The held tail is copied too (it is kept across
//! calls).

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
        Ok(Replace {
            rules,
            options,
            active,
            held: Vec::new(),
            pieces: Vec::new(),
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
        match self.pieces.as_slice() {
            // Nothing replaced: the chunk goes on as it came.
            [Piece::Run(r)] if built.is_empty() => {
                out.push(chunk.slice(r.clone()));
                self.pieces.clear();
            }
            _ => {
                self.build(&chunk, &mut built);
                emit(built, out);
            }
        }
        self.held.extend_from_slice(&chunk[pos..]);
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
