//! Pages composed at the edge (ESI): firstbyte's `page` route on the Viceroy of
//! [`ESI_EDGE`], beside the same template passed through by firstbyte (what composing is
//! measured against), fastly/esi 0.7.2 (`benches/esi-fastly`, on a Viceroy of its own) and
//! Varnish's ESI, on the dev origin's `/esi/template` ([`workloads`]):
//!
//! - 8 includes of 16 KiB in a 64 KiB template, every fragment after 300 ms;
//! - the same with the first fragment after 2 s;
//! - the same with every fragment at once (0 ms);
//! - the first again, each include chosen in an `esi:choose` and followed by an `esi:vars`
//!   greeting with defaults (`language=on`): the language's cost on the same page.
//!
//! Each sample is a fresh connection that reads the whole page and checks it byte for byte
//! against [`composed_page`] (the template itself, for the passthrough): its TTFB (request →
//! response head), the time to the text just before the slow fragment, the time to the last
//! byte, and, for the Viceroys, the heap. Every sample carries a `tag` of its own, so no
//! server answers a page or fragment from a cache. Then a composing route that keeps
//! templates in the edge cache (`/pagecache/`) is asked for one template again and again:
//! its `Server-Timing` says when the first fragment request left, from the client's
//! request.

use std::fmt::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::order::Shuffle;
use super::report::{num, ratio_check, Check};
use super::stats::median;
use super::{bench_store, Bench, Server};
use crate::client;
use crate::origin::esi::{composed_page, TemplateSpec};

/// firstbyte, composing on `/page/` and `/pagecache/` (templates kept in the edge cache),
/// passing templates through on `/origin/`.
pub const ESI_EDGE: &str = "firstbyte esi";
/// fastly/esi 0.7.2 in its streaming mode (`benches/esi-fastly`).
pub const ESI_PEER: &str = "fastly/esi";
/// The Viceroys the part runs.
pub const EDGES: [&str; 2] = [ESI_EDGE, ESI_PEER];

/// [`ESI_EDGE`]'s routes: fastly.toml's `page` (`esi = surrogate`) and a copy of it that
/// keeps templates for an hour.
pub fn esi_store() -> Vec<(String, Option<String>)> {
    let mut store = bench_store();
    store.retain(|(key, _)| key != "routes");
    let owned = |k: &str, v: &str| (k.to_string(), Some(v.to_string()));
    store.extend([
        owned("routes", "origin,page,pagecache"),
        owned("route.pagecache.prefix", "/pagecache/"),
        owned("route.pagecache.backend", "origin"),
        owned("route.pagecache.strip_prefix", "true"),
        owned("route.pagecache.esi", "surrogate"),
        owned("route.pagecache.cache_ttl", "3600"),
    ]);
    store
}

/// How much the part measures.
#[derive(Debug, Clone)]
pub struct EsiSettings {
    /// Samples per contender and workload.
    pub samples: usize,
    /// Samples of a template hit.
    pub hits: usize,
    pub workloads: Vec<EsiWorkload>,
}

#[derive(Debug, Clone)]
pub struct EsiWorkload {
    pub name: String,
    /// The template, without its per-sample tag.
    pub spec: TemplateSpec,
}

impl EsiWorkload {
    /// The template's query for one sample.
    pub fn query(&self, tag: &str) -> String {
        let s = &self.spec;
        let mut q = format!(
            "includes={}&bytes={}&fragment_bytes={}&delay_ms={}&tag={tag}",
            s.includes, s.bytes, s.fragment_bytes, s.delay_ms
        );
        if let Some((k, ms)) = s.slow {
            let _ = write!(q, "&slow={k}:{ms}");
        }
        if let Some(base) = &s.base {
            let _ = write!(q, "&base={base}");
        }
        if s.language {
            q.push_str("&language=on");
        }
        q
    }

    /// The spec with the tag a sample asks for (it is part of every fragment's `src`).
    pub fn tagged(&self, tag: &str) -> TemplateSpec {
        TemplateSpec {
            tag: Some(tag.to_string()),
            ..self.spec.clone()
        }
    }
}

