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
pub(crate) mod control;
mod fill_request;
pub mod fragment;
mod key;
mod only_if_cached;
mod policy;
mod range;
mod respond;
mod status;
mod stored;
mod write;

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use fastly::cache::core::{CacheError, Found, Transaction};
use fastly::http::{Method, StatusCode};
use fastly::Request;
use firstbyte_config::{CacheSettings, Cookies, Freshness as FreshnessSource, Route};

use crate::access_log::AccessRecord;
use crate::failure::Failure;
use crate::headers::HeaderAccess;
use crate::proxy::{self, Composing, Shaped};
use crate::routing;
use crate::timing::Clock;
use fill_request::{Ask, FillRequest};
use policy::{Freshness, Rules, Verdict};
use respond::{respond, Answer};
use stored::{Marker, Stored};
use write::Object;

pub use write::{Filling, WriteFailure};

pub use status::CacheStatus;
pub use stored::FOR_THIS_CACHE;

/// Answers a request on a route with a cache.
pub fn forward(
    route: &Route,
    req: Request,
    record: &mut AccessRecord,
    clock: &Clock,
    composing: Option<&mut Composing>,
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
        );
    };
    if request_says(&req, "only-if-cached") {
        return only_if_cached::answer(route, settings, &req, record, clock, composing);
    }
    let method = req.get_method().clone();
    if method != Method::GET && method != Method::HEAD {
        return unsafe_method(route, settings, req, record, clock, composing);
    }
    if let Some(why) = passes(settings, &req) {
        return pass(route, req, CacheStatus::Pass, why, record, clock, composing);
    }
    let fill = FillRequest::read(route, &req, &settings.request_headers);
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
            );
        }
    };
    exchange.decide(tx, req, record, clock)
}

/// Why a lookup went on without the cache: the fill it waited on did not start in time.
pub const WAIT_EXPIRED: &str = "another request's fill did not start within cache_wait_ms";

/// How often a request waiting on another's revalidation looks again.
const REVALIDATION_POLL: Duration = Duration::from_millis(20);

/// Whether a lookup still finds a stale object that another request is revalidating.
fn still_revalidating(tx: &Transaction) -> bool {
    if tx.must_insert_or_update() {
        return false;
    }
    tx.found()
        .is_some_and(|found| found.is_stale() && Marker::read(&found.user_metadata()).is_none())
}

/// How far a stored object's start may move without its having been stored again: the
/// clocks of this app and of the cache read it a hostcall apart.
const RESTORED_SLACK: Duration = Duration::from_millis(100);

/// A stale object as a request waiting on another's revalidation first saw it, to tell when
/// that revalidation has stored an answer.
struct Sighting {
    metadata: Bytes,
    /// When the object's age was zero (its insertion or update, less the age it came with).
    start: Option<Instant>,
}

impl Sighting {
    fn of(found: &Found) -> Sighting {
        Sighting {
            metadata: found.user_metadata(),
            start: Instant::now().checked_sub(found.age()),
        }
    }

    /// `found` and its head, when it is a stale object stored since this sighting: its head
    /// differs (a 304's `Date` alone changes it), or its age started again. The core cache
    /// keeps an updated object's age from the update, so either shows on Viceroy and Fastly;
    /// a 304 with an unchanged head and an `Age` as large as the time the object had been
    /// stored shows neither, and its waiters revalidate beside it after `cache_wait_ms`.
    fn replaced_by(&self, found: Found) -> Option<(Found, Stored)> {
        if !found.is_stale() {
            return None;
        }
        let meta = found.user_metadata();
        let restarted = match (self.start, Instant::now().checked_sub(found.age())) {
            (Some(then), Some(now)) => now > then + RESTORED_SLACK,
            _ => false,
        };
        if (meta == self.metadata && !restarted) || Marker::read(&meta).is_some() {
            return None;
        }
        let stored = Stored::decode(&meta).ok()?;
        Some((found, stored))
    }
}

