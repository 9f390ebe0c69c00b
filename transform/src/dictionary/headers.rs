//! The header fields of RFC 9842, read and written: `Available-Dictionary` (the hash of
//! the dictionary a client holds), `Use-As-Dictionary` (a response offered as one) and
//! `Dictionary-ID` (the server's name for it, echoed by the client).
//!
//! They are RFC 8941 structured fields; [`structured`] parses the parts they use. A value
//! that does not parse is treated as absent: a client with a malformed
//! `Available-Dictionary` is served as one without a dictionary, and a malformed
//! `Use-As-Dictionary` makes nothing a dictionary.

mod structured;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;

use super::hash::DictionaryHash;
use super::pattern::{Pattern, PatternError};
use structured::{parse_dictionary, parse_item, Value};

/// The longest `id` and `Dictionary-ID` RFC 9842 allows, in characters.
pub const MAX_ID_LEN: usize = 1024;

/// RFC 8941 byte sequences are standard base64; padding is expected but its absence is
/// tolerated, as the RFC asks of parsers.
const BYTE_SEQUENCE: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// `Available-Dictionary: :<base64 of 32 bytes>:`. Whitespace around it is ignored;
/// anything else (another length, parameters, a list, bad base64) is `None`.
pub fn available_dictionary(value: &str) -> Option<DictionaryHash> {
    let inner = value
        .trim_matches([' ', '\t'])
        .strip_prefix(':')?
        .strip_suffix(':')?;
    if inner.contains(':') {
        return None;
    }
    let bytes = BYTE_SEQUENCE.decode(inner).ok()?;
    Some(DictionaryHash(bytes.try_into().ok()?))
}

/// `Dictionary-ID: "<id>"`: a string of at most [`MAX_ID_LEN`] characters, or `None`.
pub fn dictionary_id(value: &str) -> Option<String> {
    match parse_item(value)? {
        Value::String(id) if id.len() <= MAX_ID_LEN => Some(id),
        _ => None,
    }
}

/// A parsed `Use-As-Dictionary`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UseAsDictionary {
    /// The `match` pattern, as written (see [`UseAsDictionary::pattern`]).
    pub pattern: String,
    /// `match-dest`: the request destinations (`script`, `style`, …) it applies to;
    /// empty: all of them.
    pub match_dest: Vec<String>,
    /// `id`: echoed by the client in `Dictionary-ID`; empty when not given.
    pub id: String,
}

impl UseAsDictionary {
    /// The `match` pattern resolved against the dictionary's own path, if it is one this
    /// crate supports (see [`Pattern`]).
    pub fn pattern(&self, dictionary_path: &str) -> Result<Pattern, PatternError> {
        Pattern::parse(&self.pattern, dictionary_path)
    }
}

/// `Use-As-Dictionary: match="/js/app.*.js", match-dest=("script"), id="v1", type=raw`.
/// `None` (the response is not a dictionary) without a string `match`, with a `type` other
/// than `raw`, with an `id` over [`MAX_ID_LEN`], or when it does not parse; members RFC 9842
/// does not define are ignored, and a later duplicate overrides an earlier one.
pub fn use_as_dictionary(value: &str) -> Option<UseAsDictionary> {
    let mut pattern = None;
    let mut match_dest = Vec::new();
    let mut id = String::new();
    for (key, value) in parse_dictionary(value)? {
        match (key.as_str(), value) {
            ("match", Value::String(p)) => pattern = Some(p),
            ("match", _) => pattern = None,
            ("match-dest", Value::InnerList(items)) => {
                match_dest = items
                    .into_iter()
                    .map(|item| match item {
                        Value::String(dest) => Some(dest),
                        _ => None,
                    })
                    .collect::<Option<_>>()?;
            }
            ("match-dest", _) => return None,
            ("id", Value::String(i)) if i.len() <= MAX_ID_LEN => id = i,
            ("id", _) => return None,
            ("type", Value::Token(t)) if t == "raw" => {}
            ("type", _) => return None,
            _ => {}
        }
    }
    Some(UseAsDictionary {
        pattern: pattern?,
        match_dest,
        id,
    })
}

