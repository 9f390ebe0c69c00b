//! Header rules a careful proxy keeps in both directions: hop-by-hop headers describe one
//! connection, so they are never forwarded (RFC 9110 §7.6.1).

use fastly::{Request, Response};

/// Fields the origin addresses to this cache alone (`Surrogate-Control`, `Surrogate-Key`):
/// kept with a stored object, never sent to a client.
pub const FOR_THIS_CACHE: [&str; 2] = ["surrogate-control", "surrogate-key"];

/// Always connection-specific, whether or not `Connection` lists them.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-connection",
];

/// Whether a header must not cross the proxy, given the tokens of the `Connection` header.
pub fn is_hop_by_hop(name: &str, connection_tokens: &[String]) -> bool {
    // Compared without a lowercased copy: this runs for every header of every response.
    HOP_BY_HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
        || name
            .get(.."proxy-".len())
            .is_some_and(|p| p.eq_ignore_ascii_case("proxy-"))
        || connection_tokens
            .iter()
            .any(|t| t.eq_ignore_ascii_case(name))
}

/// The header names listed by `Connection` values, lowercased.
pub fn connection_tokens<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    values
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

/// The header API shared by requests and responses, so one rule serves both directions.
pub trait HeaderAccess {
    fn header_names(&self) -> Vec<String>;
    fn header_values(&self, name: &str) -> Vec<String>;
    /// The first value of `name`, with bytes that are not UTF-8 replaced.
    fn header(&self, name: &str) -> Option<String>;
    fn drop_header(&mut self, name: &str);

    /// Every line of the list-valued field `name` as one value, joined with `, ` as RFC 9110
    /// §5.3 combines them: a second `Accept-Encoding` or `Available-Dictionary` line counts.
    fn combined(&self, name: &str) -> Option<String> {
        let lines = self.header_values(name);
        (!lines.is_empty()).then(|| lines.join(", "))
    }
}

macro_rules! header_access {
    ($t:ty) => {
        impl HeaderAccess for $t {
            fn header_names(&self) -> Vec<String> {
                self.get_header_names()
                    .map(|n| n.as_str().to_string())
                    .collect()
            }
            fn header_values(&self, name: &str) -> Vec<String> {
                // Values may hold any byte a peer sent (obs-text); the `_str` getters panic
                // on those, so every value is read lossily.
                self.get_header_all_str_lossy(name)
                    .into_iter()
                    .map(|v| v.into_owned())
                    .collect()
            }
            fn header(&self, name: &str) -> Option<String> {
                self.get_header_str_lossy(name).map(|v| v.into_owned())
            }
            fn drop_header(&mut self, name: &str) {
                self.remove_header(name);
            }
        }
    };
}
header_access!(Request);
header_access!(Response);

/// Removes every hop-by-hop header from a request or response.
pub fn strip_hop_by_hop(message: &mut impl HeaderAccess) {
    let values = message.header_values("connection");
    let tokens = connection_tokens(values.iter().map(String::as_str));
    for name in message.header_names() {
        if is_hop_by_hop(&name, &tokens) {
            message.drop_header(&name);
        }
    }
}

/// Headers that describe the exact bytes of a body, false once a transform changed them.
const BODY_DESCRIBING: &[&str] = &[
    "content-length",
    "content-md5",
    "digest",
    "content-digest",
    "repr-digest",
    "accept-ranges",
    "content-range",
];

/// A strong validator no longer holds for changed bytes; a weak one still says "same meaning".
pub fn weaken_etag(etag: &str) -> String {
    let etag = etag.trim();
    if etag.starts_with("W/") {
        etag.to_string()
    } else {
        format!("W/{etag}")
    }
}

/// The `Vary` value once the response also depends on the request header `name`; `None`
/// when the existing value already covers it (by name, or `*`).
pub fn vary_with(existing: &[String], name: &str) -> Option<String> {
    let covered = existing
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|t| t == "*" || t.eq_ignore_ascii_case(name));
    if covered {
        return None;
    }
    let mut values: Vec<&str> = existing
        .iter()
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .collect();
    values.push(name);
    Some(values.join(", "))
}

/// [`vary_with`] Accept-Encoding.
pub fn vary_with_accept_encoding(existing: &[String]) -> Option<String> {
    vary_with(existing, "Accept-Encoding")
}

/// Says that the response depends on the request's Accept-Encoding, unless `Vary` already
/// does: a coded body must never be cached for clients that did not ask for the coding.
pub fn vary_on_accept_encoding(resp: &mut Response) {
    if let Some(vary) = vary_with_accept_encoding(&resp.header_values("vary")) {
        resp.set_header("vary", vary);
    }
}

/// The backend's declared body length, if its framing can be trusted. A `Content-Length`
/// beside a `Transfer-Encoding` is not: the transfer coding frames the body (RFC 9112
/// §6.3), and forwarding that length would end the client's body early and cleanly. So it
/// is removed, before hop-by-hop headers (Transfer-Encoding among them) are stripped. A
/// trusted length is left as one clean value; an untrusted one does not go out at all.
pub fn declared_length(resp: &mut Response) -> Option<u64> {
    let chunked = resp.contains_header("transfer-encoding");
    let values = resp.header_values("content-length");
    let length = if chunked {
        None
    } else {
        let mut lengths = values
            .iter()
            .flat_map(|v| v.split(','))
            .map(|v| v.trim().parse::<u64>().ok());
        // Several values must agree (RFC 9112 §6.3); otherwise no length is trusted.
        match lengths.next() {
            Some(Some(first)) if lengths.all(|l| l == Some(first)) => Some(first),
            _ => None,
        }
    };
    // Each header write is a host call: the usual single, plain value stays as it is.
    match length {
        Some(n) if values.len() == 1 && values[0] == n.to_string() => {}
        Some(n) => resp.set_header("content-length", n.to_string()),
        None if values.is_empty() => {}
        None => {
            resp.remove_header("content-length");
        }
    }
    length
}

