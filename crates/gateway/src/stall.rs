//! Bounds on the two ways a stream can stall and hold what others need:
//!
//! - [`SendTimeout`]: a client that takes no bytes of an answer for a while
//!   is disconnected (nginx's `send_timeout`). Its answer, and the call
//!   permit the answer holds, are released with the connection.
//! - [`IdleEnd`]: a `GET /mcp` stream on which the upstream sent nothing for
//!   a while ends, cleanly. A live server's heartbeat comments keep it open;
//!   a client that still wants the stream opens it again.
//!
//! Both arm their timer only when a stall starts: a stream that flows costs
//! a branch per poll.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Buf;
use hyper::body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// A timer armed when a wait starts and disarmed when it ends.
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

pin_project! {
    /// A body that ends (cleanly) once its inner body has sent no frame for
    /// the idle time.
    #[derive(Debug)]
    pub struct IdleEnd<B> {
        #[pin]
        body: B,
        stall: Stall,
        ended: bool,
    }
}

impl<B> IdleEnd<B> {
    /// `body`, ended after `idle` without a frame.
    pub fn new(body: B, idle: Duration) -> Self {
        IdleEnd {
            body,
            stall: Stall::new(idle),
            ended: false,
        }
    }
}

impl<B> Body for IdleEnd<B>
where
    B: Body,
    B::Data: Buf,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        if *this.ended {
            return Poll::Ready(None);
        }
        match this.body.poll_frame(cx) {
            Poll::Ready(frame) => {
                this.stall.progressed();
                Poll::Ready(frame)
            }
            Poll::Pending if this.stall.waited_too_long(cx) => {
                tracing::debug!(idle = ?this.stall.after, "the upstream sent nothing on the stream: ending it");
                *this.ended = true;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::BodyExt;
    use http_body_util::channel::Channel;
    use std::convert::Infallible;

    #[tokio::test(start_paused = true)]
    async fn a_stream_with_frames_stays_open_and_a_silent_one_ends() {
        let (mut sender, body) = Channel::<Bytes, Infallible>::new(4);
        let mut body = IdleEnd::new(body, Duration::from_secs(300));
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_secs(200)).await;
            sender
                .send_data(Bytes::from_static(b": ping\n\n"))
                .await
                .expect("open");
            let frame = body.frame().await.expect("a frame").expect("data");
            assert_eq!(frame.into_data().expect("data"), ": ping\n\n");
        }
        let started = Instant::now();
        assert!(body.frame().await.is_none(), "ended after the idle time");
        assert_eq!(started.elapsed(), Duration::from_secs(300));
        assert!(body.is_end_stream());
        assert!(body.frame().await.is_none(), "and stays ended");
    }

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
