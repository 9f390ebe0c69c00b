//! A foreground nginx on a free port with a generated config whose every path is inside
//! its own temp dir, so it needs no root, no installed config and leaves nothing behind.
//! What it serves is a [`Site`]: the benchmark's peer proxy (`bench::nginx`) and the static
//! peer origin (`peers::NginxStatic`) are two of them.
//!
//! The harness never installs nginx (`scripts/tools` does, where it can): without one,
//! [`Nginx::start`] answers `None`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use crate::process::{
    answers, find_program, running_as_root, terminate, wait_until_serving, ScratchDir,
};
use crate::stack::free_port;

/// How long nginx may take to answer on its port.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A location nginx answers itself, to know a worker is serving (not only that the master
/// bound the port).
pub const READY_PATH: &str = "/_nginx/ready";

/// What one nginx serves, as config text around which [`config`] puts the rest.
pub struct Site {
    /// Directives of the `http` block (upstreams, gzip settings, types...).
    pub http: String,
    /// Directives of the one `server` block, besides `listen` and the ready location.
    pub server: String,
}

/// A running nginx, stopped (and its temp dir removed) on drop.
pub struct Nginx {
    pub addr: SocketAddr,
    child: Child,
    // Dropped after `Drop::drop` has stopped nginx, which writes into it until then.
    dir: ScratchDir,
}

/// The nginx to run: `$NGINX` when set, else the first `nginx` on `PATH`, else the usual
/// install locations (`/usr/sbin` is often missing from a user's `PATH`).
pub fn binary() -> Option<PathBuf> {
    find_program("NGINX", "nginx", &["/usr/local/nginx/sbin"])
}

impl Nginx {
    /// Starts nginx serving the site that `site` makes in nginx's temp dir (it may write
    /// files there), and waits until it serves. `purpose` heads the generated config.
    /// `None` when no nginx binary is found (see [`binary`]).
    pub fn start(
        purpose: &str,
        site: impl Fn(&Path) -> Result<Site, String>,
    ) -> Result<Option<Nginx>, String> {
        let Some(bin) = binary() else {
            return Ok(None);
        };
        // The port is free when chosen but may be taken before nginx binds it: retry then.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Nginx::start_with(&bin, purpose, &site) {
                Err(e) if attempt < 3 && e.contains("Address already in use") => continue,
                other => return other.map(Some),
            }
        }
    }

    fn start_with(
        bin: &Path,
        purpose: &str,
        site: &dyn Fn(&Path) -> Result<Site, String>,
    ) -> Result<Nginx, String> {
        let dir = ScratchDir::new("nginx").map_err(|e| format!("nginx: temp dir: {e}"))?;
        let port = free_port().map_err(|e| format!("nginx: no free port: {e}"))?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let site = site(dir.path())?;
        let conf_path = dir.path().join("nginx.conf");
        let conf = config(purpose, dir.path(), addr, running_as_root(), &site);
        std::fs::write(&conf_path, conf)
            .map_err(|e| format!("nginx: {}: {e}", conf_path.display()))?;
        let mut command = Command::new(bin);
        command
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .args(["-g", "daemon off;"]);
        let child = dir.spawn(&format!("nginx ({})", bin.display()), &mut command)?;
        let mut nginx = Nginx { addr, child, dir };
        // On failure `nginx` drops here: the process is stopped and the dir removed.
        nginx.wait_until_serving()?;
        Ok(nginx)
    }

    fn wait_until_serving(&mut self) -> Result<(), String> {
        let Nginx { addr, child, dir } = self;
        wait_until_serving(
            child,
            &format!("nginx on {addr}"),
            START_TIMEOUT,
            Duration::from_millis(20),
            || answers(*addr, READY_PATH, 204, Duration::from_millis(500)),
            || logs_in(dir),
        )
    }

    /// The temp dir holding the config, logs and nginx's temp paths.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// nginx's error.log and anything it wrote to stdout/stderr, for error messages.
    pub fn logs(&self) -> String {
        logs_in(&self.dir)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // TERM lets the master stop its worker and exit; KILLing the master alone would
        // leave the worker listening.
        terminate(&mut self.child, Duration::from_secs(5));
    }
}

