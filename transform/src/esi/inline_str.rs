//! Text that keeps up to [`InlineStr::INLINE`] bytes in place: an include's `src`, so that a
//! template's short includes allocate nothing each.
//!
//! Why not a `String`: the cost of a tag per byte is highest for the shortest tag, and a
//! hostile template can be nothing but includes of a two-byte `src` (21 bytes each). With
//! such a `src` kept in place, an include that allocates is at least 41 bytes
//! (`<esi:include src=` and 23 bytes and `>`), so the allocator's cost per byte is at most
//! about half what it was in the worst case, not only in one benchmark's. The capacity is
//! the same on every target (a `String` is 12 bytes on wasm32, where a crate keeping as many
//! bytes in place as a `String` is large would keep 12).

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::ops::Deref;

/// Text of at most [`InlineStr::INLINE`] bytes kept in place, longer text on the heap.
#[derive(Clone)]
pub struct InlineStr(Repr);

#[derive(Clone)]
enum Repr {
    /// The text is `bytes[..len]`, valid UTF-8 (copied from a `str` whole).
    Inline {
        len: u8,
        bytes: [u8; INLINE],
    },
    Heap(Box<str>),
}

const INLINE: usize = 22;

impl InlineStr {
    /// The most bytes kept in place: with the enum's tag and the length, 24 bytes, a
    /// `String`'s size on a 64-bit target.
    pub const INLINE: usize = INLINE;

    pub fn new(text: &str) -> InlineStr {
        match u8::try_from(text.len()) {
            Ok(len) if text.len() <= INLINE => InlineStr(Repr::Inline {
                len,
                bytes: packed(text.as_bytes()),
            }),
            _ => InlineStr(Repr::Heap(text.into())),
        }
    }

    /// `bytes` as text when they are all ASCII, as an include's `src` nearly always is
    /// (read so without a check as UTF-8 first); None otherwise.
    #[inline(always)]
    pub fn from_ascii(bytes: &[u8]) -> Option<InlineStr> {
        if !bytes.is_ascii() {
            return None;
        }
        match u8::try_from(bytes.len()) {
            Ok(len) if bytes.len() <= INLINE => Some(InlineStr(Repr::Inline {
                len,
                bytes: packed(bytes),
            })),
            _ => std::str::from_utf8(bytes).ok().map(InlineStr::new),
        }
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Never "": the bytes were a `str`'s, whole. Checked rather than assumed, which
            // costs a few nanoseconds per use of an include, not per include read.
            Repr::Inline { len, bytes } => bytes
                .get(..usize::from(*len))
                .and_then(|b| std::str::from_utf8(b).ok())
                .unwrap_or_default(),
            Repr::Heap(text) => text,
        }
    }

    /// Whether the text is kept in place (nothing was allocated for it).
    pub fn is_inline(&self) -> bool {
        matches!(self.0, Repr::Inline { .. })
    }
}

/// Text put together piece by piece into an [`InlineStr`], in place while it fits: a
/// value read from a tag (its references decoded, U+FFFD for bytes that are not UTF-8) is
/// written where it is kept, never first into a `String` of its own.
pub struct Builder {
    len: usize,
    bytes: [u8; INLINE],
    /// The text so far, once it no longer fits in place.
    spilled: Option<String>,
    /// The capacity to give the text when it leaves its place: at most what it can grow to,
    /// so that it is allocated once.
    room: usize,
}

impl Builder {
    pub fn new() -> Builder {
        Builder::with_room(0)
    }

    /// A builder whose text, if it leaves its place, is given room for `room` bytes at once.
    pub fn with_room(room: usize) -> Builder {
        Builder {
            len: 0,
            bytes: [0; INLINE],
            spilled: None,
            room,
        }
    }

    pub fn push_str(&mut self, text: &str) {
        if let Some(spilled) = &mut self.spilled {
            spilled.push_str(text);
            return;
        }
        let end = self.len + text.len();
        match self.bytes.get_mut(self.len..end) {
            Some(room) => {
                room.copy_from_slice(text.as_bytes());
                self.len = end;
            }
            None => {
                let mut spilled = String::with_capacity(end.max(self.room));
                spilled.push_str(self.in_place());
                spilled.push_str(text);
                self.spilled = Some(spilled);
            }
        }
    }

    pub fn push(&mut self, c: char) {
        match &mut self.spilled {
            Some(spilled) => spilled.push(c),
            None => self.push_str(c.encode_utf8(&mut [0; 4])),
        }
    }

    /// The text in place (whole `str`s were written, so it is one).
    fn in_place(&self) -> &str {
        self.bytes
            .get(..self.len)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or_default()
    }

    pub fn finish(self) -> InlineStr {
        match self.spilled {
            Some(text) => InlineStr::from(text),
            None => InlineStr::new(self.in_place()),
        }
    }
}

impl Default for Builder {
    fn default() -> Builder {
        Builder::new()
    }
}

