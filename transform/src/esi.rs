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
//! ([`Event::Unsupported`]).
//!
//! ESI is not HTML: tags are found wherever they are, inside a `<script>` or an HTML
//! comment as much as in markup (as ESI processors do). Everything else passes byte for
//! byte, `<` of a script and bytes that are not UTF-8 included. What is held back is at most
//! an unfinished tag, [`MAX_TAG`] bytes; a longer one is not a tag, and passes as text.

use bytes::Bytes;

/// The longest tag (or the longest run of a `<esi:remove>` end tag being looked for) held
/// back; past it the bytes are text.
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

#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    Markup,
    /// Inside an element whose content is dropped, until its end tag.
    Dropping(&'static str),
}

/// The incremental tokenizer; see the module documentation.
#[derive(Debug)]
pub struct Tokenizer {
    /// Bytes that may still be the start of a tag or marker.
    held: Vec<u8>,
    mode: Mode,
    /// Inside `<!--esi … -->`: the next `-->` ends it.
    in_esi_comment: bool,
}

impl Default for Tokenizer {
    fn default() -> Self {
        Tokenizer::new()
    }
}

/// What the bytes at a position are.
enum Found {
    /// Not a tag or marker: the first byte is text.
    Text,
    /// May be one, once more bytes come.
    NeedMore,
    /// A tag or marker `len` bytes long, and what it says.
    Tag(usize, Vec<Event>, Option<Mode>),
    /// `<!--esi` or the `-->` that ends it.
    Marker(usize, bool),
}

impl Tokenizer {
    pub fn new() -> Tokenizer {
        Tokenizer {
            held: Vec::new(),
            mode: Mode::Markup,
            in_esi_comment: false,
        }
    }

    /// Bytes held back, waiting to be told apart.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Takes a chunk; emits every event that is certain.
    pub fn push(&mut self, input: &[u8], events: &mut Vec<Event>) {
        if self.held.is_empty() {
            let consumed = self.scan(input, false, events);
            self.held.extend_from_slice(&input[consumed..]);
        } else {
            let mut all = std::mem::take(&mut self.held);
            all.extend_from_slice(input);
            let consumed = self.scan(&all, false, events);
            all.drain(..consumed);
            self.held = all;
        }
    }

    /// End of input: what is held back is text (an unfinished tag is not a tag), unless it is
    /// inside an element whose content is dropped.
    pub fn finish(&mut self, events: &mut Vec<Event>) {
        let all = std::mem::take(&mut self.held);
        let consumed = self.scan(&all, true, events);
        if self.mode == Mode::Markup && consumed < all.len() {
            text(events, &all[consumed..]);
        }
    }

    /// Scans `input`, emitting events; returns how much of it is done with (the rest is held).
    fn scan(&mut self, input: &[u8], at_end: bool, events: &mut Vec<Event>) -> usize {
        let mut at = 0;
        // Where the text not yet emitted starts: a run of text is emitted once, whole.
        let mut text_from = 0;
        while at < input.len() {
            if let Mode::Dropping(element) = self.mode {
                let end = format!("</esi:{element}>");
                match find(&input[at..], end.as_bytes()) {
                    Some(i) => {
                        at += i + end.len();
                        text_from = at;
                        self.mode = Mode::Markup;
                        continue;
                    }
                    None => {
                        // Keep only what may be the start of the end tag.
                        let keep = partial_suffix(&input[at..], end.as_bytes());
                        return if at_end {
                            input.len()
                        } else {
                            input.len() - keep
                        };
                    }
                }
            }
            let next = input[at..]
                .iter()
                .position(|&b| b == b'<' || (self.in_esi_comment && b == b'-'));
            let Some(i) = next else {
                at = input.len();
                break;
            };
            at += i;
            match self.identify(&input[at..], at_end) {
                Found::Text => at += 1,
                Found::NeedMore => {
                    text(events, &input[text_from..at]);
                    return at;
                }
                Found::Marker(len, inside) => {
                    text(events, &input[text_from..at]);
                    self.in_esi_comment = inside;
                    at += len;
                    text_from = at;
                }
                Found::Tag(len, tag_events, mode) => {
                    text(events, &input[text_from..at]);
                    events.extend(tag_events);
                    if let Some(mode) = mode {
                        self.mode = mode;
                    }
                    at += len;
                    text_from = at;
                }
            }
        }
        if self.mode == Mode::Markup {
            text(events, &input[text_from..at]);
        }
        at
    }

