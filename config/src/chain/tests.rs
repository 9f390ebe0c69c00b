//! The chain's planning against heads of every kind.

use super::*;
use crate::fixtures::{self, err_key, with, TestResult, ORIGIN};

fn chain(stages: Vec<Stage>, compress: &[Encoding]) -> Chain {
    Chain {
        content_types: default_content_types(&stages),
        stages,
        compress: compress.to_vec(),
        statuses: Statuses::default(),
        limits: Limits::default(),
    }
}

fn replace() -> Result<Stage, String> {
    Stage::parse("replace", r#"{"rules": [["a", "b"]]}"#)
}

#[test]
fn statuses_take_codes_classes_and_ranges() -> TestResult {
    let s = Statuses::parse("200, 3xx, 404-410")?;
    assert!(s.contains(200) && s.contains(301) && s.contains(404) && s.contains(410));
    assert!(!s.contains(201) && !s.contains(500));
    for bad in ["", "2x", "9xx", "abc", "300-200", "700"] {
        assert!(Statuses::parse(bad).is_err(), "{bad}");
    }
    assert!(Statuses::default().contains(204) && !Statuses::default().contains(304));
    Ok(())
}

#[test]
fn content_types_match_by_media_type_or_family() {
    assert!(type_matches("text/*", &media_type("text/event-stream")));
    assert!(type_matches(
        "text/html",
        &media_type("Text/HTML; charset=utf-8")
    ));
    assert!(!type_matches("text/html", &media_type("text/plain")));
    assert!(!type_matches("text/*", &media_type("application/json")));
}

#[test]
fn recoding_re_makes_what_compression_alone_leaves_alone() {
    let c = chain(Vec::new(), &[Encoding::Brotli]);
    let br = ResponseHead::new(200, "text/plain", Some("br"), Some("br"));
    assert_eq!(c.plan(br), None, "the origin's br passes");
    let recoded = c.recode(br);
    assert_eq!(
        recoded.map(|p| (p.decode, p.encode)),
        Some((Some(Encoding::Brotli), Encoding::Brotli))
    );
    let identity = ResponseHead::new(200, "text/plain", None, None);
    assert_eq!(c.plan(identity), None, "nothing to encode for it");
    assert_eq!(
        c.recode(identity).map(|p| (p.decode, p.encode)),
        Some((None, Encoding::Identity))
    );
    // What the chain does not cover or cannot undo stays alone.
    assert_eq!(
        c.recode(ResponseHead::new(200, "image/png", None, None)),
        None
    );
    assert_eq!(
        c.recode(ResponseHead::new(200, "text/plain", Some("zstd"), None)),
        None
    );
}

#[test]
fn plans_decode_transform_and_encode() -> TestResult {
    let c = chain(vec![replace()?], &[Encoding::Brotli, Encoding::Gzip]);
    let p = c
        .plan(ResponseHead::new(
            200,
            "text/plain",
            Some("gzip"),
            Some("gzip, br"),
        ))
        .ok_or("no plan")?;
    assert_eq!(p.decode, Some(Encoding::Gzip));
    assert_eq!(p.encode, Encoding::Brotli);
    assert!(p.varies_by_encoding);
    assert_eq!(
        p.pipeline(Some(&c))?.names(),
        ["gzip-decode", "replace", "br-encode"]
    );

    let identity = c
        .plan(ResponseHead::new(200, "text/plain", None, None))
        .ok_or("no plan")?;
    assert_eq!(
        (identity.decode, identity.encode),
        (None, Encoding::Identity)
    );
    Ok(())
}

#[test]
fn responses_outside_the_chain_pass_untouched() -> TestResult {
    let c = chain(vec![replace()?], &[]);
    assert_eq!(
        c.plan(ResponseHead::new(404, "text/plain", None, None)),
        None
    );
    assert_eq!(
        c.plan(ResponseHead::new(200, "image/png", None, None)),
        None
    );
    assert_eq!(
        c.plan(ResponseHead::new(200, "text/plain", Some("zstd"), None)),
        None
    );
    let no_type = ResponseHead {
        status: 200,
        ..ResponseHead::default()
    };
    assert_eq!(c.plan(no_type), None);
    Ok(())
}

#[test]
fn without_compress_the_origin_coding_is_kept_if_the_client_takes_it() -> TestResult {
    let c = chain(vec![replace()?], &[]);
    let p = c
        .plan(ResponseHead::new(
            200,
            "text/plain",
            Some("gzip"),
            Some("gzip"),
        ))
        .ok_or("no plan")?;
    assert_eq!((p.decode, p.encode), (Some(Encoding::Gzip), Encoding::Gzip));
    let p = c
        .plan(ResponseHead::new(
            200,
            "text/plain",
            Some("gzip"),
            Some("br"),
        ))
        .ok_or("no plan")?;
    assert_eq!(p.encode, Encoding::Identity);
    Ok(())
}

#[test]
fn compression_alone_only_touches_uncompressed_bodies() -> TestResult {
    let c = chain(Vec::new(), &[Encoding::Gzip]);
    let p = c
        .plan(ResponseHead::new(200, "text/css", None, Some("gzip")))
        .ok_or("no plan")?;
    assert_eq!((p.decode, p.encode), (None, Encoding::Gzip));
    assert_eq!(
        c.plan(ResponseHead::new(200, "text/css", Some("br"), Some("gzip"))),
        None
    );
    assert_eq!(
        c.plan(ResponseHead::new(200, "text/css", None, Some("identity"))),
        None
    );
    Ok(())
}

#[test]
fn compress_lists_are_checked() -> TestResult {
    assert_eq!(
        parse_compress("br, gzip")?,
        [Encoding::Brotli, Encoding::Gzip]
    );
    assert!(parse_compress("zstd").is_err());
    assert_eq!(parse_compress("dcb, br")?, [Encoding::Brotli]);
    let (dcb, dcz) = (DictionaryCoding::Dcb, DictionaryCoding::Dcz);
    assert_eq!(
        parse_codings("br, DCB")?,
        (vec![Encoding::Brotli], vec![dcb])
    );
    assert_eq!(
        parse_codings("dcz, br, dcb")?,
        (vec![Encoding::Brotli], vec![dcz, dcb])
    );
    assert_eq!(parse_codings("gzip")?, (vec![Encoding::Gzip], vec![]));
    assert!(parse_compress("dcb,dcb").is_err());
    assert!(parse_compress("dcz, br, DCZ").is_err());
    assert!(parse_compress("gzip,gzip").is_err());
    assert!(parse_compress("identity").is_err());
    Ok(())
}

#[test]
fn transform_chain_is_read_and_checked() -> TestResult {
    let config = fixtures::parse(&with(&[
        ("route.origin.transforms", "replace, html"),
        ("route.origin.replace", r#"{"rules": [["origin", "edge"]]}"#),
        ("route.origin.html", r#"{"remove": ["script"]}"#),
        ("route.origin.compress", "br,gzip"),
        ("route.origin.statuses", "200"),
        ("route.origin.max_inflate_ratio", "50"),
    ]))?;
    let chain = config.routes[0].chain.as_ref().ok_or("chain")?;
    let names: Vec<_> = chain.stages.iter().map(Stage::name).collect();
    assert_eq!(names, ["replace", "html"]);
    assert_eq!(chain.content_types, ["text/html"]);
    assert_eq!(chain.limits.max_ratio, 50);

    assert_eq!(
        err_key(&with(&[("route.origin.transforms", "gzip")])),
        "route.origin.transforms"
    );
    assert_eq!(
        err_key(&with(&[("route.origin.transforms", "replace")])),
        "route.origin.replace"
    );
    assert_eq!(
        err_key(&with(&[
            ("route.origin.transforms", "replace"),
            ("route.origin.replace", r#"{"rules": [["", "x"]]}"#)
        ])),
        "route.origin.replace"
    );
    assert_eq!(
        err_key(&with(&[
            ("route.origin.transforms", "html"),
            ("route.origin.html", r#"{"remove": ["div[["]}"#)
        ])),
        "route.origin.html"
    );
    assert_eq!(
        err_key(&with(&[("route.origin.compress", "zstd")])),
        "route.origin.compress"
    );
    assert_eq!(
        err_key(&with(&[
            ("route.origin.compress", "gzip"),
            ("route.origin.statuses", "2x")
        ])),
        "route.origin.statuses"
    );
    assert!(fixtures::parse(ORIGIN)?.routes[0].chain.is_none());
    Ok(())
}
