use bytes::Bytes;

use super::*;
use crate::esi::variable::Value;
use crate::esi::Include;
use crate::fuzzing::esi::merged;

fn vars(name: &str, key: Option<&str>) -> Option<Value> {
    match (name, key) {
        ("HTTP_COOKIE", Some("group")) => Some(Value::Text("beta".into())),
        ("HTTP_COOKIE", Some("evil")) => {
            Some(Value::Text("<esi:include src=\"/steal\"/><b>".into()))
        }
        ("HTTP_ACCEPT_LANGUAGE", Some(lang)) => Some(Value::Bool(lang == "fr")),
        ("HTTP_HOST", None) => Some(Value::Text("example.com".into())),
        _ => None,
    }
}

/// The page's events for `input` split at `cuts`, the tests that did not parse, and how
/// the template ended.
fn read(input: &[u8], cuts: &[usize]) -> (Vec<Shown>, Vec<String>, Result<(), Broken>) {
    let mut language = Language::new();
    let mut out = Vec::new();
    let mut bad = Vec::new();
    let mut from = 0;
    let mut result = Ok(());
    for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
        let mut on_bad = |t: &str, _: &ExprError| bad.push(t.to_string());
        result = language.push(&input[from..cut], &vars, &mut on_bad, &mut out);
        if result.is_err() {
            break;
        }
        from = cut;
    }
    if result.is_ok() {
        let mut on_bad = |t: &str, _: &ExprError| bad.push(t.to_string());
        result = language.finish(&vars, &mut on_bad, &mut out);
    }
    (merged(out), bad, result)
}

fn text(s: &str, in_branch: bool) -> Shown {
    Shown {
        event: Event::Text(Bytes::copy_from_slice(s.as_bytes())),
        in_branch,
    }
}

fn include(src: &str, in_branch: bool) -> Shown {
    Shown {
        event: Event::Include(Include {
            src: src.into(),
            alt: None,
            continue_on_error: false,
            timeout_ms: None,
            ttl: None,
        }),
        in_branch,
    }
}

#[test]
fn the_chosen_branch_its_includes_and_vars_come_out() {
    let page = concat!(
        "a<esi:choose>",
        "<esi:when test=\"$(HTTP_COOKIE{group})=='alpha'\"><esi:include src=/alpha/>A</esi:when>",
        "<esi:when test=\"$(HTTP_ACCEPT_LANGUAGE{fr})\"><esi:include src=/fr/>",
        "<esi:vars>[$(HTTP_HOST)|$(NONE|'d')]</esi:vars></esi:when>",
        "<esi:otherwise><esi:include src=/other/>O</esi:otherwise>",
        "</esi:choose><esi:include src=/after/>$(HTTP_HOST)"
    );
    let (out, bad, end) = read(page.as_bytes(), &[]);
    assert_eq!(end, Ok(()));
    assert!(bad.is_empty());
    assert_eq!(
        out,
        [
            text("a", false),
            include("/fr", true),
            text("[example.com|d]", true),
            include("/after", false),
            text("$(HTTP_HOST)", false),
        ],
        "outside esi:vars a reference is text"
    );
}

#[test]
fn a_value_is_escaped_and_never_read_as_esi() {
    let (out, _, end) = read(
        b"<esi:vars><p title=$(HTTP_COOKIE{evil})>$(HTTP_COOKIE{evil})</p></esi:vars>",
        &[],
    );
    assert_eq!(end, Ok(()));
    let escaped = "&lt;esi:include&#32;src&#61;&quot;/steal&quot;/&gt;&lt;b&gt;";
    assert_eq!(
        out,
        [text(&format!("<p title={escaped}>{escaped}</p>"), false)]
    );
}

#[test]
fn a_test_that_does_not_parse_is_named_once_and_false() {
    let page = "<esi:choose><esi:when test=\"(1==\">X</esi:when><esi:otherwise>O</esi:otherwise></esi:choose>";
    let (out, bad, end) = read(page.as_bytes(), &[]);
    assert_eq!(end, Ok(()));
    assert_eq!(out, [text("O", true)]);
    assert_eq!(bad, ["(1=="]);
}

#[test]
fn the_chosen_include_comes_before_the_template_ends() {
    let mut language = Language::new();
    let mut out = Vec::new();
    let mut bad = |_: &str, _: &ExprError| {};
    language
        .push(
            b"<esi:choose><esi:when test='1==1'><esi:include src=/now/>",
            &vars,
            &mut bad,
            &mut out,
        )
        .expect("reads");
    assert_eq!(out, [include("/now", true)]);
}

