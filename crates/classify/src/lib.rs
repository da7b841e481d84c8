//! `ClassifyLayer`: which failures of an MCP upstream are recoverable, and
//! did the request reach the server?
//!
//! Wrap any `Service<http::Request<B>>` that talks to an MCP server (a
//! `hyper_util` client, an axum handler, a `tower::service_fn`). Each answer
//! leaves with a [`Classification`] in its extensions; each error leaves as a
//! [`ClassifiedError`] carrying the [`Failure`] and its source. The layers
//! above (reconnect, retry, health) read these instead of classifying again.
//!
//! - **Status and headers decide** (`502`/`504` gateway, `503`/`429`
//!   unavailable with `Retry-After`, `404` to a request with
//!   `Mcp-Session-Id` session lost, other `4xx`/`5xx` business).
//! - **A body is read only when it is complete, small and JSON, and can change
//!   the class**: a `404` whose JSON-RPC error is `-32601` is not session loss,
//!   a `400` about the session is, a `200` carrying a JSON-RPC error or an
//!   `isError` result is business. The limit is 64 KiB
//!   ([`ClassifyLayer::body_peek_limit`]); the bytes are passed on unchanged.
//!   An SSE stream is never buffered.
//! - **Errors are walked through their `source()` chain** (hyper, hyper-util,
//!   `std::io`, tokio and tower timeouts): refused is unavailable and never
//!   reached the server; a reset is a connection failure whose reach is unknown.
//!
//! `poll_ready` passes the inner service's readiness through; its errors are
//! classified too.
//!
//! # Example
//!
//! ```
//! use http::{Request, Response, StatusCode};
//! use mcp_reconnect_classify::ClassifyLayer;
//! use mcp_reconnect_core::{Classification, FailureClass};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tower::BoxError> {
//! let upstream = service_fn(|_request: Request<String>| async {
//!     let response = Response::builder()
//!         .status(StatusCode::BAD_GATEWAY)
//!         .body(http_body_util::Full::new(bytes::Bytes::from_static(b"bad gateway")))?;
//!     Ok::<_, http::Error>(response)
//! });
//! let service = ServiceBuilder::new().layer(ClassifyLayer::new()).service(upstream);
//!
//! let response = service.oneshot(Request::new(String::new())).await?;
//! let class = response.extensions().get::<Classification>().unwrap();
//! assert_eq!(class.class(), Some(FailureClass::Gateway));
//! assert!(class.is_recoverable());
//! # Ok(())
//! # }
//! ```
//!
//! With `tower_http::trace::TraceLayer`, use [`MakeMcpClassifier`] so the
//! trace logs the same classes (see `examples/classify_axum.rs`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod body;
mod future;
mod layer;
mod service;
mod trace;

pub use body::ClassifyBody;
pub use future::ResponseFuture;
pub use layer::ClassifyLayer;
pub use service::Classify;
pub use trace::{MakeMcpClassifier, McpClassifier};

pub use mcp_reconnect_core::{Classification, ClassifiedError, Failure, FailureClass, Reached};

#[cfg(test)]
mod tests;