    /// What the bytes at the start of `input` (a `<`, or a `-` inside `<!--esi`) are.
    fn identify(&self, input: &[u8], at_end: bool) -> Found {
        let need_more = |candidate: &[u8]| {
            !at_end && input.len() < candidate.len() && candidate.starts_with(input)
        };
        if input[0] == b'-' {
            return if input.starts_with(b"-->") {
                Found::Marker(3, false)
            } else if need_more(b"-->") {
                Found::NeedMore
            } else {
                Found::Text
            };
        }
        if !self.in_esi_comment && input.starts_with(b"<!--esi") {
            return Found::Marker(7, true);
        }
        let (closing, name_at) = if input.starts_with(b"</esi:") {
            (true, 6)
        } else if input.starts_with(b"<esi:") {
            (false, 5)
        } else if need_more(b"<!--esi") || need_more(b"</esi:") || need_more(b"<esi:") {
            return Found::NeedMore;
        } else {
            return Found::Text;
        };
        let Some(len) = tag_end(input) else {
            return if at_end || input.len() >= MAX_TAG {
                Found::Text
            } else {
                Found::NeedMore
            };
        };
        if len > MAX_TAG {
            return Found::Text;
        }
        let inner = &input[name_at..len - 1];
        let self_closing = inner.last() == Some(&b'/');
        let inner = if self_closing {
            &inner[..inner.len() - 1]
        } else {
            inner
        };
        let name_len = inner
            .iter()
            .position(|b| b.is_ascii_whitespace())
            .unwrap_or(inner.len());
        let name = String::from_utf8_lossy(&inner[..name_len]).into_owned();
        let attributes = &inner[name_len..];
        let (events, mode) = interpret(&name, closing, self_closing, attributes);
        Found::Tag(len, events, mode)
    }
}

