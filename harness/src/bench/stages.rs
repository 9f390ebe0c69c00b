//! Each transform stage's throughput natively and inside wasm, from the same program
//! (`benches/stage_throughput.rs`) built for both targets in this run.

use std::fmt::Write;
use std::process::Command;

use super::report::Check;
use crate::stack::repo_root;

#[derive(Debug, Clone, PartialEq)]
pub struct StageRow {
    pub name: String,
    pub native_mbps: Option<f64>,
    pub wasm_mbps: Option<f64>,
}

const YARDSTICK: &str = "aho-corasick stream_replace_all";

fn host_triple() -> Result<String, String> {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .map_err(|e| format!("rustc: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .ok_or_else(|| "rustc -vV printed no host".into())
}

/// `stage<TAB>MB/s` lines into pairs.
pub fn parse(output: &str) -> Vec<(String, f64)> {
    output
        .lines()
        .filter_map(|l| {
            let (name, value) = l.split_once('\t')?;
            Some((name.trim().to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

fn run(target: Option<&str>) -> Result<Vec<(String, f64)>, String> {
    let mut cmd = Command::new("cargo");
    cmd.current_dir(repo_root()).args([
        "bench",
        "-q",
        "-p",
        "firstbyte-transform",
        "--bench",
        "stage_throughput",
    ]);
    if let Some(t) = target {
        cmd.args(["--target", t]);
    }
    let out = cmd.output().map_err(|e| format!("cargo bench: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "stage_throughput ({}) failed:\n{}",
            target.unwrap_or("wasm"),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(parse(&String::from_utf8_lossy(&out.stdout)))
}

pub fn measure() -> Result<Vec<StageRow>, String> {
    let native = run(Some(&host_triple()?))?;
    let wasm = run(None)?;
    Ok(native
        .iter()
        .map(|(name, mbps)| StageRow {
            name: name.clone(),
            native_mbps: Some(*mbps),
            wasm_mbps: wasm.iter().find(|(n, _)| n == name).map(|(_, v)| *v),
        })
        .collect())
}

pub fn table(rows: &[StageRow]) -> String {
    let mut out = String::from(
        "| stage (64 KiB chunks, flush after each) | native MB/s | wasm (Viceroy) MB/s | wasm ÷ native |\n|---|---:|---:|---:|\n",
    );
    for r in rows {
        let ratio = match (r.wasm_mbps, r.native_mbps) {
            (Some(w), Some(n)) if n > 0.0 => format!("{:.2}", w / n),
            _ => "–".into(),
        };
        let fmt = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.0}"));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            r.name,
            fmt(r.native_mbps),
            fmt(r.wasm_mbps),
            ratio
        );
    }
    out
}

pub fn checks(rows: &[StageRow]) -> Vec<Check> {
    let get = |name: &str| {
        rows.iter()
            .find(|r| r.name == name)
            .and_then(|r| r.native_mbps)
    };
    let replace = get("replace");
    let yardstick = get(YARDSTICK);
    vec![
        Check {
            claim: "replace, one pattern, 64 KiB chunks ≥ 1 GB/s natively".into(),
            measured: replace.map_or("not measured".into(), |v| format!("{:.2} GB/s", v / 1000.0)),
            holds: replace.is_some_and(|v| v >= 1000.0),
        },
        match (replace, yardstick) {
            (Some(r), Some(y)) if y > 0.0 => Check {
                claim: format!("replace ≥ {YARDSTICK} on the same input (ratio)"),
                measured: format!("{:.1}", r / y),
                holds: r >= y,
            },
            _ => Check {
                claim: format!("replace ≥ {YARDSTICK} on the same input (ratio)"),
                measured: "not measured".into(),
                holds: false,
            },
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_parse_and_check() {
        let parsed = parse("replace\t2000\nnoise\naho-corasick stream_replace_all\t250\n");
        assert_eq!(parsed.len(), 2);
        let rows: Vec<StageRow> = parsed
            .into_iter()
            .map(|(name, v)| StageRow {
                name,
                native_mbps: Some(v),
                wasm_mbps: Some(v / 2.0),
            })
            .collect();
        let checks = checks(&rows);
        assert!(checks.iter().all(|c| c.holds), "{checks:?}");
        assert_eq!(checks[1].measured, "8.0");
        assert!(table(&rows).contains("| replace | 2000 | 1000 | 0.50 |"));
    }
}
