//! The clock of one request and the `Server-Timing` header that reports it to the client.

use std::time::{Duration, Instant};

use crate::cache_status::CacheStatus;

/// Milestones of one request, all measured from the moment it reached this app: `main`
/// starting for an instance's first request, the request's arrival for a reused one.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
}

impl Clock {
    pub fn start() -> Self {
        Clock {
            start: Instant::now(),
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// When the request reached the app.
    pub fn started(&self) -> Instant {
        self.start
    }
}

pub fn millis(d: Duration) -> f64 {
    // Three decimals are below any clock's honest resolution here, and keep logs short.
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// `origin` is the backend's time to response headers; `edge` is the time this app spent
/// before the response started streaming, the origin's wait excluded; `cache` what the
/// edge cache did, on a route that has one.
pub fn server_timing(
    origin: Duration,
    before_stream: Duration,
    cache: Option<CacheStatus>,
) -> String {
    let edge = before_stream.saturating_sub(origin);
    let timing = format!("origin;dur={}, edge;dur={}", millis(origin), millis(edge));
    match cache {
        Some(cache) => format!("{timing}, {}", cache.timing()),
        None => timing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_timing_reports_origin_and_edge_without_double_counting() {
        let v = server_timing(
            Duration::from_micros(12_345),
            Duration::from_micros(13_000),
            None,
        );
        assert_eq!(v, "origin;dur=12.345, edge;dur=0.655");
        let hit = server_timing(
            Duration::ZERO,
            Duration::from_micros(500),
            Some(CacheStatus::Hit),
        );
        assert_eq!(hit, "origin;dur=0, edge;dur=0.5, cache;desc=HIT");
    }

    #[test]
    fn edge_time_never_goes_negative() {
        let v = server_timing(Duration::from_millis(5), Duration::from_millis(4), None);
        assert_eq!(v, "origin;dur=5, edge;dur=0");
    }
}
