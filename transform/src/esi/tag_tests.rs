//! The quick reading of an include against the general one, and a tag's bytes against its
//! text.

use super::*;

/// The tokens and mode of `tag` read by [`parse_tag`], and read the general way only.
fn both(tag: &[u8], language: bool) -> [(Vec<Token>, Option<Mode>); 2] {
    let mut quick = Vec::new();
    let quick_mode = parse_tag(tag, language, &mut |t| quick.push(t));
    let (closing, self_closing, inner) = parts(tag);
    let mut general = Vec::new();
    let general_mode = read_tag(closing, self_closing, inner, language, &mut |t| {
        general.push(t)
    });
    [(quick, quick_mode), (general, general_mode)]
}

/// The usual forms are read the quick way (so that the property below tests it): as they
/// are when plain, decoded in place when not; the unusual ones are left to the general
/// reading.
#[test]
fn the_usual_includes_are_read_the_quick_way() {
    let plain: [&[u8]; 8] = [
        b"<esi:include src=/x/>",
        b"<esi:include src=/x>",
        b"<esi:include src=\"/a b\"/>",
        b"<esi:include src='/a\"b' \t/>",
        b"<esi:include src=\"/f?a=1\" alt='/g' onerror=\"continue\"/>",
        b"<esi:include src=\"/a\"\xc2\xa0alt=/b>",
        b"<esi:include src=\"/a\" alt=\"\xff\"/>",
        b"<esi:include src='/a' src='/b'>",
    ];
    let decoded: [&[u8]; 8] = [
        b"<esi:include src=/a\xc2\xa0alt=/b>",
        b"<esi:include src=/a&amp;b/>",
        b"<esi:include src=/a&b/>",
        b"<esi:include src=\"/\xc3\xa9\"/>",
        b"<esi:include src=\"\xff\"/>",
        b"<esi:include src=/a\xc3\xa9/>",
        b"<esi:include src=/a\xff\xc2\x85alt=/b/>",
        b"<esi:include src=\" /a\"/>",
    ];
    for (t, is_plain) in plain
        .iter()
        .map(|t| (t, true))
        .chain(decoded.iter().map(|t| (t, false)))
    {
        let (_, _, inner) = parts(t);
        let rest = inner.strip_prefix(b"include src=").unwrap_or_default();
        assert_eq!(
            plain_src(rest).is_some(),
            is_plain,
            "{}",
            String::from_utf8_lossy(t)
        );
        assert!(usual_src(inner).is_some(), "{}", String::from_utf8_lossy(t));
        let [quick, general] = both(t, false);
        assert_eq!(quick, general, "{}", String::from_utf8_lossy(t));
    }
    let general: [&[u8]; 7] = [
        b"<esi:include src=\"\"/>",
        b"<esi:include src=\"\xc2\x85\"/>",
        b"<esi:include src= /a/>",
        b"<esi:include SRC=/a/>",
        b"<esi:include  src=/a/>",
        b"<esi:include src=\"/a/>",
        b"<esi:include alt=/b src=/a/>",
    ];
    for t in general {
        let (_, _, inner) = parts(t);
        assert!(usual_src(inner).is_none(), "{}", String::from_utf8_lossy(t));
    }
}

/// What an include's attributes are made of: the bytes that end or begin a value, white
/// space of each kind (XML's, Unicode's other, ASCII that is not), characters other than
/// ASCII and bytes that are not UTF-8, references and attributes.
const PIECES: &[&[u8]] = &[
    b"/a",
    b"b",
    b"\"",
    b"'",
    b"=",
    b"/",
    b">",
    b"&",
    b"&amp;",
    b"&lt;",
    b" ",
    b"\t",
    b"\n",
    b"\x0b",
    b"\x0c",
    b"\x1c",
    b"\xc2\xa0",
    b"\xc2\x85",
    b"\xc3\xa9",
    b"\xc2",
    b"\xff",
    b"\x80",
    b"\xe0\x80",
    b"\xed\xa0\x80",
    b"\xf0\x90\x80",
    b"\xf4\x90",
    b"\xe2\x80\x85",
    b"\xe3\x80\x80",
    b"\xf0\x9f\x98\x80",
    b"&#39;",
    b"&quot",
    b" src=",
    b" alt=",
    b" onerror=continue",
    b" timeout=5",
    b" ttl=1m",
    b" ttl=x",
];

