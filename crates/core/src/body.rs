//! [`LayerBody`]: the body of an answer a layer may write itself — the inner
//! service's body streamed untouched, or bytes the layer made (an error, a
//! health document, a small JSON answer it had to read whole). One type for
//! every layer, keeping the inner body's data and error types.

/// The largest JSON-RPC message a layer reads whole by default: 4 MiB. One
/// number for every such bound (the peek, an SSE event, a request body the
/// session layer or the gateway reads), so a message one of them takes is
/// never refused by the next.
pub const DEFAULT_MESSAGE_LIMIT: usize = 4 * 1024 * 1024;

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

/// Reads a whole body into one [`Bytes`], failing once it is over `limit`
/// bytes (the error then holds `http_body_util::LengthLimitError`, as
/// [`Limited`](http_body_util::Limited) gives; [`is_over_limit`] tells it
/// from a broken body, an outer limit's included). Trailers are kept apart:
/// [`CollectBytes::take_trailers`].
///
/// The same result as `Limited::new(body, limit).collect()` and
/// `Collected::to_bytes`, in a future about a hundred bytes smaller: no
/// inline trailer map and no list of chunks. The first chunk is kept as it
/// came; a second one starts a buffer the rest is copied into, and that
/// buffer and any trailers live behind one box. The layers that buffer a
/// request keep this future inside their own, which is allocated on every
/// call.
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use mcp_reconnect_core::body::collect_bytes;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let body = Full::new(Bytes::from_static(b"{\"jsonrpc\":\"2.0\"}"));
/// assert_eq!(collect_bytes(body, 1024).await.unwrap(), "{\"jsonrpc\":\"2.0\"}");
/// let error = collect_bytes(Full::new(Bytes::from_static(b"too long")), 3).await.unwrap_err();
/// assert!(error.is::<http_body_util::LengthLimitError>());
/// # }
/// ```
pub fn collect_bytes<B>(body: B, limit: usize) -> CollectBytes<B>
where
    B: Body,
    B::Error: Into<crate::BoxError>,
{
    CollectBytes {
        body: http_body_util::Limited::new(body, limit),
        first: None,
        rest: None,
    }
}

pin_project! {
    /// The future of [`collect_bytes`].
    #[must_use = "futures do nothing unless polled"]
    pub struct CollectBytes<B> {
        #[pin]
        body: http_body_util::Limited<B>,
        // The one chunk of a small body, kept as it came.
        first: Option<Bytes>,
        // What is rare goes behind one pointer: a body of several chunks,
        // and trailers. Layers keep this future inside their own, which is
        // allocated on every call.
        rest: Option<Box<Rest>>,
    }
}

#[derive(Default)]
struct Rest {
    /// Every chunk so far, once there was more than one.
    joined: bytes::BytesMut,
    trailers: Option<HeaderMap>,
}

impl<B> CollectBytes<B> {
    /// The body's trailers, once the future has finished.
    pub fn take_trailers(self: Pin<&mut Self>) -> Option<HeaderMap> {
        self.project().rest.as_mut()?.trailers.take()
    }
}

impl<B> std::future::Future for CollectBytes<B>
where
    B: Body,
    B::Error: Into<crate::BoxError>,
{
    type Output = Result<Bytes, crate::BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        use bytes::{Buf, BufMut};
        let mut this = self.project();
        loop {
            let Some(frame) = std::task::ready!(this.body.as_mut().poll_frame(cx)) else {
                let joined = this.rest.as_mut().filter(|rest| !rest.joined.is_empty());
                return Poll::Ready(Ok(match joined {
                    Some(rest) => rest.joined.split().freeze(),
                    None => this.first.take().unwrap_or_default(),
                }));
            };
            let mut data = match frame?.into_data() {
                Ok(data) => data,
                Err(frame) => {
                    if let Ok(more) = frame.into_trailers() {
                        let rest = this.rest.get_or_insert_with(Box::default);
                        match &mut rest.trailers {
                            Some(trailers) => trailers.extend(more),
                            None => rest.trailers = Some(more),
                        }
                    }
                    continue;
                }
            };
            if !data.has_remaining() {
                continue;
            }
            match (this.first.take(), this.rest.as_mut()) {
                (None, Some(rest)) if !rest.joined.is_empty() => rest.joined.put(data),
                (None, _) => *this.first = Some(data.copy_to_bytes(data.remaining())),
                (Some(first), _) => {
                    let rest = this.rest.get_or_insert_with(Box::default);
                    rest.joined.reserve(first.len() + data.remaining());
                    rest.joined.extend_from_slice(&first);
                    rest.joined.put(data);
                }
            }
        }
    }
}

