//! `bench [--smoke] [--samples N] [--downloads N] [--sizes 1024,1073741824] [--readme]`
//!
//! Starts the dev origin and Viceroy (reference app and firstbyte) on free ports, measures
//! TTFB and throughput for each mode and body size in one run, writes
//! target/bench/results.md, and with --readme puts the table into README.md between the
//! bench markers. Needs the release wasm builds (`make bench` does them).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use firstbyte_harness::bench::report::{checks, checks_markdown, splice_readme, table};
use firstbyte_harness::bench::{human_size, Bench, Settings, Workload};
use firstbyte_harness::stack::repo_root;

const USAGE: &str =
    "usage: bench [--smoke] [--samples N] [--downloads N] [--sizes B,B,...] [--readme]";

struct Args {
    settings: Settings,
    readme: bool,
    smoke: bool,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut smoke = false;
    let mut samples = None;
    let mut downloads = None;
    let mut sizes: Option<Vec<u64>> = None;
    let mut readme = false;
    let mut settle_ms = 10;
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--smoke" => smoke = true,
            "--readme" => readme = true,
            "--samples" => samples = Some(number(&value("--samples")?)?),
            "--downloads" => downloads = Some(number(&value("--downloads")?)?),
            "--settle-ms" => settle_ms = number(&value("--settle-ms")?)?,
            "--sizes" => {
                sizes = Some(
                    value("--sizes")?
                        .split(',')
                        .map(|s| {
                            s.trim()
                                .parse::<u64>()
                                .map_err(|_| format!("--sizes: '{s}' is not a byte count"))
                        })
                        .collect::<Result<_, _>>()?,
                )
            }
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unexpected argument '{other}'\n{USAGE}")),
        }
    }
    let sizes = sizes.unwrap_or_else(|| {
        if smoke {
            vec![1 << 10, 1 << 20]
        } else {
            vec![1 << 10, 1 << 30]
        }
    });
    if sizes.len() < 2 {
        return Err(
            "--sizes needs at least two sizes (the smallest and largest are compared)".into(),
        );
    }
    let settings = Settings {
        workloads: sizes.into_iter().map(Workload::bytes).collect(),
        samples: samples.unwrap_or(if smoke { 5 } else { 200 }) as usize,
        downloads: downloads.unwrap_or(if smoke { 1 } else { 5 }) as usize,
        timeout: Duration::from_secs(60),
        settle: Duration::from_millis(settle_ms),
    };
    Ok(Args {
        settings,
        readme,
        smoke,
    })
}

fn number(text: &str) -> Result<u64, String> {
    text.parse()
        .map_err(|_| format!("'{text}' is not a whole number"))
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    eprintln!("bench: starting the dev origin and Viceroy (reference, firstbyte)…");
    let bench = match Bench::start() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let s = &args.settings;
    let mut cells = Vec::new();
    for workload in &s.workloads {
        let mut progress =
            |msg: &str| eprintln!("bench [{:>5.1}s] {msg}", started.elapsed().as_secs_f64());
        cells.extend(bench.run(workload, s, &mut progress));
    }
    let small = human_size(s.workloads.iter().map(|w| w.body_bytes).min().unwrap_or(0));
    let large = human_size(s.workloads.iter().map(|w| w.body_bytes).max().unwrap_or(0));
    let checks = checks(&cells, &small, &large);
    let when = std::process::Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .unwrap_or_default();
    let section = format!(
        "Measured on {} with Viceroy, {} TTFB samples and {} full downloads per cell, modes interleaved \
         (`make bench`; TTFB = request written → first response byte, a fresh connection each time, \
         {} ms after the previous request).\n\n{}\n{}",
        when.trim(),
        s.samples,
        s.downloads,
        s.settle.as_millis(),
        table(&cells),
        checks_markdown(&checks)
    );
    let dir = repo_root().join("target/bench");
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join("results.md"), &section));
    if let Err(e) = written {
        eprintln!("bench: cannot write {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    println!("{section}");
    println!("written to {}", dir.join("results.md").display());
    if args.readme {
        let path = repo_root().join("README.md");
        let result = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|readme| splice_readme(&readme, &section))
            .and_then(|new| std::fs::write(&path, new).map_err(|e| e.to_string()));
        match result {
            Ok(()) => println!("README.md updated between the bench markers"),
            Err(e) => {
                eprintln!("bench: README: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let failed: usize = cells.iter().map(|c| c.failures).sum();
    if args.smoke && (failed > 0 || cells.iter().any(|c| c.ttfb.is_none())) {
        eprintln!("bench smoke: {failed} requests failed");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
