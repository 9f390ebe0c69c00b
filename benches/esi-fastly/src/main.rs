//! Benchmark peer only: a page composed by fastly/esi 0.7.2 (the ESI crate for Fastly
//! Compute) in its streaming mode, the way its README shows it, against the backend `origin`.
//!
//! The client request goes to `origin` as it came. A response that says
//! `Surrogate-Control: content="ESI/1.0"` is composed; any other is passed through. Composing
//! is what `Processor::process_response_streaming` does — commit the template's headers with
//! `stream_to_client`, run `process_stream` from the template's body into that stream (every
//! include dispatched as soon as it is parsed, with `send_async`, and written in document
//! order as its turn comes), then `finish` — with two differences, both because the crate
//! offers no hook for them:
//!
//! - esi 0.7.2 resolves a `src` only if it is absolute or starts with `/`; a relative one
//!   such as the dev origin's `fragment?i=0&...` fails `Url::parse` ("relative URL without a
//!   base") and with it the whole page. So the template is read through [`ResolveRelative`],
//!   which writes each relative `src`/`alt` of an `<esi:include>`/`<esi:eval>` tag as the path
//!   it names relative to the template's (`/esi/template` + `fragment?…` = `/esi/fragment?…`),
//!   and `process_stream` is called directly with it (`process_response_streaming` takes a
//!   `Response` and reads its body itself).
//! - A page that fails after its headers were sent is aborted (the stream dropped unfinished),
//!   not finished as if it were whole; before that, the client gets a 502 with the reason.
//!   (Nor are the crate's stdout warnings about `$add_header` and the like printed.)
//!
//! Template and fragments are asked for with gzip decoded on arrival (fastly 0.12 decodes
//! only gzip: a brotli-coded fragment would be inserted coded).

use std::io::{self, BufRead, Read};

use esi::{Configuration, PendingFragmentContent, Processor};
use fastly::http::{header, StatusCode};
use fastly::{Request, Response};

const BACKEND: &str = "origin";

fn main() {
    if let Err(reason) = handle(Request::from_client()) {
        Response::from_status(StatusCode::BAD_GATEWAY)
            .with_body_text_plain(&format!("{reason}\n"))
            .send_to_client();
    }
}

/// Answers the client; `Err` is a reason for a 502, only ever before any header was sent.
fn handle(req: Request) -> Result<(), String> {
    let meta = req.clone_without_body();
    let mut beresp = req
        .with_auto_decompress_gzip(true)
        .send(BACKEND)
        .map_err(|e| format!("origin: {e}"))?;

    let is_esi = beresp
        .get_header_str_lossy("surrogate-control")
        .is_some_and(|v| v.contains("ESI/1.0"));
    if !is_esi {
        beresp.send_to_client();
        return Ok(());
    }

    let mut head = beresp.clone_without_body();
    for name in [header::CONTENT_LENGTH, header::ETAG] {
        head.remove_header(name);
    }
    head.remove_header("surrogate-control");
    let template = ResolveRelative::new(beresp.take_body(), meta.get_path());

    let dispatch: &dyn Fn(Request, Option<u32>) -> esi::Result<PendingFragmentContent> =
        &|fragment, _maxwait| {
            Ok(fragment
                .with_auto_decompress_gzip(true)
                .send_async(BACKEND)?
                .into())
        };
    let mut processor = Processor::new(Some(meta), Configuration::default());
    let mut out = head.stream_to_client();
    match processor.process_stream(template, &mut out, Some(dispatch), None) {
        Ok(()) => {
            if let Err(e) = out.finish() {
                eprintln!("esi-fastly: finishing the page: {e}");
            }
        }
        Err(e) => {
            eprintln!("esi-fastly: page aborted: {e}");
            drop(out);
        }
    }
    Ok(())
}

/// The ESI tags whose `src` and `alt` name a fragment.
const TAGS: [&[u8]; 2] = [b"<esi:include", b"<esi:eval"];
/// A tag longer than this is passed through as it is.
const MAX_TAG: usize = 16 << 10;
/// How much of the template is read at once (esi's own default chunk).
const CHUNK: usize = 16 << 10;

