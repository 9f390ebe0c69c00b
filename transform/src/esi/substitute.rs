//! Variables substituted in the text of an `esi:vars`, chunk by chunk: each `$(…)` becomes
//! its value escaped for HTML ([`super::escape::html`]), in text and in the attributes of the
//! markup inside alike. The same text comes out however it is split: a reference cut by a
//! chunk boundary is held, at most [`MAX_REFERENCE`] bytes, until it is told apart. What is
//! not a reference (`$5`, `$(` with no `)` within the bound, bytes that are not UTF-8) is text
//! as written; a value is never read again for references. A held reference is read again
//! with the next chunk, so a byte is looked at most `MAX_REFERENCE` times: linear, with a
//! constant that only one-byte chunks reach.

use super::escape;
use super::variable::{self, Lookup, Parsed, MAX_REFERENCE};

/// The most bytes substituted values may add to one read of a template
/// ([`VarsText::start_read`]): a value comes from the client (a query, a header), so without
/// a bound a small template that names it often would make one read's output as large as
/// the client's value times the template's references, all in memory at once.
pub const MAX_VALUES_PER_READ: usize = 1 << 20;

/// The substitution of one `esi:vars`'s text; see the module documentation.
#[derive(Debug, Default)]
pub struct VarsText {
    /// The start of a reference the input ended in (at most [`MAX_REFERENCE`] bytes).
    held: Vec<u8>,
    /// Value bytes added since [`VarsText::start_read`].
    added: usize,
    /// A value was refused for the bound: the template is broken.
    over: bool,
}

impl VarsText {
    pub fn new() -> VarsText {
        VarsText::default()
    }

    /// Bytes held back.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// A new read of the template: values may add [`MAX_VALUES_PER_READ`] bytes again.
    pub fn start_read(&mut self) {
        self.added = 0;
    }

    /// Whether a value went past [`MAX_VALUES_PER_READ`] (it and all after it were left out).
    pub fn over(&self) -> bool {
        self.over
    }

    /// Takes a chunk of the vars' text; appends what is certain to `out`.
    pub fn push(&mut self, text: &[u8], lookup: &dyn Lookup, out: &mut Vec<u8>) {
        let joined;
        let input: &[u8] = if self.held.is_empty() {
            text
        } else {
            let mut held = std::mem::take(&mut self.held);
            held.extend_from_slice(text);
            joined = held;
            &joined
        };
        let mut room = Room {
            left: MAX_VALUES_PER_READ.saturating_sub(self.added),
            over: self.over,
        };
        let before = room.left;
        let rest = substitute(input, lookup, out, false, &mut room);
        self.added += before - room.left;
        self.over = room.over;
        self.held.extend_from_slice(rest);
    }

    /// The end of the vars: what is held is no reference, but may hold one further on.
    pub fn finish(&mut self, lookup: &dyn Lookup, out: &mut Vec<u8>) {
        let held = std::mem::take(&mut self.held);
        let mut room = Room {
            left: MAX_VALUES_PER_READ.saturating_sub(self.added),
            over: self.over,
        };
        let before = room.left;
        substitute(&held, lookup, out, true, &mut room);
        self.added += before - room.left;
        self.over = room.over;
    }
}

/// What values may still add.
struct Room {
    left: usize,
    over: bool,
}

