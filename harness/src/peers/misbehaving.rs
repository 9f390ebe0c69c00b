//! The misbehaving origin's server: raw TCP on its own runtime thread, writing the bytes of
//! [`misbehaving_response`] as they are, so nothing between it and the socket can fix them
//! (hyper would refuse to send most of them). One request per connection: it reads the
//! request head, records it, writes the canned response and ends the connection the way
//! the case says.

mod cases;

pub use cases::{
    misbehaving_body, misbehaving_document, misbehaving_response, misbehaving_text, Canned, End,
    MISBEHAVING_SERVER,
};

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::time::{sleep, timeout};

/// How long a client may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request head read; a larger one gets the connection closed.
const MAX_HEAD: usize = 64 * 1024;
/// After a clean close, how long to read what the client still sends: closing a socket
/// with unread data would send RST instead of FIN and turn every case into `/cut/reset`.
const DRAIN_FOR: Duration = Duration::from_secs(2);
/// Before a reset, time for the bytes already written to reach the client, so it sees
/// them and then the RST, not only the RST.
const BEFORE_RESET: Duration = Duration::from_millis(50);

type Requests = Arc<Mutex<Vec<String>>>;

/// The misbehaving origin on 127.0.0.1 with an OS-chosen port; stopped on drop (open
/// connections, stalls included, are dropped with it).
pub struct Misbehaving {
    pub addr: SocketAddr,
    requests: Requests,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Misbehaving {
    pub fn start() -> io::Result<Misbehaving> {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let requests = Requests::default();
        let (stop, stopped) = oneshot::channel::<()>();
        let recorded = requests.clone();
        let thread = thread::Builder::new()
            .name("misbehaving-origin".into())
            .spawn(move || {
                runtime.block_on(async move {
                    // Inside the runtime: a tokio listener needs its reactor.
                    let Ok(listener) = TcpListener::from_std(std_listener) else {
                        return;
                    };
                    tokio::select! {
                        _ = serve(listener, recorded) => {}
                        _ = stopped => {}
                    }
                });
                // The runtime drops here, and with it every connection's task.
            })?;
        Ok(Misbehaving {
            addr,
            requests,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The request heads received so far, oldest first, as text (bytes that are not
    /// UTF-8 become U+FFFD): request line and headers, without the blank line.
    pub fn requests(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

impl Drop for Misbehaving {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Once joined, the port is closed: a test can rely on it.
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(listener: TcpListener, requests: Requests) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(answer(stream, requests.clone()));
            }
            // Out of file descriptors and the like: wait rather than spin.
            Err(_) => sleep(Duration::from_millis(10)).await,
        }
    }
}

async fn answer(mut stream: TcpStream, requests: Requests) {
    let head = match timeout(HEAD_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(Some(head))) => head,
        // Timed out, too large, closed early or failed: nothing to answer.
        _ => return,
    };
    let text = String::from_utf8_lossy(&head).into_owned();
    let target = request_target(&text);
    requests
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push(text);
    let canned = misbehaving_response(&target);
    if stream.write_all(&canned.wire).await.is_err() {
        return;
    }
    match canned.end {
        End::Close => close(stream).await,
        End::Reset => {
            sleep(BEFORE_RESET).await;
            // SO_LINGER 0: close() discards the socket with RST instead of FIN.
            let _ = stream.set_zero_linger();
            drop(stream);
        }
        End::Stall(silence) => {
            tokio::select! {
                _ = sleep(silence) => {}
                _ = until_eof(&mut stream) => {}
            }
            close(stream).await;
        }
    }
}

/// Reads up to the blank line ending the request head and returns the head without it.
/// `None` when the client closes first or the head exceeds [`MAX_HEAD`]. Bytes after the
/// head (a body) are left unread: no case looks at them.
async fn read_head(stream: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
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
/// loses its scheme and authority. Anything unparsable becomes an empty target, a 404.
fn request_target(head: &str) -> String {
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
async fn close(mut stream: TcpStream) {
    let _ = stream.shutdown().await;
    let _ = timeout(DRAIN_FOR, until_eof(&mut stream)).await;
}

/// Reads and drops until the client closes its side or the connection fails.
async fn until_eof(stream: &mut TcpStream) {
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
