//! A route's compression dictionaries (RFC 9842): whether it serves `dcb` or `dcz` (listed
//! in `compress`), whether it marks its responses as dictionaries (`dictionary_match`), and how
//! long and how large a dictionary it keeps (`dictionary_ttl`, `dictionary_max_bytes`).
//!
//! These keys are not part of [`crate::Route`]: a request reads them with
//! [`route_dictionary`] only where dictionaries can matter, and the deploy-time check reads
//! them with the rest of the route.

use std::time::Duration;

use firstbyte_transform::dictionary::{DcbEncoder, DictionaryCoding, Pattern};

use crate::chain::parse_codings;
use crate::error::{take, ConfigError};
use crate::route_keys::RouteKeys;
use crate::store::Source;
use crate::value::{positive, seconds};

/// The largest dictionary kept when `dictionary_max_bytes` does not say: 1 MiB. A `dcb`
/// encoder holds the dictionary in a ring buffer of about twice its window, and the window
/// is 1.5 times the dictionary rounded up to a power of two, so a 1 MiB dictionary costs
/// about 4 MiB of encoder besides the bytes read from the cache; most minified bundles
/// (React, Vue, jQuery, three.js modules) are under it.
pub const DEFAULT_DICTIONARY_MAX_BYTES: u64 = 1 << 20;

/// The largest `dictionary_max_bytes`: the largest dictionary a `dcb` window reaches.
pub const MAX_DICTIONARY_MAX_BYTES: u64 = DcbEncoder::MAX_DICTIONARY as u64;

/// What a route does with dictionaries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DictionarySettings {
    /// The dictionary codings `compress` lists, in its order: a response may go out as
    /// `dcb` (Brotli) or `dcz` (Zstandard) against a dictionary the client holds, the first
    /// of these the client accepts; the rest of `compress` is the fallback. Empty: none.
    pub codings: Vec<DictionaryCoding>,
    /// `dictionary_match`: the route's 200 responses to GET are marked with
    /// `Use-As-Dictionary: match="<pattern>"` (checked with [`Pattern::validate`]; resolve
    /// it against each response's path with [`Pattern::parse`]).
    pub pattern: Option<String>,
    /// `dictionary_ttl`: how long a dictionary is kept; `None`: as long as the route's
    /// `cache_keep`.
    pub ttl: Option<Duration>,
    /// `dictionary_max_bytes`: a larger response is not kept as a dictionary.
    pub max_bytes: u64,
}

/// The dictionary settings of the route `name`; `None` when it neither serves `dcb` or
/// `dcz` nor sets `dictionary_match`. Every unusable key is reported.
pub fn route_dictionary(
    source: &impl Source,
    name: &str,
) -> Result<Option<DictionarySettings>, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let settings = parse_dictionary(&RouteKeys::new(source, name), &mut errors);
    match errors.is_empty() {
        true => Ok(settings),
        false => Err(errors),
    }
}

