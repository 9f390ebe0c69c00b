//! What [`super::Misbehaving`] answers, as data: for each request target, the exact bytes
//! it writes and how it ends the connection. Public so a test can rebuild any response
//! and compare it with what came through a proxy. The paths are listed in `peers.rs`.

use std::time::Duration;

use crate::origin::compress::{compress, Encoding};
use crate::origin::text_bytes;

/// Sent as `Server` on every response, so a test can tell origin headers from edge ones.
pub const MISBEHAVING_SERVER: &str = "firstbyte-misbehaving-origin";

/// `/conflict`'s default body size.
const CONFLICT_DEFAULT_BYTES: usize = 1 << 20;
/// The largest `/conflict?bytes=N`: the whole response is built in memory.
const CONFLICT_MAX_BYTES: usize = 64 << 20;
/// Chunk size of the well-formed chunked bodies.
const CHUNK: usize = 16 * 1024;
/// `/cut/*`: the `Content-Length` announced, the bytes sent before the cut, and the chunk
/// size of the chunked cuts.
const CUT_LENGTH: usize = 10_000;
const CUT_SENT: usize = 4_000;
const CUT_CHUNK: usize = 1_000;
/// `/always-206`: the whole representation's length and the range always sent.
const RANGE_TOTAL: usize = 1_000;
const RANGE_FIRST: usize = 100;
const RANGE_LAST: usize = 199;
/// `/long`: the `Content-Length` announced and the bytes written.
const LONG_DECLARED: usize = 100;
const LONG_WRITTEN: usize = 200;
/// `/stall`: the `Content-Length`, the bytes sent before the silence, the silence.
const STALL_LENGTH: usize = 1_000;
const STALL_SENT: usize = 10;
const STALL_FOR: Duration = Duration::from_secs(30);
/// The longest `type=` accepted; it is copied into a header.
const MAX_TYPE_LEN: usize = 200;

/// One canned response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canned {
    /// Exactly what the origin writes, in order: head, then body with any chunk framing
    /// and content coding, cut where the case cuts.
    pub wire: Vec<u8>,
    /// How many bytes of `wire` are the response head (all of them for `/cut/head`).
    pub head_len: usize,
    /// The body the head announces, decoded (no chunk framing, no content coding) and
    /// whole: what a correct client would get had the origin behaved. A prefix of it is
    /// all that is sent where a case cuts; `/long` sends more than it. Empty for statuses
    /// without a body and for `/cut/head`.
    pub payload: Vec<u8>,
    /// What the origin does after writing `wire`.
    pub end: End,
}

/// How the origin ends a connection after writing a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Closes it cleanly (FIN).
    Close,
    /// Resets it (RST, from closing with `SO_LINGER` 0).
    Reset,
    /// Says nothing more for this long, or until the client closes, then closes.
    Stall(Duration),
}

/// The response to the request target `target` (origin-form: path and query). Total:
/// an unknown path is a 404, a malformed query a 400, both well-formed.
pub fn misbehaving_response(target: &str) -> Canned {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = Query::parse(query);
    let content_type = match query.get("type") {
        None => "text/plain".to_string(),
        Some(t) if t.is_empty() || t.len() > MAX_TYPE_LEN => {
            return bad_request("type= must be 1 to 200 bytes")
        }
        // Copied into a header: no CR, LF or other control bytes.
        Some(t) if !t.bytes().all(|b| (0x20..0x7f).contains(&b)) => {
            return bad_request("type= must be printable ASCII")
        }
        Some(t) => t.to_string(),
    };
    let encoding = match query.get("encoding") {
        None | Some("identity") => None,
        Some(token) => match coding(token) {
            Some(e) => Some(e),
            None => return bad_request("encoding= must be gzip, deflate, br or identity"),
        },
    };
    let t = content_type.as_str();
    let case = match path.split('/').collect::<Vec<_>>()[1..] {
        ["conflict"] => match query.get("bytes").map(str::parse::<usize>) {
            None => Ok(conflict(CONFLICT_DEFAULT_BYTES, t)),
            Some(Ok(n)) if n <= CONFLICT_MAX_BYTES => Ok(conflict(n, t)),
            Some(_) => Err("bytes= must be a number up to 67108864"),
        },
        ["forced", "zstd"] => Ok(forced_zstd(t)),
        ["forced", "dcb"] => Ok(forced_dcb(t)),
        ["forced", token] => match coding(token) {
            Some(encoding) => Ok(forced(encoding, t)),
            None => return not_found(path),
        },
        ["odd-headers"] => Ok(odd_headers()),
        ["no-transform"] => Ok(no_transform(encoding, t)),
        ["always-206"] => Ok(always_206(t)),
        ["cut", phase] => match cut(phase, t) {
            Some(canned) => Ok(canned),
            None => return not_found(path),
        },
        ["long"] => Ok(long(t)),
        ["stall"] => Ok(stall(t)),
        ["status", code] => match code.parse::<u16>() {
            Ok(code @ 100..=599) => Ok(status(code, encoding, t)),
            _ => Err("the status must be 100 to 599"),
        },
        _ => return not_found(path),
    };
    case.unwrap_or_else(bad_request)
}

