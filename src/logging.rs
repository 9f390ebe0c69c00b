//! Named log endpoints: application logs through `log`, panics, and the access log.
//! Viceroy prints each endpoint's lines on its output as `endpoint :: message`.
//!
//! Most requests log nothing but their access-log line, so the app's logger (log-fastly's)
//! and the panic endpoint are opened the first time something is logged or panics, not for
//! every request: each opening is a host call, and log-fastly's builder allocates and reads
//! the environment besides.

use std::io::Write;
use std::sync::OnceLock;

use log::{LevelFilter, Log, Metadata, Record};

pub const APP_ENDPOINT: &str = "firstbyte_app";
pub const ACCESS_ENDPOINT: &str = "firstbyte_access";
pub const PANIC_ENDPOINT: &str = "firstbyte_panic";

/// Starts the logger once per instance. The level comes from config; until config is read
/// (and when it is unreadable) `Info` applies, so a config error is still logged.
pub fn init() {
    std::panic::set_hook(Box::new(|info| {
        if let Ok(mut endpoint) = fastly::log::Endpoint::try_from_name(PANIC_ENDPOINT) {
            // Formatted first: each write is a log line of its own, and `{info}` is written
            // in pieces.
            let _ = endpoint.write_all(info.to_string().as_bytes());
        }
    }));
    // A second init in the same instance is harmless; the first logger stays.
    log::set_logger(&LOGGER).ok();
    log::set_max_level(LevelFilter::Info);
}

pub fn set_level(level: LevelFilter) {
    log::set_max_level(level);
}

static LOGGER: Deferred = Deferred(OnceLock::new());

/// log-fastly's logger, built on the first record that passes the level.
struct Deferred(OnceLock<Option<log_fastly::Logger>>);

impl Deferred {
    fn logger(&self) -> Option<&log_fastly::Logger> {
        self.0
            .get_or_init(|| {
                log_fastly::Logger::builder()
                    .max_level(LevelFilter::Trace)
                    .default_endpoint(APP_ENDPOINT)
                    .build()
                    .ok()
            })
            .as_ref()
    }
}

impl Log for Deferred {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level() && self.logger().is_some_and(|l| l.enabled(metadata))
    }

    fn log(&self, record: &Record) {
        if record.level() <= log::max_level() {
            if let Some(logger) = self.logger() {
                logger.log(record);
            }
        }
    }

    fn flush(&self) {
        if let Some(logger) = self.0.get().and_then(Option::as_ref) {
            logger.flush();
        }
    }
}
