//! The peek's deserializer: hand-written visitors, so that a member of an
//! unexpected type makes the message `Invalid` (or the field absent) instead
//! of failing the whole peek, and so that arguments, results and unknown
//! members are skipped with `IgnoredAny` (validated, never allocated).

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{ErrorPeek, MAX_BATCH_LEN, MessageKind, MessagePeek, TOOLS_CALL};
use value::{Members, ParamsMembers, ResultMembers, Scalar};

/// The visitor arms for a JSON scalar (bool, number, string, `null`) where
/// such a value is the wrong type and only tells that: each arm gives
/// `$value`. Objects and arrays are left to the visitor.
macro_rules! scalars_give {
    ($value:expr) => {
        fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
}

// Declared after the macro, which it uses.
mod value;

/// Drains the rest of an array, validating it without keeping anything.
fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

/// What the top level of a body is, before the checks of
/// [`peek_with_limit`](super::peek_with_limit).
pub(super) enum TopLevel {
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
                        skip_seq(&mut seq)?;
                        return Ok(TopLevel::BatchTooLarge);
                    }
                    messages.push(message);
                }
                Ok(TopLevel::Batch(messages))
            }
            scalars_give!(TopLevel::NotJsonRpc);
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
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<MessagePeek, A::Error> {
                skip_seq(seq)?;
                Ok(MessagePeek::invalid())
            }
            scalars_give!(MessagePeek::invalid());
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
