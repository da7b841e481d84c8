//! Session virtualization: clients keep their MCP session across upstream
//! restarts.
//!
//! Servers of the legacy protocol era (2025-03-26 … 2025-11-25) hand out an
//! `Mcp-Session-Id` at `initialize` and forget it when they restart: every
//! later request of that session gets `404`, and most clients then fail or
//! stay broken. [`SessionLayer`] sits between the clients and the upstream
//! and gives each client a session of its own:
//!
//! - **`initialize`** (a `POST` without a session): forwarded; when the upstream
//!   answers with a session, the layer issues its own client-facing id (128
//!   random bits, [`SessionId::generate`]), stores a [`SessionRecord`] — the
//!   client's `initialize` body, the upstream's session id, a generation,
//!   timestamps, the negotiated version — and rewrites the answer's
//!   `Mcp-Session-Id` to the client-facing id.
//! - **A request with a session**: the id is validated (visible ASCII, at
//!   most 128 bytes: otherwise `400`), looked up (unknown or expired: `404`
//!   with a JSON-RPC error, so the client initializes again, as the spec
//!   says), replaced by the upstream's id, and forwarded. The answer streams
//!   back untouched (SSE included).
//! - **Session lost** (the upstream answered `404`, or the TypeScript SDK's
//!   `400` session error: the `SessionLost` class `ClassifyLayer` attached):
//!   the layer runs the stored `initialize` and `notifications/initialized`
//!   upstream **once** — concurrent requests of the same session that hit the
//!   loss wait for that one re-initialize — maps the client's id to the new
//!   upstream session, and sends the request again, so the client never sees
//!   the restart. The resend is this layer's own, whatever layers sit above:
//!   the request never ran (the upstream answered `404`), so no outer retry
//!   count or budget may refuse it and leak the recovered loss to the client.
//! - **Re-initialize fails**: while the upstream is unavailable the client's
//!   session is kept and the request fails with a `ClassifiedError` that never
//!   reached the server (the circuit's `503` is what the client sees); if the
//!   upstream refuses the stored `initialize`, the session is dropped and the
//!   client gets the `404` (it must initialize again).
//! - **`DELETE`** ends both: forwarded with the upstream id, then forgotten.
//! - **A session the store ends on its own** (evicted at `MCPO_SESSION_MAX`,
//!   expired after `MCPO_SESSION_IDLE_TIMEOUT`) is ended upstream too: a
//!   `DELETE` in the background, best effort, at most [`MAX_ENDING`] at once
//!   and each within [`ENDING_TIMEOUT`]. Most clients never send `DELETE`;
//!   without this, a server with a session limit fills up and refuses
//!   everyone's new sessions.
//! - **New sessions are opened at a bounded rate** (`MCPO_SESSION_OPEN_RATE`,
//!   100 a second by default, a burst of one second's worth): an `initialize`
//!   over it is answered `429` with `Retry-After: 1`, unforwarded. A session
//!   opened with the [`PinSession`] extension (a gateway's own) is exempt, and
//!   never the one evicted to make room.
//! - **No session** (2026-07-28 stateless traffic, `server/discover`, or a
//!   server without sessions): passes straight through, nothing to map.
//!
//! Session ids are bearer credentials: they are never logged (logs show a
//! short hash, [`SessionId::short`]).
//!
//! # Where sessions live
//!
//! [`SessionStore`] (load / store / delete / touch with an idle TTL, by
//! client session id) keeps the records. [`MemoryStore`], the default, is
//! bounded (`MCPO_SESSION_MAX`, 10 000: then the least recently used go) and
//! forgets sessions idle for `MCPO_SESSION_IDLE_TIMEOUT` (1 hour). A shared
//! store lets several gateway replicas serve the same client sessions:
//! `RedisStore` (cargo feature `redis`) keeps them in Redis behind a local
//! cache, and replicas that see the same loss re-initialize it upstream once
//! ([`SessionStore::claim_reinit`], then
//! [`compare_and_store`](SessionStore::compare_and_store) on the generation).
//!
//! # Why `getrandom`
//!
//! A client-facing session id is all a caller needs to act in that session,
//! so it must be unguessable: 128 bits from the operating system's CSPRNG
//! (`getrandom`, already in the dependency tree through `rand`). Hashes of
//! time, counters or addresses are predictable; a user-space PRNG would add
//! seeding and reseeding concerns for one syscall per `initialize`.
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use mcp_reconnect_session::SessionLayer;
//! use tower::{Layer, service_fn};
//!
//! // A la carte: the session layer over any upstream service (in a full
//! // stack, over CircuitReconnectLayer and the connector's services, as
//! // `mcp-reconnect-upstream` builds them).
//! let upstream = service_fn(|_request: http::Request<Full<Bytes>>| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::new())))
//! });
//! let service = SessionLayer::new().layer(upstream);
//! # let _ = service;
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod bounds;
mod config;
mod ending;
mod error;
mod flights;
mod flow;
mod future;
mod id;
mod layer;
mod local;
mod memory;
#[cfg(feature = "redis")]
// The store methods spell out `impl Future + Send` as the trait declares them.
#[allow(clippy::manual_async_fn)]
mod redis_store;
mod reinit;
mod service;
mod stats;
mod store;

pub use config::{
    DEFAULT_MAX_BODY, DEFAULT_MAX_INITIALIZE_BODY, DEFAULT_MAX_SESSIONS, DEFAULT_REINIT_TIMEOUT,
    DEFAULT_SESSION_IDLE_TIMEOUT, DEFAULT_SESSION_OPEN_RATE, ENV_CONNECTION_TIMEOUT,
    ENV_SESSION_IDLE_TIMEOUT, ENV_SESSION_MAX, ENV_SESSION_OPEN_RATE, SessionConfig,
};
pub use ending::{ENDING_TIMEOUT, MAX_ENDING, PinSession};
pub use error::{InvalidUpstreamSession, ReinitFailed, StoreError};
pub use future::{ResponseFuture, SessionBody};
pub use id::{
    InvalidSessionId, MAX_SESSION_ID_LEN, MAX_UPSTREAM_SESSION_ID_LEN, SESSION_ID_RANDOM_BYTES, SessionId,
    ShortHash,
};
pub use layer::SessionLayer;
pub use local::SESSION_NOT_FOUND;
/// `SessionConfig::from_env()` and `from_lookup()` come with this trait.
pub use mcp_reconnect_core::config::FromEnv;
pub use memory::{MAX_ENDED, MemoryStore, SWEEP_INTERVAL};
#[cfg(feature = "redis")]
pub use redis_store::{
    AnyStore, DEFAULT_KEY_PREFIX, DEFAULT_OP_TIMEOUT, DEFAULT_PROBE_INTERVAL, MAX_PENDING_DELETES,
    RedisConfig, RedisStore, StoreStatus, WRITEBACK_BATCH,
};
pub use reinit::{MAX_HANDSHAKE_ANSWER, REINIT_CLAIM_SLACK, REINIT_POLL_INTERVAL};
pub use service::Session;
pub use stats::SessionStats;
pub use store::{ReinitClaim, SessionRecord, SessionStore, Swap};

#[cfg(test)]
mod tests;
