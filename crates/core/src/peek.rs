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

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

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

// === deserialisation ===
//
// Hand-written visitors, so that a member of an unexpected type makes the
// message `Invalid` (or the field absent) instead of failing the whole peek,
// and so that arguments, results and unknown members are skipped with
// `IgnoredAny` (validated, never allocated).

/// What the top level of a body is, before the checks of [`peek_with_limit`].
enum TopLevel {
    Single(MessagePeek),
    Batch(Vec<MessagePeek>),
    BatchTooLarge,
    NotJsonRpc,
}

impl<'de> Deserialize<'de> for TopLevel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TopLevelVisitor;
        impl<'de> Visitor<'de> for TopLevelVisitor {
            type Value = TopLevel;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON-RPC message or batch")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<TopLevel, A::Error> {
                visit_message(map).map(TopLevel::Single)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TopLevel, A::Error> {
                let mut messages = Vec::new();
                while let Some(message) = seq.next_element::<MessagePeek>()? {
                    if messages.len() == MAX_BATCH_LEN {
                        while seq.next_element::<IgnoredAny>()?.is_some() {}
                        return Ok(TopLevel::BatchTooLarge);
                    }
                    messages.push(message);
                }
                Ok(TopLevel::Batch(messages))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<TopLevel, E> {
                Ok(TopLevel::NotJsonRpc)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<TopLevel, E> {
                Ok(TopLevel::NotJsonRpc)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<TopLevel, E> {
                Ok(TopLevel::NotJsonRpc)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<TopLevel, E> {
                Ok(TopLevel::NotJsonRpc)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<TopLevel, E> {
                Ok(TopLevel::NotJsonRpc)
            }
            fn visit_unit<E: de::Error>(self) -> Result<TopLevel, E> {
                Ok(TopLevel::NotJsonRpc)
            }
        }
        deserializer.deserialize_any(TopLevelVisitor)
    }
}

impl<'de> Deserialize<'de> for MessagePeek {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MessageVisitor;
        impl<'de> Visitor<'de> for MessageVisitor {
            type Value = MessagePeek;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON-RPC message")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<MessagePeek, A::Error> {
                visit_message(map)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<MessagePeek, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(MessagePeek::invalid())
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<MessagePeek, E> {
                Ok(MessagePeek::invalid())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<MessagePeek, E> {
                Ok(MessagePeek::invalid())
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<MessagePeek, E> {
                Ok(MessagePeek::invalid())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<MessagePeek, E> {
                Ok(MessagePeek::invalid())
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<MessagePeek, E> {
                Ok(MessagePeek::invalid())
            }
            fn visit_unit<E: de::Error>(self) -> Result<MessagePeek, E> {
                Ok(MessagePeek::invalid())
            }
        }
        deserializer.deserialize_any(MessageVisitor)
    }
}

impl MessagePeek {
    fn invalid() -> Self {
        MessagePeek {
            kind: MessageKind::Invalid,
            method: None,
            id: None,
            params_name: None,
            error: None,
            is_error_result: false,
        }
    }
}

fn visit_message<'de, A: MapAccess<'de>>(mut map: A) -> Result<MessagePeek, A::Error> {
    let mut version_ok = false;
    let mut method = None;
    let mut method_invalid = false;
    let mut id = None;
    let mut id_invalid = false;
    let mut params_name = None;
    let mut has_result = false;
    let mut is_error_result = false;
    let mut error = None;
    while let Some(key) = map.next_key::<Key>()? {
        match key {
            Key::Jsonrpc => version_ok = map.next_value::<Scalar<'_>>()?.is_str("2.0"),
            Key::Method => match map.next_value::<Scalar<'_>>()? {
                Scalar::Str(name) => method = Some(known_method(name)),
                _ => method_invalid = true,
            },
            Key::Id => match map.next_value::<Scalar<'_>>()?.into_id() {
                Some(value) => id = Some(value),
                None => id_invalid = true,
            },
            Key::Params => params_name = map.next_value::<Members<ParamsMembers>>()?.0.name,
            Key::Result => {
                has_result = true;
                is_error_result = map.next_value::<Members<ResultMembers>>()?.0.is_error;
            }
            Key::Error => error = Some(map.next_value::<Members<ErrorPeek>>()?.0),
            Key::Other => {
                map.next_value::<IgnoredAny>()?;
            }
        }
    }
    let kind = if !version_ok || method_invalid || id_invalid {
        MessageKind::Invalid
    } else if method.is_some() {
        if id.is_some() {
            MessageKind::Request
        } else {
            MessageKind::Notification
        }
    } else if has_result != error.is_some() {
        MessageKind::Response
    } else {
        MessageKind::Invalid
    };
    Ok(MessagePeek {
        kind,
        method,
        id,
        params_name,
        error,
        is_error_result,
    })
}

/// The methods most calls carry, kept as `&'static str` so that peeking
/// them allocates nothing.
const KNOWN_METHODS: [&str; 10] = [
    TOOLS_CALL,
    "tools/list",
    "initialize",
    "notifications/initialized",
    "ping",
    "resources/read",
    "resources/list",
    "prompts/get",
    "prompts/list",
    "notifications/cancelled",
];

fn known_method(name: Cow<'_, str>) -> Cow<'static, str> {
    match KNOWN_METHODS.iter().find(|known| **known == name) {
        Some(known) => Cow::Borrowed(known),
        None => Cow::Owned(name.into_owned()),
    }
}

/// The top-level member names we read; everything else is `Other`.
enum Key {
    Jsonrpc,
    Method,
    Id,
    Params,
    Result,
    Error,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
                Ok(match key {
                    "jsonrpc" => Key::Jsonrpc,
                    "method" => Key::Method,
                    "id" => Key::Id,
                    "params" => Key::Params,
                    "result" => Key::Result,
                    "error" => Key::Error,
                    _ => Key::Other,
                })
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

/// Any JSON value, keeping only scalars; objects and arrays are skipped.
/// A string borrows from the body when it has no escapes, so a value that is
/// only compared (`"jsonrpc": "2.0"`) costs no allocation.
enum Scalar<'de> {
    Str(Cow<'de, str>),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
    Null,
    Compound,
}

impl Scalar<'_> {
    fn into_string(self) -> Option<String> {
        match self {
            Scalar::Str(string) => Some(string.into_owned()),
            _ => None,
        }
    }

    fn is_str(&self, wanted: &str) -> bool {
        matches!(self, Scalar::Str(string) if string == wanted)
    }

    fn into_i64(self) -> Option<i64> {
        match self {
            Scalar::I64(n) => Some(n),
            Scalar::U64(n) => i64::try_from(n).ok(),
            _ => None,
        }
    }

    fn into_id(self) -> Option<JsonRpcId> {
        match self {
            Scalar::Str(string) => Some(JsonRpcId::String(string.into_owned())),
            Scalar::I64(n) => Some(JsonRpcId::Number(n.into())),
            Scalar::U64(n) => Some(JsonRpcId::Number(n.into())),
            Scalar::F64(n) => serde_json::Number::from_f64(n).map(JsonRpcId::Number),
            Scalar::Null => Some(JsonRpcId::Null),
            Scalar::Bool(_) | Scalar::Compound => None,
        }
    }
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl<'de> Visitor<'de> for ScalarVisitor {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Str(Cow::Owned(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::I64(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::U64(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::F64(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Null)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar<'de>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Compound)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar<'de>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Compound)
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

/// An object member's name, borrowed from the body unless it has escapes
/// (serde's own `Cow<str>` always allocates).
struct MemberName<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for MemberName<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl<'de> Visitor<'de> for NameVisitor {
            type Value = MemberName<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<MemberName<'de>, E> {
                Ok(MemberName(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MemberName<'de>, E> {
                Ok(MemberName(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<MemberName<'de>, E> {
                Ok(MemberName(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

/// Reads chosen members of an object into `T`; any other JSON value gives `T::default()`.
struct Members<T>(T);

/// How one object's members are picked: `take` reads the value of `key` or skips it.
trait PickMembers: Default {
    fn take<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error>;
}

#[derive(Default)]
struct ParamsMembers {
    name: Option<String>,
}

impl PickMembers for ParamsMembers {
    fn take<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "name" => self.name = map.next_value::<Scalar<'_>>()?.into_string(),
            _ => {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

#[derive(Default)]
struct ResultMembers {
    is_error: bool,
}

impl PickMembers for ResultMembers {
    fn take<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "isError" => self.is_error = matches!(map.next_value::<Scalar<'_>>()?, Scalar::Bool(true)),
            _ => {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

impl PickMembers for ErrorPeek {
    fn take<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "code" => self.code = map.next_value::<Scalar<'_>>()?.into_i64(),
            "message" => self.message = map.next_value::<Scalar<'_>>()?.into_string(),
            _ => {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

impl<'de, T: PickMembers> Deserialize<'de> for Members<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: PickMembers> Visitor<'de> for MembersVisitor<T> {
            type Value = Members<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<T>, A::Error> {
                let mut members = T::default();
                while let Some(MemberName(key)) = map.next_key::<MemberName<'de>>()? {
                    members.take(&key, &mut map)?;
                }
                Ok(Members(members))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Members<T>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Members(T::default()))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Members<T>, E> {
                Ok(Members(T::default()))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Members<T>, E> {
                Ok(Members(T::default()))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Members<T>, E> {
                Ok(Members(T::default()))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Members<T>, E> {
                Ok(Members(T::default()))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Members<T>, E> {
                Ok(Members(T::default()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Members<T>, E> {
                Ok(Members(T::default()))
            }
        }
        deserializer.deserialize_any(MembersVisitor(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests;
