//! The dev origin's composed pages: a template of includes, and the fragments they name, each
//! as slow and as large as its query says.
//!
//! - `/esi/template?includes=N&bytes=T&fragment_bytes=B&delay_ms=D&slow=K:MS&encoding=E&onerror=continue&tag=X&base=P&language=on`:
//!   an HTML template of about T bytes (default 64 KiB) with N includes (default 8) spread
//!   evenly through it, served with `Surrogate-Control: content="ESI/1.0"`. Each include's
//!   `src` is the relative `fragment?i=K&bytes=B&delay_ms=D[&encoding=E][&tag=X]` (fragment K
//!   of B bytes, default 16 KiB, after D ms, default 300), fragment `K` of `slow` after `MS`
//!   ms instead; with `onerror=continue` each include says so; with `base=/p/` each `src`
//!   is the path `/p/fragment?…`. With `language=on` each include is the second `when` of
//!   an `esi:choose` (the first tests a cookie no request here sends, the `otherwise`
//!   includes a 1-byte fragment) and is followed by an `esi:vars` greeting with a value and
//!   two defaults: the same fragments, placed through branches, and variables substituted.
//! - `/esi/includes?src=S&src=T…`: a small template that includes each `src` in order, each
//!   in brackets (`[<esi:include src="S"/>]`), for pages made of other origins' fragments.
//! - `/esi/fragment?i=K&bytes=B&delay_ms=D&encoding=gzip|br&tag=X`: after D ms, fragment K:
//!   exactly B bytes of HTML that name K ([`fragment_body`]), coded when asked. Fragments of
//!   one `tag` are counted while they wait ([`most_in_flight`]), so a test can see how many
//!   were requested at once.
//!
//! Both bodies are deterministic, so a test compares a composed page with
//! [`composed_page`], what it must be.

use std::time::Duration;

use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use hyper::Response;
use tokio::time::sleep;

use super::compress::{compress, Encoding};
use super::respond::{encoded, full, server_error, typed, Body};
use super::text::{query_u64, BadRequest, Query};

const MAX_INCLUDES: u64 = 256;
const MAX_TEMPLATE: u64 = 256 << 20;
const MAX_FRAGMENT: u64 = 64 << 20;
const MAX_DELAY_MS: u64 = 60_000;

/// What a template is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateSpec {
    pub includes: u64,
    pub bytes: u64,
    pub fragment_bytes: u64,
    pub delay_ms: u64,
    pub slow: Option<(u64, u64)>,
    pub encoding: Option<&'static str>,
    pub continue_on_error: bool,
    pub tag: Option<String>,
    /// The path each include's `src` starts with (`base=/page/esi/`), so fragments may go
    /// through another route than the template; else `src` is relative.
    pub base: Option<String>,
    /// Each include in a choose, followed by an `esi:vars` greeting (`language=on`).
    pub language: bool,
}

impl TemplateSpec {
    fn read(query: &Query) -> Result<TemplateSpec, BadRequest> {
        let slow = match query.get("slow") {
            None => None,
            Some(v) => {
                let (k, ms) = v
                    .split_once(':')
                    .ok_or_else(|| BadRequest("slow must be K:MS".into()))?;
                let k = k.parse().map_err(|_| BadRequest("slow: K".into()))?;
                let ms: u64 = ms.parse().map_err(|_| BadRequest("slow: MS".into()))?;
                Some((k, ms.min(MAX_DELAY_MS)))
            }
        };
        Ok(TemplateSpec {
            includes: query_u64(query, "includes", 8, 0, MAX_INCLUDES)?,
            bytes: query_u64(query, "bytes", 64 << 10, 0, MAX_TEMPLATE)?,
            fragment_bytes: query_u64(query, "fragment_bytes", 16 << 10, 0, MAX_FRAGMENT)?,
            delay_ms: query_u64(query, "delay_ms", 300, 0, MAX_DELAY_MS)?,
            slow,
            encoding: coding(query)?,
            continue_on_error: query.get("onerror") == Some("continue"),
            tag: query.get("tag").map(str::to_string),
            base: match query.get("base") {
                None => None,
                Some(b)
                    if b.starts_with('/')
                        && b.bytes()
                            .all(|c| c.is_ascii_alphanumeric() || b"/-_.".contains(&c)) =>
                {
                    Some(b.to_string())
                }
                Some(_) => return Err(BadRequest("base must be a plain path".into())),
            },
            language: query.get("language") == Some("on"),
        })
    }

    /// Fragment `k`'s delay.
    pub fn delay_of(&self, k: u64) -> u64 {
        match self.slow {
            Some((slow, ms)) if slow == k => ms,
            _ => self.delay_ms,
        }
    }

    /// The template's pieces: text, then an include, … then the last text. Include `k` is
    /// piece `2k + 1`.
    pub fn pieces(&self) -> Vec<Vec<u8>> {
        self.both()
            .into_iter()
            .map(|(template, _)| template)
            .collect()
    }

    /// What a composed page has in place of each of [`TemplateSpec::pieces`].
    pub fn page_pieces(&self) -> Vec<Vec<u8>> {
        self.both().into_iter().map(|(_, page)| page).collect()
    }

