//! The deploy-time check of firstbyte's settings: every key of every route in both stores
//! fastly.toml declares, the local one Viceroy reads (`[local_server.config_stores]`) and
//! the one `fastly compute publish` creates (`[setup.config_stores]`), each against the
//! backends declared beside it. A request reads only the route it matches, so a bad key in
//! another route would otherwise go unnoticed until a request for it.

use firstbyte_config::{Config, ConfigError, MapSource, STORE};
use toml_edit::{DocumentMut, Item};

/// One store of the manifest, ready to check.
pub struct Store {
    /// `local_server` or `setup`.
    pub name: &'static str,
    pub source: MapSource,
}

/// The stores fastly.toml declares for firstbyte; an error when the manifest does not
/// parse or declares none.
pub fn stores(manifest: &str) -> Result<Vec<Store>, String> {
    let doc: DocumentMut = manifest
        .parse()
        .map_err(|e| format!("fastly.toml does not parse: {e}"))?;
    let mut stores = Vec::new();
    let root = doc.as_item();
    for (name, contents, value_field) in [
        (
            "local_server",
            ["local_server", "config_stores", STORE, "contents"],
            None,
        ),
        (
            "setup",
            ["setup", "config_stores", STORE, "items"],
            Some("value"),
        ),
    ] {
        let Some(table) = at(root, &contents).and_then(Item::as_table_like) else {
            continue;
        };
        let values = table.iter().filter_map(|(k, v)| {
            let v = match value_field {
                Some(field) => at(v, &[field])?,
                None => v,
            };
            Some((k.to_string(), v.as_str()?.to_string()))
        });
        let backends = at(root, &[name, "backends"]).map_or_else(Vec::new, table_keys);
        stores.push(Store {
            name,
            source: MapSource::new(values, backends),
        });
    }
    if stores.is_empty() {
        return Err(format!(
            "fastly.toml declares no config store '{STORE}' under [local_server] or [setup]"
        ));
    }
    Ok(stores)
}

/// The item at `path`, if every step of it exists (indexing a toml_edit item panics when
/// one does not).
fn at<'a>(item: &'a Item, path: &[&str]) -> Option<&'a Item> {
    path.iter().try_fold(item, |item, key| item.get(key))
}

fn table_keys(item: &Item) -> Vec<String> {
    item.as_table_like()
        .map(|t| t.iter().map(|(k, _)| k.to_string()).collect())
        .unwrap_or_default()
}

/// What a Config Store item may hold on Fastly (its API's limits): a longer key or value is
/// refused when the service is created, so it is refused here first.
const MAX_KEY_CHARS: usize = 256;
const MAX_VALUE_CHARS: usize = 8000;

/// Every unusable key of every store, as `(store, error)`.
pub fn check(manifest: &str) -> Result<Vec<(&'static str, ConfigError)>, String> {
    Ok(stores(manifest)?
        .into_iter()
        .flat_map(|store| {
            let mut errors = beyond_limits(&store.source);
            errors.extend(Config::check(&store.source));
            errors.into_iter().map(move |e| (store.name, e))
        })
        .collect())
}

/// Keys and values longer than a Config Store item holds.
fn beyond_limits(source: &MapSource) -> Vec<ConfigError> {
    let mut errors: Vec<ConfigError> = source
        .values
        .iter()
        .filter_map(|(key, value)| {
            let (k, v) = (key.chars().count(), value.chars().count());
            let reason = if k > MAX_KEY_CHARS {
                format!("is {k} characters long; a Config Store key holds at most {MAX_KEY_CHARS}")
            } else if v > MAX_VALUE_CHARS {
                format!(
                    "holds {v} characters; a Config Store value holds at most {MAX_VALUE_CHARS}"
                )
            } else {
                return None;
            };
            Some(ConfigError {
                key: key.clone(),
                reason,
            })
        })
        .collect();
    errors.sort_by(|a, b| a.key.cmp(&b.key));
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
[local_server.backends.origin]
url = "http://127.0.0.1:7070/"

[local_server.config_stores.firstbyte]
format = "inline-toml"

[local_server.config_stores.firstbyte.contents]
routes = "a,b"
"route.a.prefix" = "/a/"
"route.a.backend" = "origin"
"route.b.prefix" = "/b/"
"route.b.backend" = "nowhere"
"route.b.transforms" = "html"
"route.b.html" = '{"remove": ["p[["]}'

[setup.backends.origin]
address = "example.com"

[setup.config_stores.firstbyte.items.routes]
value = "a"

[setup.config_stores.firstbyte.items."route.a.prefix"]
value = "a"

[setup.config_stores.firstbyte.items."route.a.backend"]
value = "origin"
"#;

    #[test]
    fn every_bad_key_of_both_stores_is_named() -> Result<(), String> {
        let found: Vec<(&str, String)> = check(MANIFEST)?
            .into_iter()
            .map(|(store, e)| (store, e.key))
            .collect();
        assert_eq!(
            found,
            [
                ("local_server", "route.b.backend".to_string()),
                ("local_server", "route.b.html".to_string()),
                ("setup", "route.a.prefix".to_string()),
            ]
        );
        Ok(())
    }

    #[test]
    fn the_repository_manifest_is_sound() -> Result<(), String> {
        let path = crate::stack::repo_root().join("fastly.toml");
        let manifest = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
        let errors = check(&manifest)?;
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(stores(&manifest)?.len(), 2);
        Ok(())
    }

    #[test]
    fn a_value_longer_than_a_config_store_item_holds_is_named() -> Result<(), String> {
        let long = format!(
            r#"{{"prefix": "/a/", "backend": "origin", "x": "{}"}}"#,
            "y".repeat(8000)
        );
        let manifest = format!(
            "[local_server.backends.origin]\nurl = \"http://127.0.0.1:7070/\"\n\
             [local_server.config_stores.firstbyte.contents]\nroutes = \"a\"\n\"route.a\" = '{long}'\n"
        );
        let found: Vec<(String, String)> = check(&manifest)?
            .into_iter()
            .map(|(_, e)| (e.key, e.reason))
            .collect();
        assert!(
            found
                .iter()
                .any(|(k, r)| k == "route.a" && r.contains("at most 8000")),
            "{found:?}"
        );
        Ok(())
    }

    #[test]
    fn the_readme_quick_start_is_sound() -> Result<(), String> {
        let readme = std::fs::read_to_string(crate::stack::repo_root().join("README.md"))
            .map_err(|e| e.to_string())?;
        let block = readme
            .split("```toml\n[local_server.config_stores.firstbyte.contents]")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .ok_or("README.md has no quick-start config")?;
        let manifest = format!(
            "[local_server.backends.origin]\nurl = \"http://127.0.0.1:7070/\"\n\
             [local_server.config_stores.firstbyte.contents]{block}"
        );
        let errors = check(&manifest)?;
        assert!(errors.is_empty(), "{errors:?}");
        let routes = stores(&manifest)?.remove(0).source;
        assert_eq!(Config::parse(&routes).map(|c| c.routes.len()), Ok(6));
        Ok(())
    }

    #[test]
    fn a_manifest_without_the_store_is_an_error() {
        assert!(check("[local_server.backends.origin]\nurl = \"x\"\n").is_err());
        assert!(check("not toml [").is_err());
    }
}
