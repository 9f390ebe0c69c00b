//! The replace stage: its match semantics, its configuration errors, and the stage
//! contract (split invariance, bounded hold-back, flush transparency, byte-exact bytes).

use aho_corasick::{AhoCorasick, MatchKind};
use bytes::Bytes;
use firstbyte_transform::fuzzing::replace::{check, reference};
use firstbyte_transform::replace::{Replace, ReplaceOptions};
use firstbyte_transform::testing::{concat, every_byte, pieces, run};
use firstbyte_transform::{Sink, Transform};
use proptest::prelude::*;

const PLAIN: ReplaceOptions = ReplaceOptions {
    case_insensitive: false,
    once: false,
};
const NOCASE: ReplaceOptions = ReplaceOptions {
    case_insensitive: true,
    once: false,
};
const ONCE: ReplaceOptions = ReplaceOptions {
    case_insensitive: false,
    once: true,
};

/// `(pattern, replacement)` pairs, as `Replace::new` takes them.
type Rules = Vec<(Vec<u8>, Vec<u8>)>;

fn rules(pairs: &[(&str, &str)]) -> Rules {
    pairs
        .iter()
        .map(|(p, r)| (p.as_bytes().to_vec(), r.as_bytes().to_vec()))
        .collect()
}

fn stage(pairs: &[(&str, &str)], options: ReplaceOptions) -> Replace {
    Replace::new(rules(pairs), options).unwrap()
}

/// Runs the input whole, one byte at a time (with and without flushes) and in two halves,
/// checks they agree and agree with the reference model, and returns the output.
fn replace(pairs: &[(&str, &str)], options: ReplaceOptions, input: &[u8]) -> Vec<u8> {
    let whole = run(&mut stage(pairs, options), input, &[], false).unwrap();
    for (cuts, flush_each) in [
        (every_byte(input), false),
        (every_byte(input), true),
        (vec![input.len() / 2], true),
    ] {
        let split = run(&mut stage(pairs, options), input, &cuts, flush_each).unwrap();
        assert_eq!(split, whole, "cuts {cuts:?}, flush {flush_each}");
    }
    assert_eq!(whole, reference(&rules(pairs), options, input));
    whole
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap()
}

#[test]
fn replaces_every_occurrence() {
    let out = replace(
        &[("http://origin", "https://edge")],
        PLAIN,
        b"<a href=\"http://origin/a\">http://origin</a> http://orig",
    );
    assert_eq!(
        text(out),
        "<a href=\"https://edge/a\">https://edge</a> http://orig"
    );
}

#[test]
fn several_patterns_in_one_pass() {
    let out = replace(
        &[("fox", "sloth"), ("brown", "grey"), ("quick", "slow")],
        PLAIN,
        b"The quick brown fox.",
    );
    assert_eq!(text(out), "The slow grey sloth.");
}

#[test]
fn overlapping_patterns_leftmost_then_longest() {
    let pairs = [("abc", "1"), ("bcd", "2"), ("ab", "3"), ("abcde", "4")];
    // Leftmost: `abc` starts before `bcd`; longest: `abc` rather than `ab`.
    assert_eq!(text(replace(&pairs, PLAIN, b"abcd")), "1d");
    assert_eq!(text(replace(&pairs, PLAIN, b"abcdef")), "4f");
    assert_eq!(text(replace(&pairs, PLAIN, b"abx")), "3x");
    assert_eq!(text(replace(&pairs, PLAIN, b"xbcd")), "x2");
    // A longer pattern starting later loses to a shorter one starting first.
    let pairs = [("bcde", "L"), ("ab", "S")];
    assert_eq!(text(replace(&pairs, PLAIN, b"abcde")), "Scde");
    // The result does not depend on the order of the rules.
    let pairs = [("foo", "1"), ("foobar", "2")];
    let swapped = [("foobar", "2"), ("foo", "1")];
    assert_eq!(text(replace(&pairs, PLAIN, b"foobar foob")), "2 1b");
    assert_eq!(text(replace(&swapped, PLAIN, b"foobar foob")), "2 1b");
}

