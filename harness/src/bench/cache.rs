//! The edge-cache workload, on the Viceroy of [`CACHE_EDGE`], in two parts.
//!
//! **Hits.** The `/cachepass/` passthrough and the `/cachechain/` gzip-decode → html → br
//! chain are filled once, then sampled like every other mode ([`Bench::run_modes`]) beside
//! the same bodies passed through uncached, and beside the reference app appending as many
//! bytes as the chain's object holds: a hit is a host-side body whatever chain made it.
//!
//! **Cold misses.** Each round, every cold mode is asked for an object nobody asked for
//! before (a fresh `key` in the query) by one client, then for another by
//! [`CacheSettings::clients`] clients at once, while the origin paces its body over about a
//! second. Reported: the one client's TTFB (to its first body byte, which is what a client
//! that streams waits for), the slowest of the concurrent clients', and how many requests
//! reached the origin; beside the same concurrency on an uncached route (what the runtime
//! adds to the slowest of many concurrent requests, cache or not), nginx's
//! `proxy_cache_lock` and Varnish, which answer the same question their own way.
//!
//! **A stale object.** Each round, an object with an `ETag` and `max-age=1`, whose origin
//! takes [`STALE_ORIGIN_DELAY`] to answer (its 304 too), is filled, left to go stale, then
//! asked for by [`CacheSettings::clients`] clients at once: how many requests reach the
//! origin (one conditional request is the target, the others waiting on it).

use std::fmt::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::order::Shuffle;
use super::report::{cell, num, p50, ratio_check, Check};
use super::stats::median;
use super::{Bench, Cell, Mode, Server, Settings, Source, Workload, CACHE_EDGE};
use crate::client;
use crate::origin::compress::{compressed_html, Encoding};
use crate::origin::html_page;

/// The same text as [`HIT_TEXT`], passed through uncached: what a hit is compared with.
pub const UNCACHED_TEXT: Mode = Mode {
    name: "text, uncached",
    server: Server::Edge(CACHE_EDGE),
    prefix: "/origin",
    source: Source::Text,
    accept_encoding: None,
};
pub const HIT_TEXT: Mode = Mode {
    name: "text, cache hit",
    server: Server::Edge(CACHE_EDGE),
    prefix: "/cachepass",
    source: Source::Text,
    accept_encoding: None,
};
/// The chain's origin body passed through uncached.
pub const UNCACHED_GZIP_TEXT: Mode = Mode {
    name: "gzip text, uncached",
    server: Server::Edge(CACHE_EDGE),
    prefix: "/origin",
    source: Source::GzipText,
    accept_encoding: Some("br, gzip"),
};
pub const HIT_CHAIN: Mode = Mode {
    name: "gzip>html>br, cache hit",
    server: Server::Edge(CACHE_EDGE),
    prefix: "/cachechain",
    source: Source::GzipText,
    accept_encoding: Some("br, gzip"),
};
const REFERENCE_NAME: &str = "reference, as many bytes";
/// The Viceroys this part measures.
pub const EDGES: [&str; 2] = ["reference", CACHE_EDGE];

#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// The plain body size of the hit part (and of the validation part's text objects).
    pub size: u64,
    /// The object a range is asked of in the validation part.
    pub range_size: u64,
    pub samples: usize,
    pub downloads: usize,
    pub cold_rounds: usize,
    /// Concurrent clients on one cold object.
    pub clients: usize,
    /// The origin sends the cold objects in ten pieces this far apart.
    pub pace: Duration,
}

/// Who answers a cold miss, and how it is asked.
#[derive(Debug, Clone, Copy)]
pub struct ColdMode {
    pub name: &'static str,
    server: Server,
    /// The route's prefix before the origin's `/html`.
    prefix: &'static str,
    encoding: Option<Encoding>,
    accept_encoding: Option<&'static str>,
    /// firstbyte's edge cache, whose claims these are (the others are its baseline and
    /// peers).
    pub firstbyte: bool,
}

