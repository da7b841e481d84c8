//! The gateway's own edge middleware as plain tower layers with named
//! futures: a [`GateLayer`] for checks that pass a request on or answer it at
//! once (the API key, the DNS-rebinding guard, the body limit), CORS for browsers only
//! ([`CorsOnOriginLayer`]), a catch-panic that keeps axum's `Body`
//! ([`CatchPanicLayer`]), and the request span ([`crate::trace::TraceLayer`]).
//!
//! Why not `axum::middleware::from_fn`: each `from_fn` layer clones the
//! wrapped route (a boxed service) and boxes a future on every request, and
//! every layer a call goes through shows in the throughput at one call in
//! flight (BENCHMARKS.md, "Profile"). A gate costs one synchronous check.

use std::future::Future;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

/// A synchronous check at the edge.
pub trait Gate: Clone + Send + Sync + 'static {
    /// `None` lets `request` pass (the gate may have changed it, e.g.
    /// removed a checked credential); `Some` is the answer, and the request
    /// goes no further.
    fn check(&self, request: &mut Request<Body>) -> Option<Response<Body>>;
}

/// Puts a [`Gate`] in front of a service.
#[derive(Clone, Debug)]
pub struct GateLayer<G> {
    gate: G,
}

impl<G> GateLayer<G> {
    /// A layer that checks every request with `gate`.
    pub fn new(gate: G) -> Self {
        GateLayer { gate }
    }
}

impl<S, G: Clone> Layer<S> for GateLayer<G> {
    type Service = Gated<S, G>;

    fn layer(&self, inner: S) -> Gated<S, G> {
        Gated {
            inner,
            gate: self.gate.clone(),
        }
    }
}

/// The service [`GateLayer`] makes.
#[derive(Clone, Debug)]
pub struct Gated<S, G> {
    inner: S,
    gate: G,
}

impl<S, G> Service<Request<Body>> for Gated<S, G>
where
    S: Service<Request<Body>, Response = Response<Body>>,
    G: Gate,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = GateFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        match self.gate.check(&mut request) {
            Some(answer) => GateFuture {
                state: GateState::Answered {
                    answer: Some(answer),
                    error: PhantomData,
                },
            },
            None => GateFuture {
                state: GateState::Passed {
                    future: self.inner.call(request),
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

/// The request body limit, as a [`Gate`]: a declared `Content-Length` over
/// the limit is answered `413` at once; a body without one (chunked; an
/// empty one is left alone) is wrapped so that reading past the limit fails with
/// [`http_body_util::LengthLimitError`], which the readers behind turn into
/// their own `413`. A body within its declared length passes untouched:
/// hyper never yields more than the declared length, and tower-http's
/// `RequestBodyLimit` (which wrapped every body and every answer, two
/// allocations per call to box them again as `Body`) was doing nothing more.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit {
    limit: usize,
}

impl BodyLimit {
    /// At most `limit` bytes of request body.
    pub fn new(limit: usize) -> Self {
        BodyLimit { limit }
    }
}

impl Gate for BodyLimit {
    fn check(&self, request: &mut Request<Body>) -> Option<Response<Body>> {
        let declared = request
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
        match declared {
            Some(length) if length > self.limit as u64 => Some(crate::rest::detail(
                http::StatusCode::PAYLOAD_TOO_LARGE,
                serde_json::json!({"message": "request body too large"}),
            )),
            Some(_) => None,
            // Nothing to read (a `GET` or `DELETE` without a body).
            None if hyper::body::Body::is_end_stream(request.body()) => None,
            None => {
                let body = std::mem::take(request.body_mut());
                *request.body_mut() = Body::new(http_body_util::Limited::new(body, self.limit));
                None
            }
        }
    }
}

/// tower-http's CORS for requests that carry an `Origin` (a browser's),
/// and nothing at all for the rest — as Starlette's `CORSMiddleware` (mcpo's)
/// does. A request without `Origin` is not a CORS request: tower-http would
/// still build a header map and add `Vary`, `Access-Control-Allow-Origin`
/// and `Access-Control-Expose-Headers` to every answer, which MCP clients
/// and scripts never read.
#[derive(Clone, Debug)]
pub struct CorsOnOriginLayer {
    cors: tower_http::cors::CorsLayer,
}

impl CorsOnOriginLayer {
    /// Applies `cors` to requests with an `Origin`.
    pub fn new(cors: tower_http::cors::CorsLayer) -> Self {
        CorsOnOriginLayer { cors }
    }
}

impl<S> Layer<S> for CorsOnOriginLayer {
    type Service = CorsOnOrigin<S>;

    fn layer(&self, inner: S) -> CorsOnOrigin<S> {
        CorsOnOrigin {
            cors: self.cors.layer(inner),
        }
    }
}

/// The service [`CorsOnOriginLayer`] makes. It holds one inner service
/// (inside the CORS one), so readiness is the inner service's own.
#[derive(Clone, Debug)]
pub struct CorsOnOrigin<S> {
    cors: tower_http::cors::Cors<S>,
}

impl<S, B> Service<Request<Body>> for CorsOnOrigin<S>
where
    S: Service<Request<Body>, Response = Response<B>>,
    B: Default,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = CorsOnOriginFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.cors.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        if request.headers().contains_key(http::header::ORIGIN) {
            CorsOnOriginFuture {
                kind: CorsKind::Cors {
                    future: self.cors.call(request),
                },
            }
        } else {
            CorsOnOriginFuture {
                kind: CorsKind::Plain {
                    future: self.cors.get_mut().call(request),
                },
            }
        }
    }
}