/// The four workloads; a smoke run's are small and quick.
pub fn workloads(smoke: bool) -> Vec<EsiWorkload> {
    let (bytes, fragment_bytes, delay, slow) = if smoke {
        (8 << 10, 1 << 10, 50, 300)
    } else {
        (64 << 10, 16 << 10, 300, 2000)
    };
    let spec = |delay_ms, slow| TemplateSpec {
        includes: 8,
        bytes,
        fragment_bytes,
        delay_ms,
        slow,
        encoding: None,
        continue_on_error: false,
        tag: None,
        base: None,
        language: false,
    };
    let kib = |b: u64| b >> 10;
    vec![
        EsiWorkload {
            name: format!(
                "8 × {} KiB at {delay} ms, {} KiB template",
                kib(fragment_bytes),
                kib(bytes)
            ),
            spec: spec(delay, None),
        },
        EsiWorkload {
            name: format!("the same, the first fragment at {slow} ms"),
            spec: spec(delay, Some((0, slow))),
        },
        EsiWorkload {
            name: "the same, every fragment at 0 ms".into(),
            spec: spec(0, None),
        },
        EsiWorkload {
            name: format!("the first, each include in esi:choose with esi:vars, at {delay} ms"),
            spec: TemplateSpec {
                language: true,
                ..spec(delay, None)
            },
        },
    ]
}

/// Who is asked for a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contender {
    pub name: &'static str,
    pub server: Server,
    /// Prepended to the origin's path.
    pub prefix: &'static str,
    /// Composes the template (else passes it through).
    pub composes: bool,
}

pub const PASSTHROUGH: Contender = Contender {
    name: "template passed through (firstbyte)",
    server: Server::Edge(ESI_EDGE),
    prefix: "/origin",
    composes: false,
};
pub const FIRSTBYTE: Contender = Contender {
    name: "firstbyte",
    server: Server::Edge(ESI_EDGE),
    prefix: "/page",
    composes: true,
};
pub const FASTLY_ESI: Contender = Contender {
    name: "fastly/esi 0.7.2",
    server: Server::Edge(ESI_PEER),
    prefix: "",
    composes: true,
};
pub const VARNISH: Contender = Contender {
    name: "Varnish",
    server: Server::Varnish,
    prefix: "",
    composes: true,
};

/// What one contender measured on one workload, in ms (heap in MiB).
#[derive(Debug, Clone)]
pub struct EsiCell {
    pub workload: String,
    pub contender: Contender,
    pub ttfb_ms: Vec<f64>,
    /// To the last byte before the slow fragment (workloads with one).
    pub text_ms: Vec<f64>,
    pub last_ms: Vec<f64>,
    pub heap_mib: Vec<f64>,
    pub attempts: usize,
    /// Samples that failed, were cut or differed from the page they must be.
    pub wrong: usize,
    /// The first failure, for the report.
    pub first_error: Option<String>,
}

impl EsiCell {
    fn p50(v: &[f64]) -> Option<f64> {
        median(v)
    }
}

#[derive(Debug, Clone)]
pub struct Esi {
    pub cells: Vec<EsiCell>,
    /// On a template hit: when the first fragment request left, from the request, in ms.
    pub first_request_ms: Vec<f64>,
    pub hit_attempts: usize,
    /// Hit samples that were not HITs, or had no such timing.
    pub hit_wrong: usize,
    pub hit_workload: String,
    /// Contenders that could not run, and why.
    pub skipped: Vec<String>,
}

/// One page read whole: when its head came, when the byte at `text_at` came, when it ended.
struct Timeline {
    head: Duration,
    text: Option<Duration>,
    last: Duration,
    body: Vec<u8>,
    server_timing: String,
    x_cache: Option<String>,
}

async fn read_page(
    addr: SocketAddr,
    path: &str,
    text_at: Option<usize>,
) -> Result<Timeline, String> {
    let started = Instant::now();
    let resp = client::open(addr, "GET", path, &[])
        .await
        .map_err(|e| e.to_string())?;
    let head = started.elapsed();
    if resp.status() != 200 {
        return Err(format!("status {}", resp.status()));
    }
    let joined = |name: &str| {
        resp.headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut server_timing = joined("server-timing");
    let x_cache = resp
        .headers()
        .get("x-cache")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut body = resp.into_body();
    let mut bytes = Vec::new();
    let mut text = None;
    use http_body_util::BodyExt;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("body: {e}"))?;
        match frame.into_data() {
            Ok(data) => {
                bytes.extend_from_slice(&data);
                if text.is_none() && text_at.is_some_and(|at| bytes.len() >= at) {
                    text = Some(started.elapsed());
                }
            }
            Err(frame) => {
                // A trailer: a composed page's per-fragment Server-Timing.
                if let Some(trailers) = frame.trailers_ref() {
                    for v in trailers.get_all("server-timing") {
                        if let Ok(v) = v.to_str() {
                            server_timing = format!("{server_timing}, {v}");
                        }
                    }
                }
            }
        }
    }
    Ok(Timeline {
        head,
        text,
        last: started.elapsed(),
        body: bytes,
        server_timing,
        x_cache,
    })
}

