//! A whole tag read: its name, its attributes, and what it does.

use super::event::{Event, Include, Token};
use super::tokenizer::Mode;

pub(super) const END_TAG_OPEN: &[u8] = b"</esi:";

/// White space as XML has it (`S`): space, tab, carriage return, line feed.
pub(super) fn is_xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// What a tag emits: up to two tokens (`<esi:when test="…"/>` is a branch start and end).
pub(super) type Emitted = [Option<Token>; 2];

/// What a whole tag (`<esi:…>` or `</esi:…>`) does, read in the whole language (`language`)
/// or as the tokenizer always has.
pub(super) fn parse_tag(tag: &[u8], language: bool) -> (Emitted, Option<Mode>) {
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
    let tag = Tag {
        name: &name,
        closing,
        self_closing,
        attributes: &inner[name_len..],
    };
    if language {
        if let Some(emitted) = structure(&tag) {
            return (emitted, None);
        }
    }
    let (event, mode) = interpret(&tag);
    ([event.map(Token::Event), None], mode)
}

struct Tag<'a> {
    name: &'a str,
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
/// language; `None` for any other tag. An empty element is its start and its end, but an
/// empty choose or vars is nothing at all: it has no branch and no content.
fn structure(tag: &Tag) -> Option<Emitted> {
    let (start, end) = match tag.name {
        "choose" => (Token::ChooseStart, Token::ChooseEnd),
        "when" => {
            let test = (!tag.closing).then(|| {
                let mut attrs = parse_attributes(tag.attributes);
                attrs
                    .iter()
                    .position(|(k, _)| k == "test")
                    .map(|at| std::mem::take(&mut attrs[at].1))
                    .unwrap_or_default()
            });
            (
                Token::WhenStart {
                    test: test.unwrap_or_default(),
                },
                Token::WhenEnd,
            )
        }
        "otherwise" => (Token::OtherwiseStart, Token::OtherwiseEnd),
        "vars" => (Token::VarsStart, Token::VarsEnd),
        _ => return None,
    };
    Some(match (tag.closing, tag.self_closing) {
        (true, _) => [Some(end), None],
        (false, false) => [Some(start), None],
        (false, true) if matches!(tag.name, "choose" | "vars") => [None, None],
        (false, true) => [Some(start), Some(end)],
    })
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
            let mut attrs = parse_attributes(attributes);
            // Each name is read once: its first value is moved out, not copied.
            let mut take = |n: &str| {
                let at = attrs.iter().position(|(k, _)| k == n)?;
                Some(std::mem::take(&mut attrs[at].1))
            };
            let src = take("src");
            let alt = take("alt").filter(|a| !a.trim().is_empty());
            let continue_on_error = take("onerror").is_some_and(|v| v == "continue");
            let timeout_ms = take("timeout").and_then(|v| {
                let v = v.trim();
                // Digits only: `+5`, `1e3` or `-1` are no timeout, as fastly/esi reads them.
                v.bytes()
                    .all(|c| c.is_ascii_digit())
                    .then(|| v.parse().ok())
                    .flatten()
            });
            match src {
                Some(src) if !src.trim().is_empty() => one(Event::Include(Include {
                    src,
                    alt,
                    continue_on_error,
                    timeout_ms,
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
