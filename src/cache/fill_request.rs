//! The request a fill sends the origin, and what a client asks of a stored object.
//!
//! A fill is shared by every client of the key, so nothing of the client that happened to
//! start it may shape it beyond what the key (or the object's variant) holds: its method is
//! GET, it carries no body, no cookie, no conditional or range of the client's, and of the
//! client's headers only `Host`, its codings (as their class, the key's own form) and the
//! route's `cache_request_headers`.

use fastly::http::{HeaderName, HeaderValue, Method};
use fastly::Request;
use firstbyte_config::Route;
use firstbyte_transform::codec::coding_class;

use super::key;
use super::stored::Stored;
use crate::headers::HeaderAccess;
use crate::proxy;
use crate::routing::{self, backend_path};

/// Everything a fill sends, read from the client's request.
pub struct FillRequest {
    url: String,
    /// The `Host` the origin sees, normalised ([`routing::normalize_authority`]).
    host: String,
    /// Path (as forwarded) and query: the key's.
    path_and_query: String,
    /// The class of the codings the client accepts, sent as `Accept-Encoding`.
    codings: Option<String>,
    /// The route's `cache_request_headers` with the client's values (none when absent).
    forwarded: Vec<(HeaderName, Vec<HeaderValue>)>,
    /// The surrogate key of the client's URL.
    pub url_key: String,
}

impl FillRequest {
    pub fn read(route: &Route, req: &Request, request_headers: &[String]) -> FillRequest {
        // One spelling per origin, so `Example.com.:80` and `example.com` share objects.
        let default_port = routing::default_port(req.get_url().scheme());
        let host = route
            .host_override
            .clone()
            .unwrap_or_else(|| req.header("host").unwrap_or_default());
        let host = routing::normalize_authority(&host, default_port);
        let query = req.get_query_str();
        let with_query = |path: String| match query {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        let forwarded = request_headers
            .iter()
            .filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok())
            .map(|name| {
                let values = req.get_header_all(&name).cloned().collect();
                (name, values)
            })
            .collect();
        FillRequest {
            url: req.get_url_str().to_string(),
            path_and_query: with_query(backend_path(route, req.get_path())),
            codings: coding_class(req.header("accept-encoding").as_deref()),
            forwarded,
            url_key: url_key(req),
            host,
        }
    }

    pub fn key(&self, route: &Route) -> String {
        key::key(
            route,
            &key::Request {
                host: &self.host,
                path_and_query: &self.path_and_query,
                codings: self.codings.as_deref(),
            },
        )
    }

    pub fn codings(&self) -> Option<&str> {
        self.codings.as_deref()
    }

    /// The names the object varies on, beside the key.
    pub fn vary_by(&self) -> impl Iterator<Item = &HeaderName> {
        self.forwarded.iter().map(|(name, _)| name)
    }

    /// The request headers a lookup or a variant is matched on.
    pub fn variant(&self) -> &[(HeaderName, Vec<HeaderValue>)] {
        &self.forwarded
    }

    /// The backend request: the fill's own, conditional on `revalidating`'s validators.
    pub fn backend_request(&self, route: &Route, revalidating: Option<&Stored>) -> Request {
        let mut req = Request::new(Method::GET, self.url.as_str());
        req.set_header("host", self.host.as_str());
        if let Some(codings) = &self.codings {
            req.set_header("accept-encoding", codings.as_str());
        }
        for (name, values) in &self.forwarded {
            for value in values {
                req.append_header(name, value);
            }
        }
        if let Some(stored) = revalidating {
            if let Some(etag) = &stored.origin_etag {
                req.set_header("if-none-match", etag.as_str());
            }
            if let Some(lm) = &stored.origin_last_modified {
                req.set_header("if-modified-since", lm.as_str());
            }
        }
        proxy::backend_request(route, req, self.codings.as_deref())
    }
}

/// The surrogate key of a request's URL (host without port, path, query), which every object
/// made for it carries.
pub fn url_key(req: &Request) -> String {
    let host = routing::host(req).unwrap_or_default();
    let path_and_query = match req.get_query_str() {
        Some(q) => format!("{}?{q}", req.get_path()),
        None => req.get_path().to_string(),
    };
    key::url_surrogate(&host, &path_and_query)
}

/// What a client asks of an object beyond the object itself.
#[derive(Default)]
pub struct Ask {
    pub head_only: bool,
    /// The codings the client reads, for a page composed for it.
    pub accept_encoding: Option<String>,
    pub if_none_match: Vec<String>,
    pub if_modified_since: Vec<String>,
    pub range: Vec<String>,
    pub if_range: Vec<String>,
}

impl Ask {
    pub fn read(req: &Request) -> Ask {
        Ask {
            head_only: *req.get_method() == Method::HEAD,
            accept_encoding: req.header("accept-encoding"),
            if_none_match: req.header_values("if-none-match"),
            if_modified_since: req.header_values("if-modified-since"),
            range: req.header_values("range"),
            if_range: req.header_values("if-range"),
        }
    }
}
