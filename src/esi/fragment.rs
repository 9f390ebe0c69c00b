//! What an include becomes: its `src` with variables substituted, resolved against the
//! page's URL, checked (no host that no route serves: no SSRF), and the request that fetches
//! it through the app's own routes, carrying the client's headers less those that would
//! change what a fragment is (hop-by-hop, `Range`, conditionals) or that describe a body,
//! and less the client's credentials unless the fragment's route asks for them.
//!
//! What is logged of an include is its `src` as written, never substituted: a variable's
//! value (a cookie's) never reaches a log.

use fastly::http::{HeaderName, HeaderValue, Method, Url};
use fastly::Request;

use super::vars::{self, AllVariables, Variables};
use crate::headers::{connection_tokens, is_hop_by_hop, HeaderAccess};
use crate::routing::{self, Resolver};

/// The codings a fragment request asks for: those this app can decode.
pub const FRAGMENT_CODINGS: &str = "gzip, deflate, br";

/// Request headers a fragment request never carries.
const NOT_FORWARDED: [&str; 11] = [
    "range",
    "if-range",
    "if-match",
    "if-none-match",
    "if-modified-since",
    "if-unmodified-since",
    "content-length",
    "content-type",
    "expect",
    "host",
    "accept-encoding",
];

/// The client's credentials: a fragment gets them only where its route says
/// `esi_credentials = on`.
const CREDENTIALS: [&str; 2] = ["cookie", "authorization"];

/// What of the client's request the fragments of its page are made from.
pub struct Client {
    url: Url,
    /// The host routes match on ([`routing::host`]).
    host: Option<String>,
    host_header: Option<String>,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// Every `Cookie` line.
    cookies: Vec<String>,
    accept_language: Option<String>,
    method: String,
    user_agent: Option<String>,
    referer: Option<String>,
    /// The request carried `Cookie` or `Authorization`: its page is this client's alone.
    credentialed: bool,
}

impl Client {
    pub fn read(req: &Request) -> Client {
        let tokens = connection_tokens(req.header_values("connection").iter().map(String::as_str));
        let headers = req
            .get_headers()
            .filter(|(name, _)| {
                !is_hop_by_hop(name.as_str(), &tokens) && !NOT_FORWARDED.contains(&name.as_str())
            })
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        Client {
            url: req.get_url().clone(),
            host: routing::host(req),
            host_header: req.header("host"),
            headers,
            cookies: req.header_values("cookie"),
            accept_language: req.header("accept-language"),
            method: req.get_method_str().to_string(),
            user_agent: req.header("user-agent"),
            referer: req.header("referer"),
            credentialed: CREDENTIALS.iter().any(|name| req.contains_header(*name)),
        }
    }

    /// Whether the request carried `Cookie` or `Authorization`.
    pub fn credentialed(&self) -> bool {
        self.credentialed
    }

    /// Every variable of the request, as a template whose route lets it read
    /// `readable_cookies` sees them.
    pub fn variables<'a>(&'a self, readable_cookies: &'a [String]) -> AllVariables<'a> {
        AllVariables {
            common: Variables {
                host: self.host_header.as_deref(),
                query: self.url.query(),
                cookies: &self.cookies,
                accept_language: self.accept_language.as_deref(),
                readable_cookies,
            },
            request: vars::Request {
                method: Some(&self.method),
                path: Some(self.url.path()),
                user_agent: self.user_agent.as_deref(),
                referer: self.referer.as_deref(),
            },
        }
    }

    /// The URL an include's `src` names, variables substituted (`readable_cookies`: the
    /// cookies its template's route lets it read), resolved against the page's own URL (for
    /// a nested fragment, against the page's: ESI has one base). An absolute URL must be for
    /// the page's own host or for a host some route names. A value that makes a dot-segment
    /// (`..`, `%2e%2e`) is refused. A refusal names `src` as written.
    pub fn resolve(
        &self,
        src: &str,
        readable_cookies: &[String],
        resolver: &Resolver,
    ) -> Result<Url, String> {
        let substituted = self
            .variables(readable_cookies)
            .substitute_in_path(src)
            .ok_or_else(|| format!("src '{src}': a variable's value made a dot-segment"))?;
        let url = self
            .url
            .join(&substituted)
            .map_err(|e| format!("src '{src}' is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("src '{src}': scheme {} refused", url.scheme()));
        }
        let host = url.host_str().map(routing::normalize_host);
        if host != self.host && !host.as_deref().is_some_and(|h| resolver.names_host(h)) {
            return Err(format!("src '{src}': its host is served by no route"));
        }
        Ok(url)
    }

    /// A GET for `url` with the client's headers (less [`NOT_FORWARDED`] and hop-by-hop
    /// ones, and less its credentials unless `credentials`), asking for the codings this app
    /// decodes.
    pub fn request(&self, url: &Url, credentials: bool) -> Request {
        let mut req = Request::new(Method::GET, url.as_str());
        for (name, value) in &self.headers {
            if !credentials && CREDENTIALS.contains(&name.as_str()) {
                continue;
            }
            req.append_header(name, value);
        }
        let authority = match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_string(),
            (None, _) => self.host_header.clone().unwrap_or_default(),
        };
        req.set_header("host", authority);
        req.set_header("accept-encoding", FRAGMENT_CODINGS);
        req
    }
}
