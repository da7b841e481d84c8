//! Keep MCP (Model Context Protocol) clients working through upstream
//! restarts, `502`/`503`/`504` storms, resets and lost sessions: composable
//! tower layers in front of any hyper-based MCP upstream service.
//!
//! This facade re-exports the layer crates behind cargo features, so one
//! dependency gives the whole stack and each layer stays usable alone.
//!
//! | feature | crate | what it gives |
//! |---|---|---|
//! | (always) | [`core`] | failure classes, classification, JSON-RPC peek, `Attempt`, the responder |
//! | `classify` (default) | [`classify`] | [`ClassifyLayer`]: which failures are recoverable, and did the request reach the server? |
//! | `circuit` (default) | [`circuit`] | [`CircuitReconnectLayer`]: threshold, backoff, single-flight reconnect, open/half-open |
//! | `retry` (default) | [`retry`] | [`ToolRetryLayer`]: replays calls after a reconnect when safe; never runs a non-idempotent tool twice |
//! | `health` (default) | [`health`] | [`HealthLayer`]: `/health` (the reconnect design's JSON, `503` when open) and `/metrics` (JSON, Prometheus, OpenMetrics) |
//! | `upstream` (default) | [`upstream`] | [`UpstreamConnector`] (pooled HTTP/1.1 + HTTP/2 client to the MCP server, rustls TLS, streaming SSE) and [`SessionLayer`]: clients keep their session across upstream restarts |
//!
//! # Example
//!
//! ```
//! use mcp_reconnect::{ClassifyLayer, core::Classification};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tower::BoxError> {
//! let upstream = service_fn(|_: http::Request<()>| async {
//!     Ok::<_, std::io::Error>(http::Response::new(http_body_util::Full::new(bytes::Bytes::new())))
//! });
//! let stack = ServiceBuilder::new().layer(ClassifyLayer::new()).service(upstream);
//! let response = stack.oneshot(http::Request::new(())).await?;
//! assert!(response.extensions().get::<Classification>().unwrap().is_success());
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use mcp_reconnect_core as core;

#[cfg(feature = "classify")]
pub use mcp_reconnect_classify as classify;
#[cfg(feature = "classify")]
pub use mcp_reconnect_classify::{ClassifiedError, ClassifyLayer};

#[cfg(feature = "circuit")]
pub use mcp_reconnect_circuit as circuit;
#[cfg(feature = "circuit")]
pub use mcp_reconnect_circuit::{CircuitReconnectLayer, CircuitStatus};

#[cfg(feature = "retry")]
pub use mcp_reconnect_retry as retry;
#[cfg(feature = "retry")]
pub use mcp_reconnect_retry::ToolRetryLayer;

#[cfg(feature = "health")]
pub use mcp_reconnect_health as health;
#[cfg(feature = "health")]
pub use mcp_reconnect_health::HealthLayer;

#[cfg(feature = "upstream")]
pub use mcp_reconnect_upstream as upstream;
#[cfg(feature = "upstream")]
pub use mcp_reconnect_upstream::{SessionLayer, UpstreamConnector, UpstreamTarget};

/// README.md's code, compiled as doctests so its à-la-carte example cannot rot.
#[cfg(all(doctest, feature = "classify", feature = "circuit", feature = "upstream"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
