//! The openers a tag or marker begins with, matched a byte at a time so that a byte once
//! read is never read again.

use super::tag::END_TAG_OPEN;

/// What begins a tag or a marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Opener {
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
    pub(super) fn bytes(self) -> &'static [u8] {
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
pub(super) enum Opening {
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
pub(super) fn advance(opener: Opener, matched: usize, b: u8, in_esi_comment: bool) -> Opening {
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
