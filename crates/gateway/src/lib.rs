//! `mcp-gateway`: an mcpo-compatible gateway with automatic reconnect in
//! front of MCP (Model Context Protocol) servers, remote Streamable HTTP
//! ones, remote legacy HTTP+SSE ones and local stdio children it
//! supervises, built from the mcp-reconnect layers.
//!
//! ```text
//! mcp-gateway --port 8000 --api-key secret streamablehttp https://server/mcp
//! mcp-gateway --port 8000 --api-key secret --server-type streamable-http -- https://server/mcp
//! mcp-gateway --port 8000 --api-key secret -- uvx mcp-server-time   # a stdio child
//! mcp-gateway --port 8000 --api-key secret --server-type sse -- https://server/sse
//! mcp-gateway --config servers.json --hot-reload   # mcpo's {"mcpServers": {...}}, each under /<name>/
//! mcp-gateway demo --duration 20             # everything on 127.0.0.1, with a flaky upstream
//! ```
//!
//! # What it serves
//!
//! Per upstream (at `/`, or under `/<name>` with a config file):
//!
//! - `/mcp`: MCP Streamable HTTP, passed through the stack
//!   `RespondLayer → ToolRetryLayer → SessionLayer → CircuitReconnectLayer → ClassifyLayer → upstream`
//!   (clients keep their session across upstream restarts),
//!   SSE streamed, calls in flight bounded (shed with `503` + `Retry-After`);
//! - `POST /<tool>`: mcpo's REST route, a `tools/call` on the gateway's own
//!   session through the same stack ([`rest`]);
//! - `/openapi.json` (OpenAPI 3.1, one operation per tool, [`openapi`]) and
//!   `/docs` (Swagger UI from the binary, [`docs`]).
//!
//! And `/health`, `/metrics` (`HealthLayer`, open to probes). With
//! `--api-key`, everything else needs `Authorization: Bearer <key>`
//! ([`auth`]); `--strict-auth` also guards docs, OpenAPI and metrics.
//!
//! # In-process use
//!
//! ```no_run
//! use mcp_reconnect_gateway::{Cli, Gateway, GatewayConfig};
//! use clap::Parser;
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let cli = Cli::try_parse_from(["mcp-gateway", "--host", "127.0.0.1", "--port", "0", "streamablehttp", "http://127.0.0.1:9/mcp"])?;
//! let config = GatewayConfig::from_args(&cli.serve, |_| None)?;
//! let gateway = Gateway::start(config).await?;
//! println!("serving at {}", gateway.url());
//! gateway.shutdown().await;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod around;
pub mod auth;
pub mod cli;
pub mod client;
pub mod config;
#[cfg(feature = "demo")]
pub mod demo;
pub mod docs;
pub mod edge;
pub mod forwarded;
pub mod logging;
pub mod openapi;
pub mod proof;
pub mod rebinding;
pub mod reload;
pub mod rest;
mod routes;
pub mod server;
pub mod stack;
pub mod stall;
pub mod tls;
mod trace;
pub mod validate;

pub use cli::{Cli, Command, DemoArgs, ServeArgs};
pub use client::McpClient;
pub use config::{ConfigError, GatewayConfig, ServerSpec};
pub use server::{Gateway, StartError, run};
pub use stack::Upstream;
