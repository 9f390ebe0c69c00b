//! What names an object: the cache key, which holds everything a fill sends the origin, and
//! the surrogate keys it is stored under (its own, its URL's, and the origin's).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use firstbyte_config::Route;

use firstbyte_cache_meta::FORMAT;
use firstbyte_transform::dictionary::DictionaryHash;

/// Fastly and Viceroy refuse longer cache keys; a longer request bypasses the cache.
pub const MAX_KEY: usize = 4096;

/// Fastly's limits on surrogate keys: each, and all of an object's with their separators.
const MAX_SURROGATE_KEY: usize = 1024;
const MAX_SURROGATE_KEYS: usize = 16 * 1024;
/// Room left in an object's surrogate keys for the two this app adds.
const OWN_KEYS_ROOM: usize = 128;

/// Everything a fill's request is made of, and so everything the stored bytes may depend on.
pub struct Request<'a> {
    /// The `Host` the origin sees (the route's `host_override`, else the client's), in one
    /// spelling per origin (`crate::routing::normalize_authority`).
    pub host: &'a str,
    /// Path and query as forwarded.
    pub path_and_query: &'a str,
    /// The codings the client accepts ([`firstbyte_transform::codec::coding_class`]), which
    /// is the `Accept-Encoding` the fill sends.
    pub codings: Option<&'a str>,
    /// The dictionary a `dcb` object is made against, when the edge holds the one the client
    /// advertises: each is its own object, and a client holding another never gets it.
    pub dictionary: Option<&'a DictionaryHash>,
}

/// The route's name and a digest of all its settings (a changed rule makes new keys, so old
/// output is never served), then what the fill sends. The values of `cache_request_headers`
/// are not here: they are the object's variant (`vary_by`).
pub fn key(route: &Route, request: &Request) -> String {
    // On the codings' line, which never holds a `:` otherwise.
    let dictionary = request
        .dictionary
        .map(|hash| format!("; dictionary=:{}:", hash.to_hex()))
        .unwrap_or_default();
    format!(
        "{FORMAT}\n{}\n{}\n{}\n{}{dictionary}\n{}",
        route.name,
        settings_digest(route),
        request.host,
        request.codings.unwrap_or("identity"),
        request.path_and_query,
    )
}

/// 128 bits over the route's whole parsed form. Not a defence against anyone (the settings
/// are the operator's), only a name for a version of them.
fn settings_digest(route: &Route) -> String {
    digest(format!("{route:?}").as_bytes())
}

fn digest(bytes: &[u8]) -> String {
    let half = |salt: u8| {
        let mut h = DefaultHasher::new();
        salt.hash(&mut h);
        bytes.hash(&mut h);
        h.finish()
    };
    format!("{:016x}{:016x}", half(1), half(2))
}

/// A surrogate key naming one insertion alone, to purge exactly it when its body fails:
/// `nonce` tells apart two insertions of the same key (a refresh and the object it
/// replaces).
pub fn object_surrogate(key: &[u8], nonce: u128) -> String {
    let mut bytes = key.to_vec();
    bytes.extend_from_slice(&nonce.to_le_bytes());
    format!("fb-o-{}", digest(&bytes))
}

/// The surrogate key every object of one URL carries, whatever its coding or variant: what
/// an unsafe request to the URL invalidates (RFC 9111 §4.4). `host` as
/// [`crate::routing::normalize_authority`] spells it; another scheme is another origin.
pub fn url_surrogate(scheme: &str, host: &str, path_and_query: &str) -> String {
    let mut bytes = scheme.to_ascii_lowercase().into_bytes();
    bytes.push(b'\n');
    bytes.extend_from_slice(host.as_bytes());
    bytes.push(b'\n');
    bytes.extend_from_slice(path_and_query.as_bytes());
    format!("fb-u-{}", digest(&bytes))
}

