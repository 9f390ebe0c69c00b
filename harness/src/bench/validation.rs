//! The edge cache answering from what it stores without a body's worth of work, on the
//! Viceroy of [`CACHE_EDGE`], beside nginx (`proxy_cache`, `proxy_cache_revalidate on`) and
//! Varnish answering the same questions from their caches:
//!
//! - **range**: the last 1 KiB of a cached 1 GiB object, beside a full hit of it;
//! - **304**: a client's `If-None-Match` on a cached object, beside a full hit of it;
//! - **revalidation**: a gzip>html>br object on a route whose `cache_ttl` is 0, so every
//!   request revalidates it with the origin (which answers 304: no body is sent, none is
//!   transformed), beside a hit of the same chain's object;
//! - **a filler that reads nothing**: a client asks for a cold object and reads nothing,
//!   then [`CacheSettings::clients`] clients ask for it too; each must complete, the slowest
//!   within 1.2 × the time one client takes to fetch the same body uncached.
//!
//! Every probe is sampled in turn, in a shuffled order each round, with the other Viceroys
//! held (see [`Bench::turn_to`]), as the other parts are.

use std::fmt::Write;
use std::io::Write as _;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::cache::CacheSettings;
use super::measure::request;
use super::order::Shuffle;
use super::report::{num, ratio_check, Check};
use super::stats::{median, summarize, Summary};
use super::{Bench, Server, CACHE_EDGE};
use crate::origin::dev_etag;

/// One question asked of one server.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The group the probe is compared within: `range`, `304` or `revalidation`.
    pub group: &'static str,
    pub name: String,
    pub server: Server,
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    /// The status the answer must have.
    pub status: u16,
    /// The `X-Cache` it must carry, when that is what is measured.
    pub label: Option<&'static str>,
    /// What the group's other probes are measured against.
    pub baseline: bool,
}

/// What one probe measured.
#[derive(Debug, Clone)]
pub struct ProbeCell {
    pub probe: Probe,
    pub ttfb: Option<Summary>,
    pub attempts: usize,
    /// Answers with another status or label than the probe's.
    pub wrong: usize,
}

/// The filler-reads-nothing figure, per round.
#[derive(Debug, Clone, Default)]
pub struct IdleFiller {
    /// One client fetching the same body uncached: time to its last byte, ms.
    pub uncached_ms: Vec<f64>,
    /// The slowest of the clients behind a filler that reads nothing: time to last byte, ms.
    pub slowest_ms: Vec<f64>,
    pub incomplete: usize,
    pub responses: usize,
}

#[derive(Debug, Clone)]
pub struct Validation {
    pub cells: Vec<ProbeCell>,
    pub idle: IdleFiller,
    pub clients: usize,
    pub range_size: u64,
    pub text_size: u64,
}

/// The probes of a run, for the servers that run.
pub fn probes(range_size: u64, text_size: u64, peers: &[Server]) -> Vec<Probe> {
    let bytes = format!("/bytes/{range_size}");
    let text = format!("/text/{text_size}");
    let etag = dev_etag(&text);
    let mut out = Vec::new();
    let mut pair = |server: Server, label: &'static str, prefix: &str| {
        let name = |what: &str| format!("{label}, {what}");
        out.push(Probe {
            group: "range",
            name: name("hit"),
            server,
            path: format!("{prefix}{bytes}"),
            headers: vec![],
            status: 200,
            label: None,
            baseline: true,
        });
        out.push(Probe {
            group: "range",
            name: name("last 1 KiB"),
            server,
            path: format!("{prefix}{bytes}"),
            headers: vec![("range", "bytes=-1024".into())],
            status: 206,
            label: None,
            baseline: false,
        });
        out.push(Probe {
            group: "304",
            name: name("hit"),
            server,
            path: format!("{prefix}{text}"),
            headers: vec![],
            status: 200,
            label: None,
            baseline: true,
        });
        out.push(Probe {
            group: "304",
            name: name("If-None-Match"),
            server,
            path: format!("{prefix}{text}"),
            headers: vec![("if-none-match", etag.clone())],
            status: 304,
            label: None,
            baseline: false,
        });
    };
    pair(Server::Edge(CACHE_EDGE), "firstbyte", "/cachepass");
    for peer in peers {
        match peer {
            Server::Nginx => pair(Server::Nginx, "nginx", "/cached"),
            Server::Varnish => pair(Server::Varnish, "varnish", ""),
            _ => {}
        }
    }
    let chain = format!("{text}?encoding=gzip");
    let br = || vec![("accept-encoding", "br, gzip".to_string())];
    out.push(Probe {
        group: "revalidation",
        name: "firstbyte, gzip>html>br hit".into(),
        server: Server::Edge(CACHE_EDGE),
        path: format!("/cachechain{chain}"),
        headers: br(),
        status: 200,
        label: Some("HIT"),
        baseline: true,
    });
    out.push(Probe {
        group: "revalidation",
        name: "firstbyte, gzip>html>br revalidated (origin: 304)".into(),
        server: Server::Edge(CACHE_EDGE),
        path: format!("/cachereval{chain}"),
        headers: br(),
        status: 200,
        label: Some("REVALIDATED"),
        baseline: false,
    });
    out
}

