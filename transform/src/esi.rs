//! Edge Side Includes (ESI 1.0) as production templates use it, as an incremental tokenizer:
//! bytes in, text and tag events out, the same events however the input is split.
//!
//! Recognised: `<esi:include src="…" alt="…" onerror="continue"/>`, `<esi:remove>…
//! </esi:remove>`, `<esi:comment text="…"/>`, `<!--esi … -->` (its markers removed, its
//! content processed), and `<esi:try>`, `<esi:attempt>`, `<esi:except>` with their end
//! tags. Not supported, and what becomes of them: `<esi:choose>…</esi:choose>` and
//! `<esi:inline>…</esi:inline>` are removed with their content (a page shows none of their
//! branches rather than all of them); `<esi:vars>` and `</esi:vars>` are removed and their
//! content kept as it is, without substitution; any other `esi:` tag is removed and reported
//! ([`Event::Unsupported`]). Tags follow XML's syntax for white space: `</esi:remove >`,
//! `<esi:remove / >` and a tab or newline between attributes are the tags they would be
//! without it.
//!
//! ESI is not HTML: tags are found wherever they are, inside a `<script>` or an HTML
//! comment as much as in markup (as ESI processors do). Everything else passes byte for
//! byte, `<` of a script and bytes that are not UTF-8 included.
//!
//! The work is linear in the input: every byte is looked at a bounded number of times,
//! whatever the chunking, because the tokenizer keeps where it is inside an unfinished tag
//! (its quote) rather than reading the held bytes again on the next chunk. What is held back
//! is at most an unfinished tag, [`MAX_TAG`] bytes. A tag that reaches [`MAX_TAG`] bytes
//! without its `>` breaks the template: passing it as text would send an ESI tag to a client
//! raw, and holding more would be unbounded, so [`Tokenizer::push`] reports it
//! ([`Unclosed::TagTooLong`]), emits nothing from the tag on and reads nothing more. A
//! construct still open when the input ends is reported by [`Tokenizer::finish`] as
//! [`Unclosed`]: the content of an `<esi:remove>` has been dropped as it streamed, so it
//! cannot be given back as text, and a page that would silently lose the rest of its text
//! must fail instead.

use std::fmt;

use bytes::Bytes;

/// The longest tag, `<` to `>`: a tag that reaches it without its `>` breaks the template.
pub const MAX_TAG: usize = 16 * 1024;

/// What the template says, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Bytes that go out as they are.
    Text(Bytes),
    /// `<esi:include>`: a fragment to put here.
    Include(Include),
    TryStart,
    AttemptStart,
    AttemptEnd,
    ExceptStart,
    ExceptEnd,
    TryEnd,
    /// An `esi:` tag this processor removes without acting on it (its name).
    Unsupported(String),
    /// An `esi:` tag that cannot be used (an include without `src`): removed, with why.
    Invalid(String),
}

/// An include as written, its `src` and `alt` with entities decoded and variables not yet
/// substituted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Include {
    pub src: String,
    pub alt: Option<String>,
    /// `onerror="continue"`: a failure leaves nothing in the include's place.
    pub continue_on_error: bool,
}

/// A construct left open: still open when the input ended, or a tag whose `>` did not come
/// within [`MAX_TAG`] bytes. The template is broken: whoever composes it fails rather than
/// send a page that lost text, or an ESI tag, without saying so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unclosed {
    /// `<esi:remove>`, `<esi:choose>` or `<esi:inline>` without its end tag: everything after
    /// it was dropped.
    Element(&'static str),
    /// `<!--esi` without its `-->`.
    EsiComment,
    /// `<esi:` or `</esi:` without its `>`.
    Tag,
    /// `<esi:` or `</esi:` whose `>` did not come within [`MAX_TAG`] bytes.
    TagTooLong,
}

