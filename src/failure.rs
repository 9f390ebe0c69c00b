//! Failures that happen while the response headers are still unsent: they become a status
//! and a short plain-text reason, and one log line.

use fastly::http::StatusCode;
use fastly::Response;

use crate::access_log::{AccessRecord, Outcome};
use crate::timing::Clock;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub status: StatusCode,
    pub reason: String,
}

impl Failure {
    pub fn new(status: StatusCode, reason: impl Into<String>) -> Self {
        Failure {
            status,
            reason: reason.into(),
        }
    }

    pub fn bad_request(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, reason)
    }

    pub fn not_found(path: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("no route for {path}"))
    }

    pub fn internal(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, reason)
    }

    /// Answers the client and records what happened.
    pub fn send(self, record: &mut AccessRecord, clock: &Clock) {
        if self.status.is_server_error() {
            log::error!("{} {}: {}", record.method, record.path, self.reason);
        } else {
            log::warn!("{} {}: {}", record.method, record.path, self.reason);
        }
        let body = format!("{} {}\n", self.status.as_u16(), self.reason);
        Response::from_status(self.status)
            .with_body_text_plain(&body)
            .with_header("Cache-Control", "no-store")
            .send_to_client();
        record.headers_sent(self.status.as_u16(), clock);
        record.bytes_out = Some(body.len() as u64);
        record.outcome = Outcome::Error;
        record.reason = Some(self.reason);
    }
}