#[test]
fn a_reference_is_never_joined_across_an_event() {
    let (out, _, _) = read(
        b"<esi:vars>$(HTTP_<esi:include src=/i/>HOST)</esi:vars>",
        &[],
    );
    assert_eq!(
        out,
        [
            text("$(HTTP_", false),
            include("/i", false),
            text("HOST)", false)
        ]
    );
}

#[test]
fn broken_templates_are_reported() {
    let (_, _, end) = read(b"<esi:choose><esi:when test='1'>x", &[]);
    assert_eq!(end, Err(Broken::Branches(BranchError::UnclosedChoose)));
    let (_, _, end) = read(b"<esi:vars><esi:remove>x", &[]);
    assert!(matches!(end, Err(Broken::Unclosed(_))), "{end:?}");
    let deep = "<esi:vars>".repeat(crate::esi::branches::MAX_NESTING + 1);
    let (_, _, end) = read(deep.as_bytes(), &[]);
    assert_eq!(end, Err(Broken::Branches(BranchError::TooDeep)));
}

fn templates() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    use proptest::prelude::*;
    let piece = prop_oneof![
        Just("<esi:choose>"),
        Just("</esi:choose >"),
        Just("<esi:when test=\"$(HTTP_COOKIE{group})=='beta'\">"),
        Just("<esi:when test='1==2'>"),
        Just("<esi:when test='(1'>"),
        Just("</esi:when>"),
        Just("<esi:otherwise\n>"),
        Just("</esi:otherwise>"),
        Just("<esi:vars>$(HTTP_HOST|'h')"),
        Just("$(HTTP_COOKIE{evil})"),
        Just("$(HTTP_"),
        Just("HOST)"),
        Just("</esi:vars>"),
        Just("<esi:include src=/f/>"),
        Just("<esi:try><esi:attempt>"),
        Just("</esi:attempt><esi:except>"),
        Just("</esi:except></esi:try>"),
        Just("text <b>"),
        Just("<esi:"),
        Just(">"),
    ];
    proptest::collection::vec(piece, 0..24).prop_map(|v| v.concat().into_bytes())
}

proptest::proptest! {
    /// The same page however the template is split, one byte at a time included, within
    /// the bound of what is held.
    #[test]
    fn split_invariance(input in templates(), cuts in proptest::collection::vec(0usize..2048, 0..10)) {
        let whole = read(&input, &[]);
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (input.len() + 1)).collect();
        cuts.sort_unstable();
        proptest::prop_assert_eq!(read(&input, &cuts), whole.clone());
        let ones: Vec<usize> = (1..input.len()).collect();
        proptest::prop_assert_eq!(read(&input, &ones), whole);
    }
}

/// A vars block that names a client's value often cannot make one read's output unbounded:
/// past `MAX_VALUES_PER_READ` bytes of values the template breaks (a visible failure), and
/// what came out stays within the bound.
#[test]
fn substituted_values_are_bounded_per_read() {
    // `evil` is 34 bytes and more escaped: 32,000 references ask for over 2 MB.
    let references = "$(HTTP_COOKIE{evil})".repeat(32_000);
    let template = format!("<esi:vars>{references}</esi:vars>");
    let mut language = Language::new();
    let mut out = Vec::new();
    let mut on_bad = |_: &str, _: &ExprError| {};
    let result = language.push(template.as_bytes(), &vars, &mut on_bad, &mut out);
    assert_eq!(result, Err(Broken::VarsTooLarge));
    let made: usize = out
        .iter()
        .map(|s| match &s.event {
            Event::Text(t) => t.len(),
            _ => 0,
        })
        .sum();
    assert!(made <= MAX_VALUES_PER_READ + references.len(), "{made}");
    // Under the bound, the same block reads whole.
    let few = format!(
        "<esi:vars>{}</esi:vars>",
        "$(HTTP_COOKIE{evil})".repeat(100)
    );
    assert_eq!(read(few.as_bytes(), &[]).2, Ok(()));
}

/// One template compiles at most `MAX_PATTERNS` `matches` patterns; a test past them does not
/// parse (its `when` is not chosen, and it is reported like any test that does not parse).
#[test]
fn matches_patterns_are_bounded_per_template() {
    let when = "<esi:choose><esi:when test=\"'a' matches 'b'\">x</esi:when></esi:choose>";
    let template = when.repeat(MAX_PATTERNS + 3);
    let (_, bad, result) = read(template.as_bytes(), &[template.len() / 2]);
    assert_eq!(result, Ok(()));
    assert_eq!(bad.len(), 3, "{bad:?}");
}
