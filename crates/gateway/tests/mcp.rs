//! `/mcp`: transparent MCP Streamable HTTP through the stack.

mod common;

use common::{FAST_ENV, assert_mcp_echo, upstream_and_gateway};
use http::StatusCode;
use mcp_reconnect_gateway::Gateway;
use mcp_reconnect_testkit::RawClient;
use mcp_reconnect_testkit::jsonrpc::tools_list;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_client_gets_a_session_and_sse_answers_through_the_gateway() {
    let (_upstream, gateway) = upstream_and_gateway(&[], &FAST_ENV).await;
    let mut client = RawClient::new(format!("{}/mcp", gateway.url()));
    let init = client.initialize().await.unwrap();
    assert_eq!(init.status, StatusCode::OK);
    assert!(client.session().is_some(), "the session id comes through");
    let answer = assert_mcp_echo(&mut client, "through").await;
    assert!(
        mcp_reconnect_core::headers::is_event_stream(&answer.headers),
        "the SSE answer is streamed through"
    );
    let id = client.next_id();
    let list = client.post(&tools_list(id)).await.unwrap();
    assert_eq!(list.result().unwrap()["tools"].as_array().map(Vec::len), Some(5));
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_json_response_a_streamed_answer_is_one_json_object_in_both_eras() {
    let (_upstream, gateway) = upstream_and_gateway(&["--json-response"], &FAST_ENV).await;
    let mut client = RawClient::new(format!("{}/mcp", gateway.url()));
    assert_eq!(client.initialize().await.unwrap().status, StatusCode::OK);
    let answer = assert_mcp_echo(&mut client, "as json").await;
    assert_eq!(
        answer.headers[http::header::CONTENT_TYPE],
        "application/json",
        "the upstream streamed it; the client gets one object"
    );
    assert!(answer.headers.contains_key("mcp-session-id") || client.session().is_some());

    // 2026-07-28: no session, the same.
    let http = common::Http::default();
    let answer = stateless_call(&http, &gateway, "application/json, text/event-stream").await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.headers[http::header::CONTENT_TYPE], "application/json");
    assert_eq!(answer.json()["id"], 5, "{answer:?}");

    // A client that takes only SSE gets SSE; REST is unchanged.
    let only_sse = stateless_call(&http, &gateway, "text/event-stream").await;
    assert!(
        only_sse.headers[http::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"),
        "{only_sse:?}"
    );
    http.assert_echo(&format!("{}/echo", gateway.url()), &[], "rest")
        .await;
}

/// A 2026-07-28 `tools/call` of `echo` (id 5, no session, the method and
/// tool in headers) through the gateway's `/mcp`, accepting `accept`.
async fn stateless_call(http: &common::Http, gateway: &Gateway, accept: &str) -> common::Answer {
    let headers = [
        ("accept", accept),
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "echo"),
    ];
    let call = common::stateless_echo_request(5, "stateless");
    http.post_json(&format!("{}/mcp", gateway.url()), &headers, &call)
        .await
}
