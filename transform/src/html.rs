//! The `html` stage: streaming HTML rewriting with [lol_html].
//!
//! Rules ([`HtmlRules`]) insert HTML around or inside elements, set and remove attributes,
//! remove elements, and rewrite origin URLs in `href`, `src`, `action` and `srcset`. Elements
//! are picked by CSS selectors (the subset lol_html supports); a selector lol_html cannot
//! parse is an error of [`HtmlRewrite::new`], before any byte is read.
//!
//! The document is assumed to be UTF-8 (or ASCII-compatible; `<meta charset>` is not acted
//! on). Bytes no rule touches pass through byte-exact: lol_html copies the input slices
//! around the tokens it rewrites, and a start tag is re-serialized only when one of its
//! attributes actually changed.
//!
//! # Hold-back
//!
//! lol_html writes its output synchronously while it parses, and [`Transform::push`] moves
//! all of it out, so between calls this stage holds only what lol_html itself cannot emit
//! yet: the unfinished tag at the end of the input so far (a start tag, once any rule is
//! set, since a rule may rewrite it; an end tag; with no rule, just the `<` or `</` that may
//! start one), or in `<script>`, `<style>`, `<textarea>` and the like the `</name` that may
//! end the element. Text, comments, doctypes and split UTF-8 sequences stream through.
//! Those held bytes cannot be emitted before the tag is complete, so [`Transform::flush`]
//! cannot emit them either; it emits everything else. The hold-back is bounded by
//! [`HtmlRules::memory_limit`]: a tag that needs more than that fails the stream with a
//! [`TransformError`].
//!
//! # Memory limit and chunking
//!
//! lol_html accounts against the limit: its parsing buffer (the held tag plus the slice of
//! input written after it; 1 KiB or less is preallocated), its attribute lists, and, once
//! any rule is set, the stack of open elements its selector matching keeps (some 100 to 200
//! bytes per element; an element whose end tag is omitted, like `<p>`, `<li>` or `<td>`,
//! stays on it until an enclosing element's end tag, so ten thousand unclosed `<td>`s in one
//! table take about 1 MiB). So that the size of the chunks this stage receives matters as
//! little as possible, input is written to lol_html in slices of at most
//! [`write_slice_len`] bytes (an eighth of the limit, at most 16 KiB). As a result:
//! - a tag lol_html buffers that is longer than the limit fails the stream however the
//!   input is split;
//! - a document never fails for memory, however split, if every tag lol_html buffers, plus
//!   one slice, plus the open-element stack at that point, plus about 1 KiB, fits the limit;
//! - between the two, whether the limit is exceeded can depend on where the chunks are cut.
//!
//! Every other error (a parsing ambiguity lol_html refuses to guess about, see below) does
//! not depend on the chunking.
//!
//! # Strict parsing
//!
//! lol_html runs in its default strict mode: markup that it cannot parse without building a
//! DOM tree (e.g. `<select><xmp>` in an ambiguous context) is an error rather than a guess
//! that a browser might not share, since a wrong guess could hide a `<script>` from a rule.

use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

use bytes::Bytes;
use lol_html::errors::RewritingError;
use lol_html::html_content::{ContentType, Element};
use lol_html::{
    ElementContentHandlers, HandlerResult, HtmlRewriter, MemorySettings, OutputSink, Selector,
    Settings,
};

use crate::{Sink, Transform, TransformError};

/// The stage name, in errors and logs.
pub const NAME: &str = "html";

/// Default for [`HtmlRules::memory_limit`]: 1 MiB.
pub const DEFAULT_MEMORY_LIMIT: usize = 1 << 20;

/// The largest slice of input written to lol_html at once (see the module docs).
const MAX_WRITE_SLICE: usize = 16 * 1024;

/// lol_html preallocates this much parsing buffer (less when the limit is smaller).
const PREALLOCATED_BUFFER: usize = 1024;

/// The attributes whose value is one URL, for [`UrlRewrite`].
const URL_ATTRIBUTES: [&str; 3] = ["href", "src", "action"];

/// Where an [`Insert`] puts its HTML relative to the selected element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// Before the start tag.
    Before,
    /// After the end tag (after the start tag for a void element).
    After,
    /// Right after the start tag, before the content.
    Prepend,
    /// Right before the end tag, after the content.
    Append,
}

/// Inserts a fragment of HTML (inserted as-is, not escaped) at every selected element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insert {
    pub selector: String,
    pub position: Position,
    pub html: String,
}

/// Sets an attribute (adding it when absent) on every selected element. The value is
/// written as given between double quotes, `"` escaped as `&quot;`; other characters are
/// not escaped (it may contain entities).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAttribute {
    pub selector: String,
    pub name: String,
    pub value: String,
}

