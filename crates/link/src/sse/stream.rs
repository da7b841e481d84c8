//! The server's event stream: opened (or reopened with `Last-Event-ID`),
//! decoded, and read into the link's inbox.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use mcp_reconnect_core::ClassifiedError;
use mcp_reconnect_core::headers::LAST_EVENT_ID;
use mcp_reconnect_core::sse::{SseDecoder, SseEvent};
use tokio::sync::oneshot;

use super::target::endpoint;
use super::{HttpClient, ResponseBody, SseTarget, error_text, send};
use crate::link::Inbox;

/// Times a dropped stream is reopened with `Last-Event-ID` before the link ends.
const RESUME_ATTEMPTS: u32 = 2;

/// The stream could not be opened, or did not name its endpoint.
#[derive(Debug)]
pub struct StreamError {
    pub(super) url: String,
    pub(super) why: String,
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the SSE stream at {} did not open: {}", self.url, self.why)
    }
}

impl std::error::Error for StreamError {}

impl From<StreamError> for ClassifiedError {
    /// Nothing was sent yet: a failed connect, not reached.
    fn from(error: StreamError) -> Self {
        crate::error::not_linked(error)
    }
}

/// `GET`s the event stream (with `Last-Event-ID` when resuming).
pub(super) async fn open<C: HttpClient>(
    client: &C,
    target: &SseTarget,
    last_event_id: Option<&str>,
    max_message: usize,
) -> Result<Events<C::Body>, StreamError> {
    let failed = |why: String| StreamError {
        url: target.display(),
        why,
    };
    let mut request = Request::new(Full::new(Bytes::new()));
    *request.method_mut() = Method::GET;
    *request.uri_mut() = target.url.clone();
    let headers = request.headers_mut();
    headers.extend(target.headers.clone());
    headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Some(id) = last_event_id.and_then(|id| HeaderValue::from_str(id).ok()) {
        headers.insert(LAST_EVENT_ID, id);
    }
    let response = send(client.clone(), request)
        .await
        .map_err(|error| failed(error_text(error.as_ref())))?;
    if !response.status().is_success() {
        return Err(failed(format!("it answered {}", response.status())));
    }
    let is_stream = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim_start().starts_with("text/event-stream"));
    if !is_stream {
        return Err(failed("its answer is not text/event-stream".to_owned()));
    }
    Ok(Events {
        body: Box::pin(response.into_body()),
        decoder: SseDecoder::new(max_message),
        ready: VecDeque::new(),
    })
}

/// The events of one open stream.
pub(super) struct Events<B> {
    body: Pin<Box<B>>,
    decoder: SseDecoder,
    ready: VecDeque<SseEvent>,
}

impl<B> Events<B>
where
    B: ResponseBody,
{
    /// The next event; `None` when the stream ended.
    pub(super) async fn next(&mut self) -> Result<Option<SseEvent>, String> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Ok(Some(event));
            }
            match self.body.frame().await {
                None => return Ok(None),
                Some(Err(error)) => return Err(error_text(error.into().as_ref())),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        let ready = &mut self.ready;
                        self.decoder.push(&data, &mut |event| ready.push_back(event));
                    }
                }
            }
        }
    }
}

/// Reads the stream into the link's inbox, resuming a dropped stream where it can.
pub(super) struct Reader<C> {
    pub(super) client: C,
    pub(super) target: SseTarget,
    pub(super) endpoint: Arc<std::sync::Mutex<Uri>>,
    pub(super) max_message: usize,
}

impl<C: HttpClient> Reader<C> {
    pub(super) async fn run(
        self,
        mut events: Events<C::Body>,
        inbox: Inbox,
        mut stopped: oneshot::Receiver<()>,
    ) {
        let mut last_id: Option<String> = None;
        let mut resumes = 0;
        loop {
            let next = tokio::select! {
                next = events.next() => next,
                // The link's last handle went: closing the stream ends the server's session.
                _ = &mut stopped => return,
            };
            let why = match next {
                Ok(Some(event)) => {
                    if let Some(id) = event.id.clone().filter(|id| !id.is_empty()) {
                        last_id = Some(id);
                    }
                    resumes = 0;
                    match event.event.as_deref() {
                        None | Some("message") => {
                            if !inbox.receive(event.data.as_bytes()).await {
                                return;
                            }
                        }
                        // A resumed stream may name its endpoint again.
                        Some("endpoint") => {
                            if let Err(why) = self.endpoint_again(&event.data) {
                                inbox.ending.end(why);
                                return;
                            }
                        }
                        Some(_) => {}
                    }
                    continue;
                }
                Ok(None) => "its event stream ended".to_owned(),
                Err(error) => format!("its event stream failed: {error}"),
            };
            let Some(id) = last_id.as_deref().filter(|_| resumes < RESUME_ATTEMPTS) else {
                inbox.ending.end(&why);
                return;
            };
            resumes += 1;
            tracing::debug!(server = %self.target.name, %why, "reopening the SSE stream after the last event id");
            match open(&self.client, &self.target, Some(id), self.max_message).await {
                Ok(reopened) => events = reopened,
                Err(error) => {
                    inbox.ending.end(&format!("{why}; resuming it failed: {error}"));
                    return;
                }
            }
        }
    }

    /// An `endpoint` event on a resumed stream: the same endpoint goes on;
    /// another is another server session, which this link's calls do not belong to.
    fn endpoint_again(&self, data: &str) -> Result<(), &'static str> {
        let named = endpoint(&self.target.url, data.trim())?;
        let current = self
            .endpoint
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *current == named {
            Ok(())
        } else {
            Err("the resumed stream opened another session")
        }
    }
}
