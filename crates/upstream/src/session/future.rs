//! The session layer's [`ResponseFuture`] and [`SessionBody`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Response;
use http_body::{Body, Frame, SizeHint};
use mcp_reconnect_core::BoxError;
use pin_project_lite::pin_project;

/// The boxed work of one request with a session or an `initialize`.
pub(crate) type Running<B> = Pin<Box<dyn Future<Output = Result<Response<SessionBody<B>>, BoxError>> + Send>>;

/// The future of [`Session`](crate::session::Session): an answer the layer
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
            Kind::Local(response) => Poll::Ready(
                response
                    .take()
                    .ok_or_else(|| "session future polled after completion".into()),
            ),
            Kind::Running(future) => future.as_mut().poll(cx),
        }
    }
}

impl<B> fmt::Debug for ResponseFuture<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

pin_project! {
    /// The body of a [`Session`](crate::session::Session) answer: the
    /// upstream's, streamed untouched (SSE included), or a JSON-RPC error of
    /// the layer's own.
    pub struct SessionBody<B> {
        #[pin]
        inner: Inner<B>,
    }
}

pin_project! {
    #[project = InnerProj]
    enum Inner<B> {
        Upstream { #[pin] body: B },
        Local { data: Option<Bytes> },
    }
}

impl<B> SessionBody<B> {
    pub(crate) fn upstream(body: B) -> Self {
        SessionBody {
            inner: Inner::Upstream { body },
        }
    }

    pub(crate) fn local(data: Bytes) -> Self {
        SessionBody {
            inner: Inner::Local {
                data: Some(data).filter(|data| !data.is_empty()),
            },
        }
    }

    /// Whether the layer answered by itself (the body is its JSON-RPC error).
    pub fn is_local(&self) -> bool {
        matches!(self.inner, Inner::Local { .. })
    }
}

impl<B> fmt::Debug for SessionBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionBody")
            .field("local", &self.is_local())
            .finish_non_exhaustive()
    }
}

impl<B> Body for SessionBody<B>
where
    B: Body,
    B::Data: From<Bytes>,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        match self.project().inner.project() {
            InnerProj::Upstream { body } => body.poll_frame(cx),
            InnerProj::Local { data } => Poll::Ready(data.take().map(|data| Ok(Frame::data(data.into())))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Upstream { body } => body.is_end_stream(),
            Inner::Local { data } => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Upstream { body } => body.size_hint(),
            Inner::Local { data } => SizeHint::with_exact(data.as_ref().map_or(0, |data| data.len() as u64)),
        }
    }
}