/// Whether nginx answers its own ready location.
/// nginx's error.log and anything it wrote to stdout/stderr, for error messages.
fn logs_in(dir: &ScratchDir) -> String {
    let mut out = String::new();
    for (name, file) in [("error.log", "error.log"), ("output", "output.log")] {
        let text = dir.read(file);
        if !text.trim().is_empty() {
            out.push_str(&format!("--- nginx {name}:\n{}\n", text.trim_end()));
        }
    }
    if out.is_empty() {
        out.push_str("(nginx wrote nothing)");
    }
    out
}

/// A path as an nginx config string.
pub fn quoted(path: &Path) -> String {
    let text = path.to_string_lossy();
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The config: one worker, logs and temp paths in `dir`, `listen` on loopback, the ready
/// location, and the site's own directives.
pub fn config(purpose: &str, dir: &Path, listen: SocketAddr, as_root: bool, site: &Site) -> String {
    let path = |name: &str| quoted(&dir.join(name));
    // A root master would hand its worker to an unprivileged user that cannot use the
    // temp dir; keep the worker as root instead (a non-root master ignores `user`).
    let user = if as_root { "user root;\n" } else { "" };
    let indent = |text: &str, by: &str| {
        text.lines()
            .map(|l| {
                if l.is_empty() {
                    String::new()
                } else {
                    format!("{by}{l}")
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    format!(
        r#"# Generated by firstbyte-harness: {purpose}.
{user}worker_processes 1;
error_log {error_log} warn;
pid {pid};

events {{
    worker_connections 1024;
}}

http {{
    access_log off;
    server_tokens off;
    default_type application/octet-stream;
    client_body_temp_path {client_body};
    proxy_temp_path {proxy};
    fastcgi_temp_path {fastcgi};
    uwsgi_temp_path {uwsgi};
    scgi_temp_path {scgi};

{http}

    server {{
        listen {listen};

        location = {READY_PATH} {{
            return 204;
        }}

{server}
    }}
}}
"#,
        error_log = path("error.log"),
        pid = path("nginx.pid"),
        client_body = path("client_body_temp"),
        proxy = path("proxy_temp"),
        fastcgi = path("fastcgi_temp"),
        uwsgi = path("uwsgi_temp"),
        scgi = path("scgi_temp"),
        http = indent(site.http.trim_end(), "    "),
        server = indent(site.server.trim_end(), "        "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Site {
        Site {
            http: "gzip on;".into(),
            server: "location / {\n    return 200;\n}".into(),
        }
    }

    #[test]
    fn config_keeps_everything_in_the_temp_dir() {
        let dir = Path::new("/tmp/fb \"x\"");
        let conf = config("a test", dir, ([127, 0, 0, 1], 8081).into(), false, &site());
        assert!(conf.contains(r#"pid "/tmp/fb \"x\"/nginx.pid";"#), "{conf}");
        for directive in [
            "error_log",
            "client_body_temp_path",
            "proxy_temp_path",
            "fastcgi_temp_path",
            "uwsgi_temp_path",
            "scgi_temp_path",
        ] {
            let line = conf
                .lines()
                .find(|l| l.trim_start().starts_with(directive))
                .unwrap_or_else(|| panic!("{directive} missing:\n{conf}"));
            assert!(line.contains(r#""/tmp/fb \"x\"/"#), "{line}");
        }
        assert!(conf.contains("listen 127.0.0.1:8081;"));
        assert!(conf.contains("\n    gzip on;\n"), "{conf}");
        assert!(conf.contains("\n        location / {\n            return 200;\n        }\n"));
        assert!(conf.contains(&format!("location = {READY_PATH} {{")));
        assert!(!conf.contains("user "));
        let as_root = config("a test", dir, ([127, 0, 0, 1], 1).into(), true, &site());
        assert!(as_root.starts_with("# Generated by firstbyte-harness: a test.\nuser root;\n"));
        assert_eq!(conf.matches('{').count(), conf.matches('}').count());
    }
}
