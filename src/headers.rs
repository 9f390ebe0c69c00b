//! Header rules a careful proxy keeps in both directions: hop-by-hop headers describe one
//! connection, so they are never forwarded (RFC 9110 §7.6.1).

use fastly::{Request, Response};

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
    let name = name.to_ascii_lowercase();
    HOP_BY_HOP.contains(&name.as_str())
        || name.starts_with("proxy-")
        || connection_tokens.contains(&name)
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
    fn drop_header(&mut self, name: &str);
}

macro_rules! header_access {
    ($t:ty) => {
        impl HeaderAccess for $t {
            fn header_names(&self) -> Vec<String> {
                self.get_header_names_str()
                    .into_iter()
                    .map(str::to_string)
                    .collect()
            }
            fn header_values(&self, name: &str) -> Vec<String> {
                self.get_header_all_str(name)
                    .into_iter()
                    .map(str::to_string)
                    .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

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
