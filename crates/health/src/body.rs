use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// The body of a response through [`Health`](crate::Health): the wrapped
    /// service's own body, streamed untouched, or one of the layer's
    /// documents (`/health`, `/metrics`), whole.
    #[derive(Debug)]
    pub struct HealthBody<B> {
        #[pin]
        inner: Inner<B>,
    }
}

pin_project! {
    #[project = InnerProj]
    #[derive(Debug)]
    enum Inner<B> {
        Passed { #[pin] body: B },
        Answer { data: Option<Bytes> },
    }
}

impl<B> HealthBody<B> {
    pub(crate) fn passed(body: B) -> Self {
        HealthBody {
            inner: Inner::Passed { body },
        }
    }

    pub(crate) fn answer(data: Bytes) -> Self {
        let data = Some(data).filter(|data| !data.is_empty());
        HealthBody {
            inner: Inner::Answer { data },
        }
    }

    /// Whether this is the layer's own answer rather than the wrapped service's body.
    pub fn is_answer(&self) -> bool {
        matches!(self.inner, Inner::Answer { .. })
    }
}

impl<B> Body for HealthBody<B>
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
            InnerProj::Passed { body } => body.poll_frame(cx),
            InnerProj::Answer { data } => Poll::Ready(data.take().map(|data| Ok(Frame::data(data.into())))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Passed { body } => body.is_end_stream(),
            Inner::Answer { data } => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Passed { body } => body.size_hint(),
            Inner::Answer { data } => SizeHint::with_exact(data.as_ref().map_or(0, |data| data.len() as u64)),
        }
    }
}
