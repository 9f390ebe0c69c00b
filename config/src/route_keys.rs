//! One route's keys, `route.<name>.<field>`: how a route and the parts parsed from its keys
//! (its cache, its ESI) read them. It sits below all of them, so the parts read the
//! route's keys without importing the route.

use crate::error::ConfigError;
use crate::store::{read, Source};

/// `route.<name>.<field>`
pub fn route_key(name: &str, field: &str) -> String {
    // Built by hand: a request reads some fifteen of these, and `format!`'s machinery is
    // a measurable part of its path (docs/investigations/2026-12-07-instructions-per-request.md).
    let mut key = String::with_capacity("route..".len() + name.len() + field.len());
    key.push_str("route.");
    key.push_str(name);
    key.push('.');
    key.push_str(field);
    key
}

/// The keys of the route `name` in `source`.
pub(crate) struct RouteKeys<'a, S> {
    source: &'a S,
    name: &'a str,
}

impl<'a, S: Source> RouteKeys<'a, S> {
    pub(crate) fn new(source: &'a S, name: &'a str) -> RouteKeys<'a, S> {
        RouteKeys { source, name }
    }

    /// The key of this route's `field`.
    pub(crate) fn key(&self, field: &str) -> String {
        route_key(self.name, field)
    }

    /// This route's `field`, trimmed; `None` when absent or blank, with the key it came from.
    pub(crate) fn optional(&self, field: &str) -> Result<Option<(String, String)>, ConfigError> {
        let key = self.key(field);
        Ok(read(self.source, &key)?
            .map(trimmed)
            .filter(|v| !v.is_empty())
            .map(|v| (key, v)))
    }
}

/// `value` without surrounding whitespace, copied only when there was some.
fn trimmed(value: String) -> String {
    if value.trim().len() == value.len() {
        value
    } else {
        value.trim().to_string()
    }
}
