//! Edge Side Includes (ESI 1.0) as production templates use it, as an incremental tokenizer:
//! bytes in, text and tag events out, the same events however the input is split.
//!
//! Recognised: `<esi:include src="…" alt="…" onerror="continue"/>`, `<esi:remove>…
//! </esi:remove>`, `<esi:comment text="…"/>`, `<!--esi … -->` (its markers removed, its
//! content processed), and `<esi:try>`, `<esi:attempt>`, `<esi:except>` with their end
//! tags. Two readings of the rest: [`Tokenizer::push`] as the page has always read it —
//! `<esi:choose>…</esi:choose>` and `<esi:inline>…</esi:inline>` removed with their content
//! (a page shows none of their branches rather than all of them), `<esi:vars>` and
//! `</esi:vars>` removed and their content kept as it is — and [`Tokenizer::push_tokens`],
//! the whole language, where `esi:choose`, `esi:when test="…"`, `esi:otherwise` and
//! `esi:vars` are [`Token`]s, nested as written, for [`branches`] to choose from
//! ([`language`] puts tokens, branches and `esi:vars` substitution together for one
//! request: what the page reads). Any other
//! `esi:` tag is removed and reported ([`Event::Unsupported`]). Tags follow XML's syntax for
//! white space: `</esi:remove >`, `<esi:remove / >` and a tab or newline between attributes
//! are the tags they would be without it.
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

pub mod branches;
pub mod client;
pub mod escape;
mod event;
pub mod expr;
mod inline_str;
pub mod language;
mod opener;
pub mod substitute;
mod tag;
mod tokenizer;
pub mod ttl;
pub mod variable;

pub use event::{Event, Include, Token, Unclosed};
pub use inline_str::InlineStr;
pub use tokenizer::Tokenizer;
pub use ttl::Ttl;

/// The longest tag, `<` to `>`: a tag that reaches it without its `>` breaks the template.
pub const MAX_TAG: usize = 16 * 1024;

#[cfg(test)]
mod tests;
