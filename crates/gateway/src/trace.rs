//! One `mcp.request` span per request. Its fields are filled as they become
//! known: `mcp.method` / `mcp.tool` from the `Mcp-Method` / `Mcp-Name`
//! headers (2026-07-28 clients) or from the retry layer's peek of the body,
//! `upstream` by the route, `attempt` by the stack, `status` at the end.
//! Never arguments, session ids, query strings or keys.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use mcp_reconnect_core::headers::{header_method, header_name};
use tokio::time::Instant;
use tracing::Instrument;
use tracing::field::Empty;

/// The middleware that opens the span and logs the outcome.
pub async fn span(request: Request, next: Next) -> Response {
    let span = tracing::info_span!(
        "mcp.request",
        http.method = %request.method(),
        http.path = %request.uri().path(),
        "mcp.method" = Empty,
        "mcp.tool" = Empty,
        upstream = Empty,
        attempt = Empty,
        status = Empty,
    );
    if let Some(method) = header_method(request.headers()) {
        span.record("mcp.method", method);
        if method == "tools/call"
            && let Some(tool) = header_name(request.headers())
        {
            span.record("mcp.tool", tool);
        }
    }
    let started = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    span.record("status", status);
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    if response.status().is_server_error() {
        tracing::info!(parent: &span, status, elapsed_ms, "request failed");
    } else {
        tracing::debug!(parent: &span, status, elapsed_ms, "request done");
    }
    response
}