pin_project! {
    /// The future of [`CorsOnOrigin`].
    pub struct CorsOnOriginFuture<F> {
        #[pin]
        kind: CorsKind<F>,
    }
}

pin_project! {
    #[project = CorsKindProj]
    enum CorsKind<F> {
        // A browser's request, through CORS.
        Cors { #[pin] future: tower_http::cors::ResponseFuture<F> },
        // Anyone else's, straight to the inner service.
        Plain { #[pin] future: F },
    }
}

impl<F, B, E> Future for CorsOnOriginFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Default,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            CorsKindProj::Cors { future } => future.poll(cx),
            CorsKindProj::Plain { future } => future.poll(cx),
        }
    }
}

/// Answers a request whose service panicked (in `call` or while its future
/// runs) with the answer `on_panic` makes, instead of dropping the
/// connection. tower-http's `CatchPanic` does the same but boxes every
/// answer's body, which the gateway then boxed again into axum's `Body` —
/// two allocations and two dynamic layers per answer for a panic that
/// should never happen. A panic while a body streams is not caught (nor is
/// it by tower-http's).
#[derive(Clone, Copy, Debug)]
pub struct CatchPanicLayer {
    on_panic: fn() -> Response<Body>,
}

impl CatchPanicLayer {
    /// Answers panics with `on_panic()`.
    pub fn new(on_panic: fn() -> Response<Body>) -> Self {
        CatchPanicLayer { on_panic }
    }
}

impl<S> Layer<S> for CatchPanicLayer {
    type Service = CatchPanic<S>;

    fn layer(&self, inner: S) -> CatchPanic<S> {
        CatchPanic {
            inner,
            on_panic: self.on_panic,
        }
    }
}

/// The service [`CatchPanicLayer`] makes.
#[derive(Clone, Copy, Debug)]
pub struct CatchPanic<S> {
    inner: S,
    on_panic: fn() -> Response<Body>,
}