/// The offset of include `k` in what `contender` sends: in the composed page, or in the
/// template itself.
fn offset_of_include(spec: &TemplateSpec, k: u64, composes: bool) -> usize {
    let pieces = if composes {
        spec.page_pieces()
    } else {
        spec.pieces()
    };
    // Include `k` is piece `2k + 1`.
    pieces.iter().take(2 * k as usize + 1).map(Vec::len).sum()
}

/// `fragment;desc="first request sent";dur=D` of a Server-Timing list.
pub fn first_request_ms(server_timing: &str) -> Option<f64> {
    server_timing
        .split(',')
        .find(|m| m.contains("first request sent"))
        .and_then(|m| m.split("dur=").nth(1))
        .and_then(|d| d.trim().parse().ok())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl Bench {
    /// The ESI part: every contender on every workload, in a shuffled order each round,
    /// then the template hits.
    pub fn esi(
        &self,
        settings: &EsiSettings,
        shuffle: &mut Shuffle,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Esi, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("tokio runtime: {e}"))?;
        let mut skipped = Vec::new();
        let contenders: Vec<Contender> = [PASSTHROUGH, FIRSTBYTE, FASTLY_ESI, VARNISH]
            .into_iter()
            .filter(|c| {
                let runs = self.serves(c.server);
                if !runs {
                    skipped.push(format!("{}: not running", c.name));
                }
                runs
            })
            .collect();
        let run = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let mut cells: Vec<EsiCell> = Vec::new();
        for w in &settings.workloads {
            for c in &contenders {
                // Varnish's ESI is include, remove, comment and <!--esi: it sends choose and
                // vars on as text (every page of a run was wrong, 560 bytes too long), so its
                // 20 sequential 2.4 s pages would measure nothing.
                if w.spec.language && *c == VARNISH {
                    skipped.push(format!(
                        "{} on \"{}\": its ESI has no esi:choose or esi:vars",
                        c.name, w.name
                    ));
                    continue;
                }
                cells.push(EsiCell {
                    workload: w.name.clone(),
                    contender: *c,
                    ttfb_ms: Vec::new(),
                    text_ms: Vec::new(),
                    last_ms: Vec::new(),
                    heap_mib: Vec::new(),
                    attempts: 0,
                    wrong: 0,
                    first_error: None,
                });
            }
        }
        let timeout = Duration::from_secs(60);
        for round in 0..settings.samples {
            for i in shuffle.order(cells.len()) {
                let cell = &mut cells[i];
                let Some(w) = settings.workloads.iter().find(|w| w.name == cell.workload) else {
                    continue;
                };
                let c = cell.contender;
                let tag = format!("b{run}-{i}-{round}");
                let expected = if c.composes {
                    composed_page(&w.tagged(&tag))
                } else {
                    w.tagged(&tag).pieces().concat()
                };
                let text_at = w
                    .spec
                    .slow
                    .map(|(k, _)| offset_of_include(&w.tagged(&tag), k, c.composes));
                let path = format!("{}/esi/template?{}", c.prefix, w.query(&tag));
                let turn = self.turn_to(c.server);
                let heaps_before = self.heaps_of(c.server).len();
                let result = runtime.block_on(async {
                    tokio::time::timeout(timeout, read_page(self.addr_of(c.server), &path, text_at))
                        .await
                        .unwrap_or_else(|_| Err("timed out".into()))
                });
                cell.attempts += 1;
                match result {
                    Ok(t) if t.body == expected => {
                        cell.ttfb_ms.push(ms(t.head));
                        cell.text_ms.extend(t.text.map(ms));
                        cell.last_ms.push(ms(t.last));
                    }
                    Ok(t) => {
                        cell.wrong += 1;
                        cell.first_error.get_or_insert(format!(
                            "{} bytes, not the {} expected",
                            t.body.len(),
                            expected.len()
                        ));
                    }
                    Err(e) => {
                        cell.wrong += 1;
                        cell.first_error.get_or_insert(e);
                    }
                }
                drop(turn);
                self.wait_until_all_idle();
                cell.heap_mib
                    .extend(self.heaps_of(c.server).into_iter().skip(heaps_before));
            }
            progress(&format!("esi: round {}/{}", round + 1, settings.samples));
        }
        // Template hits: one fill, then hits, each sending its includes before it reads the
        // template. The includes name `/page/`, which caches nothing, so each is a request
        // to the origin, not a lookup of a cached fragment.
        let hit_workload = EsiWorkload {
            spec: TemplateSpec {
                base: Some("/page/esi/".into()),
                ..settings.workloads[0].spec.clone()
            },
            ..settings.workloads[0].clone()
        };
        let hit_workload = &hit_workload;
        let tag = format!("hit-{run}");
        let path = format!("/pagecache/esi/template?{}", hit_workload.query(&tag));
        let addr = self.addr_of(Server::Edge(ESI_EDGE));
        let fill = runtime.block_on(read_page(addr, &path, None))?;
        if fill.body != composed_page(&hit_workload.tagged(&tag)) {
            return Err("esi: the template hit route's first page was not the page".into());
        }
        let mut first_request = Vec::new();
        let mut hit_wrong = 0;
        for _ in 0..settings.hits {
            let _turn = self.turn_to(Server::Edge(ESI_EDGE));
            match runtime.block_on(read_page(addr, &path, None)) {
                Ok(t) if t.x_cache.as_deref() == Some("HIT") => {
                    match first_request_ms(&t.server_timing) {
                        Some(d) => first_request.push(d),
                        None => hit_wrong += 1,
                    }
                }
                _ => hit_wrong += 1,
            }
        }
        progress(&format!("esi: {} template hits", settings.hits));
        Ok(Esi {
            cells,
            first_request_ms: first_request,
            hit_attempts: settings.hits,
            hit_wrong,
            hit_workload: hit_workload.name.clone(),
            skipped,
        })
    }

    fn heaps_of(&self, server: Server) -> Vec<f64> {
        match server {
            Server::Edge(app) => self
                .edge(app)
                .map(crate::stack::Edge::heaps_mib)
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }
}

fn cell<'a>(e: &'a Esi, workload: &str, contender: Contender) -> Option<&'a EsiCell> {
    e.cells
        .iter()
        .find(|c| c.workload == workload && c.contender == contender)
}

