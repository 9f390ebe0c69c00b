//! Building responses and bodies.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use serde::Serialize;
use tokio::time::{sleep_until, Instant};

use super::compress::Encoding;
use super::BoxError;

pub(crate) type Body = UnsyncBoxBody<Bytes, BoxError>;

/// A streaming body whose frame `i` is written at `start + i * interval` (the first one
/// at once). With `linger` the stream ends one interval after the last frame instead of
/// right after it. Frames are produced lazily, and hyper flushes each one while waiting
/// for the next.
pub(crate) fn paced_body<F>(count: u64, interval: Duration, linger: bool, make: F) -> Body
where
    F: FnMut(u64) -> Bytes + Send + 'static,
{
    let start = Instant::now();
    let due = move |i: u64| {
        let nanos = interval.as_nanos().saturating_mul(u128::from(i));
        let offset = Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
        // The parameter limits keep this far from overflowing; if it ever did, sending
        // early beats panicking.
        start.checked_add(offset).unwrap_or(start)
    };
    let frames = futures_util::stream::unfold((0u64, make), move |(i, mut make)| async move {
        if i >= count && !linger {
            return None;
        }
        let at = due(i);
        if at > Instant::now() {
            sleep_until(at).await;
        }
        if i >= count {
            return None;
        }
        let frame: Result<Frame<Bytes>, BoxError> = Ok(Frame::data(make(i)));
        Some((frame, (i + 1, make)))
    });
    StreamBody::new(frames).boxed_unsync()
}

pub(crate) fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub(crate) fn typed(body: Body, content_type: &'static str) -> Response<Body> {
    let mut resp = Response::new(body);
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// `value` as a JSON document, one member per line so a human can read it.
pub(crate) fn json(value: &impl Serialize) -> Response<Body> {
    match serde_json::to_string_pretty(value) {
        Ok(doc) => typed(full(doc + "\n"), "application/json"),
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot write JSON: {e}\n"),
        ),
    }
}

pub(crate) fn text(status: StatusCode, msg: impl Into<Bytes>) -> Response<Body> {
    let mut resp = typed(full(msg), "text/plain; charset=utf-8");
    *resp.status_mut() = status;
    resp
}

pub(crate) fn octet_stream(body: Body) -> Response<Body> {
    typed(body, "application/octet-stream")
}

pub(crate) fn encoded(mut resp: Response<Body>, encoding: Encoding) -> Response<Body> {
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static(encoding.token()),
    );
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    resp
}

pub(crate) fn server_error(msg: &str) -> Response<Body> {
    text(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("compression failed: {msg}\n"),
    )
}
