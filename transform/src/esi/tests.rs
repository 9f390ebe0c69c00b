//! The tokenizer's behaviour, split invariance, hold-back bound and linear work.

use bytes::Bytes;

use super::*;
use crate::fuzzing::esi::{self, adversarial_shapes, merged, MAX_STEPS_PER_BYTE};

fn run_checked(input: &[u8]) -> (Vec<Event>, Result<(), Unclosed>) {
    esi::run(input, &[])
}

/// The events of a template that ends with every construct closed.
fn run(input: &[u8]) -> Vec<Event> {
    let (events, end) = run_checked(input);
    assert_eq!(end, Ok(()), "{}", String::from_utf8_lossy(input));
    events
}

fn t(s: &str) -> Event {
    Event::Text(Bytes::copy_from_slice(s.as_bytes()))
}

fn inc(src: &str) -> Event {
    Event::Include(Include {
        src: src.into(),
        alt: None,
        continue_on_error: false,
        timeout_ms: None,
        ttl: None,
    })
}

#[test]
fn includes_between_text() {
    assert_eq!(
        run(br#"<p>a</p><esi:include src="/f?a=1&amp;b=2"/><p>b</p>"#),
        [t("<p>a</p>"), inc("/f?a=1&b=2"), t("<p>b</p>")]
    );
    assert_eq!(
        run(b"<esi:include src='/x' alt=/y onerror=\"continue\"></esi:include>!"),
        [
            Event::Include(Include {
                src: "/x".into(),
                alt: Some("/y".into()),
                continue_on_error: true,
                timeout_ms: None,
                ttl: None,
            }),
            t("!")
        ]
    );
    assert_eq!(
        run(b"<esi:include src=\"a>b\"/>"),
        [inc("a>b")],
        "a > inside quotes does not end the tag"
    );
}

#[test]
fn an_include_timeout_is_read_in_milliseconds_digits_only() {
    let timeout = |tag: &str| match run(tag.as_bytes()).as_slice() {
        [Event::Include(i)] => i.timeout_ms,
        other => panic!("{other:?}"),
    };
    assert_eq!(timeout("<esi:include src=/f timeout=\"250\"/>"), Some(250));
    assert_eq!(timeout("<esi:include src=/f timeout=' 40 '/>"), Some(40));
    for ignored in ["-1", "+5", "1e3", "", "x", "99999999999999999999999"] {
        assert_eq!(
            timeout(&format!("<esi:include src=/f timeout=\"{ignored}\"/>")),
            None,
            "{ignored}"
        );
    }
    assert_eq!(timeout("<esi:include src=/f/>"), None);
}

#[test]
fn an_include_ttl_is_read_in_akamais_forms() {
    let ttl = |tag: &str| match run(tag.as_bytes()).as_slice() {
        [Event::Include(i)] => i.ttl.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        ttl("<esi:include src=/f ttl=\"5m\"/>"),
        Some(Ttl::Seconds(300))
    );
    assert_eq!(
        ttl("<esi:include src=/f TTL=' 2h '/>"),
        Some(Ttl::Seconds(7200))
    );
    assert_eq!(ttl("<esi:include src=/f ttl=0/>"), Some(Ttl::Seconds(0)));
    // The first value counts, as for every attribute; entities are decoded first.
    assert_eq!(
        ttl("<esi:include ttl=&#39;1d&#39; src=/f ttl=9/>"),
        Some(Ttl::Unreadable("'1d'".into()))
    );
    assert_eq!(
        ttl("<esi:include src=/f ttl=\"1.5h\"/>"),
        Some(Ttl::Unreadable("1.5h".into()))
    );
    assert_eq!(
        ttl("<esi:include src=/f ttl/>"),
        Some(Ttl::Unreadable("".into()))
    );
    assert_eq!(ttl("<esi:include src=/f/>"), None);
}

#[test]
fn remove_comment_and_esi_comments() {
    assert_eq!(
        run(b"a<esi:remove><esi:include src=/no/>gone</esi:remove>b"),
        [t("ab")]
    );
    assert_eq!(run(b"a<esi:comment text=\"x\"/>b"), [t("ab")]);
    assert_eq!(
        run(b"a<!--esi <b>x</b><esi:include src=/f/> -->c"),
        [t("a <b>x</b>"), inc("/f"), t(" c")]
    );
    assert_eq!(
        run(b"<!-- plain --> <!--esi-->"),
        [t("<!-- plain --> ")],
        "an HTML comment is text; an empty esi comment is nothing"
    );
    assert_eq!(
        run(b"<!--esi a - b -- c --->d"),
        [t(" a - b -- c -d")],
        "dashes inside an esi comment are text up to the first -->"
    );
}

/// What a tag in one chunk, read where it is, and an esi comment's end found by its `>` make,
/// cut in two at every byte: the same as read a byte at a time, and as it should be.
#[test]
fn the_quick_paths_read_as_the_byte_at_a_time_one() {
    let cases: [(&[u8], Vec<Event>); 4] = [
        (b"<!--esi x-- -><-->y--", vec![t(" x-- -><y--")]),
        (
            b"<<esi:include src=/a/><</esi:remove>x<!--esi<<!--esi-->",
            vec![t("<"), inc("/a"), t("<x<<!--esi")],
        ),
        (
            "<esi:include SRC='/b' src=/c alt=\"&lt;x\" onerror=continue\u{a0}timeout=5/>"
                .as_bytes(),
            vec![Event::Include(Include {
                src: "/b".into(),
                alt: Some("<x".into()),
                continue_on_error: true,
                timeout_ms: Some(5),
                ttl: None,
            })],
        ),
        (b"<esi:include src=/\xff/><esi:\xffx>", {
            vec![inc("/\u{fffd}"), Event::Unsupported("\u{fffd}x".into())]
        }),
    ];
    for (input, expected) in cases {
        let shown = String::from_utf8_lossy(input);
        let (whole, end) = run_checked(input);
        assert_eq!(end, Ok(()), "{shown}");
        assert_eq!(merged(whole.clone()), expected, "{shown}");
        let bytes: Vec<usize> = (1..=input.len()).collect();
        assert_eq!(esi::run(input, &bytes), (whole.clone(), end), "{shown}");
        for cut in 1..input.len() {
            let (events, cut_end) = esi::run(input, &[cut, input.len()]);
            assert_eq!(
                (merged(events), cut_end),
                (expected.clone(), end),
                "{shown} cut at {cut}"
            );
        }
    }
}

#[test]
fn try_attempt_except() {
    assert_eq!(
        run(b"<esi:try><esi:attempt><esi:include src=/a/></esi:attempt><esi:except>x</esi:except></esi:try>"),
        [
            Event::TryStart,
            Event::AttemptStart,
            inc("/a"),
            Event::AttemptEnd,
            Event::ExceptStart,
            t("x"),
            Event::ExceptEnd,
            Event::TryEnd
        ]
    );
}

/// XML allows white space before the `>` of an end tag and around the `/` of an empty
/// element, and between attributes tabs and newlines as well as spaces.
#[test]
fn end_and_empty_element_tags_with_white_space() {
    for end in ["</esi:remove >", "</esi:remove\t>", "</esi:remove\r\n  >"] {
        let page = format!("a<esi:remove>gone</esi:remov</esi:remove\t/{end}b");
        assert_eq!(run(page.as_bytes()), [t("ab")], "{page:?}");
    }
    for empty in [
        "<esi:remove / >",
        "<esi:remove/ >",
        "<esi:remove\n/>",
        "<esi:remove\t/\t>",
    ] {
        let page = format!("a{empty}b");
        assert_eq!(run(page.as_bytes()), [t("ab")], "{page:?}");
    }
    assert_eq!(run(b"a<esi:include src=x / >b"), [t("a"), inc("x"), t("b")]);
    assert_eq!(
        run(b"<esi:include\tsrc=\"/a\"\n\talt='/b'\r\n/>"),
        [Event::Include(Include {
            src: "/a".into(),
            alt: Some("/b".into()),
            continue_on_error: false,
            timeout_ms: None,
            ttl: None,
        })]
    );
    assert_eq!(
        run(b"<esi:try ><esi:attempt\n>a</esi:attempt ></esi:try\t>"),
        [
            Event::TryStart,
            Event::AttemptStart,
            t("a"),
            Event::AttemptEnd,
            Event::TryEnd
        ]
    );
    assert_eq!(
        run(b"a<esi:choose>x</esi:choose\n>b"),
        [t("a"), Event::Unsupported("choose".into()), t("b")]
    );
    // Not an end tag: a name that goes on, or anything but white space before `>`.
    assert_eq!(
        run_checked(b"a<esi:remove>x</esi:removed></esi:remove x>b"),
        (vec![t("a")], Err(Unclosed::Element("remove")))
    );
}

/// A construct still open at the end is reported, never silently dropped; only the
/// beginning of an opener (`<es`) is text.
#[test]
fn constructs_open_at_the_end_are_reported() {
    assert_eq!(
        run_checked(b"a<esi:remove>b"),
        (vec![t("a")], Err(Unclosed::Element("remove")))
    );
    assert_eq!(
        run_checked(b"a<esi:choose><esi:when test=1>b"),
        (
            vec![t("a"), Event::Unsupported("choose".into())],
            Err(Unclosed::Element("choose"))
        )
    );
    assert_eq!(
        run_checked(b"a<esi:inline name=x>b</esi:inline").1,
        Err(Unclosed::Element("inline"))
    );
    assert_eq!(
        run_checked(b"a<esi:include src=\"/x"),
        (vec![t("a")], Err(Unclosed::Tag))
    );
    assert_eq!(run_checked(b"a</esi:remove").1, Err(Unclosed::Tag));
    assert_eq!(
        run_checked(b"a<!--esi b --"),
        (vec![t("a b --")], Err(Unclosed::EsiComment))
    );
    assert_eq!(run(b"a<es"), [t("a<es")]);
    assert_eq!(run(b"a</esi"), [t("a</esi")]);
    assert_eq!(run(b"a<!--es"), [t("a<!--es")]);
    assert_eq!(
        Unclosed::Element("remove").to_string(),
        "the template ended inside <esi:remove> (no </esi:remove>)"
    );
}

#[test]
fn unsupported_tags_go_as_documented() {
    assert_eq!(
        run(b"a<esi:choose><esi:when test=\"1\">w</esi:when></esi:choose>b"),
        [t("a"), Event::Unsupported("choose".into()), t("b")]
    );
    assert_eq!(
        run(b"<esi:vars>$(HTTP_HOST)</esi:vars>"),
        [t("$(HTTP_HOST)")]
    );
    assert_eq!(
        run(b"a<esi:eval src=/x/>b"),
        [t("a"), Event::Unsupported("eval".into()), t("b")]
    );
    assert_eq!(
        run(b"<esi:include alt=/x/>"),
        [Event::Invalid("esi:include without src".into())]
    );
}

#[test]
fn what_is_not_esi_passes_byte_for_byte() {
    let page = b"<script>if (a < b && c<d) { x = '<esi'; }</script>\xff\xfe<esx:include src=/x/>< /esi:remove><<!--e<<esi <!-- -->";
    assert_eq!(run(page), [Event::Text(Bytes::copy_from_slice(page))]);
}

/// A tag that reaches `MAX_TAG` bytes without its `>` breaks the template: what came
/// before it is emitted, nothing of it or after it is, and every later call says so.
#[test]
fn an_overlong_tag_breaks_the_template() {
    for tag in [
        "<esi:include src=\"/f/x?pad=",
        "<esi:comment text=\"",
        "</esi:remove",
        "<esi:include src=\"a>",
    ] {
        let mut page = b"before<esi:include src=/f/>".to_vec();
        page.extend_from_slice(tag.as_bytes());
        page.resize(page.len() + MAX_TAG, b'a');
        page.extend_from_slice(b"\"/>after<esi:include src=/after/>");
        assert_eq!(
            run_checked(&page),
            (vec![t("before"), inc("/f")], Err(Unclosed::TagTooLong)),
            "{tag}"
        );
    }

    // The error comes as the tag reaches MAX_TAG, not at the end; the held bytes are
    // let go, and nothing more is read or emitted.
    let mut t = Tokenizer::new();
    let mut events = Vec::new();
    assert_eq!(t.push(b"a<esi:comment text='", &mut events), Ok(()));
    assert_eq!(t.push(&[b'x'; MAX_TAG - 20], &mut events), Ok(()));
    assert_eq!(t.held(), MAX_TAG - 1);
    assert_eq!(t.push(b"x'/>b", &mut events), Err(Unclosed::TagTooLong));
    assert_eq!(t.held(), 0);
    let steps = t.steps();
    assert_eq!(
        t.push(b"c<esi:include src=/x/>", &mut events),
        Err(Unclosed::TagTooLong)
    );
    assert_eq!(t.steps(), steps, "a broken template is not read on");
    assert_eq!(t.finish(&mut events), Err(Unclosed::TagTooLong));
    assert_eq!(merged(events), [self::t("a")]);
    assert_eq!(
        Unclosed::TagTooLong.to_string(),
        "an esi: tag ran past 16384 bytes without its >"
    );

    // The longest tag there is: MAX_TAG bytes, `>` included.
    let mut page = b"<esi:include src=/x ".to_vec();
    page.resize(MAX_TAG - 1, b' ');
    page.push(b'>');
    assert_eq!(run(&page), [inc("/x")]);
}

/// What is held is only the candidate; every byte before it is emitted at once.
#[test]
fn hold_back_is_bounded_by_an_unfinished_tag() {
    let mut t = Tokenizer::new();
    let mut events = Vec::new();
    assert_eq!(t.push(b"abc<es", &mut events), Ok(()));
    assert_eq!(
        (t.held(), merged(events.clone())),
        (3, vec![self::t("abc")])
    );
    assert_eq!(t.push(b"i:include src=/", &mut events), Ok(()));
    assert_eq!(t.held(), 18);
    assert_eq!(
        t.push(&vec![b'x'; 3 * MAX_TAG], &mut events),
        Err(Unclosed::TagTooLong)
    );
    assert_eq!(t.held(), 0);
    let mut t = Tokenizer::new();
    assert_eq!(t.push(b"a<esi:remove>", &mut events), Ok(()));
    assert_eq!(t.push(&vec![b'x'; 3 * MAX_TAG], &mut events), Ok(()));
    assert_eq!(t.push(b"</esi:remove", &mut events), Ok(()));
    assert_eq!(t.held(), 0, "dropped content is never held");
}

/// The work is linear: on every adversarial shape, in one piece, in 1 KiB reads and a byte
/// at a time, a few steps per byte at most, at 1 MiB as at 2 MiB, in both readings.
#[test]
fn tokenizing_is_linear_in_adversarial_shapes() {
    for (name, shape) in adversarial_shapes() {
        for (len, read) in [
            (1 << 20, 1 << 20),
            (1 << 20, 1024),
            (2 << 20, 2 << 20),
            (2 << 20, 1024),
            (64 << 10, 1),
        ] {
            let input = shape(len);
            for language in [false, true] {
                let mut t = Tokenizer::new();
                let mut events = Vec::new();
                let mut tokens = Vec::new();
                for chunk in input.chunks(read) {
                    let _ = match language {
                        false => t.push(chunk, &mut events),
                        true => t.push_tokens(chunk, &mut tokens),
                    };
                    events.clear();
                    tokens.clear();
                    assert!(t.held() < MAX_TAG);
                }
                let _ = t.finish(&mut events);
                let steps = t.steps();
                assert!(
                    steps <= MAX_STEPS_PER_BYTE * input.len() as u64,
                    "{name}, {len} bytes in reads of {read}, language {language}: {steps} steps, {} a byte",
                    steps / input.len() as u64
                );
            }
        }
    }
}

fn tok(input: &[u8]) -> Vec<Token> {
    let (tokens, end) = esi::run_tokens(input, &[]);
    assert_eq!(end, Ok(()), "{}", String::from_utf8_lossy(input));
    tokens
}

fn tt(s: &str) -> Token {
    Token::Event(t(s))
}

fn when(test: &str) -> Token {
    Token::WhenStart { test: test.into() }
}

/// In the whole language, choose, when, otherwise and vars are tokens, nested as written;
/// white space and empty-element forms are read as for every other tag.
#[test]
fn choose_when_otherwise_and_vars_are_tokens() {
    use Token::*;
    assert_eq!(
        tok(b"a<esi:choose><esi:when test=\"$(HTTP_COOKIE{g})=='1' &amp; !(2&lt;1)\">w</esi:when><esi:otherwise>o</esi:otherwise></esi:choose>b"),
        [
            tt("a"),
            ChooseStart,
            when("$(HTTP_COOKIE{g})=='1' & !(2<1)"),
            tt("w"),
            WhenEnd,
            OtherwiseStart,
            tt("o"),
            OtherwiseEnd,
            ChooseEnd,
            tt("b")
        ]
    );
    assert_eq!(
        tok(b"<esi:choose\n><esi:when\ttest='a>b' / ><esi:when test=1><esi:choose ><esi:otherwise/></esi:choose\r\n></esi:when ></esi:choose >"),
        [
            ChooseStart,
            when("a>b"),
            WhenEnd,
            when("1"),
            ChooseStart,
            OtherwiseStart,
            OtherwiseEnd,
            ChooseEnd,
            WhenEnd,
            ChooseEnd
        ],
        "nested, white space, empty elements"
    );
    assert_eq!(
        tok(b"<esi:when>x</esi:when>"),
        [when(""), tt("x"), WhenEnd],
        "a when without test is an empty test, which no expression parses as"
    );
    assert_eq!(
        tok(b"<esi:vars>$(HTTP_HOST)</esi:vars ><esi:vars/><esi:choose/>"),
        [VarsStart, tt("$(HTTP_HOST)"), VarsEnd],
        "an empty vars or choose is nothing"
    );
    assert_eq!(
        tok(b"<esi:include src=/a/><esi:remove>x</esi:remove><esi:inline>y</esi:inline>"),
        [
            Event(inc("/a")),
            Event(super::Event::Unsupported("inline".into()))
        ],
        "the other tags as before"
    );
    assert_eq!(
        esi::run_tokens(b"<esi:when test='x", &[]),
        (vec![], Err(Unclosed::Tag))
    );
}

fn pieces() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    use proptest::prelude::*;
    let piece = prop_oneof![
        Just(b"<esi:include src=\"/f?a=1&amp;b=2\" alt='/g' onerror=\"continue\"/>".to_vec()),
        Just(b"<esi:include src=/h></esi:include>".to_vec()),
        Just(b"<esi:remove>gone <b>x</b></esi:remove>".to_vec()),
        Just(b"<esi:remove>gone</esi:remov </esi:remove\r\n >".to_vec()),
        Just(b"<esi:remove / >".to_vec()),
        Just(b"<esi:include src=x / >".to_vec()),
        Just(b"<esi:include\tsrc='/t'\n/>".to_vec()),
        Just(b"</esi:remove >".to_vec()),
        Just(b"<!--esi in <esi:include src=/c/> -->".to_vec()),
        Just(b"<!--esi".to_vec()),
        Just(b"-->".to_vec()),
        Just(b"<esi:comment text=\"c\"/>".to_vec()),
        Just(b"<esi:try><esi:attempt>a</esi:attempt><esi:except>e</esi:except></esi:try>".to_vec()),
        Just(b"<esi:choose><esi:when test=1>w</esi:when></esi:choose>".to_vec()),
        Just(
            b"<esi:choose >\n<esi:when test=\"$(HTTP_COOKIE{a})=='b' &amp; (1 < 2)\">w</esi:when\t>"
                .to_vec()
        ),
        Just(b"<esi:when test='x>1'/><esi:otherwise\n>o</esi:otherwise ></esi:choose\r\n>".to_vec()),
        Just(b"<esi:choose><esi:choose/><esi:when/></esi:choose>".to_vec()),
        Just(b"<esi:vars>$(HTTP_HOST)<a href=\"/$(QUERY_STRING{q})\"></esi:vars >".to_vec()),
        Just(b"<esi:vars / ></esi:otherwise>".to_vec()),
        Just(b"<script>if (a<b) x='<esi';</script>".to_vec()),
        Just(b"<!-- c --> - -- --> <".to_vec()),
        Just(b"<esi:include src=\"unterminated".to_vec()),
        Just(long_comment(MAX_TAG)),
        Just(long_comment(MAX_TAG + 1)),
        Just(b"<esi:".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"'".to_vec()),
        Just(b">".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..40),
    ];
    proptest::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

/// `<esi:comment text="…"/>` of `len` bytes.
fn long_comment(len: usize) -> Vec<u8> {
    let mut tag = b"<esi:comment text=\"".to_vec();
    tag.resize(len - 3, b'a');
    tag.extend_from_slice(b"\"/>");
    tag
}

/// The events and the end of `input` read in pieces of `read` bytes.
fn run_in_reads(input: &[u8], read: usize) -> (Vec<Event>, Result<(), Unclosed>) {
    let cuts: Vec<usize> = (read..input.len()).step_by(read).collect();
    esi::run(input, &cuts)
}

/// The tokens of `input` read in pieces of `read` bytes, in the whole language.
fn tokens_in_reads(input: &[u8], read: usize) -> (Vec<Token>, Result<(), Unclosed>) {
    let cuts: Vec<usize> = (read..input.len()).step_by(read).collect();
    esi::run_tokens(input, &cuts)
}

proptest::proptest! {
    /// The whole language is split invariant too, and reads a template without its four
    /// elements exactly as the tokenizer always has.
    #[test]
    fn split_invariance_of_tokens(input in pieces(), cuts in proptest::collection::vec(0usize..4096, 0..12)) {
        let whole = esi::run_tokens(&input, &[]);
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (input.len() + 1)).collect();
        cuts.sort_unstable();
        proptest::prop_assert_eq!(esi::run_tokens(&input, &cuts), whole.clone());
        proptest::prop_assert_eq!(tokens_in_reads(&input, 1), whole.clone());
        let plain = ["choose", "when", "otherwise", "vars"]
            .iter()
            .all(|e| !input.windows(e.len()).any(|w| w == e.as_bytes()));
        if plain {
            let (events, end) = run_checked(&input);
            proptest::prop_assert_eq!((events.into_iter().map(Token::Event).collect::<Vec<_>>(), end), whole);
        }
    }

    /// The events, and whether a construct was left open, are the same for any way the
    /// input is split, 1-byte chunks included.
    #[test]
    fn split_invariance(input in pieces(), cuts in proptest::collection::vec(0usize..4096, 0..12)) {
        let whole = run_checked(&input);
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (input.len() + 1)).collect();
        cuts.sort_unstable();
        proptest::prop_assert_eq!(esi::run(&input, &cuts), whole.clone());
        proptest::prop_assert_eq!(run_in_reads(&input, 1), whole);
    }

    /// The same over a template of about 200 KiB read in pieces of any size from one
    /// byte to 64 KiB, as a body's reads come.
    #[test]
    fn split_invariance_at_every_read_size(
        parts in proptest::collection::vec(pieces(), 1..6),
        filler in 1usize..40_000,
        read in 1usize..=65_536,
    ) {
        let text = b"<p>Template text around the fragments.</p>\n".repeat(filler / 40 + 1);
        let input: Vec<u8> = parts
            .iter()
            .flat_map(|p| text.iter().chain(p.iter()).copied())
            .collect();
        proptest::prop_assert_eq!(run_in_reads(&input, read), run_checked(&input));
    }

    /// A tag of up to `MAX_TAG` bytes is a tag; one byte more breaks the template, with
    /// what came before it emitted and nothing after, however it is read.
    #[test]
    fn a_tag_past_max_tag_breaks_the_template(
        before in proptest::collection::vec(proptest::sample::select(b"ab >-\"'/".to_vec()), 1..64),
        len in MAX_TAG - 40..MAX_TAG + 40,
        read in 1usize..=20_000,
    ) {
        let mut page = before.clone();
        let mut tag = b"<esi:include src=\"/x\" pad=\"".to_vec();
        tag.resize(len - 3, b'>');
        tag.extend_from_slice(b"\"/>");
        page.extend_from_slice(&tag);
        page.extend_from_slice(b"after");
        let expected = if len <= MAX_TAG {
            (vec![Event::Text(Bytes::from(before)), inc("/x"), t("after")], Ok(()))
        } else {
            (vec![Event::Text(Bytes::from(before))], Err(Unclosed::TagTooLong))
        };
        proptest::prop_assert_eq!(run_in_reads(&page, read), expected);
    }

    /// Text that holds no `<esi:`, `</esi:` or `<!--esi` passes whole, byte for byte.
    #[test]
    fn text_without_esi_is_untouched(input in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
        let esi_free = !input.windows(5).any(|w| w == b"<esi:" )
            && !input.windows(6).any(|w| w == b"</esi:")
            && !input.windows(7).any(|w| w == b"<!--esi");
        proptest::prop_assume!(esi_free);
        let (events, end) = run_checked(&input);
        proptest::prop_assert_eq!(end, Ok(()));
        if input.is_empty() {
            proptest::prop_assert!(events.is_empty());
        } else {
            proptest::prop_assert_eq!(events, vec![Event::Text(Bytes::from(input))]);
        }
    }
}

/// The end of a tag found eight bytes at a time is the first `>`, `"` or `'`, wherever it
/// lies, among the bytes closest to them (a borrow in the word test flags only bytes above
/// a match) and bytes other than ASCII.
#[test]
fn a_tags_end_is_found_as_a_search_finds_it() {
    let fillers = [
        b'a', b'=', b'?', b'!', b'#', b'&', b'(', b'<', 0xbe, 0xa2, 0xa7, 0x00, 0xff,
    ];
    for len in 0..40 {
        for filler in fillers {
            for at in 0..=len {
                for stop in [b'>', b'"', b'\''] {
                    let mut rest = vec![filler; len];
                    if at < len {
                        rest[at] = stop;
                    }
                    // A second stop after the first never changes the answer.
                    if at + 3 < len {
                        rest[at + 3] = b'>';
                    }
                    let expected = rest.iter().position(|b| matches!(b, b'>' | b'"' | b'\''));
                    assert_eq!(
                        super::tokenizer::tag_end_or_quote(&rest),
                        expected,
                        "{rest:?}"
                    );
                }
            }
        }
    }
}
