//! [`RetryBody`]: the upstream's body streamed through ([`TeeBody`], which
//! copies a `tools/list` answer as it passes), or an answer the layer wrote
//! itself — core's [`LayerBody`] over a [`TeeBody`].

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use mcp_reconnect_core::body::LayerBody;
use mcp_reconnect_core::peek::JsonRpcId;
use pin_project_lite::pin_project;

use crate::safety::ToolSafety;

/// The body of a response from [`ToolRetry`](crate::ToolRetry): the
/// upstream's own body, streamed frame by frame unchanged, or the JSON-RPC
/// error the layer answered with (`413`, `MAYBE_EXECUTED`).
pub type RetryBody<B> = LayerBody<TeeBody<B>>;

pin_project! {
    /// The upstream's body, streamed unchanged; for a `tools/list` answer,
    /// a bounded copy of it is taught to the tool map when it ends.
    #[derive(Debug)]
    pub struct TeeBody<B> {
        #[pin]
        body: B,
        tee: Option<Box<Tee>>,
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

/// The upstream's body, streamed as it comes.
pub(crate) fn upstream<B>(body: B) -> RetryBody<B> {
    LayerBody::inner(TeeBody { body, tee: None })
}

/// Copies at most `limit` bytes of the upstream's body as it streams by, and
/// teaches them to `safety` when it ends. An answer the layer wrote is left as it is.
pub(crate) fn tee<B>(
    body: RetryBody<B>,
    limit: usize,
    event_stream: bool,
    ids: Vec<JsonRpcId>,
    safety: ToolSafety,
) -> RetryBody<B> {
    body.map_inner(|upstream| TeeBody {
        body: upstream.body,
        tee: Some(Box::new(Tee {
            captured: Vec::new(),
            limit,
            overflowed: false,
            event_stream,
            ids,
            safety,
        })),
    })
}

impl<B> Body for TeeBody<B>
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
        let this = self.project();
        let (mut body, tee) = (this.body, this.tee);
        if tee.is_none() {
            return body.poll_frame(cx);
        }
        let frame = match ready!(body.as_mut().poll_frame(cx)) {
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

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
