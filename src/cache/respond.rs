//! A client's response made from a stored object: the whole object, a 304 for a client that
//! has it, a 206 or 416 for a range; the body appended from the cache host-side, whatever
//! made it. The same for every client: the one whose request filled the object, those that
//! collapsed onto it, hits, stale and revalidated answers.

use std::time::Duration;

use fastly::cache::core::Found;
use fastly::http::{FramingHeadersMode, StatusCode};
use fastly::{Body, Response};

use super::conditional;
use super::fill_request::Ask;
use super::range::{self, Ask as RangeAsk};
use super::stored::Stored;
use super::write::{self, written, Filling};
use crate::access_log::{AccessRecord, BodyPath};
use crate::cache_status::CacheStatus;
use crate::composer::{Composer, Template};
use crate::failure::Failure;
use crate::origin::template;
use crate::timing::{server_timing, Clock};
use bytes::Bytes;
use firstbyte_config::Route;

/// Fields a 304 carries from the stored head (RFC 9110 §15.4.5); representation metadata
/// beyond these is left out, `Last-Modified` kept to guide caches without an ETag.
const NOT_MODIFIED_FIELDS: [&str; 7] = [
    "cache-control",
    "content-location",
    "date",
    "etag",
    "expires",
    "vary",
    "last-modified",
];

/// How the response came to be: what it is labelled, how old the object is, and how long
/// the origin took if it was asked (a revalidation).
pub struct Answer {
    pub status: CacheStatus,
    pub age: Duration,
    pub origin: Duration,
}

