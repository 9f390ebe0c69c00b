#![no_main]
//! Split invariance and the other stage invariants of `codec`, driven by libFuzzer; the seed
//! corpus in corpus/codec/ is replayed by the crate's tests on every run.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| firstbyte_transform::fuzzing::codec::check(data));
