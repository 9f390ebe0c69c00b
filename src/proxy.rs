//! The proxied request: shape the backend request, wait for its headers within the route's
//! timeout, send the client's headers at once, then hand over or pump the body.

use std::time::{Duration, Instant};

use fastly::handle::BodyHandle;
use fastly::http::request::SendErrorCause;
use fastly::http::{FramingHeadersMode, Method, StatusCode};
use fastly::{Body, Request, Response};

use firstbyte_transform::codec::Encoding;
use firstbyte_transform::Pipeline;

use crate::access_log::{AccessRecord, BodyPath};
use crate::cache::{self, CacheStatus, FOR_THIS_CACHE};
use crate::deadline::response_within;
use crate::delivery::{self, Delivery};
use crate::esi;
use crate::failure::Failure;
use crate::headers::{self, strip_hop_by_hop, HeaderAccess};
use crate::pump::{append_to_client, pump, PumpOptions};
use crate::routing::{ambiguous_path, backend_path, Resolver};
use crate::timing::{server_timing, Clock};
use firstbyte_config::chain::{Chain, Plan, ResponseHead};
use firstbyte_config::{route_key, Route};

/// What a composing route needs to make its pages: the client's request, as fragments are
/// made from it, and the route table they go through.
pub struct Composing<'a, 'r> {
    pub client: esi::Client,
    pub resolver: &'a mut Resolver<'r>,
}

pub fn forward(
    route: &Route,
    mut req: Request,
    record: &mut AccessRecord,
    clock: &Clock,
    resolver: &mut Resolver,
) -> Result<(), Failure> {
    record.route = Some(route.name.clone());
    record.backend = Some(route.backend.clone());
    if !route.raw_paths {
        if let Some(why) = ambiguous_path(req.get_path()) {
            return Err(Failure::bad_request(format!(
                "{why}; route '{}' does not forward such paths",
                route.name
            )));
        }
    }
    // Only a route that composes keeps what its fragments are made of.
    let mut composing = route.esi.as_ref().map(|_| Composing {
        client: esi::Client::read(&req),
        resolver,
    });
    if composing.is_some() && req.get_method().is_safe() {
        esi::drop_conditionals(&mut req);
    }
    if route.cache.is_some() {
        return cache::forward(route, req, record, clock, composing.as_mut());
    }
    let method = req.get_method().clone();
    let accept_encoding = req.header("accept-encoding");
    let bereq = backend_request(route, req, accept_encoding.as_deref());
    let shaped = fetch_shaped(route, bereq, accept_encoding.as_deref(), record)?;
    send(
        route,
        shaped,
        &method,
        None,
        record,
        clock,
        composing.as_mut(),
    )
}

/// A backend response made ready for the client: hop-by-hop headers gone, the delivery
/// decided from its head (so HEAD gets exactly what GET gets), the head rewritten for it.
pub struct Shaped {
    /// The head as the client is to get it; its body is in `body`.
    pub resp: Response,
    pub body: Body,
    /// The chain (or decoder) the body goes through; `None`: untouched.
    pub plan: Option<Plan>,
    /// The backend's Content-Length, when its framing can be trusted.
    pub declared_length: Option<u64>,
    /// The backend's time to response headers.
    pub origin: Duration,
    /// The origin's own validators, before a transform weakened the ETag.
    pub origin_etag: Option<String>,
    pub origin_last_modified: Option<String>,
    /// The body is a template the route composes (ESI): `plan` makes its text, and this is
    /// the coding of the composed page.
    pub compose: Option<Encoding>,
}

impl Shaped {
    pub fn status(&self) -> StatusCode {
        self.resp.get_status()
    }

    /// The body's length when it is known before the body: it goes out untouched, as the
    /// backend declared it.
    pub fn output_length(&self) -> Option<u64> {
        self.declared_length.filter(|_| self.plan.is_none())
    }

    /// Builds the plan's pipeline (stage parameters are built when a response first needs
    /// them; `make check-config` builds them before deploy, so a failure is the route's key).
    pub fn pipeline(
        &self,
        route: &Route,
        record: Option<&mut AccessRecord>,
    ) -> Result<Option<Pipeline>, Failure> {
        let Some(plan) = self.plan else {
            return Ok(None);
        };
        let pipeline = plan.pipeline(route.chain.as_ref()).map_err(|e| {
            Failure::internal(format!(
                "config key '{}': {}",
                route_key(&route.name, e.stage),
                e.reason
            ))
        })?;
        if let Some(record) = record {
            record.transforms = Some(pipeline.names().join(">"));
        }
        Ok(Some(pipeline))
    }

