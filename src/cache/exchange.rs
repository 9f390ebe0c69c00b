//! One request's dealings with its route's cache once its key is known ([`Exchange`]): the
//! lookup, the fetch from the origin, whether an answer may be stored, and the answers made
//! from an object or sent uncached. The lookup's decision is in [`super`]; filling an object
//! is in [`super::fill`], a stale one's handling in [`super::revalidate`].

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use fastly::cache::core::{CacheError, Found, Transaction};
use fastly::Request;
use firstbyte_config::{CacheSettings, Freshness as FreshnessSource, Route};

use super::fill_request::{Ask, FillRequest};
use super::pass::pass;
use super::policy::{self, Rules, Verdict};
use super::respond::{respond, Answer};
use super::stored::{Marker, Stored};
use super::write::{self, Object};
use crate::access_log::AccessRecord;
use crate::cache_status::CacheStatus;
use crate::composer::Composer;
use crate::dictionary::Dictionaries;
use crate::failure::Failure;
use crate::headers::HeaderAccess;
use crate::origin::{self, Shaped};
use crate::send::send;
use crate::timing::Clock;

/// The freshness rules of `settings`, with a composed page's include's `ttl` when the
/// exchange stores for one.
pub(super) fn rules(settings: &CacheSettings, include_ttl: Option<u32>) -> Rules {
    Rules {
        default_ttl: settings.ttl,
        max_ttl: settings.max_ttl,
        stale_while_revalidate: settings.stale_while_revalidate,
        stale_if_error: settings.stale_if_error,
        keep: settings.keep,
        heuristic_percent: settings.heuristic_percent,
        origin_freshness: settings.freshness == FreshnessSource::Origin,
        include_ttl,
    }
}

/// Why a lookup went on without the cache: the fill it waited on did not start in time.
pub const WAIT_EXPIRED: &str = "another request's fill did not start within cache_wait_ms";

/// One request's dealings with the cache, once its key is known.
pub(super) struct Exchange<'a, 'c> {
    pub(super) route: &'a Route,
    pub(super) settings: &'a CacheSettings,
    pub(super) fill: FillRequest,
    pub(super) key: Bytes,
    pub(super) ask: Ask,
    pub(super) composing: Option<&'a mut (dyn Composer + 'c)>,
    /// The `ttl` of the include whose fragment this exchange fills or revalidates: the
    /// lifetime of what it stores ([`Rules::include_ttl`]). None for a client's request.
    pub(super) include_ttl: Option<u32>,
    /// The route's dictionaries as this exchange's key describes them
    /// ([`Dictionaries::for_fill`]), applied to every response it fetches.
    pub(super) dictionaries: Option<Dictionaries>,
    /// The route's dictionaries as the client's own request describes them: what a request
    /// that passes the cache gets, as on a route without one.
    pub(super) passing: Option<&'a Dictionaries>,
}

impl Exchange<'_, '_> {
    /// A transactional lookup of this exchange's key and variant, waiting up to `wait` for
    /// another request's fill to start. A range is only ever asked within a length this app
    /// knows (the core cache's, or the stored head's), so the cache may wait for its first
    /// byte instead of sending it all.
    pub(super) fn lookup(&self, wait: Duration) -> Result<Transaction, CacheError> {
        let mut lookup = Transaction::lookup(self.key.clone())
            .timeout(wait)
            .always_use_requested_range();
        for (name, values) in self.fill.variant() {
            lookup = lookup.header_values(name, values.iter());
        }
        lookup.execute()
    }

    /// The backend's response to this exchange's fill request (conditional when revalidating),
    /// shaped for the codings the key holds.
    pub(super) fn fetch(
        &self,
        revalidating: Option<&Stored>,
        record: &mut AccessRecord,
    ) -> Result<Shaped, Failure> {
        let bereq = self.fill.backend_request(self.route, revalidating);
        let mut shaped = origin::fetch_shaped(self.route, bereq, self.fill.codings(), record)?;
        if let Some(dictionaries) = &self.dictionaries {
            let refused = dictionaries.apply(self.route, &mut shaped)?;
            if let Some(why) = refused.filter(|_| self.fill.dictionary.is_some()) {
                // The key says dcb against this dictionary: a fallback made under it would
                // answer every holder of the dictionary with br until it expired.
                shaped.not_for_key = Some(format!("dcb fell back: {why}"));
            }
        }
        Ok(shaped)
    }

    /// Whether a response may become an object, and the marker to leave when it may not.
    pub(super) fn admit(&self, shaped: &Shaped) -> Result<Object, (Marker, String)> {
        if let Some(why) = &shaped.not_for_key {
            return Err((Marker::Uncacheable, why.clone()));
        }
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
            &rules(self.settings, self.include_ttl),
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

    /// Sends the fill's response to this client alone, as an uncached one.
    pub(super) fn send(
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
        send(
            self.route,
            shaped,
            req.get_method(),
            Some(status),
            record,
            clock,
            composing,
        )
    }

    /// Answers the client from a stored object (composing it, if it is a template).
    pub(super) fn respond(
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
    pub(super) fn without_storing(
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
            self.passing,
        )
    }
}
