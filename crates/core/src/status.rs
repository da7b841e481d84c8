//! What a circuit reports: its state, why it changed, and a snapshot of its
//! numbers. `CircuitReconnectLayer` (crate `mcp-reconnect-circuit`) records
//! them; `HealthLayer` (crate `mcp-reconnect-health`) reads them through
//! [`StatusSource`], so either works without the other, and anything
//! circuit-like can report to a health check.
//!
//! ```
//! use std::sync::Arc;
//! use mcp_reconnect_core::status::{CircuitState, StatusSnapshot, StatusSource};
//!
//! /// An upstream that is always serving.
//! struct AlwaysUp;
//!
//! impl StatusSource for AlwaysUp {
//!     fn name(&self) -> Arc<str> {
//!         Arc::from("always-up")
//!     }
//!     fn snapshot(&self) -> StatusSnapshot {
//!         StatusSnapshot::new(self.name(), CircuitState::Healthy)
//!     }
//! }
//!
//! assert_eq!(AlwaysUp.state(), CircuitState::Healthy);
//! assert_eq!(AlwaysUp.snapshot().error_count, 0);
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use crate::FailureClass;
use crate::metrics::HistogramSnapshot;

/// Where the circuit is. Exhaustive on purpose: the circuit's state machine
/// matches on every state, and a new one would change what each means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CircuitState {
    /// Calls go through; no recent recoverable failure.
    Healthy,
    /// Calls go through; recoverable failures are being counted.
    Degraded,
    /// One reconnect is running; callers wait for it.
    Reconnecting,
    /// Reconnecting failed: calls fail fast while probes look for the upstream.
    Open,
    /// A probe reached the upstream: a few real calls test it.
    HalfOpen,
}

impl CircuitState {
    /// Every state, in a fixed order (for metrics that list them all).
    pub const ALL: [CircuitState; 5] = [
        CircuitState::Healthy,
        CircuitState::Degraded,
        CircuitState::Reconnecting,
        CircuitState::Open,
        CircuitState::HalfOpen,
    ];

    /// A short lower-case name, stable for logs, JSON and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            CircuitState::Healthy => "healthy",
            CircuitState::Degraded => "degraded",
            CircuitState::Reconnecting => "reconnecting",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }

    /// Whether calls go through to the upstream in this state.
    pub const fn is_serving(self) -> bool {
        matches!(
            self,
            CircuitState::Healthy | CircuitState::Degraded | CircuitState::HalfOpen
        )
    }

    /// Its position in [`ALL`](Self::ALL), for a compact encoding (an atomic).
    pub const fn index(self) -> usize {
        match self {
            CircuitState::Healthy => 0,
            CircuitState::Degraded => 1,
            CircuitState::Reconnecting => 2,
            CircuitState::Open => 3,
            CircuitState::HalfOpen => 4,
        }
    }
}

