//! A whole tag read: its name, its attributes, and what it does.

use std::borrow::Cow;

use super::event::{Event, Include, Token};
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
/// allocated but what a token keeps (an include's `src`, a name no one knows): a template
/// may be an include every few bytes.
pub(super) fn parse_tag(tag: &[u8], language: bool, emit: &mut impl FnMut(Token)) -> Option<Mode> {
    let closing = tag.starts_with(END_TAG_OPEN);
    let name_at = if closing { 6 } else { 5 };
    let mut inner = trim_xml_space_end(&tag[name_at..tag.len() - 1]);
    let self_closing = inner.last() == Some(&b'/');
    if self_closing {
        inner = trim_xml_space_end(&inner[..inner.len() - 1]);
    }
    // Read as text once: the name ends at an ASCII byte, which no replaced sequence holds,
    // so the name and the attributes read apart would read the same.
    let text = lossy(inner);
    let name_len = text.bytes().position(is_xml_space).unwrap_or(text.len());
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

struct Tag<'a> {
    name: &'a str,
    closing: bool,
    self_closing: bool,
    attributes: &'a str,
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
        "choose" => (Token::ChooseStart, Token::ChooseEnd),
        "when" => {
            let test = match tag.closing {
                true => String::new(),
                false => Attributes::of(tag.attributes)
                    .find(|(name, _)| name.eq_ignore_ascii_case("test"))
                    .map(|(_, value)| decode_entities(value).into_owned())
                    .unwrap_or_default(),
            };
            (Token::WhenStart { test }, Token::WhenEnd)
        }
        "otherwise" => (Token::OtherwiseStart, Token::OtherwiseEnd),
        "vars" => (Token::VarsStart, Token::VarsEnd),
        _ => return false,
    };
    match (tag.closing, tag.self_closing) {
        (true, _) => emit(end),
        (false, false) => emit(start),
        (false, true) if matches!(tag.name, "choose" | "vars") => {}
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
        ("include", false) => {
            // Each name's first value counts, as read once, in one pass that copies nothing.
            let (mut src, mut alt, mut onerror, mut timeout, mut ttl) =
                (None, None, None, None, None);
            for (name, value) in Attributes::of(attributes) {
                let slot = match name.len() {
                    3 if name.eq_ignore_ascii_case("src") => &mut src,
                    3 if name.eq_ignore_ascii_case("alt") => &mut alt,
                    7 if name.eq_ignore_ascii_case("onerror") => &mut onerror,
                    7 if name.eq_ignore_ascii_case("timeout") => &mut timeout,
                    3 if name.eq_ignore_ascii_case("ttl") => &mut ttl,
                    _ => continue,
                };
                slot.get_or_insert(value);
            }
            let alt = alt
                .map(decode_entities)
                .filter(|a| !a.trim().is_empty())
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
            match src.map(decode_entities) {
                Some(src) if !src.trim().is_empty() => one(Event::Include(Include {
                    src: src.into_owned(),
                    alt,
                    continue_on_error,
                    timeout_ms,
                    ttl: ttl.map(|v| Ttl::read(&decode_entities(v))),
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
            Some(Event::Unsupported(Cow::Borrowed("choose"))),
            Some(dropping("choose")),
        ),
        ("inline", false) if !self_closing => (
            Some(Event::Unsupported(Cow::Borrowed("inline"))),
            Some(dropping("inline")),
        ),
        ("try", false) => one(Event::TryStart),
        ("try", true) => one(Event::TryEnd),
        ("attempt", false) => one(Event::AttemptStart),
        ("attempt", true) => one(Event::AttemptEnd),
        ("except", false) => one(Event::ExceptStart),
        ("except", true) => one(Event::ExceptEnd),
        (other, _) => one(Event::Unsupported(Cow::Owned(other.to_string()))),
    }
}

/// The attributes of a tag's text (its bytes read as UTF-8, U+FFFD for what is not):
/// `name="value"`, `name='value'`, `name=value` and bare `name`s (an empty value), as slices
/// of the text, so that reading them copies nothing. Names are as written (compare them
/// ignoring ASCII case), values with their character references not yet decoded
/// ([`decode_entities`]). White space is Unicode's.
struct Attributes<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Attributes<'a> {
    fn of(text: &'a str) -> Attributes<'a> {
        Attributes { text, at: 0 }
    }

    /// The first position from `at` whose character is not `keep`'s. ASCII, nearly all
    /// there is in a tag, is taken a byte at a time, without decoding.
    fn past(&self, mut at: usize, keep: impl Fn(char) -> bool) -> usize {
        let bytes = self.text.as_bytes();
        while let Some(&b) = bytes.get(at) {
            let c = match b.is_ascii() {
                true => char::from(b),
                false => match self.text[at..].chars().next() {
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

impl<'a> Iterator for Attributes<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        let text = self.text;
        loop {
            let at = self.past(self.at, char::is_whitespace);
            let name_end = self.past(at, |c| !c.is_whitespace() && c != '=');
            if name_end == at {
                // The end, or a stray `=`: skipped.
                self.at = at + text[at..].chars().next()?.len_utf8();
                continue;
            }
            let mut p = self.past(name_end, char::is_whitespace);
            let mut value = "";
            if text[p..].starts_with('=') {
                p = self.past(p + 1, char::is_whitespace);
                match text.as_bytes().get(p) {
                    Some(&q @ (b'"' | b'\'')) => {
                        // Up to the same quote, or to the end when it never comes.
                        let from = p + 1;
                        let to = memchr::memchr(q, &text.as_bytes()[from..])
                            .map_or(text.len(), |i| from + i);
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

/// `value` with HTML's character references for `& < > " '` decoded; borrowed when it holds
/// none.
fn decode_entities(value: &str) -> Cow<'_, str> {
    if !value.contains('&') {
        return Cow::Borrowed(value);
    }
    Cow::Owned(
        value
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}
