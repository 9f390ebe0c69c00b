//! Instance reuse. Once a response is done, the instance asks the platform for the next
//! client request instead of ending, for as long as the config's `reuse_ms` allows.
//!
//! The gain is warm memory: a fresh instance pays a page fault for every page it touches
//! first, and a transform chain touches a megabyte or so (brotli's hash table, lol_html's
//! buffers) before its first output. A reused instance has those pages mapped and its
//! allocator already holding them, so its first output, and on a busy host the response
//! head that travels with it, come sooner. Nothing of a request outlives it here: config,
//! routes and pipelines are built again for each one.

use std::time::Duration;

use fastly::compute_runtime::heap_memory_snapshot_mib;
use fastly::http::serve::{NextRequestError, NextRequestOptions, RequestPromise};
use fastly::Request;

/// One request never needs more (the module's own 1.9 MiB included); an instance that grew
/// past it ends rather than carry the growth into the next request.
const MAX_HEAP_MIB: u32 = 4;

/// The next request for this instance, or `None` when the instance should end: reuse is
/// off, the heap grew, the wait passed without a request, or the platform has no more.
pub fn next_request(wait: Duration) -> Option<Request> {
    if wait.is_zero() {
        return None;
    }
    // The host reports whole MiB rounded up; an unreadable figure ends the instance.
    if !heap_memory_snapshot_mib().is_ok_and(|mib| mib <= MAX_HEAP_MIB) {
        return None;
    }
    let promise = match RequestPromise::new(&NextRequestOptions::from_timeout(wait)) {
        Ok(promise) => promise,
        Err(e) => {
            log::warn!("instance reuse unavailable: {e}");
            return None;
        }
    };
    match promise.wait() {
        Ok(req) => Some(req),
        Err(NextRequestError::EndOfSession) => None,
        Err(e) => {
            log::warn!("instance reuse ended: {e}");
            None
        }
    }
}
