//! Invariant checks driven by arbitrary bytes, one per stage: the cargo-fuzz targets in
//! `fuzz/` call them, and `tests/corpus.rs` replays the checked-in seed corpus through them
//! on every test run. Each check panics when an invariant breaks (that is what a fuzzer
//! reports); a stage's own error on bad input is fine and is not a failure.

pub mod codec;
pub mod esi;
pub mod expr;
pub mod html;
pub mod replace;
