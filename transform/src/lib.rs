//! Chunked body transforms: each stage consumes input chunks and produces output chunks,
//! emitting every byte as soon as it is certain, in memory that does not grow with the body.
//!
//! The contract (see `Transform`) and its invariants, which every stage and every composed
//! [`Pipeline`] keeps and the tests prove:
//! 1. split invariance: the output is identical however the input is split into chunks;
//! 2. bounded hold-back: a stage keeps at most a stated number of bytes between calls;
//! 3. flush transparency: after `flush`, no byte that can no longer change is held;
//! 4. untouched bytes are byte-exact, valid UTF-8 or not.

use std::fmt;

use bytes::Bytes;

pub mod codec;
pub mod dictionary;
pub mod esi;
#[cfg(feature = "testing")]
pub mod fuzzing;
pub mod html;
pub mod pipeline;
pub mod replace;
#[cfg(feature = "testing")]
pub mod testing;

pub use pipeline::Pipeline;

/// Output chunks are appended here; a stage never clears it.
pub type Sink = Vec<Bytes>;

/// A stage failed on its input; the stream it was part of cannot be completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformError {
    pub stage: &'static str,
    pub reason: String,
}

impl TransformError {
    pub fn new(stage: &'static str, reason: impl Into<String>) -> Self {
        TransformError {
            stage,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for TransformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} stage: {}", self.stage, self.reason)
    }
}

impl std::error::Error for TransformError {}

/// One stage of a body transform. Errors are values: a stage never panics on input.
pub trait Transform {
    /// A short name for logs and errors (`replace`, `html`, `gzip-decode`, …).
    fn name(&self) -> &'static str;

    /// Takes one input chunk and emits every output byte that is already certain.
    fn push(&mut self, chunk: Bytes, out: &mut Sink) -> Result<(), TransformError>;

    /// Emits everything that can be emitted without more input, so a progressive stream
    /// never stalls behind this stage. Called after every input chunk by the proxy.
    fn flush(&mut self, out: &mut Sink) -> Result<(), TransformError>;

    /// End of input: emits the rest, and any trailer the format needs.
    fn finish(&mut self, out: &mut Sink) -> Result<(), TransformError>;
}
