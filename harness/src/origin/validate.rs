//! Validators for the dev origin's deterministic resources (`/bytes/{n}`,
//! `/stream-bytes/{n}`, `/text/{n}`, `/html`), whose bytes depend on their path and query
//! alone: an `ETag` named from them, a fixed `Last-Modified`, and a 304 for a conditional
//! request that matches (RFC 9110 §13.1.2, §13.1.3), so a cache in front can revalidate
//! without the body being sent again. `cache_control=<value>` in the query adds that
//! `Cache-Control` (a benchmark asks for `no-cache`, which a cache revalidates on every use);
//! `delay_ms=<n>` has the answer, 304 included, wait that long (`origin.rs`).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};

use super::respond::{full, Body};
use super::text::Query;

/// The `Last-Modified` of every validatable resource: they never change.
pub const LAST_MODIFIED: &str = "Sat, 05 Dec 2026 00:00:00 GMT";

/// Whether the resource at `path` is a function of its path and query alone.
pub fn validatable(path: &str) -> bool {
    ["/bytes/", "/stream-bytes/", "/text/"]
        .iter()
        .any(|p| path.starts_with(p))
        || path == "/html"
}

/// The strong `ETag` of a validatable resource.
pub fn etag(path_and_query: &str) -> String {
    let mut h = DefaultHasher::new();
    path_and_query.hash(&mut h);
    format!("\"dev-{:016x}\"", h.finish())
}

/// A conditional request's fields, read before the request is consumed.
pub struct Conditional {
    if_none_match: Option<String>,
    if_modified_since: Option<String>,
}

impl Conditional {
    pub fn read(headers: &HeaderMap) -> Conditional {
        let get = |name| {
            headers
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        };
        Conditional {
            if_none_match: get(header::IF_NONE_MATCH),
            if_modified_since: get(header::IF_MODIFIED_SINCE),
        }
    }

    /// `If-None-Match` (weak comparison, `*`) when present, else `If-Modified-Since`.
    fn matches(&self, etag: &str) -> bool {
        let opaque = |t: &str| t.trim().trim_start_matches("W/").to_string();
        if let Some(inm) = &self.if_none_match {
            return inm
                .split(',')
                .any(|t| t.trim() == "*" || opaque(t) == opaque(etag));
        }
        match (
            self.if_modified_since
                .as_deref()
                .map(|d| httpdate::parse_http_date(d.trim())),
            httpdate::parse_http_date(LAST_MODIFIED),
        ) {
            (Some(Ok(since)), Ok(modified)) => modified <= since,
            _ => false,
        }
    }
}

/// Gives a 200 of a validatable resource its validators, or turns it into a 304 for a
/// request whose conditional matches.
pub fn apply(
    mut resp: Response<Body>,
    path_and_query: &str,
    query: &Query,
    conditional: &Conditional,
) -> Response<Body> {
    let etag = etag(path_and_query);
    let cache_control = query
        .get("cache_control")
        .and_then(|v| HeaderValue::from_str(v).ok());
    if conditional.matches(&etag) {
        let mut not_modified = Response::new(full(bytes::Bytes::new()));
        *not_modified.status_mut() = StatusCode::NOT_MODIFIED;
        resp = not_modified;
    }
    let headers = resp.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, etag);
    }
    headers.insert(
        header::LAST_MODIFIED,
        HeaderValue::from_static(LAST_MODIFIED),
    );
    if let Some(cc) = cache_control {
        headers.insert(header::CACHE_CONTROL, cc);
    }
    resp
}
