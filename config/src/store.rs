//! Where settings are read from: the [`Source`] trait (the Config Store at the edge, a
//! [`MapSource`] natively), and [`Recorder`], a source that wraps another and remembers
//! what was read. It knows nothing of what the keys mean (the settings' own source, which
//! answers a route's match from the `routes` list, is theirs: `ListedMatches`).

use std::cell::RefCell;
use std::collections::HashMap;

use crate::error::ConfigError;

/// The Config Store this app reads; fastly.toml links it locally and for deployment.
pub const STORE: &str = "firstbyte";

/// Where settings come from: the Config Store at the edge, a map in tests.
pub trait Source {
    /// The value of `key`, `None` when it is absent, `Err` when the store cannot answer.
    fn get(&self, key: &str) -> Result<Option<String>, String>;
    /// Whether fastly.toml (or the service) declares a backend of this name.
    fn backend_exists(&self, name: &str) -> bool;
}

/// A reference reads as what it refers to: a `&dyn Source` or a wrapper's borrowed source.
impl<S: Source + ?Sized> Source for &S {
    fn get(&self, key: &str) -> Result<Option<String>, String> {
        (**self).get(key)
    }
    fn backend_exists(&self, name: &str) -> bool {
        (**self).backend_exists(name)
    }
}

/// `key`'s value, a store that cannot answer being an error about that key.
pub(crate) fn read(source: &impl Source, key: &str) -> Result<Option<String>, ConfigError> {
    source
        .get(key)
        .map_err(|reason| ConfigError::new(key, reason))
}

/// Settings held in memory: the tests' store, and fastly.toml's stores for the native
/// deploy-time check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MapSource {
    pub values: HashMap<String, String>,
    /// The backend names that exist.
    pub backends: Vec<String>,
}

impl MapSource {
    pub fn new<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
        backends: impl IntoIterator<Item = impl Into<String>>,
    ) -> MapSource {
        MapSource {
            values: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            backends: backends.into_iter().map(Into::into).collect(),
        }
    }
}

impl Source for MapSource {
    fn get(&self, key: &str) -> Result<Option<String>, String> {
        Ok(self.values.get(key).cloned())
    }
    fn backend_exists(&self, name: &str) -> bool {
        self.backends.iter().any(|b| b == name)
    }
}

/// A source that remembers each key read from it and the value it gave: what a route was
/// built from (so a reused instance can tell when it changed), or what a read touched.
pub struct Recorder<'a, S> {
    source: &'a S,
    reads: RefCell<Vec<(String, Option<String>)>>,
}

impl<'a, S: Source> Recorder<'a, S> {
    pub fn new(source: &'a S) -> Recorder<'a, S> {
        Recorder {
            source,
            reads: RefCell::default(),
        }
    }

    /// The reads so far, in order.
    pub fn into_reads(self) -> Vec<(String, Option<String>)> {
        self.reads.into_inner()
    }
}

impl<S: Source> Source for Recorder<'_, S> {
    fn get(&self, key: &str) -> Result<Option<String>, String> {
        let value = self.source.get(key)?;
        self.reads
            .borrow_mut()
            .push((key.to_string(), value.clone()));
        Ok(value)
    }

    fn backend_exists(&self, name: &str) -> bool {
        self.source.backend_exists(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Config;

    #[test]
    fn store_failure_names_the_key_it_was_reading() {
        struct Broken;
        impl Source for Broken {
            fn get(&self, key: &str) -> Result<Option<String>, String> {
                if key == "routes" {
                    Err("value too long".into())
                } else {
                    Ok(None)
                }
            }
            fn backend_exists(&self, _: &str) -> bool {
                true
            }
        }
        let err = Config::parse(&Broken).unwrap_err();
        assert_eq!(
            (err.key.as_str(), err.reason.as_str()),
            ("routes", "value too long")
        );
    }
}
