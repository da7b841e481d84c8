use std::sync::Arc;
use std::time::SystemTime;

use tower_layer::Layer;

use crate::Health;
use crate::json::Reading;
use crate::upstream::Upstream;
use crate::verdict::{Policy, Verdict};

/// The default path of the health check.
pub const DEFAULT_HEALTH_PATH: &str = "/health";
/// The default path of the metrics.
pub const DEFAULT_METRICS_PATH: &str = "/metrics";

/// Answers `GET`/`HEAD` on `/health` and `/metrics` from the status handles
/// of one or more circuits; every other request goes to the wrapped service.
///
/// See the [crate docs](crate) for the documents, status codes and formats.
#[derive(Clone, Debug)]
pub struct HealthLayer {
    shared: Arc<Shared>,
}

/// What every service made by one layer reads.
#[derive(Clone, Debug)]
pub(crate) struct Shared {
    pub(crate) upstreams: Arc<[Upstream]>,
    pub(crate) health_path: Arc<str>,
    pub(crate) metrics_path: Arc<str>,
    pub(crate) policy: Policy,
    /// When the watch began: `last_check` before a circuit has checked anything.
    pub(crate) watched_since: SystemTime,
}

impl HealthLayer {
    /// Watches one upstream: a circuit's status handle (any
    /// [`StatusSource`](mcp_reconnect_core::status::StatusSource), such as
    /// `CircuitReconnectLayer::status`) or an [`Upstream`].
    pub fn new(upstream: impl Into<Upstream>) -> Self {
        HealthLayer {
            shared: Arc::new(Shared {
                upstreams: Arc::from([upstream.into()]),
                health_path: Arc::from(DEFAULT_HEALTH_PATH),
                metrics_path: Arc::from(DEFAULT_METRICS_PATH),
                policy: Policy::default(),
                watched_since: SystemTime::now(),
            }),
        }
    }

    /// Watches one more upstream. The first one added (by [`new`](Self::new))
    /// is the one the reconnect design's single-upstream fields show.
    pub fn upstream(mut self, upstream: impl Into<Upstream>) -> Self {
        let shared = Arc::make_mut(&mut self.shared);
        let mut upstreams = shared.upstreams.to_vec();
        upstreams.push(upstream.into());
        shared.upstreams = Arc::from(upstreams);
        self
    }

    /// Serves the health check at `path` instead of `/health` (a `/` is put
    /// in front if missing). If it equals the metrics path, health wins.
    pub fn health_path(mut self, path: &str) -> Self {
        Arc::make_mut(&mut self.shared).health_path = absolute(path);
        self
    }

    /// Serves the metrics at `path` instead of `/metrics` (a `/` is put in
    /// front if missing).
    pub fn metrics_path(mut self, path: &str) -> Self {
        Arc::make_mut(&mut self.shared).metrics_path = absolute(path);
        self
    }

    /// Which upstreams must serve for `/health` to answer `200`. Default is
    /// [`Policy::AnyServing`]: `503` only when every upstream is unhealthy.
    pub fn policy(mut self, policy: Policy) -> Self {
        Arc::make_mut(&mut self.shared).policy = policy;
        self
    }

    /// The watched upstreams, first one first.
    pub fn upstreams(&self) -> &[Upstream] {
        &self.shared.upstreams
    }

    /// The overall verdict now, as `/health` would answer it.
    pub fn verdict(&self) -> Verdict {
        overall(&read(&self.shared.upstreams), self.shared.policy)
    }
}

impl<S> Layer<S> for HealthLayer {
    type Service = Health<S>;

    fn layer(&self, inner: S) -> Health<S> {
        Health::new(inner, Arc::clone(&self.shared))
    }
}

fn absolute(path: &str) -> Arc<str> {
    if path.starts_with('/') {
        Arc::from(path)
    } else {
        Arc::from(format!("/{path}"))
    }
}

/// Snapshots every upstream once (atomics only: never blocks, never waits).
pub(crate) fn read(upstreams: &[Upstream]) -> Vec<Reading<'_>> {
    upstreams
        .iter()
        .map(|upstream| {
            let snapshot = upstream.status().snapshot();
            let store = upstream.store_counts();
            Reading {
                name: upstream.name(),
                verdict: Upstream::verdict(&snapshot, store.as_ref()),
                snapshot,
                retries: upstream.retry_counts(),
                store,
                warnings: upstream.current_warnings(),
            }
        })
        .collect()
}

/// The overall verdict of `readings` under `policy`.
pub(crate) fn overall(readings: &[Reading<'_>], policy: Policy) -> Verdict {
    Verdict::overall(readings.iter().map(|r| r.verdict), policy)
}
