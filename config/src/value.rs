//! One value's syntax, shared by the global settings and the routes' keys: switches,
//! booleans, positive numbers, milliseconds. Each error names the key the value came from.

use std::time::Duration;

use crate::error::ConfigError;

/// `on` or `off` (absent: off, the safe setting for a deployed service).
pub(crate) fn switch(key: &str, value: &Option<String>) -> Result<bool, ConfigError> {
    match value.as_deref().map(str::trim) {
        None | Some("") | Some("off") => Ok(false),
        Some("on") => Ok(true),
        Some(other) => Err(ConfigError::new(key, format!("'{other}' is not on or off"))),
    }
}

pub(crate) fn parse_bool(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ConfigError::new(
            key,
            format!("'{value}' is not true or false"),
        )),
    }
}

pub(crate) fn positive(key: &str, value: &str) -> Result<u64, ConfigError> {
    match value.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ConfigError::new(
            key,
            format!("'{value}' is not a positive whole number"),
        )),
    }
}

/// A whole number of milliseconds within `range`.
pub(crate) fn millis(
    key: &str,
    value: &str,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Duration, ConfigError> {
    match value.parse::<u64>() {
        Ok(ms) if range.contains(&ms) => Ok(Duration::from_millis(ms)),
        _ => Err(ConfigError::new(
            key,
            format!(
                "'{value}' is not a whole number of milliseconds from {} to {}",
                range.start(),
                range.end()
            ),
        )),
    }
}
