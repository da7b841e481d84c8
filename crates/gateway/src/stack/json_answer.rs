//! `--json-response`: one-message answers as JSON.
//!
//! The MCP transport lets a server answer a `POST`ed request with either one
//! `application/json` object or a `text/event-stream`. Most servers stream
//! even when the stream holds nothing but the response, and the client then
//! pays for SSE parsing on every call. When the client accepts
//! `application/json` and sent one request, [`JsonAnswer`] reads the
//! upstream's stream up to its first message: if that is the response, the
//! client gets it as one JSON object (the stream's end was the server's to
//! close after it anyway). If the first message is a notification or a
//! server request, the stream goes on untouched from its first byte: what
//! was read is sent first, then the rest as it comes. Nothing resumable is
//! lost: a request's stream ends with its response, and the layers below
//! (retry, session) already dealt with a stream that broke before it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, SizeHint};
use mcp_reconnect_core::BoxError;
use mcp_reconnect_core::peek::{MessageKind, Peek, of_request};
use mcp_reconnect_core::sse::SseDecoder;
use tower::{Layer, Service};

/// Wraps a stack in [`JsonAnswer`].
#[derive(Clone, Copy, Debug)]
pub struct JsonAnswerLayer {
    max_message: usize,
}

impl JsonAnswerLayer {
    /// Reads at most `max_message` bytes of a stream looking for its first
    /// message; a longer one is passed on as the stream it is.
    pub fn new(max_message: usize) -> Self {
        JsonAnswerLayer { max_message }
    }
}

impl<S> Layer<S> for JsonAnswerLayer {
    type Service = JsonAnswer<S>;

    fn layer(&self, inner: S) -> JsonAnswer<S> {
        JsonAnswer {
            inner,
            max_message: self.max_message,
        }
    }
}

/// See the [module docs](self). Not an [`Around`](crate::around::Around):
/// it changes the answer's body type.
#[derive(Clone, Debug)]
pub struct JsonAnswer<S> {
    inner: S,
    max_message: usize,
}

/// A whole JSON answer, or the upstream's stream (with what was read of it first).
pub type JsonOrStream<B> = http_body_util::Either<Full<Bytes>, Prefixed<Pin<Box<B>>>>;

impl<S, B> Service<Request<Full<Bytes>>> for JsonAnswer<S>
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>>,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError> + Send,
{
    type Response = Response<JsonOrStream<B>>;
    type Error = S::Error;
    /// Boxed: the option is off by default, and a call it applies to reads and parses a stream.
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Full<Bytes>>) -> Self::Future {
        let wanted = wants_json(&request);
        let future = self.inner.call(request);
        let max = self.max_message;
        Box::pin(async move {
            let response = future.await?;
            if !wanted || !is_event_stream(&response) {
                return Ok(response
                    .map(|body| http_body_util::Either::Right(Prefixed::new(Bytes::new(), Box::pin(body)))));
            }
            Ok(first_message(response, max).await)
        })
    }
}

/// One JSON-RPC request, `POST`ed by a client that takes `application/json`.
fn wants_json(request: &Request<Full<Bytes>>) -> bool {
    request.method() == Method::POST
        && request
            .headers()
            .get_all(ACCEPT)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .any(|value| value.contains("application/json"))
        && of_request(request)
            .and_then(Peek::single)
            .is_some_and(|message| message.kind() == MessageKind::Request)
}

fn is_event_stream<B>(response: &Response<B>) -> bool {
    response.status() == StatusCode::OK
        && response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.trim_start().starts_with("text/event-stream"))
}

/// Reads `response`'s stream up to its first message: the answer as JSON if
/// that message is a response, else the stream from its first byte.
async fn first_message<B>(response: Response<B>, max: usize) -> Response<JsonOrStream<B>>
where
    B: Body<Data = Bytes>,
{
    let (mut parts, body) = response.into_parts();
    let mut body = Box::pin(body);
    let mut decoder = SseDecoder::new(max);
    let mut read = BytesMut::new();
    let mut first: Option<String> = None;
    let mut tail = Tail::Body;
    while first.is_none() && read.len() <= max {
        match body.frame().await {
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                decoder.push(&data, &mut |event| {
                    // Priming events (an id, no data) carry no message.
                    if first.is_none() && !event.data.trim().is_empty() {
                        first = Some(event.data);
                    }
                });
                read.extend_from_slice(&data);
            }
            // An error or the end before any message: what was read goes on
            // as it came, and then the error or the end.
            Some(Err(error)) => {
                tail = Tail::Failed(error);
                break;
            }
            None => {
                tail = Tail::Ended;
                break;
            }
        }
    }
    let answer = first.filter(|message| is_response(message));
    match answer {
        Some(message) => {
            parts
                .headers
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            parts.headers.remove(CONTENT_LENGTH);
            Response::from_parts(
                parts,
                http_body_util::Either::Left(Full::new(Bytes::from(message))),
            )
        }
        None => Response::from_parts(
            parts,
            http_body_util::Either::Right(Prefixed::after(read.freeze(), body, tail)),
        ),
    }
}

