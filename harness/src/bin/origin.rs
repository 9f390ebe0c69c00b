//! `origin [--listen ADDR]`: runs the dev origin until Ctrl-C or SIGTERM.
//!
//! Prints one line, `origin listening on http://IP:PORT`, once the socket is bound, so a
//! parent process that asked for port 0 can read the real port from stdout.

use std::io::Write;
use std::process::ExitCode;

use firstbyte_harness::origin;
use tokio::net::TcpListener;

const DEFAULT_LISTEN: &str = "127.0.0.1:7070";
const USAGE: &str =
    "usage: origin [--listen ADDR]   (default 127.0.0.1:7070; port 0 picks a free port)";

/// `Ok(None)` means help was asked for.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<String>, String> {
    let mut listen = DEFAULT_LISTEN.to_owned();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--listen" => match args.next() {
                Some(addr) => listen = addr,
                None => return Err("--listen needs an address, e.g. 127.0.0.1:0".to_owned()),
            },
            _ => match arg.strip_prefix("--listen=") {
                Some(addr) => listen = addr.to_owned(),
                None => return Err(format!("unexpected argument {arg:?}")),
            },
        }
    }
    Ok(Some(listen))
}

#[tokio::main]
async fn main() -> ExitCode {
    let listen = match parse_args(std::env::args().skip(1)) {
        Ok(Some(listen)) => listen,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("origin: {msg}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
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
