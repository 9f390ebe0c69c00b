//! `Accept-Encoding` negotiation, RFC 9110 §12.5.3.

use super::Encoding;

/// Picks the coding of the response from the request's `Accept-Encoding` and the codings the
/// server can produce, `offered` in the server's order of preference (e.g. `[Brotli, Gzip]`).
///
/// - Each coding gets the q-value of its own entry (`gzip` and `x-gzip` are the same coding),
///   else the q-value of `*`, else it is not acceptable. `q=0` means not acceptable. A coding
///   listed twice counts with its highest q-value. Tokens are ASCII case-insensitive and
///   whitespace around elements, `;` and `=` is ignored.
/// - The acceptable offered coding with the highest q-value wins; ties go to the earlier one
///   in `offered`.
/// - `identity` is acceptable unless excluded by `identity;q=0`, or by `*;q=0` without an
///   `identity` entry. It wins over the best offered coding only when the client gave it,
///   explicitly or through `*`, a strictly higher q-value (`gzip;q=0.5, identity`); when the
///   client is silent about it, it ranks below every acceptable coding.
/// - No header at all: [`Encoding::Identity`]. RFC 9110 allows any coding then, but a client
///   that sends no `Accept-Encoding` (a script, a health check) usually cannot decode one. An
///   empty header asks for no coding: identity too.
/// - Nothing offered is acceptable: [`Encoding::Identity`]. That includes the case where
///   identity itself was excluded (`identity;q=0` or `*;q=0`): RFC 9110 would allow a 406,
///   but sending the body uncoded is what every server does and what clients cope with, so
///   this function never fails.
/// - Malformed elements (a bad token, a q-value outside the grammar such as `q=2` or
///   `q=0.1234`, a parameter without `=`) are ignored, as if absent; never a panic.
pub fn negotiate(accept_encoding: Option<&str>, offered: &[Encoding]) -> Encoding {
    let Some(header) = accept_encoding else {
        return Encoding::Identity;
    };
    let prefs = Preferences::parse(header);

    // Ranks: 2 × q (0..=2000) for codings with a q-value, 1 for an identity the client was
    // silent about (acceptable, but below any positive q), 0 for not acceptable.
    let rank = |encoding: Encoding| -> u32 {
        match prefs.quality(encoding) {
            Some(q) => 2 * u32::from(q),
            None if encoding == Encoding::Identity => 1,
            None => 0,
        }
    };
    let mut best: Option<(u32, Encoding)> = None;
    for &encoding in offered {
        let r = rank(encoding);
        if r > 0 && best.is_none_or(|(best_rank, _)| r > best_rank) {
            best = Some((r, encoding));
        }
    }
    match best {
        Some((best_rank, encoding)) if rank(Encoding::Identity) <= best_rank => encoding,
        _ => Encoding::Identity,
    }
}

/// Whether a client whose request carried `accept_encoding` accepts a response whose
/// `Content-Encoding` is `content_coding` (one token, or a list such as `gzip, br`).
///
/// `identity` (or an empty value) is always acceptable. Any other coding must be listed with
/// a q-value above 0, by its own name (`gzip` and `x-gzip` are one coding) or through `*`;
/// every coding of a list must be. Unlike [`negotiate`], this knows no coding list of its
/// own: a `zstd` response is acceptable to a client that lists `zstd`. No header at all
/// accepts nothing but identity, for the reason `negotiate` gives.
pub fn accepts(accept_encoding: Option<&str>, content_coding: &str) -> bool {
    let codings: Vec<&str> = content_coding
        .split(',')
        .map(|c| c.trim_matches([' ', '\t']))
        .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("identity"))
        .collect();
    if codings.is_empty() {
        return true;
    }
    let Some(header) = accept_encoding else {
        return false;
    };
    codings.iter().all(|coding| {
        let mut own: Option<u16> = None;
        let mut any: Option<u16> = None;
        for (listed, q) in header.split(',').filter_map(parse_element) {
            let slot = if same_coding(listed, coding) {
                &mut own
            } else if listed == "*" {
                &mut any
            } else {
                continue;
            };
            *slot = Some(slot.map_or(q, |old| old.max(q)));
        }
        own.or(any).is_some_and(|q| q > 0)
    })
}

