//! The incremental tokenizer: bytes in, events out, the same events however the input is
//! split, in linear work and with at most an unfinished tag held.

use bytes::Bytes;

use super::event::{Event, Token, Unclosed};
use super::opener::{advance, Opener, Opening};
use super::tag::{is_xml_space, parse_tag, END_TAG_OPEN};
use super::MAX_TAG;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Markup,
    /// Inside an element whose content is dropped, until its end tag: `matched` bytes of
    /// `</esi:` + `element` are matched (all of them: only white space and `>` may follow).
    Dropping {
        element: &'static str,
        matched: usize,
    },
    /// After a tag too long: nothing more is read.
    Broken,
}

/// Where the tokenizer is inside a possible tag or marker, so that the bytes it has read
/// are never read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Candidate {
    /// The first `matched` bytes of an opener, its last byte not yet come.
    Opener { opener: Opener, matched: usize },
    /// `<esi:` or `</esi:` and what follows, up to its `>`; `quote` is the quote it is
    /// inside (a `>` there does not end it).
    Tag { quote: Option<u8> },
}

/// The incremental tokenizer; see the module documentation.
#[derive(Debug)]
pub struct Tokenizer {
    mode: Mode,
    /// Inside `<!--esi … -->`: the next `-->` ends it.
    in_esi_comment: bool,
    /// The candidate being read, if any.
    candidate: Option<Candidate>,
    /// Its bytes, when it began in an earlier chunk (at most [`MAX_TAG`]).
    held: Vec<u8>,
    /// Bytes looked at, a byte looked at twice counting twice: the tests prove the work is
    /// linear with it.
    #[cfg(feature = "testing")]
    steps: u64,
}

impl Default for Tokenizer {
    fn default() -> Self {
        Tokenizer::new()
    }
}

/// The byte-level position of one `push`: `input[text_from..]` up to the candidate (or
/// `at`) is text not yet emitted; the candidate is `held` followed by
/// `input[cand_from..at]` (`cand_from` is 0 when `held` is not empty).
struct Cursor {
    at: usize,
    text_from: usize,
    cand_from: usize,
}

impl Tokenizer {
    pub fn new() -> Tokenizer {
        Tokenizer {
            mode: Mode::Markup,
            in_esi_comment: false,
            candidate: None,
            held: Vec::new(),
            #[cfg(feature = "testing")]
            steps: 0,
        }
    }

    /// Bytes held back, waiting to be told apart.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Bytes looked at so far (a byte looked at twice counts twice).
    #[cfg(feature = "testing")]
    pub fn steps(&self) -> u64 {
        self.steps
    }

    #[inline]
    fn step(&mut self, _bytes: usize) {
        #[cfg(feature = "testing")]
        {
            self.steps += _bytes as u64;
        }
    }

    /// Takes a chunk; emits every event that is certain. A tag too long breaks the template:
    /// the error, then and on every later call (nothing from the tag on is emitted).
    pub fn push(&mut self, input: &[u8], events: &mut Vec<Event>) -> Result<(), Unclosed> {
        self.push_into(input, events)
    }

    /// [`Tokenizer::push`] for the whole language: `esi:choose`, `esi:when`,
    /// `esi:otherwise` and `esi:vars` come as [`Token`]s instead of being dropped or
    /// stripped. One template is read with one of the two, never both.
    pub fn push_tokens(&mut self, input: &[u8], tokens: &mut Vec<Token>) -> Result<(), Unclosed> {
        self.push_into(input, tokens)
    }

    /// [`Tokenizer::finish`] for [`Tokenizer::push_tokens`].
    pub fn finish_tokens(&mut self, tokens: &mut Vec<Token>) -> Result<(), Unclosed> {
        self.finish_into(tokens)
    }

