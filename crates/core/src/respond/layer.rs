//! `RespondLayer`: the edge of a stack, where errors become JSON-RPC answers.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{Either, Full};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::{JsonRpcError, codes};
use crate::class::FailureClass;
use crate::error::{BoxError, classify_error};
use crate::peek::{JsonRpcId, of_request};

/// The body of a [`Respond`] answer: the upstream's, or a JSON-RPC error.
pub type RespondBody<B> = Either<B, Full<Bytes>>;

/// Turns every error of the service it wraps into an HTTP answer an MCP
/// client understands: the status for the error's class (`503` + `Retry-After`
/// for an open circuit, `502`, `504`), and a JSON-RPC error body carrying the
/// request's id (when a layer below left the request's peek) and
/// `error.data.class` / `error.data.reached`.
///
/// Its error type is `Infallible`, so a stack drops into `axum::Router::layer`
/// or `route_service` without `HandleErrorLayer`.
///
/// ```
/// use std::io;
/// use http::Request;
/// use mcp_reconnect_core::respond::RespondLayer;
/// use tower::{Layer, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let refused = service_fn(|_: Request<()>| async {
///     Err::<http::Response<http_body_util::Empty<bytes::Bytes>>, _>(io::Error::from(io::ErrorKind::ConnectionRefused))
/// });
/// let response = RespondLayer::new().layer(refused).oneshot(Request::new(())).await.unwrap();
/// assert_eq!(response.status(), 503);
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct RespondLayer {
    _private: (),
}

impl RespondLayer {
    /// The layer.
    pub const fn new() -> Self {
        RespondLayer { _private: () }
    }
}

impl<S> Layer<S> for RespondLayer {
    type Service = Respond<S>;

    fn layer(&self, inner: S) -> Respond<S> {
        Respond {
            inner,
            ready_error: None,
        }
    }
}

/// The service made by [`RespondLayer`].
#[derive(Debug)]
pub struct Respond<S> {
    inner: S,
    /// A readiness error, answered by the next call.
    ready_error: Option<BoxError>,
}

impl<S: Clone> Clone for Respond<S> {
    fn clone(&self) -> Self {
        Respond {
            inner: self.inner.clone(),
            ready_error: None,
        }
    }
}

impl<S, B, RB> Service<Request<B>> for Respond<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
    S::Error: Into<BoxError>,
{
    type Response = Response<RespondBody<RB>>;
    type Error = Infallible;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        if self.ready_error.is_none()
            && let Err(error) = ready!(self.inner.poll_ready(cx))
        {
            self.ready_error = Some(error.into());
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let id = of_request(&request)
            .and_then(|peek| peek.single())
            .and_then(|message| message.id().cloned());
        let state = match self.ready_error.take() {
            Some(error) => State::Failed {
                response: Some(error_response(&error, id)),
            },
            None => State::Calling {
                future: self.inner.call(request),
                id,
            },
        };
        ResponseFuture { state }
    }
}

pin_project! {
    /// The future of [`Respond`].
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Calling { #[pin] future: F, id: Option<JsonRpcId> },
        Failed { response: Option<Response<Bytes>> },
    }
}

impl<F, RB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<RB>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response<RespondBody<RB>>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let local = |response: Response<Bytes>| response.map(|body| Either::Right(Full::new(body)));
        let response = match self.project().state.project() {
            StateProj::Calling { future, id } => match ready!(future.poll(cx)) {
                Ok(response) => response.map(Either::Left),
                Err(error) => local(error_response(&error.into(), id.take())),
            },
            StateProj::Failed { response } => local(
                response
                    .take()
                    .unwrap_or_else(|| crate::polled_after_completion("RespondLayer future")),
            ),
        };
        Poll::Ready(Ok(response))
    }
}

/// The JSON-RPC answer for an upstream call's error.
pub fn error_response(error: &BoxError, id: Option<JsonRpcId>) -> Response<Bytes> {
    let failure = classify_error(&**error);
    let (code, message) = match failure.class() {
        FailureClass::Business => (codes::INTERNAL_ERROR, "internal error"),
        _ => (codes::UPSTREAM_UNAVAILABLE, "upstream unavailable"),
    };
    JsonRpcError::for_failure(code, format!("{message}: {error}"), &failure)
        .with_id(id)
        .into_response()
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::Arc;

    use http_body_util::{BodyExt, Empty};
    use tower::{ServiceExt, service_fn};

    use super::*;
    use crate::class::{Failure, Reached};
    use crate::error::ClassifiedError;
    use crate::peek::peek;

    /// `request` through `RespondLayer` over `service`.
    async fn respond<S>(service: S, request: Request<()>) -> Response<RespondBody<Empty<Bytes>>>
    where
        S: Service<Request<()>, Response = Response<Empty<Bytes>>>,
        S::Error: Into<BoxError>,
    {
        RespondLayer::new().layer(service).oneshot(request).await.unwrap()
    }

    #[tokio::test]
    async fn an_open_circuit_becomes_a_503_with_retry_after_and_the_request_id() {
        let open = service_fn(|_: Request<()>| async {
            let failure = Failure::new(FailureClass::Unavailable, Reached::No)
                .with_retry_after(Some(std::time::Duration::from_millis(300)));
            Err::<Response<Empty<Bytes>>, _>(ClassifiedError::new(failure, "circuit open"))
        });
        let mut request = Request::new(());
        let found =
            peek(br#"{"jsonrpc":"2.0","id":"call-9","method":"tools/call","params":{"name":"echo"}}"#)
                .unwrap();
        request.extensions_mut().insert(Arc::new(found));
        let response = respond(open, request).await;
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()[http::header::RETRY_AFTER], "1");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["id"], "call-9");
        assert_eq!(body["error"]["code"], codes::UPSTREAM_UNAVAILABLE);
        assert_eq!(body["error"]["data"]["class"], "unavailable");
    }

    #[tokio::test]
    async fn answers_pass_through_untouched() {
        let ok = service_fn(|_: Request<()>| async {
            Ok::<_, io::Error>(
                Response::builder()
                    .status(418)
                    .body(Empty::<Bytes>::new())
                    .unwrap(),
            )
        });
        let response = respond(ok, Request::new(())).await;
        assert_eq!(response.status(), 418);
        assert!(matches!(response.into_body(), Either::Left(_)));
    }

    #[tokio::test]
    async fn a_reset_is_a_502() {
        let reset = service_fn(|_: Request<()>| async {
            Err::<Response<Empty<Bytes>>, _>(io::Error::from(io::ErrorKind::ConnectionReset))
        });
        let response = respond(reset, Request::new(())).await;
        assert_eq!(response.status(), 502);
    }
}
