//! A whole tag read: its name, its attributes, and what it does.

use super::event::{Event, Include};
use super::tokenizer::Mode;

pub(super) const END_TAG_OPEN: &[u8] = b"</esi:";

/// White space as XML has it (`S`): space, tab, carriage return, line feed.
pub(super) fn is_xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// What a whole tag (`<esi:…>` or `</esi:…>`) does.
pub(super) fn parse_tag(tag: &[u8]) -> (Option<Event>, Option<Mode>) {
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
