//! Whether a response may go out as `dcb` or `dcz`: what the request advertises, checked against a
//! dictionary the edge holds (RFC 9842 §§ 2, 6 and 8). Everything else falls back to the
//! route's other codings, with the same `Vary`.

use crate::codec::accepts;

use super::coding::DictionaryCoding;
use super::hash::DictionaryHash;
use super::headers::{available_dictionary, dictionary_id};
use super::pattern::Pattern;

/// The `Vary` of every response a route with `dcb` or `dcz` sends, dictionary-coded or not: both
/// request fields decide which variant a client gets.
pub const VARY: &str = "accept-encoding, available-dictionary";

/// The `Content-Encoding` token of Brotli against a dictionary.
pub const DCB: &str = "dcb";

/// The `Content-Encoding` token of Zstandard against a dictionary.
pub const DCZ: &str = "dcz";

/// What a request offers: the hash of the dictionary it holds, the `Dictionary-ID` it
/// echoes (`None`: not sent, or not a valid one), and the dictionary codings it accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DictionaryRequest {
    pub hash: DictionaryHash,
    pub id: Option<String>,
    /// Never empty: a request that accepts neither has no offer.
    pub codings: Vec<DictionaryCoding>,
}

impl DictionaryRequest {
    /// From a request's `Accept-Encoding`, `Available-Dictionary` and `Dictionary-ID`:
    /// `Some` only when it accepts `dcb` or `dcz` and advertises a well-formed hash.
    pub fn from_headers(
        accept_encoding: Option<&str>,
        available: Option<&str>,
        id: Option<&str>,
    ) -> Option<DictionaryRequest> {
        let codings: Vec<DictionaryCoding> = DictionaryCoding::ALL
            .into_iter()
            .filter(|c| accepts(accept_encoding, c.token()))
            .collect();
        if codings.is_empty() {
            return None;
        }
        Some(DictionaryRequest {
            hash: available_dictionary(available?)?,
            id: id.and_then(dictionary_id),
            codings,
        })
    }

    /// The coding this request gets from a route that lists `route` (in `compress` order):
    /// the route's first that the request accepts. The route's order decides, not the
    /// client's q-values, as for the route's other codings, so one cache key (which holds
    /// what the client accepts) always names one coding.
    pub fn choose(&self, route: &[DictionaryCoding]) -> Option<DictionaryCoding> {
        route.iter().copied().find(|c| self.codings.contains(c))
    }
}

/// What the edge recorded about a dictionary when it kept it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DictionaryUse {
    pub hash: DictionaryHash,
    /// The host its response came from (lowercase, without port), for the same-origin rule.
    pub host: String,
    /// Its `match`, resolved against its own path.
    pub pattern: Pattern,
    /// Its `id` (empty when it has none).
    pub id: String,
}

/// Why a held dictionary may not be used for a request: the response then falls back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The request advertises another dictionary.
    OtherHash,
    /// The request is for another origin than the dictionary's.
    OtherOrigin,
    /// The dictionary's `match` does not cover the request's path.
    NotMatched,
    /// The request's `Dictionary-ID` is not the dictionary's `id`.
    OtherId,
}

