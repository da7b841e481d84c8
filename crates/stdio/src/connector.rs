//! [`StdioConnector`]: spawns a child and completes the MCP handshake with it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use mcp_reconnect_core::{BoxError, ClassifiedError};
use serde_json::{Value, json};
use tower_service::Service;

use crate::child::Child;
use crate::config::StdioConfig;
use crate::error::HandshakeError;
use crate::service::StdioService;
use crate::target::StdioTarget;

/// The protocol version the gateway initializes a child with (the one most
/// servers speak today; a client of the gateway may ask for another).
pub const CHILD_PROTOCOL_VERSION: &str = "2025-06-18";

/// Makes a [`StdioService`] for a [`StdioTarget`]: starts the child, sends
/// it `initialize` and `notifications/initialized`, and hands out the
/// service once the child answered. A child that cannot be started, exits,
/// or does not answer in time is a failed connect (not reached), so
/// `CircuitReconnectLayer` in front applies its backoff, attempts and open
/// circuit to respawns: a child that dies at once cannot fork-storm.
#[derive(Clone, Debug, Default)]
pub struct StdioConnector {
    config: StdioConfig,
}

impl StdioConnector {
    /// A connector with `config`.
    pub fn new(config: StdioConfig) -> Self {
        StdioConnector { config }
    }
}

impl Service<StdioTarget> for StdioConnector {
    type Response = StdioService;
    type Error = BoxError;
    /// Boxed: one per (re)spawn, not per call.
    type Future = Pin<Box<dyn Future<Output = Result<StdioService, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, target: StdioTarget) -> Self::Future {
        let config = self.config.clone();
        Box::pin(async move { connect(&target, &config).await.map_err(BoxError::from) })
    }
}

async fn connect(target: &StdioTarget, config: &StdioConfig) -> Result<StdioService, ClassifiedError> {
    let child = Child::spawn(target, config)?;
    let failed = |why: String| HandshakeError {
        command: target.command_line(),
        why,
    };
    let initialize = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": CHILD_PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "mcp-gateway", "version": env!("CARGO_PKG_VERSION")},
    }});
    let Value::Object(initialize) = initialize else {
        return Err(failed("the initialize request is not an object".to_owned()).into());
    };
    let reply = match tokio::time::timeout(config.handshake_timeout, child.call(initialize)).await {
        Ok(Ok(reply)) => reply,
        Ok(Err(dead)) => return Err(failed(dead.to_string()).into()),
        Err(_) => {
            return Err(failed(format!("no answer within {:?}", config.handshake_timeout)).into());
        }
    };
    let result = match reply.get("result") {
        Some(Value::Object(result)) if result.get("protocolVersion").is_some_and(Value::is_string) => {
            result.clone()
        }
        _ => {
            let error = reply
                .get("error")
                .map_or_else(|| reply.to_string(), Value::to_string);
            return Err(failed(format!("its answer is not an initialize result: {error}")).into());
        }
    };
    child
        .notify(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .await
        .map_err(|dead| failed(dead.to_string()))?;
    tracing::debug!(server = %child.name, session = %child.session, "stdio server initialized");
    Ok(StdioService::new(child, Arc::new(result)))
}
