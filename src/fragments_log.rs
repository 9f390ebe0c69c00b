//! What the access log says of a composed page's fragments: filled in by the page's loop,
//! written by the access log, so neither needs the other.

use serde::Serialize;

/// What the access log says of a page's fragments.
#[derive(Debug, Default, Clone, Serialize)]
pub struct FragmentsLog {
    pub count: u32,
    pub failed: u32,
    pub slowest_ms: f64,
}
