//! `/release/<name>`: files from a directory named by `$FIRSTBYTE_RELEASES`, served as an
//! origin serves a library's published builds: a cacheable 200 of the file's bytes, typed
//! by its extension. The benchmark's dictionary part (`bench::dictionary`) puts two
//! releases of a real library there (downloaded from its registry, never committed) and
//! asks firstbyte's dictionary route for them. Without the variable every name is a 404:
//! the dev origin serves no file it was not pointed at.

use std::path::PathBuf;

use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use super::respond::{full, text, typed, Body};

/// Names the directory `/release/<name>` serves.
pub const RELEASES_DIR: &str = "FIRSTBYTE_RELEASES";

/// A release stays the same once published: any cache may keep it for a day.
const CACHE_CONTROL: &str = "public, max-age=86400";

/// The type a file's extension gives it; the dictionary route compresses scripts, styles
/// and JSON, as it would a real site's.
fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js" | "mjs") => "application/javascript",
        Some("css") => "text/css",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// Whether `name` is a plain file name: one segment of letters, digits, `.`, `-` and `_`,
/// not starting with a dot, so no request reaches outside the directory.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// The response for `/release/<name>`.
pub(crate) async fn release_file(name: &str) -> Response<Body> {
    let Some(dir) = std::env::var_os(RELEASES_DIR).map(PathBuf::from) else {
        return text(
            StatusCode::NOT_FOUND,
            format!("not found: no release directory (${RELEASES_DIR} is unset)\n"),
        );
    };
    if !plain_name(name) {
        return text(
            StatusCode::NOT_FOUND,
            format!("not found: {name:?} is not a file name\n"),
        );
    }
    // Read off the runtime's workers: a release is up to a few MB, and the origin serves
    // other requests meanwhile.
    let path = dir.join(name);
    let read = tokio::task::spawn_blocking(move || std::fs::read(path)).await;
    match read.unwrap_or_else(|e| Err(std::io::Error::other(e))) {
        Ok(bytes) => {
            let mut resp = typed(full(bytes), content_type(name));
            resp.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static(CACHE_CONTROL),
            );
            resp
        }
        Err(e) => text(StatusCode::NOT_FOUND, format!("not found: {name}: {e}\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_are_served_and_typed_by_extension() {
        assert!(plain_name("jquery-3.7.1.min.js"));
        for bad in ["", ".env", "../x.js", "a/b.js", "a b.js", "x%2f.js", ".."] {
            assert!(!plain_name(bad), "{bad:?}");
        }
        assert_eq!(
            content_type("three-0.152.0.min.js"),
            "application/javascript"
        );
        assert_eq!(content_type("a.css"), "text/css");
        assert_eq!(content_type("README"), "application/octet-stream");
    }
}
