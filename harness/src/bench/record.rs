//! A benchmark run kept as a record (`bench --record`): `docs/bench/runs/<date>-<commit>/`
//! holds the run's full tables (`results.md`), every figure with its unit, mode and workload
//! (`results.json`), its two charts, and the machine and tools it ran on (`machine.txt`);
//! the README's bench block is then a short summary of that run ([`Record::readme_section`]).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use super::cache::{ColdCell, Hits, Stale, HIT_CHAIN};
use super::dictionary::Dictionary;
use super::esi::Esi;
use super::load::{round_ratios, LoadCell};
use super::report::{checks_markdown, Check};
use super::stages::StageRow;
use super::stats::median;
use super::stats::Summary;
use super::validation::Validation;
use super::Cell;

/// Where the records are kept, relative to the repository.
pub const RUNS: &str = "docs/bench/runs";

/// Everything one run produced, as the bench binary has it once it is done measuring.
pub struct Record<'a> {
    /// `YYYY-MM-DD`, UTC.
    pub date: String,
    /// The short hash of the commit measured.
    pub commit: String,
    /// How long the run took.
    pub seconds: f64,
    /// The scheduling priority the measuring client obtained (`priority::Obtained::describe`).
    pub client: String,
    /// `results.md`: the caption and every table of the run.
    pub results: &'a str,
    pub ttfb_svg: &'a str,
    pub throughput_svg: &'a str,
    /// `machine.txt` ([`machine`]).
    pub machine: &'a str,
    pub cells: &'a [Cell],
    pub load: &'a [LoadCell],
    /// The cache part: its concurrent cold clients, hits and cold misses.
    pub cache: Option<(usize, &'a Hits, &'a [ColdCell])>,
    /// The cache part's ranges, 304s, revalidations and idle filler.
    pub validation: Option<&'a Validation>,
    /// The cache part's concurrent clients of a stale object.
    pub stale: Option<&'a Stale>,
    /// The ESI part: composed pages beside their template and the peers, template hits.
    pub esi: Option<&'a Esi>,
    /// The dictionary part: two releases of real bundles, v2 as dcb beside br and gzip.
    pub dictionary: Option<&'a Dictionary>,
    pub stages: &'a [StageRow],
    pub checks: &'a [Check],
}

/// One figure of the run.
#[derive(Debug, Serialize)]
struct Figure {
    /// `ttfb`, `load`, `cache hit`, `cold miss`, `cache validation`, `esi`, `dictionary` or
    /// `stage`.
    part: &'static str,
    workload: String,
    mode: String,
    figure: &'static str,
    value: Value,
    unit: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Value {
    Count(u64),
    Real(f64),
}

#[derive(Serialize)]
struct Results<'a> {
    date: &'a str,
    commit: &'a str,
    seconds: f64,
    measuring_client: &'a str,
    /// Both cache routes answered HIT before and after the hit samples (cache part only).
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_hits_confirmed: Option<bool>,
    figures: Vec<Figure>,
    claims: &'a [Check],
}

