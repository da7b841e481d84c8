//! [`Around`]: what one of the gateway's own middleware does with a request,
//! and the one `Layer` + `Service` pair that runs it.
//!
//! Each of them that answers as its inner service does (the edge gates,
//! CORS for browsers, catch-panic, the request span, shedding) is ready exactly when its inner
//! service is, and differs from the others only in what it does around one
//! call. That part is its `Around` impl, with its own named future; the
//! readiness, the cloning and the layering are written once, here.
//!
//! ```
//! use std::convert::Infallible;
//! use std::future::{Ready, ready};
//!
//! use mcp_reconnect_gateway::around::{Around, AroundLayer};
//! use tower::{Layer, Service, ServiceExt, service_fn};
//!
//! /// Answers every request with the inner answer doubled.
//! #[derive(Clone)]
//! struct Twice;
//!
//! impl<S> Around<S, u32> for Twice
//! where
//!     S: Service<u32, Response = u32, Future = Ready<Result<u32, Infallible>>, Error = Infallible>,
//! {
//!     type Future = Ready<Result<u32, Infallible>>;
//!
//!     fn call(&self, inner: &mut S, request: u32) -> Self::Future {
//!         let answer = inner.call(request).into_inner();
//!         ready(answer.map(|n| n * 2))
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let service = AroundLayer::from(Twice).layer(service_fn(|n: u32| ready(Ok::<_, Infallible>(n + 1))));
//! assert_eq!(service.oneshot(20).await, Ok(42));
//! # });
//! ```

use std::future::Future;
use std::task::{Context, Poll};

use tower::{Layer, Service};

/// What a middleware does around its inner service `S` for one request `R`.
/// It answers as the inner service does (the same response and error
/// types), whether it called it or not.
pub trait Around<S, R>
where
    S: Service<R>,
{
    /// Its future, named so that every stack's type stays nameable.
    type Future: Future<Output = Result<S::Response, S::Error>>;

    /// Handles `request`; `inner` is ready and may be called once.
    fn call(&self, inner: &mut S, request: R) -> Self::Future;
}

/// Wraps every service in [`Wrapped`] with a clone of one [`Around`].
#[derive(Clone, Copy, Debug, Default)]
pub struct AroundLayer<A> {
    around: A,
}

impl<A> From<A> for AroundLayer<A> {
    fn from(around: A) -> Self {
        AroundLayer { around }
    }
}

impl<S, A: Clone> Layer<S> for AroundLayer<A> {
    type Service = Wrapped<S, A>;

    fn layer(&self, inner: S) -> Wrapped<S, A> {
        Wrapped::new(inner, self.around.clone())
    }
}

/// The service [`AroundLayer`] makes: ready when `inner` is, and each
/// request handled by its [`Around`].
#[derive(Clone, Copy, Debug)]
pub struct Wrapped<S, A> {
    inner: S,
    around: A,
}

impl<S, A> Wrapped<S, A> {
    /// `inner`, with `around` around each of its calls.
    pub fn new(inner: S, around: A) -> Self {
        Wrapped { inner, around }
    }
}

impl<S, A, R> Service<R> for Wrapped<S, A>
where
    S: Service<R>,
    A: Around<S, R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = A::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> A::Future {
        self.around.call(&mut self.inner, request)
    }
}
