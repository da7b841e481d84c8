//! The stored form of a session: [`SessionRecord`] to and from the JSON
//! string Redis keeps, and the millisecond counts Redis and the record use.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::HeaderValue;
use serde_json::{Value, json};

use crate::id::SessionId;
use crate::store::SessionRecord;

/// The version of the stored JSON record.
const RECORD_VERSION: u64 = 1;

/// `duration` in whole milliseconds, at least 1 (Redis rejects a zero `PX`).
pub(super) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX).max(1)
}

pub(super) fn epoch_millis(time: SystemTime) -> u64 {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// The stored JSON of `record`; `None` if its `initialize` body is not UTF-8
/// (it was peeked as JSON, so it always is).
pub(super) fn encode(record: &SessionRecord, idle_ttl: Duration) -> Option<String> {
    let initialize = std::str::from_utf8(record.initialize()).ok()?;
    let value = json!({
        "v": RECORD_VERSION,
        "generation": record.generation(),
        "initialize": initialize,
        "upstream": record.upstream().as_str(),
        "protocol_version": record.protocol_version().and_then(|version| version.to_str().ok()),
        "created_ms": epoch_millis(record.created_at()),
        "reinitialized_ms": record.reinitialized_at().map(epoch_millis),
        "idle_ttl_ms": millis(idle_ttl),
    });
    Some(value.to_string())
}

/// A record and its idle TTL from the stored JSON.
pub(super) fn decode(bytes: &[u8]) -> Result<(SessionRecord, Duration), String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|error| error.to_string())?;
    let field = |name: &str| value.get(name).filter(|field| !field.is_null());
    let number = |name: &str| field(name).and_then(Value::as_u64);
    let text = |name: &str| field(name).and_then(Value::as_str);
    if number("v") != Some(RECORD_VERSION) {
        return Err("unknown record version".into());
    }
    let generation = number("generation").ok_or("no generation")?;
    let initialize = text("initialize").ok_or("no initialize")?;
    let upstream = text("upstream")
        .and_then(|upstream| HeaderValue::from_str(upstream).ok())
        .and_then(|upstream| SessionId::parse_upstream(&upstream).ok())
        .ok_or("no valid upstream session id")?;
    let version = text("protocol_version").and_then(|version| HeaderValue::from_str(version).ok());
    let time = |ms: u64| UNIX_EPOCH + Duration::from_millis(ms);
    let created = number("created_ms").map_or(UNIX_EPOCH, time);
    let reinitialized = number("reinitialized_ms").map(time);
    let idle_ttl = Duration::from_millis(number("idle_ttl_ms").ok_or("no idle TTL")?);
    let record = SessionRecord::new(Bytes::copy_from_slice(initialize.as_bytes()), upstream)
        .with_protocol_version(version)
        .with_history(generation, created, reinitialized);
    Ok((record, idle_ttl))
}
