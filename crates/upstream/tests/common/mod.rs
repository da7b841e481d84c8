//! The recommended stack over a real rmcp upstream, served on 127.0.0.1 by
//! hyper, and rmcp clients of both eras.
#![allow(dead_code)]

use std::collections::HashSet;
use std::convert::Infallible;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use mcp_reconnect_circuit::CircuitReconnectLayer;
use mcp_reconnect_classify::ClassifyLayer;
use mcp_reconnect_core::BoxError;
use mcp_reconnect_core::headers::MCP_SESSION_ID;
use mcp_reconnect_core::peek::peek;
use mcp_reconnect_core::respond::RespondLayer;
use mcp_reconnect_testkit::{McpServer, ServerOptions};
use mcp_reconnect_upstream::session::MemoryStore;
use mcp_reconnect_upstream::{SessionConfig, SessionLayer, UpstreamConnector, UpstreamTarget};
use rmcp::model::{CallToolRequestParams, CallToolResult, ClientConfig, ProtocolVersion};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, ClientLifecycleMode, ClientServiceExt, ServiceError, ServiceExt};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tower::{Layer, Service, ServiceBuilder};

/// A bound on anything that should finish: generous, never a timing assertion.
pub const GENEROUS: Duration = Duration::from_secs(30);

/// Awaits `future`, failing the test if it takes more than [`GENEROUS`].
pub async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(GENEROUS, future).await.expect("timed out")
}

/// The stack `RespondLayer → SessionLayer → CircuitReconnectLayer →
/// (ClassifyLayer → count → UpstreamService)` on `127.0.0.1`, in front of `upstream`.
pub struct Gateway {
    /// The MCP endpoint clients use.
    pub url: String,
    /// The client sessions.
    pub store: Arc<MemoryStore>,
    /// The session layer (for its stats).
    pub sessions: SessionLayer,
    /// `initialize` requests that reached the upstream.
    pub initializes: Arc<AtomicUsize>,
    /// Every `Mcp-Session-Id` clients sent.
    pub client_sessions: Arc<Mutex<HashSet<String>>>,
    serving: JoinHandle<()>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.serving.abort();
    }
}

impl Gateway {
    /// The gateway in front of the MCP endpoint at `upstream`.
    pub async fn start(upstream: &str) -> Gateway {
        Gateway::start_with(upstream, SessionConfig::default()).await
    }

    /// The gateway with `config` for its sessions.
    pub async fn start_with(upstream: &str, config: SessionConfig) -> Gateway {
        let target = UpstreamTarget::new(upstream).expect("an upstream URL");
        let initializes = Arc::new(AtomicUsize::new(0));
        let per_service = ServiceBuilder::new()
            .layer(ClassifyLayer::new())
            .layer(CountInitializeLayer(Arc::clone(&initializes)));
        let connector = UpstreamConnector::default().layered(per_service);
        let sessions = SessionLayer::with_config(config);
        let store = sessions.store();
        let layer = sessions.clone();
        let client_sessions = Arc::new(Mutex::new(HashSet::new()));
        let seen = Arc::clone(&client_sessions);
        let stack = ServiceBuilder::new()
            .layer(RespondLayer::new())
            .map_request(move |request: Request<Incoming>| {
                if let Some(id) = request.headers().get(MCP_SESSION_ID) {
                    seen.lock()
                        .expect("not poisoned")
                        .insert(id.to_str().unwrap_or("?").to_owned());
                }
                request
            })
            .layer(sessions)
            .layer(CircuitReconnectLayer::new(target.clone()).name(target.display()))
            .service(connector);
        let (addr, serving) = serve(stack).await;
        Gateway {
            url: format!("http://{addr}/mcp"),
            store,
            sessions: layer,
            initializes,
            client_sessions,
            serving,
        }
    }

    /// How many `initialize` requests reached the upstream.
    pub fn initializes(&self) -> usize {
        self.initializes.load(Ordering::SeqCst)
    }

    /// How many distinct session ids clients sent.
    pub fn client_session_count(&self) -> usize {
        self.client_sessions.lock().expect("not poisoned").len()
    }
}

