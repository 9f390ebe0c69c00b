//! `bench [--smoke] [--scale F] [--sizes B,B,...] [--settle-ms MS] [--load-seconds S]
//! [--load-rounds N] [--cache-size B] [--cache-rounds N]
//! [--parts ttfb,load,cache,esi,dictionary] [--record]`
//!
//! Starts the dev origin, the Viceroys of `bench::EDGES` (reference, firstbyte, buffered,
//! firstbyte with instance reuse, firstbyte with 100 routes, firstbyte with its edge cache,
//! firstbyte composing pages, fastly/esi, firstbyte serving dictionaries) and nginx and Varnish when installed, on free
//! ports; measures every mode on every workload in one run, then the load workload, then
//! the edge cache's, then pages composed from fragments (`bench::esi`), then compression
//! dictionaries on two releases of real bundles from the npm registry (`bench::dictionary`,
//! downloaded first into target/bench-data/);
//! writes target/bench/results.md and two SVG charts; with --record also keeps the run in
//! docs/bench/runs/<date>-<commit>/ (`bench::record`) and puts its claims and charts into
//! README.md between the bench markers. Needs the release wasm builds (`make bench` does
//! them). Everything it started stops when it ends.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{CommandFactory, Parser};
use firstbyte_harness::bench::cache::{self, CacheSettings};
use firstbyte_harness::bench::dictionary::{self, DictionarySettings};
use firstbyte_harness::bench::esi::{self, EsiSettings};
use firstbyte_harness::bench::load::LoadSettings;
use firstbyte_harness::bench::order::{Shuffle, SEED};
use firstbyte_harness::bench::record::{self, Record};
use firstbyte_harness::bench::report::{
    charts, checks, checks_markdown, load_checks, load_table, parts_table, splice_readme, table,
};
use firstbyte_harness::bench::validation;
use firstbyte_harness::bench::{human_size, priority, stages, Bench, Kind, Settings, Workload};
use firstbyte_harness::origin::release::RELEASES_DIR;
use firstbyte_harness::stack::{repo_root, wasm};

/// The TTFB, throughput, load and edge-cache benchmark of firstbyte on Viceroy, beside the
/// bare reference app, a buffered build, nginx and Varnish, in one run. Writes
/// target/bench/results.md and two SVG charts.
#[derive(Debug, Parser)]
#[command(name = "bench")]
struct Args {
    /// A quick run that proves the harness works end to end; its figures mean nothing.
    #[arg(long)]
    smoke: bool,
    /// Multiplies every sample and download count (at least 1 each).
    #[arg(long, value_name = "F", default_value_t = 1.0, value_parser = positive_number)]
    scale: f64,
    /// The body sizes of the TTFB and throughput workloads, in bytes (at least two).
    #[arg(long, value_name = "B,B,...", value_delimiter = ',', value_parser = byte_count)]
    sizes: Option<Vec<u64>>,
    /// Pause before each TTFB sample, once no app runs an instance, in ms.
    #[arg(long, value_name = "MS", default_value_t = 10)]
    settle_ms: u64,
    /// Load time per mode and body size, in seconds; 0 skips the load workload
    /// [default: 5, smoke 0.2].
    #[arg(long, value_name = "S", value_parser = seconds)]
    load_seconds: Option<f64>,
    /// The shuffled slices the load time of each mode is cut into [default: 5, smoke 1].
    #[arg(long, value_name = "N", value_parser = positive_count)]
    load_rounds: Option<usize>,
    /// The load workload's body sizes, in bytes [default: 1024,65536].
    #[arg(long, value_name = "B,B,...", value_delimiter = ',', value_parser = byte_count)]
    load_sizes: Option<Vec<u64>>,
    /// Only these load modes, by name (as the load table names them), e.g.
    /// `reference,reference padded,firstbyte`: a quicker run that compares a few.
    #[arg(long, value_name = "MODE,MODE,...", value_delimiter = ',')]
    load_modes: Option<Vec<String>>,
    /// The body size of the edge cache's hits, in bytes; 0 skips the cache part
    /// [default: 64 MiB, smoke 1 MiB].
    #[arg(long, value_name = "B", value_parser = byte_count)]
    cache_size: Option<u64>,
    /// Rounds of concurrent cold clients on the edge cache [default: 5, smoke 1].
    #[arg(long, value_name = "N", value_parser = positive_count)]
    cache_rounds: Option<usize>,
    /// The parts to run: ttfb, load, cache, esi and/or dictionary.
    #[arg(
        long,
        value_name = "PARTS",
        value_delimiter = ',',
        value_parser = part,
        default_value = "ttfb,load,cache,esi,dictionary"
    )]
    parts: Vec<String>,
    /// Keep the run in docs/bench/runs/<date>-<commit>/ (tables, figures as JSON, charts,
    /// machine) and put its claims and charts into README.md between the bench markers.
    /// Needs every part.
    #[arg(long, alias = "readme", conflicts_with = "smoke")]
    record: bool,
}

