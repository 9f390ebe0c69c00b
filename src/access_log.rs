//! One JSON line per request, written to the access-log endpoint whatever happened.

use std::io::Write;
use std::time::Duration;

use fastly::log::Endpoint;
use serde::Serialize;

use crate::cache_status::CacheStatus;
use crate::fragments_log::FragmentsLog;
use crate::logging::ACCESS_ENDPOINT;
use crate::timing::{millis, Clock};

/// How the response ended, as a client would judge it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Complete response (or handed to the host complete, for appended bodies).
    Ok,
    /// Headers went out, then the body broke off: the client sees an incomplete response.
    Aborted,
    /// An error status answered before any header went out.
    Error,
}

/// How the body travelled, which says what this app could observe of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyPath {
    /// No body (HEAD, 204, 304, errors).
    None,
    /// Handed to the host untouched; its later fate is the host's, not observed here.
    Append,
    /// Copied through this app chunk by chunk; every byte is counted.
    Pump,
    /// Made up by this app.
    Synthetic,
}

#[derive(Debug, Serialize)]
pub struct AccessRecord {
    pub method: String,
    pub path: String,
    pub route: Option<String>,
    pub status: u16,
    pub backend: Option<String>,
    /// Time until the response headers were handed to the host.
    pub ttfb_ms: Option<f64>,
    /// Time the backend took to answer with headers.
    pub origin_ms: Option<f64>,
    /// Body bytes sent; for an appended body, its declared Content-Length when there is one.
    pub bytes_out: Option<u64>,
    pub duration_ms: f64,
    pub outcome: Outcome,
    pub body: BodyPath,
    /// The stages a transformed body went through, e.g. `gzip-decode>replace>br-encode`.
    pub transforms: Option<String>,
    pub reason: Option<String>,
    /// Which request of its instance this was: 1 in a fresh instance, more when reused.
    pub instance_seq: u32,
    /// What the route's edge cache did (one of [`CacheStatus`]'s values); absent for routes
    /// without `cache_ttl`.
    pub cache: Option<CacheStatus>,
    /// Why, where the cache status alone does not say: why a request passed or bypassed the
    /// cache, why a response was not stored, what became of a refresh.
    pub cache_reason: Option<String>,
    /// A composed page's fragments: how many were requested, how many failed, the slowest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fragments: Option<FragmentsLog>,
}

impl AccessRecord {
    pub fn new(method: &str, path: &str, instance_seq: u32) -> Self {
        AccessRecord {
            method: method.to_string(),
            path: path.to_string(),
            route: None,
            status: 0,
            backend: None,
            ttfb_ms: None,
            origin_ms: None,
            bytes_out: None,
            duration_ms: 0.0,
            outcome: Outcome::Ok,
            body: BodyPath::None,
            transforms: None,
            reason: None,
            instance_seq,
            cache: None,
            cache_reason: None,
            fragments: None,
        }
    }

    /// The headers are on their way: status and time to first byte are now known.
    pub fn headers_sent(&mut self, status: u16, clock: &Clock) {
        self.status = status;
        self.ttfb_ms = Some(millis(clock.elapsed()));
    }

    pub fn origin_answered(&mut self, after: Duration) {
        self.origin_ms = Some(millis(after));
    }

    /// What the edge cache did, and why when the status alone does not say.
    pub fn cached(&mut self, status: CacheStatus, reason: Option<String>) {
        self.cache = Some(status);
        self.cache_reason = reason;
    }

    /// The body broke off after the headers left.
    pub fn aborted(&mut self, reason: impl Into<String>) {
        self.outcome = Outcome::Aborted;
        self.reason = Some(reason.into());
    }

    pub fn to_json(&self) -> String {
        // Serialising plain strings and numbers cannot fail; keep a line either way.
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"log_error\":\"{e}\"}}"))
    }

    pub fn write(mut self, clock: &Clock) {
        self.duration_ms = millis(clock.elapsed());
        let line = self.to_json();
        match Endpoint::try_from_name(ACCESS_ENDPOINT) {
            // One write is one log line (a newline would be a write, and a host call, of its
            // own).
            Ok(mut endpoint) => {
                if let Err(e) = endpoint.write_all(line.as_bytes()) {
                    log::error!("access log write failed: {e}");
                }
            }
            Err(e) => log::error!("access log endpoint unavailable: {e:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn record_serialises_every_field() -> TestResult {
        let mut record = AccessRecord::new("GET", "/origin/x", 2);
        record.route = Some("origin".into());
        record.backend = Some("origin".into());
        record.headers_sent(200, &Clock::start());
        record.aborted("backend body broke off");
        let value: serde_json::Value = serde_json::from_str(&record.to_json())?;
        for field in [
            "method",
            "path",
            "route",
            "status",
            "backend",
            "ttfb_ms",
            "origin_ms",
            "bytes_out",
            "duration_ms",
            "outcome",
            "body",
            "reason",
            "instance_seq",
            "cache",
            "cache_reason",
        ] {
            assert!(value.get(field).is_some(), "missing {field}");
        }
        assert_eq!(value["outcome"], "aborted");
        assert_eq!(value["status"], 200);
        assert_eq!(value["instance_seq"], 2);
        Ok(())
    }
}