/// One request's dealings with the cache, once its key is known.
struct Exchange<'a, 'c, 'r> {
    route: &'a Route,
    settings: &'a CacheSettings,
    fill: FillRequest,
    key: Bytes,
    ask: Ask,
    composing: Option<&'a mut Composing<'c, 'r>>,
}

impl Exchange<'_, '_, '_> {
    /// A transactional lookup of this exchange's key and variant, waiting up to `wait` for
    /// another request's fill to start. A range is only ever asked within a length this app
    /// knows (the core cache's, or the stored head's), so the cache may wait for its first
    /// byte instead of sending it all.
    fn lookup(&self, wait: Duration) -> Result<Transaction, CacheError> {
        let mut lookup = Transaction::lookup(self.key.clone())
            .timeout(wait)
            .always_use_requested_range();
        for (name, values) in self.fill.variant() {
            lookup = lookup.header_values(name, values.iter());
        }
        lookup.execute()
    }

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

    /// No usable object: fetch, and store what may be stored, the client reading it from the
    /// cache as it is written.
    fn fill(
        mut self,
        tx: Transaction,
        req: Request,
        record: &mut AccessRecord,
        clock: &Clock,
    ) -> Result<(), Failure> {
        let shaped = self.fetch(None, record)?;
        match self.admit(&shaped) {
            Err((marker, why)) => {
                write::mark(tx, marker, &self.fill, &shaped.resp.header_values("vary"));
                self.send(shaped, &req, CacheStatus::Pass, Some(why), record, clock)
            }
            Ok(object) => match write::insert_and_stream_back(tx, &object, &self.fill) {
                Ok((writer, found)) => {
                    record.cached(CacheStatus::Miss, None);
                    let answer = Answer {
                        status: CacheStatus::Miss,
                        age: object.freshness.age,
                        origin: shaped.origin,
                    };
                    self.answer_and_write(writer, &found, shaped, &object, answer, record, clock)
                }
                Err(e) => {
                    log::warn!("cache insertion failed: {e}");
                    let why = format!("insertion failed: {e}");
                    self.send(shaped, &req, CacheStatus::Bypass, Some(why), record, clock)
                }
            },
        }
    }

    /// A marker says the last response could not be stored: fetch at once, without waiting
    /// on anyone, and store this response if it may be (hit-for-miss).
    fn fill_beside(
        mut self,
        req: Request,
        record: &mut AccessRecord,
        clock: &Clock,
    ) -> Result<(), Failure> {
        let shaped = self.fetch(None, record)?;
        let object = match self.admit(&shaped) {
            Ok(object) => object,
            Err((_, why)) => {
                let why = format!("marked uncacheable, still: {why}");
                return self.send(shaped, &req, CacheStatus::Pass, Some(why), record, clock);
            }
        };
        match write::insert_beside(&self.key, &object, &self.fill) {
            Ok((writer, Some(found))) => {
                record.cached(
                    CacheStatus::Miss,
                    Some("stored where a marker stood".into()),
                );
                let answer = Answer {
                    status: CacheStatus::Miss,
                    age: object.freshness.age,
                    origin: shaped.origin,
                };
                self.answer_and_write(writer, &found, shaped, &object, answer, record, clock)
            }
            Ok((writer, None)) => {
                // Replaced at once by another request's object: store ours anyway, answer
                // from nothing this request can read.
                let _ = self.write(writer, shaped, &object, record);
                Err(Failure::new(
                    StatusCode::BAD_GATEWAY,
                    "the object just stored could not be read back",
                ))
            }
            Err(e) => {
                let why = format!("insertion failed: {e}");
                self.send(shaped, &req, CacheStatus::Bypass, Some(why), record, clock)
            }
        }
    }

    /// A stale object: served while it is refreshed, revalidated first, or served while the
    /// origin fails, as its directives and the route allow.
    #[allow(clippy::too_many_arguments)]
    fn stale(
        mut self,
        tx: Transaction,
        found: Found,
        stored: Stored,
        staleness: Duration,
        req: Request,
        record: &mut AccessRecord,
        clock: &Clock,
    ) -> Result<(), Failure> {
        let must_fill = tx.must_insert_or_update();
        let window = Duration::from_secs(stored.stale_while_revalidate);
        if !stored.must_revalidate && staleness < window {
            let answer = Answer {
                status: CacheStatus::Stale,
                age: found.age(),
                origin: Duration::ZERO,
            };
            self.respond(&found, &stored, answer, record, clock)?;
            // The client has its whole response: what follows never touches it.
            if must_fill {
                let outcome = self.refresh(tx, &found, &stored, record);
                record.cache_reason = Some(outcome);
            }
            return Ok(());
        }
        if must_fill {
            return self.revalidate(Some(tx), found, stored, staleness, req, record, clock);
        }
        // Another request holds the revalidation. The core cache hands a stale object it
        // keeps to every lookup at once (its stale window is ours to use), so nothing
        // collapses these requests: they wait on that revalidation here, as collapsed misses
        // wait on a fill, instead of each asking the origin.
        drop(tx);
        let sighting = Sighting::of(&found);
        let deadline = Instant::now() + self.settings.wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(REVALIDATION_POLL));
            let Ok(tx) = self.lookup(deadline.saturating_duration_since(Instant::now())) else {
                break;
            };
            // Served once its length is known (whole, or declared), as a hit's is: a HEAD
            // must get the Content-Length a GET gets.
            let refreshed = tx
                .found()
                .filter(|f| f.known_length().is_some())
                .and_then(|f| sighting.replaced_by(f));
            if let Some((found, stored)) = refreshed {
                // Refreshed or replaced since this request saw it, yet stale again
                // (`no-cache`, or a lifetime shorter than the origin took): that answer was
                // validated after this request arrived, on its behalf as a collapsed miss's
                // fill is, so it serves it rather than ask the origin once more.
                drop(tx);
                record.cache_reason = Some("revalidated by another request".into());
                let answer = Answer {
                    status: CacheStatus::Revalidated,
                    age: found.age(),
                    origin: Duration::ZERO,
                };
                return self.respond(&found, &stored, answer, record, clock);
            }
            if !still_revalidating(&tx) {
                // Refreshed, replaced, or the revalidation given up and now this request's.
                return self.decide(tx, req, record, clock);
            }
        }
        let outcome = self.revalidate(None, found, stored, staleness, req, record, clock);
        record.cache_reason = Some(format!(
            "another request's revalidation did not end within cache_wait_ms{}",
            record
                .cache_reason
                .as_deref()
                .map_or(String::new(), |r| format!("; {r}"))
        ));
        outcome
    }

    /// Asks the origin whether a stale object is still current before it answers. With no
    /// transaction (another request is revalidating it), the answer is this client's alone.
    #[allow(clippy::too_many_arguments)]
    fn revalidate(
        mut self,
        tx: Option<Transaction>,
        found: Found,
        stored: Stored,
        staleness: Duration,
        req: Request,
        record: &mut AccessRecord,
        clock: &Clock,
    ) -> Result<(), Failure> {
        let stale_on_error =
            !stored.must_revalidate && staleness < Duration::from_secs(stored.stale_if_error);
        let shaped = match self.fetch_revalidating(&stored, record) {
            Ok(shaped) => shaped,
            Err(failure) if stale_on_error => {
                let why = format!("stale-if-error: {}", failure.reason);
                return self.serve_stale(&found, &stored, why, record, clock);
            }
            Err(failure) => return Err(failure),
        };
        let status = shaped.status();
        if status == StatusCode::NOT_MODIFIED {
            let (object, verdict) = self.refreshed(&stored, &shaped, found.known_length());
            let mut reason = None;
            match (tx, verdict) {
                (Some(tx), Ok(())) => {
                    if let Err(e) = write::update(tx, &object, &self.fill) {
                        reason = Some(format!("update failed: {e}"));
                    }
                }
                (None, Ok(())) => reason = Some("revalidated beside another request".into()),
                (_, Err(why)) => reason = Some(format!("not stored again: {why}")),
            }
            record.cache_reason = reason;
            let answer = Answer {
                status: CacheStatus::Revalidated,
                age: object.freshness.age,
                origin: shaped.origin,
            };
            return self.respond(&found, &object.stored, answer, record, clock);
        }
        if status.is_server_error() && stale_on_error {
            let why = format!("stale-if-error: origin answered {status}");
            return self.serve_stale(&found, &stored, why, record, clock);
        }
        // A whole new response: it replaces the object when this request may write it.
        match (tx, self.admit(&shaped)) {
            (Some(tx), Ok(object)) => {
                match write::insert_and_stream_back(tx, &object, &self.fill) {
                    Ok((writer, found)) => {
                        record.cached(CacheStatus::Miss, Some("stale object replaced".into()));
                        let answer = Answer {
                            status: CacheStatus::Miss,
                            age: object.freshness.age,
                            origin: shaped.origin,
                        };
                        self.answer_and_write(
                            writer, &found, shaped, &object, answer, record, clock,
                        )
                    }
                    Err(e) => {
                        let why = format!("insertion failed: {e}");
                        self.send(shaped, &req, CacheStatus::Bypass, Some(why), record, clock)
                    }
                }
            }
            (None, Ok(_)) => {
                let why = "revalidated beside another request".to_string();
                self.send(shaped, &req, CacheStatus::Pass, Some(why), record, clock)
            }
            // The stale object stays for what is left of its window (dropping the transaction
            // cancels it); the origin's new answer goes to this client alone.
            (_, Err((_, why))) => {
                self.send(shaped, &req, CacheStatus::Pass, Some(why), record, clock)
            }
        }
    }

    /// Refreshes a stale object whose client already has its answer. Whatever happens, the
    /// stale object stays until a complete replacement exists: a failed fetch, a refused or
    /// cut response keep it. Returns what happened, for the access log.
    fn refresh(
        self,
        tx: Transaction,
        found: &Found,
        stored: &Stored,
        record: &mut AccessRecord,
    ) -> String {
        let shaped = match self.fetch_revalidating(stored, record) {
            Ok(shaped) => shaped,
            Err(failure) => return format!("refresh failed: {}", failure.reason),
        };
        if shaped.status() == StatusCode::NOT_MODIFIED {
            let (object, verdict) = self.refreshed(stored, &shaped, found.known_length());
            return match verdict.map(|()| write::update(tx, &object, &self.fill)) {
                Ok(Ok(())) => "refreshed: not modified".into(),
                Ok(Err(e)) => format!("refresh failed: update failed: {e}"),
                Err(why) => format!("refresh not stored: {why}"),
            };
        }
        let object = match self.admit(&shaped) {
            Ok(object) => object,
            Err((_, why)) => {
                return format!(
                    "refresh not stored: origin answered {}: {why}",
                    shaped.status()
                )
            }
        };
        let writer = match write::insert(tx, &object, &self.fill) {
            Ok(writer) => writer,
            Err(e) => return format!("refresh failed: insertion failed: {e}"),
        };
        let new_key = object.stored.object_key.clone();
        match self.write(writer, shaped, &object, record) {
            Ok(()) => "refreshed".into(),
            Err(why) => {
                // The new object is gone; the old one comes back for the rest of its window.
                let old = Object::of(
                    stored.clone(),
                    freshness_of(stored, found),
                    self.settings,
                    &self.fill,
                    found.known_length(),
                );
                if old.stored.object_key != new_key {
                    write::restore(&self.key, found, &old, &self.fill);
                }
                format!("refresh failed: {why}; stale object restored")
            }
        }
    }

    /// The backend's response to this exchange's fill request (conditional when revalidating),
    /// shaped for the codings the key holds.
    fn fetch(
        &self,
        revalidating: Option<&Stored>,
        record: &mut AccessRecord,
    ) -> Result<Shaped, Failure> {
        let bereq = self.fill.backend_request(self.route, revalidating);
        proxy::fetch_shaped(self.route, bereq, self.fill.codings(), record)
    }

    /// The origin's answer to a revalidation of `stored`. A 304 about another representation
    /// (RFC 9111 §4.3.4: its validator is not the stored one's) must not update the object:
    /// the response is fetched again, whole.
    fn fetch_revalidating(
        &self,
        stored: &Stored,
        record: &mut AccessRecord,
    ) -> Result<Shaped, Failure> {
        let shaped = self.fetch(Some(stored), record)?;
        if shaped.status() == StatusCode::NOT_MODIFIED && !updates(stored, &shaped) {
            log::info!("a 304 named another representation than the stored one: fetched whole");
            return self.fetch(None, record);
        }
        Ok(shaped)
    }

    /// Whether a response may become an object, and the marker to leave when it may not.
    fn admit(&self, shaped: &Shaped) -> Result<Object, (Marker, String)> {
        if shaped
            .output_length()
            .is_some_and(|n| n > self.settings.max_bytes)
        {
            return Err((Marker::TooLarge, "larger than cache_max_bytes".into()));
        }
        let fields = |name: &str| shaped.resp.header_values(name);
        match policy::judge(
            shaped.status().as_u16(),
            &fields,
            &rules(self.settings),
            SystemTime::now(),
            shaped.origin,
        ) {
            Verdict::Store(freshness) => {
                let object = Object::new(shaped, freshness, self.settings, &self.fill, &self.key);
                // Past its freshness and every stale window already (an upstream `Age` as
                // large): stored, it would be unusable at once, and every waiting request
                // would fetch again in turn; a marker lets them all pass together instead.
                if object.freshness.age >= object.freshness.lifetime + object.kept_stale {
                    return Err((
                        Marker::Uncacheable,
                        "stale past its windows on arrival".into(),
                    ));
                }
                Ok(object)
            }
            Verdict::Refuse(why) => Err((Marker::Uncacheable, why)),
        }
    }

    /// The object a 304 leaves of a stored one, and whether it may be stored again.
    fn refreshed(
        &self,
        stored: &Stored,
        not_modified: &Shaped,
        length: Option<u64>,
    ) -> (Object, Result<(), String>) {
        let fields: Vec<(String, fastly::http::HeaderValue)> = not_modified
            .resp
            .get_headers()
            .map(|(n, v)| (n.as_str().to_string(), v.clone()))
            .collect();
        let mut next = stored::refreshed_by(stored, &fields);
        // The 304's Age is the refreshed head's; the stored one had none.
        let lines = |name: &str| {
            if name == "age" {
                not_modified.resp.header_values("age")
            } else {
                next.lines(name)
            }
        };
        let verdict = policy::judge(
            stored.status.as_u16(),
            &lines,
            &rules(self.settings),
            SystemTime::now(),
            not_modified.origin,
        );
        let (freshness, verdict) = match verdict {
            Verdict::Store(freshness) => (freshness, Ok(())),
            Verdict::Refuse(why) => (
                Freshness {
                    lifetime: Duration::ZERO,
                    age: Duration::ZERO,
                    stale_while_revalidate: Duration::ZERO,
                    stale_if_error: Duration::ZERO,
                    must_revalidate: true,
                },
                Err(why),
            ),
        };
        next.stale_while_revalidate = freshness.stale_while_revalidate.as_secs();
        next.stale_if_error = freshness.stale_if_error.as_secs();
        next.must_revalidate = freshness.must_revalidate;
        let object = Object::of(next, freshness, self.settings, &self.fill, length);
        (object, verdict)
    }

    /// Writes a fill's body into its object; on failure the insertion is purged (and, when
    /// the object outgrew the limit, a marker keeps the next requests from collapsing onto
    /// another such object). Readers of the object see its body cut, never complete.
    fn write(
        &self,
        writer: fastly::http::body::StreamingBody,
        shaped: Shaped,
        object: &Object,
        record: &mut AccessRecord,
    ) -> Result<(), String> {
        let filling = self.filling(writer, shaped, object, record)?;
        written(filling.run(), record)
    }

    /// The writing of a fill's body, to run or to step.
    fn filling(
        &self,
        writer: fastly::http::body::StreamingBody,
        shaped: Shaped,
        object: &Object,
        record: &mut AccessRecord,
    ) -> Result<Filling, String> {
        filling(
            self.route,
            self.settings,
            &self.key,
            &self.fill,
            writer,
            shaped,
            object,
            Some(record),
        )
    }

    /// Sends the fill's response to this client alone, as an uncached one.
    fn send(
        &mut self,
        shaped: Shaped,
        req: &Request,
        status: CacheStatus,
        why: Option<String>,
        record: &mut AccessRecord,
        clock: &Clock,
    ) -> Result<(), Failure> {
        record.cached(status, why);
        let composing = self.composing.as_deref_mut();
        proxy::send(
            self.route,
            shaped,
            req.get_method(),
            Some(status),
            record,
            clock,
            composing,
        )
    }

    /// Answers the client from the object being inserted (`found`) and writes the object,
    /// the fill's body at the origin's pace: after the answer, which the host streams from
    /// the cache as the object grows; or, for a template, beside the page composed from it,
    /// in the page's own loop.
    #[allow(clippy::too_many_arguments)]
    fn answer_and_write(
        &mut self,
        writer: fastly::http::body::StreamingBody,
        found: &Found,
        shaped: Shaped,
        object: &Object,
        answer: Answer,
        record: &mut AccessRecord,
        clock: &Clock,
    ) -> Result<(), Failure> {
        if object.stored.template && self.composing.is_some() {
            let filling = self
                .filling(writer, shaped, object, record)
                .map_err(|reason| Failure::new(StatusCode::BAD_GATEWAY, reason))?;
            let composing = self.composing.as_deref_mut();
            return respond::respond_filling(
                found,
                &object.stored,
                &self.ask,
                answer,
                record,
                clock,
                self.route,
                composing,
                Some(filling),
                &self.key,
            );
        }
        let answered = self.respond(found, &object.stored, answer, record, clock);
        // A failure is logged and in the access record; the client's body is cut.
        let _ = self.write(writer, shaped, object, record);
        answered
    }

    /// A stale object answers while the origin fails (stale-if-error).
    fn serve_stale(
        &mut self,
        found: &Found,
        stored: &Stored,
        why: String,
        record: &mut AccessRecord,
        clock: &Clock,
    ) -> Result<(), Failure> {
        record.cache_reason = Some(why);
        let answer = Answer {
            status: CacheStatus::Stale,
            age: found.age(),
            origin: Duration::ZERO,
        };
        self.respond(found, stored, answer, record, clock)
    }

    /// Answers the client from a stored object (composing it, if it is a template).
    fn respond(
        &mut self,
        found: &Found,
        stored: &Stored,
        answer: Answer,
        record: &mut AccessRecord,
        clock: &Clock,
    ) -> Result<(), Failure> {
        let composing = self.composing.as_deref_mut();
        respond(
            found, stored, &self.ask, answer, record, clock, self.route, composing, &self.key,
        )
    }

    /// A request that says `no-store`: a stored response may answer it (RFC 9111 §5.2.1.5),
    /// but nothing of this exchange is stored.
    fn without_storing(
        mut self,
        req: Request,
        record: &mut AccessRecord,
        clock: &Clock,
    ) -> Result<(), Failure> {
        if let Ok(Some(found)) = write::lookup(&self.key, &self.fill) {
            let fresh = !found.is_stale();
            if let Ok(stored) = Stored::decode(&found.user_metadata()) {
                if fresh && found.known_length().is_some() {
                    let answer = Answer {
                        status: CacheStatus::Hit,
                        age: found.age(),
                        origin: Duration::ZERO,
                    };
                    return self.respond(&found, &stored, answer, record, clock);
                }
            }
        }
        pass(
            self.route,
            req,
            CacheStatus::Pass,
            "request no-store",
            record,
            clock,
            self.composing,
        )
    }
}

