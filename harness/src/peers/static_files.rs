//! The files [`super::NginxStatic`] serves: deterministic bytes, public so a test can
//! compare what came through a proxy with what nginx read from disk.

use std::io::Write;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use flate2::write::ZlibEncoder;
use flate2::{Compression, Crc};

use crate::origin::{html_page, text_bytes};

/// One file of the docroot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticFile {
    /// The URL path, which is also its place under the docroot.
    pub path: &'static str,
    /// What nginx sends as `Content-Type` (its `types` block is made from these).
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// Every file's modification time, so nginx's `ETag` and `Last-Modified` are the same on
/// every run: 2024-01-01T00:00:00Z.
pub const STATIC_MTIME: u64 = 1_704_067_200;

/// Bytes of `/big.txt`: 1 MiB.
pub const BIG_TXT_LEN: usize = 1 << 20;

/// The content types nginx gzips (when asked). text/html is not listed because nginx
/// always gzips it and warns about a duplicate when it is named; image/png is left out on
/// purpose: a client must get `/image.png` as it is on disk.
pub const GZIP_TYPES: &[&str] = &[
    "text/css",
    "application/javascript",
    "application/json",
    "text/plain",
    "image/svg+xml",
];

pub(crate) fn mtime() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(STATIC_MTIME)
}

/// All files, built once: `/index.html` (the dev origin's ~20 KB HTML page, full of
/// `origin.example`), `/style.css`, `/app.js`, `/data.json`, `/logo.svg`, `/big.txt`
/// (1 MiB of the dev origin's `/text`), `/image.png` (a real, incompressible PNG) and
/// `/404.html` (nginx's page for every missing path).
pub fn static_files() -> &'static [StaticFile] {
    static FILES: OnceLock<Vec<StaticFile>> = OnceLock::new();
    FILES.get_or_init(build)
}

/// The file at `path`, if the docroot has one.
pub fn static_file(path: &str) -> Option<&'static StaticFile> {
    static_files().iter().find(|f| f.path == path)
}

fn build() -> Vec<StaticFile> {
    let file = |path, content_type, bytes: Vec<u8>| StaticFile {
        path,
        content_type,
        bytes,
    };
    let mut big = vec![0u8; BIG_TXT_LEN];
    text_bytes(0, &mut big);
    vec![
        file("/index.html", "text/html", html_page().as_bytes().to_vec()),
        file("/style.css", "text/css", style_css().into_bytes()),
        file("/app.js", "application/javascript", app_js().into_bytes()),
        file("/data.json", "application/json", data_json().into_bytes()),
        file("/logo.svg", "image/svg+xml", LOGO_SVG.as_bytes().to_vec()),
        file("/big.txt", "text/plain", big),
        file("/image.png", "image/png", png(64, 64)),
        file("/404.html", "text/html", NOT_FOUND_HTML.as_bytes().to_vec()),
    ]
}

fn style_css() -> String {
    let mut css = String::from(
        "/* firstbyte peer origin: static stylesheet */\n\
         body { font-family: sans-serif; background: url(\"https://origin.example/img/bg.png\"); }\n",
    );
    for i in 0..40 {
        css.push_str(&format!(
            ".card-{i} {{ margin: {}px; background-image: url(//origin.example/img/card-{i}.png); }}\n",
            i % 7
        ));
    }
    css
}

fn app_js() -> String {
    let mut js = String::from(
        "// firstbyte peer origin: static script\n\
         \"use strict\";\n\
         const API = \"https://origin.example/api/v1\";\n",
    );
    for i in 0..40 {
        js.push_str(&format!(
            "function load{i}() {{ return fetch(API + \"/items/{i}\", {{ headers: {{ \"X-From\": \"origin.example\" }} }}); }}\n"
        ));
    }
    js
}

fn data_json() -> String {
    let items: Vec<String> = (0..60)
        .map(|i| {
            format!(
                "    {{\"id\": {i}, \"url\": \"https://origin.example/items/{i}\", \"name\": \"item {i}\"}}"
            )
        })
        .collect();
    format!(
        "{{\n  \"origin\": \"https://origin.example/\",\n  \"items\": [\n{}\n  ]\n}}\n",
        items.join(",\n")
    )
}

const LOGO_SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="120" height="32" viewBox="0 0 120 32">
  <title>origin.example</title>
  <rect width="120" height="32" rx="4" fill="#0b5"/>
  <text x="8" y="21" font-family="sans-serif" font-size="14" fill="#fff">origin.example</text>
</svg>
"##;

const NOT_FOUND_HTML: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Not found – origin.example</title>
</head>
<body>
<h1>404: not on origin.example</h1>
<p>Go back to <a href="https://origin.example/">the home page</a>.</p>
</body>
</html>
"#;

/// A valid 8-bit RGB PNG of pseudo-random pixels: deflate cannot shrink it, so a proxy
/// that compresses it anyway gains nothing, and a test sees the exact bytes.
fn png(width: u32, height: u32) -> Vec<u8> {
    // Each row: filter type 0 (None), then 3 bytes per pixel.
    let row_len = 1 + width as usize * 3;
    let mut raw = vec![0u8; row_len * height as usize];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for row in raw.chunks_mut(row_len) {
        for byte in &mut row[1..] {
            // xorshift64: cheap, deterministic noise.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *byte = (state >> 24) as u8;
        }
    }
    let mut zlib = ZlibEncoder::new(Vec::new(), Compression::best());
    // Writing into a Vec cannot fail.
    let _ = zlib.write_all(&raw);
    let idat = zlib.finish().unwrap_or_default();

    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit, truecolour, deflate, adaptive, no interlace

    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [(b"IHDR", &ihdr), (b"IDAT", &idat), (b"IEND", &Vec::new())] {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        png.extend_from_slice(kind);
        png.extend_from_slice(data);
        let mut crc = Crc::new();
        crc.update(kind);
        crc.update(data);
        png.extend_from_slice(&crc.sum().to_be_bytes());
    }
    png
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_what_the_peer_tests_rely_on() {
        let index = static_file("/index.html").expect("index");
        let html = String::from_utf8_lossy(&index.bytes);
        assert!(
            (15_000..40_000).contains(&index.bytes.len()),
            "{}",
            index.bytes.len()
        );
        assert!(html.matches("origin.example").count() > 20);
        assert!(html.contains("<head>") && html.contains("<body>"));
        assert_eq!(
            static_file("/big.txt").map(|f| f.bytes.len()),
            Some(BIG_TXT_LEN)
        );
        for file in static_files() {
            if file.content_type != "image/png" {
                let text = String::from_utf8_lossy(&file.bytes);
                assert!(text.contains("origin.example"), "{}", file.path);
            }
        }
        assert_eq!(static_files(), static_files());
    }

    #[test]
    fn the_png_is_valid_and_incompressible() {
        let png = &static_file("/image.png").expect("png").bytes;
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR"));
        assert!(
            png.ends_with(b"IEND\xae\x42\x60\x82"),
            "IEND's CRC is fixed"
        );
        // The pixels do not shrink: 64 rows of 1 + 64 * 3 bytes, plus framing.
        assert!(png.len() > 64 * 193);
    }
}
