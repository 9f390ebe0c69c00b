//! An origin that each test programs per path, for the edge cache's conformance suite: any
//! status and any head (`Cache-Control`, `Expires`, `Date`, `Age`, `ETag`, `Last-Modified`,
//! `Vary`, `Surrogate-Control`, `CDN-Cache-Control`, `Surrogate-Key`…), a body sent whole,
//! paced or cut, and 304s for conditional requests that match its validators. It records every
//! request it gets (method, target, headers), so a test can count fetches and read the
//! conditional headers a revalidation sent.
//!
//! Raw TCP like [`super::Misbehaving`], one request per connection (`Connection: close`).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout};

use super::raw::{close, read_head, request_target, RawServer, HEAD_TIMEOUT};

/// What the origin answers on one path.
#[derive(Debug, Clone)]
pub struct Script {
    pub status: u16,
    /// Sent as they are, in order (`Content-Length` and `Connection` are the origin's).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Answer 304 when the request's `If-None-Match` names the `ETag` header given here
    /// (weak comparison), or, without one, its `If-Modified-Since` is not before the
    /// `Last-Modified` given here.
    pub revalidates: bool,
    /// Headers of a 304 besides the validators: by default the script's own, less those
    /// that describe a body.
    pub not_modified_headers: Option<Vec<(String, String)>>,
    /// Wait this long before the head.
    pub head_delay: Duration,
    /// Send the body in pieces of this size, this long apart.
    pub pace: Option<(usize, Duration)>,
    /// Declare the whole body, send this many bytes of it, and close.
    pub cut_after: Option<usize>,
    /// No `Content-Length`: the body ends with the connection.
    pub unframed: bool,
    /// The body reflects the request, as a careless origin does: `{target}` becomes the
    /// request target as sent, `{decoded}` the same percent-decoded, `{cookie}` and
    /// `{authorization}` those request headers (every line, joined with `; `).
    pub reflects: bool,
}

impl Script {
    /// A 200 with these headers and body, sent whole.
    pub fn ok(headers: &[(&str, &str)], body: &[u8]) -> Script {
        Script::status(200, headers, body)
    }

    /// A 200 HTML page.
    pub fn html(body: &str) -> Script {
        Script::ok(&[("content-type", "text/html")], body.as_bytes())
    }

    /// A 200 HTML page that asks to be composed (`Surrogate-Control: content="ESI/1.0"`).
    pub fn esi_template(body: &str) -> Script {
        Script::ok(
            &[
                ("content-type", "text/html"),
                ("surrogate-control", "content=\"ESI/1.0\""),
            ],
            body.as_bytes(),
        )
    }

