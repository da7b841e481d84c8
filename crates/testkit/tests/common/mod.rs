//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use mcp_reconnect_core::{BoxError, FailureClass, classify_error};

/// A bound on anything that should finish: generous, never a timing assertion.
pub const GENEROUS: Duration = Duration::from_secs(30);

/// Awaits `future`, failing the test if it takes more than [`GENEROUS`].
pub async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(GENEROUS, future).await.expect("timed out")
}

/// The failure class core gives a client error.
pub fn class_of(error: &BoxError) -> FailureClass {
    classify_error(error.as_ref()).class()
}

/// `{"text": text}`, as `echo` wants it.
pub fn text(text: &str) -> serde_json::Value {
    serde_json::json!({ "text": text })
}

/// `{"key": key}`, as `increment` wants it.
pub fn key(key: &str) -> serde_json::Value {
    serde_json::json!({ "key": key })
}
