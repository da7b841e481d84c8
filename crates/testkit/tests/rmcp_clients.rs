//! Real rmcp 3.11 clients of both protocol eras against the testkit server,
//! through the fault proxy.

mod common;

use std::time::Duration;

use common::within;
use http::StatusCode;
use mcp_reconnect_testkit::tools::BUSINESS_ERROR_TEXT;
use mcp_reconnect_testkit::{Fault, Rule, ServerOptions, TestUpstream};
use rmcp::model::{CallToolRequestParams, CallToolResult, ClientConfig, ProtocolVersion};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientLifecycleMode, ClientServiceExt, ServiceError, ServiceExt};
use serde_json::{Value, json};

type Client = RunningService<RoleClient, ClientConfig>;

async fn call(client: &Client, tool: &str, arguments: Value) -> Result<CallToolResult, ServiceError> {
    let arguments = arguments.as_object().cloned().unwrap_or_default();
    client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments))
        .await
}

fn text(result: &CallToolResult) -> &str {
    &result.content[0].as_text().expect("a text result").text
}

/// A client pinned to the newest protocol version with a handshake, connected to `url`.
async fn legacy_client(url: String) -> Client {
    let config = ClientConfig::default().with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE);
    within(config.serve(StreamableHttpClientTransport::from_uri(url)))
        .await
        .expect("the client connects")
}

/// Calls `tool` and returns its text answer.
async fn call_text(client: &Client, tool: &str, arguments: Value) -> String {
    let result = within(call(client, tool, arguments)).await.expect("tool call");
    text(&result).to_owned()
}

/// Every tool works and is counted; `fail_business` is an `isError` result.
async fn exercise_all_tools(client: &Client, upstream: &TestUpstream) {
    let tools = within(client.list_all_tools()).await.expect("tools/list");
    assert_eq!(tools.len(), 5);
    let increment = tools
        .iter()
        .find(|tool| tool.name == "increment")
        .expect("increment");
    let annotations = increment.annotations.as_ref().expect("annotations");
    assert_eq!(annotations.idempotent_hint, Some(false));
    assert_eq!(annotations.read_only_hint, Some(false));

    assert_eq!(call_text(client, "echo", json!({"text": "hi"})).await, "hi");
    assert_eq!(call_text(client, "add", json!({"a": 1, "b": 2})).await, "3");
    assert_eq!(call_text(client, "slow", json!({"ms": 10})).await, "slept 10 ms");
    assert_eq!(call_text(client, "increment", json!({"key": "k"})).await, "1");
    let failed = within(call(client, "fail_business", json!({})))
        .await
        .expect("fail_business");
    assert_eq!(failed.is_error, Some(true));
    assert_eq!(text(&failed), BUSINESS_ERROR_TEXT);
    assert_eq!(upstream.counters().total_calls(), 5);
}

#[tokio::test]
async fn legacy_client_pinned_to_the_handshake_gets_a_session() {
    let upstream = within(TestUpstream::start()).await.unwrap();
    let client = legacy_client(upstream.url()).await;
    let server_info = client.peer_info().unwrap();
    assert_eq!(
        server_info.protocol_version,
        ProtocolVersion::LATEST_WITH_INITIALIZE
    );
    assert_eq!(upstream.server.session_count().await, 1);
    exercise_all_tools(&client, &upstream).await;
    within(client.cancel()).await.unwrap();
}

#[tokio::test]
async fn plain_serve_is_the_legacy_handshake_too() {
    // `serve()` sends `initialize` naming 2026-07-28; the server answers with
    // the newest version that has a handshake, and the session follows.
    let upstream = within(TestUpstream::start()).await.unwrap();
    let client =
        within(ClientConfig::default().serve(StreamableHttpClientTransport::from_uri(upstream.url())))
            .await
            .unwrap();
    let server_info = client.peer_info().unwrap();
    assert_eq!(server_info.protocol_version, ProtocolVersion::V_2025_11_25);
    assert_eq!(upstream.server.session_count().await, 1);
    within(client.cancel()).await.unwrap();
}

#[tokio::test]
async fn client_of_2026_07_28_is_served_statelessly() {
    for lifecycle in [
        ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        },
        ClientLifecycleMode::Auto {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            legacy_version: Some(ProtocolVersion::LATEST_WITH_INITIALIZE),
        },
    ] {
        // Sessions on: 2026-07-28 requests are stateless regardless.
        let upstream = within(TestUpstream::start_with(ServerOptions::default()))
            .await
            .unwrap();
        // A zero delay is a fault the log records: it shows what the proxy saw.
        let seen = Fault::Delay(Duration::ZERO);
        upstream.proxy.push(Rule::method("server/discover", seen.clone()));
        upstream.proxy.push(Rule::method("initialize", seen));
        let transport = StreamableHttpClientTransport::from_uri(upstream.url());
        let client = within(ClientConfig::default().serve_with_lifecycle(transport, lifecycle.clone()))
            .await
            .unwrap();
        exercise_all_tools(&client, &upstream).await;
        assert_eq!(upstream.server.session_count().await, 0, "{lifecycle:?}");
        let methods: Vec<_> = upstream
            .proxy
            .log()
            .into_iter()
            .filter_map(|fault| fault.method)
            .collect();
        assert_eq!(methods, ["server/discover"], "{lifecycle:?}");
        within(client.cancel()).await.unwrap();
    }
}

#[tokio::test]
async fn proxy_faults_reach_a_2026_client_by_tool_name() {
    let upstream = within(TestUpstream::start()).await.unwrap();
    let transport = StreamableHttpClientTransport::from_uri(upstream.url());
    let lifecycle = ClientLifecycleMode::Discover {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
    };
    let client = within(ClientConfig::default().serve_with_lifecycle(transport, lifecycle))
        .await
        .unwrap();
    upstream
        .proxy
        .push(Rule::tool("increment", Fault::ForwardThenStatus(StatusCode::BAD_GATEWAY)).once());
    let error = within(call(&client, "increment", json!({"key": "k"})))
        .await
        .unwrap_err();
    assert!(matches!(error, ServiceError::TransportSend(_)), "{error:?}");
    assert_eq!(
        upstream.counters().increments("k"),
        1,
        "it ran, the client saw a 502"
    );
    let log = upstream.proxy.log();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].tool.as_deref(), Some("increment"));
    within(client.cancel()).await.unwrap();
}

#[tokio::test]
async fn legacy_rmcp_client_reinitializes_after_a_restart_by_itself() {
    // rmcp's `reinit_on_expired_session` defaults to true: on 404 it runs the
    // handshake again and resends the request, which never ran.
    let mut upstream = within(TestUpstream::start()).await.unwrap();
    let client = legacy_client(upstream.url()).await;
    assert_eq!(call_text(&client, "increment", json!({"key": "k"})).await, "1");
    within(upstream.server.restart()).await.unwrap();
    assert_eq!(call_text(&client, "increment", json!({"key": "k"})).await, "2");
    assert_eq!(upstream.counters().increments("k"), 2);
    assert_eq!(upstream.server.session_count().await, 1);
    within(client.cancel()).await.unwrap();
}
