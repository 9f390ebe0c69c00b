#![no_main]
//! Split invariance, the hold-back bound and untouched text of the ESI tokenizer, driven by
//! libFuzzer; the seed corpus in corpus/esi/ is replayed by the crate's tests on every run.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| firstbyte_transform::fuzzing::esi::check(data));
