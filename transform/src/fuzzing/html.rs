//! The `html` stage's invariants on arbitrary bytes: split invariance (of the output and of
//! errors) and, for rules that cannot match, output identical to the input.
//!
//! Input layout (every byte string decodes to something):
//! - byte 0: flags: bits 0–1 pick the rules ([`rules`]), bit 2 flushes after each piece;
//! - byte 1: the cuts: 0 feeds the input one byte at a time, any other value `s` seeds
//!   pseudo-random cuts 1 to `1 + s / 4` bytes apart;
//! - the rest (at most [`MAX_INPUT`] bytes): the document, taken as it is (seeds are HTML).
//!
//! Errors and chunking: with the 1 MiB limit of rule sets 0–2, a document of at most
//! [`MAX_INPUT`] bytes cannot exceed lol_html's memory limit, so whole and split runs must
//! give the same result, error or not. With rule set 3's small limit, whether the limit is
//! exceeded can depend on the split (see the `html` module docs: lol_html accounts the
//! buffered unfinished token plus the slice of input written after it), so there a split
//! run may fail for memory where the whole run succeeds or the other way round; every other
//! outcome must still agree.

use crate::html::{
    HtmlRewrite, HtmlRules, Insert, Position, RemoveAttribute, SetAttribute, UrlRewrite,
    DEFAULT_MEMORY_LIMIT,
};
use crate::testing::run;
use crate::TransformError;

/// Input past this many bytes is ignored, so that a check stays within milliseconds.
pub const MAX_INPUT: usize = 4096;

/// The memory limit of rule set 3, small enough for long tags and deep nesting to hit it.
pub const SMALL_MEMORY_LIMIT: usize = 4096;

/// Names the idle rules (set 1) look for; a document containing none of them (ASCII case
/// ignored) must come out unchanged.
const IDLE_TRIGGERS: [&str; 5] = ["blink", "marquee", "nowhere", "data-none", "none"];

/// Split invariance and untouched bytes; panics when one breaks. The stage's own errors
/// (strict parsing, memory) are not a failure as long as they do not depend on the split.
pub fn check(data: &[u8]) {
    let (flags, cuts_seed, input) = match data {
        [flags, cuts_seed, rest @ ..] => (*flags, *cuts_seed, &rest[..rest.len().min(MAX_INPUT)]),
        _ => return,
    };
    let set = usize::from(flags & 3);
    let flush_each = flags & 4 != 0;
    let cuts = cuts(cuts_seed, input.len());

    let whole = run(&mut stage(set), input, &[], false);
    let split = run(&mut stage(set), input, &cuts, flush_each);

    if set == 3 {
        match (&whole, &split) {
            (Ok(_), Ok(_)) => assert!(whole == split, "output depends on the split"),
            (Err(e), Ok(_)) | (Ok(_), Err(e)) => assert!(
                is_memory(e),
                "only a memory error may depend on the split, not: {e}"
            ),
            (Err(a), Err(b)) => assert!(
                a == b || is_memory(a) || is_memory(b),
                "errors depend on the split: {a} / {b}"
            ),
        }
    } else {
        assert!(
            whole == split,
            "result depends on the split: {:?} / {:?}",
            whole.as_ref().map(|o| o.len()),
            split.as_ref().map(|o| o.len())
        );
        if let Err(e) = &whole {
            assert!(!is_memory(e), "memory limit hit by a small document: {e}");
        }
    }

    let idle = set == 2 || (set == 1 && !triggers_idle_rules(input));
    if idle {
        if let Ok(out) = &whole {
            assert!(
                out == input,
                "rules that match nothing changed the document"
            );
        }
    }
}

fn is_memory(e: &TransformError) -> bool {
    e.reason.contains("memory limit")
}

fn triggers_idle_rules(input: &[u8]) -> bool {
    let lower = input.to_ascii_lowercase();
    IDLE_TRIGGERS
        .iter()
        .any(|t| lower.windows(t.len()).any(|w| w == t.as_bytes()))
}

fn stage(set: usize) -> HtmlRewrite {
    HtmlRewrite::new(rules(set)).expect("the fuzzing rules are valid")
}

fn insert(selector: &str, position: Position, html: &str) -> Insert {
    Insert {
        selector: selector.into(),
        position,
        html: html.into(),
    }
}

/// The rule sets: 0 a site's rules (one of each kind), 1 rules that match no element
/// without one of the idle triggers (`blink`, `marquee`, …), 2 no rules, 3 the site's
/// rules with [`SMALL_MEMORY_LIMIT`].
pub fn rules(set: usize) -> HtmlRules {
    match set {
        0 | 3 => HtmlRules {
            inserts: vec![
                insert("head", Position::Append, "<script src=/rum.js></script>"),
                insert("body", Position::Prepend, "<div class=banner>Hi ✓</div>"),
                insert("p", Position::Before, "<!--b-->"),
                insert("img", Position::After, "<i>a</i>"),
            ],
            set_attributes: vec![SetAttribute {
                selector: "a[target]".into(),
                name: "rel".into(),
                value: "noopener \"x\"".into(),
            }],
            remove_attributes: vec![RemoveAttribute {
                selector: "*".into(),
                name: "data-track".into(),
            }],
            remove: vec![".ad".into(), "script[data-remove]".into()],
            rewrite_urls: Some(UrlRewrite {
                from: "http://o.ex".into(),
                to: "https://www.example.com".into(),
            }),
            memory_limit: if set == 3 {
                SMALL_MEMORY_LIMIT
            } else {
                DEFAULT_MEMORY_LIMIT
            },
        },
        1 => HtmlRules {
            inserts: vec![insert("blink", Position::Append, "<b>x</b>")],
            set_attributes: vec![SetAttribute {
                selector: "[data-none]".into(),
                name: "x".into(),
                value: "y".into(),
            }],
            remove_attributes: vec![RemoveAttribute {
                selector: "#nowhere".into(),
                name: "id".into(),
            }],
            remove: vec!["marquee".into(), ".none".into()],
            rewrite_urls: Some(UrlRewrite {
                from: "http://nowhere.invalid".into(),
                to: "https://www.example.com".into(),
            }),
            memory_limit: DEFAULT_MEMORY_LIMIT,
        },
        _ => HtmlRules::default(),
    }
}

fn cuts(seed: u8, len: usize) -> Vec<usize> {
    if seed == 0 {
        return (1..len).collect();
    }
    let max_gap = 1 + usize::from(seed / 4);
    let mut state = u32::from(seed);
    let mut at = 0;
    let mut cuts = Vec::new();
    while at < len {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        at += 1 + (state >> 16) as usize % max_gap;
        cuts.push(at);
    }
    cuts
}
