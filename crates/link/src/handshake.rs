//! The gateway's own MCP handshake with a server it links to.

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::error::HandshakeError;
use crate::link::Link;

/// The protocol version the gateway initializes a linked server with (the
/// one most servers speak today; a client of the gateway may ask for another).
pub const LINK_PROTOCOL_VERSION: &str = "2025-06-18";

/// Sends `initialize` and `notifications/initialized` over `link`, and
/// returns the server's `initialize` result. `server` names it in errors.
pub(crate) async fn initialize(
    link: &Link,
    server: &str,
    timeout: Duration,
) -> Result<Map<String, Value>, HandshakeError> {
    let failed = |why: String| HandshakeError {
        server: server.to_owned(),
        why,
    };
    let mut initialize = Map::new();
    initialize.insert("jsonrpc".to_owned(), Value::from("2.0"));
    initialize.insert("id".to_owned(), Value::from(0));
    initialize.insert("method".to_owned(), Value::from("initialize"));
    initialize.insert(
        "params".to_owned(),
        json!({
            "protocolVersion": LINK_PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "mcp-gateway", "version": env!("CARGO_PKG_VERSION")},
        }),
    );
    let reply = match tokio::time::timeout(timeout, link.call(initialize)).await {
        Ok(Ok(reply)) => reply,
        Ok(Err(dead)) => return Err(failed(dead.to_string())),
        Err(_) => return Err(failed(format!("no answer within {timeout:?}"))),
    };
    let result = match reply.get("result") {
        Some(Value::Object(result)) if result.get("protocolVersion").is_some_and(Value::is_string) => {
            result.clone()
        }
        _ => {
            let error = reply
                .get("error")
                .map_or_else(|| reply.to_string(), Value::to_string);
            return Err(failed(format!("its answer is not an initialize result: {error}")));
        }
    };
    link.notify(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .await
        .map_err(|dead| failed(dead.to_string()))?;
    tracing::debug!(server = %link.name, session = %link.session, "linked server initialized");
    Ok(result)
}
