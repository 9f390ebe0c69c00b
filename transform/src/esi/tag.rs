//! A whole tag read: its name, its attributes, and what it does.

use super::event::{Event, Include, Token};
use super::inline_str::{Builder, InlineStr};
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
/// allocated but a value longer than [`InlineStr::INLINE`] bytes once decoded that a token
/// keeps or that holds a reference or a byte that is not UTF-8 (and an `esi:when`'s test): a
/// template may be a tag every few bytes, and a hostile one chooses which. An include written the usual way is read by [`quick_include`], any other
/// tag by [`read_tag`].
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
    // The name ends at an ASCII byte, which no sequence that is not UTF-8 holds: read as
    // text whole or in parts, the tag reads the same (`a_tag_reads_as_its_text`).
    let name_len = inner
        .iter()
        .position(|&b| is_xml_space(b))
        .unwrap_or(inner.len());
    let tag = Tag {
        name: &inner[..name_len],
        closing,
        self_closing,
        attributes: &inner[name_len..],
    };
    if language && structure(&tag, emit) {
        return None;
    }
    interpret(&tag, emit)
}

/// A tag's parts, as written: read as text (U+FFFD for what is not UTF-8, as
/// `String::from_utf8_lossy` reads it) only where a token keeps them.
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
                    .map(|(_, value)| decode(value).into())
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

/// What one tag does as the tokenizer always read it: at most one event, given to `emit`,
/// and the mode it starts. Each arm emits its own event, made in place (see
/// [`quick_include`]).
fn interpret(tag: &Tag, emit: &mut impl FnMut(Token)) -> Option<Mode> {
    let &Tag {
        name,
        closing,
        self_closing,
        attributes,
    } = tag;
    let mut one = |e: Event| {
        emit(Token::Event(e));
        None
    };
    let dropping = |element| Mode::Dropping {
        element,
        matched: 0,
    };
    match (name, closing) {
        (b"include", false) => one(include(None, Attributes::of(attributes))),
        (b"include" | b"comment" | b"remove" | b"vars", true) | (b"comment" | b"vars", false) => {
            None
        }
        (b"remove", false) if !self_closing => Some(dropping("remove")),
        (b"remove", false) => None,
        (b"choose" | b"inline", false) if !self_closing => {
            let element = match name {
                b"choose" => "choose",
                _ => "inline",
            };
            one(Event::Unsupported(InlineStr::new(element)));
            Some(dropping(element))
        }
        (b"try", false) => one(Event::TryStart),
        (b"try", true) => one(Event::TryEnd),
        (b"attempt", false) => one(Event::AttemptStart),
        (b"attempt", true) => one(Event::AttemptEnd),
        (b"except", false) => one(Event::ExceptStart),
        (b"except", true) => one(Event::ExceptEnd),
        (other, _) => one(Event::Unsupported(text_of(other, false))),
    }
}

/// Emits the include of `<esi:include` + `inner` when it is written the usual way: `src=`
/// first, its value quoted or not and not blank. Read with one comparison and one search
/// where the general reading takes each byte through [`Attributes`]; the attributes after
/// `src`, if any, are then read by it, from where it would be. False (read it the general
/// way, [`read_tag`]) for anything else. The same event either way
/// (`esi::tag::tests::the_quick_include_reads_as_the_general_reading`): the name ends at
/// the `=`, the value ends where [`Attributes`] ends it (the same quote; for an unquoted
/// one the first white space), and what follows is read by [`Attributes`] from that byte.
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
        _ => emit(Token::Event(include(Some(src), Attributes::of(after)))),
    }
    true
}

/// The `src` of `<esi:include` + `inner` written the usual way (see [`quick_include`]), and
/// the attributes after it.
#[inline]
fn usual_src(inner: &[u8]) -> Option<(InlineStr, &[u8])> {
    let rest = inner.strip_prefix(b"include src=")?;
    match plain_src(rest) {
        Some(src) => Some(src),
        None => decoded_src(rest),
    }
}