fn include_tags() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    use proptest::prelude::*;
    let start = prop_oneof![
        Just("<esi:include src="),
        Just("<esi:include src=\""),
        Just("<esi:include src='"),
        Just("<esi:include src=\"/"),
        Just("<esi:include src=/"),
        Just("<esi:include src= "),
        Just("<esi:include SRC="),
        Just("<esi:include\tsrc="),
        Just("<esi:includes src="),
        Just("</esi:include src="),
        Just("<esi:include"),
    ];
    let piece = proptest::sample::select(PIECES);
    let end = prop_oneof![Just(">"), Just("/>"), Just(" />"), Just("/ >"), Just(" >")];
    (start, proptest::collection::vec(piece, 0..10), end).prop_map(|(start, pieces, end)| {
        let mut t = start.as_bytes().to_vec();
        pieces.iter().for_each(|p| t.extend_from_slice(p));
        t.extend_from_slice(end.as_bytes());
        t
    })
}

proptest::proptest! {
    /// Whatever the tag, read with the quick reading of includes it makes the tokens and mode
    /// it makes read the general way, in both readings.
    #[test]
    fn the_quick_include_reads_as_the_general_reading(t in include_tags()) {
        for language in [false, true] {
            let [quick, general] = both(&t, language);
            proptest::prop_assert_eq!(quick, general, "{}", String::from_utf8_lossy(&t));
        }
    }
}

/// Any `esi:` tag: the names the tokenizer knows and others, some not UTF-8, and the
/// pieces of attributes above.
fn any_tags() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    use proptest::prelude::*;
    let start = prop_oneof![Just("<esi:"), Just("</esi:")];
    let name = proptest::sample::select(vec![
        &b"include"[..],
        b"x",
        b"\xff",
        b"x\xc2",
        b"\xe2\x82",
        b"\xc3\xa9",
        b"when",
        b"choose",
        b"try",
        b"remove",
        b"vars",
    ]);
    let piece = proptest::sample::select(PIECES);
    let end = prop_oneof![Just(">"), Just("/>"), Just(" />")];
    (start, name, proptest::collection::vec(piece, 0..10), end).prop_map(
        |(start, name, pieces, end)| {
            let mut t = start.as_bytes().to_vec();
            t.extend_from_slice(name);
            pieces.iter().for_each(|p| t.extend_from_slice(p));
            t.extend_from_slice(end.as_bytes());
            t
        },
    )
}

proptest::proptest! {
    /// A tag's bytes read where they are make what its text (U+FFFD for each sequence that
    /// is not UTF-8) makes: the bytes are made text only where a token keeps them, and so
    /// never copied whole first, and the reading is the one of the text, as it always was.
    #[test]
    fn a_tag_reads_as_its_text(t in proptest::prop_oneof![include_tags(), any_tags()]) {
        let text = String::from_utf8_lossy(&t);
        for language in [false, true] {
            let [quick, general] = both(&t, language);
            let [of_text, _] = both(text.as_bytes(), language);
            proptest::prop_assert_eq!(&quick, &of_text, "{}", text);
            proptest::prop_assert_eq!(&general, &of_text, "{}", text);
        }
    }
}

proptest::proptest! {
    /// One pass decodes as replacing each entity in turn did (the earlier definition).
    #[test]
    fn entities_decode_in_one_pass_as_in_turn(
        parts in proptest::collection::vec(
            proptest::sample::select(vec![
                "&", "lt;", "gt;", "quot;", "#39;", "apos;", "amp;", "a", ";", "<", "é", "&&",
            ]),
            0..24,
        )
    ) {
        let text = parts.concat();
        let in_turn = text
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&apos;", "'")
            .replace("&amp;", "&");
        proptest::prop_assert_eq!(decode(text.as_bytes()), in_turn);
    }
}

/// A character read where it begins is the one `String::from_utf8_lossy` reads there, and a
/// sequence it replaces is as long: every lead byte, followed by every byte that matters to
/// it (the edges of each range Table 3-7 gives, and ASCII), in every length.
#[test]
fn a_character_reads_as_lossy_text_reads_it() {
    let follow = [
        0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xe0, 0xf0, 0xff,
    ];
    let mut checked = 0;
    for lead in 0x80..=0xffu8 {
        for a in follow {
            for b in follow {
                for c in follow {
                    let bytes = [lead, a, b, c];
                    for len in 1..=4 {
                        let window = &bytes[..len];
                        let chunk = window.utf8_chunks().next();
                        let expected = match chunk.as_ref().and_then(|k| k.valid().chars().next()) {
                            Some(ch) => (ch, ch.len_utf8()),
                            None => (
                                char::REPLACEMENT_CHARACTER,
                                chunk.map_or(1, |k| k.invalid().len()),
                            ),
                        };
                        assert_eq!(char_at(window, 0), expected, "{window:x?}");
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked > 100_000);
}
