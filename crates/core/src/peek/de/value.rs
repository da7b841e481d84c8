//! Readers for member values: scalars, member names, and the few members
//! picked from `params`, `result` and `error`, each borrowing from the body
//! where it can and turning a value of the wrong type into "absent".

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::super::{ErrorPeek, JsonRpcId};
use super::skip_seq;

/// Any JSON value, keeping only scalars; objects and arrays are skipped.
/// A string borrows from the body when it has no escapes, so a value that is
/// only compared (`"jsonrpc": "2.0"`) costs no allocation.
pub(super) enum Scalar<'de> {
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

    pub(super) fn is_str(&self, wanted: &str) -> bool {
        matches!(self, Scalar::Str(string) if string == wanted)
    }

    fn into_i64(self) -> Option<i64> {
        match self {
            Scalar::I64(n) => Some(n),
            Scalar::U64(n) => i64::try_from(n).ok(),
            _ => None,
        }
    }

    pub(super) fn into_id(self) -> Option<JsonRpcId> {
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
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Scalar<'de>, A::Error> {
                skip_seq(seq)?;
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
        // A JSON member name is a string, read as one: borrowed when it can be.
        match Scalar::deserialize(deserializer)? {
            Scalar::Str(name) => Ok(MemberName(name)),
            _ => Err(de::Error::custom("a member name that is not a string")),
        }
    }
}

/// Reads chosen members of an object into `T`; any other JSON value gives `T::default()`.
pub(super) struct Members<T>(pub(super) T);

/// How one object's members are picked: `take` reads the value of `key` or skips it.
trait PickMembers: Default {
    fn take<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error>;
}

#[derive(Default)]
pub(super) struct ParamsMembers {
    pub(super) name: Option<String>,
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
pub(super) struct ResultMembers {
    pub(super) is_error: bool,
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
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Members<T>, A::Error> {
                skip_seq(seq)?;
                Ok(Members(T::default()))
            }
            scalars_give!(Members(T::default()));
        }
        deserializer.deserialize_any(MembersVisitor(std::marker::PhantomData))
    }
}
