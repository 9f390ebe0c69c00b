//! The `dcb` decoder: for an origin that already compresses with a dictionary, so a content
//! stage, or a client without that dictionary, gets the plain bytes.

use bytes::Bytes;

use super::dcb::HeaderReader;
use super::hash::{Dictionary, DictionaryHash};
use crate::codec::{Decoder, Limits};
use crate::{Sink, Transform, TransformError};

const NAME: &str = "dcb-decode";

/// Decodes a `dcb` body with the dictionary it was made for (stage name `dcb-decode`).
///
/// - The frame header is checked as it arrives: a wrong magic is an error at once, a hash
///   other than the held dictionary's is an error naming both (the body was made for a
///   dictionary this edge does not hold under that name).
/// - The Brotli stream after it is decoded as the `br` [`Decoder`] decodes, with the
///   dictionary in its window: output as soon as it is produced, standard windows only
///   (up to 16 MiB), bytes after the end and a stream that stops early are errors, and the
///   bomb guard counts the dictionary as compressed input (see `Limits`).
/// - A body that ends inside the header is an error, even an empty one: `dcb` has no
///   empty encoding.
/// - After an error, every later call returns the same error.
pub struct DcbDecoder {
    expected: DictionaryHash,
    header: HeaderReader,
    /// `Some` once the header has been read and matched.
    body: Option<Decoder>,
    /// Until the header is complete: the dictionary, to build the body's decoder with.
    dictionary: Option<Bytes>,
    limits: Limits,
    /// Bytes received after the header.
    body_bytes: u64,
    failed: Option<TransformError>,
}

impl DcbDecoder {
    pub fn new(dictionary: &Dictionary, limits: Limits) -> DcbDecoder {
        DcbDecoder {
            expected: *dictionary.hash(),
            header: HeaderReader::default(),
            body: None,
            dictionary: Some(dictionary.bytes().clone()),
            limits,
            body_bytes: 0,
            failed: None,
        }
    }

    fn fail(&mut self, err: TransformError) -> TransformError {
        self.failed = Some(err.clone());
        err
    }

    /// Reads the header from the front of `chunk`; returns what follows it.
    fn read_header(&mut self, chunk: Bytes) -> Result<Bytes, TransformError> {
        let (used, hash) = self
            .header
            .feed(&chunk)
            .map_err(|reason| TransformError::new(NAME, reason))?;
        if let Some(hash) = hash {
            if hash != self.expected {
                return Err(TransformError::new(
                    NAME,
                    format!(
                        "the body was compressed against dictionary {}, not the held {}",
                        hash.to_hex(),
                        self.expected.to_hex()
                    ),
                ));
            }
            let dictionary = self.dictionary.take().unwrap_or_default();
            self.body = Some(Decoder::brotli_with_dictionary(
                NAME,
                &dictionary,
                self.limits,
            ));
        }
        Ok(chunk.slice(used..))
    }

    fn call(
        &mut self,
        chunk: Bytes,
        step: impl FnOnce(&mut Decoder, Bytes, &mut Sink) -> Result<(), TransformError>,
        finishing: bool,
        out: &mut Sink,
    ) -> Result<(), TransformError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let rest = match self.body {
            Some(_) => chunk,
            None => self.read_header(chunk).map_err(|e| self.fail(e))?,
        };
        self.body_bytes += rest.len() as u64;
        let result = match self.body.as_mut() {
            // The br decoder takes an empty body as an empty stream; after a dcb header
            // the Brotli stream is not optional.
            Some(_) if finishing && self.body_bytes == 0 => Err(TransformError::new(
                NAME,
                "truncated dcb stream: no Brotli stream after its header",
            )),
            Some(body) => step(body, rest, out),
            None if finishing => Err(TransformError::new(
                NAME,
                match self.header.is_empty() {
                    true => "empty body: a dcb stream has at least its 36-byte header",
                    false => "truncated dcb stream: it ends inside its 36-byte header",
                },
            )),
            None => Ok(()),
        };
        result.map_err(|e| self.fail(e))
    }
}

impl Transform for DcbDecoder {
    fn name(&self) -> &'static str {
        NAME
    }

    fn push(&mut self, chunk: Bytes, out: &mut Sink) -> Result<(), TransformError> {
        self.call(chunk, |body, rest, out| body.push(rest, out), false, out)
    }

    fn flush(&mut self, out: &mut Sink) -> Result<(), TransformError> {
        self.call(Bytes::new(), |body, _, out| body.flush(out), false, out)
    }

    fn finish(&mut self, out: &mut Sink) -> Result<(), TransformError> {
        let finish = |body: &mut Decoder, _: Bytes, out: &mut Sink| body.finish(out);
        self.call(Bytes::new(), finish, true, out)
    }
}