#[test]
fn matches_do_not_overlap() {
    assert_eq!(text(replace(&[("aa", "X")], PLAIN, b"aaaaa")), "XXa");
    assert_eq!(text(replace(&[("aba", "X")], PLAIN, b"ababa")), "Xba");
}

#[test]
fn adjacent_matches() {
    assert_eq!(text(replace(&[("a", "X")], PLAIN, b"aaa")), "XXX");
    assert_eq!(text(replace(&[("ab", "X")], PLAIN, b"ababab")), "XXX");
    let pairs = [("ab", "1"), ("cd", "2")];
    assert_eq!(text(replace(&pairs, PLAIN, b"abcdab")), "121");
}

#[test]
fn match_across_a_chunk_boundary() {
    let input = b"xx<script>yy<script>";
    let pairs = [("<script>", "<noscript>")];
    let expected = "xx<noscript>yy<noscript>";
    for cut in 0..=input.len() {
        for flush_each in [false, true] {
            let out = run(&mut stage(&pairs, PLAIN), input, &[cut], flush_each).unwrap();
            assert_eq!(text(out), expected, "cut at {cut}");
        }
    }
    // Across three chunks: the pattern's middle is a chunk of its own.
    let out = run(&mut stage(&pairs, PLAIN), input, &[4, 7], true).unwrap();
    assert_eq!(text(out), expected);
}

#[test]
fn a_match_waits_for_a_longer_one_that_may_follow() {
    let mut s = stage(&[("ab", "S"), ("abcd", "L")], PLAIN);
    let mut out = Sink::new();
    s.push(Bytes::from_static(b"xab"), &mut out).unwrap();
    assert_eq!(concat(&out), b"x");
    assert_eq!(s.held(), 2);
    s.push(Bytes::from_static(b"c"), &mut out).unwrap();
    assert_eq!(s.held(), 3);
    s.push(Bytes::from_static(b"x"), &mut out).unwrap();
    assert_eq!(text(concat(&out)), "xScx");
    assert_eq!(s.held(), 0);
    s.push(Bytes::from_static(b"abc"), &mut out).unwrap();
    s.push(Bytes::from_static(b"d"), &mut out).unwrap();
    assert_eq!(text(concat(&out)), "xScxL");
}

#[test]
fn case_insensitive_is_ascii_only() {
    let pairs = [("Hello", "bye")];
    assert_eq!(
        text(replace(&pairs, NOCASE, b"hello HELLO hElLo help")),
        "bye bye bye help"
    );
    assert_eq!(
        text(replace(&pairs, PLAIN, b"hello HELLO Hello")),
        "hello HELLO bye"
    );
    // `é` (c3 a9) and `É` (c3 89) are not ASCII: they do not match each other.
    let pairs = [("caf\u{e9}", "tea")];
    assert_eq!(
        replace(&pairs, NOCASE, "CAF\u{e9} caf\u{c9}".as_bytes()),
        "tea caf\u{c9}".as_bytes()
    );
    // The replacement is inserted as given, not case-adjusted.
    assert_eq!(text(replace(&[("x", "Yz")], NOCASE, b"X")), "Yz");
}

#[test]
fn once_replaces_the_first_occurrence_of_each_pattern() {
    let pairs = [("a", "1"), ("b", "2")];
    assert_eq!(text(replace(&pairs, ONCE, b"xaxbxaxb")), "x1x2xaxb");
    let options = ReplaceOptions {
        case_insensitive: true,
        once: true,
    };
    assert_eq!(text(replace(&pairs, options, b"A a B b")), "1 a 2 b");
}

#[test]
fn once_a_used_pattern_passes_through_and_others_still_match_there() {
    let pairs = [("ab", "1"), ("bc", "2")];
    // The second `ab` passes; `bc` inside it still matches.
    assert_eq!(text(replace(&pairs, ONCE, b"ab abc abc")), "1 a2 abc");
    // A used longer pattern no longer wins over a shorter one.
    let pairs = [("abc", "L"), ("ab", "S")];
    assert_eq!(text(replace(&pairs, ONCE, b"abc abc abc")), "L Sc abc");
}

