//! The ESI tokenizer's invariants on arbitrary bytes, and the adversarial shapes its work is
//! measured on.
//!
//! Input layout: byte 0 seeds the cuts (0: one byte at a time; any other value: pseudo-random
//! cuts 1 to 16 bytes apart); the rest (at most [`MAX_INPUT`] bytes) is the template.

use bytes::Bytes;

use crate::esi::branches::{evaluate, Branches};
use crate::esi::expr::ExprError;
use crate::esi::language::{Broken, Language, Shown};
use crate::esi::variable::Value;
use crate::esi::variable::MAX_REFERENCE;
use crate::esi::{Event, Token, Tokenizer, Unclosed, MAX_TAG};

/// Input past this many bytes is ignored, so that a check stays within milliseconds.
pub const MAX_INPUT: usize = 4096;

/// The most steps (bytes looked at) a tokenizer may take per input byte, whatever the input
/// and its split: the work is linear.
pub const MAX_STEPS_PER_BYTE: u64 = 8;

/// Split invariance of the events and of what is left open (against the whole input, and
/// against one byte at a time), the hold-back bound, linear work, that a tag too long breaks
/// the template for good, and that input holding no ESI passes as one text, byte for byte.
/// Panics when one breaks.
pub fn check(data: &[u8]) {
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    let input = &input[..input.len().min(MAX_INPUT)];
    let whole = run(input, &[input.len()]);
    let cuts = cuts(seed, input.len());
    let mut tokenizer = Tokenizer::new();
    let mut events = Vec::new();
    let mut from = 0;
    let mut broken = Ok(());
    for &cut in &cuts {
        let pushed = tokenizer.push(&input[from..cut], &mut events);
        assert!(
            broken.is_ok() || pushed == broken,
            "a broken template mended"
        );
        broken = broken.and(pushed);
        assert!(tokenizer.held() < MAX_TAG, "hold-back exceeded");
        from = cut;
    }
    let end = tokenizer.finish(&mut events);
    assert!(
        broken.is_ok() || end == broken,
        "finish forgot a tag too long"
    );
    assert_eq!(tokenizer.held(), 0, "finish left bytes held");
    assert!(
        tokenizer.steps() <= MAX_STEPS_PER_BYTE * (input.len() as u64 + 1),
        "{} steps for {} bytes",
        tokenizer.steps(),
        input.len()
    );
    assert!((merged(events), end) == whole, "events depend on the split");
    let esi_free = !input.windows(5).any(|w| w == b"<esi:")
        && !input.windows(6).any(|w| w == b"</esi:")
        && !input.windows(7).any(|w| w == b"<!--esi");
    check_tokens(input, &cuts, &whole);
    if esi_free && !input.is_empty() {
        assert!(
            whole == (vec![Event::Text(Bytes::copy_from_slice(input))], Ok(())),
            "text without ESI was changed"
        );
    }
}

/// The whole language read in the same pieces: the same tokens as read whole, and, for a
/// template that names none of `choose`, `when`, `otherwise` and `vars`, exactly the
/// events of the classic reading. Every structure token comes from a tag of its element.
fn check_tokens(input: &[u8], cuts: &[usize], classic: &(Vec<Event>, Result<(), Unclosed>)) {
    let whole = run_tokens(input, &[]);
    assert!(
        run_tokens(input, cuts) == whole,
        "tokens depend on the split"
    );
    let names = |name: &str| {
        let name = name.as_bytes();
        input.windows(name.len()).filter(|w| *w == name).count()
    };
    for element in ["choose", "when", "otherwise", "vars"] {
        let made = whole.0.iter().filter(|t| t.element() == element).count();
        assert!(
            made <= 2 * names(element),
            "{element}: {made} tokens from {} names",
            names(element)
        );
    }
    check_branches(&whole.0);
    check_language(input, cuts);
    if ["choose", "when", "otherwise", "vars"]
        .iter()
        .all(|e| names(e) == 0)
    {
        let events: Vec<Token> = classic.0.iter().cloned().map(Token::Event).collect();
        assert!(
            (events, classic.1) == whole,
            "the language changed a template without its elements"
        );
    }
}

/// The branches of any token stream: only events and vars marks come out, the marks
/// balanced, and what an unchosen branch holds never comes out.
fn check_branches(tokens: &[Token]) {
    let lookup = |name: &str, _: Option<&str>| (name == "A").then(|| Value::Text("a".into()));
    let mut branches = Branches::new();
    let mut out = Vec::new();
    let mut ok = true;
    for token in tokens.iter().cloned() {
        let mut test = |t: &str| evaluate(t, &lookup).unwrap_or(false);
        ok = ok && branches.push(token, &mut out, &mut test).is_ok();
    }
    ok = ok && branches.finish(&mut out).is_ok();
    let mut depth = 0usize;
    for token in &out {
        match token {
            Token::Event(_) => {}
            Token::VarsStart => depth += 1,
            Token::VarsEnd => {
                assert!(depth > 0, "a vars end without its start");
                depth -= 1;
            }
            other => panic!("a structure token came out: {other:?}"),
        }
    }
    assert!(!ok || depth == 0, "vars left open after finish");
    let shown = out.iter().filter(|t| matches!(t, Token::Event(_))).count();
    let given = tokens
        .iter()
        .filter(|t| matches!(t, Token::Event(_)))
        .count();
    assert!(shown <= given + tokens.len(), "branches made events");
}

