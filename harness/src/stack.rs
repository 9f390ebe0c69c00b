//! A local firstbyte on free ports: the dev origin in-process, Viceroy as a child process
//! running a wasm app with a manifest derived from the repository's fastly.toml.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::origin;

pub fn repo_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(Path::to_path_buf).unwrap_or(here)
}

/// A wasm app built by `cargo build --release` at the repository root; for firstbyte
/// itself, `$FIRSTBYTE_WASM` when set (to run the tests against another build of it, an
/// older one say, and see what they catch); for the bench's candidate build,
/// `$FIRSTBYTE_CANDIDATE_WASM`. `esi-fastly`, the ESI peer, is built in its own
/// directory (`make esi-peer`): it has its own lockfile, on fastly 0.12, so its own target.
pub fn wasm(name: &str) -> PathBuf {
    if let Some(path) = std::env::var_os("FIRSTBYTE_WASM").filter(|_| name == "firstbyte") {
        return PathBuf::from(path);
    }
    if name == crate::bench::CANDIDATE_EDGE {
        return std::env::var_os(crate::bench::CANDIDATE_WASM)
            .map_or_else(|| PathBuf::from("unset"), PathBuf::from);
    }
    if name == "esi-fastly" {
        return repo_root().join("benches/esi-fastly/target/wasm32-wasip1/release/esi-fastly.wasm");
    }
    repo_root()
        .join("target/wasm32-wasip1/release")
        .join(format!("{name}.wasm"))
}

/// The dev origin on 127.0.0.1 with an OS-chosen port, served from its own runtime thread.
pub struct OriginServer {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    requests: Arc<AtomicU64>,
}

impl OriginServer {
    pub fn start() -> std::io::Result<OriginServer> {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let requests = Arc::new(AtomicU64::new(0));
        let counter = requests.clone();
        thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = addr_tx.send(Err(e));
                    return;
                }
            };
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = addr_tx.send(Err(e));
                        return;
                    }
                };
                let _ = addr_tx.send(listener.local_addr());
                tokio::select! {
                    _ = origin::serve_counted(listener, counter) => {}
                    _ = stopped => {}
                }
            });
        });
        let addr = addr_rx
            .recv()
            .map_err(|_| std::io::Error::other("origin thread ended before binding"))??;
        Ok(OriginServer {
            addr,
            stop: Some(stop),
            requests,
        })
    }

    /// Requests the origin has received so far (counted as each starts).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for OriginServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Config Store entries to set (`Some`) or remove (`None`) in the test manifest.
pub type StoreOverrides<'a> = &'a [(&'a str, Option<&'a str>)];

/// The repository's fastly.toml with the `origin` backend pointed at `origin` and the
/// store contents adjusted.
pub fn manifest(origin: SocketAddr, overrides: StoreOverrides) -> std::io::Result<String> {
    manifest_with_backends(&[("origin", origin)], overrides)
}

/// The repository's fastly.toml with each named backend declared at (or pointed at) its
/// address, and the store contents adjusted.
pub fn manifest_with_backends(
    backends: &[(&str, SocketAddr)],
    overrides: StoreOverrides,
) -> std::io::Result<String> {
    let text = std::fs::read_to_string(repo_root().join("fastly.toml"))?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| std::io::Error::other(format!("fastly.toml: {e}")))?;
    for (name, addr) in backends {
        doc["local_server"]["backends"][*name]["url"] = toml_edit::value(format!("http://{addr}/"));
    }
    let contents = &mut doc["local_server"]["config_stores"]["firstbyte"]["contents"];
    for (key, value) in overrides {
        if override_in_route_object(contents, key, *value)? {
            continue;
        }
        match value {
            Some(v) => contents[*key] = toml_edit::value(*v),
            None => {
                if let Some(table) = contents.as_table_like_mut() {
                    table.remove(key);
                }
            }
        }
    }
    Ok(doc.to_string())
}

/// An override of `route.<name>.<field>` for a route that fastly.toml writes as one
/// `route.<name>` object: the field set (as a string) or removed in that object, where the
/// app reads it. Returns whether `key` was such a field.
fn override_in_route_object(
    contents: &mut toml_edit::Item,
    key: &str,
    value: Option<&str>,
) -> std::io::Result<bool> {
    let Some((name, field)) = key
        .strip_prefix("route.")
        .and_then(|rest| rest.rsplit_once('.'))
    else {
        return Ok(false);
    };
    let object_key = format!("route.{name}");
    let Some(text) = contents.get(&object_key).and_then(|i| i.as_str()) else {
        return Ok(false);
    };
    let mut object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text)
        .map_err(|e| std::io::Error::other(format!("fastly.toml {object_key}: {e}")))?;
    match value {
        Some(v) => object.insert(field.to_string(), v.into()),
        None => object.remove(field),
    };
    contents[object_key.as_str()] = toml_edit::value(serde_json::Value::Object(object).to_string());
    Ok(true)
}

