//! The habit the explicit entrypoint exists to avoid, kept only as a benchmark baseline:
//! `#[fastly::main]` returns a finished `Response`, so the whole backend body is read into
//! WebAssembly memory before the client sees a byte.

use fastly::{Error, Request, Response};

#[fastly::main]
fn main(mut req: Request) -> Result<Response, Error> {
    req.set_pass(true);
    let mut resp = req.send("origin")?;
    let body = resp.take_body_bytes();
    Ok(resp.with_body(body))
}
