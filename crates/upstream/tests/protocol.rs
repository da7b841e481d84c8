//! Session ids at the edge, against the real upstream: bad ids are `400`,
//! unknown ones `404`, `DELETE` ends the mapping, and the session map stays
//! bounded while clients initialize and walk away.

mod common;

use bytes::Bytes;
use common::{upstream_and_gateway, within};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mcp_reconnect_core::headers::MCP_SESSION_ID;
use mcp_reconnect_testkit::RawClient;
use mcp_reconnect_upstream::SessionConfig;
use mcp_reconnect_upstream::session::SESSION_NOT_FOUND;
use serde_json::{Value, json};

fn error_code(body: &Bytes) -> Option<i64> {
    serde_json::from_slice::<Value>(body).ok()?["error"]["code"].as_i64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_ids_are_400_and_unknown_ids_404() {
    let (server, gateway) = upstream_and_gateway(SessionConfig::default()).await;
    let mut client = RawClient::new(&gateway.url);
    for bad in ["has space", "tab\there", &"x".repeat(129)] {
        client.set_session(Some(bad.to_owned()));
        let answer = within(client.call_tool("echo", json!({"text": "hi"})))
            .await
            .unwrap();
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad:?}");
        assert_eq!(error_code(&answer.body), Some(-32600));
    }
    client.set_session(Some("never-issued".to_owned()));
    let answer = within(client.call_tool("echo", json!({"text": "hi"})))
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&answer.body), Some(SESSION_NOT_FOUND));
    assert_eq!(server.counters().total_calls(), 0, "nothing reached the upstream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_ends_the_client_and_the_upstream_session() {
    let (server, gateway) = upstream_and_gateway(SessionConfig::default()).await;
    let mut client = RawClient::new(&gateway.url);
    let answer = within(client.initialize()).await.unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    let session = client.session().unwrap().to_owned();
    assert_eq!(server.session_count().await, 1);
    assert_eq!(gateway.store.len(), 1);

    let http = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let delete = Request::delete(&gateway.url)
        .header(MCP_SESSION_ID, &session)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = within(http.request(delete)).await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    drop(within(response.into_body().collect()).await);
    assert!(gateway.store.is_empty());
    assert_eq!(server.session_count().await, 0, "the upstream session ended too");
    let answer = within(client.call_tool("echo", json!({"text": "hi"})))
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_map_stays_bounded_as_clients_come_and_go() {
    const MAX: usize = 8;
    let (_server, gateway) = upstream_and_gateway(SessionConfig::default().max_sessions(MAX)).await;
    let mut first = RawClient::new(&gateway.url);
    within(first.initialize()).await.unwrap();
    for _ in 0..100 {
        let mut client = RawClient::new(&gateway.url);
        let answer = within(client.initialize()).await.unwrap();
        assert_eq!(answer.status, StatusCode::OK);
        assert!(gateway.store.len() <= MAX);
    }
    assert_eq!(gateway.store.len(), MAX);
    // The oldest, unused, was evicted: its client must initialize again.
    let answer = within(first.call_tool("echo", json!({"text": "hi"})))
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
}