    /// How the body is read: smaller reads when decoding, since one read may inflate.
    pub fn pump_options(&self, route: &Route, pipeline: Option<Pipeline>) -> PumpOptions {
        let decoding = self.plan.is_some_and(|p| p.decode.is_some());
        PumpOptions {
            read_size: if decoding { DECODE_READ } else { PLAIN_READ },
            between_bytes: route.between_bytes_timeout,
            declared_length: self.declared_length,
            pipeline,
        }
    }
}

/// Sends the request to the route's backend and shapes its response for the client whose
/// `Accept-Encoding` is `accept_encoding`.
pub fn fetch_shaped(
    route: &Route,
    bereq: Request,
    accept_encoding: Option<&str>,
    record: &mut AccessRecord,
) -> Result<Shaped, Failure> {
    let sent_at = Instant::now();
    let resp = fetch(route, bereq)?;
    let origin = sent_at.elapsed();
    record.origin_answered(origin);
    shape(route, resp, origin, accept_encoding)
}

/// Shapes a backend response of `route` for a client whose `Accept-Encoding` is
/// `accept_encoding`. A template the route composes ([`esi::composes`]) is shaped as text
/// to compose: decoded and through the route's stages, the coding for the client chosen for
/// the composed page.
pub fn shape(
    route: &Route,
    mut resp: Response,
    origin: Duration,
    accept_encoding: Option<&str>,
) -> Result<Shaped, Failure> {
    let declared_length = headers::declared_length(&mut resp);
    strip_hop_by_hop(&mut resp);
    let origin_etag = resp.header("etag");
    let origin_last_modified = resp.header("last-modified");
    let status = resp.get_status();
    let delivery = if status_has_body(status) {
        let (content_type, content_encoding, cache_control) = (
            resp.header("content-type"),
            resp.header("content-encoding"),
            resp.header("cache-control"),
        );
        delivery::decide(
            route.chain.as_ref(),
            ResponseHead {
                status: status.as_u16(),
                content_type: content_type.as_deref(),
                content_encoding: content_encoding.as_deref(),
                cache_control: cache_control.as_deref(),
                accept_encoding,
            },
        )
    } else {
        Delivery::Untouched { coded: false }
    };
    if status == StatusCode::PARTIAL_CONTENT && esi::is_template(route, &resp) {
        return Err(Failure::new(
            StatusCode::BAD_GATEWAY,
            format!("backend '{}' {}", route.backend, esi::TEMPLATE_206),
        ));
    }
    let compose = esi::composes(route, &resp)
        .then(|| esi::output_coding(route.chain.as_ref(), accept_encoding));
    // The headers follow from the delivery alone, so HEAD gets exactly what GET gets.
    let plan = match delivery {
        Delivery::Refused(why) => {
            return Err(Failure::new(
                StatusCode::BAD_GATEWAY,
                format!("backend '{}' {why}", route.backend),
            ))
        }
        Delivery::Transformed(plan) => {
            let coding = (plan.encode != Encoding::Identity).then(|| plan.encode.token());
            headers::for_transformed_body(&mut resp, coding, plan.varies_by_encoding);
            Some(plan)
        }
        Delivery::Untouched { coded } => {
            if coded {
                headers::vary_on_accept_encoding(&mut resp);
            }
            if declared_length.is_some() {
                // The body goes on untouched (or not at all), so the backend's length stays
                // true and clients keep the size and progress they would have seen.
                resp.set_framing_headers_mode(FramingHeadersMode::ManuallyFromHeaders);
            }
            None
        }
    };
    let (plan, compose) = match compose {
        Some(output) => {
            let template = esi::template_plan(plan, resp.header("content-encoding").as_deref());
            esi::composed_head(&mut resp, output, route.chain.as_ref());
            (template, Some(output))
        }
        None => (plan, None),
    };
    let body = resp.take_body();
    Ok(Shaped {
        resp,
        body,
        plan,
        declared_length,
        origin,
        origin_etag,
        origin_last_modified,
        compose,
    })
}

