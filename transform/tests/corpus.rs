//! Replays the checked-in fuzz seed corpus of every stage through its invariant check, so
//! the cases the fuzzers start from (and any crash they found, once added) stay fixed.
//! Native only: the wasm test runner has no access to the corpus files.
#![cfg(not(target_arch = "wasm32"))]

use std::path::Path;

use firstbyte_transform::fuzzing;

fn replay(stage: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(stage);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{stage}: only {} seed files", files.len());
    for file in files {
        let data = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        check(&data);
    }
}

#[test]
fn replace_corpus() {
    replay("replace", fuzzing::replace::check);
}

#[test]
fn html_corpus() {
    replay("html", fuzzing::html::check);
}

#[test]
fn codec_corpus() {
    replay("codec", fuzzing::codec::check);
}

#[test]
fn esi_corpus() {
    replay("esi", fuzzing::esi::check);
}

#[test]
fn expr_corpus() {
    replay("expr", fuzzing::expr::check);
}
