//! The bare reference app for benchmarks: explicit `main`, `stream_to_client`, `append`,
//! nothing else — the platform's floor that firstbyte's overhead is measured against, in
//! the same run. Under `/copy/` it instead copies the body through WebAssembly chunk by
//! chunk with no transform: the floor for firstbyte's transform chains.
//! Paths go to the backend `origin` (the `/copy` prefix removed); errors are out of scope
//! for a yardstick.

use std::io::{Read, Write};

use fastly::http::FramingHeadersMode;
use fastly::{Request, Response};

fn main() {
    let mut req = Request::from_client();
    req.set_pass(true);
    let copy = req.get_path().starts_with("/copy/");
    if copy {
        let path = req.get_path()["/copy".len()..].to_string();
        req.set_path(&path);
    }
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
