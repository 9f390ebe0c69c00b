//! ESI variable references, `$(NAME)`, `$(NAME{key})`, `$(NAME|'default')` and
//! `$(NAME{key}|'default')`, read the same way wherever they are written: in an include's
//! `src`, in an expression, in the text of an `esi:vars`. The values come from whoever
//! composes the page, through [`Lookup`]; this module never sees a request.
//!
//! A reference is at most [`MAX_REFERENCE`] bytes, `$(` to `)`: what is longer, or not
//! well formed, is no reference and stays text as written. A name is ASCII letters, digits
//! and `_`; a key is anything but `}` and `)`; a default is a quoted string (`'…'`, with
//! `\'` and `\\` for a quote and a backslash) or, as `fastly/esi` also takes it, bare text
//! up to the `)`. A default applies when the variable is absent or empty.

use std::borrow::Cow;

/// The longest reference, `$(` to `)`, so that text substitution holds back at most this
/// much of an unfinished one.
pub const MAX_REFERENCE: usize = 512;

/// One variable reference as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference<'a> {
    pub name: &'a str,
    pub key: Option<&'a str>,
    pub default: Option<Cow<'a, str>>,
}

/// What reading a reference at the start of some text found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// A reference, and the bytes it took.
    Reference(Reference<'a>, usize),
    /// The text may still become one: it ended before the reference did.
    Incomplete,
    /// No reference begins here.
    Not,
}

/// Reads the reference that `text` begins with (`$(`…).
pub fn parse(text: &str) -> Parsed<'_> {
    let bytes = text.as_bytes();
    let mut at = 0;
    let end_of_input = |at: usize| {
        if at >= MAX_REFERENCE {
            Parsed::Not
        } else {
            Parsed::Incomplete
        }
    };
    for &b in b"$(" {
        match bytes.get(at) {
            None => return Parsed::Incomplete,
            Some(&c) if c == b => at += 1,
            Some(_) => return Parsed::Not,
        }
    }
    let name_from = at;
    while bytes
        .get(at)
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
    {
        at += 1;
    }
    let name = &text[name_from..at];
    let mut key = None;
    if bytes.get(at) == Some(&b'{') {
        let from = at + 1;
        let Some(len) = bytes[from..].iter().position(|b| matches!(b, b'}' | b')')) else {
            return end_of_input(bytes.len());
        };
        if bytes[from + len] != b'}' {
            return Parsed::Not;
        }
        key = Some(&text[from..from + len]);
        at = from + len + 1;
    }
    let mut default = None;
    if bytes.get(at) == Some(&b'|') {
        at += 1;
        match quoted(&text[at..]) {
            Quoted::String(value, len) => {
                default = Some(value);
                at += len;
            }
            Quoted::Incomplete => return end_of_input(bytes.len()),
            Quoted::Not => {
                let Some(len) = bytes[at..].iter().position(|&b| b == b')') else {
                    return end_of_input(bytes.len());
                };
                default = Some(Cow::Borrowed(&text[at..at + len]));
                at += len;
            }
        }
    }
    match bytes.get(at) {
        None => end_of_input(at),
        Some(b')') if !name.is_empty() && at < MAX_REFERENCE => {
            Parsed::Reference(Reference { name, key, default }, at + 1)
        }
        Some(_) => Parsed::Not,
    }
}

/// A quoted string at the start of some text.
pub(super) enum Quoted<'a> {
    /// Its value (escapes undone) and the bytes it took, quotes included.
    String(Cow<'a, str>, usize),
    Incomplete,
    Not,
}

/// Reads `'…'` at the start of `text`, `\'` and `\\` standing for `'` and `\`.
pub(super) fn quoted(text: &str) -> Quoted<'_> {
    let Some(rest) = text.strip_prefix('\'') else {
        return Quoted::Not;
    };
    let mut owned: Option<String> = None;
    let mut run_from = 0;
    let mut chars = rest.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' => {
                let value = match owned {
                    Some(mut s) => {
                        s.push_str(&rest[run_from..i]);
                        Cow::Owned(s)
                    }
                    None => Cow::Borrowed(&rest[..i]),
                };
                return Quoted::String(value, i + 2);
            }
            '\\' => match chars.next() {
                Some((j, escaped @ ('\'' | '\\'))) => {
                    let s = owned.get_or_insert_with(String::new);
                    s.push_str(&rest[run_from..i]);
                    s.push(escaped);
                    run_from = j + 1;
                }
                Some(_) => {}
                None => return Quoted::Incomplete,
            },
            _ => {}
        }
    }
    Quoted::Incomplete
}

/// A variable's value as the one who composes supplies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    /// A boolean variable, such as `$(HTTP_ACCEPT_LANGUAGE{en})` (ESI 1.0).
    Bool(bool),
    /// A list or a dictionary's keys, what `has` and `has_i` look in.
    List(Vec<String>),
}

impl Value {
    /// The value as text: a boolean is `true` or `false`, a list its items joined by `, `.
    pub fn as_text(&self) -> Cow<'_, str> {
        match self {
            Value::Text(s) => Cow::Borrowed(s),
            Value::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            Value::List(items) => Cow::Owned(items.join(", ")),
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Value::Text(s) => s.is_empty(),
            Value::Bool(_) => false,
            Value::List(items) => items.is_empty(),
        }
    }
}

/// Where values come from: `None` for a variable the request does not have, an unknown
/// one, or one the template may not read.
pub trait Lookup {
    fn value(&self, name: &str, key: Option<&str>) -> Option<Value>;
}

