//! The TTFB benchmark: every mode (the origin directly, the bare reference app, firstbyte
//! with and without transforms, a buffered build, nginx) on every workload, in one run,
//! samples interleaved across modes in a seeded shuffle so that drift on a shared machine
//! hits them alike, and everything reported beside its reference as a ratio. The load
//! workload ([`load`]) measures requests per second the same way.
//!
//! To add a mode: a [`Mode`] entry in [`MODES`] (who answers, which path, which headers),
//! or in [`load::LOAD_MODES`]. To add a workload: a [`Workload`] in `bin/bench.rs`'s list.

pub mod cache;
pub mod chart;
pub mod dictionary;
pub mod esi;
pub mod load;
pub mod measure;
pub mod nginx;
pub mod order;
pub mod priority;
pub mod record;
pub mod report;
pub mod stages;
pub mod stats;
pub mod validation;

use std::net::SocketAddr;
use std::time::Duration;

use crate::client;
use crate::events::Receipts;
use crate::stack::{manifest, wasm, Edge, OriginServer};
use crate::varnish::Varnish;
use measure::{request, Sample};
use order::Shuffle;
use stats::{median, summarize, Summary};

/// Who answers a mode's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    Origin,
    /// One of the Viceroys of [`EDGES`], by name.
    Edge(&'static str),
    Nginx,
    Varnish,
}

/// A Viceroy the bench runs: the name its modes know it by, the wasm app it serves, and the
/// store it serves it with.
#[derive(Debug, Clone, Copy)]
pub struct EdgeSpec {
    pub name: &'static str,
    pub app: &'static str,
    pub store: fn() -> Vec<(String, Option<String>)>,
}

/// firstbyte with instance reuse: a second Viceroy, so the plain firstbyte keeps the
/// settings of fastly.toml.
pub const REUSE_EDGE: &str = "firstbyte reuse";
/// firstbyte with [`ROUTES`] routes, the one every request matches listed last.
pub const ROUTES_EDGE: &str = "firstbyte many routes";
/// How many routes [`ROUTES_EDGE`] lists.
pub const ROUTES: usize = 100;
/// The wait of [`REUSE_EDGE`]'s instances for another request.
pub const REUSE_MS: &str = "250";
/// firstbyte with its edge cache on two routes ([`cache_store`]).
pub const CACHE_EDGE: &str = "firstbyte cache";
/// The reference app in a module padded to firstbyte's size (`benches/reference`'s
/// `reference-padded`): the per-request parts.
pub const PADDED_EDGE: &str = "reference padded";
/// Another build of firstbyte, `$FIRSTBYTE_CANDIDATE_WASM`, measured beside the plain one
/// (a release profile, a `wasm-opt` pass): only when that is set.
pub const CANDIDATE_EDGE: &str = "firstbyte candidate";
/// Names the build [`CANDIDATE_EDGE`] serves.
pub const CANDIDATE_WASM: &str = "FIRSTBYTE_CANDIDATE_WASM";

pub const EDGES: [EdgeSpec; 11] = [
    EdgeSpec {
        name: "reference",
        app: "reference",
        store: bench_store,
    },
    EdgeSpec {
        name: "firstbyte",
        app: "firstbyte",
        store: bench_store,
    },
    EdgeSpec {
        name: "buffered",
        app: "buffered",
        store: bench_store,
    },
    EdgeSpec {
        name: REUSE_EDGE,
        app: "firstbyte",
        store: reuse_store,
    },
    EdgeSpec {
        name: ROUTES_EDGE,
        app: "firstbyte",
        store: many_routes_store,
    },
    EdgeSpec {
        name: CACHE_EDGE,
        app: "firstbyte",
        store: cache_store,
    },
    EdgeSpec {
        name: esi::ESI_EDGE,
        app: "firstbyte",
        store: esi::esi_store,
    },
    EdgeSpec {
        name: esi::ESI_PEER,
        app: "esi-fastly",
        store: bench_store,
    },
    EdgeSpec {
        name: PADDED_EDGE,
        app: "reference-padded",
        store: bench_store,
    },
    EdgeSpec {
        name: CANDIDATE_EDGE,
        app: CANDIDATE_EDGE,
        store: bench_store,
    },
    EdgeSpec {
        name: dictionary::DICT_EDGE,
        app: "firstbyte",
        store: dictionary::dictionary_store,
    },
];