/// Sends the client its response from `found`, whose head is `stored`: composed, when the
/// object is a template of a route that composes.
#[allow(clippy::too_many_arguments)]
pub fn respond(
    found: &Found,
    stored: &Stored,
    ask: &Ask,
    answer: Answer,
    record: &mut AccessRecord,
    clock: &Clock,
    route: &Route,
    composing: Option<&mut (dyn Composer + '_)>,
    key: &Bytes,
) -> Result<(), Failure> {
    respond_filling(
        found, stored, ask, answer, record, clock, route, composing, None, key,
    )
}

/// [`respond`], with the object still being written by `filling`, which a composed page
/// runs in its own loop.
#[allow(clippy::too_many_arguments)]
pub fn respond_filling(
    found: &Found,
    stored: &Stored,
    ask: &Ask,
    answer: Answer,
    record: &mut AccessRecord,
    clock: &Clock,
    route: &Route,
    composing: Option<&mut (dyn Composer + '_)>,
    filling: Option<Filling>,
    key: &Bytes,
) -> Result<(), Failure> {
    if let (true, Some(composing)) = (stored.template, composing) {
        return compose(
            found, stored, ask, answer, record, clock, route, composing, filling, key,
        );
    }
    let length = found.known_length().or(stored.length);
    let etag = stored.field("etag").map(lossy);
    let last_modified = stored.field("last-modified").map(lossy);
    let complete_success = stored.status == StatusCode::OK;
    let mut resp;
    let mut body: Option<Body> = None;
    // What the body will hold, when it is known.
    let mut bytes_out = Some(0);
    if stored.status.is_success()
        && conditional::not_modified(
            &ask.if_none_match,
            &ask.if_modified_since,
            etag.as_deref(),
            last_modified.as_deref(),
        )
    {
        resp = Response::from_status(StatusCode::NOT_MODIFIED);
        for (name, value) in stored.fields.iter() {
            if NOT_MODIFIED_FIELDS.contains(&name.as_str()) {
                resp.append_header(name.as_str(), value);
            }
        }
    } else {
        let range = match length {
            Some(length)
                if complete_success
                    && !ask.head_only
                    && conditional::range_applies(
                        &ask.if_range,
                        etag.as_deref(),
                        last_modified.as_deref(),
                    ) =>
            {
                range::ask(&ask.range, length)
            }
            _ => RangeAsk::Whole,
        };
        match (range, length) {
            (RangeAsk::Part { first, last }, Some(length)) => {
                resp = from_stored(stored, StatusCode::PARTIAL_CONTENT);
                resp.set_header("content-range", format!("bytes {first}-{last}/{length}"));
                resp.set_header("content-length", (last - first + 1).to_string());
                body = Some(stream(found, Some(first), Some(last))?);
                bytes_out = Some(last - first + 1);
            }
            (RangeAsk::Unsatisfiable, Some(length)) => {
                resp = Response::from_status(StatusCode::RANGE_NOT_SATISFIABLE);
                resp.set_header("content-range", format!("bytes */{length}"));
                resp.set_header("content-length", "0");
            }
            _ => {
                resp = from_stored(stored, stored.status);
                if let Some(length) = length {
                    // A complete object's length is known (and a declared one before it is
                    // complete): the client gets it for progress, and a HEAD says what a GET
                    // would send, where the host would otherwise send a hit chunked.
                    resp.set_header("content-length", length.to_string());
                }
                if !ask.head_only && !matches!(stored.status.as_u16(), 204 | 304) {
                    body = Some(stream(found, None, None)?);
                    bytes_out = length;
                }
            }
        }
        if complete_success && length.is_some() {
            resp.set_header("accept-ranges", "bytes");
        }
    }
    if resp.contains_header("content-length") {
        // Complete, or declared before its body: the length goes out as it is. A body that
        // then falls short is cut, never complete.
        resp.set_framing_headers_mode(FramingHeadersMode::ManuallyFromHeaders);
    }
    resp.set_header("age", answer.age.as_secs().to_string());
    resp.set_header("x-cache", answer.status.label());
    resp.append_header(
        "server-timing",
        server_timing(answer.origin, clock.elapsed(), Some(answer.status)),
    );
    record.cache = Some(answer.status);
    if let Some(body) = body {
        resp.set_body(body);
        record.body = BodyPath::Append;
    }
    record.bytes_out = bytes_out;
    record.headers_sent(resp.get_status().as_u16(), clock);
    resp.send_to_client();
    Ok(())
}

/// A stored template, composed for this client: its page's coding chosen for it, the
/// template read from the cache and composed as it is read. No range or 304: a composed page
/// has no validator and no length of its own.
#[allow(clippy::too_many_arguments)]
fn compose(
    found: &Found,
    stored: &Stored,
    ask: &Ask,
    answer: Answer,
    record: &mut AccessRecord,
    clock: &Clock,
    route: &Route,
    composer: &mut (dyn Composer + '_),
    filling: Option<Filling>,
    key: &Bytes,
) -> Result<(), Failure> {
    let output = template::output_coding(route.chain.as_ref(), ask.accept_encoding.as_deref());
    let mut resp = from_stored(stored, stored.status);
    template::composed_head(&mut resp, output, route.chain.as_ref());
    composer.private_for(&mut resp);
    resp.set_header("age", answer.age.as_secs().to_string());
    resp.set_header("x-cache", answer.status.label());
    resp.append_header(
        "server-timing",
        server_timing(answer.origin, clock.elapsed(), Some(answer.status)),
    );
    record.cache = Some(answer.status);
    if ask.head_only {
        record.bytes_out = Some(0);
        record.headers_sent(resp.get_status().as_u16(), clock);
        resp.send_to_client();
        if let Some(filling) = filling {
            // The object is written all the same.
            let _ = written(filling.run(), record);
        }
        return Ok(());
    }
    let body = stream(found, None, None)?;
    // A hit of a template whose includes a page made of it before listed: each is requested
    // before the template is read.
    let ahead = match &filling {
        Some(_) => Vec::new(),
        None => write::includes(key),
    };
    let listed = ahead.clone();
    let template = Template {
        resp,
        body,
        plan: None,
        declared: found.known_length().or(stored.length),
        output,
        filling,
        ahead,
    };
    let composed = composer.compose(route, template, record, clock);
    // Listed anew with a new object, or when a whole page found the list out of date.
    if composed.stored || (composed.complete && composed.includes != listed) {
        write::list_includes(key, &composed.includes, found.max_age(), &stored.object_key);
    }
    Ok(())
}

pub(super) fn from_stored(stored: &Stored, status: StatusCode) -> Response {
    let mut resp = Response::from_status(status);
    for (name, value) in &stored.fields {
        resp.append_header(name.as_str(), value);
    }
    resp
}

fn stream(found: &Found, from: Option<u64>, to: Option<u64>) -> Result<Body, Failure> {
    found.to_stream_from_range(from, to).map_err(|e| {
        Failure::new(
            StatusCode::BAD_GATEWAY,
            format!("cache body unavailable: {e}"),
        )
    })
}

fn lossy(value: &fastly::http::HeaderValue) -> String {
    String::from_utf8_lossy(value.as_bytes()).into_owned()
}
