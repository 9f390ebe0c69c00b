//! The request a fill sends the origin, and what a client asks of a stored object.
//!
//! A fill is shared by every client of the key, so nothing of the client that happened to
//! start it may shape it beyond what the key (or the object's variant) holds: its method is
//! GET, it carries no body, no cookie, no conditional or range of the client's, and of the
//! client's headers only `Host`, its codings (as their class, the key's own form) and the
//! route's `cache_request_headers`, unless the route's `cache_forward_headers` names more.
//! Those go unkeyed, and the object varies on each of them that the origin's `Vary` names,
//! whether this fill sent it or not: the core cache matches an absent header only to an
//! absent one, so a fill without `User-Agent` answers only clients without one.

use fastly::http::{HeaderName, HeaderValue, Method};
use fastly::Request;
use firstbyte_config::{ForwardHeaders, Route};
use firstbyte_transform::codec::coding_class;
use firstbyte_transform::dictionary::DictionaryHash;

use super::key;
use super::stored::Stored;
use crate::headers::HeaderAccess;
use crate::origin;
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
    /// The client's headers the fill sends, with its values: first the route's
    /// `cache_request_headers` (none when absent), then what `cache_forward_headers` adds
    /// unkeyed, of what the client sent.
    sent: Vec<(HeaderName, Vec<HeaderValue>)>,
    /// How many of `sent` are `cache_request_headers`, on which every object varies.
    keyed: usize,
    /// What the route forwards beyond them.
    forward: ForwardHeaders,
    /// The surrogate key of the client's URL.
    pub url_key: String,
    /// The dictionary a `dcb` object of this key is made against: one the edge holds for
    /// this request ([`crate::dictionary::Dictionaries::variant`]), in the key.
    pub dictionary: Option<DictionaryHash>,
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
        let mut sent: Vec<(HeaderName, Vec<HeaderValue>)> = request_headers
            .iter()
            .filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok())
            .map(|name| {
                let values = req.get_header_all(&name).cloned().collect();
                (name, values)
            })
            .collect();
        let forward = route
            .cache
            .as_ref()
            .map_or(ForwardHeaders::None, |c| c.forward.clone());
        let keyed = sent.len();
        let connection = req.header_values("connection");
        for (name, value) in req.get_headers() {
            let lower = name.as_str();
            let named_by_connection = connection
                .iter()
                .flat_map(|line| line.split(','))
                .any(|token| token.trim().eq_ignore_ascii_case(lower));
            if !forward.forwards(lower) || named_by_connection {
                continue;
            }
            // A keyed header is sent as it is, once.
            if sent[..keyed].iter().any(|(n, _)| n == name) {
                continue;
            }
            match sent[keyed..].iter_mut().find(|(n, _)| n == name) {
                Some((_, values)) => values.push(value.clone()),
                None => sent.push((name.clone(), vec![value.clone()])),
            }
        }
        FillRequest {
            url: req.get_url_str().to_string(),
            path_and_query: with_query(backend_path(route, req.get_path())),
            codings: coding_class(req.combined("accept-encoding").as_deref()),
            sent,
            keyed,
            forward,
            url_key: url_key(req),
            host,
            dictionary: None,
        }
    }

    pub fn key(&self, route: &Route) -> String {
        key::key(
            route,
            &key::Request {
                host: &self.host,
                path_and_query: &self.path_and_query,
                codings: self.codings.as_deref(),
                dictionary: self.dictionary.as_ref(),
            },
        )
    }

    pub fn codings(&self) -> Option<&str> {
        self.codings.as_deref()
    }

    /// The names every object varies on, beside the key: `cache_request_headers`.
    pub fn vary_by(&self) -> impl Iterator<Item = &HeaderName> {
        self.sent[..self.keyed].iter().map(|(name, _)| name)
    }

    /// The names an object (or a marker) with this `Vary` varies on (RFC 9111 §4.1): every
    /// keyed header, and each one the `Vary` names that the route forwards, sent by this fill
    /// or not (its absence is then what the object matches).
    pub fn vary_on(&self, vary: &[String]) -> Vec<HeaderName> {
        let mut names: Vec<HeaderName> = self.vary_by().cloned().collect();
        let named = vary
            .iter()
            .flat_map(|line| line.split(','))
            .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok());
        for name in named {
            if self.forward.forwards(name.as_str()) && !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }

    /// The request headers a lookup or a variant is matched on: every header the fill sends
    /// of the client's.
    pub fn variant(&self) -> &[(HeaderName, Vec<HeaderValue>)] {
        &self.sent
    }

    /// The backend request: the fill's own, conditional on `revalidating`'s validators.
    pub fn backend_request(&self, route: &Route, revalidating: Option<&Stored>) -> Request {
        let mut req = Request::new(Method::GET, self.url.as_str());
        req.set_header("host", self.host.as_str());
        if let Some(codings) = &self.codings {
            req.set_header("accept-encoding", codings.as_str());
        }
        for (name, values) in &self.sent {
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
        origin::backend_request(route, req, self.codings.as_deref())
    }
}

