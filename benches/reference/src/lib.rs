//! The bare reference app for benchmarks: explicit `main`, `stream_to_client`, `append`,
//! nothing else — the platform's floor that firstbyte's overhead is measured against, in
//! the same run. Under `/copy/` it instead copies the body through WebAssembly chunk by
//! chunk with no transform: the floor for firstbyte's transform chains.
//! Paths go to the backend `origin` (the `/copy` prefix removed); errors are out of scope
//! for a yardstick.

use std::io::{Read, Write};

use fastly::http::FramingHeadersMode;
use fastly::{Request, Response};

/// Answers `req` from the backend `origin`: appended host-side, or copied through the guest
/// under `/copy/`.
pub fn serve(mut req: Request) {
    req.set_pass(true);
    let copy = strip_prefix(&mut req, "/copy");
    let mut resp = match req.send("origin") {
        Ok(resp) => resp,
        Err(e) => {
            Response::from_status(502)
                .with_body_text_plain(&format!("{e}\n"))
                .send_to_client();
            return;
        }
    };
    let mut body = resp.take_body();
    if !copy {
        resp.set_framing_headers_mode(FramingHeadersMode::ManuallyFromHeaders);
        let mut out = resp.stream_to_client();
        out.append(body);
        out.finish().ok();
        return;
    }
    resp.remove_header("content-length");
    let mut out = resp.stream_to_client();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if out.write_all(&buf[..n]).and_then(|()| out.flush()).is_err() {
                    out.abandon().ok();
                    return;
                }
            }
            Err(_) => {
                out.abandon().ok();
                return;
            }
        }
    }
    out.finish().ok();
}

/// Removes `prefix` (no trailing slash) from the path when the path is under `prefix/`.
pub fn strip_prefix(req: &mut Request, prefix: &str) -> bool {
    let path = req.get_path();
    let under = path
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.starts_with('/'));
    if under {
        let rest = path[prefix.len()..].to_string();
        req.set_path(&rest);
    }
    under
}