/// [`usual_src`] for a value that is ASCII, holds no `&` and does not begin with white
/// space, as nearly every `src` is: the value as it is, looked at once.
#[inline]
fn plain_src(rest: &[u8]) -> Option<(InlineStr, &[u8])> {
    let (value, after) = match quoted_value(rest) {
        Some(quoted) => quoted?,
        None => {
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

/// [`usual_src`] for any other value: its references decoded, U+FFFD for bytes that are
/// not UTF-8, written in place ([`decode`]); an unquoted value ends at its first white space
/// as [`Attributes`] reads it. None when it is blank (the general reading says so) or its
/// quote never closes.
#[cold]
#[inline(never)]
fn decoded_src(rest: &[u8]) -> Option<(InlineStr, &[u8])> {
    let (value, after) = match quoted_value(rest) {
        Some(quoted) => quoted?,
        None => {
            let end = Attributes::of(rest).past(0, |c| !c.is_whitespace());
            (&rest[..end], &rest[end..])
        }
    };
    Some((kept(value)?, after))
}

/// The quoted value at the start of `rest` and what follows its closing quote: None when
/// the value is not quoted, `Some(None)` when its quote never closes (the quick readings
/// then leave the tag to the general one).
#[inline]
fn quoted_value(rest: &[u8]) -> Option<Option<(&[u8], &[u8])>> {
    let q @ (b'"' | b'\'') = *rest.first()? else {
        return None;
    };
    let quoted = &rest[1..];
    Some(memchr::memchr(q, quoted).map(|end| (&quoted[..end], &quoted[end + 1..])))
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
    let alt = alt.and_then(kept);
    let continue_on_error = onerror.is_some_and(|v| read_as_text(v, |v| v == "continue"));
    let timeout_ms = timeout.and_then(|v| {
        read_as_text(v, |v| {
            let v = v.trim();
            // Digits only: `+5`, `1e3` or `-1` are no timeout, as fastly/esi reads them.
            v.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| v.parse().ok())
                .flatten()
        })
    });
    let src = match first_src {
        Some(src) => Some(src),
        None => src.and_then(kept),
    };
    match src {
        Some(src) => Event::Include(Include {
            src,
            alt,
            continue_on_error,
            timeout_ms,
            ttl: ttl.map(|v| read_as_text(v, Ttl::read)),
        }),
        _ => Event::Invalid("esi:include without src".into()),
    }
}

/// The attributes of a tag's bytes, read as text (U+FFFD for what is not UTF-8, each
/// sequence as `String::from_utf8_lossy` takes it): `name="value"`, `name='value'`,
/// `name=value` and bare `name`s (an empty value), as slices of the bytes, so that reading
/// them copies nothing. Names are as written (compare them ignoring ASCII case), values as
/// written ([`decode`] makes them text). White space is Unicode's. Every slice ends where a
/// character or a replaced sequence does, so a slice read as text is that part of the
/// whole's text.
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
            let (c, len) = match b.is_ascii() {
                true => (char::from(b), 1),
                false => char_at(bytes, at),
            };
            if !keep(c) {
                return at;
            }
            at += len;
        }
        bytes.len()
    }
}

