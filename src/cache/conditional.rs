//! A client's preconditions against a stored response (RFC 9110 §13): `If-None-Match` and
//! `If-Modified-Since`, which may turn a hit into a 304, and `If-Range`, which decides
//! whether a range is served; and whether an origin's 304 is about the stored response at
//! all (RFC 9111 §4.3.4). Pure: the validators and the request's fields come in as strings.

use std::time::SystemTime;

/// Whether a GET or HEAD may be answered 304 Not Modified (RFC 9110 §13.2.2): by
/// `If-None-Match` when the request has one (weak comparison, `*`, lists), otherwise by
/// `If-Modified-Since` against `Last-Modified`.
pub fn not_modified(
    if_none_match: &[String],
    if_modified_since: &[String],
    etag: Option<&str>,
    last_modified: Option<&str>,
) -> bool {
    if !if_none_match.is_empty() {
        return if_none_match.iter().any(|value| {
            if value.trim() == "*" {
                return true;
            }
            let Some(current) = etag.and_then(|e| entity_tags(e).into_iter().next()) else {
                return false;
            };
            entity_tags(value)
                .iter()
                .any(|tag| tag.opaque == current.opaque)
        });
    }
    // One valid date, or the field is ignored (§13.1.3).
    let [since] = if_modified_since else {
        return false;
    };
    match (date(since), last_modified.and_then(date)) {
        (Some(since), Some(modified)) => modified <= since,
        _ => false,
    }
}

/// Whether a `Range` is honoured given the request's `If-Range` (RFC 9110 §13.1.5): with no
/// `If-Range`; with an entity-tag that matches the current one strongly (a weak tag never
/// does); or with a date equal to the `Last-Modified`.
pub fn range_applies(if_range: &[String], etag: Option<&str>, last_modified: Option<&str>) -> bool {
    let [value] = if_range else {
        return if_range.is_empty();
    };
    let value = value.trim();
    if value.starts_with('"') || value.starts_with("W/") {
        let (Some(asked), Some(current)) = (
            entity_tags(value).into_iter().next(),
            etag.and_then(|e| entity_tags(e).into_iter().next()),
        ) else {
            return false;
        };
        return !asked.weak && !current.weak && asked.opaque == current.opaque;
    }
    match (date(value), last_modified.and_then(date)) {
        (Some(asked), Some(modified)) => asked == modified,
        _ => false,
    }
}

/// Whether the origin's 304 to a revalidation selects the stored response for update (RFC
/// 9111 §4.3.4), from the validators each carries (the origin's own, for the stored one).
/// A strong `ETag` must match the stored one strongly, a weak one weakly; without an `ETag`,
/// a `Last-Modified` must be the stored date. A 304 with neither selects the one stored
/// response. An `ETag` that cannot be read selects nothing: it is not known to match.
pub fn selects_stored(
    etag: Option<&str>,
    last_modified: Option<&str>,
    stored_etag: Option<&str>,
    stored_last_modified: Option<&str>,
) -> bool {
    if let Some(etag) = etag {
        let (Some(new), Some(stored)) = (
            entity_tags(etag).into_iter().next(),
            stored_etag.and_then(|e| entity_tags(e).into_iter().next()),
        ) else {
            return false;
        };
        let strong = !new.weak;
        return new.opaque == stored.opaque && !(strong && stored.weak);
    }
    match last_modified.and_then(date) {
        Some(new) => stored_last_modified.and_then(date) == Some(new),
        None => true,
    }
}

#[derive(Debug, PartialEq, Eq)]
struct EntityTag<'a> {
    weak: bool,
    /// The quoted part, quotes included.
    opaque: &'a str,
}

/// The entity-tags of a list (`W/"a", "b,c"`); reading stops at the first malformed one.
fn entity_tags(list: &str) -> Vec<EntityTag<'_>> {
    let mut tags = Vec::new();
    let mut rest = list;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return tags;
        }
        let weak = rest.starts_with("W/");
        let quoted = if weak { &rest[2..] } else { rest };
        if !quoted.starts_with('"') {
            return tags;
        }
        let Some(end) = quoted[1..].find('"') else {
            return tags;
        };
        let opaque = &quoted[..end + 2];
        tags.push(EntityTag { weak, opaque });
        rest = &quoted[end + 2..];
    }
}

