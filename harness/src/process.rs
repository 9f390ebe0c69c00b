//! Third-party servers run as children of the harness (nginx, gunicorn): each leads its own
//! process group so its workers are signalled with it, dies with the harness, and keeps
//! its config and logs in a scratch dir that does not outlive it.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

pub(crate) fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

pub(crate) fn signal(pid: u32, sig: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill has no memory effects; the pid is our unreaped child.
        unsafe { libc::kill(pid, sig) };
    }
}

/// Signals the process group led by our child (see [`isolate`]), workers included.
pub(crate) fn signal_group(pid: u32, sig: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: as above; the group is the one our child leads.
        unsafe { libc::kill(-pid, sig) };
    }
}

/// A program to run: the path in the environment variable `env` when set, else the first
/// `name` on `PATH`, else in the usual system dirs and `extra_dirs` (`/usr/sbin` is often
/// missing from a user's `PATH`).
pub(crate) fn find_program(env: &str, name: &str, extra_dirs: &[&str]) -> Option<PathBuf> {
    if let Some(explicit) = std::env::var_os(env).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(explicit));
    }
    let on_path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain(
            ["/usr/sbin", "/usr/local/sbin"]
                .iter()
                .chain(extra_dirs)
                .map(PathBuf::from),
        )
        .map(|dir| dir.join(name))
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

/// The child leads its own process group, so a master and its workers can be signalled
/// together, and gets TERM when the harness dies (TERM, not KILL: a master then stops its
/// workers). The death signal follows the thread that started the child: start it from a
/// thread that outlives it.
pub(crate) fn isolate(command: &mut Command) {
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

/// Stops a child started with [`isolate`]: TERM to the leader alone, so a master can stop
/// its workers in order, then after `grace` KILL to the whole group for a stuck one.
pub(crate) fn terminate(child: &mut Child, grace: Duration) {
    if !matches!(child.try_wait(), Ok(None)) {
        return;
    }
    signal(child.id(), libc::SIGTERM);
    let deadline = Instant::now() + grace;
    while matches!(child.try_wait(), Ok(None)) {
        if Instant::now() >= deadline {
            kill_group(child);
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// KILLs a child started with [`isolate`] and every process of its group, and reaps it.
pub(crate) fn kill_group(child: &mut Child) {
    // Only while unreaped: a reaped leader's pid (and so its group id) may be reused.
    if matches!(child.try_wait(), Ok(None)) {
        signal_group(child.id(), libc::SIGKILL);
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A per-process temp dir, `firstbyte-{kind}-{pid}-{n}`, removed on drop. Dirs left by
/// harness processes that were killed before they could remove theirs are removed when
/// the next one is made.
pub(crate) struct ScratchDir {
    path: PathBuf,
}

static SCRATCH_DIRS: AtomicUsize = AtomicUsize::new(0);

impl ScratchDir {
    pub(crate) fn new(kind: &str) -> std::io::Result<ScratchDir> {
        let prefix = format!("firstbyte-{kind}-");
        remove_stale_dirs(&prefix);
        let path = std::env::temp_dir().join(format!(
            "{prefix}{}-{}",
            std::process::id(),
            SCRATCH_DIRS.fetch_add(1, Ordering::SeqCst)
        ));
        // A directory left by an earlier process that had this pid.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)?;
        Ok(ScratchDir { path })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// A file in the dir as text, empty when missing: for error messages.
    /// `output.log` in the dir, opened twice: a child's stdout and its stderr.
    pub(crate) fn output_log(&self) -> std::io::Result<(File, File)> {
        let file = File::create(self.path().join("output.log"))?;
        Ok((file.try_clone()?, file))
    }

    /// Starts `command` as a child that leads its own group ([`isolate`]), with no stdin
    /// and its stdout and stderr in the dir's `output.log`. `what` names it in errors.
    pub(crate) fn spawn(&self, what: &str, command: &mut Command) -> Result<Child, String> {
        let output = self
            .output_log()
            .map_err(|e| format!("{what}: output log: {e}"))?;
        command
            .stdin(std::process::Stdio::null())
            .stdout(output.0)
            .stderr(output.1);
        isolate(command);
        command
            .spawn()
            .map_err(|e| format!("cannot start {what}: {e}"))
    }

    pub(crate) fn read(&self, name: &str) -> String {
        std::fs::read(self.path.join(name))
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn remove_stale_dirs(prefix: &str) {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
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

/// Waits until `ready` says a started server answers, for at most `timeout`: an error, with
/// the server's own `logs`, when its process exits first or the time runs out.
pub(crate) fn wait_until_serving(
    child: &mut Child,
    what: &str,
    timeout: Duration,
    poll: Duration,
    ready: impl Fn() -> bool,
    logs: impl Fn() -> String,
) -> Result<(), String> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if ready() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "{what} exited ({status}) before serving:\n{}",
                logs()
            ));
        }
        if std::time::Instant::now() >= deadline {
            return Err(format!(
                "{what} did not serve within {} s:\n{}",
                timeout.as_secs(),
                logs()
            ));
        }
        std::thread::sleep(poll);
    }
}

/// Whether a server on `addr` answers `GET path` with `status` (e.g. `204`) within
/// `patience`: how the harness knows a started server is really serving, not only bound.
pub(crate) fn answers(addr: SocketAddr, path: &str, status: u16, patience: Duration) -> bool {
    let attempt = || -> std::io::Result<bool> {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
        stream.set_read_timeout(Some(patience))?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head)?;
        Ok(head == *format!("HTTP/1.1 {status}").as_bytes())
    };
    attempt().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_dirs_are_distinct_and_removed_on_drop() {
        let a = ScratchDir::new("test").expect("scratch dir");
        let b = ScratchDir::new("test").expect("scratch dir");
        assert_ne!(a.path(), b.path());
        std::fs::write(a.path().join("log"), b"caf\xe9").expect("write");
        assert_eq!(a.read("log"), "caf\u{fffd}");
        assert_eq!(a.read("missing"), "");
        let path = a.path().to_path_buf();
        drop(a);
        assert!(!path.exists());
    }
}
