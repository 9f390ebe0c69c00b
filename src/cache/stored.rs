//! What an object keeps beside its body ([`Stored`], in the core cache's user metadata, its
//! format in the `firstbyte-cache-meta` crate), and the rules that shape it from a
//! response's head: which fields are kept, which are for this cache alone, what a 304
//! changes.

use fastly::http::HeaderValue;

use crate::headers::FOR_THIS_CACHE;
pub use firstbyte_cache_meta::{Fields, Marker, Stored};

/// Fields a stored head never keeps: they belong to one delivery, or to the connection.
const PER_DELIVERY: [&str; 4] = ["age", "x-cache", "server-timing", "connection"];

/// Fields a 304 never changes in a stored head (RFC 9111 §3.2): they describe the stored
/// bytes as this cache made them (framing, coding, type, the ranges that can be served), or
/// they would change which requests the object answers.
const KEPT_ON_UPDATE: [&str; 10] = [
    "content-length",
    "content-encoding",
    "content-type",
    "content-range",
    "accept-ranges",
    "content-md5",
    "digest",
    "content-digest",
    "repr-digest",
    "vary",
];

/// The origin's surrogate keys (`Surrogate-Key`) of a stored object, those Fastly can take.
pub fn origin_surrogate_keys(stored: &Stored) -> Vec<String> {
    super::key::surrogate_keys(&stored.lines("surrogate-key"))
}

/// The head a 304 from the origin leaves (RFC 9111 §3.2, §4.3.4): each field it carries
/// replaces the stored lines of that name, except those in [`KEPT_ON_UPDATE`] and per
/// delivery; its `ETag` and `Last-Modified` become the origin's validators (the clients'
/// ETag weakened again for a transformed object). `Set-Cookie` is never stored.
pub fn refreshed_by(stored: &Stored, not_modified: &[(String, HeaderValue)]) -> Stored {
    let mut next = stored.clone();
    let mut replaced: Vec<&str> = Vec::new();
    for (name, value) in not_modified {
        let name = name.as_str();
        if KEPT_ON_UPDATE.contains(&name) || PER_DELIVERY.contains(&name) || name == "set-cookie" {
            continue;
        }
        let value = match name {
            "etag" => {
                next.origin_etag = Some(String::from_utf8_lossy(value.as_bytes()).into());
                if stored.transformed {
                    match HeaderValue::from_str(&crate::headers::weaken_etag(
                        &String::from_utf8_lossy(value.as_bytes()),
                    )) {
                        Ok(weak) => weak,
                        Err(_) => continue,
                    }
                } else {
                    value.clone()
                }
            }
            "last-modified" => {
                next.origin_last_modified = Some(String::from_utf8_lossy(value.as_bytes()).into());
                value.clone()
            }
            _ => value.clone(),
        };
        let list = if FOR_THIS_CACHE.contains(&name) {
            &mut next.hidden
        } else {
            &mut next.fields
        };
        if !replaced.contains(&name) {
            list.retain(|(n, _)| n != name);
            replaced.push(name);
        }
        list.push((name.to_string(), value));
    }
    next
}

/// Splits a response head into what clients get and what is kept for this cache alone,
/// dropping what belongs to one delivery.
pub fn split_head(fields: impl IntoIterator<Item = (String, HeaderValue)>) -> (Fields, Fields) {
    let mut shown = Vec::new();
    let mut hidden = Vec::new();
    for (name, value) in fields {
        if PER_DELIVERY.contains(&name.as_str()) {
            continue;
        }
        if FOR_THIS_CACHE.contains(&name.as_str()) {
            hidden.push((name, value));
        } else {
            shown.push((name, value));
        }
    }
    (shown, hidden)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fastly::http::StatusCode;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn value(v: &str) -> HeaderValue {
        HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("?"))
    }

    fn sample() -> Stored {
        let (fields, hidden) = split_head(
            [
                ("content-type", "text/html"),
                ("link", "</a>; rel=preload"),
                ("link", "</b>; rel=preload"),
                ("etag", "W/\"v1\""),
                ("age", "3"),
                ("surrogate-key", "page article-7"),
                ("cache-control", "max-age=60"),
            ]
            .map(|(n, v)| (n.to_string(), value(v))),
        );
        Stored {
            status: StatusCode::NOT_FOUND,
            fields,
            hidden,
            stale_while_revalidate: 30,
            stale_if_error: 600,
            must_revalidate: true,
            origin_etag: Some("\"v1\"".into()),
            origin_last_modified: Some("Sat, 05 Dec 2026 10:00:00 GMT".into()),
            transformed: true,
            object_key: "fb-o-1".into(),
            template: true,
            length: Some(1234),
        }
    }

    #[test]
    fn a_split_head_keeps_what_clients_get_and_what_is_for_this_cache() -> TestResult {
        let stored = sample();
        let back = Stored::decode(&stored.encode())?;
        assert_eq!(back, stored);
        let names: Vec<&str> = back.fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["content-type", "link", "link", "etag", "cache-control"],
            "age is per delivery; surrogate keys are for this cache only"
        );
        assert_eq!(origin_surrogate_keys(&back), ["page", "article-7"]);
        Ok(())
    }

    #[test]
    fn a_304_refreshes_the_head_but_not_what_describes_the_stored_bytes() {
        let stored = sample();
        let not_modified: Vec<(String, HeaderValue)> = [
            ("cache-control", "max-age=120"),
            ("etag", "\"v2\""),
            ("content-length", "0"),
            ("content-type", "text/plain"),
            ("set-cookie", "a=b"),
            ("x-new", "1"),
            ("surrogate-key", "fresh"),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_string(), value(v)))
        .collect();
        let next = refreshed_by(&stored, &not_modified);
        assert_eq!(next.lines("cache-control"), ["max-age=120"]);
        assert_eq!(next.lines("content-type"), ["text/html"]);
        assert!(next.lines("content-length").is_empty());
        assert!(next.lines("set-cookie").is_empty());
        assert_eq!(next.lines("x-new"), ["1"]);
        assert_eq!(next.lines("link").len(), 2, "untouched fields stay");
        assert_eq!(next.origin_etag.as_deref(), Some("\"v2\""));
        assert_eq!(next.lines("etag"), ["W/\"v2\""], "transformed: still weak");
        assert_eq!(origin_surrogate_keys(&next), ["fresh"]);
    }
}