fn positive_count(v: &str) -> Result<usize, String> {
    v.parse()
        .ok()
        .filter(|r: &usize| *r > 0)
        .ok_or(format!("'{v}' is not a positive count"))
}

fn positive_number(v: &str) -> Result<f64, String> {
    v.parse()
        .ok()
        .filter(|s: &f64| *s > 0.0)
        .ok_or(format!("'{v}' is not a positive number"))
}

fn seconds(v: &str) -> Result<f64, String> {
    v.parse()
        .ok()
        .filter(|s: &f64| s.is_finite() && *s >= 0.0)
        .ok_or(format!("'{v}' is not a number of seconds"))
}

fn byte_count(v: &str) -> Result<u64, String> {
    v.trim()
        .parse()
        .map_err(|_| format!("'{v}' is not a byte count"))
}

fn part(v: &str) -> Result<String, String> {
    match v.trim() {
        part @ ("ttfb" | "load" | "cache" | "esi" | "dictionary") => Ok(part.to_string()),
        other => Err(format!(
            "'{other}' is not ttfb, load, cache, esi or dictionary"
        )),
    }
}

/// What a run measures, from its [`Args`].
struct Plan {
    settings: Settings,
    /// The TTFB and throughput workloads run (`--parts`).
    ttfb: bool,
    /// `None` with `--load-seconds 0` or without `load` in `--parts`.
    load: Option<LoadSettings>,
    /// `--load-modes`: `None` runs every load mode.
    load_modes: Option<Vec<String>>,
    /// `None` with `--cache-size 0` or without `cache` in `--parts`.
    cache: Option<CacheSettings>,
    /// `None` without `esi` in `--parts`.
    esi: Option<EsiSettings>,
    /// `None` without `dictionary` in `--parts`.
    dictionary: Option<DictionarySettings>,
    record: bool,
    smoke: bool,
}

