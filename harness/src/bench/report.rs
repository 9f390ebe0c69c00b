//! The benchmark's results as a markdown table and a list of checked claims, and the
//! README section that shows them (between markers, so the README's figures always come
//! from a run).

use std::fmt::Write;

use super::{Cell, Mode};

pub const README_START: &str = "<!-- bench:start -->";
pub const README_END: &str = "<!-- bench:end -->";

fn ms(v: f64) -> String {
    format!("{v:.2}")
}

fn cell<'a>(cells: &'a [Cell], mode: Mode, workload: &str) -> Option<&'a Cell> {
    cells
        .iter()
        .find(|c| c.mode == mode && c.workload == workload)
}

fn p50(cells: &[Cell], mode: Mode, workload: &str) -> Option<f64> {
    cell(cells, mode, workload)?.ttfb.map(|s| s.p50)
}

/// One row per mode and workload, TTFB beside both references as ratios.
pub fn table(cells: &[Cell]) -> String {
    let mut out = String::new();
    out.push_str("| workload | mode | TTFB p50 ms | p90 | p99 | p50 × origin | p50 × reference | last byte ms (median) | MB/s | Wasm heap MiB (max) |\n");
    out.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for c in cells {
        let ratio = |reference: Mode| match (c.ttfb, p50(cells, reference, &c.workload)) {
            (Some(s), Some(r)) if r > 0.0 => format!("{:.2}", s.p50 / r),
            _ => "–".to_string(),
        };
        let (p50, p90, p99) = c
            .ttfb
            .map_or(("failed".into(), "–".into(), "–".into()), |s| {
                (ms(s.p50), ms(s.p90), ms(s.p99))
            });
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {}{} |",
            c.workload,
            c.mode.name(),
            p50,
            p90,
            p99,
            ratio(Mode::Origin),
            ratio(Mode::Reference),
            c.ttlb_ms.map_or("–".into(), ms),
            c.mb_per_s.map_or("–".into(), |v| format!("{v:.0}")),
            c.heap_mib.map_or("–".into(), |v| format!("{v:.1}")),
            if c.failures > 0 {
                format!(" ({} failed requests)", c.failures)
            } else {
                String::new()
            },
        );
    }
    out
}

/// A claim the project makes, with the ratio measured for it in this run.
#[derive(Debug, Clone)]
pub struct Check {
    pub claim: String,
    pub measured: String,
    pub holds: bool,
}

/// The performance claims of the README, evaluated on this run's cells. `small` and
/// `large` name the smallest and largest body workloads.
pub fn checks(cells: &[Cell], small: &str, large: &str) -> Vec<Check> {
    let mut out = Vec::new();
    let mut ratio_check = |claim: String,
                           num: Option<f64>,
                           den: Option<f64>,
                           holds: &dyn Fn(f64) -> bool| match (num, den) {
        (Some(n), Some(d)) if d > 0.0 => {
            let r = n / d;
            out.push(Check {
                claim,
                measured: format!("{r:.2}"),
                holds: holds(r),
            });
        }
        _ => out.push(Check {
            claim,
            measured: "not measured".into(),
            holds: false,
        }),
    };
    for w in [small, large] {
        ratio_check(
            format!("firstbyte p50 TTFB ≤ 1.25 × reference ({w})"),
            p50(cells, Mode::Firstbyte, w),
            p50(cells, Mode::Reference, w),
            &|r| r <= 1.25,
        );
    }
    ratio_check(
        format!("firstbyte p50 TTFB for {large} ≤ 1.1 × for {small}"),
        p50(cells, Mode::Firstbyte, large),
        p50(cells, Mode::Firstbyte, small),
        &|r| r <= 1.1,
    );
    // The platform's own growth, measured the same way: what the claim above is up against.
    let growth = |mode| Some(p50(cells, mode, large)? / p50(cells, mode, small)?);
    ratio_check(
        format!("firstbyte TTFB growth {small} → {large} ≤ the reference's growth"),
        growth(Mode::Firstbyte),
        growth(Mode::Reference),
        &|r| r <= 1.0,
    );
    ratio_check(
        format!("firstbyte throughput ≥ 0.9 × reference ({large})"),
        cell(cells, Mode::Firstbyte, large).and_then(|c| c.mb_per_s),
        cell(cells, Mode::Reference, large).and_then(|c| c.mb_per_s),
        &|r| r >= 0.9,
    );
    let heaps: Vec<f64> = cells
        .iter()
        .filter(|c| c.mode == Mode::Firstbyte)
        .filter_map(|c| c.heap_mib)
        .collect();
    let max_heap = heaps.iter().copied().reduce(f64::max);
    out.push(Check {
        claim: "firstbyte WebAssembly heap ≤ 4 MiB on every workload".into(),
        measured: max_heap.map_or("not measured".into(), |h| format!("{h:.1} MiB")),
        holds: max_heap.is_some_and(|h| h <= 4.0),
    });
    out
}

