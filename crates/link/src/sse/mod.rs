//! A legacy HTTP+SSE server (protocol 2024-11-05) as a link: the `GET`
//! event stream carries the server's messages, and each message to the
//! server is a `POST` to the endpoint the stream's first `endpoint` event
//! names.

mod stream;
mod target;
mod writer;

use std::future::{Future, poll_fn};
use std::hash::{BuildHasher, RandomState};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::Full;
use mcp_reconnect_core::{BoxError, ClassifiedError};
use tokio::sync::oneshot;
use tower_service::Service;

use crate::error::HandshakeError;
use crate::link::Link;
use crate::service::LinkService;
use crate::{config::SseConfig, handshake};
pub use stream::StreamError;
use stream::{Reader, open};
use target::endpoint;
pub use target::{InvalidSseUrl, SseTarget};
use writer::Writer;

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

pub(super) async fn send<C, B>(mut client: C, request: Request<Full<Bytes>>) -> Result<Response<B>, BoxError>
where
    C: Service<Request<Full<Bytes>>, Response = Response<B>>,
    C::Error: Into<BoxError>,
{
    poll_fn(|cx| client.poll_ready(cx)).await.map_err(Into::into)?;
    client.call(request).await.map_err(Into::into)
}

pub(super) fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
    mcp_reconnect_core::error::chain(error)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}
