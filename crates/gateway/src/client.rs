//! The gateway's own MCP client: one (virtual) session per upstream, sent
//! through the same stack as `/mcp` traffic. The REST routes and the OpenAPI
//! document use it for `tools/call` and `tools/list`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Body;
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, StatusCode, Uri};
use mcp_reconnect_core::headers::{MCP_PROTOCOL_VERSION, MCP_SESSION_ID};
use mcp_reconnect_core::peek::TOOLS_CALL;
use mcp_reconnect_retry::is_safe_method;
use mcp_reconnect_upstream::session::PinSession;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::stack::Upstream;

mod answer;
mod catalog;

pub use answer::{CallError, MAX_ANSWER_BYTES, read_answer};
pub(crate) use answer::{from_object, present};
pub use catalog::{CATALOG_TTL, Catalog, MAX_TOOL_PAGES, MIN_REFRESH_INTERVAL, Tool};

/// The protocol version the gateway's client asks for (the legacy handshake).
pub const PROTOCOL_VERSION: &str = "2025-06-18";
/// The `Accept` header of a Streamable HTTP client.
pub const ACCEPT_MCP: &str = "application/json, text/event-stream";
/// The client name the gateway introduces itself with.
pub const CLIENT_NAME: &str = "mcp-gateway";

/// What `initialize` told the gateway about the server.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerInfo {
    /// `serverInfo.name`.
    pub name: Option<String>,
    /// `serverInfo.version`.
    pub version: Option<String>,
    /// `instructions`.
    pub instructions: Option<String>,
}

/// One session of the gateway's client.
#[derive(Debug)]
struct Session {
    id: Option<HeaderValue>,
    protocol: HeaderValue,
    info: ServerInfo,
}

/// The gateway's MCP client of one upstream. Cheap to share (`Arc`).
#[derive(Debug)]
pub struct McpClient {
    upstream: Upstream,
    next_id: AtomicU64,
    session: Mutex<Option<Arc<Session>>>,
    /// Single flight for `initialize` (an async gate, never a std lock across `.await`).
    initializing: tokio::sync::Mutex<()>,
    /// The last handshake that failed, and when it ended: callers that waited
    /// behind it take its answer instead of starting one more (each would
    /// cost a whole deadline against an upstream that never answers).
    failed_handshake: Mutex<Option<(tokio::time::Instant, CallError)>>,
    catalog: catalog::Cache,
}

impl McpClient {
    /// A client of `upstream` (it connects on first use).
    pub fn new(upstream: Upstream) -> Arc<Self> {
        Arc::new(McpClient {
            upstream,
            next_id: AtomicU64::new(1),
            session: Mutex::new(None),
            initializing: tokio::sync::Mutex::new(()),
            failed_handshake: Mutex::new(None),
            catalog: catalog::Cache::default(),
        })
    }

    /// The upstream this client talks to.
    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    /// What the server said about itself, once a session exists.
    pub fn server_info(&self) -> Option<ServerInfo> {
        let session = self
            .session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        session.map(|session| session.info.clone())
    }

    /// Calls `tool` with `arguments`; the `CallToolResult` on success.
    pub async fn call_tool(&self, tool: &str, arguments: Value) -> Result<Value, CallError> {
        let result = self.call_tool_text(tool, arguments).await?;
        answer::parse_result(&result)
    }

    /// [`call_tool`](Self::call_tool), the result left as its JSON text.
    pub async fn call_tool_text(&self, tool: &str, arguments: Value) -> Result<Box<RawValue>, CallError> {
        // Built by moving `arguments` in: `json!` would deep-copy them.
        let mut params = serde_json::Map::with_capacity(2);
        params.insert("name".to_owned(), Value::String(tool.to_owned()));
        params.insert("arguments".to_owned(), arguments);
        self.request_text("tools/call", Value::Object(params)).await
    }

