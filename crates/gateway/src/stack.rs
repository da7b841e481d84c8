//! One upstream's layered service and the handles that watch it.
//!
//! ```text
//! RespondLayer → ToolRetryLayer → (span fields) → SessionLayer → CircuitReconnectLayer
//!   → UpstreamConnector-made service: ClassifyLayer → UpstreamService (hyper-util, TLS)
//! ```
//!
//! `/mcp` traffic and the REST routes' `tools/call`s both go through the same
//! [`Upstream::service`], so they share classification, reconnect, retry
//! safety and metrics.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use mcp_reconnect_circuit::{CircuitReconnectLayer, CircuitStatus};
use mcp_reconnect_classify::ClassifyLayer;
use mcp_reconnect_core::Attempt;
use mcp_reconnect_core::peek::{Peek, of_request};
use mcp_reconnect_core::respond::RespondLayer;
use mcp_reconnect_health::Upstream as Watched;
use mcp_reconnect_retry::ToolRetryLayer;
use mcp_reconnect_upstream::{SessionLayer, UpstreamConnector, UpstreamTarget};
use tokio::sync::Semaphore;
use tower::util::{BoxCloneSyncService, MapRequestLayer};
use tower::{ServiceBuilder, ServiceExt};

use crate::config::{ConfigError, GatewayConfig, ServerSpec};

/// The type-erased stack of one upstream: any request in, an HTTP answer out, never an error.
pub type McpService = BoxCloneSyncService<Request<Body>, Response<Body>, Infallible>;

/// One upstream: its configuration, its stack, and the handles that watch it.
#[derive(Clone)]
pub struct Upstream {
    /// What the config said about it.
    pub spec: Arc<ServerSpec>,
    /// The stack every call goes through.
    pub service: McpService,
    /// The circuit's status handle.
    pub status: CircuitStatus,
    /// The retry layer (for its counters).
    pub retry: ToolRetryLayer,
    /// Permits for calls in flight; when none is left, calls are shed.
    pub calls: Arc<Semaphore>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("name", &self.spec.name)
            .field("display", &self.spec.display)
            .field("state", &self.status.state())
            .finish_non_exhaustive()
    }
}

impl Upstream {
    /// Builds the stack for `spec` with the policies of `config`. Nothing
    /// connects yet: the circuit connects on the first call.
    pub fn build(spec: &ServerSpec, config: &GatewayConfig) -> Result<Self, ConfigError> {
        let target = UpstreamTarget::from_uri(spec.url.clone())
            .map_err(|error| ConfigError::new(format!("server `{}`: {error}", spec.name)))?
            .headers_from(spec.headers.clone());
        let circuit = CircuitReconnectLayer::new(target)
            .name(spec.display.clone())
            .with_config(config.circuit.clone())?;
        let status = circuit.status();
        let retry = ToolRetryLayer::from_config(config.retry.clone());
        let connector = UpstreamConnector::new(config.upstream.clone()).layered(ClassifyLayer::new());
        let service = ServiceBuilder::new()
            .layer(RespondLayer::new())
            .layer(retry.clone())
            .layer(MapRequestLayer::new(record_request))
            .layer(SessionLayer::with_config(config.session.clone()))
            .layer(circuit)
            .service(connector);
        let service = ServiceExt::<Request<Body>>::map_response(service, |response| response.map(Body::new));
        let permits = usize::try_from(config.limits.max_concurrent_calls).unwrap_or(usize::MAX);
        Ok(Upstream {
            spec: Arc::new(spec.clone()),
            service: BoxCloneSyncService::new(service),
            status,
            retry,
            calls: Arc::new(Semaphore::new(permits.min(Semaphore::MAX_PERMITS))),
        })
    }

    /// The upstream as `HealthLayer` watches it: circuit status and retry counters.
    pub fn watched(&self) -> Watched {
        Watched::new(self.status.clone()).retries(self.retry.clone())
    }
}

/// Marks a request whose span fields the gateway recorded itself (REST calls).
#[derive(Clone, Copy, Debug)]
pub struct SpanRecorded;

/// Puts the JSON-RPC method and tool the retry layer peeked into the current
/// `mcp.request` span on the first try, and the try number on retries
/// (never arguments or ids).
fn record_request(request: Request<Full<Bytes>>) -> Request<Full<Bytes>> {
    let span = tracing::Span::current();
    match Attempt::of(&request) {
        Some(attempt) if attempt.is_retry() => {
            span.record("attempt", attempt.number());
        }
        _ if request.extensions().get::<SpanRecorded>().is_none() => {
            if let Some(message) = of_request(&request).and_then(Peek::single) {
                if let Some(method) = message.method() {
                    span.record("mcp.method", method);
                }
                if let Some(tool) = message.tool_name() {
                    span.record("mcp.tool", tool);
                }
            }
        }
        _ => {}
    }
    request
}
