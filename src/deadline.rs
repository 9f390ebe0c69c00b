//! Waiting on the host with a deadline. The fastly crate only offers unbounded waits for
//! backend responses and body reads, but a route's first-byte and between-bytes timeouts
//! must hold whatever the backend declaration says, so this asks the host directly.

use std::time::Duration;

use fastly::handle::{BodyHandle, PendingRequestHandle};
use fastly_sys::fastly_async_io;

/// Whether the backend's response headers arrived in time.
pub fn response_within(pending: &PendingRequestHandle, timeout: Duration) -> Result<bool, String> {
    ready_within(pending.as_u32(), timeout)
}

/// Whether more of a body (or its end) arrived in time.
pub fn body_within(body: &BodyHandle, timeout: Duration) -> Result<bool, String> {
    // SAFETY: the number is only passed to the host for this one select; it is neither
    // stored nor turned back into a second owning handle.
    ready_within(unsafe { body.as_u32() }, timeout)
}

/// Waits until one of `handles` (pending requests, bodies, streaming bodies) is ready, or
/// `timeout` passes (`None`: no limit); the index of the ready one, `None` on timeout.
pub fn select(handles: &[u32], timeout: Option<Duration>) -> Result<Option<usize>, String> {
    // The host reads 0 ms as "wait forever".
    let timeout_ms = timeout.map_or(0, |t| {
        u32::try_from(t.as_millis()).unwrap_or(u32::MAX).max(1)
    });
    let mut done_index = 0u32;
    // SAFETY: the pointer and length describe `handles`, alive for the whole call, and
    // `done_index` is a valid place for the host to write one u32.
    let status = unsafe {
        fastly_async_io::select(handles.as_ptr(), handles.len(), timeout_ms, &mut done_index)
    };
    if status.is_err() {
        return Err(format!("host select failed: {status:?}"));
    }
    Ok((done_index != u32::MAX).then_some(done_index as usize))
}

fn ready_within(handle: u32, timeout: Duration) -> Result<bool, String> {
    // The host reads 0 ms as "wait forever", so a sub-millisecond timeout rounds up to 1 ms.
    let timeout_ms = u32::try_from(timeout.as_millis())
        .unwrap_or(u32::MAX)
        .max(1);
    let mut done_index = 0u32;
    let handles = [handle];
    // SAFETY: the pointer and length describe `handles`, alive for the whole call, and
    // `done_index` is a valid place for the host to write one u32.
    let status = unsafe {
        fastly_async_io::select(handles.as_ptr(), handles.len(), timeout_ms, &mut done_index)
    };
    if status.is_err() {
        return Err(format!("host select failed: {status:?}"));
    }
    // The host signals an elapsed timeout with u32::MAX instead of an index.
    Ok(done_index != u32::MAX)
}
