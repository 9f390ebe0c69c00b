//! A route's settings in one key: `route.<name>` holding a JSON object of its fields,
//! `{"prefix": "/api/", "backend": "origin", "cache_ttl": 60}`. At the edge every key is a
//! host call, so a route written this way costs one lookup where its `route.<name>.<field>`
//! keys cost one each (fifteen for a plain passthrough route:
//! docs/investigations/2026-12-08-route-in-one-key.md). [`RouteTables`] answers every
//! `route.<name>.<field>` of such a route from its object, so the rest of the config reads a
//! route the same whichever way it is written, and a route without the key is read key by
//! key as before.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::error::ConfigError;
use crate::route_keys::route_key;
use crate::store::{read, Recorder, Source};

/// One route's fields as its `route.<name>` object gives them, each value as the field's
/// own key would hold it.
type Table = Vec<(String, String)>;

/// A source in which a route written as one `route.<name>` object answers for all of its
/// `route.<name>.<field>` keys; every other key is the wrapped source's.
pub struct RouteTables<S> {
    source: S,
    /// Each route asked about so far: its object, or `None` when it has no `route.<name>`.
    tables: RefCell<Vec<(String, Option<Rc<Table>>)>>,
}

impl<S: Source> RouteTables<S> {
    pub fn new(source: S) -> RouteTables<S> {
        RouteTables {
            source,
            tables: RefCell::default(),
        }
    }

    /// The source underneath, where a route's separate keys live.
    pub fn inner(&self) -> &S {
        &self.source
    }

    /// Route `name`'s object, read and parsed the first time it is asked for.
    fn table(&self, name: &str) -> Result<Option<Rc<Table>>, String> {
        if let Some((_, table)) = self.tables.borrow().iter().find(|(n, _)| n == name) {
            return Ok(table.clone());
        }
        let key = table_key(name);
        let table = match self.source.get(&key)? {
            None => None,
            Some(text) if text.trim().is_empty() => None,
            Some(text) => Some(Rc::new(parse(&text).map_err(|why| format!("{key} {why}"))?)),
        };
        self.tables
            .borrow_mut()
            .push((name.to_string(), table.clone()));
        Ok(table)
    }
}

impl<S: Source> Source for RouteTables<S> {
    fn get(&self, key: &str) -> Result<Option<String>, String> {
        if let Some((name, field)) = route_field(key) {
            if let Some(table) = self.table(name)? {
                return Ok(table
                    .iter()
                    .find(|(f, _)| f == field)
                    .map(|(_, v)| v.clone()));
            }
        }
        self.source.get(key)
    }

    fn backend_exists(&self, name: &str) -> bool {
        self.source.backend_exists(name)
    }
}

/// `route.<name>`: the key holding a route's whole object.
pub fn table_key(name: &str) -> String {
    let mut key = String::with_capacity("route.".len() + name.len());
    key.push_str("route.");
    key.push_str(name);
    key
}

/// The route and field a `route.<name>.<field>` key names. Route names hold no `.` (the
/// `routes` list refuses them), so the field is what follows the last one.
fn route_field(key: &str) -> Option<(&str, &str)> {
    key.strip_prefix("route.")?.rsplit_once('.')
}

/// A route's object: strings as they are, numbers and booleans as written, objects and
/// arrays (a stage's own JSON settings) as their JSON text; `null` as if absent. A field
/// given twice is refused rather than one of them silently winning.
fn parse(text: &str) -> Result<Table, String> {
    let Fields(fields) = serde_json::from_str(text)
        .map_err(|e| format!("is not a JSON object of the route's fields ({e})"))?;
    let mut table = Table::with_capacity(fields.len());
    for (field, value) in fields {
        if table.iter().any(|(f, _)| *f == field) {
            return Err(format!("has the field '{field}' twice"));
        }
        let raw = value.get();
        if raw == "null" {
            continue;
        }
        let value = if raw.starts_with('"') {
            serde_json::from_str::<String>(raw)
                .map_err(|e| format!("has a field '{field}' that does not read ({e})"))?
        } else {
            // As written: `1e3` stays `1e3` (refused where a whole number is due, in the
            // words the operator wrote), where a JSON number read back would say `1000.0`.
            raw.to_string()
        };
        table.push((field, value));
    }
    Ok(table)
}

