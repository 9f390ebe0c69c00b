//! Pages composed at the edge from fragments (Edge Side Includes, `route.<name>.esi`).
//!
//! Only a backend's response is processed, never a client's request: a route composes the
//! responses of its backend that ask for it themselves (`Surrogate-Control:
//! content="ESI/1.0"`, with `esi = surrogate`) or every HTML one (`esi = on`), whatever their
//! status, a fragment's as much as a page's. The first byte waits for the
//! template's head and nothing else. Every include is requested the moment it is read, all
//! at once, through the app's own routes ([`fragment`]); the template is read ahead while an
//! earlier fragment is awaited, so later includes are found early. Output stays in document
//! order ([`tree`]): the text before an include goes out before the fragment arrives, and the
//! fragment whose turn it is streams chunk by chunk, decoded and through its route's stages,
//! into the page's own encoder. One loop waits on everything at once ([`page`]).

mod fragment;
mod page;
mod tree;
mod vars;

use fastly::{Request, Response};
use firstbyte_config::Route;

use crate::access_log::AccessRecord;
use crate::cache_control::split_list;
use crate::composer::{Composed, Composer, Template};
use crate::headers::HeaderAccess;
use crate::routing::Resolver;
use crate::timing::Clock;

pub use fragment::Client;

/// What a composing route needs to make its pages: the client's request, as fragments are
/// made from it, and the route table they go through.
pub struct Composing<'a, 'r> {
    pub client: Client,
    pub resolver: &'a mut Resolver<'r>,
}

impl Composer for Composing<'_, '_> {
    fn private_for(&self, resp: &mut Response) {
        private_for(resp, &self.client);
    }

    fn compose(
        &mut self,
        route: &Route,
        template: Template,
        record: &mut AccessRecord,
        clock: &Clock,
    ) -> Composed {
        page::compose(&self.client, self.resolver, route, template, record, clock)
    }
}

/// Drops a client's conditional headers from a safe request (GET, HEAD, OPTIONS, TRACE) to a
/// composing route (those of a method that changes state stay the origin's to decide): they are
/// about the page the client was sent, which has no validator of its own, and neither the
/// template's origin nor the cache (which stores the template) may answer them with a 304
/// about the template.
pub fn drop_conditionals(req: &mut Request) {
    for name in [
        "if-none-match",
        "if-modified-since",
        "if-match",
        "if-unmodified-since",
        "if-range",
    ] {
        req.remove_header(name);
    }
}

/// A page composed for a request with credentials is that client's alone, whatever its
/// template said: the head leaves before the fragments answer (one may be personal), so no
/// shared cache downstream may store it. `public`, `s-maxage` and a `private` limited to
/// some fields give way to `private`, and the fields that address shared caches alone
/// (`CDN-Cache-Control` and other targeted `…-Cache-Control` fields, RFC 9213;
/// `Surrogate-Control`) are removed, so what a downstream cache reads is `Cache-Control`.
fn private_for(resp: &mut Response, client: &Client) {
    if !client.credentialed() {
        return;
    }
    let targeted: Vec<String> = resp
        .get_header_names()
        .map(|n| n.as_str().to_string())
        .filter(|n| {
            n != "cache-control" && (n.ends_with("-cache-control") || n == "surrogate-control")
        })
        .collect();
    for name in targeted {
        resp.remove_header(&name);
    }
    let lines = resp.header_values("cache-control");
    resp.set_header("cache-control", private_directives(&lines));
}

/// `Cache-Control` directives with those that let a shared cache store the response
/// replaced by `private`.
fn private_directives(lines: &[String]) -> String {
    let mut kept: Vec<&str> = lines
        .iter()
        .flat_map(|line| split_list(line))
        .filter(|element| {
            let name = element.split('=').next().unwrap_or("").trim();
            !["public", "s-maxage", "private"]
                .iter()
                .any(|shared| name.eq_ignore_ascii_case(shared))
        })
        .collect();
    kept.insert(0, "private");
    kept.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_personal_page_is_private() {
        let private = |lines: &[&str]| {
            private_directives(&lines.iter().map(|l| l.to_string()).collect::<Vec<_>>())
        };
        assert_eq!(private(&["public, max-age=3600"]), "private, max-age=3600");
        assert_eq!(
            private(&["max-age=60, S-MaxAge=600", "private=\"set-cookie, x\""]),
            "private, max-age=60"
        );
        assert_eq!(private(&["no-store"]), "private, no-store");
        assert_eq!(private(&[]), "private", "no heuristic freshness downstream");
    }
}
