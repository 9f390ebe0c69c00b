//! `/asset/app.v<N>.js`: versioned script releases that share most of their bytes, the
//! material of compression dictionaries (RFC 9842, docs/dictionaries.md). Release N is the
//! dev origin's text with a banner naming N and, every 8 KiB, a short line only release N
//! has: what a new release of a bundle looks like next to the last one. With `script=1` the
//! same release is a script a browser runs, and `/asset/releases.html` is the page that
//! loads two releases in a browser (harness/tests/browser.rs).

/// The default length of a release, before its per-release lines.
pub const DEFAULT_LEN: usize = 96 * 1024;

/// Where a release's own lines go.
const EDIT_EVERY: usize = 8 * 1024;

/// The release named by `app.v<N>.js` (N from 1 to 999).
pub fn version(name: &str) -> Option<u32> {
    let n: u32 = name
        .strip_prefix("app.v")?
        .strip_suffix(".js")?
        .parse()
        .ok()?;
    (1..=999).contains(&n).then_some(n)
}

/// The bytes of release `version`, `len` bytes of shared text plus its own lines.
pub fn asset(version: u32, len: usize) -> Vec<u8> {
    release(version, len, false)
}

/// Release `version` as a script: the same text, each 8 KiB piece inside a comment, so its
/// own lines are calls that run. It ends by setting `window.appRelease` to
/// `"release <N> ran <calls> edits"`: a browser that ran all of it, in order, reports every
/// edit line of the release (none for release 1, one per 8 KiB piece after that).
pub fn script(version: u32, len: usize) -> Vec<u8> {
    release(version, len, true)
}

fn release(version: u32, len: usize, script: bool) -> Vec<u8> {
    let mut shared = vec![0u8; len];
    super::prose::text_bytes(0, &mut shared);
    let mut out = format!("/* app release {version} */\n").into_bytes();
    if script {
        out.extend_from_slice(
            b"var appEdits = 0;\nfunction release(version, piece) { appEdits += 1; }\n",
        );
    }
    for (i, piece) in shared.chunks(EDIT_EVERY).enumerate() {
        // The text has no `*/` (words, spaces, punctuation, newlines): it cannot end
        // the comment early.
        if script {
            out.extend_from_slice(b"/*\n");
        }
        out.extend_from_slice(piece);
        if script {
            out.extend_from_slice(b"\n*/");
        }
        if version > 1 {
            out.extend_from_slice(format!("\nrelease({version}, {i});\n").as_bytes());
        }
    }
    if script {
        out.extend_from_slice(
            format!("\nwindow.appRelease = \"release {version} ran \" + appEdits + \" edits\";\n")
                .as_bytes(),
        );
    }
    out
}

/// The page that loads release 1 and then release 2 as scripts from `scripts` (a path
/// ending in `/`; empty: the page's own directory) and writes what happened into
/// `<pre id="result">` as JSON: `v1` and `v2`, the value each release set
/// (`window.appRelease`); `v1_arrival` and `v2_arrival`, what the browser's Resource
/// Timing says of each (`contentEncoding`, `encodedBodySize`, `decodedBodySize`); `error`,
/// if a script failed to load. Release 1 is sent with `Cache-Control: max-age=3600`: a
/// browser keeps a dictionary only in its HTTP cache. Between the two the page fetches
/// `pause` (a URL, when given): the browser registers the dictionary once release 1's body
/// is in, asynchronously, and a browser driven in virtual time skips timers but not a
/// fetch.
pub fn page(scripts: &str, pause: Option<&str>) -> String {
    include_str!("releases.html")
        .replace("SCRIPTS_URL", &js_string(Some(scripts)))
        .replace("PAUSE_URL", &js_string(pause))
}

/// `value` as a JavaScript string literal (or `null`) to put inside a `<script>`: JSON,
/// with `<` escaped so no value can close the element.
fn js_string(value: Option<&str>) -> String {
    serde_json::to_string(&value)
        .unwrap_or_else(|_| "null".to_string())
        .replace('<', "\\u003c")
}

/// The 32 bytes 64 hex digits spell, if they do.
pub fn hex_bytes(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_differ_and_share_most_bytes() {
        assert_eq!(version("app.v2.js"), Some(2));
        assert_eq!(version("app.v0.js"), None);
        assert_eq!(version("app.js"), None);
        let (v1, v2) = (asset(1, 20_000), asset(2, 20_000));
        assert_ne!(v1, v2);
        assert!(v2.len() - v1.len() < 100);
        assert_eq!(asset(2, 20_000), v2, "deterministic");
    }

    #[test]
    fn a_script_release_comments_out_the_text_and_calls_its_edits() {
        let s = String::from_utf8(script(2, DEFAULT_LEN)).expect("ASCII");
        let pieces = DEFAULT_LEN / EDIT_EVERY;
        assert_eq!(
            s.matches("/*\n").count(),
            pieces,
            "each piece opens a comment"
        );
        assert_eq!(
            s.matches("*/").count(),
            pieces + 1,
            "only its end (and the banner's) closes one"
        );
        assert_eq!(s.matches("\nrelease(2, ").count(), pieces);
        assert!(s.ends_with("window.appRelease = \"release 2 ran \" + appEdits + \" edits\";\n"));
        assert!(!String::from_utf8_lossy(&script(1, DEFAULT_LEN)).contains("\nrelease(1, "));
        let page = page("/dict/", Some("/x</script>"));
        assert!(page.contains(r#"const SCRIPTS = "/dict/";"#));
        assert!(page.contains(r#"const PAUSE = "/x\u003c/script>";"#));
    }
}