/// Removes an attribute from every selected element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoveAttribute {
    pub selector: String,
    pub name: String,
}

/// Rewrites absolute URLs pointing at the origin to the public address.
///
/// In `href`, `src` and `action`, a value that starts with `from` (after any leading
/// whitespace) gets that prefix replaced by `to`; in `srcset`, every candidate URL is
/// rewritten the same way, with its descriptors (`2x`, `480w`) and the separators kept.
///
/// The prefix matches only whole origins or paths: unless `from` ends with `/`, the
/// character after it must be `/`, `?`, `#` or the end of the URL, so `http://origin.example`
/// does not rewrite `http://origin.example.evil.com/` or `http://origin.example:8080/`.
/// A protocol-relative URL (`//origin.example/x`, which takes the page's scheme) matches
/// `from` without its scheme and gets `to` without its scheme (`//www.example.com/x`), so it
/// stays protocol-relative. Matching is byte-exact (case-sensitive); relative URLs are never
/// touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlRewrite {
    /// E.g. `http://origin.example`.
    pub from: String,
    /// E.g. `https://www.example.com`.
    pub to: String,
}

/// What the `html` stage does. Rules apply in this order to an element several match: URL
/// rewriting, then `set_attributes`, `remove_attributes`, `inserts`, `remove`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HtmlRules {
    pub inserts: Vec<Insert>,
    pub set_attributes: Vec<SetAttribute>,
    pub remove_attributes: Vec<RemoveAttribute>,
    /// Selectors of elements removed with their content (HTML inserted before or after them
    /// stays).
    pub remove: Vec<String>,
    pub rewrite_urls: Option<UrlRewrite>,
    /// The most memory, in bytes, lol_html may use for buffering; see the module docs.
    /// Must be positive.
    pub memory_limit: usize,
}

impl Default for HtmlRules {
    fn default() -> Self {
        HtmlRules {
            inserts: Vec::new(),
            set_attributes: Vec::new(),
            remove_attributes: Vec::new(),
            remove: Vec::new(),
            rewrite_urls: None,
            memory_limit: DEFAULT_MEMORY_LIMIT,
        }
    }
}

/// The length of the slices input is written to lol_html in, for a memory limit: an eighth
/// of the limit, at least 1 byte and at most 16 KiB.
pub fn write_slice_len(memory_limit: usize) -> usize {
    (memory_limit / 8).clamp(1, MAX_WRITE_SLICE)
}

/// lol_html's output sink: appends to a buffer the stage shares, drained after every call.
struct SharedOutput(Rc<RefCell<Vec<u8>>>);

impl OutputSink for SharedOutput {
    fn handle_chunk(&mut self, chunk: &[u8]) {
        // The last chunk is empty; nothing to do for it.
        self.0.borrow_mut().extend_from_slice(chunk);
    }
}

type Rewriter = HtmlRewriter<'static, SharedOutput>;

enum State {
    Running(Box<Rewriter>),
    Finished,
    /// lol_html's rewriter panics if used after an error, so it is dropped and every later
    /// call returns this error.
    Failed(TransformError),
}

/// The `html` stage: a lol_html rewriter applying [`HtmlRules`].
pub struct HtmlRewrite {
    state: State,
    output: Rc<RefCell<Vec<u8>>>,
    memory_limit: usize,
    slice_len: usize,
}

impl HtmlRewrite {
    /// Builds the rewriter. Fails, naming the culprit, on a selector lol_html cannot parse,
    /// an attribute name that cannot be written, or a zero memory limit.
    pub fn new(rules: HtmlRules) -> Result<HtmlRewrite, TransformError> {
        let HtmlRules {
            inserts,
            set_attributes,
            remove_attributes,
            remove,
            rewrite_urls,
            memory_limit,
        } = rules;
        if memory_limit == 0 {
            return Err(TransformError::new(NAME, "memory_limit must be positive"));
        }

        let mut handlers: Vec<(Cow<'static, Selector>, ElementContentHandlers<'static>)> =
            Vec::new();

        if let Some(UrlRewrite { from, to }) = rewrite_urls {
            if from.is_empty() {
                return Err(TransformError::new(
                    NAME,
                    "rewrite_urls.from must not be empty",
                ));
            }
            let selector = parse_selector("[href], [src], [action], [srcset]")?;
            handlers.push(element_handler(selector, move |el| {
                rewrite_element_urls(el, &from, &to)
            }));
        }
        for SetAttribute {
            selector,
            name,
            value,
        } in set_attributes
        {
            check_attribute_name(&name)?;
            handlers.push(element_handler(parse_selector(&selector)?, move |el| {
                el.set_attribute(&name, &value)?;
                Ok(())
            }));
        }
        for RemoveAttribute { selector, name } in remove_attributes {
            handlers.push(element_handler(parse_selector(&selector)?, move |el| {
                el.remove_attribute(&name);
                Ok(())
            }));
        }
        for Insert {
            selector,
            position,
            html,
        } in inserts
        {
            handlers.push(element_handler(parse_selector(&selector)?, move |el| {
                match position {
                    Position::Before => el.before(&html, ContentType::Html),
                    Position::After => el.after(&html, ContentType::Html),
                    Position::Prepend => el.prepend(&html, ContentType::Html),
                    Position::Append => el.append(&html, ContentType::Html),
                }
                Ok(())
            }));
        }
        for selector in remove {
            handlers.push(element_handler(parse_selector(&selector)?, |el| {
                el.remove();
                Ok(())
            }));
        }

        let memory = MemorySettings::new()
            .with_max_allowed_memory_usage(memory_limit)
            .with_preallocated_parsing_buffer_size(PREALLOCATED_BUFFER.min(memory_limit / 2));
        let settings = handlers.into_iter().fold(
            Settings::new().with_memory_settings(memory),
            Settings::append_element_content_handler,
        );

        let output = Rc::new(RefCell::new(Vec::new()));
        let rewriter = HtmlRewriter::new(settings, SharedOutput(Rc::clone(&output)));
        Ok(HtmlRewrite {
            state: State::Running(Box::new(rewriter)),
            output,
            memory_limit,
            slice_len: write_slice_len(memory_limit),
        })
    }