/// Whether `error`, from [`collect_bytes`], means the body was over the
/// limit: its own, or an outer [`Limited`](http_body_util::Limited)'s (an
/// edge limit's error arrives wrapped in the body's own error type), found
/// anywhere in the error's chain.
pub fn is_over_limit(error: &crate::BoxError) -> bool {
    crate::cause_ref::<http_body_util::LengthLimitError>(&**error).is_some()
}

impl<B> std::fmt::Debug for CollectBytes<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CollectBytes").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    /// A body that yields the given frames, one per poll.
    struct Frames(VecDeque<Result<Frame<Bytes>, std::io::Error>>);

    impl Body for Frames {
        type Data = Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            Poll::Ready(self.0.pop_front())
        }
    }

    fn data(text: &'static str) -> Result<Frame<Bytes>, std::io::Error> {
        Ok(Frame::data(Bytes::from_static(text.as_bytes())))
    }

    #[tokio::test]
    async fn chunks_are_joined_in_order_and_trailers_kept_apart() {
        let mut trailers = HeaderMap::new();
        trailers.insert("x-t", http::HeaderValue::from_static("1"));
        let body = Frames(VecDeque::from([
            data(""),
            data("{\"a\""),
            data(":1"),
            Ok(Frame::trailers(trailers)),
            data("}"),
        ]));
        let mut collect = std::pin::pin!(collect_bytes(body, 100));
        assert_eq!(collect.as_mut().await.unwrap(), "{\"a\":1}");
        let kept = collect.take_trailers().expect("trailers");
        assert_eq!(kept["x-t"], "1");
        assert_eq!(collect_bytes(Frames(VecDeque::new()), 0).await.unwrap(), "");
    }

    #[tokio::test]
    async fn one_chunk_is_returned_without_a_copy() {
        let chunk = Bytes::from_static(b"{}");
        let body = Frames(VecDeque::from([Ok(Frame::data(chunk.clone()))]));
        let read = collect_bytes(body, 2).await.unwrap();
        assert_eq!(read.as_ptr(), chunk.as_ptr());
    }

    #[tokio::test]
    async fn over_the_limit_or_a_broken_body_is_an_error() {
        let body = Frames(VecDeque::from([data("ab"), data("cd")]));
        let error = collect_bytes(body, 3).await.unwrap_err();
        assert!(error.is::<http_body_util::LengthLimitError>());
        assert!(is_over_limit(&error));
        // An outer limit's error, wrapped by a body it passed through.
        let outer = http_body_util::Limited::new(Frames(VecDeque::from([data("abcd")])), 2);
        let wrapped = http_body_util::BodyExt::map_err(outer, Wrapped);
        let error = collect_bytes(wrapped, 100).await.unwrap_err();
        assert!(!error.is::<http_body_util::LengthLimitError>());
        assert!(is_over_limit(&error));
        let broken = Frames(VecDeque::from([data("ab"), Err(std::io::Error::other("reset"))]));
        let error = collect_bytes(broken, 100).await.unwrap_err();
        assert_eq!(error.to_string(), "reset");
        assert!(!is_over_limit(&error));
    }

    /// A body's error type that wraps another, as axum's `Body` does.
    #[derive(Debug)]
    struct Wrapped(crate::BoxError);

    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("the body failed")
        }
    }

    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&*self.0)
        }
    }
}

#[cfg(test)]
mod size {
    use bytes::Bytes;
    use http_body_util::combinators::Collect;
    use http_body_util::{Full, Limited};

    /// Guards what [`collect_bytes`](super::collect_bytes) is for: a smaller
    /// future than `Limited` + `collect()` (it lives inside the futures the
    /// buffering layers allocate per call).
    #[test]
    fn collect_bytes_is_smaller_than_limited_collect() {
        let ours = std::mem::size_of::<super::CollectBytes<Full<Bytes>>>();
        let theirs = std::mem::size_of::<Collect<Limited<Full<Bytes>>>>();
        assert!(
            ours + 64 <= theirs,
            "collect_bytes {ours} bytes, Limited + collect {theirs}"
        );
    }
}
