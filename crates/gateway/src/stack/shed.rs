//! [`ShedLayer`]: at most `--max-concurrent-calls` calls in flight to one
//! upstream; a call over the bound is answered at once, `503` with
//! `Retry-After`, and never reaches the upstream.
//!
//! `/mcp` and the REST routes both call through the upstream's stack, so
//! this one layer sheds both, with one answer: a JSON-RPC error, which REST
//! renders as it renders every unavailable upstream (`{"detail": …}`).
//!
//! Why not tower's `ConcurrencyLimit` + `LoadShed`: their permit is given
//! back when the response future resolves, but a call is in flight until
//! its answer's body ends (an SSE stream can run for minutes). Here the
//! permit rides in the body. Only `POST`s are calls: the server's `GET`
//! stream and `DELETE` hold no permit.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use mcp_reconnect_core::respond::{JsonRpcError, codes};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::Service;

use crate::around::{Around, AroundLayer, Wrapped};

/// What a shed caller is told.
pub const MESSAGE: &str = "too many calls in flight to this upstream; try again";
/// When a shed caller should come back.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Sheds calls over a bound; every service it makes shares the bound.
pub type ShedLayer = AroundLayer<Permits>;

/// The service [`ShedLayer`] makes.
pub type Shed<S> = Wrapped<S, Permits>;

/// The calls still allowed in flight, shared by every [`Shed`] of one layer.
#[derive(Clone, Debug)]
pub struct Permits(Arc<Semaphore>);

impl ShedLayer {
    /// At most `max` calls in flight (capped at tokio's largest semaphore).
    pub fn new(max: usize) -> Self {
        AroundLayer::from(Permits(Arc::new(Semaphore::new(max.min(Semaphore::MAX_PERMITS)))))
    }
}

impl<S> Around<S, Request<Body>> for Permits
where
    S: Service<Request<Body>, Response = Response<Body>>,
{
    type Future = ShedFuture<S::Future>;

    fn call(&self, inner: &mut S, request: Request<Body>) -> Self::Future {
        let permit = if request.method() == Method::POST {
            match Arc::clone(&self.0).try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    return ShedFuture {
                        state: State::Shed {
                            response: Some(overloaded()),
                        },
                    };
                }
            }
        } else {
            None
        };
        ShedFuture {
            state: State::Called {
                future: inner.call(request),
                permit,
            },
        }
    }
}

/// The answer to a shed call.
fn overloaded() -> Response<Body> {
    JsonRpcError::new(codes::UPSTREAM_UNAVAILABLE, MESSAGE)
        .with_status(StatusCode::SERVICE_UNAVAILABLE)
        .with_retry_after(Some(RETRY_AFTER))
        .into_response()
        .map(Body::from)
}

pin_project_lite::pin_project! {
    /// The future of [`Shed`]: the inner answer, its body holding the call's permit.
    pub struct ShedFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F> {
        Shed { response: Option<Response<Body>> },
        Called { #[pin] future: F, permit: Option<OwnedSemaphorePermit> },
    }
}

impl<F, E> Future for ShedFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Shed { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => mcp_reconnect_core::polled_after_completion("ShedFuture"),
            },
            StateProj::Called { future, permit } => {
                let response = std::task::ready!(future.poll(cx))?;
                Poll::Ready(Ok(match permit.take() {
                    Some(permit) => response.map(|body| {
                        Body::new(body.map_frame(move |frame| {
                            let _held = &permit;
                            frame
                        }))
                    }),
                    None => response,
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use tower::{Layer, ServiceExt, service_fn};

    use super::*;

    fn post() -> Request<Body> {
        Request::post("/mcp").body(Body::empty()).expect("a request")
    }

    #[tokio::test]
    async fn a_call_holds_its_permit_until_its_answer_ends_and_gets_nothing_get_or_delete() {
        let inner =
            service_fn(|_: Request<Body>| async { Ok::<_, Infallible>(Response::new(Body::from("ok"))) });
        let shed = ShedLayer::new(1).layer(inner);
        let held = shed.clone().oneshot(post()).await.expect("infallible");
        assert_eq!(held.status(), StatusCode::OK);

        let refused = shed.clone().oneshot(post()).await.expect("infallible");
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refused.headers()[http::header::RETRY_AFTER], "1");
        let body = refused.into_body().collect().await.expect("a body").to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(body["error"]["code"], codes::UPSTREAM_UNAVAILABLE);

        for method in [Method::GET, Method::DELETE] {
            let request = Request::builder().method(method).uri("/mcp").body(Body::empty());
            let answer = shed
                .clone()
                .oneshot(request.expect("a request"))
                .await
                .expect("infallible");
            assert_eq!(answer.status(), StatusCode::OK, "not a call: never shed");
        }

        // The permit comes back when the first answer's body is read to its end.
        held.into_body().collect().await.expect("a body");
        let again = shed.oneshot(post()).await.expect("infallible");
        assert_eq!(again.status(), StatusCode::OK);
    }
}
