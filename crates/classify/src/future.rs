use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use http::Response;
use http::response::Parts;
use http_body::Body;
use mcp_reconnect_core::body::{CollectBytes, collect_bytes};
use pin_project_lite::pin_project;

use mcp_reconnect_core::{
    BoxError, Classification, ClassifiedError, RequestFacts, body_worth_reading, classify_response,
    refine_with_body,
};

use crate::body::ClassifyBody;

pin_project! {
    /// The future of [`Classify`](crate::Classify): the inner call, then (only
    /// for a small, complete-length JSON answer whose class the body can
    /// change) reading that body.
    pub struct ResponseFuture<F, B>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        #[pin]
        state: State<F, B>,
        facts: RequestFacts,
        body_peek_limit: usize,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        Calling { #[pin] future: F },
        Reading {
            #[pin] collect: CollectBytes<B>,
            head: Option<(Parts, Classification)>,
        },
    }
}

impl<F, B> ResponseFuture<F, B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    pub(crate) fn new(future: F, facts: RequestFacts, body_peek_limit: usize) -> Self {
        ResponseFuture {
            state: State::Calling { future },
            facts,
            body_peek_limit,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
    B: Body,
    B::Data: Buf + From<Bytes>,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<ClassifyBody<B>>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Calling { future } => {
                    let response = match ready!(future.poll(cx)) {
                        Ok(response) => response,
                        Err(error) => return Poll::Ready(Err(ClassifiedError::classify(error).into())),
                    };
                    let (mut parts, body) = response.into_parts();
                    let classification = classify_response(&parts, *this.facts);
                    let exact = body.size_hint().exact();
                    let limit = *this.body_peek_limit;
                    if body_worth_reading(
                        &classification,
                        parts.status,
                        &parts.headers,
                        exact,
                        limit,
                        *this.facts,
                    ) {
                        let collect = collect_bytes(body, *this.body_peek_limit);
                        let head = Some((parts, classification));
                        this.state.set(State::Reading { collect, head });
                        continue;
                    }
                    parts.extensions.insert(classification);
                    return Poll::Ready(Ok(Response::from_parts(parts, ClassifyBody::inner(body))));
                }
                StateProj::Reading { mut collect, head } => {
                    let result = ready!(collect.as_mut().poll(cx));
                    let Some((mut parts, classification)) = head.take() else {
                        mcp_reconnect_core::polled_after_completion("classify future");
                    };
                    let bytes = match result {
                        Ok(bytes) => bytes,
                        Err(error) => return Poll::Ready(Err(ClassifiedError::classify(error).into())),
                    };
                    let trailers = collect.take_trailers();
                    let classification = refine_with_body(classification, parts.status, *this.facts, &bytes);
                    parts.extensions.insert(classification);
                    let body = ClassifyBody::local_with_trailers(bytes, trailers);
                    return Poll::Ready(Ok(Response::from_parts(parts, body)));
                }
            }
        }
    }
}
