//! What passes the cache: a request it must not answer from a stored object (credentials, a
//! cookie, `no-store`), and a method other than GET and HEAD, whose success invalidates what
//! is stored for its URL. Passed requests go to the origin as the client's own, and their
//! answers are what a route without a cache gives ([`own_request`]), dictionaries included.

use fastly::Request;
use firstbyte_config::{CacheSettings, Cookies, Route};

use super::fill_request;
use super::key;
use crate::access_log::AccessRecord;
use crate::cache_control;
use crate::cache_status::CacheStatus;
use crate::composer::Composer;
use crate::dictionary::Dictionaries;
use crate::failure::Failure;
use crate::headers::HeaderAccess;
use crate::own_request;
use crate::routing;
use crate::send::send;
use crate::timing::Clock;

/// Why a GET or HEAD passes the cache by its request alone, if it does: a shared cache must
/// not answer an authenticated request (RFC 9111 §3.5), and a request with a cookie is
/// presumed personal, as Varnish's built-in policy has it.
pub(super) fn passes(settings: &CacheSettings, req: &Request) -> Option<&'static str> {
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
pub(super) fn request_says_no_store(req: &Request) -> bool {
    request_says(req, "no-store")
}

/// Whether the client's `Cache-Control` holds `directive`.
pub(super) fn request_says(req: &Request, directive: &str) -> bool {
    let values = req.header_values("cache-control");
    cache_control::Directives::parse(values.iter().map(String::as_str)).has(directive)
}

/// The client's own request to the backend, its response not stored. `dictionaries` are
/// the route's as the client's request describes them (not a fill's).
#[allow(clippy::too_many_arguments)]
pub(super) fn pass(
    route: &Route,
    req: Request,
    status: CacheStatus,
    why: &str,
    record: &mut AccessRecord,
    clock: &Clock,
    composing: Option<&mut (dyn Composer + '_)>,
    dictionaries: Option<&Dictionaries>,
) -> Result<(), Failure> {
    record.cached(status, Some(why.to_string()));
    let method = req.get_method().clone();
    let shaped = own_request::fetch(route, req, dictionaries, record)?;
    send(
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
pub(super) fn unsafe_method(
    route: &Route,
    settings: &CacheSettings,
    req: Request,
    record: &mut AccessRecord,
    clock: &Clock,
    composing: Option<&mut (dyn Composer + '_)>,
    dictionaries: Option<&Dictionaries>,
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
    let shaped = own_request::fetch(route, req, dictionaries, record)?;
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
    send(
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
pub(super) fn invalidate(surrogate: &str) {
    if let Err(e) = fastly::http::purge::soft_purge_surrogate_key(surrogate) {
        log::warn!("invalidating stored responses failed: {e}");
    }
}
