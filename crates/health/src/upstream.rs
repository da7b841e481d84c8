//! What the health layer watches: one entry per upstream, its circuit's status
//! handle and, optionally, the retry counters of the stack in front of it.

use std::fmt;
use std::sync::Arc;

use mcp_reconnect_circuit::CircuitStatus;
use mcp_reconnect_core::redact_url;

/// One watched upstream: a circuit's status handle (whose name is the
/// upstream's display name), and optionally where its retry counters live.
///
/// The name is shown through [`redact_url`], once, when the entry is made:
/// `https://user:pass@host/mcp?token=abc` appears as `https://host/mcp` in
/// `/health`, `/metrics` and every label.
///
/// ```
/// use mcp_reconnect_circuit::CircuitReconnectLayer;
/// use mcp_reconnect_health::{RetryCounts, Upstream};
///
/// let circuit = CircuitReconnectLayer::new("target").name("https://user:pass@host/mcp?token=abc");
/// let upstream = Upstream::new(circuit.status()).retries(RetryCounts::default);
/// assert_eq!(upstream.name(), "https://host/mcp");
/// ```
#[derive(Clone)]
pub struct Upstream {
    status: CircuitStatus,
    name: Arc<str>,
    retries: Option<Arc<dyn RetrySource>>,
}

impl Upstream {
    /// Watches the circuit behind `status`.
    pub fn new(status: CircuitStatus) -> Self {
        let name = Arc::from(redact_url(status.name()));
        Upstream {
            status,
            name,
            retries: None,
        }
    }

    /// Also reports the retry counters `source` gives (a `ToolRetryLayer`
    /// with the `retry` feature, or any `Fn() -> RetryCounts`).
    pub fn retries(mut self, source: impl RetrySource) -> Self {
        self.retries = Some(Arc::new(source));
        self
    }

    /// The display name, without credentials, query or fragment.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The circuit's status handle.
    pub fn status(&self) -> &CircuitStatus {
        &self.status
    }

    /// The retry counters now, if a source was given.
    pub fn retry_counts(&self) -> Option<RetryCounts> {
        self.retries.as_ref().map(|source| source.retry_counts())
    }
}

impl From<CircuitStatus> for Upstream {
    fn from(status: CircuitStatus) -> Self {
        Upstream::new(status)
    }
}

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upstream")
            .field("name", &self.name)
            .field("state", &self.status.state())
            .field("retries", &self.retries.is_some())
            .finish()
    }
}

/// What a retry layer did, as `/metrics` shows it. Counters only grow.
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

/// Where retry counters come from, read on each `/metrics` request. It must
/// not block: read atomics, as `ToolRetryLayer::stats` does.
pub trait RetrySource: Send + Sync + 'static {
    /// The counters now.
    fn retry_counts(&self) -> RetryCounts;
}

impl<F> RetrySource for F
where
    F: Fn() -> RetryCounts + Send + Sync + 'static,
{
    fn retry_counts(&self) -> RetryCounts {
        self()
    }
}

#[cfg(feature = "retry")]
impl RetrySource for mcp_reconnect_retry::ToolRetryLayer {
    fn retry_counts(&self) -> RetryCounts {
        let stats = self.stats();
        RetryCounts {
            attempted: stats.retries,
            succeeded: stats.succeeded_after_retry,
            refused_unsafe: stats.refused_unsafe,
            budget_exhausted: stats.budget_exhausted,
            gave_up: stats.gave_up,
            deadline_exceeded: stats.deadline_exceeded,
        }
    }
}
