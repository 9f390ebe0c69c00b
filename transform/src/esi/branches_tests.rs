use bytes::Bytes;

use super::*;
use crate::esi::variable::Value;
use crate::esi::{Include, Tokenizer, Unclosed};
use crate::fuzzing::esi::{merged, run_tokens};

fn vars(name: &str, key: Option<&str>) -> Option<Value> {
    match (name, key) {
        ("HTTP_COOKIE", Some("group")) => Some(Value::Text("beta".into())),
        ("HTTP_ACCEPT_LANGUAGE", Some(lang)) => Some(Value::Bool(lang == "fr")),
        ("QUERY_STRING", Some("page")) => Some(Value::Text("2".into())),
        _ => None,
    }
}

/// What a page shows of `template`, read whole, with every test evaluated against `vars`
/// (a test that does not parse is false), and the tests that were asked.
fn shown(template: &str) -> (Vec<Token>, Result<(), BranchError>, Vec<String>) {
    let (tokens, end) = run_tokens(template.as_bytes(), &[]);
    assert_eq!(end, Ok(()), "{template}");
    let mut branches = Branches::new();
    let mut out = Vec::new();
    let mut asked = Vec::new();
    let mut test = |t: &str| {
        asked.push(t.to_string());
        evaluate(t, &vars).unwrap_or(false)
    };
    let mut result = Ok(());
    for token in tokens {
        result = result.and(branches.push(token, &mut out, &mut test));
    }
    result = result.and(branches.finish(&mut out));
    (merged(out), result, asked)
}

fn t(s: &str) -> Token {
    Token::Event(Event::Text(Bytes::copy_from_slice(s.as_bytes())))
}

fn inc(src: &str) -> Token {
    Token::Event(Event::Include(Include {
        src: src.into(),
        alt: None,
        continue_on_error: false,
        timeout_ms: None,
        ttl: None,
    }))
}

#[test]
fn the_first_true_when_is_shown_and_nothing_else() {
    let page = "a<esi:choose>
        <esi:when test=\"$(HTTP_COOKIE{group})=='alpha'\"><esi:include src=/alpha/>A</esi:when>
        <esi:when test=\"$(HTTP_COOKIE{group})=='beta'\"><esi:include src=/beta/>B</esi:when>
        <esi:when test=\"1==1\"><esi:include src=/third/>C</esi:when>
        <esi:otherwise><esi:include src=/other/>O</esi:otherwise>
    </esi:choose>z";
    let (out, end, asked) = shown(page);
    assert_eq!(out, [t("a"), inc("/beta"), t("Bz")]);
    assert_eq!(end, Ok(()));
    assert_eq!(
        asked,
        [
            "$(HTTP_COOKIE{group})=='alpha'",
            "$(HTTP_COOKIE{group})=='beta'"
        ],
        "no test after the chosen branch is evaluated"
    );
}

#[test]
fn otherwise_when_no_test_is_true_and_nothing_without_it() {
    let page = "<esi:choose><esi:when test=\"$(HTTP_ACCEPT_LANGUAGE{de})\">de</esi:when>\
        <esi:otherwise>en</esi:otherwise><esi:otherwise>second</esi:otherwise></esi:choose>";
    assert_eq!(shown(page).0, [t("en")]);
    let page =
        "<esi:choose><esi:when test=\"$(HTTP_ACCEPT_LANGUAGE{de})\">de</esi:when></esi:choose>!";
    assert_eq!(shown(page).0, [t("!")]);
    let page = "<esi:choose><esi:when test=\"$(HTTP_ACCEPT_LANGUAGE{fr})\"/><esi:otherwise>o</esi:otherwise></esi:choose>";
    assert_eq!(
        shown(page).0,
        [],
        "an empty when chosen shows nothing, not the otherwise"
    );
}

#[test]
fn a_test_that_does_not_parse_is_false() {
    let page = "<esi:choose><esi:when test=\"1 ==\">bad</esi:when><esi:when>none</esi:when>\
        <esi:when test=\"$(QUERY_STRING{page}) > 1\">p</esi:when></esi:choose>";
    let (out, _, asked) = shown(page);
    assert_eq!(out, [t("p")]);
    assert_eq!(asked, ["1 ==", "", "$(QUERY_STRING{page}) > 1"]);
}

/// Chooses nest; an unchosen branch's inner choose is never evaluated, and vars in shown
/// content are marked.
#[test]
fn nested_chooses_and_vars() {
    let page = "<esi:choose><esi:when test=\"1==2\"><esi:choose><esi:when test=\"'x'=='x'\">no</esi:when></esi:choose></esi:when>\
        <esi:otherwise>[<esi:choose><esi:when test=\"2==2\"><esi:vars>$(HTTP_HOST)</esi:vars></esi:when>\
        <esi:otherwise>no</esi:otherwise></esi:choose>]</esi:otherwise></esi:choose>";
    let (out, end, asked) = shown(page);
    assert_eq!(
        out,
        [
            t("["),
            Token::VarsStart,
            t("$(HTTP_HOST)"),
            Token::VarsEnd,
            t("]")
        ]
    );
    assert_eq!(end, Ok(()));
    assert_eq!(asked, ["1==2", "2==2"]);
}

