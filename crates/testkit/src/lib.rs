//! A real, misbehaving MCP upstream for the tests, benches and demo of
//! mcp-reconnect. Everything listens on `127.0.0.1` only.
//!
//! - [`McpServer`]: an rmcp 3.11 Streamable-HTTP server at `/mcp` with five
//!   tools (`echo`, `add`, `increment`, `slow`, `fail_business`; see
//!   [`tools`]). [`stop`](McpServer::stop) kills it like `SIGKILL` (listener
//!   closed, keep-alive connections dropped);
//!   [`start_again`](McpServer::start_again) brings it back on the same port
//!   with no sessions, so an old `Mcp-Session-Id` gets `404`. Its
//!   [`Counters`] survive restarts, so a test can prove a non-idempotent tool
//!   ran exactly once.
//! - [`FaultProxy`]: an HTTP proxy in front of any upstream that, per request
//!   and by script ([`Rule`]), answers `502`/`503`/`504` itself, forwards and
//!   then fails, resets the connection, hangs, delays, or passes; and that
//!   can refuse connections for a while. It logs what it injected.
//! - [`TestUpstream`]: both, wired together.
//! - [`RawClient`], [`jsonrpc`]: drive the server by hand and read answers
//!   that are JSON or SSE (decoded with `mcp_reconnect_core::sse`).
//! - [`Polling`]: wait, bounded, for something that happens in the background.
//! - `external` (feature `external`): a real `redis-server` and an nginx
//!   round-robin balancer for the scale-out tests.
//!
//! # Example
//!
//! ```no_run
//! use http::StatusCode;
//! use mcp_reconnect_testkit::{Fault, RawClient, Rule, TestUpstream};
//! use serde_json::json;
//!
//! # async fn example() -> Result<(), mcp_reconnect_core::BoxError> {
//! let mut upstream = TestUpstream::start().await?;
//! let mut client = RawClient::new(upstream.url());
//! client.initialize().await?;
//!
//! // The next `increment` runs on the server, but the client sees a 502.
//! upstream.proxy.push(Rule::tool("increment", Fault::ForwardThenStatus(StatusCode::BAD_GATEWAY)).once());
//! let answer = client.call_tool("increment", json!({"key": "k"})).await?;
//! assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
//! assert_eq!(upstream.counters().increments("k"), 1);
//!
//! // A restarted server has forgotten the session.
//! upstream.server.restart().await?;
//! let answer = client.call_tool("echo", json!({"text": "hi"})).await?;
//! assert_eq!(answer.status, StatusCode::NOT_FOUND);
//! # Ok(())
//! # }
//! ```
//!
//! # rmcp facts the testkit relies on
//!
//! - Legacy clients (`initialize`, protocol up to `2025-11-25`) get sessions
//!   when [`ServerOptions::sessions`] is on (rmcp's `legacy_session_mode`);
//!   their answers are SSE streams that start with a priming event with
//!   empty data (`data: `, `id: 0`, `retry: 3000`), which
//!   [`McpResponse::messages`] skips.
//! - 2026-07-28 clients (`server/discover`, no `initialize`) are always served
//!   statelessly, whatever the options; [`ServerOptions::json_response`] makes
//!   those answers plain JSON.
//! - rmcp checks the `Host` header against loopback names by default; the
//!   testkit keeps that default, which suits its `127.0.0.1` addresses.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
mod counters;
#[cfg(feature = "external")]
pub mod external;
pub mod fault;
mod forward;
mod harness;
pub mod jsonrpc;
mod polling;
mod proxy;
mod serve;
mod server;
mod stdio;
pub mod tools;

pub use client::RawClient;
pub use counters::Counters;
pub use fault::{Fault, InjectedFault, Match, RequestInfo, Rule};
pub use forward::{MAX_DRAINED_RESPONSE, MAX_FAULT_LOG, MAX_REQUEST_BODY, UPSTREAM_MAX_IDLE};
pub use harness::TestUpstream;
pub use jsonrpc::McpResponse;
pub use polling::Polling;
pub use proxy::FaultProxy;
pub use serve::{ACCEPT_ERROR_BACKOFF, REBIND_ATTEMPTS, REBIND_PAUSE};
pub use server::{MCP_PATH, McpServer, ServerOptions};
pub use stdio::serve_stdio;