    /// Sends a JSON-RPC request on the client's session and returns its
    /// `result`.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, CallError> {
        let result = self.request_text(method, params).await?;
        answer::parse_result(&result)
    }

    /// [`request`](Self::request), the result left as its JSON text. A
    /// session the upstream forgot is opened again once; a safe call whose
    /// answer was cut off mid-stream (which the retry layer, having passed the
    /// answer's head on, cannot replay) is sent once more.
    async fn request_text(&self, method: &str, params: Value) -> Result<Box<RawValue>, CallError> {
        let mut reopened = false;
        let mut resent = false;
        loop {
            let session = self.session().await?;
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            let response = self.post(Some(&session), request_body(id, method, &params)).await;
            match answer::read_result(response, id).await {
                Err(CallError::Upstream {
                    status: StatusCode::NOT_FOUND,
                    ..
                }) if session.id.is_some() && !reopened => {
                    tracing::info!(upstream = %self.upstream.spec.display, "gateway session lost upstream; opening a new one");
                    self.forget(&session);
                    reopened = true;
                }
                Err(CallError::Interrupted(why)) if !resent && self.is_repeatable(method, &params) => {
                    tracing::info!(upstream = %self.upstream.spec.display, %why, "answer cut off; sending the safe call again");
                    resent = true;
                }
                answer => return answer,
            }
        }
    }

    /// Whether sending `method` again cannot do harm: a read-only method, or a
    /// tool the retry layer would repeat (annotations, allow and deny lists).
    fn is_repeatable(&self, method: &str, params: &Value) -> bool {
        if method != TOOLS_CALL {
            return is_safe_method(method);
        }
        let Some(tool) = params.get("name").and_then(Value::as_str) else {
            return false;
        };
        self.upstream.retry.is_repeatable_tool(tool)
    }

    /// The session. It outlives reconnects: a restarted server that forgot
    /// it answers `404`, and the session layer re-initializes it under the
    /// same id (opening a new one each time would leave the old one behind).
    fn current(&self) -> Option<Arc<Session>> {
        self.session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn forget(&self, lost: &Arc<Session>) {
        let mut session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        if session.as_ref().is_some_and(|current| Arc::ptr_eq(current, lost)) {
            *session = None;
        }
    }

    async fn session(&self) -> Result<Arc<Session>, CallError> {
        if let Some(session) = self.current() {
            return Ok(session);
        }
        let waited_from = tokio::time::Instant::now();
        let _gate = self.initializing.lock().await;
        if let Some(session) = self.current() {
            return Ok(session);
        }
        let failed = self
            .failed_handshake
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some((ended, error)) = failed
            && ended >= waited_from
        {
            return Err(error);
        }
        let mut tries = 1;
        let session = loop {
            match self.initialize().await {
                Ok(session) => break Arc::new(session),
                // The handshake is safe to repeat, and each try waits for the
                // circuit (`poll_ready`): an outage it can see never fails a
                // REST call on the gateway's own handshake.
                Err(error) if tries < HANDSHAKE_TRIES && is_outage(&error) => {
                    tracing::info!(upstream = %self.upstream.spec.display, %error, attempt = tries, "gateway session handshake failed; trying again");
                    tries += 1;
                }
                Err(error) => {
                    let ended = tokio::time::Instant::now();
                    *self
                        .failed_handshake
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Some((ended, error.clone()));
                    return Err(error);
                }
            }
        };
        *self.session.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&session));
        Ok(session)
    }

    async fn initialize(&self) -> Result<Session, CallError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let message = json!({
            "jsonrpc": "2.0",
            "id": id,
            "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": CLIENT_NAME, "version": env!("CARGO_PKG_VERSION")},
            },
        });
        let response = self.post(None, message.to_string().into_bytes()).await;
        let session_id = response.headers().get(MCP_SESSION_ID).cloned();
        let result = answer::read_answer(response, id).await?;
        let text = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_owned);
        let protocol = text(result.get("protocolVersion")).unwrap_or_else(|| PROTOCOL_VERSION.to_owned());
        let session = Session {
            id: session_id,
            protocol: HeaderValue::try_from(protocol).unwrap_or(HeaderValue::from_static(PROTOCOL_VERSION)),
            info: ServerInfo {
                name: text(result.pointer("/serverInfo/name")),
                version: text(result.pointer("/serverInfo/version")),
                instructions: text(result.get("instructions")),
            },
        };
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string();
        // Retry layers never resend a notification; this one is safe to
        // repeat, and a session that exists must not be opened again for it.
        let mut tries = 1;
        loop {
            let response = self.post(Some(&session), initialized.clone().into_bytes()).await;
            let status = response.status();
            if status.is_success() {
                break;
            }
            let error = CallError::Upstream {
                status,
                retry_after: mcp_reconnect_core::retry_after(response.headers()),
                message: format!("notifications/initialized answered {status}"),
                data: None,
            };
            if tries >= HANDSHAKE_TRIES || !is_outage(&error) {
                return Err(error);
            }
            tracing::info!(upstream = %self.upstream.spec.display, %status, attempt = tries, "notifications/initialized failed; sending it again");
            tries += 1;
        }
        tracing::debug!(upstream = %self.upstream.spec.display, "gateway session opened");
        Ok(session)
    }

    async fn post(&self, session: Option<&Session>, message: Vec<u8>) -> http::Response<Body> {
        let mut request = Request::new(Body::from(message));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = Uri::from_static("/mcp");
        // Only a live span needs the mark (`record_request` looks at nothing
        // else): an extension is two allocations, and the retry layer's copy
        // of the request two more.
        if !tracing::Span::current().is_disabled() {
            request.extensions_mut().insert(crate::stack::SpanRecorded);
        }
        if session.is_none() {
            // The gateway's own session: never the one shed to make room.
            request.extensions_mut().insert(PinSession);
        }
        let headers = request.headers_mut();
        headers.insert(ACCEPT, HeaderValue::from_static(ACCEPT_MCP));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        match session {
            Some(session) => {
                headers.insert(MCP_PROTOCOL_VERSION, session.protocol.clone());
                if let Some(id) = &session.id {
                    headers.insert(MCP_SESSION_ID, id.clone());
                }
            }
            None => {
                headers.insert(MCP_PROTOCOL_VERSION, HeaderValue::from_static(PROTOCOL_VERSION));
            }
        }
        match self.upstream.service.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }
}

