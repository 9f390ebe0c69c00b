//! Replays the checked-in seed corpus of the `cache_meta` fuzz target through its invariant
//! check, so the cases the fuzzer starts from (and any crash it found, once added) stay
//! fixed. Native only: the wasm test runner has no access to the corpus files.
#![cfg(not(target_arch = "wasm32"))]

use std::path::Path;

#[test]
fn cache_meta_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../transform/fuzz/corpus/cache_meta");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    files.sort();
    assert!(files.len() >= 3, "only {} seed files", files.len());
    for file in files {
        let data = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        firstbyte_cache_meta::fuzzing::check(&data);
    }
}
