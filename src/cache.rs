//! A route's edge cache (`cache_ttl`): a shared HTTP cache of what this app sends, after the
//! route's chain, so a hit never runs the chain again. Through the Core Cache API.
//!
//! One transactional lookup per request decides:
//! - a fresh object answers (a 200, 304, 206 or 416 made from it, its body appended
//!   host-side): a hit, or a collapsed miss while another request still writes it;
//! - no object obliges this request to fill one. Every other request for the key waits in
//!   its own lookup (up to `cache_wait_ms`) for the insertion to start. The fill runs at the
//!   origin's pace: this app writes the body into the object, and every client, this one
//!   included, reads the object as it grows, so no client's pace or departure reaches any
//!   other's;
//! - a stale object is served while one request refreshes it (stale-while-revalidate), or
//!   revalidated first, with a conditional request whose 304 refreshes its head and keeps its
//!   body; with stale-if-error it answers while the origin fails.
//!
//! The origin says how long its response is fresh and how to check it again ([`policy`]);
//! the route's settings are the defaults and bounds around that. A fill carries only what the
//! key holds ([`fill_request`]), so no client can shape what others get.

mod conditional;
mod exchange;
mod fill;
mod fill_request;
pub mod fragment;
mod key;
mod only_if_cached;
mod pass;
mod policy;
mod range;
mod respond;
mod revalidate;
mod stored;
pub mod write;

use std::time::Duration;

use bytes::Bytes;
use fastly::cache::core::{CacheError, Transaction};
use fastly::http::Method;
use fastly::Request;
use firstbyte_config::Route;

use crate::access_log::AccessRecord;
use crate::cache_status::CacheStatus;
use crate::composer::Composer;
use crate::dictionary::held::Pending;
use crate::dictionary::Dictionaries;
use crate::failure::Failure;
use crate::timing::Clock;
use exchange::Exchange;
pub use exchange::WAIT_EXPIRED;
use fill_request::{Ask, FillRequest};
use pass::{pass, passes, request_says, request_says_no_store, unsafe_method};
use respond::Answer;
use stored::{Marker, Stored};

/// Answers a request on a route with a cache.
pub fn forward(
    route: &Route,
    req: Request,
    record: &mut AccessRecord,
    clock: &Clock,
    composing: Option<&mut (dyn Composer + '_)>,
    dictionaries: Option<&Dictionaries>,
) -> Result<(), Failure> {
    let Some(settings) = &route.cache else {
        return pass(
            route,
            req,
            CacheStatus::Pass,
            "no cache",
            record,
            clock,
            composing,
            dictionaries,
        );
    };
    if request_says(&req, "only-if-cached") {
        return only_if_cached::answer(route, settings, &req, record, clock, composing);
    }
    let method = req.get_method().clone();
    if method != Method::GET && method != Method::HEAD {
        return unsafe_method(route, settings, req, record, clock, composing, dictionaries);
    }
    if let Some(why) = passes(settings, &req) {
        return pass(
            route,
            req,
            CacheStatus::Pass,
            why,
            record,
            clock,
            composing,
            dictionaries,
        );
    }
    let mut fill = FillRequest::read(route, &req, &settings.request_headers);
    // A `dcb` object is stored per dictionary the edge holds for this request, never per
    // hash a client names (docs/dictionaries.md).
    let variant = dictionaries.and_then(Dictionaries::variant);
    fill.dictionary = variant.as_ref().map(Pending::hash);
    let fill_dictionaries = dictionaries.map(|d| d.for_fill(variant));
    let key = fill.key(route);
    if key.len() > key::MAX_KEY {
        return pass(
            route,
            req,
            CacheStatus::Bypass,
            "key too long",
            record,
            clock,
            composing,
            dictionaries,
        );
    }
    let key = Bytes::from(key);
    let ask = Ask::read(&req);
    let exchange = Exchange {
        route,
        settings,
        fill,
        key,
        ask,
        composing,
        include_ttl: None,
        dictionaries: fill_dictionaries,
        passing: dictionaries,
    };
    if request_says_no_store(&req) {
        return exchange.without_storing(req, record, clock);
    }
    let tx = match exchange.lookup(settings.wait) {
        Ok(tx) => tx,
        Err(e) => {
            let why = match e {
                CacheError::Timeout => WAIT_EXPIRED,
                e => {
                    log::warn!("cache lookup failed: {e}");
                    "lookup failed"
                }
            };
            return pass(
                route,
                req,
                CacheStatus::Bypass,
                why,
                record,
                clock,
                exchange.composing,
                exchange.passing,
            );
        }
    };
    exchange.decide(tx, req, record, clock)
}

impl Exchange<'_, '_> {
    /// What the lookup found decides what this request does.
    fn decide(
        mut self,
        tx: Transaction,
        req: Request,
        record: &mut AccessRecord,
        clock: &Clock,
    ) -> Result<(), Failure> {
        let must_fill = tx.must_insert_or_update();
        let Some(found) = tx.found() else {
            if must_fill {
                return self.fill(tx, req, record, clock);
            }
            return pass(
                self.route,
                req,
                CacheStatus::Bypass,
                "lookup found nothing to wait for",
                record,
                clock,
                self.composing,
                self.passing,
            );
        };
        let meta = found.user_metadata();
        if let Some(marker) = Marker::read(&meta) {
            if must_fill {
                return self.fill(tx, req, record, clock);
            }
            return match marker {
                Marker::Uncacheable => self.fill_beside(req, record, clock),
                Marker::TooLarge => pass(
                    self.route,
                    req,
                    CacheStatus::Pass,
                    "marked too large",
                    record,
                    clock,
                    self.composing,
                    self.passing,
                ),
            };
        }
        let stored = match Stored::decode(&meta) {
            Ok(stored) => stored,
            Err(e) => {
                log::warn!("cached object unusable: {e}");
                if must_fill {
                    return self.fill(tx, req, record, clock);
                }
                let why = format!("stored object unusable: {e}");
                return pass(
                    self.route,
                    req,
                    CacheStatus::Bypass,
                    &why,
                    record,
                    clock,
                    self.composing,
                    self.passing,
                );
            }
        };
        let age = found.age();
        let lifetime = found.max_age();
        if !found.is_stale() && !must_fill {
            // An object still being written has no length yet, unless it was declared.
            let status = if found.known_length().is_some() {
                CacheStatus::Hit
            } else {
                CacheStatus::Collapsed
            };
            let answer = Answer {
                status,
                age,
                origin: Duration::ZERO,
            };
            return self.respond(&found, &stored, answer, record, clock);
        }
        // Stale while its age says fresh: an unsafe request invalidated it (a soft purge),
        // and it is revalidated before any use, with no stale window.
        let staleness = age.checked_sub(lifetime).unwrap_or(Duration::MAX);
        self.stale(tx, found, stored, staleness, req, record, clock)
    }
}
