//! [`RetryBody`]: the upstream's body streamed through (teed for `tools/list`),
//! or an answer the layer wrote itself.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use mcp_reconnect_core::peek::JsonRpcId;
use pin_project_lite::pin_project;

use crate::safety::ToolSafety;

pin_project! {
    /// The body of a response from [`ToolRetry`](crate::ToolRetry): the
    /// upstream's own body, streamed frame by frame unchanged, or the JSON-RPC
    /// error the layer answered with (`413`, `MAYBE_EXECUTED`).
    #[derive(Debug)]
    pub struct RetryBody<B> {
        #[pin]
        inner: Inner<B>,
    }
}

pin_project! {
    #[project = InnerProj]
    #[derive(Debug)]
    enum Inner<B> {
        Upstream { #[pin] body: B },
        Tee { #[pin] body: B, tee: Option<Box<Tee>> },
        Local { body: Full<Bytes> },
    }
}

/// A bounded copy of a `tools/list` answer, parsed at end of stream.
#[derive(Debug)]
struct Tee {
    captured: Vec<u8>,
    limit: usize,
    overflowed: bool,
    event_stream: bool,
    ids: Vec<JsonRpcId>,
    safety: ToolSafety,
}

impl Tee {
    fn copy(&mut self, bytes: &[u8]) {
        if self.overflowed || self.captured.len() + bytes.len() > self.limit {
            self.overflowed = true;
            self.captured = Vec::new();
            return;
        }
        self.captured.extend_from_slice(bytes);
    }

    fn finish(&self) {
        if self.overflowed {
            tracing::debug!(
                limit = self.limit,
                "tools/list answer over the capture limit; annotations not learned"
            );
            return;
        }
        let learned = self
            .safety
            .learn_from_tools_list(&self.captured, self.event_stream, &self.ids);
        tracing::debug!(learned, "learned tool annotations from tools/list");
    }
}

impl<B> RetryBody<B> {
    pub(crate) fn upstream(body: B) -> Self {
        RetryBody {
            inner: Inner::Upstream { body },
        }
    }

    pub(crate) fn local(bytes: Bytes) -> Self {
        RetryBody {
            inner: Inner::Local {
                body: Full::new(bytes),
            },
        }
    }

    /// Copies at most `limit` bytes of the body as it streams by, and teaches
    /// them to `safety` when it ends.
    pub(crate) fn tee(
        self,
        limit: usize,
        event_stream: bool,
        ids: Vec<JsonRpcId>,
        safety: ToolSafety,
    ) -> Self {
        let inner = match self.inner {
            Inner::Upstream { body } => {
                let tee = Tee {
                    captured: Vec::new(),
                    limit,
                    overflowed: false,
                    event_stream,
                    ids,
                    safety,
                };
                Inner::Tee {
                    body,
                    tee: Some(Box::new(tee)),
                }
            }
            other => other,
        };
        RetryBody { inner }
    }

    /// Whether the layer wrote this body itself (not the upstream's).
    pub fn is_local(&self) -> bool {
        matches!(self.inner, Inner::Local { .. })
    }
}

impl<B> Body for RetryBody<B>
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
            InnerProj::Local { body } => match ready!(Pin::new(body).poll_frame(cx)) {
                Some(Ok(frame)) => Poll::Ready(Some(Ok(frame.map_data(B::Data::from)))),
                Some(Err(never)) => match never {},
                None => Poll::Ready(None),
            },
            InnerProj::Tee { mut body, tee } => {
                let frame = ready!(body.as_mut().poll_frame(cx));
                let frame = match frame {
                    Some(Ok(frame)) => frame,
                    None => {
                        if let Some(tee) = tee.take() {
                            tee.finish();
                        }
                        return Poll::Ready(None);
                    }
                    Some(Err(error)) => {
                        // An answer cut short teaches nothing.
                        tee.take();
                        return Poll::Ready(Some(Err(error)));
                    }
                };
                let frame = match (tee.as_mut(), frame.into_data()) {
                    (Some(tee), Ok(mut data)) => {
                        if data.chunk().len() == data.remaining() {
                            tee.copy(data.chunk());
                            Frame::data(data)
                        } else {
                            // Not contiguous: gather it once, copy it, pass the same bytes on.
                            let bytes = data.copy_to_bytes(data.remaining());
                            tee.copy(&bytes);
                            Frame::data(B::Data::from(bytes))
                        }
                    }
                    (None, Ok(data)) => Frame::data(data),
                    (_, Err(frame)) => frame,
                };
                if body.is_end_stream()
                    && let Some(tee) = tee.take()
                {
                    tee.finish();
                }
                Poll::Ready(Some(Ok(frame)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Upstream { body } | Inner::Tee { body, .. } => body.is_end_stream(),
            Inner::Local { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Upstream { body } | Inner::Tee { body, .. } => body.size_hint(),
            Inner::Local { body } => body.size_hint(),
        }
    }
}
