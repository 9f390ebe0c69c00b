#![no_main]
//! The edge cache's stored metadata format: any bytes decode to an error or to a head that
//! survives its round trip, and any head survives its own, whatever its field names and
//! values. The seed corpus in corpus/cache_meta/ is replayed by firstbyte-cache-meta's tests.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| firstbyte_cache_meta::fuzzing::check(data));
