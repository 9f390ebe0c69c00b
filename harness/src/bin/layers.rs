//! `make lint`'s layer check: no import circle between the files of `src/` or
//! `config/src/`, and no file there over 600 lines (see the library's `layers` module).
//! Usage: layers [--edges] [repo root] (default: this repository). Exits 1 on any finding.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use firstbyte_harness::layers::{check_dir, CHECKED_DIRS};
use firstbyte_harness::stack::repo_root;

/// Every import circle between the files of src/ and config/src/, with one chain of
/// edges round each, and every file there over 600 lines.
#[derive(Debug, Parser)]
#[command(name = "layers")]
struct Args {
    /// The repository to check [default: this one].
    #[arg(value_name = "repo root")]
    root: Option<PathBuf>,
    /// Also list every edge inside each circle, not only one chain round it.
    #[arg(long)]
    edges: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let root = args.root.unwrap_or_else(repo_root);
    let mut clean = true;
    for dir in CHECKED_DIRS {
        let report = check_dir(&root, dir);
        print!("{}", report.render());
        if args.edges {
            print!("{}", report.render_circle_edges());
        }
        println!(
            "layers: {dir}: {} import circle(s), {} file(s) over the length limit{}",
            report.circles.len(),
            report.long_files.len(),
            if report.errors.is_empty() {
                String::new()
            } else {
                format!(", {} error(s)", report.errors.len())
            }
        );
        clean &= report.is_clean();
    }
    if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
