#![no_main]
//! ESI expressions (`esi:when test`) and variable references on arbitrary text, driven by
//! libFuzzer; the seed corpus in corpus/expr/ is replayed by the crate's tests on every run.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| firstbyte_transform::fuzzing::expr::check(data));