impl Args {
    /// The run these arguments ask for; what clap cannot check alone is checked here, and
    /// reported the way clap reports the rest.
    fn plan(self) -> Result<Plan, clap::Error> {
        let invalid =
            |msg: &str| Args::command().error(clap::error::ErrorKind::ValueValidation, msg);
        let smoke = self.smoke;
        let scaled = |n: usize| ((n as f64 * self.scale).round() as usize).max(1);
        let mut workloads: Vec<Workload> = match (&self.sizes, smoke) {
            (Some(sizes), _) => sizes
                .iter()
                .map(|&s| Workload::body(s, scaled(50), scaled(2)))
                .collect(),
            (None, true) => vec![
                Workload::body(1 << 10, 3, 1),
                Workload::body(64 << 10, 3, 1),
            ],
            // A TTFB sample reads only the response head, so large bodies cost no more per
            // sample than small ones: every size gets enough for a steady p50. With 10 at
            // 1 GiB, the replace chain's ratio to its passthrough read 1.82 in one run and
            // 0.99 in an interleaved rerun of 80 samples.
            (None, false) => vec![
                Workload::body(1 << 10, scaled(200), scaled(20)),
                Workload::body(1 << 20, scaled(100), scaled(10)),
                Workload::body(64 << 20, scaled(100), scaled(3)),
                Workload::body(1 << 30, scaled(100), scaled(3)),
            ],
        };
        if workloads.len() < 2 {
            return Err(invalid(
                "at least two body sizes are needed (the smallest and largest are compared)",
            ));
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
        let load_seconds = self.load_seconds.unwrap_or(if smoke { 0.2 } else { 5.0 });
        let rounds = self.load_rounds.unwrap_or(if smoke { 1 } else { 5 });
        let part = |name: &str| self.parts.iter().any(|p| p == name);
        let load = (load_seconds > 0.0 && part("load")).then(|| LoadSettings {
            sizes: self.load_sizes.clone().unwrap_or(vec![1 << 10, 64 << 10]),
            concurrency: 16,
            rounds,
            slice: Duration::from_secs_f64(load_seconds / rounds as f64),
            timeout: Duration::from_secs(30),
        });
        // Hits of 64 MiB (the chain's object fills in about 6 s); cold objects the origin
        // sends over about a second, asked for by 16 clients at once, in 5 rounds.
        let cache_size = self
            .cache_size
            .unwrap_or(if smoke { 1 << 20 } else { 64 << 20 });
        let cache = (cache_size > 0 && part("cache")).then(|| CacheSettings {
            size: cache_size,
            // The range part's object: a GiB, as a resumed download of a large file.
            range_size: if smoke { 1 << 20 } else { 1 << 30 },
            samples: if smoke { 3 } else { scaled(100) },
            downloads: if smoke { 1 } else { scaled(3) },
            cold_rounds: self.cache_rounds.unwrap_or(if smoke { 1 } else { 5 }),
            clients: 16,
            pace: Duration::from_millis(if smoke { 20 } else { 100 }),
        });
        // Pages of 8 fragments: 20 samples of each server on each workload (the slow one
        // takes 2 s a page, Varnish's sequential fetches 4 s), 50 template hits.
        let esi = part("esi").then(|| EsiSettings {
            samples: if smoke { 2 } else { scaled(20) },
            hits: if smoke { 3 } else { scaled(50) },
            workloads: esi::workloads(smoke),
        });
        // Two pairs of releases: 100 TTFB samples of v2 as dcb and as br each (a sample
        // reads only the head), 5 full downloads in each coding.
        let dictionary = part("dictionary").then(|| DictionarySettings {
            samples: if smoke { 3 } else { scaled(100) },
            downloads: if smoke { 1 } else { scaled(5) },
            settle: Duration::from_millis(self.settle_ms),
        });
        let known: Vec<&str> = firstbyte_harness::bench::load::LOAD_MODES
            .iter()
            .map(|m| m.name)
            .collect();
        if let Some(unknown) = self
            .load_modes
            .iter()
            .flatten()
            .find(|name| !known.contains(&name.as_str()))
        {
            return Err(invalid(&format!(
                "'{unknown}' is not a load mode (the load modes: {})",
                known.join(", ")
            )));
        }
        let whole_run = self.load_modes.is_none() && self.load_sizes.is_none();
        if self.record && !whole_run {
            return Err(Args::command().error(
                clap::error::ErrorKind::ArgumentConflict,
                "--record measures every load mode and size",
            ));
        }
        if self.record
            && !["ttfb", "load", "cache", "esi", "dictionary"]
                .iter()
                .all(|p| part(p))
        {
            return Err(Args::command().error(
                clap::error::ErrorKind::ArgumentConflict,
                "--record needs every part: a record and the README's claims are one run's",
            ));
        }
        Ok(Plan {
            ttfb: part("ttfb"),
            cache,
            esi,
            dictionary,
            settings: Settings {
                workloads,
                timeout: Duration::from_secs(180),
                settle: Duration::from_millis(self.settle_ms),
            },
            load,
            load_modes: self.load_modes,
            record: self.record,
            smoke,
        })
    }
}

fn main() -> ExitCode {
    let plan = match Args::parse().plan() {
        Ok(plan) => plan,
        Err(e) => e.exit(),
    };
    match run(&plan) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Plan) -> Result<ExitCode, String> {
    let started = Instant::now();
    let mut say = |msg: &str| eprintln!("bench [{:>6.1}s] {msg}", started.elapsed().as_secs_f64());
    say(
        "starting the dev origin, nginx and Varnish; each part then starts the Viceroys it \
         measures (reference, firstbyte, buffered, firstbyte reuse, firstbyte 100 routes, \
         firstbyte cache, firstbyte esi, fastly/esi, firstbyte dictionary) and stops the others",
    );
    // The dictionary part's releases, fetched before the dev origin starts: it serves the
    // directory `$FIRSTBYTE_RELEASES` names, and no other thread runs yet to read the
    // environment while it is set. A smoke run without the registry skips the part.
    let releases = match &args.dictionary {
        Some(_) => match dictionary::fetch(&repo_root(), &mut say) {
            Ok(dir) => {
                std::env::set_var(RELEASES_DIR, &dir);
                Some(dir)
            }
            Err(e) if args.smoke => {
                say(&format!(
                    "NOTICE: the dictionary part is skipped: its releases cannot be fetched ({e})"
                ));
                None
            }
            Err(e) => return Err(format!("dictionary: {e}")),
        },
        None => None,
    };
    let mut bench = Bench::start(&mut say)?;
    if let Some(names) = &args.load_modes {
        bench
            .load_modes
            .retain(|m| names.iter().any(|n| n == m.name));
    }
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
        // The per-request parts are measured on the smallest body only: they are per
        // request, not per byte.
        let smallest = s.workloads.iter().filter_map(Workload::size).min();
        let with_parts: Vec<_> = bench
            .modes
            .iter()
            .chain(&bench.parts_modes)
            .copied()
            .collect();
        bench.use_edges(&Bench::edges_of(&with_parts))?;
        let _raised = priority::raise();
        for workload in &s.workloads {
            let modes = match workload.size() {
                Some(size) if Some(size) == smallest => &with_parts,
                _ => &bench.modes,
            };
            cells.extend(bench.run_modes(modes, workload, s, &mut shuffle, &mut say));
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
            let validation = bench.cache_validation(cs, cs.samples, &mut shuffle, &mut say)?;
            let stale = bench.cache_stale(cs, &mut say)?;
            Some((cs.clients, hits, cold, validation, stale))
        }
        None => None,
    };
    let esi_results = match &args.esi {
        Some(es) => {
            // The peer has a lockfile and a target dir of its own (`make esi-peer`).
            let peer_built = wasm("esi-fastly").exists();
            if !peer_built {
                say("NOTICE: benches/esi-fastly is not built (make esi-peer): fastly/esi is skipped");
            }
            let edges: Vec<&str> = esi::EDGES
                .into_iter()
                .filter(|name| *name != esi::ESI_PEER || peer_built)
                .collect();
            bench.use_edges(&edges)?;
            let _raised = priority::raise();
            Some(bench.esi(es, &mut shuffle, &mut say)?)
        }
        None => None,
    };
    let dictionary_results = match (&args.dictionary, &releases) {
        (Some(ds), Some(dir)) => {
            bench.use_edges(&dictionary::EDGES)?;
            let _raised = priority::raise();
            Some(bench.dictionary(ds, dir, &mut shuffle, &mut say)?)
        }
        _ => None,
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
    if let Some((clients, hits, cold, validation, stale)) = &cache_results {
        checks.extend(cache::checks(hits, cold, *clients));
        checks.extend(validation::checks(validation));
        checks.push(cache::stale_check(stale));
    }
    if let (Some(e), Some(es)) = (&esi_results, &args.esi) {
        checks.extend(esi::checks(e, &es.workloads));
    }
    if let Some(d) = &dictionary_results {
        checks.extend(dictionary::checks(d));
    }
    if !stage_rows.is_empty() {
        checks.extend(stages::checks(&stage_rows));
    }
    let when = record::today();
    let seconds = started.elapsed().as_secs_f64();
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
        if let Some(load) = &args.load {
            let small = human_size(load.sizes.iter().copied().min().unwrap_or(0));
            tables.extend(parts_table(&load_cells, &cells, &small));
        }
    }
    if let Some((clients, hits, cold, validation, stale)) = &cache_results {
        tables.push(cache::hits_table(hits));
        tables.push(cache::cold_table(cold, *clients));
        tables.push(validation::table(validation));
        tables.push(cache::stale_table(stale));
    }
    if let Some(e) = &esi_results {
        tables.push(esi::table(e));
    }
    if let Some(d) = &dictionary_results {
        tables.push(dictionary::table(d));
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
         ![TTFB against body size](ttfb.svg)\n\
         ![Throughput against body size](throughput.svg)\n",
        when,
        seconds,
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
    if args.record {
        let root = repo_root();
        let (commit, changed) = record::commit(&root);
        let client = obtained.describe();
        let machine = record::machine((&commit, changed), &client);
        let run = Record {
            date: when,
            commit,
            seconds,
            client,
            results: &section,
            ttfb_svg: &ttfb_svg,
            throughput_svg: &throughput_svg,
            machine: &machine,
            cells: &cells,
            load: &load_cells,
            cache: cache_results
                .as_ref()
                .map(|(clients, hits, cold, _, _)| (*clients, hits, cold.as_slice())),
            validation: cache_results.as_ref().map(|(_, _, _, v, _)| v),
            stale: cache_results.as_ref().map(|(_, _, _, _, s)| s),
            esi: esi_results.as_ref(),
            dictionary: dictionary_results.as_ref(),
            stages: &stage_rows,
            checks: &checks,
        };
        let kept = run.write(&root.join(record::RUNS))?;
        let relative = kept
            .strip_prefix(&root)
            .unwrap_or(&kept)
            .display()
            .to_string();
        let path = root.join("README.md");
        let readme = std::fs::read_to_string(&path).map_err(|e| format!("README: {e}"))?;
        std::fs::write(
            &path,
            splice_readme(&readme, &run.readme_section(&relative))?,
        )
        .map_err(|e| format!("README: {e}"))?;
        println!("recorded in {relative}; README.md's bench block updated");
    }
    // A dcb body that does not decode to the release it stands for fails every run, smoke
    // or full, after its tables are written.
    if let Some(d) = dictionary_results.as_ref().filter(|d| !d.wrong.is_empty()) {
        eprintln!("bench: dictionary: {}", d.wrong.join("; "));
        return Ok(ExitCode::FAILURE);
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
            .chain(
                cache_results
                    .iter()
                    .flat_map(|(_, hits, cold, validation, stale)| {
                        let hits_broken = hits
                            .cells
                            .iter()
                            .filter(|c| c.failed())
                            .map(|c| format!("{} on the cache workload", c.mode.name))
                            .chain(
                                (!hits.confirmed)
                                    .then(|| "a cache hit mode that missed".to_string()),
                            );
                        let cold_broken = cold
                            .iter()
                            .filter(|c| c.broken > 0 || c.single_ms.is_empty())
                            .map(|c| format!("{} on a cold miss", c.mode.name));
                        let validation_broken = validation
                            .cells
                            .iter()
                            .filter(|c| c.wrong > 0 || c.ttfb.is_none())
                            .map(|c| format!("{} on the cache validation workload", c.probe.name))
                            .chain(
                                (validation.idle.incomplete > 0
                                    || validation.idle.slowest_ms.is_empty())
                                .then(|| "the idle-filler rounds".to_string()),
                            );
                        let stale_broken = (stale.broken > 0 || stale.origin_requests.is_empty())
                            .then(|| "the stale-object rounds".to_string());
                        hits_broken
                            .chain(cold_broken)
                            .chain(validation_broken)
                            .chain(stale_broken)
                            .collect::<Vec<_>>()
                    }),
            )
            .chain(esi_results.iter().flat_map(|e| {
                e.cells
                    .iter()
                    .filter(|c| {
                        [esi::FIRSTBYTE, esi::PASSTHROUGH].contains(&c.contender)
                            && (c.wrong > 0 || c.last_ms.is_empty())
                    })
                    .map(|c| format!("{} on {}", c.contender.name, c.workload))
                    .chain(
                        (e.hit_wrong > 0 || e.first_request_ms.is_empty())
                            .then(|| "the template hits".to_string()),
                    )
                    .collect::<Vec<_>>()
            }))
            .chain(dictionary_results.iter().flat_map(|d| {
                d.cells
                    .iter()
                    .filter(|c| c.failures > 0 || c.wire_bytes.is_empty())
                    .map(|c| format!("{} as {} (dictionary)", c.pair, c.coding.name()))
                    .collect::<Vec<_>>()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(list: &[&str]) -> Result<Plan, clap::Error> {
        Args::try_parse_from(std::iter::once("bench").chain(list.iter().copied()))?.plan()
    }

    #[test]
    fn the_command_is_well_formed() {
        Args::command().debug_assert();
    }

    #[test]
    fn defaults_run_every_part_on_four_sizes() -> Result<(), clap::Error> {
        let p = plan(&[])?;
        let sizes: Vec<u64> = p
            .settings
            .workloads
            .iter()
            .filter_map(Workload::size)
            .collect();
        assert_eq!(sizes, [1 << 10, 1 << 20, 64 << 20, 1 << 30]);
        assert_eq!(p.settings.settle, Duration::from_millis(10));
        assert!(p.ttfb && !p.record && !p.smoke);
        let load = p.load.expect("the load part");
        assert_eq!((load.rounds, load.per_mode()), (5, Duration::from_secs(5)));
        let cache = p.cache.expect("the cache part");
        assert_eq!((cache.size, cache.cold_rounds), (64 << 20, 5));
        Ok(())
    }

    #[test]
    fn flags_set_what_they_name() -> Result<(), clap::Error> {
        let p = plan(&[
            "--sizes",
            "1024, 2048",
            "--scale",
            "0.5",
            "--settle-ms",
            "3",
            "--load-seconds",
            "2",
            "--load-rounds",
            "4",
            "--cache-size",
            "4096",
            "--cache-rounds",
            "2",
        ])?;
        let first = &p.settings.workloads[0];
        assert_eq!(
            (first.size(), first.samples, first.downloads),
            (Some(1024), 25, 1)
        );
        assert_eq!(p.settings.workloads[1].size(), Some(2048));
        assert_eq!(p.settings.settle, Duration::from_millis(3));
        let load = p.load.expect("the load part");
        assert_eq!((load.rounds, load.slice), (4, Duration::from_millis(500)));
        let cache = p.cache.expect("the cache part");
        assert_eq!((cache.size, cache.cold_rounds), (4096, 2));
        // Zero load time or cache size skips that part; --parts picks parts.
        let p = plan(&["--load-seconds", "0", "--cache-size", "0"])?;
        assert!(p.load.is_none() && p.cache.is_none() && p.ttfb);
        let p = plan(&["--parts", "load, cache"])?;
        assert!(!p.ttfb && p.load.is_some() && p.cache.is_some() && p.esi.is_none());
        let p = plan(&["--parts", "dictionary"])?;
        assert!(!p.ttfb && p.esi.is_none() && p.load.is_none());
        assert_eq!(
            p.dictionary.map(|d| (d.samples, d.downloads)),
            Some((100, 5))
        );
        let p = plan(&["--parts", "esi"])?;
        assert_eq!(p.esi.map(|e| (e.samples, e.workloads.len())), Some((20, 4)));
        Ok(())
    }

    #[test]
    fn the_smoke_run_is_small_and_records_nothing() -> Result<(), clap::Error> {
        let p = plan(&["--smoke"])?;
        assert!(p.smoke && !p.record);
        let sizes: Vec<u64> = p
            .settings
            .workloads
            .iter()
            .filter_map(Workload::size)
            .collect();
        assert_eq!(sizes, [1 << 10, 64 << 10]);
        assert_eq!(p.load.map(|l| l.rounds), Some(1));
        assert!(plan(&["--smoke", "--record"]).is_err());
        Ok(())
    }

    #[test]
    fn bad_values_are_refused() {
        for bad in [
            &["--load-rounds", "0"][..],
            &["--cache-rounds", "x"],
            &["--scale", "0"],
            &["--scale", "-1"],
            &["--load-seconds", "-1"],
            &["--load-seconds", "inf"],
            &["--sizes", "1024"],
            &["--sizes", "1024,"],
            &["--sizes", "1k,2k"],
            &["--cache-size", "big"],
            &["--settle-ms", "soon"],
            &["--parts", "ttfb,soak"],
            &["--bogus"],
            &["--scale"],
        ] {
            assert!(plan(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_record_needs_every_part() -> Result<(), clap::Error> {
        assert!(plan(&["--record"])?.record);
        // The flag it replaces still asks for the same.
        assert!(plan(&["--readme"])?.record);
        assert!(plan(&["--record", "--parts", "ttfb,load"]).is_err());
        assert!(plan(&["--record", "--parts", "cache,load,ttfb"]).is_err());
        assert!(plan(&["--record", "--parts", "cache,esi,load,ttfb"]).is_err());
        assert!(plan(&["--record", "--parts", "cache,esi,load,ttfb,dictionary"])?.record);
        Ok(())
    }

    #[test]
    fn the_load_part_narrows_to_named_modes_and_sizes() -> Result<(), clap::Error> {
        let p = plan(&[
            "--load-modes",
            "reference,reference padded",
            "--load-sizes",
            "1024",
        ])?;
        assert_eq!(
            p.load_modes,
            Some(vec![
                "reference".to_string(),
                "reference padded".to_string()
            ])
        );
        assert_eq!(p.load.map(|l| l.sizes), Some(vec![1024]));
        assert_eq!(plan(&[])?.load_modes, None);
        // A mode the load part does not have is refused, not silently left out.
        assert!(plan(&["--load-modes", "reference,refrence padded"]).is_err());
        // A record's tables are the whole load part's.
        assert!(plan(&["--record", "--load-modes", "reference"]).is_err());
        assert!(plan(&["--record", "--load-sizes", "1024"]).is_err());
        Ok(())
    }
}
