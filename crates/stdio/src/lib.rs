//! A stdio MCP server behind the mcp-reconnect layers.
//!
//! [`StdioConnector`] is a connector in tower's `MakeService` shape: for a
//! [`StdioTarget`] (a command, arguments, environment, working directory)
//! it starts the child in a process group of its own, initializes it once,
//! and returns a [`StdioService`] that serves it the way a Streamable HTTP
//! MCP server serves. So the layers built for remote servers wrap a local
//! child unchanged:
//!
//! - `CircuitReconnectLayer` is the supervisor: a dead child is a dead
//!   connection, reconnecting is respawning, and its backoff, attempts and
//!   open circuit bound a child that dies at once.
//! - `ClassifyLayer` sees classified errors: a call whose line was written
//!   before the child died has unknown reach; one never written was not
//!   reached.
//! - `SessionLayer` keeps clients' sessions across a respawn: each child
//!   hands out its own session id, the next child does not know it (`404`),
//!   and the layer re-initializes the client's session on the new child.
//! - `ToolRetryLayer` replays safe calls and never runs a non-idempotent
//!   tool twice.
//!
//! Many clients share one child, as mcpo shares one session per server:
//! JSON-RPC ids are rewritten per call, the gateway does the child's
//! `initialize`, the child's notifications go to every `GET` stream, and a
//! request from the child (sampling, elicitation, roots) is refused with a
//! clear error, since no one client owns it (`ping` is answered).
//!
//! Hygiene: the child gets only [`INHERITED_ENV`] from the gateway's
//! environment plus its own; stdout lines are bounded
//! ([`StdioConfig::max_line`]: a longer one stops the child); stderr goes to
//! `tracing` (target `mcp_reconnect_stdio::stderr`) at a bounded rate; a
//! released child gets `TERM`, then `KILL` after [`StdioConfig::stop_grace`],
//! to its whole process group, and is always reaped.
//!
//! ```no_run
//! use mcp_reconnect_stdio::{StdioConnector, StdioTarget};
//! use tower::{Service, ServiceExt};
//!
//! # async fn example() -> Result<(), mcp_reconnect_core::BoxError> {
//! let target = StdioTarget::new("uvx").arg("mcp-server-time");
//! let service = StdioConnector::default().oneshot(target).await?;
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
mod lines;
mod service;
mod target;

pub use body::StdioBody;
pub use config::{DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_LINE, DEFAULT_STOP_GRACE, StdioConfig};
pub use connector::{CHILD_PROTOCOL_VERSION, StdioConnector};
pub use error::{Dead, HandshakeError, SpawnError};
pub use service::StdioService;
pub use target::{INHERITED_ENV, StdioTarget};