    /// Each piece of the template beside what the page has in its place.
    fn both(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let gaps = self.includes + 1;
        let mut out = Vec::new();
        let mut at = 0;
        for g in 0..gaps {
            let len = self.bytes / gaps + u64::from(g < self.bytes % gaps);
            let text = filler(at, len as usize);
            out.push((text.clone(), text));
            at += len;
            if g < self.includes {
                let include = self.include(g, self.fragment_bytes, self.delay_of(g));
                let mut page = fragment_body(g, self.fragment_bytes);
                let template = if self.language {
                    page.extend_from_slice(greeting(g).as_bytes());
                    format!(
                        concat!(
                            "<esi:choose>",
                            "<esi:when test=\"$(HTTP_COOKIE{{group}}) == 'beta'\">{unchosen}</esi:when>",
                            "<esi:when test=\"$(QUERY_STRING{{language}}) == 'on'\">{include}</esi:when>",
                            "<esi:otherwise>{unchosen}</esi:otherwise>",
                            "</esi:choose>",
                            "<esi:vars><p class=\"greeting\">Hello, $(QUERY_STRING{{name}}|'guest'), ",
                            "fragment $(QUERY_STRING{{i}}|'{g}'), language $(QUERY_STRING{{language}})</p></esi:vars>",
                        ),
                        unchosen = self.include(g, 1, 0),
                        include = include,
                        g = g,
                    )
                } else {
                    include
                };
                out.push((template.into_bytes(), page));
            }
        }
        out
    }

    /// The include of fragment `k`, of `bytes` after `delay_ms`.
    fn include(&self, k: u64, bytes: u64, delay_ms: u64) -> String {
        let mut src = format!(
            "{}fragment?i={k}&bytes={bytes}&delay_ms={delay_ms}",
            self.base.as_deref().unwrap_or("")
        );
        if let Some(e) = self.encoding {
            src.push_str(&format!("&encoding={e}"));
        }
        if let Some(tag) = &self.tag {
            src.push_str(&format!("&tag={tag}"));
        }
        let onerror = if self.continue_on_error {
            " onerror=\"continue\""
        } else {
            ""
        };
        format!(
            "<esi:include src=\"{}\"{onerror}/>",
            src.replace('&', "&amp;")
        )
    }
}

/// What the `esi:vars` after include `k` says in the page: two defaults (the template's
/// query has no `name` and no `i`) and one value (`language`).
fn greeting(k: u64) -> String {
    format!("<p class=\"greeting\">Hello, guest, fragment {k}, language on</p>")
}

fn coding(query: &Query) -> Result<Option<&'static str>, BadRequest> {
    match query.get("encoding") {
        None | Some("") | Some("identity") => Ok(None),
        Some("gzip") => Ok(Some("gzip")),
        Some("br") => Ok(Some("br")),
        Some(other) => Err(BadRequest(format!(
            "encoding must be gzip or br, got {other:?}"
        ))),
    }
}

/// `len` bytes of template text starting at offset `at` of an endless page of lines.
fn filler(at: u64, len: usize) -> Vec<u8> {
    const LINE: &[u8] = b"<p>Template text from origin.example, around the fragments.</p>\n";
    LINE.iter()
        .copied()
        .cycle()
        .skip((at % LINE.len() as u64) as usize)
        .take(len)
        .collect()
}

/// Fragment `k` of exactly `bytes` bytes.
pub fn fragment_body(k: u64, bytes: u64) -> Vec<u8> {
    let head = format!("<div class=\"fragment\" data-i=\"{k}\">");
    let tail = b"</div>\n";
    let mut out = head.into_bytes();
    let fill = (bytes as usize).saturating_sub(out.len() + tail.len());
    out.extend(std::iter::repeat_n(b'a' + (k % 26) as u8, fill));
    out.extend_from_slice(tail);
    out.truncate(bytes as usize);
    out
}

/// The page a template composes into: its text with every include replaced by its fragment
/// (and, with `language`, every choose by its chosen include and every `esi:vars` by its
/// text).
pub fn composed_page(spec: &TemplateSpec) -> Vec<u8> {
    spec.page_pieces().concat()
}

/// The page `/esi/includes` composes into, given each fragment's body in order.
pub fn includes_page(fragments: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"<p>page</p>".to_vec();
    for fragment in fragments {
        out.push(b'[');
        out.extend_from_slice(fragment);
        out.push(b']');
    }
    out
}

pub(crate) fn includes(query: &Query) -> Response<Body> {
    let mut body = "<p>page</p>".to_string();
    for (_, src) in query.pairs().iter().filter(|(k, _)| k == "src") {
        let src = src.replace('&', "&amp;").replace('"', "&quot;");
        body.push_str(&format!("[<esi:include src=\"{src}\"/>]"));
    }
    let mut resp = typed(full(body), "text/html; charset=utf-8");
    resp.headers_mut().insert(
        HeaderName::from_static("surrogate-control"),
        HeaderValue::from_static("content=\"ESI/1.0\""),
    );
    resp
}

