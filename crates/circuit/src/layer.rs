use std::sync::Arc;

use mcp_reconnect_core::BoxError;
use tower_layer::Layer;
use tower_service::Service;

use crate::config::Config;
use crate::service::CircuitReconnect;
use crate::status::CircuitStatus;

/// Puts a reconnect manager in front of a connector: a `tower::Service<T>`
/// that makes upstream services for target `T` (tower's `MakeService` shape,
/// as `tower::reconnect` takes).
///
/// One layer is one circuit: its [`status`](Self::status) handle is made with
/// the layer, so a `HealthLayer` can be built before the stack is.
#[derive(Clone, Debug)]
pub struct CircuitReconnectLayer<T> {
    target: T,
    config: Config,
    status: CircuitStatus,
}

/// The name used when none is given.
pub const DEFAULT_NAME: &str = "upstream";

impl<T> CircuitReconnectLayer<T> {
    /// A circuit for `target` with the default policy ([`Config::default`]).
    pub fn new(target: T) -> Self {
        CircuitReconnectLayer {
            target,
            config: Config::default(),
            status: CircuitStatus::new(Arc::from(DEFAULT_NAME)),
        }
    }

    /// Names the upstream in logs, `/health` and metrics. Give a display name
    /// without credentials (no userinfo, no query). Every [`status`](Self::status)
    /// handle, taken before or after, sees the name; a `HealthLayer` reads it
    /// when it is built.
    pub fn name(self, name: impl Into<Arc<str>>) -> Self {
        self.status.rename(name.into());
        self
    }

    /// A circuit for `target` with `config` ([`Config::from_env`] reads the
    /// `MCPO_*` variables and checks them). Settings out of range act as the
    /// nearest valid ones ([`Config::normalized`]), with one warning.
    pub fn with_config(target: T, config: Config) -> Self {
        if let Err(error) = config.validate() {
            tracing::warn!(%error, "circuit settings out of range; using the nearest valid ones");
        }
        CircuitReconnectLayer {
            config: config.normalized(),
            ..Self::new(target)
        }
    }

    /// The circuit's status handle (shared with every service this layer makes).
    pub fn status(&self) -> CircuitStatus {
        self.status.clone()
    }
}

impl<M, T> Layer<M> for CircuitReconnectLayer<T>
where
    M: Service<T, Response: Clone + Send + 'static> + Send + 'static,
    M::Error: Into<BoxError>,
    M::Future: Send,
    T: Clone + Send + Sync + 'static,
{
    type Service = CircuitReconnect<M, T>;

    fn layer(&self, connector: M) -> CircuitReconnect<M, T> {
        CircuitReconnect::new(
            connector,
            self.target.clone(),
            self.config.clone(),
            self.status.clone(),
        )
    }
}