/// The keys of `Surrogate-Key` lines (space-separated) that Fastly can take: visible ASCII,
/// at most 1 KiB each, in all within the platform's 16 KiB with room for this app's own,
/// each once, in order. Others are dropped rather than failing the insertion.
pub fn surrogate_keys(lines: &[String]) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    let mut total = 0;
    for key in lines.iter().flat_map(|l| l.split([' ', '\t'])) {
        let usable = !key.is_empty()
            && key.len() <= MAX_SURROGATE_KEY
            && key.bytes().all(|b| b.is_ascii_graphic());
        if !usable || keys.iter().any(|k| k == key) {
            continue;
        }
        if total + key.len() + 1 > MAX_SURROGATE_KEYS - OWN_KEYS_ROOM {
            break;
        }
        total += key.len() + 1;
        keys.push(key.to_string());
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn route(rules: &'static str) -> Result<Route, Box<dyn std::error::Error>> {
        let source = firstbyte_config::MapSource::new(
            [
                ("route.c.prefix", "/c/"),
                ("route.c.backend", "origin"),
                ("route.c.strip_prefix", "true"),
                ("route.c.transforms", "replace"),
                ("route.c.replace", rules),
                ("route.c.cache_ttl", "60"),
            ],
            ["origin"],
        );
        Route::parse("c", &source).map_err(|e| format!("{e:?}").into())
    }

    fn req<'a>(host: &'a str, pq: &'a str, codings: Option<&'a str>) -> Request<'a> {
        Request {
            host,
            path_and_query: pq,
            codings,
            dictionary: None,
        }
    }

    #[test]
    fn a_rule_change_changes_every_key() -> TestResult {
        let before = route(r#"{"rules": [["a", "b"]]}"#)?;
        let after = route(r#"{"rules": [["a", "c"]]}"#)?;
        let r = req("h", "/x?q=1", Some("br"));
        assert_eq!(
            key(&before, &r),
            key(&route(r#"{"rules": [["a", "b"]]}"#)?, &r),
            "the same settings make the same key"
        );
        assert_ne!(key(&before, &r), key(&after, &r));
        Ok(())
    }

    #[test]
    fn the_key_holds_everything_a_fill_sends() -> TestResult {
        let r = route(r#"{"rules": [["a", "b"]]}"#)?;
        let base = key(&r, &req("h", "/x", Some("br")));
        assert!(base.ends_with("\nh\nbr\n/x"), "{base}");
        for other in [
            req("h", "/x", Some("gzip")),
            req("h", "/x", None),
            req("h", "/x?a=1", Some("br")),
            req("evil.example", "/x", Some("br")),
        ] {
            assert_ne!(base, key(&r, &other));
        }
        assert!(key(&r, &req("h", "/x", None)).contains("\nidentity\n"));
        Ok(())
    }

    #[test]
    fn a_dictionary_makes_an_object_of_its_own() -> TestResult {
        let r = route(r#"{"rules": [["a", "b"]]}"#)?;
        let (one, two) = (DictionaryHash::of(b"v1"), DictionaryHash::of(b"v3"));
        let with = |dictionary| Request {
            dictionary,
            ..req("h", "/x", Some("br, dcb"))
        };
        let plain = key(&r, &with(None));
        let against_one = key(&r, &with(Some(&one)));
        assert_ne!(plain, against_one);
        assert_ne!(against_one, key(&r, &with(Some(&two))));
        assert!(
            against_one.ends_with(&format!("\nbr, dcb; dictionary=:{}:\n/x", one.to_hex())),
            "{against_one}"
        );
        Ok(())
    }

    #[test]
    fn surrogate_keys_name_objects_urls_and_what_the_origin_says() {
        assert_ne!(object_surrogate(b"k", 1), object_surrogate(b"k", 2));
        assert_ne!(
            url_surrogate("http", "a", "/x"),
            url_surrogate("http", "a", "/y")
        );
        assert_ne!(
            url_surrogate("http", "a", "/x"),
            url_surrogate("http", "b", "/x")
        );
        assert_ne!(
            url_surrogate("http", "a", "/x"),
            url_surrogate("https", "a", "/x")
        );
        let lines = vec!["a b  a".to_string(), "c\u{e9} d".into(), "x".repeat(2000)];
        assert_eq!(surrogate_keys(&lines), ["a", "b", "d"]);
        assert_eq!(
            surrogate_keys(&["k".repeat(1024)]).len(),
            1,
            "1 KiB is allowed"
        );
        let flood: Vec<String> = (0..5000).map(|i| format!("key-{i}")).collect();
        let kept = surrogate_keys(&flood);
        let total: usize = kept.iter().map(|k| k.len() + 1).sum();
        assert!(total <= MAX_SURROGATE_KEYS - OWN_KEYS_ROOM, "{total}");
    }
}
