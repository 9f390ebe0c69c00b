//! The bare reference app for benchmarks: explicit `main`, `stream_to_client`, `append`,
//! nothing else. firstbyte's overhead is measured against this, in the same run.
//! Paths go to the backend `origin` unchanged; errors are out of scope for a yardstick.

use fastly::http::FramingHeadersMode;
use fastly::{Request, Response};

fn main() {
    let mut req = Request::from_client();
    req.set_pass(true);
    match req.send("origin") {
        Ok(mut resp) => {
            let body = resp.take_body();
            resp.set_framing_headers_mode(FramingHeadersMode::ManuallyFromHeaders);
            let mut out = resp.stream_to_client();
            out.append(body);
            out.finish().ok();
        }
        Err(e) => Response::from_status(502)
            .with_body_text_plain(&format!("{e}\n"))
            .send_to_client(),
    }
}