fn owned(entries: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
        .collect()
}

/// The Viceroy of [`EDGES`] named `name`, serving its app with its store in front of
/// `origin`: how the bench starts each, and how a test starts one of the bench's peers (the
/// fastly/esi app, [`esi::ESI_PEER`]) beside its own stack.
pub fn start_named_edge(name: &str, origin: SocketAddr) -> Result<Edge, String> {
    let spec = EDGES
        .iter()
        .find(|spec| spec.name == name)
        .ok_or_else(|| format!("no bench edge is named {name:?}"))?;
    start_edge(spec, origin)
}

fn start_edge(spec: &EdgeSpec, origin: SocketAddr) -> Result<Edge, String> {
    let manifest = edge_manifest(spec, origin)?;
    Edge::start(&wasm(spec.app), &manifest).map_err(|e| format!("{}: {e}", spec.name))
}

/// The manifest a Viceroy of the bench serves with: fastly.toml with `spec`'s store.
fn edge_manifest(spec: &EdgeSpec, origin: SocketAddr) -> Result<String, String> {
    let store = (spec.store)();
    let store: Vec<(&str, Option<&str>)> = store
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_deref()))
        .collect();
    manifest(origin, &store).map_err(|e| format!("{}: manifest: {e}", spec.name))
}

/// The demo config with the bench's routes.
pub fn bench_store() -> Vec<(String, Option<String>)> {
    owned(BENCH_ROUTES)
}

pub fn reuse_store() -> Vec<(String, Option<String>)> {
    let mut store = bench_store();
    store.push(("reuse_ms".into(), Some(REUSE_MS.into())));
    store
}

/// [`ROUTES`] routes: `r0` … `r98`, each a replace route of its own rule that no bench path
/// matches, then `origin`, every match given in the `routes` list (what the README advises
/// for many routes). A request for `/origin/…` is matched against every route before it; an
/// app that read or built every route for every request would pay for all of them.
pub fn many_routes_store() -> Vec<(String, Option<String>)> {
    let mut store = bench_store();
    let mut entries = Vec::new();
    for i in 0..ROUTES - 1 {
        let name = format!("r{i}");
        let key = |field: &str| format!("route.{name}.{field}");
        store.extend([
            (key("backend"), Some("origin".to_string())),
            (key("strip_prefix"), Some("true".to_string())),
            (key("transforms"), Some("replace".to_string())),
            (
                key("replace"),
                Some(format!(
                    r#"{{"rules": [["origin.example", "edge{i}.example"]]}}"#
                )),
            ),
        ]);
        entries.push(format!("{name} /{name}/"));
    }
    entries.push("origin /origin/".to_string());
    store.push(("route.origin.prefix".into(), None));
    store.push(("routes".into(), Some(entries.join(", "))));
    store
}

/// The cache workload's routes (`bench::cache`): `/origin/` uncached, `/cachepass/` the same
/// passthrough kept in the edge cache, `/cachechain/` the gzip-decode → html → br chain of
/// `/recompress/` kept in the edge cache. Objects outlive the run.
pub fn cache_store() -> Vec<(String, Option<String>)> {
    let mut store = bench_store();
    store.retain(|(key, _)| key != "routes");
    // Two routes of the recompress chain: one keeping its objects for an hour, one whose
    // cache_ttl of 0 has every request revalidate its object with the origin.
    for route in ["cachechain", "cachereval"] {
        let recompress: Vec<(String, Option<String>)> = store
            .iter()
            .filter_map(|(key, value)| {
                let field = key.strip_prefix("route.recompress.")?;
                (field != "prefix").then(|| (format!("route.{route}.{field}"), value.clone()))
            })
            .collect();
        store.extend(recompress);
    }
    store.extend(owned(&[
        ("routes", Some("origin,cachepass,cachechain,cachereval")),
        ("route.cachepass.prefix", Some("/cachepass/")),
        ("route.cachepass.backend", Some("origin")),
        ("route.cachepass.strip_prefix", Some("true")),
        ("route.cachepass.cache_ttl", Some("3600")),
        ("route.cachechain.prefix", Some("/cachechain/")),
        ("route.cachechain.cache_ttl", Some("3600")),
        ("route.cachereval.prefix", Some("/cachereval/")),
        ("route.cachereval.cache_ttl", Some("0")),
    ]));
    store
}