    fn push_into<O: Output>(&mut self, input: &[u8], events: &mut O) -> Result<(), Unclosed> {
        let mut c = Cursor {
            at: 0,
            text_from: 0,
            cand_from: 0,
        };
        while c.at < input.len() {
            match self.mode {
                Mode::Markup => {}
                Mode::Dropping { element, matched } => {
                    self.drop_content(input, &mut c, element, matched);
                    continue;
                }
                Mode::Broken => break,
            }
            match self.candidate {
                None => self.search(input, &mut c, events),
                Some(Candidate::Opener { opener, matched }) => {
                    self.opener(input, &mut c, opener, matched, events);
                }
                Some(Candidate::Tag { quote }) => self.tag(input, &mut c, quote, events),
            }
        }
        match self.candidate {
            Some(_) => {
                text(events, &input[c.text_from..c.cand_from]);
                self.held.extend_from_slice(&input[c.cand_from..]);
            }
            None if matches!(self.mode, Mode::Markup) => {
                text(events, &input[c.text_from..]);
            }
            None => {}
        }
        match self.mode {
            Mode::Broken => Err(Unclosed::TagTooLong),
            _ => Ok(()),
        }
    }

    /// End of input: what is held back is text if it is only the start of an opener (`<es`);
    /// a construct still open is [`Unclosed`].
    pub fn finish(&mut self, events: &mut Vec<Event>) -> Result<(), Unclosed> {
        self.finish_into(events)
    }

    fn finish_into<O: Output>(&mut self, events: &mut O) -> Result<(), Unclosed> {
        let held = std::mem::take(&mut self.held);
        match self.candidate.take() {
            Some(Candidate::Tag { .. }) => return Err(Unclosed::Tag),
            Some(Candidate::Opener { .. }) => text(events, &held),
            None => {}
        }
        match self.mode {
            Mode::Markup => {}
            Mode::Dropping { element, .. } => return Err(Unclosed::Element(element)),
            Mode::Broken => return Err(Unclosed::TagTooLong),
        }
        if self.in_esi_comment {
            return Err(Unclosed::EsiComment);
        }
        Ok(())
    }

    /// The candidate's bytes: what is held, then `input[cand_from..at]`.
    fn candidate_len(&self, c: &Cursor) -> usize {
        self.held.len() + (c.at - c.cand_from)
    }

    /// Markup, no candidate: finds the next opener of a tag or marker in this chunk, acting
    /// on markers, until a tag's opener (a candidate) or the chunk's end. In an esi comment
    /// its end, `-->`, is found by its `>`, so that dashes cost nothing.
    fn search<O: Output>(&mut self, input: &[u8], c: &mut Cursor, events: &mut O) {
        // Counted here and added once: this loop may take a byte at a time (`<<<`).
        let mut looked = 0;
        while let Some(&first) = input.get(c.at) {
            let rest = &input[c.at..];
            let found = match first {
                // Next to the last candidate (`<<<`), no search is worth it.
                b'<' => Some(0),
                _ if self.in_esi_comment => memchr::memchr2(b'<', b'>', rest),
                _ => memchr::memchr(b'<', rest),
            };
            let Some(i) = found else {
                looked += rest.len();
                c.at = input.len();
                if self.in_esi_comment {
                    self.hold_dashes(input, c);
                }
                break;
            };
            let p = c.at + i;
            looked += i + 2;
            match (input[p], input.get(p + 1)) {
                (b'>', _) => {
                    // `-->` when the two bytes before are dashes of this chunk's text.
                    looked += 1;
                    c.at = p + 1;
                    if p >= c.text_from + 2 && input[p - 2..p] == *b"--" {
                        c.cand_from = p - 2;
                        self.emit_before_candidate(input, c, events);
                        self.in_esi_comment = false;
                        self.end_candidate(c);
                    }
                }
                // A `<` whose next byte begins no opener's rest: the search goes on there.
                (_, Some(b)) if !matches!(b, b'e' | b'/' | b'!') => c.at = p + 1,
                _ => {
                    if self.opener_at(input, c, p, events) {
                        break;
                    }
                }
            }
        }
        self.step(looked);
    }

