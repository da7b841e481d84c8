//! The MCP server, driven by a raw hyper client over real TCP on 127.0.0.1.

mod common;

use std::io;

use common::{key, text, within};
use http::StatusCode;
use mcp_reconnect_testkit::jsonrpc::{self, McpResponse};
use mcp_reconnect_testkit::tools::BUSINESS_ERROR_TEXT;
use mcp_reconnect_testkit::{McpServer, RawClient, ServerOptions};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A server with default options and a client that has initialized a session on it.
async fn initialized() -> (McpServer, RawClient) {
    let server = within(McpServer::start(ServerOptions::default()))
        .await
        .expect("the server starts");
    let mut client = RawClient::new(server.url());
    within(client.initialize()).await.expect("initialize");
    (server, client)
}

#[tokio::test]
async fn the_five_tools_answer_and_are_counted() {
    let server = within(McpServer::start(ServerOptions::default())).await.unwrap();
    let mut client = RawClient::new(server.url());
    let init = within(client.initialize()).await.unwrap();
    assert_eq!(init.status, StatusCode::OK);
    assert!(client.session().is_some(), "legacy clients get a session");
    assert_eq!(
        init.result().unwrap()["protocolVersion"],
        jsonrpc::LEGACY_PROTOCOL_VERSION
    );

    let echo = within(client.call_tool("echo", text("hello"))).await.unwrap();
    assert_eq!(echo.text().as_deref(), Some("hello"));
    let add = within(client.call_tool("add", json!({"a": 2, "b": 3.5})))
        .await
        .unwrap();
    assert_eq!(add.text().as_deref(), Some("5.5"));
    let slow = within(client.call_tool("slow", json!({"ms": 20}))).await.unwrap();
    assert_eq!(slow.text().as_deref(), Some("slept 20 ms"));
    let failed = within(client.call_tool("fail_business", json!({})))
        .await
        .unwrap();
    assert_eq!(failed.status, StatusCode::OK);
    assert!(failed.is_tool_error());
    assert_eq!(failed.text().as_deref(), Some(BUSINESS_ERROR_TEXT));
    for expected in ["1", "2", "3"] {
        let increment = within(client.call_tool("increment", key("k"))).await.unwrap();
        assert_eq!(increment.text().as_deref(), Some(expected));
    }

    let counters = server.counters();
    assert_eq!(counters.increments("k"), 3);
    assert_eq!(counters.increments("other"), 0);
    for tool in ["echo", "add", "slow", "fail_business"] {
        assert_eq!(counters.calls(tool), 1, "{tool}");
    }
    assert_eq!(counters.calls("increment"), 3);
    assert_eq!(server.session_count().await, 1);
}

#[tokio::test]
async fn tools_list_carries_the_retry_safety_annotations() {
    let (_server, mut client) = initialized().await;
    let id = client.next_id();
    let list = within(client.post(&jsonrpc::tools_list(id))).await.unwrap();
    let tools = list.result().unwrap()["tools"].as_array().unwrap().clone();
    let annotations =
        |name: &str| tools.iter().find(|tool| tool["name"] == name).unwrap()["annotations"].clone();
    assert_eq!(tools.len(), 5);
    for read_only in ["echo", "add", "slow", "fail_business"] {
        assert_eq!(annotations(read_only)["readOnlyHint"], true, "{read_only}");
    }
    assert_eq!(annotations("increment")["readOnlyHint"], false);
    assert_eq!(annotations("increment")["idempotentHint"], false);
}

