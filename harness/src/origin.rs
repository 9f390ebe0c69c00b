//! The dev origin: a small HTTP/1.1 server with httpbin-style endpoints that produce the
//! responses the edge app has to handle well — huge bodies, slow drips, server-sent events,
//! compressed HTML, truncated bodies and odd headers — all deterministic, so tests can
//! compare what came through the proxy against what the origin sent.

pub mod asset;
pub(crate) mod compress;
pub mod esi;
pub mod esi_lang;
mod flush;
mod html;
mod pattern;
mod prose;
pub mod release;
mod respond;
mod text;
mod validate;

use std::convert::Infallible;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::sleep;

pub use compress::sample_document;
pub use html::{html_page, HTML_ORIGIN_HOST};
pub use pattern::pattern_bytes;
pub use prose::text_bytes;
pub use validate::etag as dev_etag;

use compress::Encoding;
use flush::{FlushSignal, FlushTracked};
use pattern::{DeliberateReset, PatternBody};
use prose::TextBody;
use respond::{encoded, full, json, octet_stream, paced_body, server_error, text, typed, Body};
use serde::Serialize;
use text::{parse_secs, parse_u64, query_secs, query_u64, BadRequest, Members, Query};

/// Sent as `Server` on every response, so a test can tell origin headers from edge ones.
pub const SERVER_NAME: &str = "firstbyte-dev-origin";
/// Largest `n` accepted by `/bytes`, `/stream-bytes`, `/reset` and `/text`: 16 GiB.
pub const MAX_BYTES: u64 = 16 << 30;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

const BYTES_FRAME: usize = 64 * 1024;
const DEFAULT_STREAM_CHUNK: u64 = 10 * 1024;
const DEFAULT_HTML_CHUNK: u64 = 1024;
const DEFAULT_TEXT_CHUNK: u64 = 64 * 1024;
const MAX_CHUNK: u64 = 16 << 20;
const MAX_DELAY_SECS: f64 = 60.0;
const MAX_DRIP_BYTES: u64 = 10 << 20;
const MAX_DRIP_SECS: f64 = 3600.0;
const MAX_EVENTS: u64 = 100_000;
const MAX_INTERVAL_MS: u64 = 60_000;

/// Serves the origin on `listener` until the future is dropped: one task per connection,
/// HTTP/1.1 with keep-alive.
pub async fn serve(listener: TcpListener) -> io::Result<()> {
    serve_counted(listener, Arc::default()).await
}

