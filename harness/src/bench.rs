//! The TTFB benchmark: every mode (the origin directly, the bare reference app, firstbyte
//! with and without transforms, a buffered build, nginx) on every workload, in one run,
//! samples interleaved across modes so that drift on a shared machine hits them alike, and
//! everything reported beside its reference as a ratio.
//!
//! To add a mode: a [`Mode`] entry in [`MODES`] (who answers, which path, which headers).
//! To add a workload: a [`Workload`] in `bin/bench.rs`'s list.

pub mod chart;
pub mod measure;
pub mod nginx;
pub mod report;
pub mod stages;
pub mod stats;

use std::net::SocketAddr;
use std::time::Duration;

use crate::client;
use crate::events::Receipts;
use crate::stack::{manifest, wasm, Edge, OriginServer};
use measure::{request, Sample};
use stats::{median, summarize, Summary};

/// Who answers a mode's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    Origin,
    /// Viceroy running this wasm app.
    Edge(&'static str),
    Nginx,
}

/// Which origin body a mode asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `/bytes/{n}`: random bytes with Content-Length.
    Bytes,
    /// `/text/{n}`: text with `origin.example` in it, for the rewriting modes.
    Text,
    /// `/text/{n}?encoding=gzip`: the same text, gzip-compressed by the origin.
    GzipText,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    pub name: &'static str,
    pub server: Server,
    /// Prepended to the origin path (the route that reaches the origin).
    pub prefix: &'static str,
    pub source: Source,
    pub accept_encoding: Option<&'static str>,
}

pub const ORIGIN: Mode = Mode {
    name: "origin",
    server: Server::Origin,
    prefix: "",
    source: Source::Bytes,
    accept_encoding: None,
};
pub const REFERENCE: Mode = Mode {
    name: "reference",
    server: Server::Edge("reference"),
    prefix: "",
    source: Source::Bytes,
    accept_encoding: None,
};
pub const FIRSTBYTE: Mode = Mode {
    name: "firstbyte",
    server: Server::Edge("firstbyte"),
    prefix: "/origin",
    source: Source::Bytes,
    accept_encoding: None,
};
/// firstbyte passing the transform modes' own origin bodies through untouched: the
/// passthrough each chain's TTFB is compared with.
pub const FIRSTBYTE_TEXT: Mode = Mode {
    name: "firstbyte text",
    server: Server::Edge("firstbyte"),
    prefix: "/origin",
    source: Source::Text,
    accept_encoding: None,
};
pub const FIRSTBYTE_GZIP_TEXT: Mode = Mode {
    name: "firstbyte gzip text",
    server: Server::Edge("firstbyte"),
    prefix: "/origin",
    source: Source::GzipText,
    accept_encoding: Some("br, gzip"),
};
pub const BUFFERED: Mode = Mode {
    name: "buffered",
    server: Server::Edge("buffered"),
    prefix: "",
    source: Source::Bytes,
    accept_encoding: None,
};
pub const COPY: Mode = Mode {
    name: "reference copy",
    server: Server::Edge("reference"),
    prefix: "/copy",
    source: Source::Text,
    accept_encoding: None,
};
pub const REPLACE: Mode = Mode {
    name: "firstbyte replace",
    server: Server::Edge("firstbyte"),
    prefix: "/replace",
    source: Source::Text,
    accept_encoding: None,
};
pub const RECOMPRESS: Mode = Mode {
    name: "firstbyte gzip>html>br",
    server: Server::Edge("firstbyte"),
    prefix: "/recompress",
    source: Source::GzipText,
    accept_encoding: Some("br, gzip"),
};
pub const NGINX: Mode = Mode {
    name: "nginx",
    server: Server::Nginx,
    prefix: "/origin",
    source: Source::Bytes,
    accept_encoding: None,
};
pub const NGINX_REPLACE: Mode = Mode {
    name: "nginx sub_filter",
    server: Server::Nginx,
    prefix: "/replace",
    source: Source::Text,
    accept_encoding: None,
};
pub const NGINX_GZIP: Mode = Mode {
    name: "nginx gzip",
    server: Server::Nginx,
    prefix: "/recompress",
    source: Source::Text,
    accept_encoding: Some("gzip"),
};