#[test]
fn once_passes_everything_once_every_pattern_is_used() {
    let mut s = stage(&[("ab", "X")], ONCE);
    assert_eq!(s.max_hold_back(), 1);
    let mut out = Sink::new();
    s.push(Bytes::from_static(b"zab"), &mut out).unwrap();
    s.push(Bytes::from_static(b"a"), &mut out).unwrap();
    assert_eq!(s.held(), 0, "nothing left to match");
    assert_eq!(s.max_hold_back(), 0);
    s.finish(&mut out).unwrap();
    assert_eq!(text(concat(&out)), "zXa");
}

#[test]
fn bytes_that_are_not_utf8_pass_through() {
    let input = b"\xff\xfe<b>\x80\xc3(\xed\xa0\x80<b>\xf0\x28\x8c";
    assert_eq!(
        replace(&[("<b>", "<strong>")], PLAIN, input),
        b"\xff\xfe<strong>\x80\xc3(\xed\xa0\x80<strong>\xf0\x28\x8c"
    );
    // Patterns and replacements are bytes too.
    let pairs = vec![(b"\xff\x00".to_vec(), b"\xc3".to_vec())];
    let out = run(
        &mut Replace::new(pairs, PLAIN).unwrap(),
        b"a\xff\x00\xff\x01\xff",
        &[2],
        true,
    )
    .unwrap();
    assert_eq!(out, b"a\xc3\xff\x01\xff");
    // Nothing to replace: the input comes out byte for byte.
    let input: Vec<u8> = (0..=255).collect();
    assert_eq!(replace(&[("zzz", "")], PLAIN, &input), input);
}

#[test]
fn replacement_is_not_rescanned() {
    assert_eq!(text(replace(&[("a", "aa")], PLAIN, b"aaa")), "aaaaaa");
    let pairs = [("ab", "b"), ("b", "ab")];
    assert_eq!(text(replace(&pairs, PLAIN, b"abb")), "bab");
    assert_eq!(text(replace(&[("x", "")], PLAIN, b"xxaxx")), "a");
}

#[test]
fn empty_input_and_empty_chunks() {
    assert!(replace(&[("a", "b")], PLAIN, b"").is_empty());
    let mut s = stage(&[("ab", "X")], PLAIN);
    let mut out = Sink::new();
    s.push(Bytes::new(), &mut out).unwrap();
    s.push(Bytes::from_static(b"a"), &mut out).unwrap();
    s.push(Bytes::new(), &mut out).unwrap();
    s.flush(&mut out).unwrap();
    s.push(Bytes::from_static(b"b"), &mut out).unwrap();
    s.finish(&mut out).unwrap();
    assert_eq!(concat(&out), b"X");
    assert!(out.iter().all(|b| !b.is_empty()), "no empty chunks emitted");
}

#[test]
fn configuration_errors() {
    let err = Replace::new(Vec::new(), PLAIN).err().unwrap();
    assert_eq!(err.stage, "replace");
    assert!(err.reason.contains("no rules"), "{}", err.reason);

    let err = Replace::new(rules(&[("a", "b"), ("", "c")]), PLAIN)
        .err()
        .unwrap();
    assert!(err.reason.contains("rule 1"), "{}", err.reason);
    assert!(err.reason.contains("empty"), "{}", err.reason);

    let err = Replace::new(rules(&[("a", "1"), ("b", "2"), ("a", "3")]), PLAIN)
        .err()
        .unwrap();
    assert!(err.reason.contains("rules 0 and 2"), "{}", err.reason);

    // Patterns that differ only in ASCII case are duplicates only when case is ignored.
    let pairs = rules(&[("Abc", "1"), ("aBC", "2")]);
    assert!(Replace::new(pairs.clone(), PLAIN).is_ok());
    let err = Replace::new(pairs, NOCASE).err().unwrap();
    assert!(err.reason.contains("ignoring ASCII case"), "{}", err.reason);

    assert_eq!(stage(&[("a", "b")], PLAIN).name(), "replace");
}

