//! The load workload: requests per second and latency under a steady stream of requests,
//! which a TTFB sample (one request on a quiet machine) cannot show. What an app pays per
//! request (reading its configuration, instantiating, building what a route needs) adds up
//! here.
//!
//! Each mode gets `concurrency` keep-alive connections, each sending its next request as
//! soon as the last response has been read to the end, for a slice of time; modes and body
//! sizes take their slices in a seeded shuffle, round after round, so drift on the machine
//! hits them alike. A mode's requests per second are its completed requests over the time
//! its slices took, and its latency runs from sending a request to the end of its body.
//!
//! The client acknowledges what it reads at once ([`QuickAck`]): Viceroy's server leaves
//! Nagle's algorithm on, and on a kept-alive connection that turns every response larger
//! than one TCP segment (64 KiB on loopback) into a 40 ms wait for the client's delayed ACK,
//! the same for every app on Viceroy, which would leave nothing of the apps to compare.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use super::order::Shuffle;
use super::stats::{median, summarize, Summary};
use super::{
    Bench, Mode, Server, Workload, FIRSTBYTE, FIRSTBYTE_CANDIDATE, FIRSTBYTE_REUSE,
    FIRSTBYTE_ROUTES, NGINX, REFERENCE, REFERENCE_CONFIG, REFERENCE_PADDED, REPLACE,
};
use crate::client;
use crate::stack::Edge;

/// The modes of the load workload: the bare reference app, the parts of firstbyte's cost
/// (the reference padded to firstbyte's size, and reading its config too), firstbyte's
/// passthrough with and without instance reuse and with a long route list (and another
/// build of it, when one is named), a transform chain, and nginx.
pub const LOAD_MODES: [Mode; 9] = [
    REFERENCE,
    REFERENCE_PADDED,
    REFERENCE_CONFIG,
    FIRSTBYTE,
    FIRSTBYTE_CANDIDATE,
    FIRSTBYTE_REUSE,
    FIRSTBYTE_ROUTES,
    REPLACE,
    NGINX,
];

#[derive(Debug, Clone)]
pub struct LoadSettings {
    /// Body sizes, each a workload of its own.
    pub sizes: Vec<u64>,
    /// Connections kept busy at once.
    pub concurrency: usize,
    /// Rounds; each gives every mode and size one slice.
    pub rounds: usize,
    /// One slice: how long a mode is kept under load at a time.
    pub slice: Duration,
    /// One request's limit, head to last byte; past it the request counts as an error.
    pub timeout: Duration,
}

impl LoadSettings {
    /// The load time of each mode and size in all.
    pub fn per_mode(&self) -> Duration {
        self.slice * self.rounds as u32
    }
}

/// What one mode did under load on one body size.
#[derive(Debug, Clone)]
pub struct LoadCell {
    pub mode: Mode,
    pub workload: String,
    /// Requests answered 200 with a complete body.
    pub requests: u64,
    /// Requests that failed: another status, a broken body, a timeout, a refused connection.
    pub errors: u64,
    /// The time its slices took, the last response of each included.
    pub seconds: f64,
    /// Request sent → last body byte, over the completed requests.
    pub latency: Option<Summary>,
    /// Viceroy's CPU time per completed request, in µs, in each round's slice (round
    /// order); empty for a server that is no Viceroy.
    pub round_cpu_us: Vec<f64>,
    /// Requests per second in each round's slice, in round order: a ratio of two modes per
    /// round (both slices of a round run within a few seconds) is steadier than one of
    /// their totals, and the spread of those ratios is the figure's noise.
    pub rounds: Vec<f64>,
}

impl LoadCell {
    pub fn requests_per_second(&self) -> Option<f64> {
        (self.seconds > 0.0 && self.requests > 0).then(|| self.requests as f64 / self.seconds)
    }

    /// Most of its requests failed: reported as failed, not as a figure.
    pub fn failed(&self) -> bool {
        self.errors > self.requests
    }
}

/// The longest warm-up slice.
const WARM_UP: Duration = Duration::from_millis(200);

