//! A variable's value written into HTML, by `esi:vars`: in text, in a quoted attribute or an
//! unquoted one, it stays one value and never becomes markup or ESI. (Values written into a
//! URL, an include's `src`, are escaped for the URL by whoever substitutes them there.)

use std::borrow::Cow;

/// `value` with every character that could end a text run, a quoted attribute or an unquoted
/// one replaced by a character reference: `& < > " '` by name or number as HTML does, and
/// `` ` ``, `=` and ASCII white space by number (an unquoted attribute ends at white space,
/// and old parsers took a backtick for a quote). A browser shows the same text.
pub fn html(value: &str) -> Cow<'_, str> {
    let needs = |c: char| {
        matches!(
            c,
            '&' | '<' | '>' | '"' | '\'' | '`' | '=' | ' ' | '\t' | '\n' | '\r' | '\x0c'
        )
    };
    if !value.contains(needs) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 16);
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if needs(c) => out.push_str(&format!("&#{};", u32::from(c))),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_esi_in_a_value_are_text() {
        assert_eq!(html("plain-text_1.2"), "plain-text_1.2");
        assert!(matches!(html("plain"), Cow::Borrowed(_)));
        assert_eq!(
            html("<esi:include src=\"/x\"/>"),
            "&lt;esi:include&#32;src&#61;&quot;/x&quot;/&gt;"
        );
        assert_eq!(
            html("a&b 'c' `d`"),
            "a&amp;b&#32;&#39;c&#39;&#32;&#96;d&#96;"
        );
        assert_eq!(html("x\ty\nz\r\x0c"), "x&#9;y&#10;z&#13;&#12;");
        assert_eq!(html("é ünï"), "é&#32;ünï", "other characters as they are");
    }

    proptest::proptest! {
        /// No escaped value holds a character that could end text or an attribute.
        #[test]
        fn nothing_escapes(value in ".{0,40}") {
            let out = html(&value);
            proptest::prop_assert!(!out.contains(['<', '>', '"', '\'', '`', '=', ' ', '\t', '\n', '\r', '\x0c']), "{}", out);
            // Every & begins a character reference.
            for (i, _) in out.match_indices('&') {
                let rest = &out[i..];
                proptest::prop_assert!(rest.find(';').is_some_and(|e| e <= 6), "{}", out);
            }
        }
    }
}