pub const MODES: [Mode; 12] = [
    ORIGIN,
    REFERENCE,
    FIRSTBYTE,
    BUFFERED,
    COPY,
    FIRSTBYTE_TEXT,
    REPLACE,
    FIRSTBYTE_GZIP_TEXT,
    RECOMPRESS,
    NGINX,
    NGINX_REPLACE,
    NGINX_GZIP,
];

/// The firstbyte routes the transform modes use, added to the demo config.
pub const BENCH_ROUTES: &[(&str, Option<&str>)] = &[
    ("routes", Some("origin,replace,recompress")),
    ("route.replace.prefix", Some("/replace/")),
    ("route.replace.backend", Some("origin")),
    ("route.replace.strip_prefix", Some("true")),
    ("route.replace.transforms", Some("replace")),
    (
        "route.replace.replace",
        Some(r#"{"rules": [["origin.example", "edge.example!!"]]}"#),
    ),
    ("route.recompress.prefix", Some("/recompress/")),
    ("route.recompress.backend", Some("origin")),
    ("route.recompress.strip_prefix", Some("true")),
    ("route.recompress.transforms", Some("html")),
    (
        "route.recompress.html",
        Some(
            r#"{"insert": [{"selector": "body", "position": "prepend", "html": "<b>firstbyte</b>"}]}"#,
        ),
    ),
    ("route.recompress.content_types", Some("text/*")),
    ("route.recompress.compress", Some("br")),
];

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A body of this many bytes.
    Body(u64),
    /// Server-sent events at a fixed interval: what each event's trip adds is measured.
    Events { events: u32, interval_ms: u32 },
    /// An origin that waits this long before its response headers.
    SlowOrigin { delay_ms: u32 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    pub name: String,
    pub kind: Kind,
    /// TTFB samples per mode.
    pub samples: usize,
    /// Full downloads per mode, for time to last byte and throughput.
    pub downloads: usize,
}

impl Workload {
    pub fn body(size: u64, samples: usize, downloads: usize) -> Workload {
        Workload {
            name: human_size(size),
            kind: Kind::Body(size),
            samples,
            downloads,
        }
    }

    /// The plain body size, when the workload has one.
    pub fn size(&self) -> Option<u64> {
        match self.kind {
            Kind::Body(n) => Some(n),
            _ => None,
        }
    }

    /// The path `mode` requests for this workload.
    pub fn path(&self, mode: &Mode) -> String {
        let origin_path = match (&self.kind, mode.source) {
            (Kind::Body(n), Source::Bytes) => format!("/bytes/{n}"),
            (Kind::Body(n), Source::Text) => format!("/text/{n}"),
            (Kind::Body(n), Source::GzipText) => format!("/text/{n}?encoding=gzip"),
            (
                Kind::Events {
                    events,
                    interval_ms,
                },
                _,
            ) => {
                format!("/sse?events={events}&interval_ms={interval_ms}")
            }
            (Kind::SlowOrigin { delay_ms }, _) => {
                format!("/delay/{}", f64::from(*delay_ms) / 1000.0)
            }
        };
        format!("{}{origin_path}", mode.prefix)
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
    pub timeout: Duration,
    /// Pause before each TTFB sample, once no app runs an instance: a sample that closes its
    /// connection after the first byte leaves the origin and nginx unwinding the rest of a
    /// large body too, and the next sample must not pay for that.
    pub settle: Duration,
}

/// What one mode did on one workload.
#[derive(Debug, Clone)]
pub struct Cell {
    pub mode: Mode,
    pub workload: String,
    pub ttfb: Option<Summary>,
    pub ttlb_ms: Option<f64>,
    /// Plain bytes per second over full downloads, whatever the wire encoding.
    pub mb_per_s: Option<f64>,
    /// Median time from the origin sending an event to the client having it, for event
    /// streams.
    pub event_ms: Option<f64>,
    /// Largest WebAssembly heap Viceroy reported for the instances that served this mode's
    /// full downloads on this workload (an instance reports its peak over its requests).
    pub heap_mib: Option<f64>,
    pub failures: usize,
    pub attempts: usize,
}

impl Cell {
    /// Most of its requests failed: report it as failed, not as a figure.
    pub fn failed(&self) -> bool {
        self.attempts > 0 && self.failures * 2 > self.attempts
    }
}

pub struct Bench {
    origin: OriginServer,
    edges: Vec<(&'static str, Edge)>,
    nginx: Option<nginx::Nginx>,
    pub modes: Vec<Mode>,
}

impl Bench {
    /// Starts the origin, one Viceroy per app, and nginx when installed; `notice` hears
    /// about modes that cannot run.
    pub fn start(notice: &mut dyn FnMut(&str)) -> Result<Bench, String> {
        let origin = OriginServer::start().map_err(|e| format!("dev origin: {e}"))?;
        let manifest = manifest(origin.addr, BENCH_ROUTES).map_err(|e| format!("manifest: {e}"))?;
        let mut edges = Vec::new();
        for app in ["reference", "firstbyte", "buffered"] {
            let edge = Edge::start(&wasm(app), &manifest).map_err(|e| format!("{app}: {e}"))?;
            edges.push((app, edge));
        }
        let nginx = nginx::start(origin.addr)?;
        if nginx.is_none() {
            notice("nginx is not installed: the nginx modes are skipped (apt-get install nginx-light to add them)");
        }
        let modes = MODES
            .iter()
            .copied()
            .filter(|m| m.server != Server::Nginx || nginx.is_some())
            .collect();
        Ok(Bench {
            origin,
            edges,
            nginx,
            modes,
        })
    }

    fn addr(&self, mode: &Mode) -> SocketAddr {
        match mode.server {
            Server::Origin => self.origin.addr,
            Server::Nginx => self.nginx.as_ref().map_or(self.origin.addr, |n| n.addr),
            Server::Edge(app) => self.edge(app).map_or(self.origin.addr, |e| e.addr),
        }
    }

    fn edge(&self, app: &str) -> Option<&Edge> {
        self.edges.iter().find(|(a, _)| *a == app).map(|(_, e)| e)
    }

    /// Waits until no app runs an instance (a reused one ends once its wait for another
    /// request, `reuse_ms`, passes).
    fn wait_until_all_idle(&self) {
        for (_, edge) in &self.edges {
            edge.wait_until_idle(Duration::from_secs(5));
        }
    }

    fn heaps(&self, mode: &Mode) -> Vec<f64> {
        match mode.server {
            Server::Edge(app) => self.edge(app).map(Edge::heaps_mib).unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    fn headers(mode: &Mode) -> Vec<(&'static str, &'static str)> {
        mode.accept_encoding
            .map(|ae| vec![("accept-encoding", ae)])
            .unwrap_or_default()
    }

    /// Measures every mode on `workload`, calling `progress` as it goes.
    pub fn run(
        &self,
        workload: &Workload,
        settings: &Settings,
        progress: &mut dyn FnMut(&str),
    ) -> Vec<Cell> {
        let n = self.modes.len();
        let mut ttfb: Vec<Vec<Duration>> = vec![Vec::new(); n];
        let mut totals: Vec<Vec<f64>> = vec![Vec::new(); n];
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); n];
        let mut events: Vec<Vec<f64>> = vec![Vec::new(); n];
        let mut failures = vec![0usize; n];
        let mut attempts = vec![0usize; n];
        // Viceroy logs a heap figure per instance, and a reused instance serves whichever
        // mode comes next, so heap is read from full downloads only: each one starts and
        // ends with no instance running, and the figures its app logged in between are its
        // mode's.
        let mut heaps: Vec<Vec<f64>> = vec![Vec::new(); n];

        for round in 0..workload.samples {
            for k in 0..n {
                // Rotate who goes first, so no mode always opens a round. Within a round each
                // mode still follows the same neighbour (in n - 1 rounds of n).
                let i = (k + round) % n;
                let mode = self.modes[i];
                // A sample reads only the response head and hangs up, but the app that sent
                // it goes on until it notices: a transform chain for a few chunks of work.
                // Left running, that work lands on whichever mode comes next.
                self.wait_until_all_idle();
                std::thread::sleep(settings.settle);
                attempts[i] += 1;
                let result = request(
                    self.addr(&mode),
                    &workload.path(&mode),
                    &Self::headers(&mode),
                    false,
                    settings.timeout,
                );
                match result {
                    Ok(Sample {
                        ttfb: t,
                        status: 200,
                        ..
                    }) => ttfb[i].push(t),
                    _ => failures[i] += 1,
                }
            }
            if (round + 1) % 25 == 0 || round + 1 == workload.samples {
                progress(&format!(
                    "{}: TTFB round {}/{}",
                    workload.name,
                    round + 1,
                    workload.samples
                ));
            }
        }

        for round in 0..workload.downloads {
            for k in 0..n {
                let i = (k + round) % n;
                let mode = self.modes[i];
                self.wait_until_all_idle();
                let before = self.heaps(&mode).len();
                attempts[i] += 1;
                match &workload.kind {
                    Kind::Events { .. } => {
                        match event_delays(self.addr(&mode), &workload.path(&mode)) {
                            Some(delays) => events[i].extend(delays),
                            None => failures[i] += 1,
                        }
                    }
                    kind => {
                        let result = request(
                            self.addr(&mode),
                            &workload.path(&mode),
                            &Self::headers(&mode),
                            true,
                            settings.timeout,
                        );
                        match result {
                            Ok(Sample {
                                total: Some(total),
                                body_bytes,
                                status: 200,
                                ..
                            }) if body_bytes > 0 => {
                                totals[i].push(total.as_secs_f64() * 1000.0);
                                if let Kind::Body(size) = kind {
                                    rates[i].push(*size as f64 / total.as_secs_f64() / 1e6);
                                }
                            }
                            _ => failures[i] += 1,
                        }
                    }
                }
                self.wait_until_all_idle();
                heaps[i].extend(self.heaps(&mode).into_iter().skip(before));
                progress(&format!(
                    "{}: download {}/{} {}",
                    workload.name,
                    round + 1,
                    workload.downloads,
                    mode.name
                ));
            }
        }

        (0..n)
            .map(|i| Cell {
                mode: self.modes[i],
                workload: workload.name.clone(),
                ttfb: summarize(&ttfb[i]),
                ttlb_ms: median(&totals[i]),
                mb_per_s: median(&rates[i]),
                event_ms: median(&events[i]),
                heap_mib: heaps[i].iter().copied().reduce(f64::max),
                failures: failures[i],
                attempts: attempts[i],
            })
            .collect()
    }
}

/// For each event of a stream, how long after the origin sent it the client had it.
fn event_delays(addr: SocketAddr, path: &str) -> Option<Vec<f64>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    let (_, pieces) = runtime.block_on(client::arrivals(addr, path, &[])).ok()?;
    let mut receipts = Receipts::default();
    for piece in pieces {
        receipts.feed(&String::from_utf8_lossy(&piece.data), piece.unix_ms);
    }
    let delays: Vec<f64> = receipts.delays().into_iter().map(|d| d as f64).collect();
    (!delays.is_empty()).then_some(delays)
}
