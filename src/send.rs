//! Sending a shaped origin response to the client: the head the moment it is known, then
//! the body appended host-side when it goes untouched, pumped through the app when it is
//! transformed, or handed to the route's [`Composer`] when it is a template.

use fastly::http::Method;
use firstbyte_config::Route;

use crate::access_log::{AccessRecord, BodyPath};
use crate::cache_status::CacheStatus;
use crate::composer::{Composer, Template};
use crate::failure::Failure;
use crate::headers::FOR_THIS_CACHE;
use crate::origin::{has_body, Shaped};
use crate::pump::{append_to_client, pump};
use crate::timing::{server_timing, Clock};

/// Sends a shaped response to the client as it comes: the head at once, then the body
/// appended host-side when it goes untouched, or pumped through the app.
pub fn send(
    route: &Route,
    mut shaped: Shaped,
    method: &Method,
    cache: Option<CacheStatus>,
    record: &mut AccessRecord,
    clock: &Clock,
    composer: Option<&mut (dyn Composer + '_)>,
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

    if let (Some(_), Some(composer)) = (compose, composer.as_deref()) {
        composer.private_for(&mut resp);
    }
    if !has_body(method, status) {
        record.headers_sent(status.as_u16(), clock);
        record.bytes_out = Some(0);
        resp.send_to_client();
        return Ok(());
    }
    if let (Some(output), Some(composer)) = (compose, composer) {
        let template = Template {
            resp,
            body,
            plan,
            declared: declared_length,
            output,
            filling: None,
            ahead: Vec::new(),
        };
        composer.compose(route, template, record, clock);
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

pub fn finish(out: fastly::http::body::StreamingBody, record: &mut AccessRecord) {
    if let Err(e) = out.finish() {
        log::warn!("{} {}: finish failed: {e}", record.method, record.path);
        record.aborted(format!("finishing the response failed: {e}"));
    }
}