/// The body `target`'s response announces, decoded and whole (see [`Canned::payload`]).
pub fn misbehaving_body(target: &str) -> Vec<u8> {
    misbehaving_response(target).payload
}

/// The first `n` bytes of the known text behind the bodies that have a length
/// (`/conflict`, `/always-206`, `/cut/*`, `/long`, `/stall`): the dev origin's `/text`,
/// lines of English-like words with `origin.example` among them.
pub fn misbehaving_text(n: usize) -> Vec<u8> {
    let mut text = vec![0; n];
    text_bytes(0, &mut text);
    text
}

/// The known document behind `/forced/*`, `/no-transform`, `/status/*` and
/// `/odd-headers`, by content type: a small HTML page with `<head>` and `<body>` for
/// text/html, a JSON object for a JSON type, lines of text otherwise; all full of
/// `origin.example`.
pub fn misbehaving_document(content_type: &str) -> Vec<u8> {
    let essence = content_type.to_ascii_lowercase();
    let mut doc = String::new();
    if essence.starts_with("text/html") {
        doc.push_str(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <title>origin.example misbehaves</title>\n\
             <link rel=\"stylesheet\" href=\"https://origin.example/style.css\">\n\
             </head>\n<body>\n<h1>Served by origin.example</h1>\n",
        );
        for i in 0..20 {
            doc.push_str(&format!(
                "<p>Paragraph {i}: read <a href=\"https://origin.example/page/{i}\">page {i}</a> on origin.example.</p>\n"
            ));
        }
        doc.push_str("</body>\n</html>\n");
    } else if essence.contains("json") {
        let links: Vec<String> = (0..20)
            .map(|i| format!("\"https://origin.example/page/{i}\""))
            .collect();
        doc = format!(
            "{{\"origin\": \"https://origin.example/\", \"links\": [{}]}}\n",
            links.join(", ")
        );
    } else {
        for i in 0..40 {
            doc.push_str(&format!(
                "line {i}: see https://origin.example/page/{i} on origin.example\n"
            ));
        }
    }
    doc.into_bytes()
}

/// The plain text inside `/forced/zstd`'s frame: short enough for a one-byte frame size.
const ZSTD_PLAIN: &str = "zstd from origin.example: a coding the proxy does not know.\n";
const _: () = assert!(
    ZSTD_PLAIN.len() < 256,
    "forced_zstd writes its size in one byte"
);

fn coding(token: &str) -> Option<Encoding> {
    match token {
        "gzip" => Some(Encoding::Gzip),
        "deflate" => Some(Encoding::Deflate),
        "br" => Some(Encoding::Brotli),
        _ => None,
    }
}

/// A response head being written: the status line and `Server` first; `end` adds
/// `Connection: close` (no case keeps a connection) and the blank line.
struct Head(Vec<u8>);

impl Head {
    fn new(status: u16) -> Head {
        let line = format!("HTTP/1.1 {status} {}\r\n", reason(status));
        Head(line.into_bytes()).header("Server", MISBEHAVING_SERVER)
    }

    fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Head {
        self.0.extend_from_slice(name.as_bytes());
        self.0.extend_from_slice(b": ");
        self.0.extend_from_slice(value.as_ref());
        self.0.extend_from_slice(b"\r\n");
        self
    }

    fn end(self) -> Vec<u8> {
        let mut head = self.header("Connection", "close").0;
        head.extend_from_slice(b"\r\n");
        head
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        410 => "Gone",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Whatever",
    }
}

/// A response whose body is `body` as written, announcing `payload`.
fn canned(head: Vec<u8>, body: &[u8], payload: Vec<u8>, end: End) -> Canned {
    let head_len = head.len();
    let mut wire = head;
    wire.extend_from_slice(body);
    Canned {
        wire,
        head_len,
        payload,
        end,
    }
}

/// A well-formed response with `Content-Length`, closed after.
fn plain(status: u16, content_type: &str, body: Vec<u8>) -> Canned {
    let head = Head::new(status)
        .header("Content-Type", content_type)
        .header("Content-Length", body.len().to_string())
        .end();
    canned(head, &body.clone(), body, End::Close)
}

fn not_found(path: &str) -> Canned {
    plain(
        404,
        "text/plain",
        format!("not a misbehaving case: {path}\n").into_bytes(),
    )
}

fn bad_request(why: &str) -> Canned {
    plain(400, "text/plain", format!("{why}\n").into_bytes())
}