/// The `dictionary_*` keys and `dcb`/`dcz` in `compress`; every unusable key lands in `errors`.
pub(crate) fn parse_dictionary(
    keys: &RouteKeys<'_, impl Source>,
    errors: &mut Vec<ConfigError>,
) -> Option<DictionarySettings> {
    let mut field = |f: &str| take(errors, keys.optional(f)).flatten();
    let compress = field("compress");
    let pattern = field("dictionary_match");
    let ttl = field("dictionary_ttl");
    let max_bytes = field("dictionary_max_bytes");
    let before = errors.len();
    // A bad `compress` is the chain's to report; here it only means no dictionary coding.
    let codings = compress
        .and_then(|(_, v)| parse_codings(&v).ok())
        .map(|(_, codings)| codings)
        .unwrap_or_default();
    if codings.is_empty() && pattern.is_none() {
        // Refinements without a dictionary would silently do nothing.
        for (key, _) in [ttl, max_bytes].into_iter().flatten() {
            errors.push(ConfigError::new(
                key,
                "has no effect without dictionary_match or dcb or dcz in compress",
            ));
        }
        return None;
    }
    if let Some((key, value)) = &pattern {
        take(
            errors,
            Pattern::validate(value).map_err(|e| ConfigError::new(key, e.to_string())),
        );
    }
    let ttl = ttl.and_then(|(k, v)| take(errors, seconds(&k, &v, 1)));
    let max_bytes = max_bytes.and_then(|(k, v)| {
        take(
            errors,
            positive(&k, &v).and_then(|n| match n <= MAX_DICTIONARY_MAX_BYTES {
                true => Ok(n),
                false => Err(ConfigError::new(
                    k,
                    format!(
                        "{n} is over {MAX_DICTIONARY_MAX_BYTES}, the largest dictionary a dcb \
                         window reaches"
                    ),
                )),
            }),
        )
    });
    (errors.len() == before).then(|| DictionarySettings {
        codings,
        pattern: pattern.map(|(_, v)| v),
        ttl: ttl.map(|s| Duration::from_secs(s.into())),
        max_bytes: max_bytes.unwrap_or(DEFAULT_DICTIONARY_MAX_BYTES),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{source, with, TestResult};
    use crate::route::Route;
    use crate::store::Recorder;

    fn read(extra: &[(&'static str, &'static str)]) -> Result<Option<DictionarySettings>, String> {
        route_dictionary(&source(&with(extra)), "origin").map_err(|e| format!("{e:?}"))
    }

    fn error_keys(extra: &[(&'static str, &'static str)]) -> Vec<String> {
        let errors = route_dictionary(&source(&with(extra)), "origin");
        errors
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.key)
            .collect()
    }

    #[test]
    fn the_keys_are_read_with_their_defaults() -> TestResult {
        assert_eq!(read(&[])?, None);
        assert_eq!(read(&[("route.origin.compress", "br,gzip")])?, None);
        let both = read(&[("route.origin.compress", "dcz, br, dcb")])?.map(|s| s.codings);
        assert_eq!(
            both,
            Some(vec![DictionaryCoding::Dcz, DictionaryCoding::Dcb])
        );
        assert_eq!(
            read(&[("route.origin.compress", "dcb, br")])?,
            Some(DictionarySettings {
                codings: vec![DictionaryCoding::Dcb],
                pattern: None,
                ttl: None,
                max_bytes: DEFAULT_DICTIONARY_MAX_BYTES,
            })
        );
        assert_eq!(
            read(&[
                ("route.origin.dictionary_match", "/static/app.*.js"),
                ("route.origin.dictionary_ttl", "86400"),
                ("route.origin.dictionary_max_bytes", "4194304"),
            ])?,
            Some(DictionarySettings {
                codings: vec![],
                pattern: Some("/static/app.*.js".into()),
                ttl: Some(Duration::from_secs(86400)),
                max_bytes: 4 << 20,
            })
        );
        Ok(())
    }

    #[test]
    fn each_unusable_key_is_named() {
        assert_eq!(
            error_keys(&[("route.origin.dictionary_match", "/app/:v.js")]),
            ["route.origin.dictionary_match"]
        );
        assert_eq!(
            error_keys(&[
                ("route.origin.compress", "dcb"),
                ("route.origin.dictionary_ttl", "0"),
                ("route.origin.dictionary_max_bytes", "16777216"),
            ]),
            [
                "route.origin.dictionary_ttl",
                "route.origin.dictionary_max_bytes"
            ]
        );
        assert_eq!(
            error_keys(&[("route.origin.dictionary_ttl", "60")]),
            ["route.origin.dictionary_ttl"],
            "without a dictionary the ttl does nothing"
        );
        let pairs = with(&[("route.origin.dictionary_match", "https://cdn.example/*")]);
        let errors = route_dictionary(&source(&pairs), "origin")
            .err()
            .unwrap_or_default();
        assert!(
            errors.iter().any(|e| e.reason.contains("host")),
            "{errors:?}"
        );
    }

    #[test]
    fn the_deploy_check_reports_them_and_a_request_does_not_read_them() -> TestResult {
        let pairs = with(&[
            ("route.origin.compress", "dcb,br"),
            ("route.origin.dictionary_match", "/a/(x)"),
        ]);
        let errors = Route::check("origin", &source(&pairs))
            .err()
            .unwrap_or_default();
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["route.origin.dictionary_match"]);
        let store = source(&pairs);
        let recorder = Recorder::new(&store);
        let route = Route::parse("origin", &recorder).map_err(|e| format!("{e:?}"))?;
        let read: Vec<String> = recorder.into_reads().into_iter().map(|(k, _)| k).collect();
        assert!(
            !read.contains(&"route.origin.dictionary_match".to_string()),
            "{read:?}"
        );
        let compress = route.chain.map(|c| c.compress);
        assert_eq!(
            compress,
            Some(vec![firstbyte_transform::codec::Encoding::Brotli])
        );
        Ok(())
    }
}