/// Tries of the gateway's own handshake before a REST call fails on it: 3.
const HANDSHAKE_TRIES: u32 = 3;

/// Whether a failed handshake met an outage (the upstream or a proxy in
/// front said so, or the answer broke off), not the server's refusal.
fn is_outage(error: &CallError) -> bool {
    match error {
        CallError::Upstream { status, .. } => {
            matches!(status.as_u16(), 429 | 502 | 503 | 504)
        }
        CallError::Interrupted(_) => true,
        CallError::Rpc { .. } | CallError::Protocol(_) | CallError::TooLarge { .. } | CallError::Timeout => {
            false
        }
    }
}

/// A JSON-RPC request's text, written straight from its parts (a `json!`
/// message would deep-copy `params` first, and `format!` would write each
/// token through `fmt`'s machinery).
fn request_body(id: u64, method: &str, params: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    // Serializing a number, a `&str` or a `Value` into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut out, &id);
    out.extend_from_slice(br#","method":"#);
    let _ = serde_json::to_writer(&mut out, method);
    out.extend_from_slice(br#","params":"#);
    let _ = serde_json::to_writer(&mut out, params);
    out.push(b'}');
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_request_body_is_the_json_rpc_request_of_its_parts() {
        let params = json!({"name": "say \"hi\"\n", "arguments": {"text": "ünï", "n": [1, 2.5, null]}});
        let body = request_body(7, "tools/call", &params);
        let parsed: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            parsed,
            json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params})
        );
        let odd = request_body(u64::MAX, "a\"b\\c", &Value::Null);
        let parsed: Value = serde_json::from_slice(&odd).unwrap();
        assert_eq!(parsed["method"], "a\"b\\c");
        assert_eq!(parsed["id"], u64::MAX);
    }
}
