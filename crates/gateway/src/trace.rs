//! One `mcp.request` span per request. Its fields are filled as they become
//! known: `mcp.method` / `mcp.tool` from the `Mcp-Method` / `Mcp-Name`
//! headers (2026-07-28 clients) or from the retry layer's peek of the body,
//! `upstream` by the route, `attempt` by the stack, `status` at the end.
//! Never arguments, session ids, query strings or keys.
//!
//! The span is `debug` level: at the default `info` it is not created at
//! all, because a live span costs every request more than the whole MCP
//! stack does (the fmt subscriber formats its fields on creation and on every
//! `record`, and registers it; measured in BENCHMARKS.md "Profile"). A failed
//! request (`5xx`) still logs one `info` event that names its HTTP method,
//! path, status, duration and, when the headers named them, the MCP method
//! and tool.
//!
//! A tower layer with a named future, not an axum `from_fn` (see
//! [`crate::edge`] for why).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use http::HeaderValue;
use http::{Request, Response};
use mcp_reconnect_core::headers::{MCP_METHOD, MCP_NAME, header_method};
use pin_project_lite::pin_project;
use tokio::time::Instant;
use tower::Service;
use tracing::field::Empty;
use tracing::instrument::{Instrument, Instrumented};

use crate::around::{Around, AroundLayer};

/// Opens the `mcp.request` span of each request (at `debug`) and logs its
/// outcome (`info` for a `5xx`, `debug` otherwise).
pub type TraceLayer = AroundLayer<RequestSpan>;

/// Each request's span, and the event when it ends.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestSpan;

impl<S> Around<S, Request<Body>> for RequestSpan
where
    S: Service<Request<Body>, Response = Response<Body>>,
{
    type Future = TracedFuture<S::Future>;

    fn call(&self, inner: &mut S, request: Request<Body>) -> Self::Future {
        let span = tracing::debug_span!(
            "mcp.request",
            http.method = %request.method(),
            http.path = %request.uri().path(),
            "mcp.method" = Empty,
            "mcp.tool" = Empty,
            upstream = Empty,
            attempt = Empty,
            status = Empty,
        );
        let facts = Facts::of(&request);
        if !span.is_disabled() {
            if let Some(method) = facts.mcp_method() {
                span.record("mcp.method", method);
            }
            if let Some(tool) = facts.mcp_tool() {
                span.record("mcp.tool", tool);
            }
        }
        let future = span.in_scope(|| inner.call(request));
        TracedFuture {
            future: future.instrument(span),
            started: Instant::now(),
            facts,
        }
    }
}

/// What the failure event says about a request when no span carries it.
/// Only what is cheap to keep: clones of parsed parts share the connection's
/// buffer, and the MCP names come only from 2026-07-28 headers.
#[derive(Debug)]
struct Facts {
    http_method: http::Method,
    uri: http::Uri,
    mcp_method: Option<HeaderValue>,
    mcp_tool: Option<HeaderValue>,
}

impl Facts {
    fn of(request: &Request<Body>) -> Facts {
        let headers = request.headers();
        let mcp_method = headers.get(MCP_METHOD).cloned();
        let mcp_tool = match header_method(headers) {
            Some("tools/call") => headers.get(MCP_NAME).cloned(),
            _ => None,
        };
        Facts {
            http_method: request.method().clone(),
            uri: request.uri().clone(),
            mcp_method,
            mcp_tool,
        }
    }

    fn mcp_method(&self) -> Option<&str> {
        self.mcp_method.as_ref().and_then(|value| value.to_str().ok())
    }

    fn mcp_tool(&self) -> Option<&str> {
        self.mcp_tool.as_ref().and_then(|value| value.to_str().ok())
    }
}

pin_project! {
    /// The future of [`TraceLayer`]'s service: the inner one, inside the request's span.
    pub struct TracedFuture<F> {
        #[pin]
        future: Instrumented<F>,
        started: Instant,
        facts: Facts,
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
                let facts = this.facts;
                tracing::info!(
                    parent: span,
                    http.method = %facts.http_method,
                    http.path = facts.uri.path(),
                    "mcp.method" = facts.mcp_method(),
                    "mcp.tool" = facts.mcp_tool(),
                    status,
                    elapsed_ms,
                    "request failed"
                );
            } else {
                tracing::debug!(parent: span, status, elapsed_ms, "request done");
            }
        }
        Poll::Ready(output)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use http::StatusCode;
    use tower::{Layer, ServiceExt, service_fn};

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// One call answered `status`, logged at `level`; returns the log.
    fn log_of_one_call(level: tracing::Level, status: StatusCode) -> String {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap();
            runtime.block_on(async {
                let inner = service_fn(move |_: Request<Body>| async move {
                    tracing::warn!("inside the stack");
                    let mut response = Response::new(Body::empty());
                    *response.status_mut() = status;
                    Ok::<_, std::convert::Infallible>(response)
                });
                let request = Request::post("/mcp?api_key=hunter2")
                    .header(MCP_METHOD, "tools/call")
                    .header(MCP_NAME, "echo")
                    .body(Body::empty())
                    .unwrap();
                TraceLayer::default().layer(inner).oneshot(request).await.unwrap();
            });
        });
        let log = captured.0.lock().unwrap().clone();
        String::from_utf8(log).unwrap()
    }

    /// The first line of `log` that contains `needle`.
    fn line_with<'a>(log: &'a str, needle: &str) -> &'a str {
        log.lines()
            .find(|line| line.contains(needle))
            .unwrap_or_else(|| panic!("no `{needle}` line: {log}"))
    }

    #[test]
    fn at_info_a_failed_request_is_one_event_that_names_it_without_a_span() {
        let log = log_of_one_call(tracing::Level::INFO, StatusCode::BAD_GATEWAY);
        let failed = line_with(&log, "request failed");
        for field in [
            "http.method=POST",
            "http.path=\"/mcp\"",
            "mcp.method=\"tools/call\"",
            "mcp.tool=\"echo\"",
            "status=502",
        ] {
            assert!(failed.contains(field), "`{field}` missing: {failed}");
        }
        assert!(!log.contains("mcp.request"), "no span at info: {log}");
        assert!(
            !log.contains("hunter2"),
            "the query string is never logged: {log}"
        );
    }

    #[test]
    fn at_info_a_successful_request_logs_nothing() {
        let log = log_of_one_call(tracing::Level::INFO, StatusCode::OK);
        assert_eq!(log.lines().count(), 1, "only the stack's own warning: {log}");
    }

    #[test]
    fn at_debug_events_inside_the_stack_carry_the_request_span() {
        let log = log_of_one_call(tracing::Level::DEBUG, StatusCode::OK);
        let inside = line_with(&log, "inside the stack");
        assert!(inside.contains("mcp.request{"), "{inside}");
        assert!(inside.contains("mcp.tool=\"echo\""), "{inside}");
        assert!(log.contains("request done"), "{log}");
        assert!(!log.contains("hunter2"), "{log}");
    }
}