/// [`serve`], counting every request in `requests`: how tests see whether a response came
/// from the origin or from the edge's cache.
pub async fn serve_counted(listener: TcpListener, requests: Arc<AtomicU64>) -> io::Result<()> {
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                tokio::spawn(serve_connection(stream, requests.clone()));
            }
            Err(e) => {
                // Usually out of file descriptors under a load test. Backing off lets
                // in-flight connections finish and free some, instead of killing the origin.
                eprintln!("origin: accept failed: {e}");
                sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn serve_connection(stream: TcpStream, requests: Arc<AtomicU64>) {
    // Nagle would hold back the one-byte /drip frames and small SSE events; failing to
    // disable it only costs latency, so it is not worth dropping the connection.
    let _ = stream.set_nodelay(true);
    let signal = Arc::new(FlushSignal::default());
    let io = TokioIo::new(FlushTracked::new(stream, signal.clone()));
    let service = service_fn(move |req| {
        requests.fetch_add(1, Ordering::SeqCst);
        handle(req, signal.clone())
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .keep_alive(true)
        .serve_connection(io, service);
    if let Err(e) = conn.await {
        if !is_expected(&e) {
            eprintln!("origin: connection error: {e}");
        }
    }
}

/// Errors that are part of normal life for a test origin and would only be noise.
fn is_expected(err: &hyper::Error) -> bool {
    if err.is_incomplete_message() || err.is_canceled() || err.is_closed() || err.is_timeout() {
        return true;
    }
    let mut source = std::error::Error::source(err);
    while let Some(e) = source {
        if e.is::<DeliberateReset>() {
            return true;
        }
        if let Some(io) = e.downcast_ref::<io::Error>() {
            if matches!(
                io.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            ) {
                return true;
            }
        }
        source = e.source();
    }
    false
}

async fn handle(
    req: Request<Incoming>,
    signal: Arc<FlushSignal>,
) -> Result<Response<Body>, Infallible> {
    let readable = matches!(*req.method(), Method::GET | Method::HEAD);
    let validated = (readable && validate::validatable(req.uri().path())).then(|| {
        let target = req
            .uri()
            .path_and_query()
            .map_or_else(String::new, |p| p.as_str().to_string());
        let query = Query::parse(req.uri().query());
        (target, query, validate::Conditional::read(req.headers()))
    });
    // A validatable resource answers after `delay_ms` (at most 10 s), 304s included: whether
    // a cache in front collapses revalidations shows only against a slow origin.
    let delay = validated
        .as_ref()
        .and_then(|(_, query, _)| query.get("delay_ms"))
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(ms) = delay {
        sleep(Duration::from_millis(ms.min(10_000))).await;
    }
    let mut resp = match route(req, signal).await {
        Ok(resp) => resp,
        Err(BadRequest(msg)) => text(StatusCode::BAD_REQUEST, format!("bad request: {msg}\n")),
    };
    if let (Some((target, query, conditional)), StatusCode::OK) = (&validated, resp.status()) {
        resp = validate::apply(resp, target, query, conditional);
    }
    resp.headers_mut()
        .insert(header::SERVER, HeaderValue::from_static(SERVER_NAME));
    Ok(resp)
}

enum Route<'a> {
    Bytes(&'a str),
    StreamBytes(&'a str),
    Reset(&'a str),
    Text(&'a str),
    Drip,
    Delay(&'a str),
    Status(&'a str),
    Compressed(Encoding),
    Html,
    Sse,
    Headers,
    ResponseHeaders,
    Anything,
    EsiTemplate,
    EsiIncludes,
    EsiFragment,
    Asset(&'a str),
    Release(&'a str),
    EsiLangTemplate,
    EsiLangFragment,
}

fn parse_route(path: &str) -> Option<Route<'_>> {
    let path = path.strip_prefix('/')?;
    let (head, arg) = match path.split_once('/') {
        Some((head, arg)) => (head, Some(arg)),
        None => (path, None),
    };
    // Parameterised endpoints take exactly one segment; anything deeper is a 404.
    let one = arg.filter(|a| !a.is_empty() && !a.contains('/'));
    Some(match (head, arg) {
        ("anything", _) => Route::Anything,
        ("bytes", Some(_)) => Route::Bytes(one?),
        ("stream-bytes", Some(_)) => Route::StreamBytes(one?),
        ("reset", Some(_)) => Route::Reset(one?),
        ("text", Some(_)) => Route::Text(one?),
        ("delay", Some(_)) => Route::Delay(one?),
        ("status", Some(_)) => Route::Status(one?),
        ("drip", None) => Route::Drip,
        ("gzip", None) => Route::Compressed(Encoding::Gzip),
        ("brotli", None) => Route::Compressed(Encoding::Brotli),
        ("html", None) => Route::Html,
        ("sse", None) => Route::Sse,
        ("headers", None) => Route::Headers,
        ("response-headers", None) => Route::ResponseHeaders,
        ("esi", Some("template")) => Route::EsiTemplate,
        ("esi", Some("includes")) => Route::EsiIncludes,
        ("esi", Some("fragment")) => Route::EsiFragment,
        ("asset", Some(_)) => Route::Asset(one?),
        ("release", Some(_)) => Route::Release(one?),
        ("esi", Some("lang-template")) => Route::EsiLangTemplate,
        ("esi", Some("lang-fragment")) => Route::EsiLangFragment,
        _ => return None,
    })
}

async fn route(
    req: Request<Incoming>,
    signal: Arc<FlushSignal>,
) -> Result<Response<Body>, BadRequest> {
    let path = req.uri().path().to_owned();
    let query = Query::parse(req.uri().query());
    let Some(route) = parse_route(&path) else {
        return Ok(text(StatusCode::NOT_FOUND, format!("not found: {path}\n")));
    };
    let readable = matches!(*req.method(), Method::GET | Method::HEAD);
    if !readable && !matches!(route, Route::Anything) {
        let mut resp = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Ok(resp);
    }

    // HEAD needs no special casing: hyper sends the headers and never polls the body.
    Ok(match route {
        Route::Bytes(n) => {
            let n = parse_u64("n", n, 0, MAX_BYTES)?;
            octet_stream(PatternBody::sized(n, BYTES_FRAME).boxed_unsync())
        }
        Route::StreamBytes(n) => {
            let n = parse_u64("n", n, 0, MAX_BYTES)?;
            let chunk = query_u64(&query, "chunk_size", DEFAULT_STREAM_CHUNK, 1, MAX_CHUNK)?;
            match query.get("interval_ms") {
                // Paced: a chunk every `interval_ms`, the first at once.
                Some(_) => {
                    let interval = query_u64(&query, "interval_ms", 0, 0, MAX_INTERVAL_MS)?;
                    let pieces = n.div_ceil(chunk);
                    octet_stream(paced_body(
                        pieces,
                        Duration::from_millis(interval),
                        false,
                        move |i| {
                            let offset = i * chunk;
                            let mut piece = vec![0u8; chunk.min(n - offset) as usize];
                            pattern_bytes(offset, &mut piece);
                            Bytes::from(piece)
                        },
                    ))
                }
                None => octet_stream(PatternBody::chunked(n, chunk as usize).boxed_unsync()),
            }
        }
        Route::Reset(n) => {
            let n = parse_u64("n", n, 0, MAX_BYTES)?;
            // `first_only=<tag>`: only the first request with this tag is cut; later ones get
            // the same bytes complete (a cache test asks what happens after a cut).
            if let Some(tag) = query.get("first_only") {
                if !first_cut(tag) {
                    let body = PatternBody::chunked(n, BYTES_FRAME).boxed_unsync();
                    return Ok(octet_stream(body));
                }
            }
            let pause = query_u64(&query, "pause_ms", 0, 0, MAX_INTERVAL_MS)?;
            let body = PatternBody::reset(n, BYTES_FRAME, Duration::from_millis(pause), signal);
            octet_stream(body.boxed_unsync())
        }
        Route::Text(n) => text_body(n, &query)?,
        Route::Drip => drip(&query).await?,
        Route::Delay(secs) => {
            let secs = parse_secs("seconds", secs)?.min(MAX_DELAY_SECS);
            sleep(Duration::from_secs_f64(secs)).await;
            #[derive(Serialize)]
            struct Delay {
                delay: f64,
            }
            json(&Delay { delay: secs })
        }
        Route::Status(code) => status(code)?,
        Route::Compressed(encoding) => match compress::compressed_sample(encoding) {
            Ok(bytes) => encoded(
                typed(full(Bytes::from_static(bytes)), "application/json"),
                encoding,
            ),
            Err(e) => server_error(e),
        },
        Route::Html => html(&query)?,
        Route::Sse => sse(&query)?,
        Route::Headers => json(&header_members(req.headers())),
        Route::ResponseHeaders => response_headers(&query)?,
        Route::Anything => anything(req, &query).await,
        Route::Asset("releases.html") => typed(
            full(asset::page(
                query.get("scripts").unwrap_or(""),
                query.get("pause"),
            )),
            "text/html; charset=utf-8",
        ),
        Route::Asset(name) => release(name, &query)?,
        Route::Release(name) => release::release_file(name).await,
        Route::EsiTemplate => esi::template(&query)?,
        Route::EsiIncludes => esi::includes(&query),
        Route::EsiFragment => esi::fragment(&query).await?,
        Route::EsiLangTemplate => esi_lang::template(&query)?,
        Route::EsiLangFragment => esi_lang::fragment(&query).await?,
    })
}

/// Whether this is the first request to use `tag` (process-wide, so tags must be unique).
fn first_cut(tag: &str) -> bool {
    static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut seen = SEEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if seen.iter().any(|t| t == tag) {
        return false;
    }
    seen.push(tag.to_string());
    true
}

/// Deterministic English-like text (see `text_bytes`), sent with `Content-Length` or
/// compressed on the fly, in frames of `chunk_size` plain bytes.
fn text_body(n: &str, query: &Query) -> Result<Response<Body>, BadRequest> {
    let n = parse_u64("n", n, 0, MAX_BYTES)?;
    let chunk = query_u64(query, "chunk_size", DEFAULT_TEXT_CHUNK, 1, MAX_CHUNK)?;
    let encoding = match query.get("encoding") {
        None | Some("") | Some("identity") => None,
        Some("gzip") => Some(Encoding::Gzip),
        Some("deflate") => Some(Encoding::Deflate),
        Some("br") => Some(Encoding::Brotli),
        Some(other) => {
            return Err(BadRequest(format!(
                "encoding must be gzip, deflate, br or identity, got {other:?}"
            )))
        }
    };
    let body = TextBody::new(n, chunk as usize, encoding).boxed_unsync();
    let resp = typed(body, "text/plain; charset=utf-8");
    Ok(match encoding {
        Some(encoding) => encoded(resp, encoding),
        None => resp,
    })
}

/// httpbin's /drip: the delay comes before the response headers, then the bytes are
/// spread evenly over `duration`, with the stream ending one interval after the last byte.
async fn drip(query: &Query) -> Result<Response<Body>, BadRequest> {
    let numbytes = query_u64(query, "numbytes", 10, 0, MAX_DRIP_BYTES)?;
    let duration = query_secs(query, "duration", 2.0)?;
    if duration > MAX_DRIP_SECS {
        return Err(BadRequest(format!(
            "duration must be at most {MAX_DRIP_SECS} seconds, got {duration}"
        )));
    }
    let delay = query_secs(query, "delay", 0.0)?.min(MAX_DELAY_SECS);
    // httpbin's `code`: the status to answer with (the body drips all the same).
    let code = query_u64(query, "code", 200, 200, 599)?;
    let status = u16::try_from(code)
        .ok()
        .and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(StatusCode::OK);
    sleep(Duration::from_secs_f64(delay)).await;
    let body = if numbytes == 0 {
        full(Bytes::new())
    } else {
        let interval = Duration::from_secs_f64(duration / numbytes as f64);
        paced_body(numbytes, interval, true, |_| Bytes::from_static(b"*"))
    };
    let mut resp = octet_stream(body);
    *resp.status_mut() = status;
    // httpbin declares the length of what it drips; `declared=false` (the default here)
    // sends it chunked instead, a length unknown until the end.
    if query.get("declared").is_some_and(|v| v == "true") {
        resp.headers_mut()
            .insert(header::CONTENT_LENGTH, numbytes.into());
    }
    Ok(resp)
}

fn status(code: &str) -> Result<Response<Body>, BadRequest> {
    // 1xx would need hyper's informational-response machinery and no test needs it.
    let range = "code must be a status between 200 and 599 (1xx is not supported)";
    let status = match code.parse::<u16>().map(StatusCode::from_u16) {
        Ok(Ok(status)) if (200..=599).contains(&status.as_u16()) => status,
        _ => return Err(BadRequest(format!("{range}, got {code:?}"))),
    };
    let mut resp = if matches!(status, StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED) {
        Response::new(full(Bytes::new()))
    } else {
        let reason = status.canonical_reason().unwrap_or("");
        text(status, format!("{} {reason}\n", status.as_u16()))
    };
    *resp.status_mut() = status;
    Ok(resp)
}

fn html(query: &Query) -> Result<Response<Body>, BadRequest> {
    let encoding = match query.get("encoding") {
        None | Some("") | Some("identity") => None,
        Some("gzip") => Some(Encoding::Gzip),
        Some("br") => Some(Encoding::Brotli),
        Some(other) => {
            return Err(BadRequest(format!(
                "encoding must be gzip, br or identity, got {other:?}"
            )))
        }
    };
    let page: &'static [u8] = match encoding {
        None => html_page().as_bytes(),
        Some(encoding) => match compress::compressed_html(encoding) {
            Ok(bytes) => bytes,
            Err(e) => return Ok(server_error(e)),
        },
    };
    let body = if query.get("chunk_size").is_none() && query.get("interval_ms").is_none() {
        full(Bytes::from_static(page))
    } else {
        let chunk = query_u64(query, "chunk_size", DEFAULT_HTML_CHUNK, 1, MAX_CHUNK)? as usize;
        let interval = query_u64(query, "interval_ms", 0, 0, MAX_INTERVAL_MS)?;
        let frames = page.len().div_ceil(chunk) as u64;
        paced_body(frames, Duration::from_millis(interval), false, move |i| {
            let start = (i as usize).saturating_mul(chunk).min(page.len());
            let end = start.saturating_add(chunk).min(page.len());
            Bytes::from_static(&page[start..end])
        })
    };
    let resp = typed(body, "text/html; charset=utf-8");
    Ok(match encoding {
        Some(encoding) => encoded(resp, encoding),
        None => resp,
    })
}

/// Events are numbered from 1; `sent_at_ms` is stamped when the event is written, so a
/// client can measure how long the proxy held it.
fn sse(query: &Query) -> Result<Response<Body>, BadRequest> {
    let events = query_u64(query, "events", 5, 0, MAX_EVENTS)?;
    let interval = query_u64(query, "interval_ms", 500, 0, MAX_INTERVAL_MS)?;
    let body = paced_body(events, Duration::from_millis(interval), false, |i| {
        let id = i + 1;
        Bytes::from(format!(
            "id: {id}\ndata: event {id} sent_at_ms={}\n\n",
            unix_millis()
        ))
    });
    let mut resp = typed(body, "text/event-stream");
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(resp)
}

fn response_headers(query: &Query) -> Result<Response<Body>, BadRequest> {
    let mut resp = text(StatusCode::OK, "ok");
    add_headers(&mut resp, query.pairs().iter())?;
    Ok(resp)
}

/// A release of `/asset/app.v<N>.js` (see [`asset`]); `bytes` sets its shared length, and
/// every other query pair is a response header, as `/response-headers` takes them.
fn release(name: &str, query: &Query) -> Result<Response<Body>, BadRequest> {
    let version =
        asset::version(name).ok_or_else(|| BadRequest(format!("{name:?} is not app.v<N>.js")))?;
    let len = query_u64(query, "bytes", asset::DEFAULT_LEN as u64, 0, 8 << 20)?;
    let mut body = Vec::new();
    // `dcb-frame=<64 hex digits>` (or `dcz-frame=`): the body opens with a dcb (dcz) frame
    // header naming that dictionary hash, as an origin that made the delta itself would
    // send it.
    for (key, magic) in [
        ("dcb-frame", &crate::dcb::DCB_MAGIC[..]),
        ("dcz-frame", &crate::dcb::DCZ_MAGIC[..]),
    ] {
        if let Some(hex) = query.get(key) {
            body.extend_from_slice(magic);
            body.extend(
                asset::hex_bytes(hex)
                    .ok_or_else(|| BadRequest(format!("{key} {hex:?} is not 64 hex digits")))?,
            );
        }
    }
    // `script=1`: the release as a script a browser runs.
    let script = query.get("script") == Some("1");
    body.extend(if script {
        asset::script(version, len as usize)
    } else {
        asset::asset(version, len as usize)
    });
    // `gzip=1` or `br=1`: the release compressed, as an origin that compresses its assets
    // sends it.
    let coding = [Encoding::Gzip, Encoding::Brotli]
        .into_iter()
        .find(|coding| query.get(coding.token()) == Some("1"));
    if let Some(coding) = coding {
        body = compress::compress(coding, &body)
            .map_err(|e| BadRequest(format!("{}: {e}", coding.token())))?;
    }
    let mut resp = typed(full(body), "application/javascript");
    if let Some(coding) = coding {
        resp.headers_mut().insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static(coding.token()),
        );
    }
    add_headers(
        &mut resp,
        query.pairs().iter().filter(|(k, _)| {
            !["bytes", "dcb-frame", "dcz-frame", "gzip", "br", "script"].contains(&k.as_str())
        }),
    )?;
    Ok(resp)
}

fn add_headers<'a>(
    resp: &mut Response<Body>,
    pairs: impl Iterator<Item = &'a (String, String)>,
) -> Result<(), BadRequest> {
    for (name, value) in pairs {
        let parsed = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| BadRequest(format!("{name:?} is not a valid header name")))?;
        if parsed == header::CONTENT_LENGTH || parsed == header::TRANSFER_ENCODING {
            // Hyper owns body framing; a contradicting value would corrupt the response.
            return Err(BadRequest(format!(
                "{name} cannot be set: the server decides the body framing"
            )));
        }
        let value = HeaderValue::from_bytes(value.as_bytes())
            .map_err(|_| BadRequest(format!("value of {name} is not a valid header value")))?;
        if parsed == header::CONTENT_TYPE {
            resp.headers_mut().insert(parsed, value);
        } else {
            resp.headers_mut().append(parsed, value);
        }
    }
    Ok(())
}

async fn anything(req: Request<Incoming>, query: &Query) -> Response<Body> {
    let (parts, mut body) = req.into_parts();
    // Counted rather than kept, so a large upload through the proxy costs no memory here.
    let mut body_bytes: u64 = 0;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                body_bytes += frame.data_ref().map_or(0, |d| d.len() as u64);
            }
            // The client went away mid-upload; nobody is left to read the answer.
            Err(_) => break,
        }
    }
    let mut args: Vec<(&str, String)> = Vec::new();
    for (name, value) in query.pairs() {
        match args.iter_mut().find(|(n, _)| *n == name) {
            Some((_, joined)) => {
                joined.push_str(", ");
                joined.push_str(value);
            }
            None => args.push((name, value.clone())),
        }
    }
    #[derive(Serialize)]
    struct Echo<'a> {
        method: &'a str,
        path: &'a str,
        /// The raw query, `null` without one.
        query: Option<&'a str>,
        args: Members<'a>,
        headers: Members<'a>,
        body_bytes: u64,
    }
    json(&Echo {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        args: Members(args),
        headers: header_members(&parts.headers),
        body_bytes,
    })
}

/// Header names are shown lower-case, as hyper stores them; repeated headers are joined
/// with ", " the way a proxy may legally merge them.
fn header_members(headers: &HeaderMap) -> Members<'_> {
    Members(
        headers
            .keys()
            .map(|name| {
                let values: Vec<_> = headers
                    .get_all(name)
                    .iter()
                    .map(|v| String::from_utf8_lossy(v.as_bytes()))
                    .collect();
                (name.as_str(), values.join(", "))
            })
            .collect(),
    )
}

fn unix_millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}
