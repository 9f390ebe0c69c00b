//! The proxied request, the top of a route's handling: check its path, keep what a composing
//! route's fragments are made of, and hand it to the route's cache, or pass it straight to the
//! origin ([`own_request`]) and send the answer as it comes ([`send`]).

use fastly::Request;
use firstbyte_config::Route;

use crate::access_log::AccessRecord;
use crate::cache;
use crate::composer::Composer;
use crate::dictionary::Dictionaries;
use crate::esi::{self, Composing};
use crate::failure::Failure;
use crate::own_request;
use crate::routing::{ambiguous_path, Resolver};
use crate::send::send;
use crate::timing::Clock;

pub fn forward(
    route: &Route,
    mut req: Request,
    record: &mut AccessRecord,
    clock: &Clock,
    resolver: &mut Resolver,
) -> Result<(), Failure> {
    record.route = Some(route.name.clone());
    record.backend = Some(route.backend.clone());
    if !route.raw_paths {
        if let Some(why) = ambiguous_path(req.get_path()) {
            return Err(Failure::bad_request(format!(
                "{why}; route '{}' does not forward such paths",
                route.name
            )));
        }
    }
    // Read from the client's request. Only a route with a chain can mark or serve anything
    // (both need a response the route would compress), so the others, the plain proxy among
    // them, spend no store lookup on them.
    let dictionaries = match &route.chain {
        Some(_) => Dictionaries::read(route, &resolver.source, &req)?,
        None => None,
    };
    // Only a route that composes keeps what its fragments are made of.
    let mut composing = route.esi.as_ref().map(|_| Composing {
        client: esi::Client::read(&req),
        resolver,
    });
    if composing.is_some() && req.get_method().is_safe() {
        esi::drop_conditionals(&mut req);
    }
    let composer = composing.as_mut().map(|c| c as &mut dyn Composer);
    if route.cache.is_some() {
        return cache::forward(route, req, record, clock, composer, dictionaries.as_ref());
    }
    let method = req.get_method().clone();
    let shaped = own_request::fetch(route, req, dictionaries.as_ref(), record)?;
    send(route, shaped, &method, None, record, clock, composer)
}