impl DictionaryUse {
    /// Whether this dictionary may encode the response to `request`, made to `host` for
    /// `path` (the query is ignored). An `id` must be echoed exactly; a dictionary without
    /// one takes a request without a `Dictionary-ID`.
    pub fn check(
        &self,
        request: &DictionaryRequest,
        host: &str,
        path: &str,
    ) -> Result<(), Refusal> {
        if request.hash != self.hash {
            return Err(Refusal::OtherHash);
        }
        if !host.eq_ignore_ascii_case(&self.host) {
            return Err(Refusal::OtherOrigin);
        }
        if !self.pattern.matches(path) {
            return Err(Refusal::NotMatched);
        }
        if request.id.as_deref().unwrap_or("") != self.id {
            return Err(Refusal::OtherId);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(id: &str) -> Result<DictionaryUse, String> {
        Ok(DictionaryUse {
            hash: DictionaryHash::of(b"v1"),
            host: "www.example.com".into(),
            pattern: Pattern::parse("app.*.js", "/js/app.v1.js").map_err(|e| e.0)?,
            id: id.into(),
        })
    }

    fn request(id: Option<&str>) -> Option<DictionaryRequest> {
        DictionaryRequest::from_headers(
            Some("gzip, br, zstd, dcb, dcz"),
            Some(&DictionaryHash::of(b"v1").to_header()),
            id,
        )
    }

    #[test]
    fn the_routes_order_chooses_among_the_codings_the_request_accepts() {
        let header = DictionaryHash::of(b"v1").to_header();
        let offer = |accept| DictionaryRequest::from_headers(Some(accept), Some(&header), None);
        let (dcb, dcz) = (DictionaryCoding::Dcb, DictionaryCoding::Dcz);
        let both = offer("br, dcb, dcz;q=0.5").map(|o| o.codings);
        assert_eq!(both, Some(vec![dcb, dcz]));
        let only_dcz = offer("br, dcz").map(|o| o.codings);
        assert_eq!(only_dcz, Some(vec![dcz]));
        assert_eq!(
            offer("dcb, dcz").and_then(|o| o.choose(&[dcz, dcb])),
            Some(dcz)
        );
        assert_eq!(
            offer("dcb, dcz").and_then(|o| o.choose(&[dcb, dcz])),
            Some(dcb)
        );
        assert_eq!(
            offer("dcb, dcz;q=0").and_then(|o| o.choose(&[dcz, dcb])),
            Some(dcb)
        );
        assert_eq!(offer("dcz").and_then(|o| o.choose(&[dcb])), None);
        assert_eq!(offer("br, zstd"), None);
    }

    #[test]
    fn a_request_offers_a_dictionary_only_with_dcb_and_a_hash() {
        let header = DictionaryHash::of(b"v1").to_header();
        assert!(request(None).is_some());
        assert_eq!(
            DictionaryRequest::from_headers(Some("gzip, br"), Some(&header), None),
            None
        );
        assert_eq!(
            DictionaryRequest::from_headers(Some("dcb;q=0, br"), Some(&header), None),
            None
        );
        assert_eq!(
            DictionaryRequest::from_headers(Some("br, dcb"), None, None),
            None
        );
        assert_eq!(
            DictionaryRequest::from_headers(Some("br, dcb"), Some(":AAAA:"), None),
            None
        );
        assert_eq!(
            request(Some("\"v1\"")).and_then(|r| r.id),
            Some("v1".to_string())
        );
    }

    #[test]
    fn each_rule_refuses_on_its_own() -> Result<(), String> {
        let plain = request(None).ok_or("request")?;
        let dictionary = held("")?;
        assert_eq!(
            dictionary.check(&plain, "WWW.example.com", "/js/app.v2.js?x"),
            Ok(())
        );
        let other = DictionaryRequest {
            hash: DictionaryHash::of(b"v0"),
            ..plain.clone()
        };
        assert_eq!(
            dictionary.check(&other, "www.example.com", "/js/app.v2.js"),
            Err(Refusal::OtherHash)
        );
        assert_eq!(
            dictionary.check(&plain, "evil.example", "/js/app.v2.js"),
            Err(Refusal::OtherOrigin)
        );
        assert_eq!(
            dictionary.check(&plain, "www.example.com", "/css/app.v2.css"),
            Err(Refusal::NotMatched)
        );
        let with_id = held("bundle")?;
        assert_eq!(
            with_id.check(&plain, "www.example.com", "/js/app.v2.js"),
            Err(Refusal::OtherId)
        );
        let echoed = request(Some("\"bundle\"")).ok_or("request")?;
        assert_eq!(
            with_id.check(&echoed, "www.example.com", "/js/app.v2.js"),
            Ok(())
        );
        assert_eq!(
            dictionary.check(&echoed, "www.example.com", "/js/app.v2.js"),
            Err(Refusal::OtherId)
        );
        Ok(())
    }
}
