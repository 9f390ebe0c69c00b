//! firstbyte: large and progressive responses through the edge, first byte first.
//!
//! One request, start to end: take it from the client, read config, pick a handler; a
//! proxied response streams its headers the moment the backend's arrive. Whatever happens,
//! one access-log line records it.

mod access_log;
mod chain;
mod config;
mod deadline;
mod failure;
mod headers;
mod logging;
mod proxy;
mod pump;
mod routing;
mod store;
mod synthetic;
mod timing;

use fastly::Request;

use crate::access_log::AccessRecord;
use crate::failure::Failure;
use crate::routing::Target;
use crate::timing::Clock;

fn main() {
    let clock = Clock::start();
    logging::init();
    let req = Request::from_client();
    let mut record = AccessRecord::new(req.get_method_str(), req.get_path());
    if let Err(failure) = handle(req, &mut record, &clock) {
        failure.send(&mut record, &clock);
    }
    record.write(&clock);
}

fn handle(req: Request, record: &mut AccessRecord, clock: &Clock) -> Result<(), Failure> {
    let config = store::load().map_err(|e| Failure::internal(e.to_string()))?;
    logging::set_level(config.log_level);
    let host = req.get_header_str("host").map(str::to_string);
    match routing::resolve(&config, host.as_deref(), req.get_path()) {
        Target::Home => {
            synthetic::home(&config.response_text, &req, record, clock);
            Ok(())
        }
        Target::Generator => synthetic::generate(&req, record, clock),
        Target::Proxy(route) => proxy::forward(route, req, record, clock),
        Target::NotFound => Err(Failure::not_found(req.get_path())),
    }
}