/// The whole language for one request read in pieces: what a page shows is the same as
/// read whole, and what is held stays within an unfinished tag and an unfinished reference.
fn check_language(input: &[u8], cuts: &[usize]) {
    let read = |cuts: &[usize]| {
        let lookup = |name: &str, _: Option<&str>| (name == "A").then(|| Value::Text("<a>".into()));
        let mut bad = |_: &str, _: &ExprError| {};
        let mut language = Language::new();
        let mut out = Vec::new();
        let mut from = 0;
        for &cut in cuts {
            let pushed = language.push(&input[from..cut], &lookup, &mut bad, &mut out);
            assert!(
                language.held() < MAX_TAG + MAX_REFERENCE,
                "hold-back exceeded"
            );
            if pushed.is_err() {
                return (merged(out), pushed);
            }
            from = cut;
        }
        let end: Result<(), Broken> = language.finish(&lookup, &mut bad, &mut out);
        (merged(out), end)
    };
    assert!(
        read(cuts) == read(&[input.len()]),
        "the page depends on the split"
    );
}

impl Text for Shown {
    fn text_mut(&mut self) -> Option<&mut Bytes> {
        self.event.text_mut()
    }
}

/// The events of `input` fed in pieces ending at `cuts` (ascending), adjacent texts merged,
/// and what was left open: the first error `push` gave, which `finish` must give too, or
/// what `finish` says.
pub fn run(input: &[u8], cuts: &[usize]) -> (Vec<Event>, Result<(), Unclosed>) {
    drive(input, cuts, Tokenizer::push, Tokenizer::finish)
}

/// [`run`] in the whole language ([`Tokenizer::push_tokens`]).
pub fn run_tokens(input: &[u8], cuts: &[usize]) -> (Vec<Token>, Result<(), Unclosed>) {
    drive(
        input,
        cuts,
        Tokenizer::push_tokens,
        Tokenizer::finish_tokens,
    )
}

type Push<T> = fn(&mut Tokenizer, &[u8], &mut Vec<T>) -> Result<(), Unclosed>;
type Finish<T> = fn(&mut Tokenizer, &mut Vec<T>) -> Result<(), Unclosed>;

fn drive<T: Text>(
    input: &[u8],
    cuts: &[usize],
    push: Push<T>,
    finish: Finish<T>,
) -> (Vec<T>, Result<(), Unclosed>) {
    let mut tokenizer = Tokenizer::new();
    let mut events = Vec::new();
    let mut from = 0;
    let mut broken = Ok(());
    for &cut in cuts {
        broken = broken.and(push(&mut tokenizer, &input[from..cut], &mut events));
        from = cut;
    }
    broken = broken.and(push(&mut tokenizer, &input[from..], &mut events));
    let end = finish(&mut tokenizer, &mut events);
    assert!(
        broken.is_ok() || end == broken,
        "finish forgot a tag too long"
    );
    (merged(events), end)
}

/// An event or token that may be text, so that two runs can be compared with their texts
/// joined.
pub trait Text {
    fn text_mut(&mut self) -> Option<&mut Bytes>;
}

impl Text for Event {
    fn text_mut(&mut self) -> Option<&mut Bytes> {
        match self {
            Event::Text(bytes) => Some(bytes),
            _ => None,
        }
    }
}

impl Text for Token {
    fn text_mut(&mut self) -> Option<&mut Bytes> {
        match self {
            Token::Event(event) => event.text_mut(),
            _ => None,
        }
    }
}

/// Concatenates adjacent texts: two runs of one input are compared in this form.
pub fn merged<T: Text>(events: Vec<T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for mut event in events {
        let joined = match (out.last_mut().and_then(Text::text_mut), event.text_mut()) {
            (Some(a), Some(b)) => {
                let mut joined = a.to_vec();
                joined.extend_from_slice(b);
                *a = Bytes::from(joined);
                true
            }
            _ => false,
        };
        if !joined {
            out.push(event);
        }
    }
    out
}

/// A template of `len` bytes made of `unit` repeated.
fn repeated(unit: &[u8], len: usize) -> Vec<u8> {
    unit.iter().copied().cycle().take(len).collect()
}

/// Makes a template of the length asked.
pub type Shape = Box<dyn Fn(usize) -> Vec<u8>>;

