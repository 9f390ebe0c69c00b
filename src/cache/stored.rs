//! What an object keeps beside its body, in the core cache's user metadata: the head its
//! clients get, the origin's own validators (a transformed object shows clients a weak ETag,
//! but is revalidated with the origin's), what the origin told this cache alone
//! (`Surrogate-Control`, `Surrogate-Key`), and what may be done with it once stale.
//!
//! One line each: `FORMAT`, the status, then `#name=value` for this cache's own facts,
//! `:name: value` for fields kept from clients, `name: value` for the client's head. Field
//! values cannot hold line breaks (RFC 9110 §5.5), and no field name starts with `#` or `:`.

use bytes::Bytes;
use fastly::http::{HeaderValue, StatusCode};

/// Bumped whenever the format changes, so objects of another format are never read.
pub const FORMAT: &str = "firstbyte-cache/2";

/// The metadata of a marker object, which stands in the key's place for a while after a
/// response that was not stored.
const MARKER: &str = "firstbyte-cache/2 marker ";

/// Fields a stored head never keeps: they belong to one delivery, or to the connection.
const PER_DELIVERY: [&str; 4] = ["age", "x-cache", "server-timing", "connection"];

/// Fields the origin addresses to this cache alone: kept with the object, never sent.
pub const FOR_THIS_CACHE: [&str; 2] = ["surrogate-control", "surrogate-key"];

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

/// Header fields in order, values as the origin sent them.
pub type Fields = Vec<(String, HeaderValue)>;

/// What a marker says about the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// The last response could not be stored: requests fetch at once, together, instead of
    /// queueing for the obligation to insert, and any storable response they get is stored
    /// (hit-for-miss), so one uncacheable answer cannot switch the cache off for others.
    Uncacheable,
    /// The object outgrew `cache_max_bytes` while it was written: requests pass the cache
    /// until the marker expires, instead of starting another object that would be cut.
    TooLarge,
}

impl Marker {
    pub fn metadata(self) -> Bytes {
        let what = match self {
            Marker::Uncacheable => "uncacheable",
            Marker::TooLarge => "too-large",
        };
        Bytes::from(format!("{MARKER}{what}"))
    }

    pub fn read(meta: &[u8]) -> Option<Marker> {
        match meta.strip_prefix(MARKER.as_bytes())? {
            b"uncacheable" => Some(Marker::Uncacheable),
            b"too-large" => Some(Marker::TooLarge),
            _ => None,
        }
    }
}

/// A stored head and what this cache knows of its object.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub status: StatusCode,
    /// The head clients get, in order.
    pub fields: Fields,
    /// `Surrogate-Control` and `Surrogate-Key` as the origin sent them.
    pub hidden: Fields,
    /// Seconds past its freshness the object may be served while it is refreshed, or while
    /// the origin fails.
    pub stale_while_revalidate: u64,
    pub stale_if_error: u64,
    /// Never served stale without a successful revalidation.
    pub must_revalidate: bool,
    /// The origin's validators, to revalidate with.
    pub origin_etag: Option<String>,
    pub origin_last_modified: Option<String>,
    /// The body was re-made by the route's chain: the clients' ETag is a weak form of the
    /// origin's.
    pub transformed: bool,
    /// The surrogate key naming this object alone, to purge it if its body fails.
    pub object_key: String,
    /// The body is a template its route composes (ESI): a page is made of it per request.
    pub template: bool,
    /// The body's length, once known when the head was written: a head refreshed by a 304
    /// (the core cache copies the body into the refreshed object, and knows its length again
    /// only once the copy is done) or restored.
    pub length: Option<u64>,
}