    /// The chunk ended in an esi comment: its last dashes of text (at most two) may begin
    /// `-->`, and are held as that candidate.
    fn hold_dashes(&mut self, input: &[u8], c: &mut Cursor) {
        let text = &input[c.text_from..];
        let matched = text
            .iter()
            .rev()
            .take(2)
            .take_while(|&&b| b == b'-')
            .count();
        self.step(matched.min(text.len()));
        if matched > 0 {
            c.cand_from = input.len() - matched;
            self.candidate = Some(Candidate::Opener {
                opener: Opener::CommentEnd,
                matched,
            });
        }
    }

    /// The `<` at `p`, nothing held: told apart at once from the bytes after it in this
    /// chunk, as long as they suffice (a chunk ending inside an opener leaves it to
    /// [`Tokenizer::opener`], a byte at a time). Not an opener, the search goes on from the
    /// byte that differed, the only one that may begin another, so a byte is looked at a few
    /// times at most (the search's, the peek after a `<`, the comparison). True when it
    /// leaves a candidate.
    fn opener_at<O: Output>(
        &mut self,
        input: &[u8],
        c: &mut Cursor,
        p: usize,
        events: &mut O,
    ) -> bool {
        let opener = match input.get(p + 1) {
            Some(b'e') => Opener::Start,
            Some(b'/') => Opener::End,
            Some(b'!') if !self.in_esi_comment => Opener::Comment,
            Some(_) => {
                self.step(1);
                c.at = p + 1;
                return false;
            }
            None => {
                c.at = input.len();
                c.cand_from = p;
                self.candidate = Some(Candidate::Opener {
                    opener: Opener::Lt,
                    matched: 1,
                });
                return true;
            }
        };
        let whole = opener.bytes();
        let matched = common_prefix(whole, &input[p..]);
        self.step(matched.min(input.len() - p - 1) + 1);
        c.cand_from = p;
        if matched == whole.len() {
            c.at = p + matched;
            match opener {
                Opener::Comment => {
                    self.emit_before_candidate(input, c, events);
                    self.in_esi_comment = true;
                    self.end_candidate(c);
                    false
                }
                _ => {
                    self.candidate = Some(Candidate::Tag { quote: None });
                    true
                }
            }
        } else if p + matched == input.len() {
            c.at = input.len();
            self.candidate = Some(Candidate::Opener { opener, matched });
            true
        } else {
            c.at = p + matched;
            false
        }
    }

    /// An opener candidate, `matched` bytes of `opener`, takes the bytes from `at` until it
    /// is told apart (or the input ends).
    fn opener<O: Output>(
        &mut self,
        input: &[u8],
        c: &mut Cursor,
        mut opener: Opener,
        mut matched: usize,
        events: &mut O,
    ) {
        // A tight loop: a run of `<` or `<!--` takes each byte here.
        while let Some(&b) = input.get(c.at) {
            c.at += 1;
            self.step(1);
            match advance(opener, matched, b, self.in_esi_comment) {
                Opening::Partial(next, n) => (opener, matched) = (next, n),
                Opening::Tag => {
                    self.candidate = Some(Candidate::Tag { quote: None });
                    return;
                }
                Opening::Marker(opens) => {
                    self.emit_before_candidate(input, c, events);
                    self.in_esi_comment = opens;
                    self.end_candidate(c);
                    return;
                }
                Opening::Text(kept) => {
                    // The bytes before the kept ones are text, and stay in the run of text.
                    let keep = kept.map_or(0, |(_, n)| n);
                    let held = self.held.len();
                    let drop = self.candidate_len(c) - keep;
                    if drop >= held {
                        if held > 0 {
                            text(events, &self.held);
                            self.held.clear();
                        }
                        c.cand_from += drop - held;
                    } else {
                        text(events, &self.held[..drop]);
                        self.held.drain(..drop);
                    }
                    match kept {
                        // Held bytes still in it: on a byte at a time.
                        Some(next) if !self.held.is_empty() => (opener, matched) = next,
                        // All in this chunk: back to the search, which reads the kept bytes
                        // again (at most two), so that a run of `<` after a chunk's end is
                        // not taken a byte at a time.
                        _ => {
                            c.at -= keep;
                            self.step(keep);
                            self.candidate = None;
                            return;
                        }
                    }
                }
            }
        }
        self.candidate = Some(Candidate::Opener { opener, matched });
    }