impl<F: Fn(&str, Option<&str>) -> Option<Value>> Lookup for F {
    fn value(&self, name: &str, key: Option<&str>) -> Option<Value> {
        self(name, key)
    }
}

impl Reference<'_> {
    /// The reference's value, its default where the variable is absent or empty, else
    /// `None`.
    pub fn resolve(&self, lookup: &dyn Lookup) -> Option<Value> {
        match lookup.value(self.name, self.key) {
            Some(v) if !v.is_empty() || self.default.is_none() => Some(v),
            _ => self.default.as_ref().map(|d| Value::Text(d.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference<'a>(
        name: &'a str,
        key: Option<&'a str>,
        default: Option<&'a str>,
    ) -> Reference<'a> {
        Reference {
            name,
            key,
            default: default.map(Cow::Borrowed),
        }
    }

    #[test]
    fn every_form_is_read() {
        assert_eq!(
            parse("$(HTTP_HOST)/x"),
            Parsed::Reference(reference("HTTP_HOST", None, None), 12)
        );
        assert_eq!(
            parse("$(HTTP_COOKIE{lang})"),
            Parsed::Reference(reference("HTTP_COOKIE", Some("lang"), None), 20)
        );
        assert_eq!(
            parse("$(HTTP_COOKIE{lang}|'en')"),
            Parsed::Reference(reference("HTTP_COOKIE", Some("lang"), Some("en")), 25)
        );
        assert_eq!(
            parse("$(X|'a)b')"),
            Parsed::Reference(reference("X", None, Some("a)b")), 10),
            "a ) inside the quotes is the default's"
        );
        assert_eq!(
            parse(r"$(X|'it\'s \\')"),
            Parsed::Reference(
                Reference {
                    name: "X",
                    key: None,
                    default: Some(Cow::Owned(r"it's \".into()))
                },
                15
            )
        );
        assert_eq!(
            parse("$(X|bare words)"),
            Parsed::Reference(reference("X", None, Some("bare words")), 15)
        );
        assert_eq!(
            parse("$(QUERY_STRING{a b}|'')"),
            Parsed::Reference(reference("QUERY_STRING", Some("a b"), Some("")), 23)
        );
    }

    #[test]
    fn what_is_not_a_reference_is_said_so() {
        for text in [
            "$()", "$(A B)", "$(A{k)", "$(A-B)", "x$(A)", "$[A]", "$(A{k}x)",
        ] {
            assert_eq!(parse(text), Parsed::Not, "{text}");
        }
        for text in [
            "",
            "$",
            "$(",
            "$(A",
            "$(A{k",
            "$(A{k}|'d",
            "$(A|d",
            "$(A|'d\\",
        ] {
            assert_eq!(parse(text), Parsed::Incomplete, "{text}");
        }
        let long = format!("$(A|'{}", "x".repeat(MAX_REFERENCE));
        assert_eq!(parse(&long), Parsed::Not, "past the bound it never will be");
        let longest = format!("$(A|'{}')", "x".repeat(MAX_REFERENCE - 7));
        assert_eq!(longest.len(), MAX_REFERENCE);
        assert!(matches!(parse(&longest), Parsed::Reference(_, n) if n == MAX_REFERENCE));
        let one_more = format!("$(A|'{}')", "x".repeat(MAX_REFERENCE - 6));
        assert_eq!(parse(&one_more), Parsed::Not);
    }

    #[test]
    fn a_default_stands_in_for_an_absent_or_empty_value() {
        let lookup = |name: &str, _: Option<&str>| match name {
            "SET" => Some(Value::Text("v".into())),
            "EMPTY" => Some(Value::Text(String::new())),
            "NO" => Some(Value::Bool(false)),
            _ => None,
        };
        let resolve = |text: &str| match parse(text) {
            Parsed::Reference(r, _) => r.resolve(&lookup),
            other => panic!("{text}: {other:?}"),
        };
        assert_eq!(resolve("$(SET|'d')"), Some(Value::Text("v".into())));
        assert_eq!(resolve("$(EMPTY|'d')"), Some(Value::Text("d".into())));
        assert_eq!(resolve("$(NONE|'d')"), Some(Value::Text("d".into())));
        assert_eq!(resolve("$(EMPTY)"), Some(Value::Text(String::new())));
        assert_eq!(resolve("$(NONE)"), None);
        assert_eq!(
            resolve("$(NO|'d')"),
            Some(Value::Bool(false)),
            "false is a value"
        );
        assert_eq!(Value::List(vec!["a".into(), "b".into()]).as_text(), "a, b");
    }

    proptest::proptest! {
        /// Any text: no panic, a reference never runs past the text or the bound, and a
        /// prefix of a reference is never read as something else.
        #[test]
        fn parse_is_total(text in "(\\$\\(|[A-Z_{}|')\\\\ ]|.){0,40}") {
            match parse(&text) {
                Parsed::Reference(_, n) => {
                    proptest::prop_assert!(n <= text.len() && n <= MAX_REFERENCE);
                    for cut in (0..n).filter(|&c| text.is_char_boundary(c)) {
                        proptest::prop_assert_eq!(parse(&text[..cut]), Parsed::Incomplete, "{}", cut);
                    }
                }
                Parsed::Incomplete => proptest::prop_assert!(text.len() < MAX_REFERENCE),
                Parsed::Not => {}
            }
        }
    }
}
