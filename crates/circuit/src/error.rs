//! The errors this layer adds.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The circuit is open: the call failed fast, without reaching the upstream.
///
/// Returned wrapped in a [`ClassifiedError`](mcp_reconnect_core::ClassifiedError)
/// of class `Unavailable` (never reached, `Retry-After` set), so every layer
/// and responder above treats it like a `503`. Find it with
/// [`cause_ref`](mcp_reconnect_core::cause_ref).
#[non_exhaustive]
#[derive(Clone, Debug)]
pub struct CircuitOpen {
    /// The upstream's display name.
    pub upstream: Arc<str>,
    /// How long until the circuit next probes the upstream.
    pub retry_after: Duration,
}

impl fmt::Display for CircuitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "circuit open for upstream {}: failing fast, next probe in {} ms",
            self.upstream,
            self.retry_after.as_millis()
        )
    }
}

impl std::error::Error for CircuitOpen {}

/// `call` came without a successful `poll_ready` first (a bug in the caller).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default)]
pub struct NotReady;

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("circuit service called before poll_ready returned ready")
    }
}

impl std::error::Error for NotReady {}