/// Adds figures of one mode on one workload; `None` values are left out.
fn push(
    out: &mut Vec<Figure>,
    (part, workload, mode): (&'static str, &str, &str),
    figures: impl IntoIterator<Item = (&'static str, Option<Value>, &'static str)>,
) {
    for (figure, value, unit) in figures {
        if let Some(value) = value {
            out.push(Figure {
                part,
                workload: workload.to_string(),
                mode: mode.to_string(),
                figure,
                value,
                unit,
            });
        }
    }
}

fn real(v: Option<f64>) -> Option<Value> {
    v.map(Value::Real)
}

fn count(n: impl TryInto<u64>) -> Option<Value> {
    n.try_into().ok().map(Value::Count)
}

/// The figures of a cell, as its table shows them: a failed one keeps only its failures
/// and heap.
fn cell_figures(out: &mut Vec<Figure>, part: &'static str, c: &Cell) {
    let at = (part, c.workload.as_str(), c.mode.name);
    push(
        out,
        at,
        [
            ("failures", count(c.failures), "requests"),
            ("attempts", count(c.attempts), "requests"),
            ("wasm_heap", real(c.heap_mib), "MiB"),
        ],
    );
    if c.failed() {
        return;
    }
    let ttfb = |f: fn(&Summary) -> f64| real(c.ttfb.as_ref().map(f));
    let app = |f: fn(&Summary) -> f64| real(c.app.as_ref().map(f));
    push(
        out,
        at,
        [
            ("ttfb_min", ttfb(|s| s.min), "ms"),
            ("ttfb_p50", ttfb(|s| s.p50), "ms"),
            ("ttfb_p90", ttfb(|s| s.p90), "ms"),
            ("ttfb_p99", ttfb(|s| s.p99), "ms"),
            ("ttfb_max", ttfb(|s| s.max), "ms"),
            ("ttfb_samples", c.ttfb.and_then(|s| count(s.n)), "samples"),
            ("app_p50", app(|s| s.p50), "ms"),
            ("app_p90", app(|s| s.p90), "ms"),
            ("app_p99", app(|s| s.p99), "ms"),
            ("app_samples", c.app.and_then(|s| count(s.n)), "samples"),
            ("last_byte", real(c.ttlb_ms), "ms"),
            ("throughput", real(c.mb_per_s), "MB/s"),
            ("event_delay", real(c.event_ms), "ms"),
        ],
    );
}

impl Record<'_> {
    /// The record's directory name: `<date>-<commit>`.
    pub fn name(&self) -> String {
        format!("{}-{}", self.date, self.commit)
    }

    /// `results.json`: every figure of the run with its unit, mode and workload, and the
    /// claims checked on them.
    pub fn json(&self) -> Result<String, String> {
        let mut figures = Vec::new();
        for c in self.cells {
            cell_figures(&mut figures, "ttfb", c);
        }
        for c in self.load {
            let at = ("load", c.workload.as_str(), c.mode.name);
            push(
                &mut figures,
                at,
                [
                    ("requests", count(c.requests), "requests"),
                    ("errors", count(c.errors), "requests"),
                    ("seconds", real(Some(c.seconds)), "s"),
                ],
            );
            if c.failed() {
                continue;
            }
            let latency = |f: fn(&Summary) -> f64| real(c.latency.as_ref().map(f));
            push(
                &mut figures,
                at,
                [
                    (
                        "requests_per_second",
                        real(c.requests_per_second()),
                        "req/s",
                    ),
                    ("latency_p50", latency(|s| s.p50), "ms"),
                    ("latency_p90", latency(|s| s.p90), "ms"),
                    ("latency_p99", latency(|s| s.p99), "ms"),
                    ("latency_max", latency(|s| s.max), "ms"),
                ],
            );
            let reference = self.load.iter().find(|r| {
                r.mode.name == super::REFERENCE.name && r.workload == c.workload && !r.failed()
            });
            if let Some(r) = reference.and_then(|r| round_ratios(c, r)) {
                push(
                    &mut figures,
                    at,
                    [
                        ("round_ratio_to_reference_median", real(Some(r.median)), "×"),
                        ("round_ratio_to_reference_min", real(Some(r.min)), "×"),
                        ("round_ratio_to_reference_max", real(Some(r.max)), "×"),
                    ],
                );
            }
        }
        if let Some((clients, hits, cold)) = self.cache {
            for c in &hits.cells {
                cell_figures(&mut figures, "cache hit", c);
            }
            let at = ("cache hit", hits.workload.as_str(), HIT_CHAIN.name);
            push(
                &mut figures,
                at,
                [("object_bytes", count(hits.chain_bytes), "B")],
            );
            let workload = format!("{clients} clients");
            for c in cold {
                let requests = |n: Option<&u64>| n.and_then(|n| count(*n));
                push(
                    &mut figures,
                    ("cold miss", &workload, c.mode.name),
                    [
                        ("rounds", count(c.single_ms.len()), "rounds"),
                        ("one_client_ttfb", real(c.single()), "ms"),
                        ("slowest_ttfb", real(c.slowest()), "ms"),
                        (
                            "origin_requests_min",
                            requests(c.origin_requests.iter().min()),
                            "requests",
                        ),
                        (
                            "origin_requests_max",
                            requests(c.origin_requests.iter().max()),
                            "requests",
                        ),
                        ("broken", count(c.broken), "responses"),
                        ("responses", count(c.responses), "responses"),
                        ("wasm_heap", real(c.heap_mib), "MiB"),
                    ],
                );
            }
        }
        if let Some(stale) = self.stale {
            let requests = |n: Option<&u64>| n.and_then(|n| count(*n));
            push(
                &mut figures,
                (
                    "cache stale",
                    &format!("{} clients", stale.clients),
                    "firstbyte cache, passthrough",
                ),
                [
                    ("rounds", count(stale.origin_requests.len()), "rounds"),
                    (
                        "origin_requests_min",
                        requests(stale.origin_requests.iter().min()),
                        "requests",
                    ),
                    (
                        "origin_requests_max",
                        requests(stale.origin_requests.iter().max()),
                        "requests",
                    ),
                    ("broken", count(stale.broken), "responses"),
                    ("responses", count(stale.responses), "responses"),
                ],
            );
        }
        if let Some(v) = self.validation {
            for c in &v.cells {
                let summary = |f: fn(&Summary) -> f64| real(c.ttfb.as_ref().map(f));
                push(
                    &mut figures,
                    ("cache validation", c.probe.group, &c.probe.name),
                    [
                        ("ttfb_p50", summary(|s| s.p50), "ms"),
                        ("ttfb_p90", summary(|s| s.p90), "ms"),
                        ("ttfb_p99", summary(|s| s.p99), "ms"),
                        ("wrong_answers", count(c.wrong), "responses"),
                        ("samples", count(c.attempts), "requests"),
                    ],
                );
            }
            let workload = format!("{} clients behind a filler that reads nothing", v.clients);
            push(
                &mut figures,
                (
                    "cache validation",
                    &workload,
                    "firstbyte cache, passthrough",
                ),
                [
                    (
                        "uncached_one_client_last_byte",
                        real(median(&v.idle.uncached_ms)),
                        "ms",
                    ),
                    ("slowest_last_byte", real(median(&v.idle.slowest_ms)), "ms"),
                    ("incomplete", count(v.idle.incomplete), "responses"),
                    ("responses", count(v.idle.responses), "responses"),
                ],
            );
        }
        if let Some(e) = self.esi {
            for c in &e.cells {
                let p50 = |v: &[f64]| real(median(v));
                push(
                    &mut figures,
                    ("esi", &c.workload, c.contender.name),
                    [
                        ("ttfb_p50", p50(&c.ttfb_ms), "ms"),
                        ("text_before_slow_fragment_p50", p50(&c.text_ms), "ms"),
                        ("last_byte_p50", p50(&c.last_ms), "ms"),
                        (
                            "wasm_heap",
                            real(c.heap_mib.iter().copied().reduce(f64::max)),
                            "MiB",
                        ),
                        ("wrong_pages", count(c.wrong), "responses"),
                        ("samples", count(c.attempts), "requests"),
                    ],
                );
            }
            push(
                &mut figures,
                (
                    "esi",
                    &format!("template hit, {}", e.hit_workload),
                    "firstbyte",
                ),
                [
                    (
                        "first_fragment_request_p50",
                        real(median(&e.first_request_ms)),
                        "ms",
                    ),
                    ("not_hits", count(e.hit_wrong), "responses"),
                    ("samples", count(e.hit_attempts), "requests"),
                ],
            );
        }
        if let Some(d) = self.dictionary {
            for p in &d.pairs {
                push(
                    &mut figures,
                    ("dictionary", &p.pair, "v1, v2"),
                    [
                        ("dictionary_bytes", count(p.dictionary_bytes), "bytes"),
                        ("v2_bytes", count(p.v2_bytes), "bytes"),
                    ],
                );
            }
            for c in &d.cells {
                let p50 = |v: &[f64]| real(median(v));
                push(
                    &mut figures,
                    ("dictionary", &c.pair, c.coding.name()),
                    [
                        ("wire_bytes", p50(&c.wire_bytes), "bytes"),
                        ("ttfb_p50", p50(&c.ttfb_ms), "ms"),
                        ("app_p50", p50(&c.app_ms), "ms"),
                        ("last_byte_p50", p50(&c.last_ms), "ms"),
                        (
                            "wasm_heap",
                            real(c.heap_mib.iter().copied().reduce(f64::max)),
                            "MiB",
                        ),
                        ("failures", count(c.failures), "requests"),
                    ],
                );
            }
        }
        for row in self.stages {
            for (mode, value) in [("native", row.native_mbps), ("wasm", row.wasm_mbps)] {
                push(
                    &mut figures,
                    ("stage", &row.name, mode),
                    [("throughput", real(value), "MB/s")],
                );
            }
        }
        let results = Results {
            date: &self.date,
            commit: &self.commit,
            seconds: self.seconds,
            measuring_client: &self.client,
            cache_hits_confirmed: self.cache.map(|(_, hits, _)| hits.confirmed),
            figures,
            claims: self.checks,
        };
        serde_json::to_string_pretty(&results)
            .map(|json| json + "\n")
            .map_err(|e| format!("results.json: {e}"))
    }

    /// Writes the record into a new directory under `runs` (`<date>-<commit>`, or with `-2`,
    /// `-3`… when a run of the same day and commit is there already) and returns it.
    pub fn write(&self, runs: &Path) -> Result<PathBuf, String> {
        let json = self.json()?;
        let base = self.name();
        let dir = (1..)
            .map(|n| match n {
                1 => runs.join(&base),
                n => runs.join(format!("{base}-{n}")),
            })
            .find(|dir| !dir.exists())
            .unwrap_or_else(|| runs.join(&base));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for (name, text) in [
            ("results.md", self.results),
            ("results.json", json.as_str()),
            ("ttfb.svg", self.ttfb_svg),
            ("throughput.svg", self.throughput_svg),
            ("machine.txt", self.machine),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(dir)
    }

    /// The README's bench block: the run's claims, missed ones shown missed, and its two
    /// charts, all from the record in `dir` (a path relative to the README).
    pub fn readme_section(&self, dir: &str) -> String {
        format!(
            "Measured on {} at commit {} on Viceroy and this 2-core machine, in one run \
             (`make bench BENCH_ARGS=--record`, {:.0} s; {}). Every table of the run is in \
             [{dir}/results.md]({dir}/results.md), beside its figures as JSON and the \
             machine and tool versions it ran with.\n\n{}\n\
             ![TTFB against body size]({dir}/ttfb.svg)\n\
             ![Throughput against body size]({dir}/throughput.svg)\n",
            self.date,
            self.commit,
            self.seconds,
            self.client,
            checks_markdown(self.checks),
        )
    }
}

/// Today's date in UTC, `YYYY-MM-DD`.
pub fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    date_of(secs / 86_400)
}