/// A cell's figure, only when every sample of it was right.
fn figure(e: &Esi, workload: &str, contender: Contender, f: fn(&EsiCell) -> &[f64]) -> Option<f64> {
    cell(e, workload, contender)
        .filter(|c| c.wrong == 0)
        .and_then(|c| EsiCell::p50(f(c)))
}

/// The part's table.
pub fn table(e: &Esi) -> String {
    let mut out = String::from(
        "| ESI workload | server | TTFB p50 ms | × passthrough | text before the slow fragment p50 ms | × passthrough | last byte p50 ms | Wasm heap max MiB | wrong pages |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for c in &e.cells {
        let ratio = |f: fn(&EsiCell) -> &[f64]| match (
            EsiCell::p50(f(c)),
            figure(e, &c.workload, PASSTHROUGH, f),
        ) {
            (Some(n), Some(d)) if d > 0.0 && c.contender != PASSTHROUGH => {
                format!("{:.2}", n / d)
            }
            _ => "–".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} of {}{} |",
            c.workload,
            c.contender.name,
            num(EsiCell::p50(&c.ttfb_ms), 2),
            ratio(|c| &c.ttfb_ms),
            num(EsiCell::p50(&c.text_ms), 1),
            ratio(|c| &c.text_ms),
            num(EsiCell::p50(&c.last_ms), 1),
            num(c.heap_mib.iter().copied().reduce(f64::max), 1),
            c.wrong,
            c.attempts,
            c.first_error
                .as_deref()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default(),
        );
    }
    let mut sorted = e.first_request_ms.clone();
    sorted.sort_by(f64::total_cmp);
    let p90 = sorted
        .get(((sorted.len() as f64 * 0.9).ceil() as usize).saturating_sub(1))
        .copied();
    let _ = writeln!(
        out,
        "\n| template hit ({}) | samples | first fragment request sent, p50 ms after the request | p90 | not a HIT or no timing |\n\
         |---|---:|---:|---:|---:|\n\
         | firstbyte, `/pagecache/` | {} | {} | {} | {} |",
        e.hit_workload,
        e.first_request_ms.len(),
        num(median(&e.first_request_ms), 3),
        num(p90, 3),
        e.hit_wrong,
    );
    for s in &e.skipped {
        let _ = writeln!(out, "\nNot measured: {s}.");
    }
    out
}

