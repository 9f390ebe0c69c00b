//! nginx in front of the dev origin, the benchmark's peer proxy: a foreground nginx on a
//! free port with a generated config whose every path is inside its own temp dir, so it
//! needs no root, no installed config and leaves nothing behind. Its locations mirror
//! firstbyte's routes, so the benchmark sends the same paths to both:
//!
//! - `/origin/…` passes the origin's response through unbuffered;
//! - `/replace/…` rewrites `origin.example` to `edge.example!!` with `sub_filter`, the peer
//!   of firstbyte's replace transform (the origin is asked for a plain body);
//! - `/recompress/…` gzips the plain body (nginx has no brotli module by default, so gzip is
//!   its peer of firstbyte's html+br path).
//!
//! The benchmark never installs nginx: without one, [`Nginx::start`] answers `None`.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::stack::free_port;

/// How long nginx may take to answer on its port.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A location nginx answers itself, to know a worker is serving (not only that the master
/// bound the port).
const READY_PATH: &str = "/_nginx/ready";

/// A running nginx, stopped (and its temp dir removed) on drop.
pub struct Nginx {
    pub addr: SocketAddr,
    child: Child,
    dir: PathBuf,
}

static DIRS: AtomicUsize = AtomicUsize::new(0);

/// The nginx to run: `$NGINX` when set, else the first `nginx` on `PATH`, else the usual
/// install locations (`/usr/sbin` is often missing from a user's `PATH`).
pub fn binary() -> Option<PathBuf> {
    if let Some(explicit) = std::env::var_os("NGINX").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(explicit));
    }
    let on_path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("nginx")).collect())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain(
            [
                "/usr/sbin/nginx",
                "/usr/local/sbin/nginx",
                "/usr/local/nginx/sbin/nginx",
            ]
            .map(PathBuf::from),
        )
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    match std::fs::metadata(path) {
        #[cfg(unix)]
        Ok(meta) => {
            use std::os::unix::fs::PermissionsExt;
            meta.is_file() && meta.permissions().mode() & 0o111 != 0
        }
        #[cfg(not(unix))]
        Ok(meta) => meta.is_file(),
        Err(_) => false,
    }
}

