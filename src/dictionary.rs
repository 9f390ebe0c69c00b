//! Compression dictionaries on a route (RFC 9842, docs/dictionaries.md): what one request
//! and its shaped response get. A response the route would compress is marked as a
//! dictionary (`dictionary_match`), kept in the edge cache under its hash as it streams
//! ([`keep`]), and a later request that advertises a held dictionary gets `dcb` or `dcz`
//! made against it ([`held`]); everything else falls back to the route's br or gzip, with
//! the same `Vary`.

mod cached;
pub mod deferred;
pub mod held;
pub mod keep;

use std::cell::Cell;
use std::time::Duration;

use fastly::http::{FramingHeadersMode, Method, StatusCode};
use fastly::{Body, Request};
use firstbyte_config::chain::{Plan, ResponseHead};
use firstbyte_config::{route_dictionary, DictionarySettings, Route, Source};
use firstbyte_transform::codec::Encoding;
use firstbyte_transform::dictionary::headers::{use_as_dictionary, use_as_dictionary_value};
use firstbyte_transform::dictionary::{DictionaryCoding, DictionaryRequest, DictionaryUse};

use crate::delivery;
use crate::failure::Failure;
use crate::headers::{for_transformed_body, vary_with, HeaderAccess};
use crate::origin::{names_dictionary_coding, Shaped};
use crate::routing::host;

use self::deferred::Deferred;
use self::keep::{KeepFor, Keeper};

/// How long a dictionary is kept when neither `dictionary_ttl` nor `cache_keep` says (a
/// route without `cache_ttl`, or `cache_keep = 0`): a day, about the time between two
/// releases of a busy site's bundle.
const DEFAULT_TTL: Duration = Duration::from_secs(86_400);

/// The request side, read once before the origin is asked.
pub struct Dictionaries {
    settings: DictionarySettings,
    /// How long a kept dictionary stays: `dictionary_ttl`, else the route's `cache_keep`.
    ttl: Duration,
    offer: Option<DictionaryRequest>,
    host: String,
    /// The client's path (before `strip_prefix`): what `match` patterns describe.
    path: String,
    /// Its path and query: what names a response kept as a dictionary ([`KeepFor`]).
    target: String,
    method: Method,
    /// Credentials in the request (RFC 9842 §8: such a response is never made a dictionary
    /// by the route).
    credentials: bool,
    /// The offered dictionary, already found to apply by the lookup that keyed a cached
    /// route's variant ([`Dictionaries::for_fill`]), so the fill does not look it up again.
    /// Taken by the first response it is applied to: its bytes can be read only once, and
    /// a fill fetches once (a revalidation that must fetch twice looks up anew).
    found: Cell<Option<held::Pending>>,
}

impl Dictionaries {
    /// `None` for a route that neither marks nor serves dictionaries.
    pub fn read(
        route: &Route,
        source: &impl Source,
        req: &Request,
    ) -> Result<Option<Dictionaries>, Failure> {
        let settings = route_dictionary(source, &route.name).map_err(|errors| {
            let named: Vec<String> = errors.iter().map(ToString::to_string).collect();
            Failure::internal(named.join("; "))
        })?;
        let Some(settings) = settings else {
            return Ok(None);
        };
        let offer = DictionaryRequest::from_headers(
            req.combined("accept-encoding").as_deref(),
            req.combined("available-dictionary").as_deref(),
            req.combined("dictionary-id").as_deref(),
        );
        let keep = route
            .cache
            .as_ref()
            .map(|c| Duration::from_secs(c.keep.into()))
            .filter(|keep| !keep.is_zero());
        Ok(Some(Dictionaries {
            ttl: settings.ttl.or(keep).unwrap_or(DEFAULT_TTL),
            settings,
            offer,
            host: host(req).unwrap_or_default(),
            path: req.get_path().to_string(),
            target: match req.get_query_str() {
                Some(query) => format!("{}?{query}", req.get_path()),
                None => req.get_path().to_string(),
            },
            method: req.get_method().clone(),
            credentials: req.contains_header("authorization") || req.contains_header("cookie"),
            found: Cell::new(None),
        }))
    }