/// The writing of a fill's body into its object, through the route's pipeline; `record`, when
/// the fill is a client's, notes the transforms.
#[allow(clippy::too_many_arguments)]
fn filling(
    route: &Route,
    settings: &CacheSettings,
    key: &Bytes,
    fill: &FillRequest,
    writer: fastly::http::body::StreamingBody,
    shaped: Shaped,
    object: &Object,
    record: Option<&mut AccessRecord>,
) -> Result<Filling, String> {
    let pipeline = match shaped.pipeline(route, record) {
        Ok(pipeline) => pipeline,
        Err(failure) => {
            writer.abandon().ok();
            write::purge(&object.stored.object_key);
            return Err(failure.reason);
        }
    };
    let opts = shaped.pump_options(route, pipeline);
    Ok(Filling::new(
        writer,
        shaped.body,
        opts,
        settings.max_bytes,
        object,
        key,
        fill,
    ))
}

/// Records how writing an object ended (its failure already purged it).
pub fn written(result: Result<u64, WriteFailure>, record: &mut AccessRecord) -> Result<(), String> {
    match result {
        Ok(written) => {
            // A client that reads the whole object gets this many bytes (host-side).
            if record.bytes_out.is_none() {
                record.bytes_out = Some(written);
            }
            Ok(())
        }
        Err(failure) => {
            log::warn!(
                "{} {}: object not stored: {}",
                record.method,
                record.path,
                failure.reason
            );
            record.cache_reason = Some(format!("not stored: {}", failure.reason));
            if matches!(
                record.cache,
                Some(CacheStatus::Miss | CacheStatus::Collapsed)
            ) {
                // This client read the object: its body was cut with it.
                record.aborted(failure.reason.clone());
            }
            Err(failure.reason)
        }
    }
}