/// The `Use-As-Dictionary` a route adds for its `dictionary_match`: `match="<pattern>"`,
/// `None` if the pattern is not one [`Pattern::validate`] accepts (which also keeps it
/// within what a structured-field string can carry).
pub fn use_as_dictionary_value(pattern: &str) -> Option<String> {
    Pattern::validate(pattern).ok()?;
    let escaped = pattern.replace('\\', "\\\\").replace('"', "\\\"");
    Some(format!("match=\"{escaped}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = ":47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:";

    #[test]
    fn available_dictionary_is_a_32_byte_sequence() {
        let empty = DictionaryHash::of(b"");
        assert_eq!(available_dictionary(HASH), Some(empty));
        assert_eq!(available_dictionary(&format!(" \t{HASH}  ")), Some(empty));
        let unpadded = HASH.replace('=', "");
        assert_eq!(available_dictionary(&unpadded), Some(empty));
        for bad in [
            "",
            ":",
            "::",
            &HASH[1..],
            &HASH[..HASH.len() - 1],
            ":AAAA:",
            ":47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFUAAAA=:",
            ":47DEQpj8HBSa-_TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:",
            &format!("{HASH};p=1"),
            &format!("{HASH}, {HASH}"),
            "\"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\"",
        ] {
            assert_eq!(available_dictionary(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn use_as_dictionary_reads_match_dest_id_and_type() {
        let parsed = use_as_dictionary(
            r#"match="/js/app.*.js", match-dest=("script" "style"), id="bundle \"v1\"", type=raw"#,
        );
        assert_eq!(
            parsed,
            Some(UseAsDictionary {
                pattern: "/js/app.*.js".into(),
                match_dest: vec!["script".into(), "style".into()],
                id: "bundle \"v1\"".into(),
            })
        );
        let minimal = use_as_dictionary(r#"match="/a/*""#);
        assert_eq!(minimal.as_ref().map(|d| d.id.as_str()), Some(""));
        assert_eq!(minimal.map(|d| d.match_dest), Some(Vec::new()));
        // Unknown members and parameters are ignored; the last duplicate wins.
        let extra = use_as_dictionary(r#"match="/a/*";x=1, future=?1, match="/b/*""#);
        assert_eq!(extra.map(|d| d.pattern), Some("/b/*".into()));
    }

    #[test]
    fn a_use_as_dictionary_that_cannot_be_honoured_makes_no_dictionary() {
        for bad in [
            "",
            "id=\"v1\"",
            "match=/a/*",
            r#"match="/a/*", type=zstd-dict"#,
            r#"match="/a/*", type="raw""#,
            r#"match="/a/*", match-dest="script""#,
            r#"match="/a/*", match-dest=(script)"#,
            r#"match="/a/*","#,
            r#"match="/a/*" id="x""#,
            r#"match="/a/*"#,
        ] {
            assert_eq!(use_as_dictionary(bad), None, "{bad:?}");
        }
        let long_id = format!(r#"match="/a", id="{}""#, "x".repeat(MAX_ID_LEN + 1));
        assert_eq!(use_as_dictionary(&long_id), None);
    }

    #[test]
    fn dictionary_id_is_a_string() {
        assert_eq!(dictionary_id(" \"v1\" "), Some("v1".into()));
        assert_eq!(dictionary_id("v1"), None);
        assert_eq!(dictionary_id("\"v1"), None);
        assert_eq!(dictionary_id("\"a\", \"b\""), None);
    }

    #[test]
    fn the_added_header_round_trips() {
        let value = use_as_dictionary_value("/static/app.*.js");
        assert_eq!(value.as_deref(), Some(r#"match="/static/app.*.js""#));
        let parsed = value.as_deref().and_then(use_as_dictionary);
        assert_eq!(parsed.map(|d| d.pattern), Some("/static/app.*.js".into()));
        assert_eq!(use_as_dictionary_value("/a/(x)"), None);
    }
}
