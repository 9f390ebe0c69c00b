//! Generates the padding of `reference-padded`: as many bytes of data, and as many functions
//! (about as much code, as many of them in the indirect-call table) as firstbyte's module
//! carries beyond the bare reference's. Measured at commit 41d7f38 (release build):
//! firstbyte 1.45 MB of data, 3.13 MB of code in 3571 functions, ~1420 table entries; the
//! reference 0.17 MB, 0.45 MB in 880, ~360. The bench prints both modules' sizes beside the
//! figures, so a drift shows.

use std::fmt::Write as _;
use std::path::Path;

/// Bytes of data beyond the reference's.
const DATA_BYTES: usize = 1_280_000;
/// Functions beyond the reference's; each compiles to about 1 KB of wasm.
const FUNCTIONS: usize = 2_690;
/// Of those, how many are reached through the indirect-call table.
const IN_TABLE: usize = 1_060;
/// Rounds of arithmetic per function: ~25 bytes of wasm each.
const ROUNDS: usize = 40;

fn main() {
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR for build scripts");
    let out = Path::new(&out);
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        // splitmix64: incompressible data and constants the optimizer cannot fold together.
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let data: Vec<u8> = (0..DATA_BYTES).map(|_| next() as u8).collect();
    std::fs::write(out.join("padding.bin"), data).expect("write padding.bin");

    let mut code = String::new();
    code.push_str(
        "pub static DATA: &[u8] = include_bytes!(concat!(env!(\"OUT_DIR\"), \"/padding.bin\"));\n",
    );
    for f in 0..FUNCTIONS {
        writeln!(code, "#[inline(never)]\nfn f{f}(mut x: u64) -> u64 {{").unwrap();
        for _ in 0..ROUNDS {
            let (a, b, r) = (next(), next() | 1, next() % 63 + 1);
            writeln!(
                code,
                "    x = (x ^ {a:#x}).wrapping_mul({b:#x}).rotate_left({r});"
            )
            .unwrap();
        }
        code.push_str("    x\n}\n");
    }
    write!(code, "static TABLE: [fn(u64) -> u64; {IN_TABLE}] = [").unwrap();
    for f in 0..IN_TABLE {
        write!(code, "f{f},").unwrap();
    }
    code.push_str("];\n");
    code.push_str("/// Touches every byte and function of the padding (never called).\n");
    code.push_str("pub fn run(mut x: u64) -> u64 {\n");
    code.push_str("    for f in TABLE.iter() { x = f(std::hint::black_box(x)); }\n");
    for f in IN_TABLE..FUNCTIONS {
        writeln!(code, "    x = f{f}(x);").unwrap();
    }
    code.push_str("    x ^ DATA.iter().map(|&b| u64::from(b)).sum::<u64>()\n}\n");
    std::fs::write(out.join("padding.rs"), code).expect("write padding.rs");
    println!("cargo:rerun-if-changed=build.rs");
}
