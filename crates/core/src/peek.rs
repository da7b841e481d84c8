//! A JSON-RPC peek: the few facts the layers need from a message body
//! (method, id, tool name, kind, error code), read in one pass without
//! deserialising tool arguments or results, and never panicking on any input.
//!
//! ```
//! use mcp_reconnect_core::peek::{peek, MessageKind};
//!
//! let body = br#"{"jsonrpc":"2.0","id":7,"method":"tools/call",
//!                 "params":{"name":"echo","arguments":{"text":"hi"}}}"#;
//! let peek = peek(body).unwrap();
//! let message = peek.single().unwrap();
//! assert_eq!(message.kind(), MessageKind::Request);
//! assert_eq!(message.method(), Some("tools/call"));
//! assert_eq!(message.tool_name(), Some("echo"));
//! assert_eq!(message.id().map(ToString::to_string).as_deref(), Some("7"));
//! ```

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;

use de::TopLevel;

mod de;

/// The largest body [`peek`] reads: 4 MiB.
pub const DEFAULT_PEEK_LIMIT: usize = crate::body::DEFAULT_MESSAGE_LIMIT;

/// The most messages a batch may hold before [`peek`] refuses it, which bounds
/// the memory a peek of a body made of tiny messages takes.
pub const MAX_BATCH_LEN: usize = 1024;

/// The `tools/call` method, whose `params.name` is a tool name.
pub const TOOLS_CALL: &str = "tools/call";

/// Peeks at a JSON-RPC message or batch of at most [`DEFAULT_PEEK_LIMIT`] bytes.
pub fn peek(body: &[u8]) -> Result<Peek, PeekError> {
    peek_with_limit(body, DEFAULT_PEEK_LIMIT)
}

/// Peeks at a JSON-RPC message or batch of at most `limit` bytes.
pub fn peek_with_limit(body: &[u8], limit: usize) -> Result<Peek, PeekError> {
    if body.len() > limit {
        return Err(PeekError::TooLarge {
            len: body.len(),
            limit,
        });
    }
    match serde_json::from_slice(body).map_err(PeekError::Json)? {
        TopLevel::Single(message) => Ok(Peek::Single(message)),
        TopLevel::Batch(messages) if messages.is_empty() => Err(PeekError::EmptyBatch),
        TopLevel::Batch(messages) => Ok(Peek::Batch(messages)),
        TopLevel::BatchTooLarge => Err(PeekError::BatchTooLarge),
        TopLevel::NotJsonRpc => Err(PeekError::NotJsonRpc),
    }
}

/// The peek a layer left in a request's extensions (as `Arc<Peek>`), so the
/// body is parsed once for the whole stack.
///
/// ```
/// use std::sync::Arc;
/// use mcp_reconnect_core::peek::{Peek, peek, of_request};
///
/// let mut request = http::Request::new(());
/// let found = peek(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).unwrap();
/// request.extensions_mut().insert(Arc::new(found));
/// assert_eq!(of_request(&request).and_then(Peek::single).and_then(|m| m.method()), Some("ping"));
/// ```
pub fn of_request<B>(request: &http::Request<B>) -> Option<&Peek> {
    request
        .extensions()
        .get::<std::sync::Arc<Peek>>()
        .map(|peek| &**peek)
}

/// One JSON-RPC message, or a batch of them.
#[derive(Clone, Debug, PartialEq)]
pub enum Peek {
    /// A single message.
    Single(MessagePeek),
    /// A JSON array of messages (JSON-RPC batch, 2025-03-26 only).
    Batch(Vec<MessagePeek>),
}

impl Peek {
    /// Every message: one for a single message, all of a batch.
    pub fn messages(&self) -> &[MessagePeek] {
        match self {
            Peek::Single(message) => std::slice::from_ref(message),
            Peek::Batch(messages) => messages,
        }
    }

    /// The message, when this is not a batch.
    pub fn single(&self) -> Option<&MessagePeek> {
        match self {
            Peek::Single(message) => Some(message),
            Peek::Batch(_) => None,
        }
    }

