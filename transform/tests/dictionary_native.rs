//! Google's C brotli decoder decodes our `dcb` output with the dictionary attached the way
//! Chrome attaches it (`BrotliDecoderAttachDictionary`, `BROTLI_SHARED_DICTIONARY_RAW`).
//!
//! The decoder is the one inside Python's `brotli` package (pinned as `PY_BROTLI_VERSION`
//! in the Makefile, installed by `scripts/tools`): its module exports the C library's
//! symbols, though its Python API has no dictionary argument, so the check calls them with
//! ctypes. `FIRSTBYTE_PYTHON` names another interpreter. Without one that has the package,
//! the test says so on stderr and passes: it checks interoperability, not our code alone.

use std::io::Write;
use std::process::{Command, Stdio};

use bytes::Bytes;
use firstbyte_transform::dictionary::{DcbEncoder, Dictionary, DCB_HEADER_LEN};
use firstbyte_transform::testing::run;

/// Reads the dictionary's length (8 bytes, big-endian), the dictionary and the dcb frame
/// from stdin; writes the decoded body to stdout.
const C_DECODE: &str = r#"
import ctypes, sys, _brotli
lib = ctypes.CDLL(_brotli.__file__)
lib.BrotliDecoderCreateInstance.restype = ctypes.c_void_p
lib.BrotliDecoderCreateInstance.argtypes = [ctypes.c_void_p] * 3
lib.BrotliDecoderAttachDictionary.argtypes = [
    ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t, ctypes.c_char_p]
P = ctypes.POINTER(ctypes.c_uint8)
lib.BrotliDecoderDecompressStream.argtypes = [
    ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(P),
    ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(P), ctypes.c_void_p]
data = sys.stdin.buffer.read()
n = int.from_bytes(data[:8], "big")
dictionary, frame = data[8:8 + n], data[8 + n:]
state = lib.BrotliDecoderCreateInstance(None, None, None)
RAW = 0
if not lib.BrotliDecoderAttachDictionary(state, RAW, len(dictionary), dictionary):
    sys.exit("attach failed")
src = (ctypes.c_uint8 * max(len(frame), 1)).from_buffer_copy(frame or b"\0")
next_in, avail_in = ctypes.cast(src, P), ctypes.c_size_t(len(frame))
out = bytearray()
buf = (ctypes.c_uint8 * 65536)()
while True:
    next_out, avail_out = ctypes.cast(buf, P), ctypes.c_size_t(65536)
    result = lib.BrotliDecoderDecompressStream(
        state, ctypes.byref(avail_in), ctypes.byref(next_in),
        ctypes.byref(avail_out), ctypes.byref(next_out), None)
    out += bytes(buf[:65536 - avail_out.value])
    if result == 1:
        break
    if result != 3:
        sys.exit(f"C decoder result {result}")
if avail_in.value:
    sys.exit("bytes after the end of the stream")
sys.stdout.buffer.write(bytes(out))
"#;

fn python() -> String {
    std::env::var("FIRSTBYTE_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn c_decoder_available() -> bool {
    Command::new(python())
        .args([
            "-c",
            "import ctypes, _brotli; ctypes.CDLL(_brotli.__file__).BrotliDecoderAttachDictionary",
        ])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn c_decode(dictionary: &[u8], brotli: &[u8]) -> Result<Vec<u8>, String> {
    let mut child = Command::new(python())
        .args(["-c", C_DECODE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut input = (dictionary.len() as u64).to_be_bytes().to_vec();
    input.extend_from_slice(dictionary);
    input.extend_from_slice(brotli);
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(&input)
        .map_err(|e| e.to_string())?;
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    Ok(output.stdout)
}

fn text(seed: u32, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut n = seed;
    while out.len() < len {
        n = n.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        out.extend_from_slice(
            format!(
                "export function f{}(a) {{ return a * {}; }}\n",
                n % 977,
                n % 31
            )
            .as_bytes(),
        );
    }
    out.truncate(len);
    out
}

#[test]
fn googles_c_decoder_decodes_dcb_with_the_dictionary() -> Result<(), String> {
    if !c_decoder_available() {
        eprintln!(
            "NOTICE: skipped: no Python with the brotli package ({}); `make test` installs it",
            python()
        );
        return Ok(());
    }
    for (dictionary_len, body_len) in [
        (0, 1000),
        (1, 0),
        (20_000, 25_000),
        (300_000, 310_000),
        (1 << 20, 1 << 20),
        (3 << 20, 100_000),
    ] {
        let v1 = text(7, dictionary_len);
        let mut v2 = v1.clone();
        v2.truncate(body_len);
        v2.extend_from_slice(&text(8, body_len.saturating_sub(v2.len())));
        if v2.len() > 10 {
            v2.insert(v2.len() / 2, b'!');
        }
        let dictionary = Dictionary::new(Bytes::from(v1));
        let cuts: Vec<usize> = (1..v2.len() / 10_000).map(|i| i * 10_000 - i).collect();
        for flush_each in [false, true] {
            let mut encoder = DcbEncoder::new(&dictionary, None).map_err(|e| e.to_string())?;
            let frame = run(&mut encoder, &v2, &cuts, flush_each).map_err(|e| e.to_string())?;
            let decoded = c_decode(dictionary.bytes(), &frame[DCB_HEADER_LEN..])?;
            assert!(
                decoded == v2,
                "dictionary {dictionary_len}, body {}: the C decoder gave {} bytes",
                v2.len(),
                decoded.len()
            );
        }
        if dictionary_len >= 20_000 {
            // The control: with another dictionary the same frame does not decode to v2,
            // so the check above really went through the attached dictionary.
            let mut other = dictionary.bytes().to_vec();
            for byte in other.iter_mut().step_by(97) {
                *byte ^= 0x55;
            }
            let mut encoder = DcbEncoder::new(&dictionary, None).map_err(|e| e.to_string())?;
            let frame = run(&mut encoder, &v2, &[], false).map_err(|e| e.to_string())?;
            let decoded = c_decode(&other, &frame[DCB_HEADER_LEN..]).ok();
            assert!(
                decoded.as_ref() != Some(&v2),
                "decoded the same with another dictionary"
            );
        }
    }
    Ok(())
}
