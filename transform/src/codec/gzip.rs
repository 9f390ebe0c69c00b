//! The gzip member header (RFC 1952 §2.3), parsed byte by byte so it may arrive split
//! anywhere. Nothing of it is kept but the flags and the running header CRC: the optional
//! extra field, file name and comment are skipped as they stream by, whatever their length.

use flate2::Crc;

const ID1: u8 = 0x1f;
const ID2: u8 = 0x8b;
const CM_DEFLATE: u8 = 8;

const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;
const RESERVED: u8 = 0xe0;

/// Where in the header the next byte belongs.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// ID1 ID2 CM FLG MTIME(4) XFL OS: `seen` of the 10 bytes so far.
    Fixed {
        seen: u8,
    },
    /// XLEN, little-endian.
    ExtraLen {
        seen: u8,
        len: u16,
    },
    Extra {
        left: u16,
    },
    Name,
    Comment,
    /// CRC16: the low 16 bits of the CRC-32 of every header byte before it.
    HeaderCrc {
        seen: u8,
        value: u16,
    },
    Done,
}

#[derive(Debug)]
pub(super) struct Header {
    step: Step,
    flags: u8,
    crc: Crc,
    /// Not the first member: a first byte other than ID1 is trailing data, not a bad header.
    continuation: bool,
}

impl Header {
    pub(super) fn new(continuation: bool) -> Header {
        Header {
            step: Step::Fixed { seen: 0 },
            flags: 0,
            crc: Crc::new(),
            continuation,
        }
    }

    /// Takes header bytes from the front of `input`. Returns how many it took and whether
    /// the header is complete (then the deflate data starts right after them).
    pub(super) fn feed(&mut self, input: &[u8]) -> Result<(usize, bool), String> {
        let mut used = 0;
        while used < input.len() {
            if let Step::Done = self.step {
                break;
            }
            let byte = input[used];
            used += 1;
            if !matches!(self.step, Step::HeaderCrc { .. }) {
                self.crc.update(&[byte]);
            }
            self.step = match self.step {
                Step::Fixed { seen } => {
                    self.check_fixed(seen, byte)?;
                    if seen == 3 {
                        self.flags = byte;
                    }
                    if seen < 9 {
                        Step::Fixed { seen: seen + 1 }
                    } else {
                        self.after(0)
                    }
                }
                Step::ExtraLen { seen: 0, .. } => Step::ExtraLen {
                    seen: 1,
                    len: u16::from(byte),
                },
                Step::ExtraLen { len, .. } => {
                    let len = len | u16::from(byte) << 8;
                    if len == 0 {
                        self.after(FEXTRA)
                    } else {
                        Step::Extra { left: len }
                    }
                }
                Step::Extra { left: 1 } => self.after(FEXTRA),
                Step::Extra { left } => Step::Extra { left: left - 1 },
                Step::Name if byte == 0 => self.after(FNAME),
                Step::Comment if byte == 0 => self.after(FCOMMENT),
                step @ (Step::Name | Step::Comment) => step,
                Step::HeaderCrc { seen: 0, .. } => Step::HeaderCrc {
                    seen: 1,
                    value: u16::from(byte),
                },
                Step::HeaderCrc { value, .. } => {
                    let value = value | u16::from(byte) << 8;
                    if value != self.crc.sum() as u16 {
                        return Err("gzip header checksum (FHCRC) mismatch".into());
                    }
                    Step::Done
                }
                Step::Done => unreachable!("the loop stops at Done"),
            };
        }
        Ok((used, matches!(self.step, Step::Done)))
    }

    fn check_fixed(&self, index: u8, byte: u8) -> Result<(), String> {
        let ok = match index {
            0 => byte == ID1,
            1 => byte == ID2,
            2 => byte == CM_DEFLATE,
            3 => byte & RESERVED == 0,
            _ => true,
        };
        if ok {
            return Ok(());
        }
        Err(match index {
            0 | 1 if self.continuation => {
                "unexpected bytes after the end of the gzip stream".to_string()
            }
            0 | 1 => "not a gzip stream (bad magic bytes)".to_string(),
            2 => format!("unsupported gzip compression method {byte}"),
            _ => format!("reserved gzip header flags set ({byte:#04x})"),
        })
    }