    /// Moves what lol_html has written so far into `out`.
    fn drain(&self, out: &mut Sink) {
        let bytes = std::mem::take(&mut *self.output.borrow_mut());
        if !bytes.is_empty() {
            out.push(Bytes::from(bytes));
        }
    }

    /// Records a lol_html error: the rewriter is dropped, never to be called again, and
    /// whatever it wrote before failing is discarded (the stream is broken anyway).
    fn fail(&mut self, err: RewritingError) -> TransformError {
        let reason = match err {
            RewritingError::MemoryLimitExceeded(_) => format!(
                "HTML memory limit of {} bytes exceeded (a tag too long to buffer, or too many \
                 open elements)",
                self.memory_limit
            ),
            RewritingError::ParsingAmbiguity(e) => {
                format!("ambiguous HTML that cannot be rewritten safely: {e}")
            }
            RewritingError::ContentHandlerError(e) => format!("an HTML rule failed: {e}"),
            e => format!("HTML rewriting failed: {e}"),
        };
        let error = TransformError::new(NAME, reason);
        self.state = State::Failed(error.clone());
        self.output.borrow_mut().clear();
        error
    }
}

impl Transform for HtmlRewrite {
    fn name(&self) -> &'static str {
        NAME
    }

    fn push(&mut self, chunk: Bytes, out: &mut Sink) -> Result<(), TransformError> {
        let rewriter = match &mut self.state {
            State::Running(rewriter) => rewriter,
            State::Finished => {
                return Err(TransformError::new(NAME, "input pushed after finish"));
            }
            State::Failed(error) => return Err(error.clone()),
        };
        // Output is about as long as input: one allocation for most chunks.
        self.output.borrow_mut().reserve(chunk.len());
        let mut result = Ok(());
        for slice in chunk.chunks(self.slice_len) {
            result = rewriter.write(slice);
            if result.is_err() {
                break;
            }
        }
        if let Err(err) = result {
            return Err(self.fail(err));
        }
        self.drain(out);
        Ok(())
    }

    /// Emits everything lol_html has written. It writes synchronously while parsing, so
    /// `push` has already emitted it all; what remains held is the unfinished token at the
    /// end of the input (see the module docs), which no rule can be applied to yet.
    fn flush(&mut self, out: &mut Sink) -> Result<(), TransformError> {
        if let State::Failed(error) = &self.state {
            return Err(error.clone());
        }
        self.drain(out);
        Ok(())
    }

    fn finish(&mut self, out: &mut Sink) -> Result<(), TransformError> {
        match std::mem::replace(&mut self.state, State::Finished) {
            State::Running(rewriter) => {
                if let Err(err) = rewriter.end() {
                    return Err(self.fail(err));
                }
                self.drain(out);
                Ok(())
            }
            State::Finished => Ok(()),
            State::Failed(error) => {
                self.state = State::Failed(error.clone());
                Err(error)
            }
        }
    }
}

fn parse_selector(selector: &str) -> Result<Selector, TransformError> {
    selector
        .parse::<Selector>()
        .map_err(|e| TransformError::new(NAME, format!("invalid CSS selector {selector:?}: {e}")))
}

fn element_handler(
    selector: Selector,
    handler: impl FnMut(&mut Element<'_, '_>) -> HandlerResult + 'static,
) -> (Cow<'static, Selector>, ElementContentHandlers<'static>) {
    (
        Cow::Owned(selector),
        ElementContentHandlers::default().element(handler),
    )
}

