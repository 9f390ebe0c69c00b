//! Counting what came back while the soak runs, and the verdict at the end.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use super::cases::{Case, End, Got, Verdict, CASES};
use super::logs::{heap_growth, LogFindings};

/// Requests whose heap is the baseline the rest of the run is held to.
pub const HEAP_BASELINE_REQUESTS: usize = 100;
/// How far the heap may grow past that baseline, in MiB.
pub const HEAP_GROWTH_LIMIT_MIB: f64 = 0.1;
/// Examples kept per kind of failure: enough to see what broke, not a flood.
const EXAMPLES: usize = 5;

/// One row's counts.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub count: u64,
    pub statuses: BTreeMap<u16, u64>,
    pub no_response: u64,
    pub cut: u64,
    pub total: Duration,
    pub max: Duration,
}

#[derive(Debug, Default)]
pub struct Tally {
    /// Indexed like [`CASES`].
    pub rows: Vec<Row>,
    pub unexpected_status: u64,
    pub wrong_clean: u64,
    pub unexpected_cut: u64,
    /// Keep-alive connections the HTTP clients opened (raw requests each use their own).
    pub connections: u64,
    /// `row: what happened` for the first few failures of each kind.
    pub examples: Vec<String>,
}

impl Tally {
    pub fn new(rows: usize) -> Tally {
        Tally {
            rows: vec![Row::default(); rows],
            ..Tally::default()
        }
    }

    pub fn record(&mut self, index: usize, got: &Got, verdict: &Verdict, took: Duration) {
        let Some(row) = self.rows.get_mut(index) else {
            return;
        };
        row.count += 1;
        match got.status {
            Some(status) => *row.statuses.entry(status).or_default() += 1,
            None => row.no_response += 1,
        }
        if got.status.is_some() && matches!(got.end, End::Cut(_)) {
            row.cut += 1;
        }
        row.total += took;
        row.max = row.max.max(took);
        let name = CASES.get(index).map_or("?", |c| c.name);
        let (count, what) = match verdict {
            Verdict::Ok => return,
            Verdict::UnexpectedStatus => (
                &mut self.unexpected_status,
                match got.status {
                    Some(status) => format!("status {status}"),
                    None => format!("no response ({})", got.note.as_deref().unwrap_or("?")),
                },
            ),
            Verdict::WrongClean(why) => (&mut self.wrong_clean, format!("clean but wrong: {why}")),
            Verdict::UnexpectedCut(why) => (&mut self.unexpected_cut, format!("cut: {why}")),
        };
        *count += 1;
        if *count <= EXAMPLES as u64 {
            self.examples.push(format!("{name}: {what}"));
        }
    }

    pub fn requests(&self) -> u64 {
        self.rows.iter().map(|r| r.count).sum()
    }

    /// Responses by status class, 1xx to 5xx, then no response, then bodies cut.
    pub fn classes(&self) -> ([u64; 5], u64, u64) {
        let mut classes = [0u64; 5];
        for row in &self.rows {
            for (status, n) in &row.statuses {
                if let Some(class) = classes.get_mut(usize::from(status / 100).wrapping_sub(1)) {
                    *class += n;
                }
            }
        }
        let none = self.rows.iter().map(|r| r.no_response).sum();
        let cut = self.rows.iter().map(|r| r.cut).sum();
        (classes, none, cut)
    }

    /// One line for the progress printout.
    pub fn brief(&self) -> String {
        let ([c1, c2, c3, c4, c5], none, cut) = self.classes();
        format!(
            "{} requests · 1xx {c1} 2xx {c2} 3xx {c3} 4xx {c4} 5xx {c5} · no response {none} · \
             cut {cut} · unexpected status {} · clean-but-wrong {} · unexpected cut {}",
            self.requests(),
            self.unexpected_status,
            self.wrong_clean,
            self.unexpected_cut
        )
    }
}

/// One pass/fail line of the verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub name: &'static str,
    pub passed: bool,
    pub detail: String,
}

fn check(name: &'static str, passed: bool, detail: String) -> Check {
    Check {
        name,
        passed,
        detail,
    }
}

