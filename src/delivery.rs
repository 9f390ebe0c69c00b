//! What the client gets of one backend response, decided from its head alone: the body as
//! the backend sent it, the route's chain applied, a coding undone on the client's behalf,
//! or a refusal. The same head gives the same decision for GET and HEAD, so both get the
//! same headers.
//!
//! The rules, in order (README, "HTTP semantics"):
//! 1. A 206, or a response marked `Cache-Control: no-transform`, is never transformed: a
//!    rewritten fragment would not match its `Content-Range`, and RFC 9110 §7.7 forbids it.
//! 2. Otherwise the route's chain decides (its statuses, media types and codings).
//! 3. What the chain leaves alone goes out untouched if the client accepts its coding.
//! 4. A coding the client did not accept is decoded for it, when this app can decode it
//!    and may (not a fragment, not `no-transform`); else the response is refused with 502:
//!    a client never receives a coding it did not ask for.

use firstbyte_transform::codec::{accepts, Encoding};

use firstbyte_config::chain::{Chain, Plan, ResponseHead};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Body and coding as the backend sent them; `coded` when a content coding other than
    /// identity goes out, which then needs `Vary: Accept-Encoding`.
    Untouched { coded: bool },
    /// Re-made by a pipeline.
    Transformed(Plan),
    /// Nothing the client may receive can be made of this response.
    Refused(&'static str),
}

pub fn decide(chain: Option<&Chain>, head: ResponseHead) -> Delivery {
    let no_transform = head.cache_control.is_some_and(has_no_transform);
    let partial = head.status == 206;
    if may_transform(head) {
        if let Some(plan) = chain.and_then(|c| c.plan(head)) {
            return Delivery::Transformed(plan);
        }
    }
    let coding = head.content_encoding.unwrap_or("").trim();
    if accepts(head.accept_encoding, coding) {
        let coded = !(coding.is_empty() || coding.eq_ignore_ascii_case("identity"));
        return Delivery::Untouched { coded };
    }
    if no_transform {
        return Delivery::Refused("sent a coding the client does not accept, with no-transform");
    }
    if partial {
        return Delivery::Refused("sent a partial body in a coding the client does not accept");
    }
    match Encoding::from_content_encoding(coding) {
        Some(origin) => Delivery::Transformed(Plan::decode_only(origin)),
        None => Delivery::Refused(
            "sent a coding the client does not accept and firstbyte cannot decode",
        ),
    }
}

/// The plan that re-makes a body the chain covers even where [`decide`] would leave it
/// untouched ([`Chain::recode`]: the origin's coding undone, the route's coding for this
/// client applied): what a body kept as a compression dictionary goes through. Never for a
/// response rule 1 keeps whole.
pub fn recode(chain: Option<&Chain>, head: ResponseHead) -> Option<Plan> {
    chain.filter(|_| may_transform(head))?.recode(head)
}

/// Rule 1: neither a 206 nor a `no-transform` response is ever rewritten.
fn may_transform(head: ResponseHead) -> bool {
    head.status != 206 && !head.cache_control.is_some_and(has_no_transform)
}

/// What a route with content stages asks its backend for: the decodable codings this client
/// accepts too, so that what the chain leaves alone still reaches the client readable.
pub fn backend_accept_encoding(client: Option<&str>) -> String {
    let codings: Vec<&str> = Chain::DECODABLE
        .iter()
        .map(|e| e.token())
        .filter(|token| accepts(client, token))
        .collect();
    if codings.is_empty() {
        "identity".to_string()
    } else {
        codings.join(", ")
    }
}

pub fn has_no_transform(cache_control: &str) -> bool {
    cache_control
        .split(',')
        .any(|d| d.trim().eq_ignore_ascii_case("no-transform"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use firstbyte_config::chain::{default_content_types, Stage, Statuses};
    use firstbyte_transform::codec::Limits;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn html_chain(compress: &[Encoding]) -> Result<Chain, String> {
        let stages = vec![Stage::parse("html", r#"{"remove": ["script"]}"#)?];
        Ok(Chain {
            content_types: default_content_types(&stages),
            stages,
            compress: compress.to_vec(),
            statuses: Statuses::default(),
            limits: Limits::default(),
        })
    }

    #[test]
    fn untransformed_codings_reach_only_clients_that_accept_them() -> TestResult {
        let chain = html_chain(&[])?;
        // A 404 page or a stylesheet the chain does not touch, gzipped by the origin.
        for (status, ct) in [(404, "text/html"), (200, "text/css")] {
            assert_eq!(
                decide(
                    Some(&chain),
                    ResponseHead::new(status, ct, Some("gzip"), None)
                ),
                Delivery::Transformed(Plan::decode_only(Encoding::Gzip)),
                "{status} {ct}"
            );
            assert_eq!(
                decide(
                    Some(&chain),
                    ResponseHead::new(status, ct, Some("gzip"), Some("gzip"))
                ),
                Delivery::Untouched { coded: true }
            );
        }
        assert_eq!(
            decide(None, ResponseHead::new(200, "image/png", None, None)),
            Delivery::Untouched { coded: false }
        );
        assert!(matches!(
            decide(
                None,
                ResponseHead::new(200, "text/plain", Some("zstd"), Some("gzip"))
            ),
            Delivery::Refused(_)
        ));
        assert_eq!(
            decide(
                None,
                ResponseHead::new(200, "text/plain", Some("zstd"), Some("zstd"))
            ),
            Delivery::Untouched { coded: true }
        );
        Ok(())
    }

    #[test]
    fn partial_and_no_transform_responses_are_never_rewritten() -> TestResult {
        let chain = html_chain(&[Encoding::Gzip])?;
        assert_eq!(
            decide(
                Some(&chain),
                ResponseHead::new(206, "text/html", None, Some("gzip"))
            ),
            Delivery::Untouched { coded: false }
        );
        let mut keep = ResponseHead::new(200, "text/html", None, Some("gzip"));
        keep.cache_control = Some("public, No-Transform");
        assert_eq!(
            decide(Some(&chain), keep),
            Delivery::Untouched { coded: false }
        );
        // Neither may be decoded for a client that cannot read them either.
        keep.content_encoding = Some("br");
        assert!(matches!(decide(Some(&chain), keep), Delivery::Refused(_)));
        assert!(matches!(
            decide(
                Some(&chain),
                ResponseHead::new(206, "text/html", Some("gzip"), None)
            ),
            Delivery::Refused(_)
        ));
        Ok(())
    }

    #[test]
    fn the_chain_decides_what_it_covers() -> TestResult {
        let chain = html_chain(&[Encoding::Brotli])?;
        match decide(
            Some(&chain),
            ResponseHead::new(200, "text/html", Some("gzip"), Some("br")),
        ) {
            Delivery::Transformed(plan) => {
                assert!(plan.stages);
                assert_eq!(
                    (plan.decode, plan.encode),
                    (Some(Encoding::Gzip), Encoding::Brotli)
                );
            }
            other => return Err(format!("{other:?}").into()),
        }
        Ok(())
    }

    #[test]
    fn backends_are_asked_for_what_the_client_can_read_too() {
        assert_eq!(backend_accept_encoding(None), "identity");
        assert_eq!(backend_accept_encoding(Some("br")), "identity");
        assert_eq!(backend_accept_encoding(Some("gzip, br")), "gzip");
        assert_eq!(
            backend_accept_encoding(Some("gzip, deflate, br")),
            "gzip, deflate"
        );
        assert_eq!(backend_accept_encoding(Some("*")), "gzip, deflate");
    }
}
