//! `soak [--requests N] [--seconds S] [--clients C]`
//!
//! A bounded load-and-fault run against firstbyte on Viceroy (see `firstbyte_harness::soak`):
//! stops after N requests (default 20000) or S seconds (default 300), whichever is first,
//! prints progress every 5 s, the report, and last `soak: N passed, M failed`. Exits
//! non-zero when a check fails. Needs the release wasm build (`make soak` does it);
//! `FIRSTBYTE_WASM=path` soaks another build instead (see `stack::wasm`).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use firstbyte_harness::soak::{run, Settings};

const USAGE: &str = "usage: soak [--requests N] [--seconds S] [--clients C]";

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Settings, String> {
    let mut settings = Settings::default();
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> Result<u64, String> {
            let value = args.next().ok_or(format!("{name} needs a value"))?;
            value
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or(format!("{name}: '{value}' is not a positive whole number"))
        };
        match arg.as_str() {
            "--requests" => settings.requests = number("--requests")?,
            "--seconds" => settings.duration = Duration::from_secs(number("--seconds")?),
            "--clients" => {
                settings.clients = usize::try_from(number("--clients")?)
                    .map_err(|_| "--clients: too many".to_string())?
            }
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unexpected argument '{other}'\n{USAGE}")),
        }
    }
    Ok(settings)
}

fn main() -> ExitCode {
    let settings = match parse_args(std::env::args().skip(1)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
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

    fn args(list: &[&str]) -> Result<Settings, String> {
        parse_args(list.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults_are_bounded_and_flags_override_them() {
        let d = args(&[]).expect("defaults");
        assert_eq!(
            (d.requests, d.duration, d.clients),
            (20_000, Duration::from_secs(300), 16)
        );
        let s = args(&["--seconds", "20", "--requests", "500"]).expect("flags");
        assert_eq!((s.requests, s.duration), (500, Duration::from_secs(20)));
        assert!(args(&["--seconds", "0"]).is_err());
        assert!(args(&["--seconds"]).is_err());
        assert!(args(&["--bogus"]).is_err());
    }
}
