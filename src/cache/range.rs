//! A `Range` request against a stored object of known length (RFC 9110 §14).

/// What a `Range` field asks of an object of a given length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// The whole object: no `Range`, one this server ignores (another unit, a syntax
    /// error, several ranges), or one that covers everything anyway is still a range.
    Whole,
    /// Bytes `first..=last`, a 206.
    Part { first: u64, last: u64 },
    /// Nothing of the object: a 416 with `Content-Range: bytes */length`.
    Unsatisfiable,
}

/// Reads a `Range` field (all its lines) for an object of `length` bytes. Only single byte
/// ranges are served: several ranges get the whole object, which RFC 9110 §14.2 allows and
/// spares a multipart body.
pub fn ask(values: &[String], length: u64) -> Ask {
    let [value] = values else {
        return Ask::Whole;
    };
    let value = value.trim();
    let Some((unit, set)) = value.split_once('=') else {
        return Ask::Whole;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return Ask::Whole;
    }
    let specs: Vec<&str> = set
        .split(',')
        .map(|s| s.trim_matches([' ', '\t']))
        .filter(|s| !s.is_empty())
        .collect();
    let [spec] = specs.as_slice() else {
        return Ask::Whole;
    };
    let Some((first, last)) = spec.split_once('-') else {
        return Ask::Whole;
    };
    let number = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // Past u64 is past any object: as large as it gets.
        Some(s.parse().unwrap_or(u64::MAX))
    };
    match (first, last) {
        ("", suffix) => match number(suffix) {
            None => Ask::Whole,
            Some(0) => Ask::Unsatisfiable,
            Some(_) if length == 0 => Ask::Unsatisfiable,
            Some(n) => Ask::Part {
                first: length.saturating_sub(n),
                last: length - 1,
            },
        },
        (first, last) => {
            let Some(first) = number(first) else {
                return Ask::Whole;
            };
            let last = match last {
                "" => None,
                l => match number(l) {
                    Some(l) if l >= first => Some(l),
                    // last < first, or not a number: an invalid range, ignored.
                    _ => return Ask::Whole,
                },
            };
            if first >= length {
                return Ask::Unsatisfiable;
            }
            Ask::Part {
                first,
                last: last.map_or(length - 1, |l| l.min(length - 1)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(range: &str, length: u64) -> Ask {
        ask(&[range.to_string()], length)
    }

    #[test]
    fn the_three_forms_of_a_byte_range() {
        assert_eq!(a("bytes=0-99", 1000), Ask::Part { first: 0, last: 99 });
        assert_eq!(
            a("bytes=900-", 1000),
            Ask::Part {
                first: 900,
                last: 999
            }
        );
        assert_eq!(
            a("bytes=-100", 1000),
            Ask::Part {
                first: 900,
                last: 999
            }
        );
        assert_eq!(a("Bytes = 5-5", 10), Ask::Part { first: 5, last: 5 });
        assert_eq!(
            a("bytes=990-5000", 1000),
            Ask::Part {
                first: 990,
                last: 999
            }
        );
        assert_eq!(
            a("bytes=-5000", 1000),
            Ask::Part {
                first: 0,
                last: 999
            }
        );
    }

    #[test]
    fn what_cannot_be_satisfied_is_a_416() {
        assert_eq!(a("bytes=1000-", 1000), Ask::Unsatisfiable);
        assert_eq!(a("bytes=1000-2000", 1000), Ask::Unsatisfiable);
        assert_eq!(a("bytes=-0", 1000), Ask::Unsatisfiable);
        assert_eq!(a("bytes=0-", 0), Ask::Unsatisfiable);
        assert_eq!(a("bytes=-1", 0), Ask::Unsatisfiable);
        assert_eq!(a("bytes=99999999999999999999999-", 10), Ask::Unsatisfiable);
    }

    #[test]
    fn what_this_server_does_not_serve_gets_the_whole_object() {
        for ignored in [
            "",
            "bytes",
            "items=0-1",
            "bytes=5-1",
            "bytes=a-b",
            "bytes=0-1, 5-6",
            "bytes=-",
            "bytes=1-2-3",
        ] {
            assert_eq!(a(ignored, 1000), Ask::Whole, "{ignored:?}");
        }
        assert_eq!(ask(&[], 10), Ask::Whole);
        assert_eq!(
            ask(&["bytes=0-1".into(), "bytes=2-3".into()], 10),
            Ask::Whole
        );
    }

    proptest::proptest! {
        /// A part is always inside the object.
        #[test]
        fn parts_lie_within_the_object(range in "bytes=[0-9]{0,4}-[0-9]{0,4}", length in 0u64..5000) {
            if let Ask::Part { first, last } = a(&range, length) {
                proptest::prop_assert!(first <= last && last < length);
            }
        }
    }
}
