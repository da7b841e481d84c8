//! Reading one JSON-RPC answer out of an HTTP response that is JSON or an
//! SSE stream, and what can go wrong with an exchange.

use std::fmt;
use std::time::Duration;

use axum::body::Body;
use http::{HeaderMap, Response, StatusCode};
use http_body_util::BodyExt;
use mcp_reconnect_core::headers;
use mcp_reconnect_core::sse::SseDecoder;
use serde_json::Value;

/// The most bytes of one answer the gateway's client reads: 16 MiB.
pub const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// Why a JSON-RPC exchange with the upstream did not give a result.
#[derive(Clone, Debug, PartialEq)]
pub enum CallError {
    /// The stack answered that the upstream cannot be reached (`502`, `503`,
    /// `504`, or `413`/`429`…): the JSON-RPC error it wrote, if any.
    Upstream {
        /// The HTTP status.
        status: StatusCode,
        /// `Retry-After`, if the stack gave one.
        retry_after: Option<Duration>,
        /// The error's message.
        message: String,
        /// The error's `data` (`class`, `reached`, …).
        data: Option<Value>,
    },
    /// The upstream answered with a JSON-RPC error.
    Rpc {
        /// The JSON-RPC error code.
        code: i64,
        /// Its message.
        message: String,
        /// Its `data`.
        data: Option<Value>,
    },
    /// The answer was not a JSON-RPC answer to the request.
    Protocol(String),
    /// The answer was cut off after the upstream began it (the connection
    /// broke mid-stream): the call reached the server.
    Interrupted(String),
    /// No answer within the deadline.
    Timeout,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Upstream { status, message, .. } => write!(f, "upstream answered {status}: {message}"),
            CallError::Rpc { code, message, .. } => write!(f, "JSON-RPC error {code}: {message}"),
            CallError::Protocol(why) => write!(f, "invalid answer: {why}"),
            CallError::Interrupted(why) => write!(f, "the answer was cut off: {why}"),
            CallError::Timeout => f.write_str("no answer within the deadline"),
        }
    }
}

impl std::error::Error for CallError {}

/// Reads the answer to the request with JSON-RPC id `id` from `response`:
/// the JSON body, or the first SSE event carrying it (the stream is not read
/// further). A status that is not `2xx` becomes [`CallError::Upstream`].
pub async fn read_answer(response: Response<Body>, id: u64) -> Result<Value, CallError> {
    let (parts, body) = response.into_parts();
    if !parts.status.is_success() {
        let bytes = collect(body).await.unwrap_or_default();
        return Err(upstream_error(parts.status, &parts.headers, &bytes));
    }
    let message = if headers::is_event_stream(&parts.headers) {
        read_event_stream(body, id).await?
    } else {
        let bytes = collect(body).await?;
        let value: Value =
            serde_json::from_slice(&bytes).map_err(|_| CallError::Protocol("the body is not JSON".into()))?;
        find_answer(value, id)
            .ok_or_else(|| CallError::Protocol("no answer to the request in the body".into()))?
    };
    into_result(message)
}

/// The `result` of an answer, or its JSON-RPC error.
fn into_result(mut message: Value) -> Result<Value, CallError> {
    if let Some(error) = message.get_mut("error").map(Value::take) {
        return Err(CallError::Rpc {
            code: error.get("code").and_then(Value::as_i64).unwrap_or_default(),
            message: error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            data: error.get("data").cloned(),
        });
    }
    message
        .get_mut("result")
        .map(Value::take)
        .ok_or_else(|| CallError::Protocol("an answer without result or error".into()))
}

async fn collect(body: Body) -> Result<bytes::Bytes, CallError> {
    mcp_reconnect_core::body::collect_bytes(body, MAX_ANSWER_BYTES)
        .await
        .map_err(|error| {
            if error.is::<http_body_util::LengthLimitError>() {
                CallError::Protocol(format!("the answer is over {MAX_ANSWER_BYTES} bytes"))
            } else {
                CallError::Interrupted(format!("reading the answer failed: {error}"))
            }
        })
}

async fn read_event_stream(mut body: Body, id: u64) -> Result<Value, CallError> {
    let mut decoder = SseDecoder::new(MAX_ANSWER_BYTES);
    let mut read = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| CallError::Interrupted(format!("the stream broke: {error}")))?;
        let Ok(data) = frame.into_data() else { continue };
        read = read.saturating_add(data.len());
        if read > MAX_ANSWER_BYTES {
            return Err(CallError::Protocol(format!(
                "the answer is over {MAX_ANSWER_BYTES} bytes"
            )));
        }
        let mut found = None;
        decoder.push(&data, &mut |event| {
            if found.is_none() && !event.data.trim().is_empty() {
                found = serde_json::from_str::<Value>(&event.data)
                    .ok()
                    .and_then(|value| find_answer(value, id));
            }
        });
        if let Some(message) = found {
            return Ok(message);
        }
    }
    Err(CallError::Interrupted(
        "the stream ended without an answer".into(),
    ))
}

/// The message (or batch member) answering `id`.
fn find_answer(value: Value, id: u64) -> Option<Value> {
    let is_answer = |message: &Value| {
        message.get("id").and_then(Value::as_u64) == Some(id)
            && (message.get("result").is_some() || message.get("error").is_some())
    };
    match value {
        Value::Array(batch) => batch.into_iter().find(is_answer),
        message => is_answer(&message).then_some(message),
    }
}

fn upstream_error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> CallError {
    let retry_after = headers
        .get(http::header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let error = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|mut value| value.get_mut("error").map(Value::take));
    let message = error
        .as_ref()
        .and_then(|error| error.get("message")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("upstream error").to_owned());
    CallError::Upstream {
        status,
        retry_after,
        message,
        data: error.and_then(|mut error| error.get_mut("data").map(Value::take)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, content_type: &str, body: &'static str) -> Response<Body> {
        Response::builder()
            .status(status)
            .header(http::header::CONTENT_TYPE, content_type)
            .header(http::header::RETRY_AFTER, "2")
            .body(Body::from(body))
            .unwrap()
    }

    #[tokio::test]
    async fn finds_the_answer_in_an_sse_stream_after_priming_and_notifications() {
        let body = "data: \nid: 0\n\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n\
                    data: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"content\":[]}}\n\n";
        let result = read_answer(response(200, "text/event-stream", body), 3)
            .await
            .unwrap();
        assert_eq!(result, serde_json::json!({"content": []}));
    }

    #[tokio::test]
    async fn json_rpc_errors_and_failed_statuses_are_errors() {
        let rpc = r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"bad params"}}"#;
        let error = read_answer(response(200, "application/json", rpc), 1)
            .await
            .unwrap_err();
        assert!(matches!(error, CallError::Rpc { code: -32602, .. }));
        let open = r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32050,"message":"down","data":{"class":"unavailable"}}}"#;
        let error = read_answer(response(503, "application/json", open), 1)
            .await
            .unwrap_err();
        let CallError::Upstream {
            status,
            retry_after,
            message,
            data,
        } = error
        else {
            panic!("{error:?}")
        };
        assert_eq!(
            (status.as_u16(), retry_after, message.as_str()),
            (503, Some(Duration::from_secs(2)), "down")
        );
        assert_eq!(data.unwrap()["class"], "unavailable");
    }
}
