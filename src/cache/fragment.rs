//! A composed page's fragments through their own route's edge cache.
//!
//! A fragment's URL is a request like any other on its route, so its object is the one a
//! client of that URL would get: the same key (the codings a page reads, [`FRAGMENT_CODINGS`]
//! being its `Accept-Encoding`), the same freshness and the same strict fill. The page reads
//! a stored object, or fills a missing one itself: it sends the fill's request, and once the
//! head is back the object is written at the origin's pace ([`Filling`], stepped by the
//! page's loop) while the page reads it as it grows, as every other reader does.
//!
//! Unlike a client's request, a fragment's never revalidates: a stale object its page must
//! replace is fetched again whole, and one another request is replacing is served stale only
//! within its `stale-while-revalidate`. A lookup that must wait for another request's fill
//! to start is waited on beside the rest of the page, never in its way.
//!
//! [`FRAGMENT_CODINGS`]: crate::esi

use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use fastly::cache::core::{CacheError, PendingTransaction, Transaction};
use fastly::{Request, Response};
use firstbyte_config::{Cookies, Route};

use super::fill_request::{Ask, FillRequest};
use super::respond::from_stored;
use super::stored::{Marker, Stored};
use super::write::{self, Filling, WriteFailure};
use super::{filling, key, request_says_no_store, Exchange};
use crate::proxy::{self, Shaped};

/// What a fragment's route's cache says of it.
pub enum Lookup {
    /// A stored object answers.
    Found(Box<Cached>),
    /// This page fills the object: send [`Fill::request`], then [`Fill::admit`] the answer.
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
}

/// Looks `req` (a fragment's request, as it would reach its route) up in `route`'s cache.
pub fn lookup(route: &Rc<Route>, req: &Request) -> Lookup {
    let Some(settings) = &route.cache else {
        return Lookup::Uncached("no cache");
    };
    // The same reasons a client's request passes the cache.
    if req.contains_header("authorization") {
        return Lookup::Uncached("authorization");
    }
    if settings.cookies == Cookies::Pass && req.contains_header("cookie") {
        return Lookup::Uncached("cookie");
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
            Err(CacheError::Timeout) => {
                Lookup::Uncached("another request's fill did not start within cache_wait_ms")
            }
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
            return Lookup::Fill(Box::new(Fill { tx, context }));
        }
        return Lookup::Uncached("lookup found nothing to wait for");
    };
    let meta = found.user_metadata();
    let stored = match (Marker::read(&meta), Stored::decode(&meta)) {
        (None, Ok(stored)) => stored,
        _ if must_fill => return Lookup::Fill(Box::new(Fill { tx, context })),
        (Some(Marker::Uncacheable), _) => return Lookup::Uncached("marked uncacheable"),
        (Some(Marker::TooLarge), _) => return Lookup::Uncached("marked too large"),
        (None, Err(_)) => return Lookup::Uncached("stored object unusable"),
    };
    let (age, lifetime) = (found.age(), found.max_age());
    let stale_window = Duration::from_secs(stored.stale_while_revalidate);
    let fresh = age < lifetime;
    let served_stale = !stored.must_revalidate && age.saturating_sub(lifetime) < stale_window;
    if must_fill && !fresh {
        return Lookup::Fill(Box::new(Fill { tx, context }));
    }
    if !(fresh || served_stale) {
        return Lookup::Uncached("stale, and being replaced by another request");
    }
    match found.to_stream() {
        Ok(body) => {
            let mut resp = from_stored(&stored, stored.status);
            resp.set_body(body);
            Lookup::Found(Box::new(Cached {
                resp,
                template: stored.template,
            }))
        }
        Err(e) => {
            log::warn!("cache body unavailable: {e}");
            Lookup::Uncached("cache body unavailable")
        }
    }
}

/// An object this page is obliged to fill.
pub struct Fill {
    tx: Transaction,
    context: Context,
}

/// What became of a fill once its origin answered.
pub enum Admitted {
    /// The object is being written (step the filling), and is read as it grows.
    Stored {
        filling: Box<Filling>,
        cached: Box<Cached>,
    },
    /// Not stored: the answer, shaped for the codings of the key.
    Uncached(Box<Shaped>),
}

impl Fill {
    /// The fill's request: only what the key holds (its codings, the route's
    /// `cache_request_headers`).
    pub fn request(&self) -> Request {
        self.context.fill.backend_request(&self.context.route, None)
    }

    /// Stores the origin's answer, if it may be stored. `origin` is its time to the head.
    pub fn admit(self, resp: Response, origin: Duration) -> Result<Admitted, String> {
        let Fill { tx, context } = self;
        let route = &*context.route;
        let Some(settings) = &route.cache else {
            return Err("the route has no cache".into());
        };
        // Dropping the transaction lets the next request take up the obligation.
        let shaped = proxy::shape(route, resp, origin, context.fill.codings())
            .map_err(|failure| failure.reason)?;
        let exchange = Exchange {
            route,
            settings,
            fill: context.fill,
            key: context.key,
            ask: Ask::default(),
            composing: None,
        };
        let object = match exchange.admit(&shaped) {
            Ok(object) => object,
            Err((marker, _)) => {
                write::mark(tx, marker);
                return Ok(Admitted::Uncached(Box::new(shaped)));
            }
        };
        let (writer, found) = match write::insert_and_stream_back(tx, &object, &exchange.fill) {
            Ok(inserted) => inserted,
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
