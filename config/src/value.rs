//! One value's syntax, shared by the global settings and the routes' keys: switches,
//! booleans, positive numbers, milliseconds, seconds. Each error names the key the value came from.

use std::time::Duration;

use crate::error::ConfigError;

/// One of a few words, each standing for a setting; the error lists them all.
pub(crate) fn keyword<T: Copy>(
    key: &str,
    value: &str,
    words: &[(&str, T)],
) -> Result<T, ConfigError> {
    let value = value.trim();
    match words.iter().find(|(word, _)| *word == value) {
        Some((_, setting)) => Ok(*setting),
        None => {
            let names: Vec<&str> = words.iter().map(|(word, _)| *word).collect();
            let list = match names.split_last() {
                Some((last, [])) => (*last).to_string(),
                Some((last, [first])) => format!("{first} or {last}"),
                _ => format!("one of {}", names.join(", ")),
            };
            Err(ConfigError::new(key, format!("'{value}' is not {list}")))
        }
    }
}

/// `on` or `off` (absent: off, the safe setting for a deployed service).
pub(crate) fn switch(key: &str, value: &Option<String>) -> Result<bool, ConfigError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(false),
        Some(v) => keyword(key, v, &[("on", true), ("off", false)]),
    }
}

pub(crate) fn parse_bool(key: &str, value: &str) -> Result<bool, ConfigError> {
    keyword(key, value, &[("true", true), ("false", false)])
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

/// A year: longer is a configuration mistake (and beyond what a cache keeps).
const MAX_SECONDS: u64 = 365 * 24 * 60 * 60;

/// Whole seconds from `min` to a year.
pub(crate) fn seconds(key: &str, value: &str, min: u64) -> Result<u32, ConfigError> {
    match value.parse::<u64>() {
        Ok(n) if (min..=MAX_SECONDS).contains(&n) => {
            u32::try_from(n).map_err(|_| ConfigError::new(key, "is too large"))
        }
        _ => Err(ConfigError::new(
            key,
            format!("'{value}' is not a whole number of seconds from {min} to {MAX_SECONDS}"),
        )),
    }
}