/// Sends a shaped response to the client as it comes: the head at once, then the body
/// appended host-side when it goes untouched, or pumped through the app.
pub fn send(
    route: &Route,
    shaped: Shaped,
    method: &Method,
    cache: Option<CacheStatus>,
    record: &mut AccessRecord,
    clock: &Clock,
    composing: Option<&mut Composing>,
) -> Result<(), Failure> {
    let status = shaped.status();
    let pipeline = shaped.pipeline(route, Some(record))?;
    let opts = shaped.pump_options(route, pipeline);
    let Shaped {
        mut resp,
        body,
        plan,
        declared_length,
        origin,
        compose,
        ..
    } = shaped;
    // What the origin addresses to caches like this one alone never reaches a client.
    for name in FOR_THIS_CACHE {
        resp.remove_header(name);
    }
    if let Some(cache) = cache {
        record.cache = Some(cache);
        resp.set_header("x-cache", cache.label());
    }
    resp.append_header(
        "Server-Timing",
        server_timing(origin, clock.elapsed(), cache),
    );

    if let (Some(_), Some(composing)) = (compose, composing.as_ref()) {
        esi::private_for(&mut resp, &composing.client);
    }
    if !has_body(method, status) {
        record.headers_sent(status.as_u16(), clock);
        record.bytes_out = Some(0);
        resp.send_to_client();
        return Ok(());
    }
    if let (Some(output), Some(composing)) = (compose, composing) {
        esi::compose(
            &composing.client,
            composing.resolver,
            route,
            resp,
            body,
            plan,
            declared_length,
            output,
            record,
            clock,
            None,
            Vec::new(),
        );
        return Ok(());
    }

    if plan.is_none() && !route.pump && route.between_bytes_timeout.is_none() {
        // Zero-copy: the host streams the backend body to the client. A backend that breaks
        // off mid-body makes the host cut the client connection, which this app cannot see.
        record.body = BodyPath::Append;
        record.bytes_out = declared_length;
        record.headers_sent(status.as_u16(), clock);
        if let Err(e) = append_to_client(resp, body) {
            record.aborted(e.clone());
            log::warn!("{} {}: {e}", record.method, record.path);
        }
        return Ok(());
    }

    let mut out = resp.stream_to_client();
    record.headers_sent(status.as_u16(), clock);

    // Transformed, watched, or under a between-bytes timeout the host cannot hold for this
    // route alone: the body comes through here.
    record.body = BodyPath::Pump;
    match pump(body, &mut out, opts) {
        Ok(sent) => {
            record.bytes_out = Some(sent);
            finish(out, record);
        }
        Err((sent, reason)) => {
            record.bytes_out = Some(sent);
            log::warn!("{} {}: aborted: {reason}", record.method, record.path);
            record.aborted(reason);
            out.abandon().ok();
        }
    }
    Ok(())
}

/// Reads of this size keep bulk copies fast and the heap flat.
const PLAIN_READ: usize = 64 * 1024;
/// A compressed read may inflate many times over, so reads are smaller when decoding.
const DECODE_READ: usize = 8 * 1024;

/// The client's request as the backend should see it: route path, no hop-by-hop headers,
/// the route's host and caching rules.
pub fn backend_request(route: &Route, mut req: Request, accept_encoding: Option<&str>) -> Request {
    let path = backend_path(route, req.get_path());
    req.set_path(&path);
    strip_hop_by_hop(&mut req);
    if route.chain.as_ref().is_some_and(Chain::has_stages) || route.esi.is_some() {
        // Content stages (and a template's composing) need whole bodies in codings this app
        // can undo, and what they leave alone must still be readable by this client.
        req.set_header(
            "accept-encoding",
            delivery::backend_accept_encoding(accept_encoding),
        );
        // A rewritten part could not match its Content-Range, and a template's part would
        // reach the client uncomposed: the client gets the whole transformed
        // representation instead (RFC 9110 §14.2 lets a server ignore Range).
        req.remove_header("range");
        req.remove_header("if-range");
    }

    if let Some(host) = &route.host_override {
        req.set_header("Host", host);
    }
    match route.ttl {
        Some(ttl) => req.set_ttl(ttl),
        // Without a TTL nothing is cached, and large bodies never wait on a cache fill.
        None => req.set_pass(true),
    }
    req
}