impl Bench {
    /// The validation part: fills every probe's object, samples every probe, then the
    /// filler-reads-nothing rounds.
    pub fn cache_validation(
        &self,
        cs: &CacheSettings,
        samples: usize,
        shuffle: &mut Shuffle,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Validation, String> {
        let peers: Vec<Server> = [Server::Nginx, Server::Varnish]
            .into_iter()
            .filter(|s| self.serves(*s))
            .collect();
        let probes = probes(cs.range_size, cs.size, &peers);
        let timeout = Duration::from_secs(120);
        progress("cache validation: filling the objects");
        for probe in probes.iter().filter(|p| p.baseline) {
            let headers = pairs(&probe.headers);
            request(
                self.addr_of(probe.server),
                &probe.path,
                &headers,
                true,
                timeout,
            )
            .map_err(|e| format!("cache validation: filling {}: {e}", probe.name))?;
            self.wait_until_all_idle();
        }
        // The revalidating route's object, stored once (and every request revalidates it).
        if let Some(reval) = probes.iter().find(|p| p.label == Some("REVALIDATED")) {
            let headers = pairs(&reval.headers);
            request(
                self.addr_of(reval.server),
                &reval.path,
                &headers,
                true,
                timeout,
            )
            .map_err(|e| format!("cache validation: filling {}: {e}", reval.name))?;
            self.wait_until_all_idle();
        }
        let mut ttfb: Vec<Vec<Duration>> = vec![Vec::new(); probes.len()];
        let mut wrong = vec![0usize; probes.len()];
        for round in 0..samples {
            for i in shuffle.order(probes.len()) {
                let probe = &probes[i];
                let _turn = self.turn_to(probe.server);
                let headers = pairs(&probe.headers);
                match request(
                    self.addr_of(probe.server),
                    &probe.path,
                    &headers,
                    false,
                    timeout,
                ) {
                    Ok(s)
                        if s.status == probe.status
                            && probe.label.is_none_or(|l| s.x_cache == Some(l)) =>
                    {
                        ttfb[i].push(s.ttfb)
                    }
                    _ => wrong[i] += 1,
                }
            }
            if (round + 1) % 25 == 0 || round + 1 == samples {
                progress(&format!("cache validation: round {}/{samples}", round + 1));
            }
        }
        let cells = probes
            .into_iter()
            .zip(ttfb.iter().zip(wrong))
            .map(|(probe, (t, wrong))| ProbeCell {
                probe,
                ttfb: summarize(t),
                attempts: samples,
                wrong,
            })
            .collect();
        let idle = self.idle_filler(cs, shuffle, progress)?;
        Ok(Validation {
            cells,
            idle,
            clients: cs.clients,
            range_size: cs.range_size,
            text_size: cs.size,
        })
    }

    /// Round after round: one client fetches an 8 MiB body paced over about 1.6 s through
    /// the uncached route; then a client asks the passthrough cache route for a cold object
    /// of the same body and reads nothing, and `clients` clients ask for it too.
    fn idle_filler(
        &self,
        cs: &CacheSettings,
        shuffle: &mut Shuffle,
        progress: &mut dyn FnMut(&str),
    ) -> Result<IdleFiller, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("tokio runtime: {e}"))?;
        let addr = self.addr_of(Server::Edge(CACHE_EDGE));
        let body = "/stream-bytes/8388608?chunk_size=262144&interval_ms=50";
        let run = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let mut out = IdleFiller::default();
        for round in 0..cs.cold_rounds {
            let _turn = self.turn_to(Server::Edge(CACHE_EDGE));
            // Alternate which goes first, so neither always follows the other.
            let order = shuffle.order(2);
            for which in order {
                if which == 0 {
                    let path = format!("/origin{body}&key=idle-{run}-{round}-uncached");
                    let started = Instant::now();
                    let r = runtime.block_on(crate::client::timed(addr, &path, &[]));
                    match r {
                        Ok(r) if r.complete => out
                            .uncached_ms
                            .push((r.done - started).as_secs_f64() * 1000.0),
                        _ => out.incomplete += 1,
                    }
                    out.responses += 1;
                    continue;
                }
                let path = format!("/cachepass{body}&key=idle-{run}-{round}");
                let mut idle = TcpStream::connect(addr).map_err(|e| format!("idle filler: {e}"))?;
                let head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
                idle.write_all(head.as_bytes())
                    .map_err(|e| format!("idle filler: {e}"))?;
                std::thread::sleep(Duration::from_millis(50));
                let started = Instant::now();
                let results = runtime.block_on(async {
                    let tasks: Vec<_> = (0..cs.clients)
                        .map(|_| {
                            let path = path.clone();
                            tokio::spawn(
                                async move { crate::client::timed(addr, &path, &[]).await },
                            )
                        })
                        .collect();
                    let mut done = Vec::new();
                    for t in tasks {
                        done.push(t.await);
                    }
                    done
                });
                let mut slowest: Option<f64> = None;
                for r in results {
                    out.responses += 1;
                    match r {
                        Ok(Ok(r)) if r.complete && r.status == 200 => {
                            let ms = (r.done - started).as_secs_f64() * 1000.0;
                            slowest = Some(slowest.map_or(ms, |s: f64| s.max(ms)));
                        }
                        _ => out.incomplete += 1,
                    }
                }
                out.slowest_ms.extend(slowest);
                drop(idle);
            }
            progress(&format!(
                "cache validation: idle filler round {}/{}",
                round + 1,
                cs.cold_rounds
            ));
        }
        Ok(out)
    }
}