#[test]
fn holds_only_a_partial_pattern_and_flush_has_nothing_left() {
    let mut s = stage(&[("hello", "bye"), ("help", "aid")], PLAIN);
    assert_eq!(s.max_hold_back(), 4);
    let mut out = Sink::new();
    s.push(Bytes::from_static(b"say hel"), &mut out).unwrap();
    assert_eq!(concat(&out), b"say ");
    assert_eq!(s.held(), 3);
    s.flush(&mut out).unwrap();
    assert_eq!(concat(&out), b"say ", "a partial pattern must wait");
    s.push(Bytes::from_static(b"lo hx"), &mut out).unwrap();
    assert_eq!(s.held(), 0, "`hx` cannot start a pattern");
    assert_eq!(concat(&out), b"say bye hx");
    s.push(Bytes::from_static(b"hehe"), &mut out).unwrap();
    assert_eq!(
        s.held(),
        2,
        "only the last `he` may still grow into a match"
    );
    assert_eq!(concat(&out), b"say bye hxhe");
    s.finish(&mut out).unwrap();
    assert_eq!(concat(&out), b"say bye hxhehe");
    assert_eq!(s.held(), 0);
}

#[test]
fn a_chunk_without_a_match_goes_on_uncopied_and_one_with_matches_as_one_piece() {
    let mut s = stage(&[("needle", "pin")], PLAIN);
    let mut out = Sink::new();
    let hay = Bytes::from(b"hay hay ".repeat(100));
    s.push(hay.clone(), &mut out).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].as_ptr(),
        hay.as_ptr(),
        "no match: the chunk itself, not a copy"
    );
    out.clear();
    s.push(
        Bytes::from(b"hay needle hay hay needle ne".repeat(100)),
        &mut out,
    )
    .unwrap();
    assert_eq!(
        out.len(),
        1,
        "the runs and replacements of one push in one piece"
    );
    s.push(Bytes::from_static(b"edle."), &mut out).unwrap();
    s.finish(&mut out).unwrap();
    let mut expected = b"hay pin hay hay pin ne".repeat(100);
    expected.splice(expected.len() - 2.., b"pin.".iter().copied());
    assert_eq!(String::from_utf8(concat(&out)), String::from_utf8(expected));
}

/// The seeds are compiled in: the tests also run as WebAssembly, without a file system.
#[test]
fn seed_corpus_passes_the_fuzz_check() {
    macro_rules! seeds {
        ($($name:literal),*) => {
            [$(&include_bytes!(concat!("../fuzz/corpus/replace/", $name))[..]),*]
        };
    }
    let seeds =
        seeds!("seed-1", "seed-2", "seed-3", "seed-4", "seed-5", "seed-6", "seed-7", "seed-8");
    for seed in seeds {
        check(seed);
    }
}

/// Up to 4 distinct rules (patterns of 1 to 4 bytes, replacements of 0 to 4 bytes), an
/// input and cuts, all over one small alphabet so that matches are frequent.
fn case() -> impl Strategy<Value = (Rules, Vec<u8>, Vec<usize>)> {
    let alphabets: Vec<&'static [u8]> = vec![b"ab", b"abc", b"aAbB", b"a\xff\xc3\x80", b"<a/>"];
    prop::sample::select(alphabets).prop_flat_map(|alphabet| {
        let byte = prop::sample::select(alphabet.to_vec());
        let pattern = prop::collection::vec(byte.clone(), 1..=4);
        let replacement = prop::collection::vec(any::<u8>().prop_map(|b| b % 4 + b'a'), 0..=4);
        (
            prop::collection::vec((pattern, replacement), 1..=4),
            prop::collection::vec(byte, 0..120),
            prop_oneof![
                prop::collection::vec(0usize..120, 0..12),
                Just((1..120).collect::<Vec<usize>>()),
            ],
        )
    })
}