    /// Reads a tag candidate on from `at`, looking for its `>` outside quotes.
    fn tag<O: Output>(
        &mut self,
        input: &[u8],
        c: &mut Cursor,
        mut quote: Option<u8>,
        events: &mut O,
    ) {
        let room = MAX_TAG - self.candidate_len(c);
        let window = &input[c.at..input.len().min(c.at + room)];
        let mut i = 0;
        let end = loop {
            let rest = &window[i..];
            let found = match quote {
                // An empty value (`""`) closes at once: no search for it.
                Some(q) if rest.first() == Some(&q) => Some(0),
                Some(q) => memchr::memchr(q, rest),
                None => tag_end_or_quote(rest),
            };
            let Some(j) = found else {
                self.step(rest.len());
                i = window.len();
                break None;
            };
            self.step(j + 1);
            i += j + 1;
            match (quote, window[i - 1]) {
                (Some(_), _) => quote = None,
                (None, b'>') => break Some(i),
                (None, q) => quote = Some(q),
            }
        };
        c.at += i;
        match end {
            Some(_) => {
                let len = self.candidate_len(c);
                self.step(len);
                self.emit_before_candidate(input, c, events);
                // A tag in one chunk is read where it is; only one split by a chunk's end
                // was held.
                let tag = match self.held.is_empty() {
                    true => &input[c.cand_from..c.at],
                    false => {
                        self.held.extend_from_slice(&input[c.cand_from..c.at]);
                        &self.held
                    }
                };
                let mode = parse_tag(tag, O::LANGUAGE, &mut |token| events.token(token));
                if let Some(mode) = mode {
                    self.mode = mode;
                }
                self.end_candidate(c);
            }
            None if self.candidate_len(c) >= MAX_TAG => {
                // What came before the tag is the template's; the tag and all after it are
                // not emitted, and its bytes are let go.
                self.emit_before_candidate(input, c, events);
                self.held = Vec::new();
                self.candidate = None;
                self.mode = Mode::Broken;
            }
            None => self.candidate = Some(Candidate::Tag { quote }),
        }
    }

    /// Inside an element whose content is dropped: drops input up to and including its end
    /// tag, `</esi:NAME` then XML white space then `>`.
    fn drop_content(
        &mut self,
        input: &[u8],
        c: &mut Cursor,
        element: &'static str,
        mut matched: usize,
    ) {
        let needle_len = END_TAG_OPEN.len() + element.len();
        let needle = |k: usize| match END_TAG_OPEN.get(k) {
            Some(&b) => b,
            None => element.as_bytes()[k - END_TAG_OPEN.len()],
        };
        let start = c.at;
        // Bytes looked at again: the one a match stopped at, which the search reads anew.
        let mut again = 0;
        while c.at < input.len() {
            if matched == 0 {
                // Nothing matched: only a `<` can begin the end tag, and the bytes after it
                // in this chunk tell at once whether it does.
                match memchr::memchr(b'<', &input[c.at..]) {
                    Some(i) => c.at += i,
                    None => {
                        c.at = input.len();
                        break;
                    }
                }
                let rest = &input[c.at..];
                matched = match common_prefix(END_TAG_OPEN, rest) {
                    n if n == END_TAG_OPEN.len() => {
                        n + common_prefix(element.as_bytes(), &rest[n..])
                    }
                    n => n,
                };
                c.at += matched;
                if matched < needle_len && c.at < input.len() {
                    // It stopped at a byte that differs, itself perhaps the next `<`.
                    again += 1;
                    matched = 0;
                }
                continue;
            }
            let b = input[c.at];
            if matched < needle_len {
                // Begun in an earlier chunk. The needle's only `<` is its first byte, so a
                // mismatch starts the search again at the byte that differs.
                if b == needle(matched) {
                    matched += 1;
                    c.at += 1;
                } else {
                    again += 1;
                    matched = 0;
                }
            } else if b == b'>' {
                c.at += 1;
                self.step(c.at - start + again);
                self.mode = Mode::Markup;
                c.text_from = c.at;
                return;
            } else if is_xml_space(b) {
                c.at += 1;
            } else {
                again += 1;
                matched = 0;
            }
        }
        self.step(c.at - start + again);
        self.mode = Mode::Dropping { element, matched };
        c.text_from = c.at;
    }

