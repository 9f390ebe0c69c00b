//! Named log endpoints: application logs through `log`, panics, and the access log.
//! Viceroy prints each endpoint's lines on its output as `endpoint :: message`.

use log::LevelFilter;

pub const APP_ENDPOINT: &str = "firstbyte_app";
pub const ACCESS_ENDPOINT: &str = "firstbyte_access";
pub const PANIC_ENDPOINT: &str = "firstbyte_panic";

/// Starts the logger once per request. The level comes from config; until config is read
/// (and when it is unreadable) `Info` applies, so a config error is still logged.
pub fn init() {
    fastly::log::set_panic_endpoint(PANIC_ENDPOINT).ok();
    // A second init in the same instance is harmless; the first logger stays.
    log_fastly::Logger::builder()
        .max_level(LevelFilter::Trace)
        .default_endpoint(APP_ENDPOINT)
        .try_init()
        .ok();
    log::set_max_level(LevelFilter::Info);
}

pub fn set_level(level: LevelFilter) {
    log::set_max_level(level);
}