/// The page of `w`'s 8 fragments, each after the same delay, ends within 1.1 × (the
/// template's own last byte + that delay): every fragment in flight at once. The peers'
/// ratios are given beside firstbyte's.
fn last_byte_check(e: &Esi, w: &EsiWorkload) -> Check {
    let last: fn(&EsiCell) -> &[f64] = |c| &c.last_ms;
    let bound = figure(e, &w.name, PASSTHROUGH, last).map(|t| t + w.spec.delay_ms as f64);
    let mut check = ratio_check(
        format!(
            "{}: last byte ≤ 1.1 × (the template's + {} ms)",
            w.name, w.spec.delay_ms
        ),
        figure(e, &w.name, FIRSTBYTE, last),
        bound,
        |r| r <= 1.1,
    );
    let peers: Vec<String> = [FASTLY_ESI, VARNISH]
        .iter()
        .filter_map(|p| {
            let r = figure(e, &w.name, *p, last)
                .zip(bound)
                .map(|(n, d)| n / d)?;
            Some(format!("{} {r:.2}", p.name))
        })
        .collect();
    if !peers.is_empty() {
        check.measured = format!("{} (peers: {})", check.measured, peers.join(", "));
    }
    check
}

/// What composing is claimed to do on this run.
pub fn checks(e: &Esi, workloads: &[EsiWorkload]) -> Vec<Check> {
    let mut out = Vec::new();
    let [steady, slow, instant, language] = workloads else {
        return out;
    };
    let ttfb: fn(&EsiCell) -> &[f64] = |c| &c.ttfb_ms;
    let text: fn(&EsiCell) -> &[f64] = |c| &c.text_ms;
    for w in [instant, slow, language] {
        out.push(ratio_check(
            format!(
                "composed page p50 TTFB ≤ 1.05 × the template passed through ({})",
                w.name
            ),
            figure(e, &w.name, FIRSTBYTE, ttfb),
            figure(e, &w.name, PASSTHROUGH, ttfb),
            |r| r <= 1.05,
        ));
    }
    // Last byte within 1.1 × (the template's own last byte + one fragment's delay), plain and
    // through branches and variables.
    for w in [steady, language] {
        out.push(last_byte_check(e, w));
    }
    out.push(ratio_check(
        format!(
            "{}: the text before the slow fragment p50 ≤ 1.1 × the passed-through template's time to the same byte",
            slow.name
        ),
        figure(e, &slow.name, FIRSTBYTE, text),
        figure(e, &slow.name, PASSTHROUGH, text),
        |r| r <= 1.1,
    ));
    let heap = e
        .cells
        .iter()
        .filter(|c| c.contender == FIRSTBYTE)
        .flat_map(|c| c.heap_mib.iter().copied())
        .reduce(f64::max);
    out.push(Check {
        claim: "WebAssembly heap ≤ 4 MiB composing, every ESI workload".into(),
        measured: heap.map_or("not measured".into(), |h| format!("{h:.1} MiB")),
        holds: heap.is_some_and(|h| h <= 4.0),
    });
    let first = median(&e.first_request_ms);
    out.push(Check {
        claim: "template hit: the first fragment request leaves ≤ 1 ms after the request (p50, Server-Timing)".into(),
        measured: match first {
            Some(f) if e.hit_wrong == 0 => format!("{f:.3} ms"),
            Some(f) => format!("{f:.3} ms; {} samples not HITs", e.hit_wrong),
            None => "not measured".into(),
        },
        holds: e.hit_wrong == 0 && first.is_some_and(|f| f <= 1.0),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_offsets_in_the_page_and_in_the_template() {
        let w = &workloads(false)[1];
        let spec = w.tagged("t");
        let page = composed_page(&spec);
        let at = offset_of_include(&spec, 0, true);
        assert!(page[at..].starts_with(b"<div class=\"fragment\" data-i=\"0\">"));
        let template = spec.pieces().concat();
        let at_tag = offset_of_include(&spec, 0, false);
        assert_eq!(at, at_tag, "the text before the first include is the same");
        assert!(template[at_tag..].starts_with(b"<esi:include"));
        let at3 = offset_of_include(&spec, 3, true);
        assert!(page[at3..].starts_with(b"<div class=\"fragment\" data-i=\"3\">"));
        assert!(w.query("t").contains("slow=0:2000"));
    }

    #[test]
    fn the_first_request_timing_is_read_from_server_timing() {
        let st = "origin;dur=0, edge;dur=0.4, cache;desc=HIT, fragment;desc=\"first request sent\";dur=0.123";
        assert_eq!(first_request_ms(st), Some(0.123));
        assert_eq!(first_request_ms("origin;dur=1"), None);
    }
}
