#![no_main]
//! Split invariance and the other stage invariants of `html`, driven by libFuzzer; the seed
//! corpus in corpus/html/ is replayed by the crate's tests on every run.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| firstbyte_transform::fuzzing::html::check(data));
