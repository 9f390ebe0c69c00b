//! Compression dictionaries (RFC 9842, docs/dictionaries.md) on real data nobody here
//! wrote: two consecutive releases of a widely used library's minified bundle, from the npm
//! registry, pinned below by version and the SHA-256 of the package ([`PAIRS`]: the one
//! place they are pinned). [`fetch`] downloads them into `target/bench-data/` (never
//! committed; kept between runs), checks each package against its pin and extracts the
//! bundle; the dev origin serves the extracted files as `/release/<name>`
//! (`origin::release`, from the directory `$FIRSTBYTE_RELEASES` names).
//!
//! Through firstbyte's demo route `dict` (fastly.toml; its `dictionary_match` pointed at the
//! releases) on a Viceroy of its own, per pair: v1 as a browser fetches it (marked
//! `Use-As-Dictionary`, kept by firstbyte under its SHA-256), then v2 with
//! `Available-Dictionary: :<SHA-256 of v1 as the client decoded it>:` and
//! `Accept-Encoding: gzip, br, dcb` (or `gzip, br, dcz`). Measured in one run, modes
//! interleaved in a shuffled order: TTFB of v2 as `dcb`, as `dcz` and as `br` from the same
//! route (a client without the dictionary), and full downloads of v2 as `dcb`, `dcz`, `br`,
//! `gzip` and untouched: bytes on the wire, time to last byte, and Viceroy's heap figure.
//! Every body is decoded here, `dcb` with the `brotli` crate and v1, `dcz` with the C zstd
//! library and v1 (`crate::dcb`), and compared with v2 byte for byte.

use std::fmt::Write;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::measure::request;
use super::order::Shuffle;
use super::report::{num, Check};
use super::stats::median;
use super::{bench_store, Bench, Server};
use crate::client;
use crate::dcb;

/// firstbyte with its `dict` route serving the releases.
pub const DICT_EDGE: &str = "firstbyte dictionary";
/// The Viceroys the part runs.
pub const EDGES: [&str; 1] = [DICT_EDGE];

/// Where the route reaches the dev origin's releases, and the `match` that covers them.
const PATH: &str = "/dict/release/";
const MATCH: &str = "/dict/release/*";
/// The same through fastly.toml's demo route `dictcache`, which keeps its output in the edge
/// cache: where a delta is timed as a hit beside a plain hit.
const CACHED_PATH: &str = "/dictcache/release/";
const CACHED_MATCH: &str = "/dictcache/release/*";

/// One published package: its tarball on the registry and the SHA-256 of that tarball.
#[derive(Debug, Clone, Copy)]
pub struct Release {
    pub package: &'static str,
    pub version: &'static str,
    pub sha256: &'static str,
}

impl Release {
    fn url(&self) -> String {
        format!(
            "https://registry.npmjs.org/{p}/-/{p}-{v}.tgz",
            p = self.package,
            v = self.version
        )
    }

    fn tarball(&self) -> String {
        format!("{}-{}.tgz", self.package, self.version)
    }
}

/// Two consecutive releases and the bundle compared, a path inside both packages.
#[derive(Debug, Clone, Copy)]
pub struct Pair {
    pub bundle: &'static str,
    pub v1: Release,
    pub v2: Release,
}

impl Pair {
    /// How the tables name the pair.
    pub fn name(&self) -> String {
        let file = self.bundle.rsplit('/').next().unwrap_or(self.bundle);
        format!("{file} {} → {}", self.v1.version, self.v2.version)
    }

    /// The file a release's bundle is served as: `<package>-<version>-<file>`.
    fn file(&self, release: &Release) -> String {
        let file = self.bundle.rsplit('/').next().unwrap_or(self.bundle);
        format!("{}-{}-{file}", release.package, release.version)
    }
}