fn pairs<'a>(headers: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    headers.iter().map(|(n, v)| (*n, v.as_str())).collect()
}

fn group_baseline<'a>(cells: &'a [ProbeCell], cell: &ProbeCell) -> Option<&'a ProbeCell> {
    let server_prefix = |c: &ProbeCell| c.probe.name.split(',').next().map(str::to_string);
    cells.iter().find(|c| {
        c.probe.baseline
            && c.probe.group == cell.probe.group
            && server_prefix(c) == server_prefix(cell)
    })
}

/// The part's table: each probe's TTFB beside its group's full hit on the same server.
pub fn table(v: &Validation) -> String {
    let mut out = String::from(
        "| cache validation | probe | status | TTFB p50 ms | p90 | p99 | p50 × hit | wrong answers |\n\
         |---|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for c in &v.cells {
        let ratio = match (c.ttfb, group_baseline(&v.cells, c).and_then(|b| b.ttfb)) {
            (Some(t), Some(b)) if !c.probe.baseline && b.p50 > 0.0 => {
                format!("{:.2}", t.p50 / b.p50)
            }
            _ => "–".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {ratio} | {} of {} |",
            c.probe.group,
            c.probe.name,
            c.probe.status,
            num(c.ttfb.map(|s| s.p50), 2),
            num(c.ttfb.map(|s| s.p90), 2),
            num(c.ttfb.map(|s| s.p99), 2),
            c.wrong,
            c.attempts,
        );
    }
    let i = &v.idle;
    let _ = writeln!(
        out,
        "\n| a filler that reads nothing, {} clients | rounds | uncached, one client: last byte ms | behind the filler: slowest last byte ms | × uncached | incomplete responses |\n\
         |---|---:|---:|---:|---:|---:|\n\
         | 8 MiB paced over 1.6 s | {} | {} | {} | {} | {} of {} |",
        v.clients,
        i.slowest_ms.len(),
        num(median(&i.uncached_ms), 1),
        num(median(&i.slowest_ms), 1),
        match (median(&i.slowest_ms), median(&i.uncached_ms)) {
            (Some(n), Some(d)) if d > 0.0 => format!("{:.2}", n / d),
            _ => "–".into(),
        },
        i.incomplete,
        i.responses,
    );
    out
}