impl Stored {
    /// The value of a client-facing field (the first line).
    pub fn field(&self, name: &str) -> Option<&HeaderValue> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Every line of a field, client-facing or kept for this cache, read lossily.
    pub fn lines(&self, name: &str) -> Vec<String> {
        self.fields
            .iter()
            .chain(&self.hidden)
            .filter(|(n, _)| n == name)
            .map(|(_, v)| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    }

    /// The origin's surrogate keys (`Surrogate-Key`), those Fastly can take.
    pub fn origin_surrogate_keys(&self) -> Vec<String> {
        super::key::surrogate_keys(&self.lines("surrogate-key"))
    }

    /// Whether the origin can be asked whether this object is still current.
    pub fn has_validator(&self) -> bool {
        self.origin_etag.is_some() || self.origin_last_modified.is_some()
    }

    pub fn encode(&self) -> Bytes {
        let mut out = Vec::new();
        let mut line = |parts: &[&[u8]]| {
            for part in parts {
                out.extend_from_slice(part);
            }
            out.push(b'\n');
        };
        line(&[FORMAT.as_bytes()]);
        line(&[self.status.as_str().as_bytes()]);
        line(&[b"#swr=", self.stale_while_revalidate.to_string().as_bytes()]);
        line(&[b"#sie=", self.stale_if_error.to_string().as_bytes()]);
        line(&[b"#object=", self.object_key.as_bytes()]);
        if let Some(length) = self.length {
            line(&[b"#length=", length.to_string().as_bytes()]);
        }
        if self.must_revalidate {
            line(&[b"#must-revalidate"]);
        }
        if self.transformed {
            line(&[b"#transformed"]);
        }
        if self.template {
            line(&[b"#template"]);
        }
        if let Some(etag) = &self.origin_etag {
            line(&[b"#etag=", etag.as_bytes()]);
        }
        if let Some(lm) = &self.origin_last_modified {
            line(&[b"#last-modified=", lm.as_bytes()]);
        }
        for (name, value) in &self.hidden {
            line(&[b":", name.as_bytes(), b": ", value.as_bytes()]);
        }
        for (name, value) in &self.fields {
            line(&[name.as_bytes(), b": ", value.as_bytes()]);
        }
        Bytes::from(out)
    }

    pub fn decode(meta: &[u8]) -> Result<Stored, String> {
        let mut lines = meta.split(|b| *b == b'\n');
        if lines.next() != Some(FORMAT.as_bytes()) {
            return Err("metadata of another format".into());
        }
        let status = lines
            .next()
            .and_then(|s| StatusCode::from_bytes(s).ok())
            .ok_or("metadata without a status")?;
        let mut stored = Stored {
            status,
            fields: Vec::new(),
            hidden: Vec::new(),
            stale_while_revalidate: 0,
            stale_if_error: 0,
            must_revalidate: false,
            origin_etag: None,
            origin_last_modified: None,
            transformed: false,
            object_key: String::new(),
            template: false,
            length: None,
        };
        for line in lines.filter(|l| !l.is_empty()) {
            if let Some(fact) = line.strip_prefix(b"#") {
                let fact = std::str::from_utf8(fact).map_err(|_| "metadata fact")?;
                let (name, value) = fact.split_once('=').unwrap_or((fact, ""));
                let number = || value.parse::<u64>().map_err(|_| "metadata number");
                match name {
                    "swr" => stored.stale_while_revalidate = number()?,
                    "sie" => stored.stale_if_error = number()?,
                    "object" => stored.object_key = value.to_string(),
                    "length" => stored.length = Some(number()?),
                    "must-revalidate" => stored.must_revalidate = true,
                    "transformed" => stored.transformed = true,
                    "template" => stored.template = true,
                    "etag" => stored.origin_etag = Some(value.to_string()),
                    "last-modified" => stored.origin_last_modified = Some(value.to_string()),
                    _ => return Err(format!("metadata fact '{name}'")),
                }
                continue;
            }
            let (hidden, line) = match line.strip_prefix(b":") {
                Some(rest) => (true, rest),
                None => (false, line),
            };
            let at = line
                .windows(2)
                .position(|w| w == b": ")
                .ok_or("metadata line without a field")?;
            let name = std::str::from_utf8(&line[..at]).map_err(|_| "metadata field name")?;
            let value =
                HeaderValue::from_bytes(&line[at + 2..]).map_err(|_| "metadata field value")?;
            let list = if hidden {
                &mut stored.hidden
            } else {
                &mut stored.fields
            };
            list.push((name.to_string(), value));
        }
        Ok(stored)
    }

    /// The head a 304 from the origin leaves (RFC 9111 §3.2, §4.3.4): each field it carries
    /// replaces the stored lines of that name, except those in [`KEPT_ON_UPDATE`] and per
    /// delivery; its `ETag` and `Last-Modified` become the origin's validators (the clients'
    /// ETag weakened again for a transformed object). `Set-Cookie` is never stored.
    pub fn refreshed_by(&self, not_modified: &[(String, HeaderValue)]) -> Stored {
        let mut next = self.clone();
        let mut replaced: Vec<&str> = Vec::new();
        for (name, value) in not_modified {
            let name = name.as_str();
            if KEPT_ON_UPDATE.contains(&name)
                || PER_DELIVERY.contains(&name)
                || name == "set-cookie"
            {
                continue;
            }
            let value = match name {
                "etag" => {
                    next.origin_etag = Some(String::from_utf8_lossy(value.as_bytes()).into());
                    if self.transformed {
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
                    next.origin_last_modified =
                        Some(String::from_utf8_lossy(value.as_bytes()).into());
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
    fn a_stored_head_survives_its_round_trip() -> TestResult {
        let stored = sample();
        let back = Stored::decode(&stored.encode())?;
        assert_eq!(back, stored);
        let names: Vec<&str> = back.fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["content-type", "link", "link", "etag", "cache-control"],
            "age is per delivery; surrogate keys are for this cache only"
        );
        assert_eq!(back.origin_surrogate_keys(), ["page", "article-7"]);
        Ok(())
    }

    #[test]
    fn unreadable_metadata_is_an_error_not_a_panic() {
        assert!(Stored::decode(b"").is_err());
        assert!(Stored::decode(b"firstbyte-cache/1\n200\n").is_err());
        assert!(Stored::decode(b"firstbyte-cache/2\nxyz\n").is_err());
        assert!(Stored::decode(b"firstbyte-cache/2\n200\nno separator\n").is_err());
        assert!(Stored::decode(b"firstbyte-cache/2\n200\n#swr=x\n").is_err());
        assert!(Stored::decode(b"firstbyte-cache/2\n200\n#what=1\n").is_err());
        assert!(Stored::decode(&Marker::Uncacheable.metadata()).is_err());
    }

    #[test]
    fn markers_are_told_apart_from_objects() {
        for marker in [Marker::Uncacheable, Marker::TooLarge] {
            assert_eq!(Marker::read(&marker.metadata()), Some(marker));
        }
        assert_eq!(Marker::read(&sample().encode()), None);
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
        let next = stored.refreshed_by(&not_modified);
        assert_eq!(next.lines("cache-control"), ["max-age=120"]);
        assert_eq!(next.lines("content-type"), ["text/html"]);
        assert!(next.lines("content-length").is_empty());
        assert!(next.lines("set-cookie").is_empty());
        assert_eq!(next.lines("x-new"), ["1"]);
        assert_eq!(next.lines("link").len(), 2, "untouched fields stay");
        assert_eq!(next.origin_etag.as_deref(), Some("\"v2\""));
        assert_eq!(next.lines("etag"), ["W/\"v2\""], "transformed: still weak");
        assert_eq!(next.origin_surrogate_keys(), ["fresh"]);
    }
}
