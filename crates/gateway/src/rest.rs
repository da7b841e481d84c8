//! mcpo's REST surface: `POST /<tool>` with the arguments as a JSON object
//! becomes a `tools/call` on the gateway's own session, through the same
//! stack as `/mcp` traffic, and its result becomes mcpo's answer.
//!
//! | outcome | answer |
//! |---|---|
//! | result | `200`: one text item JSON-parsed when it is JSON, several as an array |
//! | `isError` result | `500 {"detail":{"message":…}}` |
//! | arguments fail `inputSchema` | `422 {"detail":[{type, loc, msg}]}` |
//! | unknown tool | `404 {"detail":"Not Found"}` |
//! | JSON-RPC error | mcpo's map: `-32700`/`-32600` `400`, `-32601` `404`, `-32602` `422`, else `500` |
//! | upstream unavailable after retries | `502`/`503`/`504` with `Retry-After` |

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Request, StatusCode};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::client::{CallError, McpClient, from_object};
use crate::config::Limits;
use crate::validate::validate;

/// `Retry-After` sent with a `502`/`503`/`504` when the stack gave none: 1 s.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// What a REST route needs.
#[derive(Clone, Debug)]
pub struct RestState {
    /// The gateway's client of the upstream.
    pub client: Arc<McpClient>,
    /// Body size and call deadline.
    pub limits: Limits,
}

/// `POST /<tool>`.
pub async fn call_tool(state: RestState, tool: String, request: Request<Body>) -> Response {
    let span = tracing::Span::current();
    span.record("upstream", state.client.upstream().spec.display.as_str());
    span.record("mcp.method", "tools/call");
    span.record("mcp.tool", tool.as_str());
    // A JSON body, as mcpo takes it: a form or `text/plain` body is one a
    // browser sends cross-origin without a preflight, so CORS never sees it.
    let declared = request.headers().contains_key(CONTENT_TYPE);
    if declared && !mcp_reconnect_core::headers::is_json(request.headers()) {
        return detail(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            json!({"message": "the body must be JSON (Content-Type: application/json)"}),
        );
    }
    // One deadline from here: a client that trickles its body is held only so long.
    let deadline = tokio::time::Instant::now() + state.limits.tool_timeout;
    let limit = usize::try_from(state.limits.max_body_bytes).unwrap_or(usize::MAX);
    let read = mcp_reconnect_core::body::collect_bytes(request.into_body(), limit);
    let body = match tokio::time::timeout_at(deadline, read).await {
        Ok(Ok(body)) => body,
        Ok(Err(error)) if mcp_reconnect_core::body::is_over_limit(&error) => {
            return detail(
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"message": "request body too large"}),
            );
        }
        Ok(Err(_)) => {
            return detail(
                StatusCode::BAD_REQUEST,
                json!({"message": "the request body could not be read"}),
            );
        }
        Err(_) => {
            return detail(
                StatusCode::REQUEST_TIMEOUT,
                json!({"message": "the request body did not arrive within the deadline"}),
            );
        }
    };
    let catalog = state.client.tools(Some(&tool)).await;
    let Some(found) = catalog.get(&tool) else {
        return match (&catalog.fetched, &catalog.error) {
            (None, Some(error)) => error_response(error),
            _ => detail(StatusCode::NOT_FOUND, json!("Not Found")),
        };
    };
    let arguments = match parse_arguments(&body) {
        Ok(arguments) => arguments,
        Err(errors) => return detail(StatusCode::UNPROCESSABLE_ENTITY, errors),
    };
    let violations = validate(&found.input_schema(), &arguments);
    if !violations.is_empty() {
        let errors: Vec<Value> = violations.iter().map(|violation| violation.to_json()).collect();
        return detail(StatusCode::UNPROCESSABLE_ENTITY, Value::Array(errors));
    }
    match tokio::time::timeout_at(deadline, state.client.call_tool_text(&tool, arguments)).await {
        Ok(Ok(result)) => result_response(&result),
        Ok(Err(error)) => error_response(&error),
        Err(_) => error_response(&CallError::Timeout),
    }
}

