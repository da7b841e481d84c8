//! The session layer's [`ResponseFuture`] and [`SessionBody`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;

use mcp_reconnect_core::BoxError;

/// The boxed work of one request with a session or an `initialize`.
pub(crate) type Running<B> = Pin<Box<dyn Future<Output = Result<Response<SessionBody<B>>, BoxError>> + Send>>;

/// The future of [`Session`](crate::Session): an answer the layer
/// gives itself (a bad session id), or the request's way through the store
/// and the upstream (boxed: it awaits the store, the upstream, and maybe a
/// re-initialize).
pub struct ResponseFuture<B> {
    kind: Kind<B>,
}

enum Kind<B> {
    Local(Option<Response<SessionBody<B>>>),
    Running(Running<B>),
}

// Nothing inside is ever pinned: the local answer is moved out whole, the
// running future is pinned in its own box.
impl<B> Unpin for ResponseFuture<B> {}

impl<B> ResponseFuture<B> {
    pub(crate) fn local(response: Response<SessionBody<B>>) -> Self {
        ResponseFuture {
            kind: Kind::Local(Some(response)),
        }
    }

    pub(crate) fn running(future: Running<B>) -> Self {
        ResponseFuture {
            kind: Kind::Running(future),
        }
    }
}

impl<B> Future for ResponseFuture<B> {
    type Output = Result<Response<SessionBody<B>>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().kind {
            Kind::Local(response) => Poll::Ready(Ok(response
                .take()
                .unwrap_or_else(|| mcp_reconnect_core::polled_after_completion("session future")))),
            Kind::Running(future) => future.as_mut().poll(cx),
        }
    }
}

impl<B> fmt::Debug for ResponseFuture<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

/// The body of a [`Session`](crate::Session) answer: the upstream's,
/// streamed untouched (SSE included), or a JSON-RPC error of the layer's own
/// ([`is_local`](mcp_reconnect_core::body::LayerBody::is_local)).
pub type SessionBody<B> = mcp_reconnect_core::body::LayerBody<B>;
