//! A small HTTP/1.1 client over hyper for the tests and the benchmark: one fresh connection
//! per request, so every response is measured from the connect, and framing errors (a body
//! that ends without its terminating chunk) surface as errors instead of being smoothed over.
//! `connect` gives a connection to reuse, for the soak's keep-alive clients.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::header::HeaderMap;
use hyper::Response;
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Sends one request on a new connection and returns as soon as the response head arrives.
pub async fn open(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Response<Incoming>, Error> {
    let (mut sender, _driver) = connect(addr).await?;
    Ok(sender
        .send_request(build_request(addr, method, path, headers)?)
        .await?)
}

/// A new HTTP/1.1 connection: the sender for its requests, and the task that drives it.
/// The sender can be reused for request after request while the server keeps the
/// connection open; aborting the task closes the socket at once, as a client hanging up.
pub async fn connect(
    addr: SocketAddr,
) -> Result<(SendRequest<Empty<Bytes>>, JoinHandle<()>), Error> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    handshake(stream).await
}

/// An HTTP/1.1 connection over `io`: a TCP stream, or one wrapped to change how it is read
/// (the benchmark's load client acknowledges every read at once).
pub async fn handshake<T>(io: T) -> Result<(SendRequest<Empty<Bytes>>, JoinHandle<()>), Error>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    let driver = tokio::spawn(async move {
        // The connection's own errors reach the caller through the body.
        let _ = connection.await;
    });
    Ok((sender, driver))
}

/// A bodiless request for `path` on `addr`, with `headers` added after `Host`.
pub fn build_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<hyper::Request<Empty<Bytes>>, Error> {
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    Ok(request.body(Empty::<Bytes>::new())?)
}

/// A response read to its end (or to the point where it broke off).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// `Some` when the body did not end cleanly: cut connection, missing last chunk.
    pub body_error: Option<String>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every field line of `name` combined as one list (RFC 9110 §5.3).
    pub fn header_list(&self, name: &str) -> String {
        let values: Vec<&str> = self
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        values.join(", ")
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub async fn get(addr: SocketAddr, path: &str) -> Result<Reply, Error> {
    request(addr, "GET", path, &[]).await
}

pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Reply, Error> {
    let response = open(addr, method, path, headers).await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    let mut body_error = None;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref() {
                    bytes.extend_from_slice(data);
                }
            }
            Err(e) => {
                body_error = Some(e.to_string());
                break;
            }
        }
    }
    Ok(Reply {
        status,
        headers,
        body: bytes,
        body_error,
    })
}

/// A response read to its end, with when its first body byte and its end arrived: how a
/// client that streams sees a response.
#[derive(Debug)]
pub struct Timed {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// The body ended cleanly (no cut connection, no missing last chunk).
    pub complete: bool,
    pub first_byte: Option<Instant>,
    pub done: Instant,
}

impl Timed {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// `GET path` on a new connection, read to the end, noting when the first body byte came.
pub async fn timed(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Result<Timed, Error> {
    let resp = open(addr, "GET", path, headers).await?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let mut body = resp.into_body();
    let mut bytes = Vec::new();
    let mut first_byte = None;
    let mut complete = true;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref() {
                    if !data.is_empty() && first_byte.is_none() {
                        first_byte = Some(Instant::now());
                    }
                    bytes.extend_from_slice(data);
                }
            }
            Err(_) => {
                complete = false;
                break;
            }
        }
    }
    Ok(Timed {
        status,
        headers,
        body: bytes,
        complete,
        first_byte,
        done: Instant::now(),
    })
}

/// A large body, counted and hashed as it streams, never held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest256 {
    pub status: u16,
    pub len: u64,
    pub sha256: [u8; 32],
    pub complete: bool,
}

pub async fn digest(addr: SocketAddr, path: &str) -> Result<Digest256, Error> {
    let response = open(addr, "GET", path, &[]).await?;
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut hasher = Sha256::new();
    let mut len = 0u64;
    let mut complete = true;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref() {
                    hasher.update(data);
                    len += data.len() as u64;
                }
            }
            Err(_) => {
                complete = false;
                break;
            }
        }
    }
    Ok(Digest256 {
        status,
        len,
        sha256: hasher.finalize().into(),
        complete,
    })
}

/// One piece of a body as it reached the client.
#[derive(Debug, Clone)]
pub struct Arrival {
    /// Since the response head arrived.
    pub after_head: Duration,
    /// Wall clock, to compare with times an origin wrote into the body.
    pub unix_ms: u128,
    pub data: Bytes,
}

/// Reads a body piece by piece, noting when each arrived.
pub async fn arrivals(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<(HeaderMap, Vec<Arrival>), Error> {
    let response = open(addr, "GET", path, headers).await?;
    let headers = response.headers().clone();
    let start = Instant::now();
    let mut body = response.into_body();
    let mut pieces = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            pieces.push(Arrival {
                after_head: start.elapsed(),
                unix_ms: unix_ms(),
                data,
            });
        }
    }
    Ok((headers, pieces))
}

pub fn unix_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}