#[test]
fn stray_and_missing_tags() {
    assert_eq!(
        shown("<esi:when test=\"1==2\">kept</esi:when></esi:otherwise></esi:choose>x").0,
        [
            Token::Event(Event::Invalid("esi:when outside esi:choose".into())),
            t("keptx")
        ]
    );
    assert_eq!(
        shown("<esi:choose><esi:when test=\"1==1\"><esi:vars>a</esi:choose>b").0,
        [Token::VarsStart, t("a"), Token::VarsEnd, t("b")],
        "an end tag closes what was left open inside it"
    );
    assert_eq!(
        shown("<esi:vars>a").0,
        [Token::VarsStart, t("a"), Token::VarsEnd]
    );
    let (_, end, _) = shown("<esi:choose><esi:when test=\"1==1\">a</esi:when>");
    assert_eq!(end, Err(BranchError::UnclosedChoose));
    assert_eq!(
        BranchError::UnclosedChoose.to_string(),
        "the template ended inside <esi:choose> (no </esi:choose>)"
    );
}

#[test]
fn nesting_is_bounded() {
    let deep = "<esi:choose><esi:when test=\"1==1\">".repeat(MAX_NESTING / 2);
    let (tokens, _) = run_tokens(deep.as_bytes(), &[]);
    let mut b = Branches::new();
    let mut out = Vec::new();
    for token in tokens {
        assert_eq!(
            b.push(token, &mut out, &mut |_| true),
            Ok(()),
            "{MAX_NESTING} open is fine"
        );
    }
    let deeper = format!("{deep}<esi:vars>");
    let (tokens, _) = run_tokens(deeper.as_bytes(), &[]);
    let mut b = Branches::new();
    let mut out = Vec::new();
    let results: Vec<_> = tokens
        .into_iter()
        .map(|token| b.push(token, &mut out, &mut |_| true))
        .collect();
    assert_eq!(results.last(), Some(&Err(BranchError::TooDeep)));
}

#[test]
fn pick_is_the_same_rule() {
    let tests: Vec<_> = ["1==2", "1 ==", "$(HTTP_COOKIE{group})=='beta'", "1==1"]
        .iter()
        .map(|t| Expr::parse(t))
        .collect();
    assert_eq!(pick(&tests, true, &vars), Some(2));
    assert_eq!(pick(&tests[..2], true, &vars), Some(2), "the otherwise");
    assert_eq!(pick(&tests[..2], false, &vars), None);
    assert_eq!(pick(&[], true, &vars), Some(0));
    let mut choice = Choice::default();
    assert!(!choice.when(|| false));
    assert!(choice.when(|| true));
    assert!(!choice.when(|| panic!("never asked once chosen")));
    assert!(!choice.otherwise());
}

fn templates() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    use proptest::prelude::*;
    let piece = prop_oneof![
        Just("<esi:choose>"),
        Just("</esi:choose >"),
        Just("<esi:when test=\"$(HTTP_COOKIE{group})=='beta'\">"),
        Just("<esi:when test='1==2'>"),
        Just("<esi:when test='(1'/>"),
        Just("</esi:when>"),
        Just("<esi:otherwise\n>"),
        Just("</esi:otherwise>"),
        Just("<esi:vars>$(HTTP_HOST|'h')"),
        Just("</esi:vars>"),
        Just("<esi:include src=/f/>"),
        Just("<esi:remove>x</esi:remove>"),
        Just("text <b>"),
        Just("<esi:"),
        Just(">"),
    ];
    proptest::collection::vec(piece, 0..24).prop_map(|v| v.concat().into_bytes())
}

/// Tokenizer and branches together, in pieces: the page is the same however the template
/// is split, and what comes out is only events and vars marks.
fn page_in_pieces(input: &[u8], cuts: &[usize]) -> (Vec<Token>, Result<(), String>) {
    let mut tokenizer = Tokenizer::new();
    let mut branches = Branches::new();
    let mut tokens = Vec::new();
    let mut out = Vec::new();
    let mut test = |t: &str| evaluate(t, &vars).unwrap_or(false);
    let mut from = 0;
    let mut result: Result<(), String> = Ok(());
    let mut feed =
        |tokens: &mut Vec<Token>, out: &mut Vec<Token>, result: &mut Result<(), String>| {
            for token in tokens.drain(..) {
                if result.is_ok() {
                    *result = branches
                        .push(token, out, &mut test)
                        .map_err(|e| e.to_string());
                }
            }
        };
    for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
        let pushed = tokenizer.push_tokens(&input[from..cut], &mut tokens);
        result = result.and(pushed.map_err(|e: Unclosed| e.to_string()));
        feed(&mut tokens, &mut out, &mut result);
        from = cut;
    }
    result = result.and(
        tokenizer
            .finish_tokens(&mut tokens)
            .map_err(|e| e.to_string()),
    );
    feed(&mut tokens, &mut out, &mut result);
    if result.is_ok() {
        result = branches.finish(&mut out).map_err(|e| e.to_string());
    }
    (merged(out), result)
}

proptest::proptest! {
    #[test]
    fn a_page_is_split_invariant(input in templates(), cuts in proptest::collection::vec(0usize..2048, 0..10)) {
        let whole = page_in_pieces(&input, &[]);
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (input.len() + 1)).collect();
        cuts.sort_unstable();
        proptest::prop_assert_eq!(page_in_pieces(&input, &cuts), whole.clone());
        let ones: Vec<usize> = (1..input.len()).collect();
        proptest::prop_assert_eq!(page_in_pieces(&input, &ones), whole.clone());
        for token in &whole.0 {
            proptest::prop_assert!(matches!(token, Token::Event(_) | Token::VarsStart | Token::VarsEnd));
        }
    }
}