/// The soak's "musts", from the client's counts and Viceroy's log. `idle`: every instance
/// ended before the log was read, so no access-log line can still be on its way.
pub fn checks(cases: &[Case], tally: &Tally, logs: &LogFindings, idle: bool) -> Vec<Check> {
    let mut checks = Vec::new();
    let unrun: Vec<&str> = cases
        .iter()
        .zip(&tally.rows)
        .filter(|(_, row)| row.count == 0)
        .map(|(case, _)| case.name)
        .collect();
    checks.push(check(
        "every kind of request ran",
        unrun.is_empty() && !cases.is_empty(),
        if unrun.is_empty() {
            format!("{} kinds", cases.len())
        } else {
            format!("never sent: {}", unrun.join(", "))
        },
    ));
    checks.push(check(
        "no unexpected status",
        tally.unexpected_status == 0,
        tally.unexpected_status.to_string(),
    ));
    checks.push(check(
        "no body ended cleanly but incomplete or wrong",
        tally.wrong_clean == 0,
        tally.wrong_clean.to_string(),
    ));
    checks.push(check(
        "no body cut where a complete one was due",
        tally.unexpected_cut == 0,
        tally.unexpected_cut.to_string(),
    ));
    let mismatches = logs.mismatches();
    let mut detail = format!(
        "{} reached the app, {} access-log lines, {} off",
        logs.reached_app(),
        logs.access_lines(),
        logs.unlogged()
    );
    for (key, handled, logged) in mismatches.iter().take(EXAMPLES) {
        let _ = write!(detail, "; {key}: {handled} handled, {logged} logged");
    }
    if !idle {
        detail.push_str("; instances were still running when the log was read");
    }
    checks.push(check(
        "one access-log line per request that reached the app",
        mismatches.is_empty() && idle && logs.reached_app() > 0,
        detail,
    ));
    let panics = logs.app_panics.len() + logs.app_traps.len();
    checks.push(check(
        "no app panic or trap",
        panics == 0,
        format!(
            "{} panic lines, {} traps",
            logs.app_panics.len(),
            logs.app_traps.len()
        ),
    ));
    checks.push(match heap_growth(&logs.heaps, HEAP_BASELINE_REQUESTS) {
        Some((early, overall)) => check(
            "heap flat",
            overall - early <= HEAP_GROWTH_LIMIT_MIB + 1e-9,
            format!(
                "max {early:.2} MiB over the first {HEAP_BASELINE_REQUESTS} requests, \
                 {overall:.2} MiB over {} (limit +{HEAP_GROWTH_LIMIT_MIB} MiB)",
                logs.heaps.len()
            ),
        ),
        None => check(
            "heap flat",
            false,
            "no heap figures in Viceroy's log".into(),
        ),
    });
    checks
}

/// The closing line: `soak: N passed, M failed`.
pub fn summary(checks: &[Check]) -> String {
    let passed = checks.iter().filter(|c| c.passed).count();
    format!("soak: {passed} passed, {} failed", checks.len() - passed)
}