/// The surrogate key of a request's URL (its scheme; its host as the client named it,
/// normalised; path; query), which every object made for it carries on a route that lets
/// unsafe requests invalidate.
pub fn url_key(req: &Request) -> String {
    let path_and_query = match req.get_query_str() {
        Some(q) => format!("{}?{q}", req.get_path()),
        None => req.get_path().to_string(),
    };
    key::url_surrogate(req.get_url().scheme(), &url_host(req), &path_and_query)
}

/// The host and port a request names (its `Host`, else its URL's), as [`key::normal_host`]
/// spells it: another port is another origin, so it never reaches this one's objects.
pub fn url_host(req: &Request) -> String {
    let url = req.get_url();
    let named = req.header("host").unwrap_or_else(|| match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_string(),
    });
    routing::normalize_authority(&named, routing::default_port(url.scheme()))
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
            accept_encoding: req.combined("accept-encoding"),
            if_none_match: req.header_values("if-none-match"),
            if_modified_since: req.header_values("if-modified-since"),
            range: req.header_values("range"),
            if_range: req.header_values("if-range"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn route(forward: &'static str) -> Result<Route, Box<dyn std::error::Error>> {
        let source = firstbyte_config::MapSource::new(
            [
                ("route.c.prefix", "/c/"),
                ("route.c.backend", "origin"),
                ("route.c.cache_ttl", "60"),
                ("route.c.cache_request_headers", "x-keyed"),
                ("route.c.cache_forward_headers", forward),
            ],
            ["origin"],
        );
        Route::parse("c", &source).map_err(|e| format!("{e:?}").into())
    }

    fn client() -> Request {
        let mut req = Request::get("http://Edge.Example.:80/c/x?q=1");
        for (name, value) in [
            ("host", "Edge.Example.:80"),
            ("x-keyed", "k"),
            ("x-trace", "t1"),
            ("x-trace", "t2"),
            ("x-forwarded-host", "evil.example"),
            ("cookie", "s=1"),
            ("if-none-match", "\"a\""),
            ("connection", "x-hop"),
            ("x-hop", "1"),
        ] {
            req.append_header(name, value);
        }
        req
    }

    fn sent(fill: &FillRequest) -> Vec<String> {
        fill.variant()
            .iter()
            .map(|(name, values)| format!("{name}={}", values.len()))
            .collect()
    }

    #[test]
    fn a_fill_forwards_what_the_route_names_and_never_a_denied_header() -> TestResult {
        let all = route("all")?;
        let fill = FillRequest::read(&all, &client(), &["x-keyed".to_string()]);
        assert_eq!(sent(&fill), ["x-keyed=1", "x-trace=2"]);
        assert_eq!(
            fill.vary_by().map(HeaderName::as_str).collect::<Vec<_>>(),
            ["x-keyed"],
            "only the keyed header varies every object"
        );
        let listed = route("x-trace, x-absent")?;
        let fill = FillRequest::read(&listed, &client(), &["x-keyed".to_string()]);
        assert_eq!(sent(&fill), ["x-keyed=1", "x-trace=2"]);
        let none = route("none")?;
        let fill = FillRequest::read(&none, &client(), &["x-keyed".to_string()]);
        assert_eq!(sent(&fill), ["x-keyed=1"]);
        Ok(())
    }

    #[test]
    fn an_object_varies_on_what_its_vary_names_of_what_the_route_forwards() -> TestResult {
        let all = route("all")?;
        let fill = FillRequest::read(&all, &client(), &["x-keyed".to_string()]);
        let names = |vary: &[&str]| -> Vec<String> {
            let lines: Vec<String> = vary.iter().map(|l| l.to_string()).collect();
            fill.vary_on(&lines)
                .iter()
                .map(|n| n.as_str().to_string())
                .collect()
        };
        assert_eq!(
            names(&["Accept-Encoding, X-Trace", "x-keyed"]),
            ["x-keyed", "x-trace"]
        );
        assert_eq!(
            names(&["user-agent"]),
            ["x-keyed", "user-agent"],
            "forwarded, though this client sent none"
        );
        assert_eq!(names(&["cookie, x-keyed"]), ["x-keyed"], "never forwarded");
        let listed = route("x-trace")?;
        let fill = FillRequest::read(&listed, &client(), &["x-keyed".to_string()]);
        assert_eq!(
            fill.vary_on(&["User-Agent, X-Trace".to_string()]),
            ["x-keyed", "x-trace"],
            "not listed: never sent, so never differs"
        );
        assert_eq!(
            names(&[]),
            ["x-keyed"],
            "a keyed header varies every object"
        );
        Ok(())
    }

    #[test]
    fn the_url_key_keeps_the_port_and_one_spelling_of_the_host() {
        let with = |host: &str| {
            let mut req = Request::get("http://h/c/x?q=1");
            req.set_header("host", host);
            (url_host(&req), url_key(&req))
        };
        let (host, key) = with("Edge.Example.:80");
        assert_eq!(host, "edge.example");
        assert_eq!(key, with("edge.example").1);
        assert_ne!(
            key,
            with("edge.example:8080").1,
            "another port, another origin"
        );
    }
}
