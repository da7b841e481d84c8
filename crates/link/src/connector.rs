//! [`StdioConnector`]: spawns a child and completes the MCP handshake with it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use mcp_reconnect_core::{BoxError, ClassifiedError};
use tower_service::Service;

use crate::config::StdioConfig;
use crate::service::LinkService;
use crate::target::StdioTarget;
use crate::{child, handshake};

/// Makes a [`LinkService`] for a [`StdioTarget`]: starts the child, sends
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
    type Response = LinkService;
    type Error = BoxError;
    /// Boxed: one per (re)spawn, not per call.
    type Future = Pin<Box<dyn Future<Output = Result<LinkService, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, target: StdioTarget) -> Self::Future {
        let config = self.config.clone();
        Box::pin(async move { connect(&target, &config).await.map_err(BoxError::from) })
    }
}

async fn connect(target: &StdioTarget, config: &StdioConfig) -> Result<LinkService, ClassifiedError> {
    let link = child::spawn(target, config)?;
    let init = handshake::initialize(&link, &target.command_line(), config.handshake_timeout).await?;
    Ok(LinkService::new(link, Arc::new(init)))
}