/// Whether an origin's 304 selects `stored` for update (RFC 9111 §4.3.4).
fn updates(stored: &Stored, not_modified: &Shaped) -> bool {
    conditional::selects_stored(
        not_modified.origin_etag.as_deref(),
        not_modified.origin_last_modified.as_deref(),
        stored.origin_etag.as_deref(),
        stored.origin_last_modified.as_deref(),
    )
}

/// A stored object's freshness as the core cache holds it, for putting it back.
fn freshness_of(stored: &Stored, found: &Found) -> Freshness {
    Freshness {
        lifetime: found.max_age(),
        age: found.age(),
        stale_while_revalidate: Duration::from_secs(stored.stale_while_revalidate),
        stale_if_error: Duration::from_secs(stored.stale_if_error),
        must_revalidate: stored.must_revalidate,
    }
}

fn rules(settings: &CacheSettings) -> Rules {
    Rules {
        default_ttl: settings.ttl,
        max_ttl: settings.max_ttl,
        stale_while_revalidate: settings.stale_while_revalidate,
        stale_if_error: settings.stale_if_error,
        keep: settings.keep,
        heuristic_percent: settings.heuristic_percent,
        origin_freshness: settings.freshness == FreshnessSource::Origin,
    }
}

/// Why a GET or HEAD passes the cache by its request alone, if it does: a shared cache must
/// not answer an authenticated request (RFC 9111 §3.5), and a request with a cookie is
/// presumed personal, as Varnish's built-in policy has it.
fn passes(settings: &CacheSettings, req: &Request) -> Option<&'static str> {
    if req.contains_header("authorization") {
        return Some("authorization");
    }
    if settings.cookies == Cookies::Pass && req.contains_header("cookie") {
        return Some("cookie");
    }
    None
}

