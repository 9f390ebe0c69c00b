//! Reading Viceroy's output after a soak: which requests reached the app, their access-log
//! lines, panics and traps, Viceroy's own errors, and the heap each instance used.
//!
//! Viceroy's own lines carry the request's span, `request{id=N}`, so its "handling request"
//! line, its heap figure and any trap join on N. The app's log endpoints are printed raw
//! (`firstbyte_access :: {json}`) with no span, so access-log lines are matched to requests
//! by count per method and path instead.

use std::collections::BTreeMap;

use crate::stack::{heap_mib, INSTANCE_START};

/// The app's panic endpoint (src/logging.rs): its panic hook writes the message here.
const PANIC_ENDPOINT: &str = "firstbyte_panic :: ";
const ACCESS_ENDPOINT: &str = "firstbyte_access :: ";
const GUEST_STDIO: [&str; 2] = ["stderr :: ", "stdout :: "];
/// How Viceroy reports a guest that trapped or exited with an error (a Rust panic in the
/// app ends as one of these).
const TRAPS: [&str; 3] = [
    "WebAssembly trapped",
    "WebAssembly exited with error",
    "WebAssembly exited with an error",
];
/// Viceroy's follow-up to a trap when the guest sent no response; the trap is already counted.
const TRAP_FOLLOW_UP: &str = "There was an error handling the request";

#[derive(Debug, Default)]
pub struct LogFindings {
    /// Requests Viceroy handed to the app, by `METHOD /path`.
    pub handled: BTreeMap<String, usize>,
    /// Access-log lines, by `METHOD /path`.
    pub logged: BTreeMap<String, usize>,
    /// Lines the app's panic hook wrote.
    pub app_panics: Vec<String>,
    /// Requests whose instance trapped, as `METHOD /path?query`.
    pub app_traps: Vec<String>,
    /// Viceroy's own errors and panics, their text with time and request id taken out.
    pub viceroy_side: BTreeMap<String, usize>,
    /// Heap per request id, in MiB.
    pub heaps: Vec<(u64, f64)>,
}

impl LogFindings {
    pub fn reached_app(&self) -> usize {
        self.handled.values().sum()
    }

    pub fn access_lines(&self) -> usize {
        self.logged.values().sum()
    }

    /// `(METHOD /path, handled, logged)` wherever the two differ: a request without its
    /// access-log line, or a line too many.
    pub fn mismatches(&self) -> Vec<(String, usize, usize)> {
        let mut keys: Vec<&String> = self.handled.keys().chain(self.logged.keys()).collect();
        keys.sort();
        keys.dedup();
        keys.into_iter()
            .filter_map(|key| {
                let handled = self.handled.get(key).copied().unwrap_or(0);
                let logged = self.logged.get(key).copied().unwrap_or(0);
                (handled != logged).then(|| (key.clone(), handled, logged))
            })
            .collect()
    }

    /// Requests that reached the app and did not get exactly one access-log line.
    pub fn unlogged(&self) -> usize {
        self.mismatches()
            .iter()
            .map(|(_, handled, logged)| handled.abs_diff(*logged))
            .sum()
    }
}

pub fn analyse(lines: &[String]) -> LogFindings {
    let mut found = LogFindings::default();
    // Request id -> what it asked for, so a trap can name its request. Traps are named once
    // every line is read: they are errors, on Viceroy's stderr, and reach the harness on
    // another thread than the stdout line that names their request, maybe before it.
    let mut uris: BTreeMap<u64, String> = BTreeMap::new();
    let mut traps: Vec<(Option<u64>, String)> = Vec::new();
    for line in lines {
        if let Some((_, json)) = line.split_once(ACCESS_ENDPOINT) {
            let record: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
            let key = format!(
                "{} {}",
                record["method"].as_str().unwrap_or("?"),
                record["path"].as_str().unwrap_or("?")
            );
            *found.logged.entry(key).or_default() += 1;
        } else if is_app_panic(line) {
            found.app_panics.push(line.clone());
        } else if let Some((_, rest)) = line.split_once(INSTANCE_START) {
            let (method, uri) = rest.split_once(' ').unwrap_or((rest, ""));
            let key = format!("{method} {}", path_of(uri));
            *found.handled.entry(key).or_default() += 1;
            if let Some(id) = request_id(line) {
                uris.insert(id, format!("{method} {}", path_and_query(uri)));
            }
        } else if let Some(mib) = heap_mib(line) {
            if let Some(id) = request_id(line) {
                found.heaps.push((id, mib));
            }
        } else if TRAPS.iter().any(|t| line.contains(t)) {
            traps.push((request_id(line), normalise(line)));
        } else if is_viceroy_problem(line) {
            *found.viceroy_side.entry(normalise(line)).or_default() += 1;
        }
    }
    found.app_traps = traps
        .into_iter()
        .map(|(id, text)| id.and_then(|id| uris.get(&id).cloned()).unwrap_or(text))
        .collect();
    found
}

/// A panic message from the app: its panic hook's endpoint, or the default hook's message
/// on the guest's stderr (Viceroy prints the guest's stdio as endpoints too).
fn is_app_panic(line: &str) -> bool {
    line.contains(PANIC_ENDPOINT)
        || (GUEST_STDIO.iter().any(|p| line.starts_with(p)) && line.contains("panicked"))
}