/// The character that begins at `at` (not ASCII) and its length in bytes; U+FFFD and the
/// length of the sequence `String::from_utf8_lossy` replaces with it where the bytes there
/// are not UTF-8 (the longest start of a well-formed sequence, at least one byte: Unicode's
/// "maximal subpart", Table 3-7). Read from the lead byte's ranges, one byte at a time: a
/// hostile value may be all stray bytes.
#[inline(always)]
fn char_at(bytes: &[u8], at: usize) -> (char, usize) {
    const BAD: char = char::REPLACEMENT_CHARACTER;
    let rest = bytes.get(at..).unwrap_or_default();
    let Some(&lead) = rest.first() else {
        return (BAD, 1);
    };
    // The sequence's length, and the range its second byte must be in (every later one is
    // a continuation byte, 0x80 to 0xBF).
    let (len, second) = match lead {
        0xc2..=0xdf => (2, 0x80..=0xbf),
        0xe0 => (3, 0xa0..=0xbf),
        0xe1..=0xec | 0xee..=0xef => (3, 0x80..=0xbf),
        0xed => (3, 0x80..=0x9f),
        0xf0 => (4, 0x90..=0xbf),
        0xf1..=0xf3 => (4, 0x80..=0xbf),
        0xf4 => (4, 0x80..=0x8f),
        _ => return (BAD, 1),
    };
    let mut code = u32::from(lead) & (0x7f >> len);
    for n in 1..len {
        let b = match rest.get(n) {
            Some(&b) if n == 1 && second.contains(&b) => b,
            Some(&b) if n > 1 && (0x80..=0xbf).contains(&b) => b,
            _ => return (BAD, n),
        };
        code = code << 6 | u32::from(b & 0x3f);
    }
    (char::from_u32(code).unwrap_or(BAD), len)
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

/// Whether `text` is empty once trimmed of white space (Unicode's), told by its first byte
/// when that is ASCII other than white space, as a URL's is.
#[inline]
fn blank(text: &str) -> bool {
    match text.as_bytes().first() {
        Some(&b) if b.is_ascii() && !char::from(b).is_whitespace() => false,
        _ => text.trim().is_empty(),
    }
}

/// `value` as text (U+FFFD for each sequence that is not UTF-8, as
/// `String::from_utf8_lossy` reads it) with HTML's character references for `& < > " '`
/// decoded, kept in place when short: no `String` is made on the way, so a hostile
/// template's references or stray bytes in every tag allocate nothing more than plain ones.
fn decode(value: &[u8]) -> InlineStr {
    text_of(value, true)
}

/// `bytes` as text, U+FFFD for each sequence that is not UTF-8, their references decoded
/// when `references`. ASCII without `&`, nearly every value, is copied as it is, in
/// registers (see [`quick_include`]); anything else is written piece by piece
/// ([`written_text_of`]).
#[inline(always)]
fn text_of(bytes: &[u8], references: bool) -> InlineStr {
    if !(references && bytes.contains(&b'&')) {
        if let Some(text) = InlineStr::from_ascii(bytes) {
            return text;
        }
    }
    written_text_of(bytes, references)
}

/// [`text_of`] for text with references or bytes other than ASCII: runs of plain ASCII
/// copied whole, each other character or replaced sequence ([`char_at`]) and each reference
/// written as it is read, in one pass over the bytes.
#[cold]
#[inline(never)]
fn written_text_of(bytes: &[u8], references: bool) -> InlineStr {
    // A stray byte becomes three (U+FFFD): room for the worst once the text leaves its place.
    let mut out = Builder::with_room(bytes.len().saturating_mul(3));
    let mut rest = bytes;
    while !rest.is_empty() {
        let plain = rest
            .iter()
            .position(|&b| !b.is_ascii() || (references && b == b'&'))
            .unwrap_or(rest.len());
        let (run, after) = rest.split_at(plain);
        if !run.is_empty() {
            if let Ok(run) = std::str::from_utf8(run) {
                out.push_str(run);
            }
        }
        rest = after;
        let taken = match rest.first() {
            None => break,
            Some(b'&') => reference(rest, &mut out),
            Some(_) => {
                let (c, len) = char_at(rest, 0);
                out.push(c);
                len
            }
        };
        rest = rest.get(taken..).unwrap_or_default();
    }
    out.finish()
}

/// Writes what the `&` that begins `rest` stands for to `out`: the character of one of
/// HTML's references for `& < > " '`, or the `&` itself; returns the bytes it took. Read
/// left to right, this is what replacing each reference in turn gave (an entity holds no
/// `&`, and none decodes to a character another starts with:
/// `entities_decode_in_one_pass_as_in_turn`).
fn reference(rest: &[u8], out: &mut Builder) -> usize {
    const ENTITIES: [(&[u8], char); 6] = [
        (b"&lt;", '<'),
        (b"&gt;", '>'),
        (b"&quot;", '"'),
        (b"&#39;", '\''),
        (b"&apos;", '\''),
        (b"&amp;", '&'),
    ];
    match ENTITIES.iter().find(|(entity, _)| rest.starts_with(entity)) {
        Some((entity, decoded)) => {
            out.push(*decoded);
            entity.len()
        }
        None => {
            out.push('&');
            1
        }
    }
}

/// A value a token keeps ([`decode`]d), or None when it is blank: a plain one (ASCII, no
/// `&`) is told blank from its bytes before anything is made of it.
fn kept(value: &[u8]) -> Option<InlineStr> {
    if value.is_ascii() && !value.contains(&b'&') {
        if value.iter().all(|&b| char::from(b).is_whitespace()) {
            return None;
        }
        return InlineStr::from_ascii(value);
    }
    Some(decode(value)).filter(|text| !blank(text))
}

/// `read` of a value's text, for a value no token keeps: one that is UTF-8 without `&` is
/// read where it is, any other decoded first ([`decode`]; in place when short).
fn read_as_text<R>(value: &[u8], read: impl FnOnce(&str) -> R) -> R {
    match std::str::from_utf8(value) {
        Ok(text) if !value.contains(&b'&') => read(text),
        _ => read(&decode(value)),
    }
}

#[cfg(test)]
#[path = "tag_tests.rs"]
mod tests;