impl<S> Service<Request<Body>> for CatchPanic<S>
where
    S: Service<Request<Body>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = CatchPanicFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let inner = &mut self.inner;
        let kind = match std::panic::catch_unwind(AssertUnwindSafe(|| inner.call(request))) {
            Ok(future) => PanicKind::Running { future },
            Err(_) => PanicKind::Panicked,
        };
        CatchPanicFuture {
            kind,
            on_panic: self.on_panic,
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

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http::StatusCode;
    use tower::{ServiceExt, service_fn};

    use super::*;

    /// Refuses requests without an `x-pass` header, and removes it from those it lets pass.
    #[derive(Clone)]
    struct NeedsPass;

    impl Gate for NeedsPass {
        fn check(&self, request: &mut Request<Body>) -> Option<Response<Body>> {
            match request.headers_mut().remove("x-pass") {
                Some(_) => None,
                None => {
                    let mut answer = Response::new(Body::empty());
                    *answer.status_mut() = StatusCode::FORBIDDEN;
                    Some(answer)
                }
            }
        }
    }

    fn echo_has_pass() -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone {
        service_fn(|request: Request<Body>| async move {
            let seen = request.headers().contains_key("x-pass");
            Ok::<_, Infallible>(Response::new(Body::from(if seen { "leaked" } else { "clean" })))
        })
    }

    #[tokio::test]
    async fn a_gate_answers_or_passes_the_changed_request() {
        let service = GateLayer::new(NeedsPass).layer(echo_has_pass());
        let refused = service
            .clone()
            .oneshot(Request::new(Body::empty()))
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);

        let request = Request::builder()
            .header("x-pass", "1")
            .body(Body::empty())
            .unwrap();
        let passed = service.oneshot(request).await.unwrap();
        assert_eq!(passed.status(), StatusCode::OK);
        let body = axum::body::to_bytes(passed.into_body(), 64).await.unwrap();
        assert_eq!(&body[..], b"clean", "the gate's change reached the inner service");
    }

    #[tokio::test]
    async fn gates_compose_with_axum_routers() {
        let router = axum::Router::new()
            .route("/x", axum::routing::get(|| async { "inner" }))
            .layer(GateLayer::new(NeedsPass));
        let refused = router
            .clone()
            .oneshot(Request::get("/x").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        let request = Request::get("/x")
            .header("x-pass", "1")
            .body(Body::empty())
            .unwrap();
        assert_eq!(router.oneshot(request).await.unwrap().status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn the_body_limit_refuses_a_declared_length_and_bounds_an_undeclared_one() {
        let gate = BodyLimit::new(8);
        let mut declared = Request::builder()
            .header(http::header::CONTENT_LENGTH, "9")
            .body(Body::from("123456789"))
            .unwrap();
        let refused = gate.check(&mut declared).expect("over the limit");
        assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let body = axum::body::to_bytes(refused.into_body(), 256).await.unwrap();
        assert_eq!(&body[..], br#"{"detail":{"message":"request body too large"}}"#);

        let mut within = Request::builder()
            .header(http::header::CONTENT_LENGTH, "8")
            .body(Body::from("12345678"))
            .unwrap();
        assert!(gate.check(&mut within).is_none());
        let body = axum::body::to_bytes(within.into_body(), 64).await.unwrap();
        assert_eq!(&body[..], b"12345678");

        // No length declared (a chunked body): reading past the limit fails.
        let mut undeclared = Request::new(Body::from("123456789"));
        assert!(gate.check(&mut undeclared).is_none());
        let error = mcp_reconnect_core::body::collect_bytes(undeclared.into_body(), usize::MAX)
            .await
            .unwrap_err();
        assert!(mcp_reconnect_core::body::is_over_limit(&error));
        let mut empty = Request::new(Body::empty());
        assert!(gate.check(&mut empty).is_none());
        assert!(
            hyper::body::Body::is_end_stream(empty.body()),
            "nothing to bound: left as it is"
        );
        let mut small = Request::new(Body::from("1234"));
        assert!(gate.check(&mut small).is_none());
        let body = axum::body::to_bytes(small.into_body(), 64).await.unwrap();
        assert_eq!(&body[..], b"1234");
    }

    fn teapot() -> Response<Body> {
        let mut response = Response::new(Body::from("caught"));
        *response.status_mut() = StatusCode::IM_A_TEAPOT;
        response
    }

    #[tokio::test]
    async fn a_panic_in_call_or_in_the_future_is_answered_and_the_service_goes_on() {
        let in_call = tower::service_fn(|request: Request<Body>| {
            assert!(request.uri().path() != "/call", "panic in call");
            async move {
                assert!(request.uri().path() != "/poll", "panic in poll");
                Ok::<_, Infallible>(Response::new(Body::from("fine")))
            }
        });
        let mut service = CatchPanicLayer::new(teapot).layer(in_call);
        for (path, status) in [
            ("/call", StatusCode::IM_A_TEAPOT),
            ("/poll", StatusCode::IM_A_TEAPOT),
            ("/fine", StatusCode::OK),
        ] {
            let request = Request::get(path).body(Body::empty()).unwrap();
            let response = service.ready().await.unwrap().call(request).await.unwrap();
            assert_eq!(response.status(), status, "{path}");
        }
    }

    async fn boom(request: Request<Body>) -> &'static str {
        assert_eq!(request.uri().path(), "/never", "a handler that panics");
        "unreachable"
    }

    #[tokio::test]
    async fn the_panic_layer_composes_with_axum_routers() {
        let router = axum::Router::new()
            .route("/boom", axum::routing::get(boom))
            .layer(CatchPanicLayer::new(teapot));
        let request = Request::get("/boom").body(Body::empty()).unwrap();
        let response = router.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::IM_A_TEAPOT);
        let body = axum::body::to_bytes(response.into_body(), 64).await.unwrap();
        assert_eq!(body, "caught");
    }
}