/// A JSON object's members in order, each value as its text, duplicates kept (a map would
/// keep only the last).
struct Fields(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Fields, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = Fields;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
                let mut fields = Vec::new();
                while let Some(member) = map.next_entry()? {
                    fields.push(member);
                }
                Ok(Fields(fields))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

/// What only a deploy-time check sees of route `name`'s object: fields the route never
/// reads (a typo, or a field its other fields make irrelevant), and fields also set as their
/// own key, which the object overrides at the edge. `read` holds the keys a full check of the
/// route read.
pub(crate) fn check_table<S: Source>(
    tables: &RouteTables<S>,
    name: &str,
    read_keys: &[String],
) -> Vec<ConfigError> {
    let table = match tables.table(name) {
        Ok(Some(table)) => table,
        // A bad object is reported by the route's own reads; no object, nothing to check.
        Ok(None) | Err(_) => return Vec::new(),
    };
    let key = table_key(name);
    let mut errors = Vec::new();
    for (field, _) in table.iter() {
        if !read_keys.iter().any(|k| *k == route_key(name, field)) {
            errors.push(ConfigError::new(
                key.clone(),
                format!(
                    "has '{field}', which this route does not read: an unknown field, or one \
                     its other fields make irrelevant"
                ),
            ));
        }
    }
    for own in read_keys {
        if matches!(read(tables.inner(), own), Ok(Some(_))) {
            errors.push(ConfigError::new(
                own.clone(),
                format!("is set beside the route's object in '{key}', which wins; remove one"),
            ));
        }
    }
    errors
}

/// The keys of route `name` that `check` reads, through a recorder: what [`check_table`]
/// compares the object with.
pub(crate) fn keys_read<S: Source, T>(
    source: &S,
    check: impl FnOnce(&Recorder<'_, S>) -> T,
) -> (T, Vec<String>) {
    let recorder = Recorder::new(source);
    let result = check(&recorder);
    let keys = recorder.into_reads().into_iter().map(|(k, _)| k).collect();
    (result, keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::TestResult;
    use crate::settings::Config;
    use crate::store::MapSource;
    use serde_json::Value;

    fn tables(pairs: &[(&str, &str)]) -> RouteTables<MapSource> {
        RouteTables::new(MapSource::new(pairs.iter().copied(), ["origin"]))
    }

    #[test]
    fn an_object_answers_for_each_of_its_fields() -> TestResult {
        let t = tables(&[(
            "route.r",
            r#"{"prefix": "/r/", "cache_ttl": 60, "strip_prefix": true, "esi": null,
                "replace": {"rules": [["a", "b"]]}}"#,
        )]);
        assert_eq!(t.get("route.r.prefix")?.as_deref(), Some("/r/"));
        assert_eq!(t.get("route.r.cache_ttl")?.as_deref(), Some("60"));
        assert_eq!(t.get("route.r.strip_prefix")?.as_deref(), Some("true"));
        assert_eq!(t.get("route.r.esi")?, None);
        assert_eq!(t.get("route.r.backend")?, None);
        let replace = t.get("route.r.replace")?.ok_or("no replace")?;
        let value: Value = serde_json::from_str(&replace)?;
        assert_eq!(value["rules"][0][1], "b");
        Ok(())
    }

    #[test]
    fn a_route_with_an_object_is_read_in_one_lookup() -> TestResult {
        let store = MapSource::new(
            [
                ("route.r", r#"{"prefix": "/r/", "backend": "origin"}"#),
                ("route.r.backend", "ignored"),
                ("route.s.backend", "origin"),
            ],
            ["origin"],
        );
        let recorder = Recorder::new(&store);
        let t = RouteTables::new(&recorder);
        for field in ["prefix", "backend", "host", "cache_ttl", "transforms"] {
            t.get(&route_key("r", field))?;
        }
        assert_eq!(t.get("route.r.backend")?.as_deref(), Some("origin"));
        // A route without an object is read key by key, after one lookup of the object.
        assert_eq!(t.get("route.s.backend")?.as_deref(), Some("origin"));
        assert_eq!(t.get("routes")?, None);
        let keys: Vec<String> = recorder.into_reads().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["route.r", "route.s", "route.s.backend", "routes"]);
        Ok(())
    }

    #[test]
    fn a_bad_object_names_its_key() {
        for bad in ["[1, 2]", "{\"prefix\": ", "prefix = /r/", "\"/r/\""] {
            let t = tables(&[("route.r", bad)]);
            let err = t.get("route.r.prefix").err().unwrap_or_default();
            assert!(
                err.starts_with("route.r is not a JSON object"),
                "{bad}: {err}"
            );
        }
        let t = tables(&[("route.r", r#"{"prefix": "/r/", "prefix": "/s/"}"#)]);
        assert_eq!(
            t.get("route.r.backend"),
            Err("route.r has the field 'prefix' twice".into())
        );
        // Blank is as if absent: the route's own keys are read.
        let t = tables(&[("route.r", " "), ("route.r.prefix", "/r/")]);
        assert_eq!(t.get("route.r.prefix"), Ok(Some("/r/".into())));
    }

    /// The same route twice: as separate keys, and as one object of the same fields.
    fn both_forms(fields: &[(&str, &str)]) -> (MapSource, MapSource) {
        let keys = fields
            .iter()
            .map(|(f, v)| (route_key("r", f), v.to_string()));
        let object: serde_json::Map<String, Value> = fields
            .iter()
            .map(|(f, v)| (f.to_string(), Value::from(*v)))
            .collect();
        let routes = [("routes".to_string(), "r".to_string())];
        (
            MapSource::new(routes.clone().into_iter().chain(keys), ["origin"]),
            MapSource::new(
                routes
                    .into_iter()
                    .chain([(table_key("r"), Value::Object(object).to_string())]),
                ["origin"],
            ),
        )
    }

    #[test]
    fn a_route_reads_the_same_from_its_object_as_from_its_keys() -> TestResult {
        let (keys, object) = both_forms(&[
            ("prefix", "/r/"),
            ("host", "Example.com"),
            ("backend", "origin"),
            ("strip_prefix", "true"),
            ("first_byte_timeout_ms", "1500"),
            ("transforms", "replace"),
            ("replace", r#"{"rules": [["a", "b"]]}"#),
            ("compress", "br,gzip"),
            ("cache_ttl", "60"),
            ("esi", "surrogate"),
            ("esi_cookies", "lang"),
        ]);
        let from_keys = Config::parse(&keys)?;
        assert_eq!(Config::parse(&object)?, from_keys);
        assert!(from_keys.routes[0].cache.is_some() && from_keys.routes[0].esi.is_some());
        assert_eq!(Config::check(&object), []);
        // A bad value names the field's key in either form.
        let (keys, object) = both_forms(&[
            ("prefix", "/r/"),
            ("backend", "origin"),
            ("cache_ttl", "soon"),
        ]);
        assert_eq!(
            Config::parse(&keys).err().map(|e| e.key),
            Some("route.r.cache_ttl".into())
        );
        assert_eq!(
            Config::parse(&object).err().map(|e| e.key),
            Some("route.r.cache_ttl".into())
        );
        // A number is read as written, so its refusal quotes what the operator wrote.
        let t = tables(&[("route.r", r#"{"cache_ttl": 1e3, "esi_max_depth": -0}"#)]);
        assert_eq!(t.get("route.r.cache_ttl")?.as_deref(), Some("1e3"));
        assert_eq!(t.get("route.r.esi_max_depth")?.as_deref(), Some("-0"));
        Ok(())
    }

    #[test]
    fn the_check_reports_an_unread_field_and_a_field_set_twice() {
        let store = MapSource::new(
            [
                ("routes", "r"),
                (
                    "route.r",
                    r#"{"prefix": "/r/", "backend": "origin", "cache_tll": 60, "html": {}}"#,
                ),
                ("route.r.backend", "origin"),
            ],
            ["origin"],
        );
        let errors: Vec<(String, String)> = Config::check(&store)
            .into_iter()
            .map(|e| (e.key, e.reason))
            .collect();
        let has = |key: &str, part: &str| errors.iter().any(|(k, r)| k == key && r.contains(part));
        assert!(
            has("route.r", "'cache_tll', which this route does not read"),
            "{errors:?}"
        );
        assert!(
            has("route.r", "'html', which this route does not read"),
            "{errors:?}"
        );
        assert!(
            has("route.r.backend", "beside the route's object in 'route.r'"),
            "{errors:?}"
        );
        assert_eq!(errors.len(), 3, "{errors:?}");
    }
}
