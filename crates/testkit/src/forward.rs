//! One proxied connection: each request is buffered, matched against the
//! rules, and forwarded or failed as its [`Fault`] says.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName};
use http::{HeaderValue, Request, Response, StatusCode, Uri, Version};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use mcp_reconnect_core::{headers, peek};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::fault::{Fault, InjectedFault, RequestInfo, Rule, choose};

/// The largest request body the proxy buffers (4 MiB, the peek limit); a
/// larger one is answered `413` without forwarding.
pub const MAX_REQUEST_BODY: usize = peek::DEFAULT_PEEK_LIMIT;

/// The most upstream answer bytes `ForwardThen*` faults read before failing the
/// client anyway (16 MiB).
pub const MAX_DRAINED_RESPONSE: usize = 16 * 1024 * 1024;

/// The most entries the fault log keeps; older ones are dropped first.
pub const MAX_FAULT_LOG: usize = 10_000;

/// Idle upstream connections kept per host: none, so each request opens a
/// fresh connection (as nginx does by default) and never meets a stale one
/// after an upstream restart.
pub const UPSTREAM_MAX_IDLE: usize = 0;

/// Hop-by-hop headers (RFC 9110 §7.6.1), never forwarded.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// Bodies the proxy answers with: streamed upstream bodies or its own.
pub(crate) type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// What every connection of one proxy shares: the rules, the log, the counters.
#[derive(Debug)]
pub(crate) struct Shared {
    upstream: SocketAddr,
    client: Client<HttpConnector, Full<Bytes>>,
    pub(crate) rules: Mutex<Vec<Rule>>,
    pub(crate) log: Mutex<VecDeque<InjectedFault>>,
    pub(crate) requests: AtomicU64,
    pub(crate) forwarded: AtomicU64,
}

impl Shared {
    pub(crate) fn new(upstream: SocketAddr) -> Shared {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(UPSTREAM_MAX_IDLE)
            .build(connector);
        Shared {
            upstream,
            client,
            rules: Mutex::default(),
            log: Mutex::default(),
            requests: AtomicU64::new(0),
            forwarded: AtomicU64::new(0),
        }
    }

    /// Picks the fault for a request and logs it if it is not `Pass`.
    fn choose(&self, seq: u64, request: &RequestInfo) -> Fault {
        let fault = choose(&mut lock(&self.rules), request);
        if fault != Fault::Pass {
            tracing::debug!(seq, ?fault, method = ?request.method, tool = ?request.tool, "injecting");
            let mut log = lock(&self.log);
            if log.len() == MAX_FAULT_LOG {
                log.pop_front();
            }
            log.push_back(InjectedFault {
                seq,
                fault: fault.clone(),
                method: request.method.clone(),
                tool: request.tool.clone(),
            });
        }
        fault
    }
}

/// Locks proxy state; nothing is left half-updated by a panic, so a poisoned
/// lock is still good.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A handle on the client's socket (a duplicate of its file descriptor) that
/// can turn the connection's close into a TCP `RST`.
#[derive(Debug)]
struct Control {
    socket: std::net::TcpStream,
    reset: CancellationToken,
}

impl Control {
    /// Sets `SO_LINGER` to zero and ends the connection: when both descriptors
    /// close, the kernel sends `RST` instead of `FIN`.
    fn reset(&self) {
        if let Err(error) = socket2::SockRef::from(&self.socket).set_linger(Some(Duration::ZERO)) {
            tracing::warn!(%error, "cannot set SO_LINGER 0; the close will be a FIN");
        }
        self.reset.cancel();
    }
}

/// Serves one client connection until it closes, the proxy stops, or a fault resets it.
pub(crate) async fn serve_connection(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr) {
    let (stream, socket) = match split_control(stream) {
        Ok(split) => split,
        Err(error) => {
            tracing::warn!(%peer, %error, "cannot duplicate the client socket");
            return;
        }
    };
    let reset = CancellationToken::new();
    let control = Arc::new(Control {
        socket,
        reset: reset.clone(),
    });
    let service =
        hyper::service::service_fn(move |request| handle(Arc::clone(&shared), Arc::clone(&control), request));
    let connection =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        result = connection => {
            if let Err(error) = result {
                tracing::debug!(%peer, %error, "client connection ended with an error");
            }
        }
        () = reset.cancelled() => tracing::debug!(%peer, "client connection reset"),
    }
    // The connection (with the stream, the service and `control`'s socket)
    // is dropped here, which closes both descriptors.
}

/// Splits an accepted stream into the stream hyper serves and a control handle.
fn split_control(stream: TcpStream) -> io::Result<(TcpStream, std::net::TcpStream)> {
    let stream = stream.into_std()?;
    let control = stream.try_clone()?;
    Ok((TcpStream::from_std(stream)?, control))
}