/// How many routes the bench's own config lists (firstbyte's, `/origin/` first).
pub fn bench_routes_listed() -> usize {
    BENCH_ROUTES
        .iter()
        .find(|(key, _)| *key == "routes")
        .and_then(|(_, list)| *list)
        .map_or(0, |list| list.split(',').count())
}

/// A value of the firstbyte store in `manifest`, as a Viceroy started with it reads it.
pub fn store_value(manifest: &str, key: &str) -> Option<String> {
    let doc: toml_edit::DocumentMut = manifest.parse().ok()?;
    doc["local_server"]["config_stores"]["firstbyte"]["contents"]
        .get(key)?
        .as_str()
        .map(str::to_string)
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
    /// `/bytes/{n}` of this size whatever the workload's: the reference app appending as
    /// many bytes as another mode sends on the wire.
    BytesOf(u64),
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
/// firstbyte's passthrough on [`REUSE_EDGE`] (load workload).
pub const FIRSTBYTE_REUSE: Mode = Mode {
    name: "firstbyte reuse",
    server: Server::Edge(REUSE_EDGE),
    prefix: "/origin",
    source: Source::Bytes,
    accept_encoding: None,
};
/// firstbyte's passthrough on [`ROUTES_EDGE`] (load workload).
pub const FIRSTBYTE_ROUTES: Mode = Mode {
    name: "firstbyte 100 routes",
    server: Server::Edge(ROUTES_EDGE),
    prefix: "/origin",
    source: Source::Bytes,
    accept_encoding: None,
};
/// The reference's path in a module as large as firstbyte's: beside [`REFERENCE`], what
/// instantiating the larger module costs.
pub const REFERENCE_PADDED: Mode = Mode {
    name: "reference padded",
    server: Server::Edge(PADDED_EDGE),
    prefix: "",
    source: Source::Bytes,
    accept_encoding: None,
};
/// [`REFERENCE_PADDED`] that also reads the Config Store keys firstbyte reads for its
/// passthrough route: beside it, what the config reads cost; beside [`FIRSTBYTE`], what is
/// left is firstbyte's path code.
pub const REFERENCE_CONFIG: Mode = Mode {
    name: "reference padded + config",
    server: Server::Edge(PADDED_EDGE),
    prefix: "/config",
    source: Source::Bytes,
    accept_encoding: None,
};
/// firstbyte's passthrough on [`CANDIDATE_EDGE`] (when `$FIRSTBYTE_CANDIDATE_WASM` is set).
pub const FIRSTBYTE_CANDIDATE: Mode = Mode {
    name: "firstbyte candidate",
    server: Server::Edge(CANDIDATE_EDGE),
    prefix: "/origin",
    source: Source::Bytes,
    accept_encoding: None,
};
/// The modes that split firstbyte's per-request cost into parts (instantiation, config
/// reads, path code), beside [`REFERENCE`] and [`FIRSTBYTE`]: under load, and in the TTFB
/// part on its smallest body only (the parts are per request, not per byte).
pub const PARTS_MODES: [Mode; 3] = [REFERENCE_PADDED, REFERENCE_CONFIG, FIRSTBYTE_CANDIDATE];

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
            (_, Source::BytesOf(n)) => format!("/bytes/{n}"),
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
    /// The app's own time from the request to `stream_to_client()` (its `Server-Timing`
    /// origin + edge), over the TTFB samples that carried it.
    pub app: Option<Summary>,
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

/// One mode's turn (see [`Bench::turn_to`]); every Viceroy runs again once it ends.
struct Turn<'a> {
    bench: &'a Bench,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.bench.hold_all_but(None);
    }
}