    /// The step after the optional field `done` (0 after the fixed part), in RFC order:
    /// extra field, name, comment, header CRC.
    fn after(&self, done: u8) -> Step {
        let order = [FEXTRA, FNAME, FCOMMENT, FHCRC];
        let start = order.iter().position(|&f| f == done).map_or(0, |i| i + 1);
        match order[start..].iter().find(|&&f| self.flags & f != 0) {
            Some(&FEXTRA) => Step::ExtraLen { seen: 0, len: 0 },
            Some(&FNAME) => Step::Name,
            Some(&FCOMMENT) => Step::Comment,
            Some(_) => Step::HeaderCrc { seen: 0, value: 0 },
            None => Step::Done,
        }
    }
}

/// The member trailer: CRC-32 and ISIZE (length mod 2^32) of the uncompressed data.
#[derive(Debug, Default)]
pub(super) struct Trailer {
    bytes: [u8; 8],
    seen: usize,
}

impl Trailer {
    /// Takes trailer bytes from the front of `input`. Returns how many it took and whether
    /// the trailer is complete.
    pub(super) fn feed(&mut self, input: &[u8]) -> (usize, bool) {
        let take = (8 - self.seen).min(input.len());
        self.bytes[self.seen..self.seen + take].copy_from_slice(&input[..take]);
        self.seen += take;
        (take, self.seen == 8)
    }

    pub(super) fn check(&self, crc: &Crc) -> Result<(), String> {
        let [c0, c1, c2, c3, s0, s1, s2, s3] = self.bytes;
        if u32::from_le_bytes([c0, c1, c2, c3]) != crc.sum() {
            return Err("gzip data checksum (CRC-32) mismatch".into());
        }
        if u32::from_le_bytes([s0, s1, s2, s3]) != crc.amount() {
            return Err("gzip length (ISIZE) mismatch".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_with_everything() -> Vec<u8> {
        let mut h = vec![
            ID1,
            ID2,
            8,
            FEXTRA | FNAME | FCOMMENT | FHCRC,
            1,
            2,
            3,
            4,
            0,
            3,
        ];
        h.extend_from_slice(&[3, 0, b'a', b'b', b'c']);
        h.extend_from_slice(b"name.txt\0");
        h.extend_from_slice(b"a comment\0");
        let mut crc = Crc::new();
        crc.update(&h);
        h.extend_from_slice(&(crc.sum() as u16).to_le_bytes());
        h
    }

    #[test]
    fn parses_every_optional_field_split_anywhere() {
        let h = header_with_everything();
        for cut in 0..=h.len() {
            let mut header = Header::new(false);
            let (a, done_a) = header.feed(&h[..cut]).unwrap();
            assert_eq!((a, done_a), (cut, cut == h.len()));
            let mut rest = h[cut..].to_vec();
            rest.extend_from_slice(b"deflate data");
            let (b, done) = header.feed(&rest).unwrap();
            assert!(done);
            assert_eq!(a + b, h.len(), "stops exactly at the end of the header");
        }
    }

    #[test]
    fn rejects_bad_headers() {
        let mut h = header_with_everything();
        let last = h.len() - 1;
        h[last] ^= 1;
        assert!(Header::new(false).feed(&h).unwrap_err().contains("FHCRC"));
        assert!(Header::new(false)
            .feed(b"\x1f\x8c")
            .unwrap_err()
            .contains("magic"));
        assert!(Header::new(true)
            .feed(b"x")
            .unwrap_err()
            .contains("after the end"));
        assert!(Header::new(false)
            .feed(b"\x1f\x8b\x07")
            .unwrap_err()
            .contains("method"));
        assert!(Header::new(false)
            .feed(b"\x1f\x8b\x08\x20")
            .unwrap_err()
            .contains("reserved"));
    }
}
