//! The misbehaving origin's server: raw TCP on its own runtime thread, writing the bytes of
//! [`misbehaving_response`] as they are, so nothing between it and the socket can fix them
//! (hyper would refuse to send most of them). One request per connection: it reads the
//! request head, records it, writes the canned response and ends the connection the way
//! the case says.

mod cases;

pub use cases::{
    misbehaving_body, misbehaving_dictionary, misbehaving_document, misbehaving_response,
    misbehaving_text, Canned, End, MISBEHAVING_SERVER,
};

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout};

use super::raw::{close, read_head, request_target, until_eof, RawServer, HEAD_TIMEOUT};

/// Before a reset, time for the bytes already written to reach the client, so it sees
/// them and then the RST, not only the RST.
const BEFORE_RESET: Duration = Duration::from_millis(50);

type Requests = Arc<Mutex<Vec<String>>>;

/// The misbehaving origin on 127.0.0.1 with an OS-chosen port; stopped on drop (open
/// connections, stalls included, are dropped with it).
pub struct Misbehaving {
    pub addr: SocketAddr,
    requests: Requests,
    _server: RawServer,
}

impl Misbehaving {
    pub fn start() -> io::Result<Misbehaving> {
        let requests = Requests::default();
        let recorded = requests.clone();
        let server = RawServer::start("misbehaving-origin", move |stream| {
            answer(stream, recorded.clone())
        })?;
        Ok(Misbehaving {
            addr: server.addr,
            requests,
            _server: server,
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