#[tokio::test]
async fn a_restart_forgets_sessions_but_not_counters() {
    let (mut server, mut client) = initialized().await;
    within(client.call_tool("increment", key("k"))).await.unwrap();
    let old_session = client.session().unwrap().to_owned();
    let addr = server.addr();

    within(server.restart()).await.unwrap();
    assert!(server.is_running());
    assert_eq!(server.addr(), addr);
    assert_eq!(server.session_count().await, 0);

    // A new client: the old one's pooled connection died with the server.
    let mut stale = RawClient::new(server.url());
    stale.set_session(Some(old_session.clone()));
    let lost = within(stale.call_tool("echo", text("x"))).await.unwrap();
    assert_eq!(lost.status, StatusCode::NOT_FOUND);

    within(stale.initialize()).await.unwrap();
    assert_ne!(stale.session(), Some(old_session.as_str()));
    let increment = within(stale.call_tool("increment", key("k"))).await.unwrap();
    assert_eq!(increment.text().as_deref(), Some("2"));
    assert_eq!(server.counters().increments("k"), 2);
}

#[tokio::test]
async fn stop_refuses_connects_and_drops_keep_alive_connections() {
    let mut server = within(McpServer::start(ServerOptions::default())).await.unwrap();
    // A keep-alive connection that has completed one exchange.
    let mut connection = within(TcpStream::connect(server.addr())).await.unwrap();
    let request = format!("GET /nowhere HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr());
    within(connection.write_all(request.as_bytes())).await.unwrap();
    let mut buffer = [0; 1024];
    let read = within(connection.read(&mut buffer)).await.unwrap();
    assert!(buffer[..read].starts_with(b"HTTP/1.1 404"));

    within(server.stop()).await;
    assert!(!server.is_running());
    match within(connection.read(&mut buffer)).await {
        Ok(0) => {}
        Ok(n) => panic!("read {n} bytes from a killed server"),
        Err(error) => assert_eq!(error.kind(), io::ErrorKind::ConnectionReset),
    }
    let refused = within(TcpStream::connect(server.addr())).await.unwrap_err();
    assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);

    within(server.start_again()).await.unwrap();
    let mut client = RawClient::new(server.url());
    assert_eq!(within(client.initialize()).await.unwrap().status, StatusCode::OK);
}

#[tokio::test]
async fn a_new_server_can_take_over_the_port_of_one_that_was_killed() {
    let first = within(McpServer::start(ServerOptions::default())).await.unwrap();
    let addr = first.addr();
    // One exchange, so the port has a connection closing behind it.
    let mut client = RawClient::new(first.url());
    assert_eq!(within(client.initialize()).await.unwrap().status, StatusCode::OK);
    drop(first);

    let second = within(McpServer::start_on(addr, ServerOptions::default()))
        .await
        .unwrap();
    assert_eq!(second.addr(), addr);
    let mut client = RawClient::new(second.url());
    assert_eq!(within(client.initialize()).await.unwrap().status, StatusCode::OK);
}

#[tokio::test]
async fn other_paths_are_not_found() {
    let server = within(McpServer::start(ServerOptions::default())).await.unwrap();
    let url = server.url().replace("/mcp", "/other");
    let client = RawClient::new(url);
    let answer = within(client.post(&jsonrpc::initialize(1))).await.unwrap();
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn stateless_json_mode_answers_plain_json_without_sessions() {
    let options = ServerOptions::default()
        .with_sessions(false)
        .with_json_response(true);
    let server = within(McpServer::start(options)).await.unwrap();
    let mut client = RawClient::new(server.url());
    let init = within(client.initialize()).await.unwrap();
    assert_eq!(init.status, StatusCode::OK);
    assert_eq!(client.session(), None);
    let echo = within(client.call_tool("echo", text("plain"))).await.unwrap();
    assert_eq!(echo.headers[http::header::CONTENT_TYPE], "application/json");
    assert_eq!(echo.text().as_deref(), Some("plain"));
    assert_eq!(server.session_count().await, 0);
}

#[tokio::test]
async fn session_mode_answers_with_an_sse_stream() {
    let (_server, mut client) = initialized().await;
    let echo: McpResponse = within(client.call_tool("echo", text("sse"))).await.unwrap();
    assert!(mcp_reconnect_core::headers::is_event_stream(&echo.headers));
    assert_eq!(echo.text().as_deref(), Some("sse"));
}