/// Substitutes in `input`; returns the unfinished reference it ends in (empty at `end`).
fn substitute<'a>(
    input: &'a [u8],
    lookup: &dyn Lookup,
    out: &mut Vec<u8>,
    end: bool,
    room: &mut Room,
) -> &'a [u8] {
    let mut at = 0;
    while let Some(i) = memchr::memchr(b'$', &input[at..]) {
        out.extend_from_slice(&input[at..at + i]);
        at += i;
        let window = &input[at..input.len().min(at + MAX_REFERENCE)];
        let reaches_end = at + window.len() == input.len();
        let (valid, cut_in_char) = match std::str::from_utf8(window) {
            Ok(s) => (s, false),
            Err(e) => (
                std::str::from_utf8(&window[..e.valid_up_to()]).unwrap_or(""),
                e.error_len().is_none(),
            ),
        };
        let more_may_come = !end && reaches_end && (valid.len() == window.len() || cut_in_char);
        match variable::parse(valid) {
            Parsed::Reference(reference, len) => {
                if let Some(value) = reference.resolve(lookup).filter(|_| !room.over) {
                    let text = value.as_text();
                    let escaped = escape::html(&text);
                    match room.left.checked_sub(escaped.len()) {
                        Some(left) => {
                            out.extend_from_slice(escaped.as_bytes());
                            room.left = left;
                        }
                        None => room.over = true,
                    }
                }
                at += len;
            }
            Parsed::Incomplete if more_may_come => return &input[at..],
            Parsed::Incomplete | Parsed::Not => {
                out.push(b'$');
                at += 1;
            }
        }
    }
    out.extend_from_slice(&input[at..]);
    &[]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::esi::variable::Value;

    fn vars(name: &str, key: Option<&str>) -> Option<Value> {
        match (name, key) {
            ("HTTP_HOST", None) => Some(Value::Text("example.com".into())),
            ("HTTP_COOKIE", Some("name")) => Some(Value::Text("<b>\"Bo\" & 'Al'</b>".into())),
            ("LIST", None) => Some(Value::List(vec!["a".into(), "b".into()])),
            ("LOOP", None) => Some(Value::Text("$(HTTP_HOST)".into())),
            _ => None,
        }
    }

    fn run(input: &[u8], cuts: &[usize]) -> (Vec<u8>, usize) {
        let mut v = VarsText::new();
        let mut out = Vec::new();
        let mut from = 0;
        let mut most_held = 0;
        for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
            v.push(&input[from..cut], &vars, &mut out);
            most_held = most_held.max(v.held());
            from = cut;
        }
        v.finish(&vars, &mut out);
        (out, most_held)
    }

    fn whole(input: &str) -> String {
        String::from_utf8_lossy(&run(input.as_bytes(), &[]).0).into_owned()
    }

    #[test]
    fn references_become_escaped_values() {
        assert_eq!(
            whole("<a href=\"//$(HTTP_HOST)/\" title=$(HTTP_COOKIE{name})>$(HTTP_COOKIE{name})</a>"),
            "<a href=\"//example.com/\" title=&lt;b&gt;&quot;Bo&quot;&#32;&amp;&#32;&#39;Al&#39;&lt;/b&gt;>&lt;b&gt;&quot;Bo&quot;&#32;&amp;&#32;&#39;Al&#39;&lt;/b&gt;</a>"
        );
        assert_eq!(
            whole("[$(NONE)][$(NONE|'d e')][$(LIST)]"),
            "[][d&#32;e][a,&#32;b]"
        );
        assert_eq!(
            whole("$(LOOP)"),
            "$(HTTP_HOST)",
            "a value is not read again"
        );
        assert_eq!(
            whole("$5 $( $(A B) $(HTTP_HOST"),
            "$5 $( $(A B) $(HTTP_HOST"
        );
        assert_eq!(
            whole("$(A|'x $(HTTP_HOST)"),
            "$(A|'x example.com",
            "an unfinished reference at the end may hold a finished one"
        );
        assert_eq!(
            run(b"\xff$(HTTP_HOST)\xfe$(HTTP_\xffHOST)", &[]).0,
            b"\xffexample.com\xfe$(HTTP_\xffHOST)"
        );
    }

    #[test]
    fn a_reference_cut_by_chunks_is_held_within_the_bound() {
        let input = b"ab$(HTTP_HOST)cd";
        for cut in 0..input.len() {
            assert_eq!(run(input, &[cut]).0, b"abexample.comcd", "cut at {cut}");
        }
        let mut v = VarsText::new();
        let mut out = Vec::new();
        v.push(b"x$(HTTP_HO", &vars, &mut out);
        assert_eq!((out.as_slice(), v.held()), (&b"x"[..], 9));
        let long = format!("$(A|'{}", "y".repeat(2 * MAX_REFERENCE));
        let (out, most_held) = run(long.as_bytes(), &(1..long.len()).collect::<Vec<_>>());
        assert_eq!(out, long.as_bytes(), "never a reference: text");
        assert!(most_held < MAX_REFERENCE, "{most_held}");
    }

    fn texts() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let piece = prop_oneof![
            Just(b"$(HTTP_HOST)".to_vec()),
            Just(b"$(HTTP_COOKIE{name}|'x')".to_vec()),
            Just(b"$(NONE|'it\\'s')".to_vec()),
            Just(b"$(".to_vec()),
            Just(b"$".to_vec()),
            Just(b"')".to_vec()),
            Just("é".as_bytes().to_vec()),
            proptest::collection::vec(any::<u8>(), 0..8),
        ];
        proptest::collection::vec(piece, 0..16).prop_map(|v| v.concat())
    }

    proptest::proptest! {
        #[test]
        fn split_invariance(input in texts(), cuts in proptest::collection::vec(0usize..256, 0..8)) {
            let whole = run(&input, &[]).0;
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (input.len() + 1)).collect();
            cuts.sort_unstable();
            proptest::prop_assert_eq!(run(&input, &cuts).0, whole.clone());
            let ones: Vec<usize> = (1..input.len()).collect();
            let (out, most_held) = run(&input, &ones);
            proptest::prop_assert_eq!(out, whole);
            proptest::prop_assert!(most_held < MAX_REFERENCE);
        }
    }
}
