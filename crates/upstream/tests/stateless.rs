//! A 2026-07-28-era client (Discover lifecycle: no initialize, no session)
//! through the same stack: nothing to map, everything passes.

mod common;

use common::{call, call_text, stateless_client, upstream_and_gateway, within};
use mcp_reconnect_upstream::SessionConfig;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stateless_client_passes_straight_through() {
    let (mut server, gateway) = upstream_and_gateway(SessionConfig::default()).await;
    let client = stateless_client(&gateway.url).await;
    assert_eq!(call_text(&client, "echo", json!({"text": "hi"})).await, "hi");
    assert_eq!(call_text(&client, "increment", json!({"key": "k"})).await, "1");
    let failed = call(&client, "fail_business", json!({})).await.unwrap();
    assert_eq!(failed.is_error, Some(true));
    assert!(gateway.store.is_empty(), "no session to keep");
    assert_eq!(gateway.initializes(), 0);
    assert_eq!(gateway.client_session_count(), 0);
    assert_eq!(server.session_count().await, 0);

    // A restart means nothing to a stateless client either.
    within(server.restart()).await.unwrap();
    assert_eq!(call_text(&client, "increment", json!({"key": "k"})).await, "2");
    assert!(gateway.store.is_empty());
    within(client.cancel()).await.unwrap();
}
