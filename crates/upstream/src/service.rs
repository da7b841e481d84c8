//! [`UpstreamService`]: a pooled client bound to one MCP endpoint.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::uri::PathAndQuery;
use http::{HeaderMap, Method, Request, Response, Uri, Version};
use http_body::Body;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use mcp_reconnect_core::BoxError;
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::connector::UpstreamConnection;
use crate::target::{UpstreamTarget, build_uri};

pub use mcp_reconnect_core::headers::ACCEPT_MCP;

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Hop-by-hop headers (RFC 9110 §7.6.1): about one connection, never forwarded.
const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    KEEP_ALIVE,
    PROXY_CONNECTION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// The answer headers relayed to the gateway's clients: what the MCP
/// transport and an HTTP client need to read an answer. Anything else an
/// upstream sends (its server banner, CORS, HSTS, `Alt-Svc`, cookies,
/// internal debugging) is about the upstream's own origin, not the
/// gateway's, and goes.
const RELAYED: [HeaderName; 16] = [
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::CONTENT_ENCODING,
    header::CONTENT_LANGUAGE,
    header::CACHE_CONTROL,
    header::EXPIRES,
    header::PRAGMA,
    header::VARY,
    header::DATE,
    header::ETAG,
    header::LAST_MODIFIED,
    header::RETRY_AFTER,
    header::WWW_AUTHENTICATE,
    HeaderName::from_static("mcp-session-id"),
    HeaderName::from_static("mcp-protocol-version"),
    // SSE through a buffering proxy in front of the gateway.
    HeaderName::from_static("x-accel-buffering"),
];

/// `RateLimit-*` and `X-RateLimit-*` tell a client when to come back.
fn is_relayed(name: &HeaderName) -> bool {
    RELAYED.contains(name)
        || name.as_str().starts_with("ratelimit")
        || name.as_str().starts_with("x-ratelimit")
}

/// A client's credentials, not forwarded unless configured.
const CREDENTIALS: [HeaderName; 3] = [header::AUTHORIZATION, header::PROXY_AUTHORIZATION, header::COOKIE];

/// A pooled HTTP/1.1 and HTTP/2 client bound to one MCP endpoint, made by
/// [`UpstreamConnector`](crate::UpstreamConnector).
///
/// Each request goes to the endpoint whatever its own URI said (the client's
/// query is appended to the endpoint's), with `Host` set for the endpoint,
/// `Accept: application/json, text/event-stream` on `POST` (and when missing),
/// the target's headers, and without hop-by-hop headers. Everything else —
/// `Mcp-Session-Id`, `MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`,
/// `Last-Event-ID`, the method (`POST`, `GET`, `DELETE`) — passes as sent.
/// Answers stream back frame by frame (`hyper::body::Incoming`): an SSE
/// stream is never buffered. Clones share the pool.
pub struct UpstreamService<B = Full<Bytes>> {
    // One `Arc` for the client and the endpoint: the layers above clone this
    // service several times per call (tower's convention), and a hyper-util
    // `Client` clone is a handful of reference counts of its own.
    shared: Arc<Shared<B>>,
}

struct Shared<B> {
    client: Client<UpstreamConnection, B>,
    bound: Bound,
}

/// The endpoint, prepared once so that a request costs no allocation of ours.
struct Bound {
    uri: Uri,
    host: HeaderValue,
    headers: HeaderMap,
    forward_credentials: bool,
    display: String,
}

impl<B> UpstreamService<B> {
    pub(crate) fn new(
        client: Client<UpstreamConnection, B>,
        target: &UpstreamTarget,
        forward_credentials: bool,
    ) -> Self {
        let (_, authority) = target.scheme_and_authority();
        let host = HeaderValue::from_str(authority.as_str()).unwrap_or(HeaderValue::from_static("localhost"));
        UpstreamService {
            shared: Arc::new(Shared {
                client,
                bound: Bound {
                    uri: target.url().clone(),
                    host,
                    headers: target.headers().clone(),
                    forward_credentials,
                    display: target.display(),
                },
            }),
        }
    }

    /// The endpoint, without query (safe to log).
    pub fn upstream(&self) -> &str {
        &self.shared.bound.display
    }
}

impl Bound {
    /// The endpoint's URI, with the client's query appended to the endpoint's own.
    fn uri_for(&self, client_query: Option<&str>) -> Uri {
        let Some(client_query) = client_query.filter(|q| !q.is_empty()) else {
            return self.uri.clone();
        };
        let path = self.uri.path();
        let joined = match self.uri.query() {
            Some(own) => format!("{path}?{own}&{client_query}"),
            None => format!("{path}?{client_query}"),
        };
        let (Some(scheme), Some(authority)) = (self.uri.scheme(), self.uri.authority()) else {
            return self.uri.clone();
        };
        PathAndQuery::try_from(joined)
            .ok()
            .and_then(|pq| build_uri(scheme.clone(), authority.clone(), pq).ok())
            .unwrap_or_else(|| self.uri.clone())
    }

