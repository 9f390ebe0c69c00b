//! Whether an origin's response is a template the route composes (ESI), and how its head is
//! shaped: the origin exchange decides this from the head alone, so the pass route, the cache
//! and the composer read one answer, and HEAD gets what GET gets.

use fastly::Response;
use firstbyte_config::chain::{Chain, Plan};
use firstbyte_config::{EsiMode, Route};
use firstbyte_transform::codec::{negotiate, Encoding};

use crate::cache_control::Directives;
use crate::delivery;
use crate::headers::{self, HeaderAccess};

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
