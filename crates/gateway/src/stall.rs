//! [`SendTimeout`]: a client that takes no bytes of an answer for a while is
//! disconnected (nginx's `send_timeout`). Its answer, and the call permit the
//! answer holds, are released with the connection. (The other stall, a
//! `GET /mcp` stream the upstream sends nothing on, is tower-http's
//! `TimeoutBody`: `routes/calls.rs`.)
//!
//! The timer is armed only when a write starts to wait: a connection whose
//! writes go through costs a branch per write. Neither hyper nor tower has a
//! write timeout for a server connection.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// A timer armed when a write starts to wait and disarmed when it ends.
#[derive(Debug)]
struct Stall {
    after: Duration,
    timer: Option<Pin<Box<Sleep>>>,
    armed: bool,
}

impl Stall {
    fn new(after: Duration) -> Self {
        Stall {
            after,
            timer: None,
            armed: false,
        }
    }

    fn progressed(&mut self) {
        self.armed = false;
    }

    /// The inner stream is waiting: `true` once it has waited `after`.
    fn waited_too_long(&mut self, cx: &mut Context<'_>) -> bool {
        let deadline = Instant::now() + self.after;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if !self.armed {
            timer.as_mut().reset(deadline);
            self.armed = true;
        }
        timer.as_mut().poll(cx).is_ready()
    }
}

pin_project! {
    /// An IO whose writes fail with `TimedOut` once one has waited longer
    /// than the timeout for the peer to take bytes.
    ///
    /// ```
    /// # async fn run() -> std::io::Result<()> {
    /// use std::time::Duration;
    /// use mcp_reconnect_gateway::stall::SendTimeout;
    ///
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// # let addr = listener.local_addr()?;
    /// # let _client = tokio::net::TcpStream::connect(addr).await?;
    /// let (stream, _) = listener.accept().await?;
    /// let io = hyper_util::rt::TokioIo::new(SendTimeout::new(stream, Duration::from_secs(30)));
    /// # drop(io);
    /// # Ok(())
    /// # }
    /// ```
    #[derive(Debug)]
    pub struct SendTimeout<T> {
        #[pin]
        io: T,
        stall: Stall,
    }
}

impl<T> SendTimeout<T> {
    /// `io`, with writes bounded by `timeout` of no progress.
    pub fn new(io: T, timeout: Duration) -> Self {
        SendTimeout {
            io,
            stall: Stall::new(timeout),
        }
    }
}

fn bounded<R>(stall: &mut Stall, cx: &mut Context<'_>, poll: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
    match poll {
        Poll::Ready(result) => {
            stall.progressed();
            Poll::Ready(result)
        }
        Poll::Pending if stall.waited_too_long(cx) => Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("the client took no bytes for {:?}", stall.after),
        ))),
        Poll::Pending => Poll::Pending,
    }
}

impl<T: AsyncRead> AsyncRead for SendTimeout<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_read(cx, buf)
    }
}

impl<T: AsyncWrite> AsyncWrite for SendTimeout<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.project();
        let poll = this.io.poll_write(cx, buf);
        bounded(this.stall, cx, poll)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let poll = this.io.poll_write_vectored(cx, bufs);
        bounded(this.stall, cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.project();
        let poll = this.io.poll_flush(cx);
        bounded(this.stall, cx, poll)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.project();
        let poll = this.io.poll_shutdown(cx);
        bounded(this.stall, cx, poll)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_takes_nothing_fails_the_write_after_the_timeout() {
        let (near, mut far) = tokio::io::duplex(64);
        let mut io = SendTimeout::new(near, Duration::from_secs(30));
        let chunk = [0u8; 64];
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // The peer takes a chunk every 20 s, four times, then nothing.
        let reader = tokio::spawn(async move {
            for _ in 0..4 {
                tokio::time::sleep(Duration::from_secs(20)).await;
                let mut taken = [0u8; 64];
                far.read_exact(&mut taken).await.expect("read");
            }
            far
        });
        // Each write waits up to 20 s: slow but steady goes through.
        for _ in 0..5 {
            io.write_all(&chunk).await.expect("the peer takes it");
        }
        let _far = reader.await.expect("the reader");
        let started = Instant::now();
        let error = io.write_all(&chunk).await.expect_err("times out");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(30));
    }
}
