//! `bench [--smoke] [--scale F] [--sizes B,B,...] [--settle-ms MS] [--load-seconds S]
//! [--load-rounds N] [--cache-size B] [--cache-rounds N] [--parts ttfb,load,cache] [--readme]`
//!
//! Starts the dev origin, the Viceroys of `bench::EDGES` (reference, firstbyte, buffered,
//! firstbyte with instance reuse, firstbyte with 100 routes, firstbyte with its edge cache)
//! and nginx and Varnish when installed, on free ports; measures every mode on every
//! workload in one run, then the load workload, then the edge cache's;
//! writes target/bench/results.md and two SVG charts; with --readme also puts the tables
//! into README.md between the bench markers and the charts into docs/bench/. Needs the
//! release wasm builds (`make bench` does them). Everything it started stops when it ends.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use firstbyte_harness::bench::cache::{self, CacheSettings};
use firstbyte_harness::bench::load::LoadSettings;
use firstbyte_harness::bench::order::{Shuffle, SEED};
use firstbyte_harness::bench::report::{
    charts, checks, checks_markdown, load_checks, load_table, splice_readme, table,
};
use firstbyte_harness::bench::{human_size, priority, stages, Bench, Kind, Settings, Workload};
use firstbyte_harness::stack::repo_root;

const USAGE: &str = "usage: bench [--smoke] [--scale F] [--sizes B,B,...] [--settle-ms MS] \
                     [--load-seconds S] [--load-rounds N] [--cache-size B] [--cache-rounds N] \
                     [--parts ttfb,load,cache] [--readme]";

struct Args {
    settings: Settings,
    /// The TTFB and throughput workloads run (`--parts`).
    ttfb: bool,
    /// `None` with `--load-seconds 0` or without `load` in `--parts`.
    load: Option<LoadSettings>,
    /// `None` with `--cache-size 0` or without `cache` in `--parts`.
    cache: Option<CacheSettings>,
    readme: bool,
    smoke: bool,
}