impl fmt::Display for Unclosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unclosed::Element(name) => {
                write!(
                    f,
                    "the template ended inside <esi:{name}> (no </esi:{name}>)"
                )
            }
            Unclosed::EsiComment => f.write_str("the template ended inside <!--esi (no -->)"),
            Unclosed::Tag => f.write_str("the template ended inside an unfinished esi: tag"),
            Unclosed::TagTooLong => write!(f, "an esi: tag ran past {MAX_TAG} bytes without its >"),
        }
    }
}

impl std::error::Error for Unclosed {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
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

/// What begins a tag or a marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opener {
    /// `<`, which all but `-->` begin with.
    Lt,
    /// `<esi:`
    Start,
    /// `</esi:`
    End,
    /// `<!--esi`, outside an esi comment.
    Comment,
    /// `-->`, inside an esi comment.
    CommentEnd,
}

impl Opener {
    fn bytes(self) -> &'static [u8] {
        match self {
            Opener::Lt => b"<",
            Opener::Start => b"<esi:",
            Opener::End => END_TAG_OPEN,
            Opener::Comment => b"<!--esi",
            Opener::CommentEnd => b"-->",
        }
    }
}

/// What an opener candidate is once it took one more byte.
enum Opening {
    /// Still a proper prefix of an opener.
    Partial(Opener, usize),
    /// All of `<esi:` or `</esi:`: a tag, whose `>` is looked for next.
    Tag,
    /// `<!--esi` (true) or the `-->` that ends it (false).
    Marker(bool),
    /// None of those: its bytes but the last `keep` are text, and the last `keep` a new
    /// candidate (`Some`) or text too.
    Text(Option<(Opener, usize)>),
}

