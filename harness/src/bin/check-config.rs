//! `make check-config`: every unusable key of fastly.toml's firstbyte stores, at once.
//! Usage: check-config [path/to/fastly.toml] (default: the repository's).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use firstbyte_harness::check_config::check;
use firstbyte_harness::stack::repo_root;

/// Every unusable key of fastly.toml's firstbyte stores (the local one Viceroy reads and
/// the [setup] one `fastly compute publish` creates), at once.
#[derive(Debug, Parser)]
#[command(name = "check-config")]
struct Args {
    /// The manifest to check [default: the repository's fastly.toml].
    #[arg(value_name = "path/to/fastly.toml")]
    manifest: Option<PathBuf>,
}

fn main() -> ExitCode {
    let path = Args::parse()
        .manifest
        .unwrap_or_else(|| repo_root().join("fastly.toml"));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_is_optional() {
        let parse = |list: &[&str]| {
            Args::try_parse_from(std::iter::once("check-config").chain(list.iter().copied()))
                .map(|a| a.manifest)
        };
        assert_eq!(parse(&[]).unwrap(), None);
        assert_eq!(
            parse(&["other/fastly.toml"]).unwrap(),
            Some(PathBuf::from("other/fastly.toml"))
        );
        assert!(parse(&["a.toml", "b.toml"]).is_err());
        use clap::CommandFactory;
        Args::command().debug_assert();
    }
}
