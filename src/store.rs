//! The Config Store behind [`crate::config`], and the backends fastly.toml declares.

use std::cell::RefCell;
use std::ops::Range;

use fastly::{Backend, ConfigStore};

use firstbyte_config::{ConfigError, RouteTables, Source, STORE};

/// The settings as a request reads them: the Config Store, each key looked up once, and a
/// route written as one `route.<name>` object read in one lookup.
pub type Store = RouteTables<EdgeStore>;

/// The store as one request sees it: each key is looked up once, so a key read twice (a
/// route's prefix and host, read to match it and again to build it, or to see whether a
/// reused instance's route changed) costs one lookup. A request reads some twenty keys, so
/// a list beats a hash map (no key is hashed), and the keys and values it remembers are
/// copied into one buffer rather than a `String` each: allocations were the largest part
/// of the request's own path (docs/investigations/2026-12-07-instructions-per-request.md).
pub struct EdgeStore {
    store: ConfigStore,
    memo: RefCell<Memo>,
}

/// Keys and values read so far, as ranges of `text`.
#[derive(Default)]
struct Memo {
    text: String,
    entries: Vec<(Range<usize>, Option<Range<usize>>)>,
}

impl Memo {
    fn find(&self, key: &str) -> Option<Option<String>> {
        self.entries
            .iter()
            .find(|(k, _)| self.text.get(k.clone()) == Some(key))
            .map(|(_, v)| v.clone().and_then(|v| self.text.get(v)).map(str::to_string))
    }

    fn keep(&mut self, key: &str, value: Option<&str>) {
        let key = self.push(key);
        let value = value.map(|v| self.push(v));
        self.entries.push((key, value));
    }

    fn push(&mut self, s: &str) -> Range<usize> {
        let start = self.text.len();
        self.text.push_str(s);
        start..self.text.len()
    }
}

impl Source for EdgeStore {
    fn get(&self, key: &str) -> Result<Option<String>, String> {
        if let Some(value) = self.memo.borrow().find(key) {
            return Ok(value);
        }
        let value = self
            .store
            .try_get(key)
            .map_err(|e| format!("lookup failed: {e:?}"))?;
        self.memo.borrow_mut().keep(key, value.as_deref());
        Ok(value)
    }

    fn backend_exists(&self, name: &str) -> bool {
        Backend::from_name(name).is_ok_and(|b| b.exists())
    }
}

/// The store this app's settings live in.
pub fn open() -> Result<Store, ConfigError> {
    ConfigStore::try_open(STORE)
        .map(|store| {
            RouteTables::new(EdgeStore {
                store,
                memo: RefCell::default(),
            })
        })
        .map_err(|e| ConfigError {
            key: STORE.to_string(),
            reason: format!("the config store cannot be opened ({e:?}); link it to the service"),
        })
}
