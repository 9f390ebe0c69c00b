//! A bounded load-and-fault run: the dev origin and firstbyte on Viceroy with the demo
//! config, many keep-alive clients sending every kind of request in [`cases::CASES`]
//! (faults included), then a verdict from what the clients got and what Viceroy logged.
//! It stops after a request count or a time limit, whichever comes first.

pub mod cases;
pub mod logs;
pub mod report;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use hyper::client::conn::http1::SendRequest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::client;
use crate::stack::LocalStack;
use cases::{judge, raw_status, Case, End, Got, Raw, Reading, Sending, CASES};
use report::{Check, Tally};

#[derive(Debug, Clone)]
pub struct Settings {
    /// Requests to send in all; the run also stops at `duration`.
    pub requests: u64,
    pub duration: Duration,
    pub clients: usize,
    pub progress_every: Duration,
    /// One request's limit, head to last byte; past it the request counts as cut.
    pub request_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            requests: 20_000,
            duration: Duration::from_secs(300),
            clients: 16,
            progress_every: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
        }
    }
}

/// What a run found, and its verdict.
pub struct Outcome {
    pub report: String,
    pub checks: Vec<Check>,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }
}

/// Starts the stack, runs the clients, reads Viceroy's log and judges. `say` gets the
/// progress lines.
pub fn run(settings: &Settings, say: &(dyn Fn(&str) + Sync)) -> Result<Outcome, String> {
    say("starting the dev origin and firstbyte on Viceroy (demo config of fastly.toml)");
    let stack = LocalStack::start(&[]).map_err(|e| format!("cannot start the stack: {e}"))?;
    let addr = stack.edge.addr;
    say(&format!(
        "firstbyte on http://{addr}: {} clients, up to {} requests or {} s",
        settings.clients,
        settings.requests,
        settings.duration.as_secs()
    ));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let started = Instant::now();
    let tally = runtime.block_on(drive(addr, settings, say));
    let elapsed = started.elapsed();
    say("clients done; waiting for every instance to end");
    // Hung-up and stalled requests may still be running in the app; their access-log lines
    // come when they end.
    let idle = stack.edge.wait_until_idle(Duration::from_secs(60));
    let findings = logs::analyse(&stack.edge.lines());
    drop(stack);
    let checks = report::checks(CASES, &tally, &findings, idle);
    let report = report::render(CASES, &tally, &findings, &checks, elapsed);
    Ok(Outcome { report, checks })
}

async fn drive(addr: SocketAddr, settings: &Settings, say: &(dyn Fn(&str) + Sync)) -> Tally {
    let deck = Arc::new(cases::deck(CASES));
    let tally = Arc::new(Mutex::new(Tally::new(CASES.len())));
    let next = Arc::new(AtomicU64::new(0));
    let opened = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + settings.duration;
    let clients: Vec<JoinHandle<()>> = (0..settings.clients)
        .map(|_| {
            let (deck, tally, next) = (Arc::clone(&deck), Arc::clone(&tally), Arc::clone(&next));
            let opened = Arc::clone(&opened);
            let (requests, timeout) = (settings.requests, settings.request_timeout);
            tokio::spawn(async move {
                let mut conn = None;
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= requests || Instant::now() >= deadline || deck.is_empty() {
                        break;
                    }
                    let index = deck[(n % deck.len() as u64) as usize];
                    let case = &CASES[index];
                    let begun = Instant::now();
                    let got = send(addr, case, &mut conn, &opened, timeout).await;
                    let verdict = judge(case, &got);
                    if let Ok(mut tally) = tally.lock() {
                        tally.record(index, &got, &verdict, begun.elapsed());
                    }
                }
                if let Some(conn) = conn {
                    conn.close();
                }
            })
        })
        .collect();
    let mut all = futures_util::future::join_all(clients);
    let mut ticker = tokio::time::interval_at(
        tokio::time::Instant::now() + settings.progress_every,
        settings.progress_every,
    );
    loop {
        tokio::select! {
            _ = &mut all => break,
            _ = ticker.tick() => {
                if let Ok(tally) = tally.lock() {
                    say(&tally.brief());
                }
            }
        }
    }
    // Every client has ended; the counts are final.
    let mut tally = tally
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    tally.connections = opened.load(Ordering::Relaxed);
    std::mem::take(&mut *tally)
}

/// A kept-alive connection: the sender, and the task driving it (aborted to hang up).
struct Conn {
    sender: SendRequest<http_body_util::Empty<bytes::Bytes>>,
    driver: JoinHandle<()>,
}

impl Conn {
    /// Drops the socket now, unread data and all: what a client that walks away does.
    fn close(self) {
        self.driver.abort();
    }
}