/// The releases measured, pinned: versions, and the SHA-256 of each package as the
/// registry serves it (the same bytes as its published `dist.integrity`, SHA-512, checked
/// when these were pinned on 2026-12-07). three.js r151 → r152 is the pair of the
/// published dictionary results; its `build/three.min.js` (the minified bundle both
/// releases ship; `three.module.min.js` is new in r152) fits the route's default
/// `dictionary_max_bytes` (1 MiB), where the unminified module (1.2 MB) would not.
pub const PAIRS: [Pair; 2] = [
    Pair {
        bundle: "package/dist/jquery.min.js",
        v1: Release {
            package: "jquery",
            version: "3.7.0",
            sha256: "8394ac1b3c1bf73e984335e862be99c23fdd45702fa3b67b12e0a48f339c4a02",
        },
        v2: Release {
            package: "jquery",
            version: "3.7.1",
            sha256: "68a9f787516da47c680e09c187bcbac4536b6f85d90eb882844e12919e583f53",
        },
    },
    Pair {
        bundle: "package/build/three.min.js",
        v1: Release {
            package: "three",
            version: "0.151.0",
            sha256: "45d63c195534a6e0123c2302284bd3ce210aec6f98d78411998358caaeee8d2b",
        },
        v2: Release {
            package: "three",
            version: "0.152.0",
            sha256: "41123f73a47b0fb0c4e1269efcc1e7ab3a65f88b0a4a81204de3306612bf6d35",
        },
    },
];

