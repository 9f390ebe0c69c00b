//! The Config Store behind [`crate::config`], and the backends fastly.toml declares.

use std::cell::RefCell;

use fastly::{Backend, ConfigStore};

use firstbyte_config::{ConfigError, Source, STORE};

/// The store as one request sees it: each key is looked up once, so a key read twice (a
/// route's prefix and host, read to match it and again to build it, or to see whether a
/// reused instance's route changed) costs one lookup. A request reads some twenty keys, so
/// a list beats a hash map: no key is hashed.
pub struct EdgeStore {
    store: ConfigStore,
    read: RefCell<Vec<(String, Option<String>)>>,
}

impl Source for EdgeStore {
    fn get(&self, key: &str) -> Result<Option<String>, String> {
        if let Some((_, value)) = self.read.borrow().iter().find(|(k, _)| k == key) {
            return Ok(value.clone());
        }
        let value = self
            .store
            .try_get(key)
            .map_err(|e| format!("lookup failed: {e:?}"))?;
        self.read
            .borrow_mut()
            .push((key.to_string(), value.clone()));
        Ok(value)
    }

    fn backend_exists(&self, name: &str) -> bool {
        Backend::from_name(name).is_ok_and(|b| b.exists())
    }
}

/// The store this app's settings live in.
pub fn open() -> Result<EdgeStore, ConfigError> {
    ConfigStore::try_open(STORE)
        .map(|store| EdgeStore {
            store,
            read: RefCell::default(),
        })
        .map_err(|e| ConfigError {
            key: STORE.to_string(),
            reason: format!("the config store cannot be opened ({e:?}); link it to the service"),
        })
}
