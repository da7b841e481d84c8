//! [`McpServer`]: a real rmcp Streamable-HTTP server on `127.0.0.1` that a
//! test can kill and bring back on the same port.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::net::TcpListener;
use tokio_util::sync::{CancellationToken, DropGuard};
use tower_service::Service;

use crate::counters::Counters;
use crate::serve::{Serving, bind_again, bind_loopback};
use crate::tools::TestTools;

/// The path of the MCP endpoint; every other path is answered `404`.
pub const MCP_PATH: &str = "/mcp";

/// How [`McpServer`] serves MCP.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServerOptions {
    /// Keep legacy (`initialize`) clients in sessions (`Mcp-Session-Id`), as
    /// rmcp does by default (`legacy_session_mode`). Default `true`.
    /// 2026-07-28 requests are served statelessly either way.
    pub sessions: bool,
    /// Answer simple requests with `application/json` instead of an SSE
    /// stream. rmcp honours it only for requests it serves statelessly
    /// (`sessions: false`, or 2026-07-28 clients). Default `false`.
    pub json_response: bool,
    /// Interval of SSE keep-alive comments; `None` (the default) sends none,
    /// so streams carry only messages.
    pub sse_keep_alive: Option<Duration>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            sessions: true,
            json_response: false,
            sse_keep_alive: None,
        }
    }
}

impl ServerOptions {
    mcp_reconnect_core::setters! {
        /// Sets [`ServerOptions::sessions`].
        pub fn with_sessions(sessions: bool);

        /// Sets [`ServerOptions::json_response`].
        pub fn with_json_response(json_response: bool);

        /// Sets [`ServerOptions::sse_keep_alive`].
        pub fn with_sse_keep_alive(sse_keep_alive: Option<Duration>);
    }
}

/// A real MCP server (rmcp 3.11, Streamable HTTP) on `127.0.0.1`, serving
/// the tools of [`tools`](crate::tools) at [`MCP_PATH`].
///
/// [`stop`](Self::stop) is a hard kill: the listener closes and every open
/// connection drops, so new connects are refused and in-flight requests see a
/// closed connection. [`start_again`](Self::start_again) serves the same port
/// with a fresh session manager, so a session id from before answers `404`,
/// while [`counters`](Self::counters) carry on.
///
/// rmcp validates the `Host` header and by default accepts only loopback
/// hosts (`localhost`, `127.0.0.1`, `::1`); that default is kept.
/// Dropping the server stops it.
#[derive(Debug)]
pub struct McpServer {
    addr: SocketAddr,
    options: ServerOptions,
    counters: Arc<Counters>,
    running: Option<Running>,
}

/// One incarnation: its accept loop, rmcp's sessions, and the token that ends them.
#[derive(Debug)]
struct Running {
    serving: Serving,
    sessions: Arc<LocalSessionManager>,
    _mcp: DropGuard,
}

impl McpServer {
    /// Starts a server on `127.0.0.1:0`.
    pub async fn start(options: ServerOptions) -> io::Result<McpServer> {
        let listener = bind_loopback().await?;
        let addr = listener.local_addr()?;
        let mut server = McpServer {
            addr,
            options,
            counters: Arc::default(),
            running: None,
        };
        server.serve(listener);
        tracing::debug!(%addr, "mcp server started");
        Ok(server)
    }

    /// Starts a server on a given loopback `addr`, such as the port an earlier
    /// process served (its connections may linger in `TIME_WAIT`: the bind
    /// retries while the port is in use).
    pub async fn start_on(addr: SocketAddr, options: ServerOptions) -> io::Result<McpServer> {
        let listener = bind_again(addr).await?;
        let mut server = McpServer {
            addr: listener.local_addr()?,
            options,
            counters: Arc::default(),
            running: None,
        };
        server.serve(listener);
        tracing::debug!(addr = %server.addr, "mcp server started");
        Ok(server)
    }

    /// The address the server listens on (it keeps it across restarts).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The MCP endpoint: `http://127.0.0.1:PORT/mcp`.
    pub fn url(&self) -> String {
        format!("http://{}{MCP_PATH}", self.addr)
    }

    /// What the tools executed, in this and every earlier incarnation.
    pub fn counters(&self) -> Arc<Counters> {
        Arc::clone(&self.counters)
    }

    /// Whether the server is serving (started and not stopped).
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// How many legacy sessions the running incarnation holds (0 when stopped).
    pub async fn session_count(&self) -> usize {
        match &self.running {
            Some(running) => running.sessions.sessions.read().await.len(),
            None => 0,
        }
    }

    /// Kills the server: closes the listener, drops every connection, ends every
    /// session. The port refuses connections until [`start_again`](Self::start_again).
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.serving.stop().await;
            tracing::debug!(addr = %self.addr, "mcp server stopped");
        }
    }

    /// Serves the same port again, with no sessions. Does nothing if running.
    pub async fn start_again(&mut self) -> io::Result<()> {
        if self.running.is_none() {
            let listener = bind_again(self.addr).await?;
            self.serve(listener);
            tracing::debug!(addr = %self.addr, "mcp server started again");
        }
        Ok(())
    }

    /// [`stop`](Self::stop), then [`start_again`](Self::start_again).
    pub async fn restart(&mut self) -> io::Result<()> {
        self.stop().await;
        self.start_again().await
    }

    fn serve(&mut self, listener: TcpListener) {
        let mcp = CancellationToken::new();
        let sessions = Arc::new(LocalSessionManager::default());
        let config = StreamableHttpServerConfig::default()
            .with_legacy_session_mode(self.options.sessions)
            .with_json_response(self.options.json_response)
            .with_sse_keep_alive(self.options.sse_keep_alive)
            .with_cancellation_token(mcp.clone());
        let counters = Arc::clone(&self.counters);
        let service = StreamableHttpService::new(
            move || Ok(TestTools::new(Arc::clone(&counters))),
            Arc::clone(&sessions),
            config,
        );
        let serving = Serving::spawn(listener, move |stream, peer| {
            let service = service.clone();
            async move {
                let route = hyper::service::service_fn(move |request| route(service.clone(), request));
                let connection =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), route);
                if let Err(error) = connection.await {
                    tracing::debug!(%peer, %error, "connection ended with an error");
                }
            }
        });
        self.running = Some(Running {
            serving,
            sessions,
            _mcp: mcp.drop_guard(),
        });
    }
}

type McpService = StreamableHttpService<TestTools, LocalSessionManager>;

/// Sends [`MCP_PATH`] to rmcp, answers `404` to anything else.
async fn route(
    mut service: McpService,
    request: Request<Incoming>,
) -> Result<Response<BoxBody<Bytes, Infallible>>, Infallible> {
    if request.uri().path() == MCP_PATH {
        service.call(request).await
    } else {
        let mut response = Response::new(Full::new(Bytes::from_static(b"Not Found")).boxed());
        *response.status_mut() = StatusCode::NOT_FOUND;
        Ok(response)
    }
}