pub fn checks_markdown(checks: &[Check]) -> String {
    let mut out = String::from("| claim | measured | holds |\n|---|---:|---|\n");
    for c in checks {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            c.claim,
            c.measured,
            if c.holds { "yes" } else { "**no**" }
        );
    }
    out
}

/// Replaces what stands between the README markers with `section`.
pub fn splice_readme(readme: &str, section: &str) -> Result<String, String> {
    let start = readme
        .find(README_START)
        .ok_or_else(|| format!("README has no {README_START} marker"))?;
    let end = readme
        .find(README_END)
        .filter(|&e| e > start)
        .ok_or_else(|| format!("README has no {README_END} marker after the start marker"))?;
    Ok(format!(
        "{}{README_START}\n{section}{}",
        &readme[..start],
        &readme[end..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::stats::Summary;

    fn c(mode: Mode, workload: &str, p50: f64, mbps: Option<f64>, heap: Option<f64>) -> Cell {
        Cell {
            mode,
            workload: workload.into(),
            body_bytes: 0,
            ttfb: Some(Summary {
                min: p50,
                p50,
                p90: p50,
                p99: p50,
                max: p50,
                n: 1,
            }),
            ttlb_ms: None,
            mb_per_s: mbps,
            heap_mib: heap,
            failures: 0,
        }
    }

    #[test]
    fn checks_compare_against_the_reference_in_the_same_run() {
        let cells = vec![
            c(Mode::Reference, "1 KiB", 1.0, None, Some(1.0)),
            c(Mode::Firstbyte, "1 KiB", 1.2, None, Some(1.6)),
            c(Mode::Reference, "1 GiB", 1.0, Some(1000.0), Some(1.0)),
            c(Mode::Firstbyte, "1 GiB", 1.5, Some(950.0), Some(5.0)),
        ];
        let checks = checks(&cells, "1 KiB", "1 GiB");
        let holds: Vec<(String, bool)> = checks
            .iter()
            .map(|c| (c.measured.clone(), c.holds))
            .collect();
        assert_eq!(
            holds,
            [
                ("1.20".to_string(), true),
                ("1.50".to_string(), false),
                ("1.25".to_string(), false),
                ("1.25".to_string(), false),
                ("0.95".to_string(), true),
                ("5.0 MiB".to_string(), false),
            ]
        );
        let table = table(&cells);
        assert!(table.contains("| 1 GiB | firstbyte | 1.50 |"), "{table}");
    }

    #[test]
    fn readme_section_is_replaced_between_markers_only() {
        let readme = format!("intro\n{README_START}\nold\n{README_END}\noutro\n");
        let new = splice_readme(&readme, "new\n").unwrap();
        assert_eq!(
            new,
            format!("intro\n{README_START}\nnew\n{README_END}\noutro\n")
        );
        assert!(splice_readme("no markers", "x").is_err());
    }
}
