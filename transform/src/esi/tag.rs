//! A whole tag read: its name, its attributes, and what it does.

use std::borrow::Cow;

use super::event::{Event, Include, Token};
use super::inline_str::InlineStr;
use super::tokenizer::Mode;
use super::ttl::Ttl;

pub(super) const END_TAG_OPEN: &[u8] = b"</esi:";

/// White space as XML has it (`S`): space, tab, carriage return, line feed.
pub(super) fn is_xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// What a whole tag (`<esi:…>` or `</esi:…>`) does, read in the whole language (`language`)
/// or as the tokenizer always has: its tokens go to `emit` (up to two: `<esi:when
/// test="…"/>` is a branch start and end), and the mode it starts is returned. Nothing is
/// allocated but what a token keeps (an include's `src` past [`InlineStr::INLINE`] bytes,
/// a name no one knows): a template may be an include every few bytes. An include written
/// the usual way is read by [`quick_include`], any other tag by [`read_tag`].
pub(super) fn parse_tag(tag: &[u8], language: bool, emit: &mut impl FnMut(Token)) -> Option<Mode> {
    let (closing, self_closing, inner) = parts(tag);
    if !closing && quick_include(inner, emit) {
        return None;
    }
    read_tag(closing, self_closing, inner, language, emit)
}

/// A whole tag's parts: whether it is an end tag, whether it is empty (`/>`), and its name
/// and attributes (`inner`), white space at its end trimmed.
fn parts(tag: &[u8]) -> (bool, bool, &[u8]) {
    let closing = tag.starts_with(END_TAG_OPEN);
    let name_at = if closing { 6 } else { 5 };
    let mut inner = trim_xml_space_end(&tag[name_at..tag.len() - 1]);
    let self_closing = inner.last() == Some(&b'/');
    if self_closing {
        inner = trim_xml_space_end(&inner[..inner.len() - 1]);
    }
    (closing, self_closing, inner)
}

/// [`parse_tag`] for any tag, its parts given ([`parts`]), read the general way.
fn read_tag(
    closing: bool,
    self_closing: bool,
    inner: &[u8],
    language: bool,
    emit: &mut impl FnMut(Token),
) -> Option<Mode> {
    // Read as text once: the name ends at an ASCII byte, which no replaced sequence holds,
    // so the name and the attributes read apart would read the same. ASCII, nearly every
    // tag, is text as it is: only a tag with other bytes is checked as UTF-8.
    let text = match inner.is_ascii() {
        true => Cow::Borrowed(inner),
        false => match lossy(inner) {
            Cow::Borrowed(text) => Cow::Borrowed(text.as_bytes()),
            Cow::Owned(text) => Cow::Owned(text.into_bytes()),
        },
    };
    let name_len = text
        .iter()
        .position(|&b| is_xml_space(b))
        .unwrap_or(text.len());
    let tag = Tag {
        name: &text[..name_len],
        closing,
        self_closing,
        attributes: &text[name_len..],
    };
    if language && structure(&tag, emit) {
        return None;
    }
    let (event, mode) = interpret(&tag);
    if let Some(event) = event {
        emit(Token::Event(event));
    }
    mode
}

/// A tag's parts, as bytes of valid UTF-8 (its text, U+FFFD for what was not).
struct Tag<'a> {
    name: &'a [u8],
    closing: bool,
    self_closing: bool,
    attributes: &'a [u8],
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

/// The tokens of `esi:choose`, `esi:when`, `esi:otherwise` and `esi:vars` in the whole
/// language, given to `emit`; false for any other tag. An empty element is its start and its
/// end, but an empty choose or vars is nothing at all: it has no branch and no content.
fn structure(tag: &Tag, emit: &mut impl FnMut(Token)) -> bool {
    let (start, end) = match tag.name {
        b"choose" => (Token::ChooseStart, Token::ChooseEnd),
        b"when" => {
            let test = match tag.closing {
                true => String::new(),
                false => Attributes::of(tag.attributes)
                    .find(|(name, _)| name.eq_ignore_ascii_case(b"test"))
                    .map(|(_, value)| decode_entities(value).into_owned())
                    .unwrap_or_default(),
            };
            (Token::WhenStart { test }, Token::WhenEnd)
        }
        b"otherwise" => (Token::OtherwiseStart, Token::OtherwiseEnd),
        b"vars" => (Token::VarsStart, Token::VarsEnd),
        _ => return false,
    };
    match (tag.closing, tag.self_closing) {
        (true, _) => emit(end),
        (false, false) => emit(start),
        (false, true) if matches!(tag.name, b"choose" | b"vars") => {}
        (false, true) => {
            emit(start);
            emit(end);
        }
    }
    true
}

