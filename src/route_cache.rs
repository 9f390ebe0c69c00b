//! The routes an instance has read and built. With instance reuse, a route's parsed
//! settings (its rules, its chain's stages as specs) are kept between requests and read
//! again only when one of the route's raw settings changed; nothing of a request's own
//! state (pipelines, bodies, records) is kept. Without reuse an instance serves one
//! request, so nothing is kept at all.

use std::collections::HashMap;
use std::rc::Rc;

use firstbyte_config::{ConfigError, Recorder, Route, Settings, Source};

#[derive(Default)]
pub struct RouteCache {
    built: HashMap<String, Built>,
}

struct Built {
    /// Every key the parse read, with the value it read: the route's raw settings.
    reads: Vec<(String, Option<String>)>,
    route: Rc<Route>,
}

impl RouteCache {
    /// The route `name`, from this instance's earlier requests when its raw settings are
    /// unchanged, else read now.
    pub fn get(
        &mut self,
        name: &str,
        source: &impl Source,
        settings: &Settings,
    ) -> Result<Rc<Route>, Vec<ConfigError>> {
        if settings.reuse_wait.is_zero() {
            return Route::parse(name, source).map(Rc::new);
        }
        if let Some(built) = self.built.get(name) {
            let unchanged = built
                .reads
                .iter()
                .all(|(key, value)| source.get(key).is_ok_and(|now| now == *value));
            if unchanged {
                return Ok(Rc::clone(&built.route));
            }
        }
        let recorder = Recorder::new(source);
        let route = Rc::new(Route::parse(name, &recorder)?);
        self.built.insert(
            name.to_string(),
            Built {
                reads: recorder.into_reads(),
                route: Rc::clone(&route),
            },
        );
        Ok(route)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use firstbyte_config::MapSource;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn store(reuse_ms: &str, rule: &str) -> MapSource {
        MapSource::new(
            [
                ("reuse_ms", reuse_ms.to_string()),
                ("routes", "r".into()),
                ("route.r.prefix", "/r/".into()),
                ("route.r.backend", "origin".into()),
                ("route.r.transforms", "replace".into()),
                (
                    "route.r.replace",
                    format!(r#"{{"rules": [["{rule}", "x"]]}}"#),
                ),
            ],
            ["origin"],
        )
    }

    fn get(cache: &mut RouteCache, source: &MapSource) -> Result<Rc<Route>, String> {
        let settings = Settings::parse(source).map_err(|e| e.to_string())?;
        cache
            .get("r", source, &settings)
            .map_err(|e| format!("{e:?}"))
    }

    #[test]
    fn a_reused_instance_keeps_a_route_while_its_settings_stay() -> TestResult {
        let mut cache = RouteCache::default();
        let first = get(&mut cache, &store("250", "a"))?;
        let second = get(&mut cache, &store("250", "a"))?;
        assert!(Rc::ptr_eq(&first, &second), "unchanged settings: kept");
        Ok(())
    }

    #[test]
    fn a_settings_change_between_two_requests_is_read_at_once() -> TestResult {
        let mut cache = RouteCache::default();
        let before = get(&mut cache, &store("250", "a"))?;
        let after = get(&mut cache, &store("250", "b"))?;
        assert!(!Rc::ptr_eq(&before, &after));
        assert_ne!(before.chain, after.chain, "the new rule is in force");
        // A setting that becomes unusable is an error, never the old route.
        let mut bad = store("250", "a");
        bad.values.insert("route.r.pump".into(), "maybe".into());
        assert!(get(&mut cache, &bad).is_err());
        Ok(())
    }

    #[test]
    fn without_reuse_nothing_is_kept() -> TestResult {
        let mut cache = RouteCache::default();
        let first = get(&mut cache, &store("0", "a"))?;
        let second = get(&mut cache, &store("0", "a"))?;
        assert!(!Rc::ptr_eq(&first, &second));
        assert!(cache.built.is_empty());
        Ok(())
    }
}