pub(crate) fn template(query: &Query) -> Result<Response<Body>, BadRequest> {
    let spec = TemplateSpec::read(query)?;
    let pieces = spec.pieces();
    // Sent in pieces, so a large template streams.
    let count = pieces.len() as u64;
    let mut pieces = pieces.into_iter();
    let body = super::respond::paced_body(count, Duration::ZERO, false, move |_| {
        Bytes::from(pieces.next().unwrap_or_default())
    });
    let mut resp = typed(body, "text/html; charset=utf-8");
    resp.headers_mut().insert(
        HeaderName::from_static("surrogate-control"),
        HeaderValue::from_static("content=\"ESI/1.0\""),
    );
    Ok(resp)
}

pub(crate) async fn fragment(query: &Query) -> Result<Response<Body>, BadRequest> {
    let k = query_u64(query, "i", 0, 0, MAX_INCLUDES)?;
    let bytes = query_u64(query, "bytes", 16 << 10, 0, MAX_FRAGMENT)?;
    let delay = query_u64(query, "delay_ms", 0, 0, MAX_DELAY_MS)?;
    let encoding = coding(query)?;
    let _waiting = query.get("tag").map(InFlight::enter);
    sleep(Duration::from_millis(delay)).await;
    let plain = fragment_body(k, bytes);
    let resp = match encoding {
        None => typed(full(plain), "text/html; charset=utf-8"),
        Some(token) => {
            let encoding = if token == "br" {
                Encoding::Brotli
            } else {
                Encoding::Gzip
            };
            match compress(encoding, &plain) {
                Ok(coded) => encoded(typed(full(coded), "text/html; charset=utf-8"), encoding),
                Err(e) => return Ok(server_error(&e.to_string())),
            }
        }
    };
    Ok(resp)
}

type Counts = std::collections::HashMap<String, (u64, u64)>;

/// The most fragments of `tag` that were waiting at once, so far.
pub fn most_in_flight(tag: &str) -> u64 {
    counts().get(tag).map_or(0, |(_, most)| *most)
}

fn counts() -> std::sync::MutexGuard<'static, Counts> {
    static COUNTS: std::sync::OnceLock<std::sync::Mutex<Counts>> = std::sync::OnceLock::new();
    COUNTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A fragment of a tag while it waits.
struct InFlight(String);

impl InFlight {
    fn enter(tag: &str) -> InFlight {
        let mut counts = counts();
        let (now, most) = counts.entry(tag.to_string()).or_default();
        *now += 1;
        *most = (*most).max(*now);
        InFlight(tag.to_string())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some((now, _)) = counts().get_mut(&self.0) {
            *now = now.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_and_its_page_are_as_large_as_asked() {
        let spec = TemplateSpec {
            includes: 3,
            bytes: 1000,
            fragment_bytes: 50,
            delay_ms: 10,
            slow: Some((1, 99)),
            encoding: Some("gzip"),
            continue_on_error: true,
            tag: None,
            base: None,
            language: false,
        };
        let pieces = spec.pieces();
        assert_eq!(pieces.len(), 7);
        let text: usize = pieces
            .iter()
            .filter(|p| !p.starts_with(b"<esi"))
            .map(Vec::len)
            .sum();
        assert_eq!(text, 1000);
        assert!(String::from_utf8_lossy(&pieces[3])
            .contains("i=1&amp;bytes=50&amp;delay_ms=99&amp;encoding=gzip"));
        assert_eq!(composed_page(&spec).len(), 1000 + 3 * 50);
        assert_eq!(fragment_body(2, 50).len(), 50);
        assert!(fragment_body(2, 50).starts_with(b"<div class=\"fragment\" data-i=\"2\">"));
    }

    #[test]
    fn the_language_template_places_the_same_fragments_with_a_greeting_each() {
        let plain = TemplateSpec {
            includes: 2,
            bytes: 100,
            fragment_bytes: 40,
            delay_ms: 7,
            slow: None,
            encoding: None,
            continue_on_error: false,
            tag: Some("t".into()),
            base: None,
            language: false,
        };
        let language = TemplateSpec {
            language: true,
            ..plain.clone()
        };
        let pieces = language.pieces();
        assert_eq!(pieces.len(), 5);
        assert_eq!(pieces[0], plain.pieces()[0], "the text is the same");
        let choose = String::from_utf8_lossy(&pieces[3]).to_string();
        assert!(choose.starts_with("<esi:choose>"), "{choose}");
        assert!(
            choose.contains("'on'\"><esi:include src=\"fragment?i=1&amp;bytes=40&amp;delay_ms=7&amp;tag=t\"/></esi:when>"),
            "{choose}"
        );
        assert!(choose.contains("<esi:otherwise><esi:include src=\"fragment?i=1&amp;bytes=1&amp;delay_ms=0&amp;tag=t\"/>"));
        let mut want = plain.page_pieces();
        want[1].extend_from_slice(greeting(0).as_bytes());
        want[3].extend_from_slice(greeting(1).as_bytes());
        assert_eq!(language.page_pieces(), want);
        assert_eq!(composed_page(&plain).len(), 100 + 2 * 40);
    }
}
