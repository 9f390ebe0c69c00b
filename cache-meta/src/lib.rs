//! What an edge-cache object keeps beside its body, in the core cache's user metadata: the
//! head its clients get, the origin's own validators (a transformed object shows clients a
//! weak ETag, but is revalidated with the origin's), what the origin told this cache alone
//! (`Surrogate-Control`, `Surrogate-Key`), and what may be done with it once stale.
//!
//! The encoding holds any field name and value an origin can send, and any fact: after the
//! `FORMAT` line and the status line, each entry is a kind byte (`f` a fact of this cache,
//! `h` a field kept from clients, `c` a field of the clients' head), then its name and its
//! value, each as a netstring (`<length>:<bytes>,`). Nothing in a name or a value is ever
//! read as structure.
//!
//! Pure (no host calls), so the round trip is a property test and a fuzz target.

use http::{HeaderValue, StatusCode};

/// Bumped whenever the format changes, so objects of another format are never read (the
/// cache key begins with it too).
pub const FORMAT: &str = "firstbyte-cache/3";

/// The metadata of a marker object begins with this.
const MARKER: &str = "firstbyte-cache/3 marker ";

/// The longest length a netstring may declare, in digits: far beyond any metadata.
const MAX_LENGTH_DIGITS: usize = 9;

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
    pub fn metadata(self) -> Vec<u8> {
        let what = match self {
            Marker::Uncacheable => "uncacheable",
            Marker::TooLarge => "too-large",
        };
        format!("{MARKER}{what}").into_bytes()
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

/// The kinds of entry.
const FACT: u8 = b'f';
const HIDDEN: u8 = b'h';
const FIELD: u8 = b'c';

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

    /// Whether the origin can be asked whether this object is still current.
    pub fn has_validator(&self) -> bool {
        self.origin_etag.is_some() || self.origin_last_modified.is_some()
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(FORMAT.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(self.status.as_str().as_bytes());
        out.push(b'\n');
        let mut entry = |kind: u8, name: &[u8], value: &[u8]| {
            out.push(kind);
            netstring(&mut out, name);
            netstring(&mut out, value);
        };
        let number = |n: u64| n.to_string().into_bytes();
        entry(FACT, b"swr", &number(self.stale_while_revalidate));
        entry(FACT, b"sie", &number(self.stale_if_error));
        entry(FACT, b"object", self.object_key.as_bytes());
        if let Some(length) = self.length {
            entry(FACT, b"length", &number(length));
        }
        for (set, name) in [
            (self.must_revalidate, "must-revalidate"),
            (self.transformed, "transformed"),
            (self.template, "template"),
        ] {
            if set {
                entry(FACT, name.as_bytes(), b"");
            }
        }
        if let Some(etag) = &self.origin_etag {
            entry(FACT, b"etag", etag.as_bytes());
        }
        if let Some(lm) = &self.origin_last_modified {
            entry(FACT, b"last-modified", lm.as_bytes());
        }
        for (name, value) in &self.hidden {
            entry(HIDDEN, name.as_bytes(), value.as_bytes());
        }
        for (name, value) in &self.fields {
            entry(FIELD, name.as_bytes(), value.as_bytes());
        }
        out
    }

    pub fn decode(meta: &[u8]) -> Result<Stored, String> {
        let mut rest = meta
            .strip_prefix(FORMAT.as_bytes())
            .and_then(|r| r.strip_prefix(b"\n"))
            .ok_or("metadata of another format")?;
        let status = rest
            .get(..4)
            .filter(|s| s[3] == b'\n')
            .and_then(|s| StatusCode::from_bytes(&s[..3]).ok())
            .ok_or("metadata without a status")?;
        rest = &rest[4..];
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
        while let Some((&kind, after)) = rest.split_first() {
            let (name, after) = read_netstring(after)?;
            let (value, after) = read_netstring(after)?;
            rest = after;
            let name = std::str::from_utf8(name).map_err(|_| "metadata name")?;
            match kind {
                FACT => {
                    let text = || {
                        std::str::from_utf8(value)
                            .map(str::to_string)
                            .map_err(|_| "metadata fact")
                    };
                    let number = || {
                        text()?
                            .parse::<u64>()
                            .map_err(|_| "metadata number".to_string())
                    };
                    let flag = || {
                        if value.is_empty() {
                            Ok(true)
                        } else {
                            Err("metadata flag with a value".to_string())
                        }
                    };
                    match name {
                        "swr" => stored.stale_while_revalidate = number()?,
                        "sie" => stored.stale_if_error = number()?,
                        "object" => stored.object_key = text()?,
                        "length" => stored.length = Some(number()?),
                        "must-revalidate" => stored.must_revalidate = flag()?,
                        "transformed" => stored.transformed = flag()?,
                        "template" => stored.template = flag()?,
                        "etag" => stored.origin_etag = Some(text()?),
                        "last-modified" => stored.origin_last_modified = Some(text()?),
                        _ => return Err(format!("metadata fact '{name}'")),
                    }
                }
                HIDDEN | FIELD => {
                    let value =
                        HeaderValue::from_bytes(value).map_err(|_| "metadata field value")?;
                    let list = if kind == HIDDEN {
                        &mut stored.hidden
                    } else {
                        &mut stored.fields
                    };
                    list.push((name.to_string(), value));
                }
                _ => return Err("metadata entry of an unknown kind".into()),
            }
        }
        Ok(stored)
    }
}

/// `<length>:<bytes>,`
fn netstring(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(bytes.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(bytes);
    out.push(b',');
}

/// A netstring's bytes and what follows it. Its length is digits without a leading zero (one
/// spelling per length) and never more than is there.
fn read_netstring(input: &[u8]) -> Result<(&[u8], &[u8]), String> {
    let digits = input.iter().take_while(|b| b.is_ascii_digit()).count();
    let malformed = || "metadata entry malformed".to_string();
    if digits == 0 || digits > MAX_LENGTH_DIGITS || (digits > 1 && input[0] == b'0') {
        return Err(malformed());
    }
    let length: usize = std::str::from_utf8(&input[..digits])
        .ok()
        .and_then(|d| d.parse().ok())
        .ok_or_else(malformed)?;
    let rest = input[digits..].strip_prefix(b":").ok_or_else(malformed)?;
    if rest.len() <= length || rest[length] != b',' {
        return Err(malformed());
    }
    Ok((&rest[..length], &rest[length + 1..]))
}

/// The invariants the fuzz target (`transform/fuzz`, target `cache_meta`) checks, shared with
/// the test that replays its seed corpus. Not part of the API.
#[cfg(any(test, feature = "testing"))]
pub mod fuzzing {
    use super::{Stored, FORMAT};
    use http::{HeaderValue, StatusCode};

    /// Metadata as found in the cache, whatever it holds, is an error or a head that survives
    /// its round trip; a head made of the input's pieces (split at NUL: facts, then field
    /// names and values) survives its own.
    pub fn check(data: &[u8]) {
        for meta in [
            data.to_vec(),
            [FORMAT.as_bytes(), b"\n200\n", data].concat(),
        ] {
            if let Ok(stored) = Stored::decode(&meta) {
                assert_eq!(Stored::decode(&stored.encode()), Ok(stored));
            }
        }
        let mut pieces = data.split(|b| *b == 0);
        let mut text = || {
            pieces
                .next()
                .map(|p| String::from_utf8_lossy(p).into_owned())
        };
        let mut stored = Stored {
            status: StatusCode::OK,
            fields: Vec::new(),
            hidden: Vec::new(),
            stale_while_revalidate: data.len() as u64,
            stale_if_error: u64::MAX,
            must_revalidate: data.len().is_multiple_of(2),
            object_key: text().unwrap_or_default(),
            origin_etag: text(),
            origin_last_modified: text(),
            transformed: data.len().is_multiple_of(3),
            template: data.len().is_multiple_of(5),
            length: data.first().map(|b| u64::from(*b)),
        };
        while let (Some(name), Some(value)) = (pieces.next(), pieces.next()) {
            let token = |b: &u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b);
            let name: String = name
                .iter()
                .filter(|b| token(b))
                .map(|b| char::from(b.to_ascii_lowercase()))
                .collect();
            if let (false, Ok(value)) = (name.is_empty(), HeaderValue::from_bytes(value)) {
                let list = if value.len().is_multiple_of(2) {
                    &mut stored.fields
                } else {
                    &mut stored.hidden
                };
                list.push((name, value));
            }
        }
        assert_eq!(Stored::decode(&stored.encode()), Ok(stored));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn value(v: &str) -> HeaderValue {
        HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("?"))
    }

    fn sample() -> Stored {
        let fields = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(n, v)| (n.to_string(), value(v)))
                .collect()
        };
        Stored {
            status: StatusCode::NOT_FOUND,
            fields: fields(&[
                ("content-type", "text/html"),
                ("link", "</a>; rel=preload"),
                ("link", "</b>; rel=preload"),
                ("etag", "W/\"v1\""),
                ("cache-control", "max-age=60"),
            ]),
            hidden: fields(&[("surrogate-key", "page article-7")]),
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
        assert_eq!(Stored::decode(&stored.encode())?, stored);
        Ok(())
    }

    #[test]
    fn names_and_values_that_look_like_structure_are_data() -> TestResult {
        // `#` and `:` are token characters; a value may hold `: `, `,`, digits and colons.
        let mut stored = sample();
        stored.fields = vec![
            ("#swr".into(), value("1")),
            ("#length".into(), value("x")),
            (":x".into(), value("a: b")),
            ("x-n".into(), value("3:abc,")),
            ("x-empty".into(), value("")),
            ("x-obs".into(), HeaderValue::from_bytes(b"caf\xe9\t!")?),
        ];
        stored.hidden = vec![("f3:swr".into(), value("1:1,"))];
        stored.object_key = "1:,\n#".into();
        stored.origin_etag = Some("\"a\nb\"".into());
        assert_eq!(Stored::decode(&stored.encode())?, stored);
        Ok(())
    }

    #[test]
    fn unreadable_metadata_is_an_error_not_a_panic() {
        let head = |rest: &[u8]| [b"firstbyte-cache/3\n200\n", rest].concat();
        for bad in [
            b"".to_vec(),
            b"firstbyte-cache/2\n200\n".to_vec(),
            b"firstbyte-cache/3\nxyz\n".to_vec(),
            b"firstbyte-cache/3\n200".to_vec(),
            head(b"c"),
            head(b"c1:a,"),
            head(b"c1:a,2:b,"),
            head(b"c1:a,01:b,"),
            head(b"c1:a,1:b"),
            head(b"c1:a,9999999999:b,"),
            head(b"x1:a,1:b,"),
            head(b"f3:swr,1:x,"),
            head(b"f4:what,0:,"),
            head(b"f8:template,1:x,"),
            head(b"c1:a,1:\n,"),
            head(b"c1:\xff,0:,"),
            Marker::Uncacheable.metadata(),
        ] {
            assert!(
                Stored::decode(&bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(&bad)
            );
        }
        assert!(Stored::decode(&head(b"c1:a,1:b,")).is_ok());
    }

    #[test]
    fn markers_are_told_apart_from_objects() {
        for marker in [Marker::Uncacheable, Marker::TooLarge] {
            assert_eq!(Marker::read(&marker.metadata()), Some(marker));
        }
        assert_eq!(Marker::read(&sample().encode()), None);
    }

    /// Any field name an origin can send (a token, lowercase as the host gives it), any
    /// value a header can hold.
    fn field() -> impl Strategy<Value = (String, HeaderValue)> {
        let name = "[a-z0-9!#$%&'*+.^_`|~-]{1,12}";
        let value =
            proptest::collection::vec(prop_oneof![Just(b'\t'), 0x20u8..0x7f, 0x80u8..=0xff], 0..24);
        (name, value).prop_filter_map("a header value", |(n, v)| {
            HeaderValue::from_bytes(&v).ok().map(|v| (n, v))
        })
    }

    prop_compose! {
        fn any_stored()(
            status in 100u16..1000,
            fields in proptest::collection::vec(field(), 0..8),
            hidden in proptest::collection::vec(field(), 0..3),
            swr in any::<u64>(),
            sie in any::<u64>(),
            flags in any::<(bool, bool, bool)>(),
            etag in proptest::option::of(any::<String>()),
            lm in proptest::option::of(any::<String>()),
            object_key in any::<String>(),
            length in proptest::option::of(any::<u64>()),
        ) -> Stored {
            Stored {
                status: StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                fields,
                hidden,
                stale_while_revalidate: swr,
                stale_if_error: sie,
                must_revalidate: flags.0,
                origin_etag: etag,
                origin_last_modified: lm,
                transformed: flags.1,
                object_key,
                template: flags.2,
                length,
            }
        }
    }

    proptest! {
        #[test]
        fn any_head_survives_its_round_trip(stored in any_stored()) {
            prop_assert_eq!(Stored::decode(&stored.encode()), Ok(stored));
        }

        #[test]
        fn any_bytes_decode_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut meta = b"firstbyte-cache/3\n200\n".to_vec();
            meta.extend_from_slice(&bytes);
            if let Ok(stored) = Stored::decode(&meta) {
                prop_assert_eq!(Stored::decode(&stored.encode()), Ok(stored));
            }
        }
    }
}