/// An empty body is `{}`; anything else must be a JSON object. The error is
/// FastAPI's list of validation errors.
fn parse_arguments(body: &Bytes) -> Result<Value, Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(object @ Value::Object(_)) => Ok(object),
        Ok(_) => Err(
            json!([{"type": "model_attributes_type", "loc": ["body"], "msg": "Input should be a valid dictionary or object"}]),
        ),
        Err(error) => Err(
            json!([{"type": "json_invalid", "loc": ["body", error.column()], "msg": "JSON decode error"}]),
        ),
    }
}

/// A `CallToolResult` as mcpo answers it, read from its JSON text: the few
/// members mcpo looks at are borrowed from it, and the answer is written
/// straight from them. Each member is read leniently, as mcpo does: one of
/// another type counts as absent.
pub fn result_response(result: &RawValue) -> Response {
    let result: ToolResult<'_> = from_object(result.get()).unwrap_or_default();
    let content: Vec<&RawValue> = result
        .content
        .and_then(|content| serde_json::from_str(content.get()).ok())
        .unwrap_or_default();
    let items: Vec<(&RawValue, Item<'_>)> = content
        .into_iter()
        .map(|raw| (raw, from_object(raw.get()).unwrap_or_default()))
        .collect();
    if result.is_error.is_some_and(|is_error| is_error.get() == "true") {
        let message = items.first().and_then(|(_, item)| text(item.text));
        let message = message.as_deref().unwrap_or("Unknown tool execution error");
        return detail(StatusCode::INTERNAL_SERVER_ERROR, json!({"message": message}));
    }
    let mut body = Vec::with_capacity(64);
    if let [(raw, item)] = items.as_slice() {
        write_content_item(&mut body, raw, item);
    } else {
        body.push(b'[');
        for (n, (raw, item)) in items.iter().enumerate() {
            if n > 0 {
                body.push(b',');
            }
            write_content_item(&mut body, raw, item);
        }
        body.push(b']');
    }
    let mut response = Body::from(body).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The members of a `CallToolResult` mcpo reads.
#[derive(Default, Deserialize)]
struct ToolResult<'a> {
    #[serde(default, borrow)]
    content: Option<&'a RawValue>,
    #[serde(default, borrow, rename = "isError")]
    is_error: Option<&'a RawValue>,
}

/// The members of a content item mcpo reads.
#[derive(Default, Deserialize)]
struct Item<'a> {
    #[serde(default, borrow, rename = "type")]
    kind: Option<&'a RawValue>,
    #[serde(default, borrow)]
    text: Option<&'a RawValue>,
    #[serde(default, borrow, rename = "mimeType")]
    mime_type: Option<&'a RawValue>,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "crate::client::present")]
    resource: Option<&'a RawValue>,
}

/// A JSON string, borrowed unless it has escapes.
#[derive(Deserialize)]
struct JsonStr<'a>(#[serde(borrow)] Cow<'a, str>);

/// The string `raw` holds, if it holds one.
fn text(raw: Option<&RawValue>) -> Option<Cow<'_, str>> {
    serde_json::from_str::<JsonStr<'_>>(raw?.get()).ok().map(|s| s.0)
}

