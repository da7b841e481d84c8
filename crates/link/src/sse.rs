//! A legacy HTTP+SSE server (protocol 2024-11-05) as a link: the `GET`
//! event stream carries the server's messages, and each message to the
//! server is a `POST` to the endpoint the stream's first `endpoint` event
//! names.

use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, poll_fn};
use std::hash::{BuildHasher, RandomState};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body::Body;
use http_body_util::{BodyExt, Full, Limited};
use mcp_reconnect_core::headers::LAST_EVENT_ID;
use mcp_reconnect_core::sse::{SseDecoder, SseEvent};
use mcp_reconnect_core::{BoxError, ClassifiedError, Failure, FailureClass, Reached};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tower_service::Service;

use crate::error::HandshakeError;
use crate::link::{Ending, Inbox, Link, Outgoing};
use crate::service::LinkService;
use crate::{config::SseConfig, handshake};

/// `POST`s in flight to one server at once; more wait their turn.
const POSTS_IN_FLIGHT: usize = 32;
/// The most of a `POST`'s answer read (a legacy server answers `Accepted`).
const POST_ANSWER_LIMIT: usize = 64 * 1024;
/// Times a dropped stream is reopened with `Last-Event-ID` before the link ends.
const RESUME_ATTEMPTS: u32 = 2;

/// A legacy SSE server: the URL of its event stream and the headers every
/// request to it carries (its own `Authorization`, say).
///
/// ```
/// use mcp_reconnect_link::SseTarget;
///
/// let target = SseTarget::new("http://127.0.0.1:8000/sse?token=secret").expect("a URL");
/// assert_eq!(target.display(), "http://127.0.0.1:8000/sse");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SseTarget {
    url: Uri,
    headers: HeaderMap,
    name: Arc<str>,
}

/// A URL an [`SseTarget`] cannot take.
#[derive(Debug)]
pub struct InvalidSseUrl(String);

impl fmt::Display for InvalidSseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not an SSE server URL: {}", self.0)
    }
}

impl std::error::Error for InvalidSseUrl {}

impl SseTarget {
    /// The server whose event stream is at `url` (`http` or `https`).
    pub fn new(url: &str) -> Result<Self, InvalidSseUrl> {
        let uri = url
            .parse::<Uri>()
            .map_err(|error| InvalidSseUrl(error.to_string()))?;
        Self::from_uri(uri)
    }

    /// The server whose event stream is at `uri`.
    pub fn from_uri(uri: Uri) -> Result<Self, InvalidSseUrl> {
        match uri.scheme_str() {
            Some("http" | "https") => {}
            _ => return Err(InvalidSseUrl("the scheme must be http or https".to_owned())),
        }
        let Some(authority) = uri.authority() else {
            return Err(InvalidSseUrl("no host".to_owned()));
        };
        if authority.as_str().contains('@') {
            return Err(InvalidSseUrl(
                "credentials in the URL are refused; send them as a header".to_owned(),
            ));
        }
        let name = Arc::from(display(&uri));
        Ok(SseTarget {
            url: uri,
            headers: HeaderMap::new(),
            name,
        })
    }

    /// Adds a header every request to the server carries.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Adds every header of `headers` (over ones of the same name).
    pub fn headers_from(mut self, headers: HeaderMap) -> Self {
        for (name, value) in headers {
            if let Some(name) = name {
                self.headers.insert(name, value);
            }
        }
        self
    }

    /// Names the server in logs and errors (default: [`display`](Self::display)).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Arc::from(name.into());
        self
    }

    /// The stream's URL.
    pub fn url(&self) -> &Uri {
        &self.url
    }

    /// The URL without its query (which may hold a token): safe to log.
    pub fn display(&self) -> String {
        display(&self.url)
    }
}

fn display(uri: &Uri) -> String {
    format!(
        "{}://{}{}",
        uri.scheme_str().unwrap_or("http"),
        uri.authority().map_or("", Authority::as_str),
        uri.path()
    )
}

