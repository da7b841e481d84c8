//! `CircuitReconnectLayer`: the reconnect manager for an MCP upstream —
//! error threshold, backoff, single-flight reconnect, circuit open and
//! half-open — shared by every clone of the service.
//!
//! The layer owns a *connector* (a `tower::Service<T>` that makes upstream
//! services for a target, like `tower::reconnect`) and the current upstream
//! service. Each call goes to the current service; its outcome (read from the
//! [`Classification`](mcp_reconnect_core::Classification) that `ClassifyLayer`
//! attached, or classified here with the same `core` functions) moves a state
//! machine:
//!
//! ```text
//!  Healthy ──recoverable──▶ Degraded ──3rd in a row──▶ Reconnecting ──ok──▶ Healthy
//!     │   ◀──── success ────────┘            ▲   │ 5 attempts failed
//!     └─ connection lost / session lost ─────┘   ▼
//!                        Healthy ◀─ok── HalfOpen ◀─probe ok── Open (fail fast)
//! ```
//!
//! - **Threshold**: 3 consecutive recoverable failures start a reconnect; a
//!   success resets the count; `Business` failures never count. A failure that
//!   proves the connection or session dead (`Connection`, `SessionLost`)
//!   reconnects at once.
//! - **Rate control**: within 30 s of the last threshold-triggered reconnect
//!   the circuit opens instead of reconnecting again.
//! - **Backoff**: attempts to an upstream that answers but fails are immediate,
//!   then 2 s, 4 s, … (capped at 30 s, jittered). When nothing listens
//!   (refused), the next attempt follows the short probe schedule (100 ms
//!   doubling to 1 s): a refused connect costs the upstream nothing, and a
//!   restarted upstream must be noticed within a second. After 5 failed
//!   attempts the circuit opens.
//! - **Single flight**: exactly one attempt loop runs, on its own task, so it
//!   outlives whichever caller started it; callers wait in `poll_ready` (bound
//!   them with a timeout above) and then use the new service.
//! - **Unsent calls wait out a short outage**: while reconnecting or open, a
//!   call waits in `poll_ready` for the circuit to close, within
//!   [`Config::reconnect_wait`] (10 s, `MCPO_RECONNECT_WAIT`) of the outage's
//!   start and while fewer than [`Config::max_waiting`] wait. Nothing was
//!   sent, so this is safe for every call.
//! - **Then open fails fast**: calls return a [`ClassifiedError`] of class
//!   `Unavailable` wrapping [`CircuitOpen`] (with the time to the next probe)
//!   at once, while probes (every ≤ 1 s) look for the upstream. A successful
//!   probe lets [`Config::half_open_permits`] real calls through; their
//!   success closes the circuit, their failure opens it again. A permit is
//!   given back when its call ends or is dropped. With
//!   [`Config::probe_decides`] (the connector's attempt is a real request to
//!   the server) the probe alone decides: one failure probes at once, and a
//!   good probe closes the circuit.
//! - **`poll_ready` never fails for an outage**: it waits, or becomes ready
//!   so that `call` fails fast.
//!
//! [`ClassifiedError`]: mcp_reconnect_core::ClassifiedError
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response};
//! use mcp_reconnect_circuit::{CircuitReconnectLayer, CircuitState, Config};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tower::BoxError> {
//! // The connector: makes an upstream service for a target (here a name).
//! let connector = service_fn(|_target: &'static str| async {
//!     let upstream = service_fn(|_: Request<String>| async { Ok::<_, Infallible>(Response::new(String::new())) });
//!     Ok::<_, Infallible>(upstream)
//! });
//! let layer = CircuitReconnectLayer::with_config("server-a", Config::default().error_threshold(3))
//!     .name("server-a");
//! let status = layer.status();
//! let service = ServiceBuilder::new().layer(layer).service(connector);
//!
//! let response = service.oneshot(Request::new(String::new())).await?;
//! assert_eq!(response.status(), 200);
//! assert_eq!(status.state(), CircuitState::Healthy);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod backoff;
pub mod config;
mod error;
mod future;
mod layer;
mod service;
mod shared;
mod state;
mod status;

pub use config::Config;
pub use error::{CircuitOpen, NotReady};
pub use future::ResponseFuture;
pub use layer::{CircuitReconnectLayer, DEFAULT_NAME};
/// `Config::from_env()` and `Config::from_lookup()` come with this trait.
pub use mcp_reconnect_core::config::FromEnv;
pub use mcp_reconnect_core::status::{CircuitState, Reason, StatusSnapshot, StatusSource};
pub use service::CircuitReconnect;
pub use status::CircuitStatus;

#[cfg(test)]
mod tests;
