//! [`ToolRetry`]: the service, and the adapter tower's `Retry` drives.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use http::{Request, Response};
use http_body::Body;
use http_body_util::Full;
use mcp_reconnect_core::BoxError;
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::body::RetryBody;
use crate::future::ResponseFuture;
use crate::layer::Shared;
use mcp_reconnect_core::status::RetryCounts;

/// The service made by [`ToolRetryLayer`](crate::ToolRetryLayer).
///
/// `poll_ready` is always ready: the layer buffers each request, and the
/// response future waits for the inner service's readiness itself, before
/// each try and under the call's deadline. So a call that waits for a
/// reconnect below (the circuit holds unsent calls while the upstream is
/// down) never waits past its deadline, and the wait is never a try.
#[derive(Clone, Debug)]
pub struct ToolRetry<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> ToolRetry<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        ToolRetry { inner, shared }
    }

    /// A snapshot of the retry counters (shared with the layer).
    pub fn stats(&self) -> RetryCounts {
        self.shared.stats.snapshot()
    }

    mcp_reconnect_core::inner_service_accessors!(inner: S);
}

impl<S, ReqB, B> Service<Request<ReqB>> for ToolRetry<S>
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>, Error: Into<BoxError>> + Clone,
    ReqB: Body<Error: Into<BoxError>>,
    B: Body<Data: Buf + From<Bytes>>,
{
    type Response = Response<RetryBody<B>>;
    type Error = BoxError;
    type Future = ResponseFuture<S, ReqB, B>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        ResponseFuture::new(request, self.inner.clone(), Arc::clone(&self.shared))
    }
}

/// The inner service as tower's `Retry` sees it: errors boxed, bodies wrapped,
/// so the policy can answer a refused retry with a body of its own.
#[derive(Clone, Debug)]
pub(crate) struct Forward<S>(pub(crate) S);

impl<S, B> Service<Request<Full<Bytes>>> for Forward<S>
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>, Error: Into<BoxError>>,
{
    type Response = Response<RetryBody<B>>;
    type Error = BoxError;
    type Future = ForwardFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.0.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<Full<Bytes>>) -> Self::Future {
        ForwardFuture {
            inner: self.0.call(request),
        }
    }
}

pin_project! {
    /// The future of one try.
    #[derive(Debug)]
    pub(crate) struct ForwardFuture<F> {
        #[pin]
        inner: F,
    }
}

impl<F, B, E> Future for ForwardFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response<RetryBody<B>>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let result = ready!(self.project().inner.poll(cx));
        Poll::Ready(
            result
                .map(|response| response.map(crate::body::upstream))
                .map_err(Into::into),
        )
    }
}
