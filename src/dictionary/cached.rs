//! Dictionaries on a route with `cache_ttl` (docs/dictionaries.md, "On a cached route"). A
//! fill is shared by every client of its key, so what it marks, keeps and encodes against
//! may depend only on what the key holds: the cache keys a request by the dictionary it
//! advertises only where the edge holds that dictionary for it ([`Dictionaries::variant`]),
//! and the fill applies the route's dictionaries as that key describes them
//! ([`Dictionaries::for_fill`]).

use std::cell::Cell;

use fastly::http::Method;

use super::held::{self, Pending};
use super::Dictionaries;

impl Dictionaries {
    /// The dictionary a cached route's object for this request is made against: the one
    /// the request advertises, when the route serves `dcb` or `dcz` and the edge holds that
    /// dictionary for this request (same host, `match` covers the path, `Dictionary-ID`,
    /// within `dictionary_max_bytes`), checked on its metadata alone (one lookup, no byte
    /// read). Its hash keys the object, and a fill reads its bytes from what this lookup
    /// found ([`Dictionaries::for_fill`]). `None` for anything else, which then shares the
    /// object of the clients without a dictionary: a client can only name a dictionary the
    /// edge holds, so random or malformed hashes never make objects of their own.
    pub fn variant(&self) -> Option<Pending> {
        let (offer, coding) = self.chosen()?;
        let check = |usage: &_| self.check(offer, usage);
        match held::held(&self.host, &offer.hash, self.settings.max_bytes, check) {
            Ok(found) => Some(found),
            Err(why) => {
                log::debug!(
                    "{} {}: no {} variant ({}): {why}",
                    self.method,
                    self.path,
                    coding.token(),
                    offer.hash.to_hex()
                );
                None
            }
        }
    }

    /// What a fill keyed by `variant` applies, the same whichever client of the key starts
    /// it: the request's offer only when the key holds its hash, a GET (a fill always is,
    /// and a HEAD's fill keeps the dictionary its body makes), and no credentials (a fill
    /// never carries them: `Cookie` and `Authorization` pass the cache or are dropped). The
    /// dictionary `variant` found is the one the fill encodes against, not looked up again.
    pub fn for_fill(&self, variant: Option<Pending>) -> Dictionaries {
        let hash = variant.as_ref().map(Pending::hash);
        Dictionaries {
            settings: self.settings.clone(),
            ttl: self.ttl,
            offer: self.offer.clone().filter(|o| hash == Some(o.hash)),
            host: self.host.clone(),
            path: self.path.clone(),
            target: self.target.clone(),
            method: Method::GET,
            credentials: false,
            found: Cell::new(variant),
        }
    }
}
