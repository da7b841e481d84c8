//! What `/health` makes of a circuit's state: pure functions, no I/O.

use std::fmt;

use http::StatusCode;
use mcp_reconnect_core::status::{CircuitState, StatusSnapshot};

/// What `/health` says about an upstream, or about all of them.
///
/// | circuit | verdict | HTTP |
/// |---|---|---|
/// | `healthy`, no error counted (also before the first call: connecting is lazy) | `healthy` | `200` |
/// | `degraded`, `half_open`, `reconnecting` after having been connected | `degraded` | `200` |
/// | `open` | `unhealthy` | `503` |
/// | `reconnecting` before any connect has succeeded | `unhealthy` | `503` |
///
/// Why: `503` tells a load balancer or a Kubernetes readiness probe to send
/// nothing here, so it is given only while calls would fail: an open circuit
/// fails them fast, and a first connect that has not succeeded yet has nothing
/// to serve with. Half-open must stay `200`: the circuit closes only when a
/// real call succeeds, so a `503` there could keep traffic away for good. A
/// reconnect of a known upstream is short and its callers wait rather than
/// fail, so pulling the instance for it would only make it flap. Before the
/// first call nothing is known and the circuit connects on demand, so `503`
/// would deadlock a readiness probe: no traffic, no connect, never ready.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Serving, nothing wrong counted.
    Healthy,
    /// Serving, while failures are counted or a reconnect runs.
    Degraded,
    /// Not serving: calls would fail.
    Unhealthy,
}

impl Verdict {
    /// The verdict for one circuit's snapshot (see the table above).
    pub fn of(snapshot: &StatusSnapshot) -> Verdict {
        match snapshot.state {
            CircuitState::Healthy if snapshot.error_count == 0 => Verdict::Healthy,
            CircuitState::Open => Verdict::Unhealthy,
            CircuitState::Reconnecting if snapshot.reconnects_succeeded == 0 => Verdict::Unhealthy,
            state if state.is_serving() || state == CircuitState::Reconnecting => Verdict::Degraded,
            _ => Verdict::Unhealthy,
        }
    }

    /// The overall verdict of several upstreams under `policy`; `healthy` for none.
    pub fn overall(verdicts: impl IntoIterator<Item = Verdict>, policy: Policy) -> Verdict {
        let (mut any, mut unhealthy, mut not_healthy) = (false, 0usize, 0usize);
        let mut total = 0usize;
        for verdict in verdicts {
            any = true;
            total += 1;
            unhealthy += usize::from(verdict == Verdict::Unhealthy);
            not_healthy += usize::from(verdict != Verdict::Healthy);
        }
        let all_unhealthy = any && unhealthy == total;
        match policy {
            Policy::AnyServing if all_unhealthy => Verdict::Unhealthy,
            Policy::AllServing if unhealthy > 0 => Verdict::Unhealthy,
            _ if not_healthy > 0 => Verdict::Degraded,
            _ => Verdict::Healthy,
        }
    }

    /// `"healthy"`, `"degraded"` or `"unhealthy"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Verdict::Healthy => "healthy",
            Verdict::Degraded => "degraded",
            Verdict::Unhealthy => "unhealthy",
        }
    }

    /// `200 OK` unless unhealthy (`503 Service Unavailable`).
    pub const fn status_code(self) -> StatusCode {
        match self {
            Verdict::Unhealthy => StatusCode::SERVICE_UNAVAILABLE,
            Verdict::Healthy | Verdict::Degraded => StatusCode::OK,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When several upstreams are watched, which of them must serve for `/health`
/// to answer `200`.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Policy {
    /// `503` only when every upstream is unhealthy: the instance still serves
    /// the others, and taking it out would not bring a shared upstream back.
    /// Some unhealthy ones make the overall verdict `degraded`. The default.
    #[default]
    AnyServing,
    /// `503` as soon as one upstream is unhealthy.
    AllServing,
}
