//! Failures that happen while the response headers are still unsent: they become a status
//! and a short plain-text reason, and one log line.
//!
//! A 4xx reason is about the client's own request and always shown. A 5xx reason can name
//! config keys and values, backends and their errors: a deployed service shows only the
//! status (`debug_errors` off), and the reason goes to the app log and the access log.

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

    /// What the client reads: the reason, or for a 5xx without `debug_errors` the
    /// status's own phrase.
    pub fn body(&self, debug_errors: bool) -> String {
        let shown = if self.status.is_server_error() && !debug_errors {
            self.status.canonical_reason().unwrap_or("error")
        } else {
            &self.reason
        };
        format!("{} {}\n", self.status.as_u16(), shown)
    }

    /// Answers the client and records what happened.
    pub fn send(self, record: &mut AccessRecord, clock: &Clock, debug_errors: bool) {
        if self.status.is_server_error() {
            log::error!("{} {}: {}", record.method, record.path, self.reason);
        } else {
            log::warn!("{} {}: {}", record.method, record.path, self.reason);
        }
        let body = self.body(debug_errors);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_say_only_their_status_unless_debugging() {
        let f = Failure::internal("config key 'route.x.backend': no backend named 'secret'");
        assert_eq!(f.body(false), "500 Internal Server Error\n");
        assert!(f.body(true).contains("secret"));
        let gateway = Failure::new(
            StatusCode::BAD_GATEWAY,
            "backend 'db' refused the connection",
        );
        assert_eq!(gateway.body(false), "502 Bad Gateway\n");
        let client = Failure::bad_request("bytes: '-1' is not a whole number");
        assert_eq!(
            client.body(false),
            client.body(true),
            "4xx reasons are the client's own"
        );
    }
}