    /// Emits the text of this chunk that comes before the candidate.
    fn emit_before_candidate<O: Output>(&self, input: &[u8], c: &Cursor, events: &mut O) {
        text(events, &input[c.text_from..c.cand_from]);
    }

    /// The candidate was a tag or marker, now acted on: text starts after it.
    fn end_candidate(&mut self, c: &mut Cursor) {
        self.held.clear();
        self.candidate = None;
        c.text_from = c.at;
        c.cand_from = c.at;
    }
}

/// The first `>`, `"` or `'` in `rest`. A tag is short: its first 16 bytes are looked at
/// eight at a time in registers, where a search's setup would cost more than a tag of a few
/// bytes takes to read (a template of `<esi:x/>` spent a quarter of its time there).
#[inline]
pub(super) fn tag_end_or_quote(rest: &[u8]) -> Option<usize> {
    const SHORT: usize = 16;
    for (i, word) in rest.chunks_exact(8).take(SHORT / 8).enumerate() {
        let x = u64::from_le_bytes(<[u8; 8]>::try_from(word).ok()?);
        if let Some(j) = first_of_three(x) {
            return Some(i * 8 + j);
        }
    }
    let from = rest.len().min(SHORT) / 8 * 8;
    memchr::memchr3(b'>', b'"', b'\'', &rest[from..]).map(|j| from + j)
}

/// The index of the first byte of `x` (little-endian) that is `>`, `"` or `'`. A byte equal
/// to one is a zero byte of `x` XOR it; the subtraction's borrow can flag a byte above a zero
/// one, never below, so the lowest flag is exact.
#[inline(always)]
fn first_of_three(x: u64) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = ONES * 0x80;
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let flags = zero(x ^ (ONES * u64::from(b'>')))
        | zero(x ^ (ONES * u64::from(b'"')))
        | zero(x ^ (ONES * u64::from(b'\'')));
    (flags != 0).then(|| flags.trailing_zeros() as usize / 8)
}

/// How many bytes `a` and `b` begin with alike.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Emits `bytes` as text. Text split by a chunk boundary comes as two events: a consumer
/// writes them in turn.
fn text<O: Output>(events: &mut O, bytes: &[u8]) {
    if !bytes.is_empty() {
        events.token(Token::Event(Event::Text(Bytes::copy_from_slice(bytes))));
    }
}

/// Where the tokens go, and which language they are read in.
trait Output {
    /// Whether `esi:choose`, `esi:when`, `esi:otherwise` and `esi:vars` are tokens (true) or
    /// handled as the tokenizer always has (choose dropped whole, vars stripped).
    const LANGUAGE: bool;
    fn token(&mut self, token: Token);
}

impl Output for Vec<Event> {
    const LANGUAGE: bool = false;
    fn token(&mut self, token: Token) {
        match token {
            Token::Event(event) => self.push(event),
            // Not made when `LANGUAGE` is false; named rather than lost if it ever were.
            other => self.push(Event::Unsupported(other.element().into())),
        }
    }
}

impl Output for Vec<Token> {
    const LANGUAGE: bool = true;
    fn token(&mut self, token: Token) {
        self.push(token);
    }
}
