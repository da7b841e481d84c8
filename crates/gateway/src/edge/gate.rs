//! [`Gate`]: a synchronous pass-or-answer check, as a tower layer with a named future.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::Service;

use crate::around::{Around, AroundLayer, Wrapped};

/// A synchronous check at the edge.
pub trait Gate: Clone + Send + Sync + 'static {
    /// `None` lets `request` pass (the gate may have changed it, e.g.
    /// removed a checked credential); `Some` is the answer, and the request
    /// goes no further.
    fn check(&self, request: &mut Request<Body>) -> Option<Response<Body>>;
}

/// Puts a [`Gate`] in front of a service: `GateLayer::from(gate)`.
pub type GateLayer<G> = AroundLayer<G>;

/// The service [`GateLayer`] makes.
pub type Gated<S, G> = Wrapped<S, G>;

impl<S, G> Around<S, Request<Body>> for G
where
    S: Service<Request<Body>, Response = Response<Body>>,
    G: Gate,
{
    type Future = GateFuture<S::Future, S::Error>;

    fn call(&self, inner: &mut S, mut request: Request<Body>) -> Self::Future {
        match self.check(&mut request) {
            Some(answer) => GateFuture {
                state: GateState::Answered {
                    answer: Some(answer),
                    error: PhantomData,
                },
            },
            None => GateFuture {
                state: GateState::Passed {
                    future: inner.call(request),
                },
            },
        }
    }
}

pin_project! {
    /// The future of [`Gated`]: the gate's answer, or the inner service's.
    pub struct GateFuture<F, E> {
        #[pin]
        state: GateState<F, E>,
    }
}

pin_project! {
    #[project = GateProjection]
    enum GateState<F, E> {
        Answered { answer: Option<Response<Body>>, error: PhantomData<fn() -> E> },
        Passed { #[pin] future: F },
    }
}

impl<F, E> Future for GateFuture<F, E>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            GateProjection::Answered { answer, .. } => Poll::Ready(Ok(answer
                .take()
                .unwrap_or_else(|| mcp_reconnect_core::polled_after_completion("GateFuture")))),
            GateProjection::Passed { future } => future.poll(cx),
        }
    }
}
