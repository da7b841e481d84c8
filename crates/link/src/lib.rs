//! MCP servers reached over one message link, behind the mcp-reconnect layers:
//! a local stdio child, or a remote legacy HTTP+SSE server (protocol
//! 2024-11-05, whose `GET` event stream carries the server's messages and
//! whose `endpoint` takes the client's as `POST`s).
//!
//! [`StdioConnector`] and [`SseConnector`] are connectors in tower's
//! `MakeService` shape: for a [`StdioTarget`] (a command, arguments,
//! environment, working directory) the first starts the child in a process
//! group of its own; for an [`SseTarget`] (a stream URL and headers) the
//! second opens the stream and waits for its endpoint. Each initializes the
//! server once and returns a [`LinkService`] that serves it the way a
//! Streamable HTTP MCP server serves. So the layers built for remote
//! Streamable HTTP servers wrap either unchanged:
//!
//! - `CircuitReconnectLayer` is the supervisor: a dead link (the child
//!   exited, the stream ended) is a dead connection, reconnecting is
//!   respawning or reopening, and its backoff, attempts and open circuit
//!   bound a server that dies at once. Set its
//!   `session_loss_reconnects(false)`: each link hands out its own sessions.
//! - `ClassifyLayer` sees classified errors: a call whose message was
//!   written before the link died has unknown reach; one never written was
//!   not reached.
//! - `SessionLayer` keeps clients' sessions across a respawn or a new
//!   stream: each link hands out its own session id, the next link does not
//!   know it (`404`), and the layer re-initializes the client's session on
//!   the new one.
//! - `ToolRetryLayer` replays safe calls and never runs a non-idempotent
//!   tool twice.
//!
//! A stream that drops is first reopened with `Last-Event-ID` when the
//! server numbers its events; if the server resumes the same endpoint, the
//! link goes on and answers sent meanwhile still arrive.
//!
//! Many clients share one link, as mcpo shares one session per server:
//! JSON-RPC ids are rewritten per call, the gateway does the server's
//! `initialize`, the server's notifications go to every `GET` stream, and a
//! request from the server (sampling, elicitation, roots) is refused with a
//! clear error, since no one client owns it (`ping` is answered).
//!
//! A legacy SSE server's endpoint must be on its stream's origin (the
//! target's headers, its credentials, go nowhere else); its events are
//! bounded ([`SseConfig::max_message`]).
//!
//! stdio hygiene: the child gets only [`INHERITED_ENV`] from the gateway's
//! environment plus its own; stdout lines are bounded
//! ([`StdioConfig::max_line`]: a longer one stops the child); stderr goes to
//! `tracing` (target `mcp_reconnect_link::stderr`) at a bounded rate; a
//! released child gets `TERM`, then `KILL` after [`StdioConfig::stop_grace`],
//! to its whole process group, and is always reaped.
//!
//! ```no_run
//! use mcp_reconnect_link::{StdioConnector, StdioTarget};
//! use tower::{Service, ServiceExt};
//!
//! # async fn example() -> Result<(), mcp_reconnect_core::BoxError> {
//! let target = StdioTarget::new("uvx").arg("mcp-server-time");
//! let service = StdioConnector::default().oneshot(target).await?;
//! println!("serving session {}", service.session_id());
//! # Ok(())
//! # }
//! ```
//!
//! A legacy SSE server, through any HTTP client service (here hyper-util's;
//! `mcp-reconnect-upstream`'s `UpstreamConnector::http_client` adds TLS):
//!
//! ```no_run
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//! use mcp_reconnect_link::{SseConfig, SseConnector, SseTarget};
//! use tower::ServiceExt;
//!
//! # async fn example() -> Result<(), mcp_reconnect_core::BoxError> {
//! let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
//! let connector = SseConnector::new(client, SseConfig::default());
//! let service = connector.oneshot(SseTarget::new("http://127.0.0.1:8000/sse")?).await?;
//! println!("serving session {}", service.session_id());
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod body;
mod child;
mod config;
mod connector;
mod error;
mod handshake;
mod lines;
mod link;
mod service;
mod sse;
mod target;

pub use body::LinkBody;
pub use config::{
    DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_LINE, DEFAULT_MAX_MESSAGE, DEFAULT_SSE_HANDSHAKE_TIMEOUT,
    DEFAULT_STOP_GRACE, SseConfig, StdioConfig,
};
pub use connector::StdioConnector;
pub use error::{Dead, HandshakeError, SpawnError};
pub use handshake::LINK_PROTOCOL_VERSION;
pub use service::LinkService;
pub use sse::{HttpClient, InvalidSseUrl, ResponseBody, SseConnector, SseTarget, StreamError};
pub use target::{INHERITED_ENV, StdioTarget};
