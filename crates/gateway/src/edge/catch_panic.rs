//! [`CatchPanicLayer`]: a panicking handler answered, keeping axum's `Body`.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::Service;

use crate::around::{Around, AroundLayer, Wrapped};

/// Answers a request whose service panicked (in `call` or while its future
/// runs) with the answer `on_panic` makes, instead of dropping the
/// connection. tower-http's `CatchPanic` does the same but boxes every
/// answer's body, which the gateway then boxed again into axum's `Body` —
/// two allocations and two dynamic layers per answer for a panic that
/// should never happen. A panic while a body streams is not caught (nor is
/// it by tower-http's).
pub type CatchPanicLayer = AroundLayer<OnPanic>;

/// The service [`CatchPanicLayer`] makes.
pub type CatchPanic<S> = Wrapped<S, OnPanic>;

/// What [`CatchPanicLayer`] answers a panic with.
#[derive(Clone, Copy, Debug)]
pub struct OnPanic(fn() -> Response<Body>);

impl CatchPanicLayer {
    /// Answers panics with `on_panic()`.
    pub fn new(on_panic: fn() -> Response<Body>) -> Self {
        AroundLayer::from(OnPanic(on_panic))
    }
}

impl<S> Around<S, Request<Body>> for OnPanic
where
    S: Service<Request<Body>, Response = Response<Body>>,
{
    type Future = CatchPanicFuture<S::Future>;

    fn call(&self, inner: &mut S, request: Request<Body>) -> Self::Future {
        let kind = match std::panic::catch_unwind(AssertUnwindSafe(|| inner.call(request))) {
            Ok(future) => PanicKind::Running { future },
            Err(_) => PanicKind::Panicked,
        };
        CatchPanicFuture {
            kind,
            on_panic: self.0,
        }
    }
}

pin_project! {
    /// The future of [`CatchPanic`].
    pub struct CatchPanicFuture<F> {
        #[pin]
        kind: PanicKind<F>,
        on_panic: fn() -> Response<Body>,
    }
}

pin_project! {
    #[project = PanicKindProj]
    enum PanicKind<F> {
        Running { #[pin] future: F },
        // Panicked in `call`, or the future did: answered once, then done.
        Panicked,
        Done,
    }
}

impl<F, E> Future for CatchPanicFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let polled = match this.kind.as_mut().project() {
            PanicKindProj::Running { future } => {
                std::panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))).ok()
            }
            PanicKindProj::Panicked => None,
            PanicKindProj::Done => mcp_reconnect_core::polled_after_completion("CatchPanic future"),
        };
        match polled {
            Some(poll) => poll,
            None => {
                this.kind.set(PanicKind::Done);
                tracing::error!("a request's handler panicked; answered 500");
                Poll::Ready(Ok((this.on_panic)()))
            }
        }
    }
}
