//! firstbyte: large and progressive responses through the edge, first byte first.
//!
//! One request, start to end: take it from the client, read config, pick a handler; a
//! proxied response streams its headers the moment the backend's arrive. Whatever happens,
//! one access-log line records it. With `reuse_ms` set, the instance then waits for the
//! next request (see [`session`]) and serves it the same way.

mod access_log;
mod cache;
mod cache_control;
mod cache_status;
mod client_url;
mod composer;
mod deadline;
mod delivery;
mod dictionary;
mod esi;
mod failure;
mod fragments_log;
mod headers;
mod logging;
mod origin;
mod own_request;
mod proxy;
mod pump;
mod route_cache;
mod routing;
mod send;
mod session;
mod store;
mod synthetic;
mod timing;

use std::time::Duration;

use fastly::Request;
use firstbyte_config::{ConfigError, ErrorReporting, Settings};

use crate::access_log::AccessRecord;
use crate::failure::Failure;
use crate::route_cache::RouteCache;
use crate::routing::Target;
use crate::store::Store;
use crate::timing::Clock;

fn main() {
    let mut clock = Clock::start();
    logging::init();
    let mut req = Request::from_client();
    let mut routes = RouteCache::default();
    let mut seq = 1;
    loop {
        let reuse_wait = serve(req, seq, &clock, &mut routes);
        let Some(next) = session::next_request(reuse_wait) else {
            break;
        };
        clock = Clock::start();
        req = next;
        seq += 1;
    }
}

/// Answers one request and writes its access-log line; returns how long the instance may
/// then wait for another (zero when the config could not be read).
fn serve(mut req: Request, seq: u32, clock: &Clock, routes: &mut RouteCache) -> Duration {
    // Reading a URL the SDK cannot parse panics, so nothing reads it before this check.
    match client_url::check(&req) {
        Ok(url) => req.set_url(url),
        Err(why) => {
            let mut record = AccessRecord::new(req.get_method_str(), "-", seq);
            Failure::bad_request(why).send(&mut record, clock, false);
            record.write(clock);
            return Duration::ZERO;
        }
    }
    let mut record = AccessRecord::new(req.get_method_str(), req.get_path(), seq);
    let parsed = store::open().and_then(|store| Ok((Settings::parse(&store)?, store)));
    // This request's log level, before anything of it can log (a reused instance still
    // has the last request's). Parsing logs nothing. Only when it fails (rarely) are the two
    // keys read again, leniently, to say how much the failure may log and show.
    let reporting = match &parsed {
        Ok((settings, _)) => ErrorReporting::from(settings),
        Err(_) => {
            store::open().map_or_else(|_| ErrorReporting::default(), |s| ErrorReporting::read(&s))
        }
    };
    logging::set_level(reporting.log_level);
    let reuse_wait = parsed
        .as_ref()
        .map_or(Duration::ZERO, |(settings, _)| settings.reuse_wait);
    let result = parsed
        .map_err(|e| config_failure(vec![e]))
        .and_then(|(settings, store)| handle(&settings, &store, routes, req, &mut record, clock));
    if let Err(failure) = result {
        failure.send(&mut record, clock, reporting.debug_errors);
    }
    record.write(clock);
    reuse_wait
}

/// Reads only what this request uses: the global settings and route list, then the route
/// it matches (see [`routing`]).
fn handle(
    settings: &Settings,
    store: &Store,
    routes: &mut RouteCache,
    req: Request,
    record: &mut AccessRecord,
    clock: &Clock,
) -> Result<(), Failure> {
    let target = routing::resolve(
        settings,
        store,
        routes,
        || routing::host(&req),
        req.get_path(),
    )
    .map_err(config_failure)?;
    match target {
        Target::Home => {
            let text =
                firstbyte_config::response_text(store).map_err(|e| config_failure(vec![e]))?;
            synthetic::home(&text, &req, record, clock);
            Ok(())
        }
        Target::Generator(max_bytes) => synthetic::generate(&req, max_bytes, record, clock),
        Target::Proxy(route) => {
            let mut resolver = routing::Resolver {
                settings,
                source: store,
                routes,
            };
            proxy::forward(&route, req, record, clock, &mut resolver)
        }
        Target::NotFound => Err(Failure::not_found(req.get_path())),
    }
}

/// A 500 naming every unusable key the request ran into.
fn config_failure(errors: Vec<ConfigError>) -> Failure {
    let reasons: Vec<String> = errors.iter().map(ToString::to_string).collect();
    Failure::internal(reasons.join("; "))
}
