//! What ESI's variables read from a client's headers, as pure functions: the user agent's
//! `browser`, `os` and `version` from a small table, and `Accept-Language` as a list and as
//! the specification's booleans. Whoever composes supplies the headers.
//!
//! `$(HTTP_USER_AGENT{…})` (ESI 1.0 §5, with the specification's values), first match wins:
//!
//! | key | value | when the `User-Agent` |
//! |---|---|---|
//! | `browser` | `MSIE` | holds `MSIE ` or `Trident/` (Internet Explorer 11) |
//! | | `MOZILLA` | starts with `Mozilla/` (every current browser: Chrome, Safari, Firefox, Edge) |
//! | | `OTHER` | anything else, or no `User-Agent` |
//! | `os` | `WIN` | holds `Windows` |
//! | | `MAC` | holds `Mac OS`, `Macintosh`, `iPhone` or `iPad` |
//! | | `UNIX` | holds `Linux` (Android included), `X11`, `BSD` or `CrOS` |
//! | | `OTHER` | anything else |
//! | `version` | digits and dots | after `MSIE ` or `rv:` for `MSIE`; else after the first `/` |
//!
//! This is no user-agent database: `browser` tells Internet Explorer from the rest, as the
//! specification's values can, and a template that needs more compares
//! `$(HTTP_USER_AGENT)` with `matches`.

/// `$(HTTP_USER_AGENT{key})` for a `User-Agent` (absent: `None`); `None` for an unknown key.
pub fn user_agent(header: Option<&str>, key: &str) -> Option<String> {
    let ua = header.unwrap_or_default();
    let msie = ua.contains("MSIE ") || ua.contains("Trident/");
    match key {
        "browser" => Some(
            if msie {
                "MSIE"
            } else if ua.starts_with("Mozilla/") {
                "MOZILLA"
            } else {
                "OTHER"
            }
            .to_string(),
        ),
        "os" => {
            let has = |words: &[&str]| words.iter().any(|w| ua.contains(w));
            Some(
                if has(&["Windows"]) {
                    "WIN"
                } else if has(&["Mac OS", "Macintosh", "iPhone", "iPad"]) {
                    "MAC"
                } else if has(&["Linux", "X11", "BSD", "CrOS"]) {
                    "UNIX"
                } else {
                    "OTHER"
                }
                .to_string(),
            )
        }
        "version" => {
            let after = |marker: &str| ua.find(marker).map(|at| &ua[at + marker.len()..]);
            let from = if msie {
                after("MSIE ").or_else(|| after("rv:"))
            } else {
                after("/")
            };
            let version: String = from
                .unwrap_or_default()
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            Some(version)
        }
        _ => None,
    }
}

/// The language ranges of an `Accept-Language`, in order, lowercase, without their weights;
/// a range weighted `q=0` (not acceptable, RFC 9110 §12.4.2) is left out.
pub fn languages(header: &str) -> Vec<String> {
    header
        .split(',')
        .filter_map(|item| {
            let mut parts = item.split(';');
            let range = parts.next()?.trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (!range.is_empty() && !refused).then(|| range.to_ascii_lowercase())
        })
        .collect()
}

/// `$(HTTP_ACCEPT_LANGUAGE{lang})` (ESI 1.0): whether the client accepts `lang`, that is,
/// one of its ranges is `lang` or starts with `lang-` (`en` accepts `en-GB`), ignoring case.
pub fn accepts_language(header: &str, lang: &str) -> bool {
    let lang = lang.to_ascii_lowercase();
    !lang.is_empty()
        && languages(header).iter().any(|range| {
            range == &lang
                || range
                    .strip_prefix(lang.as_str())
                    .is_some_and(|rest| rest.starts_with('-'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME_WIN: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
    const FIREFOX_LINUX: &str =
        "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";
    const IE11: &str = "Mozilla/5.0 (Windows NT 6.1; Trident/7.0; rv:11.0) like Gecko";
    const IE8: &str = "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0)";
    const ANDROID: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36";
    const CURL: &str = "curl/8.5.0";

    #[test]
    fn the_user_agent_table() {
        for (ua, browser, os, version) in [
            (Some(CHROME_WIN), "MOZILLA", "WIN", "5.0"),
            (Some(SAFARI_IPHONE), "MOZILLA", "MAC", "5.0"),
            (Some(FIREFOX_LINUX), "MOZILLA", "UNIX", "5.0"),
            (Some(IE11), "MSIE", "WIN", "11.0"),
            (Some(IE8), "MSIE", "WIN", "8.0"),
            (Some(ANDROID), "MOZILLA", "UNIX", "5.0"),
            (Some(CURL), "OTHER", "OTHER", "8.5.0"),
            (None, "OTHER", "OTHER", ""),
        ] {
            assert_eq!(
                user_agent(ua, "browser").as_deref(),
                Some(browser),
                "{ua:?}"
            );
            assert_eq!(user_agent(ua, "os").as_deref(), Some(os), "{ua:?}");
            assert_eq!(
                user_agent(ua, "version").as_deref(),
                Some(version),
                "{ua:?}"
            );
        }
        assert_eq!(user_agent(Some(CURL), "engine"), None);
    }

    #[test]
    fn accept_language_as_list_and_booleans() {
        let header = "fr-CH, fr;q=0.9, EN;q=0.8, de;q=0, *;q=0.5";
        assert_eq!(languages(header), ["fr-ch", "fr", "en", "*"]);
        assert!(accepts_language(header, "fr"));
        assert!(accepts_language(header, "FR-ch"));
        assert!(accepts_language(header, "en"));
        assert!(!accepts_language(header, "de"), "q=0 refuses it");
        assert!(!accepts_language(header, "f"), "a prefix is no language");
        assert!(!accepts_language(header, "ch"));
        assert!(!accepts_language(header, ""));
        assert!(!accepts_language("", "en"));
        assert!(accepts_language("en-GB", "en"));
        assert!(
            !accepts_language("en", "en-GB"),
            "a range covers its subtags, not more"
        );
    }
}