/// A template read with every relative `src`/`alt` of its `<esi:include>` and `<esi:eval>`
/// tags made a path from the root, as a relative reference resolves against the template's
/// own path: `?q` is the template's path, `x` its directory's `x`; absolute URLs, paths from
/// the root, fragments (`#`) and expressions (`$(…)`) are left as they are. Everything else
/// passes through byte for byte, as soon as it is read, but an unfinished tag waits for its
/// end (up to [`MAX_TAG`] bytes).
struct ResolveRelative<R> {
    inner: R,
    /// The template's directory, HTML-escaped as the crate unescapes `src`.
    dir: String,
    /// The template's path, escaped likewise.
    path: String,
    /// Read and not yet looked at (at most an unfinished tag).
    pending: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
    eof: bool,
}

enum Tag {
    No,
    Partial,
    Yes,
}

impl<R: Read> ResolveRelative<R> {
    fn new(inner: R, template_path: &str) -> Self {
        let dir = template_path
            .rfind('/')
            .map_or("/", |k| &template_path[..=k]);
        ResolveRelative {
            inner,
            dir: dir.replace('&', "&amp;"),
            path: template_path.replace('&', "&amp;"),
            pending: Vec::new(),
            out: Vec::new(),
            pos: 0,
            eof: false,
        }
    }

    /// Reads once more from the template and moves what can be decided to `out`.
    fn refill(&mut self) -> io::Result<()> {
        self.out.clear();
        self.pos = 0;
        if !self.eof {
            let start = self.pending.len();
            self.pending.resize(start + CHUNK, 0);
            let read = self.inner.read(&mut self.pending[start..]);
            let n = *read.as_ref().unwrap_or(&0);
            self.pending.truncate(start + n);
            read?;
            self.eof = n == 0;
        }
        self.scan();
        Ok(())
    }

    fn scan(&mut self) {
        let p = std::mem::take(&mut self.pending);
        let (mut i, mut done) = (0, 0);
        while i < p.len() {
            let Some(k) = p[i..].iter().position(|&b| b == b'<') else {
                i = p.len();
                break;
            };
            i += k;
            let rest = &p[i..];
            match tag_at(rest) {
                Tag::No => i += 1,
                Tag::Partial if self.eof => i = p.len(),
                Tag::Partial => break,
                Tag::Yes => match tag_end(rest) {
                    Some(end) => {
                        self.out.extend_from_slice(&p[done..i]);
                        self.rewrite(&rest[..end]);
                        i += end;
                        done = i;
                    }
                    None if !self.eof && rest.len() < MAX_TAG => break,
                    None => i += 1,
                },
            }
        }
        self.out.extend_from_slice(&p[done..i]);
        self.pending = p;
        self.pending.drain(..i);
    }

    /// Appends `tag` to `out` with its relative `src` and `alt` made paths from the root.
    fn rewrite(&mut self, tag: &[u8]) {
        let ws = |b: u8| b.is_ascii_whitespace();
        let mut j = tag
            .iter()
            .position(|&b| ws(b) || b == b'/' || b == b'>')
            .unwrap_or(tag.len());
        let mut copied = 0;
        loop {
            while j < tag.len() && ws(tag[j]) {
                j += 1;
            }
            if j >= tag.len() || tag[j] == b'/' || tag[j] == b'>' {
                break;
            }
            let name_start = j;
            while j < tag.len() && !(ws(tag[j]) || matches!(tag[j], b'=' | b'>' | b'/')) {
                j += 1;
            }
            let name = &tag[name_start..j];
            while j < tag.len() && ws(tag[j]) {
                j += 1;
            }
            if j >= tag.len() || tag[j] != b'=' {
                continue;
            }
            j += 1;
            while j < tag.len() && ws(tag[j]) {
                j += 1;
            }
            match tag.get(j) {
                Some(&q @ (b'"' | b'\'')) => {
                    let start = j + 1;
                    let end = tag[start..]
                        .iter()
                        .position(|&b| b == q)
                        .map_or(tag.len(), |k| start + k);
                    if name == b"src" || name == b"alt" {
                        if let Some(prefix) = self.prefix_for(&tag[start..end]) {
                            let prefix = prefix.as_bytes().to_vec();
                            self.out.extend_from_slice(&tag[copied..start]);
                            self.out.extend_from_slice(&prefix);
                            copied = start;
                        }
                    }
                    j = end + 1;
                }
                _ => {
                    while j < tag.len() && !ws(tag[j]) && tag[j] != b'>' {
                        j += 1;
                    }
                }
            }
        }
        self.out.extend_from_slice(&tag[copied..]);
    }

