//! What the health layer watches: one entry per upstream, its circuit's status
//! handle and, optionally, the retry counters of the stack in front of it and
//! the state of the session store its client sessions live in.

use std::fmt;
use std::sync::Arc;

use mcp_reconnect_core::redact_url;
use mcp_reconnect_core::status::{RetryCounts, StatusSnapshot, StatusSource, StoreCounts};

use crate::verdict::Verdict;

/// One watched upstream: a circuit's status handle (any [`StatusSource`],
/// such as `mcp_reconnect_circuit::CircuitStatus`, whose name is the
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
    status: Arc<dyn StatusSource>,
    name: Arc<str>,
    retries: Option<Arc<dyn Source<RetryCounts>>>,
    store: Option<Arc<dyn Source<StoreCounts>>>,
    warnings: Option<Arc<dyn Source<Vec<String>>>>,
}

impl Upstream {
    /// Watches the circuit behind `status`.
    pub fn new(status: impl StatusSource) -> Self {
        let name = Arc::from(redact_url(&status.name()));
        Upstream {
            status: Arc::new(status),
            name,
            retries: None,
            store: None,
            warnings: None,
        }
    }

    /// Also reports the retry counters `source` gives (a `ToolRetryLayer`
    /// with the `retry` feature, or any `Fn() -> RetryCounts`).
    pub fn retries(mut self, source: impl Source<RetryCounts>) -> Self {
        self.retries = Some(Arc::new(source));
        self
    }

    /// Also reports the state of the shared session store this upstream's
    /// client sessions live in (any `Fn() -> StoreCounts`; the gateway passes
    /// its Redis store's status). A degraded store makes the upstream's
    /// verdict `degraded` (still `200`: the replica serves its own sessions).
    pub fn session_store(mut self, source: impl Source<StoreCounts>) -> Self {
        self.store = Some(Arc::new(source));
        self
    }

    /// Also shows what `source` warns of (any `Fn() -> Vec<String>`; the
    /// gateway passes a tool list that was cut short). Warnings appear in
    /// `/health` as `warnings` and leave the verdict as it is: the upstream
    /// serves, with less than it offered. They must not carry secrets.
    ///
    /// ```
    /// use mcp_reconnect_circuit::CircuitReconnectLayer;
    /// use mcp_reconnect_health::Upstream;
    ///
    /// let circuit = CircuitReconnectLayer::new("target");
    /// let upstream = Upstream::new(circuit.status()).warnings(|| vec!["tool list cut short".to_owned()]);
    /// assert_eq!(upstream.current_warnings(), ["tool list cut short"]);
    /// ```
    pub fn warnings(mut self, source: impl Source<Vec<String>>) -> Self {
        self.warnings = Some(Arc::new(source));
        self
    }

    /// The warnings now (none if no source was given).
    pub fn current_warnings(&self) -> Vec<String> {
        self.warnings
            .as_ref()
            .map(|source| source.read())
            .unwrap_or_default()
    }

    /// The display name, without credentials, query or fragment.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The circuit's status handle.
    pub fn status(&self) -> &dyn StatusSource {
        &*self.status
    }

    /// The retry counters now, if a source was given.
    pub fn retry_counts(&self) -> Option<RetryCounts> {
        self.retries.as_ref().map(|source| source.read())
    }

    /// The session store's state now, if a source was given.
    pub fn store_counts(&self) -> Option<StoreCounts> {
        self.store.as_ref().map(|source| source.read())
    }

    /// This upstream's verdict for `snapshot` (its circuit's state now) and
    /// `store` (its session store's state now): [`Verdict::of`] the circuit,
    /// lowered from `healthy` to `degraded` while the store is degraded.
    pub(crate) fn verdict(snapshot: &StatusSnapshot, store: Option<&StoreCounts>) -> Verdict {
        match Verdict::of(snapshot) {
            Verdict::Healthy if store.is_some_and(|store| store.degraded) => Verdict::Degraded,
            verdict => verdict,
        }
    }
}

impl<S: StatusSource> From<S> for Upstream {
    fn from(status: S) -> Self {
        Upstream::new(status)
    }
}

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upstream")
            .field("name", &self.name)
            .field("state", &self.status.state())
            .field("retries", &self.retries.is_some())
            .field("session_store", &self.store.is_some())
            .field("warnings", &self.warnings.is_some())
            .finish()
    }
}

/// Where a reading an upstream's entry reports comes from: its retry
/// counters ([`RetryCounts`]), its session store's state ([`StoreCounts`]),
/// its warnings (`Vec<String>`, each one sentence). Read on each `/health`
/// and `/metrics` request, so it must not block: read atomics, as
/// `ToolRetryLayer::stats` does. Any `Fn() -> T` is one.
pub trait Source<T>: Send + Sync + 'static {
    /// The reading now.
    fn read(&self) -> T;
}

impl<T, F> Source<T> for F
where
    F: Fn() -> T + Send + Sync + 'static,
{
    fn read(&self) -> T {
        self()
    }
}

#[cfg(feature = "retry")]
impl Source<RetryCounts> for mcp_reconnect_retry::ToolRetryLayer {
    fn read(&self) -> RetryCounts {
        self.stats()
    }
}