/// Templates shaped to make a tokenizer read bytes again, by name, each made to a length:
/// openers that never finish, tags whose `>` never comes (or comes only inside quotes),
/// nested and unterminated comments, partial end tags of a dropped element, tags just short of
/// [`MAX_TAG`]. A shape whose tag runs past [`MAX_TAG`] breaks the template there: its work
/// must stop as soon. The linearity test, the benchmark and the fuzz corpus's seeds use them.
pub fn adversarial_shapes() -> Vec<(&'static str, Shape)> {
    vec![
        ("<esi: repeated", Box::new(|len| repeated(b"<esi:", len))),
        ("</esi: repeated", Box::new(|len| repeated(b"</esi:", len))),
        ("< repeated", Box::new(|len| repeated(b"<", len))),
        ("<es repeated", Box::new(|len| repeated(b"<es", len))),
        (
            "unclosed attribute repeated",
            Box::new(|len| repeated(b"<esi:include src=\"", len)),
        ),
        (
            "quotes of both kinds repeated",
            Box::new(|len| repeated(b"<esi:include src='\"", len)),
        ),
        (
            "no > in 1 MiB",
            Box::new(|len| {
                let mut t = b"<esi:include src=".to_vec();
                t.extend(repeated(b"a", len.saturating_sub(t.len())));
                t
            }),
        ),
        (
            "<!--esi repeated",
            Box::new(|len| repeated(b"<!--esi", len)),
        ),
        ("<!-- repeated", Box::new(|len| repeated(b"<!--", len))),
        (
            "dashes in an esi comment",
            Box::new(|len| {
                let mut t = b"<!--esi".to_vec();
                t.extend(repeated(b"--<!--esi-", len.saturating_sub(t.len())));
                t
            }),
        ),
        (
            "partial end tags in a remove",
            Box::new(|len| {
                let mut t = b"<esi:remove>".to_vec();
                t.extend(repeated(
                    b"</esi:remove </esi:remov",
                    len.saturating_sub(t.len()),
                ));
                t
            }),
        ),
        // Found by the hostile review of 2026-12-08: a tag the quick include path leaves to
        // the general reader (an entity or a stray `&`, bytes that are not UTF-8) or one
        // the tokenizer does not know, as short as it can be.
        (
            "includes with & in the src repeated",
            Box::new(|len| repeated(b"<esi:include src=/a&b/>", len)),
        ),
        (
            "includes with a src not UTF-8 repeated",
            Box::new(|len| repeated(b"<esi:include src=\"\xff\"/>", len)),
        ),
        (
            "unknown esi tags repeated",
            Box::new(|len| repeated(b"<esi:x/>", len)),
        ),
        // The next ones a reviewer would try once those three were quick: any other value a
        // tag's event keeps (an `alt`, a ttl that is no ttl, a name not UTF-8), as short as
        // it can be.
        (
            "unknown esi tags not UTF-8 repeated",
            Box::new(|len| repeated(b"<esi:\xff/>", len)),
        ),
        (
            "includes with an alt repeated",
            Box::new(|len| repeated(b"<esi:include src=/x alt=/y/>", len)),
        ),
        (
            "includes with an unreadable ttl repeated",
            Box::new(|len| repeated(b"<esi:include src=/x ttl=x/>", len)),
        ),
        // Found by the hostile review of the byte-level reading (2026-12-08): values made of
        // what is costliest to make text of, one character or reference at a time, and a
        // tag whose quotes open and close at every byte.
        (
            "includes with stray bytes in an alt repeated",
            Box::new(|len| {
                let mut tag = b"<esi:include alt=".to_vec();
                tag.extend([0x80; 30]);
                tag.push(b'>');
                repeated(&tag, len)
            }),
        ),
        (
            "includes with a src of & repeated",
            Box::new(|len| {
                let mut tag = b"<esi:include src=".to_vec();
                tag.extend([b'&'; 110]);
                tag.push(b'>');
                repeated(&tag, len)
            }),
        ),
        (
            "tags of quotes repeated",
            Box::new(|len| {
                let mut tag = b"<esi:x ".to_vec();
                tag.extend([b'"'; 40]);
                tag.push(b'>');
                repeated(&tag, len)
            }),
        ),
        (
            "tags of MAX_TAG bytes repeated",
            Box::new(|len| {
                let mut tag = b"<esi:comment text=\"".to_vec();
                tag.resize(MAX_TAG - 3, b'>');
                tag.extend_from_slice(b"\"/>");
                repeated(&tag, len)
            }),
        ),
        (
            "short tags repeated",
            Box::new(|len| repeated(b"<esi:include src=/x/>", len)),
        ),
        (
            // The shortest include whose `src` is not kept in place (`InlineStr::INLINE`
            // bytes and one): each allocates.
            "includes with a 23-byte src repeated",
            Box::new(|len| repeated(b"<esi:include src=/aaaaaaaaaaaaaaaaaaaaaa/>", len)),
        ),
        (
            "empty branches repeated",
            Box::new(|len| repeated(b"<esi:choose><esi:when test='1'/></esi:choose >", len)),
        ),
    ]
}

/// Cut positions, ascending, ending with `len`.
fn cuts(seed: u8, len: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut state = u32::from(seed).wrapping_mul(2_654_435_761) | 1;
    let mut at = 0;
    while at < len {
        let step = if seed == 0 {
            1
        } else {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            1 + (state % 16) as usize
        };
        at = (at + step).min(len);
        out.push(at);
    }
    out.push(len);
    out
}
