use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::Response;
use http_body::Body;
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::body::HealthBody;

pin_project! {
    /// The future of [`Health`](crate::Health): the layer's own answer, ready
    /// at once, or a passed-on request: the wrapped service's readiness, then
    /// its call.
    pub struct ResponseFuture<S, R>
    where
        S: Service<R>,
    {
        #[pin]
        state: State<S, R>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, R>
    where
        S: Service<R>,
    {
        Answer { response: Option<Response<Bytes>> },
        Readying { service: S, request: Option<R> },
        Calling { #[pin] future: S::Future },
    }
}

impl<S, R> ResponseFuture<S, R>
where
    S: Service<R>,
{
    pub(crate) fn answer(response: Response<Bytes>) -> Self {
        ResponseFuture {
            state: State::Answer {
                response: Some(response),
            },
        }
    }

    pub(crate) fn pass(service: S, request: R) -> Self {
        ResponseFuture {
            state: State::Readying {
                service,
                request: Some(request),
            },
        }
    }
}

impl<S, R, B> Future for ResponseFuture<S, R>
where
    S: Service<R, Response = Response<B>>,
    B: Body,
{
    type Output = Result<Response<HealthBody<B>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Answer { response } => {
                    let response = response
                        .take()
                        .unwrap_or_else(|| mcp_reconnect_core::polled_after_completion("health future"));
                    return Poll::Ready(Ok(response.map(HealthBody::local)));
                }
                StateProj::Readying { service, request } => {
                    ready!(service.poll_ready(cx))?;
                    let Some(request) = request.take() else {
                        mcp_reconnect_core::polled_after_completion("health future");
                    };
                    let future = service.call(request);
                    this.state.set(State::Calling { future });
                }
                StateProj::Calling { future } => {
                    let response = ready!(future.poll(cx))?;
                    return Poll::Ready(Ok(response.map(HealthBody::inner)));
                }
            }
        }
    }
}
