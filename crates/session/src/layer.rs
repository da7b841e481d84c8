//! [`SessionLayer`]: one session space (store, settings, re-initializes in flight).

use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;

use crate::config::SessionConfig;
use crate::ending::{self, OpenRate};
use crate::flights::Flights;
use crate::memory::MemoryStore;
use crate::service::Session;
use crate::stats::{Counters, SessionStats};
use crate::store::SessionStore;

/// Keeps clients' MCP sessions across upstream restarts: issues its own
/// session ids, maps each to the current upstream session, and re-initializes
/// a lost upstream session without the client noticing.
///
/// Put it above `CircuitReconnectLayer` and `ClassifyLayer` (and below
/// `ToolRetryLayer`, if any). Every service this layer makes shares its
/// store: one layer is one session space. See the
/// [module docs](crate::session) for the whole story.
pub struct SessionLayer<St = MemoryStore> {
    pub(crate) shared: Arc<Shared<St>>,
}

/// What every service of one layer shares.
pub(crate) struct Shared<St> {
    pub(crate) store: Arc<St>,
    pub(crate) config: SessionConfig,
    pub(crate) flights: Flights,
    pub(crate) counters: Counters,
    /// Permits for the upstream `DELETE`s of sessions the store ended.
    pub(crate) ending: Arc<tokio::sync::Semaphore>,
    pub(crate) open_rate: OpenRate,
}

impl SessionLayer<MemoryStore> {
    /// A layer with the default settings and an in-memory store.
    pub fn new() -> Self {
        Self::with_config(SessionConfig::default())
    }

    /// A layer with `config` and an in-memory store of `config`'s size.
    pub fn with_config(config: SessionConfig) -> Self {
        let store = Arc::new(MemoryStore::new(config.max_sessions));
        Self::with_store(store, config)
    }
}

impl Default for SessionLayer<MemoryStore> {
    fn default() -> Self {
        Self::new()
    }
}

impl<St: SessionStore> SessionLayer<St> {
    /// A layer that keeps sessions in `store` (a shared store lets replicas
    /// share sessions); `config.max_sessions` then bounds only the
    /// re-initializes tracked at once.
    pub fn with_store(store: Arc<St>, config: SessionConfig) -> Self {
        let flights = Flights::new(config.max_sessions);
        let open_rate = OpenRate::new(config.open_rate);
        SessionLayer {
            shared: Arc::new(Shared {
                store,
                config,
                flights,
                counters: Counters::default(),
                ending: ending::permits(),
                open_rate,
            }),
        }
    }
}

impl<St> SessionLayer<St> {
    /// The store (to inspect it, or share it with another layer's admin API).
    pub fn store(&self) -> Arc<St> {
        Arc::clone(&self.shared.store)
    }

    /// The settings.
    pub fn config(&self) -> &SessionConfig {
        &self.shared.config
    }

    /// What the layer did so far (shared with every service it made).
    pub fn stats(&self) -> SessionStats {
        self.shared.counters.snapshot()
    }
}

impl<St> Clone for SessionLayer<St> {
    fn clone(&self) -> Self {
        SessionLayer {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<St> fmt::Debug for SessionLayer<St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionLayer")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl<S, St> Layer<S> for SessionLayer<St> {
    type Service = Session<S, St>;

    fn layer(&self, inner: S) -> Session<S, St> {
        Session::new(inner, Arc::clone(&self.shared))
    }
}
