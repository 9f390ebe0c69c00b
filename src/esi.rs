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
use firstbyte_config::chain::{Chain, Plan};
use firstbyte_config::{EsiMode, Route};
use firstbyte_transform::codec::{negotiate, Encoding};

use crate::cache::control::{split_list, Directives};
use crate::delivery;
use crate::headers::{self, HeaderAccess};

pub use fragment::Client;
pub use page::{compose, FragmentsLog};

/// Whether `route` composes this backend response: one that asks for it, or that is HTML
/// where the route processes all HTML, of any status with a whole body (an error page with
/// includes is a template too, and its tags must not reach a client raw). A template that
/// asks for composing is no representation for a client, so `Surrogate-Control`, addressed
/// to this surrogate, prevails over `no-transform`; HTML composed only because the route
/// composes all HTML keeps `no-transform`.
pub fn composes(route: &Route, resp: &Response) -> bool {
    let status = resp.get_status();
    !status.is_informational()
        && !matches!(status.as_u16(), 204 | 206 | 304)
        && is_template(route, resp)
}

/// Whether `resp` is a template by its headers, whatever its status. A template answered
/// with 206 is an origin error ([`TEMPLATE_206`]).
pub fn is_template(route: &Route, resp: &Response) -> bool {
    let Some(esi) = &route.esi else {
        return false;
    };
    match esi.mode {
        EsiMode::Surrogate => asks_for_esi(&resp.header_values("surrogate-control")),
        EsiMode::On => {
            let html = resp.header("content-type").is_some_and(|t| {
                t.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/html"))
            });
            let no_transform = resp
                .header_values("cache-control")
                .iter()
                .any(|cc| delivery::has_no_transform(cc));
            html && !no_transform
        }
    }
}

/// Why a template answered with 206 fails: a composing route never forwards `Range`, so
/// the part is the origin's error; composed it would lose its `Content-Range`, and passed on
/// its tags would reach the client raw.
pub const TEMPLATE_206: &str = "answered 206 to a template request without Range";

/// `Surrogate-Control: content="ESI/1.0"` (among other directives and targets).
fn asks_for_esi(lines: &[String]) -> bool {
    Directives::parse(lines.iter().map(String::as_str))
        .value("content")
        .is_some_and(|c| {
            c.split_whitespace()
                .any(|t| t.eq_ignore_ascii_case("ESI/1.0"))
        })
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

/// The coding of a composed page: the best of the route's `compress` the client accepts.
pub fn output_coding(chain: Option<&Chain>, accept_encoding: Option<&str>) -> Encoding {
    chain.map_or(Encoding::Identity, |c| {
        negotiate(accept_encoding, &c.compress)
    })
}

/// The plan that makes a template's text: the route's plan without its encoding, or, where
/// the chain does not apply, the origin's coding undone.
pub fn template_plan(plan: Option<Plan>, origin_coding: Option<&str>) -> Option<Plan> {
    match plan {
        Some(plan) => Some(Plan {
            encode: Encoding::Identity,
            ..plan
        }),
        None => origin_coding
            .and_then(Encoding::from_content_encoding)
            .filter(|e| *e != Encoding::Identity)
            .map(Plan::decode_only),
    }
}

/// The head of a composed page: the template's, less what described the template's bytes
/// (length, validators, ranges), with the page's coding.
pub fn composed_head(resp: &mut Response, output: Encoding, chain: Option<&Chain>) {
    let coding = (output != Encoding::Identity).then(|| output.token());
    let varies = chain.is_some_and(|c| !c.compress.is_empty());
    headers::for_transformed_body(resp, coding, varies);
    // A page made of fragments has no validator of its own.
    resp.remove_header("etag");
    resp.remove_header("last-modified");
    resp.set_header("trailer", "Server-Timing");
}

/// A page composed for a request with credentials is that client's alone, whatever its
/// template said: the head leaves before the fragments answer (one may be personal), so no
/// shared cache downstream may store it. `public`, `s-maxage` and a `private` limited to
/// some fields give way to `private`, and the fields that address shared caches alone
/// (`CDN-Cache-Control` and other targeted `…-Cache-Control` fields, RFC 9213;
/// `Surrogate-Control`) are removed, so what a downstream cache reads is `Cache-Control`.
pub fn private_for(resp: &mut Response, client: &Client) {
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
    fn surrogate_control_asks_for_esi() {
        let asks = |v: &str| asks_for_esi(&[v.to_string()]);
        assert!(asks("content=\"ESI/1.0\""));
        assert!(asks("max-age=60, content=\"ESI/1.0 ESI-INLINE/1.0\""));
        assert!(!asks("max-age=60"));
        assert!(!asks("content=\"ESI-INLINE/1.0\""));
    }

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

    #[test]
    fn a_template_is_text_whatever_the_client_reads() {
        let plan = Plan {
            decode: Some(Encoding::Gzip),
            stages: true,
            encode: Encoding::Brotli,
            varies_by_encoding: true,
        };
        let template = template_plan(Some(plan), Some("gzip"));
        assert_eq!(template.map(|p| p.encode), Some(Encoding::Identity));
        assert_eq!(template.and_then(|p| p.decode), Some(Encoding::Gzip));
        assert_eq!(
            template_plan(None, Some("br")).and_then(|p| p.decode),
            Some(Encoding::Brotli)
        );
        assert_eq!(template_plan(None, None), None);
    }
}