/// Rewrites a response's headers for a body that a transform chain re-makes: its length is
/// unknown until the end, its coding is `content_encoding`, its validators are weak.
pub fn for_transformed_body(resp: &mut Response, content_encoding: Option<&str>, varies: bool) {
    for name in BODY_DESCRIBING {
        resp.remove_header(*name);
    }
    match content_encoding {
        Some(coding) => resp.set_header("content-encoding", coding),
        None => {
            resp.remove_header("content-encoding");
        }
    }
    if varies {
        vary_on_accept_encoding(resp);
    }
    if let Some(etag) = resp.header("etag").map(|e| weaken_etag(&e)) {
        resp.set_header("etag", etag);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_become_weak() {
        assert_eq!(weaken_etag("\"abc\""), "W/\"abc\"");
        assert_eq!(weaken_etag("W/\"abc\""), "W/\"abc\"");
    }

    #[test]
    fn vary_gains_accept_encoding_once() {
        assert_eq!(
            vary_with_accept_encoding(&[]),
            Some("Accept-Encoding".into())
        );
        assert_eq!(
            vary_with_accept_encoding(&["Origin".into()]),
            Some("Origin, Accept-Encoding".into())
        );
        assert_eq!(
            vary_with_accept_encoding(&["origin, accept-encoding".into()]),
            None
        );
        assert_eq!(vary_with_accept_encoding(&["*".into()]), None);
    }

    #[test]
    fn transformed_bodies_lose_length_and_strong_validators() {
        let mut resp = Response::new()
            .with_header("Content-Length", "10")
            .with_header("Content-Encoding", "gzip")
            .with_header("Accept-Ranges", "bytes")
            .with_header("ETag", "\"v1\"")
            .with_header("Vary", "Origin");
        for_transformed_body(&mut resp, Some("br"), true);
        assert_eq!(resp.header("content-length").as_deref(), None);
        assert_eq!(resp.header("accept-ranges").as_deref(), None);
        assert_eq!(resp.header("content-encoding").as_deref(), Some("br"));
        assert_eq!(resp.header("etag").as_deref(), Some("W/\"v1\""));
        assert_eq!(
            resp.header("vary").as_deref(),
            Some("Origin, Accept-Encoding")
        );

        for_transformed_body(&mut resp, None, false);
        assert_eq!(resp.header("content-encoding").as_deref(), None);
    }

    #[test]
    fn a_length_beside_a_transfer_coding_is_dropped() {
        let mut conflict = Response::new()
            .with_header("Transfer-Encoding", "chunked")
            .with_header("Content-Length", "100");
        assert_eq!(declared_length(&mut conflict), None);
        assert_eq!(conflict.header("content-length"), None);

        let mut plain = Response::new().with_header("Content-Length", " 42 ");
        assert_eq!(declared_length(&mut plain), Some(42));
        assert_eq!(plain.header("content-length").as_deref(), Some("42"));
        let mut canonical = Response::new().with_header("Content-Length", "42");
        assert_eq!(declared_length(&mut canonical), Some(42));
        assert_eq!(canonical.header_values("content-length"), ["42"]);
        let mut repeated = Response::new().with_header("Content-Length", "42, 42");
        assert_eq!(declared_length(&mut repeated), Some(42));
        assert_eq!(repeated.header("content-length").as_deref(), Some("42"));
        let mut disagreeing = Response::new().with_header("Content-Length", "42, 43");
        assert_eq!(declared_length(&mut disagreeing), None);
        assert_eq!(disagreeing.header("content-length"), None);
        let mut garbage = Response::new().with_header("Content-Length", "4x");
        assert_eq!(declared_length(&mut garbage), None);
        assert_eq!(declared_length(&mut Response::new()), None);
    }

    #[test]
    fn fixed_hop_by_hop_headers_are_recognised_in_any_case() {
        for name in [
            "Connection",
            "KEEP-ALIVE",
            "te",
            "Trailer",
            "Transfer-Encoding",
            "Upgrade",
            "Proxy-Authorization",
            "proxy-authenticate",
        ] {
            assert!(is_hop_by_hop(name, &[]), "{name}");
        }
        for name in [
            "content-length",
            "content-type",
            "etag",
            "x-proxy",
            "trailers-x",
        ] {
            assert!(!is_hop_by_hop(name, &[]), "{name}");
        }
    }

    #[test]
    fn headers_named_by_connection_are_hop_by_hop() {
        let tokens = connection_tokens(["close, X-Foo", " x-bar ,"]);
        assert_eq!(tokens, ["close", "x-foo", "x-bar"]);
        assert!(is_hop_by_hop("X-Foo", &tokens));
        assert!(is_hop_by_hop("x-bar", &tokens));
        assert!(!is_hop_by_hop("x-baz", &tokens));
    }

    #[test]
    fn stripping_a_response_keeps_end_to_end_headers() {
        let mut resp = Response::new()
            .with_header("Connection", "close, X-Session")
            .with_header("X-Session", "1")
            .with_header("Keep-Alive", "timeout=5")
            .with_header("Proxy-Foo", "1")
            .with_header("Content-Type", "text/plain")
            .with_header("ETag", "\"a\"");
        strip_hop_by_hop(&mut resp);
        let mut names = resp.header_names();
        names.sort();
        assert_eq!(names, ["content-type", "etag"]);
    }
}