pub(crate) fn fetch(route: &Route, bereq: Request) -> Result<Response, Failure> {
    let (handle, body) = bereq.into_handles();
    let body = body.unwrap_or_else(BodyHandle::new);
    let Some(limit) = route.first_byte_timeout else {
        // Nothing to time: the plain send, which the host awaits in the request's own task
        // (an asynchronous send is a task of its own on Viceroy, and a wake-up to hand over).
        return match handle.send(body, &route.backend) {
            Ok((resp, body)) => Ok(Response::from_handles(resp, body)),
            Err(cause) => Err(send_failure(route, cause)),
        };
    };
    let pending = handle
        .send_async(body, &route.backend)
        .map_err(|cause| send_failure(route, cause))?;
    match response_within(&pending, limit) {
        Ok(true) => {}
        Ok(false) => return Err(first_byte_timeout(route, limit)),
        Err(e) => return Err(Failure::new(StatusCode::BAD_GATEWAY, e)),
    }
    match pending.wait() {
        Ok((resp, body)) => Ok(Response::from_handles(resp, body)),
        Err(cause) => Err(send_failure(route, cause)),
    }
}

fn first_byte_timeout(route: &Route, limit: Duration) -> Failure {
    Failure::new(
        StatusCode::GATEWAY_TIMEOUT,
        format!(
            "backend '{}' sent no response within {} ms",
            route.backend,
            limit.as_millis()
        ),
    )
}

fn send_failure(route: &Route, cause: SendErrorCause) -> Failure {
    let backend = &route.backend;
    let (status, what) = match cause {
        // The backend declaration's own first-byte timeout.
        SendErrorCause::HttpResponseTimeout => (
            StatusCode::GATEWAY_TIMEOUT,
            "sent no response in time".to_string(),
        ),
        SendErrorCause::DnsTimeout | SendErrorCause::DnsError { .. } => {
            (StatusCode::BAD_GATEWAY, "could not be resolved".to_string())
        }
        SendErrorCause::ConnectionRefused => (
            StatusCode::BAD_GATEWAY,
            "refused the connection".to_string(),
        ),
        SendErrorCause::ConnectionTimeout => (
            StatusCode::BAD_GATEWAY,
            "did not accept a connection in time".to_string(),
        ),
        SendErrorCause::ConnectionTerminated | SendErrorCause::HttpIncompleteResponse => (
            StatusCode::BAD_GATEWAY,
            "closed the connection before answering".to_string(),
        ),
        // Viceroy reports a failed connect as a bare internal error.
        SendErrorCause::InternalError(_) => {
            (StatusCode::BAD_GATEWAY, "could not be reached".to_string())
        }
        other => (StatusCode::BAD_GATEWAY, format!("failed: {other}")),
    };
    Failure::new(status, format!("backend '{backend}' {what}"))
}

/// HEAD answers and 1xx, 204 and 304 responses never carry a body (RFC 9110 §6.4.1).
pub fn has_body(method: &Method, status: StatusCode) -> bool {
    *method != Method::HEAD && status_has_body(status)
}

/// Whether a response of this status describes a body (a HEAD answer describes the one GET
/// would get).
fn status_has_body(status: StatusCode) -> bool {
    !status.is_informational()
        && status != StatusCode::NO_CONTENT
        && status != StatusCode::NOT_MODIFIED
}

pub fn finish(out: fastly::http::body::StreamingBody, record: &mut AccessRecord) {
    if let Err(e) = out.finish() {
        log::warn!("{} {}: finish failed: {e}", record.method, record.path);
        record.aborted(format!("finishing the response failed: {e}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodiless_responses_are_known() {
        assert!(!has_body(&Method::HEAD, StatusCode::OK));
        assert!(!has_body(&Method::GET, StatusCode::NO_CONTENT));
        assert!(!has_body(&Method::GET, StatusCode::NOT_MODIFIED));
        assert!(has_body(&Method::GET, StatusCode::OK));
        assert!(has_body(&Method::POST, StatusCode::NOT_FOUND));
        assert!(status_has_body(StatusCode::OK), "HEAD plans as GET would");
    }
}