/// The opener candidate `matched` bytes of `opener` takes `b`. Only the first byte of an
/// opener is `<`, and only `-->` holds a `-` (looked for inside an esi comment, where
/// `<!--esi` is not), so when `b` does not go on, the bytes that may still begin an opener
/// are `b` alone or, for `---`, its last two.
fn advance(opener: Opener, matched: usize, b: u8, in_esi_comment: bool) -> Opening {
    let next = match opener {
        Opener::Lt => match b {
            b'e' => Some(Opener::Start),
            b'/' => Some(Opener::End),
            b'!' if !in_esi_comment => Some(Opener::Comment),
            _ => None,
        },
        _ => (opener.bytes()[matched] == b).then_some(opener),
    };
    match next {
        Some(next) if matched + 1 == next.bytes().len() => match next {
            Opener::Comment => Opening::Marker(true),
            Opener::CommentEnd => Opening::Marker(false),
            _ => Opening::Tag,
        },
        Some(next) => Opening::Partial(next, matched + 1),
        None => Opening::Text(match b {
            b'-' if opener == Opener::CommentEnd => Some((Opener::CommentEnd, 2)),
            b'<' => Some((Opener::Lt, 1)),
            b'-' if in_esi_comment => Some((Opener::CommentEnd, 1)),
            _ => None,
        }),
    }
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
                None => {
                    let rest = &input[c.at..];
                    let found = if self.in_esi_comment {
                        memchr::memchr2(b'<', b'-', rest)
                    } else {
                        memchr::memchr(b'<', rest)
                    };
                    self.step(found.map_or(rest.len(), |i| i + 1));
                    match found {
                        Some(i) => {
                            c.at += i + 1;
                            c.cand_from = c.at - 1;
                            let opener = match input[c.at - 1] {
                                b'-' => Opener::CommentEnd,
                                _ => Opener::Lt,
                            };
                            self.candidate = Some(Candidate::Opener { opener, matched: 1 });
                        }
                        None => c.at = input.len(),
                    }
                }
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

    /// An opener candidate, `matched` bytes of `opener`, takes the bytes from `at` until it
    /// is told apart (or the input ends).
    fn opener(
        &mut self,
        input: &[u8],
        c: &mut Cursor,
        mut opener: Opener,
        mut matched: usize,
        events: &mut Vec<Event>,
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
                        Some(next) => (opener, matched) = next,
                        None => {
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
    fn tag(
        &mut self,
        input: &[u8],
        c: &mut Cursor,
        mut quote: Option<u8>,
        events: &mut Vec<Event>,
    ) {
        let room = MAX_TAG - self.candidate_len(c);
        let window = &input[c.at..input.len().min(c.at + room)];
        let mut i = 0;
        let end = loop {
            let rest = &window[i..];
            let found = match quote {
                Some(q) => memchr::memchr(q, rest),
                None => memchr::memchr3(b'>', b'"', b'\'', rest),
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
                let (tag_event, mode) = if self.held.is_empty() {
                    parse_tag(&input[c.cand_from..c.at])
                } else {
                    self.held.extend_from_slice(&input[c.cand_from..c.at]);
                    parse_tag(&self.held)
                };
                self.step(len);
                self.emit_before_candidate(input, c, events);
                events.extend(tag_event);
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
        while c.at < input.len() {
            if matched == 0 {
                // Nothing matched: only a `<` can begin the end tag.
                match memchr::memchr(b'<', &input[c.at..]) {
                    Some(i) => c.at += i,
                    None => {
                        c.at = input.len();
                        break;
                    }
                }
            }
            let b = input[c.at];
            c.at += 1;
            if matched < needle_len {
                // The needle's only `<` is its first byte, so a mismatch restarts there.
                matched = if b == needle(matched) {
                    matched + 1
                } else {
                    usize::from(b == b'<')
                };
            } else if b == b'>' {
                self.step(c.at - start);
                self.mode = Mode::Markup;
                c.text_from = c.at;
                return;
            } else if !is_xml_space(b) {
                matched = usize::from(b == b'<');
            }
        }
        self.step(c.at - start);
        self.mode = Mode::Dropping { element, matched };
        c.text_from = c.at;
    }

    /// Emits the text of this chunk that comes before the candidate.
    fn emit_before_candidate(&self, input: &[u8], c: &Cursor, events: &mut Vec<Event>) {
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

const END_TAG_OPEN: &[u8] = b"</esi:";

/// White space as XML has it (`S`): space, tab, carriage return, line feed.
fn is_xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// What a whole tag (`<esi:…>` or `</esi:…>`) does.
fn parse_tag(tag: &[u8]) -> (Option<Event>, Option<Mode>) {
    let closing = tag.starts_with(END_TAG_OPEN);
    let name_at = if closing { 6 } else { 5 };
    let mut inner = trim_xml_space_end(&tag[name_at..tag.len() - 1]);
    let self_closing = inner.last() == Some(&b'/');
    if self_closing {
        inner = trim_xml_space_end(&inner[..inner.len() - 1]);
    }
    let name_len = inner
        .iter()
        .position(|&b| is_xml_space(b))
        .unwrap_or(inner.len());
    let name = String::from_utf8_lossy(&inner[..name_len]);
    interpret(&name, closing, self_closing, &inner[name_len..])
}

fn trim_xml_space_end(mut bytes: &[u8]) -> &[u8] {
    while let Some((&last, rest)) = bytes.split_last() {
        if !is_xml_space(last) {
            break;
        }
        bytes = rest;
    }
    bytes
}

/// What one tag does: at most one event, and the mode it starts.
fn interpret(
    name: &str,
    closing: bool,
    self_closing: bool,
    attributes: &[u8],
) -> (Option<Event>, Option<Mode>) {
    let one = |e: Event| (Some(e), None);
    let dropping = |element| Mode::Dropping {
        element,
        matched: 0,
    };
    match (name, closing) {
        ("include", false) => {
            let mut attrs = parse_attributes(attributes);
            // Each name is read once: its first value is moved out, not copied.
            let mut take = |n: &str| {
                let at = attrs.iter().position(|(k, _)| k == n)?;
                Some(std::mem::take(&mut attrs[at].1))
            };
            let src = take("src");
            let alt = take("alt").filter(|a| !a.trim().is_empty());
            let continue_on_error = take("onerror").is_some_and(|v| v == "continue");
            match src {
                Some(src) if !src.trim().is_empty() => one(Event::Include(Include {
                    src,
                    alt,
                    continue_on_error,
                })),
                _ => one(Event::Invalid("esi:include without src".into())),
            }
        }
        ("include" | "comment" | "remove" | "vars", true) | ("comment" | "vars", false) => {
            (None, None)
        }
        ("remove", false) if !self_closing => (None, Some(dropping("remove"))),
        ("remove", false) => (None, None),
        ("choose", false) if !self_closing => (
            Some(Event::Unsupported("choose".into())),
            Some(dropping("choose")),
        ),
        ("inline", false) if !self_closing => (
            Some(Event::Unsupported("inline".into())),
            Some(dropping("inline")),
        ),
        ("try", false) => one(Event::TryStart),
        ("try", true) => one(Event::TryEnd),
        ("attempt", false) => one(Event::AttemptStart),
        ("attempt", true) => one(Event::AttemptEnd),
        ("except", false) => one(Event::ExceptStart),
        ("except", true) => one(Event::ExceptEnd),
        (other, _) => one(Event::Unsupported(other.to_string())),
    }
}

/// Emits `bytes` as text. Text split by a chunk boundary comes as two events: a consumer
/// writes them in turn.
fn text(events: &mut Vec<Event>, bytes: &[u8]) {
    if !bytes.is_empty() {
        events.push(Event::Text(Bytes::copy_from_slice(bytes)));
    }
}

/// `name="value"`, `name='value'`, `name=value` and bare `name`s, names lowercase, values
/// with HTML's character references for `& < > " '` decoded.
fn parse_attributes(bytes: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(bytes);
    let mut chars = text.chars().peekable();
    let mut out = Vec::new();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut name = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != '=') {
            name.push(c.to_ascii_lowercase());
        }
        if name.is_empty() {
            if chars.next().is_none() {
                return out;
            }
            continue;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'=').is_some() {
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            match chars.next_if(|c| *c == '"' || *c == '\'') {
                Some(q) => {
                    for c in chars.by_ref() {
                        if c == q {
                            break;
                        }
                        value.push(c);
                    }
                }
                None => {
                    while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                        value.push(c);
                    }
                }
            }
        }
        out.push((name, decode_entities(&value)));
    }
}

fn decode_entities(value: &str) -> String {
    if !value.contains('&') {
        return value.to_string();
    }
    value
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzzing::esi::{self, adversarial_shapes, merged, MAX_STEPS_PER_BYTE};

    fn run_checked(input: &[u8]) -> (Vec<Event>, Result<(), Unclosed>) {
        esi::run(input, &[])
    }

    /// The events of a template that ends with every construct closed.
    fn run(input: &[u8]) -> Vec<Event> {
        let (events, end) = run_checked(input);
        assert_eq!(end, Ok(()), "{}", String::from_utf8_lossy(input));
        events
    }

    fn t(s: &str) -> Event {
        Event::Text(Bytes::copy_from_slice(s.as_bytes()))
    }

    fn inc(src: &str) -> Event {
        Event::Include(Include {
            src: src.into(),
            alt: None,
            continue_on_error: false,
        })
    }

    #[test]
    fn includes_between_text() {
        assert_eq!(
            run(br#"<p>a</p><esi:include src="/f?a=1&amp;b=2"/><p>b</p>"#),
            [t("<p>a</p>"), inc("/f?a=1&b=2"), t("<p>b</p>")]
        );
        assert_eq!(
            run(b"<esi:include src='/x' alt=/y onerror=\"continue\"></esi:include>!"),
            [
                Event::Include(Include {
                    src: "/x".into(),
                    alt: Some("/y".into()),
                    continue_on_error: true,
                }),
                t("!")
            ]
        );
        assert_eq!(
            run(b"<esi:include src=\"a>b\"/>"),
            [inc("a>b")],
            "a > inside quotes does not end the tag"
        );
    }

    #[test]
    fn remove_comment_and_esi_comments() {
        assert_eq!(
            run(b"a<esi:remove><esi:include src=/no/>gone</esi:remove>b"),
            [t("ab")]
        );
        assert_eq!(run(b"a<esi:comment text=\"x\"/>b"), [t("ab")]);
        assert_eq!(
            run(b"a<!--esi <b>x</b><esi:include src=/f/> -->c"),
            [t("a <b>x</b>"), inc("/f"), t(" c")]
        );
        assert_eq!(
            run(b"<!-- plain --> <!--esi-->"),
            [t("<!-- plain --> ")],
            "an HTML comment is text; an empty esi comment is nothing"
        );
        assert_eq!(
            run(b"<!--esi a - b -- c --->d"),
            [t(" a - b -- c -d")],
            "dashes inside an esi comment are text up to the first -->"
        );
    }

    #[test]
    fn try_attempt_except() {
        assert_eq!(
            run(b"<esi:try><esi:attempt><esi:include src=/a/></esi:attempt><esi:except>x</esi:except></esi:try>"),
            [
                Event::TryStart,
                Event::AttemptStart,
                inc("/a"),
                Event::AttemptEnd,
                Event::ExceptStart,
                t("x"),
                Event::ExceptEnd,
                Event::TryEnd
            ]
        );
    }

    /// XML allows white space before the `>` of an end tag and around the `/` of an empty
    /// element, and between attributes tabs and newlines as well as spaces.
    #[test]
    fn end_and_empty_element_tags_with_white_space() {
        for end in ["</esi:remove >", "</esi:remove\t>", "</esi:remove\r\n  >"] {
            let page = format!("a<esi:remove>gone</esi:remov</esi:remove\t/{end}b");
            assert_eq!(run(page.as_bytes()), [t("ab")], "{page:?}");
        }
        for empty in [
            "<esi:remove / >",
            "<esi:remove/ >",
            "<esi:remove\n/>",
            "<esi:remove\t/\t>",
        ] {
            let page = format!("a{empty}b");
            assert_eq!(run(page.as_bytes()), [t("ab")], "{page:?}");
        }
        assert_eq!(run(b"a<esi:include src=x / >b"), [t("a"), inc("x"), t("b")]);
        assert_eq!(
            run(b"<esi:include\tsrc=\"/a\"\n\talt='/b'\r\n/>"),
            [Event::Include(Include {
                src: "/a".into(),
                alt: Some("/b".into()),
                continue_on_error: false,
            })]
        );
        assert_eq!(
            run(b"<esi:try ><esi:attempt\n>a</esi:attempt ></esi:try\t>"),
            [
                Event::TryStart,
                Event::AttemptStart,
                t("a"),
                Event::AttemptEnd,
                Event::TryEnd
            ]
        );
        assert_eq!(
            run(b"a<esi:choose>x</esi:choose\n>b"),
            [t("a"), Event::Unsupported("choose".into()), t("b")]
        );
        // Not an end tag: a name that goes on, or anything but white space before `>`.
        assert_eq!(
            run_checked(b"a<esi:remove>x</esi:removed></esi:remove x>b"),
            (vec![t("a")], Err(Unclosed::Element("remove")))
        );
    }

    /// A construct still open at the end is reported, never silently dropped; only the
    /// beginning of an opener (`<es`) is text.
    #[test]
    fn constructs_open_at_the_end_are_reported() {
        assert_eq!(
            run_checked(b"a<esi:remove>b"),
            (vec![t("a")], Err(Unclosed::Element("remove")))
        );
        assert_eq!(
            run_checked(b"a<esi:choose><esi:when test=1>b"),
            (
                vec![t("a"), Event::Unsupported("choose".into())],
                Err(Unclosed::Element("choose"))
            )
        );
        assert_eq!(
            run_checked(b"a<esi:inline name=x>b</esi:inline").1,
            Err(Unclosed::Element("inline"))
        );
        assert_eq!(
            run_checked(b"a<esi:include src=\"/x"),
            (vec![t("a")], Err(Unclosed::Tag))
        );
        assert_eq!(run_checked(b"a</esi:remove").1, Err(Unclosed::Tag));
        assert_eq!(
            run_checked(b"a<!--esi b --"),
            (vec![t("a b --")], Err(Unclosed::EsiComment))
        );
        assert_eq!(run(b"a<es"), [t("a<es")]);
        assert_eq!(run(b"a</esi"), [t("a</esi")]);
        assert_eq!(run(b"a<!--es"), [t("a<!--es")]);
        assert_eq!(
            Unclosed::Element("remove").to_string(),
            "the template ended inside <esi:remove> (no </esi:remove>)"
        );
    }

    #[test]
    fn unsupported_tags_go_as_documented() {
        assert_eq!(
            run(b"a<esi:choose><esi:when test=\"1\">w</esi:when></esi:choose>b"),
            [t("a"), Event::Unsupported("choose".into()), t("b")]
        );
        assert_eq!(
            run(b"<esi:vars>$(HTTP_HOST)</esi:vars>"),
            [t("$(HTTP_HOST)")]
        );
        assert_eq!(
            run(b"a<esi:eval src=/x/>b"),
            [t("a"), Event::Unsupported("eval".into()), t("b")]
        );
        assert_eq!(
            run(b"<esi:include alt=/x/>"),
            [Event::Invalid("esi:include without src".into())]
        );
    }

    #[test]
    fn what_is_not_esi_passes_byte_for_byte() {
        let page = b"<script>if (a < b && c<d) { x = '<esi'; }</script>\xff\xfe<esx:include src=/x/>< /esi:remove><<!--e<<esi <!-- -->";
        assert_eq!(run(page), [Event::Text(Bytes::copy_from_slice(page))]);
    }

    /// A tag that reaches `MAX_TAG` bytes without its `>` breaks the template: what came
    /// before it is emitted, nothing of it or after it is, and every later call says so.
    #[test]
    fn an_overlong_tag_breaks_the_template() {
        for tag in [
            "<esi:include src=\"/f/x?pad=",
            "<esi:comment text=\"",
            "</esi:remove",
            "<esi:include src=\"a>",
        ] {
            let mut page = b"before<esi:include src=/f/>".to_vec();
            page.extend_from_slice(tag.as_bytes());
            page.resize(page.len() + MAX_TAG, b'a');
            page.extend_from_slice(b"\"/>after<esi:include src=/after/>");
            assert_eq!(
                run_checked(&page),
                (vec![t("before"), inc("/f")], Err(Unclosed::TagTooLong)),
                "{tag}"
            );
        }

        // The error comes as the tag reaches MAX_TAG, not at the end; the held bytes are
        // let go, and nothing more is read or emitted.
        let mut t = Tokenizer::new();
        let mut events = Vec::new();
        assert_eq!(t.push(b"a<esi:comment text='", &mut events), Ok(()));
        assert_eq!(t.push(&[b'x'; MAX_TAG - 20], &mut events), Ok(()));
        assert_eq!(t.held(), MAX_TAG - 1);
        assert_eq!(t.push(b"x'/>b", &mut events), Err(Unclosed::TagTooLong));
        assert_eq!(t.held(), 0);
        let steps = t.steps();
        assert_eq!(
            t.push(b"c<esi:include src=/x/>", &mut events),
            Err(Unclosed::TagTooLong)
        );
        assert_eq!(t.steps(), steps, "a broken template is not read on");
        assert_eq!(t.finish(&mut events), Err(Unclosed::TagTooLong));
        assert_eq!(merged(events), [self::t("a")]);
        assert_eq!(
            Unclosed::TagTooLong.to_string(),
            "an esi: tag ran past 16384 bytes without its >"
        );

        // The longest tag there is: MAX_TAG bytes, `>` included.
        let mut page = b"<esi:include src=/x ".to_vec();
        page.resize(MAX_TAG - 1, b' ');
        page.push(b'>');
        assert_eq!(run(&page), [inc("/x")]);
    }

    /// What is held is only the candidate; every byte before it is emitted at once.
    #[test]
    fn hold_back_is_bounded_by_an_unfinished_tag() {
        let mut t = Tokenizer::new();
        let mut events = Vec::new();
        assert_eq!(t.push(b"abc<es", &mut events), Ok(()));
        assert_eq!(
            (t.held(), merged(events.clone())),
            (3, vec![self::t("abc")])
        );
        assert_eq!(t.push(b"i:include src=/", &mut events), Ok(()));
        assert_eq!(t.held(), 18);
        assert_eq!(
            t.push(&vec![b'x'; 3 * MAX_TAG], &mut events),
            Err(Unclosed::TagTooLong)
        );
        assert_eq!(t.held(), 0);
        let mut t = Tokenizer::new();
        assert_eq!(t.push(b"a<esi:remove>", &mut events), Ok(()));
        assert_eq!(t.push(&vec![b'x'; 3 * MAX_TAG], &mut events), Ok(()));
        assert_eq!(t.push(b"</esi:remove", &mut events), Ok(()));
        assert_eq!(t.held(), 0, "dropped content is never held");
    }

    /// The work is linear: on every adversarial shape, in one piece, in 1 KiB reads and a byte
    /// at a time, a few steps per byte at most, at 1 MiB as at 2 MiB.
    #[test]
    fn tokenizing_is_linear_in_adversarial_shapes() {
        for (name, shape) in adversarial_shapes() {
            for (len, read) in [
                (1 << 20, 1 << 20),
                (1 << 20, 1024),
                (2 << 20, 2 << 20),
                (2 << 20, 1024),
                (64 << 10, 1),
            ] {
                let input = shape(len);
                let mut t = Tokenizer::new();
                let mut events = Vec::new();
                for chunk in input.chunks(read) {
                    let _ = t.push(chunk, &mut events);
                    events.clear();
                    assert!(t.held() < MAX_TAG);
                }
                let _ = t.finish(&mut events);
                let steps = t.steps();
                assert!(
                    steps <= MAX_STEPS_PER_BYTE * input.len() as u64,
                    "{name}, {len} bytes in reads of {read}: {steps} steps, {} a byte",
                    steps / input.len() as u64
                );
            }
        }
    }

    fn pieces() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let piece = prop_oneof![
            Just(b"<esi:include src=\"/f?a=1&amp;b=2\" alt='/g' onerror=\"continue\"/>".to_vec()),
            Just(b"<esi:include src=/h></esi:include>".to_vec()),
            Just(b"<esi:remove>gone <b>x</b></esi:remove>".to_vec()),
            Just(b"<esi:remove>gone</esi:remov </esi:remove\r\n >".to_vec()),
            Just(b"<esi:remove / >".to_vec()),
            Just(b"<esi:include src=x / >".to_vec()),
            Just(b"<esi:include\tsrc='/t'\n/>".to_vec()),
            Just(b"</esi:remove >".to_vec()),
            Just(b"<!--esi in <esi:include src=/c/> -->".to_vec()),
            Just(b"<!--esi".to_vec()),
            Just(b"-->".to_vec()),
            Just(b"<esi:comment text=\"c\"/>".to_vec()),
            Just(
                b"<esi:try><esi:attempt>a</esi:attempt><esi:except>e</esi:except></esi:try>"
                    .to_vec()
            ),
            Just(b"<esi:choose><esi:when test=1>w</esi:when></esi:choose>".to_vec()),
            Just(b"<script>if (a<b) x='<esi';</script>".to_vec()),
            Just(b"<!-- c --> - -- --> <".to_vec()),
            Just(b"<esi:include src=\"unterminated".to_vec()),
            Just(long_comment(MAX_TAG)),
            Just(long_comment(MAX_TAG + 1)),
            Just(b"<esi:".to_vec()),
            Just(b"\"".to_vec()),
            Just(b"'".to_vec()),
            Just(b">".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..40),
        ];
        proptest::collection::vec(piece, 0..12).prop_map(|v| v.concat())
    }

    /// `<esi:comment text="…"/>` of `len` bytes.
    fn long_comment(len: usize) -> Vec<u8> {
        let mut tag = b"<esi:comment text=\"".to_vec();
        tag.resize(len - 3, b'a');
        tag.extend_from_slice(b"\"/>");
        tag
    }

    /// The events and the end of `input` read in pieces of `read` bytes.
    fn run_in_reads(input: &[u8], read: usize) -> (Vec<Event>, Result<(), Unclosed>) {
        let cuts: Vec<usize> = (read..input.len()).step_by(read).collect();
        esi::run(input, &cuts)
    }

    proptest::proptest! {
        /// The events, and whether a construct was left open, are the same for any way the
        /// input is split, 1-byte chunks included.
        #[test]
        fn split_invariance(input in pieces(), cuts in proptest::collection::vec(0usize..4096, 0..12)) {
            let whole = run_checked(&input);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (input.len() + 1)).collect();
            cuts.sort_unstable();
            proptest::prop_assert_eq!(esi::run(&input, &cuts), whole.clone());
            proptest::prop_assert_eq!(run_in_reads(&input, 1), whole);
        }

        /// The same over a template of about 200 KiB read in pieces of any size from one
        /// byte to 64 KiB, as a body's reads come.
        #[test]
        fn split_invariance_at_every_read_size(
            parts in proptest::collection::vec(pieces(), 1..6),
            filler in 1usize..40_000,
            read in 1usize..=65_536,
        ) {
            let text = b"<p>Template text around the fragments.</p>\n".repeat(filler / 40 + 1);
            let input: Vec<u8> = parts
                .iter()
                .flat_map(|p| text.iter().chain(p.iter()).copied())
                .collect();
            proptest::prop_assert_eq!(run_in_reads(&input, read), run_checked(&input));
        }

        /// A tag of up to `MAX_TAG` bytes is a tag; one byte more breaks the template, with
        /// what came before it emitted and nothing after, however it is read.
        #[test]
        fn a_tag_past_max_tag_breaks_the_template(
            before in proptest::collection::vec(proptest::sample::select(b"ab >-\"'/".to_vec()), 1..64),
            len in MAX_TAG - 40..MAX_TAG + 40,
            read in 1usize..=20_000,
        ) {
            let mut page = before.clone();
            let mut tag = b"<esi:include src=\"/x\" pad=\"".to_vec();
            tag.resize(len - 3, b'>');
            tag.extend_from_slice(b"\"/>");
            page.extend_from_slice(&tag);
            page.extend_from_slice(b"after");
            let expected = if len <= MAX_TAG {
                (vec![Event::Text(Bytes::from(before)), inc("/x"), t("after")], Ok(()))
            } else {
                (vec![Event::Text(Bytes::from(before))], Err(Unclosed::TagTooLong))
            };
            proptest::prop_assert_eq!(run_in_reads(&page, read), expected);
        }

        /// Text that holds no `<esi:`, `</esi:` or `<!--esi` passes whole, byte for byte.
        #[test]
        fn text_without_esi_is_untouched(input in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let esi_free = !input.windows(5).any(|w| w == b"<esi:" )
                && !input.windows(6).any(|w| w == b"</esi:")
                && !input.windows(7).any(|w| w == b"<!--esi");
            proptest::prop_assume!(esi_free);
            let (events, end) = run_checked(&input);
            proptest::prop_assert_eq!(end, Ok(()));
            if input.is_empty() {
                proptest::prop_assert!(events.is_empty());
            } else {
                proptest::prop_assert_eq!(events, vec![Event::Text(Bytes::from(input))]);
            }
        }
    }
}
