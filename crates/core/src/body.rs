//! [`LayerBody`]: the body of an answer a layer may write itself — the inner
//! service's body streamed untouched, or bytes the layer made (an error, a
//! health document, a small JSON answer it had to read whole). One type for
//! every layer, keeping the inner body's data and error types.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// The inner service's body, or bytes a layer wrote (see the [module docs](self)).
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http_body_util::{BodyExt, Empty};
    /// use mcp_reconnect_core::body::LayerBody;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let local: LayerBody<Empty<Bytes>> = LayerBody::local(Bytes::from_static(b"{}"));
    /// assert!(local.is_local());
    /// assert_eq!(local.collect().await.unwrap().to_bytes(), "{}");
    /// # }
    /// ```
    #[derive(Debug)]
    pub struct LayerBody<B> {
        #[pin]
        inner: Inner<B>,
    }
}

pin_project! {
    #[project = InnerProj]
    #[derive(Debug)]
    enum Inner<B> {
        Inner { #[pin] body: B },
        // Trailers are rare: boxed, so the common body stays small.
        Local { data: Option<Bytes>, trailers: Option<Box<HeaderMap>> },
    }
}

impl<B> LayerBody<B> {
    /// The inner service's body, streamed as it comes.
    pub fn inner(body: B) -> Self {
        LayerBody {
            inner: Inner::Inner { body },
        }
    }

    /// Bytes the layer wrote.
    pub fn local(data: Bytes) -> Self {
        Self::local_with_trailers(data, None)
    }

    /// Bytes the layer read whole, with the trailers that followed them.
    pub fn local_with_trailers(data: Bytes, trailers: Option<HeaderMap>) -> Self {
        let data = Some(data).filter(|data| !data.is_empty());
        LayerBody {
            inner: Inner::Local {
                data,
                trailers: trailers.map(Box::new),
            },
        }
    }

    /// Whether the layer wrote (or read whole) these bytes.
    pub fn is_local(&self) -> bool {
        matches!(self.inner, Inner::Local { .. })
    }

    /// Changes the inner service's body with `f` (e.g. wraps it to watch
    /// it stream); bytes the layer wrote stay as they are.
    pub fn map_inner<B2>(self, f: impl FnOnce(B) -> B2) -> LayerBody<B2> {
        let inner = match self.inner {
            Inner::Inner { body } => Inner::Inner { body: f(body) },
            Inner::Local { data, trailers } => Inner::Local { data, trailers },
        };
        LayerBody { inner }
    }
}

impl<B> Body for LayerBody<B>
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
            InnerProj::Inner { body } => body.poll_frame(cx),
            InnerProj::Local { data, trailers } => {
                if let Some(data) = data.take() {
                    return Poll::Ready(Some(Ok(Frame::data(data.into()))));
                }
                Poll::Ready(trailers.take().map(|trailers| Ok(Frame::trailers(*trailers))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Inner { body } => body.is_end_stream(),
            Inner::Local { data, trailers } => data.is_none() && trailers.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Inner { body } => body.size_hint(),
            Inner::Local { data, .. } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |data| data.len() as u64))
            }
        }
    }
}
