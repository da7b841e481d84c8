//! An accept loop that owns every connection it accepted, so that stopping it
//! is a hard kill: the listener closes and every open connection drops at once,
//! as when the process is `SIGKILL`ed (no graceful drain, no `Connection: close`).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

/// How long the loop waits after a failed `accept` (out of file descriptors,
/// …) before it accepts again, so such an error cannot spin a core.
pub const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(10);

/// How many times a restart tries to rebind its port before giving up.
pub const REBIND_ATTEMPTS: u32 = 100;

/// The pause between two rebind attempts (at most about 2 s in all).
pub const REBIND_PAUSE: Duration = Duration::from_millis(20);

/// A running accept loop and its connections.
///
/// Dropping it stops the loop too, without waiting: the loop's task then drops
/// the listener and aborts the connections on its next poll.
#[derive(Debug)]
pub(crate) struct Serving {
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Serving {
    /// Accepts on `listener` until stopped, running `on_connection` on its own
    /// task for each accepted socket.
    pub(crate) fn spawn<F, Fut>(listener: TcpListener, on_connection: F) -> Serving
    where
        F: FnMut(TcpStream, SocketAddr) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let stop = CancellationToken::new();
        let task = tokio::spawn(accept_loop(listener, stop.clone(), on_connection));
        Serving {
            stop,
            task: Some(task),
        }
    }

    /// Closes the listener and every connection, and waits until they are gone.
    pub(crate) async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take()
            && let Err(error) = task.await
            && error.is_panic()
        {
            tracing::error!(%error, "accept loop panicked");
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn accept_loop<F, Fut>(listener: TcpListener, stop: CancellationToken, mut on_connection: F)
where
    F: FnMut(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    // Dropping a `JoinSet` aborts its tasks: if this task is aborted (runtime
    // shutdown) the connections go with it.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tracing::trace!(%peer, "accepted");
                    // An SSE answer is several small writes: without this, Nagle
                    // and the peer's delayed ACK hold the last one ~40 ms.
                    let _ = stream.set_nodelay(true);
                    connections.spawn(on_connection(stream, peer));
                }
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                }
            },
        }
    }
    drop(listener);
    connections.shutdown().await;
    tracing::debug!("stopped: listener closed, connections dropped");
}

/// Binds a fresh listener on `127.0.0.1:0`.
pub(crate) async fn bind_loopback() -> io::Result<TcpListener> {
    TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await
}

/// Binds `addr` again after its listener was closed.
///
/// tokio sets `SO_REUSEADDR`, so connections lingering in `TIME_WAIT` do not
/// block the port; retries cover the rare case where some other socket took the
/// port meanwhile.
pub(crate) async fn bind_again(addr: SocketAddr) -> io::Result<TcpListener> {
    let mut attempt = 1;
    loop {
        match TcpListener::bind(addr).await {
            Ok(listener) => return Ok(listener),
            Err(error) if error.kind() == io::ErrorKind::AddrInUse && attempt < REBIND_ATTEMPTS => {
                tracing::debug!(%addr, attempt, "port still in use, retrying");
                attempt += 1;
                tokio::time::sleep(REBIND_PAUSE).await;
            }
            Err(error) => return Err(error),
        }
    }
}