    pub fn status(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Script {
        Script {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.to_vec(),
            revalidates: false,
            not_modified_headers: None,
            head_delay: Duration::ZERO,
            pace: None,
            cut_after: None,
            unframed: false,
            reflects: false,
        }
    }

    /// Answers 304 to conditionals that match its validators.
    pub fn revalidating(mut self) -> Script {
        self.revalidates = true;
        self
    }

    pub fn with_304_headers(mut self, headers: &[(&str, &str)]) -> Script {
        self.not_modified_headers = Some(
            headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        );
        self
    }

    pub fn paced(mut self, piece: usize, every: Duration) -> Script {
        self.pace = Some((piece.max(1), every));
        self
    }

    pub fn cut_after(mut self, bytes: usize) -> Script {
        self.cut_after = Some(bytes);
        self
    }

    pub fn delayed(mut self, delay: Duration) -> Script {
        self.head_delay = delay;
        self
    }

    /// Reflects the request into the body ([`Script::reflects`]).
    pub fn reflecting(mut self) -> Script {
        self.reflects = true;
        self
    }

    pub fn unframed(mut self) -> Script {
        self.unframed = true;
        self
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A request the origin got.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub target: String,
    /// Lowercase names, in order.
    pub headers: Vec<(String, String)>,
    pub at: Instant,
    /// Whether it was answered 304.
    pub not_modified: bool,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    scripts: HashMap<String, Script>,
    seen: Vec<Seen>,
}

type Shared = Arc<Mutex<State>>;

/// The scripted origin on a free 127.0.0.1 port; stopped on drop. An unscripted path is a
/// 404 with `Cache-Control: no-store`.
pub struct Scripted {
    pub addr: SocketAddr,
    state: Shared,
    _server: RawServer,
}

impl Scripted {
    pub fn start() -> io::Result<Scripted> {
        let state = Shared::default();
        let shared = state.clone();
        let server = RawServer::start("scripted-origin", move |stream| {
            answer(stream, shared.clone())
        })?;
        Ok(Scripted {
            addr: server.addr,
            state,
            _server: server,
        })
    }

    /// Programs `target` (a path, with or without a query: an exact target wins over its
    /// path). Replaces what it answered before.
    pub fn script(&self, target: &str, script: Script) {
        lock(&self.state).scripts.insert(target.to_string(), script);
    }

    /// The requests for `path` (a target's path part) so far, oldest first.
    pub fn seen(&self, path: &str) -> Vec<Seen> {
        lock(&self.state)
            .seen
            .iter()
            .filter(|s| s.target.split('?').next() == Some(path))
            .cloned()
            .collect()
    }

    pub fn count(&self, path: &str) -> usize {
        self.seen(path).len()
    }
}

fn lock(state: &Shared) -> std::sync::MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn answer(mut stream: TcpStream, state: Shared) {
    let head = match timeout(HEAD_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(Some(head))) => head,
        _ => return,
    };
    let text = String::from_utf8_lossy(&head).into_owned();
    let target = request_target(&text);
    let method = text.split(' ').next().unwrap_or("").to_string();
    let headers: Vec<(String, String)> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let script = {
        let state = lock(&state);
        let path = target.split('?').next().unwrap_or("");
        state
            .scripts
            .get(&target)
            .or_else(|| state.scripts.get(path))
            .cloned()
    };
    let script = script.unwrap_or_else(|| {
        Script::status(404, &[("cache-control", "no-store")], b"not scripted\n")
    });
    let mut seen = Seen {
        method: method.clone(),
        target,
        headers,
        at: Instant::now(),
        not_modified: false,
    };
    seen.not_modified = script.revalidates && matches_validators(&script, &seen);
    let not_modified = seen.not_modified;
    let reflected = script.reflects.then(|| reflect(&script.body, &seen));
    lock(&state).seen.push(seen);

    sleep(script.head_delay).await;
    let (status, fields, body): (u16, Vec<(String, String)>, &[u8]) = if not_modified {
        let mut fields = script.not_modified_headers.clone().unwrap_or_else(|| {
            script
                .headers
                .iter()
                .filter(|(n, _)| !n.to_ascii_lowercase().starts_with("content-"))
                .cloned()
                .collect()
        });
        for name in ["etag", "last-modified"] {
            let present = fields.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
            if let (false, Some(v)) = (present, script.header(name)) {
                fields.push((name.to_string(), v.to_string()));
            }
        }
        (304, fields, b"")
    } else {
        let body = reflected.as_deref().unwrap_or(&script.body[..]);
        (script.status, script.headers.clone(), body)
    };
    let bodiless = method == "HEAD" || status == 304 || status == 204 || status < 200;
    let mut wire = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in &fields {
        wire.push_str(&format!("{name}: {value}\r\n"));
    }
    // A HEAD describes the framed body even where the GET's ends with the connection.
    let framed = !script.unframed || bodiless;
    if framed && status != 304 && status != 204 {
        wire.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    wire.push_str("connection: close\r\n\r\n");
    if stream.write_all(wire.as_bytes()).await.is_err() {
        return;
    }
    if !bodiless {
        let sent = script.cut_after.map_or(body.len(), |n| n.min(body.len()));
        let body = &body[..sent];
        match script.pace {
            Some((piece, every)) => {
                for (i, chunk) in body.chunks(piece).enumerate() {
                    if i > 0 {
                        sleep(every).await;
                    }
                    if stream.write_all(chunk).await.is_err() {
                        return;
                    }
                }
            }
            None => {
                if stream.write_all(body).await.is_err() {
                    return;
                }
            }
        }
    }
    close(stream).await;
}

/// `body` with the request's target and credentials in place of their placeholders.
fn reflect(body: &[u8], seen: &Seen) -> Vec<u8> {
    let all = |name: &str| -> String {
        seen.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    };
    String::from_utf8_lossy(body)
        .replace("{target}", &seen.target)
        // `%XX` escapes undone, and `+` read as a space, as a form-reading origin does.
        .replace(
            "{decoded}",
            &percent_encoding::percent_decode_str(&seen.target.replace('+', " "))
                .decode_utf8_lossy(),
        )
        .replace("{cookie}", &all("cookie"))
        .replace("{authorization}", &all("authorization"))
        .into_bytes()
}

/// RFC 9110 §13.1.2 and §13.1.3 as an origin applies them to its one representation.
fn matches_validators(script: &Script, seen: &Seen) -> bool {
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_string();
    if let Some(inm) = seen.header("if-none-match") {
        let Some(etag) = script.header("etag") else {
            return false;
        };
        return inm
            .split(',')
            .any(|t| t.trim() == "*" || opaque(t) == opaque(etag));
    }
    match (
        seen.header("if-modified-since"),
        script.header("last-modified"),
    ) {
        (Some(since), Some(modified)) => {
            match (
                httpdate::parse_http_date(since),
                httpdate::parse_http_date(modified),
            ) {
                (Ok(since), Ok(modified)) => modified <= since,
                _ => false,
            }
        }
        _ => false,
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        404 => "Not Found",
        410 => "Gone",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
