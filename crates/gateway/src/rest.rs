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

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode};
use http_body_util::LengthLimitError;
use serde_json::{Value, json};

use crate::config::Limits;
use crate::tools::{CallError, McpClient};
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
pub async fn call_tool(
    State(state): State<RestState>,
    Path(tool): Path<String>,
    request: Request<Body>,
) -> Response {
    let span = tracing::Span::current();
    span.record("upstream", state.client.upstream().spec.display.as_str());
    span.record("mcp.method", "tools/call");
    span.record("mcp.tool", tool.as_str());
    let Ok(_permit) = Arc::clone(&state.client.upstream().calls).try_acquire_owned() else {
        return shed();
    };
    // One deadline from here: a client that trickles its body holds a permit only so long.
    let deadline = tokio::time::Instant::now() + state.limits.tool_timeout;
    let limit = usize::try_from(state.limits.max_body_bytes).unwrap_or(usize::MAX);
    let read = mcp_reconnect_core::body::collect_bytes(request.into_body(), limit);
    let body = match tokio::time::timeout_at(deadline, read).await {
        Ok(Ok(body)) => body,
        Ok(Err(error)) if mcp_reconnect_core::cause_ref::<LengthLimitError>(&*error).is_some() => {
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
    let violations = validate(&found.input_schema, &arguments);
    if !violations.is_empty() {
        let errors: Vec<Value> = violations.iter().map(|violation| violation.to_json()).collect();
        return detail(StatusCode::UNPROCESSABLE_ENTITY, Value::Array(errors));
    }
    match tokio::time::timeout_at(deadline, state.client.call_tool(&tool, arguments)).await {
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

/// A `CallToolResult` as mcpo answers it.
pub fn result_response(result: &Value) -> Response {
    let content = result
        .get("content")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if result.get("isError").and_then(Value::as_bool) == Some(true) {
        let message = content
            .first()
            .and_then(|item| item.get("text"))
            .and_then(Value::as_str)
            .unwrap_or("Unknown tool execution error");
        return detail(StatusCode::INTERNAL_SERVER_ERROR, json!({"message": message}));
    }
    let mut items: Vec<Value> = content.iter().map(content_item).collect();
    let body = if items.len() == 1 {
        items.remove(0)
    } else {
        Value::Array(items)
    };
    (StatusCode::OK, Json(body)).into_response()
}

/// One content item: text (parsed when it is JSON), an image or audio as a
/// data URL, a resource as its text (or itself), anything else as it is.
fn content_item(item: &Value) -> Value {
    let field = |key: &str| item.get(key).and_then(Value::as_str);
    match field("type") {
        Some("text") => {
            let text = field("text").unwrap_or_default();
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
        }
        Some("image" | "audio") => {
            let mime = field("mimeType").unwrap_or("application/octet-stream");
            Value::String(format!(
                "data:{mime};base64,{}",
                field("data").unwrap_or_default()
            ))
        }
        Some("resource") => match item.pointer("/resource/text").and_then(Value::as_str) {
            Some(text) => Value::String(text.to_owned()),
            None => item.get("resource").cloned().unwrap_or(Value::Null),
        },
        _ => item.clone(),
    }
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
        CallError::Interrupted(why) => unavailable(
            StatusCode::BAD_GATEWAY,
            json!({"message": format!("the upstream's answer was cut off; the tool may have run: {why}")}),
            DEFAULT_RETRY_AFTER,
        ),
    }
}

/// `503` for a call shed because the upstream has too many in flight.
pub fn shed() -> Response {
    unavailable(
        StatusCode::SERVICE_UNAVAILABLE,
        json!({"message": "too many calls in flight to this upstream; try again"}),
        DEFAULT_RETRY_AFTER,
    )
}

fn unavailable(status: StatusCode, body: Value, retry_after: Duration) -> Response {
    let mut response = detail(status, body);
    let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    response
        .headers_mut()
        .insert(http::header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    response
}

/// FastAPI's error shape: `{"detail": …}`.
pub fn detail(status: StatusCode, detail: Value) -> Response {
    (status, Json(json!({ "detail": detail }))).into_response()
}

#[cfg(test)]
mod tests;
