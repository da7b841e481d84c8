//! The one place that turns a failure into an HTTP answer for an MCP client:
//! a status, `Retry-After`, and a JSON-RPC error body carrying the request's id.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use serde::Serialize;

use crate::class::{Failure, FailureClass};
use crate::peek::JsonRpcId;

mod layer;

pub use layer::{Respond, RespondBody, RespondLayer, ResponseFuture};

/// JSON-RPC error codes used by the layers.
pub mod codes {
    /// Invalid JSON was received.
    pub const PARSE_ERROR: i64 = -32700;
    /// The JSON is not a valid request object.
    pub const INVALID_REQUEST: i64 = -32600;
    /// The method does not exist.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Internal JSON-RPC error.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// The upstream MCP server cannot be reached now (circuit open, reconnect failed).
    pub const UPSTREAM_UNAVAILABLE: i64 = -32050;
    /// The call failed after it may have reached the server, and repeating it
    /// was not safe: the tool may have run.
    pub const MAYBE_EXECUTED: i64 = -32051;
    /// The request body is larger than the gateway accepts.
    pub const REQUEST_TOO_LARGE: i64 = -32052;
    /// Too many new sessions at once: the `initialize` was not forwarded.
    pub const TOO_MANY_SESSIONS: i64 = -32053;
}

/// The HTTP status that tells a client about a failure of this class.
///
/// `Unavailable` → 503, `Gateway`/`Connection` → 502, `Timeout` → 504,
/// `SessionLost` → 404 (the spec's "start a new session"), `Business` → 500.
pub fn status_for(failure: &Failure) -> StatusCode {
    match failure.class() {
        FailureClass::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        FailureClass::Gateway | FailureClass::Connection => StatusCode::BAD_GATEWAY,
        FailureClass::Timeout => StatusCode::GATEWAY_TIMEOUT,
        FailureClass::SessionLost => StatusCode::NOT_FOUND,
        FailureClass::Business => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A JSON-RPC error answer: `{"jsonrpc":"2.0","id":…,"error":{"code","message","data"}}`.
///
/// ```
/// use std::time::Duration;
/// use http::StatusCode;
/// use mcp_reconnect_core::respond::{JsonRpcError, codes};
///
/// let response = JsonRpcError::new(codes::UPSTREAM_UNAVAILABLE, "upstream unavailable")
///     .with_status(StatusCode::SERVICE_UNAVAILABLE)
///     .with_retry_after(Some(Duration::from_secs(2)))
///     .into_response();
/// assert_eq!(response.status(), 503);
/// assert_eq!(response.headers()["retry-after"], "2");
/// ```
#[derive(Clone, Debug)]
pub struct JsonRpcError {
    status: StatusCode,
    id: Option<JsonRpcId>,
    code: i64,
    message: String,
    data: Option<serde_json::Value>,
    retry_after: Option<Duration>,
}

impl JsonRpcError {
    /// An error with `code` and `message`, answered with `500` until told otherwise.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        JsonRpcError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            id: None,
            code,
            message: message.into(),
            data: None,
            retry_after: None,
        }
    }

    /// The error for a failure: [`status_for`] it, its `Retry-After`, and
    /// `data: {"class", "reached"}` so clients can act on it.
    pub fn for_failure(code: i64, message: impl Into<String>, failure: &Failure) -> Self {
        JsonRpcError::new(code, message)
            .with_status(status_for(failure))
            .with_retry_after(failure.retry_after())
            .with_data(serde_json::json!({
                "class": failure.class().as_str(),
                "reached": failure.reached().as_str(),
            }))
    }

    crate::setters! {
        /// Answers with `status`.
        pub fn with_status(status: StatusCode);

        /// Echoes the request's id (`null` when unknown).
        pub fn with_id(id: Option<JsonRpcId>);
    }

    /// Adds machine-readable `error.data`.
    pub fn with_data(mut self, data: serde_json::Value) -> Self {
        self.data = Some(data);
        self
    }

    crate::setters! {
        /// Adds a `Retry-After` header (whole seconds, rounded up).
        pub fn with_retry_after(retry_after: Option<Duration>);
    }

    /// The JSON body.
    pub fn body(&self) -> Bytes {
        #[derive(Serialize)]
        struct Body<'a> {
            jsonrpc: &'static str,
            id: &'a JsonRpcId,
            error: Error<'a>,
        }
        #[derive(Serialize)]
        struct Error<'a> {
            code: i64,
            message: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            data: Option<&'a serde_json::Value>,
        }
        let body = Body {
            jsonrpc: "2.0",
            id: self.id.as_ref().unwrap_or(&JsonRpcId::Null),
            error: Error {
                code: self.code,
                message: &self.message,
                data: self.data.as_ref(),
            },
        };
        // Serialising these plain structs cannot fail; fall back to a fixed body anyway.
        serde_json::to_vec(&body).map(Bytes::from).unwrap_or_else(|_| {
            Bytes::from_static(
                br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"internal error"}}"#,
            )
        })
    }

    /// The HTTP response, body as `Bytes` (map it into your body type).
    pub fn into_response(self) -> Response<Bytes> {
        let mut response = Response::new(self.body());
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(after) = self.retry_after {
            headers.insert(
                http::header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs(after)),
            );
        }
        response
    }
}

/// `Retry-After` in whole seconds, rounded up: a client told to wait 0.2 s
/// waits 1 s, not 0.
pub fn retry_after_secs(after: std::time::Duration) -> u64 {
    after.as_secs() + u64::from(after.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::class::Reached;

    #[test]
    fn body_echoes_the_id_and_carries_the_class() {
        let failure = Failure::new(FailureClass::Gateway, Reached::Unknown);
        let response = JsonRpcError::for_failure(codes::MAYBE_EXECUTED, "tool may have run", &failure)
            .with_id(Some(JsonRpcId::Number(7.into())))
            .into_response();
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["id"], 7);
        assert_eq!(body["error"]["code"], codes::MAYBE_EXECUTED);
        assert_eq!(body["error"]["data"]["class"], "gateway");
        assert_eq!(body["error"]["data"]["reached"], "unknown");
    }

    #[test]
    fn retry_after_rounds_up_and_a_missing_id_is_null() {
        let response = JsonRpcError::new(codes::UPSTREAM_UNAVAILABLE, "down")
            .with_retry_after(Some(Duration::from_millis(1500)))
            .into_response();
        assert_eq!(response.headers()[http::header::RETRY_AFTER], "2");
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert!(body["id"].is_null());
    }
}
