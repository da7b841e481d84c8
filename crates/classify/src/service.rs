use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use mcp_reconnect_core::{BoxError, ClassifiedError, RequestFacts};

use crate::body::ClassifyBody;
use crate::future::ResponseFuture;

/// The service made by [`ClassifyLayer`](crate::ClassifyLayer).
#[derive(Clone, Debug)]
pub struct Classify<S> {
    inner: S,
    body_peek_limit: usize,
}

impl<S> Classify<S> {
    pub(crate) fn new(inner: S, body_peek_limit: usize) -> Self {
        Classify {
            inner,
            body_peek_limit,
        }
    }

    mcp_reconnect_core::inner_service_accessors!(inner: S);
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Classify<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
    ResBody: Body,
    ResBody::Data: Buf + From<Bytes>,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<ClassifyBody<ResBody>>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner
            .poll_ready(cx)
            .map_err(|error| ClassifiedError::classify(error).into())
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let facts = RequestFacts::from_request(&request);
        ResponseFuture::new(self.inner.call(request), facts, self.body_peek_limit)
    }
}