    /// Applies the route's dictionaries to a shaped response, before its head goes out; the
    /// same for GET and HEAD, so both get the same headers. `Some` says why a dictionary the
    /// request offered was not used (the response then falls back to br or gzip).
    pub fn apply(&self, route: &Route, shaped: &mut Shaped) -> Result<Option<String>, Failure> {
        if shaped.compose.is_some() {
            // A composed page is made elsewhere; dictionaries do not reach it.
            return Ok(None);
        }
        let coding = shaped.origin_coding.clone();
        if coding.as_deref().is_some_and(names_dictionary_coding) {
            return self
                .origin_coded(route, coding.as_deref(), shaped)
                .map(|()| None);
        }
        let Some(plan) = self.would_compress(route, shaped) else {
            return Ok(None);
        };
        if !self.settings.codings.is_empty() {
            vary_on_dictionaries(shaped);
        }
        let keep = self.marking(shaped);
        let mut refused = None;
        if let Some((offer, coding)) = self.chosen() {
            let check = |usage: &DictionaryUse| self.check(offer, usage);
            // The lookup and the metadata decide dcb/dcz or the fallback before the head;
            // the bytes are read, checked and loaded once the body starts (`deferred`).
            let found = match self.found.take() {
                Some(pending) => Ok(pending),
                None => held::held(&self.host, &offer.hash, self.settings.max_bytes, check),
            };
            match found {
                Ok(pending) => {
                    let encoder = Deferred::new(coding, Box::new(move || pending.read()));
                    for_transformed_body(&mut shaped.resp, Some(coding.token()), false);
                    // The backend's length described the body before it was re-made.
                    shaped
                        .resp
                        .set_framing_headers_mode(FramingHeadersMode::Automatic);
                    shaped.plan = Some(plan);
                    shaped.encoder = Some(Box::new(encoder));
                }
                Err(why) => {
                    log::debug!(
                        "{} {}: no {} ({}): {why}",
                        self.method,
                        self.path,
                        coding.token(),
                        offer.hash.to_hex()
                    );
                    refused = Some(why);
                }
            }
        }
        if let Some(keep) = keep {
            self.tap(route, shaped, keep);
        }
        Ok(refused)
    }

    /// The request's offer and the coding it gets, where the route lists a dictionary coding
    /// the request accepts.
    fn chosen(&self) -> Option<(&DictionaryRequest, DictionaryCoding)> {
        let offer = self.offer.as_ref()?;
        Some((offer, offer.choose(&self.settings.codings)?))
    }

    /// Whether a held dictionary may serve this request (same host, `match` covers the
    /// client's path, `Dictionary-ID` echoes its `id`).
    fn check(&self, offer: &DictionaryRequest, usage: &DictionaryUse) -> Result<(), String> {
        usage
            .check(offer, &self.host, &self.path)
            .map_err(|refusal| format!("{refusal:?}"))
    }

    /// The plan the route would make of this response for a client that takes any coding:
    /// `Some` when the route compresses it (its type, status, no `no-transform`, a coding
    /// it can undo), whatever the origin's coding: it decodes that coding, so the
    /// dictionary and the delta are made of the bytes the client decodes.
    fn would_compress(&self, route: &Route, shaped: &Shaped) -> Option<Plan> {
        recode(route, shaped, Some("*")).filter(|plan| plan.encode != Encoding::Identity)
    }

    /// Adds `Use-As-Dictionary` where the route marks this response, and says what to keep
    /// it as: the route's mark, or the origin's own (which passes unchanged).
    fn marking(&self, shaped: &mut Shaped) -> Option<KeepFor> {
        let resp = &mut shaped.resp;
        let get = self.method == Method::GET || self.method == Method::HEAD;
        if !get || resp.get_status() != StatusCode::OK || !self.edge_cacheable(resp) {
            return None;
        }
        let origin_mark = resp.header("use-as-dictionary");
        let value = match (origin_mark, self.settings.pattern.as_deref()) {
            (Some(own), _) => own,
            (None, Some(pattern)) => {
                let value = use_as_dictionary_value(pattern)?;
                resp.set_header("use-as-dictionary", &value);
                value
            }
            (None, None) => return None,
        };
        let mark = use_as_dictionary(&value)?;
        let pattern = mark.pattern(&self.path).ok()?;
        Some(KeepFor {
            host: self.host.clone(),
            pattern,
            id: mark.id,
            ttl: self.ttl,
            max_bytes: self.settings.max_bytes,
            response: shaped
                .origin_etag
                .as_deref()
                .filter(|etag| !etag.trim_start().starts_with("W/"))
                .map(|etag| format!("{}\n{etag}", self.target)),
        })
    }

    /// Not private, not `no-store` (in `Cache-Control` or a field addressed to caches like
    /// this one: `CDN-Cache-Control`, `Surrogate-Control`), not `Vary: *`, no `Set-Cookie`,
    /// no credentials in the request.
    fn edge_cacheable(&self, resp: &fastly::Response) -> bool {
        let forbids = |field: &str| {
            resp.header_values(field).iter().any(|v| {
                v.split(',').any(|d| {
                    let name = d.split('=').next().unwrap_or("").trim();
                    name.eq_ignore_ascii_case("private") || name.eq_ignore_ascii_case("no-store")
                })
            })
        };
        let private = ["cache-control", "cdn-cache-control", "surrogate-control"]
            .iter()
            .any(|field| forbids(field));
        let vary_all = resp
            .header_values("vary")
            .iter()
            .any(|v| v.split(',').any(|t| t.trim() == "*"));
        !self.credentials && !private && !vary_all && !resp.contains_header("set-cookie")
    }

