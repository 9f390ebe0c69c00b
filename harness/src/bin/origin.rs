//! `origin [--listen ADDR]`: runs the dev origin until Ctrl-C or SIGTERM.
//!
//! Prints one line, `origin listening on http://IP:PORT`, once the socket is bound, so a
//! parent process that asked for port 0 can read the real port from stdout.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use firstbyte_harness::origin;
use tokio::net::TcpListener;

/// The dev origin: httpbin-style endpoints for firstbyte's tests and bench, until Ctrl-C or
/// SIGTERM. Prints `origin listening on http://IP:PORT` once the socket is bound.
#[derive(Debug, Parser)]
#[command(name = "origin")]
struct Args {
    /// The address to listen on; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7070")]
    listen: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let listen = Args::parse().listen;
    let listener = match TcpListener::bind(&listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("origin: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = match listener.local_addr() {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("origin: cannot read the bound address: {e}");
            return ExitCode::FAILURE;
        }
    };

    // SocketAddr's Display brackets IPv6 addresses, so the line is always a usable URL.
    let mut stdout = std::io::stdout().lock();
    if let Err(e) =
        writeln!(stdout, "origin listening on http://{addr}").and_then(|()| stdout.flush())
    {
        // A parent that stopped reading stdout should not take the server down with it.
        eprintln!("origin: could not announce the address on stdout: {e}");
    }
    drop(stdout);

    tokio::select! {
        result = origin::serve(listener) => match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("origin: {e}");
                ExitCode::FAILURE
            }
        },
        () = shutdown_signal() => ExitCode::SUCCESS,
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
                return;
            }
            Err(e) => eprintln!("origin: cannot watch SIGTERM ({e}); only Ctrl-C will stop it"),
        }
    }
    if let Err(e) = tokio::signal::ctrl_c().await {
        // Without any signal handler the process can still be killed; keep serving.
        eprintln!("origin: cannot watch Ctrl-C: {e}");
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listen(list: &[&str]) -> Result<String, clap::Error> {
        Args::try_parse_from(std::iter::once("origin").chain(list.iter().copied()))
            .map(|a| a.listen)
    }

    #[test]
    fn listens_where_told_or_on_the_default() {
        assert_eq!(listen(&[]).unwrap(), "127.0.0.1:7070");
        assert_eq!(listen(&["--listen", "127.0.0.1:0"]).unwrap(), "127.0.0.1:0");
        assert_eq!(listen(&["--listen=[::1]:0"]).unwrap(), "[::1]:0");
        assert!(listen(&["--listen"]).is_err());
        assert!(listen(&["--bogus"]).is_err());
        use clap::CommandFactory;
        Args::command().debug_assert();
    }
}