impl fmt::Display for CircuitState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the circuit changed state (exhaustive, as [`CircuitState`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The first use: connecting for the first time.
    Started,
    /// A recoverable failure was counted.
    RecoverableFailure,
    /// The error threshold was reached.
    ThresholdReached,
    /// The connection proved dead (refused, reset, closed).
    ConnectionLost,
    /// The upstream forgot the session.
    SessionLost,
    /// The threshold was reached again within the minimum interval: fail fast instead.
    RateLimited,
    /// A connect attempt succeeded.
    Reconnected,
    /// Every attempt of the episode failed.
    AttemptsExhausted,
    /// A probe reached the upstream while open.
    ProbeSucceeded,
    /// A half-open call succeeded.
    HalfOpenSucceeded,
    /// A half-open call failed.
    HalfOpenFailed,
    /// A call succeeded while degraded.
    Recovered,
}

impl Reason {
    /// Every reason, in a fixed order.
    pub const ALL: [Reason; 12] = [
        Reason::Started,
        Reason::RecoverableFailure,
        Reason::ThresholdReached,
        Reason::ConnectionLost,
        Reason::SessionLost,
        Reason::RateLimited,
        Reason::Reconnected,
        Reason::AttemptsExhausted,
        Reason::ProbeSucceeded,
        Reason::HalfOpenSucceeded,
        Reason::HalfOpenFailed,
        Reason::Recovered,
    ];

    /// A short lower-case name, stable for logs and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::Started => "started",
            Reason::RecoverableFailure => "recoverable_failure",
            Reason::ThresholdReached => "threshold_reached",
            Reason::ConnectionLost => "connection_lost",
            Reason::SessionLost => "session_lost",
            Reason::RateLimited => "rate_limited",
            Reason::Reconnected => "reconnected",
            Reason::AttemptsExhausted => "attempts_exhausted",
            Reason::ProbeSucceeded => "probe_succeeded",
            Reason::HalfOpenSucceeded => "half_open_succeeded",
            Reason::HalfOpenFailed => "half_open_failed",
            Reason::Recovered => "recovered",
        }
    }

    /// Its position in [`ALL`](Self::ALL).
    pub fn index(self) -> usize {
        Reason::ALL.iter().position(|&r| r == self).unwrap_or(0)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One circuit's numbers at one moment.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq)]
pub struct StatusSnapshot {
    /// The upstream's display name (no credentials).
    pub name: Arc<str>,
    /// The circuit's state.
    pub state: CircuitState,
    /// Consecutive recoverable failures counted now.
    pub error_count: u32,
    /// Connect attempts (and probes) made since start.
    pub reconnect_attempts: u64,
    /// Attempts that installed a new upstream service.
    pub reconnects_succeeded: u64,
    /// Episodes whose every attempt failed (the circuit opened).
    pub reconnects_failed: u64,
    /// Calls failed fast while open.
    pub fail_fast: u64,
    /// Calls waiting now for the upstream to come back (never sent yet).
    pub held_now: u32,
    /// Calls that waited for the upstream, since start.
    pub held_total: u64,
    /// Waiting calls sent once the circuit closed.
    pub held_released: u64,
    /// Waiting calls failed fast because the outage outlasted the wait.
    pub held_expired: u64,
    /// Calls failed fast because too many were waiting already.
    pub held_shed: u64,
    /// How long each released or expired call waited.
    pub held_wait: HistogramSnapshot,
    /// When the circuit last saw an outcome or attempt result.
    pub last_check: Option<SystemTime>,
    /// The class of the last failure seen.
    pub last_failure: Option<FailureClass>,
    /// Calls by outcome: `None` is success.
    pub requests: Vec<(Option<FailureClass>, u64)>,
    /// State changes by reason.
    pub transitions: Vec<(Reason, u64)>,
    /// How long each trouble lasted, from the first failure to healthy again.
    pub recovery: HistogramSnapshot,
    /// How long each connect attempt took.
    pub attempt_duration: HistogramSnapshot,
}

impl StatusSnapshot {
    /// A snapshot of `name` in `state`, every counter zero: a source sets
    /// the fields it knows.
    pub fn new(name: Arc<str>, state: CircuitState) -> Self {
        StatusSnapshot {
            name,
            state,
            error_count: 0,
            reconnect_attempts: 0,
            reconnects_succeeded: 0,
            reconnects_failed: 0,
            fail_fast: 0,
            held_now: 0,
            held_total: 0,
            held_released: 0,
            held_expired: 0,
            held_shed: 0,
            held_wait: HistogramSnapshot::default(),
            last_check: None,
            last_failure: None,
            requests: Vec::new(),
            transitions: Vec::new(),
            recovery: HistogramSnapshot::default(),
            attempt_duration: HistogramSnapshot::default(),
        }
    }
}

/// Something that reports like a circuit: what a health check reads. It
/// must not block; read atomics, as `CircuitStatus` does.
pub trait StatusSource: Send + Sync + 'static {
    /// The upstream's display name (no credentials).
    fn name(&self) -> Arc<str>;

    /// Everything at once, for a health check or a scrape.
    fn snapshot(&self) -> StatusSnapshot;

    /// The state now (by default, the snapshot's).
    fn state(&self) -> CircuitState {
        self.snapshot().state
    }
}

/// What a retry layer did (`ToolRetryLayer::stats`), as `/metrics` shows it. Counters only grow.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RetryCounts {
    /// Retries sent (each second or later try counts once).
    pub attempted: u64,
    /// Calls that succeeded on a retry.
    pub succeeded: u64,
    /// Ambiguous failures not retried because the call was not safe to repeat.
    pub refused_unsafe: u64,
    /// Retries refused because the retry budget was empty.
    pub budget_exhausted: u64,
    /// Calls that failed with every allowed retry used.
    pub gave_up: u64,
    /// Calls ended by the overall deadline.
    pub deadline_exceeded: u64,
}

impl RetryCounts {
    /// Each counter with its `outcome` label, in a fixed order.
    pub fn by_outcome(&self) -> [(&'static str, u64); 6] {
        [
            ("attempted", self.attempted),
            ("succeeded", self.succeeded),
            ("refused_unsafe", self.refused_unsafe),
            ("budget_exhausted", self.budget_exhausted),
            ("gave_up", self.gave_up),
            ("deadline_exceeded", self.deadline_exceeded),
        ]
    }
}

/// The state of a shared session store (`RedisStore`'s `StoreStatus::snapshot`),
/// as `/health` and `/metrics` show it. Counters only grow.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct StoreCounts {
    /// The store is unavailable: sessions are served from this process's memory.
    pub degraded: bool,
    /// Failed round trips to the store (errors and timeouts).
    pub errors: u64,
    /// Times the store left the degraded state.
    pub recoveries: u64,
    /// Sessions written back to the store after an outage.
    pub written_back: u64,
    /// Sessions held in this process's memory now.
    pub local_sessions: u64,
}

impl StoreCounts {
    /// `"degraded"` or `"ok"`.
    pub const fn status(&self) -> &'static str {
        if self.degraded { "degraded" } else { "ok" }
    }

    /// Each counter with its name, in a fixed order.
    pub fn counters(&self) -> [(&'static str, u64); 3] {
        [
            ("errors", self.errors),
            ("recoveries", self.recoveries),
            ("written_back", self.written_back),
        ]
    }
}
