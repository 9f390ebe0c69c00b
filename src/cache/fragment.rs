//! A composed page's fragments through their own route's edge cache.
//!
//! A fragment's URL is a request like any other on its route, so its object is the one a
//! client of that URL would get: the same key (the codings a page reads, [`FRAGMENT_CODINGS`]
//! being its `Accept-Encoding`), the same freshness and the same strict fill. The page reads
//! a stored object, or fills a missing one itself: it sends the fill's request, and once the
//! head is back the object is written at the origin's pace ([`Filling`], stepped by the
//! page's loop) while the page reads it as it grows, as every other reader does.
//!
//! A stale object the page must replace is revalidated with the origin's validators: a 304
//! refreshes its head and the page reads the stored body, which is neither fetched nor
//! transformed again; a 304 about another representation (RFC 9111 §4.3.4) updates nothing,
//! and the fragment is fetched again whole. An origin that fails (an error, a timeout or a
//! 5xx) within the object's `stale-if-error` leaves the page the stale copy, and an answer
//! that may not be stored leaves the stale copy in the cache, never a marker. Unlike a client's request, a
//! page never serves a stale object while it refreshes it (its fragment waits for the
//! origin's answer); one another request is replacing is served stale only within its
//! `stale-while-revalidate`. A lookup that must wait for another request's fill to start is
//! waited on beside the rest of the page, never in its way.
//!
//! [`FRAGMENT_CODINGS`]: crate::esi

use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fastly::cache::core::{CacheError, Found, PendingTransaction, Transaction};
use fastly::http::StatusCode;
use fastly::{Request, Response};
use firstbyte_config::Route;

use super::exchange::Exchange;
use super::fill::filling;
use super::fill_request::{Ask, FillRequest};
use super::key;
use super::pass::{passes, request_says_no_store};
use super::respond::from_stored;
use super::revalidate::updates;
use super::stored::{Marker, Stored};
use super::write::{self, Filling, WriteFailure};
use crate::failure::Failure;
use crate::headers::HeaderAccess;
use crate::origin::{self, Shaped};

/// What a fragment's route's cache says of it.
pub enum Lookup {
    /// A stored object answers.
    Found(Box<Cached>),
    /// This page fills the object, or revalidates a stale one: send [`Fill::request`], then
    /// [`Fill::admit`] the answer (or let [`Fill::stale_on_error`] say whether a failure
    /// leaves the stale copy).
    Fill(Box<Fill>),
    /// Another request is to fill the object first: [`Pending::ready`], then
    /// [`Pending::finish`].
    Pending(Box<Pending>),
    /// The route's cache takes no part, and why.
    Uncached(&'static str),
}

/// A fragment as its route's cache has it: the head that clients of its URL get (its
/// `Content-Encoding` the object's), with the object's body.
pub struct Cached {
    pub resp: Response,
    /// A template its route composes.
    pub template: bool,
}

struct Context {
    route: Rc<Route>,
    fill: FillRequest,
    key: Bytes,
    /// The include's `ttl`: what this page stores lives that long ([`super::policy`]).
    include_ttl: Option<u32>,
}

/// Looks `req` (a fragment's request, as it would reach its route) up in `route`'s cache.
/// `include_ttl` is the include's `ttl`: what this page stores is fresh that long instead
/// of what the origin says (bounded by `cache_max_ttl`); 0 keeps the fragment out of the
/// cache, neither read nor stored, as a request's `no-store` does.
pub fn lookup(route: &Rc<Route>, req: &Request, include_ttl: Option<u32>) -> Lookup {
    let Some(settings) = &route.cache else {
        return Lookup::Uncached("no cache");
    };
    if include_ttl == Some(0) {
        return Lookup::Uncached("the include's ttl is 0");
    }
    // The same reasons a client's request passes the cache.
    if let Some(why) = passes(settings, req) {
        return Lookup::Uncached(why);
    }
    if request_says_no_store(req) {
        return Lookup::Uncached("request no-store");
    }
    let fill = FillRequest::read(route, req, &settings.request_headers);
    let key = fill.key(route);
    if key.len() > key::MAX_KEY {
        return Lookup::Uncached("key too long");
    }
    let key = Bytes::from(key);
    let mut lookup = Transaction::lookup(key.clone()).timeout(settings.wait);
    for (name, values) in fill.variant() {
        lookup = lookup.header_values(name, values.iter());
    }
    let context = Context {
        route: Rc::clone(route),
        fill,
        key,
        include_ttl,
    };
    match lookup.execute_async() {
        Ok(pending) => {
            let pending = Pending { pending, context };
            if pending.ready() {
                pending.finish()
            } else {
                Lookup::Pending(Box::new(pending))
            }
        }
        Err(e) => {
            log::warn!("cache lookup failed: {e}");
            Lookup::Uncached("lookup failed")
        }
    }
}

/// A lookup waiting for another request's fill to start.
pub struct Pending {
    pending: PendingTransaction,
    context: Context,
}

impl Pending {
    /// Whether [`Pending::finish`] would answer at once.
    pub fn ready(&self) -> bool {
        !matches!(self.pending.pending(), Ok(true))
    }

