//! firstbyte: large and progressive responses through the edge, first byte first.
//!
//! One request, start to end: take it from the client, read config, pick a handler; a
//! proxied response streams its headers the moment the backend's arrive. Whatever happens,
//! one access-log line records it. With `reuse_ms` set, the instance then waits for the
//! next request (see [`session`]) and serves it the same way.

mod access_log;
mod chain;
mod config;
mod deadline;
mod delivery;
mod failure;
mod headers;
mod logging;
mod proxy;
mod pump;
mod routing;
mod session;
mod store;
mod synthetic;
mod timing;

use std::time::Duration;

use fastly::Request;

use crate::access_log::AccessRecord;
use crate::config::{Config, Preamble};
use crate::failure::Failure;
use crate::routing::Target;
use crate::timing::Clock;

fn main() {
    let mut clock = Clock::start();
    logging::init();
    let mut req = Request::from_client();
    let mut seq = 1;
    loop {
        let reuse_wait = serve(req, seq, &clock);
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
fn serve(req: Request, seq: u32, clock: &Clock) -> Duration {
    let mut record = AccessRecord::new(req.get_method_str(), req.get_path(), seq);
    let store = store::open();
    // This request's log level, before anything of it can log (a reused instance still
    // has the last request's).
    let preamble = store
        .as_ref()
        .map_or_else(|_| Preamble::default(), Preamble::read);
    logging::set_level(preamble.log_level);
    let config = store
        .and_then(|store| Config::parse(&store))
        .map_err(|e| Failure::internal(e.to_string()));
    let reuse_wait = config.as_ref().map_or(Duration::ZERO, |c| c.reuse_wait);
    if let Err(failure) = config.and_then(|config| handle(&config, req, &mut record, clock)) {
        failure.send(&mut record, clock, preamble.debug_errors);
    }
    record.write(clock);
    reuse_wait
}

fn handle(
    config: &Config,
    req: Request,
    record: &mut AccessRecord,
    clock: &Clock,
) -> Result<(), Failure> {
    match routing::resolve(config, routing::host(&req).as_deref(), req.get_path()) {
        Target::Home => {
            synthetic::home(&config.response_text, &req, record, clock);
            Ok(())
        }
        Target::Generator(max_bytes) => synthetic::generate(&req, max_bytes, record, clock),
        Target::Proxy(route) => proxy::forward(route, req, record, clock),
        Target::NotFound => Err(Failure::not_found(req.get_path())),
    }
}