/// The dev origin and firstbyte on Viceroy in front of it, with the demo config of
/// fastly.toml adjusted by `overrides`: what the end-to-end tests run against.
pub struct LocalStack {
    pub origin: OriginServer,
    pub edge: Edge,
}

impl LocalStack {
    pub fn start(overrides: StoreOverrides) -> std::io::Result<LocalStack> {
        Self::start_with_backends(&[], overrides)
    }

    /// Like [`LocalStack::start`], with more backends declared beside the dev origin.
    pub fn start_with_backends(
        backends: &[(&str, SocketAddr)],
        overrides: StoreOverrides,
    ) -> std::io::Result<LocalStack> {
        let origin = OriginServer::start()?;
        let mut all = vec![("origin", origin.addr)];
        all.extend_from_slice(backends);
        let manifest = manifest_with_backends(&all, overrides)?;
        let edge = Edge::start(&wasm("firstbyte"), &manifest)?;
        Ok(LocalStack { origin, edge })
    }
}

/// Viceroy serving a wasm app, its output captured line by line.
pub struct Edge {
    pub addr: SocketAddr,
    child: Child,
    output: Arc<Mutex<Output>>,
    manifest_path: PathBuf,
}

/// Viceroy's output so far, with its instance counts kept as lines arrive: a benchmark
/// asks whether every instance has ended before each of thousands of requests, and its log
/// runs to tens of thousands of lines.
#[derive(Default)]
struct Output {
    lines: Vec<String>,
    /// Instances started: Viceroy names each instance's first request when it starts one.
    started: usize,
    /// Instances ended: each logs its heap as it ends.
    ended: usize,
}

impl Output {
    fn push(&mut self, line: String) {
        if line.contains(INSTANCE_START) {
            self.started += 1;
        }
        if heap_mib(&line).is_some() {
            self.ended += 1;
        }
        self.lines.push(line);
    }
}

static MANIFESTS: AtomicUsize = AtomicUsize::new(0);

fn viceroy_bin() -> String {
    std::env::var("VICEROY").unwrap_or_else(|_| "viceroy".to_string())
}

pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Edge {
    pub fn start(wasm: &Path, manifest: &str) -> std::io::Result<Edge> {
        if !wasm.exists() {
            return Err(std::io::Error::other(format!(
                "{} is missing: run `cargo build --release` at the repository root (make does)",
                wasm.display()
            )));
        }
        let manifest_path = std::env::temp_dir().join(format!(
            "firstbyte-harness-{}-{}.toml",
            std::process::id(),
            MANIFESTS.fetch_add(1, Ordering::SeqCst)
        ));
        // The port is free when chosen, not when Viceroy binds it: another test may take it
        // in between, and Viceroy then exits; a new port is tried (the manifest is written
        // again: a failed edge removes it when dropped).
        let mut attempts = 0;
        loop {
            std::fs::write(&manifest_path, manifest)?;
            let addr: SocketAddr = ([127, 0, 0, 1], free_port()?).into();
            let mut edge = Edge::spawn(wasm, addr, manifest_path.clone())?;
            match edge.wait_until_listening() {
                Ok(()) => return Ok(edge),
                Err(e) if attempts < 3 && edge.exited() => {
                    attempts += 1;
                    eprintln!("viceroy did not start on {addr}: {e}; trying another port");
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Viceroy started on `addr` with the manifest at `manifest_path`, its output collected.
    fn spawn(wasm: &Path, addr: SocketAddr, manifest_path: PathBuf) -> std::io::Result<Edge> {
        let mut command = Command::new(viceroy_bin());
        command
            .args(["serve", "-v", "--addr", &addr.to_string(), "-C"])
            .arg(&manifest_path)
            .arg(wasm)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        die_with_parent(&mut command);
        let mut child = command.spawn().map_err(|e| {
            std::io::Error::other(format!("cannot start viceroy ({}): {e}", viceroy_bin()))
        })?;
        let output = Arc::new(Mutex::new(Output::default()));
        if let Some(out) = child.stdout.take() {
            collect_lines(out, Arc::clone(&output));
        }
        if let Some(err) = child.stderr.take() {
            collect_lines(err, Arc::clone(&output));
        }
        Ok(Edge {
            addr,
            child,
            output,
            manifest_path,
        })
    }

    /// Whether Viceroy has exited.
    fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Until Viceroy says it listens on its address. A connection alone would not tell:
    /// the port was free when chosen, and another test's origin may have bound it since,
    /// which would answer in Viceroy's place (seen once in a full run: a request answered
    /// by another stack's dev origin).
    fn wait_until_listening(&mut self) -> std::io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(120);
        let listening = format!("Listening on http://{}", self.addr);
        while Instant::now() < deadline {
            if !self.lines_containing(&listening).is_empty()
                && TcpStream::connect(self.addr).is_ok()
            {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(std::io::Error::other(format!(
                    "viceroy exited ({status}) before listening:\n{}",
                    self.lines().join("\n")
                )));
            }
            thread::sleep(Duration::from_millis(50));
        }
        Err(std::io::Error::other("viceroy did not listen within 120 s"))
    }

    pub fn lines(&self) -> Vec<String> {
        self.with_lines(<[String]>::to_vec)
    }

    /// The lines so far that contain `needle`.
    pub fn lines_containing(&self, needle: &str) -> Vec<String> {
        self.with_lines(|lines| {
            lines
                .iter()
                .filter(|l| l.contains(needle))
                .cloned()
                .collect()
        })
    }

    /// The lines so far that report a panic: the app's panic endpoint, or a panic message
    /// (the app's or the host's).
    pub fn panics(&self) -> Vec<String> {
        self.with_lines(|lines| {
            lines
                .iter()
                .filter(|l| l.contains("firstbyte_panic ::") || l.contains("panicked at"))
                .cloned()
                .collect()
        })
    }

    /// Runs `f` over the output so far without copying it: waits poll it every few
    /// milliseconds, and a benchmark's log runs to tens of thousands of lines.
    fn with_lines<T: Default>(&self, f: impl FnOnce(&[String]) -> T) -> T {
        self.output.lock().map(|o| f(&o.lines)).unwrap_or_default()
    }

    /// Waits for a line of output that satisfies `wanted`, returning it.
    pub fn wait_for_line(
        &self,
        wanted: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> Option<String> {
        poll(timeout, || {
            self.with_lines(|lines| lines.iter().find(|l| wanted(l)).cloned())
        })
    }

    /// Access-log records written so far, parsed.
    pub fn access_log(&self) -> Vec<serde_json::Value> {
        self.with_lines(|lines| {
            lines
                .iter()
                .filter_map(|l| l.split_once("firstbyte_access :: ").map(|(_, json)| json))
                .filter_map(|json| serde_json::from_str(json).ok())
                .collect()
        })
    }

    /// Waits for the access-log record of `path`, written when its request ends; the
    /// newest if there are several.
    pub fn access_record(&self, path: &str, timeout: Duration) -> Option<serde_json::Value> {
        self.access_records(path, 1, timeout)?.pop()
    }

    /// Waits until at least `count` requests for `path` have written their access-log
    /// records, and returns them all in the order they were written. Waiting for a count,
    /// not for any record, is what keeps an earlier request's record from standing in for
    /// one still being written.
    pub fn access_records(
        &self,
        path: &str,
        count: usize,
        timeout: Duration,
    ) -> Option<Vec<serde_json::Value>> {
        self.access_records_matching(|r| r["path"] == path, count, timeout)
    }

    /// Waits until at least `count` access-log records satisfy `wanted`; returns them all.
    pub fn access_records_matching(
        &self,
        wanted: impl Fn(&serde_json::Value) -> bool,
        count: usize,
        timeout: Duration,
    ) -> Option<Vec<serde_json::Value>> {
        poll(timeout, || {
            let records: Vec<_> = self.access_log().into_iter().filter(&wanted).collect();
            (records.len() >= count).then_some(records)
        })
    }

    /// Viceroy's WebAssembly heap figures, in MiB, one per instance as it ends. An instance
    /// that served several requests reports the peak over them: its memory never shrinks.
    pub fn heaps_mib(&self) -> Vec<f64> {
        self.with_lines(|lines| lines.iter().filter_map(|l| heap_mib(l)).collect())
    }

    /// The largest heap of any instance, once every instance has ended; `None` if they did
    /// not end within `timeout` or none reported one.
    pub fn peak_heap_mib(&self, timeout: Duration) -> Option<f64> {
        if !self.wait_until_idle(timeout) {
            return None;
        }
        self.heaps_mib().into_iter().reduce(f64::max)
    }

    /// Instances started and not yet ended.
    pub fn instances_running(&self) -> usize {
        self.output
            .lock()
            .map(|o| o.started.saturating_sub(o.ended))
            .unwrap_or(0)
    }

    /// Stops the Viceroy process (`SIGSTOP`), or lets it go on (`SIGCONT`). A benchmark
    /// holds the Viceroys it is not measuring: an idle one is not idle (its epoch thread
    /// wakes every 50 µs) and would take CPU from the one being measured. Connections
    /// that come meanwhile wait in the kernel's queue.
    pub fn set_running(&self, running: bool) {
        let sig = if running {
            libc::SIGCONT
        } else {
            libc::SIGSTOP
        };
        // Our unreaped child: Drop reaps it.
        crate::process::signal(self.child.id(), sig);
    }

    /// The CPU time Viceroy's runtime workers have run so far (the guest and the host's
    /// I/O run there), from the scheduler's own account (`/proc/<pid>/task/*/schedstat`);
    /// `None` where there is none. Not its other threads: the epoch ticker takes a tenth
    /// of a core or more whether requests come or not, which per request would charge a
    /// slower mode more. On a machine others load too, the CPU a request costs moves far
    /// less than the requests a second.
    pub fn cpu_time(&self) -> Option<Duration> {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.child.id())).ok()?;
        let mut ns = 0u64;
        for task in tasks.flatten() {
            let worker = std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|name| name.starts_with("tokio"));
            // A thread that ended since the listing is no longer counted, nor running.
            let Ok(stat) = std::fs::read_to_string(task.path().join("schedstat")) else {
                continue;
            };
            if !worker {
                continue;
            }
            ns += stat.split_whitespace().next()?.parse::<u64>().ok()?;
        }
        Some(Duration::from_nanos(ns))
    }

    /// Waits until every instance has ended (a reused one ends once its wait for another
    /// request passes); whether it happened within `timeout`.
    pub fn wait_until_idle(&self, timeout: Duration) -> bool {
        poll(timeout, || (self.instances_running() == 0).then_some(())).is_some()
    }
}

/// Calls `check` until it yields a value or `timeout` passes; Viceroy's output arrives on
/// its own threads, so tests wait for what they expect rather than sleep a fixed time.
fn poll<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = check() {
            return Some(found);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.manifest_path);
    }
}

