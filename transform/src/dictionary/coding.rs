//! The two dictionary content codings of RFC 9842, `dcb` and `dcz`: what differs between
//! them (token, frame header, encoder) in one place, so everything that negotiates, frames
//! or checks them is one code path for both.

use super::dcb::header as dcb_header;
use super::dcz::header as dcz_header;
use super::encoder::DcbEncoder;
use super::hash::{Dictionary, DictionaryHash};
use super::DczEncoder;
use crate::{Transform, TransformError};

/// `dcb` (Brotli against a dictionary) or `dcz` (Zstandard against one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DictionaryCoding {
    Dcb,
    Dcz,
}

impl DictionaryCoding {
    /// Every dictionary coding, in the order their tokens sort.
    pub const ALL: [DictionaryCoding; 2] = [DictionaryCoding::Dcb, DictionaryCoding::Dcz];

    /// The `Content-Encoding` token.
    pub fn token(self) -> &'static str {
        match self {
            DictionaryCoding::Dcb => "dcb",
            DictionaryCoding::Dcz => "dcz",
        }
    }

    /// The coding a `Content-Encoding` or `compress` token names (any case, trimmed).
    pub fn from_token(token: &str) -> Option<DictionaryCoding> {
        let token = token.trim();
        Self::ALL
            .into_iter()
            .find(|c| token.eq_ignore_ascii_case(c.token()))
    }

    /// The name of its encoding stage, as logs show it.
    pub fn stage_name(self) -> &'static str {
        match self {
            DictionaryCoding::Dcb => "dcb-encode",
            DictionaryCoding::Dcz => "dcz-encode",
        }
    }

    /// The bytes a body of this coding made against `hash` starts with.
    pub fn header(self, hash: &DictionaryHash) -> Vec<u8> {
        match self {
            DictionaryCoding::Dcb => dcb_header(hash).to_vec(),
            DictionaryCoding::Dcz => dcz_header(hash).to_vec(),
        }
    }

    /// Its encoder against `dictionary`, at the default level.
    pub fn encoder(self, dictionary: &Dictionary) -> Result<Box<dyn Transform>, TransformError> {
        Ok(match self {
            DictionaryCoding::Dcb => Box::new(DcbEncoder::new(dictionary, None)?),
            DictionaryCoding::Dcz => Box::new(DczEncoder::new(dictionary)?),
        })
    }
}
