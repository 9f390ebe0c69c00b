//! Query-string decoding, parameter validation, and the echo endpoints' name–value pairs
//! as JSON objects.

use serde::{Serialize, Serializer};

/// A 400 whose message names the parameter and what is wrong with it.
pub(crate) struct BadRequest(pub(crate) String);

/// Decoded `name=value` pairs in request order; repeated names are kept.
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    /// Form-style decoding (`+` is a space). Malformed escapes are kept literally and
    /// invalid UTF-8 is replaced, because an echo endpoint should show what it got, not
    /// refuse it.
    pub(crate) fn parse(raw: Option<&str>) -> Query {
        Query(
            form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn pairs(&self) -> &[(String, String)] {
        &self.0
    }
}

/// Name–value pairs written as a JSON object in their own order (serde_json's map would
/// sort them).
pub(crate) struct Members<'a>(pub(crate) Vec<(&'a str, String)>);

impl Serialize for Members<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

pub(crate) fn parse_u64(name: &str, raw: &str, min: u64, max: u64) -> Result<u64, BadRequest> {
    match raw.parse::<u64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        Ok(v) => Err(BadRequest(format!(
            "{name} must be between {min} and {max}, got {v}"
        ))),
        Err(_) => Err(BadRequest(format!(
            "{name} must be a whole number between {min} and {max}, got {raw:?}"
        ))),
    }
}

pub(crate) fn query_u64(
    query: &Query,
    name: &str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, BadRequest> {
    query
        .get(name)
        .map_or(Ok(default), |raw| parse_u64(name, raw, min, max))
}

pub(crate) fn parse_secs(name: &str, raw: &str) -> Result<f64, BadRequest> {
    match raw.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(BadRequest(format!(
            "{name} must be a non-negative number of seconds, got {raw:?}"
        ))),
    }
}

pub(crate) fn query_secs(query: &Query, name: &str, default: f64) -> Result<f64, BadRequest> {
    query
        .get(name)
        .map_or(Ok(default), |raw| parse_secs(name, raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_and_keeps_broken_ones() {
        let q = Query::parse(Some("a=a%3Db+c&b=100%&c=%zz%4&d=caf%C3%A9&e&&f=1"));
        assert_eq!(q.get("a"), Some("a=b c"));
        assert_eq!(q.get("b"), Some("100%"));
        assert_eq!(q.get("c"), Some("%zz%4"));
        assert_eq!(q.get("d"), Some("café"));
        assert_eq!(q.get("e"), Some(""));
        assert_eq!(q.pairs().len(), 6);
    }

    #[test]
    fn members_keep_their_order_and_are_escaped() -> Result<(), serde_json::Error> {
        let members = Members(vec![("b", "a\"b\\c\n\u{1}".into()), ("a", "café".into())]);
        assert_eq!(
            serde_json::to_string(&members)?,
            r#"{"b":"a\"b\\c\n\u0001","a":"café"}"#
        );
        assert_eq!(serde_json::to_string_pretty(&Members(Vec::new()))?, "{}");
        Ok(())
    }
}