    fn prepare(&self, method: &Method, headers: &mut HeaderMap) {
        strip_hop_by_hop(headers);
        if !self.forward_credentials && headers.keys().any(|name| CREDENTIALS.contains(name)) {
            for name in CREDENTIALS {
                headers.remove(name);
            }
        }
        headers.insert(header::HOST, self.host.clone());
        if method == Method::POST || !headers.contains_key(header::ACCEPT) {
            headers.insert(header::ACCEPT, ACCEPT_MCP);
        }
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
    }
}

/// Caps an upstream's `Retry-After` at `MAX_RETRY_AFTER` (300 s), as every
/// layer reads it: a lying header must not park clients for days either.
pub(crate) fn cap_retry_after(headers: &mut HeaderMap) {
    let Some(value) = headers.get(header::RETRY_AFTER) else {
        return;
    };
    let max = mcp_reconnect_core::response::MAX_RETRY_AFTER.as_secs();
    let over = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u128>().ok())
        .is_some_and(|seconds| seconds > u128::from(max));
    if over {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(max));
    }
}

/// Keeps only the headers [`is_relayed`] names. Hop-by-hop headers and
/// those `Connection` names are not among them.
pub(crate) fn keep_relayed(headers: &mut HeaderMap) {
    // An MCP server's answer usually carries only relayed headers: look
    // before rebuilding the map.
    if headers.keys().all(is_relayed) {
        return;
    }
    let mut kept = HeaderMap::with_capacity(headers.len());
    let mut current: Option<HeaderName> = None;
    for (name, value) in std::mem::take(headers) {
        if let Some(name) = name {
            current = Some(name);
        }
        if let Some(name) = current.as_ref().filter(|name| is_relayed(name)) {
            kept.append(name.clone(), value);
        }
    }
    *headers = kept;
}

/// Removes the hop-by-hop headers, and those the `Connection` header names.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none: one pass over the few names there are is
    // cheaper than hashing each of the seven to look it up.
    if !headers.keys().any(|name| HOP_BY_HOP.contains(name)) {
        return;
    }
    if headers.contains_key(header::CONNECTION) {
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

impl<B> Clone for UpstreamService<B> {
    fn clone(&self) -> Self {
        UpstreamService {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<B> fmt::Debug for UpstreamService<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamService")
            .field("upstream", &self.shared.bound.display)
            .finish_non_exhaustive()
    }
}

impl<B> Service<Request<B>> for UpstreamService<B>
where
    B: Body + Send + 'static + Unpin,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<Incoming>;
    type Error = BoxError;
    type Future = UpstreamFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // hyper-util's client is always ready: it queues for a pooled connection.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> UpstreamFuture {
        let (mut parts, body) = request.into_parts();
        let Shared { client, bound } = &*self.shared;
        parts.uri = bound.uri_for(parts.uri.query());
        // The version to the upstream is the client's choice (ALPN, `http2_only`), not the caller's.
        parts.version = Version::HTTP_11;
        bound.prepare(&parts.method, &mut parts.headers);
        UpstreamFuture {
            inner: client.request(Request::from_parts(parts, body)),
        }
    }
}

pin_project! {
    /// The future of [`UpstreamService`]: hyper-util's, with only the
    /// answer's relayed headers kept (`RELAYED`), `Retry-After` capped, and a
    /// redirect or `1xx` turned into `502`.
    pub struct UpstreamFuture {
        #[pin]
        inner: hyper_util::client::legacy::ResponseFuture,
    }
}

impl Future for UpstreamFuture {
    type Output = Result<Response<Incoming>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut response = ready!(self.project().inner.poll(cx))?;
        let headers = response.headers_mut();
        keep_relayed(headers);
        cap_retry_after(headers);
        // No redirect is followed or relayed (a relative `Location` would send
        // a client, with its key, to another route of the gateway), and an
        // unrequested `1xx` would end the client's connection: both are a
        // bad gateway.
        if response.status().is_redirection() || response.status().is_informational() {
            let headers = response.headers_mut();
            headers.remove(header::LOCATION);
            headers.remove(header::CONTENT_LOCATION);
            headers.remove(header::UPGRADE);
            *response.status_mut() = http::StatusCode::BAD_GATEWAY;
        }
        Poll::Ready(Ok(response))
    }
}

impl fmt::Debug for UpstreamFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamFuture").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