impl Nginx {
    /// Starts nginx proxying to `origin` and waits until it serves. `None` when no nginx
    /// binary is found (see [`binary`]): the benchmark then skips the nginx modes.
    pub fn start(origin: SocketAddr) -> Result<Option<Nginx>, String> {
        let Some(bin) = binary() else {
            return Ok(None);
        };
        // The port is free when chosen but may be taken before nginx binds it: retry then.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Nginx::start_with(&bin, origin) {
                Err(e) if attempt < 3 && e.contains("Address already in use") => continue,
                other => return other.map(Some),
            }
        }
    }

    fn start_with(bin: &Path, origin: SocketAddr) -> Result<Nginx, String> {
        let dir = std::env::temp_dir().join(format!(
            "firstbyte-nginx-{}-{}",
            std::process::id(),
            DIRS.fetch_add(1, Ordering::SeqCst)
        ));
        remove_stale_dirs();
        // A directory left by an earlier process that had this pid.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("nginx: {}: {e}", dir.display()))?;
        let result = Nginx::spawn(bin, origin, &dir);
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        let child = result?;
        let mut nginx = Nginx {
            addr: child.1,
            child: child.0,
            dir,
        };
        // On failure `nginx` drops here: the process is stopped and the dir removed.
        nginx.wait_until_serving()?;
        Ok(nginx)
    }

    fn spawn(bin: &Path, origin: SocketAddr, dir: &Path) -> Result<(Child, SocketAddr), String> {
        let port = free_port().map_err(|e| format!("nginx: no free port: {e}"))?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, config(dir, addr, origin, running_as_root()))
            .map_err(|e| format!("nginx: {}: {e}", conf_path.display()))?;
        let output = File::create(dir.join("output.log"))
            .and_then(|f| Ok((f.try_clone()?, f)))
            .map_err(|e| format!("nginx: output log: {e}"))?;
        let mut command = Command::new(bin);
        command
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf_path)
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(output.0)
            .stderr(output.1);
        isolate(&mut command);
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start nginx ({}): {e}", bin.display()))?;
        Ok((child, addr))
    }

    fn wait_until_serving(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if ready(self.addr) {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "nginx exited ({status}) before serving on {}:\n{}",
                    self.addr,
                    self.logs()
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "nginx did not serve on {} within {} s:\n{}",
                    self.addr,
                    START_TIMEOUT.as_secs(),
                    self.logs()
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The temp dir holding the config, logs and nginx's temp paths.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// nginx's error.log and anything it wrote to stdout/stderr, for error messages.
    pub fn logs(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
        let mut out = String::new();
        for (name, text) in [
            ("error.log", read("error.log")),
            ("output", read("output.log")),
        ] {
            if !text.trim().is_empty() {
                out.push_str(&format!("--- nginx {name}:\n{}\n", text.trim_end()));
            }
        }
        if out.is_empty() {
            out.push_str("(nginx wrote nothing)");
        }
        out
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // TERM lets the master stop its worker and exit; KILLing the master alone would
        // leave the worker listening. The group KILL is the fallback for a stuck nginx.
        if let Ok(None) = self.child.try_wait() {
            signal(self.child.id(), libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                match self.child.try_wait() {
                    Ok(None) if Instant::now() < deadline => {
                        thread::sleep(Duration::from_millis(10))
                    }
                    Ok(None) => {
                        signal_group(self.child.id(), libc::SIGKILL);
                        let _ = self.child.kill();
                        let _ = self.child.wait();
                        break;
                    }
                    _ => break,
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Removes the temp dirs of harness processes that were killed before they could clean up.
fn remove_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.strip_prefix("firstbyte-nginx-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<libc::pid_t>().ok());
        if let Some(pid) = pid.filter(|&p| p > 0) {
            // SAFETY: signal 0 only asks whether the process exists.
            let gone = unsafe { libc::kill(pid, 0) } == -1
                && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
            if gone {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// Whether nginx answers its own ready location.
fn ready(addr: SocketAddr) -> bool {
    let attempt = || -> std::io::Result<bool> {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
        stream.set_read_timeout(Some(Duration::from_millis(500)))?;
        write!(
            stream,
            "GET {READY_PATH} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head)?;
        Ok(&head == b"HTTP/1.1 204")
    };
    attempt().unwrap_or(false)
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn signal(pid: u32, sig: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill has no memory effects; the pid is our unreaped child.
        unsafe { libc::kill(pid, sig) };
    }
}

/// Signals the process group led by our child (see [`isolate`]), workers included.
fn signal_group(pid: u32, sig: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: as above; the group is the one our child leads.
        unsafe { libc::kill(-pid, sig) };
    }
}

/// nginx leads its own process group, so its master and worker can be signalled together,
/// and gets TERM when the harness dies (TERM, not KILL: the master then stops its worker).
/// The death signal follows the thread that started nginx: start it from a thread that
/// outlives it.
fn isolate(command: &mut Command) {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
    }
}

/// A path as an nginx config string.
fn quoted(path: &Path) -> String {
    let text = path.to_string_lossy();
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The config: one worker, logs and temp paths in `dir`, `listen` on loopback, the dev
/// origin at `origin` as a keep-alive upstream.
pub fn config(dir: &Path, listen: SocketAddr, origin: SocketAddr, as_root: bool) -> String {
    let path = |name: &str| quoted(&dir.join(name));
    // A root master would hand its worker to an unprivileged user that cannot use the
    // temp dir; keep the worker as root instead (a non-root master ignores `user`).
    let user = if as_root { "user root;\n" } else { "" };
    // Any proxy_set_header in a location drops the inherited ones, so each location sets
    // all of its own: `Connection ""` keeps the upstream connections alive.
    let proxied = "proxy_pass http://firstbyte_origin/;\n            \
                   proxy_http_version 1.1;\n            \
                   proxy_set_header Connection \"\";\n            \
                   proxy_buffering off;";
    format!(
        r#"# Generated by firstbyte-harness (bench::nginx): nginx as the benchmark's peer proxy.
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

    upstream firstbyte_origin {{
        server {origin};
        keepalive 16;
    }}

    server {{
        listen {listen};

        location = {READY_PATH} {{
            return 204;
        }}

        # Passthrough.
        location /origin/ {{
            {proxied}
        }}

        # firstbyte's replace route; sub_filter needs a plain body from the origin.
        location /replace/ {{
            {proxied}
            proxy_set_header Accept-Encoding "";
            sub_filter 'origin.example' 'edge.example!!';
            sub_filter_once off;
            sub_filter_types *;
        }}

        # firstbyte's recompress route: nginx has no brotli by default, gzip is its peer.
        location /recompress/ {{
            {proxied}
            proxy_set_header Accept-Encoding "";
            gzip on;
            gzip_types *;
            gzip_proxied any;
            gzip_comp_level 6;
        }}
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
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keeps_everything_in_the_temp_dir() {
        let dir = Path::new("/tmp/fb \"x\"");
        let conf = config(
            dir,
            ([127, 0, 0, 1], 8081).into(),
            ([127, 0, 0, 1], 9000).into(),
            false,
        );
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
        assert!(conf.contains("server 127.0.0.1:9000;"));
        assert!(!conf.contains("user "));
        assert!(config(dir, ([127, 0, 0, 1], 1).into(), ([127, 0, 0, 1], 2).into(), true)
            .starts_with("# Generated by firstbyte-harness (bench::nginx): nginx as the benchmark's peer proxy.\nuser root;\n"));
        // Every proxied location keeps its upstream connections alive.
        assert_eq!(conf.matches("proxy_set_header Connection \"\";").count(), 3);
        assert_eq!(conf.matches("proxy_buffering off;").count(), 3);
        let braces = conf.matches('{').count();
        assert_eq!(braces, conf.matches('}').count());
    }
}