/// The check lol_html makes in `set_attribute`, made up front so a bad name is a
/// configuration error rather than a failure in the middle of a response.
fn check_attribute_name(name: &str) -> Result<(), TransformError> {
    let bad = name.is_empty()
        || name.bytes().any(|b| {
            matches!(
                b,
                b' ' | b'\n' | b'\r' | b'\t' | b'\x0C' | b'/' | b'>' | b'='
            )
        });
    if bad {
        return Err(TransformError::new(
            NAME,
            format!("invalid attribute name {name:?}"),
        ));
    }
    Ok(())
}

fn rewrite_element_urls(el: &mut Element<'_, '_>, from: &str, to: &str) -> HandlerResult {
    for name in URL_ATTRIBUTES {
        if let Some(value) = el.get_attribute(name) {
            if let Some(new) = rewrite_url(&value, from, to) {
                el.set_attribute(name, &new)?;
            }
        }
    }
    if let Some(value) = el.get_attribute("srcset") {
        if let Some(new) = rewrite_srcset(&value, from, to) {
            el.set_attribute("srcset", &new)?;
        }
    }
    Ok(())
}

/// HTML's ASCII whitespace.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0C')
}

/// Whether `url` (without surrounding whitespace) starts with the `from` of a
/// [`UrlRewrite`], at a boundary.
fn matches_prefix(url: &str, from: &str) -> bool {
    match url.strip_prefix(from) {
        None => false,
        Some(rest) => from.ends_with('/') || rest.is_empty() || rest.starts_with(['/', '?', '#']),
    }
}

/// How much of `url` (without surrounding whitespace) to replace, and with what: `from`
/// by `to`, or for a protocol-relative URL the two without their schemes.
fn replacement<'a>(url: &str, from: &'a str, to: &'a str) -> Option<(usize, &'a str)> {
    if matches_prefix(url, from) {
        return Some((from.len(), to));
    }
    // `scheme://rest` → `//rest`
    let schemeless = |u: &'a str| u.find("://").filter(|&i| i > 0).map(|i| &u[i + 1..]);
    let bare_from = schemeless(from)?;
    matches_prefix(url, bare_from).then(|| (bare_from.len(), schemeless(to).unwrap_or(to)))
}

/// `value` with the `from` prefix of its URL replaced by `to`, or `None` if it has none.
/// Whitespace around the URL is kept.
pub fn rewrite_url(value: &str, from: &str, to: &str) -> Option<String> {
    let start = value.len()
        - value
            .trim_start_matches(|c: char| c.is_ascii() && is_space(c as u8))
            .len();
    let url = &value[start..];
    let (len, with) = replacement(
        url.trim_end_matches(|c: char| c.is_ascii() && is_space(c as u8)),
        from,
        to,
    )?;
    let mut new = String::with_capacity(value.len() + with.len());
    new.push_str(&value[..start]);
    new.push_str(with);
    new.push_str(&url[len..]);
    Some(new)
}

/// `value`, a `srcset`, with the `from` prefix of each candidate URL replaced by `to`, or
/// `None` if no candidate has it. Candidates are found as HTML's srcset parser finds them
/// (a URL is a run of non-whitespace; commas ending it are separators; descriptors run to
/// the next comma outside parentheses); every byte but the replaced prefixes is kept.
pub fn rewrite_srcset(value: &str, from: &str, to: &str) -> Option<String> {
    let b = value.as_bytes();
    let mut new = String::new();
    let mut copied = 0; // value[..copied] is in `new`
    let mut changed = false;
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (is_space(b[i]) || b[i] == b',') {
            i += 1;
        }
        let url_start = i;
        while i < b.len() && !is_space(b[i]) {
            i += 1;
        }
        let mut url_end = i;
        while url_end > url_start && b[url_end - 1] == b',' {
            url_end -= 1;
        }
        // All indices are at ASCII bytes or the ends, so they are char boundaries.
        if let Some((len, with)) = (url_end > url_start)
            .then(|| replacement(&value[url_start..url_end], from, to))
            .flatten()
        {
            new.push_str(&value[copied..url_start]);
            new.push_str(with);
            copied = url_start + len;
            changed = true;
        }
        if url_end < i {
            continue; // the URL ended with a comma: no descriptors
        }
        let mut depth = 0usize;
        while i < b.len() {
            match b[i] {
                b'(' => depth += 1,
                b')' => depth = depth.saturating_sub(1),
                b',' if depth == 0 => break,
                _ => {}
            }
            i += 1;
        }
    }
    if !changed {
        return None;
    }
    new.push_str(&value[copied..]);
    Some(new)
}