/// The civil date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn date_of(days: u64) -> String {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// The first line a command prints (on stdout, else on stderr, where `nginx -v` and
/// `varnishd -V` write), or why there is none.
fn version(program: &Path, arg: &str) -> String {
    match Command::new(program).arg(arg).output() {
        Ok(out) => {
            let text = if out.stdout.is_empty() {
                out.stderr
            } else {
                out.stdout
            };
            let text = String::from_utf8_lossy(&text);
            let line = text.lines().next().unwrap_or("(printed nothing)");
            line.trim().to_string()
        }
        Err(e) => format!("not run: {e}"),
    }
}

/// A `key: value` line of a `/proc` file.
fn proc_field(file: &str, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

/// `machine.txt`: the commit, the machine, the client's priority and the tools' versions.
pub fn machine((commit, changed): (&str, bool), client: &str) -> String {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let memory = proc_field("/proc/meminfo", "MemTotal")
        .and_then(|kb| kb.trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or("unknown".to_string(), |kb| {
            format!("{:.1} GiB", kb as f64 / f64::from(1 << 20))
        });
    let cpu = proc_field("/proc/cpuinfo", "model name").unwrap_or_else(|| "unknown".into());
    let viceroy = std::env::var("VICEROY").unwrap_or_else(|_| "viceroy".into());
    let missing = |name: &str| format!("{name} not installed");
    let changed = if changed {
        " (the working tree had uncommitted changes to tracked files)"
    } else {
        ""
    };
    [
        format!("commit: {commit}{changed}"),
        format!("cores: {cores}"),
        format!("cpu: {cpu}"),
        format!("memory: {memory}"),
        format!("kernel: {}", version(Path::new("uname"), "-sr")),
        format!("scheduling: {client}"),
        format!(
            "viceroy --version: {}",
            version(Path::new(&viceroy), "--version")
        ),
        format!(
            "nginx -v: {}",
            crate::nginx::binary().map_or_else(|| missing("nginx"), |b| version(&b, "-v"))
        ),
        format!(
            "varnishd -V: {}",
            crate::varnish::binary().map_or_else(|| missing("varnishd"), |b| version(&b, "-V"))
        ),
        format!("rustc -V: {}", version(Path::new("rustc"), "-V")),
    ]
    .join("\n")
        + "\n"
}

/// The short hash of the commit checked out in `repo`, and whether its tracked files have
/// changes of their own (the run then measured more than the commit).
pub fn commit(repo: &Path) -> (String, bool) {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let hash = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let changed = git(&["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|changes| !changes.is_empty());
    (hash, changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::cache::COLD_MODES;
    use crate::bench::dictionary::{Coding, DictCell, PairSizes};
    use crate::bench::report::{checks, splice_readme, README_END, README_START};
    use crate::bench::stats::summarize;
    use crate::bench::{BUFFERED, FIRSTBYTE, REFERENCE};
    use std::time::Duration;

    fn summary(ms: &[u64]) -> Option<Summary> {
        let samples: Vec<Duration> = ms.iter().map(|&m| Duration::from_millis(m)).collect();
        summarize(&samples)
    }

    fn cell(mode: crate::bench::Mode, workload: &str, ms: &[u64], failures: usize) -> Cell {
        Cell {
            mode,
            workload: workload.into(),
            ttfb: summary(ms),
            app: None,
            ttlb_ms: Some(4.5),
            mb_per_s: Some(250.0),
            event_ms: None,
            heap_mib: Some(1.9),
            failures,
            attempts: 3,
        }
    }

    /// A scratch directory of this test's own, removed when dropped.
    struct Scratch(PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_run_is_kept_whole_and_summed_up_in_the_readme() -> Result<(), Box<dyn std::error::Error>> {
        let cells = vec![
            cell(REFERENCE, "1 KiB", &[2, 3, 4], 0),
            cell(FIRSTBYTE, "1 KiB", &[2, 2, 5], 0),
            cell(REFERENCE, "1 GiB", &[2, 3, 4], 0),
            cell(FIRSTBYTE, "1 GiB", &[3, 3, 3], 0),
            cell(BUFFERED, "1 GiB", &[1], 3),
        ];
        let load = vec![LoadCell {
            mode: FIRSTBYTE,
            workload: "1 KiB".into(),
            requests: 1000,
            errors: 2,
            seconds: 2.0,
            latency: summary(&[10, 12, 14]),
            rounds: vec![500.0, 500.0],
            round_cpu_us: vec![800.0, 820.0],
        }];
        let hits = Hits {
            workload: "64 MiB".into(),
            cells: vec![cell(HIT_CHAIN, "64 MiB", &[1, 2, 3], 0)],
            chain_bytes: 19_400_781,
            confirmed: true,
        };
        let cold = vec![ColdCell {
            mode: COLD_MODES[0],
            single_ms: vec![3.0, 4.0],
            slowest_ms: vec![12.0, 14.0],
            origin_requests: vec![1, 1],
            broken: 0,
            responses: 34,
            heap_mib: Some(2.1),
        }];
        let stale = Stale {
            clients: 16,
            origin_requests: vec![1, 2],
            broken: 0,
            responses: 32,
        };
        let stages = vec![StageRow {
            name: "replace".into(),
            native_mbps: Some(5000.0),
            wasm_mbps: None,
        }];
        let checks = checks(&cells, "1 KiB", "1 GiB");
        let dictionary = Dictionary {
            pairs: vec![PairSizes {
                pair: "a.js 1 → 2".into(),
                dictionary_bytes: 1000,
                v2_bytes: 1010,
            }],
            cells: vec![DictCell {
                pair: "a.js 1 → 2".into(),
                coding: Coding::Dcb,
                wire_bytes: vec![40.0, 42.0, 44.0],
                ttfb_ms: vec![2.5],
                app_ms: vec![1.5],
                last_ms: vec![3.0],
                heap_mib: vec![2.5, 3.5],
                failures: 0,
            }],
            wrong: vec![],
            dcb_checked: 3,
            hits: vec![],
        };
        let record = Record {
            date: "2026-12-01".into(),
            commit: "abc1234".into(),
            seconds: 1036.4,
            client: "measuring client at nice -10, above the servers".into(),
            results: "| workload | mode |\n",
            ttfb_svg: "<svg>ttfb</svg>\n",
            throughput_svg: "<svg>throughput</svg>\n",
            machine: "cores: 2\n",
            cells: &cells,
            load: &load,
            cache: Some((16, &hits, &cold)),
            validation: None,
            stale: Some(&stale),
            esi: None,
            dictionary: Some(&dictionary),
            stages: &stages,
            checks: &checks,
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_nanos();
        let scratch = Scratch(
            std::env::temp_dir().join(format!("firstbyte-record-{}-{nanos}", std::process::id())),
        );
        let runs = scratch.0.join(RUNS);

        let dir = record.write(&runs)?;
        assert_eq!(dir, runs.join("2026-12-01-abc1234"));
        let read = |name: &str| std::fs::read_to_string(dir.join(name));
        assert_eq!(read("results.md")?, record.results);
        assert_eq!(read("ttfb.svg")?, record.ttfb_svg);
        assert_eq!(read("throughput.svg")?, record.throughput_svg);
        assert_eq!(read("machine.txt")?, record.machine);
        // A second run of the same day and commit does not overwrite the first.
        assert_eq!(record.write(&runs)?, runs.join("2026-12-01-abc1234-2"));

        let json: serde_json::Value = serde_json::from_str(&read("results.json")?)?;
        assert_eq!(json["commit"], "abc1234");
        assert_eq!(json["cache_hits_confirmed"], true);
        let figures = json["figures"].as_array().ok_or("figures")?;
        let find = |part: &str, workload: &str, mode: &str, figure: &str| {
            figures
                .iter()
                .find(|f| {
                    (&f["part"], &f["workload"], &f["mode"], &f["figure"])
                        == (&part.into(), &workload.into(), &mode.into(), &figure.into())
                })
                .map(|f| {
                    (
                        f["value"].clone(),
                        f["unit"].as_str().unwrap_or("").to_string(),
                    )
                })
        };
        let figure = |value: serde_json::Value, unit: &str| Some((value, unit.to_string()));
        assert_eq!(
            find("ttfb", "1 KiB", "firstbyte", "ttfb_p50"),
            figure(2.0.into(), "ms")
        );
        assert_eq!(
            find("ttfb", "1 GiB", "firstbyte", "throughput"),
            figure(250.0.into(), "MB/s")
        );
        assert_eq!(
            find("ttfb", "1 KiB", "reference", "ttfb_samples"),
            figure(3.into(), "samples")
        );
        assert_eq!(
            find("dictionary", "a.js 1 → 2", "dcb", "wire_bytes"),
            figure(42.0.into(), "bytes")
        );
        assert_eq!(
            find("dictionary", "a.js 1 → 2", "dcb", "wasm_heap"),
            figure(3.5.into(), "MiB")
        );
        assert_eq!(
            find("dictionary", "a.js 1 → 2", "v1, v2", "dictionary_bytes"),
            figure(1000.into(), "bytes")
        );
        // A failed cell keeps its failures and heap, as its table row does, and no TTFB.
        assert_eq!(
            find("ttfb", "1 GiB", "buffered", "failures"),
            figure(3.into(), "requests")
        );
        assert_eq!(find("ttfb", "1 GiB", "buffered", "ttfb_p50"), None);
        assert_eq!(
            find("load", "1 KiB", "firstbyte", "requests_per_second"),
            figure(500.0.into(), "req/s")
        );
        assert_eq!(
            find("cache hit", "64 MiB", HIT_CHAIN.name, "object_bytes"),
            figure(19_400_781.into(), "B")
        );
        assert_eq!(
            find(
                "cold miss",
                "16 clients",
                COLD_MODES[0].name,
                "slowest_ttfb"
            ),
            figure(13.0.into(), "ms")
        );
        assert_eq!(
            find(
                "cache stale",
                "16 clients",
                "firstbyte cache, passthrough",
                "origin_requests_max"
            ),
            figure(2.into(), "requests")
        );
        assert_eq!(
            find("stage", "replace", "native", "throughput"),
            figure(5000.0.into(), "MB/s")
        );
        assert_eq!(find("stage", "replace", "wasm", "throughput"), None);
        let claims = json["claims"].as_array().ok_or("claims")?;
        assert_eq!(claims.len(), checks.len());
        assert!(claims.iter().any(|c| c["holds"] == false));

        // The README block: the claims, a missed one shown missed, the charts and the
        // record's full tables, all from the record's directory.
        let section = record.readme_section("docs/bench/runs/2026-12-01-abc1234");
        let readme = format!("intro\n{README_START}\nold\n{README_END}\noutro\n");
        let readme = splice_readme(&readme, &section)?;
        assert!(readme.contains("| **no** |"), "{readme}");
        assert!(readme.contains("2026-12-01") && readme.contains("abc1234"));
        for link in ["results.md", "ttfb.svg", "throughput.svg"] {
            let link = format!("(docs/bench/runs/2026-12-01-abc1234/{link})");
            assert!(readme.contains(&link), "{link} in {readme}");
        }
        assert!(
            readme.ends_with(&format!("{README_END}\noutro\n")),
            "{readme}"
        );
        assert!(section.lines().count() < checks.len() + 10, "{section}");
        Ok(())
    }

    #[test]
    fn dates_are_civil_dates() {
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(date_of(11_016), "2000-02-29");
        assert_eq!(date_of(20_788), "2026-12-01");
        assert_eq!(today().len(), 10);
    }

    #[test]
    fn the_machine_file_names_the_client_and_every_tool() {
        let text = machine(("abc1234", true), "measuring client at nice -10");
        for key in [
            "commit: abc1234 (the working tree",
            "cores: ",
            "scheduling: measuring client at nice -10",
            "viceroy --version: ",
            "nginx -v: ",
            "varnishd -V: ",
            "rustc -V: rustc ",
        ] {
            assert!(text.contains(key), "{key} in {text}");
        }
    }
}