/// Viceroy's error-level lines and any panic of its own (an app panic is on the panic
/// endpoint, already taken).
fn is_viceroy_problem(line: &str) -> bool {
    // The app's own endpoints (firstbyte_app errors for a 502, say) are not Viceroy's.
    if line.contains(TRAP_FOLLOW_UP) || line.contains(" :: ") {
        return false;
    }
    let level_error = line.split_whitespace().take(2).any(|word| word == "ERROR");
    level_error || line.contains("panicked at")
}

/// `request{id=12}` in a Viceroy line, as 12.
pub fn request_id(line: &str) -> Option<u64> {
    let rest = line.split_once("request{id=")?.1;
    rest.split_once('}')?.0.parse().ok()
}

/// `/a/b?c` from `http://host:port/a/b?c`, or the URI itself when it is already a path.
fn path_and_query(uri: &str) -> &str {
    match uri.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => uri,
    }
}

fn path_of(uri: &str) -> &str {
    let path = path_and_query(uri);
    path.split_once('?').map_or(path, |(path, _)| path)
}

/// A Viceroy line without its timestamp and request id, so repeats of one problem group.
fn normalise(line: &str) -> String {
    let mut words = line.split_whitespace().peekable();
    if words
        .peek()
        .is_some_and(|w| w.len() >= 20 && w.contains('T') && w.ends_with('Z'))
    {
        words.next();
    }
    let text: Vec<&str> = words
        .map(|w| {
            if w.starts_with("request{id=") {
                "request{..}:"
            } else {
                w
            }
        })
        .collect();
    let text = text.join(" ");
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// The heap baseline and the peak: the largest heap among the first `first` requests (by
/// id, the order Viceroy received them) and over all of them.
pub fn heap_growth(heaps: &[(u64, f64)], first: usize) -> Option<(f64, f64)> {
    let mut sorted = heaps.to_vec();
    sorted.sort_by_key(|(id, _)| *id);
    let early = sorted
        .iter()
        .take(first)
        .map(|(_, mib)| *mib)
        .reduce(f64::max)?;
    let overall = sorted.iter().map(|(_, mib)| *mib).reduce(f64::max)?;
    Some((early, overall))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    // The trap (stderr) arrives before the line naming its request (stdout).
    const LOG: &str = r#"2026-01-01T00:00:00.000004Z ERROR request{id=1}: WebAssembly trapped: error while executing at wasm backtrace:
    0: 0x1234 - firstbyte.wasm!main
2026-01-01T00:00:00.000001Z  INFO request{id=0}: handling request GET http://127.0.0.1:9/origin/bytes/10?x=1
2026-01-01T00:00:00.000002Z  INFO request{id=1}: handling request GET http://127.0.0.1:9/demo/html?encoding=gzip
firstbyte_access :: {"method":"GET","path":"/origin/bytes/10","status":200}
2026-01-01T00:00:00.000003Z  INFO request{id=0}: request completed using 1.5 MiB of WebAssembly heap
firstbyte_panic :: panicked at src/proxy.rs:33:10: called `Result::unwrap()` on an `Err` value
2026-01-01T00:00:00.000005Z ERROR request{id=1}: There was an error handling the request error while executing
2026-01-01T00:00:00.000006Z  INFO request{id=1}: request completed using 1.6 MiB of WebAssembly heap
2026-01-01T00:00:00.000007Z ERROR request{id=2}: Error connecting to backend 'dead'
2026-01-01T00:00:00.000008Z ERROR request{id=3}: Error connecting to backend 'dead'
thread 'tokio-runtime-worker' panicked at viceroy-lib/src/body.rs:1:1: oops
stderr :: thread 'main' panicked at src/main.rs:1:1
firstbyte_app :: GET /dead/x: backend 'dead' could not be reached
"#;

    #[test]
    fn requests_and_access_lines_are_matched_per_method_and_path() {
        let found = analyse(&lines(LOG));
        assert_eq!(found.reached_app(), 2);
        assert_eq!(found.access_lines(), 1);
        assert_eq!(
            found.mismatches(),
            [("GET /demo/html".to_string(), 1, 0)],
            "the trapped request wrote no access line"
        );
        assert_eq!(found.unlogged(), 1);
    }

    #[test]
    fn app_panics_and_traps_are_told_from_viceroys_own_errors() {
        let found = analyse(&lines(LOG));
        assert_eq!(found.app_panics.len(), 2);
        assert_eq!(found.app_traps, ["GET /demo/html?encoding=gzip"]);
        let viceroy: Vec<_> = found.viceroy_side.iter().collect();
        assert_eq!(viceroy.len(), 2, "{viceroy:?}");
        assert_eq!(
            found
                .viceroy_side
                .get("ERROR request{..}: Error connecting to backend 'dead'"),
            Some(&2)
        );
        assert!(found
            .viceroy_side
            .keys()
            .any(|k| k.contains("panicked at viceroy-lib")));
    }

    #[test]
    fn heap_growth_compares_the_first_requests_with_all() {
        let found = analyse(&lines(LOG));
        assert_eq!(found.heaps, [(0, 1.5), (1, 1.6)]);
        assert_eq!(heap_growth(&found.heaps, 1), Some((1.5, 1.6)));
        assert_eq!(
            heap_growth(&[(5, 2.0), (1, 1.0), (0, 1.0)], 2),
            Some((1.0, 2.0))
        );
        assert_eq!(heap_growth(&[], 100), None);
        assert_eq!(request_id("INFO request{id=42}: x"), Some(42));
        assert_eq!(path_of("http://h:1/a/b?c=d"), "/a/b");
    }
}
