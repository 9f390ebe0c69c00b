//! The one error of this crate: a setting that cannot be used, named by its key.

use std::fmt;

/// A setting that cannot be used, with the key that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub key: String,
    pub reason: String,
}

impl ConfigError {
    pub(crate) fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

impl std::error::Error for ConfigError {}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config key '{}': {}", self.key, self.reason)
    }
}

/// The value of a check that passed; a failed one lands in `errors`, so that parsing goes on
/// and every unusable key is reported.
pub(crate) fn take<T>(errors: &mut Vec<ConfigError>, result: Result<T, ConfigError>) -> Option<T> {
    result.map_err(|e| errors.push(e)).ok()
}
