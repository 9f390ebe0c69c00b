//! httpbin (the PyPI package, as at httpbin.org) under gunicorn: a general-purpose origin
//! written by others, with `/get`, `/gzip`, `/deflate`, `/brotli`, `/bytes/{n}`,
//! `/range/{n}`, `/stream/{n}`, `/drip`, `/status/{code}`, `/response-headers`, `/html`...
//! `scripts/tools` installs the versions pinned in the Makefile.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::process::{answers, kill_group, wait_until_serving, ScratchDir};
use crate::stack::free_port;

/// How long gunicorn may take to boot its workers and answer `/get`.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Worker processes: two, so one slow request (`/delay`, `/drip`) does not block others.
const WORKERS: &str = "2";

/// A running httpbin; its whole process group (master and workers) is killed on drop.
pub struct Httpbin {
    pub addr: SocketAddr,
    child: Child,
    // Dropped after `Drop::drop` has stopped gunicorn, which logs into it until then.
    dir: ScratchDir,
}

/// What `python3` can run.
struct Installed {
    /// gunicorn 25.1 and later open a control socket under `$HOME` unless told not to;
    /// older ones do not know the flag.
    has_control_socket: bool,
}

/// Whether `python3` can import httpbin and gunicorn, and what this gunicorn needs.
fn installed() -> Option<Installed> {
    let output = Command::new("python3")
        .args([
            "-c",
            "import httpbin, gunicorn.config as c; print(hasattr(c, 'ControlSocketDisable'))",
        ])
        .stdin(Stdio::null())
        // httpbin warns on import that flasgger is missing: noise here.
        .stderr(Stdio::null())
        .output()
        .ok()?;
    output.status.success().then(|| Installed {
        has_control_socket: output.stdout.starts_with(b"True"),
    })
}

impl Httpbin {
    /// Starts httpbin on a free port and waits until `GET /get` answers 200. `None` when
    /// `python3` cannot import httpbin and gunicorn.
    pub fn start() -> Result<Option<Httpbin>, String> {
        let Some(installed) = installed() else {
            return Ok(None);
        };
        // The port is free when chosen but may be taken before gunicorn binds it.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Httpbin::start_with(&installed) {
                Err(e) if attempt < 3 && e.contains("in use") => continue,
                other => return other.map(Some),
            }
        }
    }

    fn start_with(installed: &Installed) -> Result<Httpbin, String> {
        let dir = ScratchDir::new("httpbin").map_err(|e| format!("httpbin: temp dir: {e}"))?;
        let port = free_port().map_err(|e| format!("httpbin: no free port: {e}"))?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut command = Command::new("python3");
        command
            .args(["-m", "gunicorn", "--bind"])
            .arg(addr.to_string())
            .args(["--workers", WORKERS])
            // gunicorn's worker heartbeat files, in our dir rather than /tmp.
            .arg("--worker-tmp-dir")
            .arg(dir.path());
        if installed.has_control_socket {
            command.arg("--no-control-socket");
        }
        command.arg("httpbin:app");
        let child = dir.spawn("gunicorn (python3 -m gunicorn)", &mut command)?;
        let mut httpbin = Httpbin { addr, child, dir };
        // On failure `httpbin` drops here: the group is killed and the dir removed.
        httpbin.wait_until_serving()?;
        Ok(httpbin)
    }

    fn wait_until_serving(&mut self) -> Result<(), String> {
        let Httpbin { addr, child, dir } = self;
        wait_until_serving(
            child,
            &format!("httpbin (gunicorn) answering GET /get on {addr}"),
            START_TIMEOUT,
            Duration::from_millis(50),
            || answers(*addr, "/get", 200, Duration::from_secs(2)),
            || logs_in(dir),
        )
    }

    /// What gunicorn and httpbin wrote, for error messages.
    pub fn logs(&self) -> String {
        logs_in(&self.dir)
    }
}

impl Drop for Httpbin {
    fn drop(&mut self) {
        // gunicorn forks its workers: KILL the group, since a TERMed master waits for its
        // workers' graceful timeout (30 s by default) and httpbin keeps no state to save.
        kill_group(&mut self.child);
    }
}

/// Whether `GET /get` answers 200.
/// What gunicorn and httpbin wrote, for error messages.
fn logs_in(dir: &ScratchDir) -> String {
    let text = dir.read("output.log");
    if text.trim().is_empty() {
        "(gunicorn wrote nothing)".to_string()
    } else {
        format!("--- gunicorn output:\n{}", text.trim_end())
    }
}