/// What one slice gave.
#[derive(Debug, Default)]
struct Slice {
    latencies: Vec<Duration>,
    errors: u64,
    elapsed: Duration,
    /// The CPU time the mode's Viceroy ran during the slice.
    cpu: Option<Duration>,
}

impl Bench {
    /// Runs the load workload over [`Bench::load_modes`], calling `progress` after each
    /// round.
    pub fn load(
        &self,
        settings: &LoadSettings,
        shuffle: &mut Shuffle,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Vec<LoadCell>, String> {
        // One thread, the caller's: the client's share of the two cores stays small, and it
        // runs at whatever priority the caller was given (see `priority`).
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("tokio runtime: {e}"))?;
        let turns: Vec<(Mode, Workload)> = settings
            .sizes
            .iter()
            .flat_map(|&size| {
                self.load_modes
                    .iter()
                    .map(move |&mode| (mode, Workload::body(size, 0, 0)))
            })
            .collect();
        let run = |i: usize, length: Duration| {
            let (mode, workload) = &turns[i];
            // A slice starts on a quiet Viceroy: no instance of the last slice's requests (a
            // reused one waits up to `reuse_ms` for more) runs into it.
            let _turn = self.turn_to(mode.server);
            let headers = Self::headers(mode);
            let cpu = || match mode.server {
                Server::Edge(name) => self.edge(name).and_then(Edge::cpu_time),
                _ => None,
            };
            let before = cpu();
            let mut out = runtime.block_on(slice(
                self.addr(mode),
                &workload.path(mode),
                &headers,
                length,
                settings,
            ));
            out.cpu = before.zip(cpu()).map(|(b, a)| a.saturating_sub(b));
            out
        };
        // An untimed slice of each first: a server's first requests touch memory and code
        // for the first time, and that belongs to no mode's steady state.
        for i in shuffle.order(turns.len()) {
            run(i, settings.slice.min(WARM_UP));
        }
        let mut slices: Vec<Vec<Slice>> = turns.iter().map(|_| Vec::new()).collect();
        for round in 0..settings.rounds {
            for i in shuffle.order(turns.len()) {
                slices[i].push(run(i, settings.slice));
            }
            progress(&format!(
                "load: round {}/{} ({} connections, {} ms slices)",
                round + 1,
                settings.rounds,
                settings.concurrency,
                settings.slice.as_millis()
            ));
        }
        Ok(turns
            .iter()
            .zip(slices)
            .map(|((mode, workload), slices)| cell(*mode, &workload.name, slices))
            .collect())
    }
}

fn cell(mode: Mode, workload: &str, slices: Vec<Slice>) -> LoadCell {
    let mut latencies = Vec::new();
    let (mut errors, mut seconds) = (0, 0.0);
    let mut rounds = Vec::new();
    let mut round_cpu_us = Vec::new();
    for s in slices {
        if let Some(cpu) = s.cpu.filter(|_| !s.latencies.is_empty()) {
            round_cpu_us.push(cpu.as_secs_f64() * 1e6 / s.latencies.len() as f64);
        }
        let elapsed = s.elapsed.as_secs_f64();
        rounds.push(if elapsed > 0.0 {
            s.latencies.len() as f64 / elapsed
        } else {
            0.0
        });
        latencies.extend(s.latencies);
        errors += s.errors;
        seconds += s.elapsed.as_secs_f64();
    }
    LoadCell {
        mode,
        workload: workload.to_string(),
        requests: latencies.len() as u64,
        errors,
        seconds,
        latency: summarize(&latencies),
        rounds,
        round_cpu_us,
    }
}

/// `mode`'s requests per second over `reference`'s, round by round (both must have all
/// their rounds): the median and the lowest and highest, or `None`.
pub fn round_ratios(mode: &LoadCell, reference: &LoadCell) -> Option<RoundRatios> {
    paired_ratios(&mode.rounds, &reference.rounds, mode, reference)
}

