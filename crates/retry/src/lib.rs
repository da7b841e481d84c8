//! `ToolRetryLayer`: replays MCP calls after a reconnect when that is safe,
//! and never runs a tool that is not idempotent twice.
//!
//! Put it above the reconnect (circuit) layer and `ClassifyLayer`. For each
//! request it:
//!
//! - **buffers the body once** (at most 4 MiB, [`ToolRetryLayer::max_body`];
//!   over it: `413` with a JSON-RPC `REQUEST_TOO_LARGE` error, nothing
//!   forwarded) and **peeks it once** (method, id, tool name, notification,
//!   batch). The peek is left in the request extensions as an `Arc<Peek>`
//!   for the layers below ([`mcp_reconnect_core::peek::of_request`]).
//! - **retries through `tower::retry`**: every try, the first included, first
//!   waits for the inner service's `poll_ready` inside the response future,
//!   under the call's deadline — which is how it waits for a reconnect below
//!   (the layer's own `poll_ready` is always ready: it buffers the request).
//!   It sleeps only for an upstream's `Retry-After`. The deadline is left on
//!   the request as a [`Deadline`](mcp_reconnect_core::Deadline), so a layer
//!   below whose future is dropped at it counts a timeout.
//! - **decides from the failure's class and reach** (the `Classification`
//!   that `ClassifyLayer` attached, the `ClassifiedError` in the error chain,
//!   or core's classifiers when the layer runs alone):
//!
//!   | failure | retried |
//!   |---|---|
//!   | never reached the server (`503`, refused, session lost) | always |
//!   | may have reached it (`502`, `504`, reset after write, timeout) | only a safe method ([`SAFE_METHODS`]) or a read-only / idempotent tool |
//!   | business (JSON-RPC error, `isError`, other `4xx`) | never |
//!
//!   A tool is safe when the allow list names it, or the `readOnlyHint` /
//!   `idempotentHint` annotations of a `tools/list` answer that passed through
//!   the layer said so ([`ToolSafety`]), and the deny list does not name it.
//!   An unsafe call that failed ambiguously is answered with a JSON-RPC
//!   `MAYBE_EXECUTED` error carrying its id and `error.data`
//!   (`class`, `reached`, `retried: false`, `tool`).
//! - **bounds the retries**: at most 2 retries, all within a 30 s deadline
//!   (the call then ends with a `Timeout` [`ClassifiedError`](mcp_reconnect_core::ClassifiedError)),
//!   and within a `TpsBudget` retry budget.
//! - **never stacks or replays what it must not**: a request that already has
//!   an [`Attempt`](mcp_reconnect_core::Attempt) (an outer retry layer),
//!   notifications, responses and bodies that are not JSON-RPC are forwarded
//!   once, untouched; a batch is retried only when every member is safe; the
//!   decision is taken on the response head, so a streaming answer is never replayed.
//!
//! Served by hyper's HTTP/1 server, reading the body in the connection's own
//! task makes hyper wake that task from inside its poll once per call; spawn
//! each connection in [`mcp_reconnect_core::repoll::Repoll`] so that does not
//! cost a second worker's wake-up (`mcp-gateway` does).
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::{BodyExt, Full};
//! use mcp_reconnect_retry::ToolRetryLayer;
//! use tower::{Layer, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tower::BoxError> {
//! // An upstream that is restarting: the first try gets a 503 from the proxy.
//! let tries = Arc::new(AtomicU32::new(0));
//! let counter = Arc::clone(&tries);
//! let upstream = service_fn(move |_: Request<Full<Bytes>>| {
//!     let status = if counter.fetch_add(1, Ordering::SeqCst) == 0 { 503 } else { 200 };
//!     async move {
//!         let body = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[]}}"#;
//!         Response::builder().status(status).body(Full::new(Bytes::from(body)))
//!     }
//! });
//! let layer = ToolRetryLayer::new();
//! let service = layer.layer(upstream);
//!
//! let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"increment","arguments":{}}}"#;
//! let response = service.oneshot(Request::post("/mcp").body(Full::new(Bytes::from(call)))?).await?;
//! // A 503 never reached the server: even a non-idempotent tool is sent again.
//! assert_eq!(response.status(), StatusCode::OK);
//! assert_eq!(tries.load(Ordering::SeqCst), 2);
//! assert_eq!(layer.stats().succeeded, 1);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod body;
pub mod config;
mod error;
mod future;
mod layer;
mod plan;
mod policy;
mod safety;
mod service;
mod stats;

pub use body::{RetryBody, TeeBody};
pub use config::{Config, RetryBudget};
pub use error::DeadlineExceeded;
pub use future::ResponseFuture;
pub use layer::ToolRetryLayer;
/// `Config::from_env()` and `Config::from_lookup()` come with this trait.
pub use mcp_reconnect_core::config::FromEnv;
pub use mcp_reconnect_core::status::RetryCounts;
pub use safety::{MAX_LEARNED_TOOLS, SAFE_METHODS, ToolHints, ToolSafety, is_safe_method};
pub use service::ToolRetry;

#[cfg(test)]
mod tests;