/// What one tag does.
fn interpret(
    name: &str,
    closing: bool,
    self_closing: bool,
    attributes: &[u8],
) -> (Vec<Event>, Option<Mode>) {
    let one = |e: Event| (vec![e], None);
    match (name, closing) {
        ("include", false) => {
            let attrs = parse_attributes(attributes);
            let get = |n: &str| attrs.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
            match get("src") {
                Some(src) if !src.trim().is_empty() => one(Event::Include(Include {
                    src,
                    alt: get("alt").filter(|a| !a.trim().is_empty()),
                    continue_on_error: get("onerror").is_some_and(|v| v == "continue"),
                })),
                _ => one(Event::Invalid("esi:include without src".into())),
            }
        }
        ("include" | "comment" | "remove" | "vars", true) | ("comment" | "vars", false) => {
            (Vec::new(), None)
        }
        ("remove", false) if !self_closing => (Vec::new(), Some(Mode::Dropping("remove"))),
        ("remove", false) => (Vec::new(), None),
        ("choose", false) if !self_closing => (
            vec![Event::Unsupported("choose".into())],
            Some(Mode::Dropping("choose")),
        ),
        ("inline", false) if !self_closing => (
            vec![Event::Unsupported("inline".into())],
            Some(Mode::Dropping("inline")),
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

/// The length of a tag starting at `input[0]` (`<`), through its `>`: quotes (single or
/// double) are skipped over, so a `>` inside an attribute value does not end it.
fn tag_end(input: &[u8]) -> Option<usize> {
    let mut quote: Option<u8> = None;
    for (i, &b) in input.iter().enumerate().take(MAX_TAG + 1) {
        match (quote, b) {
            (Some(q), b) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(b),
            (None, b'>') => return Some(i + 1),
            (None, _) => {}
        }
    }
    None
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

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// How many bytes at the end of `bytes` are a proper prefix of `needle`.
fn partial_suffix(bytes: &[u8], needle: &[u8]) -> usize {
    (1..needle.len().min(bytes.len() + 1))
        .rev()
        .find(|&n| bytes.ends_with(&needle[..n]))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzzing::esi::merged;

    fn run(input: &[u8]) -> Vec<Event> {
        let mut t = Tokenizer::new();
        let mut events = Vec::new();
        t.push(input, &mut events);
        t.finish(&mut events);
        merged(events)
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
        let page = b"<script>if (a < b && c<d) { x = '<esi'; }</script>\xff\xfe<esx:include src=/x/>< /esi:remove>";
        assert_eq!(run(page), [Event::Text(Bytes::copy_from_slice(page))]);
        // An unterminated tag at the end is text.
        assert_eq!(
            run(b"a<esi:include src=\"/x"),
            [t("a<esi:include src=\"/x")]
        );
        // An unterminated remove drops the rest.
        assert_eq!(run(b"a<esi:remove>b"), [t("a")]);
    }

    #[test]
    fn an_overlong_tag_is_text() {
        let mut page = b"<esi:include src=\"".to_vec();
        page.extend(std::iter::repeat_n(b'a', MAX_TAG));
        page.extend_from_slice(b"\"/>");
        let events = run(&page);
        assert_eq!(events, [Event::Text(Bytes::from(page))]);
    }

    #[test]
    fn hold_back_is_bounded_by_an_unfinished_tag() {
        let mut t = Tokenizer::new();
        let mut events = Vec::new();
        t.push(b"abc<es", &mut events);
        assert_eq!(t.held(), 3);
        t.push(b"i:include src=/", &mut events);
        assert_eq!(t.held(), 18);
        t.push(&vec![b'x'; 3 * MAX_TAG], &mut events);
        assert!(t.held() <= MAX_TAG, "{}", t.held());
    }

    fn pieces() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let piece = prop_oneof![
            Just(b"<esi:include src=\"/f?a=1&amp;b=2\" alt='/g' onerror=\"continue\"/>".to_vec()),
            Just(b"<esi:include src=/h></esi:include>".to_vec()),
            Just(b"<esi:remove>gone <b>x</b></esi:remove>".to_vec()),
            Just(b"<!--esi in <esi:include src=/c/> -->".to_vec()),
            Just(b"<esi:comment text=\"c\"/>".to_vec()),
            Just(
                b"<esi:try><esi:attempt>a</esi:attempt><esi:except>e</esi:except></esi:try>"
                    .to_vec()
            ),
            Just(b"<esi:choose><esi:when test=1>w</esi:when></esi:choose>".to_vec()),
            Just(b"<script>if (a<b) x='<esi';</script>".to_vec()),
            Just(b"<!-- c --> - -- --> <".to_vec()),
            Just(b"<esi:include src=\"unterminated".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..40),
        ];
        proptest::collection::vec(piece, 0..12).prop_map(|v| v.concat())
    }

    proptest::proptest! {
        /// The events are the same for any way the input is split, 1-byte chunks included.
        #[test]
        fn split_invariance(input in pieces(), cuts in proptest::collection::vec(0usize..4096, 0..12)) {
            let whole = merged(run(&input));
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (input.len() + 1)).collect();
            cuts.sort_unstable();
            let mut t = Tokenizer::new();
            let mut events = Vec::new();
            let mut from = 0;
            for cut in cuts {
                t.push(&input[from..cut], &mut events);
                from = cut;
            }
            t.push(&input[from..], &mut events);
            t.finish(&mut events);
            proptest::prop_assert_eq!(merged(events), whole.clone());

            let mut t = Tokenizer::new();
            let mut bytewise = Vec::new();
            for b in &input {
                t.push(std::slice::from_ref(b), &mut bytewise);
            }
            t.finish(&mut bytewise);
            proptest::prop_assert_eq!(merged(bytewise), whole);
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
            let whole = merged(run(&input));
            let mut t = Tokenizer::new();
            let mut events = Vec::new();
            for chunk in input.chunks(read) {
                t.push(chunk, &mut events);
            }
            t.finish(&mut events);
            proptest::prop_assert_eq!(merged(events), whole);
        }

        /// Text that holds no `<esi`, `</esi` or `<!--esi` passes whole, byte for byte.
        #[test]
        fn text_without_esi_is_untouched(input in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let esi_free = !input.windows(5).any(|w| w == b"<esi:" )
                && !input.windows(6).any(|w| w == b"</esi:")
                && !input.windows(7).any(|w| w == b"<!--esi");
            proptest::prop_assume!(esi_free);
            let events = merged(run(&input));
            if input.is_empty() {
                proptest::prop_assert!(events.is_empty());
            } else {
                proptest::prop_assert_eq!(events, vec![Event::Text(Bytes::from(input))]);
            }
        }
    }
}
