//! `/mcp`: transparent MCP Streamable HTTP through the stack.

mod common;

use common::{FAST_ENV, gateway};
use http::StatusCode;
use mcp_reconnect_testkit::jsonrpc::tools_list;
use mcp_reconnect_testkit::{RawClient, TestUpstream};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_client_gets_a_session_and_sse_answers_through_the_gateway() {
    let upstream = TestUpstream::start().await.unwrap();
    let gateway = gateway(&["streamablehttp", &upstream.url()], &FAST_ENV).await;
    let mut client = RawClient::new(format!("{}/mcp", gateway.url()));
    let init = client.initialize().await.unwrap();
    assert_eq!(init.status, StatusCode::OK);
    assert!(client.session().is_some(), "the session id comes through");
    let answer = client
        .call_tool("echo", json!({"text": "through"}))
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        mcp_reconnect_core::headers::is_event_stream(&answer.headers),
        "the SSE answer is streamed through"
    );
    assert_eq!(answer.text().as_deref(), Some("through"));
    let id = client.next_id();
    let list = client.post(&tools_list(id)).await.unwrap();
    assert_eq!(list.result().unwrap()["tools"].as_array().map(Vec::len), Some(5));
    gateway.shutdown().await;
}
