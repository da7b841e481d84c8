//! Reading one JSON-RPC answer out of an HTTP response that is JSON or an
//! SSE stream, and what can go wrong with an exchange.

use std::fmt;
use std::time::Duration;

use axum::body::Body;
use http::{HeaderMap, Response, StatusCode};
use http_body_util::BodyExt;
use mcp_reconnect_core::headers;
use mcp_reconnect_core::sse::SseDecoder;
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use serde_json::value::RawValue;

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
    /// The answer is longer than the client reads ([`MAX_ANSWER_BYTES`]).
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
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
            CallError::TooLarge { limit } => write!(f, "the answer is over {limit} bytes"),
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
    parse_result(&read_result(response, id).await?)
}

/// A result's text as a [`Value`].
pub fn parse_result(result: &RawValue) -> Result<Value, CallError> {
    serde_json::from_str(result.get()).map_err(|_| CallError::Protocol("the result is not JSON".into()))
}

/// [`read_answer`], with the `result` left as its JSON text: a caller that
/// needs a few parts of it (the REST routes) reads them from the text
/// without building a [`Value`] tree of the whole answer first.
pub async fn read_result(response: Response<Body>, id: u64) -> Result<Box<RawValue>, CallError> {
    let (parts, body) = response.into_parts();
    if !parts.status.is_success() {
        let bytes = collect(body).await.unwrap_or_default();
        return Err(upstream_error(parts.status, &parts.headers, &bytes));
    }
    if headers::is_event_stream(&parts.headers) {
        return read_event_stream(body, id).await;
    }
    let bytes = collect(body).await?;
    match find_answer(&bytes, id) {
        Some(answer) => answer,
        None if serde_json::from_slice::<IgnoredAny>(&bytes).is_err() => {
            Err(CallError::Protocol("the body is not JSON".into()))
        }
        None => Err(CallError::Protocol("no answer to the request in the body".into())),
    }
}

/// A JSON object in `text` read into `T`, or `None` for any other text.
///
/// A derived `Deserialize` also reads a struct from an array, member by
/// member in order; a JSON-RPC or MCP object never comes as one.
pub(crate) fn from_object<'a, T: Deserialize<'a>>(text: &'a str) -> Option<T> {
    if text.trim_start().starts_with('{') {
        serde_json::from_str(text).ok()
    } else {
        None
    }
}

/// The members of a JSON-RPC message an answer is told by, borrowed from
/// its text.
#[derive(Deserialize)]
struct Message<'a> {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default, borrow, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    error: Option<&'a RawValue>,
}

/// A member that is there, even when it is `null` (`Option` alone reads
/// `null` as absent).
pub(crate) fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(deserializer).map(Some)
}

impl Message<'_> {
    fn answers(&self, id: u64) -> bool {
        self.id.as_ref().and_then(Value::as_u64) == Some(id)
            && (self.result.is_some() || self.error.is_some())
    }

    /// The `result`, or the JSON-RPC error (which wins when both are there).
    fn into_result(self) -> Result<Box<RawValue>, CallError> {
        if let Some(error) = self.error {
            let error: Value = serde_json::from_str(error.get()).unwrap_or_default();
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
        self.result
            .map(RawValue::to_owned)
            .ok_or_else(|| CallError::Protocol("an answer without result or error".into()))
    }
}

/// The outcome of the message (or batch member) in `text` that answers `id`;
/// `None` when there is none, or `text` is not JSON.
fn find_answer(text: &[u8], id: u64) -> Option<Result<Box<RawValue>, CallError>> {
    let starts_batch = text.iter().find(|byte| !byte.is_ascii_whitespace()) == Some(&b'[');
    let answer = if starts_batch {
        // Members that are not messages are skipped, not fatal.
        let batch: Vec<&RawValue> = serde_json::from_slice(text).ok()?;
        batch
            .into_iter()
            .filter_map(|member| from_object::<Message<'_>>(member.get()))
            .find(|message| message.answers(id))?
    } else {
        from_object::<Message<'_>>(std::str::from_utf8(text).ok()?).filter(|message| message.answers(id))?
    };
    Some(answer.into_result())
}

async fn collect(body: Body) -> Result<bytes::Bytes, CallError> {
    mcp_reconnect_core::body::collect_bytes(body, MAX_ANSWER_BYTES)
        .await
        .map_err(|error| {
            if mcp_reconnect_core::body::is_over_limit(&error) {
                CallError::TooLarge {
                    limit: MAX_ANSWER_BYTES,
                }
            } else {
                CallError::Interrupted(format!("reading the answer failed: {error}"))
            }
        })
}

async fn read_event_stream(mut body: Body, id: u64) -> Result<Box<RawValue>, CallError> {
    let mut decoder = SseDecoder::new(MAX_ANSWER_BYTES);
    let mut read = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| CallError::Interrupted(format!("the stream broke: {error}")))?;
        let Ok(data) = frame.into_data() else { continue };
        read = read.saturating_add(data.len());
        if read > MAX_ANSWER_BYTES {
            return Err(CallError::TooLarge {
                limit: MAX_ANSWER_BYTES,
            });
        }
        let mut found = None;
        decoder.push(&data, &mut |event| {
            if found.is_none() {
                found = find_answer(event.data.as_bytes(), id);
            }
        });
        if let Some(answer) = found {
            return answer;
        }
    }
    Err(CallError::Interrupted(
        "the stream ended without an answer".into(),
    ))
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
    async fn the_answer_is_found_by_its_id_in_a_message_or_a_batch() {
        let json = |body| read_answer(response(200, "application/json", body), 2);
        let one = r#"{"jsonrpc":"2.0","id":2,"result":{"n":1}}"#;
        assert_eq!(json(one).await.unwrap(), serde_json::json!({"n": 1}));
        // `null` is a result; other members and other batch members are skipped.
        let null = r#"{"id":2,"result":null,"extra":[1,{"x":2}]}"#;
        assert_eq!(json(null).await.unwrap(), Value::Null);
        let batch =
            r#"[5, "x", [2, 1], {"id":"2","result":1}, {"id":1,"result":1}, {"id":2,"result":"mine"}]"#;
        assert_eq!(json(batch).await.unwrap(), serde_json::json!("mine"));
        // An error wins over a result beside it.
        let both = r#"{"id":2,"result":1,"error":{"code":-1,"message":"no"}}"#;
        assert!(matches!(json(both).await, Err(CallError::Rpc { code: -1, .. })));
        // An error that is not an object is still an error.
        let odd = r#"{"id":2,"error":"bad"}"#;
        assert!(matches!(json(odd).await, Err(CallError::Rpc { code: 0, .. })));
        for (body, why) in [
            ("{\"id\":2", "invalid answer: the body is not JSON"),
            ("", "invalid answer: the body is not JSON"),
            ("[1, 2]", "invalid answer: no answer to the request in the body"),
            ("[[2, 1]]", "invalid answer: no answer to the request in the body"),
            (
                r#"{"id":3,"result":1}"#,
                "invalid answer: no answer to the request in the body",
            ),
            (
                r#"{"id":2}"#,
                "invalid answer: no answer to the request in the body",
            ),
        ] {
            assert_eq!(json(body).await.unwrap_err().to_string(), why, "{body}");
        }
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