/// What Viceroy logs (with `-v`) when it starts an instance for a request.
pub const INSTANCE_START: &str = ": handling request ";

/// Reads `request completed using 1.2 MiB of WebAssembly heap` as 1.2.
pub fn heap_mib(line: &str) -> Option<f64> {
    let rest = line.split("request completed using ").nth(1)?;
    let mut words = rest.split_whitespace();
    let value: f64 = words.next()?.parse().ok()?;
    let scale = match words.next()? {
        "B" => 1.0 / (1024.0 * 1024.0),
        "KiB" => 1.0 / 1024.0,
        "MiB" => 1.0,
        "GiB" => 1024.0,
        "TiB" => 1024.0 * 1024.0,
        _ => return None,
    };
    Some(value * scale)
}

fn collect_lines(stream: impl Read + Send + 'static, into: Arc<Mutex<Output>>) {
    thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if let Ok(mut output) = into.lock() {
                output.push(strip_ansi(&line));
            }
        }
    });
}

/// Viceroy may colour its log lines; tests match on the plain text.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A harness killed mid-test must not leave Viceroy running.
fn die_with_parent(command: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_lines_are_read_in_mib() {
        let line = "2026-11-24T12:00:00Z  INFO request{id=3}: request completed using 1.5 MiB of WebAssembly heap";
        assert_eq!(heap_mib(line), Some(1.5));
        assert_eq!(
            heap_mib("request completed using 512.0 KiB of WebAssembly heap"),
            Some(0.5)
        );
        assert_eq!(heap_mib("request completed in 3ms"), None);
    }

    #[test]
    fn instances_are_counted_as_their_lines_arrive() {
        let mut output = Output::default();
        let running = |o: &Output| o.started - o.ended;
        output.push("INFO request{id=0}: handling request GET http://x/a".into());
        output.push("INFO request{id=1}: handling request GET http://x/b".into());
        output.push("INFO firstbyte_access :: {\"path\": \"/a\"}".into());
        assert_eq!(running(&output), 2);
        output
            .push("INFO request{id=0}: request completed using 1.9 MiB of WebAssembly heap".into());
        assert_eq!(running(&output), 1);
        output
            .push("INFO request{id=1}: request completed using 2.0 MiB of WebAssembly heap".into());
        assert_eq!(running(&output), 0);
        assert_eq!(output.lines.len(), 5);
    }

    #[test]
    fn ansi_colours_are_removed() {
        assert_eq!(strip_ansi("\u{1b}[32mINFO\u{1b}[0m ok"), "INFO ok");
    }
}
