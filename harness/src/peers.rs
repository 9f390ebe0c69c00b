//! Origins that nobody on the project wrote, to run the edge app against in conformance
//! tests: each starts on a free 127.0.0.1 port, exposes `addr`, and stops on drop.
//!
//! - [`NginxStatic`]: nginx serving [`static_files`], gzip for text types, ranges, ETags
//!   (`None` when nginx is not installed).
//! - [`Httpbin`]: httpbin under gunicorn (`None` when Python cannot import them).
//! - [`Misbehaving`]: the harness's own raw-TCP origin sending what no well-behaved server
//!   sends. It reads the request head (whatever the method: a HEAD gets a body too), routes
//!   on the path, records the head ([`Misbehaving::requests`]) and always answers with
//!   `Connection: close`. `type=T` (percent-decoded, default `text/plain`) is the
//!   `Content-Type` wherever it applies. [`misbehaving_response`] rebuilds any response
//!   byte for byte; [`misbehaving_body`] is the body it announces, decoded.
//!
//!   | path | response |
//!   | --- | --- |
//!   | `/conflict?bytes=N&type=T` | 200 with `Content-Length: 100` *and* `Transfer-Encoding: chunked`, then N (default 1 MiB, at most 64 MiB) bytes of [`misbehaving_text`], correctly chunked |
//!   | `/forced/{gzip,deflate,br}?type=T` | 200, that `Content-Encoding` whatever `Accept-Encoding` says, no `Vary`; [`misbehaving_document`]`(T)` compressed (deflate zlib-wrapped), `Content-Length` |
//!   | `/forced/zstd?type=T` | 200, `Content-Encoding: zstd`: a valid zstd frame (one raw block) of a short text, a coding the proxy does not know |
//!   | `/forced/dcb?type=T` | 200, `Content-Encoding: dcb` (RFC 9842) of [`misbehaving_document`]`(T)` against [`misbehaving_dictionary`], whatever the request advertised |
//!   | `/odd-headers` | 200 text/html whose head has non-UTF-8 bytes: `Content-Type: text/html; charset=\xff`, `X-Odd: caf\xe9`, `ETag: "\xfe"`, `Vary: Accept-Encoding, X-\xff`; a valid HTML body |
//!   | `/no-transform?type=T[&encoding=E]` | 200, `Cache-Control: no-transform`, [`misbehaving_document`]`(T)`, coded with E (`gzip`, `deflate`, `br`) when asked |
//!   | `/always-206?type=T` | 206 with `Content-Range: bytes 100-199/1000` and those 100 bytes of `misbehaving_text(1000)`, Range or not |
//!   | `/cut/head` | closes in the middle of a header name |
//!   | `/cut/after-head` | a whole head with `Content-Length: 10000`, then closes |
//!   | `/cut/length` | `Content-Length: 10000`, 4000 bytes, closes |
//!   | `/cut/chunked` | chunked, four 1000-byte chunks, closes without the zero-size chunk |
//!   | `/cut/chunk-mid` | chunked, two 1000-byte chunks, then a 1000-byte chunk's size line and 500 of its bytes, closes |
//!   | `/cut/reset` | `Content-Length: 10000`, 4000 bytes, then RST (`SO_LINGER` 0) |
//!   | `/long?type=T` | `Content-Length: 100`, writes 200 bytes, closes |
//!   | `/stall?type=T` | `Content-Length: 1000`, 10 bytes, then silence for 30 s (or until the client closes), then closes |
//!   | `/status/{code}?type=T&encoding=E` | that status (100–599) with [`misbehaving_document`]`(T)`, coded with E whatever `Accept-Encoding` says; 1xx, 204 and 304 have no body and no `Content-Length` |
//!
//!   The cut bodies are prefixes of `misbehaving_text(10000)`; `/long` and `/stall` send
//!   prefixes of [`misbehaving_text`] too. Any other path is a 404, a bad query a 400.
//! - [`Scripted`]: an origin each test programs per path (status, head, body, 304s), for the
//!   edge cache's conformance suite; it records the requests it gets.

mod httpbin;
mod misbehaving;
mod nginx_static;
mod raw;
mod scripted;
mod static_files;

pub use httpbin::Httpbin;
pub use misbehaving::{
    misbehaving_body, misbehaving_dictionary, misbehaving_document, misbehaving_response,
    misbehaving_text, Canned, End, Misbehaving, MISBEHAVING_SERVER,
};
pub use nginx_static::NginxStatic;
pub use scripted::{Script, Scripted, Seen};
pub use static_files::{
    static_file, static_files, StaticFile, BIG_TXT_LEN, GZIP_TYPES, STATIC_MTIME,
};
