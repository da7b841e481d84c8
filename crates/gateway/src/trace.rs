//! One `mcp.request` span per request. Its fields are filled as they become
//! known: `mcp.method` / `mcp.tool` from the `Mcp-Method` / `Mcp-Name`
//! headers (2026-07-28 clients) or from the retry layer's peek of the body,
//! `upstream` by the route, `attempt` by the stack, `status` at the end.
//! Never arguments, session ids, query strings or keys.
//!
//! A tower layer with a named future, not an axum `from_fn` (see
//! [`crate::edge`] for why).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use http::{Request, Response};
use mcp_reconnect_core::headers::{header_method, header_name};
use pin_project_lite::pin_project;
use tokio::time::Instant;
use tower::{Layer, Service};
use tracing::field::Empty;
use tracing::instrument::{Instrument, Instrumented};

/// Opens the `mcp.request` span of each request and logs its outcome
/// (`info` for a `5xx`, `debug` otherwise).
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceLayer;

impl<S> Layer<S> for TraceLayer {
    type Service = Traced<S>;

    fn layer(&self, inner: S) -> Traced<S> {
        Traced { inner }
    }
}

/// The service [`TraceLayer`] makes.
#[derive(Clone, Debug)]
pub struct Traced<S> {
    inner: S,
}

impl<S> Service<Request<Body>> for Traced<S>
where
    S: Service<Request<Body>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = TracedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
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
        let future = span.in_scope(|| self.inner.call(request));
        TracedFuture {
            future: future.instrument(span),
            started: Instant::now(),
        }
    }
}

pin_project! {
    /// The future of [`Traced`]: the inner one, inside the request's span.
    pub struct TracedFuture<F> {
        #[pin]
        future: Instrumented<F>,
        started: Instant,
    }
}

impl<F, E> Future for TracedFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut future = this.future;
        let output = std::task::ready!(future.as_mut().poll(cx));
        if let Ok(response) = &output {
            let span = future.span();
            let status = response.status().as_u16();
            span.record("status", status);
            let elapsed_ms = u64::try_from(this.started.elapsed().as_millis()).unwrap_or(u64::MAX);
            if response.status().is_server_error() {
                tracing::info!(parent: span, status, elapsed_ms, "request failed");
            } else {
                tracing::debug!(parent: span, status, elapsed_ms, "request done");
            }
        }
        Poll::Ready(output)
    }
}
