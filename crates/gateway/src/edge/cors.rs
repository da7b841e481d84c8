//! [`CorsOnOriginLayer`]: tower-http's CORS, for browser requests only.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};
use tower_http::cors::Cors;

use crate::around::{Around, Wrapped};

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
        Wrapped::new(self.cors.layer(inner), OnOrigin)
    }
}

/// The service [`CorsOnOriginLayer`] makes. It holds one inner service
/// (inside the CORS one), so readiness is the inner service's own.
pub type CorsOnOrigin<S> = Wrapped<Cors<S>, OnOrigin>;

/// Sends a request through CORS only when it carries an `Origin`.
#[derive(Clone, Copy, Debug)]
pub struct OnOrigin;

impl<S, B> Around<Cors<S>, Request<Body>> for OnOrigin
where
    S: Service<Request<Body>, Response = Response<B>>,
    B: Default,
{
    type Future = CorsOnOriginFuture<S::Future>;

    fn call(&self, cors: &mut Cors<S>, request: Request<Body>) -> Self::Future {
        let kind = if request.headers().contains_key(http::header::ORIGIN) {
            CorsKind::Cors {
                future: cors.call(request),
            }
        } else {
            CorsKind::Plain {
                future: cors.get_mut().call(request),
            }
        };
        CorsOnOriginFuture { kind }
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
