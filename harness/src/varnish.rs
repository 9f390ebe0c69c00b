//! A foreground Varnish in front of one backend on a free port, the benchmark's peer cache:
//! it collapses concurrent misses of an object and streams the one fetch to every client
//! waiting on it (`beresp.do_stream`, on by default), which is what firstbyte's edge cache
//! does with the Core Cache API. It composes what the origin marks for ESI
//! (`Surrogate-Control: content="ESI/1.0"`, [`VCL`]), the ESI bench's peer. Its working dir
//! (shared memory log, VCL) is a scratch dir, so it needs no installed config and leaves
//! nothing behind.
//!
//! The harness never installs Varnish (`make bench` does, where it can): without one,
//! [`Varnish::start`] answers `None`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

use crate::process::{answers, find_program, terminate, wait_until_serving, ScratchDir};
use crate::stack::free_port;

/// How long varnishd may take to compile its VCL and answer on its port.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Objects are kept for the whole run: the benchmark asks for a new key when it wants a
/// miss.
const TTL_SECS: &str = "3600";

/// The built-in VCL's behaviour, plus ESI for what the origin marks for it, the way
/// Varnish's documentation does it.
const VCL: &str = r#"vcl 4.1;
backend default { .host = "HOST"; .port = "PORT"; }
sub vcl_backend_response {
    if (beresp.http.Surrogate-Control ~ "ESI/1.0") {
        unset beresp.http.Surrogate-Control;
        set beresp.do_esi = true;
    }
}
"#;

/// A running varnishd, stopped (and its working dir removed) on drop.
pub struct Varnish {
    pub addr: SocketAddr,
    child: Child,
    dir: ScratchDir,
}

/// The varnishd to run: `$VARNISHD` when set, else the first on `PATH` or in the system
/// dirs.
pub fn binary() -> Option<PathBuf> {
    find_program("VARNISHD", "varnishd", &[])
}

impl Varnish {
    /// Starts varnishd with [`VCL`] and `backend` as its only backend, and waits
    /// until it answers `ready_path` (a path the backend answers 204) through the backend.
    /// `None` when no varnishd is found.
    pub fn start(backend: SocketAddr, ready_path: &str) -> Result<Option<Varnish>, String> {
        let Some(bin) = binary() else {
            return Ok(None);
        };
        let dir = ScratchDir::new("varnish").map_err(|e| format!("varnish: temp dir: {e}"))?;
        let port = free_port().map_err(|e| format!("varnish: no free port: {e}"))?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let vcl = dir.path().join("bench.vcl");
        let vcl_text = VCL
            .replace("HOST", &backend.ip().to_string())
            .replace("PORT", &backend.port().to_string());
        std::fs::write(&vcl, vcl_text).map_err(|e| format!("varnish: VCL: {e}"))?;
        let mut command = Command::new(&bin);
        command
            // Foreground, no jail (as root the default jail wants the package's users and
            // its own dirs), everything in the scratch dir.
            .args(["-F", "-j", "none", "-n"])
            .arg(dir.path().join("work"))
            .args(["-a", &addr.to_string(), "-f"])
            .arg(&vcl)
            .args(["-s", "malloc,2G", "-t", TTL_SECS]);
        let child = dir.spawn(&format!("varnishd ({})", bin.display()), &mut command)?;
        let mut varnish = Varnish { addr, child, dir };
        let Varnish { addr, child, dir } = &mut varnish;
        wait_until_serving(
            child,
            &format!("varnishd on {addr}"),
            START_TIMEOUT,
            Duration::from_millis(50),
            || answers(*addr, ready_path, 204, Duration::from_millis(500)),
            || dir.read("output.log"),
        )?;
        Ok(Some(varnish))
    }
}

impl Drop for Varnish {
    fn drop(&mut self) {
        terminate(&mut self.child, Duration::from_secs(5));
    }
}