/// One content item: text (parsed when it is JSON), an image or audio as a
/// data URL, a resource as its text (or itself), anything else as it is.
fn write_content_item(out: &mut Vec<u8>, raw: &RawValue, item: &Item<'_>) {
    // Writing JSON into a `Vec` cannot fail.
    match text(item.kind).as_deref() {
        Some("text") => {
            let text = text(item.text).unwrap_or_default();
            match parse_if_json(&text) {
                Some(value) => {
                    let _ = serde_json::to_writer(&mut *out, &value);
                }
                None => {
                    let _ = serde_json::to_writer(&mut *out, &*text);
                }
            }
        }
        Some("image" | "audio") => {
            let mime = text(item.mime_type);
            let mime = mime.as_deref().unwrap_or("application/octet-stream");
            let data = text(item.data).unwrap_or_default();
            let _ = serde_json::to_writer(&mut *out, &format!("data:{mime};base64,{data}"));
        }
        Some("resource") => {
            #[derive(Deserialize)]
            struct Resource<'a> {
                #[serde(default, borrow)]
                text: Option<&'a RawValue>,
            }
            let resource = item.resource.map_or("null", RawValue::get);
            let resource_text =
                from_object::<Resource<'_>>(resource).and_then(|resource| text(resource.text));
            match resource_text {
                Some(text) => {
                    let _ = serde_json::to_writer(&mut *out, &*text);
                }
                None => out.extend_from_slice(resource.as_bytes()),
            }
        }
        _ => out.extend_from_slice(raw.get().as_bytes()),
    }
}

/// `text` as JSON, if it is JSON. Text whose first character cannot begin
/// a JSON value (most prose) is not handed to the parser at all.
fn parse_if_json(text: &str) -> Option<Value> {
    let first = text.trim_start().bytes().next()?;
    if !matches!(
        first,
        b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n'
    ) {
        return None;
    }
    serde_json::from_str(text).ok()
}

/// A failed exchange as mcpo answers it, with `Retry-After` on `502`/`503`/`504`.
pub fn error_response(error: &CallError) -> Response {
    match error {
        CallError::Rpc { code, message, data } => {
            let status = match *code {
                -32700 | -32600 => StatusCode::BAD_REQUEST,
                -32601 => StatusCode::NOT_FOUND,
                -32602 => StatusCode::UNPROCESSABLE_ENTITY,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            let mut body = json!({"message": message});
            if let Some(data) = data {
                body["data"] = data.clone();
            }
            detail(status, body)
        }
        CallError::Upstream {
            status,
            retry_after,
            message,
            data,
        } => {
            let status = match *status {
                StatusCode::PAYLOAD_TOO_LARGE => {
                    return detail(StatusCode::PAYLOAD_TOO_LARGE, json!({"message": message}));
                }
                StatusCode::BAD_GATEWAY | StatusCode::GATEWAY_TIMEOUT => *status,
                StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS | StatusCode::NOT_FOUND => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                _ => StatusCode::BAD_GATEWAY,
            };
            let mut body = json!({"message": message});
            if let Some(data) = data {
                body["data"] = data.clone();
            }
            unavailable(status, body, retry_after.unwrap_or(DEFAULT_RETRY_AFTER))
        }
        CallError::Timeout => unavailable(
            StatusCode::GATEWAY_TIMEOUT,
            json!({"message": "the tool call got no answer within the deadline"}),
            DEFAULT_RETRY_AFTER,
        ),
        CallError::Protocol(why) => unavailable(
            StatusCode::BAD_GATEWAY,
            json!({"message": format!("invalid answer from the upstream: {why}")}),
            DEFAULT_RETRY_AFTER,
        ),
        CallError::TooLarge { limit } => unavailable(
            StatusCode::BAD_GATEWAY,
            json!({"message": format!("the upstream's answer is over {limit} bytes")}),
            DEFAULT_RETRY_AFTER,
        ),
        CallError::Interrupted(why) => unavailable(
            StatusCode::BAD_GATEWAY,
            json!({"message": format!("the upstream's answer was cut off; the tool may have run: {why}")}),
            DEFAULT_RETRY_AFTER,
        ),
    }
}

fn unavailable(status: StatusCode, body: Value, retry_after: Duration) -> Response {
    let mut response = detail(status, body);
    // FastAPI-style answers always ask for at least a second.
    let seconds = mcp_reconnect_core::respond::retry_after_secs(retry_after).max(1);
    response
        .headers_mut()
        .insert(http::header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// FastAPI's error shape: `{"detail": …}`.
pub fn detail(status: StatusCode, detail: Value) -> Response {
    (status, Json(json!({ "detail": detail }))).into_response()
}

#[cfg(test)]
mod tests;
