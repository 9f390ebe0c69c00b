//! `/asset/app.v<N>.js`: versioned script releases that share most of their bytes, the
//! material of compression dictionaries (RFC 9842, docs/dictionaries.md). Release N is the
//! dev origin's text with a banner naming N and, every 8 KiB, a short line only release N
//! has: what a new release of a bundle looks like next to the last one.

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
    let mut shared = vec![0u8; len];
    super::prose::text_bytes(0, &mut shared);
    let mut out = format!("/* app release {version} */\n").into_bytes();
    for (i, piece) in shared.chunks(EDIT_EVERY).enumerate() {
        out.extend_from_slice(piece);
        if version > 1 {
            out.extend_from_slice(format!("\nrelease({version}, {i});\n").as_bytes());
        }
    }
    out
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
}