/// [`DICT_EDGE`]'s store: the bench's, with fastly.toml's demo routes `dict` and `dictcache`
/// listed and their `match` covering the releases. Everything else about the route is the demo's:
/// `compress = "dcb, dcz, br, gzip"`, the default `dictionary_max_bytes` and `dictionary_ttl`.
pub fn dictionary_store() -> Vec<(String, Option<String>)> {
    let mut store = bench_store();
    store.retain(|(key, _)| key != "routes");
    store.push(("routes".into(), Some("origin,dict,dictcache".into())));
    store.push(("route.dict.dictionary_match".into(), Some(MATCH.into())));
    store.push((
        "route.dictcache.dictionary_match".into(),
        Some(CACHED_MATCH.into()),
    ));
    store
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Whether the file at `path` is the package `release` pins.
fn pinned(path: &Path, release: &Release) -> Result<bool, String> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(hex(&dcb::sha256(&bytes)) == release.sha256),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Downloads every package of [`PAIRS`] not already in `target/bench-data/npm/` (with
/// `curl`), refuses any whose SHA-256 is not its pin, and extracts each bundle (with the
/// system's `tar`) into `target/bench-data/releases/`, the directory it returns.
pub fn fetch(root: &Path, say: &mut dyn FnMut(&str)) -> Result<PathBuf, String> {
    let data = root.join("target/bench-data");
    let (tarballs, releases) = (data.join("npm"), data.join("releases"));
    for dir in [&tarballs, &releases] {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    for pair in &PAIRS {
        for release in [&pair.v1, &pair.v2] {
            let tgz = tarballs.join(release.tarball());
            if !pinned(&tgz, release)? {
                say(&format!("dictionary: downloading {}", release.url()));
                let part = tgz.with_extension("part");
                let status = Command::new("curl")
                    .args(["-sSfL", "--retry", "2", "--max-time", "120", "-o"])
                    .arg(&part)
                    .arg(release.url())
                    .status()
                    .map_err(|e| format!("cannot run curl: {e}"))?;
                if !status.success() {
                    return Err(format!("curl {}: {status}", release.url()));
                }
                if !pinned(&part, release)? {
                    let _ = std::fs::remove_file(&part);
                    return Err(format!(
                        "{}: its SHA-256 is not the pinned {}",
                        release.url(),
                        release.sha256
                    ));
                }
                std::fs::rename(&part, &tgz).map_err(|e| format!("{}: {e}", tgz.display()))?;
            }
            let out = Command::new("tar")
                .arg("-xzOf")
                .arg(&tgz)
                .arg(pair.bundle)
                .output()
                .map_err(|e| format!("cannot run tar: {e}"))?;
            if !out.status.success() || out.stdout.is_empty() {
                return Err(format!(
                    "tar: no {} in {}: {}",
                    pair.bundle,
                    tgz.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            let file = releases.join(pair.file(release));
            std::fs::write(&file, &out.stdout).map_err(|e| format!("{}: {e}", file.display()))?;
        }
    }
    Ok(releases)
}

/// How much the part measures.
#[derive(Debug, Clone)]
pub struct DictionarySettings {
    /// TTFB samples of v2 per pair, as `dcb` and as `br` each.
    pub samples: usize,
    /// Full downloads of v2 per pair and coding.
    pub downloads: usize,
    /// Pause before each TTFB sample, once no app runs an instance.
    pub settle: Duration,
}

/// How a client asks for v2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// A browser holding v1: `gzip, br, dcb` and `Available-Dictionary`.
    Dcb,
    /// A client holding v1 that takes `dcz` and not `dcb`: `gzip, br, dcz` and
    /// `Available-Dictionary` (the demo routes list `dcb` first).
    Dcz,
    /// A client without the dictionary: `gzip, br`.
    Br,
    Gzip,
    /// No `Accept-Encoding`: the release untouched.
    Raw,
}

impl Coding {
    pub const ALL: [Coding; 5] = [
        Coding::Dcb,
        Coding::Dcz,
        Coding::Br,
        Coding::Gzip,
        Coding::Raw,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Coding::Dcb => "dcb",
            Coding::Dcz => "dcz",
            Coding::Br => "br",
            Coding::Gzip => "gzip",
            Coding::Raw => "raw",
        }
    }

    fn accept_encoding(self) -> Option<&'static str> {
        match self {
            Coding::Dcb => Some("gzip, br, dcb"),
            Coding::Dcz => Some("gzip, br, dcz"),
            Coding::Br => Some("gzip, br"),
            Coding::Gzip => Some("gzip"),
            Coding::Raw => None,
        }
    }

    /// The `Content-Encoding` v2 must come with.
    fn content_encoding(self) -> Option<&'static str> {
        match self {
            Coding::Raw => None,
            other => Some(other.name()),
        }
    }

    fn headers(self, available: &str) -> Vec<(&'static str, String)> {
        let mut headers: Vec<(&str, String)> = self
            .accept_encoding()
            .map(|ae| ("accept-encoding", ae.to_string()))
            .into_iter()
            .collect();
        if matches!(self, Coding::Dcb | Coding::Dcz) {
            headers.push(("available-dictionary", available.to_string()));
        }
        headers
    }
}

/// What one pair measured in one coding; times in ms.
#[derive(Debug, Clone)]
pub struct DictCell {
    pub pair: String,
    pub coding: Coding,
    /// v2's body on the wire, per download (without the chunked framing).
    pub wire_bytes: Vec<f64>,
    pub ttfb_ms: Vec<f64>,
    /// firstbyte's own time to `stream_to_client()` (Server-Timing), per TTFB sample.
    pub app_ms: Vec<f64>,
    pub last_ms: Vec<f64>,
    pub heap_mib: Vec<f64>,
    /// Requests that failed or came in another coding than asked for.
    pub failures: usize,
}

/// A pair's releases as served.
#[derive(Debug, Clone)]
pub struct PairSizes {
    pub pair: String,
    /// v1 as the client decoded it: the dictionary.
    pub dictionary_bytes: usize,
    pub v2_bytes: usize,
}

#[derive(Debug, Clone)]
pub struct Dictionary {
    pub pairs: Vec<PairSizes>,
    pub cells: Vec<DictCell>,
    /// Bodies that did not decode to v2 byte for byte, or a v1 that was not marked or
    /// did not decode to itself: each fails the run.
    pub wrong: Vec<String>,
    /// `dcb` bodies decoded and compared.
    pub dcb_checked: usize,
    /// Per pair, v2 from the edge cache: a delta hit beside a plain (`br`) hit.
    pub hits: Vec<CachedHits>,
}

/// TTFB of v2 served from the edge cache through `dictcache`, in ms: as the `dcb` object a
/// client holding v1 gets, and as the `br` object a client without it gets. Samples that
/// were not hits in the asked coding are counted in `failures`, not timed.
#[derive(Debug, Clone, Default)]
pub struct CachedHits {
    pub pair: String,
    pub dcb_ms: Vec<f64>,
    pub br_ms: Vec<f64>,
    pub failures: usize,
}

impl Dictionary {
    fn cell(&self, pair: &str, coding: Coding) -> Option<&DictCell> {
        self.cells
            .iter()
            .find(|c| c.pair == pair && c.coding == coding)
    }

    /// A figure of a cell, `None` when it had failures.
    fn figure(&self, pair: &str, coding: Coding, f: fn(&DictCell) -> &[f64]) -> Option<f64> {
        self.cell(pair, coding)
            .filter(|c| c.failures == 0)
            .and_then(|c| median(f(c)))
    }
}

/// The body of a reply decoded as its coding says, for comparing with the release.
fn decoded(coding: Option<&str>, body: &[u8], dictionary: &[u8]) -> Result<Vec<u8>, String> {
    match coding {
        None => Ok(body.to_vec()),
        Some("dcb") => dcb::decode(dictionary, body),
        Some("dcz") => dcb::decode_dcz(dictionary, body),
        Some("br") => dcb::unbrotli(body),
        Some("gzip") => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .map_err(|e| format!("not a gzip body: {e}"))?;
            Ok(out)
        }
        Some(other) => Err(format!("an unexpected coding, {other}")),
    }
}

/// v1 as a browser first fetches it, taking every coding and `dcb`.
fn first_release(
    runtime: &tokio::runtime::Runtime,
    addr: std::net::SocketAddr,
    path: &str,
) -> Result<client::Reply, String> {
    runtime
        .block_on(client::request(
            addr,
            "GET",
            path,
            &[("accept-encoding", "gzip, br, dcb")],
        ))
        .map_err(|e| format!("dictionary: {path}: {e}"))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl Bench {
    /// The dictionary part: per pair, v1 then v2 in every coding, interleaved; `releases` is
    /// the directory [`fetch`] filled, which the dev origin serves.
    pub fn dictionary(
        &self,
        settings: &DictionarySettings,
        releases: &Path,
        shuffle: &mut Shuffle,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Dictionary, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("tokio runtime: {e}"))?;
        let server = Server::Edge(DICT_EDGE);
        let addr = self.addr_of(server);
        let heaps = || {
            self.edge(DICT_EDGE)
                .map(crate::stack::Edge::heaps_mib)
                .unwrap_or_default()
        };
        let timeout = Duration::from_secs(60);
        let mut out = Dictionary {
            pairs: Vec::new(),
            cells: Vec::new(),
            wrong: Vec::new(),
            dcb_checked: 0,
            hits: Vec::new(),
        };
        for pair in &PAIRS {
            let name = pair.name();
            let read = |release: &Release| {
                let path = releases.join(pair.file(release));
                std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))
            };
            let (v1, v2) = (read(&pair.v1)?, read(&pair.v2)?);
            // v1 as a browser fetches it: marked, and decoded to the release itself.
            let turn = self.turn_to(server);
            let v1_path = format!("{PATH}{}", pair.file(&pair.v1));
            let first = first_release(&runtime, addr, &v1_path)?;
            let dictionary = match decoded(first.header("content-encoding"), &first.body, &[]) {
                Ok(body) => body,
                Err(e) => {
                    out.wrong.push(format!("{name}: v1: {e}"));
                    continue;
                }
            };
            if first.status != 200
                || first.body_error.is_some()
                || first.header("use-as-dictionary").is_none()
                || dictionary != v1
            {
                out.wrong.push(format!(
                    "{name}: v1 came {} {}, {} the release, {}",
                    first.status,
                    first.header("content-encoding").unwrap_or("untouched"),
                    if dictionary == v1 {
                        "decoding to"
                    } else {
                        "not"
                    },
                    first
                        .header("use-as-dictionary")
                        .map_or("not marked".to_string(), |m| format!("marked {m}"))
                ));
                continue;
            }
            drop(turn);
            // The dictionary is kept once v1's instance has ended.
            self.wait_until_all_idle();
            let available = dcb::sf_binary(&dcb::sha256(&dictionary));
            out.pairs.push(PairSizes {
                pair: name.clone(),
                dictionary_bytes: dictionary.len(),
                v2_bytes: v2.len(),
            });
            let v2_path = format!("{PATH}{}", pair.file(&pair.v2));
            let mut cells: Vec<DictCell> = Coding::ALL
                .iter()
                .map(|&coding| DictCell {
                    pair: name.clone(),
                    coding,
                    wire_bytes: Vec::new(),
                    ttfb_ms: Vec::new(),
                    app_ms: Vec::new(),
                    last_ms: Vec::new(),
                    heap_mib: Vec::new(),
                    failures: 0,
                })
                .collect();
            // TTFB: v2 as dcb and dcz beside the same route's br, in a shuffled order each
            // round.
            let timed = [Coding::Dcb, Coding::Dcz, Coding::Br];
            for round in 0..settings.samples {
                for i in shuffle.order(timed.len()) {
                    let coding = timed[i];
                    let headers = coding.headers(&available);
                    let headers: Vec<(&str, &str)> =
                        headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
                    let _turn = self.turn_to(server);
                    std::thread::sleep(settings.settle);
                    let Some(cell) = cells.iter_mut().find(|c| c.coding == coding) else {
                        continue;
                    };
                    match request(addr, &v2_path, &headers, false, timeout) {
                        Ok(s) if s.status == 200 && s.coding == coding.content_encoding() => {
                            cell.ttfb_ms.push(ms(s.ttfb));
                            cell.app_ms.extend(s.app_ms);
                        }
                        _ => cell.failures += 1,
                    }
                }
                if (round + 1) % 25 == 0 || round + 1 == settings.samples {
                    progress(&format!(
                        "dictionary, {name}: TTFB round {}/{}",
                        round + 1,
                        settings.samples
                    ));
                }
            }
            // Full downloads in every coding, each body decoded and compared with v2.
            for _ in 0..settings.downloads {
                for i in shuffle.order(cells.len()) {
                    let cell = &mut cells[i];
                    let coding = cell.coding;
                    let headers = coding.headers(&available);
                    let headers: Vec<(&str, &str)> =
                        headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
                    let turn = self.turn_to(server);
                    let before = heaps().len();
                    let started = Instant::now();
                    let reply = runtime.block_on(async {
                        tokio::time::timeout(timeout, client::timed(addr, &v2_path, &headers))
                            .await
                            .map_err(|_| "timed out".into())
                            .and_then(|r| r)
                    });
                    drop(turn);
                    self.wait_until_all_idle();
                    cell.heap_mib.extend(heaps().into_iter().skip(before));
                    let reply = match reply {
                        Ok(r) if r.status == 200 && r.complete => r,
                        Ok(r) => {
                            cell.failures += 1;
                            out.wrong.push(format!(
                                "{name}: v2 as {}: status {}{}",
                                coding.name(),
                                r.status,
                                if r.complete { "" } else { ", cut" }
                            ));
                            continue;
                        }
                        Err(e) => {
                            cell.failures += 1;
                            out.wrong
                                .push(format!("{name}: v2 as {}: {e}", coding.name()));
                            continue;
                        }
                    };
                    let came = reply.header("content-encoding");
                    if came != coding.content_encoding() {
                        cell.failures += 1;
                        out.wrong.push(format!(
                            "{name}: v2 asked for as {} came as {}",
                            coding.name(),
                            came.unwrap_or("untouched")
                        ));
                        continue;
                    }
                    match decoded(came, &reply.body, &dictionary) {
                        Ok(body) if body == v2 => {
                            cell.wire_bytes.push(reply.body.len() as f64);
                            cell.last_ms.push(ms(reply.done.duration_since(started)));
                            if coding == Coding::Dcb {
                                out.dcb_checked += 1;
                            }
                        }
                        Ok(body) => {
                            cell.failures += 1;
                            out.wrong.push(format!(
                                "{name}: v2 as {} decoded to {} bytes that are not v2's {}",
                                coding.name(),
                                body.len(),
                                v2.len()
                            ));
                        }
                        Err(e) => {
                            cell.failures += 1;
                            out.wrong
                                .push(format!("{name}: v2 as {}: {e}", coding.name()));
                        }
                    }
                }
            }
            progress(&format!(
                "dictionary, {name}: {} downloads in each coding",
                settings.downloads
            ));
            out.cells.extend(cells);
            let hits = self.cached_hits(pair, &available, settings, shuffle, &runtime);
            if let Some(why) = hits.as_ref().err() {
                out.wrong.push(format!("{name}: cached: {why}"));
            }
            out.hits.extend(hits.ok());
            progress(&format!("dictionary, {name}: hits from the edge cache"));
        }
        Ok(out)
    }

    /// v1 through `dictcache` (kept as a dictionary as it is stored), v2 filled once as
    /// `dcb` and once as `br`, then both timed as hits, interleaved.
    fn cached_hits(
        &self,
        pair: &Pair,
        available: &str,
        settings: &DictionarySettings,
        shuffle: &mut Shuffle,
        runtime: &tokio::runtime::Runtime,
    ) -> Result<CachedHits, String> {
        let server = Server::Edge(DICT_EDGE);
        let addr = self.addr_of(server);
        let timeout = Duration::from_secs(60);
        let v1_path = format!("{CACHED_PATH}{}", pair.file(&pair.v1));
        let v2_path = format!("{CACHED_PATH}{}", pair.file(&pair.v2));
        let turn = self.turn_to(server);
        let first = first_release(runtime, addr, &v1_path)?;
        if first.header("use-as-dictionary").is_none() {
            return Err(format!("v1 came {} and not marked", first.status));
        }
        drop(turn);
        self.wait_until_all_idle();
        let mut hits = CachedHits {
            pair: pair.name(),
            ..CachedHits::default()
        };
        let timed = [Coding::Dcb, Coding::Br];
        // The fills, then only hits are timed.
        for round in 0..=settings.samples {
            for i in shuffle.order(timed.len()) {
                let coding = timed[i];
                let headers = coding.headers(available);
                let headers: Vec<(&str, &str)> =
                    headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
                let _turn = self.turn_to(server);
                std::thread::sleep(settings.settle);
                let sample = request(addr, &v2_path, &headers, round == 0, timeout);
                if round == 0 {
                    continue;
                }
                let ms_of = match coding {
                    Coding::Dcb => &mut hits.dcb_ms,
                    _ => &mut hits.br_ms,
                };
                match sample {
                    Ok(s)
                        if s.status == 200
                            && s.coding == coding.content_encoding()
                            && s.x_cache == Some("HIT") =>
                    {
                        ms_of.push(ms(s.ttfb))
                    }
                    _ => hits.failures += 1,
                }
            }
            self.wait_until_all_idle();
        }
        Ok(hits)
    }
}