async fn send(
    addr: SocketAddr,
    case: &Case,
    conn: &mut Option<Conn>,
    opened: &AtomicU64,
    limit: Duration,
) -> Got {
    match &case.send {
        Sending::Http {
            method,
            path,
            headers,
            read,
        } => {
            let attempt = http(addr, conn, opened, method, path, headers, *read);
            match tokio::time::timeout(limit, attempt).await {
                Ok(got) => got,
                Err(_) => {
                    // Whatever was in flight on the connection is abandoned with it.
                    if let Some(conn) = conn.take() {
                        conn.close();
                    }
                    Got::no_response(format!("nothing complete within {limit:?}"))
                }
            }
        }
        Sending::Raw(raw) => send_raw(addr, raw, limit).await,
    }
}

/// One request on the client's connection, opened or replaced as needed.
async fn http(
    addr: SocketAddr,
    conn: &mut Option<Conn>,
    opened: &AtomicU64,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    read: Reading,
) -> Got {
    let mut retried = false;
    let response = loop {
        if let Some(c) = conn.as_mut() {
            if c.sender.ready().await.is_err() {
                // The server closed it after the last response; open another.
                *conn = None;
            }
        }
        let reused = conn.is_some();
        let c = match conn {
            Some(c) => c,
            None => match client::connect(addr).await {
                Ok((sender, driver)) => {
                    opened.fetch_add(1, Ordering::Relaxed);
                    conn.insert(Conn { sender, driver })
                }
                Err(e) => return Got::no_response(format!("connect: {e}")),
            },
        };
        let request = match client::build_request(addr, method, path, headers) {
            Ok(request) => request,
            Err(e) => return Got::no_response(format!("request: {e}")),
        };
        match c.sender.try_send_request(request).await {
            Ok(response) => break response,
            Err(mut e) => {
                *conn = None;
                // A kept-alive connection the server closed just as this request went out:
                // the request never left, so it is sent again on a new one, once.
                if reused && !retried && e.take_message().is_some() {
                    retried = true;
                    continue;
                }
                return Got::no_response(e.into_error().to_string());
            }
        }
    };
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let content_length = header("content-length").and_then(|v| v.trim().parse().ok());
    let content_encoding = header("content-encoding");
    let mut body = response.into_body();
    let mut data = Vec::new();
    let end = loop {
        match body.frame().await {
            None => break End::Clean,
            Some(Err(e)) => break End::Cut(e.to_string()),
            Some(Ok(frame)) => {
                if let Some(bytes) = frame.data_ref() {
                    data.extend_from_slice(bytes);
                }
                match read {
                    Reading::Whole => {}
                    Reading::Slowly => tokio::time::sleep(Duration::from_millis(5)).await,
                    Reading::HangUpAfter(n) if data.len() >= n => break End::HungUp,
                    Reading::HangUpAfter(_) => {}
                }
            }
        }
    };
    if end != End::Clean {
        // A cut connection is finished; a hang-up closes it on purpose.
        drop(body);
        if let Some(conn) = conn.take() {
            conn.close();
        }
    }
    Got {
        status: Some(status),
        content_length,
        content_encoding,
        body: data,
        end,
        note: None,
    }
}

/// Bytes no well-behaved client sends, on a connection of their own; the status is read
/// from whatever comes back before the server closes it (every raw request asks it to, or
/// is one it must refuse) or `limit` passes.
async fn send_raw(addr: SocketAddr, raw: &Raw, limit: Duration) -> Got {
    let deadline = tokio::time::Instant::now() + limit;
    let stream = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => return Got::no_response(format!("connect: {e}")),
    };
    let (mut reader, mut writer) = stream.into_split();
    let request = raw.bytes();
    // Written alongside the reading: the server may answer (and close) before it has read
    // all of an over-long request, and the write then fails; the answer is what counts.
    let write = tokio::spawn(async move {
        let _ = writer.write_all(&request).await;
        let _ = writer.flush().await;
        writer
    });
    let mut response = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let mut error = None;
    loop {
        match tokio::time::timeout_at(deadline, reader.read(&mut buf)).await {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => {
                // The status line and headers are all that is judged.
                if response.len() < 64 * 1024 {
                    response.extend_from_slice(&buf[..n]);
                }
            }
            Ok(Err(e)) => {
                error = Some(e.to_string());
                break;
            }
            Err(_) => {
                error = Some(format!("no end within {limit:?}"));
                break;
            }
        }
    }
    write.abort();
    match raw_status(&response) {
        Some(status) => Got {
            status: Some(status),
            content_length: None,
            content_encoding: None,
            body: Vec::new(),
            // The whole exchange was this one response; how the socket ended does not
            // change what the client was told.
            end: End::Clean,
            note: error,
        },
        None => Got::no_response(error.unwrap_or_else(|| {
            format!(
                "closed after {} bytes without a status line",
                response.len()
            )
        })),
    }
}
