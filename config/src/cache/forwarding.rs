//! What of a client's request a fill may carry to the origin: the header names no fill
//! forwards (they describe one connection, are the cache's own, or are known to poison
//! caches), and the `cache_request_headers` and `cache_forward_headers` lists checked
//! against them.

use crate::error::ConfigError;

/// `cache_forward_headers`: the client's headers a fill forwards without keying them. The
/// client that starts a fill then shapes the object for every client of its variant, so the
/// origin must `Vary` on whatever of them changes its answer (the cache honours it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardHeaders {
    /// Only what the key and `cache_request_headers` hold: the strict fill.
    None,
    /// These names, lowercase.
    Only(Vec<String>),
    /// Every end-to-end header but [`NOT_FORWARDABLE`], `Proxy-*`, what [`poisons`] names,
    /// and any name with `_`.
    All,
}

impl ForwardHeaders {
    /// Whether a fill forwards the header `name` (lowercase) under this setting.
    pub fn forwards(&self, name: &str) -> bool {
        match self {
            ForwardHeaders::None => false,
            ForwardHeaders::Only(names) => names.iter().any(|n| n == name),
            // CGI, PHP, WSGI and Rack turn `-` into `_`, so `X_Forwarded_Host` reaches an
            // application as `X-Forwarded-Host` would, and so could any denied name: rather
            // than trust every spelling to be caught, `all` forwards no name with `_` (nginx
            // drops them by default too). A name the route lists is checked as `-`.
            ForwardHeaders::All => !name.contains('_') && forwardable(name),
        }
    }
}

/// Whether a fill may ever forward the header `name` (lowercase).
fn forwardable(name: &str) -> bool {
    !NOT_FORWARDABLE.contains(&name) && !name.starts_with("proxy-") && !poisons(name)
}

/// Whether a request header is known to poison caches ([`POISONING`], [`POISONING_FAMILIES`]),
/// `_` read as `-`.
pub fn poisons(name: &str) -> bool {
    let name = name.to_ascii_lowercase().replace('_', "-");
    POISONING.contains(&name.as_str())
        || POISONING_FAMILIES
            .iter()
            .any(|family| name.starts_with(family))
}

/// Request headers a fill may not forward: they describe one connection, make the response
/// partial or conditional, carry a body, or are set by the cache itself (`Host`,
/// `Accept-Encoding`, both in the key), or they are personal (`Cookie`, `Authorization`,
/// which pass the cache), or they name a compression dictionary (`Available-Dictionary`,
/// `Dictionary-ID`: the key holds the dictionary a `dcb` object is made against, and only
/// one the edge holds; forwarded, an origin's `Vary` on them would store an object per
/// value any client sends).
pub const NOT_FORWARDABLE: [&str; 21] = [
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "expect",
    "host",
    "accept-encoding",
    "range",
    "if-range",
    "if-match",
    "if-none-match",
    "if-modified-since",
    "if-unmodified-since",
    "cookie",
    "authorization",
    "cache-control",
    "available-dictionary",
    "dictionary-id",
];

/// Request headers known to poison caches: an origin, framework or proxy reads them as
/// another host, URL, scheme, client, method or path through the proxies than the request's,
/// so one client's value would shape the object for everyone. No fill forwards them,
/// whatever `cache_forward_headers` says; [`POISONING_FAMILIES`] holds whole families.
pub const POISONING: [&str; 29] = [
    "forwarded",
    "front-end-https",
    "x-url-scheme",
    "x-rewrite-url",
    "x-host",
    "x-http-host-override",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-real-ip",
    "true-client-ip",
    "x-client-ip",
    "client-ip",
    "x-cluster-client-ip",
    "surrogate-capability",
    "max-forwards",
    "via",
    "pragma",
    "x-original-url",
    "x-original-host",
    // Next.js reads these as its own internal state (x-middleware-subrequest skips its
    // middleware), and the rest name a client address or path an origin may trust.
    "x-matched-path",
    "x-originating-ip",
    "x-remote-ip",
    "x-remote-addr",
    "x-proxyuser-ip",
    "x-custom-ip-authorization",
    "cdn-loop",
    // A request's own surrogate fields would address this cache's peers upstream.
    "surrogate-control",
    "surrogate-key",
];

/// Prefixes of the header families [`POISONING`] stands for: `X-Forwarded` (bare and
/// `X-Forwarded-*`), `X-Original-*` (URL, URI, host, method), Envoy's, Cloudflare's and
/// Fastly's own (`CF-Connecting-IP`, `Fastly-Client-IP`, `Fastly-FF`, `Fastly-Debug`), and
/// Next.js's internal ones (`X-Middleware-Subrequest`, `X-Invoke-Path`).
pub const POISONING_FAMILIES: [&str; 7] = [
    "x-forwarded",
    "x-original-",
    "x-envoy-",
    "cf-",
    "fastly-",
    "x-middleware-",
    "x-invoke-",
];

/// `none`, `all`, or a list of header names a fill may forward without keying them.
pub(super) fn forward_headers(key: &str, value: &str) -> Result<ForwardHeaders, ConfigError> {
    match value.trim() {
        "none" => Ok(ForwardHeaders::None),
        "all" => Ok(ForwardHeaders::All),
        _ => {
            let names = request_headers(key, value)?;
            if names.is_empty() {
                return Err(ConfigError::new(key, "names no header (say none)"));
            }
            Ok(ForwardHeaders::Only(names))
        }
    }
}

/// A comma-separated list of header names a fill may forward.
pub(super) fn request_headers(key: &str, value: &str) -> Result<Vec<String>, ConfigError> {
    let mut names: Vec<String> = Vec::new();
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let lower = name.to_ascii_lowercase();
        let token = lower
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token {
            return Err(ConfigError::new(
                key,
                format!("'{name}' is not a header name"),
            ));
        }
        // `_` read as `-`, as for the poisoning names: an origin behind a CGI-style layer
        // (PHP, WSGI) reads `dictionary_id` and `Dictionary-ID` as one variable.
        let dashed = lower.replace('_', "-");
        if NOT_FORWARDABLE.contains(&dashed.as_str()) || dashed.starts_with("proxy-") {
            return Err(ConfigError::new(
                key,
                format!("'{name}' cannot be forwarded on a fill (the cache sets it, or it passes the cache)"),
            ));
        }
        if poisons(&lower) {
            return Err(ConfigError::new(
                key,
                format!("'{name}' is known to poison caches: no fill forwards it"),
            ));
        }
        if !names.contains(&lower) {
            names.push(lower);
        }
    }
    Ok(names)
}
