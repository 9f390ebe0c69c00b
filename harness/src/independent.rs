//! Decoders that share no code with firstbyte's, for checking what it compresses: Python's
//! zlib (the C zlib) and Python's brotli (Google's C library), run as child processes.

use std::io::Write;
use std::process::{Command, Stdio};

fn python(script: &str, input: &[u8]) -> Result<Vec<u8>, String> {
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("python3 is needed for independent decoding: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let input = input.to_vec();
    // Written from a thread so a large output cannot deadlock against a full input pipe.
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    writer
        .join()
        .map_err(|_| "writer thread panicked".to_string())?
        .map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    Ok(output.stdout)
}

/// gzip or zlib, by C zlib (`wbits = 47` accepts either header).
pub fn gunzip(data: &[u8]) -> Result<Vec<u8>, String> {
    python(
        "import sys, zlib; sys.stdout.buffer.write(zlib.decompress(sys.stdin.buffer.read(), 47))",
        data,
    )
}

/// brotli, by Google's C library.
pub fn unbrotli(data: &[u8]) -> Result<Vec<u8>, String> {
    python(
        "import sys, brotli; sys.stdout.buffer.write(brotli.decompress(sys.stdin.buffer.read()))",
        data,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn python_zlib_reads_gzip() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(b"hello").unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(gunzip(&gz).unwrap(), b"hello");
        assert!(gunzip(b"not gzip").is_err());
    }
}