    /// Whether this is a batch.
    pub fn is_batch(&self) -> bool {
        matches!(self, Peek::Batch(_))
    }
}

/// What a message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// Has a `method` and an `id`: expects a response.
    Request,
    /// Has a `method` and no `id`: expects nothing.
    Notification,
    /// Has a `result` or an `error`.
    Response,
    /// None of the above (or `jsonrpc` is not `"2.0"`).
    Invalid,
}

/// A JSON-RPC id: a number, a string, or `null` (only in error responses).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum JsonRpcId {
    /// A numeric id.
    Number(serde_json::Number),
    /// A string id.
    String(String),
    /// `null`.
    Null,
}

impl fmt::Display for JsonRpcId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonRpcId::Number(number) => number.fmt(f),
            JsonRpcId::String(string) => write!(f, "{string:?}"),
            JsonRpcId::Null => f.write_str("null"),
        }
    }
}

/// The facts peeked from one JSON-RPC message.
#[derive(Clone, Debug, PartialEq)]
pub struct MessagePeek {
    kind: MessageKind,
    method: Option<Cow<'static, str>>,
    id: Option<JsonRpcId>,
    params_name: Option<String>,
    error: Option<ErrorPeek>,
    is_error_result: bool,
}

impl MessagePeek {
    /// What the message is.
    pub fn kind(&self) -> MessageKind {
        self.kind
    }

    /// The JSON-RPC method of a request or notification.
    pub fn method(&self) -> Option<&str> {
        self.method.as_deref()
    }

    /// The id of a request or response.
    pub fn id(&self) -> Option<&JsonRpcId> {
        self.id.as_ref()
    }

    /// The tool a `tools/call` request calls (its `params.name`).
    pub fn tool_name(&self) -> Option<&str> {
        if self.method() == Some(TOOLS_CALL) {
            self.params_name.as_deref()
        } else {
            None
        }
    }

    /// `params.name` whatever the method (a tool, prompt or resource template name).
    pub fn params_name(&self) -> Option<&str> {
        self.params_name.as_deref()
    }

    /// The `error` member of an error response.
    pub fn error(&self) -> Option<&ErrorPeek> {
        self.error.as_ref()
    }

    /// Whether this is a result with `"isError": true` (a failed tool call).
    pub fn is_error_result(&self) -> bool {
        self.is_error_result
    }
}

/// The `error` member of a JSON-RPC error response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorPeek {
    code: Option<i64>,
    message: Option<String>,
}

impl ErrorPeek {
    /// The error code (`-32601` method not found, …).
    pub fn code(&self) -> Option<i64> {
        self.code
    }

    /// The error message.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }
}

/// Why a body could not be peeked.
#[non_exhaustive]
#[derive(Debug)]
pub enum PeekError {
    /// The body is larger than the limit.
    TooLarge {
        /// The body's length in bytes.
        len: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The body is not JSON.
    Json(serde_json::Error),
    /// The body is JSON, but neither an object nor an array.
    NotJsonRpc,
    /// The body is an empty array.
    EmptyBatch,
    /// The batch has more than [`MAX_BATCH_LEN`] messages.
    BatchTooLarge,
}

impl PeekError {
    /// The JSON-RPC error code to answer with: `-32700` for bad JSON, `-32600` otherwise.
    pub fn jsonrpc_code(&self) -> i64 {
        match self {
            PeekError::Json(_) => crate::respond::codes::PARSE_ERROR,
            _ => crate::respond::codes::INVALID_REQUEST,
        }
    }
}

impl fmt::Display for PeekError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeekError::TooLarge { len, limit } => {
                write!(f, "body of {len} bytes is over the {limit} byte limit")
            }
            PeekError::Json(_) => f.write_str("body is not valid JSON"),
            PeekError::NotJsonRpc => f.write_str("body is not a JSON-RPC object or batch"),
            PeekError::EmptyBatch => f.write_str("batch is empty"),
            PeekError::BatchTooLarge => {
                write!(f, "batch has more than {MAX_BATCH_LEN} messages")
            }
        }
    }
}

impl std::error::Error for PeekError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PeekError::Json(error) => Some(error),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