/// Whether the client's request says `no-store` (RFC 9111 §5.2.1.5). Its `no-cache`,
/// `max-age=0` and `min-fresh` are not honoured: a shared cache in front of an origin
/// protects it from clients that would make every request a fetch, as Fastly, Cloudflare and
/// Varnish do. Nor is `max-stale`: a stale object answers only within the windows its origin
/// (or the route) allowed, the same for every client.
fn request_says_no_store(req: &Request) -> bool {
    request_says(req, "no-store")
}

/// Whether the client's `Cache-Control` holds `directive`.
fn request_says(req: &Request, directive: &str) -> bool {
    let values = req.header_values("cache-control");
    control::Directives::parse(values.iter().map(String::as_str)).has(directive)
}

/// The client's own request to the backend, its response not stored.
fn pass(
    route: &Route,
    req: Request,
    status: CacheStatus,
    why: &str,
    record: &mut AccessRecord,
    clock: &Clock,
    composing: Option<&mut Composing>,
) -> Result<(), Failure> {
    record.cached(status, Some(why.to_string()));
    let method = req.get_method().clone();
    let accept_encoding = req.header("accept-encoding");
    let bereq = proxy::backend_request(route, req, accept_encoding.as_deref());
    let shaped = proxy::fetch_shaped(route, bereq, accept_encoding.as_deref(), record)?;
    proxy::send(
        route,
        shaped,
        &method,
        Some(status),
        record,
        clock,
        composing,
    )
}