pub const COLD_MODES: [ColdMode; 5] = [
    ColdMode {
        name: "firstbyte cache, passthrough",
        server: Server::Edge(CACHE_EDGE),
        prefix: "/cachepass",
        encoding: None,
        accept_encoding: None,
        firstbyte: true,
    },
    ColdMode {
        name: "firstbyte cache, gzip>html>br",
        server: Server::Edge(CACHE_EDGE),
        prefix: "/cachechain",
        encoding: Some(Encoding::Gzip),
        accept_encoding: Some("br"),
        firstbyte: true,
    },
    // No cache: every client fetches for itself. What the runtime adds to the slowest of
    // many concurrent requests on this machine, cache or not.
    ColdMode {
        name: "firstbyte uncached, passthrough",
        server: Server::Edge(CACHE_EDGE),
        prefix: "/origin",
        encoding: None,
        accept_encoding: None,
        firstbyte: false,
    },
    ColdMode {
        name: "nginx proxy_cache_lock",
        server: Server::Nginx,
        prefix: "/cached",
        encoding: None,
        accept_encoding: None,
        firstbyte: false,
    },
    ColdMode {
        name: "varnish",
        server: Server::Varnish,
        prefix: "",
        encoding: None,
        accept_encoding: None,
        firstbyte: false,
    },
];

/// What one cold mode did over the rounds.
#[derive(Debug, Clone)]
pub struct ColdCell {
    pub mode: ColdMode,
    /// One cold client's TTFB per round, ms.
    pub single_ms: Vec<f64>,
    /// The slowest of the concurrent cold clients' TTFB per round, ms.
    pub slowest_ms: Vec<f64>,
    /// Origin requests per round of concurrent clients.
    pub origin_requests: Vec<u64>,
    /// Responses that were not a complete 200 with the one client's bytes.
    pub broken: usize,
    pub responses: usize,
    /// Viceroy's heap figures for the instances that served this mode (firstbyte only).
    pub heap_mib: Option<f64>,
}

impl ColdCell {
    pub fn single(&self) -> Option<f64> {
        median(&self.single_ms)
    }

    pub fn slowest(&self) -> Option<f64> {
        median(&self.slowest_ms)
    }
}

/// How long the origin takes to answer the stale object, its 304 included: long enough that
/// every client arrives while the one revalidation is on its way.
pub const STALE_ORIGIN_DELAY: Duration = Duration::from_millis(500);

/// What the stale part found over the rounds.
#[derive(Debug, Clone, Default)]
pub struct Stale {
    pub clients: usize,
    /// Origin requests per round of concurrent clients of the stale object.
    pub origin_requests: Vec<u64>,
    /// Responses that were not a complete 200 with the object's bytes.
    pub broken: usize,
    pub responses: usize,
}

/// What the hit part found besides its cells.
#[derive(Debug, Clone)]
pub struct Hits {
    pub workload: String,
    pub cells: Vec<Cell>,
    /// Bytes of the chain's object on the wire, what the reference appends.
    pub chain_bytes: u64,
    /// Both routes answered HIT before and after the samples.
    pub confirmed: bool,
}

