//! `HealthLayer`: `/health` and `/metrics` for MCP upstreams behind
//! mcp-reconnect circuits, in shapes load balancers, Kubernetes probes,
//! Prometheus and the reconnect design's scripts can act on.
//!
//! Build it from the status handles of one or more circuits
//! (`CircuitReconnectLayer::status`, one per upstream) and put it outermost.
//! It answers `GET` and `HEAD` on its two paths itself (other methods get
//! `405` with `Allow: GET, HEAD`); every other request goes to the wrapped
//! service untouched. Reading a status is a handful of atomic loads: a health
//! check never blocks the request path, and it answers even while the
//! circuit below is reconnecting (see [`Health`] on readiness).
//!
//! # `GET /health`
//!
//! The reconnect design's document, for the first (or only) upstream:
//!
//! ```json
//! {
//!   "status": "healthy",
//!   "connection_name": "StreamableHTTP-https://your-server.com/",
//!   "current_status": {"status": "healthy", "error_count": 0, "reconnect_attempts": 2, "last_check": 1703123456.789}
//! }
//! ```
//!
//! `status` is the [`Verdict`] (`healthy`, `degraded`, `unhealthy`);
//! `current_status.status` is the circuit's state (`healthy`, `degraded`,
//! `reconnecting`, `open`, `half_open`); `last_check` is Unix seconds with a
//! fraction (before the circuit has checked anything: when the layer was
//! made). The HTTP status is `200` unless unhealthy, then `503`: an open
//! circuit, or a first connect that has not succeeded yet. [`Verdict`] gives
//! the table and the reasons. With several upstreams the top-level `status` is
//! the overall verdict under the [`Policy`] (default: `503` only when every
//! upstream is unhealthy), `connection_name` and `current_status` stay those
//! of the first upstream, and `upstreams` lists one such object
//! (`status`, `connection_name`, `current_status`) per upstream.
//!
//! An upstream watched with a session store ([`Upstream::session_store`],
//! as the gateway does with `--session-store redis://…`) also has
//! `"session_store": {"status": "ok"}` or `{"status": "degraded"}`; a
//! degraded store makes that upstream's verdict `degraded` but never `503`:
//! the replica still serves the sessions it holds and makes new ones locally.
//!
//! ```json
//! {
//!   "status": "degraded",
//!   "connection_name": "server-a",
//!   "current_status": {"status": "healthy", "error_count": 0, "reconnect_attempts": 1, "last_check": 1703123456.789},
//!   "upstreams": [
//!     {"status": "healthy", "connection_name": "server-a", "current_status": {"status": "healthy", "…": "…"}},
//!     {"status": "unhealthy", "connection_name": "https://server-b/mcp", "current_status": {"status": "open", "…": "…"}}
//!   ]
//! }
//! ```
//!
//! # `GET /metrics`
//!
//! JSON by default: `status` (overall verdict), `connection` (the first
//! upstream, so `jq '.connection.reconnect_attempts'` works as in the reconnect design)
//! and `upstreams` (all of them). Each has `name`, `health`, `status`,
//! `error_count`, `reconnect_attempts`, `last_check`, `last_failure`,
//! `fail_fast`, `held` (calls waiting for the upstream to come back: `now`,
//! `total`, `released`, `expired`, `shed`, `wait_seconds` histogram),
//! `reconnects` (`attempted`, `succeeded`, `failed` attempts,
//! `episodes_failed`), `requests` by class, `transitions` by reason,
//! `retries` (`attempted`, `succeeded`, `refused_unsafe`,
//! `budget_exhausted`, `gave_up`, `deadline_exceeded`; `null` without a
//! retry [`Source`]), `session_store` (only with a store [`Source`]: `status`,
//! `degraded`, `errors`, `recoveries`, `written_back`, `local_sessions`), and the `recovery_seconds` and
//! `reconnect_duration_seconds` histograms (`count`, `sum`, `mean`,
//! cumulative `buckets` of `{le, count}`; `+Inf` is `count`).
//!
//! With the `prometheus` feature (default), a scraper gets the text
//! exposition: `Accept: text/plain` gives Prometheus text 0.0.4,
//! `Accept: application/openmetrics-text` gives OpenMetrics 1.0 (ending in
//! `# EOF`), and `?format=json|prometheus|openmetrics` overrides the header.
//! See [`Format::negotiate`] for the rules. Every series has an `upstream`
//! label (the redacted name, escaped); the families:
//!
//! | family | type | labels |
//! |---|---|---|
//! | `mcp_reconnect_requests_total` | counter | `upstream`, `class` (`success` or a failure class) |
//! | `mcp_reconnect_circuit_state` | gauge 0/1 | `upstream`, `state` (every state, one is 1) |
//! | `mcp_reconnect_consecutive_errors` | gauge | `upstream` |
//! | `mcp_reconnect_reconnects_total` | counter | `upstream`, `outcome` (`succeeded`/`failed` connect attempts) |
//! | `mcp_reconnect_transitions_total` | counter | `upstream`, `reason` |
//! | `mcp_reconnect_fail_fast_total` | counter | `upstream` |
//! | `mcp_reconnect_held_calls` | gauge | `upstream` (calls waiting for the upstream now) |
//! | `mcp_reconnect_held_total` | counter | `upstream`, `outcome` (`released`, `expired`, `shed`) |
//! | `mcp_reconnect_held_wait_seconds` | histogram | `upstream` |
//! | `mcp_reconnect_retries_total` | counter | `upstream`, `outcome` (only upstreams with a retry source) |
//! | `mcp_reconnect_session_store_degraded` | gauge 0/1 | `upstream` (only upstreams with a store source) |
//! | `mcp_reconnect_session_store_events_total` | counter | `upstream`, `event` (`errors`, `recoveries`, `written_back`) |
//! | `mcp_reconnect_session_store_local_sessions` | gauge | `upstream` |
//! | `mcp_reconnect_last_check_timestamp_seconds` | gauge | `upstream` (once something was checked) |
//! | `mcp_reconnect_reconnect_duration_seconds` | histogram | `upstream` |
//! | `mcp_reconnect_recovery_seconds` | histogram | `upstream` |
//!
//! `retries_total` mixes retries sent (`attempted`) with calls by outcome, as
//! the retry layer counts them: do not sum over `outcome`.
//!
//! # Secrets
//!
//! Upstream names go through `mcp_reconnect_core::redact_url` once, when the
//! [`Upstream`] is made: no userinfo, query or fragment reaches a document or
//! a label. No header value is ever shown.
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::BodyExt;
//! use mcp_reconnect_circuit::CircuitReconnectLayer;
//! use mcp_reconnect_health::HealthLayer;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tower::BoxError> {
//! let connector = service_fn(|_target: &'static str| async {
//!     let upstream = service_fn(|_: Request<String>| async { Ok::<_, Infallible>(Response::new(String::new())) });
//!     Ok::<_, Infallible>(upstream)
//! });
//! let circuit = CircuitReconnectLayer::new("server").name("https://user:secret@server/mcp?token=abc");
//! let stack = ServiceBuilder::new()
//!     .layer(HealthLayer::new(circuit.status()))
//!     .layer(circuit)
//!     .service(connector);
//!
//! stack.clone().oneshot(Request::post("/mcp").body(String::new())?).await?;
//! let health = stack.oneshot(Request::get("/health").body(String::new())?).await?;
//! assert_eq!(health.status(), StatusCode::OK);
//! let json: serde_json::Value = serde_json::from_slice(&health.into_body().collect().await?.to_bytes())?;
//! assert_eq!(json["status"], "healthy");
//! assert_eq!(json["connection_name"], "https://server/mcp");
//! assert_eq!(json["current_status"]["reconnect_attempts"], 1);
//! # Ok(())
//! # }
//! ```
//!
//! # Feature flags
//!
//! None is on by default: the layer needs only core's
//! [`StatusSource`](mcp_reconnect_core::status::StatusSource), which
//! `CircuitStatus` implements and any circuit-like handle can.
//!
//! - `prometheus`: Prometheus text and OpenMetrics on `/metrics`,
//!   encoded by `prometheus-client` from a collector over the circuits' atomics.
//!   Without it `/metrics` is JSON only (`406` for the text formats).
//! - `retry`: `mcp_reconnect_retry::ToolRetryLayer` as a [`Source`] of retry counts.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod answer;
mod body;
mod future;
mod json;
mod layer;
mod negotiate;
#[cfg(feature = "prometheus")]
mod prometheus;
mod service;
mod upstream;
mod verdict;

pub use body::HealthBody;
pub use future::ResponseFuture;
pub use layer::{DEFAULT_HEALTH_PATH, DEFAULT_METRICS_PATH, HealthLayer};
pub use mcp_reconnect_core::status::{RetryCounts, StoreCounts};
pub use negotiate::{
    FORMAT_PARAMETER, Format, JSON_CONTENT_TYPE, MAX_MEDIA_RANGES, OPENMETRICS_CONTENT_TYPE,
    PROMETHEUS_CONTENT_TYPE, Rejection,
};
#[cfg(feature = "prometheus")]
pub use prometheus::UPSTREAM_LABEL;
pub use service::Health;
pub use upstream::{Source, Upstream};
pub use verdict::{Policy, Verdict};

#[cfg(test)]
mod tests;