pub struct Bench {
    origin: OriginServer,
    edges: Vec<(&'static str, Edge)>,
    nginx: Option<nginx::Nginx>,
    varnish: Option<Varnish>,
    pub modes: Vec<Mode>,
    /// [`PARTS_MODES`] this run can serve, measured beside [`Bench::modes`] on the smallest
    /// TTFB body.
    pub parts_modes: Vec<Mode>,
    pub load_modes: Vec<Mode>,
    /// `reuse_ms` as the plain firstbyte reads it (fastly.toml's), `None` when unset.
    pub firstbyte_reuse_ms: Option<String>,
}

impl Bench {
    /// Starts the origin, and nginx and Varnish when installed; `notice` hears about modes
    /// that cannot run. The Viceroys of [`EDGES`] start with [`Bench::use_edges`], part by
    /// part: an idle Viceroy is not idle (its epoch thread ticks every 50 µs; measured here,
    /// an idle one took 28 % of a core), so the bench runs only those a part measures.
    pub fn start(notice: &mut dyn FnMut(&str)) -> Result<Bench, String> {
        let origin = OriginServer::start().map_err(|e| format!("dev origin: {e}"))?;
        let firstbyte_reuse_ms = EDGES
            .iter()
            .find(|spec| spec.name == "firstbyte")
            .map(|spec| edge_manifest(spec, origin.addr))
            .transpose()?
            .and_then(|manifest| store_value(&manifest, "reuse_ms"));
        let edges = Vec::new();
        let nginx = nginx::start(origin.addr)?;
        if nginx.is_none() {
            notice("nginx is not installed: the nginx modes are skipped (apt-get install nginx-light to add them)");
        }
        let varnish = Varnish::start(origin.addr, "/status/204")?;
        if varnish.is_none() {
            notice("varnishd is not installed: the Varnish cache mode is skipped (apt-get install varnish to add it)");
        }
        let candidate = std::env::var_os(CANDIDATE_WASM).is_some();
        let available = |m: &Mode| match m.server {
            Server::Nginx => nginx.is_some(),
            Server::Edge(CANDIDATE_EDGE) => candidate,
            _ => true,
        };
        let modes = MODES.iter().copied().filter(available).collect();
        let parts_modes = PARTS_MODES.iter().copied().filter(available).collect();
        let load_modes = load::LOAD_MODES.iter().copied().filter(available).collect();
        Ok(Bench {
            origin,
            edges,
            nginx,
            varnish,
            modes,
            parts_modes,
            load_modes,
            firstbyte_reuse_ms,
        })
    }

    /// Runs exactly the Viceroys named (of [`EDGES`]): stops the others, starts those not
    /// running yet.
    pub fn use_edges(&mut self, names: &[&str]) -> Result<(), String> {
        self.edges.retain(|(name, _)| names.contains(name));
        self.hold_all_but(None);
        for spec in EDGES.iter().filter(|spec| names.contains(&spec.name)) {
            if self.edge(spec.name).is_none() {
                let edge = start_edge(spec, self.origin.addr)?;
                self.edges.push((spec.name, edge));
            }
        }
        Ok(())
    }