/// `mode`'s Viceroy CPU time per request over `reference`'s, round by round.
pub fn cpu_ratios(mode: &LoadCell, reference: &LoadCell) -> Option<RoundRatios> {
    paired_ratios(&mode.round_cpu_us, &reference.round_cpu_us, mode, reference)
}

fn paired_ratios(
    figures: &[f64],
    reference_figures: &[f64],
    mode: &LoadCell,
    reference: &LoadCell,
) -> Option<RoundRatios> {
    if figures.len() != reference_figures.len() || mode.failed() || reference.failed() {
        return None;
    }
    let ratios: Vec<f64> = figures
        .iter()
        .zip(reference_figures)
        .filter(|(_, d)| **d > 0.0)
        .map(|(n, d)| n / d)
        .collect();
    Some(RoundRatios {
        median: median(&ratios)?,
        min: ratios.iter().copied().fold(f64::INFINITY, f64::min),
        max: ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        n: ratios.len(),
    })
}

/// Ratios of one mode's slices to another's in the same rounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoundRatios {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

/// `settings.concurrency` connections sending requests for `path` for `length`; requests
/// already sent by then are waited for and counted.
async fn slice(
    addr: SocketAddr,
    path: &str,
    headers: &[(&'static str, &'static str)],
    length: Duration,
    settings: &LoadSettings,
) -> Slice {
    let start = Instant::now();
    let deadline = start + length;
    let workers: Vec<JoinHandle<(Vec<Duration>, u64)>> = (0..settings.concurrency)
        .map(|_| {
            let (path, headers) = (path.to_string(), headers.to_vec());
            tokio::spawn(connection(addr, path, headers, deadline, settings.timeout))
        })
        .collect();
    let mut out = Slice::default();
    for worker in workers {
        match worker.await {
            Ok((latencies, errors)) => {
                out.latencies.extend(latencies);
                out.errors += errors;
            }
            Err(_) => out.errors += 1,
        }
    }
    out.elapsed = start.elapsed();
    out
}

type Connection = (SendRequest<Empty<Bytes>>, JoinHandle<()>);

