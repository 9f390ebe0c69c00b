//! What the edge cache did for one request: one enum gives both the client's `X-Cache`
//! label (and `Server-Timing`'s `cache;desc=`) and the access log's `cache` field, so the two
//! can never disagree and the log's values are a closed set.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheStatus {
    /// A fresh stored object answered (a 200, 206, 304 or 416 made from it); the origin was
    /// not asked.
    Hit,
    /// No usable object: this request's fill fetched the response, stored it, and the client
    /// read it from the cache as it was written.
    Miss,
    /// Another request was filling the object: this one read it as it was written.
    Collapsed,
    /// A stale object answered: within its stale-while-revalidate window (this request then
    /// refreshed it, after its response had gone out whole), or within its stale-if-error
    /// window while the origin failed.
    Stale,
    /// A stale object was revalidated with the origin (304) before it answered; the body
    /// came from the cache, the head was refreshed.
    Revalidated,
    /// The exchange is not served from the cache or stored, by the rules: of the request
    /// (a method other than GET and HEAD, `Cookie`, `Authorization`, `Cache-Control:
    /// no-store`) or of the response (`no-store`, `private`, `Set-Cookie`, a status without
    /// freshness, too large). The reason is in the access log's `cache_reason`.
    Pass,
    /// The cache could not be used: the key was too long, the lookup failed or waited past
    /// `cache_wait_ms`, or a stored object could not be read. The origin answered directly.
    Bypass,
}

impl CacheStatus {
    /// The `X-Cache` value.
    pub fn label(self) -> &'static str {
        match self {
            CacheStatus::Hit => "HIT",
            CacheStatus::Miss => "MISS",
            CacheStatus::Collapsed => "MISS COLLAPSED",
            CacheStatus::Stale => "STALE",
            CacheStatus::Revalidated => "REVALIDATED",
            CacheStatus::Pass => "PASS",
            CacheStatus::Bypass => "BYPASS",
        }
    }

    /// The `Server-Timing` entry.
    pub fn timing(self) -> &'static str {
        match self {
            CacheStatus::Hit => "cache;desc=HIT",
            CacheStatus::Miss => "cache;desc=MISS",
            CacheStatus::Collapsed => "cache;desc=COLLAPSED",
            CacheStatus::Stale => "cache;desc=STALE",
            CacheStatus::Revalidated => "cache;desc=REVALIDATED",
            CacheStatus::Pass => "cache;desc=PASS",
            CacheStatus::Bypass => "cache;desc=BYPASS",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_log_values_and_timings_agree() -> Result<(), serde_json::Error> {
        for status in [
            CacheStatus::Hit,
            CacheStatus::Miss,
            CacheStatus::Collapsed,
            CacheStatus::Stale,
            CacheStatus::Revalidated,
            CacheStatus::Pass,
            CacheStatus::Bypass,
        ] {
            let logged = serde_json::to_string(&status)?;
            let last_word = status.label().rsplit(' ').next().unwrap_or_default();
            assert!(status.timing().ends_with(last_word), "{status:?}");
            assert_eq!(logged, logged.to_lowercase(), "{status:?}");
            assert!(!status.label().contains(','), "one value, not a list");
        }
        Ok(())
    }
}
