//! Fixed documents and their compressed forms, built once and shared by every request.

use std::io::{self, Write};
use std::sync::OnceLock;

use super::html;

/// Which `Content-Encoding` a compressed body uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoding {
    Gzip,
    Brotli,
}

impl Encoding {
    pub(crate) fn token(self) -> &'static str {
        match self {
            Encoding::Gzip => "gzip",
            Encoding::Brotli => "br",
        }
    }
}

/// The plain text behind `/gzip` and `/brotli`: a few KB of JSON, identical on every call.
pub fn sample_document() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(build_sample_document)
}

fn build_sample_document() -> String {
    let mut items = Vec::new();
    for i in 0..40u32 {
        items.push(format!(
            "    {{\"id\": {i}, \"name\": \"item-{i:03}\", \"price_cents\": {}, \"tags\": [\"edge\", \"cache\", \"tier-{}\"], \"note\": \"café – naïve ✓\"}}",
            (i * 7919) % 10_000,
            i % 4
        ));
    }
    format!(
        "{{\n  \"source\": \"firstbyte-dev-origin\",\n  \"description\": \"Deterministic sample served compressed by /gzip and /brotli.\",\n  \"items\": [\n{}\n  ]\n}}\n",
        items.join(",\n")
    )
}

/// Compressed bytes are cached as `Result` so a (theoretical) encoder failure becomes a 500
/// for that request rather than a panic in the server.
type Cached = Result<Vec<u8>, String>;

pub(crate) fn compressed_sample(encoding: Encoding) -> Result<&'static [u8], &'static str> {
    static GZIP: OnceLock<Cached> = OnceLock::new();
    static BROTLI: OnceLock<Cached> = OnceLock::new();
    cached(&GZIP, &BROTLI, encoding, sample_document().as_bytes())
}

pub(crate) fn compressed_html(encoding: Encoding) -> Result<&'static [u8], &'static str> {
    static GZIP: OnceLock<Cached> = OnceLock::new();
    static BROTLI: OnceLock<Cached> = OnceLock::new();
    cached(&GZIP, &BROTLI, encoding, html::html_page().as_bytes())
}

fn cached(
    gzip_slot: &'static OnceLock<Cached>,
    brotli_slot: &'static OnceLock<Cached>,
    encoding: Encoding,
    plain: &[u8],
) -> Result<&'static [u8], &'static str> {
    let slot = match encoding {
        Encoding::Gzip => gzip_slot,
        Encoding::Brotli => brotli_slot,
    };
    match slot.get_or_init(|| compress(encoding, plain).map_err(|e| e.to_string())) {
        Ok(bytes) => Ok(bytes.as_slice()),
        Err(msg) => Err(msg.as_str()),
    }
}

pub(crate) fn compress(encoding: Encoding, plain: &[u8]) -> io::Result<Vec<u8>> {
    match encoding {
        Encoding::Gzip => {
            // flate2 writes mtime 0 and a fixed OS byte, so the output is byte-for-byte stable.
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
            enc.write_all(plain)?;
            enc.finish()
        }
        Encoding::Brotli => {
            // Quality 5 / window 22 is what servers typically use for on-the-fly brotli.
            let params = brotli::enc::BrotliEncoderParams {
                quality: 5,
                lgwin: 22,
                ..Default::default()
            };
            let mut out = Vec::new();
            brotli::BrotliCompress(&mut &plain[..], &mut out, &params)?;
            Ok(out)
        }
    }
}