/// `data` in chunks of `size`, without the terminating zero-size chunk.
fn chunks(data: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / size * 10 + 10);
    for chunk in data.chunks(size) {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// `payload` coded, or as it is.
fn coded(encoding: Option<Encoding>, payload: &[u8]) -> Vec<u8> {
    // Compressing into a Vec cannot fail; an empty body would show it in any test.
    encoding.map_or_else(
        || payload.to_vec(),
        |e| compress(e, payload).unwrap_or_default(),
    )
}

fn conflict(n: usize, t: &str) -> Canned {
    let payload = misbehaving_text(n);
    let head = Head::new(200)
        .header("Content-Type", t)
        .header("Content-Length", "100")
        .header("Transfer-Encoding", "chunked")
        .end();
    let mut body = chunks(&payload, CHUNK);
    body.extend_from_slice(b"0\r\n\r\n");
    canned(head, &body, payload, End::Close)
}

fn forced(encoding: Encoding, t: &str) -> Canned {
    let payload = misbehaving_document(t);
    let body = coded(Some(encoding), &payload);
    let head = Head::new(200)
        .header("Content-Type", t)
        .header("Content-Encoding", encoding.token())
        .header("Content-Length", body.len().to_string())
        .end();
    canned(head, &body, payload, End::Close)
}

/// The dictionary `/forced/dcb` is made for: the origin's own, which no client holds unless
/// a test gives it this.
pub fn misbehaving_dictionary() -> Vec<u8> {
    misbehaving_text(1000)
}

/// A valid `dcb` body (RFC 9842: magic, the hash of [`misbehaving_dictionary`], a Brotli
/// stream) of [`misbehaving_document`]: an origin that compresses with a dictionary whatever
/// the request advertised. The stream is made without Brotli's static dictionary, whose
/// references would shift once a dictionary is attached, so it decodes with
/// [`misbehaving_dictionary`] (and with any other, but the frame names this one).
fn forced_dcb(t: &str) -> Canned {
    let payload = misbehaving_document(t);
    let params = brotli::enc::BrotliEncoderParams {
        use_dictionary: false,
        ..Default::default()
    };
    let mut stream = Vec::new();
    // Compressing into a Vec cannot fail; an empty body would show it in any test.
    let _ = brotli::BrotliCompress(&mut &payload[..], &mut stream, &params);
    let mut body = crate::dcb::DCB_MAGIC.to_vec();
    body.extend_from_slice(&crate::dcb::sha256(&misbehaving_dictionary()));
    body.extend_from_slice(&stream);
    let head = Head::new(200)
        .header("Content-Type", t)
        .header("Content-Encoding", "dcb")
        .header("Content-Length", body.len().to_string())
        .end();
    canned(head, &body, payload, End::Close)
}

/// A valid zstd frame (RFC 8878) holding [`ZSTD_PLAIN`] in one raw block: a coding the
/// proxy cannot decode, but a test with a zstd decoder could.
fn forced_zstd(t: &str) -> Canned {
    let payload = ZSTD_PLAIN.as_bytes().to_vec();
    let size = payload.len() as u32;
    let mut body = vec![0x28, 0xb5, 0x2f, 0xfd]; // magic number
    body.push(0x20); // frame header: single segment, 1-byte content size, no checksum
    body.push(size as u8);
    let block = 1 | (size << 3); // last block, raw, `size` bytes
    body.extend_from_slice(&block.to_le_bytes()[..3]);
    body.extend_from_slice(&payload);
    let head = Head::new(200)
        .header("Content-Type", t)
        .header("Content-Encoding", "zstd")
        .header("Content-Length", body.len().to_string())
        .end();
    canned(head, &body, payload, End::Close)
}

fn odd_headers() -> Canned {
    let payload = misbehaving_document("text/html");
    let head = Head::new(200)
        .header("Content-Type", b"text/html; charset=\xff")
        .header("X-Odd", b"caf\xe9")
        .header("ETag", b"\"\xfe\"")
        .header("Vary", b"Accept-Encoding, X-\xff")
        .header("Content-Length", payload.len().to_string())
        .end();
    canned(head, &payload.clone(), payload, End::Close)
}

fn no_transform(encoding: Option<Encoding>, t: &str) -> Canned {
    let payload = misbehaving_document(t);
    let body = coded(encoding, &payload);
    let mut head = Head::new(200)
        .header("Content-Type", t)
        .header("Cache-Control", "no-transform");
    if let Some(encoding) = encoding {
        head = head.header("Content-Encoding", encoding.token());
    }
    let head = head.header("Content-Length", body.len().to_string()).end();
    canned(head, &body, payload, End::Close)
}

fn always_206(t: &str) -> Canned {
    let whole = misbehaving_text(RANGE_TOTAL);
    let part = whole[RANGE_FIRST..=RANGE_LAST].to_vec();
    let head = Head::new(206)
        .header("Content-Type", t)
        .header(
            "Content-Range",
            format!("bytes {RANGE_FIRST}-{RANGE_LAST}/{RANGE_TOTAL}"),
        )
        .header("Content-Length", part.len().to_string())
        .end();
    canned(head, &part.clone(), part, End::Close)
}

fn cut(phase: &str, t: &str) -> Option<Canned> {
    let payload = misbehaving_text(CUT_LENGTH);
    let sent = &payload[..CUT_SENT];
    let with_length = || {
        Head::new(200)
            .header("Content-Type", t)
            .header("Content-Length", CUT_LENGTH.to_string())
            .end()
    };
    let chunked = || {
        Head::new(200)
            .header("Content-Type", t)
            .header("Transfer-Encoding", "chunked")
            .end()
    };
    Some(match phase {
        "head" => {
            // Cut in the middle of a header name.
            let mut head = Head::new(200).header("Content-Type", t).0;
            head.extend_from_slice(b"Content-Le");
            canned(head, b"", Vec::new(), End::Close)
        }
        "after-head" => canned(with_length(), b"", payload, End::Close),
        "length" => canned(with_length(), sent, payload.clone(), End::Close),
        "chunked" => canned(chunked(), &chunks(sent, CUT_CHUNK), payload, End::Close),
        "chunk-mid" => {
            // Two whole chunks, then a chunk of CUT_CHUNK announced with half its data.
            let mut body = chunks(&payload[..2 * CUT_CHUNK], CUT_CHUNK);
            body.extend_from_slice(format!("{CUT_CHUNK:x}\r\n").as_bytes());
            body.extend_from_slice(&payload[2 * CUT_CHUNK..2 * CUT_CHUNK + CUT_CHUNK / 2]);
            canned(chunked(), &body, payload, End::Close)
        }
        "reset" => canned(with_length(), sent, payload.clone(), End::Reset),
        _ => return None,
    })
}

fn long(t: &str) -> Canned {
    let written = misbehaving_text(LONG_WRITTEN);
    let head = Head::new(200)
        .header("Content-Type", t)
        .header("Content-Length", LONG_DECLARED.to_string())
        .end();
    canned(
        head,
        &written,
        written[..LONG_DECLARED].to_vec(),
        End::Close,
    )
}

fn stall(t: &str) -> Canned {
    let payload = misbehaving_text(STALL_LENGTH);
    let head = Head::new(200)
        .header("Content-Type", t)
        .header("Content-Length", STALL_LENGTH.to_string())
        .end();
    canned(
        head,
        &payload[..STALL_SENT],
        payload.clone(),
        End::Stall(STALL_FOR),
    )
}

fn status(code: u16, encoding: Option<Encoding>, t: &str) -> Canned {
    // These have no body by definition (RFC 9110 §6.4.1): head only, no Content-Length.
    if code < 200 || code == 204 || code == 304 {
        return canned(Head::new(code).end(), b"", Vec::new(), End::Close);
    }
    let payload = misbehaving_document(t);
    let body = coded(encoding, &payload);
    let mut head = Head::new(code).header("Content-Type", t);
    if let Some(encoding) = encoding {
        head = head.header("Content-Encoding", encoding.token());
    }
    let head = head.header("Content-Length", body.len().to_string()).end();
    canned(head, &body, payload, End::Close)
}

/// A query string's parameters, decoded as a form-reading origin does.
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(query: &str) -> Query {
        Query(
            form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The first value of `name`.
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(target: &str) -> String {
        let canned = misbehaving_response(target);
        String::from_utf8_lossy(&canned.wire[..canned.head_len]).into_owned()
    }

    #[test]
    fn types_are_decoded_and_checked() {
        assert!(head("/long?type=text%2Fhtml%3B%20charset%3Dutf-8")
            .contains("\r\nContent-Type: text/html; charset=utf-8\r\n"));
        assert!(head("/long?type=text/html").contains("\r\nContent-Type: text/html\r\n"));
        assert!(head("/long?type=a%0d%0aX-Injected:%201").starts_with("HTTP/1.1 400 "));
        assert!(head("/long").contains("\r\nContent-Type: text/plain\r\n"));
    }

    #[test]
    fn unknown_and_malformed_targets_are_well_formed_errors() {
        for (target, status) in [
            ("/nope", 404),
            ("/cut/elsewhere", 404),
            ("/forced/compress", 404),
            ("/status/99", 400),
            ("/status/abc", 400),
            ("/conflict?bytes=-1", 400),
            ("/conflict?bytes=67108865", 400),
            ("/status/200?encoding=lzma", 400),
            ("", 404),
        ] {
            let canned = misbehaving_response(target);
            let head = String::from_utf8_lossy(&canned.wire[..canned.head_len]).into_owned();
            assert!(
                head.starts_with(&format!("HTTP/1.1 {status} ")),
                "{target}: {head}"
            );
            assert_eq!(
                canned.wire.len() - canned.head_len,
                canned.payload.len(),
                "{target}"
            );
        }
    }

    #[test]
    fn chunks_frame_the_data() {
        assert_eq!(chunks(b"abcde", 2), b"2\r\nab\r\n2\r\ncd\r\n1\r\ne\r\n");
    }

    #[test]
    fn percent_decoding_keeps_malformed_escapes() {
        let q = Query::parse("x=a%2Fb%zz%4&y=%e9");
        assert_eq!(q.get("x"), Some("a/b%zz%4"));
        assert_eq!(q.get("y"), Some("\u{fffd}"));
    }

    #[test]
    fn the_text_is_prefix_stable() {
        assert_eq!(misbehaving_text(1000)[..200], misbehaving_text(200)[..]);
        assert_eq!(misbehaving_body("/long"), misbehaving_text(100));
    }
}
