//! Raw MCP over HTTP for tests that drive a server without an SDK: JSON-RPC
//! bodies of the legacy handshake, the `POST` request around them, and the
//! message inside an answer that is either JSON or an SSE stream.

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use mcp_reconnect_core::headers;
use mcp_reconnect_core::sse::{DEFAULT_MAX_EVENT_LEN, SseDecoder};
use serde_json::{Value, json};

/// The legacy protocol version the raw helpers speak: `2025-06-18`.
pub const LEGACY_PROTOCOL_VERSION: &str = "2025-06-18";

/// The `Accept` header a Streamable HTTP client must send.
pub const ACCEPT_MCP: &str = "application/json, text/event-stream";

/// An `initialize` request of the legacy era (protocol `2025-06-18`).
pub fn initialize(id: u64) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "initialize",
        "params": {
            "protocolVersion": LEGACY_PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "mcp-reconnect-testkit", "version": env!("CARGO_PKG_VERSION")},
        },
    })
}

/// The `notifications/initialized` notification that ends the handshake.
pub fn initialized() -> Value {
    json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
}

/// A `tools/call` request.
pub fn tools_call(id: u64, tool: &str, arguments: Value) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    })
}

/// A `tools/list` request.
pub fn tools_list(id: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"})
}

/// A `POST` of `body` to `url`, as a legacy Streamable HTTP client sends it:
/// `Accept: application/json, text/event-stream`, `Content-Type:
/// application/json`, `MCP-Protocol-Version: 2025-06-18`, and `Mcp-Session-Id`
/// when `session` is given. Fails only if `url` or `session` is not valid in HTTP.
pub fn jsonrpc_request(
    url: &str,
    session: Option<&str>,
    body: &Value,
) -> Result<Request<Full<Bytes>>, http::Error> {
    let mut request = Request::post(url)
        .header(ACCEPT, ACCEPT_MCP)
        .header(CONTENT_TYPE, "application/json")
        .header(headers::MCP_PROTOCOL_VERSION, LEGACY_PROTOCOL_VERSION);
    if let Some(session) = session {
        request = request.header(headers::MCP_SESSION_ID, session);
    }
    request.body(Full::new(Bytes::from(body.to_string())))
}

/// A whole HTTP answer of an MCP server, read to its end.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct McpResponse {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl McpResponse {
    /// Reads `response` to its end. Never call it on an endless stream (the
    /// `GET` SSE stream); a `POST`'s SSE stream ends after the response.
    pub async fn read<B: hyper::body::Body>(response: Response<B>) -> Result<McpResponse, B::Error> {
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(McpResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    /// The `Mcp-Session-Id` the server assigned, if any.
    pub fn session_id(&self) -> Option<&str> {
        self.headers.get(headers::MCP_SESSION_ID)?.to_str().ok()
    }

    /// Every JSON-RPC message in the body: the JSON body (each member of a
    /// batch), or each SSE event's data that is JSON (events with empty data,
    /// such as priming events, are skipped). Empty for other bodies.
    pub fn messages(&self) -> Vec<Value> {
        let values: Vec<Value> = if headers::is_event_stream(&self.headers) {
            let mut decoder = SseDecoder::new(DEFAULT_MAX_EVENT_LEN);
            let mut values = Vec::new();
            decoder.push(&self.body, &mut |event| {
                if !event.data.trim().is_empty() {
                    values.extend(serde_json::from_str::<Value>(&event.data).ok());
                }
            });
            values
        } else if headers::is_json(&self.headers) {
            serde_json::from_slice(&self.body).into_iter().collect()
        } else {
            Vec::new()
        };
        values
            .into_iter()
            .flat_map(|value| match value {
                Value::Array(batch) => batch,
                single => vec![single],
            })
            .collect()
    }

    /// The JSON-RPC response in the body (the first message with a `result`
    /// or an `error`); notifications before it are skipped.
    pub fn message(&self) -> Option<Value> {
        self.messages()
            .into_iter()
            .find(|message| message.get("result").is_some() || message.get("error").is_some())
    }

    /// The `result` of the response, if it succeeded.
    pub fn result(&self) -> Option<Value> {
        self.message()?.get_mut("result").map(Value::take)
    }

    /// The first text content of a tool result (`result.content[0].text`).
    pub fn text(&self) -> Option<String> {
        let result = self.result()?;
        Some(result.get("content")?.get(0)?.get("text")?.as_str()?.to_owned())
    }

    /// Whether the response is a tool result with `"isError": true`.
    pub fn is_tool_error(&self) -> bool {
        self.result()
            .and_then(|result| result.get("isError")?.as_bool())
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn response(content_type: &'static str, body: &'static str) -> McpResponse {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        McpResponse {
            status: StatusCode::OK,
            headers,
            body: Bytes::from_static(body.as_bytes()),
        }
    }

    #[test]
    fn reads_a_tool_result_from_sse_after_priming_and_notifications() {
        let body = "data: \nid: 0/0\nretry: 3000\n\n\
                    data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n\n\
                    data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\n\
                    data: {\"content\":[{\"type\":\"text\",\"text\":\"hi\"}],\"isError\":false}}\n\n";
        let answer = response("text/event-stream", body);
        assert_eq!(answer.messages().len(), 2);
        assert_eq!(answer.text().as_deref(), Some("hi"));
        assert!(!answer.is_tool_error());
    }

    #[test]
    fn reads_json_and_errors() {
        let answer = response(
            "application/json",
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"x"}}"#,
        );
        assert_eq!(answer.message().unwrap()["error"]["code"], -32601);
        assert_eq!(answer.result(), None);
        assert!(response("text/plain", "Not Found").messages().is_empty());
    }

    #[test]
    fn builds_a_legacy_post() {
        let request = jsonrpc_request("http://127.0.0.1:1/mcp", Some("abc"), &initialized()).unwrap();
        assert_eq!(request.headers()[ACCEPT], ACCEPT_MCP);
        assert_eq!(request.headers()[headers::MCP_SESSION_ID], "abc");
        assert_eq!(
            request.headers()[headers::MCP_PROTOCOL_VERSION],
            LEGACY_PROTOCOL_VERSION
        );
        assert!(jsonrpc_request("not a url", None, &initialized()).is_err());
    }
}