/// `v2 bytes ÷ time to last byte`, in MB/s.
fn mb_per_s(bytes: usize, ms: Option<f64>) -> Option<f64> {
    ms.filter(|ms| *ms > 0.0)
        .map(|ms| bytes as f64 / (ms / 1000.0) / 1e6)
}

/// The part's table: per pair and coding, v2 on the wire, its TTFB and last byte beside
/// `br`'s, and the heap; then v2 from the edge cache, a delta hit beside a plain hit.
pub fn table(d: &Dictionary) -> String {
    let mut out = String::from(
        "| dictionary pair (v1 → v2) | v2 as | bytes on the wire | × br | TTFB p50 ms | app p50 ms | TTFB × br | last byte p50 ms | MB/s (v2 ÷ last byte) | Wasm heap max MiB | failed |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for c in &d.cells {
        let Some(sizes) = d.pairs.iter().find(|p| p.pair == c.pair) else {
            continue;
        };
        let ratio = |f: fn(&DictCell) -> &[f64]| match (
            d.figure(&c.pair, c.coding, f),
            d.figure(&c.pair, Coding::Br, f),
        ) {
            (Some(n), Some(b)) if b > 0.0 && c.coding != Coding::Br => format!("{:.3}", n / b),
            _ => "–".into(),
        };
        let _ = writeln!(
            out,
            "| {} ({} → {} bytes) | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            c.pair,
            sizes.dictionary_bytes,
            sizes.v2_bytes,
            c.coding.name(),
            num(median(&c.wire_bytes), 0),
            ratio(|c| &c.wire_bytes),
            num(median(&c.ttfb_ms), 2),
            num(median(&c.app_ms), 2),
            ratio(|c| &c.ttfb_ms),
            num(median(&c.last_ms), 2),
            num(mb_per_s(sizes.v2_bytes, median(&c.last_ms)), 1),
            num(c.heap_mib.iter().copied().reduce(f64::max), 2),
            c.failures,
        );
    }
    out.push_str(
        "\n| dictionary pair (v1 → v2), from the edge cache | dcb hit TTFB p50 ms | br hit TTFB p50 ms | dictionary hit × plain hit | not hits |\n\
         |---|---:|---:|---:|---:|\n",
    );
    for h in &d.hits {
        let (dcb, br) = (median(&h.dcb_ms), median(&h.br_ms));
        let ratio = match (dcb, br) {
            (Some(n), Some(b)) if b > 0.0 => Some(n / b),
            _ => None,
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            h.pair,
            num(dcb, 2),
            num(br, 2),
            num(ratio, 3),
            h.failures
        );
    }
    for w in &d.wrong {
        let _ = writeln!(out, "\n**Wrong**: {w}.");
    }
    out
}