    /// How long the route lets a lookup wait (`cache_wait_ms`).
    pub fn patience(&self) -> Duration {
        self.context
            .route
            .cache
            .as_ref()
            .map_or(Duration::ZERO, |s| s.wait)
    }

    pub fn finish(self) -> Lookup {
        match self.pending.wait() {
            Ok(tx) => decide(self.context, tx),
            Err(CacheError::Timeout) => Lookup::Uncached(super::exchange::WAIT_EXPIRED),
            Err(e) => {
                log::warn!("cache lookup failed: {e}");
                Lookup::Uncached("lookup failed")
            }
        }
    }
}

fn decide(context: Context, tx: Transaction) -> Lookup {
    let must_fill = tx.must_insert_or_update();
    let Some(found) = tx.found() else {
        if must_fill {
            return Lookup::Fill(Box::new(Fill {
                tx: Some(tx),
                context,
                stale: None,
            }));
        }
        return Lookup::Uncached("lookup found nothing to wait for");
    };
    let meta = found.user_metadata();
    let stored = match (Marker::read(&meta), Stored::decode(&meta)) {
        (None, Ok(stored)) => stored,
        _ if must_fill => {
            return Lookup::Fill(Box::new(Fill {
                tx: Some(tx),
                context,
                stale: None,
            }))
        }
        // The last answer could not be stored, but this include's ttl may make the next one
        // storable: fetched at once and stored beside the marker if it may be, so no one
        // who renews the marker keeps the page's fragment out of the cache.
        (Some(Marker::Uncacheable), _) if context.include_ttl.is_some_and(|t| t > 0) => {
            return Lookup::Fill(Box::new(Fill {
                tx: None,
                context,
                stale: None,
            }))
        }
        (Some(Marker::Uncacheable), _) => return Lookup::Uncached("marked uncacheable"),
        (Some(Marker::TooLarge), _) => return Lookup::Uncached("marked too large"),
        (None, Err(_)) => return Lookup::Uncached("stored object unusable"),
    };
    let (age, lifetime) = (found.age(), found.max_age());
    let stale_window = Duration::from_secs(stored.stale_while_revalidate);
    let fresh = !found.is_stale();
    // Stale while its age says fresh: invalidated (a soft purge), revalidated before any use.
    let staleness = age.checked_sub(lifetime).unwrap_or(Duration::MAX);
    let served_stale = !stored.must_revalidate && staleness < stale_window;
    if must_fill && !fresh {
        let stale = Stale {
            found,
            stored,
            staleness,
        };
        return Lookup::Fill(Box::new(Fill {
            tx: Some(tx),
            context,
            stale: Some(stale),
        }));
    }
    if !(fresh || served_stale) {
        return Lookup::Uncached("stale, and being replaced by another request");
    }
    match read(&found, &stored) {
        Ok(cached) => Lookup::Found(Box::new(cached)),
        Err(why) => {
            log::warn!("{why}");
            Lookup::Uncached("cache body unavailable")
        }
    }
}

/// A stored object's body under `stored`'s head.
fn read(found: &Found, stored: &Stored) -> Result<Cached, String> {
    let body = found
        .to_stream()
        .map_err(|e| format!("cache body unavailable: {e}"))?;
    let mut resp = from_stored(stored, stored.status);
    resp.set_body(body);
    Ok(Cached {
        resp,
        template: stored.template,
    })
}

/// The stale object a fill revalidates.
struct Stale {
    found: Found,
    stored: Stored,
    staleness: Duration,
}

impl Stale {
    /// The stale copy, if its `stale-if-error` still covers a failed origin.
    fn on_error(&self, failure: &str) -> Option<Cached> {
        let window = Duration::from_secs(self.stored.stale_if_error);
        if self.stored.must_revalidate || self.staleness >= window {
            return None;
        }
        log::info!("fragment served stale (stale-if-error): {failure}");
        read(&self.found, &self.stored)
            .map_err(|why| log::warn!("{why}"))
            .ok()
    }
}

/// An object this page is obliged to fill, or to revalidate; or, where a marker stands and
/// the include's ttl may make the answer storable, to store beside the marker (`tx` `None`:
/// hit-for-miss, as a client's request does).
pub struct Fill {
    tx: Option<Transaction>,
    context: Context,
    stale: Option<Stale>,
}

/// What became of a fill once its origin answered.
pub enum Admitted {
    /// The object is being written (step the filling), and is read as it grows.
    Stored {
        filling: Box<Filling>,
        cached: Box<Cached>,
    },
    /// The stored object answers: revalidated by a 304, or kept by its `stale-if-error`.
    Found(Box<Cached>),
    /// Not stored: the answer, shaped for the codings of the key.
    Uncached(Box<Shaped>),
}

impl Fill {
    /// The fill's request: only what the key holds (its codings, the route's
    /// `cache_request_headers`), and the stored object's validators when revalidating.
    pub fn request(&self) -> Request {
        let revalidating = self.stale.as_ref().map(|stale| &stale.stored);
        self.context
            .fill
            .backend_request(&self.context.route, revalidating)
    }