fn positive_count(name: &str, v: &str) -> Result<usize, String> {
    v.parse()
        .ok()
        .filter(|r: &usize| *r > 0)
        .ok_or(format!("{name}: '{v}' is not a positive count"))
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut smoke = false;
    let mut scale = 1.0f64;
    let mut sizes: Option<Vec<u64>> = None;
    let mut readme = false;
    let mut settle_ms = 10;
    let mut load_seconds: Option<f64> = None;
    let mut load_rounds: Option<usize> = None;
    let mut cache_size: Option<u64> = None;
    let mut cache_rounds: Option<usize> = None;
    let mut parts = vec!["ttfb".to_string(), "load".into(), "cache".into()];
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--cache-size" => {
                let v = value("--cache-size")?;
                cache_size = Some(
                    v.parse()
                        .map_err(|_| format!("--cache-size: '{v}' is not a byte count"))?,
                )
            }
            "--cache-rounds" => {
                cache_rounds = Some(positive_count("--cache-rounds", &value("--cache-rounds")?)?)
            }
            "--parts" => {
                parts = value("--parts")?
                    .split(',')
                    .map(|p| match p.trim() {
                        part @ ("ttfb" | "load" | "cache") => Ok(part.to_string()),
                        other => Err(format!("--parts: '{other}' is not ttfb, load or cache")),
                    })
                    .collect::<Result<_, _>>()?
            }
            "--load-seconds" => {
                let v = value("--load-seconds")?;
                load_seconds = Some(
                    v.parse()
                        .ok()
                        .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                        .ok_or(format!("--load-seconds: '{v}' is not a number of seconds"))?,
                )
            }
            "--load-rounds" => {
                load_rounds = Some(positive_count("--load-rounds", &value("--load-rounds")?)?)
            }
            "--smoke" => smoke = true,
            "--readme" => readme = true,
            "--scale" => {
                let v = value("--scale")?;
                scale = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| *s > 0.0)
                    .ok_or(format!("--scale: '{v}' is not a positive number"))?
            }
            "--settle-ms" => {
                let v = value("--settle-ms")?;
                settle_ms = v
                    .parse()
                    .map_err(|_| format!("--settle-ms: '{v}' is not a number"))?
            }
            "--sizes" => {
                sizes = Some(
                    value("--sizes")?
                        .split(',')
                        .map(|s| {
                            s.trim()
                                .parse::<u64>()
                                .map_err(|_| format!("--sizes: '{s}' is not a byte count"))
                        })
                        .collect::<Result<_, _>>()?,
                )
            }
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unexpected argument '{other}'\n{USAGE}")),
        }
    }
    let scaled = |n: usize| ((n as f64 * scale).round() as usize).max(1);
    let mut workloads: Vec<Workload> = match (&sizes, smoke) {
        (Some(sizes), _) => sizes
            .iter()
            .map(|&s| Workload::body(s, scaled(50), scaled(2)))
            .collect(),
        (None, true) => vec![
            Workload::body(1 << 10, 3, 1),
            Workload::body(64 << 10, 3, 1),
        ],
        // A TTFB sample reads only the response head, so large bodies cost no more per
        // sample than small ones: every size gets enough for a steady p50. With 10 at 1 GiB,
        // the replace chain's ratio to its passthrough read 1.82 in one run and 0.99 in an
        // interleaved rerun of 80 samples.
        (None, false) => vec![
            Workload::body(1 << 10, scaled(200), scaled(20)),
            Workload::body(1 << 20, scaled(100), scaled(10)),
            Workload::body(64 << 20, scaled(100), scaled(3)),
            Workload::body(1 << 30, scaled(100), scaled(3)),
        ],
    };
    if workloads.len() < 2 {
        return Err(
            "at least two body sizes are needed (the smallest and largest are compared)".into(),
        );
    }
    let (events, interval_ms, delay_ms) = if smoke { (3, 50, 200) } else { (20, 100, 1000) };
    workloads.push(Workload {
        name: format!("SSE {events}×{interval_ms} ms"),
        kind: Kind::Events {
            events,
            interval_ms,
        },
        // A sample hangs up after the head, and its instance ends at the next event it
        // cannot send (100 ms): cheap enough for a p50 that 5 samples could not steady
        // (the chains' worst ratio, on this workload, swung by 0.3 between runs).
        samples: if smoke { 1 } else { scaled(40) },
        downloads: if smoke { 1 } else { scaled(2) },
    });
    workloads.push(Workload {
        name: format!("origin waits {delay_ms} ms"),
        kind: Kind::SlowOrigin { delay_ms },
        samples: if smoke { 1 } else { scaled(3) },
        // One full request per mode: it is where the heap figure comes from.
        downloads: 1,
    });
    // Load: 5 s per mode and body size in five 1 s slices; the smoke run a fifth of a
    // second each, in one round.
    let load_seconds = load_seconds.unwrap_or(if smoke { 0.2 } else { 5.0 });
    let rounds = load_rounds.unwrap_or(if smoke { 1 } else { 5 });
    let part = |name: &str| parts.iter().any(|p| p == name);
    let load = (load_seconds > 0.0 && part("load")).then(|| LoadSettings {
        sizes: vec![1 << 10, 64 << 10],
        concurrency: 16,
        rounds,
        slice: Duration::from_secs_f64(load_seconds / rounds as f64),
        timeout: Duration::from_secs(30),
    });
    // Hits of 64 MiB (the chain's object fills in about 6 s); cold objects the origin sends
    // over about a second, asked for by 16 clients at once, in 5 rounds.
    let cache_size = cache_size.unwrap_or(if smoke { 1 << 20 } else { 64 << 20 });
    let cache = (cache_size > 0 && part("cache")).then(|| CacheSettings {
        size: cache_size,
        samples: if smoke { 3 } else { scaled(100) },
        downloads: if smoke { 1 } else { scaled(3) },
        cold_rounds: cache_rounds.unwrap_or(if smoke { 1 } else { 5 }),
        clients: 16,
        pace: Duration::from_millis(if smoke { 20 } else { 100 }),
    });
    if readme && parts.len() < 3 {
        return Err("--readme needs every part: the README's tables are one run's".into());
    }
    Ok(Args {
        ttfb: part("ttfb"),
        cache,
        settings: Settings {
            workloads,
            timeout: Duration::from_secs(180),
            settle: Duration::from_millis(settle_ms),
        },
        load,
        readme,
        smoke,
    })
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<ExitCode, String> {
    let started = Instant::now();
    let mut say = |msg: &str| eprintln!("bench [{:>6.1}s] {msg}", started.elapsed().as_secs_f64());
    say(
        "starting the dev origin, nginx and Varnish; each part then starts the Viceroys it \
         measures (reference, firstbyte, buffered, firstbyte reuse, firstbyte 100 routes, \
         firstbyte cache) and stops the others",
    );
    let mut bench = Bench::start(&mut say)?;
    let s = &args.settings;
    // Each part starts its Viceroys first, then raises this thread alone for its
    // measuring, and drops back before the next part starts servers: a server started from
    // a raised thread would inherit the raise (a SCHED_FIFO Viceroy starves nginx), while
    // the client measuring them must be the one that gets the CPU when it is ready.
    let obtained = priority::raise().obtained;
    if obtained == priority::Obtained::Unchanged {
        say(&format!(
            "NOTICE: {}: on a busy machine the client's own waits for the CPU show up in the \
             figures",
            obtained.describe()
        ));
    } else {
        say(&obtained.describe());
    }
    let mut shuffle = Shuffle::new(SEED);
    let mut cells = Vec::new();
    if args.ttfb {
        bench.use_edges(&Bench::edges_of(&bench.modes))?;
        let _raised = priority::raise();
        for workload in &s.workloads {
            cells.extend(bench.run(workload, s, &mut shuffle, &mut say));
        }
    }
    let load_cells = match &args.load {
        Some(load) => {
            bench.use_edges(&Bench::edges_of(&bench.load_modes))?;
            let _raised = priority::raise();
            bench.load(load, &mut shuffle, &mut say)?
        }
        None => Vec::new(),
    };
    let cache_results = match &args.cache {
        Some(cs) => {
            bench.use_edges(&cache::EDGES)?;
            let _raised = priority::raise();
            let hits = bench.cache_hits(cs, s, &mut shuffle, &mut say)?;
            let cold = bench.cache_cold(cs, &mut shuffle, &mut say)?;
            Some((cs.clients, hits, cold))
        }
        None => None,
    };
    // Back at the ordinary priority (each part dropped its raise), so the stage benchmarks
    // do not inherit it; the servers are stopped so they do not compete.
    let modes = bench.modes.clone();
    let firstbyte_reuse_ms = bench.firstbyte_reuse_ms.clone();
    drop(bench);
    let stage_rows = if args.smoke || !args.ttfb {
        Vec::new()
    } else {
        say("stage throughput, natively and in wasm (benches/stage_throughput.rs)");
        stages::measure()?
    };
    say("done measuring");

    let sizes: Vec<u64> = s.workloads.iter().filter_map(Workload::size).collect();
    let small = human_size(sizes.iter().copied().min().unwrap_or(0));
    let large = human_size(sizes.iter().copied().max().unwrap_or(0));
    let mut checks = if args.ttfb {
        checks(&cells, &small, &large)
    } else {
        Vec::new()
    };
    if let Some(load) = &args.load {
        let small = human_size(load.sizes.iter().copied().min().unwrap_or(0));
        checks.extend(load_checks(
            &load_cells,
            &small,
            firstbyte_reuse_ms.as_deref(),
        ));
    }
    if let Some((clients, hits, cold)) = &cache_results {
        checks.extend(cache::checks(hits, cold, *clients));
    }
    if !stage_rows.is_empty() {
        checks.extend(stages::checks(&stage_rows));
    }
    let when = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .unwrap_or_default();
    let load_caption = match &args.load {
        Some(load) => format!(
            " load = {} keep-alive connections per mode, each sending its next request once the \
             last body has ended, for {:.1} s per mode and body size in {}, \
             latency = request sent → last byte;",
            load.concurrency,
            load.per_mode().as_secs_f64(),
            match load.rounds {
                1 => "one slice".to_string(),
                n => format!("{n} shuffled slices"),
            }
        ),
        None => String::new(),
    };
    // The tables this run has, a blank line between them.
    let mut tables = Vec::new();
    if !cells.is_empty() {
        tables.push(table(&cells));
    }
    if !load_cells.is_empty() {
        tables.push(load_table(&load_cells));
    }
    if let Some((clients, hits, cold)) = &cache_results {
        tables.push(cache::hits_table(hits));
        tables.push(cache::cold_table(cold, *clients));
    }
    if !stage_rows.is_empty() {
        tables.push(stages::table(&stage_rows));
    }
    tables.push(checks_markdown(&checks));
    let section = format!(
        "Measured on {} on Viceroy and this 2-core machine, in one run (`make bench`, {:.0} s): modes \
         interleaved in an order shuffled anew each round (fixed seed), the Viceroys a turn does not \
         measure held stopped; {}; TTFB = request written \
         → first response byte on a fresh connection, once the previous request's instance has \
         ended and {} ms more have passed; app = firstbyte's own time from the request to \
         `stream_to_client()` (its Server-Timing origin + edge); last byte and MB/s (plain bytes) \
         from full downloads; event delay = origin sent → client has it; heap = Viceroy's figure \
         per instance, from full downloads;{} firstbyte runs with fastly.toml's settings, \
         `reuse_ms` included, firstbyte reuse with `reuse_ms = {}`.\n\n{}\n\
         ![TTFB against body size](docs/bench/ttfb.svg)\n\
         ![Throughput against body size](docs/bench/throughput.svg)\n",
        when.trim(),
        started.elapsed().as_secs_f64(),
        obtained.describe(),
        s.settle.as_millis(),
        load_caption,
        firstbyte_harness::bench::REUSE_MS,
        tables.join("\n"),
    );
    let (ttfb_svg, throughput_svg) = charts(&cells, &s.workloads, &modes);
    let dir = repo_root().join("target/bench");
    let write = |dir: &std::path::Path, name: &str, text: &str| {
        std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(dir.join(name), text))
            .map_err(|e| format!("cannot write {}: {e}", dir.join(name).display()))
    };
    write(&dir, "results.md", &section)?;
    write(&dir, "ttfb.svg", &ttfb_svg)?;
    write(&dir, "throughput.svg", &throughput_svg)?;
    println!("{section}");
    println!("written to {}", dir.display());
    if args.readme {
        let docs = repo_root().join("docs/bench");
        write(&docs, "ttfb.svg", &ttfb_svg)?;
        write(&docs, "throughput.svg", &throughput_svg)?;
        let path = repo_root().join("README.md");
        let readme = std::fs::read_to_string(&path).map_err(|e| format!("README: {e}"))?;
        std::fs::write(&path, splice_readme(&readme, &section)?)
            .map_err(|e| format!("README: {e}"))?;
        println!("README.md and docs/bench/ updated");
    }
    if args.smoke {
        // A smoke run proves the harness works end to end; its figures mean nothing.
        let broken: Vec<String> = cells
            .iter()
            .filter(|c| c.failed() && c.mode.name != "buffered")
            .map(|c| format!("{} on {}", c.mode.name, c.workload))
            .chain(
                load_cells
                    .iter()
                    .filter(|c| c.failed() || c.requests == 0)
                    .map(|c| format!("{} under load on {}", c.mode.name, c.workload)),
            )
            .chain(cache_results.iter().flat_map(|(_, hits, cold)| {
                let hits_broken = hits
                    .cells
                    .iter()
                    .filter(|c| c.failed())
                    .map(|c| format!("{} on the cache workload", c.mode.name))
                    .chain((!hits.confirmed).then(|| "a cache hit mode that missed".to_string()));
                let cold_broken = cold
                    .iter()
                    .filter(|c| c.broken > 0 || c.single_ms.is_empty())
                    .map(|c| format!("{} on a cold miss", c.mode.name));
                hits_broken.chain(cold_broken).collect::<Vec<_>>()
            }))
            .collect();
        if !broken.is_empty() {
            eprintln!("bench smoke: failed cells: {}", broken.join(", "));
            return Ok(ExitCode::FAILURE);
        }
        println!("bench smoke: every mode answered every workload");
    }
    Ok(ExitCode::SUCCESS)
}
