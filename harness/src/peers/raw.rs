//! The plumbing of the harness's own raw-TCP origins ([`super::Misbehaving`],
//! [`super::Scripted`]): a listener on a free 127.0.0.1 port served from a runtime thread of
//! its own, one task per connection, and the few steps of HTTP/1.1 they do by hand, so that
//! nothing between them and the socket can fix (or refuse) what they send.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::time::{sleep, timeout};

/// How long a client may take to send its request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request head read; a larger one gets the connection closed.
const MAX_HEAD: usize = 64 * 1024;
/// After a clean close, how long to read what the client still sends: closing a socket
/// with unread data would send RST instead of FIN.
const DRAIN_FOR: Duration = Duration::from_secs(2);

/// A listener whose every connection goes to `answer`; stopped on drop (open connections
/// are dropped with it, and once dropped the port is closed).
pub struct RawServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl RawServer {
    pub fn start<F, Fut>(name: &str, answer: F) -> io::Result<RawServer>
    where
        F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let answer = Arc::new(answer);
        let thread = thread::Builder::new().name(name.into()).spawn(move || {
            runtime.block_on(async move {
                // Inside the runtime: a tokio listener needs its reactor.
                let Ok(listener) = TcpListener::from_std(std_listener) else {
                    return;
                };
                let accept = async {
                    loop {
                        match listener.accept().await {
                            Ok((stream, _)) => {
                                tokio::spawn(answer(stream));
                            }
                            // Out of file descriptors and the like: wait rather than spin.
                            Err(_) => sleep(Duration::from_millis(10)).await,
                        }
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stopped => {}
                }
            });
            // The runtime drops here, and with it every connection's task.
        })?;
        Ok(RawServer {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads up to the blank line ending the request head and returns the head without it.
/// `None` when the client closes first or the head exceeds [`MAX_HEAD`]. Bytes after the
/// head (a body) are left unread.
pub async fn read_head(stream: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        // Only the new bytes and the 3 before them can complete a "\r\n\r\n".
        let from = head.len().saturating_sub(3);
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = head[from..].windows(4).position(|w| w == b"\r\n\r\n") {
            head.truncate(from + end);
            return Ok(Some(head));
        }
        if head.len() > MAX_HEAD {
            return Ok(None);
        }
    }
}

/// The request line's target in origin form (path and query): an absolute-form target
/// loses its scheme and authority. Anything unparsable becomes an empty target.
pub fn request_target(head: &str) -> String {
    let target = head
        .lines()
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .unwrap_or("");
    match target.split_once("://") {
        Some((_, rest)) => match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'?' => format!("/{}", &rest[i..]),
            Some(i) => rest[i..].to_string(),
            None => "/".to_string(),
        },
        None => target.to_string(),
    }
}

/// A clean close: FIN, then whatever the client still sends is read and dropped until it
/// closes too (or [`DRAIN_FOR`] passes), so that unread bytes do not turn the FIN into RST.
pub async fn close(mut stream: TcpStream) {
    let _ = stream.shutdown().await;
    let _ = timeout(DRAIN_FOR, until_eof(&mut stream)).await;
}

/// Reads and drops until the client closes its side or the connection fails.
pub async fn until_eof(stream: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_taken_in_origin_form() {
        let target = |line: &str| request_target(&format!("{line}\r\nHost: x"));
        assert_eq!(target("GET /long?type=a HTTP/1.1"), "/long?type=a");
        assert_eq!(target("GET http://h:1/cut/head HTTP/1.1"), "/cut/head");
        assert_eq!(target("GET http://h:1?x=1 HTTP/1.1"), "/?x=1");
        assert_eq!(target("GET http://h HTTP/1.1"), "/");
        assert_eq!(target("garbage"), "");
    }
}
