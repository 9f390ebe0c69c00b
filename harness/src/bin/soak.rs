//! `soak [--requests N] [--seconds S] [--clients C]`
//!
//! A bounded load-and-fault run against firstbyte on Viceroy (see `firstbyte_harness::soak`):
//! stops after N requests (default 20000) or S seconds (default 300), whichever is first,
//! prints progress every 5 s, the report, and last `soak: N passed, M failed`. Exits
//! non-zero when a check fails. Needs the release wasm build (`make soak` does it);
//! `FIRSTBYTE_WASM=path` soaks another build instead (see `stack::wasm`).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use firstbyte_harness::soak::{run, Settings};

/// A bounded load-and-fault run against firstbyte on Viceroy: stops after --requests or
/// --seconds, whichever comes first, and ends with `soak: N passed, M failed`.
#[derive(Debug, Parser)]
#[command(name = "soak")]
struct Args {
    /// Requests to send in all.
    #[arg(long, value_name = "N", default_value_t = 20_000, value_parser = positive)]
    requests: u64,
    /// The longest the run may take, in seconds.
    #[arg(long, value_name = "S", default_value_t = 300, value_parser = positive)]
    seconds: u64,
    /// Clients sending requests at once.
    #[arg(long, value_name = "C", default_value_t = 16, value_parser = positive_clients)]
    clients: usize,
}

fn positive(v: &str) -> Result<u64, String> {
    v.parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or(format!("'{v}' is not a positive whole number"))
}

fn positive_clients(v: &str) -> Result<usize, String> {
    usize::try_from(positive(v)?).map_err(|_| "too many".to_string())
}

impl Args {
    fn settings(&self) -> Settings {
        Settings {
            requests: self.requests,
            duration: Duration::from_secs(self.seconds),
            clients: self.clients,
            ..Settings::default()
        }
    }
}

fn main() -> ExitCode {
    let settings = Args::parse().settings();
    let started = Instant::now();
    let say = |msg: &str| eprintln!("soak [{:>6.1}s] {msg}", started.elapsed().as_secs_f64());
    match run(&settings, &say) {
        Ok(outcome) => {
            println!("{}", outcome.report);
            if outcome.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("soak: {e}");
            // The closing line still has its usual form, for whatever reads it.
            println!("soak: 0 passed, 1 failed");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Settings, clap::Error> {
        Args::try_parse_from(std::iter::once("soak").chain(list.iter().copied()))
            .map(|a| a.settings())
    }

    #[test]
    fn defaults_are_bounded_and_flags_override_them() {
        let d = args(&[]).expect("defaults");
        let default = Settings::default();
        assert_eq!(
            (d.requests, d.duration, d.clients),
            (20_000, Duration::from_secs(300), 16)
        );
        assert_eq!(
            (d.requests, d.duration, d.clients),
            (default.requests, default.duration, default.clients)
        );
        let s = args(&["--seconds", "20", "--requests", "500"]).expect("flags");
        assert_eq!((s.requests, s.duration), (500, Duration::from_secs(20)));
        assert!(args(&["--seconds", "0"]).is_err());
        assert!(args(&["--seconds"]).is_err());
        assert!(args(&["--bogus"]).is_err());
    }

    #[test]
    fn the_command_is_well_formed() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }
}