/// Starts a legacy-session testkit server.
pub async fn upstream() -> McpServer {
    within(McpServer::start(ServerOptions::default()))
        .await
        .expect("the upstream starts")
}

/// A legacy-session testkit server, and the gateway in front of it with `config`.
pub async fn upstream_and_gateway(config: SessionConfig) -> (McpServer, Gateway) {
    let server = upstream().await;
    let gateway = Gateway::start_with(&server.url(), config).await;
    (server, gateway)
}

/// Serves `service` on `127.0.0.1:0` with hyper (HTTP/1.1) until the handle is aborted.
pub async fn serve<S, B>(service: S) -> (SocketAddr, JoinHandle<()>)
where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("bound");
    let serving = tokio::spawn(async move {
        // Dropping the set (when this task is aborted) closes every connection.
        let mut connections = JoinSet::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let service = TowerToHyperService::new(service.clone());
            connections.spawn(async move {
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                let _ = connection.await;
            });
        }
    });
    (addr, serving)
}

/// Counts the `initialize` requests that pass.
#[derive(Clone)]
pub struct CountInitializeLayer(Arc<AtomicUsize>);

impl<S> Layer<S> for CountInitializeLayer {
    type Service = CountInitialize<S>;

    fn layer(&self, inner: S) -> CountInitialize<S> {
        CountInitialize {
            inner,
            count: Arc::clone(&self.0),
        }
    }
}

#[derive(Clone)]
pub struct CountInitialize<S> {
    inner: S,
    count: Arc<AtomicUsize>,
}

impl<S> Service<Request<Full<Bytes>>> for CountInitialize<S>
where
    S: Service<Request<Full<Bytes>>> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Full<Bytes>>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let count = Arc::clone(&self.count);
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let bytes = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
            let is_initialize = peek(&bytes)
                .ok()
                .and_then(|p| p.single().and_then(|m| m.method().map(|m| m == "initialize")))
                .unwrap_or(false);
            if is_initialize {
                count.fetch_add(1, Ordering::SeqCst);
            }
            inner.call(Request::from_parts(parts, Full::new(bytes))).await
        })
    }
}

pub type Client<H = ClientConfig> = RunningService<RoleClient, H>;

/// A client transport's settings: the client's own re-initialize is off, so
/// a `404` would reach the caller as an error.
pub fn transport_config(url: &str) -> StreamableHttpClientTransportConfig {
    StreamableHttpClientTransportConfig::with_uri(url.to_owned()).reinit_on_expired_session(false)
}

/// An rmcp client pinned to the legacy handshake, its own re-initialize off.
pub async fn legacy_client(url: &str) -> Client {
    let config = ClientConfig::default().with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE);
    let transport = StreamableHttpClientTransport::from_config(transport_config(url));
    within(config.serve(transport))
        .await
        .expect("the client initializes")
}

/// An rmcp client of the 2026-07-28 era (`server/discover`, no session).
pub async fn stateless_client(url: &str) -> Client {
    let lifecycle = ClientLifecycleMode::Discover {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
    };
    let transport = StreamableHttpClientTransport::from_config(transport_config(url));
    within(ClientConfig::default().serve_with_lifecycle(transport, lifecycle))
        .await
        .expect("the client discovers the server")
}

/// Calls `tool` with `arguments`.
pub async fn call<H: ClientHandler>(
    client: &Client<H>,
    tool: &str,
    arguments: Value,
) -> Result<CallToolResult, ServiceError> {
    let arguments = arguments.as_object().cloned().unwrap_or_default();
    within(client.call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments))).await
}

/// Calls `tool` and returns its text answer, failing the test on any error.
pub async fn call_text<H: ClientHandler>(client: &Client<H>, tool: &str, arguments: Value) -> String {
    let result = call(client, tool, arguments).await.expect("tool call");
    assert_ne!(result.is_error, Some(true), "{result:?}");
    result.content[0].as_text().expect("a text result").text.clone()
}
