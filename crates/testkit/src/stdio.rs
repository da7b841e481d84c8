//! The testkit's tools over stdio: an rmcp stdio server, for the gateway's
//! stdio tests and demos (`mcp-gateway test-server --stdio` runs it).

use std::sync::Arc;

use rmcp::ServiceExt;

use crate::counters::Counters;
use crate::tools::TestTools;

/// Serves the testkit's tools on this process's stdin and stdout until
/// stdin closes (the client went) or the process is stopped.
pub async fn serve_stdio() -> std::io::Result<()> {
    let tools = TestTools::new(Arc::new(Counters::default()));
    let running = tools
        .serve(rmcp::transport::stdio())
        .await
        .map_err(std::io::Error::other)?;
    running.waiting().await.map_err(std::io::Error::other)?;
    Ok(())
}