impl Bench {
    /// The hit part: fill both routes' objects, confirm they are hits, sample them.
    pub fn cache_hits(
        &self,
        cs: &CacheSettings,
        settings: &Settings,
        shuffle: &mut Shuffle,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Hits, String> {
        let workload = Workload::body(cs.size, cs.samples, cs.downloads);
        progress(&format!("cache: filling the {} objects", workload.name));
        let mut chain_bytes = 0;
        for mode in [HIT_TEXT, HIT_CHAIN] {
            let sample = super::measure::request(
                self.addr(&mode),
                &workload.path(&mode),
                &Self::headers(&mode),
                true,
                settings.timeout,
            )
            .map_err(|e| format!("cache: filling {}: {e}", mode.name))?;
            if mode == HIT_CHAIN {
                chain_bytes = sample.body_bytes;
            }
        }
        let confirmed = self.all_hits(&workload)?;
        let modes = [
            UNCACHED_TEXT,
            HIT_TEXT,
            UNCACHED_GZIP_TEXT,
            HIT_CHAIN,
            reference(chain_bytes),
        ];
        let cells = self.run_modes(&modes, &workload, settings, shuffle, progress);
        let confirmed = confirmed && self.all_hits(&workload)?;
        Ok(Hits {
            workload: workload.name,
            cells,
            chain_bytes,
            confirmed,
        })
    }

    /// Whether both hit modes answer `X-Cache: HIT`.
    fn all_hits(&self, workload: &Workload) -> Result<bool, String> {
        self.wait_until_all_idle();
        let runtime = runtime()?;
        let mut all = true;
        for mode in [HIT_TEXT, HIT_CHAIN] {
            let label = runtime.block_on(async {
                let resp = client::open(
                    self.addr(&mode),
                    "GET",
                    &workload.path(&mode),
                    &Self::headers(&mode),
                )
                .await
                .ok()?;
                resp.headers()
                    .get("x-cache")
                    .and_then(|v| v.to_str().ok())
                    .map(String::from)
            });
            all &= label.as_deref() == Some("HIT");
        }
        self.wait_until_all_idle();
        Ok(all)
    }

    /// The cold part: every mode of [`COLD_MODES`] whose server runs, round after round in
    /// a shuffled order.
    pub fn cache_cold(
        &self,
        cs: &CacheSettings,
        shuffle: &mut Shuffle,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Vec<ColdCell>, String> {
        let runtime = runtime()?;
        let modes: Vec<ColdMode> = COLD_MODES
            .iter()
            .copied()
            .filter(|m| self.serves(m.server))
            .collect();
        let mut cells: Vec<ColdCell> = modes
            .iter()
            .map(|&mode| ColdCell {
                mode,
                single_ms: Vec::new(),
                slowest_ms: Vec::new(),
                origin_requests: Vec::new(),
                broken: 0,
                responses: 0,
                heap_mib: None,
            })
            .collect();
        // Keys no earlier run of these servers can have stored (nginx's cache dir is new
        // each run, but a reused server would not be).
        let run = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        for round in 0..cs.cold_rounds {
            for i in shuffle.order(modes.len()) {
                let mode = modes[i];
                let addr = self.addr_of(mode.server);
                let path = |part: &str| cold_path(&mode, cs.pace, &format!("{run}-{round}-{part}"));
                let headers: Vec<(&str, &str)> = mode
                    .accept_encoding
                    .map(|ae| vec![("accept-encoding", ae)])
                    .unwrap_or_default();
                let heaps_before = self.cache_edge_heaps().len();

                let turn = self.turn_to(mode.server);
                let one = runtime.block_on(clients(addr, &path("one"), &headers, 1));
                self.wait_until_all_idle();
                let before = self.origin.requests();
                let many = runtime.block_on(clients(addr, &path("many"), &headers, cs.clients));
                self.wait_until_all_idle();
                // nginx and Varnish may still be closing their fetch.
                std::thread::sleep(Duration::from_millis(50));
                let fetched = self.origin.requests() - before;
                drop(turn);

                let cell = &mut cells[i];
                let expected = one.first().and_then(|r| r.as_ref().ok()).map(|r| &r.body);
                for r in one.iter().chain(&many) {
                    cell.responses += 1;
                    let good = r
                        .as_ref()
                        .is_ok_and(|r| r.status == 200 && r.complete && Some(&r.body) == expected);
                    if !good {
                        cell.broken += 1;
                    }
                }
                if let Some(t) = one
                    .first()
                    .and_then(|r| r.as_ref().ok())
                    .and_then(|r| r.ttfb)
                {
                    cell.single_ms.push(t);
                }
                let slowest = many
                    .iter()
                    .map(|r| r.as_ref().ok().and_then(|r| r.ttfb))
                    .collect::<Option<Vec<f64>>>()
                    .and_then(|all| all.into_iter().reduce(f64::max));
                cell.slowest_ms.extend(slowest);
                cell.origin_requests.push(fetched);
                if mode.firstbyte {
                    let heaps = self.cache_edge_heaps();
                    cell.heap_mib = heaps
                        .into_iter()
                        .skip(heaps_before)
                        .chain(cell.heap_mib)
                        .reduce(f64::max);
                }
            }
            progress(&format!(
                "cache: cold round {}/{}",
                round + 1,
                cs.cold_rounds
            ));
        }
        Ok(cells)
    }

    /// The stale part: per round, one object filled, left to go stale, then asked for by
    /// `cs.clients` clients at once; the origin requests they cost.
    pub fn cache_stale(
        &self,
        cs: &CacheSettings,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Stale, String> {
        let runtime = runtime()?;
        let addr = self.addr_of(Server::Edge(CACHE_EDGE));
        let run = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let mut stale = Stale {
            clients: cs.clients,
            ..Stale::default()
        };
        for round in 0..cs.cold_rounds {
            let path = stale_path(&format!("{run}-{round}"));
            let turn = self.turn_to(Server::Edge(CACHE_EDGE));
            let filled = runtime.block_on(clients(addr, &path, &[], 1));
            self.wait_until_all_idle();
            // Fresh for a second from the fill's answer, less the origin's time.
            std::thread::sleep(Duration::from_millis(1500));
            let before = self.origin.requests();
            let many = runtime.block_on(clients(addr, &path, &[], cs.clients));
            self.wait_until_all_idle();
            let fetched = self.origin.requests() - before;
            drop(turn);
            let expected = filled
                .first()
                .and_then(|r| r.as_ref().ok())
                .map(|r| &r.body);
            for r in &many {
                stale.responses += 1;
                let good = r
                    .as_ref()
                    .is_ok_and(|r| r.status == 200 && r.complete && Some(&r.body) == expected);
                if !good {
                    stale.broken += 1;
                }
            }
            stale.origin_requests.push(fetched);
            progress(&format!(
                "cache: stale round {}/{}",
                round + 1,
                cs.cold_rounds
            ));
        }
        Ok(stale)
    }

    fn cache_edge_heaps(&self) -> Vec<f64> {
        self.edge(CACHE_EDGE)
            .map(crate::stack::Edge::heaps_mib)
            .unwrap_or_default()
    }
}

/// The paced `/html` the cold mode asks for: ten pieces of what the origin sends, `pace`
/// apart, under a key of its own.
fn cold_path(mode: &ColdMode, pace: Duration, key: &str) -> String {
    let sent = match mode.encoding {
        Some(encoding) => compressed_html(encoding).map_or(0, <[u8]>::len),
        None => html_page().len(),
    };
    let chunk = sent.div_ceil(10).max(1);
    let encoding = match mode.encoding {
        Some(Encoding::Gzip) => "encoding=gzip&",
        Some(Encoding::Deflate) => "encoding=deflate&",
        Some(Encoding::Brotli) => "encoding=br&",
        None => "",
    };
    format!(
        "{}/html?{encoding}chunk_size={chunk}&interval_ms={}&key={key}",
        mode.prefix,
        pace.as_millis()
    )
}

/// The dev origin's validatable text under a key of its own, with an `ETag`, fresh for a
/// second, answered after [`STALE_ORIGIN_DELAY`].
fn stale_path(key: &str) -> String {
    format!(
        "/cachepass/text/4096?cache_control=max-age%3D1&delay_ms={}&key={key}",
        STALE_ORIGIN_DELAY.as_millis()
    )
}

/// One client's cold response: its TTFB (request sent → first body byte, ms).
struct Cold {
    status: u16,
    complete: bool,
    body: Vec<u8>,
    ttfb: Option<f64>,
}

/// `n` clients asking for `path` at once, each on its own connection.
async fn clients(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    n: usize,
) -> Vec<Result<Cold, String>> {
    let owned: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let path = path.to_string();
            let owned = owned.clone();
            tokio::spawn(async move {
                let headers: Vec<(&str, &str)> = owned
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let start = Instant::now();
                let r = client::timed(addr, &path, &headers)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Cold {
                    status: r.status,
                    complete: r.complete,
                    ttfb: r.first_byte.map(|t| (t - start).as_secs_f64() * 1000.0),
                    body: r.body,
                })
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for task in tasks {
        out.push(task.await.map_err(|e| e.to_string()).and_then(|r| r));
    }
    out
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))
}

/// The hit part's table: each mode's TTFB beside the uncached passthrough of the same body,
/// time to last byte, heap.
pub fn hits_table(hits: &Hits) -> String {
    let w = hits.workload.as_str();
    let mut out = format!(
        "| cache hit, {w} of text | mode | TTFB p50 ms | p90 | p99 | p50 × uncached | last byte ms | Wasm heap MiB |\n\
         |---|---|---:|---:|---:|---:|---:|---:|\n"
    );
    for c in &hits.cells {
        if c.failed() {
            let _ = writeln!(
                out,
                "| {w} | {} | **failed** ({} of {} requests) | | | | | |",
                c.mode.name, c.failures, c.attempts
            );
            continue;
        }
        let against = match c.mode {
            m if m == HIT_TEXT => Some(UNCACHED_TEXT),
            m if m == HIT_CHAIN => Some(UNCACHED_GZIP_TEXT),
            _ => None,
        };
        let ratio = match against.map(|m| p50(&hits.cells, m, w)) {
            Some(Some(d)) if d > 0.0 => num(c.ttfb.map(|s| s.p50 / d), 2),
            _ => "–".into(),
        };
        let name = if c.mode.name == REFERENCE_NAME {
            format!("{} ({} B)", c.mode.name, hits.chain_bytes)
        } else {
            c.mode.name.to_string()
        };
        let _ = writeln!(
            out,
            "| {w} | {name} | {} | {} | {} | {ratio} | {} | {} |",
            num(c.ttfb.map(|s| s.p50), 2),
            num(c.ttfb.map(|s| s.p90), 2),
            num(c.ttfb.map(|s| s.p99), 2),
            num(c.ttlb_ms, 1),
            num(c.heap_mib, 1),
        );
    }
    out
}

/// The cold part's table.
pub fn cold_table(cells: &[ColdCell], clients: usize) -> String {
    let mut out = format!(
        "| cold miss | mode | one client: TTFB ms | {clients} clients: slowest TTFB ms | × one client | origin requests per {clients} clients | broken responses | Wasm heap MiB |\n\
         |---|---|---:|---:|---:|---:|---:|---:|\n"
    );
    for c in cells {
        let ratio = match (c.slowest(), c.single()) {
            (Some(n), Some(d)) if d > 0.0 => format!("{:.2}", n / d),
            _ => "–".into(),
        };
        let fetches = match (
            c.origin_requests.iter().min(),
            c.origin_requests.iter().max(),
        ) {
            (Some(lo), Some(hi)) if lo == hi => lo.to_string(),
            (Some(lo), Some(hi)) => format!("{lo}–{hi}"),
            _ => "–".into(),
        };
        let _ = writeln!(
            out,
            "| {} rounds | {} | {} | {} | {ratio} | {fetches} | {} of {} | {} |",
            c.single_ms.len(),
            c.mode.name,
            num(c.single(), 1),
            num(c.slowest(), 1),
            c.broken,
            c.responses,
            num(c.heap_mib, 1),
        );
    }
    out
}

/// The stale part's table.
pub fn stale_table(stale: &Stale) -> String {
    let n = stale.clients;
    let fetches = match (
        stale.origin_requests.iter().min(),
        stale.origin_requests.iter().max(),
    ) {
        (Some(lo), Some(hi)) if lo == hi => lo.to_string(),
        (Some(lo), Some(hi)) => format!("{lo}–{hi}"),
        _ => "–".into(),
    };
    format!(
        "| stale object with an ETag | mode | origin requests per {n} clients | broken responses |\n\
         |---|---|---:|---:|\n\
         | {} rounds, origin {} ms | firstbyte cache, passthrough | {fetches} | {} of {} |\n",
        stale.origin_requests.len(),
        STALE_ORIGIN_DELAY.as_millis(),
        stale.broken,
        stale.responses,
    )
}

/// The stale part's claim: one revalidation for every concurrent client.
pub fn stale_check(stale: &Stale) -> Check {
    let most = stale.origin_requests.iter().max();
    Check {
        claim: format!(
            "{} concurrent clients of a stale object with an ETag cost 1 origin request (its revalidation), every round, every response complete and identical",
            stale.clients
        ),
        measured: match most {
            Some(m) if stale.broken == 0 => format!("at most {m}"),
            Some(m) => format!("at most {m}; {} broken responses", stale.broken),
            None => "not measured".into(),
        },
        holds: most == Some(&1) && stale.broken == 0,
    }
}

/// What the edge cache is claimed to do, on this run: hits as fast as the same body passed
/// through uncached, one origin request for many cold clients, a heap within 4 MiB.
pub fn checks(hits: &Hits, cold: &[ColdCell], clients: usize) -> Vec<Check> {
    let w = hits.workload.as_str();
    let confirmed = |mut check: Check| {
        if !hits.confirmed {
            check.measured = format!("{} (a hit mode did not answer HIT)", check.measured);
            check.holds = false;
        }
        check
    };
    let mut out = vec![
        confirmed(ratio_check(
            format!("cache hit p50 TTFB ≤ 1.0 × the same text passed through uncached ({w})"),
            p50(&hits.cells, HIT_TEXT, w),
            p50(&hits.cells, UNCACHED_TEXT, w),
            |r| r <= 1.0,
        )),
        confirmed(ratio_check(
            format!(
                "cache hit of gzip>html>br, p50 TTFB ≤ 1.0 × its gzip text passed through uncached ({w})"
            ),
            p50(&hits.cells, HIT_CHAIN, w),
            p50(&hits.cells, UNCACHED_GZIP_TEXT, w),
            |r| r <= 1.0,
        )),
        confirmed(ratio_check(
            format!(
                "cache hit of gzip>html>br, throughput ≥ 0.9 × the reference app appending as many bytes ({} B; reference's last byte ÷ the hit's)",
                hits.chain_bytes
            ),
            cell(&hits.cells, reference(hits.chain_bytes), w).and_then(|c| c.ttlb_ms),
            cell(&hits.cells, HIT_CHAIN, w).and_then(|c| c.ttlb_ms),
            |r| r >= 0.9,
        )),
    ];
    let firstbyte: Vec<&ColdCell> = cold.iter().filter(|c| c.mode.firstbyte).collect();
    let most = firstbyte
        .iter()
        .flat_map(|c| c.origin_requests.iter().copied())
        .max();
    let broken: usize = firstbyte.iter().map(|c| c.broken).sum();
    out.push(Check {
        claim: format!(
            "{clients} concurrent cold clients cost 1 origin request, every round (firstbyte cache, both routes), every response complete and identical"
        ),
        measured: match most {
            Some(m) if broken == 0 => format!("at most {m}"),
            Some(m) => format!("at most {m}; {broken} broken responses"),
            None => "not measured".into(),
        },
        holds: most == Some(1) && broken == 0 && firstbyte.len() == 2,
    });
    for c in &firstbyte {
        out.push(ratio_check(
            format!(
                "{clients} concurrent cold clients: slowest TTFB ≤ 1.25 × one cold client's ({})",
                c.mode.name
            ),
            c.slowest(),
            c.single(),
            |r| r <= 1.25,
        ));
    }
    let heap = hits
        .cells
        .iter()
        .filter(|c| c.mode == HIT_TEXT || c.mode == HIT_CHAIN)
        .filter_map(|c| c.heap_mib)
        .chain(firstbyte.iter().filter_map(|c| c.heap_mib))
        .reduce(f64::max);
    out.push(Check {
        claim: format!(
            "WebAssembly heap ≤ 4 MiB through the cache: hits of {w}, cold misses and collapsed misses"
        ),
        measured: heap.map_or("not measured".into(), |h| format!("{h:.1} MiB")),
        holds: heap.is_some_and(|h| h <= 4.0),
    });
    out
}

/// The reference app appending as many bytes as the chain's object holds.
fn reference(chain_bytes: u64) -> Mode {
    Mode {
        name: REFERENCE_NAME,
        server: Server::Edge("reference"),
        prefix: "",
        source: Source::BytesOf(chain_bytes),
        accept_encoding: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cold_object_has_its_own_key_and_is_paced_in_ten_pieces() {
        let pace = Duration::from_millis(100);
        let mut paths: Vec<String> = COLD_MODES
            .iter()
            .flat_map(|m| ["1-one", "1-many"].map(|k| cold_path(m, pace, k)))
            .collect();
        for p in &paths {
            assert!(p.contains("interval_ms=100&"), "{p}");
        }
        assert!(cold_path(&COLD_MODES[1], pace, "k").starts_with("/cachechain/html?encoding=gzip&"));
        let chunk = |p: &str| -> usize {
            p.split("chunk_size=")
                .nth(1)
                .and_then(|r| r.split('&').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        assert_eq!(chunk(&paths[0]), html_page().len().div_ceil(10));
        assert!(
            chunk(&paths[2]) < chunk(&paths[0]),
            "the gzip'd page is smaller"
        );
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), COLD_MODES.len() * 2);
        assert_eq!(COLD_MODES.iter().filter(|m| m.firstbyte).count(), 2);
    }
}