/// One client connection's requests, one after another, until `deadline`: their latencies
/// and how many failed.
async fn connection(
    addr: SocketAddr,
    path: String,
    headers: Vec<(&'static str, &'static str)>,
    deadline: Instant,
    timeout: Duration,
) -> (Vec<Duration>, u64) {
    let mut conn: Option<Connection> = None;
    let mut latencies = Vec::new();
    let mut errors = 0u64;
    while Instant::now() < deadline {
        // A server may close a kept-alive connection between requests (nginx does after
        // `keepalive_requests`); that is no failed request, only a new connection.
        if let Some((sender, _)) = conn.as_mut() {
            if sender.ready().await.is_err() {
                close(&mut conn);
            }
        }
        let sender = match conn.as_mut() {
            Some((sender, _)) => sender,
            None => match connect(addr).await {
                Ok(fresh) => &mut conn.insert(fresh).0,
                Err(_) => {
                    errors += 1;
                    // Not a busy loop against a server that refuses: this client may run
                    // above the servers' priority.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let begun = Instant::now();
        match tokio::time::timeout(timeout, exchange(sender, addr, &path, &headers)).await {
            Ok(Ok(())) => latencies.push(begun.elapsed()),
            _ => {
                errors += 1;
                close(&mut conn);
            }
        }
    }
    close(&mut conn);
    (latencies, errors)
}

/// A new kept-alive connection whose reads are acknowledged at once.
async fn connect(addr: SocketAddr) -> Result<Connection, client::Error> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    client::handshake(QuickAck(stream)).await
}

/// A TCP stream that sends its ACK as soon as it has read, instead of up to 40 ms later.
///
/// A server with Nagle's algorithm on (Viceroy's) holds the small last segment of a
/// response until its previous segment is acknowledged; a Linux receiver delays that ACK
/// when nothing of its own is going out, and a kept-alive client has nothing to send until
/// the response is complete. `TCP_QUICKACK` is not sticky, so it is set again after every
/// read. Fresh connections (the TTFB samples) start in quick-ACK mode and do not need it.
struct QuickAck(TcpStream);

impl QuickAck {
    #[cfg(target_os = "linux")]
    fn ack_now(&self) {
        use std::os::fd::AsRawFd;
        let on: libc::c_int = 1;
        // SAFETY: a socket option on a socket this value owns, with a pointer to a live int
        // and its size. Failing leaves only the delayed ACK, so the result is not needed.
        unsafe {
            libc::setsockopt(
                self.0.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_QUICKACK,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn ack_now(&self) {}
}

impl AsyncRead for QuickAck {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.0).poll_read(cx, buf);
        if polled.is_ready() {
            this.ack_now();
        }
        polled
    }
}

impl AsyncWrite for QuickAck {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

/// Closes the connection at once: the server sees the client go, as it would.
fn close(conn: &mut Option<Connection>) {
    if let Some((_, driver)) = conn.take() {
        driver.abort();
    }
}

/// One request on a kept-alive connection, its body read to the end; `Err` unless it was a
/// 200 with a complete body.
async fn exchange(
    sender: &mut SendRequest<Empty<Bytes>>,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<(), client::Error> {
    let response = sender
        .send_request(client::build_request(addr, "GET", path, headers)?)
        .await?;
    let status = response.status();
    let mut body = response.into_body();
    while let Some(frame) = body.frame().await {
        frame?;
    }
    if status != hyper::StatusCode::OK {
        return Err(format!("status {status}").into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice(latencies_ms: &[u64], errors: u64, elapsed_ms: u64) -> Slice {
        Slice {
            latencies: latencies_ms
                .iter()
                .map(|&ms| Duration::from_millis(ms))
                .collect(),
            errors,
            elapsed: Duration::from_millis(elapsed_ms),
            cpu: None,
        }
    }

    #[test]
    fn a_cell_pools_its_slices() {
        let c = cell(
            FIRSTBYTE,
            "1 KiB",
            vec![slice(&[1, 2, 3], 1, 500), slice(&[4; 97], 0, 1500)],
        );
        assert_eq!((c.requests, c.errors), (100, 1));
        assert_eq!(c.requests_per_second(), Some(50.0));
        let latency = c.latency.unwrap();
        assert_eq!((latency.p50, latency.p99, latency.n), (4.0, 4.0, 100));
        assert!(!c.failed());
        assert_eq!(c.rounds, vec![6.0, 97.0 / 1.5]);
    }

    #[test]
    fn round_ratios_pair_each_round_with_the_reference_s() {
        // Three rounds of a second each, this many requests in each.
        let rounds = |mode, counts: [usize; 3]| {
            let slices = counts.map(|n| slice(&vec![1; n], 0, 1000));
            cell(mode, "1 KiB", slices.into())
        };
        let a = rounds(FIRSTBYTE, [90, 40, 50]);
        let r = rounds(REFERENCE, [100, 50, 50]);
        let ratios = round_ratios(&a, &r).unwrap();
        assert_eq!(
            (ratios.median, ratios.min, ratios.max, ratios.n),
            (0.9, 0.8, 1.0, 3)
        );
        // The totals' ratio (180 / 200) would hide that one round read 0.8.
        let short = cell(REFERENCE, "1 KiB", vec![slice(&[1; 100], 0, 1000)]);
        assert_eq!(round_ratios(&a, &short), None);
    }

    #[test]
    fn a_cell_with_more_errors_than_answers_failed() {
        let c = cell(REFERENCE, "1 KiB", vec![slice(&[1], 2, 100)]);
        assert!(c.failed());
        let none = cell(REFERENCE, "1 KiB", vec![slice(&[], 0, 100)]);
        assert_eq!((none.requests_per_second(), none.latency), (None, None));
    }

    #[test]
    fn load_time_is_slices_times_rounds() {
        let s = LoadSettings {
            sizes: vec![1024, 65536],
            concurrency: 16,
            rounds: 5,
            slice: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
        };
        assert_eq!(s.per_mode(), Duration::from_secs(5));
    }
}
