use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// The body of a classified response: the upstream's own body, streamed
    /// untouched, or — when the classifier read a small JSON answer — those
    /// same bytes again.
    #[derive(Debug)]
    pub struct ClassifyBody<B> {
        #[pin]
        inner: Inner<B>,
    }
}

pin_project! {
    #[project = InnerProj]
    #[derive(Debug)]
    enum Inner<B> {
        Streaming { #[pin] body: B },
        Buffered { data: Option<Bytes>, trailers: Option<HeaderMap> },
    }
}

impl<B> ClassifyBody<B> {
    pub(crate) fn streaming(body: B) -> Self {
        ClassifyBody {
            inner: Inner::Streaming { body },
        }
    }

    pub(crate) fn buffered(data: Bytes, trailers: Option<HeaderMap>) -> Self {
        let data = Some(data).filter(|data| !data.is_empty());
        ClassifyBody {
            inner: Inner::Buffered { data, trailers },
        }
    }

    /// Whether the classifier read this body whole (a small JSON answer).
    pub fn is_buffered(&self) -> bool {
        matches!(self.inner, Inner::Buffered { .. })
    }
}

impl<B> Body for ClassifyBody<B>
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
            InnerProj::Streaming { body } => body.poll_frame(cx),
            InnerProj::Buffered { data, trailers } => {
                if let Some(data) = data.take() {
                    return Poll::Ready(Some(Ok(Frame::data(data.into()))));
                }
                Poll::Ready(trailers.take().map(|trailers| Ok(Frame::trailers(trailers))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Streaming { body } => body.is_end_stream(),
            Inner::Buffered { data, trailers } => data.is_none() && trailers.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Streaming { body } => body.size_hint(),
            Inner::Buffered { data, .. } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |data| data.len() as u64))
            }
        }
    }
}