/// What one tag does as the tokenizer always read it: at most one event, and the mode it
/// starts.
fn interpret(tag: &Tag) -> (Option<Event>, Option<Mode>) {
    let &Tag {
        name,
        closing,
        self_closing,
        attributes,
    } = tag;
    let one = |e: Event| (Some(e), None);
    let dropping = |element| Mode::Dropping {
        element,
        matched: 0,
    };
    match (name, closing) {
        (b"include", false) => one(include(None, Attributes::of(attributes))),
        (b"include" | b"comment" | b"remove" | b"vars", true) | (b"comment" | b"vars", false) => {
            (None, None)
        }
        (b"remove", false) if !self_closing => (None, Some(dropping("remove"))),
        (b"remove", false) => (None, None),
        (b"choose", false) if !self_closing => (
            Some(Event::Unsupported(Cow::Borrowed("choose"))),
            Some(dropping("choose")),
        ),
        (b"inline", false) if !self_closing => (
            Some(Event::Unsupported(Cow::Borrowed("inline"))),
            Some(dropping("inline")),
        ),
        (b"try", false) => one(Event::TryStart),
        (b"try", true) => one(Event::TryEnd),
        (b"attempt", false) => one(Event::AttemptStart),
        (b"attempt", true) => one(Event::AttemptEnd),
        (b"except", false) => one(Event::ExceptStart),
        (b"except", true) => one(Event::ExceptEnd),
        (other, _) => one(Event::Unsupported(Cow::Owned(
            String::from_utf8_lossy(other).into_owned(),
        ))),
    }
}

/// Emits the include of `<esi:include` + `inner` when it is written the usual way: `src=`
/// first, its value quoted or not, ASCII, with no character reference and not blank. Read
/// with one comparison and one search where the general reading takes each byte through
/// [`Attributes`]; the attributes after `src`, if any, are then read by it, from where it
/// would be. False (read it the general way, [`read_tag`]) for anything else. The same
/// event either way (`esi::tag::tests::the_quick_include_reads_as_the_general_reading`):
/// the name ends at the space, the value ends where [`Attributes`] ends it (the same quote;
/// for an unquoted one the first white space, ASCII before it), and what follows is read by
/// [`Attributes`] from that byte. Being ASCII up to there, the text up to there is the same
/// once `inner` is made valid UTF-8.
#[inline]
fn quick_include(inner: &[u8], emit: &mut impl FnMut(Token)) -> bool {
    let Some((src, after)) = usual_src(inner) else {
        return false;
    };
    // Each arm emits its own event: an event made in either and emitted after them was
    // copied at their join, read before its parts were written through (a third of the
    // time of a template of short includes).
    match after {
        // Nothing after `src`: every other attribute is absent.
        [] => emit(Token::Event(Event::Include(Include {
            src,
            alt: None,
            continue_on_error: false,
            timeout_ms: None,
            ttl: None,
        }))),
        _ if after.is_ascii() => emit(Token::Event(include(Some(src), Attributes::of(after)))),
        _ => emit(Token::Event(include(
            Some(src),
            Attributes::of(lossy(after).as_bytes()),
        ))),
    }
    true
}

/// The `src` of `<esi:include` + `inner` written the usual way (see [`quick_include`]), and
/// the attributes after it.
#[inline]
fn usual_src(inner: &[u8]) -> Option<(InlineStr, &[u8])> {
    let rest = inner.strip_prefix(b"include src=")?;
    let (value, after) = match *rest.first()? {
        q @ (b'"' | b'\'') => {
            let quoted = &rest[1..];
            let end = memchr::memchr(q, quoted)?;
            (&quoted[..end], &quoted[end + 1..])
        }
        _ => {
            let end = unquoted_end(rest)?;
            (&rest[..end], &rest[end..])
        }
    };
    // Not blank when its first byte is ASCII other than white space (the unquoted one's
    // is); a few bytes, looked at without a search's setup.
    match value.first() {
        Some(&b) if !char::from(b).is_whitespace() => {}
        _ => return None,
    }
    if quoted(rest) && value.contains(&b'&') {
        return None;
    }
    Some((InlineStr::from_ascii(value)?, after))
}

