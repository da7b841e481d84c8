//! [`FaultProxy`]: an HTTP proxy on `127.0.0.1` in front of an MCP server,
//! failing requests as its [`Rule`]s say.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::Mutex as AsyncMutex;
use tokio::task::JoinHandle;

use crate::fault::{InjectedFault, Rule};
use crate::forward::{Shared, lock, serve_connection};
use crate::serve::{Serving, bind_again, bind_loopback};
use crate::server::MCP_PATH;

/// A fault-injecting HTTP/1.1 proxy on `127.0.0.1`, forwarding to one upstream.
///
/// Each request's body is buffered (at most
/// [`MAX_REQUEST_BODY`](crate::MAX_REQUEST_BODY)) so its JSON-RPC
/// method and tool can be matched (2026-07-28 requests also name them in the
/// `Mcp-Method` / `Mcp-Name` headers, which win). The [`Rule`]s then pick a
/// [`Fault`](crate::Fault); with none, the request passes. Passed requests
/// keep their headers (`Mcp-Session-Id`, `MCP-Protocol-Version`, `Accept`,
/// `Last-Event-ID`, …; not hop-by-hop ones) and their answers are streamed
/// back unbuffered, so SSE works, for `POST`, `GET` and `DELETE` alike. An
/// upstream that cannot be reached gets the client a `502`, as from nginx.
///
/// [`refuse`](Self::refuse) closes the port so connects are refused;
/// [`accept`](Self::accept) opens the same port again. Dropping the proxy stops it.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    serving: Arc<AsyncMutex<Option<Serving>>>,
    reopen: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl FaultProxy {
    /// Starts a proxy on `127.0.0.1:0` in front of `upstream`.
    pub async fn start(upstream: SocketAddr) -> io::Result<FaultProxy> {
        let listener = bind_loopback().await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(upstream));
        let serving = serve(&shared, listener);
        tracing::debug!(%addr, %upstream, "fault proxy started");
        Ok(FaultProxy {
            addr,
            shared,
            serving: Arc::new(AsyncMutex::new(Some(serving))),
            reopen: std::sync::Mutex::default(),
        })
    }

    /// The proxy's address (kept across [`refuse`](Self::refuse) / [`accept`](Self::accept)).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The MCP endpoint through the proxy: `http://127.0.0.1:PORT/mcp`.
    pub fn url(&self) -> String {
        format!("http://{}{MCP_PATH}", self.addr)
    }

    /// Adds a rule after the existing ones.
    pub fn push(&self, rule: Rule) {
        lock(&self.shared.rules).push(rule);
    }

    /// Removes every rule: from now on every request passes.
    pub fn clear(&self) {
        lock(&self.shared.rules).clear();
    }

    /// The rules, with how often each fired.
    pub fn rules(&self) -> Vec<Rule> {
        lock(&self.shared.rules).clone()
    }

    /// The faults injected so far, oldest first (at most the last
    /// [`MAX_FAULT_LOG`](crate::MAX_FAULT_LOG)).
    pub fn log(&self) -> Vec<InjectedFault> {
        lock(&self.shared.log).iter().cloned().collect()
    }

    /// How many requests the proxy received.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// How many requests the proxy sent upstream (passed, delayed, or `ForwardThen*`).
    pub fn forwarded(&self) -> u64 {
        self.shared.forwarded.load(Ordering::Relaxed)
    }

    /// Whether the proxy accepts connections.
    pub async fn is_accepting(&self) -> bool {
        self.serving.lock().await.is_some()
    }

    /// Closes the port and drops every open connection: connects are refused
    /// (`ECONNREFUSED`) until [`accept`](Self::accept). Cancels a pending
    /// [`refuse_for`](Self::refuse_for) reopening.
    pub async fn refuse(&self) {
        self.cancel_reopen();
        if let Some(serving) = self.serving.lock().await.take() {
            serving.stop().await;
            tracing::debug!(addr = %self.addr, "fault proxy refusing");
        }
    }

    /// Accepts connections on the same port again. Does nothing if accepting.
    pub async fn accept(&self) -> io::Result<()> {
        self.cancel_reopen();
        reopen(&self.serving, &self.shared, self.addr).await
    }

    /// [`refuse`](Self::refuse)s now and [`accept`](Self::accept)s again after
    /// `duration`, in the background; returns once connects are refused.
    pub async fn refuse_for(&self, duration: Duration) {
        self.refuse().await;
        let serving = Arc::clone(&self.serving);
        let shared = Arc::clone(&self.shared);
        let addr = self.addr;
        let task = tokio::spawn(async move {
            tokio::time::sleep(duration).await;
            if let Err(error) = reopen(&serving, &shared, addr).await {
                tracing::warn!(%addr, %error, "fault proxy cannot accept again");
            }
        });
        *lock(&self.reopen) = Some(task);
    }

    /// Stops the proxy: the port closes, every connection drops.
    pub async fn stop(self) {
        self.refuse().await;
    }

    fn cancel_reopen(&self) {
        if let Some(task) = lock(&self.reopen).take() {
            task.abort();
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.cancel_reopen();
    }
}

/// Serves the proxy's port again unless it is served already.
async fn reopen(
    serving: &AsyncMutex<Option<Serving>>,
    shared: &Arc<Shared>,
    addr: SocketAddr,
) -> io::Result<()> {
    let mut serving = serving.lock().await;
    if serving.is_none() {
        let listener = bind_again(addr).await?;
        *serving = Some(serve(shared, listener));
        tracing::debug!(%addr, "fault proxy accepting again");
    }
    Ok(())
}

fn serve(shared: &Arc<Shared>, listener: tokio::net::TcpListener) -> Serving {
    let shared = Arc::clone(shared);
    Serving::spawn(listener, move |stream, peer| {
        serve_connection(Arc::clone(&shared), stream, peer)
    })
}
