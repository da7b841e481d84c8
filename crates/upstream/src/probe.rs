//! The MCP probe: one JSON-RPC `ping` to the server's URL, which tells the
//! server itself from a proxy in front of it.

use std::error::Error;
use std::fmt;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Method, Request, StatusCode};
use http_body::Body as _;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use mcp_reconnect_core::body::collect_bytes;
use mcp_reconnect_core::headers::{MCP_METHOD, MCP_PROTOCOL_VERSION};
use mcp_reconnect_core::response::DEFAULT_BODY_PEEK_LIMIT;
use mcp_reconnect_core::{
    BoxError, Classification, ClassifiedError, RequestFacts, body_worth_reading, classify_status,
    refine_with_body,
};
use tower_service::Service;

use crate::connector::UpstreamConnection;
use crate::service::UpstreamService;
use crate::target::UpstreamTarget;

/// The probe's JSON-RPC request: a `ping`, which every MCP server answers and
/// which changes nothing.
const PING: &[u8] = br#"{"jsonrpc":"2.0","id":"mcp-reconnect-probe","method":"ping"}"#;
/// The protocol version the probe names: the 2025 one most servers speak
/// (a server of another era answers with an error, which proves it up too).
const PROBE_VERSION: &str = "2025-06-18";

/// The server did not answer the probe itself: a proxy (or the server)
/// answered this status, which says the server is down or refusing.
/// Its `source()` carries the class (a `ClassifiedError`), which core's
/// `classify_error` finds.
#[derive(Debug)]
pub struct ProbeRefused {
    status: StatusCode,
    class: ClassifiedError,
}

impl ProbeRefused {
    /// The status the probe got.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl fmt::Display for ProbeRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the MCP ping was answered {} (not by the server)", self.status)
    }
}

impl Error for ProbeRefused {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.class)
    }
}

/// Sends the probe to `target`: `Ok` when the MCP server answered.
pub(crate) async fn ping(
    client: Client<UpstreamConnection, Full<Bytes>>,
    target: &UpstreamTarget,
) -> Result<(), BoxError> {
    let mut service = UpstreamService::new(client, target, false);
    let mut request = Request::new(Full::new(Bytes::from_static(PING)));
    *request.method_mut() = Method::POST;
    let headers = request.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(MCP_PROTOCOL_VERSION, HeaderValue::from_static(PROBE_VERSION));
    headers.insert(MCP_METHOD, HeaderValue::from_static("ping"));
    let response = service.call(request).await?;
    let status = response.status();
    let facts = RequestFacts::default();
    let mut classification = classify_status(status, response.headers(), facts);
    if !matches!(status.as_u16(), 429 | 502 | 503 | 504) {
        // Whatever else it said (200, or 400/404 for the missing session),
        // it was the MCP server's answer.
        return Ok(());
    }
    let exact = response.body().size_hint().exact();
    let headers = response.headers();
    if body_worth_reading(
        &classification,
        status,
        headers,
        exact,
        DEFAULT_BODY_PEEK_LIMIT,
        facts,
    ) {
        let (_, body) = response.into_parts();
        if let Ok(bytes) = collect_bytes(body, DEFAULT_BODY_PEEK_LIMIT).await {
            classification = refine_with_body(classification, status, facts, &bytes);
        }
    }
    match classification {
        Classification::Failure(failure) if failure.is_recoverable() => {
            let class = ClassifiedError::new(failure, format!("status {status}"));
            Err(ProbeRefused { status, class }.into())
        }
        // The server's own refusal (it is up, and full): up.
        _ => Ok(()),
    }
}