async fn handle(
    shared: Arc<Shared>,
    control: Arc<Control>,
    request: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let seq = shared.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            tracing::debug!(seq, %error, "request body not read");
            return Ok(own_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                None,
                "request body not read",
            ));
        }
    };
    let info = request_info(&parts, &body);
    let fault = shared.choose(seq, &info);
    let request = Request::from_parts(parts, Full::new(body));
    Ok(match fault {
        Fault::Pass => forward(&shared, request).await,
        Fault::Delay(delay) => {
            tokio::time::sleep(delay).await;
            forward(&shared, request).await
        }
        Fault::Status { status, retry_after } => own_response(status, retry_after, INJECTED),
        Fault::ForwardThenStatus(status) => {
            drain(forward(&shared, request).await).await;
            own_response(status, None, INJECTED)
        }
        Fault::Reset => reset(&control).await,
        Fault::ForwardThenReset => {
            drain(forward(&shared, request).await).await;
            reset(&control).await
        }
        Fault::Hang => std::future::pending().await,
    })
}

/// The method and tool of a request: from the 2026-07-28 headers, else the body.
fn request_info(parts: &http::request::Parts, body: &[u8]) -> RequestInfo {
    let peeked = if body.is_empty() {
        None
    } else {
        peek::peek(body).ok()
    };
    let message = peeked.as_ref().and_then(|peeked| peeked.messages().first());
    let method = headers::header_method(&parts.headers)
        .or_else(|| message.and_then(|message| message.method()))
        .map(str::to_owned);
    let tool = (method.as_deref() == Some(peek::TOOLS_CALL))
        .then(|| {
            headers::header_name(&parts.headers).or_else(|| message.and_then(|message| message.tool_name()))
        })
        .flatten()
        .map(str::to_owned);
    RequestInfo {
        http_method: parts.method.clone(),
        method,
        tool,
    }
}

/// Sends the request upstream and streams its answer back; `502` if the
/// upstream cannot be reached (as a reverse proxy does).
async fn forward(shared: &Shared, request: Request<Full<Bytes>>) -> Response<ProxyBody> {
    let (mut parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |path| path.as_str());
    parts.uri = match Uri::builder()
        .scheme("http")
        .authority(shared.upstream.to_string())
        .path_and_query(path)
        .build()
    {
        Ok(uri) => uri,
        Err(error) => {
            tracing::warn!(%error, "cannot build the upstream uri");
            return own_response(StatusCode::BAD_GATEWAY, None, UPSTREAM_FAILED);
        }
    };
    parts.version = Version::HTTP_11;
    parts.extensions = http::Extensions::new();
    strip_hop_by_hop(&mut parts.headers);
    // The client sets `Host` to the upstream, and `Content-Length` from the body.
    parts.headers.remove(header::HOST);
    parts.headers.remove(header::CONTENT_LENGTH);
    shared.forwarded.fetch_add(1, Ordering::Relaxed);
    match shared.client.request(Request::from_parts(parts, body)).await {
        Ok(response) => {
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Response::from_parts(parts, body.boxed())
        }
        Err(error) => {
            tracing::debug!(error = %error_chain(&error), "upstream failed");
            own_response(StatusCode::BAD_GATEWAY, None, UPSTREAM_FAILED)
        }
    }
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove(header::UPGRADE);
}

/// Reads an upstream answer to its end (bounded), so the server finished it.
async fn drain(response: Response<ProxyBody>) {
    if let Err(error) = Limited::new(response.into_body(), MAX_DRAINED_RESPONSE)
        .collect()
        .await
    {
        tracing::debug!(%error, "upstream answer not fully read");
    }
}

/// Resets the client connection; the request never gets an answer.
async fn reset(control: &Control) -> Response<ProxyBody> {
    control.reset();
    std::future::pending().await
}

/// The reason in the body of an injected status.
const INJECTED: &str = "injected by mcp-reconnect-testkit";

/// The reason in the body of a `502` for an unreachable upstream.
const UPSTREAM_FAILED: &str = "upstream unreachable (mcp-reconnect-testkit proxy)";

/// `error` and its sources, joined by `: `.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    mcp_reconnect_core::error::chain(error)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

/// An answer made by the proxy itself.
fn own_response(status: StatusCode, retry_after: Option<Duration>, reason: &str) -> Response<ProxyBody> {
    let text = format!("{status}: {reason}");
    let body = Full::new(Bytes::from(text))
        .map_err(|never| match never {})
        .boxed();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if let Some(retry_after) = retry_after {
        let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}
