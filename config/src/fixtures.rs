//! Stores for the unit tests of every module: a [`MapSource`] with the backend `origin`, and
//! the one route `origin` that the route tests add keys to.

use crate::error::ConfigError;
use crate::settings::Config;
use crate::store::MapSource;

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

pub fn source(pairs: &[(&'static str, &'static str)]) -> MapSource {
    MapSource::new(pairs.iter().copied(), ["origin"])
}

pub fn parse(pairs: &[(&'static str, &'static str)]) -> Result<Config, ConfigError> {
    Config::parse(&source(pairs))
}

pub fn err_key(pairs: &[(&'static str, &'static str)]) -> String {
    match parse(pairs) {
        Err(e) => e.key,
        Ok(c) => panic!("expected an error, parsed {c:?}"),
    }
}

pub const ORIGIN: &[(&str, &str)] = &[
    ("routes", "origin"),
    ("route.origin.prefix", "/origin/"),
    ("route.origin.backend", "origin"),
];

pub fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut pairs = ORIGIN.to_vec();
    pairs.extend_from_slice(extra);
    pairs
}
