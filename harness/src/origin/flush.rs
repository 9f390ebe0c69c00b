//! A socket wrapper that tells a response body when hyper has flushed everything it
//! buffered, which `/reset` needs to cut the connection after exactly n bytes.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};

use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Counts completed flushes on one connection. Hyper only calls the socket's `poll_flush`
/// once its own write buffer is empty, so an advance of the epoch means every frame handed
/// to hyper before it is now in the kernel.
#[derive(Default)]
pub(crate) struct FlushSignal {
    epoch: AtomicU64,
    waker: AtomicWaker,
}

impl FlushSignal {
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    pub(crate) fn register(&self, waker: &Waker) {
        self.waker.register(waker);
    }

    fn flushed(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.waker.wake();
    }
}

pub(crate) struct FlushTracked {
    inner: TcpStream,
    signal: std::sync::Arc<FlushSignal>,
}

impl FlushTracked {
    pub(crate) fn new(inner: TcpStream, signal: std::sync::Arc<FlushSignal>) -> Self {
        FlushTracked { inner, signal }
    }
}

impl AsyncRead for FlushTracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for FlushTracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    // Forwarded so hyper keeps using writev instead of copying frames into one buffer.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_flush(cx);
        if let Poll::Ready(Ok(())) = result {
            self.signal.flushed();
        }
        result
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