/// The per-row table, the failure examples, the log's findings and the checks.
pub fn render(
    cases: &[Case],
    tally: &Tally,
    logs: &LogFindings,
    checks: &[Check],
    elapsed: Duration,
) -> String {
    let mut out = String::new();
    let secs = elapsed.as_secs_f64();
    let _ = writeln!(
        out,
        "soak: {} requests in {secs:.1} s ({:.0}/s)",
        tally.requests(),
        tally.requests() as f64 / secs.max(1e-9)
    );
    let _ = writeln!(
        out,
        "{:<30} {:>6} {:>8} {:>8}  statuses",
        "kind", "n", "mean ms", "max ms"
    );
    for (case, row) in cases.iter().zip(&tally.rows) {
        let mean = row.total.as_secs_f64() * 1000.0 / row.count.max(1) as f64;
        let mut statuses: Vec<String> = row
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}×{n}"))
            .collect();
        if row.no_response > 0 {
            statuses.push(format!("none×{}", row.no_response));
        }
        if row.cut > 0 {
            statuses.push(format!("cut×{}", row.cut));
        }
        let _ = writeln!(
            out,
            "{:<30} {:>6} {:>8.1} {:>8.0}  {}",
            case.name,
            row.count,
            mean,
            row.max.as_secs_f64() * 1000.0,
            statuses.join(" ")
        );
    }
    let _ = writeln!(out, "totals: {}", tally.brief());
    let _ = writeln!(
        out,
        "keep-alive connections opened: {} (a cut, hang-up or server close replaces one)",
        tally.connections
    );
    for example in &tally.examples {
        let _ = writeln!(out, "  failed: {example}");
    }
    let mut panics: BTreeMap<&str, usize> = BTreeMap::new();
    for line in &logs.app_panics {
        *panics.entry(line).or_default() += 1;
    }
    for (line, n) in panics {
        let _ = writeln!(out, "  app panic ×{n}: {line}");
    }
    let mut traps: BTreeMap<&str, usize> = BTreeMap::new();
    for request in &logs.app_traps {
        *traps.entry(request).or_default() += 1;
    }
    for (request, n) in traps {
        let _ = writeln!(out, "  app trap ×{n}: {request}");
    }
    let viceroy: usize = logs.viceroy_side.values().sum();
    let _ = writeln!(
        out,
        "viceroy-side errors (not the app's; informational): {viceroy}"
    );
    for (text, n) in &logs.viceroy_side {
        let _ = writeln!(out, "  viceroy-side ×{n}: {text}");
    }
    for c in checks {
        let mark = if c.passed { "pass" } else { "FAIL" };
        let _ = writeln!(out, "{mark}  {}: {}", c.name, c.detail);
    }
    let _ = write!(out, "{}", summary(checks));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soak::cases::judge;

    fn got(status: Option<u16>, end: End) -> Got {
        Got {
            status,
            content_length: None,
            content_encoding: None,
            body: Vec::new(),
            end,
            note: Some("refused".into()),
        }
    }

    fn index(name: &str) -> usize {
        CASES.iter().position(|c| c.name == name).expect("row")
    }

    fn clean_logs() -> LogFindings {
        let mut logs = LogFindings::default();
        logs.handled.insert("GET /".into(), 3);
        logs.logged.insert("GET /".into(), 3);
        logs.heaps = (0..200).map(|id| (id, 1.0)).collect();
        logs
    }

    fn full_tally() -> Tally {
        let mut tally = Tally::new(CASES.len());
        for row in &mut tally.rows {
            row.count = 1;
        }
        tally
    }

    #[test]
    fn a_clean_run_passes_every_check() {
        let checks = checks(CASES, &full_tally(), &clean_logs(), true);
        assert!(checks.iter().all(|c| c.passed), "{checks:?}");
        assert_eq!(
            summary(&checks),
            format!("soak: {} passed, 0 failed", checks.len())
        );
    }

    #[test]
    fn each_must_fails_on_its_own() {
        let mut tally = full_tally();
        let dead = index("dead 502");
        let verdict = judge(&CASES[dead], &got(Some(500), End::Clean));
        tally.record(
            dead,
            &got(Some(500), End::Clean),
            &verdict,
            Duration::from_millis(3),
        );
        let mut logs = clean_logs();
        logs.handled.insert("GET /x".into(), 1);
        logs.app_traps.push("GET /x".into());
        logs.heaps.push((500, 1.2));
        let failed: Vec<&str> = checks(CASES, &tally, &logs, true)
            .into_iter()
            .filter(|c| !c.passed)
            .map(|c| c.name)
            .collect();
        assert_eq!(
            failed,
            [
                "no unexpected status",
                "one access-log line per request that reached the app",
                "no app panic or trap",
                "heap flat"
            ]
        );
        assert_eq!(tally.examples, ["dead 502: status 500"]);
    }

    #[test]
    fn heap_growth_within_the_limit_passes_and_missing_figures_fail() {
        let mut logs = clean_logs();
        logs.heaps.push((500, 1.0625)); // one more 64 KiB page
        assert!(checks(CASES, &full_tally(), &logs, true)
            .iter()
            .all(|c| c.passed));
        logs.heaps.clear();
        let heap = checks(CASES, &full_tally(), &logs, true)
            .into_iter()
            .find(|c| c.name == "heap flat")
            .expect("heap check");
        assert!(!heap.passed);
    }

    #[test]
    fn classes_count_statuses_no_responses_and_cuts() {
        let mut tally = Tally::new(CASES.len());
        let reset = index("origin reset");
        for (status, end) in [
            (Some(200), End::Cut("eof".into())),
            (Some(404), End::Clean),
            (None, End::Cut("no response".into())),
        ] {
            let g = got(status, end);
            tally.record(reset, &g, &judge(&CASES[reset], &g), Duration::ZERO);
        }
        assert_eq!(tally.classes(), ([0, 1, 0, 1, 0], 1, 1));
        assert_eq!(tally.requests(), 3);
        // A reset may end in no response at all (see the row); a 404 is never right.
        assert_eq!(tally.unexpected_status, 1);
        let unrun = checks(CASES, &tally, &clean_logs(), true);
        assert!(!unrun[0].passed && unrun[0].detail.starts_with("never sent"));
    }
}
