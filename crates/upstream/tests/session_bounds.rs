//! The bounds on upstream sessions, against a real rmcp server: a session the
//! store evicts or expires is ended upstream too (most clients never send
//! `DELETE`), and new sessions are opened at a bounded rate.

mod common;

use std::time::Duration;

use common::{Gateway, upstream_and_gateway, within};
use http::StatusCode;
use mcp_reconnect_testkit::{McpServer, RawClient};
use mcp_reconnect_upstream::SessionConfig;
use serde_json::json;

/// Waits (bounded) until the server holds at most `most` sessions; their count.
async fn settles_at_most(server: &McpServer, most: usize) -> usize {
    for _ in 0..500 {
        let count = server.session_count().await;
        if count <= most {
            return count;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.session_count().await
}

/// Waits (bounded) until `ended` upstream `DELETE`s were answered; the count.
async fn ended(gateway: &Gateway, ended: u64) -> u64 {
    for _ in 0..500 {
        if gateway.sessions.stats().ended_upstream >= ended {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    gateway.sessions.stats().ended_upstream
}

async fn open(url: &str) -> RawClient {
    let mut client = RawClient::new(url);
    let answer = within(client.initialize()).await.expect("initialize");
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evicted_session_is_ended_upstream() {
    let (server, gateway) = upstream_and_gateway(SessionConfig::default().max_sessions(3)).await;
    let mut clients = Vec::new();
    for _ in 0..8 {
        clients.push(open(&gateway.url).await);
    }
    assert_eq!(gateway.store.len(), 3);
    let count = settles_at_most(&server, 3).await;
    assert!(
        count <= 3,
        "the server holds {count} sessions for 3 client sessions"
    );
    assert_eq!(ended(&gateway, 5).await, 5);
    let stats = gateway.sessions.stats();
    assert_eq!(stats.ending_failed, 0, "{stats:?}");
    // The newest sessions still work; an evicted one is told to initialize again.
    let answer = within(clients[7].call_tool("echo", json!({"text": "kept"})))
        .await
        .unwrap();
    assert_eq!(answer.text().as_deref(), Some("kept"));
    let answer = within(clients[0].call_tool("echo", json!({"text": "gone"})))
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_is_ended_upstream() {
    let config = SessionConfig::default()
        .max_sessions(2)
        .idle_timeout(Duration::from_millis(200));
    let (server, gateway) = upstream_and_gateway(config).await;
    let _first = open(&gateway.url).await;
    let _second = open(&gateway.url).await;
    assert_eq!(server.session_count().await, 2);
    tokio::time::sleep(Duration::from_millis(400)).await;
    // A new session finds the store full of expired ones: they are swept and ended.
    let _third = open(&gateway.url).await;
    let count = settles_at_most(&server, 1).await;
    assert_eq!(count, 1, "only the live session is left upstream");
    assert_eq!(ended(&gateway, 2).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_sessions_over_the_open_rate_get_429_and_never_reach_the_server() {
    let (server, gateway) = upstream_and_gateway(SessionConfig::default().open_rate(3)).await;
    let mut refused = Vec::new();
    for _ in 0..10 {
        let mut client = RawClient::new(&gateway.url);
        let answer = within(client.initialize()).await.expect("an answer");
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            refused.push(answer);
        }
    }
    // A burst of one second's worth passes; a slow machine may refill a little.
    assert!(refused.len() >= 5, "{} of 10 refused", refused.len());
    let answer = &refused[0];
    assert_eq!(answer.headers["retry-after"], "1");
    let error = answer.message().expect("a JSON-RPC error");
    assert_eq!(error["error"]["code"], -32053, "{error}");
    assert!(answer.headers.get("mcp-session-id").is_none());
    assert_eq!(
        gateway.initializes(),
        10 - refused.len(),
        "refused ones were not forwarded"
    );
    assert_eq!(gateway.sessions.stats().open_refused, refused.len() as u64);
    assert_eq!(
        server.session_count().await,
        10 - refused.len(),
        "the server saw only the admitted sessions"
    );
    // A second later there is room again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    open(&gateway.url).await;
}