/// Drops rules whose pattern repeats an earlier one (as the options compare them).
fn distinct(mut rules: Rules, options: ReplaceOptions) -> Rules {
    let key = |p: &[u8]| {
        if options.case_insensitive {
            p.to_ascii_lowercase()
        } else {
            p.to_vec()
        }
    };
    let mut seen = std::collections::HashSet::new();
    rules.retain(|(p, _)| seen.insert(key(p)));
    rules
}

/// Feeds the pieces, checking after every call that the hold-back is within its bound and
/// is a proper prefix of a pattern (so flush left nothing that could be emitted).
fn run_checked(
    rules: &[(Vec<u8>, Vec<u8>)],
    options: ReplaceOptions,
    input: &[u8],
    cuts: &[usize],
    flush_each: bool,
) -> Result<Vec<u8>, TestCaseError> {
    let mut s = Replace::new(rules.to_vec(), options).unwrap();
    let fold = |p: &[u8]| {
        if options.case_insensitive {
            p.to_ascii_lowercase()
        } else {
            p.to_vec()
        }
    };
    let mut out = Sink::new();
    let mut fed = 0;
    for piece in pieces(input, cuts) {
        s.push(Bytes::copy_from_slice(piece), &mut out).unwrap();
        fed += piece.len();
        let calls = if flush_each { 2 } else { 1 };
        for call in 0..calls {
            if call == 1 {
                s.flush(&mut out).unwrap();
            }
            prop_assert!(s.held() <= s.max_hold_back());
            let held = fold(&input[fed - s.held()..fed]);
            prop_assert!(
                s.held() == 0
                    || rules
                        .iter()
                        .any(|(p, _)| p.len() > held.len() && fold(p).starts_with(&held)),
                "held {:?} is not a partial pattern",
                held
            );
        }
    }
    s.finish(&mut out).unwrap();
    prop_assert_eq!(s.held(), 0);
    Ok(concat(&out))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn split_invariant_and_equal_to_the_reference(
        (rules, input, cuts) in case(),
        case_insensitive in any::<bool>(),
        once in any::<bool>(),
        flush_each in any::<bool>(),
    ) {
        let options = ReplaceOptions { case_insensitive, once };
        let rules = distinct(rules, options);
        let whole = run_checked(&rules, options, &input, &[], false)?;
        let split = run_checked(&rules, options, &input, &cuts, flush_each)?;
        prop_assert_eq!(&split, &whole);
        prop_assert_eq!(&whole, &reference(&rules, options, &input));
    }

    #[test]
    fn equal_to_aho_corasick_on_the_whole_input(
        (rules, input, cuts) in case(),
        case_insensitive in any::<bool>(),
        flush_each in any::<bool>(),
    ) {
        let options = ReplaceOptions { case_insensitive, once: false };
        let rules = distinct(rules, options);
        let split = run_checked(&rules, options, &input, &cuts, flush_each)?;
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .ascii_case_insensitive(case_insensitive)
            .build(rules.iter().map(|(p, _)| p))
            .unwrap();
        let replacements: Vec<&[u8]> = rules.iter().map(|(_, r)| &r[..]).collect();
        prop_assert_eq!(split, ac.replace_all_bytes(&input, &replacements));
    }

    /// One case-sensitive pattern takes the stage's substring-search path rather than its
    /// automaton: the same cases, held to the same answer.
    #[test]
    fn one_pattern_equal_to_aho_corasick_on_the_whole_input(
        (mut rules, input, cuts) in case(),
        flush_each in any::<bool>(),
    ) {
        rules.truncate(1);
        let split = run_checked(&rules, ReplaceOptions::default(), &input, &cuts, flush_each)?;
        let ac = AhoCorasick::new(rules.iter().map(|(p, _)| p)).unwrap();
        prop_assert_eq!(split, ac.replace_all_bytes(&input, &[&rules[0].1]));
    }

    #[test]
    fn fuzz_check_holds_on_random_bytes(data in prop::collection::vec(any::<u8>(), 0..300)) {
        check(&data);
    }
}