impl fmt::Debug for SseTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values are the server's credentials: names only.
        f.debug_struct("SseTarget")
            .field("url", &self.display())
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The stream could not be opened, or did not name its endpoint.
#[derive(Debug)]
pub struct StreamError {
    url: String,
    why: String,
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
        ClassifiedError::new(
            Failure::new(FailureClass::Unavailable, Reached::No).with_transport(true),
            error,
        )
    }
}

/// The HTTP client an [`SseConnector`] sends through: a tower service that
/// sends each request to its own absolute URI (hyper-util's `Client` is one).
pub trait HttpClient:
    Service<Request<Full<Bytes>>, Response = Response<Self::Body>, Error: Into<BoxError>, Future: Send>
    + Clone
    + Send
    + Sync
    + 'static
{
    /// The body of its answers.
    type Body: ResponseBody;
}

impl<C, B> HttpClient for C
where
    C: Service<Request<Full<Bytes>>, Response = Response<B>, Error: Into<BoxError>, Future: Send>
        + Clone
        + Send
        + Sync
        + 'static,
    B: ResponseBody,
{
    type Body = B;
}

/// The body of an [`HttpClient`]'s answers.
pub trait ResponseBody: Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static {}

impl<B> ResponseBody for B where B: Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static {}

/// Makes a [`LinkService`] for an [`SseTarget`] over `client`, any HTTP
/// client service that sends a request to its own absolute URI (hyper-util's
/// pooled `Client`, as `mcp-reconnect-upstream`'s connector builds it, with
/// TLS): opens the event stream, waits for its `endpoint` event, initializes
/// the server once, and hands out the service.
///
/// The link ends when the stream ends and cannot be resumed (reopened with
/// `Last-Event-ID`, where the server sends event ids, and the same
/// endpoint), or when a `POST` fails: the calls waiting fail classified
/// (reach unknown), and `CircuitReconnectLayer` in front reconnects with its
/// backoff. The next link is a new server session, so `SessionLayer`
/// re-initializes clients' sessions on it, unseen.
#[derive(Clone, Debug)]
pub struct SseConnector<C> {
    client: C,
    config: SseConfig,
}

impl<C> SseConnector<C> {
    /// A connector sending its requests through `client`.
    pub fn new(client: C, config: SseConfig) -> Self {
        SseConnector { client, config }
    }
}

impl<C: HttpClient> Service<SseTarget> for SseConnector<C> {
    type Response = LinkService;
    type Error = BoxError;
    /// Boxed: one per (re)connect, not per call.
    type Future = Pin<Box<dyn Future<Output = Result<LinkService, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, target: SseTarget) -> Self::Future {
        let (client, config) = (self.client.clone(), self.config.clone());
        Box::pin(async move { connect(client, target, config).await.map_err(BoxError::from) })
    }
}

/// Every link's session id differs, within this process and across its restarts.
static GENERATION: AtomicU64 = AtomicU64::new(1);

