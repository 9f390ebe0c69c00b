//! The TTFB benchmark: each mode (the origin directly, the bare reference app, firstbyte)
//! is measured on each workload in the same run, samples interleaved across modes so that
//! drift on a shared machine hits them alike, and everything is reported as ratios.

pub mod measure;
pub mod report;
pub mod stats;

use std::net::SocketAddr;
use std::time::Duration;

use crate::stack::{manifest, wasm, Edge, OriginServer};
use measure::{request, Sample};
use stats::{median, summarize, Summary};

/// Who answers the benchmark's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The dev origin directly: the floor.
    Origin,
    /// Explicit main, stream_to_client, append, nothing else: the platform's floor.
    Reference,
    /// firstbyte's plain passthrough route.
    Firstbyte,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Origin, Mode::Reference, Mode::Firstbyte];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Origin => "origin",
            Mode::Reference => "reference",
            Mode::Firstbyte => "firstbyte",
        }
    }

    /// The wasm app Viceroy runs for this mode, if any.
    fn app(self) -> Option<&'static str> {
        match self {
            Mode::Origin => None,
            Mode::Reference => Some("reference"),
            Mode::Firstbyte => Some("firstbyte"),
        }
    }

    /// The path that reaches `origin_path` on the dev origin through this mode.
    fn path(self, origin_path: &str) -> String {
        match self {
            Mode::Origin | Mode::Reference => origin_path.to_string(),
            Mode::Firstbyte => format!("/origin{origin_path}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Workload {
    pub name: String,
    pub origin_path: String,
    pub body_bytes: u64,
}

impl Workload {
    pub fn bytes(size: u64) -> Workload {
        Workload {
            name: human_size(size),
            origin_path: format!("/bytes/{size}"),
            body_bytes: size,
        }
    }
}

pub fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub workloads: Vec<Workload>,
    /// TTFB samples per mode and workload.
    pub samples: usize,
    /// Full downloads per mode and workload, for time to last byte and throughput.
    pub downloads: usize,
    pub timeout: Duration,
    /// Pause before each TTFB sample: a sample that closes its connection after the first
    /// byte leaves the servers unwinding the rest of a large body, and the next sample must
    /// not pay for that.
    pub settle: Duration,
}

/// What one mode did on one workload.
#[derive(Debug, Clone)]
pub struct Cell {
    pub mode: Mode,
    pub workload: String,
    pub body_bytes: u64,
    pub ttfb: Option<Summary>,
    pub ttlb_ms: Option<f64>,
    pub mb_per_s: Option<f64>,
    /// Largest WebAssembly heap Viceroy reported for this mode's requests on this workload.
    pub heap_mib: Option<f64>,
    pub failures: usize,
}

pub struct Bench {
    origin: OriginServer,
    edges: Vec<(Mode, Edge)>,
}

impl Bench {
    pub fn start() -> Result<Bench, String> {
        let origin = OriginServer::start().map_err(|e| format!("dev origin: {e}"))?;
        let manifest = manifest(origin.addr, &[]).map_err(|e| format!("manifest: {e}"))?;
        let mut edges = Vec::new();
        for mode in Mode::ALL {
            if let Some(app) = mode.app() {
                let edge = Edge::start(&wasm(app), &manifest).map_err(|e| format!("{app}: {e}"))?;
                edges.push((mode, edge));
            }
        }
        Ok(Bench { origin, edges })
    }

    fn addr(&self, mode: Mode) -> SocketAddr {
        self.edges
            .iter()
            .find(|(m, _)| *m == mode)
            .map_or(self.origin.addr, |(_, e)| e.addr)
    }

    fn heap_count(&self, mode: Mode) -> usize {
        self.edge(mode).map_or(0, |e| e.heaps_mib().len())
    }

    fn edge(&self, mode: Mode) -> Option<&Edge> {
        self.edges.iter().find(|(m, _)| *m == mode).map(|(_, e)| e)
    }

    /// Measures every mode on `workload`, calling `progress` after each round.
    pub fn run(
        &self,
        workload: &Workload,
        settings: &Settings,
        progress: &mut dyn FnMut(&str),
    ) -> Vec<Cell> {
        let heap_start: Vec<usize> = Mode::ALL.iter().map(|m| self.heap_count(*m)).collect();
        let mut ttfb: Vec<Vec<Duration>> = vec![Vec::new(); Mode::ALL.len()];
        let mut totals: Vec<Vec<f64>> = vec![Vec::new(); Mode::ALL.len()];
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); Mode::ALL.len()];
        let mut failures = vec![0usize; Mode::ALL.len()];

        for round in 0..settings.samples {
            for k in 0..Mode::ALL.len() {
                // Rotate who goes first, so no mode always follows the same neighbour.
                let i = (k + round) % Mode::ALL.len();
                let mode = Mode::ALL[i];
                match request(
                    self.addr(mode),
                    &mode.path(&workload.origin_path),
                    false,
                    settings.timeout,
                ) {
                    Ok(Sample {
                        ttfb: t,
                        status: 200,
                        ..
                    }) => ttfb[i].push(t),
                    _ => failures[i] += 1,
                }
            }
            if (round + 1) % 50 == 0 || round + 1 == settings.samples {
                progress(&format!(
                    "{}: TTFB {}/{}",
                    workload.name,
                    round + 1,
                    settings.samples
                ));
            }
        }
        for round in 0..settings.downloads {
            for k in 0..Mode::ALL.len() {
                let i = (k + round) % Mode::ALL.len();
                let mode = Mode::ALL[i];
                match request(
                    self.addr(mode),
                    &mode.path(&workload.origin_path),
                    true,
                    settings.timeout,
                ) {
                    Ok(Sample {
                        total: Some(total),
                        body_bytes,
                        status: 200,
                        ..
                    }) if body_bytes == workload.body_bytes => {
                        totals[i].push(total.as_secs_f64() * 1000.0);
                        rates[i].push(body_bytes as f64 / total.as_secs_f64() / 1e6);
                    }
                    _ => failures[i] += 1,
                }
            }
            progress(&format!(
                "{}: download {}/{}",
                workload.name,
                round + 1,
                settings.downloads
            ));
        }
        // Heap lines are written when each guest ends; give the last one a moment.
        std::thread::sleep(Duration::from_millis(200));

        Mode::ALL
            .iter()
            .enumerate()
            .map(|(i, &mode)| Cell {
                mode,
                workload: workload.name.clone(),
                body_bytes: workload.body_bytes,
                ttfb: summarize(&ttfb[i]),
                ttlb_ms: median(&totals[i]),
                mb_per_s: median(&rates[i]),
                heap_mib: self.edge(mode).and_then(|e| {
                    e.heaps_mib()
                        .into_iter()
                        .skip(heap_start[i])
                        .reduce(f64::max)
                }),
                failures: failures[i],
            })
            .collect()
    }
}