/// At most [`INLINE`] bytes, zero after them, put together in registers: a copy of a length
/// only known at run time is a call that writes a byte or a few at a time, and the include
/// that holds the text, moved in 16 bytes at once, then waits for those writes (a store
/// that cannot be forwarded to a wider load); that wait was a third of the time of a
/// template of short includes.
#[inline(always)]
fn packed(bytes: &[u8]) -> [u8; INLINE] {
    let word = |from: usize| word(bytes.get(from..).unwrap_or_default()).to_le_bytes();
    let (a, b, c) = (word(0), word(8), word(16));
    let mut out = [0; INLINE];
    out[..8].copy_from_slice(&a);
    out[8..16].copy_from_slice(&b);
    out[16..].copy_from_slice(&c[..INLINE - 16]);
    out
}

/// The first 8 bytes of `bytes` (all of them if fewer, then zeros) as a little-endian
/// word, read with at most two loads that may overlap: an overlapped byte is ORed with
/// itself.
#[inline(always)]
fn word(bytes: &[u8]) -> u64 {
    let n = bytes.len();
    let at = |i: usize| u64::from(bytes.get(i).copied().unwrap_or_default());
    let u32_at = |i: usize| {
        bytes
            .get(i..i + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map_or(0, |b| u64::from(u32::from_le_bytes(b)))
    };
    match n {
        8.. => bytes
            .get(..8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map_or(0, u64::from_le_bytes),
        4..=7 => u32_at(0) | u32_at(n - 4) << (8 * (n - 4)),
        1..=3 => at(0) | at(n / 2) << (8 * (n / 2)) | at(n - 1) << (8 * (n - 1)),
        _ => 0,
    }
}

impl Default for InlineStr {
    fn default() -> InlineStr {
        InlineStr::new("")
    }
}

impl Deref for InlineStr {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for InlineStr {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for InlineStr {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for InlineStr {
    fn from(text: &str) -> InlineStr {
        InlineStr::new(text)
    }
}

impl From<String> for InlineStr {
    /// A long `String` is kept as it is allocated (shrunk to its length).
    fn from(text: String) -> InlineStr {
        match text.len() <= INLINE {
            true => InlineStr::new(&text),
            false => InlineStr(Repr::Heap(text.into_boxed_str())),
        }
    }
}

impl From<Cow<'_, str>> for InlineStr {
    fn from(text: Cow<'_, str>) -> InlineStr {
        match text {
            Cow::Borrowed(text) => InlineStr::new(text),
            Cow::Owned(text) => text.into(),
        }
    }
}

impl From<InlineStr> for String {
    fn from(text: InlineStr) -> String {
        match text.0 {
            Repr::Heap(text) => text.into(),
            Repr::Inline { .. } => text.as_str().to_owned(),
        }
    }
}

impl PartialEq for InlineStr {
    fn eq(&self, other: &InlineStr) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for InlineStr {}

impl std::hash::Hash for InlineStr {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialEq<str> for InlineStr {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for InlineStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for InlineStr {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<InlineStr> for String {
    fn eq(&self, other: &InlineStr) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<InlineStr> for str {
    fn eq(&self, other: &InlineStr) -> bool {
        self == other.as_ref()
    }
}

impl PartialEq<InlineStr> for &str {
    fn eq(&self, other: &InlineStr) -> bool {
        *self == other.as_ref()
    }
}

/// Ordered as the text is, as a `String` would be.
impl Ord for InlineStr {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_ref().cmp(other.as_ref())
    }
}

impl PartialOrd for InlineStr {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for InlineStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for InlineStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept_in_place_and_long_text_whole() {
        for len in 0..=40 {
            // Each byte different, so that a byte put in the wrong place shows.
            let ascii: String = (0..len).map(|i| char::from(b'!' + i as u8)).collect();
            let wide = "é".repeat(len / 2) + &"a".repeat(len % 2);
            let from_ascii = InlineStr::from_ascii(ascii.as_bytes());
            assert_eq!(
                from_ascii.as_ref().map(|t| t.as_str()),
                Some(ascii.as_str())
            );
            for text in [&ascii, &wide] {
                for made in [
                    InlineStr::new(text),
                    InlineStr::from(text.clone()),
                    InlineStr::from(Cow::Borrowed(text.as_str())),
                ]
                .into_iter()
                .chain(from_ascii.clone().filter(|_| text == &ascii))
                {
                    assert_eq!(made, **text);
                    assert_eq!(made.as_str(), text);
                    assert_eq!(made.is_inline(), text.len() <= InlineStr::INLINE, "{len}");
                    assert_eq!(String::from(made.clone()), *text);
                    assert_eq!(format!("{made}"), *text);
                    assert_eq!(format!("{made:?}"), format!("{text:?}"));
                }
            }
            if !wide.is_ascii() {
                assert_eq!(InlineStr::from_ascii(wide.as_bytes()), None);
            }
        }
        assert_eq!(InlineStr::default(), "");
        assert_eq!(std::mem::size_of::<InlineStr>(), 24);
    }

    #[test]
    fn a_builder_gives_the_text_pushed_in_place_while_it_fits() {
        for len in 0..=40 {
            for piece in ["a", "é", "\u{fffd}", "ab", "😀"] {
                let mut built = Builder::new();
                let mut text = String::new();
                while text.len() + piece.len() <= len {
                    built.push_str(piece);
                    text.push_str(piece);
                }
                built.push('&');
                text.push('&');
                let built = built.finish();
                assert_eq!(built, text);
                assert_eq!(
                    built.is_inline(),
                    text.len() <= InlineStr::INLINE,
                    "{text:?}"
                );
            }
        }
    }
}