/// The `Accept-Encoding` a shared cache can key on: every coding the header names, each
/// once, lowercase (`x-gzip` as `gzip`), sorted, marked accepted or refused (`;q=0`).
///
/// It accepts exactly what the header accepts (`accepts` gives the same answer for every
/// coding), so a response made for it is acceptable to every client whose header has the
/// same class. Preferences among accepted codings (q-values above 0) are dropped: they
/// choose between acceptable responses, and the server's order decides instead. `None`
/// when nothing but identity is accepted and nothing is refused, which is also what no
/// header at all means here.
pub fn coding_class(accept_encoding: Option<&str>) -> Option<String> {
    let mut codings: Vec<(String, bool)> = Vec::new();
    for (coding, q) in accept_encoding
        .unwrap_or("")
        .split(',')
        .filter_map(parse_element)
    {
        let coding = if coding.eq_ignore_ascii_case("x-gzip") {
            "gzip".to_string()
        } else {
            coding.to_ascii_lowercase()
        };
        match codings.iter_mut().find(|(c, _)| *c == coding) {
            Some((_, accepted)) => *accepted |= q > 0,
            None => codings.push((coding, q > 0)),
        }
    }
    // A bare identity adds nothing: identity is acceptable unless refused.
    codings.retain(|(c, accepted)| !(c == "identity" && *accepted));
    if codings.is_empty() {
        return None;
    }
    codings.sort();
    let elements: Vec<String> = codings
        .into_iter()
        .map(|(c, accepted)| if accepted { c } else { format!("{c};q=0") })
        .collect();
    Some(elements.join(", "))
}

fn same_coding(a: &str, b: &str) -> bool {
    let canonical = |c: &str| {
        if c.eq_ignore_ascii_case("x-gzip") {
            "gzip".to_string()
        } else {
            c.to_ascii_lowercase()
        }
    };
    canonical(a) == canonical(b)
}

/// The q-values (in thousandths) an `Accept-Encoding` header gives the codings we know.
#[derive(Default)]
struct Preferences {
    identity: Option<u16>,
    gzip: Option<u16>,
    deflate: Option<u16>,
    brotli: Option<u16>,
    any: Option<u16>,
}

impl Preferences {
    fn parse(header: &str) -> Preferences {
        let mut prefs = Preferences::default();
        for element in header.split(',') {
            let Some((coding, q)) = parse_element(element) else {
                continue;
            };
            let slot = match coding.to_ascii_lowercase().as_str() {
                "identity" => &mut prefs.identity,
                "gzip" | "x-gzip" => &mut prefs.gzip,
                "deflate" => &mut prefs.deflate,
                "br" => &mut prefs.brotli,
                "*" => &mut prefs.any,
                _ => continue,
            };
            *slot = Some(slot.map_or(q, |old| old.max(q)));
        }
        prefs
    }

    /// The client's q-value for `encoding`: its own entry, else `*`'s, else `None`.
    fn quality(&self, encoding: Encoding) -> Option<u16> {
        let own = match encoding {
            Encoding::Identity => self.identity,
            Encoding::Gzip => self.gzip,
            Encoding::Deflate => self.deflate,
            Encoding::Brotli => self.brotli,
        };
        own.or(self.any)
    }
}

