use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use crate::answer::answer;
use crate::body::HealthBody;
use crate::future::ResponseFuture;
use crate::layer::Shared;

/// The service made by [`HealthLayer`](crate::HealthLayer).
///
/// It is always ready: `/health` and `/metrics` must answer while the stack
/// below waits for a reconnect (a circuit's `poll_ready` is `Pending` then).
/// So it never polls the wrapped service's readiness itself; a request it
/// passes on goes to a clone of the wrapped service, whose readiness the
/// response future drives before calling it (tower's `Oneshot`, as axum does
/// for every route). The request itself is moved, never copied.
#[derive(Clone, Debug)]
pub struct Health<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Health<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        Health { inner, shared }
    }

    mcp_reconnect_core::inner_service_accessors!(inner: S);
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Health<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    ResBody: Body,
    ResBody::Data: From<Bytes>,
{
    type Response = Response<HealthBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, Request<ReqBody>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        match answer(&self.shared, &request) {
            Some(response) => ResponseFuture::answer(response),
            None => ResponseFuture::pass(self.inner.clone(), request),
        }
    }
}
