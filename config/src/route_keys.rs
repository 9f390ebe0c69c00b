//! One route's keys, `route.<name>.<field>`: how a route and the parts parsed from its keys
//! (its cache, its ESI) read them. It sits below all of them, so the parts read the
//! route's keys without importing the route.

use crate::error::ConfigError;
use crate::store::{read, Source};

/// `route.<name>.<field>`
pub fn route_key(name: &str, field: &str) -> String {
    format!("route.{name}.{field}")
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
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .map(|v| (key, v)))
    }
}