fn date(value: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(value.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    const LM: &str = "Sat, 05 Dec 2026 10:00:00 GMT";

    #[test]
    fn if_none_match_compares_weakly_and_takes_lists_and_star() {
        let nm = |inm: &[&str], etag: Option<&str>| not_modified(&list(inm), &[], etag, None);
        assert!(nm(&["\"a\""], Some("\"a\"")));
        assert!(nm(&["W/\"a\""], Some("\"a\"")), "weak comparison");
        assert!(nm(&["\"a\""], Some("W/\"a\"")));
        assert!(nm(&["\"x\", W/\"a\""], Some("W/\"a\"")));
        assert!(nm(&["\"x\"", "\"a\""], Some("\"a\"")), "several lines");
        assert!(nm(&["\"a,b\""], Some("\"a,b\"")), "a comma inside a tag");
        assert!(nm(&["*"], None), "* matches any current representation");
        assert!(!nm(&["\"b\""], Some("\"a\"")));
        assert!(!nm(&["\"a\""], None));
        assert!(!nm(&["a"], Some("a")), "unquoted is malformed");
    }

    #[test]
    fn if_none_match_takes_precedence_over_if_modified_since() {
        let later = "Sat, 05 Dec 2026 11:00:00 GMT";
        assert!(not_modified(&[], &list(&[later]), None, Some(LM)));
        assert!(
            !not_modified(&list(&["\"b\""]), &list(&[later]), Some("\"a\""), Some(LM)),
            "RFC 9110 §13.2.2: If-Modified-Since is not evaluated"
        );
    }

    #[test]
    fn if_modified_since_needs_one_valid_date_on_both_sides() {
        let ims = |since: &[&str], lm: Option<&str>| not_modified(&[], &list(since), None, lm);
        assert!(ims(&[LM], Some(LM)), "not modified since that very second");
        assert!(!ims(&["Sat, 05 Dec 2026 09:59:59 GMT"], Some(LM)));
        assert!(!ims(&["yesterday"], Some(LM)));
        assert!(!ims(&[LM, LM], Some(LM)), "two values: ignored");
        assert!(!ims(&[LM], None));
        assert!(!ims(&[LM], Some("garbage")));
    }

    #[test]
    fn if_range_needs_a_strong_match() {
        assert!(range_applies(&[], Some("W/\"a\""), None));
        assert!(range_applies(&list(&["\"a\""]), Some("\"a\""), None));
        assert!(!range_applies(&list(&["\"a\""]), Some("W/\"a\""), None));
        assert!(!range_applies(&list(&["W/\"a\""]), Some("W/\"a\""), None));
        assert!(!range_applies(&list(&["\"b\""]), Some("\"a\""), None));
        assert!(range_applies(&list(&[LM]), None, Some(LM)));
        assert!(!range_applies(
            &list(&["Sat, 05 Dec 2026 10:00:01 GMT"]),
            None,
            Some(LM)
        ));
        assert!(!range_applies(
            &list(&["\"a\"", "\"a\""]),
            Some("\"a\""),
            None
        ));
    }

    #[test]
    fn a_304_about_another_representation_updates_nothing() {
        let sel =
            |etag, lm, stored_etag, stored_lm| selects_stored(etag, lm, stored_etag, stored_lm);
        assert!(sel(Some("\"r1\""), None, Some("\"r1\""), None));
        assert!(
            !sel(Some("\"r2\""), None, Some("\"r1\""), Some(LM)),
            "another strong validator: not this response"
        );
        assert!(
            !sel(Some("\"r1\""), None, Some("W/\"r1\""), None),
            "a strong validator never matches a weak one"
        );
        assert!(
            sel(Some("W/\"r1\""), None, Some("\"r1\""), None),
            "weak: weakly"
        );
        assert!(!sel(Some("W/\"r2\""), None, Some("W/\"r1\""), None));
        assert!(
            !sel(Some("\"r1\""), None, None, Some(LM)),
            "nothing stored to match"
        );
        assert!(!sel(Some("garbage"), None, Some("\"r1\""), None));
        assert!(sel(None, Some(LM), Some("\"r1\""), Some(LM)));
        assert!(!sel(
            None,
            Some("Sat, 05 Dec 2026 10:00:01 GMT"),
            None,
            Some(LM)
        ));
        assert!(
            sel(None, None, Some("\"r1\""), Some(LM)),
            "no validator: the one stored"
        );
    }

    proptest::proptest! {
        #[test]
        fn any_fields_are_read_without_panicking(inm in ".{0,30}", etag in ".{0,12}") {
            let one = std::slice::from_ref(&inm);
            let _ = not_modified(one, one, Some(&etag), Some(&etag));
            let _ = range_applies(&[inm], Some(&etag), Some(&etag));
        }
    }
}