/// Whether the value at the start of `rest` is quoted.
fn quoted(rest: &[u8]) -> bool {
    matches!(rest.first(), Some(b'"' | b'\''))
}

/// Where an unquoted value at the start of `rest` ends (its first white space, or the end),
/// when it is ASCII without `&`; None otherwise. Eight bytes at a time while none is a
/// control character, white space, `&` or other than ASCII.
fn unquoted_end(rest: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = ONES * 0x80;
    let mut at = 0;
    for chunk in rest.chunks_exact(8) {
        let x = u64::from_le_bytes(<[u8; 8]>::try_from(chunk).ok()?);
        let amp = x ^ (ONES * u64::from(b'&'));
        // Whether a byte has its high bit set, is below 0x21 or is `&` (the borrows of the
        // subtractions only flag bytes above one that is); the bytes from a word that has one
        // are looked at one by one.
        let stop =
            (x | (x.wrapping_sub(ONES * 0x21) & !x) | (amp.wrapping_sub(ONES) & !amp)) & HIGH;
        if stop != 0 {
            break;
        }
        at += 8;
    }
    for (i, &b) in rest.get(at..)?.iter().enumerate() {
        match b {
            b'&' | 0x80.. => return None,
            _ if char::from(b).is_whitespace() => return Some(at + i),
            _ => {}
        }
    }
    Some(rest.len())
}

/// The event of an include whose attributes are `attributes`; `src`, when given, is its
/// first `src`, already read (decoded, not blank). Each name's first value counts, as read
/// once, in one pass that copies nothing.
fn include(first_src: Option<InlineStr>, attributes: Attributes) -> Event {
    let (mut src, mut alt, mut onerror, mut timeout, mut ttl) = (None, None, None, None, None);
    for (name, value) in attributes {
        let slot = match name.len() {
            3 if name.eq_ignore_ascii_case(b"src") => &mut src,
            3 if name.eq_ignore_ascii_case(b"alt") => &mut alt,
            7 if name.eq_ignore_ascii_case(b"onerror") => &mut onerror,
            7 if name.eq_ignore_ascii_case(b"timeout") => &mut timeout,
            3 if name.eq_ignore_ascii_case(b"ttl") => &mut ttl,
            _ => continue,
        };
        slot.get_or_insert(value);
    }
    let alt = alt
        .map(decode_entities)
        .filter(|a| !blank(a))
        .map(Cow::into_owned);
    let continue_on_error = onerror.is_some_and(|v| decode_entities(v) == "continue");
    let timeout_ms = timeout.and_then(|v| {
        let v = decode_entities(v);
        let v = v.trim();
        // Digits only: `+5`, `1e3` or `-1` are no timeout, as fastly/esi reads them.
        v.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| v.parse().ok())
            .flatten()
    });
    let src = match first_src {
        Some(src) => Some(src),
        None => src
            .map(decode_entities)
            .filter(|src| !blank(src))
            .map(InlineStr::from),
    };
    match src {
        Some(src) => Event::Include(Include {
            src,
            alt,
            continue_on_error,
            timeout_ms,
            ttl: ttl.map(|v| Ttl::read(&decode_entities(v))),
        }),
        _ => Event::Invalid("esi:include without src".into()),
    }
}

/// The attributes of a tag's text (its bytes read as UTF-8, U+FFFD for what is not, so
/// valid UTF-8): `name="value"`, `name='value'`, `name=value` and bare `name`s (an empty
/// value), as slices of the text, so that reading them copies nothing. Names are as written
/// (compare them ignoring ASCII case), values with their character references not yet
/// decoded ([`decode_entities`]). White space is Unicode's. Every slice ends at a
/// character's boundary: the bytes are read as text again only for the values kept.
struct Attributes<'a> {
    text: &'a [u8],
    at: usize,
}

