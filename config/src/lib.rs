//! Settings from the Config Store `firstbyte`: the text of `/`, the log level, how long an
//! instance waits for another request, and the routes.
//!
//! A Config Store cannot list its keys, so the schema is flat and named from the top:
//! `routes` lists route names in match order, and each route reads `route.<name>.<field>`.
//! Parsing is separated from the store (the [`Source`] trait) so every rule is unit-tested
//! without a host, and every error names the key it is about.
//!
//! A request pays only for what it uses: [`Settings`] (the global keys and the route
//! list), then each listed route's `prefix` (and `host`, once the prefix matches) until
//! one matches, then that one [`Route`]. Checking every key of every route is a deploy-time
//! job: [`Config::check`], which `make check-config` runs natively over fastly.toml.
//!
//! The modules, one concept each: [`ConfigError`] (`error`); where values come from
//! (`store`); the global settings and the whole config (`settings`); one route (`route`),
//! how it and its parts read its keys (`route_keys`), its transform [`chain`], its output
//! cache (`cache`), its ESI (`esi`) and its compression dictionaries (`dictionary`); one
//! value's syntax (`value`). Each imports only those below it: `make lint`'s layer check
//! refuses a circle.

mod cache;
pub mod chain;
mod dictionary;
mod error;
mod esi;
mod route;
mod route_keys;
mod route_table;
mod settings;
mod store;
mod value;

#[cfg(test)]
mod fixtures;

pub use cache::{
    CacheSettings, Cookies, ForwardHeaders, Freshness, DEFAULT_CACHE_KEEP, DEFAULT_CACHE_MAX_BYTES,
    DEFAULT_CACHE_WAIT, NOT_FORWARDABLE, POISONING, POISONING_FAMILIES,
};
pub use dictionary::{
    route_dictionary, DictionarySettings, DEFAULT_DICTIONARY_MAX_BYTES, MAX_DICTIONARY_MAX_BYTES,
};
pub use error::ConfigError;
pub use esi::{EsiMode, EsiSettings};
pub use route::{route_host, route_prefix, Route};
pub use route_keys::route_key;
pub use route_table::{table_key, RouteTables};
pub use settings::{
    debug_errors, log_level, response_text, Config, ErrorReporting, ListedMatches, Match, Settings,
    DEFAULT_GENERATOR_MAX_BYTES, DEFAULT_RESPONSE_TEXT, DEFAULT_REUSE_MS,
};
pub use store::{MapSource, Recorder, Source, STORE};