async fn connect<C: HttpClient>(
    client: C,
    target: SseTarget,
    config: SseConfig,
) -> Result<LinkService, ClassifiedError> {
    let failed = |why: String| StreamError {
        url: target.display(),
        why,
    };
    let opened = async {
        let mut events = open(&client, &target, None, config.max_message).await?;
        let endpoint = match events.next().await {
            Ok(Some(event)) if event.event.as_deref() == Some("endpoint") => {
                endpoint(&target.url, event.data.trim()).map_err(|why| failed(why.to_owned()))?
            }
            Ok(Some(event)) => {
                let got = event.event.unwrap_or_else(|| "message".to_owned());
                return Err(failed(format!("its first event is `{got}`, not `endpoint`")));
            }
            Ok(None) => return Err(failed("it ended before naming its endpoint".to_owned())),
            Err(error) => return Err(failed(error)),
        };
        Ok((events, endpoint))
    };
    let (events, endpoint) = match tokio::time::timeout(config.handshake_timeout, opened).await {
        Ok(opened) => opened?,
        Err(_) => {
            return Err(failed(format!("no endpoint event within {:?}", config.handshake_timeout)).into());
        }
    };
    let generation = GENERATION.fetch_add(1, Ordering::Relaxed);
    let session = format!(
        "sse-{:016x}-{generation}",
        RandomState::new().hash_one(generation)
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let (link, ends) = Link::new("SSE", Arc::clone(&target.name), session, None, Box::new(stop));
    tracing::info!(server = %target.name, url = %target.display(), "SSE server stream open");
    let endpoint = Arc::new(std::sync::Mutex::new(endpoint));
    let reader = Reader {
        client: client.clone(),
        target: target.clone(),
        endpoint: Arc::clone(&endpoint),
        max_message: config.max_message,
    };
    tokio::spawn(reader.run(events, ends.inbox, stopped));
    let writer = Writer {
        client,
        headers: target.headers.clone(),
        endpoint,
        timeout: config.handshake_timeout,
    };
    tokio::spawn(writer.run(ends.queue, ends.ending));
    let init = handshake::initialize(&link, &target.display(), config.handshake_timeout)
        .await
        .map_err(|error: HandshakeError| ClassifiedError::from(error))?;
    Ok(LinkService::new(link, Arc::new(init)))
}

/// `GET`s the event stream (with `Last-Event-ID` when resuming).
async fn open<C: HttpClient>(
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

async fn send<C, B>(mut client: C, request: Request<Full<Bytes>>) -> Result<Response<B>, BoxError>
where
    C: Service<Request<Full<Bytes>>, Response = Response<B>>,
    C::Error: Into<BoxError>,
{
    poll_fn(|cx| client.poll_ready(cx)).await.map_err(Into::into)?;
    client.call(request).await.map_err(Into::into)
}

fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
    mcp_reconnect_core::error::chain(error)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

/// Where the server's `endpoint` event points, resolved against the
/// stream's URL. Another origin is refused: the target's headers (its
/// credentials) must not go to a host the configuration did not name.
fn endpoint(stream: &Uri, data: &str) -> Result<Uri, &'static str> {
    let (Some(scheme), Some(authority)) = (stream.scheme(), stream.authority()) else {
        return Err("the stream's URL has no origin");
    };
    if data.is_empty() {
        return Err("its endpoint event is empty");
    }
    if let Ok(uri) = data.parse::<Uri>()
        && uri.scheme().is_some()
    {
        if uri.scheme() != Some(scheme) || uri.authority() != Some(authority) {
            return Err("its endpoint is on another origin than its stream");
        }
        return Ok(uri);
    }
    let joined = if data.starts_with('/') {
        data.to_owned()
    } else {
        let path = stream.path();
        let directory = &path[..path.rfind('/').map_or(0, |slash| slash + 1)];
        format!("{directory}{data}")
    };
    let path = PathAndQuery::try_from(joined).map_err(|_| "its endpoint is not a URL path")?;
    Uri::builder()
        .scheme(Scheme::clone(scheme))
        .authority(authority.clone())
        .path_and_query(path)
        .build()
        .map_err(|_| "its endpoint is not a URL path")
}

/// The events of one open stream.
struct Events<B> {
    body: Pin<Box<B>>,
    decoder: SseDecoder,
    ready: VecDeque<SseEvent>,
}

impl<B> Events<B>
where
    B: ResponseBody,
{
    /// The next event; `None` when the stream ended.
    async fn next(&mut self) -> Result<Option<SseEvent>, String> {
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
struct Reader<C> {
    client: C,
    target: SseTarget,
    endpoint: Arc<std::sync::Mutex<Uri>>,
    max_message: usize,
}

impl<C: HttpClient> Reader<C> {
    async fn run(self, mut events: Events<C::Body>, inbox: Inbox, mut stopped: oneshot::Receiver<()>) {
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

/// Posts each message to the endpoint the stream named.
struct Writer<C> {
    client: C,
    headers: HeaderMap,
    endpoint: Arc<std::sync::Mutex<Uri>>,
    /// How long one `POST` may take (a server may never answer one for a session it lost).
    timeout: Duration,
}

impl<C: HttpClient> Writer<C> {
    /// Requests go concurrently (bounded); notifications and answers in
    /// order, each after the one before it.
    async fn run(self, mut queue: mpsc::Receiver<Outgoing>, ending: Ending) {
        let in_flight = Arc::new(Semaphore::new(POSTS_IN_FLIGHT));
        while let Some(Outgoing { message, written }) = queue.recv().await {
            let uri = self
                .endpoint
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            let post = post(
                self.client.clone(),
                uri,
                self.headers.clone(),
                message,
                self.timeout,
            );
            let Some(written) = written else {
                if let Err(why) = post.await {
                    ending.end(&why);
                    return;
                }
                continue;
            };
            let Ok(permit) = Arc::clone(&in_flight).acquire_owned().await else {
                return;
            };
            written.store(true, Ordering::Relaxed);
            let ending = ending.clone();
            tokio::spawn(async move {
                if let Err(why) = post.await {
                    ending.end(&why);
                }
                drop(permit);
            });
        }
    }
}

/// One message `POST`ed; `Err` says why the link cannot go on.
async fn post<C: HttpClient>(
    client: C,
    uri: Uri,
    headers: HeaderMap,
    message: Vec<u8>,
    timeout: Duration,
) -> Result<(), String> {
    let mut request = Request::new(Full::new(Bytes::from(message)));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = uri;
    let request_headers = request.headers_mut();
    request_headers.extend(headers);
    request_headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let response = match tokio::time::timeout(timeout, send(client, request)).await {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => {
            return Err(format!(
                "posting a message failed: {}",
                error_text(error.as_ref())
            ));
        }
        Err(_) => return Err(format!("a message's POST had no answer within {timeout:?}")),
    };
    let status = response.status();
    // Read the short answer so the connection goes back to the pool.
    let _ = tokio::time::timeout(
        timeout,
        Limited::new(response.into_body(), POST_ANSWER_LIMIT).collect(),
    )
    .await;
    match status {
        status if status.is_success() => Ok(()),
        StatusCode::NOT_FOUND => Err("the server forgot the session (a POST answered 404)".to_owned()),
        status => Err(format!("the server refused a message ({status})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_resolve_against_the_stream_and_stay_on_its_origin() {
        let stream: Uri = "http://127.0.0.1:9000/mcp/sse?token=t".parse().expect("a URI");
        let resolved = |data| endpoint(&stream, data).map(|uri| uri.to_string());
        assert_eq!(
            resolved("/messages/?session_id=ab"),
            Ok("http://127.0.0.1:9000/messages/?session_id=ab".to_owned())
        );
        assert_eq!(
            resolved("message?sessionId=1"),
            Ok("http://127.0.0.1:9000/mcp/message?sessionId=1".to_owned())
        );
        assert_eq!(
            resolved("http://127.0.0.1:9000/m?s=1"),
            Ok("http://127.0.0.1:9000/m?s=1".to_owned())
        );
        assert!(resolved("http://evil.example/m").is_err());
        assert!(resolved("https://127.0.0.1:9000/m").is_err());
        assert!(resolved("").is_err());
    }

    #[test]
    fn a_target_shows_no_query_and_no_header_values() {
        let target = SseTarget::new("https://host/sse?key=secret")
            .expect("a URL")
            .header(
                http::header::AUTHORIZATION,
                HeaderValue::from_static("Bearer secret"),
            );
        assert_eq!(target.display(), "https://host/sse");
        assert!(!format!("{target:?}").contains("secret"));
        assert!(SseTarget::new("ftp://host/sse").is_err());
        assert!(SseTarget::new("http://user:pw@host/sse").is_err());
    }
}
