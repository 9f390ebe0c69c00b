//! `make check-config`: every unusable key of fastly.toml's firstbyte stores, at once.
//! Usage: check-config [path/to/fastly.toml] (default: the repository's).

use std::process::ExitCode;

use firstbyte_harness::check_config::check;
use firstbyte_harness::stack::repo_root;

fn main() -> ExitCode {
    let path = std::env::args_os()
        .nth(1)
        .map_or_else(|| repo_root().join("fastly.toml"), Into::into);
    let manifest = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("check-config: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    match check(&manifest) {
        Err(e) => {
            eprintln!("check-config: {e}");
            ExitCode::FAILURE
        }
        Ok(errors) if errors.is_empty() => {
            println!(
                "check-config: {}: every key of every route is usable",
                path.display()
            );
            ExitCode::SUCCESS
        }
        Ok(errors) => {
            for (store, error) in &errors {
                eprintln!("check-config: [{store}] {error}");
            }
            eprintln!(
                "check-config: {} unusable key(s) in {}",
                errors.len(),
                path.display()
            );
            ExitCode::FAILURE
        }
    }
}
