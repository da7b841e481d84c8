//! [`LinkBody`]: a whole JSON answer, or a `GET` stream of the child's notifications.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

/// The body of a [`LinkService`](crate::LinkService) answer.
#[derive(Debug)]
pub struct LinkBody {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<Bytes>),
}

impl LinkBody {
    pub(crate) fn full(bytes: impl Into<Bytes>) -> Self {
        LinkBody {
            kind: Kind::Full(Some(bytes.into())),
        }
    }

    pub(crate) fn empty() -> Self {
        LinkBody {
            kind: Kind::Full(None),
        }
    }

    pub(crate) fn stream(events: mpsc::Receiver<Bytes>) -> Self {
        LinkBody {
            kind: Kind::Stream(events),
        }
    }
}

impl Body for LinkBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut self.get_mut().kind {
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|bytes| Ok(Frame::data(bytes)))),
            Kind::Stream(events) => events
                .poll_recv(cx)
                .map(|event| event.map(|bytes| Ok(Frame::data(bytes)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.kind, Kind::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Stream(_) => SizeHint::default(),
        }
    }
}
