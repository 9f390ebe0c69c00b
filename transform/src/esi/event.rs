//! What the tokenizer says: its events, and why a template is broken.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;

use super::inline_str::InlineStr;
use super::ttl::Ttl;
use super::MAX_TAG;

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
    /// An `esi:` tag this processor removes without acting on it (its name, kept in place
    /// when short, so that a run of them allocates nothing).
    Unsupported(InlineStr),
    /// An `esi:` tag that cannot be used (an include without `src`): removed, with why.
    Invalid(Cow<'static, str>),
}

/// What a template says in the whole language ([`super::Tokenizer::push_tokens`]): the
/// events, and the structure of `esi:choose` and `esi:vars`, start and end apart. The
/// tokenizer checks no nesting: [`super::branches::Branches`] does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    Event(Event),
    ChooseStart,
    ChooseEnd,
    /// `<esi:when test="…">`: the test as written, entities decoded, not yet parsed (empty
    /// when the attribute is missing, which no expression parses as).
    WhenStart {
        test: String,
    },
    WhenEnd,
    OtherwiseStart,
    OtherwiseEnd,
    VarsStart,
    VarsEnd,
}

impl Token {
    /// The element a structure token belongs to (`text` and the like for an event).
    pub fn element(&self) -> &'static str {
        match self {
            Token::Event(_) => "event",
            Token::ChooseStart | Token::ChooseEnd => "choose",
            Token::WhenStart { .. } | Token::WhenEnd => "when",
            Token::OtherwiseStart | Token::OtherwiseEnd => "otherwise",
            Token::VarsStart | Token::VarsEnd => "vars",
        }
    }
}

/// An include as written, its `src` and `alt` with entities decoded and variables not yet
/// substituted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Include {
    /// Kept in place when short ([`InlineStr`]): a template of short includes back to back
    /// allocates nothing per include.
    pub src: InlineStr,
    pub alt: Option<InlineStr>,
    /// `onerror="continue"`: a failure leaves nothing in the include's place.
    pub continue_on_error: bool,
    /// `timeout="MS"` (digits only, else ignored): the fragment's deadline, in ms; whoever
    /// composes bounds it by its own.
    pub timeout_ms: Option<u64>,
    /// `ttl="…"` ([`Ttl::read`]): how long the fragment's route's cache keeps what this
    /// include stores, in place of the origin's freshness; whoever composes bounds it by the
    /// route's `cache_max_ttl`, and says when it is unreadable.
    pub ttl: Option<Ttl>,
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