/// One list element: `coding *( OWS ";" OWS param )`, with the q-value of its `q` parameter
/// (1000 when absent). `None` for an empty or malformed element.
fn parse_element(element: &str) -> Option<(&str, u16)> {
    let mut parts = element.split(';');
    let coding = parts.next()?.trim_matches([' ', '\t']);
    if coding.is_empty() || !coding.bytes().all(is_tchar) {
        return None;
    }
    let mut q = 1000;
    for param in parts {
        let (name, value) = param.split_once('=')?;
        if name.trim_matches([' ', '\t']).eq_ignore_ascii_case("q") {
            q = parse_qvalue(value.trim_matches([' ', '\t']))?;
        }
    }
    Some((coding, q))
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in thousandths.
fn parse_qvalue(value: &str) -> Option<u16> {
    let (int, frac) = match value.split_once('.') {
        Some((int, frac)) => (int, frac),
        None => (value, ""),
    };
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths = 0u16;
    for (i, digit) in frac.bytes().enumerate() {
        thousandths += u16::from(digit - b'0') * [100, 10, 1][i];
    }
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// RFC 9110 `tchar`, plus `*` (already a tchar) for the wildcard.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acceptance_is_per_coding_and_identity_always_passes() {
        assert!(accepts(None, "identity"));
        assert!(accepts(Some(""), ""));
        assert!(!accepts(None, "gzip"), "no header: only identity");
        assert!(!accepts(Some(""), "gzip"));
        assert!(accepts(Some("gzip, br"), "gzip"));
        assert!(accepts(Some("x-gzip"), "GZIP"));
        assert!(accepts(Some("gzip"), "x-gzip"));
        assert!(!accepts(Some("gzip;q=0, br"), "gzip"));
        assert!(accepts(Some("*"), "zstd"));
        assert!(!accepts(Some("*, zstd;q=0"), "zstd"));
        assert!(accepts(Some("zstd"), "zstd"));
        assert!(!accepts(Some("br"), "gzip"));
        assert!(accepts(Some("gzip, br"), "gzip, br"));
        assert!(!accepts(Some("gzip"), "gzip, br"));
        assert!(
            !accepts(Some("\u{fffd}"), "gzip"),
            "garbage accepts nothing"
        );
        assert!(
            !accepts(Some("gzip;q=2"), "gzip"),
            "a malformed element is ignored"
        );
    }

    #[test]
    fn a_coding_class_names_each_coding_once_in_order() {
        assert_eq!(coding_class(None), None);
        assert_eq!(coding_class(Some("")), None);
        assert_eq!(coding_class(Some("identity")), None);
        assert_eq!(
            coding_class(Some("br;q=0.5, GZIP, x-gzip;q=0")).as_deref(),
            Some("br, gzip")
        );
        assert_eq!(
            coding_class(Some("gzip;q=0, identity;q=0, zstd")).as_deref(),
            Some("gzip;q=0, identity;q=0, zstd")
        );
        assert_eq!(coding_class(Some("*")).as_deref(), Some("*"));
        assert_eq!(coding_class(Some("gzip;q=2, \u{fffd}")), None);
    }

    proptest::proptest! {
        /// What a cache keys on accepts exactly what the client's header accepts.
        #[test]
        fn a_coding_class_accepts_what_its_header_accepts(
            elements in proptest::collection::vec(
                (
                    proptest::sample::select(vec![
                        "gzip", "x-gzip", "GZip", "br", "deflate", "zstd", "identity", "*", "compress", "x-y",
                    ]),
                    proptest::option::of(proptest::sample::select(vec!["0", "0.0", "0.5", "1", "1.000", "2", "x"])),
                ),
                0..6,
            ),
            probe in proptest::sample::select(vec![
                "gzip", "x-gzip", "br", "deflate", "zstd", "identity", "compress", "x-y", "other", "gzip, br",
            ]),
        ) {
            let header: Vec<String> = elements
                .iter()
                .map(|(c, q)| match q {
                    Some(q) => format!("{c};q={q}"),
                    None => c.to_string(),
                })
                .collect();
            let header = header.join(", ");
            let class = coding_class(Some(&header));
            proptest::prop_assert_eq!(
                accepts(Some(&header), probe),
                accepts(class.as_deref(), probe),
                "{:?} as {:?}", header, class
            );
            // The class of a class is itself: a fill sends it, and would key on it again.
            proptest::prop_assert_eq!(coding_class(class.as_deref()), class.clone());
        }
    }

    #[test]
    fn qvalues_follow_the_grammar() {
        assert_eq!(parse_qvalue("0"), Some(0));
        assert_eq!(parse_qvalue("0."), Some(0));
        assert_eq!(parse_qvalue("0.5"), Some(500));
        assert_eq!(parse_qvalue("0.125"), Some(125));
        assert_eq!(parse_qvalue("1"), Some(1000));
        assert_eq!(parse_qvalue("1.000"), Some(1000));
        for bad in [
            "", ".5", "1.5", "2", "0.1234", "-0", "0.5x", "1.001", "01", "q",
        ] {
            assert_eq!(parse_qvalue(bad), None, "{bad:?}");
        }
    }
}
