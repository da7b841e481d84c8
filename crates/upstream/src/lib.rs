//! The MCP upstream: a connector that makes pooled clients bound to an MCP
//! server, and a session layer that keeps clients' sessions across the
//! server's restarts.
//!
//! # The connector
//!
//! [`UpstreamConnector`] is a `tower::Service<UpstreamTarget>` — the
//! *connector* `CircuitReconnectLayer` drives. Each call proves the target
//! takes connections (one TCP connect, plus the TLS handshake for
//! `https://`, then dropped: a refused port fails the call, classified
//! `Unavailable`, not reached) and returns an [`UpstreamService`]: a
//! `hyper_util` client with its own connection pool, HTTP/1.1 and HTTP/2
//! (ALPN, or prior knowledge with [`Config::http2_only`]), rustls with the
//! `ring` provider and Mozilla's roots, the connect timeout of
//! `MCPO_CONNECTION_TIMEOUT` (30 s). The service sends every request to the
//! target URL (the client's query appended), with `Host` set for it,
//! `Accept: application/json, text/event-stream`, the target's headers (the
//! upstream's own `Authorization`), and without hop-by-hop headers or the
//! client's credentials; MCP headers (`Mcp-Session-Id`,
//! `MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`, `Last-Event-ID`) and
//! methods (`POST`, the `GET` SSE stream, `DELETE`) pass as sent. Answers —
//! JSON or SSE — stream back frame by frame.
//!
//! The reconnect design's "resilient connection: 3 tries with exponential backoff" is the
//! circuit's attempt loop over this connector; the connector itself tries once.
//!
//! # The session layer
//!
//! [`SessionLayer`] issues its own session ids to clients and maps them to
//! the upstream's; when the upstream loses a session (restart: `404`), it
//! re-runs the client's `initialize` once and sends the request again, so the
//! client keeps its session and never sees the restart. See [`session`].
//! Stateless (2026-07-28) traffic passes through untouched.
//!
//! # The recommended stack
//!
//! ```text
//! client → [HealthLayer] → [ToolRetryLayer] → SessionLayer → CircuitReconnectLayer
//!        → connector-made service: ClassifyLayer → UpstreamService
//! ```
//!
//! ```no_run
//! use http::header::{AUTHORIZATION, HeaderValue};
//! use mcp_reconnect_circuit::CircuitReconnectLayer;
//! use mcp_reconnect_classify::ClassifyLayer;
//! use mcp_reconnect_upstream::{Config, FromEnv, SessionConfig, SessionLayer, UpstreamConnector, UpstreamTarget};
//! use tower::ServiceBuilder;
//!
//! # fn main() -> Result<(), tower::BoxError> {
//! let target = UpstreamTarget::new("https://mcp.example.com/mcp")?
//!     .header(AUTHORIZATION, HeaderValue::from_static("Bearer upstream-token"));
//! // The circuit's connector: every service it makes is classified.
//! let connector = UpstreamConnector::new(Config::from_env()?).layered(ClassifyLayer::new());
//! let stack = ServiceBuilder::new()
//!     .layer(SessionLayer::with_config(SessionConfig::from_env()?))
//!     .layer(CircuitReconnectLayer::new(target.clone()).name(target.display()))
//!     .service(connector);
//! // Serve `stack` with hyper or axum (add core's `RespondLayer` on top for
//! // JSON-RPC error answers); see this crate's tests.
//! # let _ = stack;
//! # Ok(())
//! # }
//! ```
//!
//! A la carte — a connector-made service alone, in your own axum proxy:
//!
//! ```no_run
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use mcp_reconnect_upstream::{UpstreamConnector, UpstreamTarget};
//! use tower::ServiceExt;
//!
//! # async fn example() -> Result<(), tower::BoxError> {
//! let connector = UpstreamConnector::default();
//! let upstream = connector.oneshot(UpstreamTarget::new("http://127.0.0.1:8080/mcp")?).await?;
//! let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
//! let request = http::Request::post("/ignored").body(Full::new(Bytes::from(ping)))?;
//! let response = upstream.oneshot(request).await?; // JSON or an SSE stream
//! # let _ = response;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod config;
mod connector;
mod error;
mod probe;
mod service;
mod target;

pub use config::{
    Config, DEFAULT_CONNECT_TIMEOUT, DEFAULT_POOL_IDLE_TIMEOUT, DEFAULT_POOL_MAX_IDLE,
    ENV_CONNECTION_TIMEOUT, Probe,
};
pub use connector::{ConnectFuture, Layered, PROBE_TIMEOUT, UpstreamConnection, UpstreamConnector};
pub use error::{ConnectError, InvalidTarget};
/// `Config::from_env()` and `Config::from_lookup()` come with this trait.
pub use mcp_reconnect_core::config::FromEnv;
/// The session layer (crate `mcp-reconnect-session`), re-exported so a stack
/// built from this crate needs one dependency.
pub use mcp_reconnect_session as session;
pub use mcp_reconnect_session::{
    DEFAULT_MAX_BODY, DEFAULT_MAX_INITIALIZE_BODY, DEFAULT_MAX_SESSIONS, DEFAULT_REINIT_TIMEOUT,
    DEFAULT_SESSION_IDLE_TIMEOUT, DEFAULT_SESSION_OPEN_RATE, ENV_SESSION_IDLE_TIMEOUT, ENV_SESSION_MAX,
    ENV_SESSION_OPEN_RATE, InvalidUpstreamSession, ReinitFailed, Session, SessionConfig, SessionId,
    SessionLayer, SessionStats, SessionStore, StoreError,
};
pub use probe::ProbeRefused;
pub use service::{ACCEPT_MCP, UpstreamFuture, UpstreamService};
pub use target::UpstreamTarget;