    /// The Viceroys `modes` need.
    pub fn edges_of(modes: &[Mode]) -> Vec<&'static str> {
        let mut names = Vec::new();
        for mode in modes {
            if let Server::Edge(name) = mode.server {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        names
    }

    fn addr(&self, mode: &Mode) -> SocketAddr {
        self.addr_of(mode.server)
    }

    fn addr_of(&self, server: Server) -> SocketAddr {
        match server {
            Server::Origin => self.origin.addr,
            Server::Nginx => self.nginx.as_ref().map_or(self.origin.addr, |n| n.addr),
            Server::Varnish => self.varnish.as_ref().map_or(self.origin.addr, |v| v.addr),
            Server::Edge(app) => self.edge(app).map_or(self.origin.addr, |e| e.addr),
        }
    }

    /// Whether `server` runs in this bench (nginx and Varnish are optional).
    fn serves(&self, server: Server) -> bool {
        match server {
            Server::Nginx => self.nginx.is_some(),
            Server::Varnish => self.varnish.is_some(),
            Server::Origin => true,
            Server::Edge(app) => self.edge(app).is_some(),
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

    /// Readies the machine for a turn of `server`: waits until no app runs an instance,
    /// then holds every Viceroy but `server`'s (see [`Edge::set_running`]) until the turn
    /// is dropped, so the turn shares the CPU only with the origin and the client.
    fn turn_to(&self, server: Server) -> Turn<'_> {
        self.wait_until_all_idle();
        self.hold_all_but(Some(server));
        Turn { bench: self }
    }

    /// Stops every Viceroy but `server`'s; with `None`, lets them all run.
    fn hold_all_but(&self, server: Option<Server>) {
        for (name, edge) in &self.edges {
            edge.set_running(server.is_none_or(|s| s == Server::Edge(name)));
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

    /// Measures every mode on `workload`, each round in the next order `shuffle` gives,
    /// calling `progress` as it goes.
    pub fn run(
        &self,
        workload: &Workload,
        settings: &Settings,
        shuffle: &mut Shuffle,
        progress: &mut dyn FnMut(&str),
    ) -> Vec<Cell> {
        self.run_modes(&self.modes, workload, settings, shuffle, progress)
    }

    /// [`Bench::run`] for `modes`.
    pub fn run_modes(
        &self,
        modes: &[Mode],
        workload: &Workload,
        settings: &Settings,
        shuffle: &mut Shuffle,
        progress: &mut dyn FnMut(&str),
    ) -> Vec<Cell> {
        let n = modes.len();
        let mut ttfb: Vec<Vec<Duration>> = vec![Vec::new(); n];
        let mut app: Vec<Vec<Duration>> = vec![Vec::new(); n];
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
            for i in shuffle.order(n) {
                let mode = modes[i];
                // A sample reads only the response head and hangs up, but the app that sent
                // it goes on until it notices: a transform chain for a few chunks of work.
                // Left running, that work lands on whichever mode comes next.
                let _turn = self.turn_to(mode.server);
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
                        app_ms,
                        ..
                    }) => {
                        ttfb[i].push(t);
                        app[i].extend(app_ms.map(|ms| Duration::from_secs_f64(ms / 1000.0)));
                    }
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
            for i in shuffle.order(n) {
                let mode = modes[i];
                let _turn = self.turn_to(mode.server);
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
                                let plain = match (mode.source, kind) {
                                    (Source::BytesOf(size), _) => Some(size),
                                    (_, Kind::Body(size)) => Some(*size),
                                    _ => None,
                                };
                                if let Some(size) = plain {
                                    rates[i].push(size as f64 / total.as_secs_f64() / 1e6);
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
                mode: modes[i],
                workload: workload.name.clone(),
                ttfb: summarize(&ttfb[i]),
                app: summarize(&app[i]),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn value<'a>(store: &'a [(String, Option<String>)], key: &str) -> Option<&'a str> {
        store
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.as_deref())
    }

    #[test]
    fn the_many_routes_store_lists_its_match_last() -> Result<(), Box<dyn std::error::Error>> {
        use firstbyte_config::{Config, Settings};
        // The store as the app reads it: fastly.toml's local keys under the bench's.
        let store = many_routes_store();
        let overrides: Vec<(&str, Option<&str>)> = store
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect();
        let manifest = crate::stack::manifest_with_backends(&[], &overrides)?;
        let source = crate::check_config::stores(&manifest)?.remove(0).source;
        assert_eq!(Config::check(&source), []);
        let settings = Settings::parse(&source)?;
        assert_eq!(settings.routes.len(), ROUTES);
        assert_eq!(settings.routes[ROUTES - 1], "origin");
        // Every match is in the list, and none but the last takes a bench path.
        let body = Workload::body(1024, 0, 0);
        for (name, m) in settings.routes.iter().zip(&settings.matches) {
            let prefix = &m.as_ref().ok_or("a listed match")?.prefix;
            let mut modes = MODES.iter().chain(load::LOAD_MODES.iter());
            let taken = modes.any(|mode| body.path(mode).starts_with(prefix.as_str()));
            assert_eq!(taken, name == "origin", "{name} {prefix}");
        }
        assert_eq!(
            value(&many_routes_store(), "route.r98.replace"),
            Some(r#"{"rules": [["origin.example", "edge98.example"]]}"#)
        );
        assert_eq!(bench_routes_listed(), 3);
        Ok(())
    }

    #[test]
    fn only_the_reuse_store_turns_reuse_on() {
        assert_eq!(value(&reuse_store(), "reuse_ms"), Some(REUSE_MS));
        assert_eq!(value(&bench_store(), "reuse_ms"), None);
        assert_eq!(value(&many_routes_store(), "reuse_ms"), None);
    }

    #[test]
    fn a_store_value_is_read_from_a_manifest() -> Result<(), Box<dyn std::error::Error>> {
        let origin = ([127, 0, 0, 1], 9).into();
        let with = manifest(origin, &[("reuse_ms", Some("250"))])?;
        assert_eq!(store_value(&with, "reuse_ms").as_deref(), Some("250"));
        let without = manifest(origin, &[("reuse_ms", None)])?;
        assert_eq!(store_value(&without, "reuse_ms"), None);
        Ok(())
    }
}