    /// What a failed fill request (an error, a timeout) leaves the page: the stale copy
    /// while its `stale-if-error` lasts. Dropping the transaction keeps the stale object
    /// and lets the next request take up the obligation.
    pub fn stale_on_error(self, failure: &str) -> Option<Box<Cached>> {
        self.stale?.on_error(failure).map(Box::new)
    }

    /// Stores the origin's answer, if it may be stored. `origin` is its time to the head.
    pub fn admit(self, resp: Response, origin: Duration) -> Result<Admitted, String> {
        let Fill { tx, context, stale } = self;
        let revalidating = stale.is_some();
        let route = &*context.route;
        let Some(settings) = &route.cache else {
            return Err("the route has no cache".into());
        };
        // Dropping the transaction lets the next request take up the obligation.
        let stale_or = |stale: Option<&Stale>, failure: Failure| match stale
            .and_then(|stale| stale.on_error(&failure.reason))
        {
            Some(cached) => Ok(Admitted::Found(Box::new(cached))),
            None => Err(failure.reason),
        };
        let mut shaped = match origin::shape(route, resp, origin, context.fill.codings()) {
            Ok(shaped) => shaped,
            Err(failure) => return stale_or(stale.as_ref(), failure),
        };
        if let Some(stale) = &stale {
            if shaped.status() == StatusCode::NOT_MODIFIED && !updates(&stale.stored, &shaped) {
                // A 304 about another representation must not update the object (RFC 9111
                // §4.3.4): fetched again whole, here, in the page's way. Rare: an origin
                // answers for the validators it was sent.
                log::info!("fragment: a 304 named another representation: fetched whole");
                let sent_at = Instant::now();
                let whole = origin::fetch(route, context.fill.backend_request(route, None))
                    .and_then(|resp| {
                        origin::shape(route, resp, sent_at.elapsed(), context.fill.codings())
                    });
                shaped = match whole {
                    Ok(shaped) => shaped,
                    Err(failure) => return stale_or(Some(stale), failure),
                };
            }
        }
        let exchange = Exchange {
            route,
            settings,
            fill: context.fill,
            key: context.key,
            ask: Ask::default(),
            composing: None,
            include_ttl: context.include_ttl,
            dictionaries: None,
            passing: None,
        };
        if let Some(stale) = stale {
            let status = shaped.status();
            if status == StatusCode::NOT_MODIFIED {
                let length = stale.found.known_length();
                let (object, verdict) = exchange.refreshed(&stale.stored, &shaped, length);
                let verdict = verdict.and_then(|()| tx.ok_or_else(|| "no transaction".into()));
                match verdict.map(|tx| write::update(tx, &object, &exchange.fill)) {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => log::warn!("fragment revalidated, update failed: {e}"),
                    Err(why) => log::info!("fragment revalidated, not stored again: {why}"),
                }
                return read(&stale.found, &object.stored).map(|c| Admitted::Found(Box::new(c)));
            }
            if status.is_server_error() {
                if let Some(cached) = stale.on_error(&format!("origin answered {status}")) {
                    return Ok(Admitted::Found(Box::new(cached)));
                }
            }
        }
        let object = match exchange.admit(&shaped) {
            Ok(object) => object,
            // A failed revalidation leaves no marker, as on a client's path: dropping the
            // transaction keeps the stale copy for what is left of its windows.
            Err((marker, _)) => {
                // Beside a marker (no transaction), the marker already says so.
                if let (false, Some(tx)) = (revalidating, tx) {
                    write::mark(
                        tx,
                        marker,
                        &exchange.fill,
                        &shaped.resp.header_values("vary"),
                    );
                }
                return Ok(Admitted::Uncached(Box::new(shaped)));
            }
        };
        let inserted = match tx {
            Some(tx) => write::insert_and_stream_back(tx, &object, &exchange.fill)
                .map(|(writer, found)| (writer, Some(found))),
            None => write::insert_beside(&exchange.key, &object, &exchange.fill),
        };
        let (writer, found) = match inserted {
            Ok((writer, Some(found))) => (writer, found),
            Ok((writer, None)) => {
                // Replaced at once by another request's object, which this one cannot read.
                drop(writer);
                return Err("the object just stored beside a marker could not be read back".into());
            }
            Err(e) => {
                log::warn!("cache insertion failed: {e}");
                return Ok(Admitted::Uncached(Box::new(shaped)));
            }
        };
        let body = found
            .to_stream()
            .map_err(|e| format!("cache body unavailable: {e}"));
        let filling = filling(
            route,
            settings,
            &exchange.key,
            &exchange.fill,
            writer,
            shaped,
            &object,
            None,
        )?;
        let mut resp = from_stored(&object.stored, object.stored.status);
        match body {
            Ok(body) => resp.set_body(body),
            Err(reason) => {
                let failure = WriteFailure {
                    reason,
                    too_large: false,
                };
                filling.abandon(&failure);
                return Err(failure.reason);
            }
        }
        Ok(Admitted::Stored {
            filling: Box::new(filling),
            cached: Box::new(Cached {
                resp,
                template: object.stored.template,
            }),
        })
    }
}