/// A JSON-RPC response: a `result` or an `error`, no `method` (read by
/// core's peek, which builds no tree).
fn is_response(message: &str) -> bool {
    mcp_reconnect_core::peek::peek(message.as_bytes())
        .ok()
        .as_ref()
        .and_then(Peek::single)
        .is_some_and(|message| message.kind() == MessageKind::Response)
}

pin_project_lite::pin_project! {
    /// A body that sends `prefix` (the bytes already read), then the rest of
    /// `body`, or how reading the prefix left it: ended, or failed.
    pub struct Prefixed<B: Body> {
        prefix: Option<Bytes>,
        tail: Tail<B::Error>,
        #[pin]
        body: B,
    }
}

/// What comes after the prefix. A body is never polled again once it has
/// ended or failed (some bodies panic if they are).
enum Tail<E> {
    Body,
    Failed(E),
    Ended,
}

impl<B: Body> Prefixed<B> {
    fn new(prefix: Bytes, body: B) -> Self {
        Self::after(prefix, body, Tail::Body)
    }

    fn after(prefix: Bytes, body: B, tail: Tail<B::Error>) -> Self {
        Prefixed {
            prefix: (!prefix.is_empty()).then_some(prefix),
            tail,
            body,
        }
    }
}

impl<B: Body<Data = Bytes>> Body for Prefixed<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        if let Some(prefix) = this.prefix.take() {
            return Poll::Ready(Some(Ok(Frame::data(prefix))));
        }
        match std::mem::replace(this.tail, Tail::Ended) {
            Tail::Body => {
                *this.tail = Tail::Body;
                this.body.poll_frame(cx)
            }
            Tail::Failed(error) => Poll::Ready(Some(Err(error))),
            Tail::Ended => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.prefix.is_none()
            && match self.tail {
                Tail::Body => self.body.is_end_stream(),
                Tail::Failed(_) => false,
                Tail::Ended => true,
            }
    }

    fn size_hint(&self) -> SizeHint {
        let extra = self.prefix.as_ref().map_or(0, |prefix| prefix.len() as u64);
        let mut hint = match self.tail {
            Tail::Body => self.body.size_hint(),
            Tail::Failed(_) | Tail::Ended => SizeHint::with_exact(0),
        };
        hint.set_lower(hint.lower() + extra);
        if let Some(upper) = hint.upper() {
            hint.set_upper(upper + extra);
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http_body_util::channel::Channel;

    use super::*;

    /// An SSE answer whose body is `chunks`, each its own frame.
    fn stream(chunks: &[&'static str]) -> Response<Channel<Bytes, Infallible>> {
        let (mut sender, body) = Channel::new(chunks.len().max(1));
        for chunk in chunks {
            sender
                .try_send(Frame::data(Bytes::from_static(chunk.as_bytes())))
                .expect("room for every chunk");
        }
        let mut response = Response::new(body);
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        response
    }

    async fn text<B: Body<Data = Bytes>>(body: B) -> String
    where
        B::Error: std::fmt::Debug,
    {
        let bytes = body.collect().await.expect("a body").to_bytes();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[tokio::test]
    async fn a_stream_whose_first_message_is_the_response_becomes_json() {
        let response = stream(&[
            "id: 0\ndata: \n\n",
            "event: message\ndata: {\"jsonrpc\":\"2.0\",",
            "\"id\":1,\"result\":{}}\n\n",
        ]);
        let answer = first_message(response, 1024).await;
        assert_eq!(answer.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(
            text(answer.into_body()).await,
            r#"{"jsonrpc":"2.0","id":1,"result":{}}"#
        );
    }

    #[tokio::test]
    async fn a_stream_that_opens_with_a_notification_goes_on_untouched() {
        let chunks = [
            "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n",
            "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n",
        ];
        let answer = first_message(stream(&chunks), 1024).await;
        assert_eq!(answer.headers()[CONTENT_TYPE], "text/event-stream");
        assert_eq!(text(answer.into_body()).await, chunks.concat());
    }

    #[tokio::test]
    async fn a_message_over_the_bound_or_a_stream_that_ends_first_goes_on_as_it_came() {
        let long = "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"text\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}}\n\n";
        let answer = first_message(stream(&[long]), 16).await;
        assert_eq!(text(answer.into_body()).await, long);
        let answer = first_message(stream(&[": comment only\n\n"]), 1024).await;
        assert_eq!(text(answer.into_body()).await, ": comment only\n\n");
    }

    #[tokio::test]
    async fn a_stream_cut_before_its_first_message_goes_on_and_then_fails() {
        let (mut sender, body) = Channel::<Bytes, &'static str>::new(1);
        sender
            .try_send(Frame::data(Bytes::from_static(b"data: {\"jsonrpc\"")))
            .expect("room");
        sender.abort("reset");
        let mut response = Response::new(body);
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        let mut body = first_message(response, 1024).await.into_body();
        let read = body.frame().await.expect("a frame").expect("data");
        assert_eq!(read.into_data().expect("data"), "data: {\"jsonrpc\"");
        let error = body.frame().await.expect("the error").unwrap_err();
        assert_eq!(error.to_string(), "reset");
        assert!(
            body.frame().await.is_none(),
            "then the end, without polling the body again"
        );
    }
}
