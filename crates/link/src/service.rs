//! [`LinkService`]: a linked server (a stdio child, a legacy SSE stream) as a Streamable HTTP MCP server, to the layers above.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use mcp_reconnect_core::headers::{MCP_PROTOCOL_VERSION, MCP_SESSION_ID};
use mcp_reconnect_core::{BoxError, ClassifiedError};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tower_service::Service;

use crate::body::LinkBody;
use crate::link::Link;

/// Protocol versions a client may initialize with; another is answered with the child's own.
const KNOWN_VERSIONS: &[&str] = &["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

/// One linked server (the doc says "child"; a legacy SSE server's stream
/// is served the same way), served the way a Streamable HTTP MCP server
/// serves, so the layers above (`SessionLayer`, `ToolRetryLayer`, the circuit) wrap it
/// unchanged:
///
/// - `POST` `initialize` is answered here, from the child's own
///   `initialize` result (the gateway initialized it once), with a session
///   id that names this child. A request with another child's session id is
///   `404`, so `SessionLayer` re-initializes the client's session on a
///   respawned child without the client noticing.
/// - `POST` requests go to the child under an id of the gateway's (many
///   clients share one child) and come back under their own. A 2026-07-28
///   request loses its envelope on the way (the child speaks the handshake
///   era), its result is marked `complete`, and `server/discover` is
///   answered here from the child's `initialize` result.
/// - Notifications are passed on (`notifications/initialized` and
///   `notifications/cancelled` are the gateway's to send, and are dropped: a
///   client's request id is not the server's, and a call its client gives up
///   on after it was sent is cancelled at the server under the gateway's id);
///   responses are dropped: the child's own requests are answered by the
///   gateway (`ping`) or refused.
/// - `GET` streams the child's notifications as SSE; `DELETE` is `200` (the
///   child outlives a client's session).
///
/// A call on a child that is gone fails with a classified `Connection`
/// error, reached only if its line was written.
#[derive(Clone)]
pub struct LinkService {
    child: Arc<Link>,
    init: Arc<Map<String, Value>>,
}

impl std::fmt::Debug for LinkService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkService")
            .field("server", &self.child.name)
            .field("session", &self.child.session)
            .finish_non_exhaustive()
    }
}

impl LinkService {
    pub(crate) fn new(child: Arc<Link>, init: Arc<Map<String, Value>>) -> Self {
        LinkService { child, init }
    }

    /// The session id this child's service hands out.
    pub fn session_id(&self) -> &str {
        &self.child.session
    }

    /// The child's process id, which also names its process group (`None` for an SSE server).
    pub fn pid(&self) -> Option<u32> {
        self.child.pid
    }

    /// Calls waiting for the child's answer now.
    pub fn calls_waiting(&self) -> usize {
        self.child.calls_waiting()
    }

    /// Why the child is gone, if it is.
    pub fn ended(&self) -> Option<Arc<str>> {
        self.child.ended()
    }
}

impl Service<Request<Full<Bytes>>> for LinkService {
    type Response = Response<LinkBody>;
    type Error = BoxError;
    /// Boxed: a call waits on a child process, whose line round trip dwarfs one allocation.
    type Future = Pin<Box<dyn Future<Output = Result<Response<LinkBody>, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Full<Bytes>>) -> Self::Future {
        let (child, init) = (Arc::clone(&self.child), Arc::clone(&self.init));
        Box::pin(async move { serve(&child, &init, request).await })
    }
}

async fn serve(
    child: &Arc<Link>,
    init: &Map<String, Value>,
    request: Request<Full<Bytes>>,
) -> Result<Response<LinkBody>, BoxError> {
    let foreign_session = request
        .headers()
        .get(MCP_SESSION_ID)
        .is_some_and(|session| session.as_bytes() != child.session.as_bytes());
    match *request.method() {
        Method::POST => {}
        Method::GET if foreign_session => return Ok(session_not_found(Value::Null)),
        Method::GET => return Ok(notifications(child)),
        Method::DELETE => return Ok(status(StatusCode::OK)),
        _ => return Ok(status(StatusCode::METHOD_NOT_ALLOWED)),
    }
    let body = request.into_body().collect().await?.to_bytes();
    let message = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(message)) => message,
        Ok(_) => {
            return Ok(rpc_error(
                StatusCode::BAD_REQUEST,
                Value::Null,
                -32600,
                "a stdio server takes one JSON-RPC message per request (no batches)",
            ));
        }
        Err(error) => {
            return Ok(rpc_error(
                StatusCode::BAD_REQUEST,
                Value::Null,
                -32700,
                &format!("parse error: {error}"),
            ));
        }
    };
    let mut message = message;
    let modern = strip_envelope(&mut message);
    let method = message.get("method").and_then(Value::as_str);
    let id = message.get("id").cloned();
    match (method, id) {
        (Some("initialize"), Some(id)) => Ok(initialized(child, init, &message, id)),
        (Some("server/discover"), Some(id)) => Ok(discovered(init, id)),
        (_, id) if foreign_session => Ok(session_not_found(id.unwrap_or(Value::Null))),
        (Some(_), Some(_)) => match child.call(message).await {
            Ok(mut reply) => {
                if modern {
                    mark_complete(&mut reply);
                }
                Ok(json_answer(StatusCode::OK, &reply))
            }
            Err(dead) => Err(ClassifiedError::from(dead).into()),
        },
        (Some("notifications/initialized" | "notifications/cancelled"), None) => {
            Ok(status(StatusCode::ACCEPTED))
        }
        (Some(_), None) => match child.notify(&Value::Object(message)).await {
            Ok(()) => Ok(status(StatusCode::ACCEPTED)),
            Err(dead) => Err(ClassifiedError::from(dead).into()),
        },
        (None, Some(_)) => Ok(status(StatusCode::ACCEPTED)),
        (None, None) => Ok(rpc_error(
            StatusCode::BAD_REQUEST,
            Value::Null,
            -32600,
            "not a JSON-RPC request, notification or response",
        )),
    }
}