/// A method other than GET and HEAD passes. A successful one that is not safe (every method
/// but OPTIONS and TRACE, an unknown one included: RFC 9110 §9.2.1) invalidates what is
/// stored for its URL, and for a `Location` or `Content-Location` of the same host and port
/// (RFC 9111 §4.4), unless the route says `cache_invalidate = off`.
fn unsafe_method(
    route: &Route,
    settings: &CacheSettings,
    req: Request,
    record: &mut AccessRecord,
    clock: &Clock,
    composing: Option<&mut Composing>,
) -> Result<(), Failure> {
    let method = req.get_method().clone();
    let invalidates = settings.invalidate && !matches!(method.as_str(), "OPTIONS" | "TRACE");
    record.cached(CacheStatus::Pass, Some("method".into()));
    let own_url = fill_request::url_key(&req);
    let own_host = fill_request::url_host(&req);
    // Relative targets resolve against the host the client named, not the URL the platform
    // made of it.
    let base = req.get_url().clone();
    let base = base.join(&format!("//{own_host}{}", req.get_path())).ok();
    let accept_encoding = req.header("accept-encoding");
    let bereq = proxy::backend_request(route, req, accept_encoding.as_deref());
    let shaped = proxy::fetch_shaped(route, bereq, accept_encoding.as_deref(), record)?;
    let status = shaped.status();
    if invalidates && (status.is_success() || status.is_redirection()) {
        invalidate(&own_url);
        for name in ["location", "content-location"] {
            let Some(target) = shaped.resp.header(name) else {
                continue;
            };
            let Some(url) = base.as_ref().and_then(|base| base.join(&target).ok()) else {
                continue;
            };
            let named = match (url.host_str(), url.port()) {
                (Some(host), Some(port)) => format!("{host}:{port}"),
                (Some(host), None) => host.to_string(),
                (None, _) => continue,
            };
            if routing::normalize_authority(&named, routing::default_port(url.scheme())) != own_host
            {
                continue;
            }
            let path_and_query = match url.query() {
                Some(q) => format!("{}?{q}", url.path()),
                None => url.path().to_string(),
            };
            invalidate(&key::url_surrogate(
                url.scheme(),
                &own_host,
                &path_and_query,
            ));
        }
        record.cache_reason = Some("method; stored responses for its URL marked stale".into());
    }
    proxy::send(
        route,
        shaped,
        &method,
        Some(CacheStatus::Pass),
        record,
        clock,
        composing,
    )
}

/// Marks every object carrying `surrogate` stale (a soft purge), to be revalidated before its
/// next use: a client can make the origin answer a conditional request, never empty the
/// cache. On Fastly a purge reaches every POP of the service.
fn invalidate(surrogate: &str) {
    if let Err(e) = fastly::http::purge::soft_purge_surrogate_key(surrogate) {
        log::warn!("invalidating stored responses failed: {e}");
    }
}