    /// What goes before `value` to make it a path from the root, if anything.
    fn prefix_for(&self, value: &[u8]) -> Option<&str> {
        match value.first()? {
            b'/' | b'#' | b'$' => None,
            _ if value.windows(2).any(|w| w == b"$(") || has_scheme(value) => None,
            b'?' => Some(&self.path),
            _ => Some(&self.dir),
        }
    }
}

/// Whether `s` starts with an RFC 3986 scheme and its `:`.
fn has_scheme(s: &[u8]) -> bool {
    match s
        .iter()
        .position(|&b| matches!(b, b':' | b'/' | b'?' | b'#'))
    {
        Some(k) if s[k] == b':' && k > 0 => {
            s[0].is_ascii_alphabetic()
                && s[..k]
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        }
        _ => false,
    }
}

/// Whether `rest` (which starts with `<`) starts one of [`TAGS`], or may once more is read.
fn tag_at(rest: &[u8]) -> Tag {
    let mut partial = false;
    for tag in TAGS {
        if rest.len() > tag.len() {
            let next = rest[tag.len()];
            if rest.starts_with(tag) && (next.is_ascii_whitespace() || matches!(next, b'/' | b'>'))
            {
                return Tag::Yes;
            }
        } else if tag.starts_with(rest) {
            partial = true;
        }
    }
    if partial {
        Tag::Partial
    } else {
        Tag::No
    }
}

/// The length of the tag `rest` starts with, through its `>` (outside quotes).
fn tag_end(rest: &[u8]) -> Option<usize> {
    let mut quote = None;
    for (j, &b) in rest.iter().enumerate() {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'>' => return Some(j + 1),
            None => {}
        }
    }
    None
}

impl<R: Read> BufRead for ResolveRelative<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos == self.out.len() && !(self.eof && self.pending.is_empty()) {
            self.refill()?;
        }
        Ok(&self.out[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.out.len());
    }
}

impl<R: Read> Read for ResolveRelative<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(template: &[u8], path: &str, step: usize) -> Vec<u8> {
        struct Steps<'a>(&'a [u8], usize);
        impl Read for Steps<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(self.1).min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut out = Vec::new();
        ResolveRelative::new(Steps(template, step), path)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn relative_includes_become_paths_from_the_root_however_the_template_is_split() {
        let template = b"<p>a<b</p><esi:include src=\"fragment?i=0&amp;b=1\"/>x<esi:include \
            alt='?z' src=\"/abs\"/><esi:eval src=\"http://h/x\" onerror=\"continue\"/>\
            <esi:includes src=\"no\"/><esi:include src=\"$(X)/y\"/><esi:inc";
        let want = b"<p>a<b</p><esi:include src=\"/esi/fragment?i=0&amp;b=1\"/>x<esi:include \
            alt='/esi/template?z' src=\"/abs\"/><esi:eval src=\"http://h/x\" onerror=\"continue\"/>\
            <esi:includes src=\"no\"/><esi:include src=\"$(X)/y\"/><esi:inc";
        for step in 1..template.len() + 1 {
            let got = resolve(template, "/esi/template", step);
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(want),
                "step {step}"
            );
        }
    }
}
