//! An include's `ttl` attribute, in Akamai's forms: a number of seconds (`ttl="300"`), or a
//! number with one unit, `s`, `m`, `h` or `d` (`ttl="5m"`). `0` (in any unit) means the
//! fragment is not to be stored. What is made of it (the fragment's route's cache, bounded
//! by its `cache_max_ttl`) is the composer's.

use super::inline_str::InlineStr;

/// The longest ttl, in seconds: RFC 9111's largest delta-seconds (§1.2.2), as the cache
/// takes `max-age`. A longer one is taken as this, not refused: it means "as long as you
/// may", and the route's `cache_max_ttl` bounds it anyway.
pub const MAX_TTL: u32 = 1 << 31;

/// An include's `ttl` as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ttl {
    /// Seconds, at most [`MAX_TTL`].
    Seconds(u32),
    /// Not a ttl (`1.5h`, `5 m`, `-1`, `5M`, empty): the value as written, for the one log
    /// line that says it was ignored.
    Unreadable(InlineStr),
}

impl Ttl {
    /// Reads `value` (entities already decoded): digits, then at most one unit, with white
    /// space around the whole ignored. Units are lowercase, as Akamai writes them.
    pub fn read(value: &str) -> Ttl {
        let v = value.trim();
        let digits = v.bytes().take_while(u8::is_ascii_digit).count();
        let unit = match &v[digits..] {
            "" | "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Ttl::Unreadable(value.into()),
        };
        if digits == 0 {
            return Ttl::Unreadable(value.into());
        }
        // Saturating: a ttl of a thousand digits is "as long as may be", in constant work
        // per digit and never an overflow.
        let seconds = v[..digits]
            .bytes()
            .fold(0u64, |n, d| {
                (n * 10 + u64::from(d - b'0')).min(u64::from(MAX_TTL))
            })
            .saturating_mul(unit)
            .min(u64::from(MAX_TTL));
        Ttl::Seconds(u32::try_from(seconds).unwrap_or(MAX_TTL))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_units() {
        for (written, seconds) in [
            ("0", 0),
            ("45", 45),
            ("45s", 45),
            ("5m", 300),
            ("2h", 7200),
            ("1d", 86_400),
            ("0m", 0),
            (" 10 ", 10),
            ("007", 7),
        ] {
            assert_eq!(Ttl::read(written), Ttl::Seconds(seconds), "{written:?}");
        }
    }

    #[test]
    fn anything_else_is_unreadable_and_kept_as_written() {
        for written in [
            "",
            " ",
            "s",
            "m5",
            "1.5h",
            "5 m",
            "5M",
            "5ms",
            "+5",
            "-1",
            "1e3",
            "5mm",
            "ten",
            "5\u{ff53}",
            "\u{0665}",
        ] {
            assert_eq!(
                Ttl::read(written),
                Ttl::Unreadable(written.into()),
                "{written:?}"
            );
        }
    }

    #[test]
    fn a_huge_ttl_saturates() {
        assert_eq!(Ttl::read("2147483648"), Ttl::Seconds(MAX_TTL));
        assert_eq!(Ttl::read("2147483647"), Ttl::Seconds(MAX_TTL - 1));
        assert_eq!(Ttl::read("99999999999999999999999d"), Ttl::Seconds(MAX_TTL));
        assert_eq!(Ttl::read("30000d"), Ttl::Seconds(MAX_TTL));
        let long = "9".repeat(10_000);
        assert_eq!(Ttl::read(&long), Ttl::Seconds(MAX_TTL));
    }
}
