//! The `dcb` or `dcz` encoder, made when the body's first bytes reach it instead of before
//! the head.
//!
//! Reading a held dictionary, checking that its bytes hash to the name they were found
//! under, and loading them into the encoder take milliseconds for a large one (about 4 ms
//! for three.js's 612 KiB into Brotli's window on Viceroy: docs/dictionaries.md), and
//! nothing in the head depends on them: the lookup and the metadata check, which decide
//! between a dictionary coding and the fallback, stay before it. What can still fail here
//! (the bytes unreadable, a hash that does not match, the encoder refused) fails the stage,
//! and a stage that fails after the head abandons the response: a client never gets a
//! complete-looking `dcb` or `dcz` body made against other bytes than its dictionary.

use bytes::Bytes;
use firstbyte_transform::dictionary::{Dictionary, DictionaryCoding};
use firstbyte_transform::{Sink, Transform, TransformError};

/// What reads the dictionary once the body starts.
pub type Open = Box<dyn FnOnce() -> Result<Dictionary, String>>;

/// The encoder of `coding`, built on first use from the dictionary `open` reads.
pub struct Deferred {
    coding: DictionaryCoding,
    open: Option<Open>,
    encoder: Option<Box<dyn Transform>>,
}

impl Deferred {
    pub fn new(coding: DictionaryCoding, open: Open) -> Deferred {
        Deferred {
            coding,
            open: Some(open),
            encoder: None,
        }
    }

    fn encoder(&mut self) -> Result<&mut Box<dyn Transform>, TransformError> {
        let name = self.coding.stage_name();
        if let Some(open) = self.open.take() {
            let dictionary = open().map_err(|why| TransformError::new(name, why))?;
            self.encoder = Some(self.coding.encoder(&dictionary)?);
        }
        self.encoder
            .as_mut()
            .ok_or_else(|| TransformError::new(name, "the dictionary could not be read"))
    }
}

impl Transform for Deferred {
    fn name(&self) -> &'static str {
        self.coding.stage_name()
    }

    fn push(&mut self, chunk: Bytes, out: &mut Sink) -> Result<(), TransformError> {
        self.encoder()?.push(chunk, out)
    }

    fn flush(&mut self, out: &mut Sink) -> Result<(), TransformError> {
        self.encoder()?.flush(out)
    }

    fn finish(&mut self, out: &mut Sink) -> Result<(), TransformError> {
        self.encoder()?.finish(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use firstbyte_transform::codec::Limits;
    use firstbyte_transform::dictionary::{DcbDecoder, DcbEncoder};

    fn run(stage: &mut dyn Transform, input: &[u8]) -> Result<Vec<u8>, TransformError> {
        let mut out = Sink::default();
        stage.push(Bytes::copy_from_slice(input), &mut out)?;
        stage.flush(&mut out)?;
        stage.finish(&mut out)?;
        Ok(out.into_iter().flatten().collect())
    }

    #[test]
    fn the_encoder_made_late_writes_what_one_made_early_does() -> Result<(), TransformError> {
        let dictionary = Dictionary::new(Bytes::from_static(b"release one of the bundle;"));
        let body = b"release two of the bundle;";
        let held = dictionary.clone();
        let open: Open = Box::new(move || Ok(held));
        let late = run(&mut Deferred::new(DictionaryCoding::Dcb, open), body)?;
        let early = run(&mut DcbEncoder::new(&dictionary, None)?, body)?;
        assert_eq!(late, early);
        let decoded = run(&mut DcbDecoder::new(&dictionary, Limits::default()), &late)?;
        assert_eq!(decoded, body);
        Ok(())
    }

    #[test]
    fn a_dictionary_that_cannot_be_read_fails_the_stage_at_its_first_byte() {
        let mut stage = Deferred::new(
            DictionaryCoding::Dcz,
            Box::new(|| Err("held bytes do not hash to the advertised dictionary".into())),
        );
        let mut out = Sink::default();
        let err = stage.push(Bytes::from_static(b"x"), &mut out).err();
        assert!(err.is_some_and(|e| e.reason.contains("do not hash")));
        assert!(out.is_empty(), "nothing of a dcz body goes out");
        // Every later call fails too: the response is abandoned, never finished cleanly.
        assert!(stage.finish(&mut out).is_err());
    }
}