fn p50_of(v: &Validation, name: &str) -> Option<f64> {
    v.cells
        .iter()
        .find(|c| c.probe.name == name && c.wrong == 0)
        .and_then(|c| c.ttfb)
        .map(|s| s.p50)
}

/// What the cache is claimed to do on this run.
pub fn checks(v: &Validation) -> Vec<Check> {
    let size = |n: u64| format!("{} MiB", n >> 20);
    let mut out = vec![
        ratio_check(
            format!(
                "range hit (the last 1 KiB of a cached {} object) p50 TTFB ≤ 1.0 × a full hit's",
                size(v.range_size)
            ),
            p50_of(v, "firstbyte, last 1 KiB"),
            p50_of(v, "firstbyte, hit"),
            |r| r <= 1.0,
        ),
        ratio_check(
            format!(
                "304 from the cache (If-None-Match on a cached {} object) p50 TTFB ≤ 1.0 × a hit's",
                size(v.text_size)
            ),
            p50_of(v, "firstbyte, If-None-Match"),
            p50_of(v, "firstbyte, hit"),
            |r| r <= 1.0,
        ),
    ];
    let reval = v
        .cells
        .iter()
        .find(|c| c.probe.label == Some("REVALIDATED"));
    let mut check = ratio_check(
        format!(
            "revalidated {} gzip>html>br object (the origin answers 304, sends no body): p50 TTFB ≤ 1.1 × a hit's",
            size(v.text_size)
        ),
        p50_of(v, "firstbyte, gzip>html>br revalidated (origin: 304)"),
        p50_of(v, "firstbyte, gzip>html>br hit"),
        |r| r <= 1.1,
    );
    if let Some(c) = reval.filter(|c| c.wrong > 0) {
        check.measured = format!("{} ({} answers not REVALIDATED)", check.measured, c.wrong);
        check.holds = false;
    }
    out.push(check);
    let i = &v.idle;
    let mut idle = ratio_check(
        format!(
            "{} clients behind a filler that reads nothing all complete, the slowest within 1.2 × one uncached client's time",
            v.clients
        ),
        median(&i.slowest_ms),
        median(&i.uncached_ms),
        |r| r <= 1.2,
    );
    if i.incomplete > 0 {
        idle.measured = format!("{}; {} incomplete", idle.measured, i.incomplete);
        idle.holds = false;
    }
    out.push(idle);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_group_has_a_baseline_on_each_server() {
        let probes = probes(1 << 30, 64 << 20, &[Server::Nginx, Server::Varnish]);
        assert_eq!(probes.len(), 3 * 4 + 2);
        let cells: Vec<ProbeCell> = probes
            .into_iter()
            .map(|probe| ProbeCell {
                probe,
                ttfb: None,
                attempts: 0,
                wrong: 0,
            })
            .collect();
        for c in &cells {
            let base = group_baseline(&cells, c).expect("a baseline");
            assert_eq!(base.probe.group, c.probe.group);
            assert!(base.probe.baseline);
        }
        let inm = cells
            .iter()
            .find(|c| c.probe.name == "firstbyte, If-None-Match")
            .expect("the 304 probe");
        assert_eq!(inm.probe.headers[0].1, dev_etag("/text/67108864"));
    }
}