    /// Puts the keeping stage where the body is what the client decodes. A body that would
    /// pass untouched (the origin's coding, which this client takes, or no coding for a
    /// client that takes none of `compress`) is re-made for this client first, as the route
    /// would make it ([`recode`]), unless the edge already holds it as a dictionary: a
    /// marked response is always kept. HEAD gets the head GET gets; GET alone keeps.
    fn tap(&self, route: &Route, shaped: &mut Shaped, keep: KeepFor) {
        if shaped.declared_length.is_some_and(|n| n > keep.max_bytes) {
            return;
        }
        if shaped.plan.is_none() {
            if held_already(&keep) {
                return;
            }
            let Some(plan) = recode(route, shaped, shaped.accept_encoding.as_deref()) else {
                return;
            };
            let coding = (plan.encode != Encoding::Identity).then(|| plan.encode.token());
            for_transformed_body(&mut shaped.resp, coding, plan.varies_by_encoding);
            // The backend's length described the bytes before they were re-made.
            shaped
                .resp
                .set_framing_headers_mode(FramingHeadersMode::Automatic);
            shaped.plan = Some(plan);
        }
        if self.method == Method::GET {
            shaped.tap = Some(Box::new(Keeper::new(keep)));
        }
    }

    /// An origin's own `dcb` or `dcz` body passes only to a client that accepts that coding
    /// and advertises the dictionary it was made against: its frame names that
    /// dictionary's hash, so the frame's header is read before the head goes out and
    /// compared with the request's `Available-Dictionary` (a client given a delta against
    /// another dictionary could not decode it). The header's bytes are then put back before
    /// the rest, which the host appends. Decoding it with a held dictionary for another
    /// client is not done yet (docs/dictionaries.md).
    fn origin_coded(
        &self,
        route: &Route,
        coding: Option<&str>,
        shaped: &mut Shaped,
    ) -> Result<(), Failure> {
        let refuse = |why: &str| {
            Failure::new(
                StatusCode::BAD_GATEWAY,
                format!(
                    "backend '{}' sent {} {why}",
                    route.backend,
                    coding.unwrap_or_default().trim()
                ),
            )
        };
        // Stacked on or under another coding: no client's dictionary alone undoes it.
        let Some(coded) = coding.and_then(DictionaryCoding::from_token) else {
            return Err(refuse("with another coding"));
        };
        let Some(offer) = self.offer.as_ref().filter(|o| o.codings.contains(&coded)) else {
            return Err(refuse(
                "to a client that does not accept it with a dictionary",
            ));
        };
        let expected = coded.header(&offer.hash);
        let mut header = vec![0u8; expected.len()];
        let body = std::mem::replace(&mut shaped.body, Body::new());
        let (header_read, rest) = read_header(body, &mut header);
        if !header_read || header != expected {
            return Err(refuse("made against another dictionary than the client's"));
        }
        let mut body = Body::from(header);
        body.append(rest);
        shaped.body = body;
        // Another client's dictionary would not decode it: a shared cache must know.
        vary_on_dictionaries(shaped);
        Ok(())
    }
}

/// `Vary: Accept-Encoding, Available-Dictionary`, kept with what the response already
/// varies on: what a response that is, or could have been, a delta depends on.
fn vary_on_dictionaries(shaped: &mut Shaped) {
    for name in ["Accept-Encoding", "Available-Dictionary"] {
        if let Some(vary) = vary_with(&shaped.resp.header_values("vary"), name) {
            shaped.resp.set_header("vary", vary);
        }
    }
}

/// The plan that re-makes `shaped` for a client whose `Accept-Encoding` is
/// `accept_encoding` ([`delivery::recode`]), read from the origin's head: its `Content-Encoding`
/// says what the body's bytes are (the head's own may already say what this client gets).
fn recode(route: &Route, shaped: &Shaped, accept_encoding: Option<&str>) -> Option<Plan> {
    let resp = &shaped.resp;
    let (content_type, cache_control) = (resp.header("content-type"), resp.header("cache-control"));
    let head = ResponseHead {
        status: resp.get_status().as_u16(),
        content_type: content_type.as_deref(),
        content_encoding: shaped.origin_coding.as_deref(),
        cache_control: cache_control.as_deref(),
        accept_encoding,
    };
    delivery::recode(route.chain.as_ref(), head)
}

/// Whether the edge holds the response `keep` describes as the dictionary it would be kept
/// as: its note ([`held::kept_as`]) and the dictionary with the same `match` and `id`, two
/// lookups and no byte read. A response the origin does not name by a strong `ETag` is
/// never known to be held.
fn held_already(keep: &KeepFor) -> bool {
    let Some(response) = keep.response.as_deref() else {
        return false;
    };
    let Some(hash) = held::kept_as(&keep.host, response) else {
        return false;
    };
    let same = |usage: &DictionaryUse| {
        (usage.pattern == keep.pattern && usage.id == keep.id)
            .then_some(())
            .ok_or_else(|| "kept with another match or id".to_string())
    };
    held::held(&keep.host, &hash, keep.max_bytes, same).is_ok()
}

/// Reads the first `header.len()` bytes of `body` into `header`; whether it had that many,
/// and the body that is left.
fn read_header(mut body: Body, header: &mut [u8]) -> (bool, Body) {
    let read = std::io::Read::read_exact(&mut body, header).is_ok();
    (read, body)
}
