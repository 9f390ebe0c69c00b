//! The Config Store behind [`crate::config`], and the backends fastly.toml declares.

use fastly::{Backend, ConfigStore};

use firstbyte_config::{ConfigError, Source, STORE};

pub struct EdgeStore(ConfigStore);

impl Source for EdgeStore {
    fn get(&self, key: &str) -> Result<Option<String>, String> {
        self.0
            .try_get(key)
            .map_err(|e| format!("lookup failed: {e:?}"))
    }

    fn backend_exists(&self, name: &str) -> bool {
        Backend::from_name(name).is_ok_and(|b| b.exists())
    }
}

/// The store this app's settings live in.
pub fn open() -> Result<EdgeStore, ConfigError> {
    ConfigStore::try_open(STORE)
        .map(EdgeStore)
        .map_err(|e| ConfigError {
            key: STORE.to_string(),
            reason: format!("the config store cannot be opened ({e:?}); link it to the service"),
        })
}