/// The child's `initialize` result, in the client's protocol version when it is one we know.
fn initialized(
    child: &Link,
    init: &Map<String, Value>,
    request: &Map<String, Value>,
    id: Value,
) -> Response<LinkBody> {
    let mut result = init.clone();
    let asked = request
        .get("params")
        .and_then(|params| params.get("protocolVersion"))
        .and_then(Value::as_str)
        .filter(|version| KNOWN_VERSIONS.contains(version));
    if let Some(version) = asked {
        result.insert("protocolVersion".to_owned(), Value::from(version));
    }
    let version = result
        .get("protocolVersion")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let mut response = json_answer(
        StatusCode::OK,
        &json!({"jsonrpc": "2.0", "id": id, "result": result}),
    );
    let headers = response.headers_mut();
    if let Ok(session) = HeaderValue::from_str(&child.session) {
        headers.insert(MCP_SESSION_ID, session);
    }
    if let Some(version) = version.and_then(|version| HeaderValue::from_str(&version).ok()) {
        headers.insert(MCP_PROTOCOL_VERSION, version);
    }
    response
}

/// The 2026-07-28 envelope (`io.modelcontextprotocol/…` keys in
/// `params._meta`) taken off a request, since the child was initialized in
/// the handshake era and refuses it; `true` when there was one.
fn strip_envelope(message: &mut Map<String, Value>) -> bool {
    let Some(Value::Object(params)) = message.get_mut("params") else {
        return false;
    };
    let Some(Value::Object(meta)) = params.get_mut("_meta") else {
        return false;
    };
    let before = meta.len();
    meta.retain(|key, _| !key.starts_with(ENVELOPE_PREFIX));
    let stripped = meta.len() != before;
    if meta.is_empty() {
        params.remove("_meta");
    }
    stripped
}

/// Where the 2026-07-28 envelope's keys live.
const ENVELOPE_PREFIX: &str = "io.modelcontextprotocol/";

/// A 2026-07-28 result says it is complete (the child's answer does not).
fn mark_complete(reply: &mut Value) {
    if let Some(Value::Object(result)) = reply.get_mut("result") {
        result
            .entry("resultType")
            .or_insert_with(|| Value::from("complete"));
    }
}

/// `server/discover` (2026-07-28), answered from the child's `initialize` result.
fn discovered(init: &Map<String, Value>, id: Value) -> Response<LinkBody> {
    let mut result = json!({
        "resultType": "complete",
        "supportedVersions": ["2026-07-28"],
        "capabilities": init.get("capabilities").cloned().unwrap_or_else(|| json!({})),
        "ttlMs": 0,
        "cacheScope": "public",
    });
    if let (Some(info), Value::Object(result)) = (init.get("serverInfo"), &mut result) {
        result.insert(
            "_meta".to_owned(),
            json!({"io.modelcontextprotocol/serverInfo": info}),
        );
        if let Some(instructions) = init.get("instructions") {
            result.insert("instructions".to_owned(), instructions.clone());
        }
    }
    json_answer(
        StatusCode::OK,
        &json!({"jsonrpc": "2.0", "id": id, "result": result}),
    )
}

/// `GET`: the child's notifications as SSE, until the child or the client goes.
fn notifications(child: &Arc<Link>) -> Response<LinkBody> {
    let mut received = child.notifications.subscribe();
    let mut dead = child.dead.clone();
    let (events, stream) = mpsc::channel(16);
    let name = Arc::clone(&child.name);
    tokio::spawn(async move {
        loop {
            let line = tokio::select! {
                line = received.recv() => line,
                _ = dead.wait_for(Option::is_some) => return,
                () = events.closed() => return,
            };
            let line = match line {
                Ok(line) => line,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(skipped)) => {
                    tracing::debug!(server = %name, skipped, "a GET stream fell behind; notifications skipped");
                    continue;
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            };
            let mut event = Vec::with_capacity(line.len() + 24);
            event.extend_from_slice(b"event: message\ndata: ");
            event.extend_from_slice(&line);
            event.extend_from_slice(b"\n\n");
            if events.send(Bytes::from(event)).await.is_err() {
                return;
            }
        }
    });
    let mut response = Response::new(LinkBody::stream(stream));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn session_not_found(id: Value) -> Response<LinkBody> {
    rpc_error(StatusCode::NOT_FOUND, id, -32001, "Session not found")
}

fn rpc_error(status: StatusCode, id: Value, code: i64, message: &str) -> Response<LinkBody> {
    let error = json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}});
    json_answer(status, &error)
}

fn json_answer(status: StatusCode, message: &Value) -> Response<LinkBody> {
    let mut response = Response::new(LinkBody::full(serde_json::to_vec(message).unwrap_or_default()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn status(status: StatusCode) -> Response<LinkBody> {
    let mut response = Response::new(LinkBody::empty());
    *response.status_mut() = status;
    response
}
