//! The origin exchange: a backend request shaped from the client's, sent within the route's
//! deadlines, and the response head shaped into a delivery decision ([`Shaped`]). The pass
//! route, the cache and the composer all reach the origin through here; it knows none of
//! them.

pub mod template;

use std::time::{Duration, Instant};

use fastly::handle::BodyHandle;
use fastly::http::request::SendErrorCause;
use fastly::http::{FramingHeadersMode, Method, StatusCode};
use fastly::{Body, Request, Response};

use firstbyte_config::chain::{Chain, Plan, ResponseHead};
use firstbyte_config::{route_key, Route};
use firstbyte_transform::codec::Encoding;
use firstbyte_transform::dictionary::DictionaryCoding;
use firstbyte_transform::{Pipeline, Transform};

use crate::access_log::AccessRecord;
use crate::deadline::response_within;
use crate::delivery::{self, Delivery};
use crate::failure::Failure;
use crate::headers::{self, strip_hop_by_hop, HeaderAccess};
use crate::pump::PumpOptions;
use crate::routing::backend_path;

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
    /// The origin's `Content-Encoding`, every line of it joined, before a transform
    /// rewrote it: what the body's bytes are.
    pub origin_coding: Option<String>,
    /// The body is a template the route composes (ESI): `plan` makes its text, and this is
    /// the coding of the composed page.
    pub compose: Option<Encoding>,
    /// A stage that sees the body as the client decodes it, placed before the encoder (a
    /// compression dictionary being kept).
    pub tap: Option<Box<dyn Transform>>,
    /// Replaces the plan's encoder (`dcb` against a dictionary the client holds).
    pub encoder: Option<Box<dyn Transform>>,
    /// The `Accept-Encoding` the delivery was decided for (a cache fill's: the codings its
    /// key holds), for a decision revisited before the head goes out (a dictionary kept).
    pub accept_encoding: Option<String>,
    /// Why this response, though its head allows it, may not be stored for the key it was
    /// fetched for (a `dcb` variant's fill that had to fall back to br or gzip).
    pub not_for_key: Option<String>,
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
        &mut self,
        route: &Route,
        record: Option<&mut AccessRecord>,
    ) -> Result<Option<Pipeline>, Failure> {
        let Some(plan) = self.plan else {
            return Ok(None);
        };
        let (tap, encoder) = (self.tap.take(), self.encoder.take());
        let pipeline = plan
            .pipeline_with(route.chain.as_ref(), tap, encoder)
            .map_err(|e| {
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
/// `accept_encoding`. A template the route composes ([`template::composes`]) is shaped as text
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
    // Every line: a second `Content-Encoding` line is a coding as much as a list's second
    // member, so `identity` on the first cannot hide a coding on the next.
    let codings = resp.header_values("content-encoding");
    let origin_coding = (!codings.is_empty()).then(|| codings.join(", "));
    if route.cache.is_some()
        && origin_coding
            .as_deref()
            .is_some_and(names_dictionary_coding)
    {
        // Made for the dictionary one client advertised, and a cache key does not hold it.
        return Err(Failure::new(
            StatusCode::BAD_GATEWAY,
            format!(
                "backend '{}' sent dcb or dcz to a route that caches",
                route.backend
            ),
        ));
    }
    let status = resp.get_status();
    let delivery = if status_has_body(status) {
        let (content_type, content_encoding, cache_control) = (
            resp.header("content-type"),
            origin_coding.clone(),
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
    if status == StatusCode::PARTIAL_CONTENT && template::is_template(route, &resp) {
        return Err(Failure::new(
            StatusCode::BAD_GATEWAY,
            format!("backend '{}' {}", route.backend, template::TEMPLATE_206),
        ));
    }
    let compose = template::composes(route, &resp)
        .then(|| template::output_coding(route.chain.as_ref(), accept_encoding));
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
            let template =
                template::template_plan(plan, resp.header("content-encoding").as_deref());
            template::composed_head(&mut resp, output, route.chain.as_ref());
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
        origin_coding,
        compose,
        tap: None,
        encoder: None,
        accept_encoding: accept_encoding.map(str::to_string),
        not_for_key: None,
    })
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

/// Whether a `Content-Encoding` value names `dcb` or `dcz` among its codings (RFC 9842).
pub fn names_dictionary_coding(coding: &str) -> bool {
    coding
        .split(',')
        .any(|c| DictionaryCoding::from_token(c).is_some())
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