/// The worst of a per-pair ratio, with its pair; `None` when a pair lacks either side.
fn worst(d: &Dictionary, ratio: impl Fn(&PairSizes) -> Option<f64>) -> Option<(f64, String)> {
    let mut worst: Option<(f64, String)> = None;
    for p in &d.pairs {
        let r = ratio(p)?;
        if worst.as_ref().is_none_or(|(w, _)| r > *w) {
            worst = Some((r, p.pair.clone()));
        }
    }
    worst
}

fn worst_check(claim: &str, found: Option<(f64, String)>, limit: f64, pairs: usize) -> Check {
    match found {
        Some((r, pair)) if pairs > 1 => Check {
            claim: claim.into(),
            measured: format!("{r:.3} (worst: {pair})"),
            holds: r <= limit,
        },
        Some((r, pair)) => Check {
            claim: claim.into(),
            measured: format!("{r:.3} ({pair})"),
            holds: r <= limit,
        },
        None => Check {
            claim: claim.into(),
            measured: "not measured".into(),
            holds: false,
        },
    }
}

/// The issue's targets for dictionaries, on this run's figures.
pub fn checks(d: &Dictionary) -> Vec<Check> {
    let pairs = d.pairs.len();
    let complete = pairs == PAIRS.len();
    let figure = |p: &PairSizes, coding, f: fn(&DictCell) -> &[f64]| d.figure(&p.pair, coding, f);
    let ratio = |coding, f: fn(&DictCell) -> &[f64]| {
        move |p: &PairSizes| Some(figure(p, coding, f)? / figure(p, Coding::Br, f)?)
    };
    let mut out = vec![
        worst_check(
            "dictionary: v2 as dcb ≤ 0.25 × its br bytes, consecutive releases of a real bundle",
            worst(d, ratio(Coding::Dcb, |c| &c.wire_bytes)).filter(|_| complete),
            0.25,
            pairs,
        ),
        worst_check(
            "dictionary: v2 as dcb p50 TTFB ≤ 1.05 × the same route serving it as br",
            worst(d, ratio(Coding::Dcb, |c| &c.ttfb_ms)).filter(|_| complete),
            1.05,
            pairs,
        ),
    ];
    // The heap against the dictionary's size + 4 MiB: reported as the ratio to that bound.
    let heap = worst(d, |p| {
        let max = d
            .cell(&p.pair, Coding::Dcb)?
            .heap_mib
            .iter()
            .copied()
            .reduce(f64::max)?;
        Some(max / (p.dictionary_bytes as f64 / f64::from(1 << 20) + 4.0))
    })
    .filter(|_| complete);
    let mut heap_check = worst_check(
        "dictionary: Wasm heap of a dcb response ≤ the dictionary's size + 4 MiB (as × that bound)",
        heap,
        1.0,
        pairs,
    );
    if let Some(max) = d
        .cells
        .iter()
        .filter(|c| c.coding == Coding::Dcb)
        .flat_map(|c| c.heap_mib.iter().copied())
        .reduce(f64::max)
    {
        heap_check.measured = format!("{}; at most {max:.2} MiB", heap_check.measured);
    }
    out.push(heap_check);
    out.push(Check {
        claim:
            "dictionary: every dcb body decodes to v2 byte for byte (the brotli crate, v1 attached)"
                .into(),
        measured: if d.wrong.is_empty() {
            format!("{} of {}", d.dcb_checked, d.dcb_checked)
        } else {
            format!("{} wrong: {}", d.wrong.len(), d.wrong.join("; "))
        },
        holds: d.wrong.is_empty() && d.dcb_checked > 0 && complete,
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_name_registry_tarballs_and_served_files() {
        for pair in &PAIRS {
            for r in [&pair.v1, &pair.v2] {
                assert_eq!(r.sha256.len(), 64);
                assert!(r.sha256.bytes().all(|b| b.is_ascii_hexdigit()));
                assert!(r.url().starts_with("https://registry.npmjs.org/"));
            }
            assert_eq!(pair.v1.package, pair.v2.package, "one library per pair");
        }
        let jquery = &PAIRS[0];
        assert_eq!(
            jquery.v1.url(),
            "https://registry.npmjs.org/jquery/-/jquery-3.7.0.tgz"
        );
        assert_eq!(jquery.file(&jquery.v2), "jquery-3.7.1-jquery.min.js");
        assert_eq!(jquery.name(), "jquery.min.js 3.7.0 → 3.7.1");
        // The route's match covers every served file, as the app reads it.
        assert!(format!("{PATH}{}", jquery.file(&jquery.v1)).starts_with(&MATCH[..MATCH.len() - 1]));
    }

    #[test]
    fn a_pinned_file_is_checked_by_its_hash() -> Result<(), String> {
        let dir = std::env::temp_dir().join(format!("dbench-pin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let path = dir.join("x.tgz");
        let release = Release {
            package: "x",
            version: "1",
            sha256: "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
        };
        assert!(!pinned(&path, &release)?, "absent");
        std::fs::write(&path, b"hello").map_err(|e| e.to_string())?;
        assert!(pinned(&path, &release)?);
        std::fs::write(&path, b"hello!").map_err(|e| e.to_string())?;
        assert!(!pinned(&path, &release)?);
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    fn cell(pair: &str, coding: Coding, wire: f64, ttfb: f64, heap: f64) -> DictCell {
        DictCell {
            pair: pair.into(),
            coding,
            wire_bytes: vec![wire],
            ttfb_ms: vec![ttfb],
            app_ms: vec![],
            last_ms: vec![1.0],
            heap_mib: vec![heap],
            failures: 0,
        }
    }

    #[test]
    fn the_checks_hold_the_worst_pair_to_the_targets() {
        let names: Vec<String> = PAIRS.iter().map(Pair::name).collect();
        let mut d = Dictionary {
            pairs: names
                .iter()
                .map(|n| PairSizes {
                    pair: n.clone(),
                    dictionary_bytes: 1 << 20,
                    v2_bytes: 1 << 20,
                })
                .collect(),
            cells: vec![
                cell(&names[0], Coding::Dcb, 100.0, 2.0, 3.0),
                cell(&names[0], Coding::Br, 1000.0, 2.0, 2.0),
                cell(&names[1], Coding::Dcb, 300.0, 2.2, 6.0),
                cell(&names[1], Coding::Br, 1000.0, 2.0, 2.0),
            ],
            wrong: vec![],
            dcb_checked: 2,
            hits: vec![],
        };
        let c = checks(&d);
        assert_eq!(c[0].measured, format!("0.300 (worst: {})", names[1]));
        assert!(!c[0].holds, "0.3 is over 0.25");
        assert!(!c[1].holds, "1.1 is over 1.05");
        assert!(
            c[2].measured
                .starts_with(&format!("1.200 (worst: {})", names[1])),
            "6 MiB against 1 MiB + 4 MiB: {}",
            c[2].measured
        );
        assert!(!c[2].holds);
        assert!(c[3].holds);
        d.wrong.push("a body".into());
        assert!(!checks(&d)[3].holds);
        d.pairs.pop();
        assert_eq!(checks(&d)[0].measured, "not measured", "a pair missing");
    }
}
