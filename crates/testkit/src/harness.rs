//! [`TestUpstream`]: the server and a proxy in front of it, in one call.

use std::io;
use std::sync::Arc;

use crate::counters::Counters;
use crate::proxy::FaultProxy;
use crate::server::{McpServer, ServerOptions};

/// An [`McpServer`] with a [`FaultProxy`] in front: what most tests want.
///
/// Clients use [`url`](Self::url) (the proxy); faults go to `proxy`, kills
/// and restarts to `server`.
#[derive(Debug)]
pub struct TestUpstream {
    /// The MCP server.
    pub server: McpServer,
    /// The proxy in front of it.
    pub proxy: FaultProxy,
}

impl TestUpstream {
    /// Starts a server with default [`ServerOptions`] and a proxy in front of it.
    pub async fn start() -> io::Result<TestUpstream> {
        TestUpstream::start_with(ServerOptions::default()).await
    }

    /// Starts a server with `options` and a proxy in front of it.
    pub async fn start_with(options: ServerOptions) -> io::Result<TestUpstream> {
        let server = McpServer::start(options).await?;
        let proxy = FaultProxy::start(server.addr()).await?;
        Ok(TestUpstream { server, proxy })
    }

    /// The MCP endpoint through the proxy.
    pub fn url(&self) -> String {
        self.proxy.url()
    }

    /// The server's [`Counters`].
    pub fn counters(&self) -> Arc<Counters> {
        self.server.counters()
    }
}