impl<'a> Attributes<'a> {
    fn of(text: &'a [u8]) -> Attributes<'a> {
        Attributes { text, at: 0 }
    }

    /// The first position from `at` whose character is not `keep`'s. ASCII, nearly all
    /// there is in a tag, is taken a byte at a time, without decoding.
    #[inline]
    fn past(&self, mut at: usize, keep: impl Fn(char) -> bool) -> usize {
        let bytes = self.text;
        while let Some(&b) = bytes.get(at) {
            let c = match b.is_ascii() {
                true => char::from(b),
                false => match char_at(bytes, at) {
                    Some(c) => c,
                    None => break,
                },
            };
            if !keep(c) {
                return at;
            }
            at += c.len_utf8();
        }
        bytes.len()
    }
}

/// The character that begins at `at` in valid UTF-8 (a lead byte tells its length).
#[cold]
fn char_at(bytes: &[u8], at: usize) -> Option<char> {
    let len = match bytes.get(at)? {
        0xf0.. => 4,
        0xe0.. => 3,
        _ => 2,
    };
    let encoded = bytes.get(at..(at + len).min(bytes.len()))?;
    std::str::from_utf8(encoded).ok()?.chars().next()
}

impl<'a> Iterator for Attributes<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<(&'a [u8], &'a [u8])> {
        let text = self.text;
        loop {
            let at = self.past(self.at, char::is_whitespace);
            let name_end = self.past(at, |c| !c.is_whitespace() && c != '=');
            if name_end == at {
                // The end, or a stray `=` (one byte): skipped.
                text.get(at)?;
                self.at = at + 1;
                continue;
            }
            let mut p = self.past(name_end, char::is_whitespace);
            let mut value: &[u8] = b"";
            if text.get(p) == Some(&b'=') {
                p = self.past(p + 1, char::is_whitespace);
                match text.get(p) {
                    Some(&q @ (b'"' | b'\'')) => {
                        // Up to the same quote, or to the end when it never comes.
                        let from = p + 1;
                        let to = memchr::memchr(q, &text[from..]).map_or(text.len(), |i| from + i);
                        value = &text[from..to];
                        p = (to + 1).min(text.len());
                    }
                    _ => {
                        let to = self.past(p, |c| !c.is_whitespace());
                        value = &text[p..to];
                        p = to;
                    }
                }
            }
            self.at = p;
            return Some((&text[at..name_end], value));
        }
    }
}

/// `bytes` as text, U+FFFD for what is not UTF-8; borrowed when all of it is (the check is
/// quicker than [`String::from_utf8_lossy`]'s for the ASCII a tag is made of).
fn lossy(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// Whether `text` is empty once trimmed of white space (Unicode's), told by its first byte
/// when that is ASCII other than white space, as a URL's is.
#[inline]
fn blank(text: &str) -> bool {
    match text.as_bytes().first() {
        Some(&b) if b.is_ascii() && !char::from(b).is_whitespace() => false,
        _ => text.trim().is_empty(),
    }
}

/// `value` (a slice of a tag's text, so valid UTF-8) as text, with HTML's character
/// references for `& < > " '` decoded; borrowed when it holds none.
fn decode_entities(value: &[u8]) -> Cow<'_, str> {
    let text = lossy(value);
    // A value is short: a search's setup would cost more than it saves.
    if !value.contains(&b'&') {
        return text;
    }
    // One pass and one allocation: an entity holds no `&`, and none decodes to a character
    // another entity starts with, so this is what replacing each in turn would give, without
    // a copy of the value per entity (a hostile template's `&` in every tag paid six).
    const ENTITIES: [(&str, char); 6] = [
        ("&lt;", '<'),
        ("&gt;", '>'),
        ("&quot;", '"'),
        ("&#39;", '\''),
        ("&apos;", '\''),
        ("&amp;", '&'),
    ];
    let mut out = String::with_capacity(text.len());
    let mut rest: &str = &text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        match ENTITIES.iter().find(|(entity, _)| tail.starts_with(entity)) {
            Some((entity, decoded)) => {
                out.push(*decoded);
                rest = &tail[entity.len()..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

#[cfg(test)]
#[path = "tag_tests.rs"]
mod tests;
