//! `Cache-Control: only-if-cached` (RFC 9111 §5.2.1.7): the client wants what is stored or
//! nothing. It gets a stored response this cache may give without the origin (fresh, or
//! stale within the `stale-while-revalidate` window its origin allowed), else a 504. The
//! origin is never asked: no fill, no revalidation, no refresh, not even for a request that
//! would otherwise pass the cache.

use std::time::Duration;

use bytes::Bytes;
use fastly::cache::core::Found;
use fastly::http::{Method, StatusCode};
use fastly::Request;
use firstbyte_config::{CacheSettings, Route};

use super::exchange::Exchange;
use super::fill_request::{Ask, FillRequest};
use super::pass::passes;
use super::respond::Answer;
use super::stored::{Marker, Stored};
use super::{key, write};
use crate::access_log::AccessRecord;
use crate::cache_status::CacheStatus;
use crate::composer::Composer;
use crate::failure::Failure;
use crate::timing::Clock;

/// Answers an `only-if-cached` request from the cache alone.
pub fn answer(
    route: &Route,
    settings: &CacheSettings,
    req: &Request,
    record: &mut AccessRecord,
    clock: &Clock,
    composing: Option<&mut (dyn Composer + '_)>,
) -> Result<(), Failure> {
    match stored(route, settings, req) {
        Ok(Usable {
            fill,
            key,
            found,
            stored,
            status,
        }) => {
            let mut exchange = Exchange {
                route,
                settings,
                fill,
                key,
                ask: Ask::read(req),
                composing,
                include_ttl: None,
                dictionaries: None,
                passing: None,
            };
            let answer = Answer {
                status,
                age: found.age(),
                origin: Duration::ZERO,
            };
            exchange.respond(&found, &stored, answer, record, clock)
        }
        Err(why) => {
            let why = format!("only-if-cached: {why}");
            record.cached(CacheStatus::Miss, Some(why.clone()));
            Err(Failure::new(StatusCode::GATEWAY_TIMEOUT, why))
        }
    }
}

/// A stored response that may answer without the origin.
struct Usable {
    fill: FillRequest,
    key: Bytes,
    found: Found,
    stored: Stored,
    status: CacheStatus,
}

fn stored(route: &Route, settings: &CacheSettings, req: &Request) -> Result<Usable, &'static str> {
    if !matches!(*req.get_method(), Method::GET | Method::HEAD) {
        return Err("the cache answers only GET and HEAD");
    }
    if let Some(why) = passes(settings, req) {
        return Err(why);
    }
    let fill = FillRequest::read(route, req, &settings.request_headers);
    let key = fill.key(route);
    if key.len() > key::MAX_KEY {
        return Err("key too long");
    }
    let key = Bytes::from(key);
    let found = match write::lookup(&key, &fill) {
        Ok(Some(found)) => found,
        Ok(None) => return Err("nothing stored"),
        Err(e) => {
            log::warn!("cache lookup failed: {e}");
            return Err("lookup failed");
        }
    };
    let meta = found.user_metadata();
    if Marker::read(&meta).is_some() {
        return Err("nothing stored");
    }
    let stored = Stored::decode(&meta).map_err(|_| "stored object unusable")?;
    let (age, lifetime) = (found.age(), found.max_age());
    let window = Duration::from_secs(stored.stale_while_revalidate);
    let status = if age < lifetime {
        // An object still being written has no length yet, unless it was declared.
        if found.known_length().is_some() {
            CacheStatus::Hit
        } else {
            CacheStatus::Collapsed
        }
    } else if !stored.must_revalidate && age - lifetime < window {
        CacheStatus::Stale
    } else {
        return Err("what is stored is stale");
    };
    Ok(Usable {
        fill,
        key,
        found,
        stored,
        status,
    })
}
