//! A stale object: served while one request refreshes it (stale-while-revalidate), revalidated
//! first with a conditional request whose 304 refreshes its head and keeps its body, or served
//! while the origin fails (stale-if-error). Requests that find another's revalidation under way
//! wait on it, as collapsed misses wait on a fill.

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use fastly::cache::core::{Found, Transaction};
use fastly::http::StatusCode;
use fastly::Request;

use super::conditional;
use super::exchange::{rules, Exchange};
use super::policy::{self, Freshness, Verdict};
use super::respond::Answer;
use super::stored::{self, Marker, Stored};
use super::write::{self, Object};
use crate::access_log::AccessRecord;
use crate::cache_status::CacheStatus;
use crate::failure::Failure;
use crate::headers::HeaderAccess;
use crate::origin::Shaped;
use crate::timing::Clock;

/// Whether an origin's 304 selects `stored` for update (RFC 9111 §4.3.4).
pub(super) fn updates(stored: &Stored, not_modified: &Shaped) -> bool {
    conditional::selects_stored(
        not_modified.origin_etag.as_deref(),
        not_modified.origin_last_modified.as_deref(),
        stored.origin_etag.as_deref(),
        stored.origin_last_modified.as_deref(),
    )
}

/// A stored object's freshness as the core cache holds it, for putting it back.
pub(super) fn freshness_of(stored: &Stored, found: &Found) -> Freshness {
    Freshness {
        lifetime: found.max_age(),
        age: found.age(),
        stale_while_revalidate: Duration::from_secs(stored.stale_while_revalidate),
        stale_if_error: Duration::from_secs(stored.stale_if_error),
        must_revalidate: stored.must_revalidate,
    }
}

/// How often a request waiting on another's revalidation looks again.
pub(super) const REVALIDATION_POLL: Duration = Duration::from_millis(20);

/// Whether a lookup still finds a stale object that another request is revalidating.
pub(super) fn still_revalidating(tx: &Transaction) -> bool {
    if tx.must_insert_or_update() {
        return false;
    }
    tx.found()
        .is_some_and(|found| found.is_stale() && Marker::read(&found.user_metadata()).is_none())
}

/// How far a stored object's start may move without its having been stored again: the
/// clocks of this app and of the cache read it a hostcall apart.
pub(super) const RESTORED_SLACK: Duration = Duration::from_millis(100);

/// A stale object as a request waiting on another's revalidation first saw it, to tell when
/// that revalidation has stored an answer.
pub(super) struct Sighting {
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

impl Exchange<'_, '_> {
    /// A stale object: served while it is refreshed, revalidated first, or served while the
    /// origin fails, as its directives and the route allow.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn stale(
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
    pub(super) fn revalidate(
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
    pub(super) fn refresh(
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

    /// The origin's answer to a revalidation of `stored`. A 304 about another representation
    /// (RFC 9111 §4.3.4: its validator is not the stored one's) must not update the object:
    /// the response is fetched again, whole.
    pub(super) fn fetch_revalidating(
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

    /// The object a 304 leaves of a stored one, and whether it may be stored again.
    pub(super) fn refreshed(
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
            &rules(self.settings, self.include_ttl),
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

    /// A stale object answers while the origin fails (stale-if-error).
    pub(super) fn serve_stale(
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
}
